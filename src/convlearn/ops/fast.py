"""Fast kernels: the same maths as :mod:`convlearn.ops.reference`, vectorised.

No Python loop runs over samples or pixels here. Convolution gathers every
window into one matrix (``im2col``) and multiplies it with the filters in a
single BLAS call; pooling looks at all windows at once through a strided view.
The only loops left run over the few offsets inside a kernel or pooling window
(9 for a 3x3 filter). Tests hold every function here equal to its reference
twin on random shapes.

One shortcut is not in the reference: when training, a 3x3 convolution
followed by 2x2 max pooling runs as Winograd's F(2x2, 3x3)
(:mod:`convlearn.ops.winograd`), the same sums with fewer multiplies.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import blas, parallel, winograd
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


def _add_input_gradient(dxp, dout2, kernel, sh, sw, Ho, Wo):
    """Add a convolution's input gradient into ``dxp`` (N, Hp, Wp, C), one kernel tap at a time.

    For tap (a, b), every output position sent ``dout @ kernel[a, b].T`` back to
    the input pixel at offset (a, b) of its window: one matrix product whose
    result is added to a strided slice of ``dxp``. This reads and writes long
    contiguous runs, unlike scattering each window's gradient separately
    (2x faster for 32 channels).

    dout2 : (N*Ho*Wo, F) gradient of the convolution's output, rows in (n, i, j) order.
    """
    N, C = dxp.shape[0], dxp.shape[3]
    kh, kw = kernel.shape[:2]
    tap = np.empty((len(dout2), C), dtype=dout2.dtype)                         # (N*Ho*Wo, C)
    for a in range(kh):
        for b in range(kw):
            np.matmul(dout2, kernel[a, b].T, out=tap)                          # kernel[a, b]: (C, F)
            dxp[:, a:a + sh * (Ho - 1) + 1:sh, b:b + sw * (Wo - 1) + 1:sw, :] += tap.reshape(N, Ho, Wo, C)


def _rows_of(a, workspace=None, key="dout_rows"):
    """``a`` (N, ...) as a C-contiguous matrix (N, values per sample): a view when possible.

    The Dense layer hands back its input gradient transposed (a view of a contiguous
    (values, N) array, see :func:`dense_backward`); that one is turned the right way
    round with BLAS's blocked transpose, into a buffer of ``workspace`` if given.
    """
    flat = a.reshape(a.shape[0], -1)                         # a view, or a C-ordered copy
    if flat.flags.c_contiguous:
        return flat
    if flat.T.flags.c_contiguous:
        return blas.transpose_into(flat.T, _buffer(workspace, key, flat.shape, a.dtype))
    return np.ascontiguousarray(flat)


def _crop(xp, pads, H, W):
    (t, _), (l, _) = pads
    return xp[:, t:t + H, l:l + W, :]


# ----------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------
#
# The batch is split between convlearn's threads by samples, the same way for the
# same shapes (results repeat bit for bit). Each thread pads its samples into a
# buffer whose border stays zero, then goes through them a few at a time: it copies
# their windows into a small im2col matrix and multiplies it at once, while it is
# still in the core's cache (a whole batch's im2col matrix, 14 MiB for 32 channels
# on 14x14 maps, would go out to main memory and back). The backward pass keeps the
# padded input and rebuilds the small matrices, for the kernel gradient.
#
# The input gradient of a stride-1 convolution is itself one: of the output
# gradient, padded by ``kh - 1 - top`` rows above (and so on), with the filter
# turned round (``kernel[::-1, ::-1]``, input and output channels swapped). Built
# the same way, it is one long matrix product instead of ``kh*kw`` short ones added
# into strided slices (2x faster for the 3x3 filters of 32 channels on 14x14 maps).

# Multiply-adds below which a convolution stays in one thread (a hand-over to a
# thread costs tens of microseconds).
_CONV_THREAD_WORK = 2_000_000
# Bytes of im2col matrix built and multiplied at a time (a thread's share of its
# core's cache).
_CONV_PIECE_BYTES = 1024 * 1024


class ConvCache(NamedTuple):
    """What :func:`conv2d_backward` needs from :func:`conv2d_forward`."""
    xp: np.ndarray            # (N, Hp, Wp, C) the padded input (the input itself without padding)
    kernel: np.ndarray        # (kh, kw, C, F)
    has_bias: bool
    strides: tuple            # (sh, sw)
    pads: tuple               # ((top, bottom), (left, right))
    x_shape: tuple            # (N, H, W, C)
    relu_input: bool = False  # the input went through a ReLU first (xp holds max(x, 0))


def _any_pads(pads):
    return any(p for pair in pads for p in pair)


def _bordered(workspace, key, shape, dtype, value=0.0):
    """An array of ``shape`` whose border holds ``value``; callers write only its interior.

    Reused from ``workspace`` (a dict) when given: the border is set once, when the
    array is made.
    """
    if workspace is not None:
        buf = workspace.get(key)
        if buf is not None and buf.shape == shape and buf.dtype == dtype:
            return buf
    buf = np.zeros(shape, dtype=dtype) if value == 0 else np.full(shape, value, dtype=dtype)
    if workspace is not None:
        workspace[key] = buf
    return buf


def _interior(xp, pads, n0, n1):
    """Samples n0..n1-1 of a padded array without their padding: (n, H, W, C)."""
    (t, b), (l, r) = pads
    return xp[n0:n1, t:xp.shape[1] - b, l:xp.shape[2] - r]


def _pad_into(xp, x, pads, n0, n1, relu=False):
    """Copy samples n0..n1-1 of ``x`` (N, H, W, C) into the interior of ``xp`` (N, Hp, Wp, C)
    (their ReLU, ``max(x, 0)``, with ``relu``)."""
    (t, _), (l, _) = pads
    H, W = x.shape[1:3]
    if relu:
        np.maximum(x[n0:n1], x.dtype.type(0), out=xp[n0:n1, t:t + H, l:l + W])
    else:
        xp[n0:n1, t:t + H, l:l + W] = x[n0:n1]


class _Im2col:
    """im2col matrices of a few samples at a time, built in one reused buffer.

    ``rows(n0, n1)`` copies the windows of samples n0..n1-1 and returns them as a
    (samples * Ho * Wo, kh * kw * C) matrix. With a 1x1 filter at stride 1 the
    input itself is that matrix, and nothing is copied. With one input channel
    the matrix is built transposed, one tap at a time (``kh * kw`` copies of whole
    strided images instead of runs of one number: 4x faster), and handed out as
    the transpose of that.
    """

    def __init__(self, xp, kh, kw, sh, sw, Ho, Wo, workspace, key, samples):
        N, _, _, C = xp.shape
        self.S, self.K = Ho * Wo, kh * kw * C
        self.direct = (kh, kw, sh, sw) == (1, 1, 1, 1) and xp.flags.c_contiguous
        self.taps_major = C == 1 and not self.direct
        self.xp, self.geometry = xp, (kh, kw, sh, sw, Ho, Wo)
        if self.direct:
            self.source = xp.reshape(N * self.S, self.K)
        elif self.taps_major:
            self.buf = _buffer(workspace, key, (self.K * samples * self.S,), xp.dtype)
        else:
            self.windows = _windows(xp, kh, kw, sh, sw, Ho, Wo)      # view (N, Ho, Wo, kh, kw, C)
            self.buf = _buffer(workspace, key, (samples,) + self.windows.shape[1:], xp.dtype)

    def rows(self, n0, n1):
        n = n1 - n0
        if self.direct:
            return self.source[n0 * self.S:n1 * self.S]
        if self.taps_major:
            kh, kw, sh, sw, Ho, Wo = self.geometry
            piece = self.buf[:self.K * n * self.S].reshape(kh, kw, n, Ho, Wo)
            for a in range(kh):
                for b in range(kw):
                    np.copyto(piece[a, b], self.xp[n0:n1, a:a + sh * (Ho - 1) + 1:sh, b:b + sw * (Wo - 1) + 1:sw, 0])
            return piece.reshape(self.K, n * self.S).T                # (samples*Ho*Wo, kh*kw), transposed
        piece = self.buf[:n]
        np.copyto(piece, self.windows[n0:n1])
        return piece.reshape(n * self.S, self.K)                     # (samples*Ho*Wo, kh*kw*C)


def _conv_pieces(N, S, K, F, itemsize):
    """The thread parts of a convolution and the samples per piece of im2col matrix."""
    parts = _thread_parts(N, N * S * K * F, _CONV_THREAD_WORK)
    step = max(1, min(max(n1 - n0 for n0, n1 in parts), _CONV_PIECE_BYTES // max(1, S * K * itemsize)))
    return [(i, n0, n1) for i, (n0, n1) in enumerate(parts)], step


def conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid", workspace=None, relu_input=False):
    """Vectorised twin of :func:`convlearn.ops.reference.conv2d_forward`.

    Parameters
    ----------
    workspace : dict, optional
        Buffers reused from call to call (the padded input, the im2col pieces); the
        caller keeps it, and runs one call at a time with it.
    relu_input : bool
        Convolve ``max(x, 0)`` instead of ``x``: a ReLU layer before the convolution,
        applied while the input is copied into the padded buffer (the backward pass
        then gates the input gradient, as the ReLU's backward pass would).

    Returns
    -------
    out : ndarray, shape (N, Ho, Wo, F)
    cache : ConvCache
        With the padded input, from which the backward pass rebuilds the im2col matrix.
    """
    N, H, W, C = x.shape
    kh, kw, _, F = kernel.shape
    sh, sw = strides
    Ho, Wo, pads = _geometry(x.shape, (kh, kw), strides, padding)
    S, K = Ho * Wo, kh * kw * C                                      # S output positions per sample
    padded = _any_pads(pads) or relu_input
    padded_shape = (N, H + sum(pads[0]), W + sum(pads[1]), C)
    xp = _bordered(workspace, "conv_x", padded_shape, x.dtype) if padded else x    # (N, Hp, Wp, C)
    kmat = kernel.reshape(K, F)                                      # (kh*kw*C, F)
    out = np.empty((N * S, F), dtype=x.dtype)                        # (N*Ho*Wo, F)
    parts, step = _conv_pieces(N, S, K, F, x.itemsize)

    def part(i, n0, n1):
        if padded:
            _pad_into(xp, x, pads, n0, n1, relu_input)
        cols = _Im2col(xp, kh, kw, sh, sw, Ho, Wo, workspace, ("cols", i), step)
        for c0 in range(n0, n1, step):
            c1 = min(n1, c0 + step)
            np.matmul(cols.rows(c0, c1), kmat, out=out[c0 * S:c1 * S])
            if bias is not None:
                out[c0 * S:c1 * S] += bias

    parallel.run(part, parts)
    cache = ConvCache(xp, kernel, bias is not None, strides, pads, x.shape, relu_input)
    return out.reshape(N, Ho, Wo, F), cache                          # (N, Ho, Wo, F)


def conv2d_backward(dout, cache, need_dx=True, workspace=None):
    """Vectorised twin of :func:`convlearn.ops.reference.conv2d_backward`.

    ``workspace``: as in :func:`conv2d_forward` (the padded output gradient and the
    im2col pieces).
    """
    xp, kernel, has_bias, (sh, sw), pads, x_shape, relu_input = cache
    N, Ho, Wo, F = dout.shape
    kh, kw, C, _ = kernel.shape
    N, H, W, C = x_shape
    S, K = Ho * Wo, kh * kw * C
    d2 = _rows_of(dout, workspace).reshape(N * S, F)                 # (N*Ho*Wo, F)
    # with stride 1, dx is the convolution of the padded gradient with the turned filter
    turned = need_dx and sh == sw == 1
    if turned:
        dx = np.empty((N * H * W, C), dtype=dout.dtype)              # (N*H*W, C)
        (t, b), (l, r) = pads
        dpads = ((kh - 1 - t, kh - 1 - b), (kw - 1 - l, kw - 1 - r))
        dpadded = _any_pads(dpads)
        dpad = dout
        if dpadded:
            dpad = _bordered(workspace, "conv_dout", (N, H + kh - 1, W + kw - 1, F), dout.dtype)   # (N, H+kh-1, W+kw-1, F)
        elif not dout.flags.c_contiguous:
            dpad = d2.reshape(dout.shape)
        kturned = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2)).reshape(kh * kw * F, C)
    elif need_dx:
        dxp = np.zeros(xp.shape, dtype=dout.dtype)                   # (N, Hp, Wp, C)
    parts, step = _conv_pieces(N, S, K, F, dout.itemsize)
    partial = [None] * len(parts)

    def part(i, n0, n1):
        cols = _Im2col(xp, kh, kw, sh, sw, Ho, Wo, workspace, ("cols", i), step)
        if turned:
            if dpadded:
                _pad_into(dpad, dout, dpads, n0, n1)
            dcols = _Im2col(dpad, kh, kw, 1, 1, H, W, workspace, ("dcols", i), step)
        dk = np.zeros((K, F), dtype=dout.dtype)
        db = np.zeros(F, dtype=dout.dtype) if has_bias else None
        for c0 in range(n0, n1, step):
            c1 = min(n1, c0 + step)
            g = d2[c0 * S:c1 * S]                                    # (samples*Ho*Wo, F)
            dk += cols.rows(c0, c1).T @ g                            # (kh*kw*C, F)
            if db is not None:
                db += np.ones(len(g), dtype=dout.dtype) @ g          # (F,)
            if turned:
                rows = dx[c0 * H * W:c1 * H * W]                     # (samples*H*W, C)
                np.matmul(dcols.rows(c0, c1), kturned, out=rows)
                if relu_input:                                       # the ReLU's gate: where max(x, 0) > 0
                    np.multiply(rows, _interior(xp, pads, c0, c1).reshape(rows.shape) > 0, out=rows)
            elif need_dx:
                _add_input_gradient(dxp[c0:c1], g, kernel, sh, sw, Ho, Wo)
        partial[i] = (dk, db)

    parallel.run(part, parts)
    dkernel, dbias = _sum_thread_parts(partial)
    if not need_dx:
        dx = None
    elif turned:
        dx = dx.reshape(x_shape)                                     # (N, H, W, C)
    else:
        dx = _crop(dxp, pads, H, W)                                  # (N, H, W, C)
        if relu_input:
            dx = dx * (_interior(xp, pads, 0, N) > 0)
    return dx, dkernel.reshape(kernel.shape), dbias


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


def _first_winner(views, best, out):
    """Index of the first of ``views`` equal to ``best`` at every position, written into
    ``out`` (an unsigned integer array): nested products ``n0 * (1 + n1 * (1 + ...))``
    of ``n_k = (views[k] != best)``, whole-array arithmetic instead of masked writes."""
    P = len(views)
    if P == 1:
        out.fill(0)
        return
    np.not_equal(views[P - 2], best, out=out, casting="unsafe")
    for k in range(P - 3, -1, -1):
        out += 1
        np.multiply(out, np.not_equal(views[k], best), out=out, casting="unsafe")


def _window_max(views, best, winner):
    """``best = max(views)`` and ``winner`` = the index of the first view holding it."""
    np.copyto(best, views[0]) if len(views) == 1 else np.maximum(views[0], views[1], out=best)
    for v in views[2:]:
        np.maximum(best, v, out=best)
    _first_winner(views, best, winner)


class MaxPoolWinners(NamedTuple):
    """Where each max-pooling window's first maximum is, found in two steps."""
    column: np.ndarray        # (N, Hn, Wo, C): for each row of each window, the column (0 .. pw-1) of its max
    row: np.ndarray           # (N, Ho, Wo, C): the window's row (0 .. ph-1) whose max is the window's


# Elements below which pooling stays in one thread.
_POOL_THREAD_WORK = 50_000


def _max_pool_forward(x, pool_size, strides, pads, Ho, Wo, workspace):
    """Max pooling in two steps: the max over each window's columns for every row it
    covers, then the max of those over the window's rows. The first maximum in reading
    order is the first (in column order) of the first row (in row order) holding the
    window's max, so the two steps' winners give the reference's winner."""
    N, H, W, C = x.shape
    ph, pw = pool_size
    sh, sw = strides
    Hn = sh * (Ho - 1) + ph                                          # the padded rows some window covers
    padded_shape = (N, H + sum(pads[0]), W + sum(pads[1]), C)
    padded = _any_pads(pads)
    xp = _bordered(workspace, "pool_x", padded_shape, x.dtype, -np.inf) if padded else x  # (N, Hp, Wp, C)
    index = np.uint8 if max(ph, pw) <= 255 else np.uint32
    row_max = _buffer(workspace, "row_max", (N, Hn, Wo, C), x.dtype)  # (N, Hn, Wo, C)
    winners = MaxPoolWinners(np.empty((N, Hn, Wo, C), dtype=index), np.empty((N, Ho, Wo, C), dtype=index))
    out = np.empty((N, Ho, Wo, C), dtype=x.dtype)                    # (N, Ho, Wo, C)

    def part(n0, n1):
        if padded:
            _pad_into(xp, x, pads, n0, n1)
        columns = [xp[n0:n1, :Hn, b:b + sw * (Wo - 1) + 1:sw] for b in range(pw)]     # pw x (n, Hn, Wo, C)
        _window_max(columns, row_max[n0:n1], winners.column[n0:n1])
        rows = [row_max[n0:n1, a:a + sh * (Ho - 1) + 1:sh] for a in range(ph)]         # ph x (n, Ho, Wo, C)
        _window_max(rows, out[n0:n1], winners.row[n0:n1])

    parallel.run(part, _thread_parts(N, x.size, _POOL_THREAD_WORK))
    return out, padded_shape, winners


def _max_pool_backward(dout, padded_shape, pool_size, strides, winners, workspace=None):
    """Gradient of :func:`_max_pool_forward` on the padded input: each window's
    gradient goes to its winning row, then to that row's winning column."""
    N, Ho, Wo, C = dout.shape
    ph, pw = pool_size
    sh, sw = strides
    Hn = winners.column.shape[1]
    d_rows = _buffer(workspace, "d_row_max", (N, Hn, Wo, C), dout.dtype)   # gradient of row_max
    dxp = np.zeros(padded_shape, dtype=dout.dtype)                   # (N, Hp, Wp, C)

    def part(n0, n1):
        g = d_rows[n0:n1]                                            # (n, Hn, Wo, C)
        g.fill(0)
        share = np.empty((n1 - n0, Ho, Wo, C), dtype=dout.dtype)
        for a in range(ph):
            np.equal(winners.row[n0:n1], a, out=share, casting="unsafe")       # 1.0 where row a won
            share *= dout[n0:n1]
            g[:, a:a + sh * (Ho - 1) + 1:sh] += share
        share = np.empty_like(g)
        for b in range(pw):
            np.equal(winners.column[n0:n1], b, out=share, casting="unsafe")    # 1.0 where column b won
            share *= g
            dxp[n0:n1, :Hn, b:b + sw * (Wo - 1) + 1:sw] += share

    parallel.run(part, _thread_parts(N, math.prod(padded_shape), _POOL_THREAD_WORK))
    return dxp


def pool2d_forward(x, pool_size=(2, 2), strides=(2, 2), padding="valid", mode="max", workspace=None):
    """Vectorised twin of :func:`convlearn.ops.reference.pool2d_forward`.

    The cache holds, for max pooling, where each window's first maximum is
    (:class:`MaxPoolWinners`); for average pooling, the cell counts.
    ``workspace``: buffers reused from call to call, as in :func:`conv2d_forward`.
    """
    N, H, W, C = x.shape
    ph, pw = pool_size
    sh, sw = strides
    Ho, Wo, pads = _geometry(x.shape, pool_size, strides, padding)
    if mode == "max":
        out, padded_shape, aux = _max_pool_forward(x, pool_size, strides, pads, Ho, Wo, workspace)
    else:
        xp = _pad(x, pads, value=0.0)                                # (N, Hp, Wp, C)
        padded_shape = xp.shape
        win = _windows(xp, ph, pw, sh, sw, Ho, Wo)                   # view (N, Ho, Wo, ph, pw, C)
        counts = _avg_counts(H, W, pool_size, strides, pads, Ho, Wo, x.dtype)  # (Ho, Wo, 1)
        out = (win.sum(axis=(3, 4)) / counts).astype(x.dtype, copy=False)      # (N, Ho, Wo, C)
        aux = counts
    cache = (x.shape, padded_shape, pool_size, strides, pads, mode, aux)
    return out, cache


def pool2d_backward(dout, cache, workspace=None):
    """Vectorised twin of :func:`convlearn.ops.reference.pool2d_backward`."""
    x_shape, padded_shape, (ph, pw), (sh, sw), pads, mode, aux = cache
    N, Ho, Wo, C = dout.shape
    if mode == "max":
        dxp = _max_pool_backward(dout, padded_shape, (ph, pw), (sh, sw), aux, workspace)   # (N, Hp, Wp, C)
    else:
        share = (dout / aux)[:, :, :, None, :]                       # (N, Ho, Wo, 1, C)
        dwin = np.broadcast_to(share, (N, Ho, Wo, ph * pw, C))
        dwin = dwin.reshape(N, Ho, Wo, ph, pw, C)                    # (N, Ho, Wo, ph, pw, C)
        dxp = _scatter_windows(dwin, padded_shape, sh, sw)           # (N, Hp, Wp, C)
    return _crop(dxp, pads, x_shape[1], x_shape[2])                  # (N, H, W, C)


def relu_in_place(a):
    """``a[...] = max(a, 0)``, the ReLU of an array nothing else holds, without making a new one.

    Returns ``a``, whose positive cells are where a gradient passes (as the cache of
    :class:`convlearn.activations.ReLU`).
    """
    return np.maximum(a, a.dtype.type(0), out=a)


# ----------------------------------------------------------------------------
# Dense (fully connected)
# ----------------------------------------------------------------------------

# A dense layer's products are split across threads from this many multiply-adds on
# (N * D * U). Below it, handing half to a worker costs more than it saves: measured on a
# 2-core machine, the CIFAR tutorial's Dense(64) after 1,024 inputs (2.1 million, batch 32)
# took 89 us forward split and 52 us alone, 127 and 107 us backward; the two are even at
# about 6 million forward and 3 million backward.
DENSE_FORWARD_THREADS_FROM = 6_000_000
DENSE_BACKWARD_THREADS_FROM = 3_000_000


def dense_forward(x, kernel, bias):
    """Vectorised twin of :func:`convlearn.ops.reference.dense_forward`.

    With threads on, each thread computes a block of output columns (small
    batches) or of rows (large batches).
    """
    N, D = x.shape
    U = kernel.shape[1]
    parts = _thread_parts(U if N < 256 else N, N * D * U, DENSE_FORWARD_THREADS_FROM, minimum=8)
    if len(parts) == 1:
        out = x @ kernel                                                     # (N, U)
        if bias is not None:
            out += bias
        return out, (x, kernel, bias is not None)
    out = np.empty((N, U), dtype=x.dtype)                                    # (N, U)

    def part(a, b):
        if N < 256:
            block = x @ kernel[:, a:b]                                       # (N, b-a)
            if bias is not None:
                block += bias[a:b]
            out[:, a:b] = block
        else:
            np.matmul(x[a:b], kernel, out=out[a:b])                          # (b-a, U)
            if bias is not None:
                out[a:b] += bias

    parallel.run(part, parts)
    return out, (x, kernel, bias is not None)


def _thread_parts(n, work, threshold, minimum=1):
    """Per-thread ranges over ``n`` rows, columns or samples, or one range when
    ``work`` (multiply-adds or array elements) is below ``threshold``: too little to pay
    for handing it to a thread.
    """
    if not parallel.threaded() or work < threshold:
        return [(0, n)]
    return parallel.ranges(n, minimum=minimum)


def dense_backward(dout, cache, need_dx=True, need_weights=True):
    """Vectorised twin of :func:`convlearn.ops.reference.dense_backward`.

    With threads on, each thread owns a block of input features: it computes
    those rows of ``dkernel`` and those columns of ``dx``.
    """
    x, kernel, has_bias = cache
    N, D = x.shape
    # With fewer samples than units, dx is computed transposed, (kernel @ dout.T).T: BLAS
    # reads the big kernel in its stored order, 1.5x faster than dout @ kernel.T, and the
    # result is a valid (N, D) view. With more samples than units the kernel is small and
    # a contiguous dx is worth more to the layers below (no strided reads there).
    transposed = N < kernel.shape[1]
    dbias = dout.sum(axis=0) if has_bias and need_weights else None          # (U,)
    # (without the weight gradients, the training step computes them in its worker
    # thread meanwhile: this one stays single-threaded)
    parts = _thread_parts(D, N * D * kernel.shape[1], DENSE_BACKWARD_THREADS_FROM, minimum=8) if need_weights else [(0, D)]
    if len(parts) == 1:
        dkernel = x.T @ dout if need_weights else None                      # (D, U)
        dx = None
        if need_dx:
            dx = (kernel @ dout.T).T if transposed else dout @ kernel.T      # (N, D)
        return dx, dkernel, dbias
    dkernel = np.empty_like(kernel)                                          # (D, U)
    dx_buf = None
    if need_dx:
        dx_buf = np.empty((D, N) if transposed else (N, D), dtype=x.dtype)  # dx.T or dx

    def part(a, b):
        np.matmul(x[:, a:b].T, dout, out=dkernel[a:b])                       # (b-a, U)
        if need_dx and transposed:
            np.matmul(kernel[a:b], dout.T, out=dx_buf[a:b])                  # (b-a, N)
        elif need_dx:
            np.matmul(dout, kernel[a:b].T, out=dx_buf[:, a:b])               # (N, b-a)

    parallel.run(part, parts)
    dx = None
    if need_dx:
        dx = dx_buf.T if transposed else dx_buf
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

# Window cells are numbered in one byte, and 255 marks "no winner" (ReLU gave 0).
MAX_FUSED_POOL_CELLS = 254
# A 3x3, stride-1 convolution followed by 2x2 pooling runs as Winograd's F(2x2, 3x3)
# (:mod:`convlearn.ops.winograd`) from this many input channels on: its 16 matrix
# products over the channels need enough channels to beat im2col's one product.
WINOGRAD_MIN_CHANNELS = 16


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


def _buffer(workspace, key, shape, dtype, zeros=False):
    """A reusable array from ``workspace`` (a dict), or a fresh one without a workspace.

    Reusing the same large arrays every step avoids fresh allocations, which
    for arrays above glibc's mmap threshold cost page faults on every touch.
    With ``zeros`` the array is made of zeros (and nothing may write to it).
    """
    make = np.zeros if zeros else np.empty
    if workspace is None:
        return make(shape, dtype=dtype)
    buf = workspace.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = workspace[key] = make(shape, dtype=dtype)
    return buf


# With one input channel the fused kernel does little arithmetic per byte: it runs a
# few samples at a time so that its conv output (forward) or masked gradients
# (backward) stay in the core's cache instead of streaming through main memory.
# Bytes of im2col rows plus conv output per piece; the forward pass makes more
# NumPy calls per piece, so it takes bigger pieces. With several channels the
# matrix products dominate and the pieces are whole thread parts.
_FORWARD_CHUNK_BYTES = 2 * 1024 * 1024
_BACKWARD_CHUNK_BYTES = 512 * 1024
# Inference keeps nothing for a backward pass, so every layout works piece by piece,
# with the im2col matrix of one piece only (a few MiB instead of tens for 256 images).
_INFERENCE_CHUNK_BYTES = 2 * 1024 * 1024
# Winograd's 16 products per tile (and their gradients) for at most this many bytes
# of samples at a time: big batches then need memory for the kept input tiles only.
# The benchmark's batches of 128 fit in one piece per thread.
_WINOGRAD_PIECE_BYTES = 16 * 1024 * 1024


def _winograd_piece_bytes(S, F, itemsize):
    """Bytes per sample of the Winograd products (16 slots of S tiles x F filters)."""
    return 16 * S * F * itemsize


def _samples_per_chunk(bytes_per_sample, budget):
    return max(1, budget // max(1, bytes_per_sample))


def _pieces(parts, bytes_per_sample, budget):
    """``(step, longest)``: samples per piece (whole thread parts when ``budget`` is None)
    and the samples of the biggest thread part, which sizes the per-thread buffers."""
    longest = max(n1 - n0 for n0, n1 in parts)
    step = longest if budget is None else _samples_per_chunk(bytes_per_sample, budget)
    return step, longest


def _grow_only(workspace, key, size, dtype):
    """The first ``size`` elements of a flat reusable array that only ever grows."""
    if workspace is None:
        return np.empty(size, dtype=dtype)
    buf = workspace.get(key)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = workspace[key] = np.empty(size, dtype=dtype)
    return buf[:size]


def _first_max_index(z, zmax, out=None):
    """Index (0 .. P-1) of the first slab of ``z`` (P, M, F), or list of P (M, F) arrays,
    equal to ``zmax``, as uint8 (written into ``out`` if given).

    Computed as nested products ``n0 * (1 + n1 * (1 + n2 * ...))`` where
    ``n_k = (z[k] != zmax)``: cheap whole-array arithmetic on bytes instead of
    P masked assignments (which are ~10x slower in NumPy).
    """
    P = len(z)
    if out is None:
        out = np.empty(zmax.shape, dtype=np.uint8)
    if P == 1:
        out[...] = 0
        return out
    one = np.uint8(1)
    idx = out
    np.not_equal(z[P - 2], zmax, out=idx.view(np.bool_))                     # (M, F)
    for k in range(P - 3, -1, -1):
        idx += one
        idx *= np.not_equal(z[k], zmax).view(np.uint8)
    return idx


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
    P, S, K = ph * pw, Ho2 * Wo2, kh * kw * C                                # S pooled cells per sample
    if P > MAX_FUSED_POOL_CELLS:
        raise ValueError(f"conv2d_maxpool_forward: a pooling window of {ph}x{pw} = {P} cells is more than "
                         f"the fused kernel's {MAX_FUSED_POOL_CELLS}; run the convolution and the pooling "
                         "separately (conv2d_forward, then pool2d_forward).")
    M = N * S
    xp = _pad(x, pads)                                                       # (N, Hp, Wp, C)
    # Winograd when training only: inference goes piece by piece, where its many
    # small NumPy calls per piece cost more than its fewer multiplies save
    wino = training and C >= WINOGRAD_MIN_CHANNELS and winograd.applies(kernel.shape, strides, pool_size)
    out = np.empty((M, F), dtype=x.dtype)                                    # pooled output
    winner = np.empty((M, F), dtype=np.uint8) if training else None
    parts = _thread_parts(N, M * P * max(K, F), 200_000)
    cols = tiles = U = None
    if wino:
        # Winograd F(2x2, 3x3): each 2x2 pooling window is one output tile
        U = winograd.transform_kernel(kernel)                                # (16, C, F)
        tiles = _buffer(workspace, "tiles", (16, N, Ho2, Wo2, C), x.dtype)  # kept for the backward pass
        per_sample = _winograd_piece_bytes(S, F, x.itemsize)
    else:
        if workspace is not None and workspace.get("windows_of") is xp:
            windows = workspace["windows"]        # same input buffer as last step: reuse the view
        else:
            windows = _pool_ordered_windows(xp, kh, kw, sh, sw, ph, pw, Ho2, Wo2)  # view (ph, pw, N, Ho2, Wo2, kh, kw, C)
            if workspace is not None:
                workspace["windows_of"], workspace["windows"] = xp, windows
        # the full im2col matrix when training (the backward pass needs it); else only its shape
        cols = _FusedCols(workspace if training else None, windows if training else windows[:, :, :0], x.dtype,
                          bias=bias is not None)
        kmat = kernel.reshape(K, F)                                          # (K, F)
        if cols.bias_in_matrix:
            kmat = np.concatenate([kmat, bias[None, :]])                     # (K+1, F): bias times the ones row
        per_sample = P * S * (cols.width + F) * x.itemsize
    bias_row = None                                                          # else the bias is added after pooling:
    if bias is not None and (cols is None or not cols.bias_in_matrix):
        bias_row = _buffer(workspace, "bias_row", (S, F), x.dtype)           # the bias of every cell, refilled
        bias_row[...] = bias                                                 # each call (np.tile costs ~10 us)
        bias_row = bias_row.reshape(S * F)
    if not training:
        budget = _INFERENCE_CHUNK_BYTES
    elif wino:
        budget = _WINOGRAD_PIECE_BYTES
    else:
        budget = _FORWARD_CHUNK_BYTES if cols.taps_major else None          # else whole thread parts
    step, longest = _pieces(parts, per_sample, budget)
    most = min(step, longest)                                                # samples in the biggest piece
    # zeros for the ReLU of one piece (shared by the threads: nothing writes to it)
    zeros = _buffer(workspace, "zeros", (most * S, F), x.dtype, zeros=True) if relu else None
    zero = x.dtype.type(0)

    def conv_cells(i, c0, c1):
        """The conv output of samples c0..c1-1: P matrices (m, F), one per window cell."""
        m0, m1 = c0 * S, c1 * S
        if wino:
            v = tiles[:, c0:c1]                                              # (16, n, Ho2, Wo2, C)
            rows = _buffer(workspace, ("tile_rows", i), (4, most, Ho2, 2 * Wo2 + 2, C), x.dtype)
            winograd.transform_input(xp, (c0, c1), Ho2, Wo2, v, rows[:, :c1 - c0])
            mz = _buffer(workspace, ("z", i), (16, most * S, F), x.dtype)[:, :m1 - m0]
            np.matmul(v.reshape(16, m1 - m0, C), U, out=mz)                  # 16 x (m, C) @ (C, F)
            return winograd.output_cells(mz)                                 # the 4 cells, in place
        # The conv output of a few samples at a time, in a buffer that stays in the core's cache
        zc = _buffer(workspace, ("z", i), (P, most * S, F), x.dtype)[:, :m1 - m0]   # (P, m, F)
        if training:
            cols.fill(c0, c1)                                                # im2col for these samples
            np.matmul(cols.cells(m0, m1), kmat, out=zc)                      # (P, m, F)
        else:
            # nothing to keep for a backward pass: im2col of this piece only, in a
            # small buffer of this thread's
            piece = _FusedCols(workspace, windows[:, :, c0:c1], x.dtype, bias is not None, ("piece", i))
            piece.fill(0, c1 - c0)
            np.matmul(piece.cells(0, m1 - m0), kmat, out=zc)                 # (P, m, F)
        return zc

    def part(i, n0, n1):
        for c0 in range(n0, n1, step):
            c1 = min(n1, c0 + step)
            m0, m1 = c0 * S, c1 * S
            zc = conv_cells(i, c0, c1)
            zmax = out[m0:m1]
            np.maximum(zc[0], zc[1], out=zmax) if P > 1 else np.copyto(zmax, zc[0])
            for k in range(2, P):
                np.maximum(zmax, zc[k], out=zmax)                            # max over the window cells
            if training:
                _first_max_index(zc, zmax, out=winner[m0:m1])                # which cell won
            if bias_row is not None:
                rows = zmax.reshape(c1 - c0, S * F)                          # one row per sample
                rows += bias_row                                             # long rows: fast broadcast
            if relu:
                # max(x, 0) against an array of zeros: NumPy's loop for a scalar 0 is ~3x slower
                np.maximum(zmax, zeros[:m1 - m0], out=zmax)
                if training:
                    # where ReLU gave 0 no cell gets a gradient: mark "no winner" (255) there,
                    # so the backward pass needs no separate ReLU gate
                    # (against a scalar: unlike np.maximum, np.equal is 2x faster that way)
                    winner[m0:m1] |= np.equal(zmax, zero).view(np.uint8) * np.uint8(255)

    parallel.run(part, [(i, n0, n1) for i, (n0, n1) in enumerate(parts)])
    out = out.reshape(N, Ho2, Wo2, F)                                        # (N, Ho2, Wo2, F)
    cache = None
    if training:
        cache = (cols, winner, out, kernel, bias is not None, relu, strides, pool_size, pads, x.shape, xp.shape,
                 (tiles, U) if wino else None)
    return out, cache


class _FusedCols:
    """The im2col matrix of the fused kernel, in the faster of two memory layouts.

    Both hold, for window cell ``k`` and pooled position ``m``, the ``K = kh*kw*C``
    input values under the filter. With one input channel the taps-major layout
    (K, P, M) copies faster (long runs of the image); with several channels the
    positions-major layout (P, M, K) does (runs of ``kw*C`` values), by 7x for
    32 channels. ``cells(m0, m1)`` gives the (P, m1-m0, width) matrices either way.

    With ``bias`` the taps-major matrix has one more row, all ones (``width`` is
    K + 1): the matrix product then adds the bias, and the backward product
    yields the bias gradient, with no pass of their own.
    """

    def __init__(self, workspace, windows, dtype, bias=False, scratch=None):
        ph, pw, N, Ho2, Wo2, kh, kw, C = windows.shape
        self.windows = windows
        self.P, self.M, self.K = ph * pw, N * Ho2 * Wo2, kh * kw * C
        self.taps_major = C == 1
        self.bias_in_matrix = self.taps_major and bias
        self.width = self.K + self.bias_in_matrix
        size = self.width * self.P * self.M
        if scratch is not None:
            # a piece of inference: carved from a reusable flat buffer, ones written every time
            flat = _grow_only(workspace, scratch, size, dtype)
            if self.bias_in_matrix:
                flat[self.K * self.P * self.M:] = 1
        elif self.taps_major:
            flat = _buffer(workspace, "colsT", (size,), dtype)
            if self.bias_in_matrix and (workspace is None or workspace.get("ones_in") is not flat):
                flat[self.K * self.P * self.M:] = 1                          # the row of ones, set once
            if workspace is not None:  # where the ones are, for the next call (fill may overwrite them)
                workspace["ones_in"] = flat if self.bias_in_matrix else None
        else:
            flat = _buffer(workspace, "cols", (size,), dtype)
        if self.taps_major:
            self.buf = flat[:self.K * self.P * self.M].reshape(kh, kw, C, ph, pw, N, Ho2, Wo2)
            self.mat = flat.reshape(self.width, self.P, self.M)              # (width, P, M)
        else:
            self.buf = flat.reshape(windows.shape)
            self.mat = flat.reshape(self.P, self.M, self.K)                  # (P, M, K)

    def fill(self, n0, n1):
        """Copy the windows of samples n0..n1-1 into the matrix."""
        if self.taps_major:
            np.copyto(self.buf[:, :, :, :, :, n0:n1], self.windows[:, :, n0:n1].transpose(5, 6, 7, 0, 1, 2, 3, 4))
        else:
            np.copyto(self.buf[:, :, n0:n1], self.windows[:, :, n0:n1])

    def cells(self, m0, m1):
        """(P, m1-m0, width) view: for each window cell, the inputs under the filter at
        positions m0..m1-1 (one matrix per cell, for one batched product)."""
        return self.mat[:, :, m0:m1].transpose(1, 2, 0) if self.taps_major else self.mat[:, m0:m1]


def conv2d_maxpool_backward(dout, cache, need_dx=True, workspace=None):
    """Gradients of :func:`conv2d_maxpool_forward`: ``(dx or None, dkernel, dbias or None)``.

    Each pooled gradient goes to the first maximum of its window (reading
    order), like :func:`pool2d_backward`.
    """
    cols, winner, out, kernel, has_bias, relu, (sh, sw), (ph, pw), pads, x_shape, padded_shape, wino = cache
    if wino is not None:
        return _winograd_maxpool_backward(dout, cache, need_dx, workspace)
    P = ph * pw
    M, F = winner.shape
    kh, kw, C, _ = kernel.shape
    K = kh * kw * C
    N, Ho2, Wo2 = dout.shape[:3]
    S = Ho2 * Wo2
    g_all = _rows_of(dout, workspace).reshape(M, F)                          # (M, F)
    dxp = np.zeros(padded_shape, dtype=dout.dtype) if need_dx else None      # (N, Hp, Wp, C)
    parts = _thread_parts(N, M * P * max(K, F), 200_000)
    partial = [None] * len(parts)
    cells = np.arange(P, dtype=np.uint8)[:, None, None]                     # (P, 1, 1)
    step, longest = _pieces(parts, P * S * (cols.width + F) * dout.itemsize,
                            _BACKWARD_CHUNK_BYTES if cols.taps_major else None)

    def part(i, n0, n1):
        # a few samples at a time: the masked gradients stay in the core's cache
        # (the buffer is the forward pass's, free by now)
        dz = _buffer(workspace, ("z", i), (P, min(step, longest) * S, F), dout.dtype)
        dk = np.zeros((cols.width, F), dtype=dout.dtype)
        db = np.zeros(F, dtype=dout.dtype) if has_bias and not cols.bias_in_matrix else None
        for c0 in range(n0, n1, step):
            c1 = min(n1, c0 + step)
            m0, m1 = c0 * S, c1 * S
            dzc = dz[:, :m1 - m0]                                            # (P, m, F)
            # Gradient only to the winning cell. Where ReLU output 0, the forward pass
            # marked no winner, which is the ReLU gate.
            # (the comparison written straight into dzc as 1.0 / 0.0, then scaled in place:
            # ~10% faster than multiplying by a temporary array of booleans)
            np.equal(winner[None, m0:m1], cells, out=dzc, casting="unsafe")
            np.multiply(dzc, g_all[m0:m1], out=dzc)
            # (a one-channel piece of a few small images is short enough for one product:
            # 19 against 22 us for 4 samples of 28x28 in blocks of _PRODUCT_ROWS)
            one = cols.taps_major and m1 - m0 <= _ONE_PRODUCT_ROWS
            dk += _long_products(cols.cells(m0, m1), dzc, rows=m1 - m0 if one else None).sum(axis=0)  # (width, F)
            if db is not None:
                ones = np.ones(m1 - m0, dtype=dout.dtype)
                for k in range(P):
                    db += ones @ dzc[k]                                      # (F,); faster than .sum(0)
            if need_dx:
                # Gradient of the conv output at full resolution (zero where pooling dropped a cell)
                Hc, Wc = Ho2 * ph, Wo2 * pw
                dZ = np.empty((c1 - c0, Ho2, ph, Wo2, pw, F), dtype=dout.dtype)   # (n, Ho2, ph, Wo2, pw, F)
                np.copyto(dZ, dzc.reshape(ph, pw, c1 - c0, Ho2, Wo2, F).transpose(2, 3, 0, 4, 1, 5))
                _add_input_gradient(dxp[c0:c1], dZ.reshape((c1 - c0) * Hc * Wc, F), kernel, sh, sw, Hc, Wc)
        if cols.bias_in_matrix:
            dk, db = dk[:K], dk[K]                                           # the ones row gave the bias gradient
        partial[i] = (dk, db)

    parallel.run(part, [(i, n0, n1) for i, (n0, n1) in enumerate(parts)])
    dkernel, dbias = _sum_thread_parts(partial)
    dx = _crop(dxp, pads, x_shape[1], x_shape[2]) if need_dx else None       # (N, H, W, C)
    return dx, dkernel.reshape(kernel.shape), dbias


# A product a.T @ b summed over many rows (a kernel gradient) runs 1.5-2x faster in
# OpenBLAS as a sum of products over at most this many rows at a time.
_PRODUCT_ROWS = 384
# ... except for up to this many rows, where one product is faster (the one-channel
# backward pass's pieces of a few samples: 676 rows for 4 MNIST images)
_ONE_PRODUCT_ROWS = 2048


def _long_products(a, b, rows=None):
    """``a[s].T @ b[s]`` for each s: (S, m, C), (S, m, F) -> (S, C, F), in blocks of
    at most ``rows`` rows (default ``_PRODUCT_ROWS``)."""
    m = a.shape[1]
    blocks = -(-m // (rows or _PRODUCT_ROWS))
    step = -(-m // blocks)
    out = np.matmul(a[:, :step].transpose(0, 2, 1), b[:, :step])
    for r in range(step, m, step):
        out += np.matmul(a[:, r:r + step].transpose(0, 2, 1), b[:, r:r + step])
    return out


def _sum_thread_parts(partial):
    """Add up the threads' ``(dkernel, dbias or None)`` in a fixed order: same result every run."""
    dkernel, dbias = partial[0]
    for dk, db in partial[1:]:
        dkernel += dk
        if dbias is not None:
            dbias += db
    return dkernel, dbias


_CELL_NUMBERS = np.arange(4, dtype=np.uint8).reshape(2, 2, 1, 1)          # the 2x2 cells' numbers


def _winograd_maxpool_backward(dout, cache, need_dx, workspace):
    """:func:`conv2d_maxpool_backward` for a forward pass that ran Winograd's F(2x2, 3x3)."""
    _, winner, _, kernel, has_bias, _, _, _, pads, x_shape, padded_shape, (tiles, U) = cache
    M, F = winner.shape
    C = kernel.shape[2]
    N, Ho2, Wo2 = dout.shape[:3]
    S = Ho2 * Wo2
    g_all = _rows_of(dout, workspace).reshape(M, F)                          # (M, F)
    dxp = np.zeros(padded_shape, dtype=dout.dtype) if need_dx else None      # (N, Hp, Wp, C)
    UT = np.ascontiguousarray(U.transpose(0, 2, 1)) if need_dx else None     # (16, F, C)
    P, K = 4, 9 * C                                                          # 2x2 cells, 3x3 taps
    parts = _thread_parts(N, M * P * max(K, F), 200_000)                     # the forward pass's split
    step, longest = _pieces(parts, _winograd_piece_bytes(S, F, dout.itemsize), _WINOGRAD_PIECE_BYTES)
    most = min(step, longest)                                                # samples in the biggest piece
    partial = [None] * len(parts)

    def part(i, n0, n1):
        dU = np.zeros((16, C, F), dtype=dout.dtype)
        db = np.zeros(F, dtype=dout.dtype) if has_bias else None
        for c0 in range(n0, n1, step):
            c1 = min(n1, c0 + step)
            m0, m1 = c0 * S, c1 * S
            dm = _buffer(workspace, ("z", i), (16, most * S, F), dout.dtype)[:, :m1 - m0]   # (16, m, F)
            # the pooled gradient goes to the winning cell only (255, "no winner", is the ReLU gate);
            # cell (a, b) goes to slot (3a, 3b) of the 4x4 grid of slots
            cells = winograd.cell_grid(dm)                                   # (2, 2, m, F)
            np.equal(winner[m0:m1], _CELL_NUMBERS, out=cells, casting="unsafe")   # 1.0 / 0.0
            np.multiply(cells, g_all[m0:m1], out=cells)
            winograd.gradient_slots(dm)                                      # dM = A dY A^T
            if db is not None:
                # slot (1, 1) of dM is the sum of the four cells' gradients: summed over
                # positions, the bias gradient
                db += np.ones(m1 - m0, dtype=dout.dtype) @ dm[5]
            dU += _long_products(tiles[:, c0:c1].reshape(16, m1 - m0, C), dm)   # (16, C, F)
            if need_dx:
                dv = _buffer(workspace, ("tile_grads", i), (16, most, Ho2, Wo2, C), dout.dtype)[:, :c1 - c0]
                np.matmul(dm, UT, out=dv.reshape(16, m1 - m0, C))            # (16, m, C)
                scratch = _buffer(workspace, ("tile_scratch", i), (4, most, Ho2, Wo2, C),
                                  dout.dtype)[:, :c1 - c0]
                winograd.add_input_gradient(dv, dxp, (c0, c1), Ho2, Wo2, scratch)
        partial[i] = (dU, db)

    parallel.run(part, [(i, n0, n1) for i, (n0, n1) in enumerate(parts)])
    dU, dbias = _sum_thread_parts(partial)
    dx = _crop(dxp, pads, x_shape[1], x_shape[2]) if need_dx else None       # (N, H, W, C)
    return dx, winograd.kernel_gradient(dU).astype(dout.dtype, copy=False), dbias


# ----------------------------------------------------------------------------
# Normalisation
# ----------------------------------------------------------------------------
#
# What costs time here is passes over memory, and a pass that writes a new array
# costs about twice an in-place one (its lines are read before they are written).
# So each forward pass makes one new array, its output, and works in place on it;
# the cache keeps the input itself (no copy) and the small per-channel or per-row
# numbers, and the backward pass rebuilds ``x - mean`` into what becomes ``dx``.
# This keeps one array fewer alive between the passes than caching ``x - mean``,
# and makes the pair a few per cent faster.
#
# Sums over many rows are products with a vector of ones (BLAS adds in blocks:
# faster, and more accurate in float32 than NumPy's row-after-row sum down axis 0).
# Everything stays in the input's dtype. Variances are computed in two passes,
# from ``x - mean`` (not as ``mean(x**2) - mean**2``, which loses every digit in
# float32 when the mean is large next to the spread).
#
# With the channels on the last axis, an (A, C) array is seen as (A/k, k*C) rows
# holding k consecutive rows each, and every (C,) vector is tiled k times: each
# NumPy inner loop then runs over k*C values instead of C (without it, the training
# forward and backward pair on (64, 14, 14, 32) float32 takes 1.2x longer).

_WIDE_ROW = 2048   # at most this many values per row of the wide view


class BatchNormLayout(NamedTuple):
    """How the batch-norm kernels view an array: ``(A/k, k*C)`` when ``k``, else ``(A, C, B)``."""
    shape: tuple     # the original shape
    view: tuple      # the 2-D or 3-D view's shape
    C: int
    k: int           # rows of (A, C) per wide row; 0 when the channel axis is not the last


def _bn_layout(shape, axis):
    A = math.prod(shape[:axis])
    C = shape[axis]
    B = math.prod(shape[axis + 1:])
    if B > 1:
        return BatchNormLayout(shape, (A, C, B), C, 0)
    # k: the largest power of two dividing A with k * C <= _WIDE_ROW (1 if none)
    k = math.gcd(A, 1 << max(0, (_WIDE_ROW // max(C, 1)).bit_length() - 1)) if A else 1
    return BatchNormLayout(shape, (A // k, k * C), C, k)


def _per_value(v, layout):
    """A (C,) vector shaped to broadcast over the layout's view."""
    return np.tile(v, layout.k) if layout.k else v[:, None]


def _channel_sum(a, layout):
    """Sum of each channel's values, ``a`` in the layout's view: (C,)."""
    if layout.k:
        return (np.ones(a.shape[0], dtype=a.dtype) @ a).reshape(layout.k, layout.C).sum(axis=0)
    A, C, B = a.shape
    rows = a.reshape(A * C, B) @ np.ones(B, dtype=a.dtype)                    # (A*C,)
    return np.ones(A, dtype=a.dtype) @ rows.reshape(A, C)                     # (C,)


def _channel_dot(a, b, layout):
    """Sum of each channel's values of ``a * b`` (both in the layout's view): (C,)."""
    if layout.k:
        return np.einsum("ij,ij->j", a, b).reshape(layout.k, layout.C).sum(axis=0)
    return np.ones(a.shape[0], dtype=a.dtype) @ np.einsum("acb,acb->ac", a, b)   # (A, C) -> (C,)


class BatchNormCache(NamedTuple):
    """What :func:`batch_norm_backward` needs from :func:`batch_norm_forward`."""
    layout: BatchNormLayout
    training: bool
    x: np.ndarray                 # the input, in the layout's view
    mean: np.ndarray              # (C,) the statistics used: the batch's in training, the moving ones else
    variance: np.ndarray          # (C,)
    inv: np.ndarray               # (C,) 1 / sqrt(variance + epsilon)
    scale: np.ndarray             # (C,) gamma * inv (inv without gamma)
    has_gamma: bool
    has_beta: bool


def batch_norm_scale_shift(gamma, beta, mean, variance, epsilon):
    """Batch normalisation with fixed statistics as one affine map per channel: ``x * scale + shift``.

    ``scale = gamma / sqrt(variance + epsilon)`` and ``shift = beta - mean * scale``
    are computed in float64 and rounded once to the weights' dtype, so each is
    the correctly rounded value (float32 arithmetic would add a few units in the
    last place, and cancellation in ``shift``). The inference forward pass uses
    these very arrays, so folding them into the layer before gives the plain
    pass's numbers up to the folded layer's own rounding.

    Parameters
    ----------
    gamma, beta : ndarray of shape (C,), or None
    mean, variance : ndarray, shape (C,)
    epsilon : float

    Returns
    -------
    scale, shift : ndarray, shape (C,), of the dtype of ``mean``
    """
    scale = 1.0 / np.sqrt(variance.astype(np.float64) + epsilon)             # (C,)
    if gamma is not None:
        scale *= gamma
    shift = -mean.astype(np.float64) * scale                                  # (C,)
    if beta is not None:
        shift += beta
    return scale.astype(mean.dtype), shift.astype(mean.dtype)


# Values below which batch normalisation's backward pass stays in one thread; above,
# its passes go over the rows of the wide view, half in each thread. (The forward
# pass stays in one: a hand-over to a thread that has been idle costs about 0.1 ms
# here, as much as its passes over (64, 14, 14, 32) values save.)
_BN_THREAD_WORK = 300_000


def _bn_row_parts(layout, threads=True):
    """``(i, r0, r1)`` per thread: ranges of rows of the layout's view (one range without
    ``threads`` or the wide view)."""
    rows = layout.view[0]
    parts = [(0, rows)]
    if threads and layout.k:
        parts = _thread_parts(rows, math.prod(layout.view), _BN_THREAD_WORK)
    return [(i, r0, r1) for i, (r0, r1) in enumerate(parts)]


def _add_in_order(partial):
    """The threads' per-channel sums added in a fixed order (the same result every run)."""
    total = partial[0]
    for p in partial[1:]:
        total = total + p
    return total


def batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, axis=-1, epsilon=1e-3, training=False):
    """Vectorised twin of :func:`convlearn.ops.reference.batch_norm_forward`.

    Training: the channel sums, ``out = x - mean`` (the one new array), the sums
    of squares, then ``out *= gamma * inv`` and ``out += beta`` in place.
    Inference: ``x * scale + shift`` (:func:`batch_norm_scale_shift`).
    """
    layout = _bn_layout(x.shape, axis % x.ndim)
    xv = x.reshape(layout.view)                                               # a view when x is contiguous
    if training:
        M = x.size // layout.C                                                # values per channel
        mean = _channel_sum(xv, layout) / M                                   # (C,)
        out = np.empty(layout.view, dtype=np.result_type(xv, mean))
        parts = _bn_row_parts(layout, threads=False)
        squares = [None] * len(parts)
        centre = _per_value(mean, layout)

        def centred(i, r0, r1):
            np.subtract(xv[r0:r1], centre, out=out[r0:r1])                    # x - mean
            squares[i] = _channel_dot(out[r0:r1], out[r0:r1], layout)

        parallel.run(centred, parts)
        variance = _add_in_order(squares) / M                                 # (C,) biased
        inv = 1.0 / np.sqrt(variance + epsilon)                               # (C,)
        scale = inv if gamma is None else gamma * inv                         # (C,)
        factor, offset = _per_value(scale, layout), None if beta is None else _per_value(beta, layout)

        def normalised(i, r0, r1):
            out[r0:r1] *= factor
            if offset is not None:
                out[r0:r1] += offset

        parallel.run(normalised, parts)
    else:
        mean, variance = moving_mean.copy(), moving_variance.copy()          # (C,): the layer may update its own
        scale, shift = batch_norm_scale_shift(gamma, beta, mean, variance, epsilon)
        out = np.multiply(xv, _per_value(scale, layout))
        out += _per_value(shift, layout)
        inv = scale if gamma is None else 1.0 / np.sqrt(variance + epsilon)                   # (C,)
    cache = BatchNormCache(layout, training, xv, mean, variance, inv, scale, gamma is not None, beta is not None)
    return out.reshape(x.shape), cache


def batch_norm_backward(dout, cache):
    """Vectorised twin of :func:`convlearn.ops.reference.batch_norm_backward`.

    Training, with ``xhat = (x - mean) * inv``:
    ``dx = gamma * inv * (dout - mean(dout) - xhat * mean(dout * xhat))``, the
    reference's three chain-rule paths added up: ``x - mean`` is rebuilt, then
    turned into ``dx`` in place; with threads on, big arrays go through these
    passes half a batch in each thread.
    """
    layout, training, xv, mean = cache.layout, cache.training, cache.x, cache.mean
    dv = dout.reshape(layout.view)                                            # (a copy if dout is not contiguous)
    if not training:
        dbeta = _channel_sum(dv, layout) if cache.has_beta else None         # (C,) sum(dout)
        dgamma = None
        if cache.has_gamma:
            xc = np.subtract(xv, _per_value(mean, layout))                    # x - mean
            dgamma = _channel_dot(dv, xc, layout) * cache.inv                 # (C,) sum(dout * xhat)
        dx = np.multiply(dv, _per_value(cache.scale, layout))                 # the statistics are constants
        return dx.reshape(layout.shape), dgamma, dbeta
    M = dout.size // layout.C
    parts = _bn_row_parts(layout)
    sums, dots = [None] * len(parts), [None] * len(parts)
    dx = np.empty(layout.view, dtype=np.result_type(dv, xv))                  # first x - mean, then dx
    centre = _per_value(mean, layout)

    def statistics(i, r0, r1):
        sums[i] = _channel_sum(dv[r0:r1], layout)                             # (C,) sum(dout)
        np.subtract(xv[r0:r1], centre, out=dx[r0:r1])                         # x - mean
        dots[i] = _channel_dot(dv[r0:r1], dx[r0:r1], layout)                  # (C,) sum(dout * (x - mean))

    parallel.run(statistics, parts)
    dbeta = _add_in_order(sums)                                               # (C,)
    dgamma = _add_in_order(dots) * cache.inv                                  # (C,) sum(dout * xhat)
    along = _per_value(cache.inv * dgamma / M, layout)
    mean_dout = _per_value(dbeta / M, layout)
    factor = _per_value(cache.scale, layout)

    def gradient(i, r0, r1):
        g = dx[r0:r1]                                                         # the buffer becomes dx:
        g *= along                                                            #   xhat * mean(dout * xhat)
        g += mean_dout                                                        #   + mean(dout)
        np.subtract(dv[r0:r1], g, out=g)                                      #   dout - ...
        g *= factor                                                           #   * gamma * inv

    parallel.run(gradient, parts)
    return (dx.reshape(layout.shape), dgamma if cache.has_gamma else None,
            dbeta if cache.has_beta else None)


class LayerNormCache(NamedTuple):
    """What :func:`layer_norm_backward` needs from :func:`layer_norm_forward`."""
    x: np.ndarray                 # (S, D) the input, one row per group
    mean: np.ndarray              # (S, 1) each group's mean
    inv: np.ndarray               # (S, 1) 1 / sqrt(var + epsilon) of each group
    gamma: Optional[np.ndarray]   # (D,) or None
    has_beta: bool
    axes: tuple
    moved_shape: tuple            # shape of x with the normalised axes moved last


def _axes_last(x, axes):
    """``x`` with ``axes`` moved to the end (a view; ``x`` itself when they are the last ones already)."""
    last = tuple(range(x.ndim - len(axes), x.ndim))
    return x if tuple(axes) == last else np.moveaxis(x, axes, last)


def _axes_back(x_moved, axes):
    """Inverse of :func:`_axes_last`, as a C-contiguous array."""
    last = tuple(range(x_moved.ndim - len(axes), x_moved.ndim))
    return x_moved if tuple(axes) == last else np.ascontiguousarray(np.moveaxis(x_moved, last, axes))


def layer_norm_forward(x, gamma, beta, axes, epsilon=1e-3):
    """Vectorised twin of :func:`convlearn.ops.reference.layer_norm_forward`.

    All groups at once, as the rows of an (S, D) matrix (no copy when ``axes``
    are the last axes); the output is the one new array, worked on in place.
    """
    moved = _axes_last(x, axes)                                               # (others..., normalised...)
    D = math.prod(moved.shape[x.ndim - len(axes):])
    x2 = moved.reshape(-1, D)                                                 # (S, D)
    mean = (x2 @ np.ones(D, dtype=x.dtype) / D)[:, None]                     # (S, 1)
    out = np.subtract(x2, mean)                                               # (S, D) x - mean
    inv = (1.0 / np.sqrt(np.einsum("ij,ij->i", out, out) / D + epsilon))[:, None]   # (S, 1)
    out *= inv                                                                # xhat
    g = None if gamma is None else gamma.reshape(D)                           # (D,)
    if g is not None:
        out *= g
    if beta is not None:
        out += beta.reshape(D)
    out = _axes_back(out.reshape(moved.shape), axes)                          # shape of x
    return out, LayerNormCache(x2, mean, inv, g, beta is not None, tuple(axes), moved.shape)


def layer_norm_backward(dout, cache):
    """Vectorised twin of :func:`convlearn.ops.reference.layer_norm_backward`.

    Row by row, ``dx = inv * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``
    with ``dxhat = dout * gamma``.
    """
    x2, mean, inv, g, has_beta, axes, moved_shape = cache
    S, D = x2.shape
    d2 = _axes_last(dout, axes).reshape(S, D)                                 # (S, D)
    param_shape = moved_shape[len(moved_shape) - len(axes):]
    xhat = np.subtract(x2, mean)                                              # (S, D)
    xhat *= inv
    dbeta = (np.ones(S, dtype=d2.dtype) @ d2).reshape(param_shape) if has_beta else None
    dgamma = None if g is None else np.einsum("ij,ij->j", d2, xhat).reshape(param_shape)
    dxhat = d2 * g if g is not None else d2                                   # (S, D)
    mean_dxhat = (dxhat @ np.ones(D, dtype=d2.dtype) / D)[:, None]            # (S, 1)
    mean_prod = (np.einsum("ij,ij->i", dxhat, xhat) / D)[:, None]             # (S, 1)
    dx = xhat                                                                 # the buffer becomes dx:
    dx *= mean_prod                                                           #   xhat * mean(dxhat * xhat)
    dx += mean_dxhat                                                          #   + mean(dxhat)
    np.subtract(dxhat, dx, out=dx)                                            #   dxhat - ...
    dx *= inv
    return _axes_back(dx.reshape(moved_shape), axes), dgamma, dbeta


# ----------------------------------------------------------------------------
# Convolution with dilation and groups; transposed convolution; resizing
# ----------------------------------------------------------------------------
#
# These loop over the kh*kw taps of the filter only. For tap (a, b) the input
# cells every output position reads form one strided slice of the padded input,
# (N, Ho, Wo, C), so each tap is one matrix product per group (or, with one
# channel per group as in a depthwise convolution, one broadcast multiply).

# the caches are the reference kernels' own: either set's backward reads the other's forward
from .reference import ConvTransposeCache, GroupedConvCache, ResizeCache


def _tap(xp, a, b, sh, sw, dh, dw, Ho, Wo):
    """The input cells tap (a, b) of every window reads: a strided view (N, Ho, Wo, C)."""
    return xp[:, a * dh:a * dh + sh * (Ho - 1) + 1:sh, b * dw:b * dw + sw * (Wo - 1) + 1:sw, :]


def grouped_conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    """Vectorised twin of :func:`convlearn.ops.reference.grouped_conv2d_forward`."""
    N, H, W, C = x.shape
    kh, kw, Cg, F = kernel.shape
    G, Fg = groups, F // groups
    (sh, sw), (dh, dw) = strides, dilation
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    Ho, Wo, pads = _geometry(x.shape, span, strides, padding)
    xp = _pad(x, pads)                                                       # (N, Hp, Wp, C)
    M = N * Ho * Wo
    if Cg == 1:
        out = np.zeros((M, G, Fg), dtype=x.dtype)                            # (M, G, Fg)
    else:
        out = np.zeros((G, M, Fg), dtype=x.dtype)                            # (G, M, Fg)
    for a in range(kh):
        for b in range(kw):
            t = _tap(xp, a, b, sh, sw, dh, dw, Ho, Wo).reshape(M, G, Cg)     # (M, G, Cg)
            if Cg == 1:
                out += t * kernel[a, b, 0].reshape(G, Fg)                    # (M, G, Fg)
            else:
                k = kernel[a, b].reshape(Cg, G, Fg).transpose(1, 0, 2)       # (G, Cg, Fg)
                out += np.matmul(t.transpose(1, 0, 2), k)                    # (G, M, Fg)
    if Cg != 1:
        out = out.transpose(1, 0, 2)                                         # (M, G, Fg)
    out = out.reshape(N, Ho, Wo, F)                                          # filter f = g * Fg + q
    if bias is not None:
        out = out + bias
    return np.ascontiguousarray(out), GroupedConvCache(xp, kernel, bias is not None, strides, dilation, groups,
                                                       pads, x.shape)


def grouped_conv2d_backward(dout, cache, need_dx=True):
    """Vectorised twin of :func:`convlearn.ops.reference.grouped_conv2d_backward`."""
    xp, kernel, has_bias, (sh, sw), (dh, dw), G, pads, x_shape = cache
    N, Ho, Wo, F = dout.shape
    kh, kw, Cg, _ = kernel.shape
    Fg, M = F // G, N * Ho * Wo
    d = dout.reshape(M, G, Fg)                                               # (M, G, Fg)
    dG = None if Cg == 1 else np.ascontiguousarray(d.transpose(1, 0, 2))     # (G, M, Fg)
    dkernel = np.empty_like(kernel)                                          # (kh, kw, Cg, F)
    dxp = np.zeros(xp.shape, dtype=dout.dtype) if need_dx else None          # (N, Hp, Wp, C)
    for a in range(kh):
        for b in range(kw):
            t = _tap(xp, a, b, sh, sw, dh, dw, Ho, Wo).reshape(M, G, Cg)     # (M, G, Cg)
            if Cg == 1:
                dkernel[a, b, 0] = np.einsum("mg,mgq->gq", t[:, :, 0], d).reshape(F)
                if need_dx:
                    dt = np.einsum("mgq,gq->mg", d, kernel[a, b, 0].reshape(G, Fg))       # (M, G)
                    _tap(dxp, a, b, sh, sw, dh, dw, Ho, Wo)[...] += dt.reshape(N, Ho, Wo, G)
            else:
                dk = np.matmul(t.transpose(1, 2, 0), dG)                     # (G, Cg, Fg)
                dkernel[a, b] = dk.transpose(1, 0, 2).reshape(Cg, F)
                if need_dx:
                    k = kernel[a, b].reshape(Cg, G, Fg).transpose(1, 2, 0)   # (G, Fg, Cg)
                    dt = np.matmul(dG, k).transpose(1, 0, 2)                 # (M, G, Cg)
                    _tap(dxp, a, b, sh, sw, dh, dw, Ho, Wo)[...] += dt.reshape(N, Ho, Wo, G * Cg)
    dbias = np.ones(M, dtype=dout.dtype) @ dout.reshape(M, F) if has_bias else None   # (F,)
    dx = _crop(dxp, pads, x_shape[1], x_shape[2]) if need_dx else None       # (N, H, W, C)
    return dx, dkernel, dbias


def conv2d_transpose_forward(x, kernel, bias, strides, out_size, crops, dilation=(1, 1)):
    """Vectorised twin of :func:`convlearn.ops.reference.conv2d_transpose_forward`.

    Tap (a, b) of every input cell lands on one strided slice of the full output:
    one matrix product ``x @ kernel[a, b].T`` added into that slice.
    """
    N, H, W, C = x.shape
    kh, kw, F, _ = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    reach = ((H - 1) * sh + (kh - 1) * dh + 1, (W - 1) * sw + (kw - 1) * dw + 1)
    full_shape = (N, max(reach[0], crops[0] + out_size[0]), max(reach[1], crops[1] + out_size[1]), F)
    full = np.zeros(full_shape, dtype=x.dtype)                               # (N, Hf, Wf, F)
    x2 = x.reshape(N * H * W, C)                                             # (N*H*W, C)
    for a in range(kh):
        for b in range(kw):
            _tap(full, a, b, sh, sw, dh, dw, H, W)[...] += (x2 @ kernel[a, b].T).reshape(N, H, W, F)
    (t, l), (Ho, Wo) = crops, out_size
    out = full[:, t:t + Ho, l:l + Wo, :]                                     # (N, Ho, Wo, F)
    out = out + bias if bias is not None else out.copy()
    return out, ConvTransposeCache(x, kernel, bias is not None, strides, dilation, crops, full_shape)


def conv2d_transpose_backward(dout, cache, need_dx=True):
    """Vectorised twin of :func:`convlearn.ops.reference.conv2d_transpose_backward`."""
    x, kernel, has_bias, (sh, sw), (dh, dw), (t, l), full_shape = cache
    N, H, W, C = x.shape
    kh, kw, F, _ = kernel.shape
    _, Ho, Wo, _ = dout.shape
    dfull = np.zeros(full_shape, dtype=dout.dtype)                           # (N, Hf, Wf, F)
    dfull[:, t:t + Ho, l:l + Wo, :] = dout
    x2 = x.reshape(N * H * W, C)                                             # (N*H*W, C)
    dx2 = np.zeros((N * H * W, C), dtype=dout.dtype) if need_dx else None    # (N*H*W, C)
    dkernel = np.empty_like(kernel)                                          # (kh, kw, F, C)
    for a in range(kh):
        for b in range(kw):
            g = _tap(dfull, a, b, sh, sw, dh, dw, H, W).reshape(N * H * W, F)  # (N*H*W, F)
            dkernel[a, b] = g.T @ x2                                         # (F, C)
            if need_dx:
                dx2 += g @ kernel[a, b]                                      # (N*H*W, C)
    dbias = np.ones(N * Ho * Wo, dtype=dout.dtype) @ dout.reshape(-1, F) if has_bias else None   # (F,)
    dx = dx2.reshape(N, H, W, C) if need_dx else None
    return dx, dkernel, dbias


def resize_matrix(n_in, n_out, interpolation, dtype):
    """The (n_out, n_in) matrix that resizes one axis: row ``o`` holds the weights output
    cell ``o`` gives the input cells (half-pixel centres; edges repeated for bilinear)."""
    o = np.arange(n_out, dtype=np.float64)
    m = np.zeros((n_out, n_in), dtype=np.float64)
    if interpolation == "nearest":
        src = np.minimum(np.floor((o + 0.5) * n_in / n_out).astype(np.int64), n_in - 1)
        m[np.arange(n_out), src] = 1.0
        return m.astype(dtype)
    src = np.clip((o + 0.5) * n_in / n_out - 0.5, 0.0, n_in - 1.0)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    np.add.at(m, (np.arange(n_out), i0), 1.0 - frac)
    np.add.at(m, (np.arange(n_out), i1), frac)
    return m.astype(dtype)


def resize_forward(x, size, interpolation="bilinear"):
    """Vectorised twin of :func:`convlearn.ops.reference.resize_forward`: one matrix
    product along the rows, then one along the columns."""
    N, H, W, C = x.shape
    Ho, Wo = size
    rows = resize_matrix(H, Ho, interpolation, x.dtype)                      # (Ho, H)
    cols = resize_matrix(W, Wo, interpolation, x.dtype)                      # (Wo, W)
    y = np.matmul(rows, x.reshape(N, H, W * C))                              # (N, Ho, W*C)
    y = np.matmul(cols, y.reshape(N * Ho, W, C))                             # (N*Ho, Wo, C)
    return y.reshape(N, Ho, Wo, C), ResizeCache(x.shape, interpolation)


def resize_backward(dout, cache):
    """Vectorised twin of :func:`convlearn.ops.reference.resize_backward`: the transposed matrices."""
    (N, H, W, C), interpolation = cache
    _, Ho, Wo, _ = dout.shape
    rows = resize_matrix(H, Ho, interpolation, dout.dtype)                   # (Ho, H)
    cols = resize_matrix(W, Wo, interpolation, dout.dtype)                   # (Wo, W)
    g = np.matmul(cols.T, dout.reshape(N * Ho, Wo, C))                       # (N*Ho, W, C)
    g = np.matmul(rows.T, g.reshape(N, Ho, W * C))                           # (N, H, W*C)
    return g.reshape(N, H, W, C)
