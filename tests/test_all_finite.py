"""convlearn._checks.all_finite: the finiteness check of user data, without an array-sized mask."""

import tracemalloc

import numpy as np
import pytest

from convlearn import _checks
from convlearn._checks import all_finite

PIECE = _checks._FINITE_PIECE


def layouts(a):
    """The same values as C-ordered, Fortran-ordered and strided (non-contiguous) arrays."""
    strided = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)[..., ::2]
    strided[...] = a
    assert not strided.flags.c_contiguous and not strided.flags.f_contiguous
    return {"C": np.ascontiguousarray(a), "F": np.asfortranarray(a), "strided": strided}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_finite_arrays_pass(dtype):
    a = np.random.default_rng(0).standard_normal((3, 5, 7)).astype(dtype)
    for name, v in layouts(a).items():
        assert all_finite(v), name


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0, 0), (1, 2, 3), (2, 4, 6)])
def test_one_bad_value_anywhere_is_found(bad, where):
    a = np.random.default_rng(1).standard_normal((3, 5, 7)).astype(np.float32)
    a[where] = bad
    for name, v in layouts(a).items():
        assert not all_finite(v), name


@pytest.mark.parametrize("index", [PIECE - 1, PIECE, PIECE + 1, 2 * PIECE + 5])
def test_bad_values_at_the_edges_of_the_pieces(index):
    a = np.ones(2 * PIECE + 10, dtype=np.float32)
    a[index] = np.nan
    assert not all_finite(a)
    a[index] = 1
    assert all_finite(a)


def test_an_empty_array_is_finite():
    assert all_finite(np.zeros((0, 3), dtype=np.float32))


@pytest.mark.parametrize("layout", ["C", "strided"])
def test_no_array_sized_mask_is_allocated(layout):
    a = np.ones((16, 1024, 1024), dtype=np.float32)        # 64 MiB; its boolean mask would be 16 MiB
    v = a if layout == "C" else a[:, :, ::2]
    tracemalloc.start()
    try:
        assert all_finite(v)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"peak {peak} bytes"
