"""Keras-style image file helpers: ``load_img`` and ``img_to_array``.

They behave like ``keras.utils.load_img`` and ``keras.utils.img_to_array``:
``load_img`` returns a Pillow image, ``img_to_array`` turns it into a float32
array of shape (height, width, channels). Pillow is needed only when these
functions are called (``pip install pillow``, or ``pip install "convlearn[images]"``).

Reading is bounded: only regular files are opened (a FIFO or a device is
refused from ``os.stat``, never opened), and an image of more than
:data:`MAX_IMAGE_PIXELS` pixels is refused from its header, before it is
decoded (a PNG of a few kB can declare 20000x20000 pixels). Whatever Pillow
cannot read (an unknown format, a truncated file, a decompression bomb) is a
``ValueError`` naming the file.
"""

import math
import struct

import numpy as np

from convlearn._io import as_path, check_regular_file

__all__ = ["load_img", "img_to_array", "MAX_IMAGE_PIXELS", "check_image_size"]

#: The most pixels (width x height) convlearn decodes from one image: 16 million, e.g. 4000x4000
#: (a 12-megapixel phone photo fits). Larger images are refused before they are decoded.
MAX_IMAGE_PIXELS = 4000 * 4000
# What Pillow raises on a damaged or hostile file, besides DecompressionBombError
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError, KeyError,
               ZeroDivisionError)

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


def check_image_size(width, height, source):
    """Raise unless an image of ``width`` x ``height`` pixels is within :data:`MAX_IMAGE_PIXELS`.

    Raises
    ------
    ValueError
        Saying the size found, the limit, and how to resize.
    """
    if width * height > MAX_IMAGE_PIXELS:
        side = math.isqrt(MAX_IMAGE_PIXELS)
        raise ValueError(
            f"{source} is {width}x{height} pixels ({width * height:,}), more than the {MAX_IMAGE_PIXELS:,} "
            f"convlearn reads from one image. Resize it to at most {side}x{side} first, e.g. with Pillow: "
            f"img.thumbnail(({side}, {side})); img.save('smaller.png')."
        )


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
        If it is not a regular file, is larger than :data:`MAX_IMAGE_PIXELS`, or
        cannot be read as an image.
    """
    pil_image = _import_pil_image()
    path = as_path(path, "load_img")
    check_regular_file(path, "image file")

    def unreadable(exc):
        return ValueError(f"Cannot read {path!r} as an image ({exc}). Pass a PNG, JPEG or other file Pillow can read.")

    try:
        img = pil_image.open(path)
    except pil_image.DecompressionBombError as exc:
        side = math.isqrt(MAX_IMAGE_PIXELS)
        raise ValueError(f"{path!r} is too large to be read safely ({exc}). convlearn reads at most "
                         f"{MAX_IMAGE_PIXELS:,} pixels from one image: resize it to at most {side}x{side} "
                         "first.") from None
    except _PIL_ERRORS as exc:                 # UnidentifiedImageError is an OSError
        raise unreadable(exc) from None
    with img:
        check_image_size(img.width, img.height, repr(path))
        try:
            img.load()
            return img.copy()
        except _PIL_ERRORS as exc:             # e.g. "image file is truncated"
            raise unreadable(exc) from None


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
        check_image_size(int(target_size[1]), int(target_size[0]), f"target_size={tuple(target_size)!r}")
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
