"""convlearn speaks Keras: the names, arguments, defaults and return values a tutorial uses.

Read this file as a tour of the API. Every test is a small, runnable example
of something a Keras tutorial writes, and checks that convlearn answers the
way Keras 3 does. Wherever a tutorial writes ``from tensorflow.keras.X import Y``
you can write ``from convlearn.X import Y``; ``import convlearn as keras``
gives ``keras.Sequential``, ``keras.layers`` and the rest.
"""

import importlib
import inspect
import re

import numpy as np
import pytest

import convlearn as keras
from convlearn.layers import Conv2D, Dense, Flatten, MaxPool2D
from convlearn.models import Sequential
from model_helpers import bars_dataset, compiled_cnn, small_cnn

# ---------------------------------------------------------------------------
# 1. Where things live
# ---------------------------------------------------------------------------

# ``import convlearn as keras`` and then ...
KERAS_NAMESPACE = [
    "Sequential", "Model", "Input",
    "layers.Conv2D", "layers.MaxPooling2D", "layers.MaxPool2D", "layers.AveragePooling2D",
    "layers.Flatten", "layers.Dense", "layers.Dropout", "layers.Input", "layers.InputLayer",
    "layers.Activation", "layers.ReLU", "layers.Softmax", "layers.Reshape", "layers.Rescaling",
    "models.Sequential", "models.Model", "models.load_model",
    "datasets.mnist.load_data", "datasets.fashion_mnist.load_data",
    "utils.to_categorical", "utils.set_random_seed",
    "optimizers.Adam", "optimizers.SGD", "optimizers.RMSprop",
    "losses.SparseCategoricalCrossentropy", "losses.CategoricalCrossentropy", "losses.BinaryCrossentropy",
    "losses.MeanSquaredError",
    "callbacks.EarlyStopping", "callbacks.ModelCheckpoint", "callbacks.History", "callbacks.Callback",
    "activations.relu", "activations.softmax", "activations.sigmoid",
]


@pytest.mark.parametrize("path", KERAS_NAMESPACE)
def test_import_convlearn_as_keras(path):
    """``keras.layers.Conv2D`` etc. exist after ``import convlearn as keras``."""
    obj = keras
    for part in path.split("."):
        obj = getattr(obj, part)
    assert callable(obj)


# A tutorial's ``from tensorflow.keras.<module> import <name>`` becomes ``from convlearn.<module> import <name>``.
TUTORIAL_IMPORTS = [
    ("datasets", "mnist"), ("datasets", "fashion_mnist"),
    ("models", "Sequential"), ("models", "Model"), ("models", "load_model"),
    ("layers", "Conv2D"), ("layers", "MaxPool2D"), ("layers", "MaxPooling2D"), ("layers", "Flatten"),
    ("layers", "Dropout"), ("layers", "Dense"), ("layers", "Input"), ("layers", "AveragePooling2D"),
    ("layers", "Activation"),
    ("utils", "to_categorical"),
    ("optimizers", "Adam"), ("optimizers", "SGD"), ("optimizers", "RMSprop"),
    ("losses", "SparseCategoricalCrossentropy"), ("losses", "sparse_categorical_crossentropy"),
    ("callbacks", "EarlyStopping"), ("callbacks", "ModelCheckpoint"),
    ("activations", "relu"),
]


@pytest.mark.parametrize("module, name", TUTORIAL_IMPORTS)
def test_tutorial_imports_work_with_the_convlearn_prefix(module, name):
    mod = importlib.import_module(f"convlearn.{module}")
    assert getattr(mod, name) is not None


def test_datasets_load_on_first_use():
    """``import convlearn`` leaves the data sets (file and archive modules) for later;
    ``convlearn.datasets`` still works as an attribute, and unknown names still fail."""
    import subprocess
    import sys
    code = ("import sys, convlearn\n"
            "assert 'convlearn.datasets' not in sys.modules\n"
            "assert 'datasets' in dir(convlearn)\n"
            "assert convlearn.datasets.mnist.load_data\n"
            "try:\n"
            "    convlearn.not_a_module\n"
            "except AttributeError as exc:\n"
            "    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "module 'convlearn' has no attribute 'not_a_module'"


def test_import_the_namespaces_themselves():
    """``from tensorflow.keras import layers, models`` works too."""
    from convlearn import callbacks, datasets, layers, losses, models, optimizers, utils  # noqa: F401

    assert layers.Conv2D is keras.layers.Conv2D
    assert models.Sequential is keras.Sequential


# ---------------------------------------------------------------------------
# 2. Argument names and defaults (Keras 3)
# ---------------------------------------------------------------------------

REQUIRED = inspect.Parameter.empty

SIGNATURES = [
    (keras.Sequential.fit, dict(x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
                                validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
                                sample_weight=None, initial_epoch=0, steps_per_epoch=None,
                                validation_steps=None, validation_batch_size=None, validation_freq=1)),
    (keras.Sequential.evaluate, dict(x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                                     steps=None, callbacks=None, return_dict=False)),
    (keras.Sequential.predict, dict(x=REQUIRED, batch_size=None, verbose="auto", steps=None, callbacks=None)),
    (keras.Sequential.compile, dict(optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                                    weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                                    jit_compile="auto", auto_scale_loss=True)),
    (keras.Sequential.summary, dict(line_length=None, positions=None, print_fn=None, expand_nested=False,
                                    show_trainable=False, layer_range=None)),
    (keras.Sequential.__init__, dict(layers=None, trainable=True, name=None)),
    (keras.layers.Conv2D.__init__, dict(filters=REQUIRED, kernel_size=REQUIRED, strides=(1, 1), padding="valid",
                                        data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                                        use_bias=True, kernel_initializer="glorot_uniform",
                                        bias_initializer="zeros")),
    (keras.layers.Dense.__init__, dict(units=REQUIRED, activation=None, use_bias=True,
                                       kernel_initializer="glorot_uniform", bias_initializer="zeros")),
    (keras.layers.MaxPooling2D.__init__, dict(pool_size=(2, 2), strides=None, padding="valid", data_format=None)),
    (keras.layers.AveragePooling2D.__init__, dict(pool_size=(2, 2), strides=None, padding="valid")),
    (keras.layers.Dropout.__init__, dict(rate=REQUIRED, noise_shape=None, seed=None)),
    (keras.layers.Flatten.__init__, dict(data_format=None)),
    (keras.Input, dict(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None)),
    (keras.optimizers.Adam.__init__, dict(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                                          amsgrad=False)),
    (keras.optimizers.SGD.__init__, dict(learning_rate=0.01, momentum=0.0, nesterov=False)),
    (keras.optimizers.RMSprop.__init__, dict(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                                             centered=False)),
    (keras.losses.SparseCategoricalCrossentropy.__init__, dict(from_logits=False, ignore_class=None,
                                                               reduction="sum_over_batch_size")),
    (keras.losses.CategoricalCrossentropy.__init__, dict(from_logits=False, label_smoothing=0.0, axis=-1,
                                                         reduction="sum_over_batch_size")),
    (keras.callbacks.EarlyStopping.__init__, dict(monitor="val_loss", min_delta=0, patience=0, verbose=0,
                                                  mode="auto", baseline=None, restore_best_weights=False,
                                                  start_from_epoch=0)),
    (keras.callbacks.ModelCheckpoint.__init__, dict(filepath=REQUIRED, monitor="val_loss", verbose=0,
                                                    save_best_only=False, save_weights_only=False, mode="auto",
                                                    save_freq="epoch", initial_value_threshold=None)),
    (keras.utils.to_categorical, dict(x=REQUIRED, num_classes=None)),
    (keras.models.load_model, dict(filepath=REQUIRED, custom_objects=None, compile=True, safe_mode=True)),
]


@pytest.mark.parametrize("func, expected", SIGNATURES, ids=lambda v: getattr(v, "__qualname__", ""))
def test_argument_names_and_defaults_match_keras(func, expected):
    params = inspect.signature(func).parameters
    for name, default in expected.items():
        assert name in params, f"{func.__qualname__} has no argument {name!r}"
        assert params[name].default == default, (
            f"{func.__qualname__}({name}=...) defaults to {params[name].default!r}; Keras uses {default!r}")


def test_layer_defaults_in_action():
    """``Conv2D(32, (3, 3))``: a 3x3 kernel, stride 1, no padding; ``MaxPool2D(2, 2)``: 2x2 windows, stride 2."""
    model = Sequential([keras.Input(shape=(28, 28, 1)), Conv2D(32, (3, 3)), MaxPool2D(2, 2), Flatten(), Dense(10)])
    conv, pool, flat, dense = model.layers
    assert conv.get_weights()[0].shape == (3, 3, 1, 32)        # kernel (kh, kw, c_in, c_out), like Keras
    assert conv.get_weights()[1].shape == (32,)
    assert conv.output_shape == (None, 26, 26, 32)             # "valid": 28 - 3 + 1
    assert pool.output_shape == (None, 13, 13, 32)             # strides default to pool_size
    assert keras.layers.MaxPooling2D().pool_size == (2, 2)
    assert flat.output_shape == (None, 13 * 13 * 32)
    assert dense.get_weights()[0].shape == (13 * 13 * 32, 10)
    assert not dense.get_weights()[1].any()                    # biases start at zero
    same = Conv2D(4, 3, padding="same")
    Sequential([keras.Input(shape=(28, 28, 1)), same])
    assert same.output_shape == (None, 28, 28, 4)


def test_default_batch_size_is_32(capsys):
    """``fit`` without ``batch_size`` uses 32: 70 samples make 3 steps per epoch."""
    x, y = bars_dataset(70)
    model = compiled_cnn()
    model.fit(x, y, verbose=2)
    assert re.search(r"^3/3 - ", capsys.readouterr().out, re.MULTILINE)


def test_compile_defaults_to_rmsprop():
    model = small_cnn()
    model.compile(loss="sparse_categorical_crossentropy")
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert model.optimizer.learning_rate == pytest.approx(0.001)


# ---------------------------------------------------------------------------
# 3. Building a Sequential model
# ---------------------------------------------------------------------------

def test_sequential_from_a_list_or_with_add():
    """Two ways to write the same model: a list, or ``add`` one layer at a time."""
    listed = Sequential([keras.Input(shape=(8, 8, 1)), Conv2D(4, 3, activation="relu"), Flatten(), Dense(3)])
    added = Sequential()
    added.add(Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)))
    added.add(Flatten())
    added.add(Dense(3))
    for model in (listed, added):
        assert [type(layer).__name__ for layer in model.layers] == ["Conv2D", "Flatten", "Dense"]
        assert model.built and model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 3)
        assert model.count_params() == (3 * 3 * 1 * 4 + 4) + (6 * 6 * 4 * 3 + 3)


def test_the_guide_model_summary(capsys):
    """``model.summary()`` prints one row per layer and the totals; the numbers are Keras's."""
    keras.utils.clear_session()                                 # restart the automatic names, as in a fresh script
    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    model.add(MaxPool2D(2, 2))
    model.add(Flatten())
    model.add(Dense(100, activation="relu"))
    model.add(Dense(10, activation="softmax"))
    assert model.summary() is None
    text = capsys.readouterr().out
    rows = {
        "conv2d (Conv2D)": ("(None, 26, 26, 32)", "320"),
        "max_pooling2d (MaxPooling2D)": ("(None, 13, 13, 32)", "0"),
        "flatten (Flatten)": ("(None, 5408)", "0"),
        "dense (Dense)": ("(None, 100)", "540,900"),
        "dense_1 (Dense)": ("(None, 10)", "1,010"),
    }
    for name, (shape, params) in rows.items():
        assert re.search(rf"{re.escape(name)}\W+{re.escape(shape)}\W+{re.escape(params)}\b", text), name
    assert re.search(r"Total params: 542,230\b", text)
    assert re.search(r"Trainable params: 542,230\b", text)
    assert re.search(r"Non-trainable params: 0\b", text)
    assert text.startswith('Model: "sequential"')
    assert model.count_params() == 542_230
    assert [layer.count_params() for layer in model.layers] == [320, 0, 0, 540_900, 1_010]


def test_summary_print_fn_receives_the_text():
    lines = []
    small_cnn(name="tiny").summary(print_fn=lines.append)
    assert len(lines) == 1 and lines[0].startswith('Model: "tiny"') and "Total params" in lines[0]


def test_layers_are_named_like_keras():
    """Automatic names are the snake-case class name, numbered from the second one on."""
    keras.utils.clear_session()
    a, b, c = Dense(2), Dense(2), Conv2D(1, 1)
    assert (a.name, b.name, c.name) == ("dense", "dense_1", "conv2d")


# ---------------------------------------------------------------------------
# 4. Training, evaluating, predicting: what each call returns
# ---------------------------------------------------------------------------

def test_fit_returns_a_history():
    """``history.history`` maps each reported value to one number per epoch."""
    x, y = bars_dataset(60)
    xv, yv = bars_dataset(30, seed=1)
    model = compiled_cnn()
    history = model.fit(x, y, epochs=3, batch_size=16, validation_data=(xv, yv), verbose=0)
    assert isinstance(history, keras.callbacks.History)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.history.values())
    assert all(isinstance(v, float) for values in history.history.values() for v in values)
    assert history.epoch == [0, 1, 2]
    assert model.history is history
    assert history.params["epochs"] == 3 and history.params["steps"] == 4


def test_evaluate_returns_loss_and_metrics():
    """With metrics: ``[loss, accuracy]``; without: the loss alone; ``return_dict=True``: a dict."""
    x, y = bars_dataset(30)
    with_metrics = compiled_cnn()
    result = with_metrics.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    loss, accuracy = result
    assert loss > 0 and 0 <= accuracy <= 1
    assert with_metrics.evaluate(x, y, verbose=0, return_dict=True) == {"loss": loss, "accuracy": accuracy}
    assert with_metrics.metrics_names == ["loss", "accuracy"]

    no_metrics = compiled_cnn(metrics=())
    only_loss = no_metrics.evaluate(x, y, verbose=0)
    assert isinstance(only_loss, float)


def test_predict_returns_class_probabilities():
    x, _ = bars_dataset(5)
    probs = small_cnn().predict(x, verbose=0)
    assert isinstance(probs, np.ndarray) and probs.shape == (5, 3) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    predicted_classes = probs.argmax(axis=1)
    assert predicted_classes.shape == (5,)


def test_get_weights_and_set_weights():
    """``get_weights`` gives copies in layer order (kernel, bias, ...); ``set_weights`` puts them back."""
    a, b = small_cnn(), small_cnn()
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(3, 3, 1, 4), (4,), (36, 3), (3,)]
    b.set_weights(weights)
    x, _ = bars_dataset(4)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))


# ---------------------------------------------------------------------------
# 5. What ``metrics=["accuracy"]`` means (decided from the shapes, like Keras 3)
# ---------------------------------------------------------------------------

def test_accuracy_with_integer_labels_is_sparse_categorical_accuracy():
    x, y = bars_dataset(40)
    model = compiled_cnn()
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc == pytest.approx(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))
    assert isinstance(model.metrics[0], keras.metrics.SparseCategoricalAccuracy)
    assert model.metrics[0].name == "accuracy"                 # the key in history.history stays "accuracy"


def test_sparse_accuracy_counts_hits_like_the_mean_of_its_values(rng):
    """SparseCategoricalAccuracy.update counts hits directly; the running result must be
    the mean of the per-sample values over every batch seen, as a plain float."""
    metric = keras.metrics.SparseCategoricalAccuracy()
    seen = []
    for n in (32, 32, 7):
        scores = rng.random((n, 10), dtype=np.float32)
        labels = rng.integers(0, 10, n)
        labels[: n // 2] = scores[: n // 2].argmax(axis=1)               # some hits for sure
        metric.update(labels, scores)
        seen.append(metric.values(labels, scores))
    assert type(metric.result()) is float
    assert metric.result() == float(np.mean(np.concatenate(seen), dtype=np.float64))
    column = rng.integers(0, 10, (5, 1))                                 # labels as a column
    metric.reset()
    metric.update(column, np.eye(10, dtype=np.float32)[column[:, 0]])
    assert metric.result() == 1.0


def test_accuracy_with_one_hot_labels_is_categorical_accuracy():
    x, y = bars_dataset(40)
    model = small_cnn()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, keras.utils.to_categorical(y, 3), epochs=1, verbose=0)
    assert "accuracy" in history.history
    assert isinstance(model.metrics[0], keras.metrics.CategoricalAccuracy)
    _, acc = model.evaluate(x, keras.utils.to_categorical(y, 3), verbose=0)
    assert acc == pytest.approx(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))


def test_accuracy_with_one_sigmoid_output_is_binary_accuracy():
    x, y = bars_dataset(40)
    y01 = (y == 0).astype(np.float32)                          # "is it a horizontal bar?"
    model = Sequential([keras.Input(shape=(8, 8, 1)), Flatten(), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    _, acc = model.evaluate(x, y01, verbose=0)
    assert isinstance(model.metrics[0], keras.metrics.BinaryAccuracy)
    p = model.predict(x, verbose=0)[:, 0]
    assert acc == pytest.approx(np.mean((p > 0.5) == (y01 > 0.5)))


# ---------------------------------------------------------------------------
# 6. What training prints: verbose=1 (progress bar), 2 (one line per epoch), 0 (nothing)
# ---------------------------------------------------------------------------

def test_verbose_1_prints_a_progress_bar_per_epoch(capsys):
    x, y = bars_dataset(40)
    compiled_cnn().fit(x, y, epochs=2, batch_size=20, validation_split=0.5, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    finals = re.findall(r"1/1 .*━.* - accuracy: [\d.]+ - loss: [\d.]+ - val_accuracy: [\d.]+ - val_loss: [\d.]+", out)
    assert len(finals) == 2, out


def test_verbose_2_prints_one_line_per_epoch(capsys):
    x, y = bars_dataset(40)
    compiled_cnn().fit(x, y, epochs=3, batch_size=20, verbose=2)
    out = capsys.readouterr().out
    lines = re.findall(r"^2/2 - \d+s - .*accuracy: [\d.]+ - loss: [\d.]+$", out, re.MULTILINE)
    assert len(lines) == 3, out
    assert "━" not in out                                       # no bar at verbose=2


def test_verbose_0_is_silent(capsys):
    x, y = bars_dataset(40)
    model = compiled_cnn()
    model.fit(x, y, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_prints_its_progress_by_default(capsys):
    x, y = bars_dataset(40)
    compiled_cnn().evaluate(x, y)
    assert re.search(r"2/2 .* - accuracy: [\d.]+ - loss: [\d.]+", capsys.readouterr().out)


# ---------------------------------------------------------------------------
# 7. The functional API, saving, callbacks: the shortest complete examples
# ---------------------------------------------------------------------------

def test_functional_model_for_a_chain_of_layers():
    inputs = keras.Input(shape=(8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(3, activation="softmax")(h)
    model = keras.Model(inputs=inputs, outputs=outputs)
    assert model.output_shape == (None, 3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = bars_dataset(30)
    assert len(model.fit(x, y, epochs=2, verbose=0).history["loss"]) == 2


def test_save_and_load_model(tmp_path):
    x, y = bars_dataset(30)
    model = compiled_cnn()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "digits.keras")
    restored = keras.models.load_model(tmp_path / "digits.keras")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_early_stopping_example():
    x, y = bars_dataset(60)
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1)
    model = compiled_cnn(optimizer=keras.optimizers.SGD(learning_rate=0.0))  # the loss cannot improve
    history = model.fit(x, y, epochs=10, shuffle=False, callbacks=[stop], verbose=0)
    assert len(history.history["loss"]) == 2                    # the first epoch, then one without progress
