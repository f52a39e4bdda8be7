"""Hostile but fair images and data files: a few kB that declare gigapixels or gigabytes are refused
from their headers, before anything is decoded, with an error that says the size, the limit and what
to do; special files are refused without being opened; whatever Pillow cannot read is a ValueError.

Each risky case runs in a child process under a 1.5 GiB address-space ceiling (Linux) and prints its
peak memory (``pytest -rP``).
"""

import gzip
import io
import os
import re

import numpy as np
import pytest

from convlearn.datasets import idx, load_digit_image, load_img, mnist
from convlearn.datasets.images import MAX_IMAGE_PIXELS
from hostile_helpers import GiB, blank_png, report_peak, run_limited, write_members, zero_npz

PIL = pytest.importorskip("PIL", reason="Pillow reads the image files")
from PIL import Image  # noqa: E402

SIZE_MESSAGE = (r"is {w}x{h} pixels \({n}\), more than the 16,000,000 convlearn reads from one image\. Resize it "
                r"to at most 4000x4000 first, e\.g\. with Pillow: img\.thumbnail\(\(4000, 4000\)\); "
                r"img\.save\('smaller\.png'\)\.")


def in_child(code, case, timeout=120):
    result = run_limited(code, timeout=timeout)
    report_peak(case, result)
    return result


def assert_refused(result, pattern, path=None, limit_mb=300):
    assert result["error"] in ("ValueError", "FileError", "LimitError"), result   # convlearn's ValueErrors
    assert re.search(pattern, result["message"]), result["message"]
    assert path is None or str(path) in result["message"]
    assert result["peak_mb"] < limit_mb, result


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("images")


# ---------------------------------------------------------------------------
# Images that declare too many pixels
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["load_digit_image", "load_img"])
def test_a_32_kb_one_bit_png_of_12000x12000_is_refused_before_decoding(folder, call):
    """144 million pixels in a few kB: convlearn 0.1 decoded it and processed it in float64 (7 GB)."""
    path = blank_png(folder / "bit12000.png", 12000, 12000)
    assert path.stat().st_size < 40_000
    with pytest.warns(Image.DecompressionBombWarning), Image.open(path) as img:   # Pillow's own warning
        assert img.size == (12000, 12000) and img.mode == "1"
    result = in_child(f"from convlearn.datasets import {call}\n{call}({str(path)!r})", f"1-bit 12000x12000 PNG, {call}")
    assert_refused(result, SIZE_MESSAGE.format(w=12000, h=12000, n="144,000,000"), path)


def test_a_20000x20000_png_is_refused_as_too_large(folder):
    """Pillow itself refuses it as a decompression bomb; that is reported as a convlearn error."""
    path = blank_png(folder / "big20000.png", 20000, 20000)
    result = in_child(f"from convlearn.datasets import load_digit_image\nload_digit_image({str(path)!r})",
                      "20000x20000 PNG (Pillow's decompression bomb)")
    assert_refused(result, r"is too large to be read safely \(Image size \(400000000 pixels\) exceeds limit of "
                           r"\d+ pixels, could be decompression bomb DOS attack\.\)\. convlearn reads at most "
                           r"16,000,000 pixels from one image: resize it to at most 4000x4000 first\.", path)


def test_the_largest_image_allowed_is_prepared_in_float32(folder):
    """4000x4000 with a digit-like bar: prepared, in a few hundred MB (float32 steps, no float64 copy)."""
    path = blank_png(folder / "largest.png", 4000, 4000, bit_depth=8, ink=(1000, 3000, 1800, 2200))
    code = (f"from convlearn.datasets import load_digit_image\n"
            f"x, steps = load_digit_image({str(path)!r}, return_steps=True)\n"
            "assert x.shape == (28, 28) and all(s.dtype.name == 'float32' for _, s in steps)")
    result = in_child(code, "4000x4000 PNG, the largest allowed, prepared like MNIST")
    assert result["error"] is None, result
    assert result["peak_mb"] < 600


def test_pillow_images_and_arrays_beyond_the_limit_are_refused():
    with pytest.raises(ValueError, match=SIZE_MESSAGE.format(w=4001, h=4000, n="16,004,000")):
        load_digit_image(Image.new("1", (4001, 4000)))
    with pytest.raises(ValueError, match=r"^The image " + SIZE_MESSAGE.format(w=4001, h=4000, n="16,004,000")):
        load_digit_image(np.zeros((4000, 4001), np.uint8))
    assert MAX_IMAGE_PIXELS == 4000 * 4000


def test_a_target_size_beyond_the_limit_is_refused_before_resizing(tmp_path):
    """Resizing a small picture to 100000x100000 would allocate 30 GB."""
    import convlearn

    Image.new("L", (30, 20), 255).save(tmp_path / "w.png")
    with pytest.raises(ValueError, match=r"^target_size=\(100000, 100000\) is 100000x100000 pixels "
                                         r"\(10,000,000,000\), more than the 16,000,000"):
        convlearn.utils.load_img(tmp_path / "w.png", target_size=(100000, 100000))
    img = convlearn.utils.load_img(tmp_path / "w.png", target_size=(10, 10), keep_aspect_ratio=True)
    assert img.size == (10, 10)


# ---------------------------------------------------------------------------
# Special files, damaged files
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
@pytest.mark.parametrize("call", ["load_digit_image", "load_img"])
def test_a_fifo_is_refused_without_being_opened(tmp_path, call):
    """Opening a FIFO for reading blocks until a writer comes: convlearn 0.1 hung here."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    result = in_child(f"from convlearn.datasets import {call}\n{call}({str(fifo)!r})", f"a FIFO, {call}", timeout=30)
    assert_refused(result, r"pipe\.png' is a FIFO \(named pipe\), not an image file; convlearn reads only regular "
                           r"files\.", fifo)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused():
    with pytest.raises(ValueError, match=r"'/dev/zero' is a character device, not an image file"):
        load_digit_image("/dev/zero")


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"is a folder, not an image file"):
        load_img(tmp_path)


def png_bytes(size=(300, 300), fmt="PNG"):
    buf = io.BytesIO()
    Image.new("L", size, 128).save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("data, pattern", [
    (png_bytes()[:400], r"Cannot read '.*bad\.png' as an image \((image file is truncated|Truncated File Read)"),
    (png_bytes(fmt="JPEG")[:300], r"Cannot read '.*bad\.png' as an image \((image file is truncated|Truncated "
                                  r"File Read)"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, r"Cannot read '.*bad\.png' as an image \("),
    (b"GIF89a" + b"\xff" * 20, r"Cannot read '.*bad\.png' as an image \("),
    (b"not an image at all", r"Cannot read '.*bad\.png' as an image \(cannot identify image file"),
], ids=["truncated PNG", "truncated JPEG", "broken PNG header", "broken GIF", "not an image"])
def test_damaged_images_give_a_clear_error(tmp_path, data, pattern):
    (tmp_path / "bad.png").write_bytes(data)
    with pytest.raises(ValueError, match=pattern + r".*\. Pass a PNG, JPEG or other file Pillow can read\."):
        load_digit_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match=pattern):
        load_img(tmp_path / "bad.png")


def test_bytes_paths_work_like_open(tmp_path):
    Image.new("L", (30, 20), 255).save(tmp_path / "w.png")
    assert load_img(os.fsencode(tmp_path / "w.png")).size == (30, 20)


# ---------------------------------------------------------------------------
# IDX files and MNIST archives
# ---------------------------------------------------------------------------

def test_an_idx_gz_declaring_more_than_max_bytes_is_refused_from_its_header(folder):
    """A 1.3 MB .gz that inflates to 1.25 GiB: convlearn 0.1 inflated it all (and copied it)."""
    path = folder / "bomb-idx1-ubyte.gz"
    nbytes = GiB + GiB // 4
    with gzip.open(path, "wb", compresslevel=6) as f:
        f.write(b"\x00\x00\x08\x01" + nbytes.to_bytes(4, "big"))
        zeros = bytes(2**20)
        for _ in range(nbytes // len(zeros)):
            f.write(zeros)
    result = in_child(f"from convlearn.datasets.idx import read_idx\nread_idx({str(path)!r})",
                      ".gz IDX file inflating to 1.25 GiB")
    assert_refused(result, r"the header says shape \(1342177280,\) of uint8 \(1,342,177,280 data bytes\), more "
                           r"than the 1,073,741,824 bytes allowed \(max_bytes\)\. Not decoded", path)


def test_an_idx_file_declaring_huge_dimensions_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + b"\xff" * 12 + b"tiny")
    with pytest.raises(ValueError, match=r"shape \(4294967295, 4294967295, 4294967295\) of uint8 "
                                         r"\(79228162458924105385300197375 data bytes\) but the file holds 4 data "
                                         r"bytes: the file is truncated"):
        idx.read_idx(path)
    idx.write_idx(tmp_path / "ok-idx1-ubyte", np.arange(100, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(100 data bytes\), more than the 99 bytes allowed"):
        idx.read_idx(tmp_path / "ok-idx1-ubyte", max_bytes=99)


def test_a_longer_gz_idx_file_is_refused_without_inflating_it_all(tmp_path):
    path = tmp_path / "long-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + bytes(5 * 2**20)))
    with pytest.raises(ValueError, match=r"\(3 data bytes\) but the file holds more than \d+ data bytes: the file is "
                                         r"longer than its header says"):
        idx.read_idx(path)


def test_an_mnist_file_declaring_more_than_mnist_is_refused(tmp_path):
    from test_datasets import copy_mnist_files

    folder = copy_mnist_files(tmp_path / "data")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    idx.write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(10_001, np.uint8))
    with pytest.raises(ValueError, match=r"MNIST file is damaged: .*t10k-labels-idx1-ubyte: the header says shape "
                                         r"\(10001,\) of uint8 \(10,001 data bytes\), more than the 10,000 bytes "
                                         r"allowed"):
        mnist.load_data(path=folder)


def test_an_mnist_npz_holding_a_compressed_bomb_is_refused_from_its_header(folder):
    small = [(f"{key}.npy", _npy(np.zeros(3, np.uint8))) for key in ("y_train", "x_test", "y_test")]
    path = folder / "mnist.npz"
    path.write_bytes(zero_npz((GiB // 4,), names=["x_train.npy"], descr="|u1", first=small))
    result = in_child(f"from convlearn.datasets import mnist\nmnist.load_data(path={str(path)!r})",
                      "mnist.npz whose x_train is a deflated 256 MiB array")
    assert_refused(result, r"array x_train \(shape \(268435456,\), dtype uint8\) is not the MNIST x_train, a uint8 "
                           r"array of shape \(60000, 28, 28\)", path)


def test_an_mnist_npz_with_repeated_names_is_refused(tmp_path):
    members = [(f"{key}.npy", _npy(np.zeros(3, np.uint8))) for key in ("x_train", "y_train", "x_test", "y_test")]
    write_members(tmp_path / "twice.npz", members + [("x_train.npy", _npy(np.ones(3, np.uint8)))])
    with pytest.raises(ValueError, match=r"twice\.npz holds several members named 'x_train\.npy'"):
        mnist.load_data(path=tmp_path / "twice.npz")


def _npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()
