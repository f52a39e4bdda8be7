"""Fashion-MNIST (Zalando's 28x28 clothing images), read from files on this computer.

Fashion-MNIST is not shipped with convlearn; ``load_data()`` looks for the four
standard IDX files (each may end in ``.gz``)::

    train-images-idx3-ubyte   train-labels-idx1-ubyte
    t10k-images-idx3-ubyte    t10k-labels-idx1-ubyte

in these folders, in this order, and uses the first folder that has all four:

1. ``$CONVLEARN_DATA/fashion-mnist/``, when the environment variable
   ``CONVLEARN_DATA`` is set;
2. ``~/.convlearn/datasets/fashion-mnist/``, the user's convlearn data folder
   (like Keras's ``~/.keras/datasets/``);
3. ``/usr/share/datasets/fashion-mnist/``, where Debian's and Ubuntu's package
   ``dataset-fashion-mnist`` installs them (``sudo apt-get install dataset-fashion-mnist``).

If no folder has them (and ``path=`` is not given), the four ``.gz`` files are
downloaded from :data:`ORIGIN` (where Keras gets them) into
``~/.convlearn/datasets/fashion-mnist/``, each written atomically.

If ``path=`` is given, only that folder is used. :func:`search_paths` lists the
folders. The arrays are checked against the SHA-256 digests in :data:`SHA256`
after decoding, so gzip files compressed differently (Debian's are) are fine,
but damaged or different data are refused.

The labels mean :data:`CLASS_NAMES` ``[label]``, e.g. 9 is "Ankle boot".
"""

import os
from pathlib import Path

from convlearn.datasets._common import STEMS, find_files, load_files

__all__ = ["load_data", "search_paths", "CLASS_NAMES", "ORIGIN", "SHA256", "SYSTEM_DIR"]

#: The names of the ten classes, indexed by label.
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

#: SHA-256 of each decoded array (see :func:`convlearn.datasets.idx.array_sha256`).
SHA256 = {
    "train-images-idx3-ubyte": "7dcb9cf356253a62eb1bdf368638e0f5c7ffe10a237585ee8029d362c6d2e6fd",
    "train-labels-idx1-ubyte": "868f907d2bea24313c33c973c5f04d8121fc40890b1b0354799098b2b268e8ce",
    "t10k-images-idx3-ubyte": "73e76c642ceddddbac95811d54bc6be07b6103c6788c6869fe89a7ae5af0ca24",
    "t10k-labels-idx1-ubyte": "ab0d0bd52f6771af6e70b9f6dbd0a9e8fdaefdc713956255e70887830c399c73",
}

#: Where the ``.gz`` files are downloaded from (the base URL ``keras.datasets.fashion_mnist`` uses).
ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

#: Folder of Debian's package ``dataset-fashion-mnist``.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

_SUBDIR = "fashion-mnist"
_DOWNLOAD = "https://github.com/zalandoresearch/fashion-mnist (folder data/fashion)"


def search_paths():
    """Return the folders :func:`load_data` searches when ``path`` is not given, in order.

    Returns
    -------
    list of pathlib.Path
        ``$CONVLEARN_DATA/fashion-mnist`` (only if ``CONVLEARN_DATA`` is set),
        ``~/.convlearn/datasets/fashion-mnist``, then :data:`SYSTEM_DIR`.
    """
    folders = []
    env = os.environ.get("CONVLEARN_DATA")
    if env:
        folders.append(Path(env).expanduser() / _SUBDIR)
    folders.append(Path.home() / ".convlearn" / "datasets" / _SUBDIR)
    folders.append(SYSTEM_DIR)
    return folders


def load_data(path=None, download=True):
    """Load Fashion-MNIST from its IDX files, downloaded once when they are missing.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A folder holding the four IDX files. If given, no other folder is
        searched and nothing is downloaded; if not, the folders of :func:`search_paths` are tried in order.
    download : bool, default True
        When no folder has the four files, download them from :data:`ORIGIN`.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train``: uint8 array of shape (60000, 28, 28); ``y_train``: uint8,
        (60000,); ``x_test``: uint8, (10000, 28, 28); ``y_test``: uint8, (10000,).
        New, writable arrays on every call, as from
        ``keras.datasets.fashion_mnist.load_data()``.

    Raises
    ------
    FileNotFoundError
        If no searched folder holds all four files; the message lists every
        folder searched, what each lacked, and how to get the files.
    ValueError
        If a file is truncated, has a bad IDX header, or decodes to arrays whose
        SHA-256 differs from :data:`SHA256`.
    """
    folders = [Path(os.fspath(path))] if path is not None else search_paths()
    report = []
    for folder in folders:
        files = find_files(folder)
        missing = [stem for stem, file in files.items() if file is None]
        if not missing:
            fix = (
                f"Replace the files in {folder} with fresh copies: sudo apt-get install "
                f"--reinstall dataset-fashion-mnist, or download them from {_DOWNLOAD}."
            )
            return load_files(files, SHA256, "Fashion-MNIST", fix)
        if len(missing) == len(STEMS):
            report.append(f"  {folder}: no Fashion-MNIST files")
        else:
            report.append(f"  {folder}: lacks " + ", ".join(f"{stem}[.gz]" for stem in missing))
    cache = Path.home() / ".convlearn" / "datasets" / _SUBDIR
    failure = ""
    if path is None and download:
        from convlearn.datasets.download import DownloadError, get_file

        try:
            files = {stem: Path(get_file(stem + ".gz", ORIGIN + stem + ".gz", cache_subdir=_SUBDIR,
                                         cache_dir=cache.parent)) for stem in STEMS}
        except DownloadError as exc:
            failure = f"The download failed: {exc}\n"
        else:
            fix = f"Delete the files in {cache} and run load_data() again to download them afresh."
            return load_files(files, SHA256, "Fashion-MNIST", fix)
    raise FileNotFoundError(
        "Fashion-MNIST files not found. Folders searched:\n"
        + "\n".join(report)
        + "\n" + failure
        + "To get the files, either\n"
        "  - on Debian or Ubuntu: sudo apt-get install dataset-fashion-mnist\n"
        f"    (installs them into {SYSTEM_DIR}), or\n"
        "  - download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,\n"
        "    t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz from\n"
        f"    {_DOWNLOAD}\n"
        f"    into {cache}\n"
        "    (or into $CONVLEARN_DATA/fashion-mnist, or any folder passed as path=)."
    )
