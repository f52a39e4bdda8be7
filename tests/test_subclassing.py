"""Subclassed models and layers (``__init__`` + ``call``), custom layers, and freezing, like Keras 3."""

from __future__ import annotations

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers
from model_helpers import bars_dataset


class ResidualBlock(keras.layers.Layer):
    """conv -> relu -> conv, plus the input: the block of a ResNet, composed from layers."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.first = layers.Conv2D(filters, 3, padding="same", activation="relu")
        self.second = layers.Conv2D(filters, 3, padding="same")

    def call(self, x, training=False):
        return layers.Activation("relu")(self.second(self.first(x)) + x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


class ResNet(keras.Model):
    def __init__(self, classes=3, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Conv2D(4, 3, padding="same", activation="relu")
        self.blocks = [ResidualBlock(4), ResidualBlock(4)]
        self.head = {"pool": layers.GlobalAveragePooling2D(), "drop": layers.Dropout(0.5, seed=1),
                     "out": layers.Dense(classes, activation="softmax")}

    def call(self, x, training=False):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        x = self.head["pool"](x)
        if training:
            x = self.head["drop"](x)
        return self.head["out"](x)


def test_a_subclassed_resnet_trains_evaluates_predicts_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = bars_dataset(96)
    model = ResNet()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    # layers in attributes, a list and a dict are all tracked, in the order they were set
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "ResidualBlock", "ResidualBlock", "GlobalAveragePooling2D", "Dropout", "Dense"]
    assert len(model.weights) == 2 + 4 + 4 + 2
    assert model.count_params() == 40 + 2 * (148 + 148) + 15
    loss, acc = model.evaluate(x, y, verbose=0)
    assert 0 <= acc <= 1
    predictions = model.predict(x, verbose=0)
    assert predictions.shape == (96, 3)
    model.save(tmp_path / "resnet.keras")
    loaded = keras.models.load_model(tmp_path / "resnet.keras",
                                     custom_objects={"ResNet": ResNet, "ResidualBlock": ResidualBlock})
    assert type(loaded) is ResNet
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), predictions)
    assert loaded.evaluate(x, y, verbose=0) == [loss, acc]
    loaded.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Unknown layer class 'ResNet'.*custom_objects=\{'ResNet': ResNet\}"):
        keras.models.load_model(tmp_path / "resnet.keras")


def test_training_is_passed_to_call(rng):
    seen = []

    class Watch(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)
            self.drop = layers.Dropout(0.9, seed=0)

        def call(self, x, training=False):
            seen.append(training)
            return self.drop(self.dense(x))

    model = Watch()
    x = rng.random((4, 3), dtype=np.float32)
    out = model(x)                                             # inference: Dropout does nothing
    np.testing.assert_allclose(out, model.dense(x), rtol=1e-6)
    assert set(seen) == {False, True}                          # recorded once for each mode
    assert not np.allclose(model(x, training=True), out)      # training: Dropout drops
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((4, 2)), verbose=0)


def test_save_and_load_weights_of_a_subclassed_model(tmp_path, rng):
    keras.utils.set_random_seed(1)
    a = ResNet()
    a.build((None, 8, 8, 1))
    a.save_weights(tmp_path / "w.weights.npz")
    b = ResNet()
    b.build((None, 8, 8, 1))
    b.load_weights(tmp_path / "w.weights.npz")
    x = rng.random((2, 8, 8, 1), dtype=np.float32)
    np.testing.assert_array_equal(a.predict(x, verbose=0), b.predict(x, verbose=0))
    assert [w.shape for w in a.get_weights()] == [w.shape for w in b.get_weights()]


def test_a_model_without_call_and_one_that_cannot_be_built():
    class NoCall(keras.Model):
        pass

    with pytest.raises(NotImplementedError, match=r"Model 'no_call' \(NoCall\) has no call\(\): define "
                                                  r"call\(self, x, training=False\)"):
        NoCall().predict(np.ones((2, 3)), verbose=0)

    class ReturnsArray(keras.Model):
        def call(self, x, training=False):
            return 3

    model = ReturnsArray()
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(TypeError, match=r"cannot be built for inputs of shape \(None, 3\).*call\(\) must return "
                                        r"the output of convlearn layers.*returned int 3"):
        model.fit(np.ones((2, 3)), np.ones((2, 1)), verbose=0)


def test_branching_on_values_is_refused_with_a_clear_error():
    class DataDependent(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x, training=False):
            return self.dense(x) if x else x

    with pytest.raises(TypeError, match="must not branch on the values of its inputs"):
        DataDependent().predict(np.ones((2, 3)), verbose=0)


# ---------------------------------------------------------------------------
# Custom layers: forward/backward (the teaching path), or NumPy in call()
# ---------------------------------------------------------------------------

class Scale(keras.layers.Layer):
    """out = x * w, per feature: a custom layer with its own forward and backward."""

    def build(self, input_shape):
        self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def forward(self, x, training=False):
        return x * self.params["w"], x

    def backward(self, dout, x):
        return dout * self.params["w"], {"w": (dout * x).sum(axis=0)}


def test_a_custom_layer_with_forward_and_backward_trains_inside_a_graph(rng):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((3,))
    scale = Scale()
    model = keras.Model(inputs, layers.Dense(1)(scale(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    x = rng.random((32, 3), dtype=np.float32)
    before = scale.params["w"].copy()
    model.fit(x, x.sum(axis=1, keepdims=True), epochs=2, verbose=0)
    assert not np.array_equal(scale.params["w"], before)
    assert model.check_gradients(x[:4], print_fn=None).ok


def test_numpy_in_call_runs_but_training_through_it_gets_a_clear_error(rng):
    class NumpyDense(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")

        def call(self, x):
            return np.tanh(x @ self.w)

    inputs = keras.Input((3,))
    custom = NumpyDense()
    model = keras.Model(inputs, layers.Dense(1)(custom(inputs)))
    x = rng.random((4, 3), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.layers[-1](np.tanh(x @ custom.w)), rtol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    with pytest.raises(NotImplementedError, match=r"computes its output with NumPy in call\(\), so convlearn cannot "
                                                  r"work out its gradient.*Write forward.*backward"):
        model.fit(x, np.zeros((4, 1)), verbose=0)
    for a, b in zip(model.get_weights(), before):                # refused before any weight changed
        np.testing.assert_array_equal(a, b)


def test_a_frozen_numpy_preprocessing_layer_first_needs_no_gradient(rng):
    class Centre(keras.layers.Layer):
        def call(self, x):
            return x - 0.5

    model = keras.Sequential([keras.Input((3,)), Centre(), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = rng.random((8, 3), dtype=np.float32)
    model.fit(x, np.ones((8, 1)), verbose=0)                   # nothing needs its gradient
    np.testing.assert_allclose(model.predict(x, verbose=0), model.layers[-1](x - 0.5), rtol=1e-6)


# ---------------------------------------------------------------------------
# Freezing: trainable=False, the fine-tuning pattern
# ---------------------------------------------------------------------------

def test_freeze_compile_fit_then_unfreeze_compile_fit(capsys):
    keras.utils.set_random_seed(3)
    base_in = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, activation="relu")(base_in)
    x = layers.BatchNormalization()(x)
    base = keras.Model(base_in, layers.GlobalAveragePooling2D()(x), name="base")
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(base(inputs)))
    xb, yb = bars_dataset(64)

    base.trainable = False                     # freezes every layer inside it
    assert all(not layer.trainable for layer in base.layers)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = base.get_weights()
    head = model.layers[-1].get_weights()
    model.fit(xb, yb, epochs=2, verbose=0)
    for a, b in zip(base.get_weights(), frozen):            # conv and BatchNormalization statistics included
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.layers[-1].get_weights()[0], head[0])
    model.summary()
    text = capsys.readouterr().out
    assert "Trainable params: 15 " in text and f"Non-trainable params: {40 + 16} " in text

    base.trainable = True
    model.fit(xb, yb, epochs=1, verbose=0)                  # no compile yet: the optimizer still skips them
    for a, b in zip(base.trainable_weights, frozen[:4]):    # (conv kernel and bias, gamma, beta)
        np.testing.assert_array_equal(a, b)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(xb, yb, epochs=1, verbose=0)
    assert not np.array_equal(base.get_weights()[0], frozen[0])
