"""The guide's walk-throughs as data: every number a learner sees, kept in plain objects.

Each ``explain_*`` function checks its arguments, runs the computation with small, readable
loops (the loops are the lesson) and returns a dataclass that holds the inputs, each
intermediate step and the result.  The dataclasses render themselves as text
(``to_text``), as PNG figures (``to_figure``) and, for the sliding windows, as animated GIFs
(``to_gif``).  Figures need matplotlib and Pillow, which are imported only when a figure is
drawn.

All numbers are kept in float64 so that the values shown match hand arithmetic.  Indices
(rows, columns, steps) start at 0, as in NumPy.

The default examples
--------------------
The guide explains each layer with pictures whose pixel values are not given as numbers.
The defaults below are therefore made up for illustration, with the same sizes as the
guide's pictures: a 4x4 grayscale and a 4x4x3 RGB image of 0-255 pixels for the input
layer, a 6x6 image of 0/1 normalised pixels (a handwritten "7") with a 3x3 edge filter for
the convolution (giving the guide's 4x4 feature map), 2x2 pooling with stride 2 (giving the
guide's 2x2 result) and a small dense layer with made-up, untrained weights.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .i18n import resolve_lang, tr

__all__ = [
    "ExplainError",
    "DEFAULT_GRAY_PIXELS",
    "DEFAULT_RGB_PIXELS",
    "DEFAULT_IMAGE",
    "DEFAULT_KERNEL",
    "DEFAULT_DENSE_WEIGHTS",
    "DEFAULT_DENSE_BIAS",
    "DEFAULT_CLASS_NAMES",
    "parse_array",
    "load_array",
    "output_size",
    "OutputSize",
    "InputWalkthrough",
    "ConvStep",
    "ConvWalkthrough",
    "ReLUWalkthrough",
    "PoolStep",
    "PoolWalkthrough",
    "FlattenWalkthrough",
    "DenseWalkthrough",
    "SoftmaxWalkthrough",
    "GuideWalkthrough",
    "explain_input",
    "explain_conv",
    "explain_relu",
    "explain_pool",
    "explain_flatten",
    "explain_dense",
    "explain_softmax",
    "explain_guide",
]


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------
class ExplainError(ValueError):
    """A bad argument given to a walk-through, with its message in every language.

    ``str(error)`` is the English message; ``error.message(lang)`` gives it in another
    language of the catalogue (the command line prints it in the user's language).

    Parameters
    ----------
    key : str
        Catalogue key of the message template (``"err_..."``).
    **params
        Values for the template's placeholders.
    """

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(tr(key, "en", **params))

    def message(self, lang: str | None = None) -> str:
        """Return the message in ``lang`` (default: the language of the locale)."""
        return tr(self.key, resolve_lang(lang), **self.params)


# --------------------------------------------------------------------------------------
# Default examples (made up: the guide shows them only as pictures)
# --------------------------------------------------------------------------------------
#: 4x4 grayscale image, raw pixels 0 (black) .. 255 (white).
DEFAULT_GRAY_PIXELS = np.array(
    [
        [0, 64, 128, 255],
        [32, 96, 160, 224],
        [255, 192, 64, 0],
        [128, 128, 51, 204],
    ],
    dtype=np.float64,
)  # (4, 4)

#: 4x4x3 RGB image (height, width, channels), raw pixels 0..255.
DEFAULT_RGB_PIXELS = np.array(
    [
        [[255, 0, 0], [255, 128, 0], [255, 255, 0], [0, 255, 0]],
        [[0, 0, 255], [128, 0, 255], [255, 255, 255], [0, 0, 0]],
        [[34, 139, 34], [135, 206, 235], [255, 192, 203], [128, 128, 128]],
        [[255, 255, 255], [64, 64, 64], [0, 128, 128], [139, 69, 19]],
    ],
    dtype=np.float64,
)  # (4, 4, 3)

#: 6x6 image of normalised 0/1 pixels: a handwritten "7" (1 = ink).
DEFAULT_IMAGE = np.array(
    [
        [0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 1, 0],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 1, 0, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 1, 0, 0, 0],
    ],
    dtype=np.float64,
)  # (6, 6)

#: 3x3 vertical-edge filter: large where the image gets brighter from left to right.
DEFAULT_KERNEL = np.array(
    [
        [-1, 0, 1],
        [-1, 0, 1],
        [-1, 0, 1],
    ],
    dtype=np.float64,
)  # (3, 3)

#: Made-up (untrained) dense weights, Keras layout (inputs, units): 4 inputs -> 3 classes.
DEFAULT_DENSE_WEIGHTS = np.array(
    [
        [0.2, -0.1, 0.4],
        [0.1, 0.3, 0.5],
        [-0.2, 0.2, 0.6],
        [0.3, 0.1, -0.4],
    ],
    dtype=np.float64,
)  # (4, 3)

#: Made-up dense bias, one per class.
DEFAULT_DENSE_BIAS = np.array([0.1, 0.0, -0.2], dtype=np.float64)  # (3,)

#: Class names used with the default dense layer (digits, as in the guide's MNIST model).
DEFAULT_CLASS_NAMES = ("1", "4", "7")


# --------------------------------------------------------------------------------------
# Reading matrices typed on the command line or stored in files
# --------------------------------------------------------------------------------------
def _parse_number(token: str, name: str, row: int, col: int) -> float:
    token = token.strip()
    if token == "":
        raise ExplainError("err_empty_value", name=name, row=row, col=col)
    try:
        value = float(token)
    except ValueError:
        raise ExplainError("err_not_number", name=name, row=row, col=col, token=token) from None
    if not math.isfinite(value):
        raise ExplainError("err_not_finite", name=name, row=row, col=col, token=token)
    return value


def _parse_matrix_text(text: str, name: str) -> np.ndarray:
    rows = text.strip().split(";")
    if len(rows) > 1 and rows[-1].strip() == "":  # allow a trailing ";"
        rows = rows[:-1]
    parsed: list[list[float]] = []
    for r, row in enumerate(rows):
        cells = row.strip().split(",") if "," in row else row.split()
        if len(cells) == 0 or (len(cells) == 1 and cells[0].strip() == ""):
            raise ExplainError("err_empty_row", name=name, row=r)
        parsed.append([_parse_number(cell, name, r, j) for j, cell in enumerate(cells)])
    for r, values in enumerate(parsed):
        if len(values) != len(parsed[0]):
            raise ExplainError("err_ragged", name=name, row=r, got=len(values), first=len(parsed[0]))
    return np.array(parsed, dtype=np.float64)  # (rows, cols)


def parse_array(text: str, name: str = "matrix") -> np.ndarray:
    """Parse a matrix typed as text.

    Rows are separated by ``;`` and values by ``,`` (or spaces): ``"1,0,1;0,1,0"`` is a
    2x3 matrix.  ``|`` separates channels, so ``"R|G|B"`` with three matrices of the same
    shape gives an (H, W, 3) colour image.  A single row (``"2.0,1.0,0.1"``) is a 1xN matrix.

    Parameters
    ----------
    text : str
        The matrix as text.
    name : str
        What the matrix is (used in error messages), e.g. ``"--kernel"``.

    Returns
    -------
    numpy.ndarray
        float64 array, shape (rows, cols) or (rows, cols, channels).

    Raises
    ------
    ExplainError
        Empty text, a value that is not a number or not finite, rows of different lengths,
        or channels of different shapes.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_array expects a string such as '1,0;0,1'; got {type(text).__name__}")
    if text.strip() == "":
        raise ExplainError("err_empty_matrix", name=name)
    channels = text.split("|")
    mats = [_parse_matrix_text(ch, name if len(channels) == 1 else f"{name}[{c}]") for c, ch in enumerate(channels)]
    if len(mats) == 1:
        return mats[0]
    for c, m in enumerate(mats):
        if m.shape != mats[0].shape:
            raise ExplainError("err_channel_shape", name=name, channel=c, got=m.shape, first=mats[0].shape)
    return np.stack(mats, axis=-1)  # (rows, cols, channels)


def load_array(source: Any, name: str = "matrix") -> np.ndarray:
    """Turn a matrix given as text, a file path or an array into a float64 array.

    Parameters
    ----------
    source : str or os.PathLike or array_like
        Text such as ``"1,0,1;0,1,0"`` (see :func:`parse_array`); a path to a ``.npy`` file
        (read with ``allow_pickle=False``), or to a ``.txt`` / ``.csv`` file of rows of
        numbers (commas or spaces between values); or anything ``numpy.asarray`` accepts.
    name : str
        What the matrix is, for error messages.

    Returns
    -------
    numpy.ndarray
        float64 array.

    Raises
    ------
    ExplainError
        Missing file, unknown file type, unreadable or non-numeric contents, values that are
        not finite.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        return _load_file(os.fspath(source), name)
    if isinstance(source, str):
        return parse_array(source, name)
    try:
        arr = np.asarray(source, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExplainError("err_not_numeric_array", name=name) from None
    if arr.size and not np.all(np.isfinite(arr)):
        raise ExplainError("err_array_not_finite", name=name)
    return arr


_FILE_SUFFIXES = (".npy", ".txt", ".csv")


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith(_FILE_SUFFIXES) or os.path.exists(text) and not any(c in text for c in ",;|")


def _load_file(path: str, name: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise ExplainError("err_no_file", name=name, path=path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npy":
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic != b"\x93NUMPY":
            raise ExplainError("err_not_npy", name=name, path=path)
        try:
            arr = np.load(path, allow_pickle=False)
        except ValueError as exc:
            if "pickle" in str(exc):  # object arrays need pickle, which is refused
                raise ExplainError("err_npy_pickle", name=name, path=path) from None
            raise ExplainError("err_bad_file", name=name, path=path, reason=str(exc)) from None
        except (OSError, EOFError) as exc:
            raise ExplainError("err_bad_file", name=name, path=path, reason=str(exc)) from None
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
            raise ExplainError("err_npy_dtype", name=name, path=path, dtype=getattr(arr, "dtype", type(arr).__name__))
        arr = arr.astype(np.float64)
        if arr.size and not np.all(np.isfinite(arr)):
            raise ExplainError("err_array_not_finite", name=name)
        return arr
    if suffix in (".txt", ".csv"):
        try:
            with open(path, encoding="utf-8") as fh:
                lines = [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
        except UnicodeDecodeError:
            raise ExplainError("err_not_utf8", name=name, path=path) from None
        except OSError as exc:
            raise ExplainError("err_bad_file", name=name, path=path, reason=str(exc)) from None
        if not lines:
            raise ExplainError("err_empty_matrix", name=f"{name} ({path})")
        return _parse_matrix_text(";".join(lines), f"{name} ({path})")
    raise ExplainError("err_file_type", name=name, path=path)


# --------------------------------------------------------------------------------------
# Argument checks shared by the walk-throughs
# --------------------------------------------------------------------------------------
def _as_matrix(x: Any, name: str, ndim: int = 2) -> np.ndarray:
    arr = load_array(x, name)
    if arr.ndim != ndim:
        raise ExplainError("err_ndim", name=name, ndim=ndim, shape=tuple(arr.shape))
    if arr.size == 0:
        raise ExplainError("err_empty_matrix", name=name)
    return arr


def _as_vector(x: Any, name: str) -> np.ndarray:
    arr = load_array(x, name)
    if arr.ndim == 2 and 1 in arr.shape:  # "1,2,3" parses as a 1x3 matrix
        arr = arr.reshape(-1)  # (n,)
    if arr.ndim != 1:
        raise ExplainError("err_vector", name=name, shape=tuple(arr.shape))
    if arr.size == 0:
        raise ExplainError("err_empty_matrix", name=name)
    return arr


def _pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """Read an int or a pair of ints (``2``, ``(2, 1)``, ``"2"``, ``"2,1"``)."""
    raw = value
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if not all(parts):
            raise ExplainError("err_int_pair", name=name, value=raw)
        value = parts
    if isinstance(value, (int, np.integer, float, np.floating)) and not isinstance(value, bool):
        value = [value]
    try:
        items = list(value)
    except TypeError:
        raise ExplainError("err_int_pair", name=name, value=raw) from None
    if len(items) not in (1, 2):
        raise ExplainError("err_int_pair", name=name, value=raw)
    out = []
    for item in items:
        if isinstance(item, bool):
            raise ExplainError("err_int_pair", name=name, value=raw)
        try:
            f = float(item)
        except (TypeError, ValueError):
            raise ExplainError("err_int_pair", name=name, value=raw) from None
        if not math.isfinite(f) or f != int(f):
            raise ExplainError("err_int_pair", name=name, value=raw)
        if int(f) < minimum:
            raise ExplainError("err_too_small", name=name, value=raw, minimum=minimum)
        out.append(int(f))
    return (out[0], out[0]) if len(out) == 1 else (out[0], out[1])


def _padding(value: Any) -> str | int:
    if isinstance(value, str):
        v = value.strip().lower()
        if v in ("valid", "same"):
            return v
        try:
            value = int(v)
        except ValueError:
            raise ExplainError("err_padding", value=value) from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ExplainError("err_padding", value=value)
    if value < 0:
        raise ExplainError("err_padding", value=value)
    return int(value)


# --------------------------------------------------------------------------------------
# Output size formulas
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutputSize:
    """How one axis (height or width) of a sliding-window output gets its size.

    Attributes
    ----------
    n, k, s : int
        Input size, window (kernel) size and stride along this axis.
    padding : str or int
        ``"valid"``, ``"same"`` or an explicit number of zeros on each side.
    pad_before, pad_after : int
        Zeros added before (top/left) and after (bottom/right).
    out : int
        The output size.
    """

    n: int
    k: int
    s: int
    padding: str | int
    pad_before: int
    pad_after: int
    out: int

    @property
    def pad_total(self) -> int:
        return self.pad_before + self.pad_after


def output_size(n: int, k: int, s: int, padding: str | int = "valid") -> OutputSize:
    """Output size of a sliding window along one axis.

    ``"valid"`` and an explicit padding ``p`` use ``out = floor((n + 2p - k) / s) + 1``
    (``p = 0`` for ``"valid"``).  ``"same"`` follows Keras/TensorFlow: ``out = ceil(n / s)``,
    total padding ``max((out - 1) * s + k - n, 0)``, the smaller half before (top/left) and
    the larger half after (bottom/right).

    Parameters
    ----------
    n, k, s : int
        Input size, window size, stride (all >= 1).
    padding : {"valid", "same"} or int
        Padding mode or zeros on each side.

    Returns
    -------
    OutputSize

    Raises
    ------
    ExplainError
        If the window is larger than the (padded) input.
    """
    padding = _padding(padding)
    if padding == "same":
        out = -(-n // s)  # ceil(n / s) with integers only
        total = max((out - 1) * s + k - n, 0)
        before = total // 2
        return OutputSize(n, k, s, padding, before, total - before, out)
    p = 0 if padding == "valid" else padding
    if n + 2 * p < k:
        raise ExplainError("err_kernel_too_big_axis", n=n, p=p, k=k, padded=n + 2 * p)
    return OutputSize(n, k, s, padding, p, p, (n + 2 * p - k) // s + 1)


# --------------------------------------------------------------------------------------
# Input layer: 0..255 pixels -> 0..1
# --------------------------------------------------------------------------------------
class _Renderable:
    """Shared ``to_text`` / ``to_figure`` plumbing; subclasses name their renderers."""

    _text_renderer = ""
    _figure_renderer = ""

    def to_text(self, lang: str | None = None, color: bool = False, **options: Any) -> str:
        """Explain this step as text.

        Parameters
        ----------
        lang : {"en", "zh"}, optional
            Language; default: from the locale (see :func:`convlearn.explain.i18n.resolve_lang`).
        color : bool
            Highlight with ANSI colours (for terminals) instead of ``[brackets]``.
        **options
            Extra options of the renderer (``steps_in_full`` for convolution).

        Returns
        -------
        str
        """
        from . import render_text

        return getattr(render_text, self._text_renderer)(self, resolve_lang(lang), color=color, **options)

    def figure(self, lang: str | None = None, **options: Any) -> Any:
        """Draw this step as a matplotlib Figure (needs ``pip install "convlearn[plot]"``)."""
        from . import render_figures

        return getattr(render_figures, self._figure_renderer)(self, resolve_lang(lang), **options)

    def to_figure(self, path: str | os.PathLike, lang: str | None = None, dpi: int = 100, **options: Any) -> str:
        """Save this step as a PNG figure; returns the path written.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the PNG (written atomically).
        lang : {"en", "zh"}, optional
            Language of the labels; default: from the locale.
        dpi : int
            Pixels per inch; the figure sizes are given in inches in ``render_figures``.

        Raises
        ------
        ImportError
            If matplotlib is not installed.
        """
        from . import render_figures

        fig = self.figure(lang=lang, **options)
        return render_figures.save_png(fig, path, dpi=dpi)


@dataclass
class InputWalkthrough(_Renderable):
    """Normalising raw pixels (0..255) to the range 0..1.

    Attributes
    ----------
    pixels : numpy.ndarray
        Raw pixels, shape (H, W) for grayscale or (H, W, 3) for RGB.
    normalized : numpy.ndarray
        ``pixels / 255``, same shape.
    kind : {"grayscale", "rgb"}
    made_up : bool
        True for the built-in examples (their values are invented, see the module docstring).
    """

    pixels: np.ndarray
    normalized: np.ndarray
    kind: str
    made_up: bool = False

    _text_renderer = "input_text"
    _figure_renderer = "input_figure"

    @property
    def channels(self) -> int:
        return 1 if self.pixels.ndim == 2 else self.pixels.shape[2]


def explain_input(pixels: Any = None) -> InputWalkthrough:
    """Walk through the input layer: divide 0..255 pixels by 255.

    Parameters
    ----------
    pixels : array_like or str, optional
        Grayscale (H, W) or RGB (H, W, 3) pixels in 0..255 (text, file or array; see
        :func:`load_array`).  Default: :data:`DEFAULT_GRAY_PIXELS`.  Pass
        :data:`DEFAULT_RGB_PIXELS` for the colour example.

    Returns
    -------
    InputWalkthrough

    Raises
    ------
    ExplainError
        Wrong number of dimensions or channels, or values outside 0..255.
    """
    raw = DEFAULT_GRAY_PIXELS if pixels is None else load_array(pixels, "pixels")
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]  # (H, W)
    if raw.ndim not in (2, 3) or raw.size == 0:
        raise ExplainError("err_pixels_ndim", shape=tuple(raw.shape))
    if raw.ndim == 3 and raw.shape[2] != 3:
        raise ExplainError("err_pixels_channels", channels=raw.shape[2], shape=tuple(raw.shape))
    if raw.min() < 0 or raw.max() > 255:
        raise ExplainError("err_pixels_range", low=_num(raw.min()), high=_num(raw.max()))
    raw = np.array(raw, dtype=np.float64)
    normalized = np.empty_like(raw)
    for idx in np.ndindex(raw.shape):  # one pixel at a time, as on paper
        normalized[idx] = raw[idx] / 255.0
    made_up = any(
        raw.shape == d.shape and np.array_equal(raw, d)
        for d in (DEFAULT_GRAY_PIXELS, DEFAULT_RGB_PIXELS, DEFAULT_IMAGE * 255.0)
    )
    return InputWalkthrough(raw, normalized, "grayscale" if raw.ndim == 2 else "rgb", made_up)


def _num(x: float) -> str:
    from .render_text import fmt_number

    return fmt_number(x)


# --------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------
@dataclass
class ConvStep:
    """One position of the filter on the (padded) image.

    Attributes
    ----------
    index : int
        Step number, 0-based, row by row.
    out_row, out_col : int
        The feature-map cell this step fills.
    top, left : int
        Top-left corner of the window in the padded image.
    window : numpy.ndarray
        The pixels under the filter, shape (kh, kw).
    products : numpy.ndarray
        ``window * kernel`` element by element, shape (kh, kw).
    total : float
        The sum of the products: the value written to ``output[out_row, out_col]``.
    """

    index: int
    out_row: int
    out_col: int
    top: int
    left: int
    window: np.ndarray
    products: np.ndarray
    total: float

    @property
    def rows(self) -> range:
        """Rows of the padded image covered by the window."""
        return range(self.top, self.top + self.window.shape[0])

    @property
    def cols(self) -> range:
        """Columns of the padded image covered by the window."""
        return range(self.left, self.left + self.window.shape[1])


@dataclass
class ConvWalkthrough(_Renderable):
    """A 2-D convolution (cross-correlation, as in Keras' Conv2D) worked out step by step.

    Attributes
    ----------
    image : numpy.ndarray
        The input, shape (H, W).
    kernel : numpy.ndarray
        The filter, shape (kh, kw).
    stride : tuple of int
        (sh, sw).
    padding : str or int
        ``"valid"``, ``"same"`` or zeros on each side.
    size_h, size_w : OutputSize
        How the output height and width are obtained.
    padded : numpy.ndarray
        The image with its zero padding, shape (H + pad_top + pad_bottom, W + pad_left + pad_right).
    steps : list of ConvStep
        Every filter position, row by row.
    output : numpy.ndarray
        The feature map, shape (H_out, W_out).
    """

    image: np.ndarray
    kernel: np.ndarray
    stride: tuple[int, int]
    padding: str | int
    size_h: OutputSize
    size_w: OutputSize
    padded: np.ndarray
    steps: list[ConvStep] = field(default_factory=list)
    output: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    _text_renderer = "conv_text"
    _figure_renderer = "conv_figure"

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zeros added around the image."""
        return (self.size_h.pad_before, self.size_h.pad_after, self.size_w.pad_before, self.size_w.pad_after)

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def partial_output(self, upto: int) -> np.ndarray:
        """The feature map after steps 0..upto (NaN where not filled yet)."""
        part = np.full(self.output.shape, np.nan)
        for st in self.steps[: upto + 1]:
            part[st.out_row, st.out_col] = st.total
        return part

    def to_gif(self, path: str | os.PathLike, lang: str | None = None, dpi: int = 80, duration_ms: int = 900) -> str:
        """Save an animated GIF of the filter sliding over the image, one frame per step.

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the GIF (written atomically).
        lang : {"en", "zh"}, optional
            Language of the labels; default: from the locale.
        dpi : int
            Pixels per inch of each frame.
        duration_ms : int
            How long each frame is shown.

        Returns
        -------
        str
            The path written.

        Raises
        ------
        ImportError
            If matplotlib or Pillow is not installed.
        """
        from . import render_figures

        return render_figures.conv_gif(self, path, resolve_lang(lang), dpi=dpi, duration_ms=duration_ms)


def explain_conv(
    image: Any = None,
    kernel: Any = None,
    stride: Any = 1,
    padding: Any = "valid",
) -> ConvWalkthrough:
    """Walk through a 2-D convolution, one filter position at a time.

    Parameters
    ----------
    image : array_like or str, optional
        2-D image (text such as ``"0,1;1,0"``, a file, or an array).  Default:
        :data:`DEFAULT_IMAGE`, a 6x6 "7" of 0/1 normalised pixels.
    kernel : array_like or str, optional
        2-D filter.  Default: :data:`DEFAULT_KERNEL`, a 3x3 vertical-edge filter.
    stride : int or (int, int) or str
        Steps the filter moves down and right; ``"2,1"`` means 2 rows down, 1 column right.
    padding : {"valid", "same"} or int
        ``"valid"``: no padding; ``"same"``: Keras/TensorFlow padding giving
        ``ceil(n / stride)`` outputs; an int ``p``: ``p`` zeros on every side.

    Returns
    -------
    ConvWalkthrough

    Raises
    ------
    ExplainError
        Not a 2-D image or filter, a stride below 1 or not an integer, unknown padding, or a
        filter larger than the (padded) image.
    """
    img = DEFAULT_IMAGE if image is None else _as_matrix(image, "image")
    ker = DEFAULT_KERNEL if kernel is None else _as_matrix(kernel, "kernel")
    sh, sw = _pair(stride, "stride", 1)
    pad = _padding(padding)
    H, W = img.shape
    kh, kw = ker.shape
    if pad != "same":
        p = 0 if pad == "valid" else pad
        if H + 2 * p < kh or W + 2 * p < kw:
            if p == 0:
                raise ExplainError("err_kernel_too_big", kh=kh, kw=kw, h=H, w=W)
            raise ExplainError("err_kernel_too_big_padded", kh=kh, kw=kw, h=H, w=W, ph=H + 2 * p, pw=W + 2 * p, p=p)
    size_h = output_size(H, kh, sh, pad)
    size_w = output_size(W, kw, sw, pad)
    top, left = size_h.pad_before, size_w.pad_before
    padded = np.zeros((H + size_h.pad_total, W + size_w.pad_total))  # (H + pads, W + pads)
    padded[top : top + H, left : left + W] = img
    out = np.zeros((size_h.out, size_w.out))  # (H_out, W_out)
    steps = []
    for i in range(size_h.out):  # the filter moves down by sh rows ...
        for j in range(size_w.out):  # ... and right by sw columns
            r, c = i * sh, j * sw
            window = padded[r : r + kh, c : c + kw]  # (kh, kw)
            products = np.zeros_like(ker)  # (kh, kw)
            total = 0.0
            for a in range(kh):
                for b in range(kw):
                    products[a, b] = window[a, b] * ker[a, b]
                    total += products[a, b]
            out[i, j] = total
            steps.append(ConvStep(len(steps), i, j, r, c, window.copy(), products, float(total)))
    return ConvWalkthrough(np.array(img), np.array(ker), (sh, sw), pad, size_h, size_w, padded, steps, out)


# --------------------------------------------------------------------------------------
# Activation: ReLU
# --------------------------------------------------------------------------------------
@dataclass
class ReLUWalkthrough(_Renderable):
    """ReLU applied cell by cell: ``max(0, x)``.

    Attributes
    ----------
    input, output : numpy.ndarray
        Before and after, same shape.
    changed : numpy.ndarray of bool
        Cells that were negative and became 0.
    """

    input: np.ndarray
    output: np.ndarray
    changed: np.ndarray

    _text_renderer = "relu_text"
    _figure_renderer = "relu_figure"


def explain_relu(values: Any = None) -> ReLUWalkthrough:
    """Walk through the ReLU activation on a feature map.

    Parameters
    ----------
    values : array_like or str, optional
        A 2-D feature map.  Default: the feature map of :func:`explain_conv` with its defaults.

    Returns
    -------
    ReLUWalkthrough

    Raises
    ------
    ExplainError
        If ``values`` is not a non-empty 2-D matrix of numbers.
    """
    x = explain_conv().output if values is None else _as_matrix(values, "values")
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        out[idx] = x[idx] if x[idx] > 0 else 0.0  # max(0, x)
    return ReLUWalkthrough(np.array(x), out, x < 0)


# --------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------
@dataclass
class PoolStep:
    """One pooling window.

    Attributes
    ----------
    index, out_row, out_col, top, left : int
        As in :class:`ConvStep`.
    window : numpy.ndarray
        The values in the window, shape (ph, pw).
    value : float
        Its maximum (max pooling) or mean (average pooling).
    chosen : tuple of int or None
        For max pooling, the (row, col) inside the window of the first largest value.
    """

    index: int
    out_row: int
    out_col: int
    top: int
    left: int
    window: np.ndarray
    value: float
    chosen: tuple[int, int] | None


@dataclass
class PoolWalkthrough(_Renderable):
    """Max or average pooling (Keras MaxPool2D / AveragePooling2D, padding "valid").

    Attributes
    ----------
    input : numpy.ndarray
        Feature map, shape (H, W).
    mode : {"max", "avg"}
    pool_size, strides : tuple of int
    size_h, size_w : OutputSize
    steps : list of PoolStep
    output : numpy.ndarray
        Shape (H_out, W_out).
    """

    input: np.ndarray
    mode: str
    pool_size: tuple[int, int]
    strides: tuple[int, int]
    size_h: OutputSize
    size_w: OutputSize
    steps: list[PoolStep]
    output: np.ndarray

    _text_renderer = "pool_text"
    _figure_renderer = "pool_figure"

    def __len__(self) -> int:
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    @property
    def unused_rows(self) -> int:
        """Rows at the bottom that no window covers."""
        return self.input.shape[0] - ((self.size_h.out - 1) * self.strides[0] + self.pool_size[0])

    @property
    def unused_cols(self) -> int:
        """Columns at the right that no window covers."""
        return self.input.shape[1] - ((self.size_w.out - 1) * self.strides[1] + self.pool_size[1])

    def to_gif(self, path: str | os.PathLike, lang: str | None = None, dpi: int = 80, duration_ms: int = 1000) -> str:
        """Save an animated GIF of the pooling window, one frame per window (see ConvWalkthrough.to_gif)."""
        from . import render_figures

        return render_figures.pool_gif(self, path, resolve_lang(lang), dpi=dpi, duration_ms=duration_ms)


def explain_pool(values: Any = None, pool_size: Any = 2, strides: Any = None, mode: str = "max") -> PoolWalkthrough:
    """Walk through max or average pooling.

    Parameters
    ----------
    values : array_like or str, optional
        2-D feature map.  Default: the ReLU output of the default convolution.
    pool_size : int or (int, int) or str
        Window size (default 2, as in the guide).
    strides : int or (int, int) or str, optional
        Window step; default: ``pool_size`` (as in Keras).
    mode : {"max", "avg"}
        Maximum or mean of each window.

    Returns
    -------
    PoolWalkthrough

    Raises
    ------
    ExplainError
        Unknown mode, sizes below 1 or not integers, or a window larger than the input.
    """
    if not isinstance(mode, str) or mode.lower() not in ("max", "avg", "average"):
        raise ExplainError("err_pool_mode", value=mode)
    mode = "max" if mode.lower() == "max" else "avg"
    x = explain_relu().output if values is None else _as_matrix(values, "values")
    ph, pw = _pair(pool_size, "pool_size", 1)
    sh, sw = (ph, pw) if strides is None else _pair(strides, "pool_strides", 1)
    H, W = x.shape
    if ph > H or pw > W:
        raise ExplainError("err_pool_too_big", ph=ph, pw=pw, h=H, w=W)
    size_h = output_size(H, ph, sh, "valid")
    size_w = output_size(W, pw, sw, "valid")
    out = np.zeros((size_h.out, size_w.out))  # (H_out, W_out)
    steps = []
    for i in range(size_h.out):
        for j in range(size_w.out):
            r, c = i * sh, j * sw
            window = x[r : r + ph, c : c + pw]  # (ph, pw)
            if mode == "max":
                best, chosen = window[0, 0], (0, 0)
                for a in range(ph):
                    for b in range(pw):
                        if window[a, b] > best:
                            best, chosen = window[a, b], (a, b)
                value = float(best)
            else:
                total = 0.0
                for a in range(ph):
                    for b in range(pw):
                        total += window[a, b]
                value, chosen = float(total / (ph * pw)), None
            out[i, j] = value
            steps.append(PoolStep(len(steps), i, j, r, c, window.copy(), value, chosen))
    return PoolWalkthrough(np.array(x), mode, (ph, pw), (sh, sw), size_h, size_w, steps, out)


# --------------------------------------------------------------------------------------
# Flatten, Dense, Softmax
# --------------------------------------------------------------------------------------
@dataclass
class FlattenWalkthrough(_Renderable):
    """Flatten: the rows of a matrix one after another (row-major, like Keras Flatten).

    Attributes
    ----------
    input : numpy.ndarray
        Shape (H, W).
    output : numpy.ndarray
        Shape (H * W,); ``output[r * W + c] == input[r, c]``.
    """

    input: np.ndarray
    output: np.ndarray

    _text_renderer = "flatten_text"
    _figure_renderer = "flatten_figure"


def explain_flatten(values: Any = None) -> FlattenWalkthrough:
    """Walk through Flatten.

    Parameters
    ----------
    values : array_like or str, optional
        2-D matrix.  Default: the pooled map of the default example.

    Returns
    -------
    FlattenWalkthrough

    Raises
    ------
    ExplainError
        If ``values`` is not a non-empty 2-D matrix.
    """
    x = explain_pool().output if values is None else _as_matrix(values, "values")
    out = []
    for r in range(x.shape[0]):
        for c in range(x.shape[1]):
            out.append(x[r, c])
    return FlattenWalkthrough(np.array(x), np.array(out, dtype=np.float64))  # (H * W,)


@dataclass
class DenseWalkthrough(_Renderable):
    """A fully connected layer: ``z_j = sum_i x_i * w_ij + b_j``.

    Attributes
    ----------
    inputs : numpy.ndarray
        Shape (n,).
    weights : numpy.ndarray
        Keras layout, shape (n, units).
    bias : numpy.ndarray
        Shape (units,).
    terms : numpy.ndarray
        ``x_i * w_ij``, shape (n, units).
    outputs : numpy.ndarray
        Shape (units,).
    names : tuple of str
        A name per unit (class names for an output layer).
    """

    inputs: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    terms: np.ndarray
    outputs: np.ndarray
    names: tuple[str, ...]
    made_up: bool = False

    _text_renderer = "dense_text"
    _figure_renderer = "dense_figure"


def _default_weights(n: int, units: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = np.round(rng.uniform(-0.5, 0.5, size=(n, units)), 1)  # (n, units)
    b = np.round(rng.uniform(-0.2, 0.2, size=units), 1)  # (units,)
    return w + 0.0, b + 0.0  # "+ 0.0" turns -0.0 into 0.0


def explain_dense(
    inputs: Any = None,
    weights: Any = None,
    bias: Any = None,
    names: Sequence[str] | None = None,
    seed: int = 0,
) -> DenseWalkthrough:
    """Walk through a dense (fully connected) layer with numbers.

    Parameters
    ----------
    inputs : array_like or str, optional
        1-D vector.  Default: the flattened pooled map of the default example.
    weights : array_like or str, optional
        Shape (len(inputs), units), Keras layout.  Default: :data:`DEFAULT_DENSE_WEIGHTS` when
        there are 4 inputs, else made-up weights from ``seed`` (3 units), rounded to 0.1.
    bias : array_like or str, optional
        Shape (units,).  Default: :data:`DEFAULT_DENSE_BIAS` with the default weights, else
        made up from ``seed`` (or zeros when ``weights`` is given).
    names : sequence of str, optional
        A name per unit.  Default: "1", "4", "7" for 3 units, else "0", "1", ...
    seed : int
        Seed for the made-up weights.

    Returns
    -------
    DenseWalkthrough

    Raises
    ------
    ExplainError
        Shapes that do not fit together, or a wrong number of names.
    """
    x = explain_flatten().output if inputs is None else _as_vector(inputs, "inputs")
    made_up = weights is None
    if weights is None:
        if x.shape[0] == DEFAULT_DENSE_WEIGHTS.shape[0]:
            w, b_default = DEFAULT_DENSE_WEIGHTS, DEFAULT_DENSE_BIAS
        else:
            w, b_default = _default_weights(x.shape[0], 3, seed)
    else:
        w = _as_matrix(weights, "weights")
        if w.ndim == 2 and w.shape[0] == 1 and x.shape[0] != 1 and w.shape[1] == x.shape[0]:
            w = w.T  # a single unit typed as one row: (1, n) -> (n, 1)
        b_default = np.zeros(w.shape[1])
    if w.shape[0] != x.shape[0]:
        raise ExplainError("err_dense_weights", n=x.shape[0], shape=tuple(w.shape))
    units = w.shape[1]
    b = b_default if bias is None else _as_vector(bias, "bias")
    if b.shape[0] != units:
        raise ExplainError("err_dense_bias", units=units, got=b.shape[0])
    if names is None:
        names = DEFAULT_CLASS_NAMES if units == len(DEFAULT_CLASS_NAMES) else tuple(str(i) for i in range(units))
    names = tuple(str(n) for n in names)
    if len(names) != units:
        raise ExplainError("err_names", units=units, got=len(names))
    terms = np.zeros((x.shape[0], units))  # (n, units)
    z = np.zeros(units)  # (units,)
    for j in range(units):
        total = 0.0
        for i in range(x.shape[0]):
            terms[i, j] = x[i] * w[i, j]
            total += terms[i, j]
        z[j] = total + b[j]
    return DenseWalkthrough(np.array(x), np.array(w), np.array(b), terms, z, names, made_up)


@dataclass
class SoftmaxWalkthrough(_Renderable):
    """Softmax: ``p_i = exp(z_i - m) / sum_j exp(z_j - m)``.

    Attributes
    ----------
    scores : numpy.ndarray
        The scores ``z``, shape (m,).
    shift : float
        ``m``: 0 when the scores are small, else ``max(z)`` (subtracting it changes nothing
        in the result and keeps ``exp`` from overflowing).
    exps : numpy.ndarray
        ``exp(z - shift)``.
    total : float
        Their sum.
    probs : numpy.ndarray
        ``exps / total``; they add up to 1.
    names : tuple of str
    """

    scores: np.ndarray
    shift: float
    exps: np.ndarray
    total: float
    probs: np.ndarray
    names: tuple[str, ...]

    _text_renderer = "softmax_text"
    _figure_renderer = "softmax_figure"

    @property
    def predicted(self) -> int:
        """Index of the most probable class."""
        return int(np.argmax(self.probs))


#: Scores up to this size are exponentiated directly (readable); larger ones are shifted.
SOFTMAX_DIRECT_LIMIT = 30.0


def explain_softmax(scores: Any = None, names: Sequence[str] | None = None) -> SoftmaxWalkthrough:
    """Walk through softmax: scores -> exp -> sum -> divide.

    Parameters
    ----------
    scores : array_like or str, optional
        1-D scores.  Default: the outputs of :func:`explain_dense` with its defaults.
    names : sequence of str, optional
        A name per class.

    Returns
    -------
    SoftmaxWalkthrough

    Raises
    ------
    ExplainError
        Not a non-empty vector, or a wrong number of names.
    """
    if scores is None:
        dense = explain_dense()
        z = dense.outputs
        names = dense.names if names is None else names
    else:
        z = _as_vector(scores, "scores")
    if names is None:
        names = DEFAULT_CLASS_NAMES if z.shape[0] == len(DEFAULT_CLASS_NAMES) else tuple(str(i) for i in range(z.shape[0]))
    names = tuple(str(n) for n in names)
    if len(names) != z.shape[0]:
        raise ExplainError("err_names", units=z.shape[0], got=len(names))
    shift = float(np.max(z)) if np.max(np.abs(z)) > SOFTMAX_DIRECT_LIMIT else 0.0
    exps = np.array([math.exp(v - shift) for v in z])  # (m,)
    total = 0.0
    for e in exps:
        total += e
    probs = np.array([e / total for e in exps])  # (m,)
    return SoftmaxWalkthrough(np.array(z), shift, exps, float(total), probs, names)


# --------------------------------------------------------------------------------------
# The whole guide, one stage feeding the next
# --------------------------------------------------------------------------------------
@dataclass
class GuideWalkthrough:
    """The guide's pipeline: input -> convolution -> ReLU -> pooling -> flatten -> dense -> softmax.

    Attributes
    ----------
    input : InputWalkthrough
        Normalising the raw pixels of the image.
    rgb : InputWalkthrough
        The colour (RGB) example of the input layer.
    conv, relu, pool, flatten, dense, softmax
        The walk-throughs of each stage; each stage's input is the previous stage's output.
    """

    input: InputWalkthrough
    rgb: InputWalkthrough
    conv: ConvWalkthrough
    relu: ReLUWalkthrough
    pool: PoolWalkthrough
    flatten: FlattenWalkthrough
    dense: DenseWalkthrough
    softmax: SoftmaxWalkthrough

    STAGES = ("input", "conv", "relu", "pool", "flatten", "dense", "softmax")

    def to_text(self, lang: str | None = None, color: bool = False, steps_in_full: int | None = 2) -> str:
        """Explain every stage as text (see the stages' own ``to_text``)."""
        from . import render_text

        return render_text.guide_text(self, resolve_lang(lang), color=color, steps_in_full=steps_in_full)

    def figure(self, lang: str | None = None) -> Any:
        """One overview figure of the whole pipeline (a matplotlib Figure)."""
        from . import render_figures

        return render_figures.guide_figure(self, resolve_lang(lang))

    def to_figure(self, path: str | os.PathLike, lang: str | None = None, dpi: int = 100) -> str:
        """Save the overview figure as PNG; returns the path."""
        from . import render_figures

        return render_figures.save_png(self.figure(lang), path, dpi=dpi)

    def save_figures(self, directory: str | os.PathLike, lang: str | None = None, dpi: int = 100) -> list[str]:
        """Write every figure and GIF of the guide into ``directory``; returns the paths."""
        from . import render_figures

        return render_figures.save_guide_figures(self, directory, resolve_lang(lang), dpi=dpi)


def explain_guide(
    pixels: Any = None,
    image: Any = None,
    kernel: Any = None,
    stride: Any = 1,
    padding: Any = "valid",
    pool: str = "max",
    pool_size: Any = 2,
    pool_strides: Any = None,
    weights: Any = None,
    bias: Any = None,
    names: Sequence[str] | None = None,
    seed: int = 0,
) -> GuideWalkthrough:
    """Walk through the whole guide, each stage fed by the one before.

    Parameters
    ----------
    pixels : array_like or str, optional
        Raw 0..255 grayscale pixels.  When given (and ``image`` is not), the convolution
        runs on ``pixels / 255``.  Default: the default image times 255.
    image : array_like or str, optional
        The (normalised) image to convolve; default :data:`DEFAULT_IMAGE`.
    kernel, stride, padding
        As in :func:`explain_conv`.
    pool, pool_size, pool_strides
        As ``mode``, ``pool_size`` and ``strides`` of :func:`explain_pool`.
    weights, bias, names, seed
        As in :func:`explain_dense`.

    Returns
    -------
    GuideWalkthrough

    Raises
    ------
    ExplainError
        As the stages do; also if the pooling window does not fit the feature map.
    """
    if pixels is not None:
        inp = explain_input(pixels)
        if inp.kind != "grayscale" and image is None:
            raise ExplainError("err_guide_gray")
    elif image is None:
        inp = explain_input(DEFAULT_IMAGE * 255.0)
    else:
        inp = explain_input(DEFAULT_GRAY_PIXELS)
    if image is None:
        image = inp.normalized
    conv = explain_conv(image, kernel, stride, padding)
    relu = explain_relu(conv.output)
    pool_walk = explain_pool(relu.output, pool_size, pool_strides, pool)
    flat = explain_flatten(pool_walk.output)
    dense = explain_dense(flat.output, weights, bias, names, seed)
    soft = explain_softmax(dense.outputs, dense.names)
    return GuideWalkthrough(inp, explain_input(DEFAULT_RGB_PIXELS), conv, relu, pool_walk, flat, dense, soft)
