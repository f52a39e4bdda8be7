"""Keras 3's ``.keras`` format both ways, with real Keras (PyTorch backend) as the oracle.

convlearn -> Keras: models built and trained here, saved, loaded by ``keras.saving.load_model``:
same predictions, and Keras trains on (loss finite and decreasing). Keras -> convlearn: models
built and trained in Keras, loaded here: same predictions, same optimizer state, training continues.
One optimizer step taken on both sides after the exchange gives the same weights, which checks that
every optimizer slot went to the right place.
"""

import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

import convlearn as cl
from convlearn import layers as L
from convlearn.saving import keras_layers

keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")
if keras.backend.backend() != "torch":      # pragma: no cover - another test imported keras first
    pytest.skip("these tests run Keras on its PyTorch backend (KERAS_BACKEND=torch)", allow_module_level=True)
kl = keras.layers

TOL = 1e-5
STEP_TOL = 1e-3     # after a training step: float32 sums in another order, through BatchNormalization and Adam


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, 16)
    return x, y


def close(a, b, tol=TOL):
    a = a if isinstance(a, list) else [a]
    b = b if isinstance(b, list) else [b]
    return all(np.allclose(np.asarray(u), np.asarray(v), atol=tol, rtol=tol) for u, v in zip(a, b))


# ---------------------------------------------------------------------------
# Models, the same ones in both libraries
# ---------------------------------------------------------------------------

def guide_cnn(lib):
    ly = L if lib is cl else kl
    return lib.Sequential([lib.Input((8, 8, 1)), ly.Conv2D(4, (3, 3), activation="relu"), ly.MaxPooling2D((2, 2)),
                           ly.Flatten(), ly.Dense(8, activation="relu"), ly.Dense(3, activation="softmax")])


def residual(lib):
    ly = L if lib is cl else kl
    inputs = lib.Input((8, 8, 1))
    x = ly.Conv2D(4, 3, padding="same")(inputs)
    x = ly.BatchNormalization()(x)
    y = ly.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = ly.add([x, y])
    outputs = ly.Dense(3, activation="softmax")(ly.GlobalAveragePooling2D()(x))
    return lib.Model(inputs, outputs)


def two_in_two_out(lib):
    ly = L if lib is cl else kl
    image, extra = lib.Input((8, 8, 1), name="image"), lib.Input((3,), name="extra")
    x = ly.GlobalMaxPooling2D()(ly.Conv2D(4, 3, activation="relu")(image))
    z = ly.concatenate([x, ly.Dense(4)(extra)])
    return lib.Model([image, extra], [ly.Dense(3, activation="softmax", name="label")(z),
                                      ly.Dense(1, name="score")(z)])


def nested(lib):
    ly = L if lib is cl else kl
    inner = lib.Sequential([lib.Input((4,)), ly.Dense(4, activation="relu"), ly.Dense(3)], name="head")
    inputs = lib.Input((8, 8, 1))
    x = ly.Dense(4)(ly.Flatten()(ly.AveragePooling2D(2)(ly.Conv2D(2, 3)(inputs))))
    return lib.Model(inputs, ly.Softmax()(inner(x)))


MODELS = {"guide_cnn": guide_cnn, "residual": residual, "two_in_two_out": two_in_two_out, "nested": nested}


def inputs_of(name, x):
    return [x, np.linspace(0, 1, len(x) * 3, dtype="float32").reshape(len(x), 3)] if name == "two_in_two_out" else x


def targets_of(name, y):
    return [y, y.astype("float32")[:, None]] if name == "two_in_two_out" else y


def compile_args(name):
    if name == "two_in_two_out":
        return {"loss": ["sparse_categorical_crossentropy", "mse"], "metrics": [["accuracy"], []]}
    return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def trained_and_saved(lib, name, data, path):
    """Model ``name`` built in ``lib``, trained two epochs with Adam and saved to ``path``; (model, x, y)."""
    x, y = inputs_of(name, data[0]), targets_of(name, data[1])
    model = MODELS[name](lib)
    model.compile(optimizer="adam", **compile_args(name))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(path)
    return model, x, y


# ---------------------------------------------------------------------------
# convlearn -> Keras
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_a_convlearn_model_opens_in_keras_and_keras_trains_on(name, data, tmp_path):
    model, x, y = trained_and_saved(cl, name, data, tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert close(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(restored.optimizer.iterations) == model.optimizer.iterations == 4
    # one full-batch step on both sides: the same weights only if Keras got every optimizer slot in its place
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    restored.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert close(restored.predict(x, verbose=0), model.predict(x, verbose=0), tol=STEP_TOL)
    # and Keras trains on: full-batch steps (no shuffling, no randomness) lower the training loss
    losses = restored.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0).history["loss"]
    assert np.isfinite(losses[-1]) and losses[-1] < losses[0]


# ---------------------------------------------------------------------------
# Keras -> convlearn
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_a_keras_model_opens_here_and_training_continues_with_its_optimizer_state(name, data, tmp_path):
    model, x, y = trained_and_saved(keras, name, data, tmp_path / "k.keras")
    restored = cl.models.load_model(tmp_path / "k.keras")
    assert close(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.optimizer.iterations == int(model.optimizer.iterations) == 4
    keras_m = [np.asarray(v) for v in model.optimizer._momentums]
    state = restored.optimizer.get_state()                             # step, then m, v per weight (convlearn order)
    assert sorted(float(np.abs(m).sum()) for m in keras_m) == pytest.approx(
        sorted(float(np.abs(a).sum()) for a in state[1::2]), rel=1e-5)
    # one more full-batch step on both sides: same weights only if every slot is where it belongs
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    restored.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert close(restored.predict(x, verbose=0), model.predict(x, verbose=0), tol=STEP_TOL)
    losses = restored.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0).history["loss"]
    assert np.isfinite(losses[-1]) and losses[-1] < losses[0]


# ---------------------------------------------------------------------------
# Every optimizer: one step after the exchange is the same step
# ---------------------------------------------------------------------------

OPTIMIZERS = {
    "sgd": lambda lib: lib.optimizers.SGD(learning_rate=0.05),
    "sgd_nesterov": lambda lib: lib.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "adam": lambda lib: lib.optimizers.Adam(learning_rate=0.01),
    "adam_amsgrad": lambda lib: lib.optimizers.Adam(learning_rate=0.01, amsgrad=True),
    "rmsprop": lambda lib: lib.optimizers.RMSprop(learning_rate=0.01),
    "rmsprop_centered_momentum": lambda lib: lib.optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
}


def test_every_convlearn_optimizer_is_covered():
    assert set(keras_layers_optimizers()) == {"SGD", "Adam", "RMSprop"}
    assert {type(f(cl)).__name__ for f in OPTIMIZERS.values()} == set(keras_layers_optimizers())


def keras_layers_optimizers():
    from convlearn.saving.keras_format import OPTIMIZER_SLOTS

    names = {n for n in dir(cl.optimizers) if isinstance(getattr(cl.optimizers, n), type)
             and issubclass(getattr(cl.optimizers, n), cl.optimizers.Optimizer) and n != "Optimizer"}
    assert names <= set(OPTIMIZER_SLOTS), f"optimizers without a Keras slot order: {names - set(OPTIMIZER_SLOTS)}"
    return names


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_every_optimizer_state_goes_both_ways(opt, data, tmp_path):
    x, y = data
    ours = residual(cl)
    ours.compile(optimizer=OPTIMIZERS[opt](cl), loss="sparse_categorical_crossentropy")
    ours.fit(x, y, epochs=2, batch_size=8, verbose=0)
    ours.save(tmp_path / "ours.keras")
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    assert type(theirs.optimizer).__name__ == type(ours.optimizer).__name__
    ours.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    theirs.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), tol=STEP_TOL)
    theirs.save(tmp_path / "theirs.keras")                             # and back
    back = cl.models.load_model(tmp_path / "theirs.keras")
    back_config, our_config = back.optimizer.get_config(), ours.optimizer.get_config()
    assert back_config.pop("learning_rate") == pytest.approx(our_config.pop("learning_rate"), rel=1e-6)  # float32
    assert back_config == our_config
    assert back.optimizer.iterations == ours.optimizer.iterations == 5
    back.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    theirs.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert close(theirs.predict(x, verbose=0), back.predict(x, verbose=0), tol=STEP_TOL)


# ---------------------------------------------------------------------------
# Every layer
# ---------------------------------------------------------------------------

def every_layer_model(lib):
    ly = L if lib is cl else kl
    inputs = lib.Input((8, 8, 2))
    x = ly.Rescaling(0.5, offset=0.1)(inputs)
    x = ly.Conv2D(4, 3, padding="same", use_bias=False)(x)
    x = ly.BatchNormalization(center=False)(x)
    x = ly.ReLU(max_value=6.0)(x)
    a = ly.LeakyReLU(negative_slope=0.2)(x)
    b = ly.Activation("tanh")(x)
    c = ly.Conv2D(4, 1)(x)
    x = ly.concatenate([ly.add([a, b]), ly.subtract([a, c]), ly.multiply([b, c]), ly.average([a, b]),
                        ly.maximum([a, c]), ly.minimum([b, c])])
    x = ly.LayerNormalization()(x)
    x = ly.MaxPooling2D(padding="same")(x)
    x = ly.AveragePooling2D(pool_size=2, strides=1)(x)
    g = ly.GlobalAveragePooling2D()(x)
    h = ly.GlobalMaxPooling2D(keepdims=True)(x)
    h = ly.Reshape((24,))(h)
    f = ly.Flatten()(x)
    z = ly.concatenate([g, h, ly.Dropout(0.3)(f)])
    return lib.Model(inputs, ly.Softmax()(ly.Dense(5)(z)))


def test_every_layer_opens_in_keras_and_comes_back(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((4, 8, 8, 2)).astype("float32")
    ours = every_layer_model(cl)
    for w in ours.weights:                                             # moving statistics that are not 0 and 1
        w[...] = rng.uniform(0.5, 1.5, w.shape)
    ours.save(tmp_path / "all.keras")
    theirs = keras.saving.load_model(tmp_path / "all.keras")
    assert close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    theirs.save(tmp_path / "back.keras")
    back = cl.models.load_model(tmp_path / "back.keras")
    assert close(back.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert [layer.name for layer in back.layers] == [layer.name for layer in ours.layers]


def test_every_keras_built_layer_loads_here(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.random((4, 8, 8, 2)).astype("float32")
    theirs = every_layer_model(keras)
    theirs.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in theirs.get_weights()])
    theirs.save(tmp_path / "k.keras")
    ours = cl.models.load_model(tmp_path / "k.keras")
    assert close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


AUGMENTATION = ("RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
                "RandomBrightness")


def new_layers_model(lib):
    """The convolution variants, the resizing layers and the augmentation layers (identity at inference)."""
    ly = L if lib is cl else kl
    inputs = lib.Input((8, 8, 4))
    x = ly.RandomFlip("horizontal_and_vertical", seed=1)(inputs)
    x = ly.RandomRotation(0.2, fill_mode="nearest", seed=2)(x)
    x = ly.RandomZoom((-0.2, 0.1), width_factor=0.3, seed=3)(x)
    x = ly.RandomTranslation(0.1, (-0.2, 0.2), fill_mode="constant", seed=4)(x)
    x = ly.RandomContrast(0.3, seed=5)(x)
    x = ly.RandomBrightness(0.2, value_range=(0, 1), seed=6)(x)
    x = ly.Conv2D(6, 3, dilation_rate=2, padding="same", activation="relu")(x)
    x = ly.Conv2D(6, 3, groups=2, padding="same")(x)
    x = ly.DepthwiseConv2D(3, depth_multiplier=2, padding="same", use_bias=False)(x)    # (8, 8, 12)
    x = ly.SeparableConv2D(5, 3, depth_multiplier=2, padding="same")(x)                 # (8, 8, 5)
    x = ly.Conv2DTranspose(3, 3, strides=2, padding="same")(x)                           # (16, 16, 3)
    x = ly.Cropping2D(((1, 2), (0, 1)))(x)                                               # (13, 15, 3)
    x = ly.ZeroPadding2D(((1, 0), (2, 1)))(x)                                            # (14, 18, 3)
    x = ly.Resizing(7, 9)(x)                                                             # (7, 9, 3)
    x = ly.CenterCrop(6, 8)(x)                                                           # (6, 8, 3)
    x = ly.UpSampling2D((2, 1), interpolation="bilinear")(x)                             # (12, 8, 3)
    x = ly.UpSampling2D((1, 2))(x)                                                       # (12, 16, 3)
    x = ly.Resizing(6, 6, crop_to_aspect_ratio=True)(x)                                  # (6, 6, 3)
    x = ly.Resizing(5, 4, interpolation="nearest", pad_to_aspect_ratio=True, fill_value=0.5)(x)  # (5, 4, 3)
    x = ly.Conv2DTranspose(2, 3, strides=2, output_padding=1)(x)                         # (12, 10, 2)
    return lib.Model(inputs, ly.Dense(3)(ly.Flatten()(x)))


def plain(config):
    """A config with tuples as lists, as it comes back from JSON."""
    import json

    return json.loads(json.dumps(config))


def test_the_new_layers_open_in_keras_and_come_back(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.random((3, 8, 8, 4)).astype("float32")
    ours = new_layers_model(cl)
    for w in ours.weights:
        w[...] = rng.uniform(-1, 1, w.shape)
    ours.save(tmp_path / "new.keras")
    theirs = keras.saving.load_model(tmp_path / "new.keras")
    assert close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    assert [type(layer).__name__ for layer in theirs.layers] == [type(layer).__name__ for layer in ours.layers]
    theirs.save(tmp_path / "back.keras")
    back = cl.models.load_model(tmp_path / "back.keras")
    assert close(back.predict(x, verbose=0), ours.predict(x, verbose=0))
    for a, b in zip(ours.layers, back.layers):                                  # every argument came back
        assert plain(b.get_config()) == plain(a.get_config()), a.name
    # the augmentation layers pass images through unchanged at inference (also after Keras's file)
    for layer, out in back.layer_outputs(x):
        if type(layer).__name__ in AUGMENTATION:
            np.testing.assert_array_equal(out, x)


def test_the_new_layers_built_in_keras_load_here_and_go_back(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.random((3, 8, 8, 4)).astype("float32")
    theirs = new_layers_model(keras)
    theirs.set_weights([rng.uniform(-1, 1, w.shape).astype("float32") for w in theirs.get_weights()])
    theirs.save(tmp_path / "k.keras")
    ours = cl.models.load_model(tmp_path / "k.keras")
    assert close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    ours.save(tmp_path / "ours.keras")
    again = keras.saving.load_model(tmp_path / "ours.keras")
    for a, b in zip(theirs.layers, again.layers):                              # Keras reads back its own config
        assert plain(b.get_config()) == plain(a.get_config()), a.name
    assert close(again.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_random_crop_config_goes_both_ways(tmp_path):
    # (predictions are not compared: at inference Keras 3.15 returns the images uncropped, against its own
    # compute_output_shape; convlearn crops the centre, see RandomCrop's docstring)
    ours = cl.Sequential([cl.Input((8, 8, 2)), L.RandomCrop(5, 6, seed=3, name="crop")])
    ours.save(tmp_path / "crop.keras")
    theirs = keras.saving.load_model(tmp_path / "crop.keras")
    assert theirs.layers[0].get_config() | {"dtype": None} == kl.RandomCrop(5, 6, seed=3, name="crop").get_config() \
        | {"dtype": None}
    theirs.save(tmp_path / "back.keras")
    back = cl.models.load_model(tmp_path / "back.keras")
    assert back.layers[-1].get_config() == ours.layers[-1].get_config()


def test_every_layer_with_weights_has_its_keras_order_in_the_table():
    import inspect

    with_weights = []
    for name in L.__all__:
        cls = getattr(L, name)
        if isinstance(cls, type) and issubclass(cls, L.Layer) and cls is not L.Layer and cls.__name__ == name \
                and "add_weight" in inspect.getsource(cls):
            with_weights.append(name)
    assert {"Conv2D", "Dense", "BatchNormalization", "LayerNormalization"} <= set(with_weights)
    missing = [name for name in with_weights if name not in keras_layers.KERAS_LAYERS]
    assert not missing, f"layers with weights but no row in KERAS_LAYERS: {missing}"


def test_snake_case_group_names_are_keras_own():
    from keras.src.utils import naming

    from convlearn.layers.base import snake_case

    for name in L.__all__:
        cls = getattr(L, name)
        if isinstance(cls, type) and cls.__name__ == name:
            assert snake_case(name) == naming.to_snake_case(name), name
    assert snake_case("Functional") == naming.to_snake_case("Functional")


# ---------------------------------------------------------------------------
# Weights files, and what cannot be loaded
# ---------------------------------------------------------------------------

def test_weights_h5_both_ways(data, tmp_path):
    x, _ = data
    ours, theirs = residual(cl), residual(keras)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    assert close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    theirs.set_weights([w * 0.5 for w in theirs.get_weights()])
    theirs.save_weights(tmp_path / "theirs.weights.h5")
    ours.load_weights(tmp_path / "theirs.weights.h5")
    assert close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_a_keras_model_file_loads_as_weights_too(data, tmp_path):
    x, _ = data
    theirs = guide_cnn(keras)
    theirs.save(tmp_path / "k.keras")
    ours = guide_cnn(cl)
    ours.load_weights(tmp_path / "k.keras")
    assert close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_weights_of_another_model_are_refused(tmp_path):
    guide_cnn(cl).save_weights(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match=r"w.weights.h5' has no weights for 'layers/batch_normalization' "
                                         r"\(layer 'batch_normalization\w*'\); the model needs 4 arrays there"):
        residual(cl).load_weights(tmp_path / "w.weights.h5")


def test_a_keras_layer_convlearn_lacks_is_named(tmp_path):
    model = keras.Sequential([keras.Input((8, 8, 1)), kl.Conv2D(2, 3), kl.SpatialDropout2D(0.2), kl.Flatten()])
    model.save(tmp_path / "k.keras")
    with pytest.raises(ValueError, match=r"The Keras layer 'SpatialDropout2D' .* is not one convlearn has"):
        cl.models.load_model(tmp_path / "k.keras")


def test_a_keras_option_convlearn_lacks_is_named(tmp_path):
    model = keras.Sequential([keras.Input((4,)), kl.Dense(2, kernel_regularizer="l2")])
    model.save(tmp_path / "k.keras")
    with pytest.raises(ValueError, match=r"kernel_regularizer.* not supported by convlearn"):
        cl.models.load_model(tmp_path / "k.keras")


def test_a_keras_optimizer_convlearn_lacks_is_named(tmp_path):
    model = keras.Sequential([keras.Input((4,)), kl.Dense(2)])
    model.compile(optimizer="adagrad", loss="mse")
    model.save(tmp_path / "k.keras")
    with pytest.raises(ValueError, match=r"The optimizer 'Adagrad' is not one convlearn has .*compile=False"):
        cl.models.load_model(tmp_path / "k.keras")
    assert not cl.models.load_model(tmp_path / "k.keras", compile=False).compiled


def test_convlearn_round_trip_keeps_the_compiled_state(data, tmp_path):
    x, y = data
    model = guide_cnn(cl)
    model.compile(optimizer=cl.optimizers.RMSprop(learning_rate=0.003, momentum=0.5), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    back = cl.models.load_model(tmp_path / "m.keras")
    assert back.optimizer.get_config() == model.optimizer.get_config()
    assert back.loss.get_config() == model.loss.get_config()
    for a, b in zip(back.optimizer.get_state(), model.optimizer.get_state()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    assert set(back.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}


# ---------------------------------------------------------------------------
# Subclassed models: the same class written in each library
# ---------------------------------------------------------------------------

def subclassed_classes(lib):
    """``(Block, Net)``: a composed layer and a subclassed model, the same code for ``lib`` (cl or keras)."""
    ly = L if lib is cl else kl

    class Block(ly.Layer):
        def __init__(self, filters, **kwargs):
            super().__init__(**kwargs)
            self.filters = filters
            self.first = ly.Conv2D(filters, 3, padding="same", activation="relu")
            self.second = ly.Conv2D(filters, 3, padding="same")

        def call(self, x, training=False):
            return self.second(self.first(x)) + x

        def get_config(self):
            return {**super().get_config(), "filters": self.filters}

    class Net(lib.Model):
        def __init__(self, classes=3, **kwargs):
            super().__init__(**kwargs)
            self.stem = ly.Conv2D(4, 3, padding="same", activation="relu")   # saved under layers/ (sorted after it)
            self.blocks = [Block(4), Block(4)]                                 # blocks/block, blocks/block_1
            self.head = {"norm": ly.BatchNormalization(), "pool": ly.GlobalAveragePooling2D(),
                         "out": ly.Dense(classes, activation="softmax")}
            self.classes = classes

        def call(self, x, training=False):
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            x = self.head["pool"](self.head["norm"](x, training=training))
            return self.head["out"](x)

        def get_config(self):
            return {**super().get_config(), "classes": self.classes}

    return Block, Net


@pytest.mark.parametrize("source", ["convlearn", "keras"])
def test_a_subclassed_model_goes_both_ways_with_the_same_class_on_each_side(source, data, tmp_path):
    x, y = data
    libs = {"convlearn": cl, "keras": keras}
    writer, reader = libs[source], libs["keras" if source == "convlearn" else "convlearn"]
    _, Net = subclassed_classes(writer)
    model = Net(classes=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    model.save(tmp_path / "net.keras")
    config = __import__("json").loads(zipfile.ZipFile(tmp_path / "net.keras").read("config.json"))
    assert (config["class_name"], config["registered_name"], config["config"]["classes"]) == ("Net", "Net", 4)
    assert config["build_config"]["input_shape"][1:] == [8, 8, 1]
    theirs_block, theirs_net = subclassed_classes(reader)
    load = keras.saving.load_model if reader is keras else cl.models.load_model
    restored = load(tmp_path / "net.keras", custom_objects={"Net": theirs_net, "Block": theirs_block})
    assert type(restored) is theirs_net and restored.classes == 4
    assert close(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) == 4
    # one more full-batch Adam step on both sides: the same weights only if every slot went to its weight
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    restored.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert close(restored.predict(x, verbose=0), model.predict(x, verbose=0), tol=STEP_TOL)


def test_a_subclassed_model_file_names_where_keras_puts_each_layer(tmp_path):
    import h5py

    _, Net = subclassed_classes(cl)
    model = Net()
    model.build((None, 8, 8, 1))
    model.save(tmp_path / "net.keras")
    with zipfile.ZipFile(tmp_path / "net.keras") as zf, h5py.File(__import__("io").BytesIO(
            zf.read("model.weights.h5"))) as f:
        groups = []
        f.visit(lambda name: groups.append(name[:-5]) if name.endswith("/vars") else None)
    assert sorted(groups) == ["blocks/block", "blocks/block/first", "blocks/block/second", "blocks/block_1",
                              "blocks/block_1/first", "blocks/block_1/second", "head/batch_normalization",
                              "head/dense", "head/global_average_pooling2d", "layers/conv2d"]


def test_a_subclassed_model_of_an_unknown_class_names_custom_objects(tmp_path):
    _, Net = subclassed_classes(keras)
    model = Net()
    model.predict(np.zeros((1, 8, 8, 1), "float32"), verbose=0)
    model.save(tmp_path / "net.keras")
    with pytest.raises(ValueError, match=r"Unknown layer class 'Net' .*custom_objects=\{'Net': Net\}"):
        cl.models.load_model(tmp_path / "net.keras")


def test_a_subclassed_model_with_positional_arguments_is_refused_with_what_to_do(tmp_path):
    class Tiny(cl.Model):
        def __init__(self, units):
            super().__init__()
            self.dense = L.Dense(units)

        def call(self, x, training=False):
            return self.dense(x)

    model = Tiny(2)
    model.predict(np.ones((2, 3), "float32"), verbose=0)
    with pytest.raises(ValueError, match=r"made with positional .*Pass its arguments by keyword .*get_config"):
        model.save(tmp_path / "t.keras")
    with pytest.raises(ValueError, match=r"the legacy .h5 format holds Sequential and functional models only"), \
            pytest.warns(UserWarning):
        model.save(tmp_path / "t.h5")


def test_one_input_and_one_output_are_written_as_keras_3_0_writes_them(tmp_path):
    """Keras 3.0 reads a functional model's inputs and outputs as lists of [layer, node, tensor]
    triples only (later releases also write a bare triple for one tensor, which 3.0 cannot read)."""
    import json
    import zipfile

    import convlearn

    inputs = convlearn.Input((4,))
    model = convlearn.Model(inputs, convlearn.layers.Dense(2)(inputs))
    model.save(tmp_path / "one.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "one.keras").read("config.json"))["config"]
    assert config["input_layers"] == [[model.layers[0].name, 0, 0]]
    assert config["output_layers"] == [[model.layers[-1].name, 0, 0]]
    loaded = convlearn.models.load_model(tmp_path / "one.keras")
    x = np.ones((3, 4), "float32")
    assert isinstance(loaded.predict(x, verbose=0), np.ndarray)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
