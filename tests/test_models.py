"""Behaviour of Sequential and Model: building, nesting, weights, fit, evaluate and predict."""

import math

import time

import numpy as np
import pytest

import convlearn as keras
from convlearn.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from convlearn.models import Model, Sequential
from model_helpers import bars_dataset, compiled_cnn, same_weights, small_cnn

# ---------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------


def unbuilt_stack():
    return Sequential([Conv2D(4, 3, activation="relu"), MaxPooling2D(), Flatten(), Dense(3, activation="softmax")])


def test_input_first_builds_at_once():
    model = Sequential([keras.Input(shape=(8, 8, 1)), Conv2D(4, 3), Flatten(), Dense(3)])
    assert model.built
    assert model.input_shape == (None, 8, 8, 1)
    assert [layer.output_shape for layer in model.layers] == [(None, 6, 6, 4), (None, 144), (None, 3)]
    assert len(model.layers) == 3                              # the Input placeholder is not a layer


def test_unbuilt_model_builds_on_first_fit():
    x, y = bars_dataset(20)
    model = unbuilt_stack()
    assert not model.built and not model.layers[0].built
    with pytest.raises(ValueError, match="not built yet"):
        model.count_params()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, verbose=0)
    assert model.built and model.input_shape == (None, 8, 8, 1)
    assert model.count_params() == (9 * 4 + 4) + (36 * 3 + 3)


def test_unbuilt_model_builds_on_first_call_and_predict():
    x, _ = bars_dataset(5)
    called, predicted = unbuilt_stack(), unbuilt_stack()
    out = called(x)
    assert called.built and out.shape == (5, 3)
    predicted.predict(x, verbose=0)
    assert predicted.built and predicted.output_shape == (None, 3)


def test_build_with_an_explicit_shape():
    model = unbuilt_stack()
    model.build((None, 8, 8, 1))
    assert model.built and model.count_params() == 151


def test_data_of_another_shape_is_refused_after_building():
    model = small_cnn()
    x, _ = bars_dataset(3, size=9)
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 8, 8, 1\); got \(3, 9, 9, 1\)"):
        model.predict(x, verbose=0)


def test_input_layer_first_builds_at_once():
    model = Sequential([keras.layers.InputLayer(shape=(8, 8, 1)), Flatten(), Dense(3)])
    assert model.built and model.output_shape == (None, 3) and len(model.layers) == 2


def test_unbuilt_nested_model_is_built_with_its_parent():
    inner = Sequential([Conv2D(3, 3, activation="relu"), Flatten()])
    model = Sequential([inner, Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(*bars_dataset(12), verbose=0)
    assert inner.built and inner.input_shape == (None, 8, 8, 1) and inner.output_shape == (None, 108)
    assert model.count_params() == (9 * 3 + 3) + (108 * 3 + 3)


def test_rescaling_layer_takes_raw_pixels():
    """``Rescaling(1/255)`` first: the model takes uint8 images and does the division itself."""
    x, _ = bars_dataset(6)
    pixels = (np.clip(x, 0, 1) * 255).astype(np.uint8)
    with_rescaling = Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Rescaling(1 / 255), Flatten(), Dense(3)])
    plain = Sequential([keras.Input(shape=(8, 8, 1)), Flatten(), Dense(3)])
    plain.set_weights(with_rescaling.get_weights())
    np.testing.assert_allclose(with_rescaling.predict(pixels, verbose=0),
                               plain.predict(pixels / 255, verbose=0), rtol=1e-5, atol=1e-6)


def test_adding_a_layer_after_training_needs_a_new_compile():
    x, y = bars_dataset(12)
    model = Sequential([keras.Input(shape=(8, 8, 1)), Flatten(), Dense(5, activation="relu")])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.zeros((12, 5)), verbose=0)
    model.add(Dense(3, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0]) and model.output_shape == (None, 3)


def test_get_layer_by_name_and_index():
    model = Sequential([keras.Input(shape=(4,)), Dense(3, name="hidden"), Dense(2, name="out")])
    assert model.get_layer("hidden") is model.layers[0]
    assert model.get_layer(index=-1).name == "out"
    with pytest.raises(ValueError, match="out of range"):
        model.get_layer(index=5)


def test_pop_removes_the_last_layer():
    model = Sequential([keras.Input(shape=(4,)), Dense(3), Dense(2)])
    model.pop()
    assert len(model.layers) == 1 and model.output_shape == (None, 3)
    assert model.predict(np.ones((2, 4)), verbose=0).shape == (2, 3)


# ---------------------------------------------------------------------------
# Nesting and the functional API
# ---------------------------------------------------------------------------

def test_nested_sequential_computes_like_the_flat_model():
    features = Sequential([Conv2D(4, 3, activation="relu"), MaxPooling2D()], name="features")
    nested = Sequential([keras.Input(shape=(8, 8, 1)), features, Flatten(), Dense(3, activation="softmax")])
    flat = small_cnn()
    assert features.built and features.output_shape == (None, 3, 3, 4)
    assert nested.count_params() == flat.count_params() == 151
    assert [w.shape for w in nested.get_weights()] == [w.shape for w in flat.get_weights()]
    flat.set_weights(nested.get_weights())
    x, _ = bars_dataset(10)
    np.testing.assert_array_equal(nested.predict(x, verbose=0), flat.predict(x, verbose=0))


def test_nested_sequential_trains_its_inner_layers():
    features = Sequential([Conv2D(4, 3, activation="relu"), MaxPooling2D()], name="features")
    model = Sequential([keras.Input(shape=(8, 8, 1)), features, Flatten(), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = features.get_weights()
    x, y = bars_dataset(32)
    model.fit(x, y, epochs=1, verbose=0)
    after = features.get_weights()
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))


def test_nested_summary_shows_the_inner_model(capsys):
    features = Sequential([Conv2D(4, 3, activation="relu", name="inner_conv"), MaxPooling2D()], name="features")
    model = Sequential([keras.Input(shape=(8, 8, 1)), features, Flatten(), Dense(3)])
    model.summary()
    text = capsys.readouterr().out
    assert "features (Sequential)" in text and "inner_conv" not in text
    model.summary(expand_nested=True)
    assert "inner_conv (Conv2D)" in capsys.readouterr().out


def test_functional_model_equals_the_sequential_one():
    inputs = keras.Input(shape=(8, 8, 1))
    h = Conv2D(4, 3, activation="relu")(inputs)
    h = MaxPooling2D()(h)
    outputs = Dense(3, activation="softmax")(Flatten()(h))
    functional = Model(inputs=inputs, outputs=outputs)
    sequential = small_cnn()
    sequential.set_weights(functional.get_weights())
    x, _ = bars_dataset(10)
    np.testing.assert_array_equal(functional.predict(x, verbose=0), sequential.predict(x, verbose=0))
    assert functional.count_params() == sequential.count_params()


def test_functional_model_needs_inputs_and_outputs():
    with pytest.raises(TypeError, match="needs both"):
        Model()
    inputs = keras.Input(shape=(4,))
    other = keras.Input(shape=(4,))
    with pytest.raises(ValueError, match=r"depend on the input '.*' \(shape \(None, 4\)\), which is not among"):
        Model(inputs=inputs, outputs=Dense(2)(other))


# ---------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------

def test_get_weights_returns_copies():
    model = small_cnn()
    weights = model.get_weights()
    weights[0][...] = 123.0
    assert not np.any(model.get_weights()[0] == 123.0)


def test_set_weights_checks_every_shape():
    model = small_cnn()
    bad = model.get_weights()
    bad[2] = np.zeros((35, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"weight 'dense(_\d+)?/kernel' has shape \(36, 3\); set_weights received shape \(35, 3\)"):
        model.set_weights(bad)


def test_frozen_layer_is_not_trained(capsys):
    model = small_cnn()
    conv = model.layers[0]
    conv.trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = conv.get_weights()
    dense_before = model.layers[-1].get_weights()
    x, y = bars_dataset(32)
    model.fit(x, y, epochs=1, verbose=0)
    assert same_weights(conv.get_weights(), frozen)
    assert not same_weights(model.layers[-1].get_weights(), dense_before)
    model.summary()
    text = capsys.readouterr().out
    assert "Trainable params: 111 " in text and "Non-trainable params: 40 " in text


# ---------------------------------------------------------------------------
# predict and evaluate
# ---------------------------------------------------------------------------

def test_predict_does_not_depend_on_the_batch_size():
    model = small_cnn()
    x, _ = bars_dataset(37)
    whole = model.predict(x, batch_size=64, verbose=0)
    np.testing.assert_allclose(model.predict(x, batch_size=1, verbose=0), whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(x, batch_size=5, verbose=0), whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model(x), whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model.predict_on_batch(x), whole)


def test_predict_accepts_integers_float64_and_lists():
    model = small_cnn()
    x = (np.arange(2 * 64) % 5).reshape(2, 8, 8, 1)
    ref = model.predict(x.astype(np.float32), verbose=0)
    for variant in (x, x.astype(np.uint8), x.astype(np.float64), x.tolist()):
        out = model.predict(variant, verbose=0)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, ref)


def test_dropout_is_off_in_predict_and_evaluate():
    model = compiled_cnn(dropout=0.5)
    x, y = bars_dataset(20)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert model.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_evaluate_computes_the_cross_entropy_and_accuracy_of_the_predictions():
    model = compiled_cnn()
    x, y = bars_dataset(45)
    loss, acc = model.evaluate(x, y, batch_size=10, verbose=0)
    p = model.predict(x, verbose=0).astype(np.float64)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(len(y)), y])), rel=1e-5)
    assert acc == pytest.approx(np.mean(p.argmax(axis=1) == y))
    loss_big_batches, _ = model.evaluate(x, y, batch_size=45, verbose=0)
    assert loss_big_batches == pytest.approx(loss, rel=1e-6)


def test_labels_as_a_column_or_as_whole_floats_are_accepted():
    model = compiled_cnn()
    x, y = bars_dataset(12)
    ref = model.evaluate(x, y, verbose=0)
    assert model.evaluate(x, y[:, None], verbose=0) == ref
    assert model.evaluate(x, y.astype(np.float32), verbose=0) == ref


# ---------------------------------------------------------------------------
# fit
# ---------------------------------------------------------------------------

def test_fit_with_zero_learning_rate_reports_the_evaluate_loss():
    """With nothing changing, the epoch's mean training loss is exactly the evaluation loss."""
    model = compiled_cnn(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    x, y = bars_dataset(50)
    before = model.get_weights()
    history = model.fit(x, y, batch_size=16, shuffle=False, epochs=1, verbose=0)
    assert same_weights(model.get_weights(), before)
    loss, acc = model.evaluate(x, y, batch_size=16, verbose=0)
    assert history.history["loss"][0] == pytest.approx(loss, rel=1e-9)
    assert history.history["accuracy"][0] == pytest.approx(acc)


def test_fit_changes_the_weights_and_lowers_the_loss():
    keras.utils.set_random_seed(0)
    model = compiled_cnn(optimizer=keras.optimizers.Adam(0.01))
    x, y = bars_dataset(90)
    before = model.get_weights()
    history = model.fit(x, y, epochs=4, batch_size=15, verbose=0)
    assert not same_weights(model.get_weights(), before)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_validation_split_holds_out_the_last_samples():
    """Like Keras, the validation part is the end of the arrays, taken before shuffling."""
    model = compiled_cnn()
    x, y = bars_dataset(40)
    history = model.fit(x, y, batch_size=8, epochs=1, validation_split=0.25, verbose=0)
    assert history.params["steps"] == math.ceil(30 / 8)
    val_loss, val_acc = model.evaluate(x[30:], y[30:], batch_size=8, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-9)
    assert history.history["val_accuracy"][0] == pytest.approx(val_acc)


def test_validation_data_is_evaluated_after_each_epoch():
    model = compiled_cnn()
    x, y = bars_dataset(30)
    xv, yv = bars_dataset(12, seed=5)
    history = model.fit(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
    assert len(history.history["val_loss"]) == 2
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(xv, yv, verbose=0)[0], rel=1e-9)


def test_validation_freq_skips_epochs():
    model = compiled_cnn()
    x, y = bars_dataset(20)
    history = model.fit(x, y, epochs=4, validation_data=(x, y), validation_freq=2, verbose=0)
    assert len(history.history["loss"]) == 4 and len(history.history["val_loss"]) == 2


def test_last_batch_may_be_smaller():
    model = compiled_cnn()
    x, y = bars_dataset(33)
    history = model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert history.params["steps"] == 2 and math.isfinite(history.history["loss"][0])


def test_fit_again_continues_from_the_current_weights():
    keras.utils.set_random_seed(1)
    x, y = bars_dataset(60)
    twice = compiled_cnn()
    start = twice.get_weights()
    twice.fit(x, y, epochs=1, shuffle=False, verbose=0)
    twice.fit(x, y, epochs=1, shuffle=False, verbose=0)
    once = compiled_cnn()
    once.set_weights(start)
    once.fit(x, y, epochs=2, shuffle=False, verbose=0)
    assert same_weights(twice.get_weights(), once.get_weights())


def test_initial_epoch_counts_from_there():
    model = compiled_cnn()
    x, y = bars_dataset(20)
    history = model.fit(x, y, epochs=3, initial_epoch=1, verbose=0)
    assert history.epoch == [1, 2] and len(history.history["loss"]) == 2


def test_train_on_batch_and_test_on_batch():
    model = compiled_cnn(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    x, y = bars_dataset(16)
    before = model.get_weights()
    loss, acc = model.train_on_batch(x, y)
    assert loss > 0 and 0 <= acc <= 1
    assert not same_weights(model.get_weights(), before)
    assert model.test_on_batch(x, y) == model.evaluate(x, y, batch_size=16, verbose=0)
    assert set(model.train_on_batch(x, y, return_dict=True)) == {"loss", "accuracy"}


def test_float64_model_computes_in_float64():
    model = Sequential([keras.Input(shape=(4,), dtype="float64"), Dense(3, dtype="float64")])
    out = model.predict(np.ones((2, 4)), verbose=0)
    assert out.dtype == np.float64


def test_dropout_layer_in_a_model_trains():
    keras.utils.set_random_seed(2)
    model = compiled_cnn(dropout=0.3, optimizer=keras.optimizers.Adam(0.01))
    x, y = bars_dataset(60)
    history = model.fit(x, y, epochs=3, batch_size=10, verbose=0)
    assert all(math.isfinite(v) for v in history.history["loss"])
    assert isinstance(model.layers[3], Dropout)


# ---------------------------------------------------------------------------
# Weight updates in the background (the late layers' update overlaps the rest)
# ---------------------------------------------------------------------------

@pytest.fixture
def two_threads(monkeypatch):
    """Two threads, and background updates even for these small models."""
    from convlearn.engine import schedule
    from convlearn.ops import parallel
    monkeypatch.setattr(schedule, "BACKGROUND_UPDATE_MIN_WEIGHTS", 0)
    before = parallel.get_num_threads()
    parallel.set_num_threads(2)
    yield
    parallel.set_num_threads(before)


def background_split(model, batch_size):
    """The step from which the training schedule updates weights in the background (None: at the end)."""
    from convlearn.engine.plan import training_plan
    from convlearn.engine.schedule import TrainingSchedule

    params = model.trainable_weights
    program, _ = training_plan(model.program(training=True), ["softmax"], {id(p) for p in params})
    return TrainingSchedule(program, params, model.optimizer, batch_size).split


def test_only_big_late_layers_are_updated_in_the_background():
    keras.utils.set_random_seed(0)
    guide = Sequential([keras.Input((28, 28, 1)), Conv2D(32, 3, activation="relu"), MaxPooling2D(), Flatten(),
                        Dense(100, activation="relu"), Dense(10, activation="softmax")])
    small = Sequential([keras.Input((28, 28, 1)), Conv2D(8, 3, activation="relu"), MaxPooling2D(), Flatten(),
                        Dense(10, activation="softmax")])
    for model in (guide, small):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.train_on_batch(np.zeros((2, 28, 28, 1), np.float32), np.zeros(2, int))
    assert background_split(guide, 2) == 2       # from the Dense(100) step on (540,900 + 1,010 weights)
    assert background_split(small, 2) is None    # 13,530 weights: all updated at the end


def test_no_background_updates_after_heavy_convolutions():
    # zoo.best: Dense(256) holds 409,856 weights, but the two convolutions before it do
    # about 2.4 million multiply-adds per image: they need both cores more
    from convlearn import zoo
    model = zoo.best()
    assert background_split(model, 64) is None
    assert background_split(model, 1) == 4       # one image: the convolutions are cheap


def slow_background_updates(model):
    """Make the optimizer's work in the worker thread slow, so that anything that
    does not wait for it would see half-updated weights."""
    import threading
    import time
    apply_some = model.optimizer.apply_some

    def slow(*args):
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.005)
        apply_some(*args)

    model.optimizer.apply_some = slow
    return model


def hidden_dense_cnn():
    keras.utils.set_random_seed(5)
    model = Sequential([keras.Input((8, 8, 1)), Conv2D(4, 3, activation="relu"), MaxPooling2D(), Flatten(),
                        Dense(16, activation="relu"), Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return slow_background_updates(model)


@pytest.mark.parametrize("make", [
    hidden_dense_cnn, lambda: (keras.utils.set_random_seed(5), slow_background_updates(compiled_cnn()))[1]],
                         ids=["hidden-dense", "dense-output"])
def test_callbacks_see_every_batchs_update_finished(make, two_threads):
    # A callback that reads the weights after each batch must see exactly what
    # train_on_batch would have left, batch after batch.
    x, y = bars_dataset(96, seed=2)
    seen = []
    model = make()
    model.fit(x, y, batch_size=32, shuffle=False, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(
                  on_train_batch_end=lambda batch, logs: seen.append(model.get_weights()))])
    ref = make()
    for start in range(0, 96, 32):
        ref.train_on_batch(x[start:start + 32], y[start:start + 32])
        assert same_weights(seen[start // 32], ref.get_weights())


def test_overlapping_the_next_batch_changes_no_number(two_threads):
    x, y = bars_dataset(160, seed=4)
    plain = hidden_dense_cnn()                                            # (seeds the shuffling too)
    plain.fit(x, y, batch_size=32, epochs=2, verbose=0)                   # overlaps batches
    watched = hidden_dense_cnn()
    watched.fit(x, y, batch_size=32, epochs=2, verbose=0,                 # waits after each batch
                callbacks=[keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: None)])
    assert same_weights(plain.get_weights(), watched.get_weights())


def test_no_update_is_left_running_after_fit_fails(two_threads):
    class FailOnSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyError("stop here")

    x, y = bars_dataset(96)
    model = hidden_dense_cnn()
    with pytest.raises(KeyError, match="stop here"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[FailOnSecondEpoch()])
    before = model.get_weights()
    time.sleep(0.05)                   # an update still running (5 ms slow, see above) would change them
    assert same_weights(before, model.get_weights())


def test_which_callbacks_make_fit_wait_after_each_batch():
    from convlearn.callbacks import History, ProgbarLogger, TerminateOnNaN
    from convlearn.models.trainer import may_read_weights_between_batches as reads

    class EpochOnly(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    class OldBatchHook(keras.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    assert not any(reads(cb) for cb in (History(), ProgbarLogger(), TerminateOnNaN(), EpochOnly(),
                                        keras.callbacks.EarlyStopping(),
                                        keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: None)))
    assert all(reads(cb) for cb in (OldBatchHook(), keras.callbacks.ModelCheckpoint("m.keras", save_freq=2),
                                    keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: None),
                                    keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: None)))


def test_a_subclass_of_the_progress_bar_with_its_own_batch_hook_makes_fit_wait():
    from convlearn.callbacks import ProgbarLogger
    from convlearn.models.trainer import may_read_weights_between_batches as reads

    class Watching(ProgbarLogger):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)

    assert reads(Watching()) and not reads(ProgbarLogger())


def test_train_on_batch_leaves_no_update_running_when_it_fails(two_threads, monkeypatch):
    model = hidden_dense_cnn()
    x, y = bars_dataset(8)
    model.train_on_batch(x, y)
    from convlearn.engine import plan

    def broken(self, dout, cache):
        raise ArithmeticError("backward failed")

    monkeypatch.setattr(plan.FusedConvPool, "backward", broken)   # fails after the late update has started
    with pytest.raises(ArithmeticError, match="backward failed"):
        model.train_on_batch(x, y)
    before = model.get_weights()
    time.sleep(0.05)
    assert same_weights(before, model.get_weights())


def _train_and_record(monkeypatch, predictions_from_loss, loss="sparse_categorical_crossentropy"):
    """Train the small CNN; count the output layer's activation calls during fit."""
    from convlearn import losses
    keras.utils.set_random_seed(3)
    x, y = bars_dataset(96, seed=1)
    if loss == "categorical_crossentropy":
        y = keras.utils.to_categorical(y, 3)
    model = small_cnn()
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    if not predictions_from_loss:
        monkeypatch.setattr(losses.SparseCategoricalCrossentropy, "predictions", lambda self, cache: None)
    softmax = model.layers[-1].activation
    calls = []
    original = type(softmax).forward
    monkeypatch.setattr(type(softmax), "forward", lambda self, z: (calls.append(z.shape), original(self, z))[1])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    monkeypatch.undo()
    return model, history.history, len(calls)


def test_training_takes_the_softmax_from_the_loss_with_the_same_results(monkeypatch):
    """In training, sparse cross-entropy hands the metrics the probabilities it computed
    from the logits, so the output layer skips its own softmax: same weights, same
    loss and accuracy, bit for bit, as when the layer computes it."""
    fast, fast_hist, fast_calls = _train_and_record(monkeypatch, True)
    slow, slow_hist, slow_calls = _train_and_record(monkeypatch, False)
    assert fast_calls == 0 and slow_calls == 12                  # 2 epochs x 6 batches
    assert same_weights(fast.get_weights(), slow.get_weights())
    assert fast_hist == slow_hist


def test_other_fused_losses_still_give_the_metrics_probabilities(monkeypatch):
    model, hist, calls = _train_and_record(monkeypatch, True, loss="categorical_crossentropy")
    assert calls == 12                                           # computed once per step, for the metrics
    assert 0.0 <= hist["accuracy"][-1] <= 1.0
    assert hist["loss"][-1] < hist["loss"][0]


@pytest.mark.parametrize("layer,shape", [
    (Dense(5, activation="softmax"), (4, 6)),
    (Conv2D(3, 2, activation="sigmoid"), (2, 5, 5, 2)),
    (keras.layers.Activation("softmax"), (3, 7)),
])
def test_forward_logits_is_forward_without_the_activation(layer, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    out = layer(x)                                               # builds, then the full forward pass
    logits, _ = layer.forward_logits(x)
    full, (_, act_cache) = layer.forward(x) if not isinstance(layer, keras.layers.Activation) else (out, (None, None))
    np.testing.assert_array_equal(full, out)
    np.testing.assert_array_equal(layer.activation.forward(logits)[0], out)
