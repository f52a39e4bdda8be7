"""Augmentation layers: random flips, rotations, zooms, shifts, crops, contrast and brightness.

They follow Keras 3's ``keras.layers.Random*`` layers (names, arguments,
defaults): each one changes the images only while training (``fit``, or a call
with ``training=True``) and is the identity in ``predict`` and ``evaluate``
(except :class:`RandomCrop`, whose output always has the crop's size). Every
sample of a batch gets its own random draw. With ``seed=`` the draws are the
same on every run; without it they come from the generator that
:func:`convlearn.utils.set_random_seed` resets.

For one fixed draw every layer is linear (or affine) in the image, so each has
a backward pass and can sit anywhere in a network:

- flips and crops move pixels: the backward moves the gradient back;
- rotations, zooms and translations read each output pixel from a point of
  the input (bilinear: a weighted sum of its four neighbours), a *gather*;
  the backward is the matching *scatter-add* of the gradient;
- contrast and brightness are affine per image, then clipped to
  ``value_range``: the gradient stops where a value was clipped.

Shapes: ``N`` images of ``H x W`` pixels and ``C`` channels (NHWC); ``P = H * W``
output positions; ``K`` neighbours read per position (4 for bilinear, 1 for nearest).

The gather has two twins, held equal by tests: :func:`warp_reference` (loops,
one pixel at a time, the readable version) and :func:`warp_fast` (vectorised).
"""

from __future__ import annotations

import math
import numbers
import threading
from typing import NamedTuple

import numpy as np

from .. import _rng
from .base import Layer
from .conv import check_channels_last, check_image_input

__all__ = ["RandomBrightness", "RandomContrast", "RandomCrop", "RandomFlip", "RandomRotation",
           "RandomTranslation", "RandomZoom", "warp_fast", "warp_reference"]

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------

def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def factor_range(factor, name, owner, low, high, example, low_open=False):
    """``(lower, upper)`` from a number ``f`` (meaning ``(-f, f)``, clipped at ``low``) or a pair.

    Every number must lie in ``[low, high]`` (``(low, high]`` with ``low_open``).
    """
    def ok(v):
        return _is_number(v) and math.isfinite(v) and (v > low if low_open else v >= low) and v <= high

    bracket = "(" if low_open else "["
    problem = (f"{owner}: `{name}` must be a number or a pair (lower, upper) of numbers in "
               f"{bracket}{low}, {high}]. Received: {name}={factor!r}. For example {name}={example}.")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(ok(v) for v in factor):
            raise ValueError(problem)
        lower, upper = sorted(float(v) for v in factor)
        return lower, upper
    if not ok(factor):
        raise ValueError(problem)
    f = abs(float(factor))
    return max(-f, low), f


def _value_range(value_range, owner):
    if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2
            or not all(_is_number(v) and math.isfinite(v) for v in value_range)
            or value_range[0] == value_range[1]):
        raise ValueError(
            f"{owner}: `value_range` must be a pair (low, high) of two different numbers, the range of the "
            f"pixel values. Received: value_range={value_range!r}. Use (0, 255) for raw pixels or (0, 1) "
            "after Rescaling(1/255)."
        )
    low, high = sorted(float(v) for v in value_range)
    return low, high


def _choice(value, allowed, name, owner):
    if value not in allowed:
        raise ValueError(f"{owner}: `{name}` must be one of {', '.join(map(repr, allowed))}. "
                         f"Received: {name}={value!r}.")
    return value


def _fill_value(value, owner):
    if not _is_number(value) or not math.isfinite(value):
        raise ValueError(f"{owner}: `fill_value` must be a finite number, the value of pixels from outside the "
                         f"image when fill_mode='constant'. Received: fill_value={value!r}.")
    return float(value)


def _as_list(value):
    return list(value) if isinstance(value, tuple) else value


# ----------------------------------------------------------------------------------------------
# The gather: each output pixel reads a point of the input
# ----------------------------------------------------------------------------------------------

class Warp(NamedTuple):
    """One fixed draw of a geometric augmentation, as a gather.

    ``out[n, p, c] = sum_k weight[n, p, k] * x[n, index[n, p, k], c] + fill[n, p] * fill_value``
    with ``x`` seen as (N, H*W, C).
    """

    index: np.ndarray     # (N, P, K) int64: flat position h * W + w of each neighbour read
    weight: np.ndarray    # (N, P, K) float64: its weight (0 for a neighbour outside, fill_mode="constant")
    fill: np.ndarray      # (N, P) float64: total weight of the neighbours outside (constant mode), else 0
    fill_value: float
    x_shape: tuple        # (N, H, W, C)


def _fix_index_scalar(i, n, fill_mode):
    """Where index ``i`` of an axis of ``n`` pixels reads from, or None (outside, constant mode)."""
    if 0 <= i < n:
        return i
    if fill_mode == "constant":
        return None
    if fill_mode == "nearest":                    # a a a | a b c d | d d d
        return 0 if i < 0 else n - 1
    if fill_mode == "wrap":                       # a b c d | a b c d | a b c d
        return i % n
    # reflect, about the edge of the last pixel:  d c b a | a b c d | d c b a
    while not 0 <= i < n:
        i = -1 - i if i < 0 else 2 * n - 1 - i
    return i


def warp_reference(x_shape, matrices, interpolation, fill_mode, fill_value=0.0):
    """The gather of an affine warp, one output pixel at a time (the readable twin of :func:`warp_fast`).

    Parameters
    ----------
    x_shape : tuple
        (N, H, W, C) of the images.
    matrices : ndarray, shape (N, 6)
        Per image ``(a0, a1, a2, b0, b1, b2)``: output pixel (row y, column x) reads the input at
        column ``a0 * x + a1 * y + a2`` and row ``b0 * x + b1 * y + b2`` (Keras's layout).
    interpolation : {"bilinear", "nearest"}
    fill_mode : {"reflect", "wrap", "constant", "nearest"}
    fill_value : float
        The value read outside the image with ``fill_mode="constant"``.

    Returns
    -------
    Warp
    """
    N, H, W, _ = x_shape
    K = 4 if interpolation == "bilinear" else 1
    index = np.zeros((N, H * W, K), dtype=np.int64)                      # (N, P, K)
    weight = np.zeros((N, H * W, K))                                     # (N, P, K)
    fill = np.zeros((N, H * W))                                          # (N, P)
    for n in range(N):
        a0, a1, a2, b0, b1, b2 = (float(v) for v in matrices[n])
        for y in range(H):
            for x in range(W):
                p = y * W + x
                col, row = a0 * x + a1 * y + a2, b0 * x + b1 * y + b2
                if interpolation == "nearest":
                    taps = [(round(row), round(col), 1.0)]             # round half to even, like Keras
                else:
                    r0, c0 = math.floor(row), math.floor(col)
                    fr, fc = row - r0, col - c0
                    taps = [(r0, c0, (1 - fr) * (1 - fc)), (r0, c0 + 1, (1 - fr) * fc),
                            (r0 + 1, c0, fr * (1 - fc)), (r0 + 1, c0 + 1, fr * fc)]
                for k, (r, c, w) in enumerate(taps):
                    rr, cc = _fix_index_scalar(r, H, fill_mode), _fix_index_scalar(c, W, fill_mode)
                    if rr is None or cc is None:
                        fill[n, p] += w                                 # this neighbour is fill_value
                    else:
                        index[n, p, k] = rr * W + cc
                        weight[n, p, k] = w
    return Warp(index, weight, fill, float(fill_value), tuple(x_shape))


def _fix_index(i, n, fill_mode):
    """:func:`_fix_index_scalar` on an int array: (fixed index, inside mask)."""
    inside = (i >= 0) & (i < n)
    if fill_mode == "constant":
        return np.clip(i, 0, n - 1), inside
    if fill_mode == "nearest":
        return np.clip(i, 0, n - 1), np.ones_like(inside)
    if fill_mode == "wrap":
        return np.mod(i, n), np.ones_like(inside)
    j = np.mod(i, 2 * n)                                                 # reflect: period 2n
    return np.where(j >= n, 2 * n - 1 - j, j), np.ones_like(inside)


def warp_fast(x_shape, matrices, interpolation, fill_mode, fill_value=0.0):
    """The gather of an affine warp, vectorised; same arguments and result as :func:`warp_reference`."""
    _, H, W, _ = x_shape
    m = np.asarray(matrices, dtype=np.float64)                           # (N, 6)
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    xs, ys = xs.reshape(1, -1), ys.reshape(1, -1)                        # (1, P)
    col = m[:, 0:1] * xs + m[:, 1:2] * ys + m[:, 2:3]                    # (N, P)
    row = m[:, 3:4] * xs + m[:, 4:5] * ys + m[:, 5:6]                    # (N, P)
    if interpolation == "nearest":
        rows, cols = np.rint(row)[..., None], np.rint(col)[..., None]    # (N, P, 1)
        weights = np.ones(rows.shape)                                    # (N, P, 1)
    else:
        r0, c0 = np.floor(row), np.floor(col)                            # (N, P)
        fr, fc = row - r0, col - c0
        rows = np.stack([r0, r0, r0 + 1, r0 + 1], axis=-1)               # (N, P, 4)
        cols = np.stack([c0, c0 + 1, c0, c0 + 1], axis=-1)               # (N, P, 4)
        weights = np.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc], axis=-1)
    rr, row_in = _fix_index(rows.astype(np.int64), H, fill_mode)
    cc, col_in = _fix_index(cols.astype(np.int64), W, fill_mode)
    inside = row_in & col_in                                             # (N, P, K)
    fill = np.where(inside, 0.0, weights).sum(axis=-1)                   # (N, P)
    weight = np.where(inside, weights, 0.0)                              # (N, P, K)
    index = np.where(inside, rr * W + cc, 0)                             # (N, P, K)
    return Warp(index, weight, fill, float(fill_value), tuple(x_shape))


def apply_warp(x, warp):
    """The warped images: (N, H, W, C) -> (N, H, W, C)."""
    N, H, W, C = x.shape
    flat = x.reshape(N, H * W, C)                                        # (N, P, C)
    out = np.zeros((N, H * W, C), dtype=x.dtype)                         # (N, P, C)
    for k in range(warp.index.shape[-1]):
        taken = np.take_along_axis(flat, warp.index[:, :, k:k + 1], axis=1)   # (N, P, C)
        out += taken * warp.weight[:, :, k:k + 1].astype(x.dtype)
    if warp.fill_value != 0.0:
        out += (warp.fill * warp.fill_value).astype(x.dtype)[:, :, None]
    return out.reshape(N, H, W, C)


def warp_backward(dout, warp):
    """The scatter-add of the gather: each gradient goes back to the pixels it was read from, by weight."""
    N, H, W, C = warp.x_shape
    K = warp.index.shape[-1]
    d = dout.reshape(N, H * W, 1, C)                                     # (N, P, 1, C)
    contributions = d * warp.weight[..., None].astype(dout.dtype)        # (N, P, K, C)
    where = warp.index + (np.arange(N) * (H * W))[:, None, None]         # (N, P, K): index into N*H*W
    dx = np.zeros((N * H * W, C), dtype=dout.dtype)                      # (N*H*W, C)
    np.add.at(dx, where.reshape(-1), contributions.reshape(N * H * W * K, C))
    return dx.reshape(N, H, W, C)


# ----------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------

class _RandomLayer(Layer):
    """A layer that draws random numbers in training: one generator per layer, made at the first draw."""

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.seed = _rng.check_seed(seed, f"{owner}(seed)")
        check_channels_last(data_format, owner)
        self._generator = None
        self._lock = threading.Lock()

    def build(self, input_shape):
        check_image_input(input_shape, type(self).__name__, self.name)

    def _draw(self, draw):
        """``draw(generator)`` under the layer's lock (the generator is made from ``seed`` the first time)."""
        with self._lock:
            if self._generator is None:
                self._generator = _rng.generator_for(self.seed)
            return draw(self._generator)

    def __getstate__(self):            # copy.deepcopy: a lock cannot be copied
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


class RandomFlip(_RandomLayer):
    """Flip each image, with probability 1/2, while training.

    Parameters
    ----------
    mode : {"horizontal_and_vertical", "horizontal", "vertical"}, default "horizontal_and_vertical"
        ``"horizontal"`` mirrors left and right, ``"vertical"`` top and bottom. As in Keras 3,
        ``"horizontal_and_vertical"`` draws *one* coin per image: half of the images are
        flipped both ways (turned by 180 degrees), the others are left as they are.
    seed : int, optional
        Makes the flips reproducible.
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = _choice(mode, ("horizontal_and_vertical", "horizontal", "vertical"), "mode", "RandomFlip")

    def forward(self, x, training=False):
        if not training:
            return x, None
        flips = self._draw(lambda g: g.random(x.shape[0]) <= 0.5)       # (N,) bool
        out = x.copy()
        out[flips] = self._flip(x[flips])
        return out, flips

    def _flip(self, x):
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x = x[:, :, ::-1]                                             # mirror the width axis
        if self.mode in ("vertical", "horizontal_and_vertical"):
            x = x[:, ::-1]                                                # mirror the height axis
        return x

    def backward(self, dout, flips):
        if flips is None:
            return dout, {}
        dx = dout.copy()
        dx[flips] = self._flip(dout[flips])                               # a flip is its own inverse
        return dx, {}

    def get_config(self):
        config = super().get_config()
        config["mode"] = self.mode
        return config


class _WarpLayer(_RandomLayer):
    """Shared by the geometric layers: a random affine matrix per image, then the gather."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        owner = type(self).__name__
        self.fill_mode = _choice(fill_mode, FILL_MODES, "fill_mode", owner)
        self.interpolation = _choice(interpolation, INTERPOLATIONS, "interpolation", owner)
        self.fill_value = _fill_value(fill_value, owner)

    def matrices(self, generator, N, H, W):
        """(N, 6) affine matrices of one draw (see :func:`warp_reference`)."""
        raise NotImplementedError

    def forward(self, x, training=False):
        if not training:
            return x, None
        N, H, W, _ = x.shape
        matrices = self._draw(lambda g: self.matrices(g, N, H, W))      # (N, 6)
        warp = warp_fast(x.shape, matrices, self.interpolation, self.fill_mode, self.fill_value)
        return apply_warp(x, warp), warp                                  # (N, H, W, C)

    def backward(self, dout, warp):
        if warp is None:
            return dout, {}
        return warp_backward(dout, warp), {}                              # (N, H, W, C)

    def get_config(self):
        config = super().get_config()
        config.update(fill_mode=self.fill_mode, interpolation=self.interpolation, fill_value=self.fill_value)
        return config


class RandomRotation(_WarpLayer):
    """Rotate each image by a random angle about its centre while training.

    Parameters
    ----------
    factor : float or (float, float)
        The angle as a fraction of a full turn (2 pi): ``0.1`` draws from -36 to +36 degrees,
        ``(-0.1, 0.25)`` from -36 to +90 degrees. Positive angles turn counter-clockwise.
        Numbers in [-1, 1].
    fill_mode : {"reflect", "wrap", "constant", "nearest"}, default "reflect"
        What is read outside the image: ``reflect`` mirrors about the edge (``d c b a | a b c d | d c b a``),
        ``wrap`` repeats the image (``a b c d | a b c d``), ``constant`` reads ``fill_value``,
        ``nearest`` repeats the edge pixel (``a a a a | a b c d | d d d d``).
    interpolation : {"bilinear", "nearest"}, default "bilinear"
    seed : int, optional
    fill_value : float, default 0.0
        The value read outside the image with ``fill_mode="constant"``.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.factor = factor_range(factor, "factor", "RandomRotation", -1.0, 1.0, "0.1 (up to 36 degrees)")

    def matrices(self, generator, N, H, W):
        angle = generator.uniform(self.factor[0], self.factor[1], N) * 2 * np.pi     # (N,) radians
        cos, sin = np.cos(angle), np.sin(angle)
        cx, cy = (W - 1) / 2, (H - 1) / 2                                # the centre stays in place
        a0, a1, b0, b1 = cos, -sin, sin, cos
        return np.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1], axis=1)

    def get_config(self):
        config = super().get_config()
        config["factor"] = list(self.factor)
        return config


class RandomZoom(_WarpLayer):
    """Zoom each image in or out about its centre while training.

    Parameters
    ----------
    height_factor : float or (float, float)
        The zoom of the height, as a fraction: the image shows ``1 + f`` times its height, with ``f``
        drawn from ``(-height_factor, height_factor)`` (or the pair given). Positive: zoom out (the
        content shrinks), negative: zoom in. Numbers in (-1, 1].
    width_factor : float or (float, float), optional
        The same for the width; ``None`` (default) zooms the width as much as the height, which
        keeps the aspect ratio.
    fill_mode, interpolation, seed, fill_value
        As for :class:`RandomRotation`.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.height_factor = _as_list(height_factor)
        self.width_factor = _as_list(width_factor)
        self.height_range = factor_range(height_factor, "height_factor", "RandomZoom", -1.0, 1.0, "0.2",
                                         low_open=True)
        self.width_range = None if width_factor is None else factor_range(
            width_factor, "width_factor", "RandomZoom", -1.0, 1.0, "0.2", low_open=True)

    def matrices(self, generator, N, H, W):
        zh = 1.0 + generator.uniform(self.height_range[0], self.height_range[1], N)          # (N,)
        zw = zh if self.width_range is None else 1.0 + generator.uniform(*self.width_range, N)
        zeros = np.zeros(N)
        return np.stack([zw, zeros, (W - 1) / 2 * (1 - zw), zeros, zh, (H - 1) / 2 * (1 - zh)], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


class RandomTranslation(_WarpLayer):
    """Shift each image up or down and left or right while training.

    Parameters
    ----------
    height_factor : float or (float, float)
        The vertical shift, as a fraction of the height: drawn from ``(-height_factor, height_factor)``
        (or the pair given). Positive moves the content down. Numbers in [-1, 1].
    width_factor : float or (float, float)
        The same for the horizontal shift; positive moves the content right.
    fill_mode, interpolation, seed, fill_value
        As for :class:`RandomRotation`.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed, fill_value=fill_value,
                         data_format=data_format, **kwargs)
        self.height_factor = _as_list(height_factor)
        self.width_factor = _as_list(width_factor)
        self.height_range = factor_range(height_factor, "height_factor", "RandomTranslation", -1.0, 1.0, "0.1")
        self.width_range = factor_range(width_factor, "width_factor", "RandomTranslation", -1.0, 1.0, "0.1")

    def matrices(self, generator, N, H, W):
        dy = generator.uniform(*self.height_range, N) * H                 # (N,) pixels down
        dx = generator.uniform(*self.width_range, N) * W                  # (N,) pixels right
        ones, zeros = np.ones(N), np.zeros(N)
        return np.stack([ones, zeros, -dx, zeros, ones, -dy], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(height_factor=self.height_factor, width_factor=self.width_factor)
        return config


class _ClipCache(NamedTuple):
    scale: np.ndarray        # (N, 1, 1, 1): the contrast factor (1 for brightness)
    inside: np.ndarray       # (N, H, W, C) bool: where the value was not clipped


class RandomContrast(_RandomLayer):
    """Scale each image's contrast by a random factor while training.

    Each channel of each image becomes ``(x - mean) * f + mean`` (its mean over the pixels kept),
    clipped to ``value_range``. The factor ``f`` is drawn from ``[1 - lower, 1 + upper]``.

    Parameters
    ----------
    factor : float or (float, float)
        Numbers in [0, 1]. A pair ``(lower, upper)`` draws ``f`` from ``[1 - lower, 1 + upper]``.
        As in Keras 3, one number ``u`` means ``(0, u)``: ``f`` from ``[1, 1 + u]`` (contrast
        only raised); pass ``(u, u)`` for ``[1 - u, 1 + u]``.
    value_range : (float, float), default (0, 255)
        The range of the pixel values; the output is clipped to it.
    seed : int, optional
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, "factor", "RandomContrast", 0.0, 1.0, "0.2 or (0.2, 0.2)")
        self.value_range = _value_range(value_range, "RandomContrast")

    def forward(self, x, training=False):
        if not training:
            return x, None
        f = self._draw(lambda g: g.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], x.shape[0]))
        f = f.reshape(-1, 1, 1, 1).astype(x.dtype)                        # (N, 1, 1, 1)
        mean = x.mean(axis=(1, 2), keepdims=True)                         # (N, 1, 1, C)
        y = (x - mean) * f + mean                                         # (N, H, W, C)
        low, high = self.value_range
        return np.clip(y, low, high), _ClipCache(f, (y >= low) & (y <= high))

    def backward(self, dout, cache):
        if cache is None:
            return dout, {}
        _, H, W, _ = dout.shape
        g = np.where(cache.inside, dout, 0)                               # (N, H, W, C)
        # y = f * x + (1 - f) * mean(x): every pixel also moves the mean of its channel
        dx = cache.scale * g + (1 - cache.scale) * g.sum(axis=(1, 2), keepdims=True) / (H * W)
        return dx.astype(dout.dtype), {}

    def get_config(self):
        config = super().get_config()
        config.update(factor=list(self.factor), value_range=list(self.value_range))
        return config


class RandomBrightness(_RandomLayer):
    """Add a random amount to every pixel of each image while training, clipped to ``value_range``.

    Parameters
    ----------
    factor : float or (float, float)
        The amount as a fraction of the width of ``value_range``: ``0.2`` adds from -20% to +20%
        (-51 to +51 with the default range), ``(-0.1, 0.3)`` from -10% to +30%. Numbers in [-1, 1].
    value_range : (float, float), default (0, 255)
        The range of the pixel values; the output is clipped to it.
    seed : int, optional
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = factor_range(factor, "factor", "RandomBrightness", -1.0, 1.0, "0.2")
        self.value_range = _value_range(value_range, "RandomBrightness")

    def forward(self, x, training=False):
        if not training:
            return x, None
        low, high = self.value_range
        delta = self._draw(lambda g: g.uniform(self.factor[0], self.factor[1], x.shape[0])) * (high - low)
        y = x + delta.reshape(-1, 1, 1, 1).astype(x.dtype)                # (N, H, W, C)
        return np.clip(y, low, high), _ClipCache(np.ones((1, 1, 1, 1), x.dtype), (y >= low) & (y <= high))

    def backward(self, dout, cache):
        if cache is None:
            return dout, {}
        return np.where(cache.inside, dout, 0).astype(dout.dtype), {}

    def get_config(self):
        config = super().get_config()
        config.update(factor=list(self.factor), value_range=list(self.value_range))
        return config


def resize_matrix(n_out, n_in):
    """The (n_out, n_in) matrix of a bilinear resize of one axis (half-pixel centres, no antialiasing).

    ``out = R @ x`` along the axis; like ``torch.nn.functional.interpolate(mode="bilinear",
    align_corners=False)`` and Keras's ``resize``.
    """
    R = np.zeros((n_out, n_in))                                          # (n_out, n_in)
    for i in range(n_out):
        src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(math.floor(src), n_in - 1)
        i1 = min(i0 + 1, n_in - 1)
        t = src - i0
        R[i, i0] += 1 - t
        R[i, i1] += t
    return R


class _CropCache(NamedTuple):
    x_shape: tuple           # (N, H, W, C)
    top: np.ndarray          # (N,) first row of each sample's crop
    left: np.ndarray         # (N,) first column
    box: tuple               # (crop_h, crop_w) read from the input
    resize: tuple | None     # (Rh (h, crop_h), Rw (w, crop_w)) when the box is resized, else None


class RandomCrop(_RandomLayer):
    """Crop a random ``height x width`` window out of each image while training.

    At inference, and in training when an image is not larger than the crop in both height and
    width, the largest centred window of the aspect ratio ``height / width`` is cut out and resized
    (bilinear) to ``height x width``, as Keras documents (and as tf.keras 2 did). Keras 3.15's own
    code departs from its documentation there: at inference it returns the images uncropped
    (contradicting its ``compute_output_shape``), and for a small image in training it resizes a
    window of the crop's size taken from that box's corner. convlearn keeps the output shape the
    same in both modes, so a model built on it works in ``predict``.

    Unlike Keras 3, which draws one window for the whole batch, each image gets its own window.

    Parameters
    ----------
    height, width : int
        The size of the output.
    seed : int, optional
    """

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        for name, value in (("height", height), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"RandomCrop: `{name}` must be a positive integer, the size of the crop. "
                                 f"Received: {name}={value!r}.")
        self.height, self.width = int(height), int(width)

    def compute_output_shape(self, input_shape):
        N, _, _, C = input_shape
        return (N, self.height, self.width, C)

    def forward(self, x, training=False):
        N, H, W, _ = x.shape
        h, w = self.height, self.width
        if training and H > h and W > w:
            top, left = self._draw(lambda g: (g.integers(0, H - h + 1, N), g.integers(0, W - w + 1, N)))
            box, resize = (h, w), None
        else:                                  # the centre, cut to the aspect ratio h / w, then resized
            crop_h = max(min(H, int(W * h / w)), 1)
            crop_w = max(min(W, int(H * w / h)), 1)
            top = np.full(N, int((H - crop_h) / 2))
            left = np.full(N, int((W - crop_w) / 2))
            box = (crop_h, crop_w)
            resize = None if box == (h, w) else (resize_matrix(h, crop_h), resize_matrix(w, crop_w))
        rows = top[:, None] + np.arange(box[0])                           # (N, crop_h)
        cols = left[:, None] + np.arange(box[1])                          # (N, crop_w)
        n = np.arange(N)[:, None, None]
        out = x[n, rows[:, :, None], cols[:, None, :]]                    # (N, crop_h, crop_w, C)
        if resize is not None:
            Rh, Rw = (r.astype(x.dtype) for r in resize)
            out = np.einsum("ih,nhwc,jw->nijc", Rh, out, Rw)              # (N, h, w, C)
        return out, _CropCache(x.shape, top, left, box, resize)

    def backward(self, dout, cache):
        if cache.resize is not None:
            Rh, Rw = (r.astype(dout.dtype) for r in cache.resize)
            dout = np.einsum("ih,nijc,jw->nhwc", Rh, dout, Rw)            # (N, crop_h, crop_w, C)
        N = cache.x_shape[0]
        dx = np.zeros(cache.x_shape, dtype=dout.dtype)                    # (N, H, W, C)
        rows = cache.top[:, None] + np.arange(cache.box[0])
        cols = cache.left[:, None] + np.arange(cache.box[1])
        dx[np.arange(N)[:, None, None], rows[:, :, None], cols[:, None, :]] = dout   # windows do not overlap
        return dx, {}

    def get_config(self):
        config = super().get_config()
        config.update(height=self.height, width=self.width)
        return config
