"""Using every core: run independent slices of one operation in threads.

NumPy releases the interpreter lock inside its array loops and BLAS calls, so
Python threads working on disjoint slices of the same arrays run truly in
parallel. The fast kernels split their work into ``num_threads()`` slices
(by rows, by samples or by weight blocks), always the same way for the same
shapes, so results do not depend on timing.

While convlearn runs its own threads, BLAS is asked to run single-threaded
(:func:`blas_single_threaded`), otherwise the two kinds of threads would fight
over the same cores.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading

_state = {"threads": None, "pool": None, "blas": None}
_lock = threading.Lock()


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def get_num_threads():
    """Number of threads the fast kernels use (default: the cores this process may use)."""
    if _state["threads"] is None:
        _state["threads"] = max(1, _cpu_count())
    return _state["threads"]


def set_num_threads(n):
    """Use ``n`` threads in the fast kernels (1 turns convlearn's own threading off).

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer; got {n!r}.")
    with _lock:
        _state["threads"] = n
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
            _state["pool"] = None


def _pool():
    with _lock:
        if _state["pool"] is None:
            from concurrent.futures import ThreadPoolExecutor  # imported on first use: keeps `import convlearn` fast

            _state["pool"] = ThreadPoolExecutor(max_workers=max(1, get_num_threads() - 1),
                                                thread_name_prefix="convlearn")
        return _state["pool"]


def run(fn, parts):
    """Call ``fn(*part)`` for every part, in parallel; the first part runs in this thread.

    Exceptions from any part are raised here once all parts have finished.
    """
    parts = list(parts)
    if len(parts) <= 1 or get_num_threads() == 1:
        for part in parts:
            fn(*part)
        return
    futures = [_pool().submit(fn, *part) for part in parts[1:]]
    error = None
    try:
        fn(*parts[0])
    except BaseException as exc:  # still wait for the others before raising
        error = exc
    for f in futures:
        try:
            f.result()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error


def ranges(n, parts=None, minimum=1):
    """Split ``range(n)`` into up to ``parts`` contiguous (start, stop) pieces of at least ``minimum``."""
    parts = get_num_threads() if parts is None else parts
    parts = max(1, min(parts, n // max(1, minimum)))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts) if bounds[i + 1] > bounds[i]]


# ---------------------------------------------------------------------------
# BLAS threads
# ---------------------------------------------------------------------------

def _blas_controls():
    """(get, set) functions of the OpenBLAS that NumPy loaded, or None if not found."""
    if _state["blas"] is None:
        _state["blas"] = False
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
                for prefix in ("scipy_openblas", "openblas"):
                    getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                    setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                    if getter is not None and setter is not None:
                        getter.restype = ctypes.c_int
                        setter.argtypes = [ctypes.c_int]
                        _state["blas"] = (getter, setter)
                        return _state["blas"]
    return _state["blas"] or None


def can_control_blas():
    """Whether convlearn found the BLAS library's thread setting (OpenBLAS)."""
    return _blas_controls() is not None


@contextlib.contextmanager
def blas_single_threaded():
    """Inside the block, BLAS runs in the calling thread only (restored afterwards).

    Does nothing when the BLAS library is not OpenBLAS or convlearn uses one thread.
    """
    controls = _blas_controls() if get_num_threads() > 1 else None
    if controls is None:
        yield
        return
    getter, setter = controls
    previous = getter()
    setter(1)
    try:
        yield
    finally:
        setter(previous)


def threaded():
    """Whether the fast kernels should split their work across threads now."""
    return get_num_threads() > 1 and _state.get("active", False)


@contextlib.contextmanager
def active():
    """Turn on convlearn's threading (and single-threaded BLAS) for the block."""
    if _state.get("active") or get_num_threads() == 1 or not can_control_blas():
        yield
        return
    with blas_single_threaded():
        _state["active"] = True
        try:
            yield
        finally:
            _state["active"] = False
