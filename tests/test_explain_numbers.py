"""Every number of the walk-throughs against an independent computation.

The walk-throughs compute with readable loops; here the same results come from PyTorch
(conv2d, max_pool2d, avg_pool2d, linear, softmax) and from vectorised NumPy.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convlearn.explain import (
    DEFAULT_DENSE_BIAS,
    DEFAULT_DENSE_WEIGHTS,
    DEFAULT_GRAY_PIXELS,
    DEFAULT_IMAGE,
    DEFAULT_KERNEL,
    DEFAULT_RGB_PIXELS,
    explain_conv,
    explain_dense,
    explain_flatten,
    explain_guide,
    explain_input,
    explain_pool,
    explain_relu,
    explain_softmax,
    output_size,
)

torch = pytest.importorskip("torch", reason="PyTorch is the independent oracle of these tests")
F = torch.nn.functional


def tf_same_pads(n, k, s):
    """Keras/TensorFlow 'same' padding, written from the TensorFlow documentation."""
    out = math.ceil(n / s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def torch_conv(image, kernel, stride, padding):
    x = torch.tensor(image, dtype=torch.float64)[None, None]  # (1, 1, H, W)
    w = torch.tensor(kernel, dtype=torch.float64)[None, None]  # (1, 1, kh, kw)
    if padding == "same":
        top, bottom = tf_same_pads(image.shape[0], kernel.shape[0], stride[0])
        left, right = tf_same_pads(image.shape[1], kernel.shape[1], stride[1])
        x = F.pad(x, (left, right, top, bottom))
        pad = 0
    else:
        pad = 0 if padding == "valid" else padding
    return F.conv2d(x, w, stride=stride, padding=pad)[0, 0].numpy()


def check_conv_steps(walk):
    """Each step's window, products and sum are what the padded image and filter give."""
    kh, kw = walk.kernel.shape
    assert len(walk.steps) == walk.output.size
    seen = set()
    for st_ in walk.steps:
        np.testing.assert_array_equal(st_.window, walk.padded[st_.top : st_.top + kh, st_.left : st_.left + kw])
        np.testing.assert_allclose(st_.products, st_.window * walk.kernel)
        assert st_.total == pytest.approx(float(np.sum(st_.window * walk.kernel)), abs=1e-12)
        assert walk.output[st_.out_row, st_.out_col] == st_.total
        assert (st_.top, st_.left) == (st_.out_row * walk.stride[0], st_.out_col * walk.stride[1])
        seen.add((st_.out_row, st_.out_col))
    assert len(seen) == walk.output.size  # every cell filled exactly once
    assert [s.index for s in walk.steps] == list(range(len(walk.steps)))


def test_default_conv_is_the_guides_6x6_by_3x3_giving_4x4():
    walk = explain_conv()
    assert walk.image.shape == (6, 6) and walk.kernel.shape == (3, 3)
    assert walk.output.shape == (4, 4)
    assert set(np.unique(walk.image)) <= {0.0, 1.0}  # normalised 0/1 pixels
    np.testing.assert_allclose(walk.output, torch_conv(DEFAULT_IMAGE, DEFAULT_KERNEL, (1, 1), "valid"))
    check_conv_steps(walk)
    # hand-checked first step: only the middle row of the window has ink, (0,1,1)·(-1,0,1) = 1
    assert walk.steps[0].total == 1.0
    assert walk.steps[1].left == 1 and walk.steps[1].top == 0  # moves one column with stride 1


@pytest.mark.parametrize(
    "shape,kshape,stride,padding",
    [
        ((6, 6), (3, 3), (2, 2), "valid"),
        ((6, 6), (3, 3), (2, 2), "same"),
        ((6, 6), (3, 3), (1, 1), "same"),
        ((5, 7), (2, 3), (1, 2), "same"),
        ((5, 7), (2, 3), (2, 1), "valid"),
        ((4, 4), (4, 4), (1, 1), "valid"),
        ((3, 5), (3, 3), (1, 1), 1),
        ((2, 2), (3, 3), (1, 1), 1),
        ((7, 7), (5, 5), (3, 3), "same"),
        ((1, 1), (1, 1), (1, 1), "valid"),
    ],
)
def test_conv_matches_torch(shape, kshape, stride, padding):
    rng = np.random.default_rng(sum(shape) * 7 + sum(kshape))
    image = rng.integers(-3, 4, size=shape).astype(np.float64)
    kernel = rng.integers(-2, 3, size=kshape).astype(np.float64)
    walk = explain_conv(image, kernel, stride, padding)
    np.testing.assert_allclose(walk.output, torch_conv(image, kernel, stride, padding), atol=1e-12)
    check_conv_steps(walk)


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same", 0, 1, 2]),
    seed=st.integers(0, 2**16),
)
def test_conv_matches_torch_on_random_shapes(h, w, kh, kw, sh, sw, padding, seed):
    p = 0 if padding in ("valid", "same") else padding
    assume(padding == "same" or (kh <= h + 2 * p and kw <= w + 2 * p))
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(h, w)).round(2)
    kernel = rng.normal(size=(kh, kw)).round(2)
    walk = explain_conv(image, kernel, (sh, sw), padding)
    np.testing.assert_allclose(walk.output, torch_conv(image, kernel, (sh, sw), padding), atol=1e-10)
    check_conv_steps(walk)
    if padding == "same":
        assert walk.output.shape == (math.ceil(h / sh), math.ceil(w / sw))


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
def test_stride_one_same_padding_agrees_with_torch_same():
    # torch's own padding="same" (stride 1 only) is a second, independent oracle
    rng = np.random.default_rng(3)
    for shape, kshape in [((6, 6), (3, 3)), ((5, 4), (2, 2)), ((4, 6), (4, 3))]:
        image, kernel = rng.normal(size=shape), rng.normal(size=kshape)
        expected = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernel)[None, None], padding="same")[0, 0]
        np.testing.assert_allclose(explain_conv(image, kernel, 1, "same").output, expected.numpy(), atol=1e-12)


@pytest.mark.parametrize(
    "n,k,s,expected",
    [
        (6, 3, 1, (6, 1, 1)),  # out, before, after
        (6, 3, 2, (3, 0, 1)),  # the smaller half goes first
        (5, 3, 2, (3, 1, 1)),
        (4, 2, 2, (2, 0, 0)),
        (7, 4, 3, (3, 1, 2)),
        (1, 3, 1, (1, 1, 1)),
    ],
)
def test_same_output_size_and_padding_split(n, k, s, expected):
    size = output_size(n, k, s, "same")
    assert (size.out, size.pad_before, size.pad_after) == expected
    assert (size.pad_before, size.pad_after) == tf_same_pads(n, k, s)


@pytest.mark.parametrize("n,k,s,p", [(6, 3, 1, 0), (6, 3, 2, 0), (7, 3, 2, 1), (28, 3, 1, 0), (5, 5, 3, 2)])
def test_valid_output_size_formula(n, k, s, p):
    # count the window positions one by one, independently of the formula
    positions = len(range(0, n + 2 * p - k + 1, s))
    assert output_size(n, k, s, p if p else "valid").out == positions == (n + 2 * p - k) // s + 1


def test_input_normalisation():
    gray = explain_input()
    np.testing.assert_allclose(gray.normalized, DEFAULT_GRAY_PIXELS / 255.0)
    assert gray.kind == "grayscale" and gray.channels == 1
    assert gray.normalized.min() >= 0 and gray.normalized.max() <= 1
    rgb = explain_input(DEFAULT_RGB_PIXELS)
    assert rgb.kind == "rgb" and rgb.pixels.shape == (4, 4, 3) and rgb.channels == 3
    np.testing.assert_allclose(rgb.normalized, DEFAULT_RGB_PIXELS / 255.0)
    assert gray.made_up and rgb.made_up
    assert not explain_input("0,255;128,64").made_up


def test_relu_matches_torch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    walk = explain_relu(x)
    np.testing.assert_array_equal(walk.output, torch.relu(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(walk.changed, x < 0)
    default = explain_relu()
    np.testing.assert_array_equal(default.input, explain_conv().output)
    assert default.changed.sum() == (explain_conv().output < 0).sum() > 0  # the default shows ReLU at work


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("shape,size,stride", [((4, 4), 2, None), ((5, 5), 2, None), ((6, 4), 3, 1), ((5, 7), (2, 3), (1, 2))])
def test_pool_matches_torch(mode, shape, size, stride):
    rng = np.random.default_rng(1)
    x = rng.integers(-5, 9, size=shape).astype(np.float64)
    walk = explain_pool(x, size, stride, mode)
    k = (size, size) if isinstance(size, int) else size
    s = k if stride is None else ((stride, stride) if isinstance(stride, int) else stride)
    t = torch.tensor(x)[None, None]
    expected = F.max_pool2d(t, k, s) if mode == "max" else F.avg_pool2d(t, k, s)
    np.testing.assert_allclose(walk.output, expected[0, 0].numpy(), atol=1e-12)
    for st_ in walk.steps:
        np.testing.assert_array_equal(st_.window, x[st_.top : st_.top + k[0], st_.left : st_.left + k[1]])
        if mode == "max":
            assert st_.window[st_.chosen] == st_.value == st_.window.max()
        else:
            assert st_.chosen is None


@settings(max_examples=50, deadline=None)
@given(
    h=st.integers(1, 8),
    w=st.integers(1, 8),
    ph=st.integers(1, 3),
    pw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    mode=st.sampled_from(["max", "avg"]),
    seed=st.integers(0, 2**16),
)
def test_pool_matches_torch_on_random_shapes(h, w, ph, pw, sh, sw, mode, seed):
    assume(ph <= h and pw <= w)
    x = np.random.default_rng(seed).normal(size=(h, w))
    walk = explain_pool(x, (ph, pw), (sh, sw), mode)
    t = torch.tensor(x)[None, None]
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    np.testing.assert_allclose(walk.output, pool(t, (ph, pw), (sh, sw))[0, 0].numpy(), atol=1e-12)
    covered_rows = (walk.output.shape[0] - 1) * sh + ph
    assert walk.unused_rows == h - covered_rows >= 0


def test_default_pooling_is_2x2_stride_2_on_the_4x4_map():
    walk = explain_pool()
    assert walk.input.shape == (4, 4) and walk.output.shape == (2, 2)
    assert walk.pool_size == (2, 2) and walk.strides == (2, 2) and len(walk.steps) == 4


def test_flatten_is_row_major_like_keras():
    x = np.arange(12.0).reshape(3, 4)
    walk = explain_flatten(x)
    np.testing.assert_array_equal(walk.output, torch.flatten(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(walk.output, x.reshape(-1))


def test_dense_matches_torch_linear():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=5), rng.normal(size=(5, 3)), rng.normal(size=3)
    walk = explain_dense(x, w, b)
    expected = F.linear(torch.tensor(x), torch.tensor(w).T, torch.tensor(b)).numpy()  # Keras kernel (in, out)
    np.testing.assert_allclose(walk.outputs, expected, atol=1e-12)
    np.testing.assert_allclose(walk.terms, x[:, None] * w)
    assert not walk.made_up


def test_dense_defaults_and_made_up_weights():
    walk = explain_dense()
    np.testing.assert_array_equal(walk.weights, DEFAULT_DENSE_WEIGHTS)
    np.testing.assert_array_equal(walk.bias, DEFAULT_DENSE_BIAS)
    np.testing.assert_allclose(walk.outputs, walk.inputs @ DEFAULT_DENSE_WEIGHTS + DEFAULT_DENSE_BIAS)
    assert walk.made_up and walk.names == ("1", "4", "7")
    other = explain_dense("1,2,3,4,5,6", seed=5)
    assert other.weights.shape == (6, 3)
    np.testing.assert_array_equal(other.weights, explain_dense("1,2,3,4,5,6", seed=5).weights)  # seeded
    np.testing.assert_allclose(other.outputs, other.inputs @ other.weights + other.bias)


def test_softmax_matches_torch():
    z = np.array([2.0, 1.0, 0.1])
    walk = explain_softmax(z)
    np.testing.assert_allclose(walk.probs, torch.softmax(torch.tensor(z), 0).numpy(), atol=1e-15)
    np.testing.assert_allclose(walk.exps, np.exp(z))
    assert walk.total == pytest.approx(np.exp(z).sum())
    assert walk.shift == 0 and walk.predicted == 0
    assert walk.probs.sum() == pytest.approx(1.0)


def test_softmax_shifts_large_scores_without_changing_probabilities():
    z = np.array([1000.0, 999.0, 990.0])
    walk = explain_softmax(z)
    assert walk.shift == 1000.0
    np.testing.assert_allclose(walk.probs, torch.softmax(torch.tensor(z), 0).numpy(), atol=1e-15)
    assert np.all(np.isfinite(walk.exps))


def test_guide_pipeline_feeds_each_stage_into_the_next():
    g = explain_guide()
    np.testing.assert_array_equal(g.conv.image, g.input.normalized)
    np.testing.assert_array_equal(g.relu.input, g.conv.output)
    np.testing.assert_array_equal(g.pool.input, g.relu.output)
    np.testing.assert_array_equal(g.flatten.input, g.pool.output)
    np.testing.assert_array_equal(g.dense.inputs, g.flatten.output)
    np.testing.assert_array_equal(g.softmax.scores, g.dense.outputs)
    # the whole chain in one vectorised torch expression
    x = torch.tensor(DEFAULT_IMAGE)[None, None]
    feat = torch.relu(F.conv2d(x, torch.tensor(DEFAULT_KERNEL)[None, None]))
    pooled = F.max_pool2d(feat, 2, 2).flatten()
    probs = torch.softmax(pooled @ torch.tensor(DEFAULT_DENSE_WEIGHTS) + torch.tensor(DEFAULT_DENSE_BIAS), 0)
    np.testing.assert_allclose(g.softmax.probs, probs.numpy(), atol=1e-12)


def test_guide_with_own_pixels_stride_and_average_pooling():
    pixels = np.arange(64.0).reshape(8, 8) * 4  # 0..252
    g = explain_guide(pixels=pixels, kernel="1,0;0,-1", stride=2, padding="same", pool="avg", pool_size=2)
    np.testing.assert_allclose(g.conv.image, pixels / 255.0)
    expected = torch_conv(pixels / 255.0, np.array([[1.0, 0.0], [0.0, -1.0]]), (2, 2), "same")
    np.testing.assert_allclose(g.conv.output, expected, atol=1e-12)
    pooled = F.avg_pool2d(torch.relu(torch.tensor(expected))[None, None], 2, 2)[0, 0].numpy()
    np.testing.assert_allclose(g.pool.output, pooled, atol=1e-12)
