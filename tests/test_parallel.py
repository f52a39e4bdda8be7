"""convlearn's own threading: same numbers with one thread or several, clear errors."""

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers
from convlearn.engine import schedule
from convlearn.ops import parallel


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
    import threading
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
    import time
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
