"""Checked decoding of what the page sends: canvas pixels, image files, model files.

Every limit is a constant here so that the page, the tests and the error messages agree.
Nothing is unpickled: canvases are raw bytes, images go through Pillow with a short list
of formats and a pixel limit checked before any pixel is decoded, models through
``convlearn.models.load_model`` (zip of JSON and ``.npy``, read with ``allow_pickle=False``).
"""

from __future__ import annotations

import io
import os
import tempfile
from typing import Any

import numpy as np

__all__ = [
    "RequestError",
    "MAX_CANVAS_SIDE",
    "MIN_CANVAS_SIDE",
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_MODEL_BYTES",
    "MAX_JSON_BYTES",
    "IMAGE_FORMATS",
    "canvas_pixels",
    "image_pixels",
    "load_model_bytes",
]

MIN_CANVAS_SIDE = 8
MAX_CANVAS_SIDE = 1024
MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_MODEL_BYTES = 64 * 1024 * 1024
MAX_JSON_BYTES = 256 * 1024
#: Image formats an upload may be in (Pillow's names).
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")


class RequestError(ValueError):
    """A request that is refused: ``status`` is the HTTP status to answer with.

    ``key`` and ``params`` name the message of the catalogue (``app_err_...``) so the page
    can show it in the user's language; ``str(error)`` is the English text.
    """

    def __init__(self, key: str, status: int = 400, **params: Any) -> None:
        from ..explain import tr

        self.key, self.status, self.params = key, status, params
        super().__init__(tr(key, "en", **params))

    def message(self, lang: str) -> str:
        from ..explain import tr

        return tr(self.key, lang, **self.params)


def _side(value: Any, name: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise RequestError("app_err_canvas_size", name=name, value=str(value)[:20],
                          low=MIN_CANVAS_SIDE, high=MAX_CANVAS_SIDE) from None
    if not MIN_CANVAS_SIDE <= n <= MAX_CANVAS_SIDE or str(n) != str(value).strip():
        raise RequestError("app_err_canvas_size", name=name, value=str(value)[:20],
                          low=MIN_CANVAS_SIDE, high=MAX_CANVAS_SIDE)
    return n


def canvas_pixels(body: bytes, width: Any, height: Any) -> np.ndarray:
    """A drawing as a (height, width) uint8 array: one brightness byte per pixel, row by row.

    Raises
    ------
    RequestError
        Sizes outside [MIN_CANVAS_SIDE, MAX_CANVAS_SIDE] or a body of another length.
    """
    w, h = _side(width, "w"), _side(height, "h")
    if len(body) != w * h:
        raise RequestError("app_err_canvas_bytes", expected=w * h, got=len(body), w=w, h=h)
    return np.frombuffer(body, dtype=np.uint8).reshape(h, w)  # (H, W)


def image_pixels(data: bytes) -> np.ndarray:
    """Decode an uploaded image file into an array for ``load_digit_image``.

    The format must be one of :data:`IMAGE_FORMATS`; the size is checked from the header
    before the pixels are decoded; animated images give their first frame.

    Returns
    -------
    numpy.ndarray
        (H, W) grayscale, or (H, W, 4) RGBA when the image has transparency.

    Raises
    ------
    RequestError
        Too many bytes or pixels, not an image, or a format that is not allowed.
    ImportError
        Without Pillow.
    """
    if len(data) > MAX_IMAGE_BYTES:
        raise RequestError("app_err_too_big", status=413, limit=f"{MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    if not data:
        raise RequestError("app_err_empty")
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data), formats=list(IMAGE_FORMATS))
    except UnidentifiedImageError:
        raise RequestError("app_err_not_image", formats=", ".join(IMAGE_FORMATS)) from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise RequestError("app_err_bad_image") from None
    with img:
        w, h = img.size
        if w < 1 or h < 1 or w * h > MAX_IMAGE_PIXELS:
            raise RequestError("app_err_too_many_pixels", status=413, w=w, h=h, limit=f"{MAX_IMAGE_PIXELS:,}")
        try:
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
            has_alpha = "A" in img.getbands() or "transparency" in img.info
            return np.asarray(img.convert("RGBA" if has_alpha else "L"))
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
            raise RequestError("app_err_bad_image") from None


def load_model_bytes(data: bytes) -> Any:
    """A model from the bytes of an uploaded ``.keras`` file (through a private temporary file).

    Raises
    ------
    RequestError
        Too large, empty, or not a convlearn model file.
    """
    from ..models import load_model

    if len(data) > MAX_MODEL_BYTES:
        raise RequestError("app_err_too_big", status=413, limit=f"{MAX_MODEL_BYTES // (1024 * 1024)} MB")
    if not data:
        raise RequestError("app_err_empty")
    folder = tempfile.mkdtemp(prefix="convlearn-upload-")
    path = os.path.join(folder, "upload.keras")
    try:
        with open(path, "wb") as fh:
            fh.write(data)
        return load_model(path)
    except (ValueError, OSError, KeyError, TypeError) as exc:
        raise RequestError("app_err_bad_model", reason=str(exc).replace(path, "upload.keras")[:300]) from None
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
        os.rmdir(folder)
