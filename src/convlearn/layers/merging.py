"""Merge layers: combine a list of inputs into one output (residual connections, branches).

``Add()([a, b])`` or ``add([a, b])`` in a functional model; like Keras, each
layer receives a *list* of arrays in ``forward`` and returns a list of input
gradients (one per input, in order) from ``backward``.

Elementwise layers (Add, Subtract, Multiply, Average, Maximum, Minimum) need
inputs of the same shape, except that an axis of size 1 other than the batch
axis broadcasts as in NumPy: ``(N, 4, 4, 8)`` and ``(N, 1, 1, 8)`` give
``(N, 4, 4, 8)``. The backward pass sums the gradient of a broadcast input
over the axes it was stretched along. Inputs of different ranks are refused
(Keras would insert axes after the batch axis; reshape explicitly instead).

Shape letters: ``N`` batch size, ``k`` number of inputs; ``...`` the other
axes of one input.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .base import Layer, shape_str


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes where an input of ``shape`` had size 1 and the output did not.

    The gradient of a broadcast input: every output value an input value was
    copied to sends its gradient back to that one value. Returns ``grad``
    itself when nothing was broadcast.
    """
    axes = tuple(axis for axis, (g, s) in enumerate(zip(grad.shape, shape)) if s == 1 and g != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad              # (N, ...) of the input


def _check_input_list(layer, shapes, low=2, high=None):
    """Raise a ValueError unless ``shapes`` is a list of ``low`` to ``high`` input shapes of one rank."""
    owner = f"{type(layer).__name__} '{layer.name}'"
    expected = f"exactly {low}" if low == high else f"at least {low}"
    example = f"e.g. {type(layer).__name__}()([{', '.join(f'x{i + 1}' for i in range(low))}])"
    if not isinstance(shapes, list):
        raise ValueError(f"{owner} must be called on a list of {expected} inputs, {example}; "
                         f"got a single input of shape {shape_str(tuple(shapes))}.")
    if len(shapes) < low or (high is not None and len(shapes) > high):
        raise ValueError(f"{owner} must be called on a list of {expected} inputs, {example}; "
                         f"got {len(shapes)}: {shape_str(shapes)}.")
    for j, shape in enumerate(shapes[1:], start=1):
        if len(shape) != len(shapes[0]):
            raise ValueError(
                f"{owner}: {_pair(shapes, 0, j)}, which have different numbers of axes ({len(shapes[0])} and "
                f"{len(shape)}). Give the inputs the same axes first, e.g. with layers.Reshape."
            )


def _first_mismatch(shapes, agree):
    """``(i, j, axis)`` of the first pair of inputs whose known sizes on an axis differ and do not
    ``agree(axis, a, b)``; None when every pair can be merged."""
    for j in range(1, len(shapes)):
        for i in range(j):
            for axis, (a, b) in enumerate(zip(shapes[i], shapes[j])):
                if not (a is None or b is None or a == b or agree(axis, a, b)):
                    return i, j, axis
    return None


def _pair(shapes, i, j):
    return f"input {i} has shape {shape_str(shapes[i])} and input {j} has shape {shape_str(shapes[j])}"


def _differ(shapes, i, j, axis):
    """``input 0 has shape (...) and input 1 has shape (...): different sizes on axis 2 (3 and 5)``."""
    a, b = shapes[i][axis], shapes[j][axis]
    what = f"different batch sizes ({a} and {b})" if axis == 0 else f"different sizes on axis {axis} ({a} and {b})"
    return f"{_pair(shapes, i, j)}: {what}"


def _known(dims):
    """The first known size among ``dims``, or None."""
    return next((d for d in dims if d is not None), None)


class _Merge(Layer):
    """Base of the elementwise merge layers: checks the inputs and computes the output shape.

    Subclasses write ``forward(xs) -> (out, cache)`` and
    ``backward(dout, cache) -> ([dx_0, dx_1, ...], {})`` side by side. The
    cache holds the input shapes (Add, Subtract, Average), the inputs
    themselves (Multiply), or the index of the input each output value came
    from and the input shapes (Maximum, Minimum).
    """

    #: How many inputs the layer takes: (at least, at most); None for no upper limit.
    n_inputs = (2, None)

    def build(self, input_shape):
        self._check_inputs(input_shape)

    def compute_output_shape(self, input_shape):
        return self._check_inputs(input_shape)

    def _check_inputs(self, shapes):
        """The output shape of merging inputs of ``shapes`` (batch axes included), or a clear ValueError."""
        _check_input_list(self, shapes, *self.n_inputs)
        bad = _first_mismatch(shapes, lambda axis, a, b: axis > 0 and 1 in (a, b))   # size 1 broadcasts
        if bad is not None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': {_differ(shapes, *bad)}. Elementwise merge layers need "
                "inputs of the same shape (an axis of size 1, other than the batch axis, is broadcast). "
                "Check the layers that compute these inputs."
            )
        out = [_known(shape[0] for shape in shapes)]          # the batch size, where any input knows it
        for dims in list(zip(*shapes))[1:]:                   # like Keras: unknown if any input's size is
            out.append(None if None in dims else max(dims))
        return tuple(out)

    def _check_arrays(self, xs):
        """At run time, refuse arrays that cannot be merged (their shapes may have been unknown at build)."""
        if any(x.shape != xs[0].shape for x in xs[1:]):
            self._check_inputs([tuple(x.shape) for x in xs])


class Add(_Merge):
    """Sum of its inputs, elementwise: ``Add()([a, b, c]) == a + b + c``.

    The gradient of every input is the output's gradient (summed over broadcast axes).
    """

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        out = xs[0] + xs[1]                                                   # (N, ...)
        for x in xs[2:]:
            out = out + x
        return out, [x.shape for x in xs]

    def backward(self, dout, shapes):
        return [unbroadcast(dout, shape) for shape in shapes], {}


class Subtract(_Merge):
    """Difference of exactly two inputs: ``Subtract()([a, b]) == a - b``."""

    n_inputs = (2, 2)

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        a, b = xs
        return a - b, (a.shape, b.shape)                                      # (N, ...)

    def backward(self, dout, shapes):
        shape_a, shape_b = shapes
        return [unbroadcast(dout, shape_a), -unbroadcast(dout, shape_b)], {}


class Multiply(_Merge):
    """Product of its inputs, elementwise: ``Multiply()([a, b]) == a * b``.

    The gradient of each input is the output's gradient times the product of
    the *other* inputs (computed directly, so zeros in the inputs are fine).
    """

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        out = xs[0] * xs[1]                                                   # (N, ...)
        for x in xs[2:]:
            out = out * x
        return out, list(xs)

    def backward(self, dout, xs):
        dxs = []
        for i, x in enumerate(xs):
            dx = dout
            for j, other in enumerate(xs):
                if j != i:
                    dx = dx * other                                           # (N, ...) of the output
            dxs.append(unbroadcast(dx, x.shape))
        return dxs, {}


class Average(_Merge):
    """Mean of its inputs, elementwise: ``Average()([a, b]) == (a + b) / 2``."""

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        total = xs[0] + xs[1]                                                 # (N, ...)
        for x in xs[2:]:
            total = total + x
        return total / len(xs), [x.shape for x in xs]

    def backward(self, dout, shapes):
        share = dout / len(shapes)                                            # each input's part
        return [unbroadcast(share, shape) for shape in shapes], {}


class _WinnerCache(NamedTuple):
    winner: np.ndarray      # (N, ...) of the output: the index of the input whose value was kept
    shapes: list            # the input shapes


class Maximum(_Merge):
    """Largest of its inputs, elementwise.

    The gradient of each output value goes to the input that supplied it. On
    a tie it goes to the *first* input holding that value (the earliest in the
    list), all of it, as with TensorFlow's ``maximum``; ``torch.maximum``
    instead splits a tie equally.
    """

    @staticmethod
    def _beats(x, best):
        return x > best                                                       # strictly: a tie keeps the earlier input

    def forward(self, xs, training=False):
        self._check_arrays(xs)
        shapes = [x.shape for x in xs]
        xs = np.broadcast_arrays(*xs)                                         # k views of shape (N, ...)
        out = xs[0]
        winner = np.zeros(out.shape, dtype=np.intp)                           # (N, ...)
        for i, x in enumerate(xs[1:], start=1):
            better = self._beats(x, out)                                      # (N, ...)
            out = np.where(better, x, out)                                    # (N, ...)
            winner[better] = i
        return out, _WinnerCache(winner, shapes)

    def backward(self, dout, cache):
        return [unbroadcast(dout * (cache.winner == i), shape) for i, shape in enumerate(cache.shapes)], {}


class Minimum(Maximum):
    """Smallest of its inputs, elementwise; on a tie the gradient goes to the first input (see Maximum)."""

    @staticmethod
    def _beats(x, best):
        return x < best


class _ConcatCache(NamedTuple):
    axis: int               # the (non-negative) axis the inputs were joined along
    sizes: list             # each input's size along that axis


class Concatenate(Layer):
    """Join its inputs along ``axis``; all other axes must match.

    ``Concatenate()([a, b])`` with ``a`` (N, H, W, C1) and ``b`` (N, H, W, C2)
    gives (N, H, W, C1 + C2). The backward pass splits the output's gradient
    back into the inputs' pieces.

    Parameters
    ----------
    axis : int, default -1
        Any axis but the batch axis (0); negative counts from the end.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise ValueError(
                f"Concatenate: `axis` must be an integer, e.g. -1 (the last axis). Received: axis={axis!r}."
            )
        self.axis = int(axis)

    def _resolved_axis(self, shapes):
        """``self.axis`` as a non-negative axis of inputs of ``shapes``, after checking them."""
        _check_input_list(self, shapes)
        rank = len(shapes[0])
        if not -rank < self.axis < rank or self.axis % rank == 0:
            raise ValueError(
                f"Concatenate '{self.name}': axis={self.axis} is out of range for inputs of shape "
                f"{shape_str(shapes[0])}: it must be one of 1..{rank - 1} or -{rank - 1}..-1 "
                "(axis 0, the batch axis, cannot be joined)."
            )
        axis = self.axis % rank
        bad = _first_mismatch(shapes, lambda k, a, b: k == axis)
        if bad is not None:
            raise ValueError(
                f"Concatenate '{self.name}': {_differ(shapes, *bad)}; inputs may differ only on the "
                f"concatenation axis, axis={self.axis}. Check the layers that compute these inputs."
            )
        return axis

    def build(self, input_shape):
        self._resolved_axis(input_shape)

    def compute_output_shape(self, input_shape):
        axis = self._resolved_axis(input_shape)
        out = [_known(dims) for dims in zip(*input_shape)]                   # sizes every input shares
        sizes = [shape[axis] for shape in input_shape]
        out[axis] = None if None in sizes else sum(sizes)                     # the joined axis
        return tuple(out)

    def forward(self, xs, training=False):
        axis = self.axis % xs[0].ndim
        if any(x.shape[:axis] + x.shape[axis + 1:] != xs[0].shape[:axis] + xs[0].shape[axis + 1:] for x in xs):
            self._resolved_axis([tuple(x.shape) for x in xs])                # raises the message
        out = np.concatenate(xs, axis=axis)                                   # (N, ..., sum of sizes, ...)
        return out, _ConcatCache(axis, [x.shape[axis] for x in xs])

    def backward(self, dout, cache):
        cuts = np.cumsum(cache.sizes)[:-1]                                    # where each input's piece starts
        return np.split(dout, cuts, axis=cache.axis), {}                      # k pieces, one per input

    def get_config(self):
        config = super().get_config()
        config["axis"] = self.axis
        return config


def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: the elementwise sum of a list of inputs."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``: ``inputs[0] - inputs[1]``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``: the elementwise product of a list of inputs."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``: the elementwise mean of a list of inputs."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``: the elementwise maximum of a list of inputs."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``: the elementwise minimum of a list of inputs."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``: a list of inputs joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
