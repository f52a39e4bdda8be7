"""The fast kernels called from several Python threads at once give the numbers of one
caller alone, bit for bit: whether a call's parts ran on the workers or one after the
other in its own thread (the workers busy with another caller) changes nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from convlearn.ops import fast, parallel
from thread_helpers import in_threads, workers_busy


@pytest.fixture
def two_threads():
    before = parallel.get_num_threads()
    parallel.set_num_threads(2)
    yield
    parallel.set_num_threads(before)


def _arrays(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for shape in shapes]


def _dense(N):
    def case(workspace):
        # (64 x 2000 x 64 multiply-adds: above the thresholds for splitting dense layers)
        x, kernel, bias, dout = _arrays(N, (N, 2000), (2000, 64), (64,), (N, 64))
        out, cache = fast.dense_forward(x, kernel, bias)
        dx, dkernel, dbias = fast.dense_backward(dout, cache)
        return out, dx, dkernel, dbias
    return case


def _conv(workspace):
    x, kernel, bias, dout = _arrays(1, (16, 16, 16, 8), (3, 3, 8, 16), (16,), (16, 14, 14, 16))
    out, cache = fast.conv2d_forward(x, kernel, bias, (1, 1), "valid")
    dx, dkernel, dbias = fast.conv2d_backward(dout, cache)
    return out, dx, dkernel, dbias


def _max_pool(workspace):
    x, dout = _arrays(2, (32, 28, 28, 8), (32, 14, 14, 8))
    out, cache = fast.pool2d_forward(x, (2, 2), (2, 2), "valid", "max")
    return out, fast.pool2d_backward(dout, cache)


def _conv_maxpool(channels, N, training=True):
    def case(workspace):
        H = 28 if channels == 1 else 14
        Ho2 = (H - 2) // 2
        x, kernel, bias, dout = _arrays(channels, (N, H, H, channels), (3, 3, channels, 16), (16,),
                                        (N, Ho2, Ho2, 16))
        out, cache = fast.conv2d_maxpool_forward(x, kernel, bias, (1, 1), "valid", (2, 2), True,
                                                 training=training, workspace=workspace)
        if not training:
            return (out.copy(),)
        return (out.copy(),) + tuple(fast.conv2d_maxpool_backward(dout, cache, True, workspace=workspace))
    return case


CASES = {
    "dense, column blocks": _dense(64),
    "dense, row blocks": _dense(300),
    "conv2d": _conv,
    "max pooling": _max_pool,
    "conv+pool, one channel": _conv_maxpool(1, 64),
    "conv+pool, im2col": _conv_maxpool(8, 32),
    "conv+pool, Winograd": _conv_maxpool(16, 32),
    "conv+pool, inference": _conv_maxpool(8, 32, training=False),
}


def _all_cases(workspaces):
    return {name: [np.array(a, copy=True) if a is not None else None for a in case(workspaces[name])]
            for name, case in CASES.items()}


def _same(got, expected):
    for name in expected:
        for a, b in zip(got[name], expected[name]):
            assert (a is None) == (b is None), name
            if a is not None:
                assert a.dtype == b.dtype and np.array_equal(a, b), f"{name}: not the same bits"


@pytest.fixture
def alone(two_threads, monkeypatch):
    """Every case run by one caller alone, with threads; each case checked to split its work."""
    split = set()
    run = parallel.run

    def counting(fn, parts):
        parts = list(parts)
        if len(parts) > 1:
            split.add(current[0])
        return run(fn, parts)

    current = [None]
    monkeypatch.setattr(parallel, "run", counting)
    expected = {}
    with parallel.active():
        for name, case in CASES.items():
            current[0] = name
            expected[name] = [None if a is None else np.array(a, copy=True) for a in case({})]
    monkeypatch.setattr(parallel, "run", run)
    assert split == set(CASES), f"too small to be split between threads: {sorted(set(CASES) - split)}"
    return expected


def test_kernels_in_several_threads_repeat_one_caller_bit_for_bit(alone):
    def caller():
        workspaces = {name: {} for name in CASES}          # buffers of this thread's own
        with parallel.active():
            assert parallel.threaded()
            for _ in range(3):
                _same(_all_cases(workspaces), alone)

    in_threads(*[caller] * 4)


def test_kernels_while_the_workers_are_busy_run_the_same_parts_in_the_callers_thread(alone, monkeypatch):
    ran_in = set()                                          # the threads that ran the kernels' parts
    run = parallel.run

    def recording(fn, parts):
        def part(*args):
            ran_in.add(threading.current_thread().name)
            return fn(*args)
        return run(part, parts)

    def caller():
        with parallel.active():
            assert parallel.threaded()
            _same(_all_cases({name: {} for name in CASES}), alone)

    monkeypatch.setattr(parallel, "run", recording)
    with workers_busy():
        in_threads(caller, caller)
    assert ran_in == {"test-caller-0", "test-caller-1"}
