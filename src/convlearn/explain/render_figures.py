"""PNG figures and animated GIFs of the walk-throughs (matplotlib + Pillow, imported lazily).

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly, without
pyplot, so drawing them never changes the user's matplotlib backend.  Every figure has a
fixed size in inches (:data:`FIGURE_SIZES`): at ``dpi`` pixels per inch a PNG is
``width * dpi`` by ``height * dpi`` pixels.  Matrices are drawn on one "board" measured in
cells, so that arrows and highlights line up across panels.

Chinese labels use the font subset shipped in ``fonts/`` (Noto Sans CJK SC, SIL OFL 1.1),
registered with matplotlib's font manager the first time a figure is drawn.
"""

from __future__ import annotations

import io
import os
import textwrap
from typing import Any, Sequence

import numpy as np

from .._io import atomic_write_bytes

from .i18n import FONT_FAMILY, FONT_FILES, tr
from .render_text import fmt_number

__all__ = [
    "FIGURE_SIZES",
    "font_path",
    "input_figure",
    "conv_figure",
    "conv_step_figure",
    "conv_gif",
    "relu_figure",
    "pool_figure",
    "pool_gif",
    "flatten_figure",
    "dense_figure",
    "softmax_figure",
    "guide_figure",
    "new_figure",
    "figure_fonts",
    "save_png",
    "save_guide_figures",
    "write_atomic",
]

#: Size in inches (width, height) of each kind of figure.
FIGURE_SIZES = {
    "input_gray": (12.0, 5.0),
    "input_rgb": (13.0, 7.5),
    "conv": (13.0, 5.5),
    "conv_step": (13.0, 5.5),
    "relu": (12.0, 5.0),
    "pool": (12.0, 5.5),
    "pool_step": (12.0, 5.5),
    "dense": (13.0, 6.0),
    "flatten": (12.0, 5.0),
    "softmax": (12.0, 5.0),
    "guide": (16.0, 5.5),
}

_INSTALL_HINT = 'Figures need matplotlib and Pillow: pip install "convlearn[plot]"'

# Colours
_WINDOW_EDGE = "#1a9641"
_WINDOW_FILL = "#a6dba0"
_TARGET_EDGE = "#e66101"
_TARGET_FILL = "#fdd49e"
_PAD_FILL = "#dddddd"
_GRID = "#444444"
_LABEL = "#888888"
_POS = np.array([0.84, 0.38, 0.30])  # warm red for positive values
_NEG = np.array([0.26, 0.52, 0.78])  # cool blue for negative values
_WINDOW_COLOURS = ["#1a9641", "#7b3294", "#0571b0", "#e66101", "#a6611a", "#d01c8b", "#018571", "#5e3c99"]

_font_registered = False


# --------------------------------------------------------------------------------------
# matplotlib plumbing
# --------------------------------------------------------------------------------------
def _mpl() -> Any:
    """Import matplotlib (and check Pillow), with a helpful error when missing."""
    try:
        import matplotlib
        import PIL  # noqa: F401  (PNG/GIF writing)
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return matplotlib


def font_path(style: str = "Regular") -> str:
    """Path of the shipped CJK font subset, ``style`` "Regular" or "Bold"."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "fonts", FONT_FILES[style])


def _families(lang: str) -> list[str]:
    """Font families for ``lang``, best first; matplotlib falls back glyph by glyph."""
    global _font_registered
    _mpl()
    if not _font_registered:
        from matplotlib import font_manager

        for style in FONT_FILES:
            path = font_path(style)
            if os.path.isfile(path):
                font_manager.fontManager.addfont(path)
        _font_registered = True
    return [FONT_FAMILY, "DejaVu Sans"] if lang == "zh" else ["DejaVu Sans", FONT_FAMILY]


def _new_figure(kind: str, lang: str) -> Any:
    """A blank Agg figure of the size registered for ``kind``, using the fonts of ``lang``."""
    return new_figure(FIGURE_SIZES[kind], lang)


def new_figure(size: tuple[float, float], lang: str) -> Any:
    """A blank Agg figure of ``size`` inches whose text uses the fonts of ``lang``.

    Save it with :func:`save_png`, which draws its text with the same fonts (the shipped CJK
    subset for Chinese).  Raises ImportError without matplotlib.
    """
    matplotlib = _mpl()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    families = _families(lang)
    with matplotlib.rc_context({"font.family": families, "axes.unicode_minus": False}):
        fig = Figure(figsize=size, facecolor="white")
    FigureCanvasAgg(fig)
    fig._convlearn_families = families  # type: ignore[attr-defined]
    return fig


class _Fonts:
    """Context manager: new text artists get the figure's font families."""

    def __init__(self, fig: Any) -> None:
        self.fig = fig
        self._ctx: Any = None

    def __enter__(self) -> None:
        import matplotlib

        self._ctx = matplotlib.rc_context(
            {"font.family": self.fig._convlearn_families, "axes.unicode_minus": False, "hatch.linewidth": 0.6}
        )
        self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)


def figure_fonts(fig: Any) -> Any:
    """Context manager: text drawn inside it on ``fig`` (made by :func:`new_figure`) gets its fonts."""
    return _Fonts(fig)


def save_png(fig: Any, path: str | os.PathLike, dpi: int = 100) -> str:
    """Write ``fig`` as a PNG, atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or os.PathLike
    dpi : int
        Pixels per inch: the PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    str
        The path written.
    """
    path = os.fspath(path)
    data = io.BytesIO()
    with _Fonts(fig):
        fig.savefig(data, format="png", dpi=dpi, facecolor="white")
    write_atomic(path, data.getvalue())
    return path


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The folder is created when missing; the writing itself is the package's
    shared :func:`convlearn._io.atomic_write_bytes`.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_bytes(path, data)


def _to_image(fig: Any, dpi: int) -> Any:
    """Render a figure to a Pillow RGB image."""
    from PIL import Image

    buf = io.BytesIO()
    with _Fonts(fig):
        fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _steps_gif(draw: Any, walk: Any, path: str | os.PathLike, lang: str, dpi: int, duration_ms: int) -> str:
    """A GIF with one frame per step of ``walk``, frame ``t`` drawn by ``draw(walk, t, lang)``."""
    _mpl()
    from PIL import Image

    frames = (draw(walk, t, lang) for t in range(len(walk.steps)))
    images = [_to_image(fig, dpi).convert("P", palette=Image.Palette.ADAPTIVE, colors=255) for fig in frames]
    data = io.BytesIO()
    images[0].save(
        data,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=int(duration_ms),
        loop=0,
        disposal=1,
    )
    path = os.fspath(path)
    write_atomic(path, data.getvalue())
    return path


# --------------------------------------------------------------------------------------
# The board: one axes measured in matrix cells (y grows downwards)
# --------------------------------------------------------------------------------------
def _mix(colour: np.ndarray, amount: float) -> tuple[float, float, float]:
    """``colour`` blended with white; amount 0 gives white, 1 the colour."""
    amount = float(np.clip(amount, 0.0, 1.0))
    rgb = 1.0 - amount * (1.0 - colour)
    return (float(rgb[0]), float(rgb[1]), float(rgb[2]))


def _value_fill(v: float, vmax: float) -> tuple[float, float, float]:
    if not np.isfinite(v) or vmax <= 0:
        return (1.0, 1.0, 1.0)
    t = v / vmax
    return _mix(_POS if t > 0 else _NEG, 0.75 * min(abs(t), 1.0))


def _gray_fill(v: float, lo: float, hi: float) -> tuple[float, float, float]:
    g = 0.5 if hi <= lo else float(np.clip((v - lo) / (hi - lo), 0.0, 1.0))
    return (g, g, g)


class _Board:
    """One invisible axes spanning ``rect`` of the figure, in cell units."""

    def __init__(self, fig: Any, width: float, height: float, rect: Sequence[float] = (0.01, 0.12, 0.98, 0.76)):
        self.fig = fig
        ax = fig.add_axes(rect)
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_aspect("equal", adjustable="box")
        ax.axis("off")
        self.ax = ax
        fw, fh = fig.get_size_inches()
        scale = min(fw * rect[2] / width, fh * rect[3] / height)  # inches per cell
        self.cell_pt = scale * 72.0

    def font(self, factor: float, lo: float = 5.0, hi: float = 22.0) -> float:
        return float(np.clip(self.cell_pt * factor, lo, hi))

    def text(self, x: float, y: float, s: str, factor: float = 0.4, **kw: Any) -> Any:
        kw.setdefault("ha", "center")
        kw.setdefault("va", "center")
        return self.ax.text(x, y, s, fontsize=self.font(factor, hi=kw.pop("hi", 22.0)), **kw)

    def matrix(
        self,
        values: np.ndarray,
        x: float,
        y: float,
        title: str | None = None,
        fills: str = "value",
        marks: dict[tuple[int, int], str] | None = None,
        labels: bool = True,
        digits: int = 3,
        pad_mask: np.ndarray | None = None,
        vmax: float | None = None,
        edge_colours: dict[tuple[int, int], str] | None = None,
        numbers: bool = True,
        tint: np.ndarray | None = None,
    ) -> None:
        """Draw a matrix with its top-left corner at (x, y).

        ``fills``: ``"value"`` (red/blue by sign and size), ``"gray"`` (pixel brightness) or
        ``"none"``; ``tint``: an RGB colour, cells get more of it the larger ``v / vmax``.  ``marks``: ``{(r, c): "window" | "target" | "chosen"}``.
        """
        from matplotlib import colors as matplotlib_colors
        from matplotlib.patches import Rectangle

        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]  # (1, n)
        rows, cols = values.shape
        marks = marks or {}
        finite = values[np.isfinite(values)]
        if vmax is None:
            vmax = float(np.max(np.abs(finite))) if finite.size else 1.0
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 1.0
        if fills == "gray" and lo >= 0 and hi <= 1:
            lo, hi = 0.0, 1.0
        texts = [[fmt_number(values[r, c], digits) for c in range(cols)] for r in range(rows)]
        longest = max(len(t) for row in texts for t in row)
        size = min(self.font(0.42), self.cell_pt * 1.45 / max(longest, 1))
        show_numbers = numbers and size >= 5.0
        for r in range(rows):
            for c in range(cols):
                v = values[r, c]
                kind = marks.get((r, c))
                if pad_mask is not None and pad_mask[r, c]:
                    face = _PAD_FILL
                elif fills == "gray":
                    face = _gray_fill(v, lo, hi) if np.isfinite(v) else (1, 1, 1)
                elif tint is not None:
                    face = _mix(tint, 0.7 * float(np.clip(v / vmax, 0, 1))) if np.isfinite(v) else (1, 1, 1)
                elif fills == "value":
                    face = _value_fill(v, vmax)
                else:
                    face = (1, 1, 1)
                if kind == "target" and fills != "gray":
                    face = _TARGET_FILL
                self.ax.add_patch(
                    Rectangle((x + c, y + r), 1, 1, facecolor=face, edgecolor=_GRID, linewidth=0.6,
                              hatch="//" if pad_mask is not None and pad_mask[r, c] else None)
                )
                shown = np.array(matplotlib_colors.to_rgb(face))
                if kind == "window":
                    self.ax.add_patch(Rectangle((x + c, y + r), 1, 1, facecolor=_WINDOW_FILL, alpha=0.75, linewidth=0))
                    shown = 0.25 * shown + 0.75 * np.array(matplotlib_colors.to_rgb(_WINDOW_FILL))
                if show_numbers and np.isfinite(v):
                    dark = float(shown @ np.array([0.299, 0.587, 0.114])) < 0.45
                    weight = "bold" if kind in ("target", "chosen") else "normal"
                    self.ax.text(x + c + 0.5, y + r + 0.52, texts[r][c], ha="center", va="center",
                                 fontsize=size, color="white" if dark else "black", fontweight=weight)
        for (r, c), kind in marks.items():
            if kind in ("target", "chosen"):
                self.ax.add_patch(Rectangle((x + c + 0.04, y + r + 0.04), 0.92, 0.92, fill=False,
                                            edgecolor=_TARGET_EDGE, linewidth=max(1.5, self.cell_pt / 14)))
        for (r, c), colour in (edge_colours or {}).items():
            self.ax.add_patch(Rectangle((x + c, y + r), 1, 1, fill=False, edgecolor=colour, linewidth=2.2))
        self.ax.add_patch(Rectangle((x, y), cols, rows, fill=False, edgecolor=_GRID, linewidth=1.2))
        if labels and self.cell_pt >= 12:
            lab = self.font(0.26, lo=5, hi=11)
            for c in range(cols):
                self.ax.text(x + c + 0.5, y - 0.22, str(c), ha="center", va="bottom", fontsize=lab, color=_LABEL)
            for r in range(rows):
                self.ax.text(x - 0.15, y + r + 0.5, str(r), ha="right", va="center", fontsize=lab, color=_LABEL)
        if title:
            self.ax.text(x + cols / 2, y - (0.75 if labels and self.cell_pt >= 12 else 0.3), title,
                         ha="center", va="bottom", fontsize=self.font(0.36, lo=8, hi=15), fontweight="bold")

    def window(self, x: float, y: float, rows: int, cols: int, colour: str = _WINDOW_EDGE, width: float | None = None) -> None:
        from matplotlib.patches import Rectangle

        lw = width if width is not None else max(2.0, self.cell_pt / 10)
        self.ax.add_patch(Rectangle((x, y), cols, rows, fill=False, edgecolor=colour, linewidth=lw, zorder=5))

    def arrow(self, x0: float, y0: float, x1: float, y1: float, colour: str = "#333333", rad: float = 0.0) -> None:
        from matplotlib.patches import FancyArrowPatch

        self.ax.add_patch(
            FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=max(10, self.cell_pt * 0.5),
                            color=colour, linewidth=max(1.2, self.cell_pt / 22),
                            connectionstyle=f"arc3,rad={rad}", zorder=6)
        )


def _title(fig: Any, text: str, sub: str | None = None) -> None:
    fig.text(0.5, 0.965, text, ha="center", va="top", fontsize=16, fontweight="bold")
    if sub:
        fig.text(0.5, 0.905, sub, ha="center", va="top", fontsize=12, color="#333333")


def _footer(fig: Any, lines: Sequence[str], y: float = 0.095, size: float = 11.0, width: int = 150) -> None:
    wrapped: list[str] = []
    for line in lines:
        wrapped.extend(textwrap.wrap(line, width=width) or [""])
    fig.text(0.03, y, "\n".join(wrapped), ha="left", va="top", fontsize=size, color="#222222", linespacing=1.5)


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(int(s)) for s in shape)


def _stride_text(stride: Sequence[int]) -> str:
    return str(stride[0]) if stride[0] == stride[1] else f"({stride[0]}, {stride[1]})"


def _padding_text(padding: Any) -> str:
    return f"'{padding}'" if isinstance(padding, str) else str(padding)


def _wrap_width(lang: str, base: int) -> int:
    return base // 2 + 10 if lang == "zh" else base


# --------------------------------------------------------------------------------------
# Input layer
# --------------------------------------------------------------------------------------
def input_figure(walk: Any, lang: str) -> Any:
    """Normalising pixels: the picture, its raw numbers and the numbers divided by 255."""
    if walk.kind == "rgb":
        return _input_rgb_figure(walk, lang)
    fig = _new_figure("input_gray", lang)
    with _Fonts(fig):
        raw, norm = walk.pixels, walk.normalized
        H, W = raw.shape
        width = 3 * W + 8.0
        board = _Board(fig, width, H + 1.6, rect=(0.02, 0.2, 0.96, 0.64))
        board.matrix(raw, 0.6, 1.3, tr("fig_picture", lang), fills="gray", labels=False, numbers=False)
        board.matrix(raw, W + 2.4, 1.3, tr("label_raw_pixels", lang), fills="gray", digits=0)
        board.text(2 * W + 4.15, 1.3 + H / 2 - 0.5, "÷ 255", factor=0.45, hi=18)
        board.arrow(2 * W + 3.0, 1.3 + H / 2, 2 * W + 5.3, 1.3 + H / 2)
        board.matrix(norm, 2 * W + 5.6, 1.3, tr("label_normalized", lang), fills="gray")
        _title(fig, tr("fig_input_gray_title", lang), tr("input_gray_heading", lang, shape=tuple(raw.shape)))
        from .render_text import _example_cells

        lines = [
            tr("input_example_cell", lang, row=r, col=c, raw=fmt_number(raw[r, c]), value=fmt_number(norm[r, c]))
            for r, c in _example_cells(raw)
        ]
        if walk.made_up:
            lines.append(tr("fig_made_up", lang))
        _footer(fig, ["    ".join(lines[:3])] + lines[3:], y=0.15, width=_wrap_width(lang, 160))
    return fig


def _input_rgb_figure(walk: Any, lang: str) -> Any:
    fig = _new_figure("input_rgb", lang)
    with _Fonts(fig):
        raw, norm = walk.pixels, walk.normalized
        H, W, _ = raw.shape
        ax = fig.add_axes((0.03, 0.34, 0.19, 0.44))
        ax.imshow(raw.astype(np.uint8), interpolation="nearest")
        ax.set_xticks(range(W))
        ax.set_yticks(range(H))
        ax.tick_params(labelsize=8, colors=_LABEL)
        ax.set_title(tr("fig_picture", lang), fontsize=13, fontweight="bold")
        width = 3 * W + 4.0
        board = _Board(fig, width, 2 * H + 4.8, rect=(0.25, 0.08, 0.74, 0.77))
        names = [tr("channel_red", lang), tr("channel_green", lang), tr("channel_blue", lang)]
        colours = [np.array([0.85, 0.1, 0.1]), np.array([0.1, 0.6, 0.1]), np.array([0.1, 0.3, 0.9])]
        rows = ((raw, tr("label_raw_pixels", lang)), (norm, tr("op_divide_255", lang) + " " + tr("label_normalized", lang)))
        for row_i, (vals, label) in enumerate(rows):
            y0 = 2.0 + row_i * (H + 2.6)
            board.text(0.1, y0 - 1.45, label, factor=0.4, ha="left", va="bottom", fontweight="bold", hi=15)
            for ch in range(3):
                x0 = 0.6 + ch * (W + 1.4)
                board.matrix(vals[:, :, ch], x0, y0, names[ch], tint=colours[ch],
                             vmax=255.0 if row_i == 0 else 1.0, digits=0 if row_i == 0 else 3)
        _title(fig, tr("fig_input_rgb_title", lang, shape=tuple(raw.shape)),
               tr("input_rgb_heading", lang, shape=tuple(raw.shape), h=H, w=W))
        from .render_text import _example_cells

        lines = []
        for r, c in _example_cells(raw):
            lines.append(tr("input_example_rgb", lang, row=r, col=c,
                            raw="(" + ", ".join(fmt_number(v) for v in raw[r, c]) + ")",
                            value="(" + ", ".join(fmt_number(v) for v in norm[r, c]) + ")"))
        if walk.made_up:
            lines.append(tr("fig_made_up", lang))
        fig.text(0.03, 0.2, "\n".join(lines[:-1] if walk.made_up else lines), ha="left", va="top", fontsize=10,
                 color="#222222", linespacing=1.6)
        if walk.made_up:
            fig.text(0.5, 0.03, lines[-1], ha="center", va="bottom", fontsize=10, color="#555555")
    return fig


# --------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------
def _pad_mask(walk: Any) -> np.ndarray:
    top, bottom, left, right = walk.pads
    H, W = walk.padded.shape
    mask = np.ones((H, W), dtype=bool)
    mask[top : H - bottom, left : W - right] = False
    return mask


def conv_step_figure(walk: Any, step: int, lang: str) -> Any:
    """One step of the convolution: window on the image, filter, products, the cell filled."""
    n = len(walk.steps)
    if not 0 <= step < n:
        raise IndexError(f"step must be in 0..{n - 1} for this walk-through of {n} steps; got {step}")
    st = walk.steps[step]
    fig = _new_figure("conv_step", lang)
    with _Fonts(fig):
        Hp, Wp = walk.padded.shape
        kh, kw = walk.kernel.shape
        Ho, Wo = walk.output.shape
        gap_op, gap_sum = 1.7, 2.6
        xa = 0.8
        xb = xa + Wp + gap_op
        xc = xb + kw + gap_op
        xd = xc + kw + gap_sum
        width = xd + Wo + 0.4
        height = max(Hp, kh, Ho) + (2.3 if any(walk.pads) else 1.7)
        board = _Board(fig, width, height, rect=(0.01, 0.2, 0.98, 0.66))
        y0 = 1.4
        mask = _pad_mask(walk) if any(walk.pads) else None
        marks = {(r, c): "window" for r in st.rows for c in st.cols}
        img_title = tr("label_padded_image" if any(walk.pads) else "label_image", lang)
        board.matrix(walk.padded, xa, y0, img_title, fills="gray", marks=marks, pad_mask=mask)
        board.window(xa + st.left, y0 + st.top, kh, kw)
        board.text(xb - gap_op / 2, y0 + kh / 2, "⊙", factor=0.7)
        board.matrix(walk.kernel, xb, y0, tr("label_filter", lang))
        board.text(xc - gap_op / 2, y0 + kh / 2, "=", factor=0.7)
        board.matrix(st.products, xc, y0, tr("label_products", lang))
        board.window(xc, y0, kh, kw)
        board.text(xc + kw / 2, y0 + kh + 0.3, f"Σ = {fmt_number(st.total)}", factor=0.45, va="top",
                   fontweight="bold", color=_TARGET_EDGE)
        part = walk.partial_output(step)
        board.matrix(part, xd, y0, tr("label_feature_map", lang), marks={(st.out_row, st.out_col): "target"},
                     vmax=float(np.max(np.abs(walk.output))) or 1.0)  # the same colours in every frame
        board.arrow(xc + kw + 0.15, y0 + kh / 2, xd + st.out_col + 0.12, y0 + st.out_row + 0.82, colour=_TARGET_EDGE)
        if mask is not None:
            board.text(xa + Wp / 2, y0 + Hp + 0.35, tr("fig_padding_note", lang), factor=0.28, color="#555555", va="top")
        from .render_text import _products_sum

        _title(
            fig,
            tr("fig_conv_step_title", lang, stride=_stride_text(walk.stride), padding=_padding_text(walk.padding)),
            tr("conv_step_heading", lang, step=step + 1, total=n, rows=_span(st.top, kh), cols=_span(st.left, kw),
               row=st.out_row, col=st.out_col),
        )
        from .render_text import _conv_move

        _footer(fig, [tr("conv_sum", lang, expr=_products_sum(st.window, walk.kernel), total=fmt_number(st.total)),
                      _conv_move(walk, step, lang)], y=0.17, width=_wrap_width(lang, 170))
    return fig


def _span(start: int, size: int) -> str:
    return f"{start}–{start + size - 1}" if size > 1 else f"{start}"


def conv_figure(walk: Any, lang: str, step: int | None = None) -> Any:
    """The whole convolution (image * filter -> feature map, with the size formula), or one step."""
    if step is not None:
        return conv_step_figure(walk, step, lang)
    fig = _new_figure("conv", lang)
    with _Fonts(fig):
        Hp, Wp = walk.padded.shape
        kh, kw = walk.kernel.shape
        Ho, Wo = walk.output.shape
        xa = 0.8
        xb = xa + Wp + 1.8
        xd = xb + kw + 2.2
        width = xd + Wo + 0.4
        height = max(Hp, kh, Ho) + 1.7
        board = _Board(fig, width, height, rect=(0.01, 0.22, 0.98, 0.64))
        y0 = 1.4
        mask = _pad_mask(walk) if any(walk.pads) else None
        img_title = tr("label_padded_image" if any(walk.pads) else "label_image", lang)
        board.matrix(walk.padded, xa, y0, img_title, fills="gray", pad_mask=mask)
        first = walk.steps[0]
        board.window(xa + first.left, y0 + first.top, kh, kw)
        if len(walk.steps) > 1:
            nxt = walk.steps[1]
            board.window(xa + nxt.left, y0 + nxt.top, kh, kw, colour=_WINDOW_EDGE, width=1.2)
            board.arrow(xa + first.left + kw / 2, y0 + first.top - 0.15, xa + nxt.left + kw / 2,
                        y0 + nxt.top - 0.15, colour=_WINDOW_EDGE, rad=-0.5)
        board.text(xb - 0.9, y0 + kh / 2, "*", factor=0.8)
        board.matrix(walk.kernel, xb, y0, tr("label_filter", lang))
        board.text(xd - 1.1, y0 + kh / 2, "→", factor=0.8)
        board.matrix(walk.output, xd, y0, tr("label_feature_map", lang))
        _title(fig, tr("fig_conv_overview_title", lang, ishape=_shape(walk.image.shape), kshape=_shape((kh, kw)),
                       oshape=_shape((Ho, Wo))),
               tr("conv_step_heading", lang, step=1, total=len(walk.steps), rows=_span(first.top, kh),
                  cols=_span(first.left, kw), row=0, col=0))
        from .render_text import _size_lines

        lines = [tr("size_valid_formula" if walk.padding != "same" else "size_same_formula", lang).replace("`", "")]
        h, w = walk.size_h, walk.size_w
        if (h.n, h.k, h.s) == (w.n, w.k, w.s):
            lines.append("   ".join(_size_lines(h, lang)))
        else:
            lines.append(tr("size_height", lang) + " " + "   ".join(_size_lines(h, lang)))
            lines.append(tr("size_width", lang) + " " + "   ".join(_size_lines(w, lang)))
        lines.append(tr("size_result", lang, h=Ho, w=Wo, steps=len(walk.steps)))
        _footer(fig, lines, y=0.19, width=_wrap_width(lang, 165))
    return fig


def conv_gif(walk: Any, path: str | os.PathLike, lang: str, dpi: int = 80, duration_ms: int = 900) -> str:
    """Animated GIF of the sliding filter: one frame per step (``len(walk.steps)`` frames)."""
    return _steps_gif(conv_step_figure, walk, path, lang, dpi, duration_ms)


# --------------------------------------------------------------------------------------
# ReLU
# --------------------------------------------------------------------------------------
def relu_figure(walk: Any, lang: str) -> Any:
    """Feature map before and after ReLU, negatives marked, and the ReLU curve."""
    fig = _new_figure("relu", lang)
    with _Fonts(fig):
        H, W = walk.input.shape
        width = 2 * W + 5.0
        board = _Board(fig, width, H + 1.7, rect=(0.01, 0.18, 0.66, 0.66))
        changed = {tuple(int(i) for i in idx): "target" for idx in np.argwhere(walk.changed)}
        vmax = float(np.max(np.abs(walk.input))) or 1.0
        board.matrix(walk.input, 0.8, 1.4, tr("label_feature_map", lang), vmax=vmax,
                     edge_colours={k: "#2166ac" for k in changed})
        board.text(W + 2.9, 1.4 + H / 2 - 0.5, "ReLU", factor=0.42, fontweight="bold")
        board.arrow(W + 1.5, 1.4 + H / 2, W + 4.2, 1.4 + H / 2)
        board.matrix(walk.output, W + 4.7, 1.4, tr("label_activated", lang), marks=changed, vmax=vmax)
        ax = fig.add_axes((0.72, 0.25, 0.25, 0.55))
        lo = min(float(walk.input.min()), -1.0)
        hi = max(float(walk.input.max()), 1.0)
        xs = np.linspace(lo - 0.5, hi + 0.5, 200)
        ax.plot(xs, np.maximum(xs, 0), color="#333333", linewidth=2)
        ax.scatter(walk.input.ravel(), walk.output.ravel(), c=["#2166ac" if v < 0 else _TARGET_EDGE for v in walk.input.ravel()],
                   zorder=3, s=40)
        ax.axhline(0, color=_LABEL, linewidth=0.6)
        ax.axvline(0, color=_LABEL, linewidth=0.6)
        ax.set_title(tr("fig_relu_curve", lang), fontsize=12)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
        _title(fig, tr("fig_relu_title", lang))
        changed_list = [tuple(int(i) for i in idx) for idx in np.argwhere(walk.changed)]
        lines = [tr("relu_count", lang, count=len(changed_list), total=walk.input.size) if changed_list
                 else tr("relu_none", lang)]
        if changed_list:
            lines.append("   ".join(tr("relu_change", lang, value=fmt_number(walk.input[r, c]), row=r, col=c)
                                    for r, c in changed_list[:4]))
        _footer(fig, lines, y=0.15, width=_wrap_width(lang, 150))
    return fig


# --------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------
def _pool_calc(walk: Any, st: Any, lang: str) -> str:
    from .render_text import _paren

    vals = list(st.window.ravel())
    if walk.mode == "max":
        return tr("pool_calc_max", lang, values=", ".join(fmt_number(v) for v in vals), value=fmt_number(st.value))
    return tr("pool_calc_avg", lang, values=" + ".join(_paren(v) for v in vals), count=len(vals), value=fmt_number(st.value))


def _mode_name(walk: Any, lang: str) -> str:
    return tr("pool_max_name" if walk.mode == "max" else "pool_avg_name", lang)


def _pool_board(fig: Any, walk: Any, lang: str, upto: int | None) -> None:
    """Feature map with windows outlined, arrow to the pooled map.  ``upto``: one step or all."""
    H, W = walk.input.shape
    Ho, Wo = walk.output.shape
    ph, pw = walk.pool_size
    width = W + Wo + 4.4
    board = _Board(fig, width, max(H, Ho) + 1.7, rect=(0.01, 0.25, 0.98, 0.6))
    x_in, x_out, y0 = 0.8, W + 3.6, 1.4
    steps = walk.steps if upto is None else [walk.steps[upto]]
    marks: dict[tuple[int, int], str] = {}
    out_marks: dict[tuple[int, int], str] = {}
    edges: dict[tuple[int, int], str] = {}
    for st in steps:
        if upto is not None:
            for r in range(st.top, st.top + ph):
                for c in range(st.left, st.left + pw):
                    marks[(r, c)] = "window"
        if st.chosen is not None:
            marks[(st.top + st.chosen[0], st.left + st.chosen[1])] = "chosen"
        out_marks[(st.out_row, st.out_col)] = "target" if upto is not None else "chosen"
        edges[(st.out_row, st.out_col)] = _WINDOW_COLOURS[st.index % len(_WINDOW_COLOURS)]
    vmax = float(np.max(np.abs(walk.input))) or 1.0
    board.matrix(walk.input, x_in, y0, tr("label_feature_map", lang), marks=marks, vmax=vmax)
    values = walk.output if upto is None else np.where(
        np.arange(walk.output.size).reshape(walk.output.shape) <= upto, walk.output, np.nan)
    board.matrix(values, x_out, y0, tr("label_pooled", lang), marks=out_marks if upto is not None else None,
                 vmax=vmax, edge_colours=edges)
    overlapping = walk.strides[0] < ph or walk.strides[1] < pw
    if upto is None and overlapping:  # overlapping windows would hide each other: outline the first
        steps = steps[:1]
    for st in steps:
        colour = _WINDOW_COLOURS[st.index % len(_WINDOW_COLOURS)] if upto is None else _WINDOW_EDGE
        inset = 0.06 * (st.index % 2) if upto is None else 0.0
        board.window(x_in + st.left + inset, y0 + st.top + inset, ph - 2 * inset, pw - 2 * inset, colour=colour)
    if upto is not None:
        st = walk.steps[upto]
        board.arrow(x_in + st.left + pw + 0.05, y0 + st.top + ph / 2, x_out + st.out_col + 0.05, y0 + st.out_row + 0.5,
                    colour=_TARGET_EDGE, rad=-0.2)
    else:
        board.arrow(x_in + W + 0.4, y0 + H / 2, x_out - 0.5, y0 + Ho / 2)


def pool_step_figure(walk: Any, step: int, lang: str) -> Any:
    """One pooling window and the cell it fills."""
    n = len(walk.steps)
    if not 0 <= step < n:
        raise IndexError(f"step must be in 0..{n - 1} for this walk-through of {n} windows; got {step}")
    fig = _new_figure("pool_step", lang)
    with _Fonts(fig):
        _pool_board(fig, walk, lang, step)
        st = walk.steps[step]
        ph, pw = walk.pool_size
        _title(fig, tr("fig_pool_title", lang, mode=_mode_name(walk, lang), size=_shape(walk.pool_size),
                       stride=_stride_text(walk.strides)),
               tr("fig_pool_step_title", lang, mode=_mode_name(walk, lang), step=step + 1, total=n,
                  calc=_pool_calc(walk, st, lang)))
        _footer(fig, [tr("pool_step", lang, step=step + 1, total=n, rows=_span(st.top, ph), cols=_span(st.left, pw),
                         calc=_pool_calc(walk, st, lang), row=st.out_row, col=st.out_col)],
                y=0.2, width=_wrap_width(lang, 150))
    return fig


def pool_figure(walk: Any, lang: str, step: int | None = None) -> Any:
    """All pooling windows in colour with the values they keep (or one step with ``step``)."""
    if step is not None:
        return pool_step_figure(walk, step, lang)
    fig = _new_figure("pool", lang)
    with _Fonts(fig):
        _pool_board(fig, walk, lang, None)
        ph, pw = walk.pool_size
        _title(fig, tr("fig_pool_title", lang, mode=_mode_name(walk, lang), size=_shape(walk.pool_size),
                       stride=_stride_text(walk.strides)),
               tr("pool_intro_max" if walk.mode == "max" else "pool_intro_avg", lang))
        lines = [
            tr("pool_step", lang, step=st.index + 1, total=len(walk.steps), rows=_span(st.top, ph),
               cols=_span(st.left, pw), calc=_pool_calc(walk, st, lang), row=st.out_row, col=st.out_col)
            for st in walk.steps[:4]
        ]
        if len(walk.steps) > 4:
            lines.append("…")
        _footer(fig, lines, y=0.22, size=10.5, width=_wrap_width(lang, 160))
    return fig


def pool_gif(walk: Any, path: str | os.PathLike, lang: str, dpi: int = 80, duration_ms: int = 1000) -> str:
    """Animated GIF of the pooling window: one frame per window."""
    return _steps_gif(pool_step_figure, walk, path, lang, dpi, duration_ms)


# --------------------------------------------------------------------------------------
# Flatten, dense, softmax
# --------------------------------------------------------------------------------------
def flatten_figure(walk: Any, lang: str) -> Any:
    """Rows of the matrix laid one after another, arrows showing where each goes."""
    fig = _new_figure("flatten", lang)
    with _Fonts(fig):
        H, W = walk.input.shape
        n = walk.output.size
        width = W + n + 4.0
        board = _Board(fig, width, H + 4.2, rect=(0.01, 0.18, 0.98, 0.66))
        y0 = 1.4
        board.matrix(walk.input, 0.8, y0, tr("label_matrix", lang, shape=_shape((H, W))))
        xv, yv = W + 3.0, y0 + H + 0.9
        board.matrix(walk.output[None, :], xv, yv, None, labels=True)
        board.text(xv + n / 2, yv + 1.3, tr("label_vector", lang, n=n), factor=0.36, va="top", fontweight="bold", hi=15)
        for r in range(H):
            colour = _WINDOW_COLOURS[r % len(_WINDOW_COLOURS)]
            board.window(0.8, y0 + r, 1, W, colour=colour, width=2.0)
            board.window(xv + r * W, yv, 1, W, colour=colour, width=2.0)
            if H * W <= 64:
                board.arrow(0.8 + W + 0.05, y0 + r + 0.5, xv + r * W + W / 2, yv - 0.5, colour=colour, rad=0.15)
        _title(fig, tr("flatten_title", lang), tr("flatten_rule", lang, w=W))
        _footer(fig, [tr("flatten_intro", lang)], y=0.14, width=_wrap_width(lang, 150))
    return fig


def dense_figure(walk: Any, lang: str) -> Any:
    """Inputs, weights and bias of a dense layer and the score of each unit."""
    fig = _new_figure("dense", lang)
    with _Fonts(fig):
        n, units = walk.weights.shape
        x_in, x_w = 0.8, 3.6
        x_b = x_w + units + 2.6
        x_z = x_b + units + 2.4
        width = x_z + units + 0.6
        board = _Board(fig, width, n + 2.2, rect=(0.12, 0.34, 0.76, 0.5))
        y0 = 1.4
        board.matrix(walk.inputs[:, None], x_in, y0, tr("label_inputs", lang), labels=False)
        board.matrix(walk.weights, x_w, y0, tr("label_weights", lang, n=n, units=units))
        for j, name in enumerate(walk.names):
            board.text(x_w + j + 0.5, y0 + n + 0.45, name, factor=0.3, color="#555555")
        board.text(x_w - 1.35, y0 + n / 2, "×", factor=0.6)
        board.text(x_b - 1.3, y0 + 0.5, "+", factor=0.6)
        board.matrix(walk.bias[None, :], x_b, y0, tr("label_bias", lang))
        board.text(x_z - 1.2, y0 + 0.5, "=", factor=0.6)
        board.matrix(walk.outputs[None, :], x_z, y0, "z", marks={(0, int(np.argmax(walk.outputs))): "chosen"})
        for j, name in enumerate(walk.names):
            board.text(x_z + j + 0.5, y0 + 1.45, name, factor=0.3, color="#555555")
        _title(fig, tr("fig_dense_title", lang), tr("dense_formula", lang))
        from .render_text import _paren

        lines = []
        for j in range(min(units, 5)):
            terms = " + ".join(f"{_paren(walk.inputs[i])}×{_paren(walk.weights[i, j])}" for i in range(min(n, 8)))
            if n > 8:
                terms += " + …"
            lines.append(tr("dense_unit", lang, name=walk.names[j], terms=terms, bias=_paren(walk.bias[j]),
                            value=fmt_number(walk.outputs[j])))
        if walk.made_up:
            lines.append(tr("fig_made_up_weights", lang))
        _footer(fig, lines, y=0.3, size=10.5, width=_wrap_width(lang, 160))
    return fig


def softmax_figure(walk: Any, lang: str) -> Any:
    """Scores, their exponentials, the sum and the probabilities as bars."""
    fig = _new_figure("softmax", lang)
    with _Fonts(fig):
        m = walk.scores.size
        ax_t = fig.add_axes((0.03, 0.1, 0.5, 0.72))
        ax_t.axis("off")
        ax_t.set_xlim(0, 1)
        ax_t.set_ylim(m + 1.6, 0)
        heads = ["", "z", "e^z" if not walk.shift else "e^(z−m)", "p"]
        xs = [0.08, 0.3, 0.58, 0.88]
        size = float(np.clip(200 / (m + 3), 8, 14))
        for x, h in zip(xs, heads):
            ax_t.text(x, 0.5, h, ha="center", va="center", fontsize=size, fontweight="bold")
        best = walk.predicted
        for i in range(m):
            y = i + 1.5
            weight = "bold" if i == best else "normal"
            colour = _TARGET_EDGE if i == best else "black"
            cells = [walk.names[i], fmt_number(walk.scores[i]), fmt_number(walk.exps[i], 4),
                     f"{fmt_number(walk.exps[i], 4)} / {fmt_number(walk.total, 4)} = {fmt_number(walk.probs[i], 4)}"]
            for x, s in zip(xs, cells):
                ax_t.text(x, y, s, ha="center", va="center", fontsize=size, fontweight=weight, color=colour)
        ax_t.text(0.58, m + 1.35, tr("fig_exp_sum", lang, total=fmt_number(walk.total, 4)), ha="center",
                  va="center", fontsize=size * 0.9, color="#333333")
        ax_b = fig.add_axes((0.62, 0.14, 0.34, 0.66))
        ys = np.arange(m)
        colours = [_TARGET_EDGE if i == best else "#7fa7d1" for i in range(m)]
        ax_b.barh(ys, walk.probs, color=colours)
        ax_b.set_yticks(ys)
        ax_b.set_yticklabels(walk.names)
        ax_b.invert_yaxis()
        ax_b.set_xlim(0, 1.15)
        ax_b.set_xlabel(tr("fig_probability", lang))
        for i, p in enumerate(walk.probs):
            ax_b.text(p + 0.02, i, f"{p * 100:.1f}%", va="center", fontsize=10)
        ax_b.spines[["top", "right"]].set_visible(False)
        _title(fig, tr("fig_softmax_title", lang),
               tr("softmax_prediction", lang, name=walk.names[best], percent=f"{walk.probs[best] * 100:.1f}"))
    return fig


# --------------------------------------------------------------------------------------
# The whole guide
# --------------------------------------------------------------------------------------
def guide_figure(walk: Any, lang: str) -> Any:
    """Overview: the image and what each layer makes of it, left to right."""
    fig = _new_figure("guide", lang)
    with _Fonts(fig):
        panels = [
            (tr("fig_stage_input", lang), walk.conv.image, "gray"),
            (tr("fig_stage_conv", lang), walk.conv.output, "value"),
            (tr("fig_stage_relu", lang), walk.relu.output, "value"),
            (tr("fig_stage_pool", lang), walk.pool.output, "value"),
            (tr("fig_stage_flatten", lang), walk.flatten.output[:, None], "value"),
            (tr("fig_stage_dense", lang), walk.dense.outputs[:, None], "value"),
        ]
        widths = [p[1].shape[1] for p in panels]
        heights = [p[1].shape[0] for p in panels]
        gap = 2.2
        width = sum(widths) + gap * len(panels) + 3.5
        height = max(heights) + 3.2
        board = _Board(fig, width, height, rect=(0.01, 0.05, 0.98, 0.8))
        x = 0.6
        y0 = 2.2
        for i, (label, values, fills) in enumerate(panels):
            board.matrix(values, x, y0, None, fills=fills, labels=False)
            board.text(x + values.shape[1] / 2, y0 - 0.35, label, factor=0.38, va="bottom", hi=14)
            board.text(x + values.shape[1] / 2, y0 + values.shape[0] + 0.45, _shape(values.shape if i < 4 else values.shape[:1]),
                       factor=0.3, color="#555555", va="top", hi=12)
            x += values.shape[1]
            board.arrow(x + 0.3, y0 + min(values.shape[0], 4) / 2, x + gap - 0.3, y0 + min(values.shape[0], 4) / 2)
            x += gap
        probs = walk.softmax.probs
        best = walk.softmax.predicted
        board.text(x + 1.5, y0 - 0.35, tr("fig_stage_softmax", lang), factor=0.38, va="bottom", hi=14)
        for j, p in enumerate(probs):
            board.text(x + 1.5, y0 + j + 0.5, f"{walk.softmax.names[j]}: {p * 100:.1f}%", factor=0.36,
                       fontweight="bold" if j == best else "normal", color=_TARGET_EDGE if j == best else "black", hi=14)
        _title(fig, tr("fig_guide_title", lang),
               tr("softmax_prediction", lang, name=walk.softmax.names[best], percent=f"{probs[best] * 100:.1f}"))
    return fig


def save_guide_figures(walk: Any, directory: str | os.PathLike, lang: str, dpi: int = 100,
                       stages: Sequence[str] | None = None) -> list[str]:
    """Write the figures of ``stages`` (default: all) into ``directory``; returns the paths.

    Files: ``guide.png``, ``input_grayscale.png``, ``input_rgb.png``, ``conv.png``,
    ``conv_step_01.png``, ``conv_step_02.png``, ``conv_sliding_window.gif``, ``relu.png``,
    ``pool.png``, ``pool_sliding_window.gif``, ``flatten.png``, ``dense.png``, ``softmax.png``.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    stages = list(stages) if stages is not None else ["guide", "input", "conv", "relu", "pool", "flatten", "dense", "softmax"]
    written = []

    def put(name: str, fig: Any) -> None:
        written.append(save_png(fig, os.path.join(directory, name), dpi=dpi))

    if "guide" in stages:
        put("guide.png", guide_figure(walk, lang))
    if "input" in stages:
        put("input_grayscale.png", input_figure(walk.input, lang))
        put("input_rgb.png", input_figure(walk.rgb, lang))
    if "conv" in stages:
        put("conv.png", conv_figure(walk.conv, lang))
        for t in range(min(2, len(walk.conv.steps))):
            put(f"conv_step_{t + 1:02d}.png", conv_step_figure(walk.conv, t, lang))
        written.append(conv_gif(walk.conv, os.path.join(directory, "conv_sliding_window.gif"), lang))
    if "relu" in stages:
        put("relu.png", relu_figure(walk.relu, lang))
    if "pool" in stages:
        put("pool.png", pool_figure(walk.pool, lang))
        written.append(pool_gif(walk.pool, os.path.join(directory, "pool_sliding_window.gif"), lang))
    if "flatten" in stages:
        put("flatten.png", flatten_figure(walk.flatten, lang))
    if "dense" in stages:
        put("dense.png", dense_figure(walk.dense, lang))
    if "softmax" in stages:
        put("softmax.png", softmax_figure(walk.softmax, lang))
    return written
