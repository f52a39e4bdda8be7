"""CIFAR-10 and CIFAR-100 loaders on small archives in the real formats (tarballs of pickled batches).

The real archives are 163 MB; these tests build archives of a few images with the same layout and
keys, and point the loaders' expected sizes and checksum at them. Downloads come from a local HTTP
server on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pickle
import socket
import tarfile
import threading
from functools import partial

import numpy as np
import pytest

from convlearn.datasets import cifar10, cifar100
from convlearn.datasets.cifar import restricted_loads


def batch(rows, seed, label_keys=(b"labels",), classes=10):
    rng = np.random.default_rng(seed)
    d = {b"batch_label": b"testing batch", b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8),
         b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(rows)]}
    for key in label_keys:
        d[key] = [int(v) for v in rng.integers(0, classes, rows)]          # lists of ints, as in the real files
    return d


def write_tar(path, folder, files):
    """A .tar.gz of ``folder/name`` members holding ``files`` (name -> bytes)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty home folder (no convlearn or Keras caches), no $CONVLEARN_DATA or $KERAS_HOME."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CONVLEARN_DATA", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    return home


@pytest.fixture
def small10(tmp_path, monkeypatch):
    """A CIFAR-10-format archive of 5 x 3 training images and 2 test images; the loader expects it."""
    batches = {f"data_batch_{i}": batch(3, i) for i in range(1, 6)}
    batches["test_batch"] = batch(2, 9)
    files = {name: pickle.dumps(b, protocol=2) for name, b in batches.items()}
    archive = tmp_path / "cifar-10-python.tar.gz"
    write_tar(archive, "cifar-10-batches-py", files)
    monkeypatch.setattr(cifar10, "MEMBERS", {"train": [(f"data_batch_{i}", 3) for i in range(1, 6)],
                                             "test": [("test_batch", 2)]})
    monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    return archive, batches, files


def expected_images(batches, names):
    data = np.concatenate([batches[n][b"data"] for n in names])
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def test_cifar10_arrays_as_keras(home, small10):
    archive, batches, _ = small10
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(path=archive)
    assert x_train.shape == (15, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (15, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (2, 32, 32, 3) and y_test.shape == (2, 1) and y_test.dtype == np.uint8
    names = [f"data_batch_{i}" for i in range(1, 6)]
    np.testing.assert_array_equal(x_train, expected_images(batches, names))
    # pixel (0, 0) of image 0: red, green and blue are the first byte of each 1024-byte plane
    raw = batches["data_batch_1"][b"data"][0]
    assert list(x_train[0, 0, 0]) == [raw[0], raw[1024], raw[2048]]
    np.testing.assert_array_equal(y_train[:, 0], np.concatenate([batches[n][b"labels"] for n in names]))
    np.testing.assert_array_equal(y_test[:, 0], batches["test_batch"][b"labels"])
    assert cifar10.CLASS_NAMES[9] == "truck"


@pytest.mark.parametrize("where", ["convlearn", "keras3", "keras2", "env", "extracted", "keras3_extracted"])
def test_cifar10_found_where_keras_and_convlearn_keep_it(home, small10, tmp_path, monkeypatch, where):
    archive, batches, files = small10
    places = {
        "convlearn": home / ".convlearn" / "datasets" / "cifar-10-python.tar.gz",
        "keras3": home / ".keras" / "datasets" / "cifar-10-batches-py-target_archive",
        "keras2": home / ".keras" / "datasets" / "cifar-10-batches-py.tar.gz",
        "env": tmp_path / "env" / "cifar-10-python.tar.gz",
    }
    if where == "env":
        monkeypatch.setenv("CONVLEARN_DATA", str(tmp_path / "env"))
    if where in places:
        places[where].parent.mkdir(parents=True)
        places[where].write_bytes(archive.read_bytes())
    else:
        folder = (home / ".convlearn" / "datasets" / "cifar-10-batches-py" if where == "extracted"
                  else home / ".keras" / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py")
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
    _, (x_test, _) = cifar10.load_data(download=False)
    np.testing.assert_array_equal(x_test, expected_images(batches, ["test_batch"]))


def test_cifar100_fine_and_coarse(home, tmp_path, monkeypatch):
    keys = (b"fine_labels", b"coarse_labels")
    train, test = batch(4, 1, keys, classes=20), batch(3, 2, keys, classes=20)
    archive = tmp_path / "cifar-100-python.tar.gz"
    write_tar(archive, "cifar-100-python", {"train": pickle.dumps(train, 2), "test": pickle.dumps(test, 2),
                                            "meta": pickle.dumps({b"fine_label_names": [b"apple"]}, 2)})
    monkeypatch.setattr(cifar100, "MEMBERS", {"train": [("train", 4)], "test": [("test", 3)]})
    monkeypatch.setattr(cifar100, "SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    (x_train, y_fine), (x_test, y_fine_test) = cifar100.load_data(path=archive)
    assert y_fine_test.shape == (3, 1) and y_fine_test.dtype == np.int64
    assert x_train.shape == (4, 32, 32, 3) and x_test.shape == (3, 32, 32, 3)
    assert y_fine.shape == (4, 1) and y_fine.dtype == np.int64                 # int64, as Keras
    np.testing.assert_array_equal(y_fine[:, 0], train[b"fine_labels"])
    (_, y_coarse), _ = cifar100.load_data("coarse", path=archive)
    np.testing.assert_array_equal(y_coarse[:, 0], train[b"coarse_labels"])
    with pytest.raises(ValueError, match=r'`label_mode` must be "fine" or "coarse". Received: label_mode=\'medium\''):
        cifar100.load_data("medium")


class Hostile:
    """Unpickling this runs os.system: the restricted reader must refuse it without running it."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_without_running(home, small10, tmp_path, monkeypatch):
    archive, _, files = small10
    marker = tmp_path / "it_ran"
    evil = pickle.dumps({b"data": Hostile(marker), b"labels": [0, 1, 2]}, protocol=2)
    assert b"system" in evil
    with pytest.raises(ValueError, match=r"refusing to load the global (posix|os|nt)\.system"):
        restricted_loads(evil, "evil.pickle")
    files = {**files, "data_batch_3": evil}
    write_tar(archive, "cifar-10-batches-py", files)
    monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match=r"data_batch_3 is not a CIFAR data file convlearn will read: refusing"):
        cifar10.load_data(path=archive)
    assert not marker.exists()


@pytest.mark.parametrize("payload, match", [
    (pickle.dumps(np.array([object()], dtype=object), 2), r"refusing to load the global (__builtin__|builtins)\.object"),
    (pickle.dumps({b"data": np.array(["a"], dtype=object)}, 2), r"holds a NumPy array of dtype object"),
    (b"\x80\x02}q\x00", r"is damaged: cannot unpickle it"),
    (pickle.dumps([1, 2, 3], 2)[:-3], r"pickle data was truncated"),
])
def test_restricted_reader_refuses(payload, match):
    with pytest.raises(ValueError, match=match):
        restricted_loads(payload, "f.pickle")


def test_restricted_reader_rebuilds_plain_data():
    value = {b"k": [1, 2, (3, "x")], "a": np.arange(6, dtype=np.int16).reshape(2, 3), "f": 1.5, "n": None}
    for protocol in (2, 4, 5):
        back = restricted_loads(pickle.dumps(value, protocol), "ok.pickle")
        assert back[b"k"] == [1, 2, (3, "x")] and back["f"] == 1.5 and back["n"] is None
        np.testing.assert_array_equal(back["a"], value["a"])


def test_damaged_batches(home, small10, monkeypatch):
    archive, batches, files = small10
    bad = dict(batches["test_batch"])
    bad[b"labels"] = [0, 10]                                                  # label 10 of 10 classes
    write_tar(archive, "cifar-10-batches-py", {**files, "test_batch": pickle.dumps(bad, 2)})
    monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match=r"'labels' must be 2 integer labels in 0..9"):
        cifar10.load_data(path=archive)
    short = {**batches["test_batch"], b"data": np.zeros((2, 100), np.uint8)}
    write_tar(archive, "cifar-10-batches-py", {**files, "test_batch": pickle.dumps(short, 2)})
    monkeypatch.setattr(cifar10, "SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match=r"'data' must be uint8 of shape \(2, 3072\); got shape \(2, 100\)"):
        cifar10.load_data(path=archive)


def test_checksum_mismatch(home, small10):
    archive, _, _ = small10
    with open(archive, "ab") as f:
        f.write(b"\0")                                                        # one more byte
    with pytest.raises(ValueError, match=r"is not the CIFAR-10 archive convlearn expects: its SHA-256 is "
                                         r"[0-9a-f]{64}, expected [0-9a-f]{64} \(the digest Keras publishes\)"):
        cifar10.load_data(path=archive)


def test_real_checksums_are_keras():
    assert cifar10.SHA256 == "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    assert cifar100.SHA256 == "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
    assert cifar10.ORIGIN == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@pytest.fixture
def served(small10):
    """The small archive served on 127.0.0.1; yields its URL."""
    archive = small10[0]

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(archive.parent)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/{archive.name}"
    httpd.shutdown()
    httpd.server_close()


def test_download_when_missing(home, small10, served, monkeypatch, capsys):
    monkeypatch.setattr(cifar10, "ORIGIN", served)
    (x_train, y_train), _ = cifar10.load_data()
    assert x_train.shape == (15, 32, 32, 3) and y_train.shape == (15, 1)
    saved = home / ".convlearn" / "datasets" / "cifar-10-python.tar.gz"
    assert saved.is_file() and os.listdir(saved.parent) == [saved.name]
    assert f"Downloading data from {served}" in capsys.readouterr().out
    cifar10.load_data()                                                       # now from the cache
    assert "Downloading" not in capsys.readouterr().out


def test_download_with_wrong_checksum_is_refused(home, small10, served, monkeypatch):
    monkeypatch.setattr(cifar10, "ORIGIN", served)
    monkeypatch.setattr(cifar10, "SHA256", "1" * 64)
    with pytest.raises(ValueError, match=r"incomplete or corrupted.*expected 1{64}"):
        cifar10.load_data()
    assert os.listdir(home / ".convlearn" / "datasets") == []


def test_offline_message(home, small10, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    origin = f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"
    monkeypatch.setattr(cifar10, "ORIGIN", origin)
    target = home / ".convlearn" / "datasets" / "cifar-10-python.tar.gz"
    with pytest.raises(FileNotFoundError) as info:
        cifar10.load_data()
    message = str(info.value)
    assert f"To use it offline, download {origin}" in message
    assert f"and put it at {target}" in message
    assert str(home / ".keras" / "datasets" / "cifar-10-batches-py-target_archive") in message
    assert "The download failed" in message
    with pytest.raises(FileNotFoundError, match=r"CIFAR-10 not found"):
        cifar10.load_data(download=False)
