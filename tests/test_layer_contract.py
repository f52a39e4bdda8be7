"""The contract every public layer keeps, checked the same way for each (scikit-learn style).

For each layer class exported by ``convlearn.layers``: build on a sample
shape, ``compute_output_shape`` equals the real output shape, ``get_config``
is JSON-serialisable and ``from_config`` rebuilds an equal layer that (after
``set_weights``) computes identical outputs. ``forward(x)`` returns
``(out, cache)`` and ``backward(dout, cache)`` returns ``(dx, grads)``: ``dx``
shaped like the input (a list of them for a layer of several inputs),
``grads`` with the keys and shapes of ``params``, never added up from one call
to the next. The cache belongs to the call: two forward calls before their
backward calls give each call its own gradients. float32 stays float32.
Trainable weights live in ``params``, non-trainable ones in ``state``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from convlearn import layers

# class name -> (factory, input shape with the batch axis; a list of shapes for a layer of several inputs)
CONTRACT = {
    "Conv2D": (lambda **kw: layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu", **kw),
               (2, 7, 6, 3)),
    "Conv2D dilated, grouped": (lambda **kw: layers.Conv2D(4, (3, 2), padding="same", dilation_rate=(2, 1), groups=2,
                                                           **kw), (2, 7, 6, 4)),
    "MaxPooling2D": (lambda **kw: layers.MaxPooling2D(3, strides=2, padding="same", **kw), (2, 7, 6, 3)),
    "AveragePooling2D": (lambda **kw: layers.AveragePooling2D((2, 3), strides=(1, 2), **kw), (2, 5, 7, 2)),
    "GlobalAveragePooling2D": (lambda **kw: layers.GlobalAveragePooling2D(**kw), (2, 5, 4, 3)),
    "GlobalMaxPooling2D": (lambda **kw: layers.GlobalMaxPooling2D(keepdims=True, **kw), (2, 5, 4, 3)),
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
    "BatchNormalization": (lambda **kw: layers.BatchNormalization(**kw), (2, 5, 4, 3)),   # non-trainable state
    "LayerNormalization": (lambda **kw: layers.LayerNormalization(**kw), (2, 5, 4, 3)),
    "Add": (lambda **kw: layers.Add(**kw), [(2, 3, 4), (2, 3, 4)]),
    "Subtract": (lambda **kw: layers.Subtract(**kw), [(2, 3, 4), (2, 1, 4)]),
    "Multiply": (lambda **kw: layers.Multiply(**kw), [(2, 3, 4), (2, 3, 4), (2, 3, 1)]),
    "Average": (lambda **kw: layers.Average(**kw), [(2, 3, 4), (2, 3, 4)]),
    "Maximum": (lambda **kw: layers.Maximum(**kw), [(2, 3, 4), (2, 3, 4), (2, 3, 4)]),
    "Minimum": (lambda **kw: layers.Minimum(**kw), [(2, 3, 4), (2, 3, 4)]),
    "Concatenate": (lambda **kw: layers.Concatenate(axis=1, **kw), [(2, 3, 4), (2, 2, 4)]),
    "DepthwiseConv2D": (lambda **kw: layers.DepthwiseConv2D((3, 2), strides=2, padding="same", depth_multiplier=2,
                                                            activation="relu", **kw), (2, 7, 6, 3)),
    "SeparableConv2D": (lambda **kw: layers.SeparableConv2D(4, 3, padding="same", dilation_rate=2, depth_multiplier=2,
                                                            activation="tanh", **kw), (2, 7, 6, 3)),
    "Conv2DTranspose": (lambda **kw: layers.Conv2DTranspose(3, (3, 2), strides=2, padding="same", output_padding=1,
                                                            activation="relu", **kw), (2, 4, 5, 2)),
    "UpSampling2D": (lambda **kw: layers.UpSampling2D((2, 3), interpolation="bilinear", **kw), (2, 3, 4, 2)),
    "ZeroPadding2D": (lambda **kw: layers.ZeroPadding2D(((1, 2), (0, 3)), **kw), (2, 3, 4, 2)),
    "Cropping2D": (lambda **kw: layers.Cropping2D(((1, 0), (2, 1)), **kw), (2, 5, 6, 2)),
    "Resizing": (lambda **kw: layers.Resizing(4, 7, crop_to_aspect_ratio=True, **kw), (2, 5, 6, 2)),
    "CenterCrop": (lambda **kw: layers.CenterCrop(3, 4, **kw), (2, 6, 7, 2)),
    # augmentation layers (seeded: the contract compares a layer's draws with a twin's)
    "RandomFlip": (lambda **kw: layers.RandomFlip(seed=2, **kw), (4, 5, 4, 2)),
    "RandomRotation": (lambda **kw: layers.RandomRotation(0.2, seed=2, **kw), (2, 5, 4, 2)),
    "RandomZoom": (lambda **kw: layers.RandomZoom(0.3, (-0.2, 0.4), fill_mode="constant", seed=2, **kw),
                   (2, 5, 4, 2)),
    "RandomTranslation": (lambda **kw: layers.RandomTranslation(0.2, 0.3, fill_mode="wrap", seed=2, **kw),
                          (2, 5, 4, 2)),
    "RandomContrast": (lambda **kw: layers.RandomContrast(0.4, value_range=(-3, 3), seed=2, **kw), (2, 5, 4, 2)),
    "RandomBrightness": (lambda **kw: layers.RandomBrightness(0.1, value_range=(-3, 3), seed=2, **kw),
                         (2, 5, 4, 2)),
    "RandomCrop": (lambda **kw: layers.RandomCrop(3, 2, seed=2, **kw), (2, 5, 4, 2)),
}

# the layers whose every call in training draws new random numbers: a seeded twin repeats a draw
RANDOM = {"Dropout", "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
          "RandomBrightness", "RandomCrop"}

# the layers that keep non-trainable weights, and their names
STATE = {"BatchNormalization": ["moving_mean", "moving_variance"]}


def public_layer_classes():
    found = {}
    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.Layer) and obj is not layers.Layer:
            found.setdefault(obj.__name__, obj)      # aliases (MaxPool2D, Convolution2D) are the same class
    return found


def test_every_public_layer_class_is_in_the_contract():
    # (a key may add a variant after the class name: "Conv2D dilated, grouped")
    assert set(public_layer_classes()) == {key.split()[0] for key in CONTRACT}
    assert layers.MaxPool2D is layers.MaxPooling2D
    assert layers.AvgPool2D is layers.AveragePooling2D
    assert layers.GlobalMaxPool2D is layers.GlobalMaxPooling2D
    assert layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D
    assert layers.Convolution2D is layers.Conv2D
    assert layers.Convolution2DTranspose is layers.Conv2DTranspose
    assert layers.SeparableConvolution2D is layers.SeparableConv2D


def several(shape):
    """Whether ``shape`` is the list of input shapes of a layer of several inputs."""
    return isinstance(shape, list)


def sample(shape, dtype, seed=0):
    """A random batch of ``shape``, or a list of batches (each from its own seed) for a list of shapes."""
    if several(shape):
        return [sample(s, dtype, seed + i) for i, s in enumerate(shape)]
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def unbatched(shape):
    """``shape`` with its batch axis as None (each shape of a list)."""
    if several(shape):
        return [unbatched(s) for s in shape]
    return (None,) + tuple(shape[1:])


def as_list(value, shape):
    """The per-input items of ``value`` (a list already for a layer of several inputs)."""
    return list(value) if several(shape) else [value]


def randomise_weights(layer, seed=1):
    """Normal trainable weights; non-trainable ones in [0.5, 1.5], so that a moving variance stays one."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if path in layer.state else rng.standard_normal(w.shape)
                       for path, w in layer.named_weights()])


def built(factory, shape, **kwargs):
    """A layer from ``factory``, built for ``shape``, with random weights."""
    layer = factory(**kwargs)
    layer.build_for(unbatched(shape))
    randomise_weights(layer)
    return layer


def copy_result(result):
    """A deep copy of ``(dx, grads)``: later calls must not change what an earlier call returned."""
    dx, grads = result
    dx = [d.copy() for d in dx] if isinstance(dx, list) else dx.copy()
    return dx, {k: g.copy() for k, g in grads.items()}


def assert_same_result(got, expected, shape):
    dx, grads = got
    for a, b in zip(as_list(dx, shape), as_list(expected[0], shape)):
        np.testing.assert_array_equal(a, b)
    assert set(grads) == set(expected[1])
    for key in grads:
        np.testing.assert_array_equal(grads[key], expected[1][key], err_msg=key)


@pytest.fixture(params=sorted(CONTRACT), name="case")
def _case(request):
    factory, shape = CONTRACT[request.param]
    return request.param, factory, shape


def test_output_shape(case):
    name, factory, shape = case
    layer = factory()
    out = layer(sample(shape, "float32"))
    assert layer.built
    assert layer.input_shape == unbatched(shape)
    assert layer.compute_output_shape(unbatched(shape)) == (None,) + out.shape[1:]
    assert layer.output_shape == (None,) + out.shape[1:]
    assert tuple(layer.compute_output_shape(shape)) == out.shape
    forward_out, _ = layer.forward(sample(shape, "float32"))
    np.testing.assert_array_equal(forward_out, out)


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
    # `input_shape` declares one sample shape; a layer of several inputs takes it as any layer does
    # (the base class keeps it), so its first input's shape stands in
    declared = (shape[0] if several(shape) else shape)[1:]
    layer = factory(input_shape=declared)
    config = layer.get_config()
    assert config["input_shape"] == list(declared)
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config


@pytest.mark.parametrize("training", [False, True])
def test_backward_contract(case, training):
    name, factory, shape = case
    layer = built(factory, shape)
    x = sample(shape, "float32")
    out, cache = layer.forward(x, training=training)
    dout = sample(out.shape, "float32", seed=9)
    result = layer.backward(dout, cache)
    assert isinstance(result, tuple) and len(result) == 2
    dx, grads = result
    assert isinstance(dx, list) == several(shape)
    dxs = as_list(dx, shape)
    assert [d.shape for d in dxs] == [a.shape for a in as_list(x, shape)]
    assert isinstance(grads, dict) and set(grads) == set(layer.params)
    for key, value in layer.params.items():
        assert grads[key].shape == value.shape
        assert grads[key].dtype == value.dtype
    assert not hasattr(layer, "grads"), "gradients are returned, not kept on the layer"
    # gradients are not added up from call to call: the same backward again, and the same call
    # again (a seeded twin for Dropout, whose every call draws a new mask), give the same result
    first = copy_result(result)
    assert_same_result(layer.backward(dout, cache), first, shape)
    twin = layer
    if name in RANDOM:                 # every call draws anew; a new layer with its seed draws this one
        twin = built(factory, shape)
    again, again_cache = twin.forward(x, training=training)
    assert_same_result(twin.backward(dout, again_cache), first, shape)
    assert_same_result(result, first, shape)             # the first call's arrays are left alone


@pytest.mark.parametrize("training", [False, True])
def test_two_calls_keep_independent_caches(case, training):
    """Two forward calls, then the backward of the first: it gets the first call's gradients.

    The reference runs each forward call directly followed by its backward, on a
    twin layer with the same weights (and, for Dropout, the same seed, so the
    same masks in the same order).
    """
    name, factory, shape = case
    reference = built(factory, shape, dtype="float64")
    layer = built(factory, shape, dtype="float64")
    layer.set_weights(reference.get_weights())
    x1, x2 = sample(shape, "float64", seed=0), sample(shape, "float64", seed=5)
    expected, outs = [], []
    for x, seed in ((x1, 11), (x2, 12)):
        out, cache = reference.forward(x, training=training)
        outs.append(out.copy())
        expected.append(copy_result(reference.backward(sample(out.shape, "float64", seed), cache)))
    out1, cache1 = layer.forward(x1, training=training)
    out2, cache2 = layer.forward(x2, training=training)
    np.testing.assert_array_equal(out1, outs[0])
    np.testing.assert_array_equal(out2, outs[1])
    first = layer.backward(sample(out1.shape, "float64", 11), cache1)
    assert_same_result(first, expected[0], shape)
    assert_same_result(layer.backward(sample(out2.shape, "float64", 12), cache2), expected[1], shape)
    if layer.params:
        assert any(not np.array_equal(expected[0][1][k], expected[1][1][k]) for k in layer.params), \
            "the two inputs should give different weight gradients"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(case, dtype):
    name, factory, shape = case
    layer = factory(dtype=dtype)
    for given in ("float32", "float64", "int64"):
        x = sample(shape, "float64")
        x = [a.astype(given) for a in x] if several(shape) else x.astype(given)
        out = layer(x, training=False)
        assert out.dtype == np.dtype(dtype), f"{given} input"
    for training in (False, True):
        out, cache = layer.forward(sample(shape, dtype), training=training)
        assert out.dtype == np.dtype(dtype)
        dx, grads = layer.backward(np.ones_like(out), cache)
        assert all(d.dtype == np.dtype(dtype) for d in as_list(dx, shape))
        assert all(g.dtype == np.dtype(dtype) for g in grads.values())
    assert all(w.dtype == np.dtype(dtype) for w in layer.weights)


def ids(arrays):
    return [id(a) for a in arrays]


def test_weights_bookkeeping(case):
    name, factory, shape = case
    layer = factory()
    layer.build_for(unbatched(shape))
    assert list(layer.state) == STATE.get(name, [])
    params, state = list(layer.params.values()), list(layer.state.values())
    assert not set(layer.params) & set(layer.state)
    # weights: the trainable ones, then the non-trainable ones
    assert ids(layer.weights) == ids(params + state)
    assert [path for path, _ in layer.named_weights()] == list(layer.params) + list(layer.state)
    assert ids(layer.trainable_weights) == ids(params)
    assert ids(layer.non_trainable_weights) == ids(state)
    weights = layer.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in params + state]
    assert layer.count_params() == sum(w.size for w in weights)
    weights_copy = layer.get_weights()
    for w in weights_copy:
        w += 1.0                                                  # get_weights returns copies
    for w, p in zip(weights, layer.get_weights()):
        np.testing.assert_array_equal(w, p)
    layer.set_weights(weights_copy)                               # in place, state included
    assert ids(layer.weights) == ids(params + state)
    for w, p in zip(weights_copy, layer.get_weights()):
        np.testing.assert_array_equal(w, p)
    frozen = factory(trainable=False)
    frozen.build_for(unbatched(shape))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == len(weights)
    assert list(frozen.params) == list(layer.params) and list(frozen.state) == list(layer.state)
    assert type(layer).__name__ in repr(layer)


def test_automatic_names_are_unique():
    a, b = layers.Dense(2), layers.Dense(2)
    assert a.name != b.name and a.name.startswith("dense") and b.name.startswith("dense")
    assert layers.MaxPooling2D().name.startswith("max_pooling2d")
