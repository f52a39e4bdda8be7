"""Layers that change an image's size: upsampling, zero padding, cropping, resizing, centre crop.

None of them has weights. Each is linear in its input, so each has an exact
backward pass: padding's is a crop, cropping's a zero padding, and a resize's
the transposed resize (every output cell's gradient goes back to the input
cells it was made from, with the same weights).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .. import ops
from .._checks import choice, float_in_range, int_tuple, positive_int
from .base import Layer
from .conv import check_channels_last, check_image_input, check_unsupported

_INTERPOLATIONS = ("bilinear", "nearest")
_KERAS_ONLY = ("bicubic", "lanczos3", "lanczos5", "area")


def _interpolation(value, owner, default):
    """``"bilinear"`` or ``"nearest"``; Keras's other methods are refused by name."""
    if isinstance(value, str) and value.lower() in _KERAS_ONLY:
        raise ValueError(
            f"{owner}: interpolation={value!r} is not supported by convlearn; use 'bilinear' or 'nearest' "
            f"(default {default!r})."
        )
    return choice(value, _INTERPOLATIONS, "interpolation", owner)


def _pairs(value, name, owner, example):
    """An int, a pair of ints (symmetric per axis) or a pair of pairs, as ((top, bottom), (left, right))."""
    def amount(v):
        return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0

    def pair(v):
        if amount(v):
            return (int(v), int(v))
        if isinstance(v, (tuple, list)) and len(v) == 2 and all(amount(a) for a in v):
            return (int(v[0]), int(v[1]))
        return None

    if amount(value):
        result = ((int(value),) * 2,) * 2
    elif isinstance(value, (tuple, list)) and len(value) == 2 and None not in (pair(value[0]), pair(value[1])):
        result = (pair(value[0]), pair(value[1]))
    else:
        raise ValueError(
            f"{owner}: `{name}` must be a non-negative integer, a tuple of 2 (height, width) or a tuple of 2 pairs "
            f"((top, bottom), (left, right)), e.g. {example}. Received: {name}={value!r}."
        )
    return result


class UpSampling2D(Layer):
    """Make an image ``size`` times larger: each pixel repeated (``nearest``) or blended (``bilinear``).

    Parameters
    ----------
    size : int or (int, int), default (2, 2)
        Factors for the height and the width.
    interpolation : {"nearest", "bilinear"}, default "nearest"
        ``bilinear`` resizes with half-pixel centres, like ``Resizing``.
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        owner = "UpSampling2D"
        self.size = int_tuple(size, 2, "size", owner)
        check_channels_last(data_format, owner)
        self.interpolation = _interpolation(interpolation, owner, "nearest")

    def build(self, input_shape):
        check_image_input(input_shape, "UpSampling2D", self.name)

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        return (N, None if H is None else H * self.size[0], None if W is None else W * self.size[1], C)

    def forward(self, x, training=False):
        N, H, W, C = x.shape
        sh, sw = self.size
        if self.interpolation == "bilinear":
            return ops.resize_forward(x, (H * sh, W * sw), "bilinear")      # (N, H*sh, W*sw, C)
        out = np.broadcast_to(x[:, :, None, :, None, :], (N, H, sh, W, sw, C))   # each pixel sh x sw times
        return out.reshape(N, H * sh, W * sw, C), x.shape                   # (N, H*sh, W*sw, C)

    def backward(self, dout, cache):
        if self.interpolation == "bilinear":
            return ops.resize_backward(dout, cache), {}                     # (N, H, W, C)
        N, H, W, C = cache
        sh, sw = self.size
        return dout.reshape(N, H, sh, W, sw, C).sum(axis=(2, 4)), {}        # (N, H, W, C): the copies' sum

    def get_config(self):
        config = super().get_config()
        config.update(size=list(self.size), interpolation=self.interpolation)
        return config


class ZeroPadding2D(Layer):
    """Add rows and columns of zeros around each image.

    Parameters
    ----------
    padding : int, (int, int) or ((int, int), (int, int)), default (1, 1)
        The same on all sides; ``(rows, columns)`` on both sides of each axis;
        or ``((top, bottom), (left, right))``.
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding, "padding", "ZeroPadding2D", "padding=((1, 2), (0, 1))")
        check_channels_last(data_format, "ZeroPadding2D")

    def build(self, input_shape):
        check_image_input(input_shape, "ZeroPadding2D", self.name)

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        (t, b), (l, r) = self.padding
        return (N, None if H is None else H + t + b, None if W is None else W + l + r, C)

    def forward(self, x, training=False):
        (t, b), (l, r) = self.padding
        return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0))), x.shape        # (N, H+t+b, W+l+r, C)

    def backward(self, dout, x_shape):
        (t, _), (l, _) = self.padding
        _, H, W, _ = x_shape
        return dout[:, t:t + H, l:l + W, :].copy(), {}                      # (N, H, W, C)

    def get_config(self):
        config = super().get_config()
        config["padding"] = [list(p) for p in self.padding]
        return config


class Cropping2D(Layer):
    """Remove rows and columns at the edges of each image.

    Parameters
    ----------
    cropping : int, (int, int) or ((int, int), (int, int)), default ((0, 0), (0, 0))
        As ``ZeroPadding2D``'s ``padding``: what to cut from each side.

    Raises
    ------
    ValueError
        When the cropping would leave no rows or no columns.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pairs(cropping, "cropping", "Cropping2D", "cropping=((2, 2), (1, 1))")
        check_channels_last(data_format, "Cropping2D")

    def build(self, input_shape):
        check_image_input(input_shape, "Cropping2D", self.name)
        self._check_fits(input_shape[1:3])

    def _check_fits(self, hw):
        (t, b), (l, r) = self.cropping
        for n, cut, axis in zip(hw, (t + b, l + r), ("height", "width")):
            if n is not None and cut >= n:
                raise ValueError(
                    f"Cropping2D '{self.name}': cropping {self.cropping} removes {cut} of the {n} cells of the "
                    f"input's {axis}; at least one must be left. Crop less, or crop a larger image."
                )

    def compute_output_shape(self, input_shape):
        N, H, W, C = input_shape
        (t, b), (l, r) = self.cropping
        return (N, None if H is None else H - t - b, None if W is None else W - l - r, C)

    def forward(self, x, training=False):
        self._check_fits(x.shape[1:3])
        (t, b), (l, r) = self.cropping
        _, H, W, _ = x.shape
        return x[:, t:H - b, l:W - r, :].copy(), x.shape                    # (N, H-t-b, W-l-r, C)

    def backward(self, dout, x_shape):
        (t, b), (l, r) = self.cropping
        return np.pad(dout, ((0, 0), (t, b), (l, r), (0, 0))), {}           # (N, H, W, C): zeros where cut

    def get_config(self):
        config = super().get_config()
        config["cropping"] = [list(c) for c in self.cropping]
        return config


# ----------------------------------------------------------------------------
# Resizing and CenterCrop: Keras's rules for the window they keep or the border they add
# ----------------------------------------------------------------------------

def aspect_crop_box(H, W, height, width):
    """The largest centred window of an H x W image with the aspect ratio ``height : width``.

    Returns ``(top, left, rows, cols)``, computed as Keras does: the window is
    ``W * height / width`` rows or ``H * width / height`` columns (rounded down,
    at least 1, at most the image), centred (the extra cell, if any, below and right).
    """
    rows = max(min(H, W * height // width), 1)
    cols = max(min(W, H * width // height), 1)
    return (H - rows) // 2, (W - cols) // 2, rows, cols


def aspect_pad_amounts(H, W, height, width):
    """The border ``(rows, cols)`` Keras's ``pad_to_aspect_ratio`` adds on *each* side of an H x W image.

    The image is padded to ``max(H, W * height / width)`` rows or
    ``max(W, H * width / height)`` columns; half the difference (rounded down)
    goes on each side, so an odd difference leaves the result one cell short.
    Only one axis is ever padded (rows first).
    """
    rows = (max(H, W * height // width) - H) // 2
    cols = (max(W, H * width // height) - W) // 2
    return (rows, 0) if rows > 0 else (0, cols)


class _ResizeCache(NamedTuple):
    x_shape: tuple                # (N, H, W, C)
    box: tuple                    # (top, left, rows, cols) of the input that was resized, after any padding
    pads: tuple                   # (rows, cols) of fill added on each side before resizing
    resize: object | None      # the resize kernel's cache, None when the window was kept as it is


def _crop_pad_resize(x, size, interpolation, box=None, pads=(0, 0), fill_value=0.0):
    """Keep ``box`` of ``x`` (or pad it by ``pads`` of ``fill_value``), then resize to ``size``."""
    N, H, W, C = x.shape
    if box is None:
        box = (0, 0, H, W)
    top, left, rows, cols = box
    y = x[:, top:top + rows, left:left + cols, :]                           # (N, rows, cols, C)
    if pads != (0, 0):
        p, q = pads
        y = np.pad(y, ((0, 0), (p, p), (q, q), (0, 0)), constant_values=fill_value)   # (N, rows+2p, cols+2q, C)
    if y.shape[1:3] == tuple(size):
        return np.ascontiguousarray(y), _ResizeCache(x.shape, box, pads, None)
    out, resize_cache = ops.resize_forward(np.ascontiguousarray(y), size, interpolation)   # (N, Ho, Wo, C)
    return out, _ResizeCache(x.shape, box, pads, resize_cache)


def _crop_pad_resize_backward(dout, cache):
    g = dout if cache.resize is None else ops.resize_backward(dout, cache.resize)   # (N, rows+2p, cols+2q, C)
    p, q = cache.pads
    top, left, rows, cols = cache.box
    dx = np.zeros(cache.x_shape, dtype=dout.dtype)                         # (N, H, W, C)
    dx[:, top:top + rows, left:left + cols, :] = g[:, p:p + rows, q:q + cols, :]   # fill cells get nothing back
    return dx


class Resizing(Layer):
    """Resize images to ``height`` x ``width``, like Keras's ``Resizing`` preprocessing layer.

    Parameters
    ----------
    height, width : int
        The output size.
    interpolation : {"bilinear", "nearest"}, default "bilinear"
        ``bilinear``: the weighted mean of the 2x2 input cells around each output
        cell's centre (half-pixel centres, edges repeated); ``nearest``: the input
        cell under each output cell's centre.
    crop_to_aspect_ratio : bool, default False
        First keep the largest centred window with the output's aspect ratio (no distortion).
    pad_to_aspect_ratio : bool, default False
        First pad the short side evenly with ``fill_value`` (no distortion, nothing lost).
    fill_mode : {"constant"}
    fill_value : float, default 0.0

    Notes
    -----
    The layer is linear in its input, so it has a backward pass: gradients flow
    through it to earlier layers.
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
                 data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = "Resizing"
        self.height = positive_int(height, "height", owner)
        self.width = positive_int(width, "width", owner)
        self.interpolation = _interpolation(interpolation, owner, "bilinear")
        for name, value in (("crop_to_aspect_ratio", crop_to_aspect_ratio),
                            ("pad_to_aspect_ratio", pad_to_aspect_ratio)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{owner}: `{name}` must be True or False. Received: {name}={value!r}.")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(
                "Resizing: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True "
                "(crop away the extra, or pad the short side). Received: both True."
            )
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        if fill_mode != "constant":
            raise ValueError(f"Resizing: only fill_mode='constant' is supported (as in Keras). "
                             f"Received: fill_mode={fill_mode!r}.")
        self.fill_mode = fill_mode
        self.fill_value = float_in_range(fill_value, "fill_value", owner, -np.inf, np.inf, False, False)
        check_unsupported(owner, antialias=(bool(antialias), False))
        check_channels_last(data_format, owner)

    def build(self, input_shape):
        check_image_input(input_shape, "Resizing", self.name)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def forward(self, x, training=False):
        _, H, W, _ = x.shape
        box, pads = None, (0, 0)
        if self.crop_to_aspect_ratio:
            box = aspect_crop_box(H, W, self.height, self.width)
        elif self.pad_to_aspect_ratio:
            pads = aspect_pad_amounts(H, W, self.height, self.width)
        return _crop_pad_resize(x, (self.height, self.width), self.interpolation, box, pads,
                                self.fill_value)                           # (N, height, width, C)

    def backward(self, dout, cache):
        return _crop_pad_resize_backward(dout, cache), {}                   # (N, H, W, C)

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width, interpolation=self.interpolation,
                      crop_to_aspect_ratio=self.crop_to_aspect_ratio, pad_to_aspect_ratio=self.pad_to_aspect_ratio,
                      fill_mode=self.fill_mode, fill_value=self.fill_value)
        return config


class CenterCrop(Layer):
    """Keep the central ``height`` x ``width`` window of each image, like Keras's ``CenterCrop``.

    The window starts at ``((H - height) // 2, (W - width) // 2)``. When the
    image is smaller than the window along either axis, Keras's rule applies
    instead: the largest centred window with the aspect ratio ``height : width``
    is cut out and resized (bilinear) to ``height`` x ``width``.

    Parameters
    ----------
    height, width : int
    """

    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = positive_int(height, "height", "CenterCrop")
        self.width = positive_int(width, "width", "CenterCrop")
        check_channels_last(data_format, "CenterCrop")

    def build(self, input_shape):
        check_image_input(input_shape, "CenterCrop", self.name)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[-1])

    def forward(self, x, training=False):
        _, H, W, _ = x.shape
        if H >= self.height and W >= self.width:
            box = ((H - self.height) // 2, (W - self.width) // 2, self.height, self.width)
        else:
            box = aspect_crop_box(H, W, self.height, self.width)
        return _crop_pad_resize(x, (self.height, self.width), "bilinear", box)   # (N, height, width, C)

    def backward(self, dout, cache):
        return _crop_pad_resize_backward(dout, cache), {}                   # (N, H, W, C)

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width)
        return config


__all__ = [
    "CenterCrop",
    "Cropping2D",
    "Resizing",
    "UpSampling2D",
    "ZeroPadding2D",
    "aspect_crop_box",
    "aspect_pad_amounts",
]
