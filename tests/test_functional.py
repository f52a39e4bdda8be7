"""The functional API: keras.Input, layers called on tensors, Model(inputs, outputs) like Keras 3."""

from __future__ import annotations

import json

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers


def two_in_two_out():
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = layers.Flatten()(layers.MaxPooling2D()(layers.Conv2D(4, 3, activation="relu")(image)))
    x = layers.concatenate([x, layers.Dense(4, activation="relu")(meta)])
    cls = layers.Dense(3, activation="softmax", name="cls")(x)
    reg = layers.Dense(1, name="reg")(x)
    return keras.Model(inputs=[image, meta], outputs=[cls, reg])


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = [rng.random((n, 8, 8, 1), dtype=np.float32), rng.random((n, 3), dtype=np.float32)]
    y = [rng.integers(0, 3, n), rng.random((n, 1), dtype=np.float32)]
    return x, y


def test_model_of_inputs_and_outputs_is_a_functional_model():
    model = two_in_two_out()
    assert isinstance(model, keras.Model) and type(model).__name__ == "Functional"
    assert isinstance(keras.Sequential([keras.Input((3,)), layers.Dense(2)]), keras.Model)
    assert model.input_names == ["image", "meta"] and model.output_names == ["cls", "reg"]
    # like Keras, model.layers lists the InputLayers too, deepest first
    assert [layer.name for layer in model.layers][:2] == ["image", model.layers[1].name]
    assert {type(layer).__name__ for layer in model.layers} >= {"InputLayer", "Concatenate", "Dense"}
    assert model.get_layer("cls").units == 3
    assert model.get_layer(index=-1).name == "reg"


def test_fit_with_lists_and_dicts_and_per_output_losses():
    x, y = data()
    model = two_in_two_out()
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5],
                  metrics=[["accuracy"], ["mae"]])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0).history
    assert set(history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"}
    # the total is the weighted sum of the outputs' losses
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert results["loss"] == pytest.approx(results["cls_loss"] + 0.5 * results["reg_loss"], rel=1e-6)
    model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  metrics={"cls": ["accuracy"]})
    history = model.fit({"image": x[0], "meta": x[1]}, {"cls": y[0], "reg": y[1]}, epochs=1, verbose=0).history
    assert set(history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy"}
    out = model.predict({"image": x[0][:5], "meta": x[1][:5]}, verbose=0)
    assert isinstance(out, list) and out[0].shape == (5, 3) and out[1].shape == (5, 1)


def test_one_loss_for_every_output_and_an_output_without_loss():
    x, y = data()
    model = two_in_two_out()
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", None])
    history = model.fit(x, [y[0], None], verbose=0).history
    assert set(history) == {"loss"}
    reg_model = keras.Model(model.inputs, [model.get_layer("reg").output, model.get_layer("reg").output * 2.0])
    reg_model.compile(optimizer="sgd", loss="mse")
    history = reg_model.fit(x, [y[1], y[1]], verbose=0).history
    names = reg_model.output_names
    assert names[0] == "reg" and names[1].startswith("rescaling")        # x * 2.0 recorded a Rescaling layer
    assert set(history) == {"loss", "reg_loss", f"{names[1]}_loss"}


def test_dict_outputs_come_back_as_a_dict():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, {"a": layers.Dense(2)(inputs), "b": layers.Dense(1)(inputs)})
    assert model.output_names == ["a", "b"]
    out = model.predict(np.ones((3, 4), np.float32), verbose=0)
    assert set(out) == {"a", "b"} and out["a"].shape == (3, 2)
    model.compile(optimizer="sgd", loss={"a": "mse", "b": "mse"}, metrics={"a": ["mae"]})
    history = model.fit(np.ones((8, 4)), {"a": np.ones((8, 2)), "b": np.zeros((8, 1))}, verbose=0).history
    assert set(history) == {"loss", "a_loss", "b_loss", "a_mae"}


def test_models_nest_as_layers(rng):
    inner_in = keras.Input((6,))
    inner = keras.Model(inner_in, layers.Dense(4, activation="relu")(inner_in), name="inner")
    outer_in = keras.Input((6,))
    outer = keras.Model(outer_in, layers.Dense(2)(inner(outer_in)))
    x = rng.random((5, 6), dtype=np.float32)
    expected = outer.layers[-1](inner(x))
    np.testing.assert_allclose(outer.predict(x, verbose=0), expected, rtol=1e-6)
    assert len(outer.weights) == 4
    # the nested model's steps run inside the outer program, opened up
    assert [type(step.layer).__name__ for step in outer.program().steps] == ["Dense", "Dense"]


def test_layer_outputs_give_every_call_and_feature_extraction_works(rng):
    model = two_in_two_out()
    x, _ = data(4)
    outs = model.layer_outputs(x)
    assert len(outs) == len(model.program().steps)
    features = keras.Model(model.inputs, model.get_layer("cls").input)
    np.testing.assert_allclose(features.predict(x, verbose=0), dict(
        (layer.name, out) for layer, out in outs)[model.layers[-3].name], rtol=1e-6)


def test_config_round_trip_and_save_load(tmp_path):
    x, y = data()
    model = two_in_two_out()
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], []])
    model.fit(x, y, epochs=1, verbose=0)
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = keras.Model.from_config(config)                   # like Keras: a functional config gives Functional
    assert type(rebuilt).__name__ == "Functional"
    rebuilt.set_weights(model.get_weights())
    for a, b in zip(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    for a, b in zip(loaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_array_equal(a, b)
    # training continues identically
    keras.utils.set_random_seed(3)
    model.fit(x, y, epochs=1, verbose=0)
    keras.utils.set_random_seed(3)
    loaded.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_residual_network_with_batch_normalization_trains_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    y = layers.Conv2D(8, 3, padding="same")(x)
    y = layers.BatchNormalization()(y)
    x = layers.Activation("relu")(layers.add([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(x))
    from model_helpers import bars_dataset
    xb, yb = bars_dataset(120)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(xb, yb, epochs=6, batch_size=16, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert len(model.trainable_weights) == 9 and len(model.non_trainable_weights) == 4
    model.save(tmp_path / "r.keras")
    loaded = keras.models.load_model(tmp_path / "r.keras")
    np.testing.assert_array_equal(loaded.predict(xb, verbose=0), model.predict(xb, verbose=0))
    assert loaded.evaluate(xb, yb, verbose=0) == model.evaluate(xb, yb, verbose=0)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def test_outputs_that_do_not_depend_on_the_inputs():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    with pytest.raises(ValueError, match=r"the outputs depend on the input 'b' \(shape \(None, 4\)\), which is not "
                                         r"among this model's inputs \['a'\]"):
        keras.Model(a, layers.Dense(2)(b))


def test_a_tensor_from_another_model():
    first_in = keras.Input((4,), name="first_in")
    first = keras.Model(first_in, layers.Dense(3)(first_in))
    second_in = keras.Input((4,), name="second_in")
    with pytest.raises(ValueError, match=r"input 'first_in'.*if it belongs to another model, call that model as a "
                                         r"layer \(other_model\(x\)\)"):
        keras.Model(second_in, layers.Dense(2)(first.outputs[0]))
    keras.Model(second_in, layers.Dense(2)(first(second_in)))          # the right way


def test_inputs_and_outputs_must_be_tensors():
    inputs = keras.Input((4,))
    with pytest.raises(TypeError, match=r"every item of `outputs` must be a symbolic tensor.*got ndarray"):
        keras.Model(inputs, np.zeros(3))
    hidden = layers.Dense(2)(inputs)
    with pytest.raises(ValueError, match=r"`inputs` must be tensors made by keras.Input"):
        keras.Model(hidden, layers.Dense(1)(hidden))
    with pytest.raises(TypeError, match=r"called on a mix of symbolic tensors and other values"):
        layers.add([inputs, np.ones((1, 4))])


def test_two_layers_with_one_name():
    inputs = keras.Input((4,))
    x = layers.Dense(3, name="same")(inputs)
    with pytest.raises(ValueError, match="two different layers are named 'same'"):
        keras.Model(inputs, layers.Dense(2, name="same")(x))


def test_mismatched_data_for_several_inputs():
    model = two_in_two_out()
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"])
    x, y = data()
    with pytest.raises(ValueError, match=r"the model has 2 inputs \(image, meta\); `x` has 1 arrays"):
        model.fit([x[0]], y, verbose=0)
    with pytest.raises(ValueError, match=r"`x` has key\(s\) \['picture'\] that are not names of the model's inputs"):
        model.fit({"picture": x[0], "meta": x[1]}, y, verbose=0)
    with pytest.raises(ValueError, match=r"all inputs need the same number of samples; got 48 for 'image' and 47"):
        model.fit([x[0], x[1][:47]], y, verbose=0)
    with pytest.raises(ValueError, match=r"expects input 'meta' of shape \(None, 3\); got \(48, 4\)"):
        model.fit([x[0], np.ones((48, 4))], y, verbose=0)


def test_compile_errors_for_several_outputs():
    model = two_in_two_out()
    with pytest.raises(ValueError, match=r"`loss` has 3 entries but the model has 2 output\(s\) \(cls, reg\)"):
        model.compile(optimizer="sgd", loss=["mse", "mse", "mse"])
        model.fit(*data(), verbose=0)
    model = two_in_two_out()
    with pytest.raises(ValueError, match=r"`loss` is a dict without an entry for output\(s\) \['reg'\]"):
        model.compile(optimizer="sgd", loss={"cls": "mse"})
    model = two_in_two_out()
    with pytest.raises(ValueError, match=r"this model has 2 outputs \(cls, reg\), so `metrics` must be a dict"):
        model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model = two_in_two_out()
    with pytest.raises(ValueError, match=r"`loss_weights` names output\(s\) \['other'\]"):
        model.compile(optimizer="sgd", loss="mse", loss_weights={"other": 1.0})
    with pytest.raises(ValueError, match=r"`loss_weights` must be numbers, one per output"):
        two_in_two_out().compile(optimizer="sgd", loss="mse", loss_weights=["x", 1.0])


def test_summary_shows_connections_for_graphs_only(capsys):
    two_in_two_out().summary()
    text = capsys.readouterr().out
    assert "Connected to" in text and "image[0][0]" in text and "meta (InputLayer)" in text
    inputs = keras.Input((4,))
    keras.Model(inputs, layers.Dense(2)(layers.Dense(3)(inputs))).summary()
    assert "Connected to" not in capsys.readouterr().out      # a chain reads as a chain, like in Keras


def test_summary_counts_non_trainable_weights(capsys):
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, layers.BatchNormalization()(inputs))
    model.summary(show_trainable=True)
    text = capsys.readouterr().out
    assert "Trainable params: 4 " in text and "Non-trainable params: 4 " in text and "Trainable" in text


def test_model_input_and_output_for_transfer_learning(rng):
    """The pattern of fine-tuning tutorials: a new head on base_model.output."""
    base_in = keras.Input((8, 8, 1))
    base = keras.Model(base_in, layers.GlobalAveragePooling2D()(layers.Conv2D(4, 3)(base_in)))
    assert base.input is base.inputs[0] and base.output is base.outputs[0]
    model = keras.Model(base.input, layers.Dense(2, activation="softmax")(base.output))
    assert model.count_params() == base.count_params() + 10
    x = rng.random((3, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.layers[-1](base.predict(x, verbose=0)), rtol=1e-6)
    assert two_in_two_out().input[1].name == "meta"
