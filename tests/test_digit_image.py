"""Own digit images prepared like MNIST, and the Keras-style image helpers."""

import sys

import numpy as np
import pytest

from convlearn.datasets import img_to_array, load_digit_image, load_img, mnist
from convlearn.datasets.digits import STEP_NAMES

PIL = pytest.importorskip("PIL", reason="Pillow is needed to draw the test digits")
from PIL import Image, ImageDraw  # noqa: E402


def draw(lines=(), ellipses=(), size=(200, 300), width=18, ink=0, paper=255):
    """A grayscale uint8 drawing (height, width = size[1], size[0]) of strokes on paper."""
    img = Image.new("L", size, paper)
    pen = ImageDraw.Draw(img)
    for points in lines:
        pen.line(points, fill=ink, width=width)
    for box in ellipses:
        pen.ellipse(box, outline=ink, width=width)
    return np.asarray(img)


SEVEN = draw(lines=[[(40, 50), (160, 50), (90, 260)]])  # dark ink on white paper
ZERO = draw(ellipses=[(50, 40, 150, 260)])
WIDE_DASH = draw(lines=[[(20, 150), (180, 160)]], size=(200, 300))  # wider than tall
SHAPES = {"seven": SEVEN, "zero": ZERO, "dash": WIDE_DASH}


def center_of_mass(img):
    rows, cols = np.indices(img.shape)
    return (rows * img).sum() / img.sum(), (cols * img).sum() / img.sum()


def bounding_box_size(img):
    rows = np.flatnonzero(img.any(axis=1))
    cols = np.flatnonzero(img.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def best_shifted_correlation(a, b):
    """Largest correlation of a and b when a may move by up to one pixel each way."""
    return max(
        np.corrcoef(np.roll(a, (dy, dx), axis=(0, 1)).ravel(), b.ravel())[0, 1]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_output_is_mnist_like(name):
    out = load_digit_image(SHAPES[name])
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0
    assert out[0].max() == 0 and out[-1].max() == 0  # the digit is inside the field


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_dark_on_light_and_light_on_dark_agree(name):
    dark_on_light = load_digit_image(SHAPES[name])
    light_on_dark = load_digit_image(255 - SHAPES[name])
    np.testing.assert_allclose(dark_on_light, light_on_dark, atol=1e-6)
    np.testing.assert_allclose(load_digit_image(SHAPES[name], invert=True), dark_on_light, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_center_of_mass_at_14_14(name):
    cy, cx = center_of_mass(load_digit_image(SHAPES[name]).astype(np.float64))
    assert abs(cy - 14) <= 0.5 + 1e-9 and abs(cx - 14) <= 0.5 + 1e-9  # shift rounded to whole pixels


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_longer_side_is_20_pixels(name):
    h, w = bounding_box_size(load_digit_image(SHAPES[name]) > 0)
    assert max(h, w) == 20
    assert min(h, w) < 20  # aspect ratio kept: none of these shapes is square


def test_aspect_ratio_is_kept():
    bar = np.zeros((120, 120), dtype=np.uint8)
    bar[10:110, 50:70] = 255  # 100 x 20 pixels: 5 to 1
    assert bounding_box_size(load_digit_image(bar) > 0) == (20, 4)


def test_lopsided_digit_stays_inside_the_field():
    img = np.zeros((200, 200), dtype=np.uint8)
    img[20:60, 60:140] = 255  # a heavy block on top ...
    img[60:180, 98:102] = 255  # ... with a thin tail: centre of mass near the top
    out, steps = load_digit_image(img, return_steps=True)
    scaled = dict(steps)["scale"]
    assert bounding_box_size(out > 0) == bounding_box_size(scaled > 0)  # nothing cut off
    np.testing.assert_allclose(out.sum(), scaled.sum() / scaled.max(), rtol=1e-5)


@pytest.fixture(scope="module")
def mnist_test_digits():
    return mnist.load_data()[1][0][:100]


def test_upscaled_mnist_digits_are_reproduced(mnist_test_digits):
    exact, shifted, errors = [], [], []
    for digit in mnist_test_digits:
        original = digit / 255.0
        big = np.kron(digit, np.ones((4, 4), dtype=np.uint8))  # (112, 112)
        out = load_digit_image(big)
        exact.append(np.corrcoef(out.ravel(), original.ravel())[0, 1])
        shifted.append(best_shifted_correlation(out, original))
        errors.append(np.abs(out - original).mean())
    assert np.median(exact) > 0.99  # most come back in the same place
    assert min(shifted) > 0.97  # the rest are off by at most one pixel (centre of mass on x.5)
    assert np.mean(errors) < 0.01


def test_mnist_digit_drawn_dark_on_light(mnist_test_digits):
    big = np.kron(mnist_test_digits[0], np.ones((4, 4), dtype=np.uint8))
    np.testing.assert_allclose(load_digit_image(255 - big), load_digit_image(big), atol=1e-6)


def test_steps_are_all_present():
    out, steps = load_digit_image(SEVEN, return_steps=True)
    assert [name for name, _ in steps] == list(STEP_NAMES)
    assert STEP_NAMES == ("grayscale", "invert", "clean", "crop", "scale", "center")
    images = dict(steps)
    for name, img in steps:
        assert img.dtype == np.float32 and img.ndim == 2, name
        assert 0.0 <= img.min() and img.max() <= 1.0, name
    assert images["grayscale"].shape == SEVEN.shape
    np.testing.assert_allclose(images["grayscale"], SEVEN / 255.0, atol=1e-6)
    np.testing.assert_allclose(images["invert"], 1.0 - SEVEN / 255.0, atol=1e-6)
    assert images["crop"].shape == bounding_box_size(images["clean"] > 0)
    assert max(images["scale"].shape) == 20
    assert images["center"].shape == (28, 28)
    np.testing.assert_array_equal(images["center"], out)


def test_faint_background_noise_is_removed():
    rng = np.random.default_rng(0)
    noisy = SEVEN.astype(np.int64) - rng.integers(0, 30, size=SEVEN.shape)  # greyish specks on paper
    out = load_digit_image(np.clip(noisy, 0, 255))
    clean = load_digit_image(SEVEN)
    assert np.abs(out - clean).mean() < 0.02
    assert bounding_box_size(out > 0) == bounding_box_size(clean > 0)


def test_accepts_channels_and_value_ranges():
    expected = load_digit_image(SEVEN)
    rgb = np.repeat(SEVEN[:, :, None], 3, axis=2)
    np.testing.assert_allclose(load_digit_image(rgb), expected, atol=1e-5)
    np.testing.assert_allclose(load_digit_image(SEVEN[:, :, None]), expected, atol=1e-6)
    np.testing.assert_allclose(load_digit_image(SEVEN / 255.0), expected, atol=1e-6)
    np.testing.assert_allclose(load_digit_image(SEVEN.astype(np.float32)), expected, atol=1e-5)
    np.testing.assert_allclose(load_digit_image(SEVEN > 127), load_digit_image(SEVEN > 127), atol=0)
    rgba = np.dstack([np.zeros_like(rgb), 255 - SEVEN])  # black ink, transparent paper
    np.testing.assert_allclose(load_digit_image(rgba), expected, atol=1e-5)


def test_blank_images_are_refused():
    with pytest.raises(ValueError, match="looks blank"):
        load_digit_image(np.full((50, 40), 255, dtype=np.uint8))
    with pytest.raises(ValueError, match="looks blank"):
        load_digit_image(np.zeros((28, 28)))
    speckled = np.full((50, 40), 250, dtype=np.uint8)
    speckled[::7, ::5] = 245  # paper texture, no ink
    with pytest.raises(ValueError, match=r"looks blank.*less than 0.1"):
        load_digit_image(speckled)


def test_wrong_invert_leaves_nothing_to_see():
    with pytest.raises(ValueError, match="looks blank"):
        load_digit_image(SEVEN, invert=False)  # white paper taken as ink


@pytest.mark.parametrize(
    "shape, match",
    [
        ((1, 28, 28, 1), r"got shape \(1, 28, 28, 1\). For a batch of one, pass x\[0\]"),
        ((28, 28, 5), r"\(H, W\), \(H, W, 1\), \(H, W, 3\) or \(H, W, 4\); got shape \(28, 28, 5\)"),
        ((784,), r"got shape \(784,\)"),
        ((0, 5), "empty image"),
    ],
)
def test_wrong_shapes_are_refused(shape, match):
    with pytest.raises(ValueError, match=match):
        load_digit_image(np.zeros(shape, dtype=np.uint8))


@pytest.mark.parametrize(
    "values, match",
    [
        (np.full((5, 5), -1.0), "values >= 0; got a minimum of -1.0"),
        (np.full((5, 5), 300.0), r"0..1 or 0..255; got a maximum of 300.0"),
        (np.full((5, 5), 70000), r"got a maximum of 70000"),
        (np.full((5, 5), np.nan), "NaN or infinite"),
        (np.full((5, 5), "a"), "numeric image array; got dtype <U1"),
    ],
)
def test_bad_values_are_refused(values, match):
    with pytest.raises(ValueError, match=match):
        load_digit_image(values)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match='invert must be "auto", True or False; got \'yes\''):
        load_digit_image(SEVEN, invert="yes")
    for bad in (-0.1, 1.0, "0.2", True):
        with pytest.raises(ValueError, match=r"threshold must be a number in \[0, 1\)"):
            load_digit_image(SEVEN, threshold=bad)


# ---------------------------------------------------------------- image files


def test_png_file_gives_the_same_result_as_the_array(tmp_path):
    Image.fromarray(SEVEN).save(tmp_path / "seven.png")
    np.testing.assert_array_equal(load_digit_image(tmp_path / "seven.png"), load_digit_image(SEVEN))
    np.testing.assert_array_equal(load_digit_image(str(tmp_path / "seven.png")), load_digit_image(SEVEN))


def test_rgba_png_with_transparent_paper(tmp_path):
    rgba = np.zeros(SEVEN.shape + (4,), dtype=np.uint8)  # black everywhere ...
    rgba[..., 3] = 255 - SEVEN  # ... but only the ink is opaque
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "seven.png")
    np.testing.assert_allclose(load_digit_image(tmp_path / "seven.png"), load_digit_image(SEVEN), atol=1e-5)


def test_jpeg_photo_like_file(tmp_path):
    Image.fromarray(np.repeat(SEVEN[:, :, None], 3, axis=2)).save(tmp_path / "seven.jpg", quality=85)
    out = load_digit_image(tmp_path / "seven.jpg")
    assert np.corrcoef(out.ravel(), load_digit_image(SEVEN).ravel())[0, 1] > 0.98


def test_exif_rotation_of_photos_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(SEVEN).save(tmp_path / "turned.png", exif=exif)
    upright = np.rot90(SEVEN, k=-1)  # what a photo viewer shows
    np.testing.assert_array_equal(load_digit_image(tmp_path / "turned.png"), load_digit_image(upright))


def test_pillow_image_input(tmp_path):
    Image.fromarray(SEVEN).save(tmp_path / "seven.png")
    img = load_img(tmp_path / "seven.png", color_mode="grayscale")
    np.testing.assert_array_equal(load_digit_image(img), load_digit_image(SEVEN))


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "notes.png").write_bytes(b"this is text, not a picture")
    with pytest.raises(ValueError, match="Cannot read .*notes.png.* as an image"):
        load_digit_image(tmp_path / "notes.png")
    with pytest.raises(FileNotFoundError, match="No image file at .*missing.png"):
        load_digit_image(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="Cannot read .*notes.png.* as an image"):
        load_img(tmp_path / "notes.png")
    with pytest.raises(FileNotFoundError, match="No image file"):
        load_img(tmp_path / "missing.png")


def test_clear_error_without_pillow(tmp_path, monkeypatch):
    Image.fromarray(SEVEN).save(tmp_path / "seven.png")
    monkeypatch.setitem(sys.modules, "PIL", None)  # makes "from PIL import ..." fail
    with pytest.raises(ImportError, match=r'pip install pillow \(or pip install "convlearn\[images\]"\)'):
        load_digit_image(tmp_path / "seven.png")
    with pytest.raises(ImportError, match="pip install pillow"):
        load_img(tmp_path / "seven.png")
    assert load_digit_image(SEVEN).shape == (28, 28)  # arrays need no Pillow


# ---------------------------------------------------------------- load_img / img_to_array


@pytest.fixture
def striped_png(tmp_path):
    """A 30 x 40 RGB picture: red 5-pixel bands left and right, blue in between."""
    rgb = np.zeros((30, 40, 3), dtype=np.uint8)
    rgb[:, :, 2] = 255
    rgb[:, :5] = rgb[:, -5:] = (255, 0, 0)
    Image.fromarray(rgb).save(tmp_path / "stripes.png")
    return tmp_path / "stripes.png", rgb


def test_load_img_color_modes(striped_png):
    path, rgb = striped_png
    x = img_to_array(load_img(path))
    assert x.shape == (30, 40, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x, rgb.astype(np.float32))  # 0..255, not rescaled
    assert img_to_array(load_img(path, color_mode="grayscale")).shape == (30, 40, 1)
    rgba = img_to_array(load_img(path, color_mode="rgba"))
    assert rgba.shape == (30, 40, 4) and (rgba[..., 3] == 255).all()


def test_load_img_target_size_is_height_width(striped_png):
    path, _ = striped_png
    assert img_to_array(load_img(path, target_size=(10, 20))).shape == (10, 20, 3)
    assert img_to_array(load_img(path, target_size=(10, 20), interpolation="bilinear")).shape == (10, 20, 3)


def test_load_img_keep_aspect_ratio_crops_the_centre(striped_png):
    path, _ = striped_png
    squashed = img_to_array(load_img(path, target_size=(30, 30)))
    cropped = img_to_array(load_img(path, target_size=(30, 30), keep_aspect_ratio=True))
    assert (squashed[..., 0] == 255).any()  # red bands squeezed in
    assert not (cropped[..., 0] == 255).any()  # red bands cut off
    assert cropped.shape == (30, 30, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"color_mode": "bgr"}, "color_mode must be \"rgb\", \"grayscale\" or \"rgba\"; got 'bgr'"),
        ({"interpolation": "cubic"}, "interpolation must be one of nearest, bilinear.*got 'cubic'"),
        ({"target_size": (10,)}, r"target_size must be \(height, width\).*got \(10,\)"),
        ({"target_size": (0, 5)}, r"two positive integers; got \(0, 5\)"),
        ({"target_size": 28}, "got 28"),
    ],
)
def test_load_img_argument_errors(striped_png, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_img(striped_png[0], **kwargs)


def test_img_to_array_from_arrays():
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    x = img_to_array(gray)
    assert x.shape == (2, 3, 1) and x.dtype == np.float32
    assert img_to_array(np.zeros((2, 3, 3)), data_format="channels_first").shape == (3, 2, 3)
    assert img_to_array(gray, dtype="uint8").dtype == np.uint8
    x[0, 0, 0] = 99
    assert gray[0, 0] == 0  # a copy


def test_img_to_array_errors():
    with pytest.raises(ValueError, match='data_format must be None, "channels_last" or "channels_first"; got \'nhwc\''):
        img_to_array(np.zeros((2, 2)), data_format="nhwc")
    with pytest.raises(ValueError, match=r"2-D or 3-D image; got shape \(1, 2, 2, 1\)"):
        img_to_array(np.zeros((1, 2, 2, 1)))
