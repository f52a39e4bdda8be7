"""UpSampling2D, ZeroPadding2D, Cropping2D, Resizing and CenterCrop.

PyTorch is the oracle (``nn.Upsample``, ``F.interpolate`` with half-pixel
centres, ``F.pad``, slicing), for the outputs and the input gradients; finite
differences check the gradients; the fast resize is held equal to the
reference loops; Keras 3's rules for the windows kept (crop and pad to the
aspect ratio, CenterCrop on a smaller image) are written out here from its
source; every error message has a test.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check_layer_gradients, rel_error
from hypothesis import given, settings
from hypothesis import strategies as st

from convlearn import layers, ops


def nchw(t):
    return t.permute(0, 3, 1, 2)


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def parity(torch, layer, x, fn, tol=1e-10, seed=0):
    """``layer`` and ``fn`` (torch) on ``x``: the same output and the same input gradient."""
    x = np.asarray(x, dtype=layer.dtype)
    out = layer(x)
    out2, cache = layer.forward(x)
    np.testing.assert_array_equal(out, out2)
    w = np.random.default_rng(seed).standard_normal(out.shape).astype(layer.dtype)
    dx, grads = layer.backward(w.copy(), cache)
    assert grads == {} and layer.params == {}
    xt = torch.tensor(x, requires_grad=True)
    out_t = fn(xt)
    out_t.backward(torch.tensor(w))
    assert out.shape == tuple(out_t.shape)
    assert rel_error(out, out_t.detach().numpy()) < tol, "outputs differ"
    assert rel_error(dx, xt.grad.numpy()) < tol, "input gradients differ"


def interpolate(torch, size, interpolation):
    """torch's resize of an NHWC tensor with half-pixel centres: bilinear without antialiasing
    (align_corners=False), or 'nearest-exact' (the cell under each output centre)."""
    Fn = torch.nn.functional

    def fn(xt):
        if interpolation == "bilinear":
            return nhwc(Fn.interpolate(nchw(xt), size=size, mode="bilinear", align_corners=False, antialias=False))
        return nhwc(Fn.interpolate(nchw(xt), size=size, mode="nearest-exact"))

    return fn


# ---------------------------------------------------------------------------
# UpSampling2D, ZeroPadding2D, Cropping2D
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("size", [(2, 2), (3, 1), (1, 4), (3, 2)])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsampling_matches_torch(torch, size, interpolation, dtype, rng):
    layer = layers.UpSampling2D(size, interpolation=interpolation, dtype=dtype)
    upsample = torch.nn.Upsample(scale_factor=size, mode=interpolation,
                                 align_corners=False if interpolation == "bilinear" else None)
    parity(torch, layer, rng.standard_normal((2, 3, 5, 2)), lambda t: nhwc(upsample(nchw(t))),
           tol=1e-10 if dtype == "float64" else 1e-5)


@pytest.mark.parametrize("padding, pads", [
    (2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))), (((0, 2), (3, 1)), ((0, 2), (3, 1))),
    ([[1, 0], 2], ((1, 0), (2, 2))),
])
def test_zero_padding_matches_torch(torch, padding, pads, rng):
    layer = layers.ZeroPadding2D(padding, dtype="float64")
    assert layer.padding == pads
    (t, b), (l, r) = pads
    parity(torch, layer, rng.standard_normal((2, 3, 4, 2)),
           lambda xt: torch.nn.functional.pad(xt, (0, 0, l, r, t, b)))


@pytest.mark.parametrize("cropping, crops", [
    (1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))), (((0, 3), (2, 1)), ((0, 3), (2, 1))),
])
def test_cropping_matches_slicing(torch, cropping, crops, rng):
    layer = layers.Cropping2D(cropping, dtype="float64")
    (t, b), (l, r) = crops
    parity(torch, layer, rng.standard_normal((2, 6, 5, 3)), lambda xt: xt[:, t:6 - b, l:5 - r, :])


def test_padding_and_cropping_undo_each_other(rng):
    x = rng.standard_normal((2, 4, 3, 2))
    pads = ((1, 2), (3, 0))
    padded = layers.ZeroPadding2D(pads)(x)
    assert padded.shape == (2, 7, 6, 2) and padded[:, 0].sum() == 0 and padded[:, -2:].sum() == 0
    np.testing.assert_array_equal(layers.Cropping2D(pads)(padded), x.astype(np.float32))


# ---------------------------------------------------------------------------
# Resizing
# ---------------------------------------------------------------------------

SIZES = [(5, 9), (3, 2), (7, 7), (2, 11), (4, 5)]       # up, down, mixed, one axis unchanged


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resizing_matches_torch(torch, size, interpolation, dtype, rng):
    layer = layers.Resizing(*size, interpolation=interpolation, dtype=dtype)
    parity(torch, layer, rng.standard_normal((2, 4, 5, 3)), interpolate(torch, size, interpolation),
           tol=1e-10 if dtype == "float64" else 1e-5)


def keras_crop_box(H, W, height, width):
    """Keras 3's crop to the aspect ratio (backend image.resize, image_utils.smart_resize)."""
    rows = max(min(H, int(float(W * height) / width)), 1)
    cols = max(min(W, int(float(H * width) / height)), 1)
    return int(float(H - rows) / 2), int(float(W - cols) / 2), rows, cols


def keras_pad_amounts(H, W, height, width):
    """Keras 3's pad to the aspect ratio: the same border on both sides of one axis."""
    rows = int(float(max(H, int(float(W * height) / width)) - H) / 2)
    cols = int(float(max(W, int(float(H * width) / height)) - W) / 2)
    return (rows, 0) if rows > 0 else (0, cols)


@pytest.mark.parametrize("H, W, height, width", [(4, 9, 3, 3), (9, 4, 4, 6), (5, 6, 8, 7), (6, 6, 2, 5),
                                                  (7, 3, 3, 7)])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_resizing_crop_to_aspect_ratio_matches_torch(torch, H, W, height, width, interpolation, rng):
    top, left, rows, cols = keras_crop_box(H, W, height, width)
    layer = layers.Resizing(height, width, interpolation=interpolation, crop_to_aspect_ratio=True, dtype="float64")
    resize = interpolate(torch, (height, width), interpolation)
    parity(torch, layer, rng.standard_normal((2, H, W, 2)),
           lambda xt: resize(xt[:, top:top + rows, left:left + cols, :]))


@pytest.mark.parametrize("H, W, height, width", [(4, 9, 3, 3), (9, 4, 4, 6), (5, 6, 8, 7), (6, 6, 6, 6),
                                                  (3, 8, 5, 4)])
def test_resizing_pad_to_aspect_ratio_matches_torch(torch, H, W, height, width, rng):
    p, q = keras_pad_amounts(H, W, height, width)
    layer = layers.Resizing(height, width, pad_to_aspect_ratio=True, fill_value=0.5, dtype="float64")
    resize = interpolate(torch, (height, width), "bilinear")
    parity(torch, layer, rng.standard_normal((2, H, W, 2)),
           lambda xt: resize(torch.nn.functional.pad(xt, (0, 0, q, q, p, p), value=0.5)))


def test_resizing_to_the_same_size_is_the_identity(rng):
    x = rng.standard_normal((2, 5, 4, 3)).astype(np.float32)
    for interpolation in ("bilinear", "nearest"):
        np.testing.assert_array_equal(layers.Resizing(5, 4, interpolation=interpolation)(x), x)


# ---------------------------------------------------------------------------
# CenterCrop
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("H, W, height, width", [(6, 7, 3, 4), (7, 7, 4, 4), (5, 8, 5, 3), (4, 4, 4, 4)])
def test_center_crop_of_a_larger_image_is_a_slice(torch, H, W, height, width, rng):
    top, left = (H - height) // 2, (W - width) // 2
    layer = layers.CenterCrop(height, width, dtype="float64")
    parity(torch, layer, rng.standard_normal((2, H, W, 3)), lambda xt: xt[:, top:top + height, left:left + width, :])


@pytest.mark.parametrize("H, W, height, width", [(4, 6, 5, 5), (3, 3, 6, 4), (8, 3, 4, 5), (5, 9, 6, 2)])
def test_center_crop_of_a_smaller_image_crops_to_the_aspect_ratio_and_resizes(torch, H, W, height, width, rng):
    """Keras 3: when the image is smaller than the window along either axis, the largest centred
    window of the target's aspect ratio is cut out and resized, bilinear."""
    top, left, rows, cols = keras_crop_box(H, W, height, width)
    layer = layers.CenterCrop(height, width, dtype="float64")
    resize = interpolate(torch, (height, width), "bilinear")
    parity(torch, layer, rng.standard_normal((2, H, W, 3)), lambda xt: resize(xt[:, top:top + rows, left:left + cols, :]))


# ---------------------------------------------------------------------------
# Finite differences, fast equals reference, shapes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer, shape", [
    (lambda: layers.UpSampling2D((2, 3), interpolation="bilinear", dtype="float64"), (1, 3, 2, 2)),
    (lambda: layers.UpSampling2D(2, dtype="float64"), (1, 3, 2, 2)),
    (lambda: layers.ZeroPadding2D(((1, 0), (2, 1)), dtype="float64"), (1, 3, 2, 2)),
    (lambda: layers.Cropping2D(((1, 0), (0, 1)), dtype="float64"), (1, 4, 3, 2)),
    (lambda: layers.Resizing(5, 3, dtype="float64"), (1, 3, 4, 2)),
    (lambda: layers.Resizing(3, 5, interpolation="nearest", crop_to_aspect_ratio=True, dtype="float64"),
     (1, 4, 3, 2)),
    (lambda: layers.Resizing(2, 4, pad_to_aspect_ratio=True, fill_value=1.0, dtype="float64"), (1, 4, 3, 2)),
    (lambda: layers.CenterCrop(2, 2, dtype="float64"), (1, 4, 3, 2)),
    (lambda: layers.CenterCrop(5, 4, dtype="float64"), (1, 4, 3, 2)),
])
def test_finite_differences(layer, shape, rng):
    check_layer_gradients(layer(), rng.standard_normal(shape))


@settings(max_examples=30, deadline=None)
@given(H=st.integers(1, 7), W=st.integers(1, 7), Ho=st.integers(1, 9), Wo=st.integers(1, 9),
       interpolation=st.sampled_from(["bilinear", "nearest"]), seed=st.integers(0, 99))
def test_fast_resize_equals_reference(H, W, Ho, Wo, interpolation, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, H, W, 3))
    dout = rng.standard_normal((2, Ho, Wo, 3))
    results = {}
    for name, kernels in ops.KERNELS.items():
        out, cache = kernels.resize_forward(x, (Ho, Wo), interpolation)
        results[name] = (out, kernels.resize_backward(dout, cache))
    for a, b in zip(results["fast"], results["reference"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_output_shapes_with_unknown_sizes():
    assert layers.UpSampling2D((2, 3)).compute_output_shape((None, 5, None, 2)) == (None, 10, None, 2)
    assert layers.ZeroPadding2D(((1, 2), (3, 4))).compute_output_shape((None, None, 5, 2)) == (None, None, 12, 2)
    assert layers.Cropping2D(((1, 2), (0, 1))).compute_output_shape((None, 7, None, 2)) == (None, 4, None, 2)
    assert layers.Resizing(3, 8).compute_output_shape((None, None, None, 2)) == (None, 3, 8, 2)
    assert layers.CenterCrop(3, 8).compute_output_shape((None, None, 2, 2)) == (None, 3, 8, 2)


# ---------------------------------------------------------------------------
# Every error message
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: layers.UpSampling2D(0), r"UpSampling2D: `size` must be a positive integer or a tuple of 2"),
    (lambda: layers.UpSampling2D(interpolation="bicubic"),
     (r"UpSampling2D: interpolation='bicubic' is not supported by convlearn; use 'bilinear' or 'nearest' "
     r"\(default 'nearest'\)")),
    (lambda: layers.UpSampling2D(interpolation="linear"),
     r"UpSampling2D: `interpolation` must be one of \['bilinear', 'nearest'\]\. Received: interpolation='linear'"),
    (lambda: layers.UpSampling2D(data_format="channels_first"), r"UpSampling2D: only data_format='channels_last'"),
    (lambda: layers.ZeroPadding2D(-1), (r"ZeroPadding2D: `padding` must be a non-negative integer, a tuple of 2 "
                                       r"\(height, width\).*Received: padding=-1")),
    (lambda: layers.ZeroPadding2D((1, 2, 3)), r"Received: padding=\(1, 2, 3\)"),
    (lambda: layers.ZeroPadding2D(((1, 2), (3,))), r"e\.g\. padding=\(\(1, 2\), \(0, 1\)\)"),
    (lambda: layers.Cropping2D(1.5), r"Cropping2D: `cropping` must be a non-negative integer.*cropping=1\.5"),
    (lambda: layers.Resizing(0, 4), r"Resizing: `height` must be a positive integer\. Received: height=0"),
    (lambda: layers.Resizing(4, None), r"Resizing: `width` must be a positive integer\. Received: width=None"),
    (lambda: layers.Resizing(4, 4, interpolation="lanczos3"), (r"interpolation='lanczos3' is not supported.*"
                                                              r"\(default 'bilinear'\)")),
    (lambda: layers.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True),
     r"Resizing: only one of `crop_to_aspect_ratio` and `pad_to_aspect_ratio` can be True"),
    (lambda: layers.Resizing(4, 4, crop_to_aspect_ratio="yes"),
     r"Resizing: `crop_to_aspect_ratio` must be True or False\. Received: crop_to_aspect_ratio='yes'"),
    (lambda: layers.Resizing(4, 4, fill_mode="reflect"),
     r"Resizing: only fill_mode='constant' is supported \(as in Keras\)\. Received: fill_mode='reflect'"),
    (lambda: layers.Resizing(4, 4, fill_value=float("nan")), r"Resizing: `fill_value` must be a number"),
    (lambda: layers.Resizing(4, 4, antialias=True),
     r"Resizing: `antialias` is not supported by convlearn; leave it at its default \(False\)"),
    (lambda: layers.CenterCrop(3, -2), r"CenterCrop: `width` must be a positive integer\. Received: width=-2"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_cropping_that_leaves_nothing_is_refused(rng):
    with pytest.raises(ValueError, match=r"Cropping2D 'crop': cropping \(\(2, 2\), \(0, 0\)\) removes 4 of the 4 "
                                         r"cells of the input's height; at least one must be left"):
        layers.Cropping2D(((2, 2), (0, 0)), name="crop").build_for((None, 4, 9, 1))
    layer = layers.Cropping2D(((0, 0), (3, 0)), name="late")
    layer.build_for((None, None, None, 1))                          # sizes unknown: checked at the call
    with pytest.raises(ValueError, match=r"removes 3 of the 3 cells of the input's width"):
        layer(rng.standard_normal((1, 5, 3, 1)))


@pytest.mark.parametrize("make", [lambda: layers.UpSampling2D(name="l"), lambda: layers.ZeroPadding2D(name="l"),
                                  lambda: layers.Cropping2D(name="l"), lambda: layers.Resizing(2, 2, name="l"),
                                  lambda: layers.CenterCrop(2, 2, name="l")])
def test_images_without_a_channel_axis_are_refused(make):
    with pytest.raises(ValueError, match=r"'l' expects 4-D input \(batch, height, width, channels\); got shape "
                                         r"\(None, 28, 28\)\. Add a channel axis"):
        make().build_for((None, 28, 28))
