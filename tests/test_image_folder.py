"""convlearn.utils.image_dataset_from_directory on generated folder trees, with Keras's semantics."""

from __future__ import annotations

import os

import numpy as np
import pytest

import convlearn
from convlearn import layers
from convlearn.utils import image_dataset_from_directory

Image = pytest.importorskip("PIL.Image")


def save(path, mode="RGB", size=(6, 4), value=0):
    """An image file of one colour ``value`` (width, height = size)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = {"L": value, "RGB": (value, value, value), "RGBA": (value, value, value, 255)}[mode]
    Image.new(mode, size, colour).save(path)
    return path


@pytest.fixture
def tree(tmp_path):
    """cats (3 images: one nested, one grayscale, one RGBA), dogs (2, one with an odd name), an empty class,
    and files that are not images."""
    root = tmp_path / "pets"
    save(root / "cat" / "a.png", value=10)
    save(root / "cat" / "nested" / "deeper" / "b.JPG", value=20)
    save(root / "cat" / "c gray.bmp", mode="L", value=30)
    save(root / "dog" / "é ünï cøde (1).png", mode="RGBA", value=40)
    save(root / "dog" / "z.gif", mode="L", value=50)
    (root / "empty_class").mkdir()
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / "data.npy").write_bytes(b"\x93NUMPY")
    (root / ".hidden").mkdir()
    save(root / ".hidden" / "x.png")
    return root


def test_classes_files_and_batches(tree, capsys):
    ds = image_dataset_from_directory(tree, image_size=(4, 6), batch_size=2, shuffle=False)
    assert "Found 5 files belonging to 3 classes." in capsys.readouterr().out
    assert ds.class_names == ["cat", "dog", "empty_class"]
    names = [os.path.relpath(p, tree) for p in ds.file_paths]
    assert names == ["cat/a.png", "cat/c gray.bmp", os.path.join("cat", "nested", "deeper", "b.JPG"),
                     "dog/z.gif", "dog/é ünï cøde (1).png"]
    assert len(ds) == 3
    batches = list(ds)
    assert [b[0].shape for b in batches] == [(2, 4, 6, 3), (2, 4, 6, 3), (1, 4, 6, 3)]
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1])
    np.testing.assert_allclose(x[:, 0, 0, 0], [10, 30, 20, 50, 40], atol=1)       # grayscale and RGBA -> RGB


def test_label_modes_and_color_modes(tree):
    cat = image_dataset_from_directory(tree, label_mode="categorical", color_mode="grayscale", batch_size=None,
                                       image_size=(3, 3), shuffle=False, verbose=False)
    image, label = next(iter(cat))
    assert image.shape == (3, 3, 1) and label.dtype == np.float32
    np.testing.assert_array_equal(label, [1, 0, 0])
    rgba = image_dataset_from_directory(tree, color_mode="rgba", image_size=(3, 3), label_mode=None,
                                        shuffle=False, verbose=False)
    batch = next(iter(rgba))
    assert isinstance(batch, np.ndarray) and batch.shape == (5, 3, 3, 4)           # images only
    assert rgba.class_names == ["cat", "dog", "empty_class"]
    binary = image_dataset_from_directory(tree, label_mode="binary", class_names=["dog", "cat"],
                                          image_size=(2, 2), shuffle=False, verbose=False)
    _, labels = next(iter(binary))
    assert labels.shape == (5, 1) and labels.dtype == np.float32
    np.testing.assert_array_equal(labels[:, 0], [0, 0, 1, 1, 1])                  # dog is class 0 now
    none = image_dataset_from_directory(tree, labels=None, image_size=(2, 2), shuffle=False, verbose=False)
    # without labels every image under the folder counts, hidden folders too, as in Keras
    assert none.class_names is None and next(iter(none)).shape == (6, 2, 2, 3)
    explicit = image_dataset_from_directory(tree / "dog", labels=[1, 0], image_size=(2, 2), shuffle=False,
                                            verbose=False)
    np.testing.assert_array_equal(next(iter(explicit))[1], [1, 0])


def test_shuffle_order_and_split_as_keras(tree, capsys):
    plain = image_dataset_from_directory(tree, shuffle=False, verbose=False).file_paths
    expected = list(plain)
    np.random.RandomState(7).shuffle(expected)                 # Keras shuffles the file list this way
    train, val = image_dataset_from_directory(tree, image_size=(2, 2), seed=7, validation_split=0.4,
                                              subset="both")
    out = capsys.readouterr().out
    assert "Using 3 files for training." in out and "Using 2 files for validation." in out
    assert train.file_paths == expected[:3] and val.file_paths == expected[3:]
    assert len(train) == 1 and len(val) == 1
    again = image_dataset_from_directory(tree, image_size=(2, 2), seed=7, validation_split=0.4,
                                         subset="validation", verbose=False)
    assert again.file_paths == val.file_paths
    labels = next(iter(again))[1]
    assert sorted(labels.tolist()) == sorted(int("dog" in p) for p in val.file_paths)
    # the batch order follows a seeded buffer shuffle: the same on every run with the same seed
    a = image_dataset_from_directory(tree, image_size=(2, 2), seed=3, batch_size=1, verbose=False)
    b = image_dataset_from_directory(tree, image_size=(2, 2), seed=3, batch_size=1, verbose=False)
    np.testing.assert_array_equal(np.concatenate([y for _, y in a]), np.concatenate([y for _, y in b]))


def test_crop_to_aspect_ratio(tmp_path):
    img = np.zeros((4, 8, 3), dtype=np.uint8)
    img[:, 2:6] = 200                                          # the centre 4 x 4 is bright
    (tmp_path / "c").mkdir()
    Image.fromarray(img).save(tmp_path / "c" / "wide.png")
    ds = image_dataset_from_directory(tmp_path, image_size=(4, 4), crop_to_aspect_ratio=True, shuffle=False,
                                      verbose=False)
    x, _ = next(iter(ds))
    np.testing.assert_allclose(x[0], 200)
    stretched = next(iter(image_dataset_from_directory(tmp_path, image_size=(4, 4), shuffle=False,
                                                        verbose=False)))[0]
    assert stretched[0, :, 0].min() < 100


def test_corrupt_and_oversized_files_are_named(tmp_path):
    save(tmp_path / "a" / "good.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    ds = image_dataset_from_directory(tmp_path, image_size=(2, 2), shuffle=False, verbose=False)
    with pytest.raises(ValueError, match=r"cannot use .*broken\.png: .*Remove the file or replace it"):
        list(ds)
    (tmp_path / "a" / "broken.png").unlink()
    big = tmp_path / "a" / "huge.png"
    Image.new("L", (4100, 4000)).save(big)
    with pytest.raises(ValueError, match=r"huge\.png.* is 4100x4000 pixels .* more than the 16,000,000"):
        list(image_dataset_from_directory(tmp_path, image_size=(2, 2), shuffle=False, verbose=False))


def test_fit_on_an_image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(24):
        dark = i % 2 == 0
        pixels = rng.integers(0, 80, (8, 8, 3)) if dark else rng.integers(170, 256, (8, 8, 3))
        (tmp_path / ("dark" if dark else "light")).mkdir(exist_ok=True)
        Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / ("dark" if dark else "light") / f"{i}.png")
    convlearn.utils.set_random_seed(0)
    train = image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=6, seed=1, verbose=False)
    model = convlearn.Sequential([
        convlearn.Input((8, 8, 3)), layers.Rescaling(1 / 255), layers.RandomFlip("horizontal"),
        layers.Conv2D(4, 3, activation="relu"), layers.GlobalAveragePooling2D(), layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=convlearn.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(train, verbose=0)[1] == 1.0


@pytest.mark.parametrize("kwargs, match", [
    ({"label_mode": "sparse"}, r"`label_mode` must be one of 'int', 'categorical', 'binary', None"),
    ({"color_mode": "cmyk"}, r"`color_mode` must be one of 'grayscale', 'rgb', 'rgba'"),
    ({"interpolation": "gaussian"}, r"`interpolation` must be one of"),
    ({"batch_size": 0}, r"`batch_size` must be a positive integer or None"),
    ({"image_size": 32}, r"`image_size` must be \(height, width\)"),
    ({"validation_split": 1.5, "subset": "training", "seed": 1}, r"`validation_split` must be a number between"),
    ({"validation_split": 0.2, "subset": "train", "seed": 1}, r"`subset` must be one of 'training', 'validation'"),
    ({"validation_split": 0.2, "subset": "training"}, r"pass a `seed`"),
    ({"subset": "training"}, r"`subset` needs a `validation_split`"),
    ({"class_names": ["cat", "horse"]}, r"`class_names` must be names of subfolders"),
    ({"label_mode": "binary"}, r"label_mode='binary' needs exactly 2 classes; found 3"),
    ({"labels": "folders"}, r"`labels` must be 'inferred', None, or a list"),
    ({"labels": [0, 1]}, r"found 6 image files and got 2 labels"),
    ({"pad_to_aspect_ratio": True}, r"`pad_to_aspect_ratio` is not supported"),
])
def test_argument_errors(tree, kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_dataset_from_directory(tree, verbose=False, **kwargs)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=r"`directory` must be a folder of images"):
        image_dataset_from_directory(tmp_path / "nowhere")
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images in .*Allowed formats: .bmp, .gif, .jpeg, .jpg, .png"):
        image_dataset_from_directory(tmp_path, verbose=False)



def test_background_decoding_keeps_order_stops_early_and_names_a_late_bad_file(tmp_path):
    """Batches decoded ahead in threads come out in the seeded order, equal to decoding each file alone."""
    rng = np.random.default_rng(3)
    (tmp_path / "c").mkdir()
    for k in range(200):
        Image.fromarray(rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)).save(tmp_path / "c" / f"{k:03d}.png")
    ds = image_dataset_from_directory(tmp_path, image_size=(5, 7), batch_size=8, seed=4, verbose=False)
    batches = list(ds)
    assert len(batches) == len(ds) == 25
    images = np.concatenate([x for x, _ in batches])                     # (200, 5, 7, 3)
    assert images.dtype == np.float32
    by_name = {os.path.basename(f): np.asarray(Image.open(f), dtype=np.float32) for f in ds.file_paths}
    names = sorted(by_name)
    order = [next(n for n in names if np.array_equal(by_name[n], img)) for img in images]
    assert sorted(order) == names and order != names                     # every file once, shuffled
    assert len(ds.take(2)) == 2 and [len(x) for x, _ in ds.take(2)] == [8, 8]
    for _ in range(3):                                                   # stopping early, then reading again
        assert next(iter(ds))[0].shape == (8, 5, 7, 3)

    one_by_one = list(image_dataset_from_directory(tmp_path, image_size=(5, 7), batch_size=None, shuffle=False,
                                                   verbose=False))
    assert len(one_by_one) == 200 and one_by_one[0][1].dtype == np.int32
    for k in (0, 37, 199):
        np.testing.assert_array_equal(one_by_one[k][0], by_name[names[k]])

    (tmp_path / "c" / "199.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")  # the last file, read last
    seen = []
    with pytest.raises(ValueError, match=r"cannot use .*199\.png"):
        for x, _ in image_dataset_from_directory(tmp_path, image_size=(5, 7), batch_size=8, shuffle=False,
                                                 verbose=False):
            seen.append(x)
    assert len(seen) == 24                                               # every batch before the bad one


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "area", "lanczos3"])
@pytest.mark.parametrize("color_mode", ["rgb", "grayscale", "rgba"])
def test_pixels_equal_load_img(tmp_path, interpolation, color_mode):
    """The dataset's pixels are load_img's, for every file kind, mode and interpolation."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    (tmp_path / "a").mkdir()
    Image.fromarray(pixels[..., :3]).save(tmp_path / "a" / "rgb.png")
    Image.fromarray(pixels).save(tmp_path / "a" / "rgba.png")
    Image.fromarray(pixels[..., 0]).save(tmp_path / "a" / "gray.bmp")
    Image.fromarray(pixels[..., :3]).convert("P").save(tmp_path / "a" / "palette.gif")
    Image.fromarray(pixels[..., :3]).save(tmp_path / "a" / "photo.jpg")
    ds = image_dataset_from_directory(tmp_path, image_size=(6, 5), color_mode=color_mode, shuffle=False,
                                      interpolation=interpolation, verbose=False)
    images, _ = next(iter(ds))
    pil_name = {"area": "box", "lanczos3": "lanczos"}.get(interpolation, interpolation)
    for image, path in zip(images, ds.file_paths):
        expected = convlearn.utils.img_to_array(convlearn.utils.load_img(
            path, color_mode=color_mode, target_size=(6, 5), interpolation=pil_name))
        np.testing.assert_array_equal(image, expected, err_msg=path)
