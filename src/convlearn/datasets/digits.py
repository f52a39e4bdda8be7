"""Turn a photo or drawing of one digit into a 28x28 image prepared the way MNIST was.

MNIST digits were made like this: the ink is light on a black background; the
digit is scaled, keeping its aspect ratio, so its longer side is 20 pixels,
with anti-aliasing (grey edges); then it is placed in a 28x28 field so that its
centre of mass falls on the centre of the field. A model trained on MNIST
expects exactly this, so a digit from your own camera or drawing program must
go through the same steps before ``model.predict``:

1. ``grayscale`` -- one brightness channel in [0, 1];
2. ``invert``    -- ink made light on dark (dark-on-light pictures are inverted);
3. ``clean``     -- background pushed to 0, strongest ink to 1, faint noise zeroed;
4. ``crop``      -- cut to the bounding box of the ink;
5. ``scale``     -- longer side resized to 20 pixels, anti-aliased;
6. ``center``    -- pasted into 28x28 with the centre of mass at pixel (14, 14),
   values scaled so the brightest pixel is 1.

:func:`load_digit_image` runs them all and can return every intermediate image.
Only NumPy is needed for arrays; reading image files needs Pillow.
"""

import os

import numpy as np

from convlearn.datasets.images import check_image_size

__all__ = ["load_digit_image", "STEP_NAMES"]

#: Names of the steps returned by ``load_digit_image(..., return_steps=True)``, in order.
STEP_NAMES = ("grayscale", "invert", "clean", "crop", "scale", "center")

_FIELD = 28  # MNIST image side
_BOX = 20  # side of the box the digit is scaled into
_MIN_CONTRAST = 0.1  # ink must differ from the background by at least this (0..1 scale)


def load_digit_image(image, invert="auto", threshold=0.2, return_steps=False):
    """Prepare one digit image like an MNIST digit.

    Parameters
    ----------
    image : str, bytes, os.PathLike, numpy.ndarray or PIL.Image.Image
        An image file (PNG, JPEG, ... read with Pillow), a Pillow image, or an
        array of shape (H, W), (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, of at
        most :data:`~convlearn.datasets.images.MAX_IMAGE_PIXELS` pixels (16
        million, e.g. 4000x4000; larger ones are refused before being decoded).
        Integer arrays hold 0..255 (or 0..65535); float arrays hold 0..1 (or
        0..255). Transparent pixels count as white paper.
    invert : {"auto", True, False}, default "auto"
        Whether to invert the brightness (MNIST digits are light ink on black).
        ``"auto"`` inverts when the image border (taken as background) is
        brighter than mid-grey, i.e. for dark ink on light paper.
    threshold : float, default 0.2
        After the background is mapped to 0 and the strongest ink to 1, values
        below this are set to 0. Raise it for photos with a noisy background;
        0 keeps everything.
    return_steps : bool, default False
        Also return the intermediate images.

    Returns
    -------
    numpy.ndarray
        float32 array of shape (28, 28), values in [0, 1], light digit on black.
        Reshape to (1, 28, 28, 1) for a model's ``predict``.
    list of (str, numpy.ndarray)
        Only with ``return_steps=True``: one ``(name, image)`` pair per step, in
        the order of :data:`STEP_NAMES`; each image is a float32 2-D array in
        [0, 1], the last is the returned image.

    Raises
    ------
    FileNotFoundError
        If ``image`` names a file that does not exist.
    ImportError
        If ``image`` is a file name and Pillow is not installed.
    ValueError
        If the file is not a regular file or cannot be read as an image, the
        image is too large, the array has an unsupported shape or value range,
        ``invert`` or ``threshold`` are invalid, or the image is blank (no ink
        distinguishable from the background).

    Examples
    --------
    >>> import numpy as np
    >>> from convlearn.datasets import load_digit_image
    >>> page = np.full((100, 80), 255, dtype=np.uint8)   # white paper
    >>> page[20:80, 35:45] = 0                            # a black stroke: a "1"
    >>> x = load_digit_image(page)
    >>> x.shape, x.dtype, float(x.max())
    ((28, 28), dtype('float32'), 1.0)
    """
    if not (isinstance(invert, str) and invert == "auto") and not isinstance(invert, (bool, np.bool_)):
        raise ValueError(f'invert must be "auto", True or False; got {invert!r}.')
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.number)) \
            or not 0 <= threshold < 1:
        raise ValueError(f"threshold must be a number in [0, 1); got {threshold!r}.")

    gray = _to_gray(image)  # (H, W) float32 in [0, 1]
    steps = [("grayscale", gray)]

    border = _border_pixels(gray)
    do_invert = bool(np.median(border) > 0.5) if isinstance(invert, str) else bool(invert)
    ink = 1.0 - gray if do_invert else gray  # (H, W), ink now light
    steps.append(("invert", ink))

    background = float(np.median(_border_pixels(ink)))
    peak = float(ink.max())
    if peak - background < _MIN_CONTRAST:
        raise ValueError(
            f"The image looks blank: its brightest ink ({peak:.3f}) differs from the background "
            f"({background:.3f}, the median of the border) by less than {_MIN_CONTRAST}. "
            "Pass an image with a clearly visible digit; if the digit touches the border, "
            "add a margin of background around it."
        )
    clean = np.clip((ink - background) / (peak - background), 0.0, 1.0)  # (H, W)
    clean[clean < threshold] = 0.0
    steps.append(("clean", clean))

    rows = np.flatnonzero(clean.any(axis=1))
    cols = np.flatnonzero(clean.any(axis=0))
    crop = clean[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]  # (h, w), tight around the ink
    steps.append(("crop", crop))

    h, w = crop.shape
    longer = max(h, w)
    new_h = max(1, int(np.floor(h * _BOX / longer + 0.5)))
    new_w = max(1, int(np.floor(w * _BOX / longer + 0.5)))
    scaled = _resize(crop, new_h, new_w)  # (new_h, new_w), longer side 20
    steps.append(("scale", scaled))

    out = _paste_centered(scaled)  # (28, 28)
    out /= out.max()
    steps.append(("center", out))

    steps = [(name, np.asarray(img, dtype=np.float32)) for name, img in steps]
    result = steps[-1][1]
    return (result, steps) if return_steps else result


def _to_gray(image):
    """Return the image as a (H, W) float32 array in [0, 1] (transparency over white).

    Computed one channel at a time in float32, so an image costs a few times its
    pixel count in bytes, never a float64 copy of every channel.
    """
    if isinstance(image, (str, bytes, os.PathLike)):
        image = _read_file(image)
    elif not isinstance(image, np.ndarray) and _is_pil_image(image):
        check_image_size(image.width, image.height, "The image")
        image = _pil_to_array(image)
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] in (1, 2, 3, 4):
        pass
    elif arr.ndim != 2:
        hint = " For a batch of one, pass x[0]." if arr.ndim == 4 and arr.shape[0] == 1 else ""
        raise ValueError(
            "load_digit_image expects one image of shape (H, W), (H, W, 1), (H, W, 3) or "
            f"(H, W, 4); got shape {arr.shape}.{hint}"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"load_digit_image got an empty image of shape {arr.shape}.")
    check_image_size(arr.shape[1], arr.shape[0], "The image")
    scale = _unit_scale(arr)

    def channel(k):
        values = arr[..., k].astype(np.float32) if arr.ndim == 3 else arr.astype(np.float32)  # (H, W)
        values /= scale
        return values

    channels = 1 if arr.ndim == 2 else arr.shape[-1]
    if channels >= 3:  # ITU-R 601 luma, as Pillow's "L"
        gray = channel(0)
        gray *= 0.299
        for k, weight in ((1, 0.587), (2, 0.114)):
            part = channel(k)
            part *= weight
            gray += part
    else:
        gray = channel(0)  # (H, W)
    if channels in (2, 4):  # gray+alpha or RGBA: composite over white paper (luma of white is 1)
        alpha = channel(channels - 1)  # (H, W)
        gray *= alpha
        gray += 1.0
        gray -= alpha
    return gray


def _unit_scale(arr):
    """What to divide by to bring integer (0..255 or 0..65535) or float (0..1 or 0..255) pixels to 0..1."""
    if arr.dtype == np.bool_:
        return 1.0
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"load_digit_image needs a numeric image array; got dtype {arr.dtype}.")
    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        raise ValueError("load_digit_image got an image with NaN or infinite values.")
    low, high = arr.min(), arr.max()
    if low < 0:
        raise ValueError(
            f"load_digit_image expects pixel values >= 0; got a minimum of {low}. "
            "Pass raw pixels (0..255) or values scaled to 0..1."
        )
    if np.issubdtype(arr.dtype, np.floating) and high <= 1.0:
        return 1.0
    for scale in (255.0, 65535.0) if np.issubdtype(arr.dtype, np.integer) else (255.0,):
        if high <= scale:
            return scale
    raise ValueError(
        f"load_digit_image expects pixel values in 0..1 or 0..255; got a maximum of {high}."
    )


def _border_pixels(img):
    """The pixels of a frame around the image, as many as about 5% of the smaller side."""
    b = max(1, min(img.shape) // 20)
    return np.concatenate([img[:b].ravel(), img[-b:].ravel(), img[:, :b].ravel(), img[:, -b:].ravel()])


def _resize_weights(n_in, n_out):
    """(n_out, n_in) matrix that resamples one axis from ``n_in`` to ``n_out`` pixels.

    Shrinking averages areas: each output pixel is the mean of the input it
    covers, partly covered input pixels counting by the covered fraction (so a
    black-and-white stroke becomes grey where it covers part of a pixel, the
    anti-aliasing MNIST has). Enlarging interpolates linearly between pixel centres.
    """
    scale = n_in / n_out
    if n_in > n_out:
        starts = np.arange(n_out)[:, None] * scale  # (n_out, 1), left edge of each output pixel
        j = np.arange(n_in)[None, :]  # (1, n_in), left edge of each input pixel
        weights = np.clip(np.minimum(starts + scale, j + 1) - np.maximum(starts, j), 0.0, None)  # (n_out, n_in)
    else:
        centers = (np.arange(n_out) + 0.5) * scale - 0.5  # (n_out,), in input pixel indices
        weights = np.clip(1.0 - np.abs(np.arange(n_in)[None, :] - centers[:, None]), 0.0, None)  # (n_out, n_in)
        if n_in == 1:
            weights = np.ones((n_out, 1))
    return weights / weights.sum(axis=1, keepdims=True)


def _resize(img, new_h, new_w):
    """Resize a 2-D image: area averaging when shrinking, linear interpolation when enlarging."""
    rows = _resize_weights(img.shape[0], new_h).astype(img.dtype)  # (new_h, H), no float64 copy of img
    cols = _resize_weights(img.shape[1], new_w)  # (new_w, W)
    return (rows @ img).astype(np.float64) @ cols.T  # (new_h, W) -> (new_h, new_w)


def _paste_centered(digit):
    """Place ``digit`` (h, w <= 28) in a 28x28 field with its centre of mass at (14, 14).

    The shift is the centre-of-mass offset rounded to whole pixels. If that
    would push ink out of the field (a very lopsided digit), the digit is moved
    back just enough to stay entirely inside.
    """
    h, w = digit.shape
    mass = digit.sum()
    cy = (digit.sum(axis=1) @ np.arange(h)) / mass  # row of the centre of mass
    cx = (digit.sum(axis=0) @ np.arange(w)) / mass  # column of the centre of mass
    top = int(np.clip(np.floor(_FIELD / 2 - cy + 0.5), 0, _FIELD - h))
    left = int(np.clip(np.floor(_FIELD / 2 - cx + 0.5), 0, _FIELD - w))
    out = np.zeros((_FIELD, _FIELD))  # (28, 28)
    out[top:top + h, left:left + w] = digit
    return out


def _is_pil_image(obj):
    import sys

    pil = sys.modules.get("PIL.Image")  # if Pillow was never imported, obj cannot be one
    return pil is not None and isinstance(obj, pil.Image)


def _pil_to_array(img):
    """A Pillow image as an array for :func:`_to_gray`, keeping transparency."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)  # phone photos: apply the stored rotation
    has_alpha = "A" in img.getbands() or "transparency" in img.info
    if img.mode in ("1", "L", "RGB", "I;16", "I", "F") and not has_alpha:
        return np.asarray(img)  # mode "1" gives booleans: one byte per pixel, not three
    return np.asarray(img.convert("RGBA" if has_alpha else "RGB"))


def _read_file(path):
    """Read an image file (Pillow needed) into an array for :func:`_to_gray`."""
    from convlearn.datasets.images import _open_image

    return _pil_to_array(_open_image(path))
