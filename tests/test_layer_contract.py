"""The contract every public layer keeps, checked the same way for each (scikit-learn style).

For each layer class exported by ``convlearn.layers``: build on a sample
shape, ``compute_output_shape`` equals the real output shape, ``get_config``
is JSON-serialisable and ``from_config`` rebuilds an equal layer that (after
``set_weights``) computes identical outputs, ``backward`` returns an array
shaped like the input and sets ``grads`` with the keys and shapes of
``params``, and float32 stays float32.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from convlearn import layers

# class name -> (factory, input shape with the batch axis)
CONTRACT = {
    "Conv2D": (lambda **kw: layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu", **kw),
               (2, 7, 6, 3)),
    "MaxPooling2D": (lambda **kw: layers.MaxPooling2D(3, strides=2, padding="same", **kw), (2, 7, 6, 3)),
    "AveragePooling2D": (lambda **kw: layers.AveragePooling2D((2, 3), strides=(1, 2), **kw), (2, 5, 7, 2)),
    "Dense": (lambda **kw: layers.Dense(5, activation="softmax", **kw), (2, 7)),
    "Flatten": (lambda **kw: layers.Flatten(**kw), (2, 3, 4, 2)),
    "Dropout": (lambda **kw: layers.Dropout(0.3, seed=1, **kw), (2, 6)),
    "Reshape": (lambda **kw: layers.Reshape((4, -1), **kw), (2, 8, 2)),
    "Rescaling": (lambda **kw: layers.Rescaling(0.5, offset=1.0, **kw), (2, 3)),
    "Activation": (lambda **kw: layers.Activation("tanh", **kw), (2, 3, 4)),
    "Softmax": (lambda **kw: layers.Softmax(axis=-1, **kw), (2, 6)),
    "LeakyReLU": (lambda **kw: layers.LeakyReLU(negative_slope=0.1, **kw), (2, 5)),
    "ReLU": (lambda **kw: layers.ReLU(max_value=1.0, negative_slope=0.1, threshold=0.2, **kw), (2, 5)),
    "InputLayer": (lambda **kw: layers.InputLayer(shape=(3, 4), **kw), (2, 3, 4)),
}


def public_layer_classes():
    found = {}
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.Layer) and obj is not layers.Layer:
            found.setdefault(obj.__name__, obj)      # aliases (MaxPool2D, Convolution2D) are the same class
    return found


def test_every_public_layer_class_is_in_the_contract():
    assert set(public_layer_classes()) == set(CONTRACT)
    assert layers.MaxPool2D is layers.MaxPooling2D
    assert layers.AvgPool2D is layers.AveragePooling2D
    assert layers.Convolution2D is layers.Conv2D


def sample(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def randomise_weights(layer, seed=1):
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])


@pytest.fixture(params=sorted(CONTRACT), name="case")
def _case(request):
    factory, shape = CONTRACT[request.param]
    return request.param, factory, shape


def test_output_shape(case):
    name, factory, shape = case
    layer = factory()
    out = layer(sample(shape, "float32"))
    assert layer.built
    assert layer.input_shape == (None,) + shape[1:]
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + out.shape[1:]
    assert layer.output_shape == (None,) + out.shape[1:]
    assert tuple(layer.compute_output_shape(shape)) == out.shape


def test_config_round_trip(case):
    name, factory, shape = case
    layer = factory()
    x = sample(shape, "float32")
    layer(x)
    randomise_weights(layer)
    config = layer.get_config()
    text = json.dumps(config)                                   # JSON-serialisable
    assert config["name"] == layer.name
    clone = type(layer).from_config(json.loads(text))
    assert json.dumps(clone.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    clone.build_for(layer.input_shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(x), layer(x))
    # in training too: a seeded Dropout clone draws the same mask as the original
    np.testing.assert_array_equal(clone(x, training=True), layer(x, training=True))


@pytest.mark.parametrize("name", sorted(set(CONTRACT) - {"InputLayer"}))   # InputLayer's `shape` is its config
def test_config_with_declared_input_shape(name):
    factory, shape = CONTRACT[name]
    layer = factory(input_shape=shape[1:])
    config = layer.get_config()
    assert config["input_shape"] == list(shape[1:])
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config


def test_backward_contract(case):
    name, factory, shape = case
    layer = factory()
    x = sample(shape, "float32")
    out = layer(x, training=True)
    dx = layer.backward(np.ones_like(out))
    assert dx.shape == x.shape
    assert set(layer.grads) == set(layer.params)
    for key, value in layer.params.items():
        assert layer.grads[key].shape == value.shape
        assert layer.grads[key].dtype == value.dtype
    # backward overwrites the gradients (no accumulation between steps)
    if layer.params:
        first = {k: g.copy() for k, g in layer.grads.items()}
        layer(x, training=False)
        layer.backward(np.ones_like(out))
        second = layer.grads
        for key in first:
            np.testing.assert_allclose(second[key], first[key], rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(case, dtype):
    name, factory, shape = case
    layer = factory(dtype=dtype)
    for given in ("float32", "float64", "int64"):
        x = sample(shape, "float64").astype(given)
        out = layer(x, training=False)
        assert out.dtype == np.dtype(dtype), f"{given} input"
    assert layer.backward(np.ones_like(out)).dtype == np.dtype(dtype)
    assert all(w.dtype == np.dtype(dtype) for w in layer.weights)
    assert all(g.dtype == np.dtype(dtype) for g in layer.grads.values())


def test_weights_bookkeeping(case):
    name, factory, shape = case
    layer = factory()
    layer.build_for((None,) + shape[1:])
    weights = layer.get_weights()
    assert [w.shape for w in weights] == [p.shape for p in layer.params.values()]
    assert layer.count_params() == sum(w.size for w in weights)
    assert len(layer.trainable_weights) == len(weights) and layer.non_trainable_weights == []
    weights_copy = layer.get_weights()
    for w in weights_copy:
        w += 1.0                                                  # get_weights returns copies
    for w, p in zip(weights, layer.get_weights()):
        np.testing.assert_array_equal(w, p)
    frozen = factory(trainable=False)
    frozen.build_for((None,) + shape[1:])
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == len(weights)
    assert type(layer).__name__ in repr(layer)


def test_automatic_names_are_unique():
    a, b = layers.Dense(2), layers.Dense(2)
    assert a.name != b.name and a.name.startswith("dense") and b.name.startswith("dense")
    assert layers.MaxPooling2D().name.startswith("max_pooling2d")
