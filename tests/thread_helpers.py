"""Running test code in several Python threads at once, bounded in time."""

from __future__ import annotations

import contextlib
import threading
import time

from convlearn.ops import parallel

JOIN_TIMEOUT = 60.0   # seconds: far more than any test needs; a deadlock fails instead of hanging


def in_threads(*targets, timeout=JOIN_TIMEOUT):
    """Call every target in a thread of its own, all released together; return their results.

    Every thread is joined with a deadline: one still running then fails the test (a
    deadlock). The first exception of any target is raised here.
    """
    results = [None] * len(targets)
    errors = []
    start = threading.Barrier(len(targets))

    def body(i, target):
        try:
            start.wait(timeout)
            results[i] = target()
        except BaseException as exc:  # handed to the test below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i, t), name=f"test-caller-{i}", daemon=True)
               for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [thread.name for thread in threads if thread.is_alive()]
    assert not stuck, f"still running after {timeout:.0f} s (a deadlock?): {stuck}"
    if errors:
        raise errors[0]
    return results


def worker_threads():
    """convlearn's worker threads alive now."""
    return [t for t in threading.enumerate() if t.name == "convlearn-worker" and t.is_alive()]


@contextlib.contextmanager
def workers_busy():
    """For the block, convlearn's workers are held by a background job of this thread
    (which waits for the end of the block): other callers find them busy."""
    started, release = threading.Event(), threading.Event()

    def job():
        started.set()
        assert release.wait(JOIN_TIMEOUT)

    with parallel.active():
        wait = parallel.in_background(job)
        assert started.wait(JOIN_TIMEOUT)
        try:
            yield
        finally:
            release.set()
            wait()
