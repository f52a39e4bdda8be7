"""What the app shows, as JSON: a thin layer over :mod:`convlearn.explain` and the model's own outputs.

Layer data travels compactly: a feature map, a vector or a gradient is sent as 8-bit values
(base64) with the two numbers that map them back (``lo`` and ``hi``), one scale per layer
so that its channels can be compared.  The exact numbers of one cell come with
:func:`cell_view`, from :func:`convlearn.explain.explain_cell`.  Inputs travel as float32
(base64) so that the page can send back exactly the image the numbers were computed on.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from ..explain import tr
from ..explain.backward import BackwardWalkthrough, explain_backward
from ..explain.network import CellArithmetic, LayerStep, explain_cell, forward_values, network_steps
from ..explain.summary import explain_layer

__all__ = [
    "STEP_LABELS",
    "encode_u8",
    "encode_f32",
    "decode_f32",
    "describe_model",
    "predict_view",
    "layer_views",
    "cell_view",
    "backward_view",
    "playground_view",
]

#: The preprocessing steps of :func:`convlearn.datasets.load_digit_image`, shown in this order.
STEP_LABELS = ("grayscale", "invert", "clean", "crop", "scale", "center")

#: Preprocessing images larger than this (a side, in pixels) are shrunk for display.
STEP_DISPLAY_SIDE = 56

#: Vectors this short also carry their exact values (the probabilities of the output layer).
EXACT_VECTOR = 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode_f32(x: np.ndarray) -> str:
    """Float32 little-endian bytes, base64."""
    return _b64(np.ascontiguousarray(x, dtype="<f4").tobytes())


def decode_f32(text: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The inverse of :func:`encode_f32`, checked: ``shape`` and finite values.

    Raises
    ------
    ValueError
        If ``text`` is not base64 of exactly ``prod(shape)`` finite float32 values.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected the input as a base64 string of float32 values; got {type(text).__name__}")
    count = math.prod(shape)
    if len(text) > 4 * (4 * count + 2) // 3 + 4:
        raise ValueError(f"the input is too long: expected {count} float32 values, shape {shape}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise ValueError("the input is not valid base64") from None
    if len(raw) != 4 * count:
        raise ValueError(f"expected {count} float32 values (shape {shape}); got {len(raw)} bytes")
    arr = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise ValueError("the input contains NaN or infinite values")
    return arr


def encode_u8(values: np.ndarray, symmetric: bool | None = None) -> dict[str, Any]:
    """8-bit values and their scale: ``v ≈ lo + q / 255 * (hi - lo)``.

    Signed data (or ``symmetric=True``) gets a scale symmetric around 0, drawn with a
    diverging colour map; data that never goes below 0 gets ``lo = 0``.
    """
    v = np.asarray(values, dtype=np.float64)
    lo = float(np.min(v)) if v.size else 0.0
    hi = float(np.max(v)) if v.size else 0.0
    if symmetric is None:
        symmetric = lo < 0 < hi or (lo < 0 and hi <= 0)
    if symmetric:
        m = max(abs(lo), abs(hi)) or 1.0
        lo, hi = -m, m
    else:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        if hi == lo:
            hi = lo + 1.0
    q = np.clip(np.rint((v - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    return {"lo": lo, "hi": hi, "scale": "diverging" if symmetric else "sequential", "data": _b64(q.tobytes())}


def _shape(shape: Any) -> list[Any]:
    return [None if d is None else int(d) for d in shape]


def _activation_name(layer: Any) -> str | None:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "name", None)


def output_step(model: Any) -> int:
    """The step whose output is the model's (first) output: the class scores the app shows."""
    program = model.program()
    return next(i for i, step in enumerate(program.steps) if step.output == program.outputs[0])


def describe_model(model: Any, lang: str) -> dict[str, Any]:
    """The model as the page draws it: every layer call with what it reads, its shape, parameters and formulas."""
    steps = network_steps(model)
    layers = []
    for s in steps:
        config = {}
        for key in ("filters", "kernel_size", "strides", "padding", "pool_size", "units", "rate"):
            value = getattr(s.layer, key, None)
            if value is not None and not callable(value):
                config[key] = list(value) if isinstance(value, tuple) else value
        layers.append({
            "step": s.index,
            "name": s.name,
            "kind": s.kind,
            "inputs": list(s.inputs),
            "output_shape": _shape(s.output_shape),
            "params": s.params,
            "activation": _activation_name(s.layer),
            "config": config,
            "explain": explain_layer(s.layer, lang),
        })
    output_shape = model.output_shape if isinstance(model.output_shape, tuple) else model.output_shape[0]
    return {
        "name": model.name,
        "input_shape": _shape(model.input_shape),
        "classes": int(output_shape[-1]),
        "params": int(model.count_params()),
        "layers": layers,
        "output_step": output_step(model),
        "is_graph": any(len(s.inputs) != 1 or s.inputs[0] != s.index - 1 for s in steps),
    }


def _display(image: np.ndarray) -> np.ndarray:
    """A preprocessing image shrunk (area averaging) so its longer side is at most STEP_DISPLAY_SIDE."""
    h, w = image.shape
    factor = int(math.ceil(max(h, w) / STEP_DISPLAY_SIDE))
    if factor <= 1:
        return image
    H, W = -(-h // factor) * factor, -(-w // factor) * factor
    padded = np.zeros((H, W), dtype=np.float64)
    padded[:h, :w] = image
    return padded.reshape(H // factor, factor, W // factor, factor).mean(axis=(1, 3))  # (H/f, W/f)


def _map_view(out: np.ndarray, symmetric: bool | None = None) -> dict[str, Any]:
    """One layer's output (batch axis removed) as the page draws it."""
    if out.ndim == 3:  # (H, W, C) -> channels first, each an image
        view = encode_u8(np.transpose(out, (2, 0, 1)), symmetric)  # (C, H, W)
        view.update(kind="maps", shape=list(out.shape))
    elif out.ndim == 1:
        view = encode_u8(out, symmetric)
        view.update(kind="vector", shape=list(out.shape))
        if out.size <= EXACT_VECTOR:
            view["values"] = [float(v) for v in out]
    else:
        flat = out.reshape(-1)
        view = encode_u8(flat, symmetric)
        view.update(kind="vector", shape=list(out.shape))
    return view


def layer_views(outputs: list[np.ndarray], symmetric: bool | None = None) -> list[dict[str, Any]]:
    """Every step's output (batch axis kept in ``outputs``) encoded for the page."""
    return [dict(_map_view(np.asarray(o[0], dtype=np.float64), symmetric), step=i) for i, o in enumerate(outputs)]


def predict_view(model: Any, x: np.ndarray, steps: list[tuple[str, np.ndarray]] | None = None) -> dict[str, Any]:
    """The prediction for one prepared image, every layer's output and the preprocessing steps.

    Parameters
    ----------
    model : convlearn.models.Model
    x : numpy.ndarray
        The prepared image, shape (H, W) or (H, W, C).
    steps : list of (name, image), optional
        From ``load_digit_image(..., return_steps=True)``.
    """
    xb, outs = forward_values(model, x)
    scores = np.asarray(outs[output_step(model)][0], dtype=np.float64).reshape(-1)
    if not (np.all(scores >= 0) and abs(scores.sum() - 1.0) < 1e-3):  # scores, not probabilities
        e = np.exp(scores - scores.max())
        probs = e / e.sum()
    else:
        probs = scores
    order = [int(i) for i in np.argsort(-probs, kind="stable")]
    payload = {
        "input": encode_f32(xb[0]),
        "input_shape": list(xb.shape[1:]),
        "input_view": _map_view(np.asarray(xb[0], dtype=np.float64)),
        "predicted": order[0],
        "probabilities": [float(p) for p in probs],
        "top": order[:3],
        "layers": layer_views(outs),
    }
    if steps is not None:
        payload["steps"] = []
        for name, image in steps:
            shown = _display(np.asarray(image, dtype=np.float64))
            payload["steps"].append({"name": name, "size": list(image.shape), "shown": list(shown.shape),
                                     **encode_u8(np.clip(shown, 0, 1), symmetric=False)})
    return payload


def _json_array(a: Any) -> Any:
    if a is None:
        return None
    arr = np.asarray(a, dtype=np.float64)
    return [None if not math.isfinite(v) else v for v in arr.ravel().tolist()] if arr.ndim <= 1 else \
        [_json_array(row) for row in arr]


def _num(v: float) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def cell_view(model: Any, x: np.ndarray, step: int, position: list[int]) -> dict[str, Any]:
    """The arithmetic of one cell (:func:`convlearn.explain.explain_cell`) as JSON."""
    cell: CellArithmetic = explain_cell(model, x, step, position)
    out: dict[str, Any] = {
        "step": cell.step, "layer": cell.layer, "layer_class": cell.layer_class, "kind": cell.kind,
        "position": list(cell.position), "value": _num(cell.value), "output": _num(cell.output),
        "activation": cell.activation,
    }
    if cell.kind == "conv":
        out.update(window=_json_array(np.transpose(cell.window, (2, 0, 1))),  # (C, kh, kw)
                   weights=_json_array(np.transpose(cell.weights, (2, 0, 1))),
                   products=_json_array(np.transpose(cell.products, (2, 0, 1))),
                   channel_sums=_json_array(cell.channel_sums), total=cell.total, bias=cell.bias, z=cell.z,
                   top=cell.top, left=cell.left, stride=list(cell.stride), pads=list(cell.pads))
    elif cell.kind == "pool":
        out.update(window=_json_array(cell.window), mode=cell.mode,
                   winner=None if cell.winner is None else list(cell.winner), top=cell.top, left=cell.left)
    elif cell.kind == "dense":
        out.update(terms=[{"i": i, "x": xv, "w": w, "product": p} for i, xv, w, p in cell.terms],
                   count=int(cell.window.size), total=cell.total, bias=cell.bias, z=cell.z,
                   logits=_json_array(cell.logits), exps=_json_array(cell.exps))
    elif cell.kind == "flatten":
        out.update(source=list(cell.source))
    elif cell.kind == "global_pool":
        out.update(mode=cell.mode, count=int(cell.window.size),
                   winner=None if cell.winner is None else list(cell.winner), total=_num(cell.total))
    elif cell.kind in ("activation", "merge", "batchnorm", "identity", "rescaling"):
        out.update(inputs=cell.inputs, constants=cell.constants, z=_num(cell.z),
                   logits=_json_array(cell.logits), exps=_json_array(cell.exps))
    return out


def _section_json(walk: BackwardWalkthrough, lang: str) -> list[dict[str, Any]]:
    sections = []
    for section in walk.sections(lang):
        items = []
        for kind, item in section["items"]:
            if kind == "text":
                items.append({"type": "text", "text": item})
            else:
                items.append({"type": "grids", "grids": [
                    {"title": g["title"], "values": _json_array(g["values"]),
                     "marks": [list(m) for m in g.get("marks", [])]} for g in item]})
        sections.append({"title": section["title"], "items": items})
    return sections


def backward_view(model: Any, x: np.ndarray, target: int, lang: str) -> dict[str, Any]:
    """The gradient at every layer for class ``target``, the input saliency and the walk-through."""
    walk = explain_backward(model, x, target)
    flow = walk.flow
    grads = []
    for i, g in enumerate(flow.step_grads):
        if g is None:
            grads.append({"step": i, "kind": "none"})
        else:
            grads.append(dict(_map_view(np.asarray(g[0], dtype=np.float64), symmetric=True), step=i))
    weights = []
    for path, g in flow.weight_grads.items():
        weights.append({"path": path, "shape": list(g.shape), "norm": float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))})
    return {
        "target": flow.target,
        "loss": flow.loss,
        "probabilities": [float(p) for p in flow.probs],
        "gradients": grads,
        "saliency": _map_view(np.asarray(flow.input_grad[0], dtype=np.float64), symmetric=True),
        "weights": weights,
        "sections": _section_json(walk, lang),
        "text": walk.to_text(lang),
    }


def playground_view(walk_conv: Any, walk_relu: Any, walk_pool: Any, lang: str) -> dict[str, Any]:
    """The convolution, ReLU and pooling walk-throughs of the playground as JSON."""
    def size_lines(size: Any) -> list[str]:
        if size.padding == "same":
            return [tr("size_same", lang, n=size.n, s=size.s, out=size.out),
                    tr("size_same_pad", lang, out=size.out, s=size.s, k=size.k, n=size.n, total=size.pad_total),
                    tr("size_same_split", lang, before=size.pad_before, after=size.pad_after)]
        p = 0 if size.padding == "valid" else size.padding
        return [tr("size_valid", lang, n=size.n, p=p, k=size.k, s=size.s, out=size.out)]

    conv = {
        "image": _json_array(walk_conv.image),
        "kernel": _json_array(walk_conv.kernel),
        "padded": _json_array(walk_conv.padded),
        "pads": list(walk_conv.pads),
        "stride": list(walk_conv.stride),
        "output": _json_array(walk_conv.output),
        "steps": [{"row": s.out_row, "col": s.out_col, "top": s.top, "left": s.left,
                   "products": _json_array(s.products), "total": s.total} for s in walk_conv.steps],
        "size_formula": tr("size_same_formula" if walk_conv.padding == "same" else "size_valid_formula", lang),
        "size_height": size_lines(walk_conv.size_h),
        "size_width": size_lines(walk_conv.size_w),
        "size_result": tr("size_result", lang, h=walk_conv.output.shape[0], w=walk_conv.output.shape[1],
                          steps=len(walk_conv.steps)),
    }
    relu = {"output": _json_array(walk_relu.output), "changed": int(np.count_nonzero(walk_relu.changed))}
    pool = {
        "mode": walk_pool.mode,
        "pool_size": list(walk_pool.pool_size),
        "strides": list(walk_pool.strides),
        "output": _json_array(walk_pool.output),
        "steps": [{"row": s.out_row, "col": s.out_col, "top": s.top, "left": s.left, "value": s.value,
                   "winner": None if s.chosen is None else list(s.chosen)} for s in walk_pool.steps],
        "size_height": size_lines(walk_pool.size_h),
        "size_width": size_lines(walk_pool.size_w),
    }
    return {"conv": conv, "relu": relu, "pool": pool}


def step_of(steps: list[LayerStep], index: Any) -> LayerStep:
    """The step ``index`` (validated)."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(steps):
        raise ValueError(f"step must be a layer number from 0 to {len(steps) - 1}; got {index!r}")
    return steps[index]
