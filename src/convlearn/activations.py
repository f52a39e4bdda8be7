"""Activation functions, each with its forward and backward pass side by side.

Use them by name in a layer (``Dense(10, activation="softmax")``), as a layer
(``Activation("relu")``), or call them directly on arrays, like Keras::

    convlearn.activations.relu(np.array([-1.0, 2.0]))   # array([0., 2.])

Each activation is an :class:`ActivationFunction` with ``forward(x) -> (out,
cache)`` and ``backward(dout, cache) -> dx``.
"""

from __future__ import annotations

import numpy as np

from ._registry import Registry


class ActivationFunction:
    """An element-wise (or, for softmax, row-wise) function and its derivative."""

    name = "linear"

    def forward(self, x):
        """Return ``(out, cache)``."""
        return x, None

    def backward(self, dout, cache):
        """Return ``dx`` given the gradient of the loss with respect to the output."""
        return dout

    def __call__(self, x):
        return self.forward(np.asarray(x))[0]

    def get_config(self):
        """The constructor's arguments (none for most activations)."""
        return {}

    def __repr__(self):
        return f"<activation {self.name}>"


REGISTRY = Registry("activation", ActivationFunction, functions=True, advice=(
    ". Pass a name such as 'relu' (valid: {valid}) or a convlearn.activations function; a custom Python "
    "function has no backward pass convlearn can use (write a Layer subclass with forward and backward instead)."))


@REGISTRY.register("linear")
class Linear(ActivationFunction):
    """``f(x) = x`` (no activation)."""

    name = "linear"


@REGISTRY.register("relu")
class ReLU(ActivationFunction):
    """``f(x) = max(x, 0)``; the derivative is 1 where x > 0 and 0 elsewhere."""

    name = "relu"

    def forward(self, x):
        # against an array of zeros rather than the scalar 0: NumPy's loop for that is ~3x faster
        out = np.maximum(x, np.zeros_like(x))
        return out, out                      # positive outputs mark where the gradient passes

    def backward(self, dout, cache):
        return dout * (cache > 0)


@REGISTRY.register("sigmoid")
class Sigmoid(ActivationFunction):
    """``f(x) = 1 / (1 + exp(-x))``; ``f' = f (1 - f)``."""

    name = "sigmoid"

    def forward(self, x):
        out = _sigmoid(x)
        return out, out

    def backward(self, dout, cache):
        return dout * cache * (1 - cache)


@REGISTRY.register("tanh")
class Tanh(ActivationFunction):
    """``f(x) = tanh(x)``; ``f' = 1 - f^2``."""

    name = "tanh"

    def forward(self, x):
        out = np.tanh(x)
        return out, out

    def backward(self, dout, cache):
        return dout * (1 - cache * cache)


@REGISTRY.register("softmax")
class Softmax(ActivationFunction):
    """``f(x)_i = exp(x_i) / sum_j exp(x_j)`` along ``axis`` (the last by default).

    Computed as ``exp(x - max(x))`` so that large scores never overflow.
    Backward: ``dx = f * (dout - sum(dout * f))``.
    """

    name = "softmax"

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        out = softmax_array(x, self.axis)
        return out, out

    def backward(self, dout, cache):
        s = np.sum(dout * cache, axis=self.axis, keepdims=True)
        return cache * (dout - s)

    def get_config(self):
        return {"axis": self.axis}


@REGISTRY.register("leaky_relu")
class LeakyReLU(ActivationFunction):
    """``f(x) = x`` for x >= 0, ``negative_slope * x`` otherwise (Keras default slope 0.2)."""

    name = "leaky_relu"

    def __init__(self, negative_slope=0.2):
        self.negative_slope = negative_slope

    def forward(self, x):
        positive = x > 0                     # at 0 the gradient is the slope, as in TensorFlow and PyTorch
        return np.where(positive, x, x * self.negative_slope), positive

    def backward(self, dout, cache):
        return np.where(cache, dout, dout * self.negative_slope)

    def get_config(self):
        return {"negative_slope": self.negative_slope}


@REGISTRY.register("elu")
class ELU(ActivationFunction):
    """``f(x) = x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""

    name = "elu"

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def forward(self, x):
        negative_part = self.alpha * np.expm1(np.minimum(x, 0))
        out = np.where(x > 0, x, negative_part)
        return out, (x > 0, negative_part)

    def backward(self, dout, cache):
        positive, negative_part = cache
        return np.where(positive, dout, dout * (negative_part + self.alpha))

    def get_config(self):
        return {"alpha": self.alpha}


@REGISTRY.register("softplus")
class Softplus(ActivationFunction):
    """``f(x) = log(1 + exp(x))``; ``f' = sigmoid(x)``."""

    name = "softplus"

    def forward(self, x):
        return np.logaddexp(0, x), x

    def backward(self, dout, cache):
        return dout * _sigmoid(cache)


@REGISTRY.register("swish", "silu")
class Swish(ActivationFunction):
    """``f(x) = x * sigmoid(x)`` (also called SiLU)."""

    name = "swish"

    def forward(self, x):
        s = _sigmoid(x)
        return x * s, (x, s)

    def backward(self, dout, cache):
        x, s = cache
        return dout * (s * (1 + x * (1 - s)))


def _sigmoid(x):
    """Numerically stable logistic function (no overflow for large |x|)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def softmax_array(x, axis=-1):
    """Stable softmax of an array along ``axis``."""
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def get(identifier):
    """Turn a name, ``None``, a class, a config, a convlearn activation function or an
    object into an :class:`ActivationFunction`.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones).
    TypeError
        For a plain Python function convlearn cannot differentiate.
    """
    return Linear() if identifier is None else REGISTRY.get(identifier)


def serialize(activation):
    """Name of an activation, for ``get_config``."""
    return get(activation).name


def deserialize(config):
    """The activation for a name written by :func:`serialize` (or a config dict)."""
    return REGISTRY.deserialize(config)


# ---------------------------------------------------------------------------
# Keras-style functions on arrays: convlearn.activations.relu(x) etc.
# ---------------------------------------------------------------------------

def linear(x):
    """Identity: returns ``x`` unchanged."""
    return Linear()(x)


def relu(x):
    """Rectified linear unit: ``max(x, 0)``."""
    return ReLU()(x)


def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``."""
    return Sigmoid()(x)


def tanh(x):
    """Hyperbolic tangent."""
    return Tanh()(x)


def softmax(x, axis=-1):
    """Softmax along ``axis``: positive values that sum to 1."""
    return Softmax(axis)(x)


def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU: ``x`` if positive, else ``negative_slope * x``."""
    return LeakyReLU(negative_slope)(x)


def elu(x, alpha=1.0):
    """Exponential linear unit."""
    return ELU(alpha)(x)


def softplus(x):
    """``log(1 + exp(x))``."""
    return Softplus()(x)


def swish(x):
    """``x * sigmoid(x)``."""
    return Swish()(x)


silu = swish
