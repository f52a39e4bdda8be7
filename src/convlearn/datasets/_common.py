"""Shared by the MNIST and Fashion-MNIST loaders: find the four IDX files, decode, verify."""

import math
from pathlib import Path

from convlearn.datasets.idx import array_sha256, read_idx

# The four files of an MNIST-format dataset, in the order load_data returns them.
STEMS = (
    "train-images-idx3-ubyte",  # x_train (60000, 28, 28)
    "train-labels-idx1-ubyte",  # y_train (60000,)
    "t10k-images-idx3-ubyte",  # x_test (10000, 28, 28)
    "t10k-labels-idx1-ubyte",  # y_test (10000,)
)
# The shape of each decoded array (MNIST and Fashion-MNIST alike): a file declaring a larger
# array is not the file it is named after, and is refused before it is decoded.
SHAPES = dict(zip(STEMS, ((60000, 28, 28), (60000,), (10000, 28, 28), (10000,))))


def find_files(folder):
    """Map each stem to its file in ``folder`` (plain file preferred, else ``.gz``), or None."""
    found = {}
    for stem in STEMS:
        found[stem] = None
        for name in (stem, stem + ".gz"):
            candidate = Path(folder) / name
            if candidate.is_file():
                found[stem] = candidate
                break
    return found


def load_files(files, sha256, dataset, fix):
    """Decode the four files, check each against its expected digest, return Keras-style tuples.

    Parameters
    ----------
    files : dict
        Stem -> path of an existing file, for all four stems.
    sha256 : dict
        Stem -> expected :func:`~convlearn.datasets.idx.array_sha256` of the decoded array.
    dataset : str
        Name used in messages, e.g. ``"MNIST"``.
    fix : str
        The sentence that tells the user how to get good files.

    Returns
    -------
    tuple
        ``((x_train, y_train), (x_test, y_test))``, freshly decoded arrays.

    Raises
    ------
    ValueError
        If a file cannot be decoded or its decoded array has the wrong digest.
    """
    arrays = []
    for stem in STEMS:
        path = files[stem]
        try:
            arr = read_idx(path, max_bytes=math.prod(SHAPES[stem]))  # uint8: one byte per value
        except ValueError as exc:
            raise ValueError(f"{dataset} file is damaged: {exc} {fix}") from exc
        digest = array_sha256(arr)
        if digest != sha256[stem]:
            raise ValueError(
                f"{dataset} file {path} is corrupted or is not the {dataset} file it is named after: "
                f"its decoded array (shape {arr.shape}) has SHA-256 {digest}, expected "
                f"{sha256[stem]}. {fix}"
            )
        arrays.append(arr)
    x_train, y_train, x_test, y_test = arrays
    return (x_train, y_train), (x_test, y_test)
