"""Terminal rendering of the walk-throughs: grids drawn with box characters, side by side.

Highlighted cells are shown with ANSI colours when ``color=True`` (the command line turns it
on for terminals unless ``NO_COLOR`` is set) and otherwise with plain marks:
``[v]`` for the cells under the window and ``<v>`` for the value being written or chosen.
Every sentence comes from the catalogue in :mod:`convlearn.explain.i18n`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any, Iterable, Sequence

import numpy as np

from .i18n import tr

__all__ = [
    "fmt_number",
    "display_width",
    "grid",
    "hstack",
    "input_text",
    "conv_text",
    "relu_text",
    "pool_text",
    "flatten_text",
    "dense_text",
    "softmax_text",
    "guide_text",
]

_ANSI = {
    "window": "\x1b[30;102m",  # black on bright green
    "target": "\x1b[1;30;103m",  # bold black on bright yellow
    "pad": "\x1b[2m",  # dim
    "empty": "\x1b[2m",
    "label": "\x1b[2m",
    "title": "\x1b[1;36m",  # bold cyan
    "strong": "\x1b[1m",
}
_RESET = "\x1b[0m"
_ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")
_PLAIN_MARKS = {"window": ("[", "]"), "target": ("<", ">")}


# --------------------------------------------------------------------------------------
# Small building blocks
# --------------------------------------------------------------------------------------
def fmt_number(x: float, digits: int = 3) -> str:
    """Format a number for reading: integers without decimals, others rounded to ``digits``.

    >>> fmt_number(3.0), fmt_number(0.50196), fmt_number(-0.0)
    ('3', '0.502', '0')
    """
    x = float(x)
    if math.isnan(x):
        return "·"
    if not math.isfinite(x):
        return str(x)
    r = round(x, digits)
    if r == 0:
        return "0"
    if r == int(r) and abs(r) < 1e15:
        return str(int(r))
    return f"{r:.{digits}f}".rstrip("0").rstrip(".")


def _paren(x: float, digits: int = 3) -> str:
    """A number inside a sum: negatives get parentheses, ``(-1)``."""
    s = fmt_number(x, digits)
    return f"({s})" if s.startswith("-") else s


def display_width(text: str) -> int:
    """Columns a string takes in a terminal: ANSI codes take none, wide CJK characters two."""
    text = _ANSI_RE.sub("", text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(width - display_width(text), 0)


def _paint(text: str, kind: str | None, color: bool) -> str:
    if not color or kind is None:
        return text
    return f"{_ANSI[kind]}{text}{_RESET}"


def grid(
    values: np.ndarray,
    marks: dict[tuple[int, int], str] | None = None,
    color: bool = False,
    labels: bool = True,
    digits: int = 3,
    title: str | None = None,
) -> list[str]:
    """Draw a matrix in a box, optionally with row/column numbers and highlighted cells.

    Parameters
    ----------
    values : numpy.ndarray
        2-D array; NaN cells are drawn as ``·`` (not computed yet).
    marks : dict, optional
        ``{(row, col): kind}`` with kind ``"window"``, ``"target"``, ``"pad"``.
    color : bool
        ANSI colours instead of ``[ ]`` / ``< >`` marks.
    labels : bool
        Write the row and column numbers (counted from 0).
    digits : int
        Decimals kept when rounding.
    title : str, optional
        A line written above the box.

    Returns
    -------
    list of str
        The lines of the drawing.
    """
    marks = marks or {}
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]  # (1, n)
    rows, cols = values.shape
    text = [[fmt_number(values[r, c], digits) for c in range(cols)] for r in range(rows)]
    w = max(1, max(len(s) for row in text for s in row))
    if labels:
        w = max(w, len(str(cols - 1)))
    rw = len(str(rows - 1)) if labels else 0
    lead = " " * (rw + 1) if labels else ""
    lines = []
    if title:
        lines.append(title)
    if labels:
        head = "".join(f" {c:>{w}} " for c in range(cols))
        lines.append(lead + " " + _paint(head, "label", color))
    lines.append(lead + "┌" + "─" * (cols * (w + 2)) + "┐")
    for r in range(rows):
        cells = []
        for c in range(cols):
            s = text[r][c]
            kind = marks.get((r, c))
            if s == "·" and kind is None:
                kind = "empty"
            if color:
                cells.append(_paint(f" {s:>{w}} ", kind, True))
            else:
                left, right = _PLAIN_MARKS.get(kind, (" ", " "))
                cells.append(f"{left}{s:>{w}}{right}")
        label = _paint(f"{r:>{rw}} ", "label", color) if labels else ""
        lines.append(label + "│" + "".join(cells) + "│")
    lines.append(lead + "└" + "─" * (cols * (w + 2)) + "┘")
    return lines


def hstack(blocks: Sequence[Sequence[str] | str], gap: int = 2) -> list[str]:
    """Put blocks of lines side by side, aligned at the top; a plain string is drawn centred.

    A string between two blocks (an operator such as ``"="``) is placed on the middle
    line of the tallest block.
    """
    height = max((len(b) for b in blocks if not isinstance(b, str)), default=1)
    cols = []
    for b in blocks:
        if isinstance(b, str):
            col = [""] * height
            col[height // 2] = b
        else:
            col = list(b) + [""] * (height - len(b))
        width = max(display_width(s) for s in col)
        cols.append([_pad(s, width) for s in col])
    sep = " " * gap
    return [sep.join(col[i] for col in cols).rstrip() for i in range(height)]


def _heading(text: str, color: bool) -> str:
    bar = "═" * max(4, 60 - display_width(text))
    return _paint(f"══ {text} {bar}", "title", color)


def _legend(lang: str, color: bool) -> str:
    if color:
        return tr(
            "legend_color",
            lang,
            window=_paint(" " + tr("legend_window_word", lang) + " ", "window", True),
            target=_paint(" " + tr("legend_target_word", lang) + " ", "target", True),
        )
    return tr("legend_plain", lang)


def _shape(shape: Iterable[int]) -> str:
    return "×".join(str(int(s)) for s in shape)


def _span(start: int, size: int) -> str:
    return f"{start}–{start + size - 1}" if size > 1 else f"{start}"


def _join_lines(parts: Iterable[Any]) -> str:
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.extend(p.split("\n"))
        else:
            out.extend(p)
    return "\n".join(line.rstrip() for line in out)


def _code(text: str) -> str:
    return f"`{text}`"


# --------------------------------------------------------------------------------------
# Input layer
# --------------------------------------------------------------------------------------
def input_text(walk: Any, lang: str, color: bool = False, heading: bool = True) -> str:
    """Explain normalising 0..255 pixels as text."""
    parts: list[Any] = []
    if heading:
        parts.append(_heading(tr("input_title", lang), color))
        parts.append(tr("input_intro", lang))
        parts.append(tr("input_normalize", lang, code=_code("X_train = X_train / 255")))
        parts.append("")
    raw, norm = walk.pixels, walk.normalized
    if walk.kind == "grayscale":
        parts.append(tr("input_gray_heading", lang, shape=tuple(raw.shape)))
        parts.append(
            hstack(
                [
                    grid(raw, color=color, digits=0, title=tr("label_raw_pixels", lang)),
                    tr("op_divide_255", lang),
                    grid(norm, color=color, title=tr("label_normalized", lang)),
                ]
            )
        )
        for idx in _example_cells(raw):
            parts.append(
                "  "
                + tr(
                    "input_example_cell",
                    lang,
                    row=idx[0],
                    col=idx[1],
                    raw=fmt_number(raw[idx]),
                    value=fmt_number(norm[idx]),
                )
            )
    else:
        parts.append(tr("input_rgb_heading", lang, shape=tuple(raw.shape), h=raw.shape[0], w=raw.shape[1]))
        names = [tr("channel_red", lang), tr("channel_green", lang), tr("channel_blue", lang)]
        parts.append(tr("label_raw_pixels", lang))
        parts.append(hstack([grid(raw[:, :, c], color=color, digits=0, title=names[c]) for c in range(3)]))
        parts.append(tr("label_normalized", lang))
        parts.append(hstack([grid(norm[:, :, c], color=color, title=names[c]) for c in range(3)]))
        for idx in _example_cells(raw):
            px = raw[idx[0], idx[1]]
            nx = norm[idx[0], idx[1]]
            parts.append(
                "  "
                + tr(
                    "input_example_rgb",
                    lang,
                    row=idx[0],
                    col=idx[1],
                    raw="(" + ", ".join(fmt_number(v) for v in px) + ")",
                    value="(" + ", ".join(fmt_number(v) for v in nx) + ")",
                )
            )
        parts.append(tr("input_rgb_note", lang))
    if walk.made_up:
        parts.append(tr("input_made_up", lang))
    if heading:
        parts.append(tr("keras_code", lang, code=_code("X_train = X_train.reshape(-1, 28, 28, 1) / 255")))
    return _join_lines(parts).rstrip() + "\n"


def _example_cells(values: np.ndarray) -> list[tuple[int, int]]:
    """Up to three telling cells: the first one, a middle grey and the brightest."""
    plane = values if values.ndim == 2 else values.mean(axis=2)  # (H, W)
    cells = [(0, 0)]
    mid = np.argwhere((plane > 0) & (plane < 255))
    if len(mid):
        cells.append(tuple(int(i) for i in mid[0]))
    cells.append(tuple(int(i) for i in np.unravel_index(int(np.argmax(plane)), plane.shape)))
    seen: list[tuple[int, int]] = []
    for c in cells:
        if c not in seen:
            seen.append(c)
    return seen


# --------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------
def _size_lines(size: Any, lang: str) -> list[str]:
    """The output-size formula of one axis, with the numbers put in."""
    if size.padding == "same":
        return [
            tr("size_same", lang, n=size.n, s=size.s, out=size.out),
            tr(
                "size_same_pad",
                lang,
                out=size.out,
                s=size.s,
                k=size.k,
                n=size.n,
                total=size.pad_total,
            ),
            tr("size_same_split", lang, before=size.pad_before, after=size.pad_after),
        ]
    p = 0 if size.padding == "valid" else size.padding
    return [tr("size_valid", lang, n=size.n, p=p, k=size.k, s=size.s, out=size.out)]


def _size_block(walk: Any, lang: str) -> list[str]:
    h, w = walk.size_h, walk.size_w
    lines = [tr("size_heading", lang)]
    if walk.padding == "same":
        lines.append("  " + tr("size_same_formula", lang))
    else:
        lines.append("  " + tr("size_valid_formula", lang))
    if (h.n, h.k, h.s) == (w.n, w.k, w.s):
        lines.append("  " + tr("size_both_axes", lang))
        lines.extend("    " + s for s in _size_lines(h, lang))
    else:
        lines.append("  " + tr("size_height", lang))
        lines.extend("    " + s for s in _size_lines(h, lang))
        lines.append("  " + tr("size_width", lang))
        lines.extend("    " + s for s in _size_lines(w, lang))
    lines.append(
        "  " + tr("size_result", lang, h=h.out, w=w.out, steps=len(walk.steps))
    )
    return lines


def _products_sum(window: np.ndarray, kernel: np.ndarray) -> str:
    terms = [
        f"{_paren(window[a, b])}×{_paren(kernel[a, b])}"
        for a in range(kernel.shape[0])
        for b in range(kernel.shape[1])
    ]
    return " + ".join(terms)


def _conv_move(walk: Any, t: int, lang: str) -> str:
    steps = walk.steps
    if t + 1 >= len(steps):
        return tr("conv_move_last", lang)
    here, nxt = steps[t], steps[t + 1]
    sh, sw = walk.stride
    if nxt.out_row == here.out_row:
        return tr("conv_move_right_1" if sw == 1 else "conv_move_right_n", lang, s=sw)
    return tr("conv_move_down_1" if sh == 1 else "conv_move_down_n", lang, s=sh)


def conv_step_block(walk: Any, t: int, lang: str, color: bool = False) -> list[str]:
    """The drawing of one convolution step: image ⊙ filter = products → feature map."""
    st = walk.steps[t]
    kh, kw = walk.kernel.shape
    marks: dict[tuple[int, int], str] = {}
    top, bottom, left, right = walk.pads
    H, W = walk.padded.shape
    for r in range(H):
        for c in range(W):
            if r < top or r >= H - bottom or c < left or c >= W - right:
                marks[(r, c)] = "pad"
    for r in st.rows:
        for c in st.cols:
            marks[(r, c)] = "window"
    img_title = tr("label_padded_image" if any(walk.pads) else "label_image", lang)
    part = walk.partial_output(t)
    lines = [
        tr(
            "conv_step_heading",
            lang,
            step=t + 1,
            total=len(walk.steps),
            rows=_span(st.top, kh),
            cols=_span(st.left, kw),
            row=st.out_row,
            col=st.out_col,
        )
    ]
    lines += hstack(
        [
            grid(walk.padded, marks, color, title=img_title),
            "⊙",
            grid(walk.kernel, color=color, title=tr("label_filter", lang)),
            "=",
            grid(st.products, color=color, title=tr("label_products", lang)),
            "Σ →",
            grid(part, {(st.out_row, st.out_col): "target"}, color, title=tr("label_feature_map", lang)),
        ]
    )
    lines.append("  " + tr("conv_sum", lang, expr=_products_sum(st.window, walk.kernel), total=fmt_number(st.total)))
    lines.append("  " + _conv_move(walk, t, lang))
    return lines


def _conv_compare(walk: Any, lang: str) -> list[str]:
    """Output sizes of this image and filter for stride 1/2 and the two paddings."""
    from .walkthrough import ExplainError, output_size

    H, W = walk.image.shape
    kh, kw = walk.kernel.shape
    strides = sorted({1, 2, *walk.stride})
    lines = [tr("compare_heading", lang, h=H, w=W, kh=kh, kw=kw)]
    for pad in ("valid", "same"):
        for s in strides:
            try:
                oh = output_size(H, kh, s, pad)
                ow = output_size(W, kw, s, pad)
            except ExplainError:
                lines.append("  " + tr("compare_row_too_big", lang, s=s, padding=_code(repr(pad))))
                continue
            if pad == "valid":
                how = tr("compare_how_valid", lang, n=H, k=kh, s=s, out=oh.out)
            else:
                how = tr("compare_how_same", lang, n=H, s=s, out=oh.out, total=oh.pad_total,
                         before=oh.pad_before, after=oh.pad_after)
            if (H, kh) != (W, kw):
                how = tr("compare_how_height", lang, how=how)
            lines.append(
                "  " + tr("compare_row", lang, s=s, padding=_code(repr(pad)), shape=_shape((oh.out, ow.out)), how=how)
            )
    lines.append(tr("compare_summary", lang))
    return lines


def conv_text(walk: Any, lang: str, color: bool = False, steps_in_full: int | None = 2, heading: bool = True) -> str:
    """Explain a convolution as text.

    Parameters
    ----------
    walk : ConvWalkthrough
    lang : {"en", "zh"}
    color : bool
        ANSI colours instead of plain marks.
    steps_in_full : int or None
        How many steps are drawn in full (the rest are listed one per line); None: all.
    heading : bool
        Start with the section heading and introduction.
    """
    from .walkthrough import DEFAULT_IMAGE, DEFAULT_KERNEL

    kh, kw = walk.kernel.shape
    H, W = walk.image.shape
    parts: list[Any] = []
    if heading:
        parts.append(_heading(tr("conv_title", lang), color))
        parts.append(tr("conv_intro", lang, kshape=_shape((kh, kw)), ishape=_shape((H, W))))
        if walk.image.shape == DEFAULT_IMAGE.shape and np.array_equal(walk.image, DEFAULT_IMAGE):
            parts.append(tr("conv_default_image", lang))
        if walk.kernel.shape == DEFAULT_KERNEL.shape and np.array_equal(walk.kernel, DEFAULT_KERNEL):
            parts.append(tr("conv_default_kernel", lang))
        parts.append("")
    parts.append(hstack([grid(walk.image, color=color, title=tr("label_image", lang)),
                         grid(walk.kernel, color=color, title=tr("label_filter", lang))], gap=4))
    parts.append("")
    parts.append(_size_block(walk, lang))
    if any(walk.pads):
        top, bottom, left, right = walk.pads
        parts.append("  " + tr("conv_padding_done", lang, top=top, bottom=bottom, left=left, right=right))
    parts.append("")
    parts.append(_legend(lang, color))
    parts.append("")
    n_full = len(walk.steps) if steps_in_full is None else max(0, min(int(steps_in_full), len(walk.steps)))
    for t in range(n_full):
        parts.append(conv_step_block(walk, t, lang, color))
        parts.append("")
    if n_full < len(walk.steps):
        parts.append(tr("conv_other_steps", lang))
        for st in walk.steps[n_full:]:
            parts.append(
                "  "
                + tr(
                    "conv_step_line",
                    lang,
                    step=st.index + 1,
                    rows=_span(st.top, kh),
                    cols=_span(st.left, kw),
                    row=st.out_row,
                    col=st.out_col,
                    expr=_products_sum(st.window, walk.kernel),
                    total=fmt_number(st.total),
                )
            )
        parts.append("")
    parts.append(grid(walk.output, color=color, title=tr("conv_result", lang, shape=_shape(walk.output.shape))))
    if heading:
        parts.append(tr("conv_sizes", lang, ishape=_shape((H, W)), oshape=_shape(walk.output.shape)))
        parts.append("")
        parts.extend(_conv_compare(walk, lang))
        sh, sw = walk.stride
        stride = str(sh) if sh == sw else f"({sh}, {sw})"
        pad = repr(walk.padding) if isinstance(walk.padding, str) else repr("valid")
        code = f"Conv2D(1, ({kh}, {kw}), strides={stride}, padding={pad})"
        if isinstance(walk.padding, int) and walk.padding > 0:
            code = f"ZeroPadding2D({walk.padding}), " + code
        parts.append(tr("keras_code", lang, code=_code(code)))
    return _join_lines(parts).rstrip() + "\n"


# --------------------------------------------------------------------------------------
# ReLU
# --------------------------------------------------------------------------------------
def relu_text(walk: Any, lang: str, color: bool = False, heading: bool = True) -> str:
    """Explain ReLU as text."""
    parts: list[Any] = []
    if heading:
        parts.append(_heading(tr("relu_title", lang), color))
        parts.append(tr("relu_intro", lang))
        parts.append("")
    marks_in = {tuple(int(i) for i in idx): "window" for idx in np.argwhere(walk.changed)}
    marks_out = {k: "target" for k in marks_in}
    parts.append(
        hstack(
            [
                grid(walk.input, marks_in, color, title=tr("label_feature_map", lang)),
                "ReLU →",
                grid(walk.output, marks_out, color, title=tr("label_activated", lang)),
            ]
        )
    )
    changed = [tuple(int(i) for i in idx) for idx in np.argwhere(walk.changed)]
    if changed:
        for r, c in changed:
            parts.append("  " + tr("relu_change", lang, value=fmt_number(walk.input[r, c]), row=r, col=c))
        parts.append(tr("relu_count", lang, count=len(changed), total=walk.input.size))
    else:
        parts.append(tr("relu_none", lang))
    if heading:
        parts.append(tr("keras_code", lang, code=_code("Conv2D(..., activation='relu')")))
    return _join_lines(parts).rstrip() + "\n"


# --------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------
def pool_text(walk: Any, lang: str, color: bool = False, steps_in_full: int | None = None, heading: bool = True) -> str:
    """Explain max or average pooling as text.

    ``steps_in_full`` windows are drawn in full (default: all when there are at most 9),
    the rest listed one per line.
    """
    ph, pw = walk.pool_size
    sh, sw = walk.strides
    mode_name = tr("pool_max_name" if walk.mode == "max" else "pool_avg_name", lang)
    parts: list[Any] = []
    if heading:
        parts.append(_heading(tr("pool_title", lang, mode=mode_name, size=_shape((ph, pw)),
                                 stride=sh if sh == sw else f"({sh}, {sw})"), color))
        parts.append(tr("pool_intro", lang))
        parts.append(tr("pool_intro_max" if walk.mode == "max" else "pool_intro_avg", lang))
        parts.append("")
    h, w = walk.size_h, walk.size_w
    parts.append(tr("size_heading", lang))
    parts.append("  " + tr("pool_size_formula", lang))
    if (h.n, h.k, h.s) == (w.n, w.k, w.s):
        parts.append("    " + tr("pool_size_numbers", lang, n=h.n, k=h.k, s=h.s, out=h.out))
    else:
        parts.append("    " + tr("size_height", lang) + " " + tr("pool_size_numbers", lang, n=h.n, k=h.k, s=h.s, out=h.out))
        parts.append("    " + tr("size_width", lang) + " " + tr("pool_size_numbers", lang, n=w.n, k=w.k, s=w.s, out=w.out))
    parts.append("  " + tr("pool_size_result", lang, ishape=_shape(walk.input.shape), oshape=_shape(walk.output.shape)))
    if walk.unused_rows or walk.unused_cols:
        parts.append("  " + tr("pool_unused", lang, rows=walk.unused_rows, cols=walk.unused_cols))
    parts.append("")
    parts.append(_legend(lang, color))
    parts.append("")
    n = len(walk.steps)
    n_full = (n if n <= 9 else 4) if steps_in_full is None else max(0, min(int(steps_in_full), n))
    done = np.full(walk.output.shape, np.nan)
    for st in walk.steps:
        done[st.out_row, st.out_col] = st.value
        vals = [walk.input[r, c] for r in range(st.top, st.top + ph) for c in range(st.left, st.left + pw)]
        if walk.mode == "max":
            calc = tr("pool_calc_max", lang, values=", ".join(fmt_number(v) for v in vals), value=fmt_number(st.value))
        else:
            calc = tr(
                "pool_calc_avg",
                lang,
                values=" + ".join(_paren(v) for v in vals),
                count=len(vals),
                value=fmt_number(st.value),
            )
        line = tr(
            "pool_step",
            lang,
            step=st.index + 1,
            total=n,
            rows=_span(st.top, ph),
            cols=_span(st.left, pw),
            calc=calc,
            row=st.out_row,
            col=st.out_col,
        )
        if st.index < n_full:
            marks = {(r, c): "window" for r in range(st.top, st.top + ph) for c in range(st.left, st.left + pw)}
            if st.chosen is not None:
                marks[(st.top + st.chosen[0], st.left + st.chosen[1])] = "target"
            parts.append(line)
            parts.append(
                hstack(
                    [
                        grid(walk.input, marks, color, title=tr("label_feature_map", lang)),
                        "→",
                        grid(done, {(st.out_row, st.out_col): "target"}, color, title=tr("label_pooled", lang)),
                    ]
                )
            )
            parts.append("")
        else:
            parts.append("  " + line)
    parts.append(grid(walk.output, color=color, title=tr("pool_result", lang, shape=_shape(walk.output.shape))))
    if heading:
        layer = "MaxPool2D" if walk.mode == "max" else "AveragePooling2D"
        size = str(ph) if ph == pw else f"({ph}, {pw})"
        stride = str(sh) if sh == sw else f"({sh}, {sw})"
        parts.append(tr("keras_code", lang, code=_code(f"{layer}({size}, {stride})")))
    return _join_lines(parts).rstrip() + "\n"


# --------------------------------------------------------------------------------------
# Flatten, dense, softmax
# --------------------------------------------------------------------------------------
def flatten_text(walk: Any, lang: str, color: bool = False, heading: bool = True) -> str:
    """Explain Flatten as text."""
    H, W = walk.input.shape
    parts: list[Any] = []
    if heading:
        parts.append(_heading(tr("flatten_title", lang), color))
        parts.append(tr("flatten_intro", lang))
        parts.append("")
    parts.append(
        hstack(
            [
                grid(walk.input, color=color, title=tr("label_matrix", lang, shape=_shape((H, W)))),
                "→",
                grid(walk.output[None, :], color=color, title=tr("label_vector", lang, n=walk.output.size)),
            ]
        )
    )
    parts.append(tr("flatten_rule", lang, w=W))
    shown = list(range(walk.output.size)) if walk.output.size <= 8 else [0, 1, 2, walk.output.size - 1]
    for i in shown:
        r, c = divmod(i, W)
        parts.append("  " + tr("flatten_map", lang, i=i, row=r, col=c, value=fmt_number(walk.output[i])))
    if heading:
        parts.append(tr("keras_code", lang, code=_code("Flatten()")))
    return _join_lines(parts).rstrip() + "\n"


def dense_text(walk: Any, lang: str, color: bool = False, heading: bool = True) -> str:
    """Explain a dense layer as text."""
    n, units = walk.weights.shape
    parts: list[Any] = []
    if heading:
        parts.append(_heading(tr("dense_title", lang), color))
        parts.append(tr("dense_intro", lang))
        parts.append(tr("dense_formula", lang))
        if walk.made_up:
            parts.append(tr("dense_made_up", lang))
        parts.append("")
    parts.append(
        hstack(
            [
                grid(walk.inputs[None, :], color=color, title=tr("label_inputs", lang)),
                grid(walk.weights, color=color, title=tr("label_weights", lang, n=n, units=units)),
                grid(walk.bias[None, :], color=color, title=tr("label_bias", lang)),
            ],
            gap=4,
        )
    )
    for j in range(units):
        terms = " + ".join(f"{_paren(walk.inputs[i])}×{_paren(walk.weights[i, j])}" for i in range(n))
        parts.append(
            "  "
            + tr(
                "dense_unit",
                lang,
                name=walk.names[j],
                terms=terms,
                bias=_paren(walk.bias[j]),
                value=fmt_number(walk.outputs[j]),
            )
        )
    parts.append(tr("dense_scores", lang, values=", ".join(fmt_number(v) for v in walk.outputs)))
    if heading:
        parts.append(tr("keras_code", lang, code=_code(f"Dense({units})")))
    return _join_lines(parts).rstrip() + "\n"


def softmax_text(walk: Any, lang: str, color: bool = False, heading: bool = True) -> str:
    """Explain softmax as text."""
    parts: list[Any] = []
    names = walk.names
    if heading:
        parts.append(_heading(tr("softmax_title", lang), color))
        parts.append(tr("softmax_intro", lang))
        parts.append(tr("softmax_formula", lang))
        parts.append("")
    parts.append(tr("softmax_scores", lang, values=tr("list_sep", lang).join(
        tr("name_value", lang, name=nm, value=fmt_number(v)) for nm, v in zip(names, walk.scores))))
    if walk.shift:
        parts.append(tr("softmax_shift", lang, m=fmt_number(walk.shift)))
        exp_terms = [f"e^({fmt_number(z)} − {_paren(walk.shift)}) = {fmt_number(e, 4)}" for z, e in zip(walk.scores, walk.exps)]
    else:
        exp_terms = [f"e^{_paren(z)} = {fmt_number(e, 4)}" for z, e in zip(walk.scores, walk.exps)]
    parts.append(tr("softmax_step_exp", lang))
    parts.extend("    " + tr("name_value", lang, name=nm, value=t) for nm, t in zip(names, exp_terms))
    parts.append(tr("softmax_step_sum", lang, expr=" + ".join(fmt_number(e, 4) for e in walk.exps), total=fmt_number(walk.total, 4)))
    parts.append(tr("softmax_step_divide", lang))
    width = max(display_width(nm) for nm in names)
    for nm, e, p in zip(names, walk.exps, walk.probs):
        bar = "█" * int(round(p * 30))
        line = f"{fmt_number(e, 4)} / {fmt_number(walk.total, 4)} = {fmt_number(p, 4)}"
        parts.append("    " + _pad(tr("name_value", lang, name=nm, value=""), width + 4) + f"{line:<28} {bar} {p * 100:.1f}%")
    parts.append(tr("softmax_check", lang, expr=" + ".join(fmt_number(p, 4) for p in walk.probs),
                    total=fmt_number(float(np.sum(walk.probs)), 4)))
    best = walk.predicted
    parts.append(_paint(tr("softmax_prediction", lang, name=names[best], percent=f"{walk.probs[best] * 100:.1f}"), "strong", color))
    if heading:
        parts.append(tr("keras_code", lang, code=_code(f"Dense({len(names)}, activation='softmax')")))
    return _join_lines(parts).rstrip() + "\n"


# --------------------------------------------------------------------------------------
# The whole guide
# --------------------------------------------------------------------------------------
def guide_text(walk: Any, lang: str, color: bool = False, steps_in_full: int | None = 2) -> str:
    """Explain the guide's pipeline, stage by stage, as text."""
    parts = [
        _paint(tr("guide_title", lang), "strong", color),
        tr("guide_intro", lang),
        "",
        input_text(walk.input, lang, color),
        input_text(walk.rgb, lang, color, heading=False),
        tr("guide_to_conv", lang),
        "",
        conv_text(walk.conv, lang, color, steps_in_full=steps_in_full),
        tr("guide_to_relu", lang),
        "",
        relu_text(walk.relu, lang, color),
        tr("guide_to_pool", lang),
        "",
        pool_text(walk.pool, lang, color),
        tr("guide_to_flatten", lang),
        "",
        flatten_text(walk.flatten, lang, color),
        dense_text(walk.dense, lang, color),
        softmax_text(walk.softmax, lang, color),
        tr("guide_summary", lang, shapes=" → ".join(
            [_shape(walk.conv.image.shape), _shape(walk.conv.output.shape), _shape(walk.relu.output.shape),
             _shape(walk.pool.output.shape), str(walk.flatten.output.size), str(walk.dense.outputs.size),
             str(walk.softmax.probs.size)])),
    ]
    return "\n".join(parts).rstrip() + "\n"
