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
