"""Layers that only apply an activation function."""

from __future__ import annotations

from .. import activations
from .._checks import float_in_range
from .base import Layer


class Activation(Layer):
    """Apply an activation by name: ``Activation("relu")``."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, training=False):
        return self.activation.forward(x)

    def forward_logits(self, x, training=False):
        """The input unchanged: it is the activation's input (the logits)."""
        return x, None

    def backward(self, dout, cache):
        return self.activation.backward(dout, cache), {}

    def backward_from_logits(self, dz, cache, need_dx=True):
        """The input *is* the pre-activation, so its gradient passes through."""
        return dz, {}

    def get_config(self):
        config = super().get_config()
        config["activation"] = self.activation.name
        return config


class Softmax(Activation):
    """Softmax along ``axis`` (default last): turns scores into probabilities."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(activations.Softmax(axis), **kwargs)
        self.axis = axis

    def get_config(self):
        config = Layer.get_config(self)
        config["axis"] = self.axis
        return config


class LeakyReLU(Activation):
    """``x`` for x >= 0, ``negative_slope * x`` otherwise (Keras layer default 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        slope = float_in_range(negative_slope, "negative_slope", "LeakyReLU", 0.0, float("inf"))
        super().__init__(activations.LeakyReLU(slope), **kwargs)
        self.negative_slope = slope

    def get_config(self):
        config = Layer.get_config(self)
        config["negative_slope"] = self.negative_slope
        return config


class ReLU(Layer):
    """Rectified linear unit with Keras's options.

    ``f(x) = max_value`` if x >= max_value; ``x`` if threshold < x < max_value;
    ``negative_slope * (x - threshold)`` otherwise. Exactly at ``threshold`` the
    gradient is ``negative_slope``, and at ``max_value`` it is 0, as in
    TensorFlow and PyTorch.
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        inf = float("inf")
        self.max_value = None if max_value is None else float_in_range(max_value, "max_value", "ReLU", 0.0, inf)
        self.negative_slope = float_in_range(negative_slope, "negative_slope", "ReLU", 0.0, inf)
        self.threshold = float_in_range(threshold, "threshold", "ReLU", -inf, inf, False)

    def forward(self, x, training=False):
        dt = x.dtype.type
        below = x <= self.threshold
        out = x.copy()
        out[below] = dt(self.negative_slope) * (x[below] - dt(self.threshold)) if self.negative_slope else 0
        slope = below * dt(self.negative_slope) + ~below                    # derivative away from the cap
        if self.max_value is not None:
            capped = x >= self.max_value
            out[capped] = dt(self.max_value)
            slope = slope * ~capped
        return out, slope.astype(x.dtype)

    def backward(self, dout, slope):
        return dout * slope, {}

    def get_config(self):
        config = super().get_config()
        config.update(max_value=self.max_value, negative_slope=self.negative_slope, threshold=self.threshold)
        return config
