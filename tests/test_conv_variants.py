"""Dilated and grouped Conv2D, DepthwiseConv2D, SeparableConv2D and Conv2DTranspose.

PyTorch is the oracle (weights copied across, outputs and every gradient
compared); finite differences check the gradients; the fast kernels are held
equal to the reference loops on random shapes; output shapes follow Keras's
formulas, written out here; every error message has a test. The last tests
put the new layers (and the resizing layers) in models: the engine's plans
leave them alone, and such a model trains, predicts, saves and loads.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import check_layer_gradients, rel_error, tf_same_pads
from hypothesis import given, settings
from hypothesis import strategies as st

import convlearn as keras
from convlearn import layers, ops
from convlearn.engine import plan, run

TOLERANCE = {"float64": 1e-10, "float32": 2e-5}


def parity(torch, layer, x, fn, seed=0):
    """Run ``layer`` and ``fn`` (the same maths in torch, on torch copies of the weights) on ``x``;
    compare the output and the gradients of the input and of every weight."""
    tol = TOLERANCE[layer.dtype]
    x = np.asarray(x, dtype=layer.dtype)
    layer(x)                                                   # builds the layer
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.get_weights()])   # a non-zero bias too
    out, cache = layer.forward(x)
    w = rng.standard_normal(out.shape).astype(layer.dtype)
    dx, grads = layer.backward(w.copy(), cache)
    xt = torch.tensor(x, requires_grad=True)
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}
    out_t = fn(xt, tparams)
    out_t.backward(torch.tensor(w))
    assert out.shape == tuple(out_t.shape)
    assert rel_error(out, out_t.detach().numpy()) < tol, "outputs differ"
    assert rel_error(dx, xt.grad.numpy()) < tol, "input gradients differ"
    assert set(grads) == set(tparams)
    for key, value in tparams.items():
        assert rel_error(grads[key], value.grad.numpy()) < tol, f"gradients of {key!r} differ"


def span(k, d):
    return (k - 1) * d + 1


def nchw(t):
    return t.permute(0, 3, 1, 2)


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def tf_pad(torch, x, H, W, k, s, d, padding):
    """TensorFlow's padding of an NCHW tensor for a window of reach ``(k - 1) * d + 1``."""
    if padding == "valid":
        return x
    (t, b), (l, r) = tf_same_pads(H, span(k[0], d[0]), s[0]), tf_same_pads(W, span(k[1], d[1]), s[1])
    return torch.nn.functional.pad(x, (l, r, t, b))


# ---------------------------------------------------------------------------
# Conv2D with dilation_rate and groups
# ---------------------------------------------------------------------------

GROUPED_CASES = [
    # (N, H, W, C, F, kernel_size, strides, padding, dilation_rate, groups)
    (2, 7, 6, 2, 3, (3, 3), (1, 1), "valid", (2, 2), 1),
    (2, 7, 8, 3, 2, (3, 2), (1, 1), "same", (2, 3), 1),
    (1, 9, 7, 4, 6, (3, 3), (1, 1), "same", (1, 1), 2),
    (2, 6, 5, 6, 3, (2, 3), (2, 1), "same", (1, 1), 3),      # asymmetric 'same' padding, strides
    (1, 8, 9, 4, 4, (3, 3), (1, 1), "valid", (3, 2), 4),      # depthwise-like: one channel per group
    (1, 5, 5, 4, 8, (1, 1), (1, 1), "valid", (1, 1), 2),
    (2, 5, 6, 2, 2, (3, 3), (1, 1), "same", (3, 3), 2),       # the dilated reach (7) exceeds the input
]


def grouped_id(case):
    N, H, W, C, F, k, s, p, d, g = case
    return f"{H}x{W}x{C}-F{F}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-{p}-d{d[0]}{d[1]}-g{g}"


def torch_grouped(torch, case):
    N, H, W, C, F, k, s, padding, d, g = case

    def fn(xt, p):
        x = tf_pad(torch, nchw(xt), H, W, k, s, d, padding)
        weight = p["kernel"].permute(3, 2, 0, 1)                # (kh, kw, C/g, F) -> (F, C/g, kh, kw)
        return nhwc(torch.nn.functional.conv2d(x, weight, p["bias"], stride=s, dilation=d, groups=g))

    return fn


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", GROUPED_CASES, ids=grouped_id)
def test_dilated_grouped_conv2d_matches_torch(torch, case, dtype, rng):
    N, H, W, C, F, k, s, p, d, g = case
    layer = layers.Conv2D(F, k, strides=s, padding=p, dilation_rate=d, groups=g, dtype=dtype)
    parity(torch, layer, rng.standard_normal((N, H, W, C)), torch_grouped(torch, case))
    assert layer.params["kernel"].shape == (*k, C // g, F)


@pytest.mark.parametrize("case", GROUPED_CASES[:5], ids=grouped_id)
def test_dilated_grouped_conv2d_finite_differences(case, rng):
    N, H, W, C, F, k, s, p, d, g = case
    layer = layers.Conv2D(F, k, strides=s, padding=p, dilation_rate=d, groups=g, activation="tanh",
                          dtype="float64")
    check_layer_gradients(layer, rng.standard_normal((1, H, W, C)))


# ---------------------------------------------------------------------------
# DepthwiseConv2D and SeparableConv2D
# ---------------------------------------------------------------------------

DEPTHWISE_CASES = [
    # (N, H, W, C, depth_multiplier, kernel_size, strides, padding, dilation_rate)
    (2, 6, 7, 3, 1, (3, 3), (1, 1), "valid", (1, 1)),
    (1, 7, 6, 2, 3, (3, 2), (2, 2), "same", (1, 1)),
    (2, 8, 7, 3, 2, (3, 3), (1, 1), "same", (2, 2)),
    (1, 5, 9, 4, 1, (2, 4), (1, 3), "valid", (1, 1)),
]


def depthwise_weight(kernel):
    """(kh, kw, C, dm) -> torch's (C*dm, 1, kh, kw): output channel c*dm + m is channel c's filter m."""
    kh, kw, C, dm = kernel.shape
    return kernel.permute(2, 3, 0, 1).reshape(C * dm, 1, kh, kw)


def torch_depthwise(torch, case, pointwise=False):
    N, H, W, C, dm, k, s, padding, d = case

    def fn(xt, p):
        x = tf_pad(torch, nchw(xt), H, W, k, s, d, padding)
        kernel = p["depthwise_kernel"] if pointwise else p["kernel"]
        bias = None if pointwise else p["bias"]
        y = torch.nn.functional.conv2d(x, depthwise_weight(kernel), bias, stride=s, dilation=d, groups=C)
        if pointwise:
            y = torch.nn.functional.conv2d(y, p["pointwise_kernel"].permute(3, 2, 0, 1), p["bias"])
        return nhwc(y)

    return fn


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", DEPTHWISE_CASES)
def test_depthwise_conv2d_matches_torch(torch, case, dtype, rng):
    N, H, W, C, dm, k, s, p, d = case
    layer = layers.DepthwiseConv2D(k, strides=s, padding=p, depth_multiplier=dm, dilation_rate=d, dtype=dtype)
    parity(torch, layer, rng.standard_normal((N, H, W, C)), torch_depthwise(torch, case))
    assert layer.params["kernel"].shape == (*k, C, dm) and layer.params["bias"].shape == (C * dm,)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", DEPTHWISE_CASES)
def test_separable_conv2d_matches_torch(torch, case, dtype, rng):
    N, H, W, C, dm, k, s, p, d = case
    layer = layers.SeparableConv2D(5, k, strides=s, padding=p, depth_multiplier=dm, dilation_rate=d, dtype=dtype)
    parity(torch, layer, rng.standard_normal((N, H, W, C)), torch_depthwise(torch, case, pointwise=True))
    assert [path for path, _ in layer.named_weights()] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    assert layer.params["pointwise_kernel"].shape == (1, 1, C * dm, 5)


@pytest.mark.parametrize("case", DEPTHWISE_CASES[1:3])
def test_depthwise_and_separable_finite_differences(case, rng):
    N, H, W, C, dm, k, s, p, d = case
    x = rng.standard_normal((1, H, W, C))
    check_layer_gradients(layers.DepthwiseConv2D(k, strides=s, padding=p, depth_multiplier=dm, dilation_rate=d,
                                                 activation="tanh", dtype="float64"), x)
    check_layer_gradients(layers.SeparableConv2D(3, k, strides=s, padding=p, depth_multiplier=dm, dilation_rate=d,
                                                 activation="sigmoid", dtype="float64"), x)


# ---------------------------------------------------------------------------
# Conv2DTranspose
# ---------------------------------------------------------------------------

def keras_transpose_length(n, k, s, padding, output_padding, d):
    """Keras's output length of a transposed convolution (keras/src/backend/common/backend_utils.py)."""
    k = span(k, d)
    if padding == "valid":
        extra = max(k, s) - k if output_padding is None else output_padding
        return (n - 1) * s + k + extra
    return n * s if output_padding is None else (n - 1) * s + k % 2 + output_padding


TRANSPOSE_CASES = [
    # (N, H, W, C, F, kernel_size, strides, padding, output_padding, dilation_rate)
    (2, 4, 5, 3, 2, (3, 3), (2, 2), "same", None, (1, 1)),     # the autoencoder's layer: doubles the size
    (2, 4, 5, 3, 2, (3, 3), (2, 2), "valid", None, (1, 1)),
    (1, 3, 4, 2, 3, (3, 2), (2, 3), "same", (1, 2), (1, 1)),
    (1, 3, 5, 2, 2, (2, 3), (3, 2), "valid", (2, 1), (1, 1)),   # output_padding beyond the full output
    (2, 5, 3, 2, 2, (2, 1), (3, 3), "valid", None, (1, 1)),     # stride above the kernel: zeros in between
    (1, 4, 4, 2, 3, (4, 4), (2, 2), "same", None, (1, 1)),      # even kernel: cropped on both sides
    (1, 5, 6, 2, 2, (3, 3), (1, 1), "same", None, (2, 2)),
    (1, 4, 3, 3, 2, (3, 2), (1, 1), "valid", None, (2, 3)),
    (2, 3, 3, 1, 1, (1, 1), (2, 2), "same", (1, 1), (1, 1)),
]


def torch_transpose(torch, case):
    """torch's full transposed convolution, then the window Keras keeps: the input gradient of a
    TensorFlow convolution over that many cells, so it starts at the convolution's top padding."""
    N, H, W, C, F, k, s, padding, op, d = case
    Ho, Wo = (keras_transpose_length(n, k[i], s[i], padding, None if op is None else op[i], d[i])
              for i, n in enumerate((H, W)))

    def fn(xt, p):
        full = torch.nn.functional.conv_transpose2d(nchw(xt), p["kernel"].permute(3, 2, 0, 1), stride=s,
                                                    dilation=d)          # (kh, kw, F, C) -> (C, F, kh, kw)
        if padding == "same":
            top, left = tf_same_pads(Ho, span(k[0], d[0]), s[0])[0], tf_same_pads(Wo, span(k[1], d[1]), s[1])[0]
        else:
            top = left = 0
        full = torch.nn.functional.pad(full, (0, max(0, left + Wo - full.shape[3]), 0,
                                              max(0, top + Ho - full.shape[2])))  # Keras's extra cells: zeros
        out = full[:, :, top:top + Ho, left:left + Wo]
        return nhwc(out) + p["bias"]

    return fn


def transpose_id(case):
    N, H, W, C, F, k, s, p, op, d = case
    return f"{H}x{W}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-{p}-op{op}-d{d[0]}{d[1]}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=transpose_id)
def test_conv2d_transpose_matches_torch(torch, case, dtype, rng):
    N, H, W, C, F, k, s, p, op, d = case
    layer = layers.Conv2DTranspose(F, k, strides=s, padding=p, output_padding=op, dilation_rate=d, dtype=dtype)
    parity(torch, layer, rng.standard_normal((N, H, W, C)), torch_transpose(torch, case))
    assert layer.params["kernel"].shape == (*k, F, C)


def test_conv2d_transpose_with_torch_output_padding(torch, rng):
    """With 'valid' padding Keras's output_padding is torch's: ConvTranspose2d computes the same layer."""
    layer = layers.Conv2DTranspose(3, (3, 2), strides=(2, 3), output_padding=(1, 2), dtype="float64")
    x = rng.standard_normal((2, 4, 3, 2))
    layer(x)
    conv = torch.nn.ConvTranspose2d(2, 3, (3, 2), stride=(2, 3), output_padding=(1, 2)).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(layer.params["kernel"]).permute(3, 2, 0, 1))
        conv.bias.copy_(torch.tensor(layer.params["bias"]))
        expected = nhwc(conv(nchw(torch.tensor(x)))).numpy()
    assert rel_error(layer(x), expected) < 1e-12


@pytest.mark.parametrize("case", [TRANSPOSE_CASES[i] for i in (0, 2, 3, 6)], ids=transpose_id)
def test_conv2d_transpose_finite_differences(case, rng):
    N, H, W, C, F, k, s, p, op, d = case
    layer = layers.Conv2DTranspose(F, k, strides=s, padding=p, output_padding=op, dilation_rate=d,
                                   activation="tanh", dtype="float64")
    check_layer_gradients(layer, rng.standard_normal((1, H, W, C)))


# ---------------------------------------------------------------------------
# Output shapes: Keras's formulas, odd sizes, unknown sizes
# ---------------------------------------------------------------------------

def keras_conv_length(n, k, s, padding, d):
    """Keras's compute_conv_output_shape: floor((n - d*(k-1) - 1) / s) + 1, or floor((n - 1) / s) + 1."""
    if padding == "valid":
        return (n - d * (k - 1) - 1) // s + 1
    return (n - 1) // s + 1


@pytest.mark.parametrize("n", [5, 7, 9, 11])
@pytest.mark.parametrize("k, s, d", [(3, 1, 2), (2, 3, 1), (3, 2, 1), (1, 1, 3), (2, 1, 4)])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_output_shapes_follow_keras(n, k, s, d, padding):
    x = np.zeros((1, n, n + 2, 2), dtype=np.float32)
    m = n + 2
    if span(k, d) <= n or padding == "same":
        expected = (1, keras_conv_length(n, k, s, padding, d), keras_conv_length(m, k, s, padding, d))
        for layer, F in ((layers.Conv2D(4, k, strides=s, padding=padding, dilation_rate=d, groups=2), 4),
                         (layers.DepthwiseConv2D(k, strides=s, padding=padding, dilation_rate=d,
                                                 depth_multiplier=3), 6),
                         (layers.SeparableConv2D(5, k, strides=s, padding=padding, dilation_rate=d), 5)):
            assert layer(x).shape == (*expected, F)
            assert layer.compute_output_shape((None, n, m, 2)) == (None, *expected[1:], F)
            assert layer.compute_output_shape((None, None, m, 2)) == (None, None, expected[2], F)
    for op in [None] + list(range(s)):
        if padding == "same" and op is not None and span(k, d) % 2 + op == 0:
            continue                     # Keras would give (n - 1) * s cells: no cell for the last input row
        layer = layers.Conv2DTranspose(3, k, strides=s, padding=padding, output_padding=op, dilation_rate=d)
        expected = (1, keras_transpose_length(n, k, s, padding, op, d), keras_transpose_length(m, k, s, padding, op, d), 3)
        assert layer(x).shape == expected
        assert layer.compute_output_shape((None, n, None, 2)) == (None, expected[1], None, 3)


# ---------------------------------------------------------------------------
# Fast kernels equal the reference loops
# ---------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(H=st.integers(3, 7), W=st.integers(3, 7), groups=st.sampled_from([1, 2, 3]), cg=st.integers(1, 2),
       fg=st.integers(1, 3), k=st.tuples(st.integers(1, 3), st.integers(1, 3)), stride=st.integers(1, 2),
       dilation=st.integers(1, 2), padding=st.sampled_from(["valid", "same"]), seed=st.integers(0, 99))
def test_fast_grouped_conv_equals_reference(H, W, groups, cg, fg, k, stride, dilation, padding, seed):
    if stride > 1:
        dilation = 1
    if padding == "valid" and (span(k[0], dilation) > H or span(k[1], dilation) > W):
        padding = "same"
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, H, W, groups * cg))
    kernel = rng.standard_normal((*k, cg, groups * fg))
    bias = rng.standard_normal(groups * fg)
    args = ((stride, stride), padding, (dilation, dilation), groups)
    results = {}
    for name, kernels in ops.KERNELS.items():
        out, cache = kernels.grouped_conv2d_forward(x, kernel, bias, *args)
        dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
        results[name] = (out, *kernels.grouped_conv2d_backward(dout, cache))
    for a, b in zip(results["fast"], results["reference"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(H=st.integers(1, 5), W=st.integers(1, 5), C=st.integers(1, 3), F=st.integers(1, 3),
       k=st.tuples(st.integers(1, 4), st.integers(1, 4)), stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       padding=st.sampled_from(["valid", "same"]), extra=st.integers(0, 2), seed=st.integers(0, 99))
def test_fast_transpose_conv_equals_reference(H, W, C, F, k, stride, padding, extra, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, H, W, C))
    kernel = rng.standard_normal((*k, F, C))
    out_size, crops = (H * stride[0] + extra, W * stride[1]), (min(extra, 1), 0)
    results = {}
    for name, kernels in ops.KERNELS.items():
        out, cache = kernels.conv2d_transpose_forward(x, kernel, None, stride, out_size, crops)
        dout = np.random.default_rng(seed + 1).standard_normal(out.shape)
        results[name] = (out, *kernels.conv2d_transpose_backward(dout, cache)[:2])
    for a, b in zip(results["fast"], results["reference"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_layers_give_the_same_numbers_with_both_kernels(rng):
    x = rng.standard_normal((2, 6, 5, 4))
    for layer in (layers.Conv2D(4, 3, padding="same", dilation_rate=2, groups=2, dtype="float64"),
                  layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, dtype="float64"),
                  layers.SeparableConv2D(3, 2, padding="same", dtype="float64"),
                  layers.Conv2DTranspose(3, 3, strides=2, padding="same", dtype="float64")):
        layer(x)                                                  # builds it
        out, cache = layer.forward(x)
        dout = rng.standard_normal(out.shape)
        dx, grads = layer.backward(dout, cache)
        with ops.use_kernels("reference"):
            ref_out, ref_cache = layer.forward(x)
            ref_dx, ref_grads = layer.backward(dout, ref_cache)
        np.testing.assert_allclose(out, ref_out, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dx, ref_dx, rtol=1e-10, atol=1e-12)
        for key in grads:
            np.testing.assert_allclose(grads[key], ref_grads[key], rtol=1e-10, atol=1e-12, err_msg=key)


# ---------------------------------------------------------------------------
# Every error message
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: layers.Conv2D(4, 3, strides=2, dilation_rate=2),
     (r"Conv2D: `strides` above 1 cannot be combined with `dilation_rate` above 1.*strides=\(2, 2\), "
     r"dilation_rate=\(2, 2\)\. Use one or the other")),
    (lambda: layers.Conv2D(5, 3, groups=2), r"`filters` must be a multiple of `groups`.*filters=5, groups=2"),
    (lambda: layers.Conv2D(4, 3, groups=-1), r"Conv2D: `groups` must be a positive integer\. Received: groups=-1"),
    (lambda: layers.Conv2D(4, 3, dilation_rate=(1, 0)), r"`dilation_rate` must be a positive integer.*\(1, 0\)"),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0),
     r"DepthwiseConv2D: `depth_multiplier` must be a positive integer\. Received: depth_multiplier=0"),
    (lambda: layers.DepthwiseConv2D(3, strides=(1, 2), dilation_rate=3),
     r"DepthwiseConv2D: `strides` above 1 cannot be combined with `dilation_rate` above 1"),
    (lambda: layers.DepthwiseConv2D(3, depthwise_regularizer="l2"),
     r"DepthwiseConv2D: `depthwise_regularizer` is not supported by convlearn; leave it at its default \(None\)"),
    (lambda: layers.DepthwiseConv2D(3, data_format="channels_first"),
     r"DepthwiseConv2D: only data_format='channels_last'"),
    (lambda: layers.SeparableConv2D(0, 3), r"SeparableConv2D: `filters` must be a positive integer"),
    (lambda: layers.SeparableConv2D(4, 3, pointwise_constraint="non_neg"),
     r"SeparableConv2D: `pointwise_constraint` is not supported by convlearn"),
    (lambda: layers.SeparableConv2D(4, 3, padding="causal"), r"SeparableConv2D: `padding` must be one of"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, output_padding=2),
     (r"Conv2DTranspose: each `output_padding` must be smaller than the stride.*output_padding=\(2, 2\), "
     r"strides=\(2, 2\)")),
    (lambda: layers.Conv2DTranspose(4, 3, output_padding=(0, -1)),
     r"Conv2DTranspose: `output_padding` must be None, a non-negative integer or a tuple of 2.*\(0, -1\)"),
    (lambda: layers.Conv2DTranspose(4, 3, output_padding="same"), r"Received: output_padding='same'"),
    (lambda: layers.Conv2DTranspose(4, 3, strides=2, dilation_rate=2),
     r"Conv2DTranspose: `strides` above 1 cannot be combined"),
    (lambda: layers.Conv2DTranspose(4, 3, kernel_constraint="non_neg"),
     r"Conv2DTranspose: `kernel_constraint` is not supported"),
    (lambda: layers.Conv2DTranspose(0, 3), r"Conv2DTranspose: `filters` must be a positive integer"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("layer, shape, match", [
    (lambda: layers.Conv2D(4, 3, groups=2, name="g"), (None, 8, 8, 3),
     (r"Conv2D 'g': the input channels must be a multiple of `groups`; got 3 channels \(input shape "
     r"\(None, 8, 8, 3\)\) and groups=2\. Choose groups dividing 3")),
    (lambda: layers.Conv2D(4, 3, dilation_rate=3, name="d"), (None, 6, 9, 1),
     (r"Conv2D 'd': kernel_size \(3, 3\) \(spanning 7x7 with dilation_rate \(3, 3\)\) is larger than its input "
     r"6x9.*padding='same'")),
    (lambda: layers.DepthwiseConv2D(4, name="dw"), (None, 3, 9, 2), (r"DepthwiseConv2D 'dw': kernel_size \(4, 4\) is "
     r"larger than its input 3x9")),
    (lambda: layers.SeparableConv2D(2, 3, name="sep"), (None, 28, 28), (r"SeparableConv2D 'sep' expects 4-D input.*"
     r"Add a channel axis")),
    (lambda: layers.Conv2DTranspose(2, 3, name="up"), (None, 7, 7), r"Conv2DTranspose 'up' expects 4-D input"),
])
def test_invalid_inputs(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer().build_for(shape)


# ---------------------------------------------------------------------------
# In models: plans, training, summary, config and saving
# ---------------------------------------------------------------------------

def variants_model():
    """Every new layer in one graph, each in a place where a plan pass would fire on a plain Conv2D:
    a dilated Conv2D before BatchNormalization and before max pooling, a ReLU layer before a
    grouped Conv2D."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 2))
    x = layers.Conv2D(4, 3, padding="same", dilation_rate=2, name="dilated")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D()(x)                                                     # (6, 6, 4)
    y = layers.Conv2D(4, 3, padding="same", dilation_rate=(1, 2), name="dilated_pool")(x)
    y = layers.MaxPooling2D()(y)                                                     # (3, 3, 4)
    y = layers.Conv2DTranspose(4, 3, strides=2, padding="same", activation="relu")(y)   # (6, 6, 4)
    x = layers.add([x, y])
    x = layers.Activation("relu")(x)
    x = layers.Conv2D(4, 3, padding="same", groups=2, activation="relu", name="grouped")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2)(x)                             # (4, 4, 8)
    x = layers.BatchNormalization()(x)
    x = layers.SeparableConv2D(6, 3, padding="same", activation="relu")(x)
    x = layers.UpSampling2D(interpolation="bilinear")(x)                              # (8, 8, 6)
    x = layers.ZeroPadding2D(((1, 0), (0, 1)))(x)                                     # (9, 9, 6)
    x = layers.Cropping2D(((0, 1), (1, 0)))(x)                                        # (8, 8, 6)
    x = layers.Resizing(5, 7)(x)
    x = layers.CenterCrop(4, 4)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(3, activation="softmax")(x))


def kinds(program):
    return [type(step.layer).__name__ for step in program.steps]


def test_plans_leave_the_new_layers_alone(rng):
    model = variants_model()
    inference = kinds(plan.inference_plan(model.program()))
    assert "FoldedConv" not in inference and "FusedConvPool" not in inference
    assert inference.count("Conv2D") == 3 and inference.count("BatchNormalization") == 2
    params = model.trainable_weights
    training, _ = plan.training_plan(model.program(training=True), ["softmax"], {id(p) for p in params})
    names = kinds(training)
    assert "ConvCall" not in names and "FusedConvPool" not in names
    # the ReLU layer before the grouped convolution stays a step of its own
    grouped = next(i for i, s in enumerate(training.steps) if plan.base_layer(s.layer).name == "grouped")
    assert type(training.steps[grouped - 1].layer).__name__ == "Activation"
    # a plain Conv2D in the same place is still fused: the passes still see it
    keras.utils.set_random_seed(3)
    plain = keras.Sequential([keras.Input((8, 8, 2)), layers.Conv2D(4, 3, padding="same"),
                              layers.BatchNormalization(), layers.MaxPooling2D()])
    assert kinds(plan.inference_plan(plain.program())) == ["FusedConvPool"]


def test_plan_passes_do_not_take_a_subclass_of_conv2d_for_a_plain_one():
    class Doubled(layers.Conv2D):
        def forward_logits(self, x, training=False):
            z, cache = super().forward_logits(x, training)
            return 2 * z, cache

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6, 6, 1)), Doubled(2, 3, padding="same"), layers.MaxPooling2D()])
    assert kinds(plan.inference_plan(model.program())) == ["Doubled", "MaxPooling2D"]
    assert plan.plain_conv(layers.Conv2D(2, 3)) and not plan.plain_conv(layers.Conv2D(2, 3, dilation_rate=2))


def test_a_model_of_them_trains_and_predicts_the_same_through_every_plan(rng):
    model = variants_model()
    x = rng.random((24, 12, 12, 2), dtype=np.float32)
    y = rng.integers(0, 3, 24)
    plain = run.forward(model.program(), [x])[0][0]
    np.testing.assert_allclose(model.predict(x, verbose=0), plain, rtol=1e-5, atol=1e-6)
    with ops.use_kernels("reference"):
        np.testing.assert_allclose(model.predict(x[:4], verbose=0), plain[:4], rtol=1e-4, atol=1e-6)
    # the training plan's gradients are the plain program's
    params = model.trainable_weights
    loss = keras.losses.SparseCategoricalCrossentropy()
    planned, _ = plan.training_plan(model.program(training=True), ["softmax"], {id(p) for p in params})
    outs, caches = run.forward(planned, [x])
    _, cache = loss.forward(y, None, logits=outs[0])
    _, fast = run.backward(planned, caches, [loss.backward(cache).astype(np.float32)])
    model2 = variants_model()                       # same seed: same weights, fresh moving averages
    outs, caches = run.forward(model2.program(training=True), [x])
    _, cache = loss.forward(y, outs[0])
    _, slow = run.backward(model2.program(training=True), caches, [loss.backward(cache).astype(np.float32)])
    for p, q in zip(params, model2.trainable_weights):
        np.testing.assert_allclose(fast[id(p)], slow[id(q)], rtol=2e-3, atol=1e-6)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=8, batch_size=8, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses
    trained = model.predict(x, verbose=0)
    np.testing.assert_allclose(trained, run.forward(model.program(), [x])[0][0], rtol=1e-5, atol=1e-6)


def test_summary_config_and_saving(tmp_path, rng):
    model = variants_model()
    x = rng.random((3, 12, 12, 2), dtype=np.float32)
    expected = model.predict(x, verbose=0)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for name in ("Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D", "UpSampling2D", "ZeroPadding2D",
                 "Cropping2D", "Resizing", "CenterCrop"):
        assert name in text, name
    assert f"{model.count_params():,}" in text
    config = json.loads(json.dumps(model.get_config()))
    clone = keras.Model.from_config(config)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)
    path = tmp_path / "variants.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)
    assert [type(layer).__name__ for layer in restored.layers] == [type(layer).__name__ for layer in model.layers]
