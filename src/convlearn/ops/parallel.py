"""Using every core: run independent slices of one operation in threads.

NumPy releases the interpreter lock inside its array loops and BLAS calls, so
Python threads working on disjoint slices of the same arrays run truly in
parallel. The fast kernels split their work into ``get_num_threads()`` slices
(by rows, by samples or by weight blocks), always the same way for the same
shapes, so results do not depend on timing.

:func:`in_background` hands one whole job (the training step uses it for the
optimizer update of a big layer) to a worker while the caller goes on alone.

While convlearn runs its own threads, BLAS is asked to run single-threaded
(:func:`blas_single_threaded`), otherwise the two kinds of threads would fight
over the same cores.

Several Python threads may use convlearn at once:

- whether threading is on (:func:`active`) and whether a background job is
  pending belong to the calling thread: one thread's setting never changes how
  another thread's kernels split their work;
- the worker threads serve one caller at a time. A caller that finds them busy
  does not wait: it runs the same parts one after the other in its own thread.
  The parts are the same either way, and the kernels add up their partial
  results in a fixed order, so the numbers are the same bit for bit: they
  depend on the thread count setting, never on timing or on other callers.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from . import blas

# Process-wide: the thread count and the current pool of workers. ``_lock`` guards
# them and every pool's ``busy`` and ``retired`` flags.
_settings = {"threads": None, "pool": None}
_lock = threading.Lock()


class _CallerState:
    """What belongs to one calling thread."""

    __slots__ = ("active", "background")

    def __init__(self):
        self.active = False         # inside active(): the kernels may split their work
        self.background = None      # the pending job of in_background(), or None


class _PerThread(threading.local):
    def __init__(self):
        self.state = _CallerState()


_local = _PerThread()


def _cpu_count():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def get_num_threads():
    """Number of threads the fast kernels use (default: the cores this process may use)."""
    threads = _settings["threads"]
    if threads is None:
        threads = _settings["threads"] = max(1, _cpu_count())
    return threads


def set_num_threads(n):
    """Use ``n`` threads in the fast kernels (1 turns convlearn's own threading off).

    Callers running at that moment finish with the workers they have; the
    workers of the new count serve later calls.

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads expects a positive integer; got {n!r}.")
    with _lock:
        _settings["threads"] = n
        old, _settings["pool"] = _settings["pool"], None
        if old is not None and old.busy:
            old.retired = True          # its caller closes it when done with it
            old = None
    if old is not None:
        old.close()


class _Worker:
    """A thread that runs one job at a time, handed over with two plain locks.

    A lock hand-over costs tens of microseconds, several times less than a
    ``concurrent.futures`` pool, which matters for jobs of a few hundred
    microseconds like one layer of one training step. (Spinning instead of
    sleeping between jobs made hand-overs faster but training slower: the
    spinning thread competes for the interpreter lock.) Only the caller that
    holds the worker's pool calls :meth:`start` and :meth:`wait`.
    """

    def __init__(self):
        self._go = threading.Lock()
        self._done = threading.Lock()
        self._go.acquire()
        self._done.acquire()
        self._job = None
        self._error = None
        self.thread = threading.Thread(target=self._loop, name="convlearn-worker", daemon=True)
        self.thread.start()

    def _loop(self):
        errors = np.geterr()
        while True:
            self._go.acquire()
            job = self._job
            if job is None:
                return
            fn, parts, wanted = job
            try:
                if wanted != errors:    # the caller's floating-point error handling
                    np.seterr(**wanted)
                    errors = wanted
                for part in parts:
                    fn(*part)
            except BaseException as exc:  # handed back to the caller in wait()
                self._error = exc
            self._done.release()

    def start(self, fn, parts, errors):
        """Run ``fn(*part)`` for each of ``parts``, in order, with NumPy's ``errors`` settings."""
        self._job, self._error = (fn, parts, errors), None
        self._go.release()

    def wait(self):
        """Wait for the job to end; return its exception or None."""
        self._done.acquire()
        self._job = None
        return self._error

    def stop(self):
        """End the thread once its current job (if any) has ended."""
        self._job = None
        self._go.release()


class _Pool:
    """Worker threads that serve one caller at a time."""

    def __init__(self, size):
        self.workers = [_Worker() for _ in range(size)]
        self.busy = False       # a caller holds the workers
        self.retired = False    # replaced by set_num_threads: closed when given back

    def close(self):
        for worker in self.workers:
            worker.stop()


def _take_pool():
    """The workers, now held by this caller, or None while another caller holds them."""
    with _lock:
        pool = _settings["pool"]
        if pool is None:
            pool = _settings["pool"] = _Pool(max(1, get_num_threads() - 1))
        if pool.busy:
            return None
        pool.busy = True
        return pool


def _give_back(pool, healthy=True):
    """Free the workers for the next caller; close them if retired or possibly still running
    (``healthy`` False: the caller was interrupted before every job had ended)."""
    with _lock:
        if pool.retired or not healthy:
            if _settings["pool"] is pool:
                _settings["pool"] = None
            close = True
        else:
            pool.busy = close = False
    if close:
        pool.close()


def run(fn, parts):
    """Call ``fn(*part)`` for every part, in parallel; the first part runs in this thread.

    With more parts than threads, each thread takes every ``get_num_threads()``-th
    part. While another caller holds the worker threads, every part runs here,
    in order. Every part runs with the caller's floating-point error handling
    (``np.errstate``). Exceptions from any part are raised here once all parts
    have finished.
    """
    parts = list(parts)
    if len(parts) <= 1 or get_num_threads() == 1:
        for part in parts:
            fn(*part)
        return
    pool = _take_pool()
    if pool is None:                    # the same parts, one after the other
        for part in parts:
            fn(*part)
        return
    error, healthy = None, False
    try:
        step = len(pool.workers) + 1
        errors = np.geterr()
        started = pool.workers[:len(parts) - 1]
        for k, worker in enumerate(started):
            worker.start(fn, parts[k + 1::step], errors)
        try:
            for part in parts[::step]:
                fn(*part)
        except BaseException as exc:  # still wait for the others before raising
            error = exc
        for worker in started:
            failure = worker.wait()         # every worker, even after an error
            error = error or failure
        healthy = True
    finally:
        _give_back(pool, healthy)
    if error is not None:
        raise error


class _Background:
    """A job of :func:`in_background`: on a worker, or, when the workers were busy,
    run by :meth:`wait` in the waiting thread."""

    def __init__(self, state, fn, args):
        self.state, self.fn, self.args = state, fn, args
        self.errors = np.geterr()
        self.error = None
        self.finished = False
        self.lock = threading.Lock()
        self.pool = _take_pool()
        state.background = self
        if self.pool is not None:
            self.pool.workers[0].start(fn, (args,), self.errors)

    def wait(self):
        with self.lock:
            if not self.finished:
                try:
                    if self.pool is not None:
                        healthy = False
                        try:
                            self.error = self.pool.workers[0].wait()
                            healthy = True
                        finally:
                            _give_back(self.pool, healthy)
                    else:
                        self.error = _run_as_worker(self.fn, self.args, self.errors)
                finally:
                    self.finished = True
                    self.fn = self.args = None
                    if self.state.background is self:
                        self.state.background = None
        if self.error is not None:
            raise self.error


def _run_as_worker(fn, args, errors):
    """``fn(*args)`` in this thread as a worker would run it (threading off, NumPy's
    ``errors`` settings); returns its exception or None."""
    state = _local.state
    saved = state.active, state.background
    state.active, state.background = False, None
    try:
        with np.errstate(**errors):
            fn(*args)
    except BaseException as exc:  # re-raised by every call of the wait function
        return exc
    finally:
        state.active, state.background = saved
    return None


def _nothing_to_wait_for():
    return None


def in_background(fn, *args):
    """Start ``fn(*args)`` in a worker thread and return a function that waits for it.

    Until the wait function is called, :func:`threaded` is False in the calling
    thread: its own kernels run in its thread alone and leave the worker to
    ``fn``, which keeps the worker threads until then. The wait function
    re-raises any exception of ``fn``. ``fn`` itself runs with threading off,
    with the caller's floating-point error handling.

    Without a worker (one thread, threading off, or a job of this caller still
    pending), ``fn`` runs at once, in the calling thread. While another caller
    holds the workers, ``fn`` runs in the calling thread when the wait function
    is called.
    """
    if not threaded():
        fn(*args)
        return _nothing_to_wait_for
    return _Background(_local.state, fn, args).wait


def ranges(n, parts=None, minimum=1):
    """Split ``range(n)`` into up to ``parts`` contiguous (start, stop) pieces of at least ``minimum``."""
    parts = get_num_threads() if parts is None else parts
    parts = max(1, min(parts, n // max(1, minimum)))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(parts) if bounds[i + 1] > bounds[i]]


def threaded():
    """Whether the fast kernels should split their work across threads now (in this thread)."""
    state = _local.state
    # While a job of in_background() is pending (even if it has finished: whether it has
    # is a matter of timing, and the kernels must split their work the same way every
    # run, for results that repeat bit for bit), the caller's kernels keep to one thread.
    return state.active and state.background is None and get_num_threads() > 1


@contextlib.contextmanager
def active():
    """convlearn's threads on, BLAS single-threaded, for the block (in this thread).

    OpenBLAS's own threads wait for each other by spinning; on a busy machine
    (or inside convlearn's threads) that can make one small matrix product
    take a hundred times longer. convlearn's threads wait on locks instead.
    Where the BLAS library is not OpenBLAS, convlearn leaves its threading
    alone and runs its own kernels in one thread.
    """
    state = _local.state
    if state.active or not can_control_blas():
        yield
        return
    with blas_single_threaded():
        state.active = True
        try:
            yield
        finally:
            state.active = False


# ---------------------------------------------------------------------------
# BLAS threads
# ---------------------------------------------------------------------------

# How many callers are inside blas_single_threaded(), and BLAS's thread count before
# the first of them came in (restored when the last one leaves).
_blas = {"users": 0, "saved": None}
_blas_lock = threading.Lock()


def _blas_controls():
    """(get, set) functions of the OpenBLAS that NumPy loaded, or None if not found."""
    return blas.thread_controls()


def can_control_blas():
    """Whether convlearn found the BLAS library's thread setting (OpenBLAS)."""
    return _blas_controls() is not None


@contextlib.contextmanager
def blas_single_threaded():
    """Inside the block, BLAS runs in the calling thread only (restored afterwards).

    BLAS's thread count is one setting for the whole process: it stays 1 while
    any thread is inside such a block, and goes back to what it was when the
    last one leaves. Does nothing when the BLAS library is not OpenBLAS.
    """
    controls = _blas_controls()
    if controls is None:
        yield
        return
    getter, setter = controls
    with _blas_lock:
        if _blas["users"] == 0:
            _blas["saved"] = getter()
            setter(1)
        _blas["users"] += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas["users"] -= 1
            if _blas["users"] == 0:
                setter(_blas["saved"])
