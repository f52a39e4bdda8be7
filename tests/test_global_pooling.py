"""GlobalAveragePooling2D and GlobalMaxPooling2D: one value per channel, over the whole image."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import check_layer_gradients, distinct_values

import convlearn as keras
from convlearn import layers

GLOBAL = ["GlobalAveragePooling2D", "GlobalMaxPooling2D"]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", GLOBAL)
@pytest.mark.parametrize("shape", [(2, 3, 4, 2), (1, 1, 5, 3), (2, 2, 1, 1)])
def test_gradients(name, keepdims, shape):
    layer = getattr(layers, name)(keepdims=keepdims, dtype="float64")
    check_layer_gradients(layer, distinct_values(np.random.default_rng(0), shape, spacing=0.05))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", GLOBAL)
def test_matches_torch(torch, name, keepdims):
    x = distinct_values(np.random.default_rng(1), (3, 4, 5, 6))
    layer = getattr(layers, name)(keepdims=keepdims, dtype="float64")
    out, cache = layer.forward(x)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    dx, grads = layer.backward(dout, cache)
    t = torch.tensor(x, requires_grad=True)
    reduce = torch.mean if name == "GlobalAveragePooling2D" else torch.amax
    expected = reduce(t, dim=(1, 2), keepdim=keepdims)
    expected.backward(torch.tensor(dout))
    assert grads == {}
    np.testing.assert_allclose(out, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_gradient_goes_to_the_first_maximum():
    """On a tie, all of a channel's gradient goes to the first position in row-major order."""
    x = np.zeros((1, 2, 2, 2))
    x[0, 0, 1, 0] = x[0, 1, 0, 0] = 3.0          # channel 0: a tie at (0, 1) and (1, 0)
    # channel 1: all four positions tie at 0.0
    layer = layers.GlobalMaxPooling2D(dtype="float64")
    out, cache = layer.forward(x)
    np.testing.assert_array_equal(out, [[3.0, 0.0]])
    dx, _ = layer.backward(np.array([[5.0, 7.0]]), cache)
    expected = np.zeros((1, 2, 2, 2))
    expected[0, 0, 1, 0] = 5.0
    expected[0, 0, 0, 1] = 7.0
    np.testing.assert_array_equal(dx, expected)


def test_called_on_arrays():
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(np.float32)
    out = layers.GlobalAveragePooling2D()(x)
    assert out.shape == (2, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out, x.mean(axis=(1, 2)), rtol=1e-6)
    out = layers.GlobalMaxPooling2D(keepdims=True)(x)
    assert out.shape == (2, 1, 1, 5) and out.dtype == np.float32
    np.testing.assert_array_equal(out, x.max(axis=(1, 2), keepdims=True))


@pytest.mark.parametrize("name", GLOBAL)
def test_float32_is_kept_in_backward(name):
    x = np.random.default_rng(4).standard_normal((2, 3, 3, 2)).astype(np.float32)
    layer = getattr(layers, name)()
    out, cache = layer.forward(x)
    dout = np.ones_like(out)
    dx, _ = layer.backward(dout, cache)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    np.testing.assert_array_equal(dout, np.ones_like(out))     # dout is left alone
    dx[...] = 0.0                                               # dx is an array of its own, writeable


def test_aliases():
    assert layers.GlobalAvgPool2D is layers.GlobalAveragePooling2D
    assert layers.GlobalMaxPool2D is layers.GlobalMaxPooling2D
    assert layers.GlobalAveragePooling2D is not layers.GlobalMaxPooling2D


@pytest.mark.parametrize("name", GLOBAL)
def test_output_shape(name):
    cls = getattr(layers, name)
    assert cls().compute_output_shape((None, 7, 7, 16)) == (None, 16)
    assert cls(keepdims=True).compute_output_shape((None, None, None, 16)) == (None, 1, 1, 16)
    layer = cls()
    assert layer.build_for((None, None, None, 8)) == (None, 8)
    assert layer.params == {} and layer.count_params() == 0
    out = layer(np.ones((2, 5, 3, 8)))
    assert out.shape == (2, 8)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", GLOBAL)
def test_config_round_trip(name, keepdims):
    cls = getattr(layers, name)
    layer = cls(keepdims=keepdims, name="pool_me", data_format="channels_last")
    config = json.loads(json.dumps(layer.get_config()))
    assert config["keepdims"] is keepdims and config["name"] == "pool_me"
    clone = cls.from_config(config)
    assert clone.get_config() == layer.get_config()
    x = np.random.default_rng(5).standard_normal((2, 3, 3, 4))
    np.testing.assert_array_equal(clone(x), layer(x))
    assert layers.get_layer_class(name) is cls


@pytest.mark.parametrize("name", GLOBAL)
def test_channels_first_is_refused(name):
    with pytest.raises(ValueError, match=rf"{name}: only data_format='channels_last' \(NHWC.*"
                                         r"Received: data_format='channels_first'"):
        getattr(layers, name)(data_format="channels_first")


@pytest.mark.parametrize("keepdims", ["yes", 1, None])
@pytest.mark.parametrize("name", GLOBAL)
def test_keepdims_must_be_a_bool(name, keepdims):
    with pytest.raises(ValueError, match=rf"{name}: `keepdims` must be True or False\. Received: keepdims="):
        getattr(layers, name)(keepdims=keepdims)


@pytest.mark.parametrize("name", GLOBAL)
def test_image_input_is_required(name):
    with pytest.raises(ValueError, match=rf"{name} 'gp' expects 4-D input \(batch, height, width, channels\); "
                                         r"got shape \(None, 28, 28\)\. Add a channel axis"):
        getattr(layers, name)(name="gp")(np.ones((2, 28, 28)))
    with pytest.raises(ValueError, match=rf"{name} 'gp2': the number of input channels must be known"):
        getattr(layers, name)(name="gp2").build_for((None, 4, 4, None))


# -- symbolic use (functional models; these need the engine) ---------------------------------------------

@pytest.mark.parametrize("name", GLOBAL)
def test_symbolic(name):
    x = keras.Input(shape=(6, 6, 3))
    y = getattr(layers, name)()(x)
    assert y.shape == (None, 3)
    model = keras.Model(x, getattr(layers, name)(keepdims=True)(x))
    images = np.random.default_rng(6).standard_normal((2, 6, 6, 3))
    out = model.predict(images, verbose=0)
    reduce = np.mean if name == "GlobalAveragePooling2D" else np.max
    np.testing.assert_allclose(out, reduce(images, axis=(1, 2), keepdims=True), rtol=1e-5)
