"""Reference kernels: the maths written as plain loops, the way a learner would.

These functions are slow on purpose. They loop over samples and output
positions so that every line can be read next to the guide's pictures: take
the window under the filter, multiply element by element, add up, write one
cell of the feature map. The fast kernels in :mod:`convlearn.ops.fast` compute
exactly the same numbers (tests hold the two equal on random shapes), and
``convlearn.ops.set_kernels("reference")`` makes every layer use these instead,
so that a learner can time both and see why one is slow.

Every forward function returns ``(out, cache)``; the matching backward function
takes ``(dout, cache)`` and returns the gradients. Shapes use the project's
vocabulary: ``N`` samples, ``H, W`` height and width, ``C`` input channels,
``kh, kw`` kernel size, ``F`` filters, ``Ho, Wo`` output height and width.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np

from .shapes import conv_output_length, padding_amounts


def _pad(x, pads, value=0.0):
    """Pad the two spatial axes of an NHWC array: pads = ((top, bottom), (left, right))."""
    (t, b), (l, r) = pads
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def _geometry(x_shape, k, strides, padding):
    N, H, W, C = x_shape
    kh, kw = k
    sh, sw = strides
    Ho = conv_output_length(H, kh, sh, padding)
    Wo = conv_output_length(W, kw, sw, padding)
    pads = (padding_amounts(H, kh, sh, padding), padding_amounts(W, kw, sw, padding))
    return Ho, Wo, pads


# ----------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------

def conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid"):
    """Convolve NHWC images with a bank of filters (Keras's Conv2D, no activation).

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    kernel : ndarray, shape (kh, kw, C, F)
    bias : ndarray of shape (F,) or None
    strides : (int, int)
    padding : {"valid", "same"}

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, F)
    cache : tuple
        ``(x_padded, kernel, has_bias, strides, pads, x_shape)`` for the backward pass.
    """
    N, H, W, C = x.shape
    kh, kw, _, F = kernel.shape
    sh, sw = strides
    Ho, Wo, pads = _geometry(x.shape, (kh, kw), strides, padding)
    xp = _pad(x, pads)                                        # (N, H+pt+pb, W+pl+pr, C)
    out = np.zeros((N, Ho, Wo, F), dtype=x.dtype)             # (N, Ho, Wo, F)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                top, left = i * sh, j * sw
                window = xp[n, top:top + kh, left:left + kw, :]     # (kh, kw, C)
                for f in range(F):
                    # element-wise products of window and filter, then their sum
                    out[n, i, j, f] = np.sum(window * kernel[:, :, :, f])
    if bias is not None:
        out += bias                                           # broadcast over (N, Ho, Wo)
    cache = (xp, kernel, bias is not None, strides, pads, x.shape)
    return out, cache


def conv2d_backward(dout, cache, need_dx=True):
    """Gradients of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, Ho, Wo, F)
        Gradient of the loss with respect to the convolution's output.
    cache : tuple
        From :func:`conv2d_forward`.
    need_dx : bool
        Whether to compute the input gradient (the first layer does not need it).

    Returns
    -------
    dx : ndarray of shape (N, H, W, C), or None when ``need_dx`` is False
    dkernel : ndarray, shape (kh, kw, C, F)
    dbias : ndarray of shape (F,), or None without a bias
    """
    xp, kernel, has_bias, (sh, sw), pads, x_shape = cache
    N, Ho, Wo, F = dout.shape
    kh, kw = kernel.shape[:2]
    dxp = np.zeros_like(xp) if need_dx else None              # (N, Hp, Wp, C)
    dkernel = np.zeros_like(kernel)                           # (kh, kw, C, F)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                top, left = i * sh, j * sw
                window = xp[n, top:top + kh, left:left + kw, :]     # (kh, kw, C)
                for f in range(F):
                    g = dout[n, i, j, f]
                    # the output cell was sum(window * filter): each filter weight
                    # gets the window value times g, each window pixel gets weight * g
                    dkernel[:, :, :, f] += g * window
                    if need_dx:
                        dxp[n, top:top + kh, left:left + kw, :] += g * kernel[:, :, :, f]
    dbias = dout.sum(axis=(0, 1, 2)) if has_bias else None   # (F,)
    dx = None
    if need_dx:
        (t, b), (l, r) = pads
        H, W = x_shape[1], x_shape[2]
        dx = dxp[:, t:t + H, l:l + W, :]                      # (N, H, W, C)
    return dx, dkernel, dbias


# ----------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------

def pool2d_forward(x, pool_size=(2, 2), strides=(2, 2), padding="valid", mode="max"):
    """Max or average pooling over NHWC images, one window at a time.

    With ``padding="same"`` the padded cells are ignored: they never win a max
    and are not counted in an average (TensorFlow's convention).

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    pool_size, strides : (int, int)
    padding : {"valid", "same"}
    mode : {"max", "avg"}

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, C)
    cache : tuple
        ``(x, pool_size, strides, pads, mode, winners)`` where ``winners`` holds,
        for max pooling, the (row, col) in the input of each window's maximum.
    """
    N, H, W, C = x.shape
    ph, pw = pool_size
    sh, sw = strides
    Ho, Wo, pads = _geometry(x.shape, pool_size, strides, padding)
    top_pad, left_pad = pads[0][0], pads[1][0]
    out = np.zeros((N, Ho, Wo, C), dtype=x.dtype)             # (N, Ho, Wo, C)
    winners = np.zeros((N, Ho, Wo, C, 2), dtype=np.int64) if mode == "max" else None
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                # window bounds in input coordinates, clipped to the real image
                r0, c0 = i * sh - top_pad, j * sw - left_pad
                r1, c1 = min(r0 + ph, H), min(c0 + pw, W)
                r0, c0 = max(r0, 0), max(c0, 0)
                for c in range(C):
                    window = x[n, r0:r1, c0:c1, c]                # (<=ph, <=pw)
                    if mode == "max":
                        flat = int(np.argmax(window))          # first maximum in reading order
                        dr, dc = divmod(flat, window.shape[1])
                        out[n, i, j, c] = window[dr, dc]
                        winners[n, i, j, c] = (r0 + dr, c0 + dc)
                    else:
                        out[n, i, j, c] = window.mean()
    cache = (x.shape, pool_size, strides, pads, mode, winners)
    return out, cache


def pool2d_backward(dout, cache):
    """Gradient of :func:`pool2d_forward` with respect to its input.

    Max pooling sends each output gradient to the one input cell that won the
    window; average pooling shares it equally among the window's real cells.

    Returns
    -------
    dx : ndarray, shape (N, H, W, C)
    """
    x_shape, (ph, pw), (sh, sw), pads, mode, winners = cache
    N, H, W, C = x_shape
    _, Ho, Wo, _ = dout.shape
    top_pad, left_pad = pads[0][0], pads[1][0]
    dx = np.zeros(x_shape, dtype=dout.dtype)                  # (N, H, W, C)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                r0, c0 = i * sh - top_pad, j * sw - left_pad
                r1, c1 = min(r0 + ph, H), min(c0 + pw, W)
                r0, c0 = max(r0, 0), max(c0, 0)
                for c in range(C):
                    g = dout[n, i, j, c]
                    if mode == "max":
                        r, col = winners[n, i, j, c]
                        dx[n, r, col, c] += g
                    else:
                        dx[n, r0:r1, c0:c1, c] += g / ((r1 - r0) * (c1 - c0))
    return dx


# ----------------------------------------------------------------------------
# Dense (fully connected)
# ----------------------------------------------------------------------------

def dense_forward(x, kernel, bias):
    """Fully connected layer on the last axis: ``out = x @ kernel + bias``.

    Parameters
    ----------
    x : ndarray, shape (N, D)
    kernel : ndarray, shape (D, U)
    bias : ndarray of shape (U,) or None

    Returns
    -------
    out : ndarray, shape (N, U)
    cache : tuple ``(x, kernel, has_bias)``
    """
    N, D = x.shape
    U = kernel.shape[1]
    out = np.zeros((N, U), dtype=x.dtype)                     # (N, U)
    for n in range(N):
        for u in range(U):
            # one neuron: weighted sum of all inputs
            out[n, u] = np.sum(x[n, :] * kernel[:, u])
    if bias is not None:
        out += bias
    return out, (x, kernel, bias is not None)


def dense_backward(dout, cache, need_dx=True, need_weights=True):
    """Gradients of :func:`dense_forward`.

    ``need_dx=False`` skips the input gradient, ``need_weights=False`` the kernel
    and bias gradients (the training step may compute the two in different threads).

    Returns
    -------
    dx : ndarray of shape (N, D), or None
    dkernel : ndarray of shape (D, U), or None
    dbias : ndarray of shape (U,), or None
    """
    x, kernel, has_bias = cache
    N, D = x.shape
    U = kernel.shape[1]
    dkernel = np.zeros_like(kernel) if need_weights else None  # (D, U)
    dx = np.zeros_like(x) if need_dx else None                # (N, D)
    for n in range(N):
        for u in range(U):
            g = dout[n, u]
            if need_weights:
                dkernel[:, u] += g * x[n, :]
            if need_dx:
                dx[n, :] += g * kernel[:, u]
    dbias = dout.sum(axis=0) if has_bias and need_weights else None   # (U,)
    return dx, dkernel, dbias


# ----------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------
#
# Batch and layer normalisation do the same thing to different groups of values:
# subtract the group's mean, divide by its standard deviation sqrt(var + epsilon),
# then scale by gamma and shift by beta. Batch normalisation's groups are the
# channels (one channel's values over the whole batch and every position), layer
# normalisation's are the samples (all the values of one sample along ``axes``).
# Shapes: ``C`` channels (the size of the normalised axis), ``M`` values per
# channel (``x.size // C``); ``S`` groups of layer normalisation, ``D`` values in
# each (the product of the normalised axes' sizes).

class BatchNormCache(NamedTuple):
    """What :func:`batch_norm_backward` needs from :func:`batch_norm_forward`."""
    x: np.ndarray                 # (N, ..., C, ...) the input
    mean: np.ndarray              # (C,) the statistics used: the batch's in training, the moving ones else
    variance: np.ndarray          # (C,)
    gamma: Optional[np.ndarray]   # (C,) or None
    has_beta: bool
    axis: int
    epsilon: float
    training: bool


def _normalize(v, epsilon):
    """Normalise one group of values: ``(xhat, mean, var)`` with ``xhat = (v - mean) / sqrt(var + epsilon)``."""
    mean = v.mean()
    var = ((v - mean) ** 2).mean()                            # biased: divided by the number of values
    return (v - mean) / np.sqrt(var + epsilon), mean, var


def _normalize_backward(dxhat, xhat, std):
    """Gradient of one group's input ``v`` from the gradient of its ``xhat``, one chain-rule step at a time.

    ``xhat = (v - mean) / std`` depends on ``v`` directly, through the mean and
    through the variance (``std = sqrt(var + epsilon)``); the three paths add up.
    """
    m = dxhat.size
    xc = xhat * std                                           # v - mean
    dvar = np.sum(dxhat * xc) * -0.5 * std ** -3              # d xhat / d var = -(v - mean) / (2 std^3)
    dmean = np.sum(-dxhat / std) + dvar * np.sum(-2.0 * xc) / m
    return dxhat / std + dvar * 2.0 * xc / m + dmean / m      # direct + through var + through mean


def batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, axis=-1, epsilon=1e-3, training=False):
    """Batch normalisation over every axis but ``axis`` (Keras's BatchNormalization).

    ``out = gamma * (x - mean) / sqrt(variance + epsilon) + beta``, channel by
    channel. In training the mean and the biased variance are those of the
    channel's values in this batch; in inference, ``moving_mean`` and
    ``moving_variance``.

    Parameters
    ----------
    x : ndarray, shape (N, ..., C, ...), with ``C = x.shape[axis]``
    gamma, beta : ndarray of shape (C,), or None (``scale=False``, ``center=False``)
    moving_mean, moving_variance : ndarray, shape (C,)
        Used in inference only (None is fine in training).
    axis : int
    epsilon : float
    training : bool

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : BatchNormCache
        ``cache.mean`` and ``cache.variance`` are the statistics used: in
        training the batch's, from which the layer updates its moving averages.
    """
    x_t = np.moveaxis(x, axis, 0)                             # (C, N, ...) view: channel first
    C = x_t.shape[0]
    out = np.empty_like(x)                                    # (N, ..., C, ...)
    out_t = np.moveaxis(out, axis, 0)                         # (C, N, ...) view of out
    mean = np.empty(C, dtype=x.dtype)                         # (C,)
    variance = np.empty(C, dtype=x.dtype)                     # (C,)
    for c in range(C):
        v = x_t[c]                                            # every value of channel c: (N, ...)
        if training:
            xhat, mean[c], variance[c] = _normalize(v, epsilon)
        else:
            mean[c], variance[c] = moving_mean[c], moving_variance[c]
            xhat = (v - mean[c]) / np.sqrt(variance[c] + epsilon)
        g = 1.0 if gamma is None else gamma[c]
        b = 0.0 if beta is None else beta[c]
        out_t[c] = g * xhat + b
    return out, BatchNormCache(x, mean, variance, gamma, beta is not None, axis, epsilon, training)


def batch_norm_backward(dout, cache):
    """Gradients of :func:`batch_norm_forward`.

    In training the gradient flows through the batch mean and variance too; in
    inference the statistics are constants and each channel is an affine map.

    Returns
    -------
    dx : ndarray, shape of ``x``
    dgamma : ndarray of shape (C,), or None without gamma
    dbeta : ndarray of shape (C,), or None without beta
    """
    x, mean, variance, gamma, has_beta, axis, epsilon, training = cache
    x_t = np.moveaxis(x, axis, 0)                             # (C, N, ...)
    dout_t = np.moveaxis(dout, axis, 0)                       # (C, N, ...)
    C = x_t.shape[0]
    dx = np.empty_like(x)                                     # (N, ..., C, ...)
    dx_t = np.moveaxis(dx, axis, 0)                           # (C, N, ...) view of dx
    dgamma = None if gamma is None else np.zeros(C, dtype=x.dtype)   # (C,)
    dbeta = np.zeros(C, dtype=x.dtype) if has_beta else None         # (C,)
    for c in range(C):
        std = np.sqrt(variance[c] + epsilon)
        xhat = (x_t[c] - mean[c]) / std                       # (N, ...)
        g = dout_t[c]                                         # (N, ...)
        dxhat = g if gamma is None else g * gamma[c]
        if training:
            dx_t[c] = _normalize_backward(dxhat, xhat, std)
        else:
            dx_t[c] = dxhat / std                             # mean and std are constants
        if gamma is not None:
            dgamma[c] = np.sum(g * xhat)
        if has_beta:
            dbeta[c] = np.sum(g)
    return dx, dgamma, dbeta


class LayerNormCache(NamedTuple):
    """What :func:`layer_norm_backward` needs from :func:`layer_norm_forward`."""
    groups: np.ndarray            # (S, D) the input, one row per group
    gamma: Optional[np.ndarray]   # (D,) or None
    has_beta: bool
    epsilon: float
    axes: tuple
    moved_shape: tuple            # shape of x with the normalised axes moved last


def _axes_last(x, axes):
    """``x`` with ``axes`` moved to the end, in order: (others..., normalised...)."""
    return np.moveaxis(x, axes, range(x.ndim - len(axes), x.ndim))


def _axes_back(x_moved, axes):
    """Inverse of :func:`_axes_last`."""
    return np.moveaxis(x_moved, range(x_moved.ndim - len(axes), x_moved.ndim), axes)


def layer_norm_forward(x, gamma, beta, axes, epsilon=1e-3):
    """Layer normalisation: each sample normalised over ``axes`` (Keras's LayerNormalization).

    For every index of the other axes, the values along ``axes`` form one group:
    ``out = gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the group's
    mean and biased variance, and ``gamma``, ``beta`` applied value by value.
    Training and inference compute the same.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    gamma, beta : ndarray of shape ``tuple(x.shape[a] for a in axes)``, or None
    axes : tuple of int
        Sorted, non-negative, without the batch axis 0.
    epsilon : float

    Returns
    -------
    out : ndarray, shape of ``x``
    cache : LayerNormCache
    """
    moved = _axes_last(x, axes)                               # (others..., normalised...)
    D = math.prod(moved.shape[x.ndim - len(axes):])
    groups = moved.reshape(-1, D)                             # (S, D)
    g = None if gamma is None else gamma.reshape(D)           # (D,)
    b = None if beta is None else beta.reshape(D)             # (D,)
    out = np.empty_like(groups)                               # (S, D)
    for s in range(groups.shape[0]):
        xhat, _, _ = _normalize(groups[s], epsilon)           # (D,)
        out[s] = (xhat if g is None else g * xhat) + (0.0 if b is None else b)
    out = _axes_back(out.reshape(moved.shape), axes)          # shape of x
    return out, LayerNormCache(groups, g, beta is not None, epsilon, axes, moved.shape)


def layer_norm_backward(dout, cache):
    """Gradients of :func:`layer_norm_forward`.

    Returns
    -------
    dx : ndarray, shape of ``x``
    dgamma, dbeta : ndarray of the shape of gamma and beta, or None where absent
    """
    groups, g, has_beta, epsilon, axes, moved_shape = cache
    S, D = groups.shape
    dgroups = _axes_last(dout, axes).reshape(S, D)            # (S, D)
    dx = np.empty_like(groups)                                # (S, D)
    dgamma = None if g is None else np.zeros(D, dtype=groups.dtype)  # (D,)
    dbeta = np.zeros(D, dtype=groups.dtype) if has_beta else None    # (D,)
    for s in range(S):
        xhat, _, var = _normalize(groups[s], epsilon)         # (D,)
        dxhat = dgroups[s] if g is None else dgroups[s] * g   # (D,)
        dx[s] = _normalize_backward(dxhat, xhat, np.sqrt(var + epsilon))
        if g is not None:
            dgamma += dgroups[s] * xhat
        if has_beta:
            dbeta += dgroups[s]
    param_shape = moved_shape[len(moved_shape) - len(axes):]
    dx = _axes_back(dx.reshape(moved_shape), axes)            # shape of x
    return (dx, None if dgamma is None else dgamma.reshape(param_shape),
            None if dbeta is None else dbeta.reshape(param_shape))


# ----------------------------------------------------------------------------
# Convolution with dilation and groups; transposed convolution; resizing
# ----------------------------------------------------------------------------
#
# More letters: ``dh, dw`` the dilation (the gap between two taps of the filter,
# 1 for a plain convolution), ``G`` groups of ``Cg = C // G`` input channels and
# ``Fg = F // G`` filters each (filter ``f`` reads only the channels of group
# ``f // Fg``). A depthwise convolution is the case ``G = C``.

class GroupedConvCache(NamedTuple):
    """What :func:`grouped_conv2d_backward` needs from :func:`grouped_conv2d_forward`."""
    xp: np.ndarray          # (N, Hp, Wp, C) the padded input
    kernel: np.ndarray      # (kh, kw, Cg, F)
    has_bias: bool
    strides: tuple          # (sh, sw)
    dilation: tuple         # (dh, dw)
    groups: int
    pads: tuple             # ((top, bottom), (left, right))
    x_shape: tuple          # (N, H, W, C)


def _dilated_geometry(x_shape, kernel_shape, strides, padding, dilation):
    """Output size and padding of a convolution whose taps are ``dilation`` apart."""
    kh, kw = kernel_shape[:2]
    span = ((kh - 1) * dilation[0] + 1, (kw - 1) * dilation[1] + 1)   # the filter's reach
    return _geometry(x_shape, span, strides, padding)


def grouped_conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    """A convolution with dilated filters and channel groups (Keras's ``Conv2D(dilation_rate, groups)``).

    Output cell ``(n, i, j, f)`` is the sum of ``kernel[a, b, c, f]`` times the
    input at row ``i * sh + a * dh``, column ``j * sw + b * dw`` (of the padded
    input) and channel ``g * Cg + c``, where ``g = f // Fg`` is the filter's group.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    kernel : ndarray, shape (kh, kw, Cg, F), with ``C = G * Cg`` and ``F`` a multiple of ``G``
    bias : ndarray of shape (F,) or None
    strides, dilation : (int, int)
    padding : {"valid", "same"}
        ``same`` pads for the dilated filter's reach ``(k - 1) * d + 1``.
    groups : int

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, F)
    cache : GroupedConvCache
    """
    N, H, W, C = x.shape
    kh, kw, Cg, F = kernel.shape
    Fg = F // groups
    (sh, sw), (dh, dw) = strides, dilation
    Ho, Wo, pads = _dilated_geometry(x.shape, kernel.shape, strides, padding, dilation)
    xp = _pad(x, pads)                                        # (N, Hp, Wp, C)
    out = np.zeros((N, Ho, Wo, F), dtype=x.dtype)             # (N, Ho, Wo, F)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                top, left = i * sh, j * sw
                # every dh-th row and dw-th column from the window's corner: (kh, kw, C)
                window = xp[n, top:top + (kh - 1) * dh + 1:dh, left:left + (kw - 1) * dw + 1:dw, :]
                for f in range(F):
                    g = f // Fg                                   # the filter's group
                    channels = window[:, :, g * Cg:(g + 1) * Cg]  # (kh, kw, Cg)
                    out[n, i, j, f] = np.sum(channels * kernel[:, :, :, f])
    if bias is not None:
        out += bias                                           # broadcast over (N, Ho, Wo)
    return out, GroupedConvCache(xp, kernel, bias is not None, strides, dilation, groups, pads, x.shape)


def grouped_conv2d_backward(dout, cache, need_dx=True):
    """Gradients of :func:`grouped_conv2d_forward`.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C), or None when ``need_dx`` is False
    dkernel : ndarray, shape (kh, kw, Cg, F)
    dbias : ndarray of shape (F,), or None without a bias
    """
    xp, kernel, has_bias, (sh, sw), (dh, dw), groups, pads, x_shape = cache
    N, Ho, Wo, F = dout.shape
    kh, kw, Cg, _ = kernel.shape
    Fg = F // groups
    dxp = np.zeros_like(xp) if need_dx else None              # (N, Hp, Wp, C)
    dkernel = np.zeros_like(kernel)                           # (kh, kw, Cg, F)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                rows = slice(i * sh, i * sh + (kh - 1) * dh + 1, dh)
                cols = slice(j * sw, j * sw + (kw - 1) * dw + 1, dw)
                for f in range(F):
                    g = f // Fg
                    chans = slice(g * Cg, (g + 1) * Cg)
                    grad = dout[n, i, j, f]
                    # the cell was sum(window * filter): the same two rules as conv2d_backward
                    dkernel[:, :, :, f] += grad * xp[n, rows, cols, chans]
                    if need_dx:
                        dxp[n, rows, cols, chans] += grad * kernel[:, :, :, f]
    dbias = dout.sum(axis=(0, 1, 2)) if has_bias else None   # (F,)
    dx = None
    if need_dx:
        (t, _), (l, _) = pads
        dx = dxp[:, t:t + x_shape[1], l:l + x_shape[2], :]    # (N, H, W, C)
    return dx, dkernel, dbias


class ConvTransposeCache(NamedTuple):
    """What :func:`conv2d_transpose_backward` needs from :func:`conv2d_transpose_forward`."""
    x: np.ndarray           # (N, H, W, C)
    kernel: np.ndarray      # (kh, kw, F, C)
    has_bias: bool
    strides: tuple          # (sh, sw)
    dilation: tuple         # (dh, dw)
    crops: tuple            # (top, left): cells of the full output dropped before the kept ones
    full_shape: tuple       # (N, Hf, Wf, F): the full output, long enough for the kept cells


def _transpose_geometry(x_shape, kernel_shape, strides, out_size, crops, dilation):
    """The full output's shape: every cell the kernels reach, and the kept cells beyond them (zeros)."""
    N, H, W, _ = x_shape
    kh, kw, F, _ = kernel_shape
    reach_h = (H - 1) * strides[0] + (kh - 1) * dilation[0] + 1
    reach_w = (W - 1) * strides[1] + (kw - 1) * dilation[1] + 1
    return (N, max(reach_h, crops[0] + out_size[0]), max(reach_w, crops[1] + out_size[1]), F)


def conv2d_transpose_forward(x, kernel, bias, strides, out_size, crops, dilation=(1, 1)):
    """Transposed convolution (Keras's Conv2DTranspose, no activation): the input gradient of a
    convolution, used as a layer that grows images.

    Each input cell ``(n, i, j)`` adds its filter response ``kernel[a, b, :, :] @ x[n, i, j]``
    to the full output at ``(i * sh + a * dh, j * sw + b * dw)``. The output is
    the window of ``out_size`` cells starting at ``crops`` of that full output
    (:func:`convlearn.ops.shapes.conv_transpose_crop` gives Keras's).

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    kernel : ndarray, shape (kh, kw, F, C)
        Keras's layout for transposed convolutions: output channels before input channels.
    bias : ndarray of shape (F,) or None
    strides, dilation : (int, int)
    out_size : (int, int)
        ``(Ho, Wo)``.
    crops : (int, int)
        ``(top, left)``.

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, F)
    cache : ConvTransposeCache
    """
    N, H, W, C = x.shape
    kh, kw, F, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    full_shape = _transpose_geometry(x.shape, kernel.shape, strides, out_size, crops, dilation)
    full = np.zeros(full_shape, dtype=x.dtype)                # (N, Hf, Wf, F)
    for n in range(N):
        for i in range(H):
            for j in range(W):
                for a in range(kh):
                    for b in range(kw):
                        for f in range(F):
                            # input cell (i, j) spreads out: tap (a, b) lands at (i*sh + a*dh, j*sw + b*dw)
                            full[n, i * sh + a * dh, j * sw + b * dw, f] += np.sum(kernel[a, b, f, :] * x[n, i, j, :])
    (t, l), (Ho, Wo) = crops, out_size
    out = full[:, t:t + Ho, l:l + Wo, :].copy()               # (N, Ho, Wo, F)
    if bias is not None:
        out += bias
    return out, ConvTransposeCache(x, kernel, bias is not None, strides, dilation, crops, full_shape)


def conv2d_transpose_backward(dout, cache, need_dx=True):
    """Gradients of :func:`conv2d_transpose_forward`.

    The gradient of a kept cell goes back to the full output's cell it was; every
    input cell then collects, from each tap, that cell's gradient through the
    filter: a plain strided convolution of the full output's gradient.

    Returns
    -------
    dx : ndarray of shape (N, H, W, C), or None when ``need_dx`` is False
    dkernel : ndarray, shape (kh, kw, F, C)
    dbias : ndarray of shape (F,), or None without a bias
    """
    x, kernel, has_bias, (sh, sw), (dh, dw), (t, l), full_shape = cache
    N, H, W, C = x.shape
    kh, kw, F, _ = kernel.shape
    _, Ho, Wo, _ = dout.shape
    dfull = np.zeros(full_shape, dtype=dout.dtype)            # (N, Hf, Wf, F)
    dfull[:, t:t + Ho, l:l + Wo, :] = dout                    # the dropped cells get no gradient
    dx = np.zeros_like(x) if need_dx else None                # (N, H, W, C)
    dkernel = np.zeros_like(kernel)                           # (kh, kw, F, C)
    for n in range(N):
        for i in range(H):
            for j in range(W):
                for a in range(kh):
                    for b in range(kw):
                        g = dfull[n, i * sh + a * dh, j * sw + b * dw, :]       # (F,)
                        for f in range(F):
                            dkernel[a, b, f, :] += g[f] * x[n, i, j, :]
                            if need_dx:
                                dx[n, i, j, :] += g[f] * kernel[a, b, f, :]
    dbias = dout.sum(axis=(0, 1, 2)) if has_bias else None   # (F,)
    return dx, dkernel, dbias


class ResizeCache(NamedTuple):
    """What :func:`resize_backward` needs from :func:`resize_forward`."""
    x_shape: tuple          # (N, H, W, C)
    interpolation: str


def source_coordinate(o, n_in, n_out):
    """Where output cell ``o`` of ``n_out`` samples an axis of ``n_in`` cells, with half-pixel centres.

    Cell centres sit at ``index + 0.5``; output centre ``o + 0.5`` maps to input
    position ``(o + 0.5) * n_in / n_out``, i.e. index ``(o + 0.5) * n_in / n_out - 0.5``.
    """
    return (o + 0.5) * n_in / n_out - 0.5


def _bilinear_taps(o, n_in, n_out):
    """The two input cells output cell ``o`` reads, and their weights: ``(i0, i1, w0, w1)``.

    The coordinate is clamped to ``[0, n_in - 1]``: past the first or last
    centre, the edge cell is repeated (as Keras's and PyTorch's resizes do).
    """
    src = min(max(source_coordinate(o, n_in, n_out), 0.0), n_in - 1.0)
    i0 = math.floor(src)
    i1 = min(i0 + 1, n_in - 1)
    frac = src - i0
    return i0, i1, 1.0 - frac, frac


def _nearest_tap(o, n_in, n_out):
    """The input cell nearest to output cell ``o``'s centre: ``floor((o + 0.5) * n_in / n_out)``."""
    return min(math.floor((o + 0.5) * n_in / n_out), n_in - 1)


def resize_forward(x, size, interpolation="bilinear"):
    """Resize NHWC images to ``size = (Ho, Wo)`` (Keras's ``ops.image.resize`` without antialiasing).

    ``bilinear``: each output cell is the weighted mean of the 2x2 input cells
    around its source point (half-pixel centres, edges repeated). ``nearest``:
    the input cell whose area holds the source point.

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, C)
    cache : ResizeCache
    """
    N, H, W, C = x.shape
    Ho, Wo = size
    out = np.zeros((N, Ho, Wo, C), dtype=x.dtype)             # (N, Ho, Wo, C)
    for i in range(Ho):
        for j in range(Wo):
            if interpolation == "nearest":
                out[:, i, j, :] = x[:, _nearest_tap(i, H, Ho), _nearest_tap(j, W, Wo), :]
                continue
            r0, r1, u0, u1 = _bilinear_taps(i, H, Ho)
            c0, c1, v0, v1 = _bilinear_taps(j, W, Wo)
            # first along the row, then between the two rows
            top = v0 * x[:, r0, c0, :] + v1 * x[:, r0, c1, :]      # (N, C)
            bottom = v0 * x[:, r1, c0, :] + v1 * x[:, r1, c1, :]   # (N, C)
            out[:, i, j, :] = u0 * top + u1 * bottom
    return out, ResizeCache(x.shape, interpolation)


def resize_backward(dout, cache):
    """Gradient of :func:`resize_forward`: each output cell's gradient goes back to the
    input cells it read, times the weight it read them with.

    Returns
    -------
    dx : ndarray, shape (N, H, W, C)
    """
    (N, H, W, C), interpolation = cache
    _, Ho, Wo, _ = dout.shape
    dx = np.zeros((N, H, W, C), dtype=dout.dtype)             # (N, H, W, C)
    for i in range(Ho):
        for j in range(Wo):
            g = dout[:, i, j, :]                              # (N, C)
            if interpolation == "nearest":
                dx[:, _nearest_tap(i, H, Ho), _nearest_tap(j, W, Wo), :] += g
                continue
            r0, r1, u0, u1 = _bilinear_taps(i, H, Ho)
            c0, c1, v0, v1 = _bilinear_taps(j, W, Wo)
            dx[:, r0, c0, :] += u0 * v0 * g
            dx[:, r0, c1, :] += u0 * v1 * g
            dx[:, r1, c0, :] += u1 * v0 * g
            dx[:, r1, c1, :] += u1 * v1 * g
    return dx
