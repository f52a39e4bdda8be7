"""Augmentation layers: Keras 3's semantics, the identity at inference, seeding, and their backward passes.

Where a draw can be fixed (a factor ``(a, a)``), outputs are compared with Keras 3 itself, run with
the PyTorch backend in a child process (skipped when Keras or PyTorch is not installed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import check_layer_gradients
from hypothesis import given, settings
from hypothesis import strategies as st

import convlearn
from convlearn import layers
from convlearn.layers.preprocessing import warp_fast, warp_reference

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 255, (3, 5, 6, 2)).astype(np.float32)        # (N, H, W, C), not square

# name -> (constructor source, as Keras and convlearn both read it): draws that are fixed
KERAS_CASES = {
    "rotate90_constant": "RandomRotation((0.25, 0.25), fill_mode='constant', fill_value=7.0)",
    "rotate90_reflect": "RandomRotation((0.25, 0.25))",
    "rotate90_wrap": "RandomRotation((0.25, 0.25), fill_mode='wrap')",
    "rotate36_wrap_nearest": "RandomRotation((0.1, 0.1), fill_mode='wrap', interpolation='nearest')",
    "rotate36_nearest_fill": "RandomRotation((0.1, 0.1), fill_mode='nearest')",
    "rotate_minus30_constant": "RandomRotation((-1 / 12, -1 / 12), fill_mode='constant')",
    "zoom_out": "RandomZoom((0.5, 0.5), fill_mode='reflect')",
    "zoom_in_wide": "RandomZoom((-0.3, -0.3), (0.4, 0.4), fill_mode='constant')",
    "zoom_wrap_nearest": "RandomZoom((0.7, 0.7), fill_mode='wrap', interpolation='nearest')",
    "translate": "RandomTranslation((0.3, 0.3), (-0.25, -0.25), fill_mode='nearest')",
    "translate_reflect": "RandomTranslation((-0.5, -0.5), (0.45, 0.45))",
    "translate_wrap": "RandomTranslation((0.2, 0.2), (0.6, 0.6), fill_mode='wrap')",
    "brightness": "RandomBrightness((0.1, 0.1))",
    "brightness_clipped": "RandomBrightness((-0.6, -0.6))",
    "crop_upscale": "RandomCrop(10, 12)",       # larger than the images: resized (same aspect ratio)
}

KERAS_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    from keras import layers
    cases = json.loads(sys.argv[1])
    x = np.load(sys.argv[2])
    out = {name: np.asarray(eval("layers." + source)(x, training=True)) for name, source in cases.items()}
    flips = {mode: np.asarray(layers.RandomFlip(mode, seed=3)(np.repeat(x[:1], 64, 0), training=True))
             for mode in ("horizontal", "vertical", "horizontal_and_vertical")}
    flat = np.repeat(np.linspace(100, 140, 30, dtype="float32").reshape(1, 5, 6, 1), 200, 0)
    contrast = {str(f): np.asarray(layers.RandomContrast(f, seed=4)(flat, training=True)) for f in (0.5, (0.3, 0.6))}
    np.savez(sys.argv[3], **out, **{"flip_" + k: v for k, v in flips.items()},
             **{"contrast_" + k: v for k, v in contrast.items()})
""")

CONTRAST_FACTORS = {"0.5": 0.5, "(0.3, 0.6)": (0.3, 0.6)}


@pytest.fixture(scope="module")
def keras_outputs(tmp_path_factory):
    """Keras 3's outputs for the cases above (PyTorch backend), computed once in a child process."""
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("torch") is None:
        pytest.skip("Keras 3 and PyTorch are needed to compare with Keras (pip install keras torch)")
    folder = tmp_path_factory.mktemp("keras")
    np.save(folder / "x.npy", IMAGES)
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run([sys.executable, "-c", KERAS_SCRIPT, json.dumps(KERAS_CASES), str(folder / "x.npy"),
                             str(folder / "out.npz")], check=False, env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != 0 and "No module named" in result.stderr:
        pytest.skip(f"Keras could not run: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr
    with np.load(folder / "out.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", sorted(KERAS_CASES))
def test_fixed_draws_match_keras(keras_outputs, name):
    layer = eval("layers." + KERAS_CASES[name], {"layers": layers})   # the same constructor call
    ours = layer(IMAGES, training=True)
    assert ours.shape == keras_outputs[name].shape
    np.testing.assert_allclose(ours, keras_outputs[name], rtol=1e-4, atol=2e-3)


@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_flip_modes_match_keras(keras_outputs, mode):
    """Each flipped image is one of the same two images in Keras and in convlearn (one coin for both axes)."""
    x = np.repeat(IMAGES[:1], 64, 0)
    flipped = {"horizontal": x[:, :, ::-1], "vertical": x[:, ::-1],
               "horizontal_and_vertical": x[:, ::-1, ::-1]}[mode]
    for out in (keras_outputs["flip_" + mode], layers.RandomFlip(mode, seed=3)(x, training=True)):
        same = np.all(out == x, axis=(1, 2, 3))
        turned = np.all(out == flipped, axis=(1, 2, 3))
        assert np.all(same | turned)
        assert 10 < turned.sum() < 54                              # about half of 64 are flipped


def contrast_factors(x, out):
    """The factor f of ``(x - mean) * f + mean`` that made each output image (no clipping)."""
    centred = x - x.mean(axis=(1, 2), keepdims=True)
    return (((out - x.mean(axis=(1, 2), keepdims=True)) * centred).sum(axis=(1, 2, 3))
            / (centred ** 2).sum(axis=(1, 2, 3)))


@pytest.mark.parametrize("factor", sorted(CONTRAST_FACTORS))
def test_contrast_factor_range_matches_keras(keras_outputs, factor):
    x = np.repeat(np.linspace(100, 140, 30, dtype=np.float32).reshape(1, 5, 6, 1), 200, 0)  # never clipped
    theirs = contrast_factors(x, keras_outputs["contrast_" + factor])
    ours = contrast_factors(x, layers.RandomContrast(CONTRAST_FACTORS[factor], seed=4)(x, training=True))
    for f in (theirs, ours):
        low, high = f.min(), f.max()
        expected = (1.0, 1.5) if factor == "0.5" else (0.7, 1.6)
        assert expected[0] - 1e-4 <= low < expected[0] + 0.1
        assert expected[1] - 0.1 < high <= expected[1] + 1e-4


# ----------------------------------------------------------------------------------------------
# Semantics checked without Keras
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_quarter_turn_is_rot90(fill_mode, interpolation):
    x = RNG.standard_normal((2, 5, 5, 3)).astype(np.float32)
    out = layers.RandomRotation((0.25, 0.25), fill_mode=fill_mode, interpolation=interpolation)(x, training=True)
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(1, 2)), atol=1e-5)   # counter-clockwise
    back = layers.RandomRotation((-0.25, -0.25), fill_mode=fill_mode, interpolation=interpolation)(x, training=True)
    np.testing.assert_allclose(back, np.rot90(x, -1, axes=(1, 2)), atol=1e-5)


@pytest.mark.parametrize("fill_mode, expected", [
    ("reflect", [2, 1, 1, 2, 3, 4]),       # d c b a | a b c d | d c b a
    ("wrap", [5, 6, 1, 2, 3, 4]),          # a b c d | a b c d
    ("constant", [-9, -9, 1, 2, 3, 4]),    # k k | a b c d
    ("nearest", [1, 1, 1, 2, 3, 4]),       # a a | a b c d
])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_fill_modes(fill_mode, expected, interpolation):
    """A shift right by two pixels reads two pixels from outside the image, as Keras defines each mode."""
    x = np.arange(1, 7, dtype=np.float32).reshape(1, 1, 6, 1)           # a b c d e f
    layer = layers.RandomTranslation(0.0, (1 / 3, 1 / 3), fill_mode=fill_mode, interpolation=interpolation,
                                     fill_value=-9.0)
    np.testing.assert_allclose(layer(x, training=True)[0, 0, :, 0], expected, atol=1e-5)


def test_reflect_and_wrap_far_outside():
    """Reading several widths away: reflect is periodic with period 2W, wrap with period W."""
    x = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 4, 1)           # a b c d
    shift = layers.RandomTranslation(0.0, (-1.0, -1.0), fill_mode="reflect")      # reads x + 4
    np.testing.assert_array_equal(shift(x, training=True)[0, 0, :, 0], [4, 3, 2, 1])
    wrap = layers.RandomTranslation(0.0, (0.75, 0.75), fill_mode="wrap")           # reads x - 3
    np.testing.assert_allclose(wrap(x, training=True)[0, 0, :, 0], [2, 3, 4, 1], atol=1e-6)


def test_zoom_keeps_the_centre_and_scales_about_it():
    x = RNG.standard_normal((1, 5, 5, 1)).astype(np.float32)
    out = layers.RandomZoom((0.5, 0.5), interpolation="nearest")(x, training=True)    # shows 1.5x the image
    # output column c reads column 1.5 * (c - 2) + 2: -1 (reflected to 0), 0.5 (rounds to 0), 2, 3.5 (to 4),
    # 5 (reflected to 4); the same for rows
    np.testing.assert_array_equal(out[0, :, :, 0], x[0][np.ix_([0, 0, 2, 4, 4], [0, 0, 2, 4, 4])][..., 0])
    zoom_in = layers.RandomZoom((-0.5, -0.5))(x, training=True)                      # shows half of it
    np.testing.assert_allclose(zoom_in[0, 2, 4, 0], x[0, 2, 3, 0], atol=1e-6)         # 0.5 * 2 + 2 = 3
    np.testing.assert_allclose(zoom_in[0, 2, 3, 0], (x[0, 2, 2, 0] + x[0, 2, 3, 0]) / 2, atol=1e-6)


def test_contrast_keeps_the_mean_and_clips():
    x = np.linspace(100, 150, 8 * 4 * 4 * 3, dtype=np.float32).reshape(8, 4, 4, 3)
    out = layers.RandomContrast((0.9, 0.9), seed=1)(x, training=True)                # f from [0.1, 1.9]
    np.testing.assert_allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), rtol=1e-5)
    ratio = out.std(axis=(1, 2)) / x.std(axis=(1, 2))                                # (N, C): f, every channel
    assert np.all((ratio > 0.1 - 1e-4) & (ratio < 1.9 + 1e-4)) and ratio.min() < 1 < ratio.max()
    # like Keras, a pair is sorted: (0.9, 0) is (0, 0.9), contrast from [1, 1.9]
    np.testing.assert_array_equal(layers.RandomContrast((0.9, 0.0), seed=1)(x, training=True),
                                  layers.RandomContrast((0.0, 0.9), seed=1)(x, training=True))
    wide = np.linspace(0, 255, 2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    high = layers.RandomContrast((0.0, 1.0), seed=1)(wide, training=True)
    assert high.min() == 0 and high.max() == 255                                    # clipped to value_range


def test_brightness_range_and_clip():
    x = np.full((400, 2, 2, 1), 128.0, dtype=np.float32)
    out = layers.RandomBrightness(0.2, seed=0)(x, training=True)
    delta = out[:, 0, 0, 0] - 128
    assert -51.0 - 1e-3 <= delta.min() < -40 and 40 < delta.max() <= 51.0 + 1e-3      # 20% of 255
    unit = layers.RandomBrightness((0.5, 0.9), value_range=(0, 1), seed=0)(np.full((50, 1, 1, 1), 0.4), True)
    assert 0.9 - 1e-6 <= unit.min() < 0.95 and unit.max() == 1.0                      # clipped at 1


def test_random_crop_windows_and_centre_at_inference():
    x = np.arange(2 * 8 * 10, dtype=np.float32).reshape(2, 8, 10, 1)
    layer = layers.RandomCrop(4, 3, seed=0)
    windows = {(i, j) for i in range(5) for j in range(8)}
    seen = set()
    for _ in range(10):
        out = layer(x, training=True)
        assert out.shape == (2, 4, 3, 1)
        for n in range(2):
            top, left = divmod(int(out[n, 0, 0, 0] - x[n, 0, 0, 0]), 10)
            assert (top, left) in windows
            np.testing.assert_array_equal(out[n], x[n, top:top + 4, left:left + 3])
            seen.add((top, left))
    assert len(seen) > 5                                                # each image its own window
    # inference: the centre, cut to the aspect 4:3 (8 x 6, from column 2), resized to 4 x 3
    centre = x[:, :, 2:8]
    expected = 0.25 * (centre[:, 0::2, 0::2] + centre[:, 1::2, 0::2] + centre[:, 0::2, 1::2] + centre[:, 1::2, 1::2])
    np.testing.assert_allclose(layer(x), expected, rtol=1e-6)
    same = layers.RandomCrop(8, 6)(x)
    np.testing.assert_array_equal(same, centre)


def test_crop_resize_matches_torch():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 5, 7, 3))
    out = layers.RandomCrop(9, 4, dtype="float64")(x)                    # 5 x 2 centre box resized to 9 x 4
    crop_w = int(5 * 4 / 9)
    left = (7 - crop_w) // 2
    box = torch.from_numpy(np.ascontiguousarray(x[:, :, left:left + crop_w].transpose(0, 3, 1, 2)))
    expected = torch.nn.functional.interpolate(box, size=(9, 4), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(out, expected.numpy().transpose(0, 2, 3, 1), rtol=1e-10, atol=1e-12)


ALL_LAYERS = [
    lambda: layers.RandomFlip(),
    lambda: layers.RandomRotation(0.2),
    lambda: layers.RandomZoom(0.3),
    lambda: layers.RandomTranslation(0.2, 0.2),
    lambda: layers.RandomContrast(0.5),
    lambda: layers.RandomBrightness(0.3),
]


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_identity_at_inference_and_random_in_training(make):
    layer = make()
    x = np.repeat(IMAGES, 4, 0)                                        # 12 images: some flip for sure
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    a, b = layer(x, training=True), layer(x, training=True)
    assert not np.array_equal(a, x) and not np.array_equal(a, b)         # a new draw each call
    assert np.all(np.isfinite(a))


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_inference_identity_in_a_model(make):
    model = convlearn.Sequential([convlearn.Input((5, 6, 2)), make()])
    np.testing.assert_array_equal(model.predict(IMAGES, verbose=0), IMAGES)


@pytest.mark.parametrize("cls, args", [
    (layers.RandomFlip, ()), (layers.RandomRotation, (0.3,)), (layers.RandomZoom, (0.3,)),
    (layers.RandomTranslation, (0.2, 0.2)), (layers.RandomContrast, (0.5,)), (layers.RandomBrightness, (0.3,)),
    (layers.RandomCrop, (3, 4)),
])
def test_seeding(cls, args):
    x = IMAGES
    first = [cls(*args, seed=5)(x, training=True) for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])                 # the same seed, the same draw
    layer = cls(*args, seed=5)
    draws = [layer(x, training=True) for _ in range(3)]
    np.testing.assert_array_equal(draws[0], first[0])
    assert not all(np.array_equal(draws[0], d) for d in draws[1:])    # but a new draw each call
    assert not np.array_equal(cls(*args, seed=6)(x, training=True), first[0])
    convlearn.utils.set_random_seed(11)
    unseeded = cls(*args)(x, training=True)
    convlearn.utils.set_random_seed(11)
    np.testing.assert_array_equal(cls(*args)(x, training=True), unseeded)   # set_random_seed governs it


def test_per_sample_draws():
    x = np.repeat(IMAGES[:1], 8, 0)
    for layer in (layers.RandomRotation(0.3, seed=0), layers.RandomZoom(0.3, seed=0),
                  layers.RandomTranslation(0.2, 0.2, seed=0), layers.RandomContrast(0.5, seed=0),
                  layers.RandomBrightness(0.2, seed=0)):
        out = layer(x, training=True)
        assert len({out[i].tobytes() for i in range(8)}) == 8, type(layer).__name__


# ----------------------------------------------------------------------------------------------
# Backward: finite differences for one fixed draw; reference and fast gathers equal
# ----------------------------------------------------------------------------------------------

GRAD_CASES = {
    "flip": lambda: layers.RandomFlip(seed=1, dtype="float64"),
    "rotation_reflect": lambda: layers.RandomRotation(0.2, seed=1, dtype="float64"),
    "rotation_constant": lambda: layers.RandomRotation(0.3, fill_mode="constant", fill_value=0.5, seed=1,
                                                       dtype="float64"),
    "rotation_wrap_nearest": lambda: layers.RandomRotation(0.3, fill_mode="wrap", interpolation="nearest",
                                                           seed=1, dtype="float64"),
    "zoom": lambda: layers.RandomZoom(0.4, (-0.3, 0.3), fill_mode="nearest", seed=1, dtype="float64"),
    "translation": lambda: layers.RandomTranslation(0.3, 0.3, fill_mode="wrap", seed=1, dtype="float64"),
    "contrast": lambda: layers.RandomContrast((0.5, 0.5), value_range=(-2.5, 2.5), seed=1, dtype="float64"),
    "brightness": lambda: layers.RandomBrightness(0.3, value_range=(-2.0, 2.0), seed=1, dtype="float64"),
    "crop_random": lambda: layers.RandomCrop(3, 2, seed=1, dtype="float64"),
    "crop_resize": lambda: layers.RandomCrop(7, 3, seed=1, dtype="float64"),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
@pytest.mark.parametrize("training", [True, False])
def test_gradients_by_finite_differences(name, training):
    make = GRAD_CASES[name]
    x = np.random.default_rng(2).standard_normal((3, 5, 4, 2))
    # every evaluation draws from a fresh layer with the same seed: the same fixed draw
    check_layer_gradients(make(), x, training=training, forward=lambda inp: make().forward(inp, training)[0])


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.sampled_from(["bilinear", "nearest"]),
       st.sampled_from(["reflect", "wrap", "constant", "nearest"]), st.integers(0, 2**31 - 1))
def test_fast_gather_equals_reference(N, H, W, interpolation, fill_mode, seed):
    rng = np.random.default_rng(seed)
    matrices = np.concatenate([rng.uniform(-1.5, 1.5, (N, 2)), rng.uniform(-2 * W, 2 * W, (N, 1)),
                               rng.uniform(-1.5, 1.5, (N, 2)), rng.uniform(-2 * H, 2 * H, (N, 1))], axis=1)
    shape = (N, H, W, 2)
    ref = warp_reference(shape, matrices, interpolation, fill_mode, 0.5)
    fast = warp_fast(shape, matrices, interpolation, fill_mode, 0.5)
    np.testing.assert_allclose(fast.fill, ref.fill, atol=1e-12)
    # the same weight on each input pixel (the order of the neighbours may differ where two coincide)
    for n in range(N):
        for p in range(H * W):
            a = np.bincount(ref.index[n, p], ref.weight[n, p], minlength=H * W)
            b = np.bincount(fast.index[n, p], fast.weight[n, p], minlength=H * W)
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_augmentation_trains_inside_a_network():
    """A model that starts with augmentation layers fits, and predicts deterministically."""
    convlearn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    x = rng.normal(0, 0.3, (64, 8, 8, 1)).astype(np.float32)
    x[y == 1, 2:6, 2:6] += 2.0                                         # a bright square means class 1
    model = convlearn.Sequential([
        convlearn.Input((8, 8, 1)),
        layers.RandomFlip("horizontal"), layers.RandomRotation(0.05), layers.RandomTranslation(0.1, 0.1),
        layers.RandomZoom(0.1), layers.RandomContrast(0.2, value_range=(-5, 5)),
        layers.RandomBrightness(0.05, value_range=(-5, 5)),
        layers.Conv2D(4, 3, activation="relu"), layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=convlearn.optimizers.Adam(0.03), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert model.evaluate(x, y, verbose=0)[1] > 0.8


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, match", [
    (lambda: layers.RandomFlip("diagonal"), r"RandomFlip: `mode` must be one of .*Received: mode='diagonal'"),
    (lambda: layers.RandomRotation(1.5), r"RandomRotation: `factor` must be .* in \[-1.0, 1.0\]\. Received: factor=1.5"),
    (lambda: layers.RandomRotation((0.1, 0.2, 0.3)), r"Received: factor=\(0.1, 0.2, 0.3\)"),
    (lambda: layers.RandomRotation("big"), r"For example factor=0.1"),
    (lambda: layers.RandomRotation(0.1, fill_mode="mirror"), (r"`fill_mode` must be one of 'reflect', 'wrap', "
                                                             r"'constant', 'nearest'. Received: fill_mode='mirror'")),
    (lambda: layers.RandomRotation(0.1, interpolation="bicubic"), r"Received: interpolation='bicubic'"),
    (lambda: layers.RandomRotation(0.1, fill_value="black"), r"`fill_value` must be a finite number"),
    (lambda: layers.RandomRotation(0.1, seed=-1), r"RandomRotation\(seed\) must be None or a non-negative integer"),
    (lambda: layers.RandomZoom(-1.0), r"RandomZoom: `height_factor` must be .* in \(-1.0, 1.0\]"),
    (lambda: layers.RandomZoom(0.2, (0.1, 2.0)), r"Received: width_factor=\(0.1, 2.0\)"),
    (lambda: layers.RandomTranslation(0.2, None), r"RandomTranslation: `width_factor` must be"),
    (lambda: layers.RandomContrast(-0.2), r"RandomContrast: `factor` must be .* in \[0.0, 1.0\]"),
    (lambda: layers.RandomContrast(0.2, value_range=(1, 1)), (r"`value_range` must be a pair \(low, high\) of two "
                                                              r"different numbers.*Received: value_range=\(1, 1\)")),
    (lambda: layers.RandomBrightness(0.2, value_range=255), r"RandomBrightness: `value_range` must be a pair"),
    (lambda: layers.RandomCrop(0, 3), r"RandomCrop: `height` must be a positive integer.*Received: height=0"),
    (lambda: layers.RandomCrop(3, 2.5), r"Received: width=2.5"),
    (lambda: layers.RandomFlip(data_format="channels_first"), r"only data_format='channels_last'"),
])
def test_argument_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_non_image_input_is_refused():
    with pytest.raises(ValueError, match=r"RandomFlip '.*' expects 4-D input .*Add a channel axis"):
        layers.RandomFlip()(np.zeros((2, 5, 5)), training=True)
