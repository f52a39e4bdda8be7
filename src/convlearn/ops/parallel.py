"""Using every core: run independent slices of one operation in threads.

NumPy releases the interpreter lock inside its array loops and BLAS calls, so
Python threads working on disjoint slices of the same arrays run truly in
parallel. The fast kernels split their work into ``num_threads()`` slices
(by rows, by samples or by weight blocks), always the same way for the same
shapes, so results do not depend on timing.

:func:`in_background` hands one whole job (the training step uses it for the
optimizer update of a big layer) to a worker while the caller goes on alone.

While convlearn runs its own threads, BLAS is asked to run single-threaded
(:func:`blas_single_threaded`), otherwise the two kinds of threads would fight
over the same cores.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from . import blas

_state = {"threads": None, "pool": None}
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
            _state["pool"].close()
            _state["pool"] = None


class _Worker:
    """A thread that runs one job at a time, handed over with two plain locks.

    A lock hand-over costs tens of microseconds, several times less than a
    ``concurrent.futures`` pool, which matters for jobs of a few hundred
    microseconds like one layer of one training step. (Spinning instead of
    sleeping between jobs made hand-overs faster but training slower: the
    spinning thread competes for the interpreter lock.)
    """

    def __init__(self):
        self._go = threading.Lock()
        self._done = threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._job = None
        self._error = None
        self._thread = threading.Thread(target=self._loop, name="convlearn-worker", daemon=True)
        self._thread.start()

    def _loop(self):
        while True:
            self._go.acquire()
            job = self._job
            if job is None:
                return
            try:
                job[0](*job[1])
            except BaseException as exc:  # handed back to the caller in wait()
                self._error = exc
            self._done.release()

    def start(self, fn, args):
        self._job, self._error = (fn, args), None
        self._go.release()

    def wait(self):
        self._done.acquire()
        self._job = None
        return self._error

    def stop(self):
        self._job = None
        self._go.release()


class _Pool:
    def __init__(self, size):
        self.workers = [_Worker() for _ in range(size)]

    def close(self):
        for worker in self.workers:
            worker.stop()


def _pool():
    with _lock:
        if _state["pool"] is None:
            _state["pool"] = _Pool(max(1, get_num_threads() - 1))
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
    workers = _pool().workers
    if len(parts) - 1 > len(workers):
        raise ValueError(f"run: {len(parts)} parts for {len(workers) + 1} threads; use ranges() to split.")
    for worker, part in zip(workers, parts[1:]):
        worker.start(fn, part)
    error = None
    try:
        fn(*parts[0])
    except BaseException as exc:  # still wait for the others before raising
        error = exc
    for worker in workers[:len(parts) - 1]:
        error = error or worker.wait()
    if error is not None:
        raise error


def in_background(fn, *args):
    """Start ``fn(*args)`` in a worker thread and return a function that waits for it.

    Until the wait function is called, :func:`threaded` is False: the caller's
    own kernels run in its thread alone and leave the worker to ``fn``. The
    wait function re-raises any exception of ``fn``. Without a worker (one
    thread), ``fn`` runs at once, in the calling thread.
    """
    if not threaded():
        fn(*args)
        return lambda: None
    worker = _pool().workers[0]
    errors = np.geterr()

    def job():
        with np.errstate(**errors):      # the caller's floating-point error handling
            fn(*args)

    outcome = {}
    worker.start(job, ())
    _state["background"] = (worker, outcome)

    def wait():
        if _state.get("background") is not None and _state["background"][1] is outcome:
            outcome["error"] = worker.wait()
            _state["background"] = None
        if outcome["error"] is not None:
            raise outcome["error"]

    return wait


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
    return blas.thread_controls()


def can_control_blas():
    """Whether convlearn found the BLAS library's thread setting (OpenBLAS)."""
    return _blas_controls() is not None


@contextlib.contextmanager
def blas_single_threaded():
    """Inside the block, BLAS runs in the calling thread only (restored afterwards).

    Does nothing when the BLAS library is not OpenBLAS.
    """
    controls = _blas_controls()
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
    if not _state.get("active", False) or get_num_threads() == 1:
        return False
    # While a job of in_background() is pending (even if it has finished: whether it has
    # is a matter of timing, and the kernels must split their work the same way every
    # run, for results that repeat bit for bit), the caller's kernels keep to one thread.
    return _state.get("background") is None


@contextlib.contextmanager
def active():
    """convlearn's threads on, BLAS single-threaded, for the block.

    OpenBLAS's own threads wait for each other by spinning; on a busy machine
    (or inside convlearn's threads) that can make one small matrix product
    take a hundred times longer. convlearn's threads wait on locks instead.
    Where the BLAS library is not OpenBLAS, convlearn leaves its threading
    alone and runs its own kernels in one thread.
    """
    if _state.get("active") or not can_control_blas():
        yield
        return
    with blas_single_threaded():
        _state["active"] = True
        try:
            yield
        finally:
            _state["active"] = False
