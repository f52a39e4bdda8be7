"""Your own network, one number at a time: its layer calls as a graph, and the arithmetic of one cell.

The guide's walk-throughs (:mod:`convlearn.explain.walkthrough`) use small made-up matrices.
This module asks the same questions of a real model and a real input: which window of the
layer's input does a feature-map cell come from, which filter multiplies it, what are the
products, their sum, the bias and the activation?  The answers are plain objects holding
the model's own numbers::

    from convlearn import explain
    cell = explain.explain_cell(model, x, step=0, position=(5, 7, 3))   # conv: row 5, column 7, filter 3
    cell.window, cell.weights, cell.products, cell.total, cell.bias, cell.output
    cell.value          # what the model itself computed there (model.layer_outputs)

Steps are the model's layer calls in the order they run (``model.program()``, nested models
opened up); :func:`network_steps` lists them with the steps each one reads, so a graph with a
shortcut is shown as a graph.  Everything is computed in float64 from the float32 arrays the
model runs on, so ``cell.output`` and ``cell.value`` agree to float32 rounding.

Indices start at 0 (rows, columns, channels), as in NumPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .walkthrough import ExplainError, output_size

__all__ = ["LayerStep", "CellArithmetic", "network_steps", "forward_values", "explain_cell", "as_image_batch"]

#: What :attr:`CellArithmetic.kind` can be, by layer class.
_KINDS = {
    "Conv2D": "conv",
    "MaxPooling2D": "pool",
    "AveragePooling2D": "pool",
    "Dense": "dense",
    "Flatten": "flatten",
    "GlobalAveragePooling2D": "global_pool",
    "GlobalMaxPooling2D": "global_pool",
    "Activation": "activation",
    "ReLU": "activation",
    "LeakyReLU": "activation",
    "Softmax": "activation",
    "Add": "merge",
    "Subtract": "merge",
    "Multiply": "merge",
    "Average": "merge",
    "Maximum": "merge",
    "Minimum": "merge",
    "BatchNormalization": "batchnorm",
    "Dropout": "identity",
    "Rescaling": "rescaling",
}

#: Dense terms listed one by one in :attr:`CellArithmetic.terms`: the largest, by size.
TOP_TERMS = 8


@dataclass(frozen=True)
class LayerStep:
    """One layer call of a model, as :func:`network_steps` lists it.

    Attributes
    ----------
    index : int
        Position in the run order (``model.program().steps[index]``).
    layer : convlearn.layers.Layer
        The layer that is called.
    name, kind : str
        The layer's name and class name.
    inputs : tuple of int
        The steps whose outputs this call reads; ``-1`` is the model's input.
    output_shape : tuple
        The call's output shape, batch axis included (``None``).
    params : int
        Weights of the layer (counted once even if the layer is called twice).
    """

    index: int
    layer: Any
    name: str
    kind: str
    inputs: tuple[int, ...]
    output_shape: tuple
    params: int


def _base(layer: Any) -> Any:
    """The user's layer behind a step (``OpaqueCall`` wraps layers whose ``call`` uses NumPy)."""
    inner = getattr(layer, "layer", None)
    return inner if inner is not None and hasattr(layer, "kwargs") else layer


def network_steps(model: Any) -> list[LayerStep]:
    """The layer calls of ``model`` in the order they run, each with the steps it reads.

    Parameters
    ----------
    model : convlearn.models.Model
        A built model with one input (Sequential, functional or subclassed).

    Returns
    -------
    list of LayerStep

    Raises
    ------
    ExplainError
        If the model has more than one input.
    """
    program = model.program()
    if len(program.inputs) != 1:
        raise ExplainError("err_net_one_input", inputs=len(program.inputs))
    producer = {program.inputs[0]: -1}
    steps = []
    for i, step in enumerate(program.steps):
        layer = _base(step.layer)
        out_shape = step.node.output.shape if step.node is not None else (None,)
        steps.append(LayerStep(i, layer, layer.name, type(layer).__name__,
                               tuple(producer[s] for s in step.inputs), tuple(out_shape), int(layer.count_params())))
        producer[step.output] = i
    return steps


def as_image_batch(model: Any, x: Any) -> np.ndarray:
    """One input for ``model`` as a batch of one, in the model's dtype.

    Accepts ``(H, W)``, ``(H, W, C)`` or ``(1, H, W, C)`` for a model whose input is
    ``(None, H, W, C)``.

    Raises
    ------
    ExplainError
        If the shape does not fit the model's input, or the values are not finite.
    """
    want = tuple(model.input_shape[1:])
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape == want[:-1] and want[-1:] == (1,):
        arr = arr[..., None]  # (H, W, 1)
    if arr.shape == want:
        arr = arr[None]  # (1, H, W, C)
    if arr.shape != (1,) + want:
        raise ExplainError("err_net_input_shape", want=str(want), got=str(tuple(np.shape(x))))
    if not np.all(np.isfinite(arr)):
        raise ExplainError("err_array_not_finite", name="x")
    dtype = getattr(model, "dtype", None) or "float32"
    return arr.astype(dtype)


def forward_values(model: Any, x: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    """The input (batch of one) and every step's output, from ``model.layer_outputs``.

    Returns
    -------
    x : numpy.ndarray
        Shape (1, H, W, C).
    outputs : list of numpy.ndarray
        ``outputs[i]`` is step ``i``'s output, batch axis kept.
    """
    xb = as_image_batch(model, x)
    return xb, [out for _, out in model.layer_outputs(xb)]


@dataclass
class CellArithmetic:
    """How one number of a layer's output is computed from the layer's input.

    Which attributes are filled depends on :attr:`kind`:

    ``"conv"``
        ``window`` (kh, kw, C) of the padded input, ``weights`` (kh, kw, C) the filter,
        ``products`` their element-wise product, ``channel_sums`` (C,), ``total`` the sum of
        all products, ``bias``, ``z = total + bias``, ``activation`` and ``output``.
        ``top``, ``left``: the window's corner in the unpadded input (may be negative:
        padding zeros); ``stride``, ``pads`` (top, left).
    ``"pool"``
        ``window`` (ph, pw) of one channel (NaN where the window hangs over the edge with
        ``padding="same"``), ``mode`` "max" or "avg", ``winner`` (row, col) inside the window
        for max pooling, ``output``.
    ``"dense"``
        ``window`` the inputs (n,), ``weights`` the unit's column (n,), ``products``,
        ``total``, ``bias``, ``z``, ``activation``, ``output``; ``terms`` lists the
        :data:`TOP_TERMS` largest terms as (input index, x, w, x*w).  With softmax,
        ``logits`` holds every unit's ``z``, ``exps`` their ``exp(z - max z)``.
    ``"flatten"``
        ``source`` the (row, col, channel) of the input that lands in this position.
    ``"global_pool"``, ``"activation"``, ``"merge"``, ``"batchnorm"``, ``"identity"``, ``"rescaling"``
        ``inputs`` the values the output is computed from, and the layer's constants
        (``constants``: BatchNormalization's mean, variance, gamma, beta and epsilon; Rescaling's
        scale and offset).
    ``"other"``
        Only ``value``: a layer this module does not take apart.

    Attributes
    ----------
    step : int
        Index of the layer call (see :func:`network_steps`).
    layer, layer_class : str
        The layer's name and class.
    position : tuple of int
        The cell: (row, col, channel) for images, (unit,) for vectors.
    value : float
        What the model computed at this position (from ``model.layer_outputs``).
    output : float
        What this arithmetic gives (equal to ``value`` up to float32 rounding).
    """

    step: int
    layer: str
    layer_class: str
    kind: str
    position: tuple[int, ...]
    value: float
    output: float = math.nan
    window: np.ndarray | None = None
    weights: np.ndarray | None = None
    products: np.ndarray | None = None
    channel_sums: np.ndarray | None = None
    total: float = math.nan
    bias: float = 0.0
    z: float = math.nan
    activation: str = "linear"
    top: int = 0
    left: int = 0
    stride: tuple[int, int] = (1, 1)
    pads: tuple[int, int] = (0, 0)
    mode: str = ""
    winner: tuple[int, int] | None = None
    terms: list[tuple[int, float, float, float]] = field(default_factory=list)
    logits: np.ndarray | None = None
    exps: np.ndarray | None = None
    source: tuple[int, ...] | None = None
    inputs: list[float] = field(default_factory=list)
    constants: dict[str, float] = field(default_factory=dict)


def _check_position(position: Any, shape: tuple) -> tuple[int, ...]:
    """``position`` as a tuple of ints inside ``shape`` (the output without its batch axis)."""
    try:
        pos = tuple(int(p) for p in position)
    except (TypeError, ValueError):
        raise ExplainError("err_net_position", position=repr(position), shape=str(shape)) from None
    if len(pos) != len(shape) or any(not 0 <= p < n for p, n in zip(pos, shape)):
        raise ExplainError("err_net_position", position=str(pos), shape=str(shape))
    return pos


def _activate(activation: Any, z: np.ndarray) -> np.ndarray:
    return np.asarray(activation.forward(np.asarray(z, dtype=np.float64))[0], dtype=np.float64)


def explain_cell(model: Any, x: Any, step: int, position: Any) -> CellArithmetic:
    """The arithmetic behind one number of one layer's output, with the model's own numbers.

    Parameters
    ----------
    model : convlearn.models.Model
        A built model with one input.
    x : array_like
        One input: (H, W), (H, W, C) or (1, H, W, C).
    step : int
        Which layer call (an index into :func:`network_steps`).
    position : sequence of int
        The cell, without the batch axis: ``(row, col, channel)`` for an image output,
        ``(unit,)`` for a vector.

    Returns
    -------
    CellArithmetic

    Raises
    ------
    ExplainError
        For a step or position outside the model, or an input of the wrong shape.
    """
    steps = network_steps(model)
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= step < len(steps):
        raise ExplainError("err_net_step", step=repr(step), count=len(steps))
    info = steps[int(step)]
    xb, outs = forward_values(model, x)
    out = outs[info.index][0]  # (…) without the batch axis
    pos = _check_position(position, out.shape)
    ins = [(xb if s < 0 else outs[s])[0].astype(np.float64) for s in info.inputs]
    layer = info.layer
    cell = CellArithmetic(info.index, info.name, info.kind, _KINDS.get(info.kind, "other"), pos, float(out[pos]))
    explain = {"conv": _conv_cell, "pool": _pool_cell, "dense": _dense_cell, "flatten": _flatten_cell,
               "global_pool": _global_cell, "activation": _activation_cell, "merge": _merge_cell,
               "batchnorm": _batchnorm_cell, "identity": _identity_cell, "rescaling": _rescaling_cell}
    if cell.kind in explain:
        explain[cell.kind](cell, layer, ins, pos)
    else:
        cell.output = cell.value
    return cell


def _conv_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    x = ins[0]  # (H, W, C)
    row, col, f = pos
    kernel = np.asarray(layer.params["kernel"], dtype=np.float64)  # (kh, kw, C, F)
    kh, kw = kernel.shape[:2]
    sh, sw = layer.strides
    pad_top = output_size(x.shape[0], kh, sh, layer.padding).pad_before
    pad_left = output_size(x.shape[1], kw, sw, layer.padding).pad_before
    top, left = row * sh - pad_top, col * sw - pad_left
    window = np.zeros((kh, kw, x.shape[2]))  # (kh, kw, C); zeros where the window covers padding
    for a in range(kh):
        for b in range(kw):
            r, c = top + a, left + b
            if 0 <= r < x.shape[0] and 0 <= c < x.shape[1]:
                window[a, b] = x[r, c]
    cell.window, cell.weights = window, kernel[:, :, :, f]  # (kh, kw, C) each
    cell.products = window * cell.weights  # (kh, kw, C)
    cell.channel_sums = cell.products.sum(axis=(0, 1))  # (C,)
    cell.total = float(cell.products.sum())
    bias = layer.params.get("bias")
    cell.bias = 0.0 if bias is None else float(bias[f])
    cell.z = cell.total + cell.bias
    cell.activation = layer.activation.name
    cell.output = float(_activate(layer.activation, np.array([cell.z]))[0])
    cell.top, cell.left, cell.stride, cell.pads = top, left, (sh, sw), (pad_top, pad_left)


def _pool_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    x = ins[0]  # (H, W, C)
    row, col, ch = pos
    ph, pw = layer.pool_size
    sh, sw = layer.strides
    pad_top = output_size(x.shape[0], ph, sh, layer.padding).pad_before
    pad_left = output_size(x.shape[1], pw, sw, layer.padding).pad_before
    top, left = row * sh - pad_top, col * sw - pad_left
    window = np.full((ph, pw), np.nan)  # (ph, pw); NaN outside the input
    for a in range(ph):
        for b in range(pw):
            r, c = top + a, left + b
            if 0 <= r < x.shape[0] and 0 <= c < x.shape[1]:
                window[a, b] = x[r, c, ch]
    cell.window, cell.mode = window, getattr(layer, "mode", "max")
    if cell.mode == "max":
        flat = int(np.nanargmax(window))  # the first largest value, as the guide's walk-through picks
        cell.winner = (flat // pw, flat % pw)
        cell.output = float(window[cell.winner])
    else:
        cell.output = float(np.nanmean(window))
    cell.top, cell.left, cell.stride, cell.pads = top, left, (sh, sw), (pad_top, pad_left)


def _dense_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    x = ins[0]
    if x.ndim != 1:
        cell.kind, cell.output = "other", cell.value  # Dense on images acts on the last axis
        return
    unit = pos[0]
    kernel = np.asarray(layer.params["kernel"], dtype=np.float64)  # (n, units)
    bias = layer.params.get("bias")
    b = np.zeros(kernel.shape[1]) if bias is None else np.asarray(bias, dtype=np.float64)  # (units,)
    cell.window, cell.weights = x, kernel[:, unit]  # (n,) each
    cell.products = x * cell.weights  # (n,)
    cell.total = float(cell.products.sum())
    cell.bias = float(b[unit])
    cell.z = cell.total + cell.bias
    cell.activation = layer.activation.name
    order = np.argsort(-np.abs(cell.products), kind="stable")[:TOP_TERMS]
    cell.terms = [(int(i), float(x[i]), float(cell.weights[i]), float(cell.products[i])) for i in order]
    if cell.activation == "softmax":
        cell.logits = x @ kernel + b  # (units,)
        cell.exps = np.exp(cell.logits - cell.logits.max())  # (units,)
        cell.output = float(cell.exps[unit] / cell.exps.sum())
    else:
        cell.output = float(_activate(layer.activation, np.array([cell.z]))[0])


def _flatten_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    x = ins[0]
    cell.source = tuple(int(i) for i in np.unravel_index(pos[0], x.shape))  # row-major, as Flatten reads
    cell.output = float(x[cell.source])
    cell.inputs = [cell.output]


def _global_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    x = ins[0]  # (H, W, C)
    ch = pos[-1]
    values = x[:, :, ch]  # (H, W)
    cell.window = values
    cell.mode = "max" if "Max" in cell.layer_class else "avg"
    if cell.mode == "max":
        flat = int(np.argmax(values))
        cell.winner = (flat // values.shape[1], flat % values.shape[1])
        cell.output = float(values[cell.winner])
    else:
        cell.total = float(values.sum())
        cell.output = cell.total / values.size


def _activation_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    x = ins[0]
    cell.inputs = [float(x[pos])]
    cell.z = cell.inputs[0]
    activation = getattr(layer, "activation", None)
    if cell.layer_class == "ReLU" or activation is None:
        cell.activation = "relu"
        cell.output = float(np.asarray(layer.forward(x[None])[0], dtype=np.float64)[(0,) + pos])
        return
    cell.activation = activation.name
    if activation.name == "softmax":
        row = x[pos[:-1]] if x.ndim > 1 else x  # the values softmax normalises together
        cell.logits = row
        cell.exps = np.exp(row - row.max())
        cell.output = float(cell.exps[pos[-1]] / cell.exps.sum())
    else:
        cell.output = float(_activate(activation, np.array([cell.z]))[0])


def _merge_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    cell.inputs = [float(v[pos]) for v in ins]
    values = np.array(cell.inputs)
    ops = {"Add": np.sum, "Average": np.mean, "Maximum": np.max, "Minimum": np.min, "Multiply": np.prod}
    if cell.layer_class == "Subtract":
        cell.output = float(values[0] - values[1])
    else:
        cell.output = float(ops[cell.layer_class](values))


def _batchnorm_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    x = ins[0]
    ch = pos[-1]
    gamma = layer.params.get("gamma")
    beta = layer.params.get("beta")
    consts = {
        "mean": float(layer.state["moving_mean"][ch]),
        "variance": float(layer.state["moving_variance"][ch]),
        "gamma": 1.0 if gamma is None else float(gamma[ch]),
        "beta": 0.0 if beta is None else float(beta[ch]),
        "epsilon": float(layer.epsilon),
    }
    cell.inputs = [float(x[pos])]
    cell.constants = consts
    cell.output = consts["gamma"] * (cell.inputs[0] - consts["mean"]) / math.sqrt(consts["variance"] + consts["epsilon"]) \
        + consts["beta"]


def _identity_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    cell.inputs = [float(ins[0][pos])]
    cell.output = cell.inputs[0]


def _rescaling_cell(cell: CellArithmetic, layer: Any, ins: list[np.ndarray], pos: tuple[int, ...]) -> None:
    cell.inputs = [float(ins[0][pos])]
    cell.constants = {"scale": float(layer.scale), "offset": float(layer.offset)}
    cell.output = cell.inputs[0] * layer.scale + layer.offset
