"""Layers: finite-difference gradient checks, PyTorch parity, and every error message.

PyTorch is the oracle. Keras layouts are converted explicitly inside the
torch functions (NHWC -> NCHW, kernel (kh, kw, C, F) -> (F, C, kh, kw),
Dense kernel (D, U) -> Linear weight (U, D)), so torch's autograd returns
gradients directly in convlearn's layout and can be compared entry by entry.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from convlearn import layers
from helpers import away_from, check_layer_gradients, distinct_values, rel_error, tf_same_pads

F64 = "float64"

CONV_CASES = [
    # (N, H, W, C, F, kernel_size, strides, padding)
    (2, 5, 5, 2, 3, (3, 3), (1, 1), "valid"),
    (2, 5, 5, 2, 3, (3, 3), (1, 1), "same"),
    (1, 7, 6, 3, 2, (3, 2), (2, 2), "valid"),
    (1, 7, 6, 3, 2, (2, 3), (2, 2), "same"),      # asymmetric 'same' padding on both axes
    (2, 6, 6, 1, 2, (2, 2), (2, 1), "same"),
    (1, 5, 7, 2, 2, (1, 4), (1, 3), "valid"),
    (1, 4, 4, 2, 1, (4, 4), (1, 1), "valid"),     # kernel as large as the input
    (1, 3, 5, 1, 2, (5, 5), (2, 2), "same"),      # kernel larger than the input, allowed with 'same'
]

POOL_CASES = [
    # (pool_size, strides, padding) on a (2, 5, 7, 2) input
    ((2, 2), None, "valid"),
    ((3, 3), (2, 2), "valid"),       # overlapping windows
    ((2, 2), (1, 1), "valid"),       # overlapping windows
    ((3, 3), (1, 1), "same"),
    ((2, 3), (2, 2), "same"),        # asymmetric padding
    ((3, 2), (3, 1), "same"),
    ((2, 2), None, "same"),
]


def conv_id(case):
    N, H, W, C, F, k, s, p = case
    return f"{H}x{W}x{C}-k{k[0]}x{k[1]}-s{s[0]}x{s[1]}-{p}"


def pool_id(case):
    k, s, p = case
    return f"k{k[0]}x{k[1]}-s{'default' if s is None else f'{s[0]}x{s[1]}'}-{p}"


def make_conv(case, dtype=F64, activation=None, use_bias=True, seed=0):
    N, H, W, C, F, k, s, p = case
    layer = layers.Conv2D(F, k, strides=s, padding=p, activation=activation, use_bias=use_bias, dtype=dtype,
                          kernel_initializer="glorot_uniform", bias_initializer="random_normal")
    layer.build_for((None, H, W, C))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])
    return layer


# ---------------------------------------------------------------------------
# Finite differences (float64, centred)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", CONV_CASES, ids=conv_id)
def test_conv2d_gradients_match_finite_differences(case, rng):
    layer = make_conv(case)
    N, H, W, C = case[:4]
    check_layer_gradients(layer, rng.standard_normal((N, H, W, C)))


def test_conv2d_gradients_with_relu_and_without_bias(rng):
    case = (2, 5, 4, 2, 3, (2, 3), (1, 2), "same")
    layer = make_conv(case, activation="relu", use_bias=False)
    assert set(layer.params) == {"kernel"}
    x = rng.standard_normal((2, 5, 4, 2))
    # keep the pre-activations away from the kink at 0
    z = layer(x)
    logits, _ = layer.forward_logits(x)
    assert np.min(np.abs(logits)) > 1e-4, "pre-activation too close to 0 for a clean check"
    assert (z == 0).any() and (z > 0).any()
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_id)
def test_pooling_gradients_match_finite_differences(cls, case, rng):
    pool, strides, padding = case
    layer = cls(pool, strides=strides, padding=padding, dtype=F64)
    x = distinct_values(rng, (2, 5, 7, 2))       # no near-ties: the max is well defined under +-eps
    check_layer_gradients(layer, x)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("activation", [None, "tanh", "softmax", "sigmoid"])
def test_dense_gradients_match_finite_differences(shape, activation, rng):
    layer = layers.Dense(5, activation=activation, dtype=F64, bias_initializer="random_normal")
    check_layer_gradients(layer, rng.standard_normal(shape))


def test_dense_without_bias_gradients(rng):
    layer = layers.Dense(3, use_bias=False, dtype=F64)
    errors = check_layer_gradients(layer, rng.standard_normal((4, 6)))
    assert set(errors) == {"input", "kernel"}


def nth_training_call(fresh, x, n):
    """The output of the ``n``-th training call of a new layer ``fresh()``.

    A seeded Dropout draws the same masks in the same order, so this is a fixed
    function of ``x``. ``check_layer_gradients`` builds its layer without calling it
    and takes the gradients of the first call: ``n=1`` repeats that call's mask.
    """
    layer = fresh()
    for _ in range(n - 1):
        layer(x, training=True)
    return layer(x, training=True)


def test_dropout_training_gradients_with_fixed_mask(rng):
    x = rng.standard_normal((3, 4, 5))

    def fresh():
        return layers.Dropout(0.4, seed=7, dtype=F64)

    out = nth_training_call(fresh, x, 1)
    assert (out == 0).any() and (out != 0).any(), "the mask should drop some values and keep others"
    check_layer_gradients(fresh(), x, training=True, forward=lambda inp: nth_training_call(fresh, inp, 1))


def test_dropout_noise_shape_gradients(rng):
    x = rng.standard_normal((2, 3, 3, 4))

    def fresh():
        return layers.Dropout(0.5, noise_shape=(None, 1, 1, 4), seed=3, dtype=F64)

    for n in (1, 2):
        kept = nth_training_call(fresh, x, n) != 0
        # the mask is shared over the two spatial axes
        assert (kept == kept[:, :1, :1, :]).all()
    check_layer_gradients(fresh(), x, training=True, forward=lambda inp: nth_training_call(fresh, inp, 1))


def test_dropout_inference_is_identity(rng):
    x = rng.standard_normal((3, 4))
    layer = layers.Dropout(0.5, seed=1, dtype=F64)
    np.testing.assert_array_equal(layer(x, training=False), x)
    out, cache = layer.forward(x, training=False)
    np.testing.assert_array_equal(out, x)
    dx, grads = layer.backward(x * 2, cache)
    np.testing.assert_array_equal(dx, x * 2)
    assert grads == {}


RELU_OPTIONS = [
    {},
    {"max_value": 0.8},
    {"negative_slope": 0.1},
    {"threshold": 0.3},
    {"max_value": 1.0, "negative_slope": 0.2, "threshold": -0.5},
]


@pytest.mark.parametrize("options", RELU_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_relu_layer_gradients(options, rng):
    kinks = [options.get("threshold", 0.0)] + ([options["max_value"]] if "max_value" in options else [])
    x = away_from(rng, (3, 4, 2), kinks)
    check_layer_gradients(layers.ReLU(**options, dtype=F64), x)


@pytest.mark.parametrize("factory", [
    lambda: layers.Activation("relu", dtype=F64),
    lambda: layers.Activation("sigmoid", dtype=F64),
    lambda: layers.Activation("tanh", dtype=F64),
    lambda: layers.Activation("softmax", dtype=F64),
    lambda: layers.Activation("elu", dtype=F64),
    lambda: layers.Activation("softplus", dtype=F64),
    lambda: layers.Activation("swish", dtype=F64),
    lambda: layers.Activation("leaky_relu", dtype=F64),
    lambda: layers.Activation(None, dtype=F64),
    lambda: layers.LeakyReLU(dtype=F64),
    lambda: layers.LeakyReLU(negative_slope=0.05, dtype=F64),
    lambda: layers.Softmax(dtype=F64),
    lambda: layers.Softmax(axis=1, dtype=F64),
], ids=["relu", "sigmoid", "tanh", "softmax", "elu", "softplus", "swish", "leaky_relu", "linear",
        "LeakyReLU", "LeakyReLU-0.05", "Softmax", "Softmax-axis1"])
def test_activation_layer_gradients(factory, rng):
    check_layer_gradients(factory(), away_from(rng, (2, 3, 4), [0.0]))


@pytest.mark.parametrize("factory,shape", [
    (lambda: layers.Rescaling(1 / 255, dtype=F64), (2, 3, 3, 1)),
    (lambda: layers.Rescaling(2.5, offset=-1.0, dtype=F64), (2, 4)),
    (lambda: layers.Flatten(dtype=F64), (2, 3, 2, 2)),
    (lambda: layers.Reshape((3, 4), dtype=F64), (2, 12)),
    (lambda: layers.Reshape((-1, 2), dtype=F64), (2, 3, 2, 2)),
    (lambda: layers.InputLayer(shape=(3, 2), dtype=F64), (2, 3, 2)),
], ids=["rescaling", "rescaling-offset", "flatten", "reshape", "reshape-minus1", "input"])
def test_shape_and_scale_layer_gradients(factory, shape, rng):
    check_layer_gradients(factory(), rng.standard_normal(shape))


def test_gradient_checker_detects_a_wrong_gradient(rng):
    """The checker itself can fail: a layer whose backward is off by a factor is caught."""

    class WrongScale(layers.Rescaling):
        def backward(self, dout, cache):
            dx, grads = super().backward(dout, cache)
            return 1.01 * dx, grads

    with pytest.raises(AssertionError, match="gradient check failed"):
        check_layer_gradients(WrongScale(3.0, dtype=F64), rng.standard_normal((2, 3)))


# ---------------------------------------------------------------------------
# Values that can be worked out by hand
# ---------------------------------------------------------------------------

def test_conv2d_known_values():
    # a 3x3 image of 1..9 and a 2x2 filter of ones: each output is the sum of a 2x2 block
    x = np.arange(1, 10, dtype=np.float64).reshape(1, 3, 3, 1)
    layer = layers.Conv2D(1, 2, kernel_initializer="ones", bias_initializer="zeros", dtype=F64)
    out = layer(x)
    np.testing.assert_array_equal(out[0, :, :, 0], [[12, 16], [24, 28]])
    # 'same': output 3x3, the extra padding goes to the bottom/right, so the top-left window is unpadded
    same = layers.Conv2D(1, 2, padding="same", kernel_initializer="ones", dtype=F64)
    np.testing.assert_array_equal(same(x)[0, :, :, 0], [[12, 16, 9], [24, 28, 15], [15, 17, 9]])


def test_max_pooling_ties_go_to_the_first_maximum():
    x = np.zeros((1, 4, 4, 1))
    layer = layers.MaxPooling2D(2, dtype=F64)
    layer(x)
    _, cache = layer.forward(x)
    dx, _ = layer.backward(np.ones((1, 2, 2, 1)), cache)
    expected = np.zeros((4, 4))
    expected[::2, ::2] = 1.0          # the top-left cell of each window: first in reading order
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


def test_average_pooling_same_padding_excludes_padded_cells():
    x = np.ones((1, 3, 3, 1))
    layer = layers.AveragePooling2D(2, padding="same", dtype=F64)
    np.testing.assert_array_equal(layer(x), np.ones((1, 2, 2, 1)))   # padded zeros would pull the mean down


def test_pooling_strides_default_to_pool_size():
    layer = layers.MaxPooling2D((3, 2))
    assert layer.strides == (3, 2)
    assert layer.compute_output_shape((None, 9, 8, 4)) == (None, 3, 4, 4)


def test_dense_on_3d_input_acts_on_last_axis(rng):
    layer = layers.Dense(4, dtype=F64, bias_initializer="random_normal")
    x = rng.standard_normal((2, 3, 5))
    out = layer(x)
    assert out.shape == (2, 3, 4)
    kernel, bias = layer.get_weights()
    np.testing.assert_allclose(out, np.einsum("ntd,du->ntu", x, kernel) + bias, rtol=1e-12)


@pytest.mark.parametrize("batch", [2, 7])
def test_dense_backward_in_two_parts_equals_backward(batch, rng):
    # the training step computes a Dense layer's input and weight gradients in two threads
    layer = layers.Dense(5, activation="relu", dtype=F64, bias_initializer="random_normal")
    x = rng.standard_normal((batch, 6))
    layer(x)
    dout = rng.standard_normal((batch, 5))
    _, cache = layer.forward(x, training=True)
    dx, grads = layer.backward(dout, cache)
    _, cache = layer.forward(x, training=True)
    input_gradient, weight_gradients = layer.backward_input_first(dout, cache)
    split_grads = weight_gradients()
    np.testing.assert_allclose(input_gradient(), dx, rtol=1e-12)
    assert set(split_grads) == set(grads) == set(layer.params)
    for key in grads:
        np.testing.assert_allclose(split_grads[key], grads[key], rtol=1e-12)
    # without the input gradient, the weight gradients are unchanged
    no_input, weights_only = layer.backward_input_first(dout, cache, need_dx=False)
    assert no_input() is None
    for key, value in weights_only().items():
        np.testing.assert_allclose(value, grads[key], rtol=1e-12)


def test_rescaling_maps_pixels_to_unit_range():
    layer = layers.Rescaling(1 / 255)
    out = layer(np.array([[0, 255, 51]], dtype=np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 1.0, 0.2]], rtol=1e-6)


# ---------------------------------------------------------------------------
# PyTorch parity: output and every gradient, float64 and float32
# ---------------------------------------------------------------------------

TOLERANCE = {"float64": 1e-10, "float32": 1e-5}


def torch_parity(torch, layer, x, fn, seed=0):
    """Run ``layer`` and ``fn`` (the torch version) on ``x``; compare output and every gradient."""
    tol = TOLERANCE[layer.dtype]
    x = np.asarray(x, dtype=layer.dtype)
    called = layer(x)                                        # builds the layer
    out, cache = layer.forward(x)
    np.testing.assert_array_equal(out, called)
    assert out.dtype == np.dtype(layer.dtype)
    w = np.random.default_rng(seed).standard_normal(out.shape).astype(layer.dtype)
    dx, grads = layer.backward(w.copy(), cache)
    assert set(grads) == set(layer.params)
    xt = torch.tensor(x, requires_grad=True)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    out_t = fn(xt, tparams)
    out_t.backward(torch.tensor(w))
    assert out.shape == tuple(out_t.shape)
    assert rel_error(out, out_t.detach().numpy()) < tol, "outputs differ"
    assert rel_error(dx, xt.grad.numpy()) < tol, "input gradients differ"
    for key, value in tparams.items():
        assert rel_error(grads[key], value.grad.numpy()) < tol, f"gradients of {key!r} differ"
    return out


def torch_conv2d(torch, case, activation=None):
    Fn = torch.nn.functional
    N, H, W, C, F, (kh, kw), (sh, sw), padding = case

    def fn(xt, p):
        x = xt.permute(0, 3, 1, 2).contiguous()                     # NHWC -> NCHW
        if padding == "same":
            (t, b), (l, r) = tf_same_pads(H, kh, sh), tf_same_pads(W, kw, sw)
            x = Fn.pad(x, (l, r, t, b))                             # TF 'same': extra at bottom/right
        weight = p["kernel"].permute(3, 2, 0, 1).contiguous()       # (kh, kw, C, F) -> (F, C, kh, kw)
        z = Fn.conv2d(x, weight, p.get("bias"), stride=(sh, sw))
        if activation == "relu":
            z = torch.relu(z)
        return z.permute(0, 2, 3, 1)                                # NCHW -> NHWC

    return fn


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CONV_CASES, ids=conv_id)
def test_conv2d_matches_torch(torch, case, dtype, rng):
    layer = make_conv(case, dtype=dtype)
    torch_parity(torch, layer, rng.standard_normal(case[:4]), torch_conv2d(torch, case))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv2d_relu_no_bias_matches_torch(torch, dtype, rng):
    case = (2, 6, 5, 3, 4, (3, 2), (2, 1), "same")
    layer = make_conv(case, dtype=dtype, activation="relu", use_bias=False)
    torch_parity(torch, layer, rng.standard_normal(case[:4]), torch_conv2d(torch, case, "relu"))


def torch_pool(torch, cls, case, H, W):
    Fn = torch.nn.functional
    pool, strides, padding = case
    strides = strides or pool

    def fn(xt, p):
        x = xt.permute(0, 3, 1, 2)                                  # NHWC -> NCHW
        pads = (0, 0, 0, 0)
        if padding == "same":
            (t, b), (l, r) = tf_same_pads(H, pool[0], strides[0]), tf_same_pads(W, pool[1], strides[1])
            pads = (l, r, t, b)
        if cls is layers.MaxPooling2D:
            x = Fn.pad(x, pads, value=-math.inf)                    # padded cells never win
            y = Fn.max_pool2d(x, pool, strides)
        else:
            # torch pads symmetrically, TF asymmetrically: pad by hand, then divide the
            # window sums by the number of real cells (average of a padded map of ones)
            sums = Fn.avg_pool2d(Fn.pad(x, pads), pool, strides)
            ones = torch.ones((1, 1, H, W), dtype=x.dtype)
            counts = Fn.avg_pool2d(Fn.pad(ones, pads), pool, strides)
            y = sums / counts
        return y.permute(0, 2, 3, 1)                                # NCHW -> NHWC

    return fn


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_id)
def test_pooling_matches_torch(torch, cls, case, dtype, rng):
    layer = cls(case[0], strides=case[1], padding=case[2], dtype=dtype)
    torch_parity(torch, layer, rng.standard_normal((2, 5, 7, 2)), torch_pool(torch, cls, case, 5, 7))


@pytest.mark.parametrize("case", POOL_CASES, ids=pool_id)
def test_max_pooling_ties_match_torch(torch, case, rng):
    """After a ReLU many cells are exactly 0; both libraries route the gradient to the first maximum."""
    x = np.maximum(rng.standard_normal((2, 5, 7, 2)), 0.0)
    x[0, :3, :3, 0] = 0.0                      # a whole block of ties
    layer = layers.MaxPooling2D(case[0], strides=case[1], padding=case[2], dtype=F64)
    torch_parity(torch, layer, x, torch_pool(torch, layers.MaxPooling2D, case, 5, 7))


def numpy_average_pool(x, pool, strides, padding):
    """Independent NumPy average pooling: TF 'same' windows, mean over the real cells only."""
    N, H, W, C = x.shape
    (ph, pw), (sh, sw) = pool, strides
    if padding == "same":
        Ho, Wo = -(-H // sh), -(-W // sw)
        top, left = tf_same_pads(H, ph, sh)[0], tf_same_pads(W, pw, sw)[0]
    else:
        Ho, Wo = (H - ph) // sh + 1, (W - pw) // sw + 1
        top = left = 0
    out = np.empty((N, Ho, Wo, C))
    for i in range(Ho):
        for j in range(Wo):
            rows = [r for r in range(i * sh - top, i * sh - top + ph) if 0 <= r < H]
            cols = [c for c in range(j * sw - left, j * sw - left + pw) if 0 <= c < W]
            out[:, i, j, :] = x[:, rows][:, :, cols].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("case", POOL_CASES, ids=pool_id)
def test_average_pooling_matches_independent_numpy(case, rng):
    pool, strides, padding = case
    x = rng.standard_normal((2, 5, 7, 2))
    layer = layers.AveragePooling2D(pool, strides=strides, padding=padding, dtype=F64)
    expected = numpy_average_pool(x, pool, strides or pool, padding)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)


def torch_dense(torch, activation=None):
    Fn = torch.nn.functional

    def fn(xt, p):
        z = Fn.linear(xt, p["kernel"].T, p.get("bias"))            # Linear weight is (U, D) = kernel.T
        return {None: lambda t: t, "relu": torch.relu, "softmax": lambda t: torch.softmax(t, -1),
                "sigmoid": torch.sigmoid, "tanh": torch.tanh}[activation](z)

    return fn


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6)], ids=["2d", "3d"])
@pytest.mark.parametrize("activation", [None, "relu", "softmax", "sigmoid", "tanh"])
def test_dense_matches_torch(torch, shape, activation, dtype, rng):
    layer = layers.Dense(5, activation=activation, dtype=dtype, bias_initializer="random_normal")
    torch_parity(torch, layer, rng.standard_normal(shape), torch_dense(torch, activation))


def test_dense_no_bias_matches_torch(torch, rng):
    layer = layers.Dense(3, use_bias=False, dtype=F64)
    torch_parity(torch, layer, rng.standard_normal((4, 6)), torch_dense(torch))


ACTIVATION_LAYERS = [
    ("relu", lambda dt: layers.Activation("relu", dtype=dt), lambda t, x: t.relu(x)),
    ("sigmoid", lambda dt: layers.Activation("sigmoid", dtype=dt), lambda t, x: t.sigmoid(x)),
    ("tanh", lambda dt: layers.Activation("tanh", dtype=dt), lambda t, x: t.tanh(x)),
    ("softmax", lambda dt: layers.Activation("softmax", dtype=dt), lambda t, x: t.softmax(x, -1)),
    ("elu", lambda dt: layers.Activation("elu", dtype=dt), lambda t, x: t.nn.functional.elu(x)),
    ("softplus", lambda dt: layers.Activation("softplus", dtype=dt), lambda t, x: t.nn.functional.softplus(x)),
    ("swish", lambda dt: layers.Activation("swish", dtype=dt), lambda t, x: t.nn.functional.silu(x)),
    ("leaky_relu", lambda dt: layers.Activation("leaky_relu", dtype=dt),
     lambda t, x: t.nn.functional.leaky_relu(x, 0.2)),
    ("LeakyReLU", lambda dt: layers.LeakyReLU(dtype=dt), lambda t, x: t.nn.functional.leaky_relu(x, 0.3)),
    ("Softmax", lambda dt: layers.Softmax(dtype=dt), lambda t, x: t.softmax(x, -1)),
    ("Softmax-axis1", lambda dt: layers.Softmax(axis=1, dtype=dt), lambda t, x: t.softmax(x, 1)),
    ("ReLU", lambda dt: layers.ReLU(dtype=dt), lambda t, x: t.relu(x)),
    ("ReLU-max6", lambda dt: layers.ReLU(max_value=6.0, dtype=dt), lambda t, x: t.nn.functional.relu6(x)),
    ("ReLU-slope", lambda dt: layers.ReLU(negative_slope=0.1, dtype=dt),
     lambda t, x: t.nn.functional.leaky_relu(x, 0.1)),
    ("ReLU-threshold", lambda dt: layers.ReLU(threshold=0.5, dtype=dt),
     lambda t, x: t.nn.functional.threshold(x, 0.5, 0.0)),
    ("ReLU-all", lambda dt: layers.ReLU(max_value=1.5, negative_slope=0.2, threshold=-0.5, dtype=dt),
     lambda t, x: t.where(x >= 1.5, t.full_like(x, 1.5), t.where(x >= -0.5, x, 0.2 * (x + 0.5)))),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,factory,torch_fn", ACTIVATION_LAYERS, ids=[a[0] for a in ACTIVATION_LAYERS])
def test_activation_layers_match_torch(torch, name, factory, torch_fn, dtype, rng):
    x = away_from(rng, (2, 3, 4, 5), [0.0, 0.5, -0.5, 1.5, 6.0], scale=3.0)
    torch_parity(torch, factory(dtype), x, lambda xt, p: torch_fn(torch, xt))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,factory,torch_fn", [
    ("flatten", lambda dt: layers.Flatten(dtype=dt), lambda t, x: t.flatten(x, 1)),
    ("reshape", lambda dt: layers.Reshape((5, -1), dtype=dt), lambda t, x: x.reshape(x.shape[0], 5, -1)),
    ("rescaling", lambda dt: layers.Rescaling(0.25, offset=3.0, dtype=dt), lambda t, x: x * 0.25 + 3.0),
    ("dropout-inference", lambda dt: layers.Dropout(0.5, dtype=dt), lambda t, x: x * 1.0),
], ids=["flatten", "reshape", "rescaling", "dropout-inference"])
def test_shape_layers_match_torch(torch, name, factory, torch_fn, dtype, rng):
    torch_parity(torch, factory(dtype), rng.standard_normal((2, 3, 2, 5)), lambda xt, p: torch_fn(torch, xt))


def test_dropout_training_matches_torch_convention(torch, rng):
    """Kept values are scaled by 1 / (1 - rate), as in torch; the gradient uses the same mask."""
    rate = 0.25
    x = rng.uniform(1.0, 2.0, size=(50, 40))
    layer = layers.Dropout(rate, seed=5, dtype=F64)
    out, cache = layer.forward(x, training=True)
    mask = out != 0
    out_t = torch.nn.functional.dropout(torch.tensor(x), p=rate, training=True).numpy()
    mask_t = out_t != 0
    # the same scale on the kept values
    np.testing.assert_allclose(out[mask] / x[mask], 1 / (1 - rate), rtol=1e-12)
    np.testing.assert_allclose(out_t[mask_t] / x[mask_t], 1 / (1 - rate), rtol=1e-12)
    # the dropped fraction is near the rate (2000 Bernoulli draws: stddev ~ 0.01)
    assert abs(1 - mask.mean() - rate) < 0.04
    # torch with the convlearn mask gives the same output and gradient
    dout = rng.standard_normal(x.shape)
    dx, grads = layer.backward(dout, cache)
    assert grads == {}
    xt = torch.tensor(x, requires_grad=True)
    yt = xt * torch.tensor(mask.astype(np.float64)) / (1 - rate)
    yt.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)


def test_dropout_seed_repeats_and_differs_between_calls(rng):
    x = np.ones((4, 30))
    a, b = layers.Dropout(0.5, seed=11), layers.Dropout(0.5, seed=11)
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True)), "each call should draw a new mask"


# ---------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    ({"filters": 0, "kernel_size": 3}, r"`filters` must be a positive integer\. Received: filters=0"),
    ({"filters": -2, "kernel_size": 3}, r"Received: filters=-2"),
    ({"filters": 2.5, "kernel_size": 3}, r"`filters` must be a positive integer"),
    ({"filters": 4, "kernel_size": 0}, r"`kernel_size` must be a positive integer or a tuple of 2 positive"),
    ({"filters": 4, "kernel_size": (3, 3, 3)}, r"Received: kernel_size=\(3, 3, 3\)"),
    ({"filters": 4, "kernel_size": (3,)}, r"tuple of 2 positive integers"),
    ({"filters": 4, "kernel_size": 3, "strides": 0}, r"`strides` must be a positive integer.*strides=0"),
    ({"filters": 4, "kernel_size": 3, "strides": (1, 0)}, r"Received: strides=\(1, 0\)"),
    ({"filters": 4, "kernel_size": 3, "padding": "foo"},
     r"`padding` must be one of \['valid', 'same'\]\. Received: padding='foo'"),
    ({"filters": 4, "kernel_size": 3, "data_format": "channels_first"},
     r"only data_format='channels_last'.*channels_first.*transpose\(0, 2, 3, 1\)"),
    ({"filters": 4, "kernel_size": 3, "dilation_rate": 2, "strides": 2},
     r"`strides` above 1 cannot be combined with `dilation_rate` above 1.*strides=\(2, 2\), dilation_rate=\(2, 2\)"),
    ({"filters": 4, "kernel_size": 3, "dilation_rate": 0}, r"`dilation_rate` must be a positive integer"),
    ({"filters": 4, "kernel_size": 3, "groups": 3}, r"`filters` must be a multiple of `groups`.*filters=4, groups=3"),
    ({"filters": 4, "kernel_size": 3, "groups": 0}, r"`groups` must be a positive integer"),
    ({"filters": 4, "kernel_size": 3, "kernel_regularizer": "l2"}, r"`kernel_regularizer` is not supported"),
    ({"filters": 4, "kernel_size": 3, "activation": "relux"},
     r"Unknown activation 'relux'\. Did you mean 'relu'\? Valid names: .*sigmoid.*softmax"),
    ({"filters": 4, "kernel_size": 3, "kernel_initializer": "glorot"},
     r"Unknown initializer 'glorot'.*Valid names: .*glorot_uniform"),
    ({"filters": 4, "kernel_size": 3, "dtype": "int32"},
     r"Conv2D: `dtype` must be one of \['float32', 'float64'\]\. Received: dtype='int32'"),
    ({"filters": 4, "kernel_size": 3, "name": ""}, r"`name` must be a non-empty string"),
    ({"filters": 4, "kernel_size": 3, "input_shape": (28, 0, 1)},
     r"`input_shape` must be a tuple of positive integers.*\(28, 28, 1\)"),
])
def test_conv2d_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Conv2D(**kwargs)


def test_layer_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match=r"Conv2D got unexpected keyword argument\(s\): 'kernel_sise' "
                                        r"\(did you mean 'kernel_size'\?\)"):
        layers.Conv2D(4, 3, kernel_sise=3)
    with pytest.raises(TypeError, match=r"Dense got unexpected keyword argument\(s\): 'unit' \(did you mean 'units'"):
        layers.Dense(4, unit=3)
    with pytest.raises(TypeError, match=r"MaxPooling2D got unexpected keyword argument\(s\): 'pool' "
                                        r"\(did you mean 'pool_size'\?\)"):
        layers.MaxPooling2D(pool=2)


def test_activation_that_is_a_plain_function_is_rejected():
    with pytest.raises(TypeError, match=r"Could not interpret activation.*no backward pass"):
        layers.Dense(3, activation=lambda x: x)


def test_conv2d_rejects_3d_input_with_channel_hint():
    layer = layers.Conv2D(4, 3)
    with pytest.raises(ValueError, match=r"expects 4-D input \(batch, height, width, channels\); "
                                         r"got shape \(None, 28, 28\)\. Add a channel axis: x = x\[\.\.\., None\]"):
        layer(np.zeros((2, 28, 28), dtype=np.float32))


def test_conv2d_rejects_2d_input_without_channel_hint():
    with pytest.raises(ValueError, match=r"expects 4-D input.*got shape \(None, 5\)\.$"):
        layers.Conv2D(4, 3)(np.zeros((2, 5)))


def test_conv2d_unknown_channels():
    with pytest.raises(ValueError, match=r"the number of input channels must be known"):
        layers.Conv2D(4, 3).build_for((None, 8, 8, None))


def test_conv2d_kernel_larger_than_input():
    with pytest.raises(ValueError, match=r"kernel_size \(5, 3\) is larger than its input 4x6.*padding='same'"):
        layers.Conv2D(2, (5, 3))(np.zeros((1, 4, 6, 1)))


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
def test_pool_larger_than_input(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__} '.*': pool_size \(3, 3\) is larger than its input 2x5"):
        cls(3)(np.zeros((1, 2, 5, 1)))


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("kwargs,match", [
    ({"pool_size": 0}, r"`pool_size` must be a positive integer or a tuple of 2"),
    ({"pool_size": (2, 2, 2)}, r"Received: pool_size=\(2, 2, 2\)"),
    ({"strides": 0}, r"`strides` must be a positive integer"),
    ({"padding": "full"}, r"`padding` must be one of \['valid', 'same'\]\. Received: padding='full'"),
    ({"data_format": "channels_first"}, r"only data_format='channels_last'"),
])
def test_pooling_invalid_arguments(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
def test_pooling_rejects_3d_input(cls):
    with pytest.raises(ValueError, match=r"expects 4-D input.*Add a channel axis"):
        cls()(np.zeros((1, 4, 4)))


@pytest.mark.parametrize("kwargs,match", [
    ({"units": 0}, r"Dense: `units` must be a positive integer\. Received: units=0"),
    ({"units": 2.0}, r"Received: units=2\.0"),
    ({"units": True}, r"Received: units=True"),
    ({"units": 3, "activation": "softmaxx"}, r"Unknown activation 'softmaxx'.*Valid names:"),
    ({"units": 3, "bias_initializer": "zero"}, r"Unknown initializer 'zero'.*Did you mean 'zeros'"),
    ({"units": 3, "kernel_constraint": "max_norm"}, r"`kernel_constraint` is not supported"),
])
def test_dense_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Dense(**kwargs)


def test_dense_needs_known_features():
    with pytest.raises(ValueError, match=r"Dense '.*' expects input of shape \(batch, features\)"):
        layers.Dense(3).build_for((None,))


def test_layer_rejects_scalar_and_wrong_shape_after_build():
    layer = layers.Dense(3)
    with pytest.raises(ValueError, match=r"expects a batch of inputs; got a scalar"):
        layer(np.float32(1.0))
    layer(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"expects input of shape \(None, 4\); got \(None, 5\)\."):
        layer(np.zeros((2, 5)))


def test_built_conv_layer_hints_channel_axis():
    layer = layers.Conv2D(2, 3)
    layer(np.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"got \(None, 8, 8\)\. Add a channel axis"):
        layer(np.zeros((1, 8, 8)))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5"])
def test_dropout_rate_outside_range(rate):
    with pytest.raises(ValueError, match=r"Dropout: `rate` must be a number in \[0\.0, 1\.0\)\. Received: rate="):
        layers.Dropout(rate)


@pytest.mark.parametrize("seed", [-1, 1.5, True])
def test_dropout_bad_seed(seed):
    with pytest.raises(ValueError, match=r"Dropout\(seed\) must be None or a non-negative integer"):
        layers.Dropout(0.5, seed=seed)


@pytest.mark.parametrize("target", [(0, 3), (-2, 3), (-1, -1), "abc", ()])
def test_reshape_invalid_target(target):
    with pytest.raises(ValueError, match=r"Reshape: `target_shape` must be a tuple of positive integers"):
        layers.Reshape(target)


@pytest.mark.parametrize("target", [(5, 5), (-1, 5)])
def test_reshape_mismatch(target):
    with pytest.raises(ValueError, match=r"cannot reshape input of shape \(None, 3, 4\) \(12 values per sample\)"):
        layers.Reshape(target)(np.zeros((2, 3, 4)))


def test_flatten_rejects_channels_first():
    with pytest.raises(ValueError, match=r"Flatten: only data_format='channels_last'"):
        layers.Flatten(data_format="channels_first")


@pytest.mark.parametrize("kwargs,match", [
    ({"max_value": -1.0}, r"ReLU: `max_value` must be a number in \[0\.0, inf\)\. Received: max_value=-1\.0"),
    ({"negative_slope": -0.1}, r"ReLU: `negative_slope` must be a number in \[0\.0, inf\)"),
    ({"threshold": float("inf")}, r"ReLU: `threshold` must be a number in \(-inf, inf\)"),
])
def test_relu_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.ReLU(**kwargs)


def test_leaky_relu_invalid_slope():
    with pytest.raises(ValueError, match=r"LeakyReLU: `negative_slope` must be a number in \[0\.0, inf\)"):
        layers.LeakyReLU(negative_slope=-0.3)


@pytest.mark.parametrize("kwargs,match", [
    ({"scale": float("nan")}, r"Rescaling: `scale` must be a number in \(-inf, inf\)"),
    ({"scale": 1.0, "offset": "1"}, r"Rescaling: `offset` must be a number"),
])
def test_rescaling_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        layers.Rescaling(**kwargs)


def test_input_layer_errors():
    with pytest.raises(ValueError, match=r"InputLayer needs `shape`, the shape of one sample"):
        layers.InputLayer()
    with pytest.raises(ValueError, match=r"InputLayer: `shape` must be a tuple of positive integers"):
        layers.InputLayer(shape=(28, -1))
    with pytest.raises(ValueError, match=r"`shape` must be a tuple of positive integers"):
        layers.Input(shape=(28.5, 28))


def test_set_weights_count_and_shape_mismatch():
    layer = layers.Dense(3, name="dense_w")
    layer.build_for((None, 4))
    with pytest.raises(ValueError, match=r"Layer 'dense_w' has 2 weight array\(s\) \(kernel, bias\); "
                                         r"set_weights received 1"):
        layer.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"weight 'kernel' has shape \(4, 3\); set_weights received shape \(3, 4\)"):
        layer.set_weights([np.zeros((3, 4)), np.zeros(3)])
    with pytest.raises(ValueError, match=r"weight 'bias' must be finite numbers"):
        layer.set_weights([np.zeros((4, 3)), np.array([0.0, np.nan, 1.0])])
    with pytest.raises(ValueError, match=r"has 0 weight array\(s\) \(none\); set_weights received 1"):
        layers.Flatten().set_weights([np.zeros(1)])


KINK_CASES = [
    ("LeakyReLU", lambda: layers.LeakyReLU(0.3, dtype=F64), lambda t, x: t.nn.functional.leaky_relu(x, 0.3)),
    ("leaky_relu", lambda: layers.Activation("leaky_relu", dtype=F64),
     lambda t, x: t.nn.functional.leaky_relu(x, 0.2)),
    ("relu", lambda: layers.Activation("relu", dtype=F64), lambda t, x: t.relu(x)),
    ("elu", lambda: layers.Activation("elu", dtype=F64), lambda t, x: t.nn.functional.elu(x)),
    ("ReLU", lambda: layers.ReLU(dtype=F64), lambda t, x: t.relu(x)),
    ("ReLU-max6", lambda: layers.ReLU(max_value=6.0, dtype=F64), lambda t, x: t.nn.functional.relu6(x)),
    ("ReLU-slope", lambda: layers.ReLU(negative_slope=0.1, dtype=F64),
     lambda t, x: t.nn.functional.leaky_relu(x, 0.1)),
    ("ReLU-threshold", lambda: layers.ReLU(threshold=0.5, dtype=F64),
     lambda t, x: t.nn.functional.threshold(x, 0.5, 0.0)),
]


@pytest.mark.parametrize("name,factory,torch_fn", KINK_CASES, ids=[c[0] for c in KINK_CASES])
def test_values_and_gradients_exactly_at_the_kinks_match_torch(torch, name, factory, torch_fn):
    """Inputs exactly at 0, at the threshold and at the cap (zeros are common after padding or a ReLU)."""
    x = np.array([[-1.0, 0.0, 0.5, 1.0, 6.0, 7.0], [0.0, -0.0, 0.5, 6.0, -6.0, 0.25]])
    torch_parity(torch, factory(), x, lambda xt, p: torch_fn(torch, xt))


def test_relu_layer_prints_no_negative_zeros():
    out = layers.ReLU()(np.array([[-2.0, -0.5, 3.0]]))
    assert not np.signbit(out).any()


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("case", [((4, 4), (2, 2), "same"), ((5, 2), (1, 3), "same"), ((3, 1), (4, 1), "same")],
                         ids=pool_id)
def test_pool_window_larger_than_input_or_stride_larger_than_window(torch, cls, case, rng):
    """'same' windows that hang over every edge of a 3x2 image, and strides that skip cells."""
    layer = cls(case[0], strides=case[1], padding=case[2], dtype=F64)
    torch_parity(torch, layer, rng.standard_normal((2, 3, 2, 2)), torch_pool(torch, cls, case, 3, 2))
    np.testing.assert_allclose(cls(case[0], strides=case[1], padding="same", dtype=F64)(np.ones((1, 3, 2, 1))),
                               1.0, rtol=1e-15)


def test_a_layer_built_by_hand_is_not_built_again_when_called():
    """Keras allows ``layer.build(shape)`` and then ``layer(x)``: the weights made by hand are used."""
    import convlearn
    from convlearn import layers as L

    conv = L.Conv2D(2, 3)
    conv.build((None, 5, 5, 1))
    kernel = conv.kernel
    out = conv(np.ones((1, 5, 5, 1), dtype="float32"))
    assert out.shape == (1, 3, 3, 2) and conv.kernel is kernel and len(conv.weights) == 2
    dense = L.Dense(3)
    dense.build((None, 4))
    model = convlearn.Sequential([convlearn.Input((4,)), dense])
    assert model.count_params() == 15
