"""``convlearn.utils.plot_model``: a picture of a model's graph, without Graphviz.

Keras 3's function and arguments. Keras hands the graph to Graphviz; convlearn
lays it out itself, in the layered way Graphviz's ``dot`` does, kept small:

1. **Vertices and edges**: one box per layer (a layer called twice is one box
   with two sets of edges, as in Keras), an edge from the layer that makes a
   tensor to each layer that reads it. ``expand_nested=True`` opens nested
   models, drawn inside a dashed frame.
2. **Ranks**: a box's rank is its depth in the graph, the longest path from an
   input. An edge that skips ranks gets an invisible waypoint on each rank it
   crosses, so that it runs in a lane of its own instead of through boxes.
3. **Order within a rank**: boxes of one rank stand side by side; a few sweeps
   sort each rank by the mean position of its neighbours (fewer crossings).
4. **Coordinates**: each box is placed over the mean of the boxes feeding it,
   pushed apart where boxes would overlap.

SVG is written directly (text stays text); PNG is drawn with matplotlib
(``pip install "convlearn[plot]"``).
"""

from __future__ import annotations

import io
import itertools
import os
from html import escape  # &, <, > and both quotes: safe in text and in attribute values

from ._io import as_path, atomic_write_bytes, atomic_write_text

#: Keras's rankdir values: top to bottom, left to right, and their mirror images.
RANKDIRS = ("TB", "LR", "BT", "RL")
#: Keras's splines values: how edges are drawn.
SPLINES = ("ortho", "polyline", "line", "spline", "curved")
FORMATS = (".png", ".svg")

_TITLE_SIZE = 12.0       # points
_TEXT_SIZE = 11.0
_CHAR = 0.6              # DejaVu Sans Mono's advance, in ems: every box is sized exactly from its text
_PAD = 8.0
_GAP_ACROSS = 28.0       # between boxes of one rank
_GAP_ALONG = 36.0        # between ranks
_LANE = 8.0              # the width an edge's waypoint takes in a rank
_MARGIN = 16.0
_HEADER = "#1f1f1f"
_TRAINABLE = {True: "#228b22", False: "#b22222"}


class _Vertex:
    __slots__ = ("across", "along", "calls", "cluster", "dummy", "height", "key", "layer", "lines", "rank", "width")

    def __init__(self, key, layer=None, cluster=(), dummy=False):
        self.key = key
        self.layer = layer
        self.cluster = cluster
        self.dummy = dummy
        self.calls = []            # (input shapes, output shape, dtype) of every call
        self.lines = []            # [(text, kind)], kind in {"title", "text", "trainable", "non-trainable"}
        self.rank = 0
        self.width = self.height = 0.0
        self.across = self.along = 0.0


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _shapes_text(shapes):
    texts = [_shape_text(s) for s in shapes]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"


def _graph_of(model, expand_nested):
    """Vertices (in first-call order), edges ``(source key, target key)`` and clusters ``{name: [keys]}``."""
    from .models.model import Model

    vertices, edges, clusters = {}, [], {}

    def vertex(layer, cluster):
        key = (cluster, id(layer))
        if key not in vertices:
            vertices[key] = _Vertex(key, layer, cluster)
            for depth in range(1, len(cluster) + 1):
                clusters.setdefault(cluster[:depth], []).append(key)
        return vertices[key]

    def collect(graph, sources, cluster):
        made = dict(sources)                      # id(tensor) -> key of the vertex that makes it
        for t in graph.inputs:
            if id(t) not in made:
                v = vertex(t.node.layer, cluster)
                v.calls.append(([], t.shape, t.node.layer.dtype))
                made[id(t)] = v.key
        for node in graph.nodes:
            layer = node.layer
            ins = [made[id(t)] for t in node.inputs]
            if expand_nested and isinstance(layer, Model) and layer.built:
                inner = layer.graph(False)
                inner_made = collect(inner, {id(t): k for t, k in zip(inner.inputs, ins)}, cluster + (layer.name,))
                made[id(node.output)] = inner_made[id(inner.outputs[0])]
                continue
            v = vertex(layer, cluster)
            v.calls.append(([t.shape for t in node.inputs], node.output.shape, node.output.dtype))
            for source in ins:
                if (source, v.key) not in edges:
                    edges.append((source, v.key))
            made[id(node.output)] = v.key
        return made

    collect(model.graph(False), {}, ())
    return list(vertices.values()), edges, clusters


def _label(v, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable):
    layer = v.layer
    kind = type(layer).__name__
    lines = [(f"{layer.name} ({kind})" if show_layer_names else kind, "title")]
    activation = getattr(layer, "activation", None)
    if show_layer_activations and activation is not None and hasattr(activation, "name"):
        lines.append((f"Activation: {activation.name}", "text"))
    if show_shapes:
        ins = {_shapes_text(c[0]) for c in v.calls if c[0]}
        outs = {_shape_text(c[1]) for c in v.calls}
        if kind != "InputLayer":
            lines.append((f"Input shape: {ins.pop() if len(ins) == 1 else 'multiple'}", "text"))
        lines.append((f"Output shape: {outs.pop() if len(outs) == 1 else 'multiple'}", "text"))
    if show_dtype:
        lines.append((f"Output dtype: {v.calls[0][2]}", "text"))
    if show_trainable and getattr(layer, "params", None) is not None and layer.named_weights():
        lines.append(("Trainable", "trainable") if layer.trainable else ("Non-trainable", "non-trainable"))
    v.lines = lines
    width = max(len(text) * _CHAR * (_TITLE_SIZE if k == "title" else _TEXT_SIZE) for text, k in lines)
    v.width = width + 2 * _PAD
    v.height = sum(1.6 * (_TITLE_SIZE if k == "title" else _TEXT_SIZE) for _, k in lines) + _PAD


def _rank(vertices, edges):
    """Rank = longest path from an input; an edge back to an earlier rank (a layer reused later) is left out."""
    by_key = {v.key: v for v in vertices}
    parents = {v.key: [] for v in vertices}
    for s, t in edges:
        parents[t].append(s)
    ranked = set()
    for v in vertices:                       # first-call order: every forward edge's source comes first
        v.rank = max((by_key[s].rank + 1 for s in parents[v.key] if s in ranked and s != v.key), default=0)
        ranked.add(v.key)


def _add_waypoints(vertices, edges):
    """Split each edge that skips ranks with one invisible vertex per rank it crosses.

    Returns the chains: ``{(source, target): [keys along the edge]}``; back edges stay two points.
    """
    by_key = {v.key: v for v in vertices}
    chains = {}
    for s, t in edges:
        rs, rt = by_key[s].rank, by_key[t].rank
        chain = [s]
        for r in range(rs + 1, rt):
            w = _Vertex(("waypoint", s, t, r), dummy=True)
            w.rank, w.width, w.height = r, _LANE, 0.0
            vertices.append(w)
            by_key[w.key] = w
            chain.append(w.key)
        chain.append(t)
        chains[(s, t)] = chain
    return chains


def _order_and_place(vertices, chains):
    by_key = {v.key: v for v in vertices}
    up, down = {v.key: [] for v in vertices}, {v.key: [] for v in vertices}
    for chain in chains.values():
        for a, b in itertools.pairwise(chain):
            if by_key[b].rank > by_key[a].rank:
                up[b].append(a)
                down[a].append(b)
    ranks = {}
    for v in vertices:
        ranks.setdefault(v.rank, []).append(v)
    levels = [ranks[r] for r in sorted(ranks)]
    index = {}

    def renumber(level):
        for i, v in enumerate(level):
            index[v.key] = i

    for level in levels:
        renumber(level)
    for _ in range(4):                                     # barycentre sweeps, down then up
        for sweep, neighbours in ((levels[1:], up), (levels[-2::-1], down)):
            for level in sweep:
                level.sort(key=lambda v, nb=neighbours: (sum(index[k] for k in nb[v.key]) / len(nb[v.key])
                                                         if nb[v.key] else index[v.key]))
                renumber(level)
    # along: ranks one after another, each as deep as its deepest box
    along = _MARGIN
    for level in levels:
        depth = max(v.height for v in level)
        for v in level:
            v.along = along + depth / 2
        along += depth + _GAP_ALONG
    # across: over the mean of the parents, pushed apart, then the rank shifted back to its wishes
    for k, level in enumerate(levels):
        if k == 0:
            wish = []
            x = 0.0
            for v in level:
                wish.append(x + v.width / 2)
                x += v.width + _GAP_ACROSS
        else:
            wish = [sum(by_key[p].across for p in up[v.key]) / len(up[v.key]) if up[v.key] else 0.0 for v in level]
        pos = list(wish)
        for i in range(1, len(level)):
            pos[i] = max(pos[i], pos[i - 1] + (level[i - 1].width + level[i].width) / 2 + _GAP_ACROSS)
        shift = sum(w - p for w, p in zip(wish, pos)) / len(level)
        for v, p in zip(level, pos):
            v.across = p + shift
    low = min(v.across - v.width / 2 for v in vertices)
    for v in vertices:
        v.across += _MARGIN - low
    extent_across = max(v.across + v.width / 2 for v in vertices) + _MARGIN
    return extent_across, along - _GAP_ALONG + _MARGIN


def _layout(model, rankdir, expand_nested, label_options):
    vertices, edges, clusters = _graph_of(model, expand_nested)
    for v in vertices:
        _label(v, **label_options)
    if rankdir in ("LR", "RL"):                  # ranks run across the page: a box's "along" size is its width
        for v in vertices:
            v.width, v.height = v.height, v.width
    _rank(vertices, edges)
    chains = _add_waypoints(vertices, edges)
    extent_across, extent_along = _order_and_place(vertices, chains)
    if rankdir in ("LR", "RL"):
        for v in vertices:
            v.width, v.height = v.height, v.width
    return vertices, chains, clusters, extent_across, extent_along


class Picture:
    """A laid-out model: boxes with their text, edges as paths, nested-model frames; in page coordinates.

    Attributes
    ----------
    width, height : float
        Size of the page, in points (1/72 inch).
    boxes : list of dict
        ``{"name", "x", "y", "width", "height", "lines"}``: ``x, y`` the top-left
        corner, ``lines`` ``[(text, kind)]``.
    edges : list of dict
        ``{"source", "target", "path"}``: ``path`` a list of commands ``("M", (x, y))``,
        ``("L", (x, y))``, ``("C", c1, c2, end)``.
    frames : list of dict
        ``{"name", "x", "y", "width", "height"}`` around the layers of each expanded nested model.
    """

    def __init__(self, width, height, boxes, edges, frames):
        self.width, self.height = width, height
        self.boxes, self.edges, self.frames = boxes, edges, frames


def layout(model, show_shapes=False, show_dtype=False, show_layer_names=False, rankdir="TB", expand_nested=False,
           show_layer_activations=False, show_trainable=False, splines="ortho"):
    """The :class:`Picture` that :func:`plot_model` draws (its arguments, without the file)."""
    vertices, chains, clusters, extent_across, extent_along = _layout(
        model, rankdir, expand_nested,
        {"show_shapes": show_shapes, "show_dtype": show_dtype, "show_layer_names": show_layer_names,
         "show_layer_activations": show_layer_activations, "show_trainable": show_trainable})
    vertical = rankdir in ("TB", "BT")
    width, height = (extent_across, extent_along) if vertical else (extent_along, extent_across)

    def point(across, along):
        if rankdir == "BT" or rankdir == "RL":
            along = extent_along - along
        return (across, along) if vertical else (along, across)

    by_key = {v.key: v for v in vertices}
    boxes = []
    for v in vertices:
        if v.dummy:
            continue
        cx, cy = point(v.across, v.along)
        boxes.append({"name": v.layer.name, "x": cx - v.width / 2, "y": cy - v.height / 2, "width": v.width,
                      "height": v.height, "lines": v.lines})
    # ports: the edges leaving (entering) a box are spread along its side, in the order of their other ends
    half_along = {v.key: (v.height if vertical else v.width) / 2 for v in vertices}
    half_across = {v.key: (v.width if vertical else v.height) / 2 for v in vertices}
    outgoing, incoming = {}, {}
    for (s, t), chain in chains.items():
        outgoing.setdefault(s, []).append((by_key[chain[1]].across, (s, t)))
        incoming.setdefault(t, []).append((by_key[chain[-2]].across, (s, t)))
    port = {}
    for side, table in (("out", outgoing), ("in", incoming)):
        for key, items in table.items():
            items.sort()
            for i, (_, edge) in enumerate(items):
                spread = 0.6 * half_across[key] * 2
                port[(side, edge)] = (i + 1) / (len(items) + 1) * spread - spread / 2
    edges = []
    for (s, t), chain in chains.items():
        a, b = by_key[s], by_key[t]
        forward = b.rank > a.rank
        pts = [(a.across + port[("out", (s, t))], a.along + (half_along[s] if forward else 0.0))]
        pts += [(by_key[k].across, by_key[k].along) for k in chain[1:-1]]
        pts.append((b.across + port[("in", (s, t))], b.along - (half_along[t] if forward else 0.0)))
        edges.append({"source": a.layer.name, "target": b.layer.name,
                      "path": _path([point(*p) for p in pts], splines, vertical)})
    frames = []
    for name, keys in sorted(clusters.items(), key=lambda item: len(item[0])):
        members = [b for b, v in zip(boxes, (u for u in vertices if not u.dummy)) if v.key in set(keys)]
        pad = 8.0 * (1 + max(0, 3 - len(name)))
        x0 = min(b["x"] for b in members) - pad
        y0 = min(b["y"] for b in members) - pad - _TEXT_SIZE
        x1 = max(b["x"] + b["width"] for b in members) + pad
        y1 = max(b["y"] + b["height"] for b in members) + pad
        frames.append({"name": "/".join(name), "x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0})
    if frames:                                          # frames may reach past the margin: grow the page
        dx = max(0.0, _MARGIN / 2 - min(f["x"] for f in frames))
        dy = max(0.0, _MARGIN / 2 - min(f["y"] for f in frames))
        for item in boxes + frames:
            item["x"] += dx
            item["y"] += dy
        for e in edges:
            e["path"] = [(c, *[(p[0] + dx, p[1] + dy) for p in pts]) for c, *pts in e["path"]]
        width = max(width + dx, max(f["x"] + f["width"] for f in frames) + _MARGIN / 2)
        height = max(height + dy, max(f["y"] + f["height"] for f in frames) + _MARGIN / 2)
    return Picture(width, height, boxes, edges, frames)


def _path(points, splines, vertical):
    """Path commands through ``points`` in the style of Keras's ``splines`` (via Graphviz's names)."""
    commands = [("M", points[0])]
    for p, q in itertools.pairwise(points):
        if splines in ("line", "polyline") or p[0 if vertical else 1] == q[0 if vertical else 1]:
            commands.append(("L", q))
        elif splines == "ortho":                        # along to half way, across, along again
            if vertical:
                mid = (p[1] + q[1]) / 2
                commands += [("L", (p[0], mid)), ("L", (q[0], mid)), ("L", q)]
            else:
                mid = (p[0] + q[0]) / 2
                commands += [("L", (mid, p[1])), ("L", (mid, q[1])), ("L", q)]
        else:                                           # spline, curved: a smooth S between the two
            if vertical:
                mid = (p[1] + q[1]) / 2
                commands.append(("C", (p[0], mid), (q[0], mid), q))
            else:
                mid = (p[0] + q[0]) / 2
                commands.append(("C", (mid, p[1]), (mid, q[1]), q))
    return commands


def _arrowhead(path, size=7.0):
    """The three corners of the arrowhead at the end of ``path``."""
    end = path[-1][-1]
    before = path[-1][-2] if path[-1][0] == "C" else (path[-2][-1] if len(path) > 1 else end)
    dx, dy = end[0] - before[0], end[1] - before[1]
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / norm, dy / norm
    base = (end[0] - ux * size, end[1] - uy * size)
    return [end, (base[0] - uy * size * 0.45, base[1] + ux * size * 0.45),
            (base[0] + uy * size * 0.45, base[1] - ux * size * 0.45)]


def _line_colour(kind):
    return {"title": "white", "trainable": "white", "non-trainable": "white"}.get(kind, "black")


def _band_colour(kind):
    return {"title": _HEADER, "trainable": _TRAINABLE[True], "non-trainable": _TRAINABLE[False]}.get(kind, "white")


def _rows(box):
    """``(y, height, text, kind, size)`` of each text row of a box, top to bottom."""
    y = box["y"] + _PAD / 2
    out = []
    for text, kind in box["lines"]:
        size = _TITLE_SIZE if kind == "title" else _TEXT_SIZE
        out.append((y, 1.6 * size, text, kind, size))
        y += 1.6 * size
    return out


def to_svg(picture):
    """The picture as SVG text."""
    w, h = picture.width, picture.height
    parts = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}pt" height="{h:.0f}pt" '
             f'viewBox="0 0 {w:.1f} {h:.1f}" font-family="DejaVu Sans Mono, monospace">'),
             f'<rect x="0" y="0" width="{w:.1f}" height="{h:.1f}" fill="white"/>']
    for f in picture.frames:
        parts.append(f'<g class="nested"><rect x="{f["x"]:.1f}" y="{f["y"]:.1f}" width="{f["width"]:.1f}" '
                     f'height="{f["height"]:.1f}" rx="6" fill="none" stroke="#777" stroke-dasharray="5,3"/>'
                     f'<text x="{f["x"] + 6:.1f}" y="{f["y"] + _TEXT_SIZE + 2:.1f}" font-size="{_TEXT_SIZE}" '
                     f'fill="#555">{escape(f["name"])}</text></g>')
    for e in picture.edges:
        d = " ".join(c + " " + " ".join(f"{x:.1f},{y:.1f}" for x, y in pts) for c, *pts in e["path"])
        head = " ".join(f"{x:.1f},{y:.1f}" for x, y in _arrowhead(e["path"]))
        parts.append(f'<g class="edge" data-source="{escape(e["source"])}" data-target="{escape(e["target"])}">'
                     f'<path d="{d}" fill="none" stroke="black" stroke-width="1.2"/>'
                     f'<polygon points="{head}" fill="black"/></g>')
    for b in picture.boxes:
        parts.append(f'<g class="layer" data-name="{escape(b["name"])}">')
        for y, height, text, kind, size in _rows(b):
            top = b["y"] if kind == "title" else y
            parts.append(f'<rect x="{b["x"]:.1f}" y="{top:.1f}" width="{b["width"]:.1f}" '
                         f'height="{y + height - top:.1f}" fill="{_band_colour(kind)}"/>')
            weight = ' font-weight="bold"' if kind != "text" else ""
            parts.append(f'<text x="{b["x"] + b["width"] / 2:.1f}" y="{y + height * 0.68:.1f}" font-size="{size}" '
                         f'text-anchor="middle" fill="{_line_colour(kind)}"{weight}>{escape(text)}</text>')
        parts.append(f'<rect x="{b["x"]:.1f}" y="{b["y"]:.1f}" width="{b["width"]:.1f}" height="{b["height"]:.1f}" '
                     'fill="none" stroke="black"/></g>')
    parts.append("</svg>\n")
    return "\n".join(parts)


def _draw_png(picture, path, dpi):
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
        from matplotlib.patches import PathPatch, Polygon, Rectangle
        from matplotlib.path import Path
    except ImportError as exc:
        raise ImportError(
            'plot_model writes PNG files with matplotlib, which is not installed: pip install "convlearn[plot]". '
            "An .svg file needs nothing more: plot_model(model, to_file='model.svg')."
        ) from exc
    w, h = picture.width, picture.height
    fig = Figure(figsize=(w / 72, h / 72), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)                                    # page coordinates: y grows downwards
    ax.axis("off")
    codes = {"M": [Path.MOVETO], "L": [Path.LINETO], "C": [Path.CURVE4] * 3}
    for f in picture.frames:
        ax.add_patch(Rectangle((f["x"], f["y"]), f["width"], f["height"], fill=False, edgecolor="#777",
                               linestyle=(0, (5, 3))))
        ax.text(f["x"] + 6, f["y"] + _TEXT_SIZE + 2, f["name"], fontsize=_TEXT_SIZE, color="#555",
                family="DejaVu Sans Mono")
    for e in picture.edges:
        vertices, path_codes = [], []
        for command, *pts in e["path"]:
            vertices += pts
            path_codes += codes[command]
        ax.add_patch(PathPatch(Path(vertices, path_codes), fill=False, edgecolor="black", linewidth=1.2))
        ax.add_patch(Polygon(_arrowhead(e["path"]), closed=True, color="black"))
    for b in picture.boxes:
        for y, height, text, kind, size in _rows(b):
            top = b["y"] if kind == "title" else y
            ax.add_patch(Rectangle((b["x"], top), b["width"], y + height - top, color=_band_colour(kind), lw=0))
            ax.text(b["x"] + b["width"] / 2, y + height * 0.68, text, fontsize=size, ha="center", va="baseline",
                    color=_line_colour(kind), family="DejaVu Sans Mono", weight="bold" if kind != "text" else None)
        ax.add_patch(Rectangle((b["x"], b["y"]), b["width"], b["height"], fill=False, edgecolor="black"))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    atomic_write_bytes(path, buf.getvalue())


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho", **kwargs):
    """Draw the graph of ``model`` to a PNG or SVG file, like ``keras.utils.plot_model``.

    Parameters
    ----------
    model : convlearn.Model
        A built model: Sequential, functional or subclassed (its recorded graph).
    to_file : str or os.PathLike, default "model.png"
        ``.png`` (matplotlib) or ``.svg`` (written directly); no extension means PNG.
    show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable : bool
        What each box shows besides the layer's class: input and output shapes,
        output dtype, the layer's name, its activation, whether it trains.
    rankdir : {"TB", "LR", "BT", "RL"}, default "TB"
        Top to bottom, left to right, or their mirror images.
    expand_nested : bool, default False
        Open nested models into their layers, in a dashed frame.
    dpi : int, default 200
        Resolution of a PNG (10 to 1000); an SVG is vector.
    splines : {"ortho", "polyline", "line", "spline", "curved"}, default "ortho"
        Right-angled, straight, or curved edges.

    Returns
    -------
    IPython.display.Image or SVG when IPython is installed (shown in a notebook), else None.

    Raises
    ------
    ValueError
        For a model that is not built, a bad extension, rankdir, splines or dpi, unknown arguments.
    ImportError
        For a PNG without matplotlib.
    """
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("plot_model: `layer_range` is not supported (Keras 3 removed it too); plot the whole model.")
    if kwargs:
        raise ValueError(f"plot_model: unrecognized keyword arguments {sorted(kwargs)}. The arguments are Keras's: "
                         "to_file, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi, "
                         "show_layer_activations, show_trainable, splines.")
    if not hasattr(model, "graph") or not hasattr(model, "layers"):
        raise TypeError(f"plot_model expects a convlearn model; got {type(model).__name__}.")
    if not model.built:
        raise ValueError(f"plot_model: model '{model.name}' is not built yet, so its graph is unknown. Build it "
                         "first: start it with keras.Input(shape=...), call build((None, ...)), or call it on data.")
    path = as_path(to_file, "plot_model")
    extension = os.path.splitext(path)[1].lower() or ".png"
    if extension not in FORMATS:
        raise ValueError(f"plot_model: to_file must end in .png or .svg; got {path!r}. convlearn draws without "
                         "Graphviz, in these two formats: plot_model(model, to_file='model.png').")
    if rankdir not in RANKDIRS:
        raise ValueError(f"plot_model: rankdir must be one of {', '.join(map(repr, RANKDIRS))} ('TB': top to bottom, "
                         f"'LR': left to right). Received: rankdir={rankdir!r}.")
    if splines not in SPLINES:
        raise ValueError(f"plot_model: splines must be one of {', '.join(map(repr, SPLINES))}. "
                         f"Received: splines={splines!r}.")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 10 <= dpi <= 1000:
        raise ValueError(f"plot_model: dpi must be a number from 10 to 1000 (Keras's default is 200). "
                         f"Received: dpi={dpi!r}.")
    picture = layout(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                     rankdir=rankdir, expand_nested=expand_nested, show_layer_activations=show_layer_activations,
                     show_trainable=show_trainable, splines=splines)
    if extension == ".svg":
        atomic_write_text(path, to_svg(picture))
    else:
        _draw_png(picture, path, dpi)
    try:
        from IPython import display
    except ImportError:
        return None
    return display.SVG(filename=path) if extension == ".svg" else display.Image(filename=path, format="png")


__all__ = ["FORMATS", "RANKDIRS", "SPLINES", "Picture", "layout", "plot_model", "to_svg"]
