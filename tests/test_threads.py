"""Models used from several threads: the same answers as one thread, or a clear refusal.

Every test joins its threads with a timeout, so a deadlock fails instead of hanging.
No test asserts a duration.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers
from model_helpers import bars_dataset, same_weights

JOIN_TIMEOUT = 120


def run_threads(target, n, *args):
    """Run ``target(k, *args)`` in ``n`` threads; re-raise the first error; fail on a hang."""
    errors = []

    def work(k):
        try:
            target(k, *args)
        except BaseException as exc:            # noqa: BLE001 - handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread did not finish: deadlock"
    if errors:
        raise errors[0]


def guide_model(seed, filters=8):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(filters, 3, activation="relu"),
                             layers.MaxPooling2D(), layers.Flatten(), layers.Dense(32, activation="relu"),
                             layers.Dense(10, activation="softmax")])


def residual_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    y = layers.BatchNormalization()(layers.Conv2D(8, 3, padding="same")(x))
    x = layers.MaxPooling2D()(layers.add([x, y]))
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(layers.GlobalAveragePooling2D()(x)))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.random((300, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 300)


@pytest.mark.parametrize("make", [guide_model, residual_model], ids=["guide", "residual"])
def test_predict_on_one_model_from_eight_threads_is_exact(make, images):
    x, _ = images
    model = make(1)
    # (each call against the same call made alone: with two threads, a sample's last bits may
    # depend on how many samples share its matrix product, as in any BLAS-based library)
    expected = model.predict(x, verbose=0)
    single = [model.predict(x[k:k + 1], verbose=0) for k in range(5)]
    called = model(x[:40])

    def work(k):
        for rep in range(6):
            if (k + rep) % 2:
                np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
            else:
                np.testing.assert_array_equal(model.predict(x[k % 5:k % 5 + 1], verbose=0), single[k % 5])
                np.testing.assert_array_equal(model(x[:40]), called)

    run_threads(work, 8)


def test_four_different_models_in_four_threads(images):
    x, _ = images
    models = [guide_model(2), guide_model(3, filters=4), residual_model(4), residual_model(5)]
    expected = [m.predict(x, batch_size=17, verbose=0) for m in models]

    def work(k):
        for _ in range(5):
            np.testing.assert_array_equal(models[k].predict(x, batch_size=17, verbose=0), expected[k])

    run_threads(work, 4)


def test_evaluate_from_several_threads_keeps_each_calls_metrics(images):
    x, y = images
    model = guide_model(6)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    parts = [(x[:100], y[:100]), (x[100:], y[100:]), (x, y)]
    expected = [model.evaluate(a, b, verbose=0) for a, b in parts]

    def work(k):
        for rep in range(6):
            a, b = parts[(k + rep) % 3]
            assert model.evaluate(a, b, verbose=0) == expected[(k + rep) % 3]

    run_threads(work, 6)


def test_an_unbuilt_subclassed_model_called_from_threads_is_built_once(images):
    x, _ = images

    class Small(keras.Model):
        def __init__(self):
            super().__init__()
            self.flat = layers.Flatten()
            self.out = layers.Dense(3)

        def call(self, inputs, training=False):
            return self.out(self.flat(inputs))

    keras.utils.set_random_seed(7)
    model = Small()
    results = [None] * 6

    def work(k):
        results[k] = model.predict(x[:10], verbose=0)

    run_threads(work, 6)
    assert len(model.weights) == 2
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_fit_while_another_thread_predicts_is_refused_and_training_is_undisturbed(images):
    xb, yb = bars_dataset(96)

    def make():
        keras.utils.set_random_seed(8)
        model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                                  layers.Flatten(), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    alone = make()
    keras.utils.set_random_seed(9)
    alone.fit(xb, yb, epochs=3, batch_size=8, verbose=0)

    model = make()
    started, tried, refused = threading.Event(), threading.Event(), []

    class Signal(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.set()
            if epoch == 0:              # fit holds the model until the other thread has tried once
                tried.wait(JOIN_TIMEOUT)

    def predictor(k):
        started.wait(JOIN_TIMEOUT)
        for _ in range(20):
            try:
                model.predict(xb[:4], verbose=0)
            except RuntimeError as exc:
                refused.append(str(exc))
            tried.set()

    keras.utils.set_random_seed(9)
    helper = threading.Thread(target=predictor, args=(0,), daemon=True)
    helper.start()
    model.fit(xb, yb, epochs=3, batch_size=8, verbose=0, callbacks=[Signal()])
    helper.join(JOIN_TIMEOUT)
    assert not helper.is_alive()
    assert refused, "predict ran while fit was training in another thread"
    assert "is being trained by fit() in another thread" in refused[0]
    assert same_weights(model.get_weights(), alone.get_weights())   # bit for bit


def test_a_callback_may_predict_between_updates(images):
    xb, yb = bars_dataset(64)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    seen = []
    model.fit(xb, yb, epochs=2, verbose=0, callbacks=[keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(model.predict(xb[:2], verbose=0)))])
    assert len(seen) == 2


def test_fit_is_refused_while_another_thread_predicts(images):
    x, _ = images
    model = guide_model(10)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    inside, release = threading.Event(), threading.Event()

    class Slow(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            inside.set()
            release.wait(JOIN_TIMEOUT)

    helper = threading.Thread(target=lambda: model.predict(x[:4], verbose=0, callbacks=[Slow()]), daemon=True)
    helper.start()
    assert inside.wait(JOIN_TIMEOUT)
    try:
        with pytest.raises(RuntimeError, match=r"is running predict\(\) in another thread; training now would "
                                               r"change the weights under it"):
            model.fit(x[:8], np.zeros(8, int), verbose=0)
    finally:
        release.set()
        helper.join(JOIN_TIMEOUT)
    model.fit(x[:8], np.zeros(8, int), verbose=0)          # once it returned, training works


def test_two_fits_of_one_model_and_fit_from_its_own_callback_are_refused(images):
    xb, yb = bars_dataset(16)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(RuntimeError, match=r"already being trained by fit\(\) in this thread; a callback cannot "
                                           r"train the model it is called from"):
        model.fit(xb, yb, verbose=0, callbacks=[keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: model.train_on_batch(xb, yb))])
    model.fit(xb, yb, verbose=0)                              # the failed fit left nothing behind
