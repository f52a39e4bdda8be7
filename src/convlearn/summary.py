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
                    sl="+", st="+", sr="+", sx="+")
    return dict(tl="┏", h="━", tm="┳", tr="┓", v="┃", ml="┡", mm="╇", mr="┩", bv="│", bl="└", bh="─", bm="┴", br="┘",
                sl="├", st="┬", sr="┤", sx="┼")


def _rows(model, expand_nested, depth=0):
    for layer in _listed_layers(model):
        indent = "  " * depth
        shape = shape_str(layer.output_shape) if layer.built and layer.output_shape is not None else "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        yield layer, f"{indent}{layer.name} ({type(layer).__name__})", shape, params
        if expand_nested and getattr(layer, "is_composite", False) and hasattr(layer, "layers"):
            yield from _rows(layer, expand_nested, depth + 1)


def _listed_layers(model):
    return list(model.layers)


def _is_chain(model):
    """Whether a model reads as a chain (Keras then leaves out the "Connected to" column)."""
    if type(model).__name__ != "Functional":
        return True
    graph = model.graph()
    seen = set()
    for node in graph.nodes:
        if len(node.inputs) > 1 or id(node.layer) in seen:
            return False
        seen.add(id(node.layer))
    consumers = {}
    for node in graph.nodes:
        for t in node.inputs:
            consumers[id(t)] = consumers.get(id(t), 0) + 1
    return len(graph.inputs) == 1 and len(graph.outputs) == 1 and all(c == 1 for c in consumers.values())


def _connections(model):
    """layer -> ["conv2d[0][0]", ...]: the tensors each layer's calls in this model read (Keras's notation)."""
    graph = model.graph()
    nodes = {id(n) for n in graph.nodes}
    index = {}
    for layer in graph.layers:
        mine = [n for n in layer.inbound_nodes if id(n) in nodes or n.is_input]
        for k, n in enumerate(mine):
            index[id(n)] = k
    out = {}
    for node in graph.nodes:
        refs = [f"{t.node.layer.name}[{index.get(id(t.node), 0)}][0]" for t in node.inputs]
        out.setdefault(id(node.layer), []).extend(refs)
    return out


def _explained_rows(rows, widths, lang, c, row):
    """Each layer's row, then its explanation across the whole table, wrapped to the table's width.

    Layers are separated by a thin line; continuation lines of a long sentence are indented
    further, so every sentence starts at the same column.
    """
    from .explain.summary import display_width, explain_layer, wrap_text

    inner = sum(widths) + len(widths) - 1  # the explanation spans every column and their separators
    out = []
    for i, (layer, cells) in enumerate(rows):
        if i:
            out.append(c["sl"] + c["st"].join(c["bh"] * w for w in widths) + c["sr"])
        out.extend(row(cells, c["bv"]))
        for text in explain_layer(layer, lang):
            for piece in wrap_text(text, inner - 1, indent="   ", continuation="  "):
                out.append(c["bv"] + piece + " " * (inner - display_width(piece)) + c["bv"])
    return out


def model_summary(model, explain=False, lang=None, expand_nested=False, line_length=None, stream=None,
                  show_trainable=False):
    """Build the summary text of ``model``.

    A graph that is not a chain gets Keras's "Connected to" column: the
    tensors each layer reads, as ``layer_name[call][0]``. With
    ``explain=True`` each row is followed by how its output shape and
    parameter count follow from the layer's hyperparameters, in ``lang``
    (see :func:`convlearn.explain.summary.explain_layer`), indented under the
    row and wrapped to the table's width.
    """
    c = _box_chars(stream or sys.stdout)
    connected = None if _is_chain(model) or not model.built else _connections(model)
    headers = ["Layer (type)", "Output Shape", "Param #"]
    rows = []
    for layer, name, shape, params in _rows(model, expand_nested):
        cells = [[name], [shape], [params]]
        if connected is not None:
            cells.append(connected.get(id(layer)) or ["-"])
        if show_trainable:
            cells.append(["Y" if layer.trainable else "N"])
        rows.append((layer, cells))
    if connected is not None:
        headers.append("Connected to")
    if show_trainable:
        headers.append("Trainable")
    minimum = [30, 24, 12, 20, 9]
    widths = [max([len(headers[i])] + [len(line) for _, cells in rows for line in cells[i]]) + 2
              for i in range(len(headers))]
    widths = [max(w, minimum[i]) for i, w in enumerate(widths)]
    if line_length:
        extra = line_length - sum(widths) - len(widths) - 1
        if extra > 0:
            widths[0] += extra
    right = {2}                                    # the parameter counts are right-aligned

    def line(left, fill, mid, end):
        return left + mid.join(fill * w for w in widths) + end

    def row(cells, v):
        height = max(len(cell) for cell in cells)
        out = []
        for k in range(height):
            parts = []
            for i, cell in enumerate(cells):
                text = cell[k] + ("," if k < len(cell) - 1 and i == 3 and connected is not None else "") \
                    if k < len(cell) else ""
                parts.append(text.rjust(widths[i] - 1) + " " if i in right else " " + text.ljust(widths[i] - 1))
            out.append(v + v.join(parts) + v)
        return out

    out = [f'Model: "{model.name}"', line(c["tl"], c["h"], c["tm"], c["tr"])]
    out.extend(row([[h] for h in headers], c["v"]))
    out.append(line(c["ml"], c["h"], c["mm"], c["mr"]))
    if explain:
        out.extend(_explained_rows(rows, widths, lang, c, row))
        out.append(c["bl"] + c["bh"] * (sum(widths) + len(widths) - 1) + c["br"])
    else:
        for i, (_, cells) in enumerate(rows):
            if i and connected is not None:
                out.append(c["sl"] + c["sx"].join(c["bh"] * w for w in widths) + c["sr"])
            out.extend(row(cells, c["bv"]))
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
