"""Fast kernels: the same maths as :mod:`convlearn.ops.reference`, vectorised.

No Python loop runs over samples or pixels here. Convolution gathers every
window into one matrix (``im2col``) and multiplies it with the filters in a
single BLAS call; pooling looks at all windows at once through a strided view.
The only loops left run over the few offsets inside a kernel or pooling window
(9 for a 3x3 filter). Tests hold every function here equal to its reference
twin on random shapes.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .shapes import conv_output_length, padding_amounts


def _pad(x, pads, value=0.0):
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def _geometry(x_shape, k, strides, padding):
    _, H, W, _ = x_shape
    Ho = conv_output_length(H, k[0], strides[0], padding)
    Wo = conv_output_length(W, k[1], strides[1], padding)
    pads = (padding_amounts(H, k[0], strides[0], padding),
            padding_amounts(W, k[1], strides[1], padding))
    return Ho, Wo, pads


def _windows(xp, kh, kw, sh, sw, Ho, Wo):
    """Read-only strided view of every window: (N, Ho, Wo, kh, kw, C), no copy."""
    N, _, _, C = xp.shape
    s0, s1, s2, s3 = xp.strides
    return as_strided(xp, shape=(N, Ho, Wo, kh, kw, C),
                      strides=(s0, s1 * sh, s2 * sw, s1, s2, s3), writeable=False)


def _scatter_windows(dwin, padded_shape, sh, sw):
    """Add window gradients back onto the (padded) input: the inverse of ``_windows``.

    dwin: (N, Ho, Wo, kh, kw, C) -> returns (N, Hp, Wp, C). Loops over the
    kh*kw offsets only; each step adds one strided slice for all samples and
    positions at once.
    """
    N, Ho, Wo, kh, kw, C = dwin.shape
    dxp = np.zeros(padded_shape, dtype=dwin.dtype)            # (N, Hp, Wp, C)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw, :] += dwin[:, :, :, i, j, :]
    return dxp


def _crop(xp, pads, H, W):
    (t, _), (l, _) = pads
    return xp[:, t:t + H, l:l + W, :]


# ----------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------

def conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid"):
    """Vectorised twin of :func:`convlearn.ops.reference.conv2d_forward`.

    Returns ``(out, cache)``; the cache holds the im2col matrix
    ``cols`` (N*Ho*Wo, kh*kw*C) so the backward pass need not rebuild it.
    """
    N, H, W, C = x.shape
    kh, kw, _, F = kernel.shape
    sh, sw = strides
    Ho, Wo, pads = _geometry(x.shape, (kh, kw), strides, padding)
    xp = _pad(x, pads)                                               # (N, Hp, Wp, C)
    cols = _windows(xp, kh, kw, sh, sw, Ho, Wo).reshape(N * Ho * Wo, kh * kw * C)  # copy: (N*Ho*Wo, kh*kw*C)
    out = cols @ kernel.reshape(kh * kw * C, F)                      # (N*Ho*Wo, F)
    if bias is not None:
        out += bias
    out = out.reshape(N, Ho, Wo, F)                                  # (N, Ho, Wo, F)
    cache = (cols, kernel, bias is not None, strides, pads, x.shape, xp.shape)
    return out, cache


def conv2d_backward(dout, cache, need_dx=True):
    """Vectorised twin of :func:`convlearn.ops.reference.conv2d_backward`."""
    cols, kernel, has_bias, (sh, sw), pads, x_shape, padded_shape = cache
    N, Ho, Wo, F = dout.shape
    kh, kw, C, _ = kernel.shape
    d2 = dout.reshape(N * Ho * Wo, F)                                # (N*Ho*Wo, F)
    dkernel = (cols.T @ d2).reshape(kernel.shape)                    # (kh, kw, C, F)
    dbias = d2.sum(axis=0) if has_bias else None                     # (F,)
    dx = None
    if need_dx:
        dcols = d2 @ kernel.reshape(kh * kw * C, F).T                # (N*Ho*Wo, kh*kw*C)
        dwin = dcols.reshape(N, Ho, Wo, kh, kw, C)                   # (N, Ho, Wo, kh, kw, C)
        dxp = _scatter_windows(dwin, padded_shape, sh, sw)           # (N, Hp, Wp, C)
        dx = _crop(dxp, pads, x_shape[1], x_shape[2])                # (N, H, W, C)
    return dx, dkernel, dbias


# ----------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------

def _avg_counts(H, W, pool_size, strides, pads, Ho, Wo, dtype):
    """Number of real (unpadded) cells in each window: (Ho, Wo, 1)."""
    def along(n, k, s, before, out_len):
        start = np.arange(out_len) * s - before                     # (out_len,)
        return np.minimum(start + k, n) - np.maximum(start, 0)       # (out_len,)
    rows = along(H, pool_size[0], strides[0], pads[0][0], Ho)
    cols = along(W, pool_size[1], strides[1], pads[1][0], Wo)
    return np.outer(rows, cols).astype(dtype)[:, :, None]           # (Ho, Wo, 1)


def pool2d_forward(x, pool_size=(2, 2), strides=(2, 2), padding="valid", mode="max"):
    """Vectorised twin of :func:`convlearn.ops.reference.pool2d_forward`.

    The cache holds, for max pooling, the index (0 .. ph*pw-1, reading order)
    of each window's first maximum; for average pooling, the cell counts.
    """
    N, H, W, C = x.shape
    ph, pw = pool_size
    sh, sw = strides
    Ho, Wo, pads = _geometry(x.shape, pool_size, strides, padding)
    if mode == "max":
        xp = _pad(x, pads, value=-np.inf)                            # (N, Hp, Wp, C)
        win = _windows(xp, ph, pw, sh, sw, Ho, Wo)                   # view (N, Ho, Wo, ph, pw, C)
        win = win.reshape(N, Ho, Wo, ph * pw, C)                     # copy: (N, Ho, Wo, ph*pw, C)
        idx = win.argmax(axis=3)[:, :, :, None, :]                   # (N, Ho, Wo, 1, C)
        out = np.take_along_axis(win, idx, axis=3)[:, :, :, 0, :]    # (N, Ho, Wo, C)
        aux = idx
    else:
        xp = _pad(x, pads, value=0.0)                                # (N, Hp, Wp, C)
        win = _windows(xp, ph, pw, sh, sw, Ho, Wo)                   # view (N, Ho, Wo, ph, pw, C)
        counts = _avg_counts(H, W, pool_size, strides, pads, Ho, Wo, x.dtype)  # (Ho, Wo, 1)
        out = win.sum(axis=(3, 4)) / counts                          # (N, Ho, Wo, C)
        aux = counts
    cache = (x.shape, xp.shape, pool_size, strides, pads, mode, aux)
    return out.astype(x.dtype, copy=False), cache


def pool2d_backward(dout, cache):
    """Vectorised twin of :func:`convlearn.ops.reference.pool2d_backward`."""
    x_shape, padded_shape, (ph, pw), (sh, sw), pads, mode, aux = cache
    N, Ho, Wo, C = dout.shape
    if mode == "max":
        dwin = np.zeros((N, Ho, Wo, ph * pw, C), dtype=dout.dtype)   # (N, Ho, Wo, ph*pw, C)
        np.put_along_axis(dwin, aux, dout[:, :, :, None, :], axis=3)
    else:
        share = (dout / aux)[:, :, :, None, :]                       # (N, Ho, Wo, 1, C)
        dwin = np.broadcast_to(share, (N, Ho, Wo, ph * pw, C))
    dwin = dwin.reshape(N, Ho, Wo, ph, pw, C)                        # (N, Ho, Wo, ph, pw, C)
    dxp = _scatter_windows(dwin, padded_shape, sh, sw)               # (N, Hp, Wp, C)
    return _crop(dxp, pads, x_shape[1], x_shape[2])                  # (N, H, W, C)


# ----------------------------------------------------------------------------
# Dense (fully connected)
# ----------------------------------------------------------------------------

def dense_forward(x, kernel, bias):
    """Vectorised twin of :func:`convlearn.ops.reference.dense_forward`."""
    out = x @ kernel                                                 # (N, U)
    if bias is not None:
        out += bias
    return out, (x, kernel, bias is not None)


def dense_backward(dout, cache, need_dx=True):
    """Vectorised twin of :func:`convlearn.ops.reference.dense_backward`."""
    x, kernel, has_bias = cache
    dkernel = x.T @ dout                                             # (D, U)
    dbias = dout.sum(axis=0) if has_bias else None                   # (U,)
    dx = dout @ kernel.T if need_dx else None                        # (N, D)
    return dx, dkernel, dbias


# ----------------------------------------------------------------------------
# Fused convolution + bias + ReLU + max pooling (training and inference fast path)
# ----------------------------------------------------------------------------
#
# Max pooling commutes with adding a per-channel bias and with ReLU (both are
# monotone and the same for every cell of a window), so
#     maxpool(relu(conv(x) + b)) == relu(maxpool(conv(x)) + b).
# The fused kernel therefore adds the bias and applies ReLU to the pooled map,
# which is pool_h*pool_w times smaller. It also orders the im2col rows by
# position *inside* the pooling window first: the convolution output then has
# shape (P, M, F) with P = ph*pw window cells and M = N*Ho2*Wo2 windows, and the
# pooling is an element-wise maximum of P contiguous slabs. Rows that the
# pooling would drop (an odd last row or column) are never computed.

def _pool_ordered_windows(xp, kh, kw, sh, sw, ph, pw, Ho2, Wo2):
    """View (ph, pw, N, Ho2, Wo2, kh, kw, C) of every conv window, grouped by pooling cell."""
    N, _, _, C = xp.shape
    s0, s1, s2, s3 = xp.strides
    return as_strided(
        xp, shape=(ph, pw, N, Ho2, Wo2, kh, kw, C),
        strides=(s1 * sh, s2 * sw, s0, s1 * sh * ph, s2 * sw * pw, s1, s2, s3), writeable=False)


def conv_pool_geometry(x_shape, kernel_shape, strides, padding, pool_size):
    """Shapes of the fused kernel: conv output (Ho, Wo), pooled output (Ho2, Wo2), pads."""
    kh, kw = kernel_shape[:2]
    Ho, Wo, pads = _geometry(x_shape, (kh, kw), strides, padding)
    return Ho, Wo, Ho // pool_size[0], Wo // pool_size[1], pads


def _buffer(workspace, key, shape, dtype):
    """A reusable array from ``workspace`` (a dict), or a fresh one without a workspace.

    Reusing the same large arrays every step avoids fresh allocations, which
    for arrays above glibc's mmap threshold cost page faults on every touch.
    """
    if workspace is None:
        return np.empty(shape, dtype=dtype)
    buf = workspace.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = workspace[key] = np.empty(shape, dtype=dtype)
    return buf


def conv2d_maxpool_forward(x, kernel, bias, strides, padding, pool_size, relu, training=True, workspace=None):
    """``maxpool(act(conv2d(x) + bias))`` with non-overlapping valid pooling, act in {ReLU, identity}.

    Parameters
    ----------
    x : ndarray, shape (N, H, W, C)
    kernel : ndarray, shape (kh, kw, C, F)
    bias : ndarray of shape (F,) or None
    strides, padding : the convolution's
    pool_size : (ph, pw)
        Pool size, equal to the pool strides, "valid" padding.
    relu : bool
    training : bool
        Keep a cache for :func:`conv2d_maxpool_backward`.
    workspace : dict, optional
        Arrays reused from call to call (the caller keeps it).

    Returns
    -------
    out : ndarray, shape (N, Ho2, Wo2, F)
    cache : tuple or None
    """
    N, H, W, C = x.shape
    kh, kw, _, F = kernel.shape
    sh, sw = strides
    ph, pw = pool_size
    Ho, Wo, Ho2, Wo2, pads = conv_pool_geometry(x.shape, kernel.shape, strides, padding, pool_size)
    P, M, K = ph * pw, N * Ho2 * Wo2, kh * kw * C
    xp = _pad(x, pads)                                                       # (N, Hp, Wp, C)
    # im2col, transposed: one row per kernel tap, one column per (window cell, pooled position).
    # Copying into this layout reads long runs of the image and is ~3x faster than the usual one.
    windows = _pool_ordered_windows(xp, kh, kw, sh, sw, ph, pw, Ho2, Wo2)   # view (ph, pw, N, Ho2, Wo2, kh, kw, C)
    colsT = _buffer(workspace, "colsT", (kh, kw, C, ph, pw, N, Ho2, Wo2), x.dtype)
    np.copyto(colsT, windows.transpose(5, 6, 7, 0, 1, 2, 3, 4))
    colsT = colsT.reshape(K, P * M)                                          # (K, P*M)
    z = _buffer(workspace, "z", (P * M, F), x.dtype)
    np.matmul(colsT.T, kernel.reshape(K, F), out=z)                          # conv without bias: (P*M, F)
    z = z.reshape(P, M, F)                                                   # (P, M, F)
    zmax = np.maximum(z[0], z[1]) if P > 1 else z[0].copy()                  # (M, F)
    for k in range(2, P):
        np.maximum(zmax, z[k], out=zmax)                                     # max over the window cells
    out = zmax + bias if bias is not None else zmax.copy()                   # (M, F)
    if relu:
        np.maximum(out, 0, out=out)
    out = out.reshape(N, Ho2, Wo2, F)                                        # (N, Ho2, Wo2, F)
    cache = None
    if training:
        # which cell of each window won (first maximum in reading order, like pool2d_backward)
        winner = np.full((M, F), P - 1, dtype=np.int8)
        for k in range(P - 2, -1, -1):
            np.copyto(winner, k, where=z[k] == zmax)
        cache = (colsT, winner, out, kernel, bias is not None, relu, strides, pool_size, pads, x.shape, xp.shape)
    return out, cache


def conv2d_maxpool_backward(dout, cache, need_dx=True, workspace=None):
    """Gradients of :func:`conv2d_maxpool_forward`: ``(dx or None, dkernel, dbias or None)``.

    Each pooled gradient goes to the first maximum of its window (reading
    order), like :func:`pool2d_backward`.
    """
    colsT, winner, out, kernel, has_bias, relu, (sh, sw), (ph, pw), pads, x_shape, padded_shape = cache
    P = ph * pw
    M, F = winner.shape
    kh, kw, C, _ = kernel.shape
    N, Ho2, Wo2 = dout.shape[:3]
    g = dout.reshape(M, F)                                                   # (M, F)
    if relu:
        g = g * (out.reshape(M, F) > 0)                                      # ReLU gate on the pooled map
    dbias = g.sum(axis=0) if has_bias else None                              # (F,)
    dz = _buffer(workspace, "dz", (P, M, F), dout.dtype)                     # (P, M, F)
    for k in range(P):
        np.multiply(g, winner == k, out=dz[k])                               # gradient only to the winner
    dz2 = dz.reshape(P * M, F)                                               # (P*M, F)
    dkernel = (colsT @ dz2).reshape(kernel.shape)                            # (kh, kw, C, F)
    dx = None
    if need_dx:
        dcols = (dz2 @ kernel.reshape(kh * kw * C, F).T).reshape(ph, pw, N, Ho2, Wo2, kh, kw, C)
        dxp = np.zeros(padded_shape, dtype=dout.dtype)                       # (N, Hp, Wp, C)
        step_h, step_w = sh * ph, sw * pw
        for di in range(ph):
            for dj in range(pw):
                for i in range(kh):
                    for j in range(kw):
                        r0, c0 = sh * di + i, sw * dj + j
                        dxp[:, r0:r0 + step_h * (Ho2 - 1) + 1:step_h, c0:c0 + step_w * (Wo2 - 1) + 1:step_w, :] \
                            += dcols[di, dj, :, :, :, i, j, :]
        dx = _crop(dxp, pads, x_shape[1], x_shape[2])                        # (N, H, W, C)
    return dx, dkernel, dbias
