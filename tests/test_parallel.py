"""convlearn's own threading: same numbers with one thread or several, clear errors."""

import threading
import time

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers
from convlearn.engine import schedule
from convlearn.ops import parallel
from thread_helpers import JOIN_TIMEOUT, in_threads, worker_threads, workers_busy


@pytest.fixture
def restore_threads():
    before = parallel.get_num_threads()
    yield
    parallel.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_rejects_non_positive_integers(bad, restore_threads):
    with pytest.raises(ValueError, match="positive integer"):
        parallel.set_num_threads(bad)


def test_ranges_cover_everything_once():
    for n in (0, 1, 7, 100):
        for parts in (1, 2, 3, 8):
            pieces = parallel.ranges(n, parts)
            covered = [i for a, b in pieces for i in range(a, b)]
            assert covered == list(range(n))
            assert len(pieces) <= parts


def test_run_propagates_errors_from_worker_threads(restore_threads):
    parallel.set_num_threads(2)

    def fails_on_second(i):
        if i == 1:
            raise RuntimeError("part 1 failed")

    with pytest.raises(RuntimeError, match="part 1 failed"):
        parallel.run(fails_on_second, [(0,), (1,)])


def _train(threads, seed=3):
    parallel.set_num_threads(threads)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(0)
    x = rng.random((256, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 256)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(64, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=2, verbose=0)
    return model.get_weights(), model.predict(x, verbose=0)


def test_threads_change_speed_not_results(restore_threads):
    w1, p1 = _train(1)
    w2, p2 = _train(2)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(p1, p2, rtol=1e-4, atol=1e-6)


def test_threaded_runs_repeat_bit_for_bit(restore_threads):
    w1, p1 = _train(2)
    w2, p2 = _train(2)
    for a, b in zip(w1, w2):
        assert np.array_equal(a, b)
    assert np.array_equal(p1, p2)


def test_blas_threads_are_restored_after_fit(restore_threads):
    if not parallel.can_control_blas():
        pytest.skip("NumPy's BLAS is not OpenBLAS: convlearn leaves its threads alone")
    getter, _ = parallel._blas_controls()
    before = getter()
    _train(2)
    assert getter() == before


def test_in_background_runs_the_job_and_keeps_the_caller_single_threaded(restore_threads):
    parallel.set_num_threads(2)
    seen = {}
    release = threading.Event()

    def job(value):
        seen["value"] = value
        seen["threaded inside the job"] = parallel.threaded()
        release.wait(10)

    with parallel.active():
        wait = parallel.in_background(job, 7)
        seen["threaded while the job runs"] = parallel.threaded()
        release.set()
        wait()
        seen["threaded after"] = parallel.threaded()
    assert seen == {"value": 7, "threaded inside the job": False, "threaded while the job runs": False,
                    "threaded after": True}


def test_threads_stay_off_until_the_background_job_is_waited_for(restore_threads):
    # even once the job has ended: how the kernels split their work must not depend
    # on timing, or results would not repeat bit for bit
    parallel.set_num_threads(2)
    done = []
    with parallel.active():
        wait = parallel.in_background(done.append, 1)
        deadline = time.monotonic() + 10
        while not done and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.01)
        assert done == [1] and not parallel.threaded()
        wait()
        assert parallel.threaded()


def test_in_background_raises_the_jobs_error_when_waited_for(restore_threads):
    parallel.set_num_threads(2)

    def job():
        raise RuntimeError("update failed")

    with parallel.active():
        wait = parallel.in_background(job)
        with pytest.raises(RuntimeError, match="update failed"):
            wait()
        assert parallel.threaded()          # the worker is free again
        parallel.run(lambda a, b: None, parallel.ranges(4))


def test_in_background_uses_the_callers_floating_point_error_handling(restore_threads):
    parallel.set_num_threads(2)
    out = {}

    def job():
        out["err"] = np.geterr()["invalid"]

    with parallel.active(), np.errstate(invalid="raise"):
        parallel.in_background(job)()
    assert out["err"] == "raise"


def test_run_uses_the_callers_floating_point_error_handling(restore_threads):
    parallel.set_num_threads(2)

    def part(i):
        np.sqrt(np.float32(-1.0))

    with np.errstate(invalid="raise"):
        with pytest.raises(FloatingPointError):
            parallel.run(part, [(0,), (1,)])
        with pytest.raises(FloatingPointError):
            parallel.run(lambda i: i == 1 and part(i), [(0,), (1,)])    # in the worker only
    with np.errstate(invalid="ignore"):
        parallel.run(part, [(0,), (1,)])


def test_in_background_without_threads_runs_at_once(restore_threads):
    parallel.set_num_threads(1)
    calls = []
    with parallel.active():
        wait = parallel.in_background(calls.append, 1)
        assert calls == [1]
        wait()
    assert calls == [1]


def test_many_hand_overs_in_a_row(restore_threads):
    parallel.set_num_threads(2)
    out = np.zeros(8)

    def fill(a, b):
        out[a:b] += 1

    with parallel.active():
        for _ in range(200):
            parallel.run(fill, parallel.ranges(8))
    assert (out == 200).all()


def _train_with_background_updates(seed=4):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(1)
    x = rng.random((320, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 320)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Flatten(), layers.Dense(100, activation="relu"), layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    splits = []
    made = schedule.TrainingSchedule.__init__

    def record(self, *args, **kwargs):
        made(self, *args, **kwargs)
        splits.append(self.split)

    schedule.TrainingSchedule.__init__ = record
    try:
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    finally:
        schedule.TrainingSchedule.__init__ = made
    assert splits == [2]                       # 135,300 weights from the Dense(100) on: in the background
    return model.get_weights()


def test_runs_with_background_updates_repeat_bit_for_bit(restore_threads):
    parallel.set_num_threads(2)
    first, second = _train_with_background_updates(), _train_with_background_updates()
    for a, b in zip(first, second):
        assert np.array_equal(a, b)


def test_background_updates_change_speed_not_results(restore_threads, monkeypatch):
    # with threads, the big Dense layer's weight gradients and update run in the worker
    # while the main thread computes its input gradient and the layers below
    calls = []
    in_two = layers.Dense.backward_input_first
    monkeypatch.setattr(layers.Dense, "backward_input_first",
                        lambda self, dout, cache, need_dx=True: calls.append(self.name) or in_two(self, dout, cache,
                                                                                                   need_dx))
    parallel.set_num_threads(1)
    alone = _train_with_background_updates()
    assert calls == []
    parallel.set_num_threads(2)
    threaded = _train_with_background_updates()
    assert len(calls) == 20                    # 2 epochs of 10 batches, the Dense(100) only
    for a, b in zip(alone, threaded):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# Several calling threads at once
# ---------------------------------------------------------------------------
#
# The numbers must depend on the thread count setting only: never on which other
# threads use convlearn at the same time, nor on whether a call found the workers
# free. Every test thread is joined with a deadline, so a deadlock fails the test.

def _data(seed, n=20_000):
    return np.random.default_rng(seed).random(n, dtype=np.float32) + np.float32(0.5)


def _slices_and_sum(data, pieces):
    """What a kernel does: each part writes its slice of ``out`` and its partial sum;
    the partial sums are added in a fixed order."""
    out = np.empty_like(data)
    partial = [None] * len(pieces)

    def part(i, a, b):
        np.sqrt(data[a:b], out=out[a:b])
        out[a:b] *= np.float32(1.25)
        partial[i] = out[a:b].sum(dtype=np.float32)

    parallel.run(part, [(i, a, b) for i, (a, b) in enumerate(pieces)])
    total = partial[0]
    for p in partial[1:]:
        total = total + p
    return out, total


def _into(box, fn, *args):
    box["result"] = fn(*args)


def _same(got, expected):
    return np.array_equal(got[0], expected[0]) and got[1].tobytes() == expected[1].tobytes()


@pytest.mark.parametrize("threads", [2, 3])
def test_many_callers_get_the_numbers_of_one_caller_alone(threads, restore_threads):
    parallel.set_num_threads(threads)
    datas = [_data(seed) for seed in range(8)]
    with parallel.active():
        expected = [_slices_and_sum(d, parallel.ranges(len(d))) for d in datas]

    def caller(k):
        def body():
            with parallel.active():
                assert parallel.threaded()
                for _ in range(30):
                    assert _same(_slices_and_sum(datas[k], parallel.ranges(len(datas[k]))), expected[k])
        return body

    in_threads(*[caller(k) for k in range(8)])


def test_callers_mixing_background_jobs_and_runs(restore_threads):
    parallel.set_num_threads(2)
    datas = [_data(seed) for seed in range(12)]
    pieces = parallel.ranges(len(datas[0]), 2)
    expected = [_slices_and_sum(d, pieces) for d in datas]

    def caller(k):
        def body():
            with parallel.active():
                for _ in range(20):
                    box = {}
                    wait = parallel.in_background(_into, box, _slices_and_sum, datas[k], pieces)
                    assert not parallel.threaded()          # this thread's job is pending
                    mine = _slices_and_sum(datas[k + 6], pieces)
                    wait()
                    assert parallel.threaded()
                    assert _same(box["result"], expected[k]) and _same(mine, expected[k + 6])
        return body

    in_threads(*[caller(k) for k in range(6)])


def test_a_failing_caller_does_not_disturb_the_others(restore_threads):
    parallel.set_num_threads(2)
    datas = [_data(seed) for seed in range(4)]
    with parallel.active():
        expected = [_slices_and_sum(d, parallel.ranges(len(d))) for d in datas]

    def fails_on(bad):
        def part(i):
            if i == bad:
                raise RuntimeError(f"part {i} failed")
        return part

    def failing():
        with parallel.active():
            for _ in range(20):
                for bad in (0, 1):                          # in this thread, or in a worker
                    with pytest.raises(RuntimeError, match=f"part {bad} failed"):
                        parallel.run(fails_on(bad), [(0,), (1,)])
                wait = parallel.in_background(fails_on(0), 0)
                with pytest.raises(RuntimeError, match="part 0 failed"):
                    wait()

    def caller(k):
        def body():
            with parallel.active():
                for _ in range(30):
                    assert _same(_slices_and_sum(datas[k], parallel.ranges(len(datas[k]))), expected[k])
        return body

    in_threads(failing, *[caller(k) for k in range(4)])
    # and the next caller finds healthy workers
    names = {}
    parallel.run(lambda i: names.update({i: threading.current_thread().name}), [(0,), (1,)])
    assert names[1] == "convlearn-worker"


def test_run_raises_only_once_every_part_has_finished(restore_threads):
    parallel.set_num_threads(2)
    finished = []

    def part(i):
        if i == 0:
            raise RuntimeError("part 0 failed")
        time.sleep(0.05)                                    # the worker's part ends later
        finished.append(i)

    with pytest.raises(RuntimeError, match="part 0 failed"):
        parallel.run(part, [(0,), (1,)])
    assert finished == [1]
    out = np.zeros(8)

    def fill(a, b):
        out[a:b] += 1

    for _ in range(50):                                     # the worker is in step with its callers
        parallel.run(fill, parallel.ranges(8))
    assert (out == 50).all()


def test_callers_run_their_own_parts_while_the_workers_are_busy(restore_threads):
    parallel.set_num_threads(2)
    data = _data(0)
    pieces = parallel.ranges(len(data))
    expected = _slices_and_sum(data, pieces)

    def caller():
        with parallel.active():
            names = set()

            def part(i):
                names.add(threading.current_thread().name)

            parallel.run(part, [(0,), (1,)])
            assert names == {threading.current_thread().name}     # not handed to the busy worker
            assert _same(_slices_and_sum(data, pieces), expected)

    with workers_busy():
        in_threads(caller, caller)

    def caller_after():
        names = {}
        parallel.run(lambda i: names.update({i: threading.current_thread().name}), [(0,), (1,)])
        assert names[1] == "convlearn-worker"

    in_threads(caller_after)


def test_in_background_while_the_workers_are_busy_runs_when_waited_for(restore_threads):
    parallel.set_num_threads(2)

    def caller():
        calls = []
        with parallel.active():
            wait = parallel.in_background(lambda: calls.append(
                (threading.current_thread().name, parallel.threaded())))
            assert calls == [] and not parallel.threaded()
            wait()
            wait()                                          # a second call does nothing more
            assert calls == [(threading.current_thread().name, False)] and parallel.threaded()

            def fails():
                raise RuntimeError("late job failed")

            wait = parallel.in_background(fails)
            for _ in range(2):                              # re-raised by every call
                with pytest.raises(RuntimeError, match="late job failed"):
                    wait()
            assert parallel.threaded()

    with workers_busy():
        in_threads(caller)


def test_a_job_that_waits_for_its_caller_runs_even_when_the_workers_are_busy(restore_threads):
    # the training step's split backward pass: the job waits until the caller has read
    # the weights; it must not be run at once in the caller's thread (that would never end)
    parallel.set_num_threads(2)

    def caller():
        read = threading.Event()

        def job():
            assert read.wait(JOIN_TIMEOUT)

        with parallel.active():
            wait = parallel.in_background(job)
            read.set()
            wait()

    with workers_busy():
        in_threads(caller)


def test_active_and_pending_jobs_belong_to_the_calling_thread(restore_threads):
    parallel.set_num_threads(2)
    seen = {}

    def other():
        seen["not active"] = parallel.threaded()
        with parallel.active():
            seen["active"] = parallel.threaded()

    with workers_busy():                                    # a job of this thread is pending
        in_threads(other)
        seen["with a pending job"] = parallel.threaded()
    with parallel.active():
        seen["after waiting"] = parallel.threaded()
    assert seen == {"with a pending job": False, "after waiting": True, "not active": False, "active": True}
    assert not parallel.threaded()


def test_nested_runs_do_not_wait_for_themselves(restore_threads):
    parallel.set_num_threads(2)
    out = np.zeros(4)

    def inner(j):
        out[j] += 1

    def outer(i):
        parallel.run(inner, [(2 * i,), (2 * i + 1,)])

    in_threads(lambda: parallel.run(outer, [(0,), (1,)]))
    assert (out == 1).all()


def test_run_with_more_parts_than_threads(restore_threads):
    parallel.set_num_threads(2)
    data = _data(5)
    pieces = parallel.ranges(len(data), 7)
    assert len(pieces) == 7
    parallel.set_num_threads(1)
    alone = _slices_and_sum(data, pieces)
    for threads in (2, 3):
        parallel.set_num_threads(threads)
        assert _same(_slices_and_sum(data, pieces), alone)


def test_set_num_threads_while_other_threads_run(restore_threads):
    parallel.set_num_threads(2)
    datas = [_data(seed) for seed in range(4)]
    pieces = parallel.ranges(len(datas[0]), 3)              # the same parts whatever the setting
    expected = [_slices_and_sum(d, pieces) for d in datas]
    stop = threading.Event()

    def flipper():
        try:
            for i in range(60):
                parallel.set_num_threads((1, 2, 3)[i % 3])
                with pytest.raises(ValueError, match="positive integer"):
                    parallel.set_num_threads(0)
        finally:
            stop.set()

    def caller(k):
        def body():
            with parallel.active():
                runs = 0
                while not stop.is_set() or runs < 5:
                    assert _same(_slices_and_sum(datas[k], pieces), expected[k])
                    wait = parallel.in_background(_slices_and_sum, datas[k], pieces)
                    wait()
                    runs += 1
        return body

    in_threads(flipper, *[caller(k) for k in range(4)])


def test_set_num_threads_while_a_background_job_holds_the_workers(restore_threads):
    parallel.set_num_threads(2)
    names = {}

    def caller():
        parallel.run(lambda i: names.update({i: threading.current_thread()}), [(0,), (1,), (2,)])

    with workers_busy():
        old = worker_threads()
        parallel.set_num_threads(3)                         # the busy workers are left to their job
        in_threads(caller)
    assert all(names[i].name == "convlearn-worker" and names[i] not in old for i in (1, 2))
    for thread in old:                                      # closed once given back
        thread.join(JOIN_TIMEOUT)
        assert not thread.is_alive()


def test_set_num_threads_again_and_again_leaks_no_threads(restore_threads):
    for _ in range(30):
        for threads in (2, 3, 1):
            parallel.set_num_threads(threads)
            with parallel.active():
                parallel.run(lambda a, b: None, parallel.ranges(6))
                parallel.in_background(lambda: None)()
    assert all(thread.daemon for thread in worker_threads())
    parallel.set_num_threads(1)                             # closes the last workers, makes none
    for thread in worker_threads():
        thread.join(JOIN_TIMEOUT)
    assert worker_threads() == []


def test_blas_stays_single_threaded_until_the_last_caller_leaves(restore_threads):
    if not parallel.can_control_blas():
        pytest.skip("NumPy's BLAS is not OpenBLAS: convlearn leaves its threads alone")
    getter, setter = parallel._blas_controls()
    original = getter()
    setter(2)                                               # a count that 1 differs from
    try:
        a_inside, b_inside, a_left = threading.Event(), threading.Event(), threading.Event()
        seen = {}

        def a():
            with parallel.active():
                with parallel.blas_single_threaded():
                    a_inside.set()
                    assert b_inside.wait(JOIN_TIMEOUT)
                seen["a left the inner block"] = getter()
            seen["a left, b still inside"] = getter()
            a_left.set()

        def b():
            assert a_inside.wait(JOIN_TIMEOUT)
            with parallel.blas_single_threaded():
                with parallel.active():
                    with parallel.active():
                        b_inside.set()
                        assert a_left.wait(JOIN_TIMEOUT)
                        seen["b inside alone"] = getter()

        in_threads(a, b)
        assert seen == {"a left the inner block": 1, "a left, b still inside": 1, "b inside alone": 1}
        assert getter() == 2

        def enters_and_leaves():
            for _ in range(200):
                with parallel.active(), parallel.blas_single_threaded():
                    assert getter() == 1

        in_threads(*[enters_and_leaves] * 4)
        assert getter() == 2
    finally:
        setter(original)
