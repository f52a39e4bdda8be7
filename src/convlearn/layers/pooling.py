"""Pooling layers: keep the largest (or the average) value of each window."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import ops
from .._checks import choice, int_tuple
from ..ops.shapes import conv_output_length
from .base import Layer, shape_str
from .conv import check_channels_last, check_image_input


class _Pooling2D(Layer):
    mode = "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.pool_size = int_tuple(pool_size, 2, "pool_size", owner)
        # Keras: strides default to the pool size (non-overlapping windows).
        self.strides = self.pool_size if strides is None else int_tuple(strides, 2, "strides", owner)
        self.padding = choice(padding, ("valid", "same"), "padding", owner)
        check_channels_last(data_format, owner)

    def build(self, input_shape):
        owner = type(self).__name__
        check_image_input(input_shape, owner, self.name)
        _, H, W, _ = input_shape
        ph, pw = self.pool_size
        if self.padding == "valid" and ((H is not None and ph > H) or (W is not None and pw > W)):
            raise ValueError(
                f"{owner} '{self.name}': pool_size {self.pool_size} is larger than its input {H}x{W} "
                f"(input shape {shape_str(input_shape)}). Use a smaller pool_size or padding='same'."
            )

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        Ho = None if H is None else conv_output_length(H, self.pool_size[0], self.strides[0], self.padding)
        Wo = None if W is None else conv_output_length(W, self.pool_size[1], self.strides[1], self.padding)
        return (N, Ho, Wo, C)

    def forward(self, x, training=False):
        return ops.pool2d_forward(x, self.pool_size, self.strides, self.padding, self.mode)  # (N, Ho, Wo, C)

    def backward(self, dout, cache):
        return ops.pool2d_backward(dout, cache), {}                         # (N, H, W, C)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding)
        return config


class MaxPooling2D(_Pooling2D):
    """Max pooling: each ``pool_size`` window becomes its largest value.

    Parameters
    ----------
    pool_size : int or (int, int), default (2, 2)
    strides : int or (int, int), optional
        Defaults to ``pool_size`` (windows do not overlap).
    padding : {"valid", "same"}, default "valid"
    """

    mode = "max"


class AveragePooling2D(_Pooling2D):
    """Average pooling: each window becomes the mean of its values.

    With ``padding="same"``, padded cells are not counted in the mean.
    """

    mode = "avg"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


class _GlobalPooling2D(Layer):
    """Pool each channel over the whole image: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with ``keepdims``."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        check_channels_last(data_format, owner)
        if not isinstance(keepdims, bool):
            raise ValueError(f"{owner}: `keepdims` must be True or False. Received: keepdims={keepdims!r}.")
        self.keepdims = keepdims

    def build(self, input_shape):
        check_image_input(input_shape, type(self).__name__, self.name)

    def compute_output_shape(self, input_shape):
        N, _, _, C = input_shape
        return (N, 1, 1, C) if self.keepdims else (N, C)

    def get_config(self):
        config = super().get_config()
        config["keepdims"] = self.keepdims
        return config


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over all positions: (N, H, W, C) -> (N, C).

    Parameters
    ----------
    data_format : {"channels_last"}, optional
        Only NHWC is supported.
    keepdims : bool, default False
        Keep the pooled axes, as size 1: (N, 1, 1, C).
    """

    def forward(self, x, training=False):
        return x.mean(axis=(1, 2), keepdims=self.keepdims), x.shape           # (N, C) or (N, 1, 1, C)

    def backward(self, dout, x_shape):
        N, H, W, C = x_shape
        share = dout.reshape(N, 1, 1, C) / (H * W)                           # each position's part of the mean
        return np.broadcast_to(share, x_shape).copy(), {}                    # (N, H, W, C)


class _ArgmaxCache(NamedTuple):
    winner: np.ndarray      # (N, C): the flat position h * W + w of each channel's first maximum
    x_shape: tuple          # (N, H, W, C)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The largest value of each channel over all positions: (N, H, W, C) -> (N, C).

    The gradient of each output goes to the position that held the maximum;
    on a tie, to the first one in row-major order (smallest h, then smallest
    w), all of it, like MaxPooling2D's windows. (``torch.amax`` splits a tie
    equally instead.)

    Takes the parameters of :class:`GlobalAveragePooling2D` (``data_format``, ``keepdims``).
    """

    def forward(self, x, training=False):
        N, H, W, C = x.shape
        flat = x.reshape(N, H * W, C)                                         # (N, H*W, C)
        winner = flat.argmax(axis=1)                                          # (N, C), first maximum
        out = np.take_along_axis(flat, winner[:, None, :], axis=1)            # (N, 1, C)
        out = out.reshape(N, 1, 1, C) if self.keepdims else out.reshape(N, C)  # (N, 1, 1, C) or (N, C)
        return out, _ArgmaxCache(winner, x.shape)

    def backward(self, dout, cache):
        N, H, W, C = cache.x_shape
        dflat = np.zeros((N, H * W, C), dtype=dout.dtype)                    # (N, H*W, C)
        np.put_along_axis(dflat, cache.winner[:, None, :], dout.reshape(N, 1, C), axis=1)
        return dflat.reshape(cache.x_shape), {}                              # (N, H, W, C)


GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
