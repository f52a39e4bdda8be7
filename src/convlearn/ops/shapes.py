"""Output-size and padding arithmetic shared by convolution and pooling.

All arithmetic is integer arithmetic (``//``), never float division: the
output size of a window sliding over ``n`` positions is

    valid:  out = (n - k) // s + 1
    same:   out = ceil(n / s) = (n + s - 1) // s

and for ``same`` the total padding ``max((out - 1) * s + k - n, 0)`` is split
like Keras/TensorFlow do it: the smaller half before (top/left), the larger
half after (bottom/right).
"""

from __future__ import annotations

PADDINGS = ("valid", "same")


def conv_output_length(n: int, k: int, s: int, padding: str) -> int:
    """Length of the output of a window of size ``k`` and stride ``s`` over ``n``.

    Parameters
    ----------
    n : int
        Input length (height or width).
    k : int
        Window (kernel or pool) length.
    s : int
        Stride.
    padding : {"valid", "same"}

    Returns
    -------
    int
        The output length; 0 or less means the window does not fit.
    """
    if padding == "same":
        return (n + s - 1) // s
    return (n - k) // s + 1


def same_padding(n: int, k: int, s: int) -> tuple[int, int]:
    """Padding (before, after) that ``padding="same"`` adds along one axis."""
    out = (n + s - 1) // s
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def padding_amounts(n: int, k: int, s: int, padding: str) -> tuple[int, int]:
    """Padding (before, after) along one axis for ``padding`` in {"valid", "same"}."""
    if padding == "same":
        return same_padding(n, k, s)
    return 0, 0


def dilated_size(k: int, d: int) -> int:
    """Span of a kernel of ``k`` taps spaced ``d`` apart: ``(k - 1) * d + 1``."""
    return (k - 1) * d + 1


def conv_transpose_output_length(n: int, k: int, s: int, padding: str, output_padding=None, d: int = 1) -> int:
    """Length of a transposed convolution's output, by Keras's rules.

    With the dilated kernel span ``K = (k - 1) * d + 1``:

        valid:  (n - 1) * s + K + output_padding,  output_padding defaulting to max(K, s) - K
        same:   n * s                              without output_padding
                (n - 1) * s + K % 2 + output_padding   with it
    """
    span = dilated_size(k, d)
    if padding == "valid":
        extra = max(span, s) - span if output_padding is None else output_padding
        return (n - 1) * s + span + extra
    if output_padding is None:
        return n * s
    return (n - 1) * s + span % 2 + output_padding


def conv_transpose_crop(n: int, k: int, s: int, padding: str, output_padding=None, d: int = 1) -> int:
    """Cells dropped at the start (top or left) of a transposed convolution's full output.

    The full output has length ``(n - 1) * s + K``: every input cell ``i`` adds
    its kernel, scaled, at ``i * s, i * s + d, ...``. Keras keeps the cells from
    this offset on, for :func:`conv_transpose_output_length` cells (beyond the
    full output's end they are zeros). The offset is ``K - 1`` minus the padding
    TensorFlow puts before the dilated input, which is ``K - 1`` for ``valid``
    and for ``same`` half the total (the larger half), at most ``K - 1``.
    """
    span = dilated_size(k, d)
    if padding == "valid":
        return 0
    total = s + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, span - 1)
    return span - 1 - before
