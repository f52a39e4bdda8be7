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
