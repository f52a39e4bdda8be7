"""The two TensorFlow tutorials of examples/ run unchanged: CIFAR-10's CNN and image classification.

The CNN tutorial reads a tiny archive in CIFAR-10's real format (a .tar.gz of pickled batches) through
``datasets.cifar10.load_data()``; without a copy and without a network it stops with convlearn's
message. The image-classification tutorial reads a small generated folder of PNG files, and once
downloads a tiny "flowers" archive from a local HTTP server through its ``--download`` path.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import io
import pickle
import re
import socket
import tarfile
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from convlearn.datasets import cifar10

pytest.importorskip("PIL", reason="the image tutorial reads PNG files with Pillow (convlearn[images])")
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    """An example script as a module (its ``main(argv)`` runs the tutorial)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home (no convlearn or Keras caches) and no data folders from the environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CONVLEARN_DATA", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    return home


def closed_port_url(name):
    """A URL where nothing listens: a download fails at once, as it does offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def cifar_batch(rows, rng):
    """A batch as in the real files: a dict of bytes keys, uint8 rows of R, G, B planes, a list of labels.

    Class k images are brighter in channel k % 3, so one epoch can learn something."""
    labels = rng.integers(0, 10, rows)
    images = rng.integers(0, 120, (rows, 3, 32, 32)).astype(np.uint8)       # (rows, 3, 32, 32)
    images[np.arange(rows), labels % 3] += 120
    return {b"batch_label": b"a small batch", b"labels": [int(v) for v in labels],
            b"data": images.reshape(rows, 3072), b"filenames": [f"img_{i}.png".encode() for i in range(rows)]}


@pytest.fixture
def tiny_cifar(home, tmp_path, monkeypatch):
    """cifar-10-python.tar.gz of 5 x 60 training and 100 test images in $CONVLEARN_DATA; the loader expects it."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data"
    folder.mkdir()
    archive = folder / "cifar-10-python.tar.gz"
    members = {f"data_batch_{i}": cifar_batch(60, rng) for i in range(1, 6)}
    members["test_batch"] = cifar_batch(100, rng)
    with tarfile.open(archive, "w:gz") as tar:
        for name, batch in members.items():
            data = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    monkeypatch.setenv("CONVLEARN_DATA", str(folder))
    monkeypatch.setattr(cifar10, "MEMBERS", {"train": [(f"data_batch_{i}", 60) for i in range(1, 6)],
                                             "test": [("test_batch", 100)]})
    monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    return archive


def test_cifar10_tutorial_runs_on_the_archive(tiny_cifar, capsys):
    tutorial = load_example("cifar10_cnn")
    test_loss, test_acc = tutorial.main(["--epochs", "1", "--seed", "0"])
    out = capsys.readouterr().out
    assert "train (300, 32, 32, 3), test (100, 32, 32, 3)" in out
    assert "Total params: 122,570" in out                  # the tutorial's model, as Keras counts it
    assert re.search(r"val_accuracy: \d\.\d{4}", out)       # fit validated on the test images
    assert 0.0 <= test_acc <= 1.0 and np.isfinite(test_loss) and test_loss > 0
    assert f"test_loss {test_loss:.4f} test_accuracy {test_acc:.4f}" in out


def test_cifar10_tutorial_subset_options(tiny_cifar, capsys):
    tutorial = load_example("cifar10_cnn")
    tutorial.main(["--epochs", "1", "--samples", "64", "--test-samples", "32", "--batch-size", "16"])
    out = capsys.readouterr().out
    assert "train (64, 32, 32, 3), test (32, 32, 32, 3)" in out
    assert "4/4" in out                                      # 64 images in batches of 16


def test_cifar10_tutorial_offline_message(home, monkeypatch, capsys):
    monkeypatch.setattr(cifar10, "ORIGIN", closed_port_url("cifar-10-python.tar.gz"))
    tutorial = load_example("cifar10_cnn")
    with pytest.raises(SystemExit) as stop:
        tutorial.main(["--epochs", "1"])
    message = str(stop.value.code)
    assert message.startswith("CIFAR-10 not found. Places searched:")
    assert "The download failed" in message
    assert f"put it at {home / '.convlearn' / 'datasets' / 'cifar-10-python.tar.gz'}" in message
    assert cifar10.SHA256 in message
    assert "Traceback" not in capsys.readouterr().err


CLASSES = ("circle", "square", "stripes")


def draw(kind, rng, size=20):
    """An RGB uint8 image of a shape on noise; each class looks different."""
    image = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)            # (size, size, 3)
    yy, xx = np.mgrid[:size, :size]
    if kind == "circle":
        mask = (yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2
    elif kind == "square":
        mask = (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 4)
    else:
        mask = (xx // 3) % 2 == 0
    image[mask] = rng.integers(180, 256, 3)
    return image


@pytest.fixture
def photo_folder(tmp_path):
    """30 PNG files in each of three class folders."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "photos"
    for kind in CLASSES:
        (folder / kind).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(draw(kind, rng)).save(folder / kind / f"{i:03d}.png")
    return folder


def test_image_classification_tutorial_runs_on_a_folder(photo_folder, capsys):
    tutorial = load_example("image_classification")
    logs = tutorial.main([str(photo_folder), "--epochs", "1", "--size", "16", "--seed", "0"])
    out = capsys.readouterr().out
    assert "Found 90 files belonging to 3 classes." in out
    assert "Using 72 files for training." in out and "Using 18 files for validation." in out
    assert str(list(CLASSES)) in out                                   # class_names
    assert "(32, 16, 16, 3)\n(32,)" in out                             # the first batch's shapes
    assert set(logs) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    assert all(np.isfinite(v) for v in logs.values())
    guess = re.search(r"This image most likely belongs to (\w+) with a (\d+\.\d\d) percent confidence\.", out)
    assert guess is not None and guess.group(1) in CLASSES
    assert 100 / len(CLASSES) <= float(guess.group(2)) <= 100          # the top softmax probability


def test_image_classification_tutorial_grayscale_and_own_image(photo_folder, tmp_path, capsys):
    image = tmp_path / "mine.png"
    Image.fromarray(draw("circle", np.random.default_rng(5), size=40)).save(image)
    tutorial = load_example("image_classification")
    tutorial.main([str(photo_folder), "--epochs", "1", "--size", "8", "--color-mode", "grayscale",
                   "--image", str(image)])
    out = capsys.readouterr().out
    assert "(32, 8, 8, 1)" in out
    assert "This image most likely belongs to" in out


def test_image_classification_tutorial_needs_a_folder_or_download(capsys):
    tutorial = load_example("image_classification")
    with pytest.raises(SystemExit) as stop:
        tutorial.main(["--epochs", "1"])
    assert stop.value.code == 2
    assert "give a folder of images (one subfolder per class), or --download" in capsys.readouterr().err


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_image_classification_tutorial_download_path(home, tmp_path, monkeypatch, capsys):
    """--download goes through get_file(..., extract=True), as the tutorial does, here from a local server."""
    served = tmp_path / "served"
    served.mkdir()
    rng = np.random.default_rng(2)
    with tarfile.open(served / "flower_photos.tgz", "w:gz") as tar:
        for kind in CLASSES[:2]:
            for i in range(10):
                buffer = io.BytesIO()
                Image.fromarray(draw(kind, rng)).save(buffer, format="PNG")
                info = tarfile.TarInfo(f"flower_photos/{kind}/{i}.png")
                info.size = buffer.tell()
                tar.addfile(info, io.BytesIO(buffer.getvalue()))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        tutorial = load_example("image_classification")
        monkeypatch.setattr(tutorial, "DATASET_URL", f"http://127.0.0.1:{httpd.server_address[1]}/flower_photos.tgz")
        tutorial.main(["--download", "--epochs", "1", "--size", "8"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    out = capsys.readouterr().out
    assert "Found 20 files belonging to 2 classes." in out
    assert str(list(CLASSES[:2])) in out
    extracted = home / ".convlearn" / "datasets" / "flower_photos_extracted" / "flower_photos"
    assert sorted(p.name for p in extracted.iterdir()) == list(CLASSES[:2])     # Keras's cache layout
