"""MNIST (shipped), Fashion-MNIST (local files) and the IDX reader/writer."""

import gzip
import importlib
import shutil

import numpy as np
import pytest

import convlearn.datasets.mnist
from convlearn.datasets import fashion_mnist, mnist
from convlearn.datasets.idx import array_sha256, read_idx, write_idx

STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist_data():
    return mnist.load_data()


def copy_mnist_files(folder):
    """Copy the installed MNIST files into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem in STEMS:
        shutil.copy(mnist.DATA_DIR / (stem + ".gz"), folder / (stem + ".gz"))
    return folder


def write_small_set(folder, first_label=0, n_train=5, n_test=3, gz=True):
    """Write a tiny synthetic dataset in IDX format; return the SHA-256 dict of its arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(first_label)
    arrays = {
        STEMS[0]: rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        STEMS[1]: ((np.arange(n_train) + first_label) % 10).astype(np.uint8),
        STEMS[2]: rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        STEMS[3]: ((np.arange(n_test) + first_label) % 10).astype(np.uint8),
    }
    for stem, arr in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), arr)
    return {stem: array_sha256(arr) for stem, arr in arrays.items()}


# ---------------------------------------------------------------- MNIST


def test_mnist_shapes_and_dtypes(mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist_data
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8


def test_mnist_label_counts_and_known_values(mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist_data
    assert np.bincount(y_train, minlength=10).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == MNIST_TEST_COUNTS
    # The well-known first digits of each set, and the top-left of the first "5".
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x_train[0, 5, 12:18].tolist() == [3, 18, 18, 18, 126, 136]
    assert x_train.max() == 255 and x_train.min() == 0


def test_mnist_returns_fresh_writable_arrays(mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for arr in (x_train, y_train, x_test, y_test):
        assert arr.flags.writeable
    x_train[:] = 0
    y_test[:] = 9
    (x2, _), (_, y_test2) = mnist.load_data()
    assert np.array_equal(x2, mnist_data[0][0])
    assert np.array_equal(y_test2, mnist_data[1][1])
    assert not np.shares_memory(x2, x_train)


def test_both_import_styles_give_the_same_module():
    assert convlearn.datasets.mnist is mnist
    assert importlib.import_module("convlearn.datasets.fashion_mnist") is fashion_mnist


def test_mnist_from_folder_path(tmp_path, mnist_data):
    folder = copy_mnist_files(tmp_path / "copy")
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=str(folder))
    assert np.array_equal(x_train, mnist_data[0][0])
    assert np.array_equal(y_test, mnist_data[1][1])


def test_mnist_plain_idx_files_are_read_too(tmp_path, mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist_data
    for stem, arr in zip(STEMS, (x_train, y_train, x_test, y_test)):
        write_idx(tmp_path / stem, arr)  # uncompressed
    (_, y_train2), (x_test2, _) = mnist.load_data(path=tmp_path)
    assert np.array_equal(y_train2, y_train) and np.array_equal(x_test2, x_test)


def test_mnist_from_keras_style_npz(tmp_path, mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist_data
    np.savez(tmp_path / "mnist.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    (x2, y2), (x3, y3) = mnist.load_data(path=tmp_path / "mnist.npz")
    assert np.array_equal(x2, x_train) and np.array_equal(y3, y_test)


def test_mnist_npz_with_missing_or_wrong_arrays(tmp_path, mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist_data
    np.savez(tmp_path / "partial.npz", x_train=x_train, y_train=y_train)
    with pytest.raises(ValueError, match="lacks the array.*x_test, y_test"):
        mnist.load_data(path=tmp_path / "partial.npz")
    wrong = y_test.copy()
    wrong[0] = (wrong[0] + 1) % 10
    np.savez(tmp_path / "wrong.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=wrong)
    with pytest.raises(ValueError, match="array y_test .* is not the MNIST y_test"):
        mnist.load_data(path=tmp_path / "wrong.npz")
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="Cannot read .* as a .npz file"):
        mnist.load_data(path=tmp_path / "junk.npz")


def test_mnist_checksum_failure_on_changed_data(tmp_path, mnist_data, monkeypatch):
    folder = copy_mnist_files(tmp_path / "data")
    labels = mnist_data[0][1].copy()
    labels[123] = (labels[123] + 1) % 10  # one wrong label, still a valid IDX file
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    monkeypatch.setattr(mnist, "DATA_DIR", folder)
    with pytest.raises(ValueError, match="corrupted") as info:
        mnist.load_data()
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message
    assert mnist.SHA256["train-labels-idx1-ubyte"] in message
    assert "pip install --force-reinstall --no-deps convlearn" in message


def test_mnist_truncated_file(tmp_path, monkeypatch):
    folder = copy_mnist_files(tmp_path / "data")
    target = folder / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:50000])  # an interrupted copy
    monkeypatch.setattr(mnist, "DATA_DIR", folder)
    with pytest.raises(ValueError, match="damaged.*Cannot decompress.*Reinstall convlearn"):
        mnist.load_data()


def test_mnist_missing_file(tmp_path, monkeypatch):
    folder = copy_mnist_files(tmp_path / "data")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setattr(mnist, "DATA_DIR", folder)
    with pytest.raises(FileNotFoundError, match=r"missing .*installed with convlearn.*t10k-labels-idx1-ubyte\[\.gz\].*Reinstall"):
        mnist.load_data()
    with pytest.raises(FileNotFoundError, match=r"given by path=.*t10k-labels-idx1-ubyte\[\.gz\]"):
        mnist.load_data(path=folder)


def test_mnist_rejects_other_data_given_by_path(tmp_path):
    write_small_set(tmp_path)
    with pytest.raises(ValueError, match="is not the MNIST file it is named after.*Point path="):
        mnist.load_data(path=tmp_path)


# ---------------------------------------------------------------- IDX files


@pytest.mark.parametrize("name", ["a-idx3-ubyte", "a-idx3-ubyte.gz"])
def test_idx_round_trip(tmp_path, name):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, arr)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.uint8 and np.array_equal(back, arr) and back.flags.writeable
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


def test_idx_header_layout(tmp_path):
    write_idx(tmp_path / "x", np.zeros((2, 3), dtype=np.uint8))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x02"
    assert raw[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert len(raw) == 12 + 6


def test_idx_reads_big_endian_types(tmp_path):
    values = np.array([1, -2, 300], dtype=">i4")
    (tmp_path / "v").write_bytes(b"\x00\x00\x0c\x01" + (3).to_bytes(4, "big") + values.tobytes())
    back = read_idx(tmp_path / "v")
    assert back.tolist() == [1, -2, 300] and back.dtype == np.dtype("int32")


def idx_bytes(magic, dims, payload):
    return magic + b"".join(d.to_bytes(4, "big") for d in dims) + payload


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\x00\x00", "fewer than the 4-byte magic number"),
        (idx_bytes(b"\x00\x01\x08\x01", [3], b"abc"), "magic number is 0x00010801"),
        (idx_bytes(b"\x00\x00\x07\x01", [3], b"abc"), "magic number is 0x00000701"),
        (idx_bytes(b"\x00\x00\x08\x00", [], b""), "magic number is 0x00000800"),
        (b"\x00\x00\x08\x03" + (5).to_bytes(4, "big"), r"announces 3 dimensions \(16 header bytes\).*8 bytes"),
        (idx_bytes(b"\x00\x00\x08\x02", [2, 3], b"12345"), r"shape \(2, 3\).*6 data bytes.*holds 5.*truncated"),
        (idx_bytes(b"\x00\x00\x08\x01", [2], b"123"), "longer than its header says"),
    ],
)
def test_idx_header_validation(tmp_path, content, match):
    (tmp_path / "bad").write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_idx(tmp_path / "bad")
    (tmp_path / "bad.gz").write_bytes(gzip.compress(content))
    with pytest.raises(ValueError, match=match):
        read_idx(tmp_path / "bad.gz")


def test_idx_not_gzip(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"\x00\x00\x08\x01plain bytes")
    with pytest.raises(ValueError, match="Cannot decompress"):
        read_idx(tmp_path / "x.gz")


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nothing-here.gz")


def test_write_idx_errors(tmp_path):
    with pytest.raises(ValueError, match="uint8 arrays only; got dtype float32"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"1 to 255 dimensions.*shape \(\)"):
        write_idx(tmp_path / "x", np.uint8(3))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_idx(tmp_path / "no-such-folder" / "x.gz", np.zeros(3, dtype=np.uint8))


def test_array_sha256_covers_shape_and_bytes():
    a = np.arange(6, dtype=np.uint8)
    assert array_sha256(a) == array_sha256(a.copy())
    assert array_sha256(a) != array_sha256(a.reshape(2, 3))
    b = a.copy()
    b[5] = 0
    assert array_sha256(a) != array_sha256(b)
    assert len(array_sha256(a)) == 64


# ---------------------------------------------------------------- Fashion-MNIST

DEBIAN_HAS_FASHION = all(
    (fashion_mnist.SYSTEM_DIR / (stem + ".gz")).is_file() or (fashion_mnist.SYSTEM_DIR / stem).is_file()
    for stem in STEMS
)


@pytest.mark.skipif(
    not DEBIAN_HAS_FASHION,
    reason=f"Fashion-MNIST not in {fashion_mnist.SYSTEM_DIR} (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_from_debian_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("CONVLEARN_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty user folder, so the Debian copy is used
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert fashion_mnist.CLASS_NAMES[y_train[0]] == "Ankle boot"
    x_train[:] = 0  # fresh arrays: the next load is unaffected
    (x_again, _), _ = fashion_mnist.load_data(path=fashion_mnist.SYSTEM_DIR)
    assert x_again.max() == 255


@pytest.fixture
def fashion_places(tmp_path, monkeypatch):
    """Point the three searched folders into tmp_path; return (env, home, system) folders."""
    env_root, home, system = tmp_path / "env", tmp_path / "home", tmp_path / "system"
    monkeypatch.setenv("CONVLEARN_DATA", str(env_root))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", system)
    monkeypatch.setattr(fashion_mnist, "ORIGIN", "http://127.0.0.1:9/")   # no download: nothing listens there
    return env_root / "fashion-mnist", home / ".convlearn" / "datasets" / "fashion-mnist", system


def test_fashion_search_paths_order(fashion_places, monkeypatch):
    assert fashion_mnist.search_paths() == list(fashion_places)
    monkeypatch.delenv("CONVLEARN_DATA")
    assert fashion_mnist.search_paths() == list(fashion_places[1:])


def test_fashion_search_order_first_complete_folder_wins(fashion_places, monkeypatch):
    env_dir, home_dir, system_dir = fashion_places
    write_small_set(env_dir, first_label=1)
    home_sums = write_small_set(home_dir, first_label=2)
    write_small_set(system_dir, first_label=3)
    for stem, digest in home_sums.items():  # make the home folder's files the "right" ones
        monkeypatch.setitem(fashion_mnist.SHA256, stem, digest)

    # $CONVLEARN_DATA comes first: its (different) files are used and refused.
    with pytest.raises(ValueError, match="env.fashion-mnist.*corrupted"):
        fashion_mnist.load_data()

    # An incomplete folder is skipped; the user folder is next.
    (env_dir / "t10k-images-idx3-ubyte.gz").unlink()
    (_, y_train), (_, y_test) = fashion_mnist.load_data()
    assert y_train.tolist() == [2, 3, 4, 5, 6] and y_test.tolist() == [2, 3, 4]

    # Without the user folder, the system folder is used.
    shutil.rmtree(home_dir)
    with pytest.raises(ValueError, match="system.*corrupted"):
        fashion_mnist.load_data()


def test_fashion_path_argument_is_the_only_folder(fashion_places, tmp_path, monkeypatch):
    sums = write_small_set(fashion_places[2], first_label=4)
    for stem, digest in sums.items():
        monkeypatch.setitem(fashion_mnist.SHA256, stem, digest)
    assert fashion_mnist.load_data()[0][1][0] == 4  # found in the system folder
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist.load_data(path=empty)
    searched = str(info.value).split("To get the files")[0]
    assert str(empty) in searched
    assert str(fashion_places[2]) not in searched


def test_fashion_plain_files_preferred_over_gz(fashion_places, monkeypatch):
    _, home_dir, _ = fashion_places
    write_small_set(home_dir, first_label=5, gz=True)
    plain_sums = write_small_set(home_dir, first_label=6, gz=False)
    for stem, digest in plain_sums.items():
        monkeypatch.setitem(fashion_mnist.SHA256, stem, digest)
    assert fashion_mnist.load_data()[0][1][0] == 6


def test_fashion_not_found_message(fashion_places):
    env_dir, home_dir, system_dir = fashion_places
    env_dir.mkdir(parents=True)
    write_idx(env_dir / "train-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(FileNotFoundError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    for folder in fashion_places:
        assert str(folder) in message
    assert "lacks train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz]" in message
    assert f"{home_dir}: no Fashion-MNIST files" in message
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "https://github.com/zalandoresearch/fashion-mnist" in message
    assert f"into {home_dir}" in message


def test_fashion_corrupt_header(fashion_places):
    _, home_dir, _ = fashion_places
    write_small_set(home_dir)
    (home_dir / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03" + b"\x00" * 5))
    with pytest.raises(ValueError, match="Fashion-MNIST file is damaged.*announces 3 dimensions.*apt-get install --reinstall"):
        fashion_mnist.load_data()
