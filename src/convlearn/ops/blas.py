"""Two functions of NumPy's own OpenBLAS that NumPy does not expose, found at run time.

NumPy's wheels ship OpenBLAS. convlearn reaches two of its functions through
:mod:`ctypes`:

- its thread setting, so that convlearn's threads and BLAS's do not fight over
  the cores (:func:`convlearn.ops.parallel.blas_single_threaded`);
- ``cblas_somatcopy`` / ``cblas_domatcopy``, a matrix transpose done in small
  blocks that stay in the cache: 4-5x faster than NumPy's copy of a transposed
  array, which reads one number per cache line (:func:`transpose_into`).

Where NumPy uses another BLAS, or the functions are missing, the thread setting
is left alone and :func:`transpose_into` is a plain NumPy copy.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

_found = {}
_finding = threading.Lock()   # one thread looks for the library; the others wait for its answer

# CBLAS's constants for row-major order and a transposed matrix
_ROW_MAJOR, _TRANSPOSE = 101, 112


def _library():
    """The functions of the OpenBLAS loaded in this process (a dict, empty if none)."""
    functions = _found.get("functions")
    if functions is None:
        with _finding:
            functions = _found.get("functions")
            if functions is None:
                # published only once complete: a thread must never see a half-made answer
                functions = _found["functions"] = _search()
    return functions


def _search():
    """Look for OpenBLAS in the libraries this process has loaded (see :func:`_library`)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        paths = set()
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for suffix in ("", "64_", "_64"):
            for prefix in ("scipy_", ""):
                getter = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                setter = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
                if getter is None or setter is None:
                    continue
                getter.restype = ctypes.c_int
                setter.argtypes = [ctypes.c_int]
                functions = {"get_num_threads": getter, "set_num_threads": setter}
                # BLAS integers are 64-bit in the ILP64 builds (the "64_" names)
                index = ctypes.c_int64 if suffix else ctypes.c_int
                for code, dtype, scalar in (("s", np.float32, ctypes.c_float), ("d", np.float64, ctypes.c_double)):
                    copy = getattr(lib, f"{prefix}cblas_{code}omatcopy{suffix}", None)
                    if copy is not None:
                        copy.restype = None
                        copy.argtypes = [ctypes.c_int, ctypes.c_int, index, index, scalar,
                                         ctypes.c_void_p, index, ctypes.c_void_p, index]
                        functions[np.dtype(dtype)] = copy
                return functions
    return {}


def thread_controls():
    """``(get, set)`` functions of OpenBLAS's thread count, or None if not found."""
    functions = _library()
    if "get_num_threads" not in functions:
        return None
    return functions["get_num_threads"], functions["set_num_threads"]


def transpose_into(a, out):
    """``out[...] = a.T`` for a C-contiguous matrix ``a`` (R, C) and ``out`` (C, R).

    Uses OpenBLAS's blocked transpose for float32 and float64 when NumPy's BLAS
    has one, else NumPy's copy. Returns ``out``.
    """
    copy = _library().get(a.dtype)
    if (copy is None or a.ndim != 2 or out.dtype != a.dtype or out.shape != a.shape[::-1]
            or not a.flags.c_contiguous or not out.flags.c_contiguous or a.size == 0):
        np.copyto(out, a.T)
        return out
    rows, cols = a.shape
    copy(_ROW_MAJOR, _TRANSPOSE, rows, cols, 1.0, a.ctypes.data, cols, out.ctypes.data, rows)
    return out
