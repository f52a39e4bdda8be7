"""CIFAR-100: 60,000 colour images of 32x32 pixels in 100 classes (20 superclasses), as ``keras.datasets.cifar100``.

``load_data()`` looks for ``cifar-100-python.tar.gz`` (or the folder ``cifar-100-python``
extracted from it) where :mod:`convlearn.datasets.cifar10` looks for its archive (Keras's
``cifar-100-python-target_archive`` included), downloads :data:`ORIGIN` when there is none,
and uses an archive only if its SHA-256 is :data:`SHA256`, the digest Keras publishes.
"""

from convlearn.datasets.cifar import Spec, load_dataset

__all__ = ["ORIGIN", "SHA256", "load_data"]

#: Where the archive is downloaded from (the dataset's home page).
ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
#: SHA-256 of ``cifar-100-python.tar.gz``, as in ``keras.datasets.cifar100``.
SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
#: The two files in the archive and their number of images.
MEMBERS = {"train": [("train", 50000)], "test": [("test", 10000)]}


def load_data(label_mode="fine", path=None, download=True):
    """Load CIFAR-100.

    Parameters
    ----------
    label_mode : {"fine", "coarse"}, default "fine"
        ``"fine"``: the 100 classes; ``"coarse"``: the 20 superclasses.
    path : str or os.PathLike, optional
        The archive, or a folder holding it or the extracted ``cifar-100-python``; if given,
        nothing else is searched and nothing is downloaded.
    download : bool, default True
        Download the archive when no copy is found.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train``: uint8 (50000, 32, 32, 3); ``y_train``: int64 (50000, 1); ``x_test``: uint8
        (10000, 32, 32, 3); ``y_test``: int64 (10000, 1); as Keras returns them.

    Raises
    ------
    ValueError
        For another ``label_mode``, a wrong checksum, or a damaged batch.
    FileNotFoundError
        When no copy is found and none can be downloaded: the message says which file to put where.
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'cifar100.load_data: `label_mode` must be "fine" or "coarse". '
                         f"Received: label_mode={label_mode!r}.")
    spec = Spec("CIFAR-100", "cifar-100-python.tar.gz", "cifar-100-python", ORIGIN, SHA256, MEMBERS,
                ("cifar-100-python-target_archive", "cifar-100-python-target"))
    return load_dataset(spec, f"{label_mode}_labels", 100 if label_mode == "fine" else 20, "int64",
                        path=path, download=download)
