"""The text of ``model.summary()``: one row per layer, then parameter totals, like Keras."""

from __future__ import annotations

import sys

from .layers.base import shape_str


def _readable_bytes(n):
    for unit in ("B", "KB", "MB"):
        if n < 1024:
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _count(n, nbytes):
    return f"{n:,} ({_readable_bytes(nbytes)})"


def _box_chars(stream):
    """Heavy box-drawing characters when the output can show them, ASCII otherwise."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "┏━┳┓┃┡╇┩│└┴┘├┬┤".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return dict(tl="+", h="-", tm="+", tr="+", v="|", ml="+", mm="+", mr="+", bv="|", bl="+", bh="-", bm="+", br="+",
                    sl="+", st="+", sr="+")
    return dict(tl="┏", h="━", tm="┳", tr="┓", v="┃", ml="┡", mm="╇", mr="┩", bv="│", bl="└", bh="─", bm="┴", br="┘",
                sl="├", st="┬", sr="┤")


def _rows(model, expand_nested, depth=0):
    for layer in model.layers:
        indent = "  " * depth
        shape = shape_str(layer.output_shape) if layer.built else "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        yield layer, f"{indent}{layer.name} ({type(layer).__name__})", shape, params
        if expand_nested and hasattr(layer, "leaf_layers"):
            yield from _rows(layer, expand_nested, depth + 1)


def _explained_rows(rows, widths, lang, c, row):
    """Each layer's row, then its explanation across the whole table, wrapped to the table's width.

    Layers are separated by a thin line; continuation lines of a long sentence are indented
    further, so every sentence starts at the same column.
    """
    from .explain.summary import display_width, explain_layer, wrap_text

    inner = sum(widths) + 2  # the explanation spans the three columns and their two separators
    out = []
    for i, (layer, name, shape, params) in enumerate(rows):
        if i:
            out.append(c["sl"] + c["st"].join(c["bh"] * w for w in widths) + c["sr"])
        out.append(row((name, shape, params), c["bv"]))
        for text in explain_layer(layer, lang):
            for piece in wrap_text(text, inner - 1, indent="   ", continuation="  "):
                out.append(c["bv"] + piece + " " * (inner - display_width(piece)) + c["bv"])
    return out


def model_summary(model, explain=False, lang=None, expand_nested=False, line_length=None, stream=None):
    """Build the summary text of ``model``.

    With ``explain=True`` each row is followed by how its output shape and
    parameter count follow from the layer's hyperparameters, in ``lang``
    (see :func:`convlearn.explain.summary.explain_layer`), indented under the
    row and wrapped to the table's width.
    """
    c = _box_chars(stream or sys.stdout)
    rows = list(_rows(model, expand_nested))
    headers = ("Layer (type)", "Output Shape", "Param #")
    widths = [max([len(headers[i])] + [len(r[i + 1]) for r in rows]) + 2 for i in range(3)]
    widths = [max(widths[0], 30), max(widths[1], 24), max(widths[2], 12)]
    if line_length:
        extra = line_length - sum(widths) - 4
        if extra > 0:
            widths[0] += extra

    def line(left, fill, mid, right):
        return left + mid.join(fill * w for w in widths) + right

    def row(cells, v):
        a, b, p = cells
        return (v + " " + a.ljust(widths[0] - 1) + v + " " + b.ljust(widths[1] - 1) + v
                + p.rjust(widths[2] - 1) + " " + v)

    out = [f'Model: "{model.name}"', line(c["tl"], c["h"], c["tm"], c["tr"]), row(headers, c["v"]),
           line(c["ml"], c["h"], c["mm"], c["mr"])]
    if explain:
        out.extend(_explained_rows(rows, widths, lang, c, row))
        out.append(c["bl"] + c["bh"] * (sum(widths) + 2) + c["br"])
    else:
        out.extend(row((name, shape, params), c["bv"]) for _, name, shape, params in rows)
        out.append(line(c["bl"], c["bh"], c["bm"], c["br"]))
    if model.built:
        total = model.count_params()
        trainable = sum(w.size for w in model.trainable_weights)
        itemsize = 4 if model.dtype == "float32" else 8
        out.append(f" Total params: {_count(total, total * itemsize)}")
        out.append(f" Trainable params: {_count(trainable, trainable * itemsize)}")
        out.append(f" Non-trainable params: {_count(total - trainable, (total - trainable) * itemsize)}")
        opt = model.optimizer
        if opt is not None and opt.slots is not None:
            state = sum(a.size for a in opt.get_state())
            out.append(f" Optimizer params: {_count(state, state * itemsize)}")
    else:
        out.append(" Total params: 0 (unbuilt: give the first layer input_shape=... or call build/fit)")
    return "\n".join(out)
