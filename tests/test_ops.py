"""Kernels: the fast (vectorised) ops held equal to the reference (loop) ops on random shapes.

Hypothesis draws the shapes (batch 1-3, height/width 1-9, channels 1-3,
filters 1-4, kernel 1-4, stride 1-3, padding valid/same) and skips the
combinations where a 'valid' window does not fit in the input.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convlearn
from convlearn import layers, ops
from convlearn.ops import fast, reference
from helpers import rel_error, tf_same_pads

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def close(a, b, tol=1e-10):
    return rel_error(a, b) < tol


@st.composite
def window_geometry(draw):
    """(N, H, W, C, kh, kw, sh, sw, padding) with the window fitting the input for 'valid'."""
    N = draw(st.integers(1, 3))
    H = draw(st.integers(1, 9))
    W = draw(st.integers(1, 9))
    C = draw(st.integers(1, 3))
    kh = draw(st.integers(1, 4))
    kw = draw(st.integers(1, 4))
    sh = draw(st.integers(1, 3))
    sw = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same"]))
    assume(padding == "same" or (kh <= H and kw <= W))
    return N, H, W, C, kh, kw, sh, sw, padding


# ---------------------------------------------------------------------------
# Fast == reference
# ---------------------------------------------------------------------------

@SETTINGS
@given(geom=window_geometry(), F=st.integers(1, 4), use_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_conv2d_fast_equals_reference(geom, F, use_bias, seed):
    N, H, W, C, kh, kw, sh, sw, padding = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, H, W, C))
    kernel = rng.standard_normal((kh, kw, C, F))
    bias = rng.standard_normal(F) if use_bias else None
    out_f, cache_f = fast.conv2d_forward(x, kernel, bias, (sh, sw), padding)
    out_r, cache_r = reference.conv2d_forward(x, kernel, bias, (sh, sw), padding)
    assert out_f.shape == out_r.shape
    assert close(out_f, out_r)
    dout = rng.standard_normal(out_r.shape)
    dx_f, dk_f, db_f = fast.conv2d_backward(dout, cache_f, True)
    dx_r, dk_r, db_r = reference.conv2d_backward(dout, cache_r, True)
    assert dx_f.shape == dx_r.shape == x.shape
    assert close(dx_f, dx_r) and close(dk_f, dk_r)
    if use_bias:
        assert close(db_f, db_r)
    else:
        assert db_f is None and db_r is None
    # without the input gradient: same weight gradients, no dx
    dx_f2, dk_f2, _ = fast.conv2d_backward(dout, cache_f, False)
    dx_r2, dk_r2, _ = reference.conv2d_backward(dout, cache_r, False)
    assert dx_f2 is None and dx_r2 is None
    assert close(dk_f2, dk_r) and close(dk_r2, dk_r)


@SETTINGS
@given(geom=window_geometry(), mode=st.sampled_from(["max", "avg"]), ties=st.booleans(),
       seed=st.integers(0, 2**16))
def test_pool2d_fast_equals_reference(geom, mode, ties, seed):
    N, H, W, C, ph, pw, sh, sw, padding = geom
    rng = np.random.default_rng(seed)
    if ties:
        x = rng.integers(-1, 2, size=(N, H, W, C)).astype(np.float64)   # many equal values
    else:
        x = rng.standard_normal((N, H, W, C))
    out_f, cache_f = fast.pool2d_forward(x, (ph, pw), (sh, sw), padding, mode)
    out_r, cache_r = reference.pool2d_forward(x, (ph, pw), (sh, sw), padding, mode)
    assert out_f.shape == out_r.shape
    assert np.isfinite(out_f).all()
    assert close(out_f, out_r)
    dout = rng.standard_normal(out_r.shape)
    dx_f = fast.pool2d_backward(dout, cache_f)
    dx_r = reference.pool2d_backward(dout, cache_r)
    assert dx_f.shape == dx_r.shape == x.shape
    assert close(dx_f, dx_r)


@SETTINGS
@given(N=st.integers(1, 3), D=st.integers(1, 6), U=st.integers(1, 4), use_bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_dense_fast_equals_reference(N, D, U, use_bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D))
    kernel = rng.standard_normal((D, U))
    bias = rng.standard_normal(U) if use_bias else None
    out_f, cache_f = fast.dense_forward(x, kernel, bias)
    out_r, cache_r = reference.dense_forward(x, kernel, bias)
    assert close(out_f, out_r)
    dout = rng.standard_normal((N, U))
    dx_f, dk_f, db_f = fast.dense_backward(dout, cache_f, True)
    dx_r, dk_r, db_r = reference.dense_backward(dout, cache_r, True)
    assert close(dx_f, dx_r) and close(dk_f, dk_r)
    assert (db_f is None) == (db_r is None) == (not use_bias)
    if use_bias:
        assert close(db_f, db_r)
    assert fast.dense_backward(dout, cache_f, False)[0] is None
    assert reference.dense_backward(dout, cache_r, False)[0] is None
    # the input gradient alone (the weight gradients computed elsewhere)
    for module, cache, dx in ((fast, cache_f, dx_f), (reference, cache_r, dx_r)):
        alone = module.dense_backward(dout, cache, True, need_weights=False)
        assert alone[1] is None and alone[2] is None
        assert close(alone[0], dx)


@pytest.mark.parametrize("module", [fast, reference], ids=["fast", "reference"])
def test_kernels_keep_float32(module, rng):
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    k = rng.standard_normal((3, 3, 2, 3)).astype(np.float32)
    b = np.zeros(3, np.float32)
    out, cache = module.conv2d_forward(x, k, b, (1, 1), "same")
    assert out.dtype == np.float32
    dx, dk, db = module.conv2d_backward(out, cache, True)
    assert dx.dtype == dk.dtype == db.dtype == np.float32
    for mode in ("max", "avg"):
        out, cache = module.pool2d_forward(x, (2, 2), (2, 2), "same", mode)
        assert out.dtype == np.float32
        assert module.pool2d_backward(out, cache).dtype == np.float32


def test_fast_conv_accepts_non_contiguous_input(rng):
    """A transposed view (e.g. NCHW data transposed to NHWC) gives the same result as a copy."""
    x_nchw = rng.standard_normal((2, 3, 6, 5))
    x = x_nchw.transpose(0, 2, 3, 1)                          # view, not contiguous
    k = rng.standard_normal((3, 2, 3, 4))
    out_view, _ = fast.conv2d_forward(x, k, None, (1, 2), "valid")
    out_copy, _ = reference.conv2d_forward(np.ascontiguousarray(x), k, None, (1, 2), "valid")
    assert close(out_view, out_copy)


@SETTINGS
@given(geom=window_geometry(), F=st.integers(1, 4), use_bias=st.booleans(), threaded=st.booleans(),
       seed=st.integers(0, 2**16))
def test_conv2d_in_pieces_threads_and_reused_buffers_equals_reference(geom, F, use_bias, threaded, seed):
    """One sample per piece of im2col matrix, the batch split between threads, and one
    workspace for two batches: the same numbers as the loops."""
    N, H, W, C, kh, kw, sh, sw, padding = geom
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "_CONV_PIECE_BYTES", 1)
        patch.setattr(fast, "_CONV_THREAD_WORK", 0)             # tiny shapes split between threads too
        _conv_in_pieces(N, H, W, C, kh, kw, sh, sw, padding, F, use_bias, threaded, seed)


def _conv_in_pieces(N, H, W, C, kh, kw, sh, sw, padding, F, use_bias, threaded, seed):
    rng = np.random.default_rng(seed)
    kernel = rng.standard_normal((kh, kw, C, F))
    bias = rng.standard_normal(F) if use_bias else None
    work = {}
    for n in (N + 2, N + 2):
        x = rng.standard_normal((n, H, W, C))
        out_r, cache_r = reference.conv2d_forward(x, kernel, bias, (sh, sw), padding)
        dout = rng.standard_normal(out_r.shape)
        dx_r, dk_r, db_r = reference.conv2d_backward(dout, cache_r, True)
        with ops.parallel.active() if threaded else contextlib.nullcontext():
            out, cache = fast.conv2d_forward(x, kernel, bias, (sh, sw), padding, workspace=work)
            out = out.copy()
            dx, dk, db = fast.conv2d_backward(dout, cache, True, workspace=work)
            no_dx, dk2, _ = fast.conv2d_backward(dout, cache, False, workspace=work)
        assert close(out, out_r) and close(dx, dx_r) and close(dk, dk_r) and close(dk2, dk_r)
        assert no_dx is None and (db is None) == (not use_bias)
        if use_bias:
            assert close(db, db_r)


@SETTINGS
@given(geom=window_geometry(), F=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_conv2d_of_the_relu_of_its_input_equals_relu_then_conv(geom, F, seed):
    """``relu_input``: the ReLU applied as the input is copied, its gate applied to the
    input gradient; the loops run the ReLU, then the convolution."""
    N, H, W, C, kh, kw, sh, sw, padding = geom
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, H, W, C))
    kernel = rng.standard_normal((kh, kw, C, F))
    bias = rng.standard_normal(F)
    relu = convlearn.activations.get("relu")
    a, relu_cache = relu.forward(x)
    out_r, cache_r = reference.conv2d_forward(a, kernel, bias, (sh, sw), padding)
    dout = rng.standard_normal(out_r.shape)
    da_r, dk_r, db_r = reference.conv2d_backward(dout, cache_r, True)
    work = {}
    for _ in range(2):                                          # a reused workspace
        out, cache = fast.conv2d_forward(x, kernel, bias, (sh, sw), padding, workspace=work, relu_input=True)
        dx, dk, db = fast.conv2d_backward(dout, cache, True, workspace=work)
        assert close(out, out_r) and close(dk, dk_r) and close(db, db_r)
        assert close(dx, relu.backward(da_r, relu_cache))
    assert not np.shares_memory(cache.xp, x)                    # x itself is left as it was


@pytest.mark.parametrize("strides, padding", [((1, 1), "valid"), ((1, 1), "same"), ((2, 2), "same")])
def test_conv2d_one_by_one_takes_the_input_as_its_matrix(strides, padding, rng):
    """A 1x1 filter needs no padding: the cache keeps the input itself, which at stride 1
    is the im2col matrix (no copy); at stride 2 every other pixel is copied. Both equal
    the loops, gradients included."""
    x = rng.standard_normal((3, 5, 6, 4))
    kernel = rng.standard_normal((1, 1, 4, 3))
    out, cache = fast.conv2d_forward(x, kernel, None, strides, padding, workspace={})
    assert cache.xp is x
    out_r, cache_r = reference.conv2d_forward(x, kernel, None, strides, padding)
    dout = rng.standard_normal(out.shape)
    for a, b in zip((out,) + fast.conv2d_backward(dout, cache, True),
                    (out_r,) + reference.conv2d_backward(dout, cache_r, True)):
        assert (a is None) == (b is None)
        if a is not None:
            assert close(a, b)


def test_conv2d_threaded_split_repeats_bit_for_bit_and_matches_one_thread(rng):
    """The threads' shares are summed in a fixed order: two threaded runs agree bit for bit,
    and with one thread up to float32 rounding."""
    x = rng.standard_normal((64, 14, 14, 16)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 16, 32)).astype(np.float32)
    bias = rng.standard_normal(32).astype(np.float32)
    dout = rng.standard_normal((64, 14, 14, 32)).astype(np.float32)

    def run(threaded):
        with ops.parallel.active() if threaded else contextlib.nullcontext():
            out, cache = fast.conv2d_forward(x, kernel, bias, (1, 1), "same", workspace={})
            return (out,) + fast.conv2d_backward(dout, cache, True, workspace={})

    first, second, alone = run(True), run(True), run(False)
    for a, b, c in zip(first, second, alone):
        assert np.array_equal(a, b)
        assert rel_error(a, c) < 1e-5


@SETTINGS
@given(geom=window_geometry(), threaded=st.booleans(), ties=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool_threads_and_reused_buffers_equal_reference(geom, threaded, ties, seed):
    """Max pooling split between threads, with one workspace for two batches."""
    N, H, W, C, ph, pw, sh, sw, padding = geom
    rng = np.random.default_rng(seed)
    work = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "_POOL_THREAD_WORK", 0)             # tiny shapes split between threads too
        for _ in range(2):
            shape = (N + 1, H, W, C)
            x = rng.integers(-1, 2, size=shape).astype(np.float64) if ties else rng.standard_normal(shape)
            out_r, cache_r = reference.pool2d_forward(x, (ph, pw), (sh, sw), padding, "max")
            dout = rng.standard_normal(out_r.shape)
            with ops.parallel.active() if threaded else contextlib.nullcontext():
                out, cache = fast.pool2d_forward(x, (ph, pw), (sh, sw), padding, "max", workspace=work)
                dx = fast.pool2d_backward(dout, cache, workspace=work)
            assert close(out, out_r) and close(dx, reference.pool2d_backward(dout, cache_r))


def test_max_pool_with_a_window_of_more_than_255_columns(rng):
    """Window positions are numbered in bytes up to 255 columns (or rows), in wider integers beyond."""
    x = rng.standard_normal((2, 2, 300, 1))
    out, cache = fast.pool2d_forward(x, (1, 260), (1, 20), "valid", "max")
    out_r, cache_r = reference.pool2d_forward(x, (1, 260), (1, 20), "valid", "max")
    assert cache[-1].column.dtype != np.uint8
    dout = rng.standard_normal(out.shape)
    assert close(out, out_r)
    assert close(fast.pool2d_backward(dout, cache), reference.pool2d_backward(dout, cache_r))


def test_relu_in_place_equals_the_activation(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    expected, _ = convlearn.activations.get("relu").forward(x)
    a = x.copy()
    assert fast.relu_in_place(a) is a
    np.testing.assert_array_equal(a, expected)


# ---------------------------------------------------------------------------
# Shape arithmetic
# ---------------------------------------------------------------------------

@given(n=st.integers(1, 40), k=st.integers(1, 8), s=st.integers(1, 5))
@settings(max_examples=60, deadline=None)
def test_output_length_and_padding_arithmetic(n, k, s):
    assert ops.conv_output_length(n, k, s, "same") == math.ceil(n / s)
    if k <= n:
        assert ops.conv_output_length(n, k, s, "valid") == math.floor((n - k) / s) + 1
    assert ops.same_padding(n, k, s) == tf_same_pads(n, k, s)
    assert ops.padding_amounts(n, k, s, "valid") == (0, 0)
    before, after = ops.padding_amounts(n, k, s, "same")
    assert 0 <= after - before <= 1                            # the extra cell goes after (bottom/right)
    # the last 'same' window still starts inside the image
    out = ops.conv_output_length(n, k, s, "same")
    assert (out - 1) * s - before < n


# ---------------------------------------------------------------------------
# Switching kernels
# ---------------------------------------------------------------------------

def run_small_cnn(x, dout_seed=0):
    """Forward and backward through conv -> max pool -> avg pool -> dense, with fixed weights.

    Returns the output, the input gradient and the gradients of both layers' kernels and biases.
    """
    conv = layers.Conv2D(3, (3, 2), strides=(1, 2), padding="same", activation="relu", dtype="float64",
                         kernel_initializer=convlearn.initializers.GlorotUniform(seed=1),
                         bias_initializer=convlearn.initializers.RandomNormal(seed=2))
    maxp = layers.MaxPooling2D(2, strides=1, padding="same", dtype="float64")
    avgp = layers.AveragePooling2D(3, strides=2, padding="same", dtype="float64")
    flat = layers.Flatten(dtype="float64")
    dense = layers.Dense(4, kernel_initializer=convlearn.initializers.HeNormal(seed=3), dtype="float64")
    chain = [conv, maxp, avgp, flat, dense]
    h, caches = x, []
    for layer in chain:
        layer.build_for((None,) + h.shape[1:])
        h, cache = layer.forward(h)
        caches.append(cache)
    g = np.random.default_rng(dout_seed).standard_normal(h.shape)
    grads = {}
    for layer, cache in zip(reversed(chain), reversed(caches)):
        g, grads[layer.name] = layer.backward(g, cache)
    return (h, g, grads[conv.name]["kernel"], grads[conv.name]["bias"], grads[dense.name]["kernel"],
            grads[dense.name]["bias"])


def test_reference_kernels_give_the_same_layer_results(rng):
    x = rng.standard_normal((2, 7, 6, 2))
    assert ops.get_kernels() == "fast"
    fast_results = run_small_cnn(x)
    ops.set_kernels("reference")
    assert ops.get_kernels() == "reference"
    ref_results = run_small_cnn(x)
    for a, b in zip(fast_results, ref_results):
        assert a.shape == b.shape
        assert close(a, b)


def test_set_kernels_routes_layers_to_the_chosen_module(monkeypatch, rng):
    calls = []
    original = reference.conv2d_forward

    def spy(*args):
        calls.append("reference")
        return original(*args)

    monkeypatch.setattr(reference, "conv2d_forward", spy)
    layer = layers.Conv2D(2, 2)
    x = rng.standard_normal((1, 4, 4, 1))
    layer(x)
    assert calls == []                                      # fast by default
    with ops.use_kernels("reference"):
        layer(x)
    assert calls == ["reference"]
    assert ops.get_kernels() == "fast"                      # restored after the block


def test_use_kernels_restores_after_an_exception():
    with pytest.raises(RuntimeError):
        with ops.use_kernels("reference"):
            raise RuntimeError("boom")
    assert ops.get_kernels() == "fast"


@pytest.mark.parametrize("name", ["slow", "Fast", None])
def test_unknown_kernels_name(name):
    with pytest.raises(ValueError, match=r"Unknown kernels .*Expected one of \['fast', 'reference'\]"):
        ops.set_kernels(name)
    with pytest.raises(ValueError, match=r"Unknown kernels"):
        with ops.use_kernels(name):
            pass
    assert ops.get_kernels() == "fast"


# ---------------------------------------------------------------------------
# The fused convolution + bias + ReLU + max pooling kernel
# ---------------------------------------------------------------------------

def unfused(module, x, kernel, bias, strides, padding, pool, relu, dout):
    """conv -> (ReLU) -> max pool, forward and backward, with the separate kernels of ``module``."""
    z, conv_cache = module.conv2d_forward(x, kernel, bias, strides, padding)
    a = np.maximum(z, 0) if relu else z
    out, pool_cache = module.pool2d_forward(a, pool, pool, "valid", "max")
    da = module.pool2d_backward(dout, pool_cache)
    dz = da * (z > 0) if relu else da
    dx, dk, db = module.conv2d_backward(dz, conv_cache, True)
    return out, dx, dk, db


@SETTINGS
@given(geom=window_geometry(), F=st.integers(1, 4), ph=st.integers(1, 3), pw=st.integers(1, 3),
       relu=st.booleans(), use_bias=st.booleans(), ties=st.booleans(), seed=st.integers(0, 2**16))
def test_fused_conv_maxpool_equals_reference(geom, F, ph, pw, relu, use_bias, ties, seed):
    N, H, W, C, kh, kw, sh, sw, padding = geom
    Ho = ops.conv_output_length(H, kh, sh, padding)
    Wo = ops.conv_output_length(W, kw, sw, padding)
    assume(Ho >= ph and Wo >= pw)
    rng = np.random.default_rng(seed)
    if ties:   # small integers: many equal window values, and exact zeros after the ReLU
        x = rng.integers(-1, 2, (N, H, W, C)).astype(np.float64)
        kernel = rng.integers(-1, 2, (kh, kw, C, F)).astype(np.float64)
    else:
        x = rng.standard_normal((N, H, W, C))
        kernel = rng.standard_normal((kh, kw, C, F))
    bias = rng.standard_normal(F) if use_bias else None
    out, cache = fast.conv2d_maxpool_forward(x, kernel, bias, (sh, sw), padding, (ph, pw), relu, training=True)
    dout = rng.standard_normal(out.shape)
    dx, dk, db = fast.conv2d_maxpool_backward(dout, cache, True)
    r_out, r_dx, r_dk, r_db = unfused(reference, x, kernel, bias, (sh, sw), padding, (ph, pw), relu, dout)
    assert out.shape == r_out.shape and dx.shape == x.shape
    assert close(out, r_out) and close(dx, r_dx) and close(dk, r_dk)
    assert (db is None) == (not use_bias)
    if use_bias:
        assert close(db, r_db)
    inference, no_cache = fast.conv2d_maxpool_forward(x, kernel, bias, (sh, sw), padding, (ph, pw), relu,
                                                      training=False)
    assert no_cache is None and close(inference, r_out)


@pytest.mark.parametrize("channels", [8, 16])      # im2col, Winograd
def test_fused_conv_maxpool_workspace_reuse_and_threads(channels):
    """Reused buffers do not leak between calls, and the threaded split gives the same numbers."""
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 3, channels, 16))
    bias = rng.standard_normal(16)
    work = {}
    for seed in (1, 2):          # the same workspace for two different batches
        x = np.random.default_rng(seed).standard_normal((64, 28, 28, channels))   # big enough for threads
        dout = np.random.default_rng(seed + 10).standard_normal((64, 13, 13, 16))
        expected = unfused(fast, x, kernel, bias, (1, 1), "valid", (2, 2), True, dout)
        for threaded in (False, True):
            context = ops.parallel.active() if threaded else contextlib.nullcontext()
            with context:
                out, cache = fast.conv2d_maxpool_forward(x, kernel, bias, (1, 1), "valid", (2, 2), True,
                                                         workspace=work)
                got = (out.copy(),) + fast.conv2d_maxpool_backward(dout, cache, True, workspace=work)
            for a, b in zip(got, expected):
                assert close(a, b), f"seed {seed}, threaded={threaded}"


def test_fused_conv_maxpool_one_channel_workspace_with_and_without_bias():
    """One input channel keeps the bias in the im2col matrix (a row of ones): calls with
    and without a bias, and of sizes that reuse the same buffer, still agree with the reference."""
    rng = np.random.default_rng(3)
    kernel = rng.standard_normal((3, 3, 1, 4))
    work = {}
    # 9 taps and 10 rows (with the ones): 10 samples without bias fill exactly the buffer of 9 with it
    for n, use_bias in ((9, True), (10, False), (9, True), (9, False), (9, True)):
        x = rng.standard_normal((n, 8, 8, 1))
        bias = rng.standard_normal(4) if use_bias else None
        dout = rng.standard_normal((n, 3, 3, 4))
        out, cache = fast.conv2d_maxpool_forward(x, kernel, bias, (1, 1), "valid", (2, 2), True, workspace=work)
        dx, dk, db = fast.conv2d_maxpool_backward(dout, cache, True, workspace=work)
        r_out, r_dx, r_dk, r_db = unfused(reference, x, kernel, bias, (1, 1), "valid", (2, 2), True, dout)
        assert close(out, r_out) and close(dx, r_dx) and close(dk, r_dk)
        assert (db is None) == (not use_bias)
        if use_bias:
            assert close(db, r_db)


@pytest.mark.parametrize("channels", [3, 16])     # im2col, Winograd
@pytest.mark.parametrize("training", [False, True])
def test_fused_conv_maxpool_sees_a_changed_bias_with_the_same_workspace(channels, training):
    """The bias of every cell sits in a reused buffer: it is refilled on every call."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 9, 9, channels))
    kernel = rng.standard_normal((3, 3, channels, 4))
    work = {}
    for _ in range(2):
        bias = rng.standard_normal(4)
        out, _ = fast.conv2d_maxpool_forward(x, kernel, bias, (1, 1), "valid", (2, 2), False, training=training,
                                             workspace=work)
        assert close(out, unfused(reference, x, kernel, bias, (1, 1), "valid", (2, 2), False,
                                  np.zeros(out.shape))[0])


def test_fused_conv_maxpool_refuses_pooling_windows_over_254_cells():
    x = np.zeros((1, 17, 17, 1))
    with pytest.raises(ValueError, match=r"15x17 = 255 cells .* separately"):
        fast.conv2d_maxpool_forward(x, np.zeros((1, 1, 1, 2)), None, (1, 1), "valid", (15, 17), True)


def test_models_with_huge_pooling_windows_run_unfused(rng):
    from convlearn.engine.plan import FusedConvPool, inference_plan

    def model(pool_size):
        return convlearn.Sequential([layers.Input((16, 16, 1)), layers.Conv2D(2, 1), layers.MaxPooling2D(pool_size)])

    huge, small = model((16, 16)), model((2, 2))
    assert 16 * 16 > fast.MAX_FUSED_POOL_CELLS >= 2 * 2
    assert not any(isinstance(step.layer, FusedConvPool) for step in inference_plan(huge.program()).steps)
    assert isinstance(inference_plan(small.program()).steps[0].layer, FusedConvPool)
    x = rng.standard_normal((2, 16, 16, 1)).astype(np.float32)
    for m in (huge, small):
        conv, pool = m.layers
        np.testing.assert_allclose(m.predict(x, verbose=0), pool(conv(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("channels", [1, 16])     # im2col with one channel, Winograd
def test_fused_conv_maxpool_in_pieces_of_samples_equals_reference(monkeypatch, threaded, relu, channels):
    """With one input channel the fused kernel works through a few samples at a time, and
    Winograd's products go a piece of samples at a time in big batches; with one sample
    per piece (and odd piece boundaries) nothing changes."""
    for budget in ("_FORWARD_CHUNK_BYTES", "_BACKWARD_CHUNK_BYTES", "_WINOGRAD_PIECE_BYTES"):
        monkeypatch.setattr(fast, budget, 1)
    rng = np.random.default_rng(7)
    n = 65 if threaded else 7                 # enough work to be split between threads, odd halves
    x = rng.standard_normal((n, 20, 20, channels))
    kernel = rng.standard_normal((3, 3, channels, 16))
    bias = rng.standard_normal(16)
    dout = rng.standard_normal((n, 9, 9, 16))
    work = {}
    context = ops.parallel.active() if threaded else contextlib.nullcontext()
    with context:
        out, cache = fast.conv2d_maxpool_forward(x, kernel, bias, (1, 1), "valid", (2, 2), relu, workspace=work)
        assert (cache[-1] is not None) == (channels == 16)          # which path ran
        dx, dk, db = fast.conv2d_maxpool_backward(dout, cache, True, workspace=work)
    # the unfused fast kernels: held equal to the reference loops by the tests above
    r_out, r_dx, r_dk, r_db = unfused(fast if threaded else reference, x, kernel, bias, (1, 1), "valid", (2, 2),
                                      relu, dout)
    assert close(out, r_out) and close(dx, r_dx) and close(dk, r_dk) and close(db, r_db)
    assert fast._samples_per_chunk(1000, 1) == 1 and fast._samples_per_chunk(1000, 4096) == 4


# ---------------------------------------------------------------------------
# Winograd F(2x2, 3x3) in the fused kernel (3x3 filter, stride 1, 2x2 pooling, training)
# ---------------------------------------------------------------------------

@SETTINGS
@given(N=st.integers(1, 3), Ho2=st.integers(1, 4), Wo2=st.integers(1, 4), C=st.integers(1, 3),
       F=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_winograd_tiles_equal_the_direct_convolution(N, Ho2, Wo2, C, F, seed):
    """The transforms of :mod:`convlearn.ops.winograd`, put together by hand, give the
    convolution's 2x2 output tiles and the gradients of its kernel and input."""
    from convlearn.ops import winograd
    rng = np.random.default_rng(seed)
    H, W = 2 * Ho2 + 2 + rng.integers(0, 2), 2 * Wo2 + 2 + rng.integers(0, 2)   # odd sizes leave a row out
    x = rng.standard_normal((N, H, W, C))
    kernel = rng.standard_normal((3, 3, C, F))
    z, conv_cache = reference.conv2d_forward(x, kernel, None, (1, 1), "valid")
    tiles = np.empty((16, N, Ho2, Wo2, C))
    winograd.transform_input(x, (0, N), Ho2, Wo2, tiles, np.empty((4, N, Ho2, 2 * Wo2 + 2, C)))
    products = np.matmul(tiles.reshape(16, -1, C), winograd.transform_kernel(kernel))
    cells = winograd.output_cells(products)
    dz = np.zeros_like(z)
    dm = np.zeros((16, N * Ho2 * Wo2, F))
    for k, (a, b) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        assert close(cells[k], z[:, a:2 * Ho2:2, b:2 * Wo2:2].reshape(-1, F))
        dz[:, a:2 * Ho2:2, b:2 * Wo2:2] = rng.standard_normal((N, Ho2, Wo2, F))
        dm[winograd.CELL_SLOTS[k]] = dz[:, a:2 * Ho2:2, b:2 * Wo2:2].reshape(-1, F)
    r_dx, r_dk, _ = reference.conv2d_backward(dz, conv_cache, True)
    winograd.gradient_slots(dm)
    dk = winograd.kernel_gradient(np.matmul(tiles.reshape(16, -1, C).transpose(0, 2, 1), dm))
    dv = np.matmul(dm, winograd.transform_kernel(kernel).transpose(0, 2, 1)).reshape(tiles.shape)
    dx = np.zeros_like(x)
    winograd.add_input_gradient(dv, dx, (0, N), Ho2, Wo2, np.empty((4, N, Ho2, Wo2, C)))
    assert close(dk, r_dk) and close(dx, r_dx)


@SETTINGS
@given(N=st.integers(1, 3), H=st.integers(4, 9), W=st.integers(4, 9), C=st.integers(1, 3), F=st.integers(1, 4),
       padding=st.sampled_from(["valid", "same"]), relu=st.booleans(), use_bias=st.booleans(),
       ties=st.booleans(), seed=st.integers(0, 2**16))
def test_fused_winograd_equals_reference(N, H, W, C, F, padding, relu, use_bias, ties, seed):
    rng = np.random.default_rng(seed)
    if ties:   # small integers: exact in Winograd's arithmetic too, so the same cells tie and win
        x = rng.integers(-1, 2, (N, H, W, C)).astype(np.float64)
        kernel = rng.integers(-1, 2, (3, 3, C, F)).astype(np.float64)
    else:
        x = rng.standard_normal((N, H, W, C))
        kernel = rng.standard_normal((3, 3, C, F))
    bias = rng.standard_normal(F) if use_bias else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "WINOGRAD_MIN_CHANNELS", 1)            # small shapes take the Winograd path too
        out, cache = fast.conv2d_maxpool_forward(x, kernel, bias, (1, 1), padding, (2, 2), relu, training=True)
        assert cache[-1] is not None                               # the transformed tiles are kept
        dout = rng.standard_normal(out.shape)
        dx, dk, db = fast.conv2d_maxpool_backward(dout, cache, True)
        no_dx, dk2, db2 = fast.conv2d_maxpool_backward(dout, cache, False)
    r_out, r_dx, r_dk, r_db = unfused(reference, x, kernel, bias, (1, 1), padding, (2, 2), relu, dout)
    assert close(out, r_out) and close(dx, r_dx) and close(dk, r_dk) and close(dk2, r_dk)
    assert no_dx is None and (db is None) == (db2 is None) == (not use_bias)
    if use_bias:
        assert close(db, r_db) and close(db2, r_db)


def test_fused_winograd_in_float32_is_as_accurate_as_im2col():
    """float32 rounding of the transforms stays at the level of the direct sum's."""
    rng = np.random.default_rng(4)
    x = np.maximum(rng.standard_normal((16, 13, 13, 32)), 0)
    kernel = rng.standard_normal((3, 3, 32, 64)) * 0.1
    bias = rng.standard_normal(64) * 0.1
    dout = rng.standard_normal((16, 5, 5, 64))
    exact = unfused(reference, x, kernel, bias, (1, 1), "valid", (2, 2), True, dout)
    errors = {}
    for path, channels in (("winograd", 16), ("im2col", 10**9)):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(fast, "WINOGRAD_MIN_CHANNELS", channels)
            x32, k32, b32, d32 = (a.astype(np.float32) for a in (x, kernel, bias, dout))
            out, cache = fast.conv2d_maxpool_forward(x32, k32, b32, (1, 1), "valid", (2, 2), True, training=True)
            assert (cache[-1] is not None) == (path == "winograd")
            got = (out,) + fast.conv2d_maxpool_backward(d32, cache, True)
        assert all(a.dtype == np.float32 for a in got)
        errors[path] = [rel_error(a, b) for a, b in zip(got, exact)]
    for w, d in zip(errors["winograd"], errors["im2col"]):
        assert w < 1e-6 and w < 10 * d + 1e-7, errors


@pytest.mark.parametrize("kernel_shape, strides, pool, training, expected", [
    ((3, 3, 16, 4), (1, 1), (2, 2), True, True),
    ((3, 3, 15, 4), (1, 1), (2, 2), True, False),      # fewer input channels than WINOGRAD_MIN_CHANNELS
    ((3, 3, 16, 4), (2, 2), (2, 2), True, False),      # stride 2
    ((5, 5, 16, 4), (1, 1), (2, 2), True, False),      # 5x5 filter
    ((3, 3, 16, 4), (1, 1), (3, 3), True, False),      # 3x3 pooling
    ((3, 3, 16, 4), (1, 1), (2, 2), False, False),     # inference
])
def test_fused_kernel_takes_winograd_only_where_it_applies(monkeypatch, kernel_shape, strides, pool, training,
                                                           expected):
    from convlearn.ops import winograd
    calls = []
    original = winograd.transform_kernel
    monkeypatch.setattr(winograd, "transform_kernel", lambda k: calls.append(k.shape) or original(k))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 14, 14, kernel_shape[2]))
    kernel = rng.standard_normal(kernel_shape)
    out, cache = fast.conv2d_maxpool_forward(x, kernel, None, strides, "valid", pool, True, training=training)
    assert bool(calls) == expected
    expected_out = unfused(reference, x, kernel, None, strides, "valid", pool, True, np.zeros(out.shape))[0]
    assert close(out, expected_out)
    if training:
        assert (cache[-1] is not None) == expected


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("threaded", [False, True])
def test_fused_inference_in_pieces_equals_reference(monkeypatch, channels, use_bias, threaded):
    """Inference builds the im2col matrix one piece of samples at a time in a small
    reused buffer (a last piece smaller than the others included)."""
    monkeypatch.setattr(fast, "_INFERENCE_CHUNK_BYTES", 1)      # one sample per piece
    rng = np.random.default_rng(11)
    n = 70 if threaded else 5
    x = rng.standard_normal((n, 12, 12, channels))
    kernel = rng.standard_normal((3, 3, channels, 32))
    bias = rng.standard_normal(32) if use_bias else None
    work = {}
    context = ops.parallel.active() if threaded else contextlib.nullcontext()
    with context:
        for batch in (x, x[:3]):                                   # the same workspace, two sizes
            out, cache = fast.conv2d_maxpool_forward(batch, kernel, bias, (1, 1), "valid", (2, 2), True,
                                                     training=False, workspace=work)
            expected = np.maximum(reference.pool2d_forward(
                reference.conv2d_forward(batch, kernel, bias, (1, 1), "valid")[0], (2, 2), (2, 2), "valid",
                "max")[0], 0)
            assert cache is None and close(out, expected)


# ----------------------------------------------------------------------------
# BLAS's transpose (the Dense layer's input gradient comes transposed)
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("shape", [(1, 1), (5408, 32), (3, 7), (0, 4)])
def test_transpose_into_equals_numpy(dtype, shape, rng):
    from convlearn.ops import blas
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    out = np.full(shape[::-1], -1, dtype=dtype)
    assert blas.transpose_into(a, out) is out
    np.testing.assert_array_equal(out, a.T)


def test_transpose_into_is_blas_where_numpy_uses_openblas():
    from convlearn.ops import blas
    if not ops.parallel.can_control_blas():
        pytest.skip("NumPy's BLAS is not OpenBLAS: the transpose is NumPy's copy")
    assert np.dtype(np.float32) in blas._library() and np.dtype(np.float64) in blas._library()


def test_transpose_into_falls_back_for_views(rng):
    from convlearn.ops import blas
    a = rng.standard_normal((6, 8))[:, ::2]                 # not contiguous
    out = np.empty((4, 6))
    np.testing.assert_array_equal(blas.transpose_into(a, out), a.T)


@pytest.mark.parametrize("channels", [1, 16])      # im2col, Winograd
def test_fused_backward_takes_a_transposed_gradient(channels, rng):
    """The Dense layer's input gradient arrives as a transposed view: same result as a contiguous one."""
    x = rng.standard_normal((8, 12, 12, channels)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, channels, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    out, cache = fast.conv2d_maxpool_forward(x, kernel, bias, (1, 1), "valid", (2, 2), True, workspace={})
    dout = rng.standard_normal(out.shape).astype(np.float32)
    transposed = np.ascontiguousarray(dout.reshape(8, -1).T).T.reshape(out.shape)   # a view
    assert not transposed.flags.c_contiguous
    expected = fast.conv2d_maxpool_backward(dout, cache, True)
    got = fast.conv2d_maxpool_backward(transposed, cache, True, workspace={})
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
    plain, plain_cache = fast.conv2d_forward(x, kernel, bias)
    d = rng.standard_normal(plain.shape).astype(np.float32)
    d_view = np.ascontiguousarray(d.reshape(8, -1).T).T.reshape(plain.shape)
    for a, b in zip(fast.conv2d_backward(d_view, plain_cache), fast.conv2d_backward(d, plain_cache)):
        np.testing.assert_array_equal(a, b)
