"""Winograd's minimal filtering F(2x2, 3x3): a 3x3 convolution with 2.25x fewer multiplies.

A 3x3 filter slid over a 4x4 tile of the input gives a 2x2 tile of the output:
4 positions x 9 taps = 36 multiplies per input and output channel. Winograd's
algorithm (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
2015) gets the same 2x2 tile with 16 multiplies, after adding and subtracting
input values in a fixed pattern (the "input transform") and before doing the
same to the products (the "output transform")::

    Y = A^T [ (G g G^T) * (B^T d B) ] A          d: 4x4 input tile, g: 3x3 filter
                                                 *: element-wise, Y: 2x2 output

The transforms use only +, - and halves, so in exact arithmetic the result
equals the direct sum; in float32 it differs from it by rounding only (a few
units in the last place).

Why it fits this library: the output tiles are 2x2, exactly the windows of a
2x2 max pooling. The fused convolution + pooling kernel
(:func:`convlearn.ops.fast.conv2d_maxpool_forward`) then gets its four window
cells from each tile, and the 16 element-wise products become 16 matrix
products over the channels, ``(tiles, C) @ (C, F)``, which BLAS runs fast.
The training step needs the same two transforms backwards:

* kernel gradient: ``dU = V^T dM`` for each of the 16 slots, then ``G^T dU G``;
* input gradient: ``dV = dM U^T``, then ``B dV B^T`` added back onto the
  (overlapping) 4x4 input tiles.

Everything here works on arrays of 16 "slots" (the 4x4 transformed
positions), each a matrix with one row per tile. The signs of the matrices
are chosen (row 4 of ``B^T`` and column 4 of ``A^T`` negated against the
paper's, which cancels out) so that no slot ever needs negating.
"""

from __future__ import annotations

import numpy as np

# The three matrices of F(2x2, 3x3), with the sign convention described above.
BT = np.array([[1, 0, -1, 0],
               [0, 1, 1, 0],
               [0, -1, 1, 0],
               [0, -1, 0, 1]], dtype=np.float64)                 # (4, 4) input transform
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)                       # (4, 3) filter transform
AT = np.array([[1, 1, 1, 0],
               [0, 1, -1, 1]], dtype=np.float64)                  # (2, 4) output transform

# The slots (of 16, row-major over the 4x4 transformed tile) where the output
# transform leaves the 2x2 output cells, in reading order, and where the
# backward pass puts the cells' gradients before transforming them.
CELL_SLOTS = (0, 3, 12, 15)


def applies(kernel_shape, strides, pool_size):
    """Whether the fused kernel can use F(2x2, 3x3): a 3x3 filter, stride 1, 2x2 pooling."""
    return tuple(kernel_shape[:2]) == (3, 3) and tuple(strides) == (1, 1) and tuple(pool_size) == (2, 2)


def _both_sides(m, mat):
    """``out[a, b, ...] = sum_ij mat[a, i] * m[i, j, ...] * mat[b, j]``: (k, k, C, F) -> (r, r, C, F).

    Two matrix products over the first two axes (an ``einsum`` of the same is 20x slower).
    """
    k, r = m.shape[0], mat.shape[0]
    rest = m.shape[2:]
    rows = np.matmul(mat, m.reshape(k, -1)).reshape(r, k, -1)        # (r, k, C*F): first axis done
    return np.matmul(mat, rows).reshape((r, r) + rest)                # mat @ each (k, C*F) slab: second axis


def transform_kernel(kernel):
    """``U = G g G^T`` for every input and output channel: (3, 3, C, F) -> (16, C, F)."""
    C, F = kernel.shape[2:]
    return _both_sides(kernel, G.astype(kernel.dtype)).reshape(16, C, F)


def kernel_gradient(dU):
    """Gradient of the filter from that of its transform: ``G^T dU G``, (16, C, F) -> (3, 3, C, F)."""
    C, F = dU.shape[1:]
    return _both_sides(dU.reshape(4, 4, C, F), G.T.astype(dU.dtype))


def _grid(slots):
    """The 16 slots (16, ...) as a 4x4 grid (4, 4, ...): a view, so that one NumPy call
    can work on a whole row or column of slots."""
    return slots.reshape((4, 4) + slots.shape[1:])


def transform_input(xp, rows, Ho2, Wo2, out, scratch):
    """``V = B^T d B`` for every 4x4 tile (at stride 2) of samples ``rows`` of ``xp``.

    xp : (N, Hp, Wp, C) padded input; tile (i, j) covers rows 2i..2i+3, columns 2j..2j+3
    out : (16, n, Ho2, Wo2, C) the transformed tiles (n = len(rows)), one slot per transformed position
    scratch : (4, n, Ho2, 2*Wo2+2, C) for the row stage
    """
    n0, n1 = rows
    x = xp[n0:n1]
    w = 2 * Wo2 + 2
    # Row stage, on whole image rows: T[k] = sum_r BT[k, r] * (input row 2i+r of every tile row i)
    r = [x[:, k:k + 2 * Ho2 - 1:2, :w] for k in range(4)]           # 4 x (n, Ho2, w, C)
    np.subtract(r[0], r[2], out=scratch[0])
    np.add(r[1], r[2], out=scratch[1])
    np.subtract(r[2], r[1], out=scratch[2])
    np.subtract(r[3], r[1], out=scratch[3])
    # Column stage, the same combination of the columns 2j+s of every tile column j,
    # for the four rows of slots at once
    c = [scratch[:, :, :, s:s + 2 * Wo2 - 1:2] for s in range(4)]    # 4 x (4, n, Ho2, Wo2, C)
    v = _grid(out)                                                   # (4, 4, n, Ho2, Wo2, C)
    np.subtract(c[0], c[2], out=v[:, 0])
    np.add(c[1], c[2], out=v[:, 1])
    np.subtract(c[2], c[1], out=v[:, 2])
    np.subtract(c[3], c[1], out=v[:, 3])


def cell_grid(m):
    """The slots ``CELL_SLOTS`` of ``m`` (16, rows, F) as a (2, 2, rows, F) view: the
    output cells in window order, where the backward pass puts their gradients."""
    return _grid(m)[::3, ::3]


def output_cells(m):
    """``Y = A^T M A`` in place on the 16 product slots ``m`` (16, rows, F).

    Returns the four output cells (top-left, top-right, bottom-left,
    bottom-right), views of slots ``CELL_SLOTS`` of ``m``.
    """
    s = _grid(m)
    s[0] += s[1]                          # rows of slots: row 0 <- M0 + M1 + M2,
    s[0] += s[2]
    s[3] += s[1]                          # row 3 <- M1 - M2 + M3
    s[3] -= s[2]
    e = s[::3]                            # the two rows left, (2, 4, rows, F): columns, the same
    e[:, 0] += e[:, 1]
    e[:, 0] += e[:, 2]
    e[:, 3] += e[:, 1]
    e[:, 3] -= e[:, 2]
    return [m[k] for k in CELL_SLOTS]


def gradient_slots(m):
    """``dM = A dY A^T`` in place: slots ``CELL_SLOTS`` of ``m`` (16, rows, F) hold
    the four cells' gradients on entry, all 16 slots hold ``dM`` on return."""
    s = _grid(m)
    e = s[:, ::3]                         # columns 0 and 3 of slots, (4, 2, rows, F)
    np.add(e[0], e[3], out=e[1])          # rows: A = [[1, 0], [1, 1], [1, -1], [0, 1]]
    np.subtract(e[0], e[3], out=e[2])
    np.add(s[:, 0], s[:, 3], out=s[:, 1])          # columns, the same, on every row
    np.subtract(s[:, 0], s[:, 3], out=s[:, 2])


def add_input_gradient(dv, dxp, rows, Ho2, Wo2, scratch):
    """Add ``B dV B^T`` of every tile onto its 4x4 window of ``dxp`` (tiles overlap by 2).

    dv : (16, n, Ho2, Wo2, C) gradient of the transformed tiles (overwritten)
    dxp : (N, Hp, Wp, C) gradient of the padded input; samples ``rows`` get added to
    scratch : (4, n, Ho2, Wo2, C)
    """
    n0, n1 = rows
    n, C = dv.shape[1], dv.shape[-1]
    s = _grid(dv)                                                    # (4, 4, n, Ho2, Wo2, C)

    def combine(q0, q1, q2, q3):
        # (q0, q1, q2, q3) <- (q0, q1 - q2 - q3, q1 + q2 - q0, q3): the columns of BT
        np.subtract(q1, q2, out=scratch)
        q2 += q1
        q2 -= q0
        np.subtract(scratch, q3, out=q1)

    combine(s[0], s[1], s[2], s[3])                                  # rows of slots, all columns at once
    combine(s[:, 0], s[:, 1], s[:, 2], s[:, 3])                      # columns, all rows at once
    # Position (r, c) of tile (i, j) lands on pixel (2i + r, 2j + c). For r and c both in
    # {0, 1} (or both in {2, 3}, ...) the pixels of all tiles are distinct, so one call
    # adds a 2x2 block of positions: four calls in all.
    target = dxp[n0:n1]
    for r in (0, 2):
        for c in (0, 2):
            window = target[:, r:r + 2 * Ho2, c:c + 2 * Wo2].reshape(n, Ho2, 2, Wo2, 2, C)
            window += s[r:r + 2, c:c + 2].transpose(2, 3, 0, 4, 1, 5)   # (n, Ho2, 2, Wo2, 2, C)
