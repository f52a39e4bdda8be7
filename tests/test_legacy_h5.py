"""Legacy .h5 models (Keras 2 / tf.keras and Keras 3's model.save("x.h5")), with Keras 3 as the oracle."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
from test_keras_format import MODELS, close, compile_args, inputs_of, targets_of

import convlearn as cl

keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    return rng.random((16, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 16)


@pytest.mark.parametrize("name", ["guide_cnn", "residual", "two_in_two_out"])
def test_h5_both_ways(name, data, tmp_path):
    x, y = inputs_of(name, data[0]), targets_of(name, data[1])
    ours = MODELS[name](cl)
    ours.compile(optimizer="adam", **compile_args(name))
    ours.fit(x, y, epochs=1, batch_size=8, verbose=0)
    with pytest.warns(UserWarning, match=r"the HDF5 \(.h5\) format is legacy"):
        ours.save(tmp_path / "ours.h5")
    theirs = keras.saving.load_model(tmp_path / "ours.h5")
    assert close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    # (Keras 3.15 cannot train a model it loaded from .h5: its optimizer is rebuilt for other variables)
    theirs.save(tmp_path / "theirs.h5")
    back = cl.models.load_model(tmp_path / "theirs.h5")
    assert close(back.predict(x, verbose=0), theirs.predict(x, verbose=0))
    assert back.optimizer.iterations == ours.optimizer.iterations == 2   # (Keras keeps no slots in its .h5)
    # training continues: full-batch steps without shuffling (nothing random) lower the training loss
    losses = back.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    # convlearn's own .h5 keeps Adam's whole state: one full-batch step on both models gives the same
    # weights only if the step count and every slot came back in its place
    mine = cl.models.load_model(tmp_path / "ours.h5")
    ours.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    mine.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert close(mine.predict(x, verbose=0), ours.predict(x, verbose=0), tol=1e-6)


def test_h5_weights_of_another_model_are_refused(data, tmp_path):
    keras_model = MODELS["guide_cnn"](keras)
    keras_model.save(tmp_path / "k.h5")
    with pytest.raises(ValueError, match=r"holds weights for 3 layers .* the model has 4 layers with weights"):
        MODELS["residual"](cl).load_weights(tmp_path / "k.h5")
    ours = MODELS["guide_cnn"](cl)
    ours.load_weights(tmp_path / "k.h5")
    assert close(ours.predict(data[0], verbose=0), keras_model.predict(data[0], verbose=0))


# ---------------------------------------------------------------------------
# Files of Keras 2 / tf.keras, written here as Keras 2.x lays them out
# ---------------------------------------------------------------------------

def _keras2_conv(name, filters, activation):
    return {"class_name": "Conv2D", "config": {
        "name": name, "trainable": True, "dtype": "float32", "filters": filters, "kernel_size": [3, 3],
        "strides": [1, 1], "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
        "activation": activation, "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}}


def _keras2_dense(name, units, activation):
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
        "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}}


def _keras2_sequential():
    layers = [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 8, 8, 1], "dtype": "float32",
                                                "sparse": False, "ragged": False, "name": "conv2d_input"}},
        _keras2_conv("conv2d", 3, "relu"),
        {"class_name": "MaxPooling2D", "config": {"name": "max_pooling2d", "trainable": True, "dtype": "float32",
                                                  "pool_size": [2, 2], "padding": "valid", "strides": [2, 2],
                                                  "data_format": "channels_last"}},
        {"class_name": "Flatten", "config": {"name": "flatten", "trainable": True, "dtype": "float32",
                                             "data_format": "channels_last"}},
        _keras2_dense("dense", 4, "softmax"),
    ]
    layers[1]["config"]["batch_input_shape"] = [None, 8, 8, 1]
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}


def _keras2_functional():
    def node(*names):
        return [[[n, 0, 0, {}] for n in names]]

    layers = [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 8, 8, 1], "dtype": "float32", "sparse": False, "ragged": False,
                    "name": "input_1"}},
        {**_keras2_conv("conv2d", 2, "linear"), "name": "conv2d", "inbound_nodes": node("input_1")},
        {**_keras2_conv("conv2d_1", 2, "relu"), "name": "conv2d_1", "inbound_nodes": node("conv2d")},
        {"class_name": "Add", "name": "add", "inbound_nodes": node("conv2d", "conv2d_1"),
         "config": {"name": "add", "trainable": True, "dtype": "float32"}},
        {"class_name": "GlobalAveragePooling2D", "name": "global_average_pooling2d", "inbound_nodes": node("add"),
         "config": {"name": "global_average_pooling2d", "trainable": True, "dtype": "float32",
                    "data_format": "channels_last", "keepdims": False}},
        {**_keras2_dense("dense", 3, "softmax"), "name": "dense", "inbound_nodes": node("global_average_pooling2d")},
    ]
    return {"class_name": "Functional", "config": {"name": "model", "layers": layers,
                                                   "input_layers": [["input_1", 0, 0]],
                                                   "output_layers": [["dense", 0, 0]]}}


def _write_keras2_h5(path, model_config, weights):
    """An .h5 file as tf.keras 2.x's ``model.save("x.h5")`` writes it; ``weights`` maps each layer (in order)
    to its ``[(name, array)]``, empty for layers without weights."""
    import json

    import h5py

    training = {"loss": "sparse_categorical_crossentropy", "weighted_metrics": None, "loss_weights": None,
                "metrics": [[{"class_name": "MeanMetricWrapper",
                              "config": {"name": "accuracy", "dtype": "float32", "fn": "sparse_categorical_accuracy"}}]],
                "optimizer_config": {"class_name": "Custom>Adam", "config": {
                    "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                    "clipvalue": None, "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                    "jit_compile": True, "is_legacy_optimizer": False, "learning_rate": 0.0020000000949949026,
                    "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.13.1"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        f.attrs["training_config"] = json.dumps(training).encode("utf8")
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.array([name.encode("utf8") for name in weights])
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = b"2.13.1"
        for layer, arrays in weights.items():
            g = group.create_group(layer)
            names = [f"{layer}/{w}:0".encode() for w, _ in arrays]
            g.attrs["weight_names"] = np.array(names) if names else np.array([], dtype="S1")
            for (w, value), name in zip(arrays, names):
                g.create_dataset(name.decode(), data=value)                 # at <layer>/<layer>/<weight>:0
        opt = f.create_group("optimizer_weights")                        # Keras 2's own optimizer names
        opt.attrs["weight_names"] = np.array([b"Adam/iter:0"])
        opt.create_dataset("Adam/iter:0", data=np.array(7, dtype=np.int64))


def _random_weights(keras_model, rng):
    return [rng.uniform(-1, 1, w.shape).astype("float32") for w in keras_model.get_weights()]


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_keras2_h5_loads_with_its_weights_and_compile_settings(kind, data, tmp_path):
    x = data[0]
    rng = np.random.default_rng(7)
    kl = keras.layers
    if kind == "sequential":
        oracle = keras.Sequential([keras.Input((8, 8, 1)), kl.Conv2D(3, 3, padding="same", activation="relu"),
                                   kl.MaxPooling2D(), kl.Flatten(), kl.Dense(4, activation="softmax")])
        arrays = _random_weights(oracle, rng)
        weights = {"conv2d": [("kernel", arrays[0]), ("bias", arrays[1])], "max_pooling2d": [], "flatten": [],
                   "dense": [("kernel", arrays[2]), ("bias", arrays[3])]}
        config = _keras2_sequential()
    else:
        inputs = keras.Input((8, 8, 1))
        a = kl.Conv2D(2, 3, padding="same")(inputs)
        b = kl.Conv2D(2, 3, padding="same", activation="relu")(a)
        oracle = keras.Model(inputs, kl.Dense(3, activation="softmax")(kl.GlobalAveragePooling2D()(kl.add([a, b]))))
        arrays = _random_weights(oracle, rng)
        weights = {"input_1": [], "conv2d": [("kernel", arrays[0]), ("bias", arrays[1])],
                   "conv2d_1": [("kernel", arrays[2]), ("bias", arrays[3])], "add": [],
                   "global_average_pooling2d": [], "dense": [("kernel", arrays[4]), ("bias", arrays[5])]}
        config = _keras2_functional()
    oracle.set_weights(arrays)
    _write_keras2_h5(tmp_path / "keras2.h5", config, weights)
    with pytest.warns(UserWarning, match=r"the optimizer state \(1 arrays, written by Keras 2\?\).*fresh optimizer"):
        model = cl.models.load_model(tmp_path / "keras2.h5")
    assert [w.shape for w in model.get_weights()] == [a.shape for a in arrays]
    for ours, theirs in zip(model.get_weights(), arrays):                # each array in its place
        np.testing.assert_array_equal(ours, theirs)
    assert close(model.predict(x, verbose=0), oracle.predict(x, verbose=0))
    assert type(model.optimizer).__name__ == "Adam"
    assert model.optimizer.learning_rate == pytest.approx(0.002)
    assert set(model.evaluate(x, data[1], verbose=0, return_dict=True)) == {"loss", "accuracy"}
    model.fit(x, data[1], epochs=1, batch_size=16, verbose=0)                   # and it trains on
