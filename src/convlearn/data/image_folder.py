"""``image_dataset_from_directory``: a folder of images, one subfolder per class, as a :class:`Dataset`.

It follows ``keras.utils.image_dataset_from_directory``: the same arguments and
defaults, the same file order (class folders in alphanumeric order, files found
by walking each one, the list shuffled with NumPy's ``RandomState(seed)`` as
Keras does, so the same seed splits the same files), the same split into
training and validation. Images are decoded with Pillow (``pip install
"convlearn[images]"``) while the dataset is read: a few background threads
decode the next batches while the current one trains (Pillow lets go of
Python's lock while it decodes and resizes), and the batches come out in
order. An image beyond convlearn's pixel limit, or a file that cannot be
decoded, stops the reading with an error that names the file. Resizing is Pillow's, so pixel
values may differ from Keras's own resizing in the last digits.
"""

from __future__ import annotations

import collections
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._io import as_path, check_regular_file
from .dataset import Dataset

__all__ = ["ALLOWED_FORMATS", "ImageFolderDataset", "image_dataset_from_directory"]

#: The file extensions read as images (lower or upper case), as in Keras.
ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_INTERPOLATIONS = {"bilinear": "bilinear", "nearest": "nearest", "bicubic": "bicubic", "area": "box",
                   "lanczos3": "lanczos", "lanczos5": "lanczos"}
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
_PIL_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
_PIL_FORMATS = ("PNG", "JPEG", "BMP", "GIF")                 # the decoders ALLOWED_FORMATS need
_PIL_FILTERS = {"bilinear": 2, "nearest": 0, "bicubic": 3, "area": 4, "lanczos3": 1, "lanczos5": 1}   # PIL codes
#: Batches decoded ahead of the one being used, and the threads decoding them.
_BATCHES_AHEAD = 4
_DECODE_THREADS = max(1, min(4, os.cpu_count() or 1))


class ImageFolderDataset(Dataset):
    """A :class:`Dataset` of images read from files, with Keras's ``class_names`` and ``file_paths``."""

    def __init__(self, make, cardinality, class_names, file_paths):
        super().__init__(make, cardinality)
        self.class_names = class_names
        self.file_paths = file_paths


def _files_under(folder, follow_links):
    """Image files under ``folder``, as Keras walks it: folders in sorted order, files sorted in each."""
    walk = sorted(os.walk(folder, followlinks=follow_links), key=lambda entry: entry[0])
    for root, _, files in walk:
        for name in sorted(files):
            if name.lower().endswith(ALLOWED_FORMATS):
                yield os.path.join(root, name)


def _check(value, allowed, name):
    if value not in allowed:
        shown = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"image_dataset_from_directory: `{name}` must be one of {shown}. "
                         f"Received: {name}={value!r}.")


def _load_checked(path, color_mode, image_size, interpolation, crop_to_aspect_ratio):
    """One image as uint8 (h, w, channels) through ``load_img`` and its checks, or a ValueError naming the file."""
    from ..datasets.images import load_img

    try:
        img = load_img(path, color_mode=color_mode, target_size=image_size, interpolation=interpolation,
                       keep_aspect_ratio=crop_to_aspect_ratio)
    except (ValueError, OSError) as exc:
        raise ValueError(f"image_dataset_from_directory: cannot use {path}: {exc} Remove the file or replace "
                         "it with a readable image.") from None
    pixels = np.asarray(img, dtype=np.uint8)                       # (h, w) or (h, w, channels)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels      # (h, w, channels)


def _load(path, color_mode, image_size, interpolation, crop_to_aspect_ratio):
    """One image as uint8 (h, w, channels), or a ValueError naming the file.

    The usual case (a regular file within the pixel limit that Pillow reads, no cropping) takes a
    short path: about a third less time per small file than ``load_img``, which copies the image
    once more. Anything else, and any failure, goes through :func:`_load_checked`, whose checks
    and messages are ``load_img``'s.
    """
    from ..datasets.images import MAX_IMAGE_PIXELS

    if not crop_to_aspect_ratio:
        try:
            from PIL import Image

            check_regular_file(path, "image file")                 # never open a FIFO or a device
            with Image.open(path, formats=_PIL_FORMATS) as img:
                if img.width * img.height <= MAX_IMAGE_PIXELS:
                    if img.mode != _PIL_MODES[color_mode]:
                        img = img.convert(_PIL_MODES[color_mode])
                    height, width = image_size
                    if img.size != (width, height):
                        img = img.resize((width, height), resample=_PIL_FILTERS[interpolation])
                    pixels = np.asarray(img, dtype=np.uint8)       # (h, w) or (h, w, channels)
                    return pixels[:, :, None] if pixels.ndim == 2 else pixels
        except Exception:  # noqa: BLE001, S110 (the checked path below names the problem)
            pass
    return _load_checked(path, color_mode, image_size, interpolation, crop_to_aspect_ratio)


def _chunks(iterable, size):
    """Lists of ``size`` consecutive items (the last may be shorter)."""
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _decoded_in_order(chunks, decode):
    """``decode(chunk)`` for every chunk, run in background threads a few chunks ahead, yielded in order.

    An error raised while decoding a chunk is raised here when that chunk's turn comes. When the
    reader stops early (``break``, ``take``), the chunks not yet started are dropped.
    """
    with ThreadPoolExecutor(_DECODE_THREADS, thread_name_prefix="convlearn-decode") as pool:
        pending = collections.deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(decode, chunk))
                if len(pending) > _BATCHES_AHEAD:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                                 data_format=None, verbose=True):
    """A dataset of ``(images, labels)`` batches from a folder of images, like Keras's function.

    Parameters
    ----------
    directory : str or os.PathLike
        With ``labels="inferred"``, one subfolder per class (``directory/cat/*.jpg``,
        ``directory/dog/*.png``); images in nested folders of a class belong to it.
    labels : "inferred", None, or a list of int
        ``"inferred"``: from the subfolders; ``None``: no labels (images only); a list: one label per
        image file, in the alphanumeric order of their paths.
    label_mode : {"int", "categorical", "binary", None}, default "int"
        int32 labels (N,); one-hot float32 (N, classes); float32 (N, 1) for two classes; or no labels.
    class_names : list of str, optional
        With ``labels="inferred"``: the subfolders to use, in this order (label 0 is the first).
    color_mode : {"rgb", "grayscale", "rgba"}, default "rgb"
        3, 1 or 4 channels.
    batch_size : int or None, default 32
        ``None`` gives one image at a time.
    image_size : (height, width), default (256, 256)
        Every image is resized to this size.
    shuffle : bool, default True
    seed : int, optional
        Seeds the shuffle; needed with ``validation_split`` and ``shuffle``.
    validation_split : float in (0, 1), optional
        The fraction of the files (the last ones after shuffling) kept for validation.
    subset : {"training", "validation", "both"}, optional
        Which part to return with ``validation_split``; ``"both"`` returns ``(training, validation)``.
    interpolation : {"bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5"}, default "bilinear"
    follow_links : bool, default False
        Follow symbolic links to folders.
    crop_to_aspect_ratio : bool, default False
        Crop the centre of each image to the aspect ratio of ``image_size`` before resizing.
    verbose : bool, default True
        Print how many files and classes were found, as Keras does.

    Returns
    -------
    ImageFolderDataset, or a tuple of two
        (training, validation) with ``subset="both"``. Batches of float32 images (N, height, width,
        channels) (values 0-255), with labels unless ``label_mode`` is None; ``class_names``,
        ``file_paths`` and ``len()`` (the number of batches).

    Raises
    ------
    ValueError
        For a bad argument or a folder without images; while reading, for a file that is not a
        readable image or is larger than convlearn's pixel limit (the message names it).
    """
    owner = "image_dataset_from_directory"
    path = as_path(directory, owner)
    if not os.path.isdir(path):
        raise ValueError(f"{owner}: `directory` must be a folder of images (one subfolder per class). "
                         f"Received: directory={path!r}, which is not a folder.")
    if not (labels in ("inferred", None) or isinstance(labels, (list, tuple, np.ndarray))):
        raise ValueError(f"{owner}: `labels` must be 'inferred', None, or a list of integer labels, one per "
                         f"image file. Received: labels={labels!r}.")
    _check(label_mode, ("int", "categorical", "binary", None), "label_mode")
    _check(color_mode, tuple(_CHANNELS), "color_mode")
    _check(interpolation, tuple(_INTERPOLATIONS), "interpolation")
    if labels is None:
        label_mode = None
    if pad_to_aspect_ratio:
        raise ValueError(f"{owner}: `pad_to_aspect_ratio` is not supported by convlearn; use "
                         "crop_to_aspect_ratio=True or leave it False.")
    if data_format not in (None, "channels_last"):
        raise ValueError(f"{owner}: only data_format='channels_last' is supported. Received: "
                         f"data_format={data_format!r}.")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                   or batch_size < 1):
        raise ValueError(f"{owner}: `batch_size` must be a positive integer or None. Received: "
                         f"batch_size={batch_size!r}.")
    if (not isinstance(image_size, (tuple, list)) or len(image_size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in image_size)):
        raise ValueError(f"{owner}: `image_size` must be (height, width), two positive integers. Received: "
                         f"image_size={image_size!r}.")
    image_size = (int(image_size[0]), int(image_size[1]))
    if validation_split is not None:
        if not isinstance(validation_split, (int, float)) or not 0 < validation_split < 1:
            raise ValueError(f"{owner}: `validation_split` must be a number between 0 and 1. Received: "
                             f"validation_split={validation_split!r}.")
        _check(subset, ("training", "validation", "both"), "subset")
        if shuffle and seed is None:
            raise ValueError(f"{owner}: with validation_split and shuffle=True, pass a `seed` so that the "
                             "training and validation subsets do not overlap, e.g. seed=1337.")
    elif subset is not None:
        raise ValueError(f"{owner}: `subset` needs a `validation_split`. Received: subset={subset!r}.")
    if class_names is not None and labels != "inferred":
        raise ValueError(f"{owner}: `class_names` can only be given with labels='inferred'.")

    # -- which files, in which order (as Keras) ----------------------------------------------
    if labels == "inferred":
        subdirs = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)) and
                         not d.startswith("."))
        if class_names is not None:
            if not set(class_names) <= set(subdirs):
                raise ValueError(f"{owner}: `class_names` must be names of subfolders of {path}: {subdirs}. "
                                 f"Received: class_names={list(class_names)}.")
            subdirs = list(class_names)
        files, label_list = [], []
        for index, sub in enumerate(subdirs):
            found = list(_files_under(os.path.join(path, sub), follow_links))
            files += found
            label_list += [index] * len(found)
        names = subdirs
        label_array = np.array(label_list, dtype=np.int32)
    else:
        files = list(_files_under(path, follow_links))
        names = None
        label_array = None
        if labels is not None:
            label_array = np.asarray(labels)
            if label_array.ndim != 1 or len(label_array) != len(files) or label_array.dtype.kind not in "iu":
                raise ValueError(f"{owner}: `labels` must hold one integer label per image file; found "
                                 f"{len(files)} image files and got {len(label_array)} labels.")
            label_array = label_array.astype(np.int32)
            names = [str(c) for c in sorted(set(label_array.tolist()))]
    if not files:
        raise ValueError(f"{owner}: no images in {path}. Allowed formats: {', '.join(ALLOWED_FORMATS)}; with "
                         "labels='inferred' they go in one subfolder per class.")
    num_classes = len(names) if names is not None else 0
    if label_mode == "binary" and num_classes != 2:
        raise ValueError(f"{owner}: label_mode='binary' needs exactly 2 classes; found {num_classes}: {names}. "
                         "Use label_mode='categorical' or 'int'.")
    if verbose:
        print(f"Found {len(files)} files" + (f" belonging to {num_classes} classes." if labels == "inferred"
                                             else "."))
    if shuffle:
        if seed is None:
            seed = int(np.random.default_rng().integers(1_000_000))
        np.random.RandomState(seed).shuffle(files)
        if label_array is not None:
            np.random.RandomState(seed).shuffle(label_array)

    def make_dataset(part_files, part_labels):
        load = (part_files, part_labels)

        def pairs():
            for i, file in enumerate(load[0]):
                yield (file, None if load[1] is None else int(load[1][i]))
        buffer = batch_size * 8 if batch_size else 1024
        source = Dataset(pairs, len(part_files))
        if shuffle:
            source = source.shuffle(buffer, seed=seed)

        def labels_of(chunk):
            label = np.array([lab for _, lab in chunk], dtype=np.int32)              # (n,)
            if label_mode == "int":
                return label
            if label_mode == "binary":
                return label.astype(np.float32)[:, None]                            # (n, 1)
            return np.eye(num_classes, dtype=np.float32)[label]                     # (n, classes)

        def decode(chunk):
            images = np.stack([_load(file, color_mode, image_size, interpolation, crop_to_aspect_ratio)
                               for file, _ in chunk]).astype(np.float32)            # (n, h, w, channels)
            return images if label_mode is None else (images, labels_of(chunk))

        def batches():
            yield from _decoded_in_order(_chunks(source, batch_size), decode)

        def one_by_one():
            for element in _decoded_in_order(_chunks(source, 32), decode):
                for i in range(len(element[0] if isinstance(element, tuple) else element)):
                    yield tuple(part[i] for part in element) if isinstance(element, tuple) else element[i]

        if batch_size is not None:
            images = Dataset(batches, -(-len(part_files) // batch_size))
        else:
            images = Dataset(one_by_one, len(part_files))
        return ImageFolderDataset(images._make, images.cardinality(), names, list(part_files))

    def split(which):
        n_val = int(validation_split * len(files))
        n_train = len(files) - n_val
        keep = slice(0, n_train) if which == "training" else slice(n_train, None)
        if verbose:
            print(f"Using {n_train if which == 'training' else n_val} files for {which}.")
        return make_dataset(files[keep], None if label_array is None else label_array[keep])

    if validation_split is None:
        return make_dataset(files, label_array)
    if subset == "both":
        return split("training"), split("validation")
    return split(subset)
