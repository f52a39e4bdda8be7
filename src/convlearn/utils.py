"""Helpers with Keras's names: ``to_categorical``, ``set_random_seed``, image loading."""

from __future__ import annotations

import numpy as np

from . import _rng
from .layers.base import clear_session
from .progbar import Progbar


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels: ``[1, 0]`` -> ``[[0, 1], [1, 0]]``.

    Parameters
    ----------
    x : array of int, shape (N,) (or (N, 1))
    num_classes : int, optional
        Number of classes; defaults to ``max(x) + 1``.

    Returns
    -------
    ndarray, float32, shape (N, num_classes)

    Raises
    ------
    ValueError
        For negative, fractional or too large labels.
    """
    y = np.asarray(x)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"to_categorical expects integer class labels; got dtype {y.dtype}.")
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and (y.dtype.kind == "f" and (not np.isfinite(y).all() or np.any(y != np.round(y)))):
        raise ValueError("to_categorical expects whole-number class labels; got fractional or non-finite values.")
    y = y.astype(np.int64)
    if y.size and y.min() < 0:
        raise ValueError(f"to_categorical expects labels >= 0; got {y.min()}.")
    top = int(y.max()) + 1 if y.size else 0
    if num_classes is None:
        num_classes = top
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes <= 0:
        raise ValueError(f"to_categorical: `num_classes` must be a positive integer. Received: num_classes={num_classes!r}.")
    elif top > num_classes:
        raise ValueError(
            f"to_categorical: label {top - 1} does not fit num_classes={num_classes}; "
            f"labels must be in 0..{num_classes - 1}."
        )
    out = np.zeros(y.shape + (int(num_classes),), dtype=np.float32)        # (N, num_classes)
    np.put_along_axis(out, y[..., None], 1.0, axis=-1)
    return out


def set_random_seed(seed):
    """Make runs reproducible: seeds convlearn's generator, Python's ``random`` and NumPy's.

    After ``set_random_seed(s)``, building and training the same model on the
    same data gives bit-identical weights, with the same number of convlearn
    threads (:func:`convlearn.ops.parallel.get_num_threads`), whether or not other
    threads use convlearn at the same time. With another number of threads some
    kernels add up their partial sums in other groups, so weights can differ in
    the last bits of float32 (a relative difference of about 1e-7 per step).
    """
    _rng.set_global_seed(seed)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Load an image file as a Pillow image (needs Pillow: ``pip install "convlearn[images]"``).

    Images of more than 16 million pixels (4000x4000) are refused before they
    are decoded; see :func:`convlearn.datasets.images.load_img`.
    """
    from .datasets.images import load_img as _load_img

    return _load_img(path, color_mode=color_mode, target_size=target_size, interpolation=interpolation,
                     keep_aspect_ratio=keep_aspect_ratio)


def img_to_array(img, dtype="float32"):
    """Turn a Pillow image into a (height, width, channels) float array."""
    from .datasets.images import img_to_array as _img_to_array

    return _img_to_array(img, dtype=dtype)


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False,
             verbose=1):
    """Download a file unless it is already in the cache, like ``keras.utils.get_file``.

    See :func:`convlearn.datasets.download.get_file` (loaded on first use, as the data sets
    are, so that ``import convlearn`` stays quick).
    """
    from .datasets.download import get_file as _get_file

    return _get_file(fname, origin, untar=untar, md5_hash=md5_hash, file_hash=file_hash,
                     cache_subdir=cache_subdir, hash_algorithm=hash_algorithm, extract=extract,
                     archive_format=archive_format, cache_dir=cache_dir, force_download=force_download,
                     verbose=verbose)


from .data.image_folder import image_dataset_from_directory  # noqa: E402
from .models.data import PyDataset  # noqa: E402  (Keras keeps it in keras.utils)
from .plot_model import plot_model  # drawn without Graphviz: SVG directly, PNG with matplotlib

__all__ = ["Progbar", "PyDataset", "clear_session", "get_file", "image_dataset_from_directory", "img_to_array",
           "load_img", "plot_model", "set_random_seed", "to_categorical"]
