"""BatchNormalization and LayerNormalization.

Finite-difference gradients (float64), PyTorch parity (outputs, every gradient,
moving statistics), the fast kernels held equal to the reference ones on random
shapes, the moving statistics' bookkeeping (Keras 3's rules), the inference map
a model may fold, configs, weights, and every error message.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convlearn
from convlearn import layers, ops
from helpers import check_layer_gradients, rel_error

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def randomise(layer, rng):
    """Random gamma and beta and moving mean, and a positive moving variance (in place, like an optimizer)."""
    for name, w in layer.named_weights():
        w[...] = rng.uniform(0.5, 2.0, w.shape) if name == "moving_variance" else rng.standard_normal(w.shape)
    return layer


def built(layer, shape, rng):
    layer.build_for((None,) + tuple(shape[1:]))
    return randomise(layer, rng)


def sample(rng, shape, dtype="float64"):
    """Inputs whose mean is away from 0 and whose spread is not 1, so that normalising does something."""
    return (rng.standard_normal(shape) * 1.7 + 0.6).astype(dtype)


# ---------------------------------------------------------------------------
# Finite differences (float64)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_norm_gradients_nhwc(kernels, training, rng):
    layer = built(layers.BatchNormalization(dtype="float64"), (3, 4, 3, 5), rng)
    with ops.use_kernels(kernels):
        check_layer_gradients(layer, sample(rng, (3, 4, 3, 5)), training=training)


@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
@pytest.mark.parametrize("shape", [(3, 4, 2, 3), (6, 4)], ids=["4d", "2d"])
def test_batch_norm_gradients_axis_1(shape, training, rng):
    layer = built(layers.BatchNormalization(axis=1, momentum=0.8, dtype="float64"), shape, rng)
    check_layer_gradients(layer, sample(rng, shape), training=training)


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_norm_gradients_without_gamma_or_beta(center, scale, training, rng):
    layer = built(layers.BatchNormalization(center=center, scale=scale, dtype="float64"), (4, 3, 2, 3), rng)
    assert list(layer.params) == ["gamma"] * scale + ["beta"] * center
    check_layer_gradients(layer, sample(rng, (4, 3, 2, 3)), training=training)


def test_frozen_batch_norm_gradients_are_those_of_inference(rng):
    layer = built(layers.BatchNormalization(dtype="float64", trainable=False), (4, 3, 3), rng)
    x = sample(rng, (4, 3, 3))
    check_layer_gradients(layer, x, training=True)
    _, frozen_cache = layer.forward(x, training=True)
    _, inference_cache = layer.forward(x, training=False)
    dout = rng.standard_normal(x.shape)
    dx_frozen, g_frozen = layer.backward(dout, frozen_cache)
    dx_inference, g_inference = layer.backward(dout, inference_cache)
    np.testing.assert_array_equal(dx_frozen, dx_inference)
    for key in g_inference:
        np.testing.assert_array_equal(g_frozen[key], g_inference[key])


@pytest.mark.parametrize("kernels", ["fast", "reference"])
@pytest.mark.parametrize("axis, shape", [(-1, (3, 4, 5)), ([1, 2, 3], (2, 3, 2, 4)), ([1, 3], (2, 3, 2, 4)),
                                         (2, (2, 3, 4, 2))], ids=["last", "1-2-3", "1-3", "middle"])
def test_layer_norm_gradients(kernels, axis, shape, rng):
    layer = built(layers.LayerNormalization(axis=axis, dtype="float64"), shape, rng)
    with ops.use_kernels(kernels):
        check_layer_gradients(layer, sample(rng, shape), training=True)


@pytest.mark.parametrize("center, scale", [(False, True), (True, False), (False, False)])
def test_layer_norm_gradients_without_gamma_or_beta(center, scale, rng):
    layer = built(layers.LayerNormalization(axis=[1, 2], center=center, scale=scale, dtype="float64"),
                  (3, 2, 4), rng)
    check_layer_gradients(layer, sample(rng, (3, 2, 4)))


# ---------------------------------------------------------------------------
# PyTorch parity
# ---------------------------------------------------------------------------

def nchw(torch, a, requires_grad=False):
    """An NHWC array as a contiguous NCHW torch tensor."""
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 3, 1, 2)), requires_grad=requires_grad)


def torch_batch_norm(torch, layer):
    """torch.nn.BatchNorm2d with the layer's weights, statistics, epsilon and momentum (1 - Keras's)."""
    C = layer.moving_mean.shape[0]
    bn = torch.nn.BatchNorm2d(C, eps=layer.epsilon, momentum=1.0 - layer.momentum, dtype=getattr(torch, layer.dtype))
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(layer.gamma))
        bn.bias.copy_(torch.tensor(layer.beta))
        bn.running_mean.copy_(torch.tensor(layer.moving_mean))
        bn.running_var.copy_(torch.tensor(layer.moving_variance))
    return bn


def compare_with_torch_batch_norm(torch, layer, bn, x, training, rng):
    """Forward and backward in both; compare outputs and the input, gamma and beta gradients."""
    tol = TOLERANCE[layer.dtype]
    out, cache = layer.forward(x, training=training)
    assert out.dtype == np.dtype(layer.dtype)
    dout = rng.standard_normal(out.shape).astype(layer.dtype)
    dx, grads = layer.backward(dout, cache)
    xt = nchw(torch, x, requires_grad=True)
    out_t = bn(xt)
    out_t.backward(nchw(torch, dout))
    assert rel_error(out, out_t.detach().permute(0, 2, 3, 1).numpy()) < tol, "outputs differ"
    assert rel_error(dx, xt.grad.permute(0, 2, 3, 1).numpy()) < tol, "input gradients differ"
    assert rel_error(grads["gamma"], bn.weight.grad.numpy()) < tol, "gamma gradients differ"
    assert rel_error(grads["beta"], bn.bias.grad.numpy()) < tol, "beta gradients differ"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batch_norm_training_matches_torch(torch, dtype, rng):
    N, H, W, C = 4, 5, 3, 6
    layer = built(layers.BatchNormalization(momentum=0.9, epsilon=1e-3, dtype=dtype), (N, H, W, C), rng)
    moving_variance_before = layer.moving_variance.astype(np.float64)
    bn = torch_batch_norm(torch, layer).train()
    compare_with_torch_batch_norm(torch, layer, bn, sample(rng, (N, H, W, C), dtype), True, rng)
    tol = TOLERANCE[dtype]
    assert rel_error(layer.moving_mean, bn.running_mean.numpy()) < tol
    # torch updates its running variance with the unbiased batch variance (divided by n - 1),
    # Keras with the biased one (divided by n): recover torch's batch variance, make it biased,
    # and apply Keras's update to it.
    n, m = N * H * W, layer.momentum
    unbiased = (bn.running_var.numpy().astype(np.float64) - m * moving_variance_before) / (1.0 - m)
    expected = m * moving_variance_before + (1.0 - m) * unbiased * (n - 1) / n
    assert rel_error(layer.moving_variance, expected) < tol * 10   # the recovery divides by 1 - m = 0.1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("frozen", [False, True], ids=["training=False", "trainable=False"])
def test_batch_norm_inference_matches_torch_eval(torch, dtype, frozen, rng):
    layer = built(layers.BatchNormalization(epsilon=1e-2, dtype=dtype, trainable=not frozen), (3, 4, 4, 5), rng)
    before = layer.get_weights()
    bn = torch_batch_norm(torch, layer).eval()
    # a frozen layer runs in inference mode even when asked to train (Keras 3)
    compare_with_torch_batch_norm(torch, layer, bn, sample(rng, (3, 4, 4, 5), dtype), frozen, rng)
    for w, b in zip(layer.get_weights(), before):
        np.testing.assert_array_equal(w, b)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("axis", [-1, [1, 2, 3], [1, 3]], ids=["last", "1-2-3", "1-3"])
def test_layer_norm_matches_torch(torch, dtype, axis, rng):
    shape = (3, 4, 2, 5)
    layer = built(layers.LayerNormalization(axis=axis, epsilon=1e-4, dtype=dtype), shape, rng)
    x = sample(rng, shape, dtype)
    out, cache = layer.forward(x, training=True)
    dout = rng.standard_normal(shape).astype(dtype)
    dx, grads = layer.backward(dout, cache)
    # torch normalises the last axes: move axes 1 and 3 there ([1, 3] -> shape (N, W, H, C))
    order = (0, 2, 1, 3) if axis == [1, 3] else (0, 1, 2, 3)
    xt = torch.tensor(x, requires_grad=True)
    gamma = torch.tensor(layer.gamma, requires_grad=True)
    beta = torch.tensor(layer.beta, requires_grad=True)
    out_t = torch.nn.functional.layer_norm(xt.permute(order), tuple(layer.gamma.shape), gamma, beta, 1e-4)
    out_t = out_t.permute(order)                                     # the permutation is its own inverse
    out_t.backward(torch.tensor(dout))
    tol = TOLERANCE[dtype]
    assert rel_error(out, out_t.detach().numpy()) < tol
    assert rel_error(dx, xt.grad.numpy()) < tol
    assert rel_error(grads["gamma"], gamma.grad.numpy()) < tol
    assert rel_error(grads["beta"], beta.grad.numpy()) < tol


# ---------------------------------------------------------------------------
# Fast kernels == reference kernels
# ---------------------------------------------------------------------------

@st.composite
def normalised_shape(draw):
    """(shape, seed): 2 to 4 axes of 1 to 5 entries."""
    ndim = draw(st.integers(2, 4))
    return tuple(draw(st.integers(1, 5)) for _ in range(ndim)), draw(st.integers(0, 2**16))


def both_kernels(fn):
    """``fn()`` with the fast kernels, then with the reference ones."""
    with ops.use_kernels("fast"):
        fast = fn()
    with ops.use_kernels("reference"):
        reference = fn()
    return fast, reference


def assert_all_close(fast, reference, tol=1e-10):
    for f, r in zip(fast, reference):
        if r is None:
            assert f is None
        else:
            assert f.shape == r.shape and f.dtype == r.dtype
            assert rel_error(f, r) < tol


@SETTINGS
@given(case=normalised_shape(), axis_pick=st.integers(0, 10), training=st.booleans(), center=st.booleans(),
       scale=st.booleans())
def test_batch_norm_fast_equals_reference(case, axis_pick, training, center, scale):
    shape, seed = case
    axis = 1 + axis_pick % (len(shape) - 1)
    axis -= len(shape) * (axis_pick % 2)                              # negative half the time
    rng = np.random.default_rng(seed)
    C = shape[axis]
    x = sample(rng, shape)
    gamma = rng.standard_normal(C) if scale else None
    beta = rng.standard_normal(C) if center else None
    mean, variance = rng.standard_normal(C), rng.uniform(0.5, 2.0, C)
    dout = rng.standard_normal(shape)

    def run():
        out, cache = ops.batch_norm_forward(x, gamma, beta, mean, variance, axis, 1e-3, training)
        return (out, cache.mean, cache.variance) + tuple(ops.batch_norm_backward(dout, cache))

    assert_all_close(*both_kernels(run))


@SETTINGS
@given(case=normalised_shape(), picks=st.lists(st.integers(1, 3), min_size=1, max_size=3), center=st.booleans(),
       scale=st.booleans())
def test_layer_norm_fast_equals_reference(case, picks, center, scale):
    shape, seed = case
    axes = tuple(sorted({1 + p % (len(shape) - 1) for p in picks}))
    rng = np.random.default_rng(seed)
    param_shape = tuple(shape[a] for a in axes)
    x = sample(rng, shape)
    gamma = rng.standard_normal(param_shape) if scale else None
    beta = rng.standard_normal(param_shape) if center else None
    dout = rng.standard_normal(shape)

    def run():
        out, cache = ops.layer_norm_forward(x, gamma, beta, axes, 1e-3)
        return (out,) + tuple(ops.layer_norm_backward(dout, cache))

    assert_all_close(*both_kernels(run))


@pytest.mark.parametrize("shape, axis", [((8, 6, 6, 16), -1), ((8, 16, 5, 5), 1), ((37, 24), -1)],
                         ids=["nhwc", "nchw", "odd-batch"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_norm_fast_equals_reference_in_float32(shape, axis, training, rng):
    C = shape[axis]
    x = sample(rng, shape, "float32")
    gamma, beta, mean = (rng.standard_normal(C).astype("float32") for _ in range(3))
    variance = rng.uniform(0.5, 2.0, C).astype("float32")
    dout = rng.standard_normal(shape).astype("float32")

    def run():
        out, cache = ops.batch_norm_forward(x, gamma, beta, mean, variance, axis, 1e-3, training)
        return (out,) + tuple(ops.batch_norm_backward(dout, cache))

    assert_all_close(*both_kernels(run), tol=1e-5)


def test_layer_norm_fast_equals_reference_in_float32(rng):
    x = sample(rng, (4, 6, 5, 8), "float32")
    gamma, beta = (rng.standard_normal((5, 8)).astype("float32") for _ in range(2))
    dout = rng.standard_normal(x.shape).astype("float32")

    def run():
        out, cache = ops.layer_norm_forward(x, gamma, beta, (2, 3), 1e-3)
        return (out,) + tuple(ops.layer_norm_backward(dout, cache))

    assert_all_close(*both_kernels(run), tol=1e-5)


def test_batch_norm_of_large_mean_keeps_float32_precision(rng):
    """The variance comes from x - mean: a mean 1000 times the spread loses nothing in float32."""
    x = (rng.standard_normal((16, 4, 4, 8)) + 1000.0).astype("float32")
    out = layers.BatchNormalization(epsilon=1e-6)(x, training=True)
    expected = (x - x.astype(np.float64).mean(axis=(0, 1, 2))) / x.astype(np.float64).std(axis=(0, 1, 2))
    assert rel_error(out, expected) < 1e-3     # float32 keeps ~4 digits of x - 1000


# ---------------------------------------------------------------------------
# Moving statistics, modes, caches
# ---------------------------------------------------------------------------

def test_training_updates_moving_statistics_in_place(rng):
    layer = built(layers.BatchNormalization(momentum=0.8, dtype="float64"), (6, 3, 2, 4), rng)
    mean_array, variance_array = layer.moving_mean, layer.moving_variance
    mean_before, variance_before = mean_array.copy(), variance_array.copy()
    x = sample(rng, (6, 3, 2, 4))
    out = layer(x, training=True)
    batch_mean, batch_variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))     # biased, like Keras
    np.testing.assert_allclose(layer.moving_mean, 0.8 * mean_before + 0.2 * batch_mean, rtol=1e-12)
    np.testing.assert_allclose(layer.moving_variance, 0.8 * variance_before + 0.2 * batch_variance, rtol=1e-12)
    assert layer.moving_mean is mean_array and layer.moving_variance is variance_array     # same arrays
    assert layer.weights[2] is mean_array and layer.weights[3] is variance_array
    expected = (x - batch_mean) / np.sqrt(batch_variance + 1e-3) * layer.gamma + layer.beta
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("frozen", [False, True], ids=["training=False", "trainable=False"])
def test_moving_statistics_unchanged_in_inference_mode(frozen, rng):
    layer = built(layers.BatchNormalization(trainable=not frozen), (5, 4, 4, 3), rng)
    before = [w.copy() for w in layer.weights]
    x = sample(rng, (5, 4, 4, 3), "float32")
    out = layer(x, training=frozen)              # a frozen layer asked to train still runs inference
    for w, b in zip(layer.weights, before):
        np.testing.assert_array_equal(w, b)
    np.testing.assert_array_equal(out, layer(x, training=False))
    expected = (x - layer.moving_mean) / np.sqrt(layer.moving_variance + 1e-3) * layer.gamma + layer.beta
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_unfreezing_returns_to_batch_statistics(rng):
    layer = built(layers.BatchNormalization(trainable=False), (5, 3), rng)
    x = sample(rng, (5, 3), "float32")
    frozen = layer(x, training=True)
    layer.trainable = True
    trained = layer(x, training=True)
    assert not np.allclose(frozen, trained)
    np.testing.assert_allclose(trained.mean(axis=0), layer.beta, atol=1e-5)


def test_caches_belong_to_calls(rng):
    """Two forward calls, then their backward passes in reverse order: the same as one at a time."""
    for layer in (layers.BatchNormalization(dtype="float64"), layers.LayerNormalization(dtype="float64")):
        built(layer, (4, 3, 5), rng)
        x1, x2 = sample(rng, (4, 3, 5)), sample(rng, (4, 3, 5))
        d1, d2 = rng.standard_normal((4, 3, 5)), rng.standard_normal((4, 3, 5))
        _, c1 = layer.forward(x1, training=True)
        dx1, g1 = layer.backward(d1, c1)
        _, c1 = layer.forward(x1, training=True)
        _, c2 = layer.forward(x2, training=True)
        layer.backward(d2, c2)
        dx1_again, g1_again = layer.backward(d1, c1)
        np.testing.assert_array_equal(dx1, dx1_again)
        for key in g1:
            np.testing.assert_array_equal(g1[key], g1_again[key])


@pytest.mark.parametrize("cls", [layers.BatchNormalization, layers.LayerNormalization])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept(cls, dtype, rng):
    layer = cls(dtype=dtype)
    for training in (True, False):
        out = layer(sample(rng, (4, 3, 2), "float64"), training=training)
        assert out.dtype == np.dtype(dtype)
        dx, grads = layer.backward(np.ones_like(out), layer.forward(out, training=training)[1])
        assert dx.dtype == np.dtype(dtype)
        assert all(g.dtype == np.dtype(dtype) and g.shape == layer.params[k].shape for k, g in grads.items())
    assert all(w.dtype == np.dtype(dtype) for w in layer.weights)
    assert layer.compute_output_shape((None, 3, 2)) == (None, 3, 2)


# ---------------------------------------------------------------------------
# The inference map a model may fold
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("center, scale", [(True, True), (False, True), (True, False), (False, False)])
def test_inference_scale_shift_equals_the_inference_pass(dtype, center, scale, rng):
    layer = built(layers.BatchNormalization(center=center, scale=scale, dtype=dtype), (4, 3, 3, 6), rng)
    x = sample(rng, (4, 3, 3, 6), dtype)
    scale_, shift = layer.inference_scale_shift()
    assert scale_.shape == shift.shape == (6,) and scale_.dtype == shift.dtype == np.dtype(dtype)
    folded = x * scale_ + shift
    np.testing.assert_array_equal(folded, layer(x))                  # the fast pass: the same numbers
    with ops.use_kernels("reference"):
        assert rel_error(folded, layer(x)) < TOLERANCE[dtype]        # the loops: to rounding
    gamma = layer.gamma if scale else 1.0
    beta = layer.beta if center else 0.0
    inv = 1.0 / np.sqrt(layer.moving_variance.astype(np.float64) + layer.epsilon)
    np.testing.assert_allclose(scale_, gamma * inv, rtol=TOLERANCE[dtype])
    np.testing.assert_allclose(shift, beta - layer.moving_mean * gamma * inv, rtol=TOLERANCE[dtype], atol=1e-6)


@pytest.mark.parametrize("axis, shape, folds", [(-1, (2, 3, 3, 4), True), (3, (2, 3, 3, 4), True),
                                                (1, (2, 3, 3, 4), False), (1, (2, 5), True), (-2, (2, 3, 4), False)])
def test_folds_into_last_axis(axis, shape, folds, rng):
    layer = layers.BatchNormalization(axis=axis)
    layer(sample(rng, shape, "float32"))
    assert layer.folds_into_last_axis() is folds
    assert layers.BatchNormalization().folds_into_last_axis() is True        # before build: axis=-1


# ---------------------------------------------------------------------------
# Weights and configs
# ---------------------------------------------------------------------------

def test_batch_norm_weights_in_keras_order():
    layer = layers.BatchNormalization()
    layer.build_for((None, 4, 4, 3))
    assert [p for p, _ in layer.named_weights()] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.shape for w in layer.get_weights()] == [(3,)] * 4
    np.testing.assert_array_equal(np.stack(layer.get_weights()), [[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]])
    assert len(layer.trainable_weights) == 2 and len(layer.non_trainable_weights) == 2
    assert layer.trainable_weights[0] is layer.gamma and layer.non_trainable_weights[1] is layer.moving_variance
    assert layer.count_params() == 12
    frozen = layers.BatchNormalization(trainable=False)
    frozen.build_for((None, 3))
    assert frozen.trainable_weights == [] and len(frozen.non_trainable_weights) == 4
    no_beta = layers.BatchNormalization(center=False)
    no_beta.build_for((None, 3))
    assert [p for p, _ in no_beta.named_weights()] == ["gamma", "moving_mean", "moving_variance"]


def test_layer_norm_weights():
    layer = layers.LayerNormalization(axis=[3, 1])
    layer.build_for((None, 5, 4, 3))
    assert [(p, w.shape) for p, w in layer.named_weights()] == [("gamma", (5, 3)), ("beta", (5, 3))]
    assert len(layer.trainable_weights) == 2 and layer.non_trainable_weights == []


def round_trip(layer, shape, rng):
    built(layer, shape, rng)
    config = layer.get_config()
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    clone.build_for(layer.input_shape)
    clone.set_weights(layer.get_weights())
    x = sample(rng, shape, layer.dtype)
    np.testing.assert_array_equal(clone(x), layer(x))
    np.testing.assert_array_equal(clone(x, training=True), layer(x, training=True))
    for a, b in zip(clone.get_weights(), layer.get_weights()):
        np.testing.assert_array_equal(a, b)
    return config


def test_batch_norm_config_round_trip(rng):
    layer = layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                                      gamma_initializer=convlearn.initializers.RandomNormal(seed=3),
                                      moving_variance_initializer="ones", name="bn")
    config = round_trip(layer, (3, 4, 2, 2), rng)
    assert {k: config[k] for k in ("name", "axis", "momentum", "epsilon", "center", "scale")} == {
        "name": "bn", "axis": 1, "momentum": 0.9, "epsilon": 1e-5, "center": False, "scale": True}
    assert config["gamma_initializer"] == convlearn.initializers.serialize(layer.gamma_initializer)
    for key in ("beta_initializer", "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer",
                "gamma_regularizer", "beta_constraint", "gamma_constraint", "synchronized", "renorm",
                "renorm_clipping", "renorm_momentum"):
        assert key in config
    assert layers.BatchNormalization(axis=[3]).axis == 3               # tf.keras 2 configs write axis=[3]


def test_layer_norm_config_round_trip(rng):
    layer = layers.LayerNormalization(axis=[1, -1], epsilon=1e-5, scale=False, name="ln")
    config = round_trip(layer, (3, 4, 2, 2), rng)
    assert {k: config[k] for k in ("name", "axis", "epsilon", "center", "scale", "rms_scaling")} == {
        "name": "ln", "axis": [1, -1], "epsilon": 1e-5, "center": True, "scale": False, "rms_scaling": False}


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    ({"axis": "channels"}, r"`axis` must be one integer.*Received: axis='channels'"),
    ({"axis": [1, 2]}, r"`axis` must be one integer.*Received: axis=\[1, 2\]"),
    ({"axis": True}, r"`axis` must be one integer"),
    ({"momentum": 1.5}, r"`momentum` must be a number in \[0.0, 1.0\]. Received: momentum=1.5"),
    ({"epsilon": 0.0}, r"`epsilon` must be a number in \(0.0, inf\)"),
    ({"beta_regularizer": "l2"}, r"`beta_regularizer` is not supported by convlearn"),
    ({"gamma_regularizer": "l2"}, r"`gamma_regularizer` is not supported"),
    ({"beta_constraint": "non_neg"}, r"`beta_constraint` is not supported"),
    ({"gamma_constraint": "non_neg"}, r"`gamma_constraint` is not supported"),
    ({"renorm": True}, r"`renorm` is not supported by convlearn; leave it at its default \(False\)"),
    ({"renorm_clipping": {"rmax": 3.0}}, r"`renorm_clipping` is not supported"),
    ({"renorm_momentum": 0.5}, r"`renorm_momentum` is not supported.*Received: renorm_momentum=0.5"),
    ({"synchronized": True}, r"`synchronized` is not supported"),
])
def test_batch_norm_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.BatchNormalization(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"axis": "last"}, r"`axis` must be an integer or a non-empty list of integers.*Received: axis='last'"),
    ({"axis": []}, r"`axis` must be an integer or a non-empty list"),
    ({"axis": [1, 2.5]}, r"`axis` must be an integer or a non-empty list"),
    ({"epsilon": -1.0}, r"`epsilon` must be a number in \(0.0, inf\)"),
    ({"rms_scaling": True}, r"`rms_scaling` is not supported by convlearn"),
    ({"beta_regularizer": "l2"}, r"`beta_regularizer` is not supported"),
    ({"gamma_constraint": "non_neg"}, r"`gamma_constraint` is not supported"),
])
def test_layer_norm_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.LayerNormalization(**kwargs)


def test_unknown_keras_argument_is_refused():
    with pytest.raises(TypeError, match=r"BatchNormalization got unexpected keyword argument\(s\): 'fused'"):
        layers.BatchNormalization(fused=True)


@pytest.mark.parametrize("make, shape, match", [
    (lambda: layers.BatchNormalization(axis=3), (4, 5),
     r"BatchNormalization 'bad': axis=3 is out of range for input of shape \(None, 5\), which has 2 axes. "
     r"Use an axis from 1 to 1"),
    (lambda: layers.BatchNormalization(axis=-3), (4, 5), r"axis=-3 is out of range for input of shape \(None, 5\)"),
    (lambda: layers.BatchNormalization(axis=0), (4, 5), r"axis=0 is the batch axis of input of shape \(None, 5\)"),
    (lambda: layers.BatchNormalization(axis=-2), (4, 5), r"axis=-2 is the batch axis"),
    (lambda: layers.BatchNormalization(), (4,), r"axis=-1 needs input with a feature axis.*got shape \(None,\)"),
    (lambda: layers.LayerNormalization(axis=[1, 4]), (2, 3, 4),
     r"LayerNormalization 'bad': axis=\[1, 4\] is out of range for input of shape \(None, 3, 4\)"),
    (lambda: layers.LayerNormalization(axis=[0, 1]), (2, 3), r"axis=\[0, 1\] is the batch axis"),
    (lambda: layers.LayerNormalization(axis=[1, -1]), (2, 3), r"axis=\[1, -1\] names the same axis twice"),
])
def test_axis_errors_at_build(make, shape, match):
    layer = make()
    layer.name = "bad"
    with pytest.raises(ValueError, match=match):
        layer(np.zeros(shape, dtype="float32"))
    with pytest.raises(ValueError, match=match):
        layer.compute_output_shape((None,) + shape[1:])


@pytest.mark.parametrize("cls", [layers.BatchNormalization, layers.LayerNormalization])
def test_unknown_axis_size_is_refused(cls):
    layer = cls()
    with pytest.raises(ValueError, match=r"axis=-1: the size of axis 2 must be known; got input shape "
                                         r"\(None, 4, None\)"):
        layer.build_for((None, 4, None))


def test_inference_scale_shift_needs_weights():
    with pytest.raises(ValueError, match=r"BatchNormalization 'bn' has no weights yet, so inference_scale_shift\(\) "
                                         r"has nothing to compute from: build it first"):
        layers.BatchNormalization(name="bn").inference_scale_shift()
