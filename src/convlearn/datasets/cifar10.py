"""CIFAR-10: 60,000 colour images of 32x32 pixels in 10 classes, as ``keras.datasets.cifar10``.

``load_data()`` looks for the archive ``cifar-10-python.tar.gz`` (or the folder
``cifar-10-batches-py`` extracted from it), in this order, in:

1. ``$CONVLEARN_DATA/``, when the environment variable is set;
2. ``~/.convlearn/datasets/``, convlearn's data folder;
3. ``~/.keras/datasets/`` (or ``$KERAS_HOME/datasets``), where Keras keeps its
   downloads (``cifar-10-batches-py-target_archive``, its folder, or Keras 2's
   ``cifar-10-batches-py.tar.gz``).

If none is there it downloads :data:`ORIGIN` into ``~/.convlearn/datasets/``
(with a progress bar; written atomically). An archive is used only if its
SHA-256 is :data:`SHA256`, the digest Keras publishes; an extracted folder is
checked batch by batch (shapes, dtypes, labels). The batches are Python pickles,
read with a restricted unpickler that cannot run code
(:class:`convlearn.datasets.cifar.RestrictedUnpickler`).

The labels mean :data:`CLASS_NAMES` ``[label]``.
"""

from convlearn.datasets.cifar import Spec, load_dataset

__all__ = ["CLASS_NAMES", "ORIGIN", "SHA256", "load_data"]

#: The names of the ten classes, indexed by label.
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
#: Where the archive is downloaded from (the dataset's home page).
ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: SHA-256 of ``cifar-10-python.tar.gz``, as in ``keras.datasets.cifar10``.
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
#: The batches in the archive and their number of images.
MEMBERS = {"train": [(f"data_batch_{i}", 10000) for i in range(1, 6)], "test": [("test_batch", 10000)]}


def load_data(path=None, download=True):
    """Load CIFAR-10.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The archive, or a folder holding it or the extracted ``cifar-10-batches-py``; if given,
        nothing else is searched and nothing is downloaded.
    download : bool, default True
        Download the archive when no copy is found.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train``: uint8 (50000, 32, 32, 3); ``y_train``: uint8 (50000, 1), labels 0-9;
        ``x_test``: uint8 (10000, 32, 32, 3); ``y_test``: uint8 (10000, 1); as Keras returns them.

    Raises
    ------
    FileNotFoundError
        When no copy is found and none can be downloaded: the message says which file to put where.
    ValueError
        When the archive's checksum is wrong, or a batch is damaged or holds anything but data.
    """
    spec = Spec("CIFAR-10", "cifar-10-python.tar.gz", "cifar-10-batches-py", ORIGIN, SHA256, MEMBERS,
                ("cifar-10-batches-py-target_archive", "cifar-10-batches-py-target"))
    return load_dataset(spec, "labels", 10, "uint8", path=path, download=download)
