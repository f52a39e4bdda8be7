"""Core layers: Dense (fully connected), Flatten, Dropout, Reshape, Rescaling."""

from __future__ import annotations

import math
import threading

import numpy as np

from .. import _rng, activations, initializers, ops
from .._checks import float_in_range, positive_int
from .base import Layer, shape_str
from .conv import check_channels_last, check_unsupported


class Dense(Layer):
    """Fully connected layer: every output is a weighted sum of all inputs plus a bias.

    ``out = activation(x @ kernel + bias)``, applied on the last axis.

    Parameters
    ----------
    units : int
        Number of outputs ``U``.
    activation : str or None
    use_bias : bool, default True
    kernel_initializer : default "glorot_uniform"
    bias_initializer : default "zeros"

    Notes
    -----
    Weights: ``kernel`` (D, U) and ``bias`` (U,).
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units", "Dense")
        check_unsupported("Dense", kernel_regularizer=(kernel_regularizer, None),
                          bias_regularizer=(bias_regularizer, None),
                          activity_regularizer=(activity_regularizer, None),
                          kernel_constraint=(kernel_constraint, None), bias_constraint=(bias_constraint, None))
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"Dense '{self.name}' expects input of shape (batch, features) with a known number of "
                f"features; got {shape_str(input_shape)}."
            )
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer)   # (D, U)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer)                   # (U,)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    @property
    def kernel(self):
        return self.params.get("kernel")

    @property
    def bias(self):
        return self.params.get("bias")

    def forward(self, x, training=False):
        z, dense_cache = self.forward_logits(x, training)                      # (..., U)
        out, act_cache = self.activation.forward(z)
        return out, (dense_cache, act_cache)

    def backward(self, dout, cache, need_dx=True):
        dense_cache, act_cache = cache
        return self.backward_from_logits(self.activation.backward(dout, act_cache), dense_cache, need_dx)

    def forward_logits(self, x, training=False):
        """The forward pass without the activation: its input ``z`` (the logits).

        For a loss computed from the logits (cross-entropy after a softmax),
        the training step calls this and then :meth:`backward_from_logits`.
        """
        x2 = x.reshape(-1, x.shape[-1])                                        # (N, D)
        z, cache = ops.dense_forward(x2, self.params["kernel"], self.params.get("bias"))  # (N, U)
        return z.reshape(x.shape[:-1] + (self.units,)), (cache, x.shape)      # (..., U)

    def backward_from_logits(self, dz, cache, need_dx=True):
        """Backward pass starting from the gradient of the pre-activation output."""
        dense_cache, x_shape = cache
        dz2 = dz.reshape(-1, self.units)                                       # (N, U)
        dx, dkernel, dbias = ops.dense_backward(dz2, dense_cache, need_dx)
        return None if dx is None else dx.reshape(x_shape), self._gradients(dkernel, dbias)  # (..., D)

    def _gradients(self, dkernel, dbias):
        grads = {"kernel": dkernel}                                            # (D, U)
        if self.use_bias:
            grads["bias"] = dbias                                              # (U,)
        return grads

    def backward_input_first(self, dout, cache, need_dx=True):
        """The backward pass in two parts, for the training step: ``(input_gradient, weight_gradients)``.

        ``input_gradient()`` returns the ``dx`` of :meth:`backward`, and
        ``weight_gradients()`` its ``grads``. Both only read the weights, so they
        may run at the same time in two threads, and the weights may change once
        both have finished.
        """
        (dense_cache, x_shape), act_cache = cache
        dz2 = self.activation.backward(dout, act_cache).reshape(-1, self.units)   # (N, U)

        def input_gradient():
            if not need_dx:
                return None
            dx, _, _ = ops.dense_backward(dz2, dense_cache, need_dx=True, need_weights=False)
            return dx.reshape(x_shape)                                          # (..., D)

        def weight_gradients():
            _, dkernel, dbias = ops.dense_backward(dz2, dense_cache, need_dx=False)
            return self._gradients(dkernel, dbias)

        return input_gradient, weight_gradients

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units, activation=self.activation.name, use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
        )
        return config


class Flatten(Layer):
    """Flatten each sample into a vector: (N, H, W, C) -> (N, H*W*C), in NHWC order like Keras."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        check_channels_last(data_format, "Flatten")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)

    def forward(self, x, training=False):
        return x.reshape(x.shape[0], -1), x.shape                              # (N, H*W*C)

    def backward(self, dout, x_shape):
        return dout.reshape(x_shape), {}                                       # (N, H, W, C)


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (no batch axis; one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            dims = None
        if not dims or any(d == 0 or d < -1 for d in dims) or dims.count(-1) > 1:
            raise ValueError(
                "Reshape: `target_shape` must be a tuple of positive integers, with at most one -1, "
                f"not counting the batch axis, e.g. (28, 28, 1). Received: target_shape={target_shape!r}."
            )
        self.target_shape = dims

    def _resolved(self, input_shape):
        size = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if size % known:
                raise self._mismatch(input_shape)
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise self._mismatch(input_shape)
        return self.target_shape

    def _mismatch(self, input_shape):
        return ValueError(
            f"Reshape '{self.name}': cannot reshape input of shape {shape_str(input_shape)} "
            f"({math.prod(input_shape[1:])} values per sample) to {self.target_shape}."
        )

    def compute_output_shape(self, input_shape):
        if any(d is None for d in input_shape[1:]):
            return (input_shape[0],) + self.target_shape
        return (input_shape[0],) + self._resolved(input_shape)

    def build(self, input_shape):
        if all(d is not None for d in input_shape[1:]):
            self._resolved(input_shape)

    def forward(self, x, training=False):
        return x.reshape((x.shape[0],) + self.target_shape), x.shape

    def backward(self, dout, x_shape):
        return dout.reshape(x_shape), {}

    def get_config(self):
        config = super().get_config()
        config["target_shape"] = list(self.target_shape)
        return config


class Dropout(Layer):
    """Randomly zero a fraction ``rate`` of the inputs while training.

    The kept values are scaled by ``1 / (1 - rate)`` so that their expected sum
    is unchanged; at inference (``training=False``) the layer does nothing.

    Parameters
    ----------
    rate : float in [0, 1)
    noise_shape : tuple, optional
        Shape of the mask, broadcast over the input (use 1 for shared axes).
    seed : int, optional
        Makes the masks reproducible.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = float_in_range(rate, "rate", "Dropout", 0.0, 1.0)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = _rng.check_seed(seed, "Dropout(seed)")
        self._generator = None
        self._lock = threading.Lock()

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, None
        with self._lock:                      # one generator, drawn from by one call at a time
            if self._generator is None:
                self._generator = _rng.generator_for(self.seed)
            shape = x.shape
            if self.noise_shape is not None:
                shape = tuple(s if d is None else d for s, d in zip(x.shape, self.noise_shape))
            # One uniform 32-bit integer per value, kept when >= rate * 2**32: probability 1 - rate
            # (to 1 part in 4 billion), from raw generator output, which is several times faster
            # than drawing floats.
            size = math.prod(shape)
            bits = self._generator.bit_generator.random_raw((size + 1) // 2).view(np.uint32)[:size]
        keep = (bits >= np.uint32(min(round(self.rate * 2**32), 2**32 - 1))).reshape(shape)
        mask = keep.astype(x.dtype)
        mask *= x.dtype.type(1.0 / (1.0 - self.rate))                    # scaled mask
        return x * mask, mask

    def backward(self, dout, mask):
        return (dout if mask is None else dout * mask), {}

    def __getstate__(self):          # copy.deepcopy and pickle-free copies: a lock cannot be copied
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, noise_shape=None if self.noise_shape is None else list(self.noise_shape),
                      seed=self.seed)
        return config


class Rescaling(Layer):
    """Multiply inputs by ``scale`` and add ``offset``: ``Rescaling(1/255)`` maps pixels to [0, 1]."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float_in_range(scale, "scale", "Rescaling", -math.inf, math.inf, False, False)
        self.offset = float_in_range(offset, "offset", "Rescaling", -math.inf, math.inf, False, False)

    def forward(self, x, training=False):
        return x * x.dtype.type(self.scale) + x.dtype.type(self.offset), None

    def backward(self, dout, cache):
        return dout * dout.dtype.type(self.scale), {}

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset)
        return config

