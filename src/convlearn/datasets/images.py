"""Keras-style image file helpers: ``load_img`` and ``img_to_array``.

They behave like ``keras.utils.load_img`` and ``keras.utils.img_to_array``:
``load_img`` returns a Pillow image, ``img_to_array`` turns it into a float32
array of shape (height, width, channels). Pillow is needed only when these
functions are called (``pip install pillow``, or ``pip install "convlearn[images]"``).
"""

import os

import numpy as np

__all__ = ["load_img", "img_to_array"]

_COLOR_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")


def _import_pil_image():
    """Return the ``PIL.Image`` module, or raise an ImportError that says how to install it."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            'Reading image files needs Pillow. Install it with: pip install pillow '
            '(or pip install "convlearn[images]").'
        ) from exc
    return Image


def _open_image(path):
    """Open and fully read an image file with Pillow, turning failures into clear errors.

    Parameters
    ----------
    path : str or os.PathLike
        The image file.

    Returns
    -------
    PIL.Image.Image
        The image, in the file's own mode, with its pixels loaded (the file is closed).

    Raises
    ------
    ImportError
        If Pillow is not installed.
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file cannot be read as an image.
    """
    pil_image = _import_pil_image()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No image file at {path!r}. Check the file name and folder.")
    try:
        with pil_image.open(path) as img:
            img.load()
            return img.copy()
    except (pil_image.UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(
            f"Cannot read {path!r} as an image ({exc}). Pass a PNG, JPEG or other file Pillow can read."
        ) from exc


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """Load an image file as a Pillow image.

    Parameters
    ----------
    path : str or os.PathLike
        The image file (PNG, JPEG, BMP, GIF, ...).
    color_mode : {"rgb", "grayscale", "rgba"}, default "rgb"
        The mode to convert to: 3 channels, 1 channel, or 4 channels.
    target_size : tuple of int (height, width), optional
        Resize to this size; ``None`` keeps the file's size.
    interpolation : {"nearest", "bilinear", "bicubic", "lanczos", "box", "hamming"}, default "nearest"
        Resampling method used when resizing.
    keep_aspect_ratio : bool, default False
        When resizing, first crop the centre of the image to the aspect ratio
        of ``target_size`` so the content is not stretched.

    Returns
    -------
    PIL.Image.Image
        The loaded (and converted, resized) image.

    Raises
    ------
    ImportError
        If Pillow is not installed.
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If an argument is invalid or the file cannot be read as an image.
    """
    if color_mode not in _COLOR_MODES:
        raise ValueError(
            f'color_mode must be "rgb", "grayscale" or "rgba"; got {color_mode!r}.'
        )
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {', '.join(_INTERPOLATIONS)}; got {interpolation!r}.")
    if target_size is not None:
        if (
            not isinstance(target_size, (tuple, list))
            or len(target_size) != 2
            or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in target_size)
        ):
            raise ValueError(
                f"target_size must be (height, width) with two positive integers; got {target_size!r}."
            )
    img = _open_image(path)
    if img.mode != _COLOR_MODES[color_mode]:
        img = img.convert(_COLOR_MODES[color_mode])
    if target_size is not None:
        height, width = (int(s) for s in target_size)
        if img.size != (width, height):
            if keep_aspect_ratio:
                img = img.crop(_center_box(img.size, width / height))
            pil_image = _import_pil_image()
            filters = getattr(pil_image, "Resampling", pil_image)  # Pillow < 9.1 has no Resampling
            resample = getattr(filters, interpolation.upper())
            img = img.resize((width, height), resample=resample)
    return img


def _center_box(size, ratio):
    """The largest centred (left, top, right, bottom) box of ``size`` with width/height ``ratio``."""
    w, h = size
    crop_w, crop_h = (round(h * ratio), h) if w / h > ratio else (w, round(w / ratio))
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    return left, top, left + crop_w, top + crop_h


def img_to_array(img, data_format=None, dtype="float32"):
    """Convert a Pillow image (or an array) to a NumPy array.

    Parameters
    ----------
    img : PIL.Image.Image or numpy.ndarray
        The image.
    data_format : {None, "channels_last", "channels_first"}, default None
        ``None`` means ``"channels_last"``: shape (height, width, channels).
    dtype : str or numpy.dtype, default "float32"
        The array's dtype. Values are not rescaled: 0..255 stays 0..255.

    Returns
    -------
    numpy.ndarray
        A new 3-D array; a grayscale image gets one channel.

    Raises
    ------
    ValueError
        If ``data_format`` is unknown or the image is not 2-D or 3-D.
    """
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(
            f'data_format must be None, "channels_last" or "channels_first"; got {data_format!r}.'
        )
    x = np.array(img, dtype=dtype)  # always a copy
    if x.ndim == 2:
        x = x[:, :, None]  # (H, W, 1)
    elif x.ndim != 3:
        raise ValueError(f"img_to_array expects a 2-D or 3-D image; got shape {x.shape}.")
    if data_format == "channels_first":
        x = x.transpose(2, 0, 1)  # (C, H, W)
    return x
