"""The backward pass, explained with numbers: how a CNN learns from one image.

The forward walk-throughs show how a prediction is computed.  Training then asks the
opposite question: how much did each number contribute to the loss?  The backward pass
(backpropagation) answers it layer by layer, from the loss back to the input, with the chain
rule.  :func:`explain_backward` works it out for one image and one class, in four stages:

1. **softmax with cross-entropy**: ``loss = -log p[y]``, and the gradient at the scores is
   simply ``p - y`` (``y`` is 1 for the true class, 0 elsewhere);
2. **a dense layer**: ``dW[i, j] = x[i] * dz[j]``, ``db = dz``, ``dx[i] = sum_j W[i, j] * dz[j]``;
3. **a pooling window**: max pooling sends the gradient to the winner of the window and 0 to
   the others (average pooling shares it equally);
4. **a convolution**: the activation lets the gradient through where it was active
   (``z > 0`` for ReLU); the filter's gradient ``dK[a, b]`` adds up ``dz[i, j] *
   x[i*s + a, j*s + b]`` over every position of the sliding window, and the bias gradient is
   the sum of ``dz``.

Without a model it continues the guide's example backwards (:func:`explain_guide`'s 6x6
image, edge filter, 2x2 max pooling and made-up dense layer, as a tiny convlearn model); with
a model and an image it uses that network's own numbers::

    from convlearn import explain
    walk = explain.explain_backward()                      # the guide's example, class "7"
    walk = explain.explain_backward(model, x, target=3)    # your model, your image
    print(walk.to_text(lang="zh")); walk.to_figure("backward.png")
    walk.flow.step_grads, walk.flow.input_grad             # the gradient at every layer

The gradients come from the layers' own ``backward`` passes, run in the order of
:func:`convlearn.engine.run.backward` (see :func:`gradient_flow`); the tests hold them equal
to the engine and to finite differences.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from .i18n import resolve_lang, tr
from .network import LayerStep, as_image_batch, network_steps
from .render_text import display_width, fmt_number, grid, hstack
from .walkthrough import (
    DEFAULT_CLASS_NAMES,
    DEFAULT_DENSE_BIAS,
    DEFAULT_DENSE_WEIGHTS,
    DEFAULT_IMAGE,
    DEFAULT_KERNEL,
    ExplainError,
    output_size,
)

__all__ = [
    "GradientFlow",
    "LossBackward",
    "DenseBackward",
    "PoolBackward",
    "ConvBackward",
    "BackwardWalkthrough",
    "gradient_flow",
    "explain_backward",
    "guide_model",
    "fmt_gradient",
]

#: Terms of a long sum written out one by one (the largest); the rest are counted.
SHOWN_TERMS = 6


def fmt_gradient(x: float) -> str:
    """A gradient for reading: about 3 significant digits, small values in scientific notation.

    >>> fmt_gradient(0.0012345), fmt_gradient(-2.5e-09), fmt_gradient(0.0)
    ('0.00123', '-2.5e-09', '0')
    """
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return fmt_number(x)
    size = abs(x)
    if size < 1e-5:
        return f"{x:.2g}"
    return fmt_number(x, max(3, 2 - math.floor(math.log10(size))))


def _paren(x: float) -> str:
    s = fmt_gradient(x)
    return f"({s})" if s.startswith("-") else s


# --------------------------------------------------------------------------------------
# The gradient at every layer
# --------------------------------------------------------------------------------------
@dataclass
class GradientFlow:
    """The forward and backward pass of one image, with the gradient at every layer.

    Attributes
    ----------
    steps : list of LayerStep
        The model's layer calls (:func:`convlearn.explain.network_steps`).
    x : numpy.ndarray
        The input, shape (1, H, W, C).
    outputs : list of numpy.ndarray
        Every step's output (batch axis kept).
    probs : numpy.ndarray
        The class probabilities, shape (classes,).
    from_logits : bool
        True when the model outputs scores (no softmax): the loss applies softmax itself.
    target : int
        The class ``y`` the loss is taken for.
    loss : float
        ``-log p[target]``.
    step_grads : list of numpy.ndarray or None
        ``step_grads[i]``: gradient of the loss with respect to step ``i``'s output (batch
        axis kept); None where the loss does not depend on it.
    sent_grads : list
        What step ``i``'s backward pass sent to its inputs: one array per input (None when the
        step was not reached).
    input_grad : numpy.ndarray
        Gradient with respect to the input image, shape (1, H, W, C): the saliency map.
    weight_grads : dict of str to numpy.ndarray
        ``{path: gradient}`` for every trainable weight (paths of ``model.named_weights()``).
    """

    steps: list[LayerStep]
    x: np.ndarray
    outputs: list[np.ndarray]
    probs: np.ndarray
    from_logits: bool
    target: int
    loss: float
    step_grads: list[Any]
    sent_grads: list[Any]
    input_grad: np.ndarray
    weight_grads: dict[str, np.ndarray]
    by_id: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def weight_grad(self, weight: np.ndarray) -> np.ndarray | None:
        """The gradient of one weight array of the model (``layer.params[name]``), or None."""
        return self.by_id.get(id(weight))


def _outputs_probabilities(model: Any, steps: list[LayerStep]) -> bool:
    """Whether the model's output is a softmax (else it is taken as scores, ``from_logits``)."""
    last = steps[-1].layer
    activation = getattr(last, "activation", None)
    return getattr(activation, "name", "") == "softmax"


def gradient_flow(model: Any, x: Any, target: int) -> GradientFlow:
    """Run ``model`` forward and backward on one image, keeping the gradient at every layer.

    The loss is sparse categorical cross-entropy of the (first) output for class ``target``
    (``convlearn.losses.SparseCategoricalCrossentropy``, ``from_logits`` when the model has no
    softmax at the end).  The backward pass is :func:`convlearn.engine.run.backward`'s loop,
    written out so that it can keep what flows into and out of every step.

    Parameters
    ----------
    model : convlearn.models.Model
        A built model with one input whose first output gives one score per class.
    x : array_like
        One input: (H, W), (H, W, C) or (1, H, W, C).
    target : int
        The class of the loss.

    Returns
    -------
    GradientFlow

    Raises
    ------
    ExplainError
        An input of the wrong shape, a target outside the classes, or a model whose output is
        not one vector of class scores.
    """
    from ..engine import run
    from ..losses import SparseCategoricalCrossentropy

    steps = network_steps(model)
    program = model.program()
    xb = as_image_batch(model, x)
    outputs = run.forward_all(program, [xb])
    final, caches = run.forward(program, [xb])
    scores = final[0]
    if scores.ndim != 2:
        raise ExplainError("err_net_classifier", shape=str(tuple(scores.shape)))
    classes = scores.shape[1]
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < classes:
        raise ExplainError("err_back_target", target=repr(target), classes=classes)
    from_logits = not _outputs_probabilities(model, steps)
    loss = SparseCategoricalCrossentropy(from_logits=from_logits)
    value, loss_cache = loss.forward(np.array([int(target)]), scores)
    dscores = loss.backward(loss_cache)  # (1, classes)

    grads: dict[int, np.ndarray] = {}  # slot -> gradient of the loss
    grads[program.outputs[0]] = dscores
    step_grads: list[Any] = [None] * len(program.steps)
    sent: list[Any] = [None] * len(program.steps)
    by_id: dict[int, np.ndarray] = {}
    for i in range(len(program.steps) - 1, -1, -1):  # the engine's order: last step first
        step = program.steps[i]
        dout = grads.pop(step.output, None)
        if dout is None:  # no loss depends on this step
            continue
        step_grads[i] = dout
        dx, dweights = step.layer.backward(dout, caches[i])
        for name, g in dweights.items():  # a shared layer: the gradients of its calls add up
            key = id(step.layer.params[name])
            by_id[key] = by_id[key] + g if key in by_id else g
        sent[i] = list(dx) if step.as_list else [dx]
        for slot, d in zip(step.inputs, sent[i]):
            if d is not None:
                grads[slot] = grads[slot] + d if slot in grads else d  # fan-out: gradients add up
    input_grad = grads.get(program.inputs[0])
    if input_grad is None:
        input_grad = np.zeros_like(xb)
    weight_grads = {path: by_id[id(w)] for path, w in model.named_weights() if id(w) in by_id}
    if from_logits:
        shifted = np.exp(scores[0] - scores[0].max())
        probs = shifted / shifted.sum()
    else:
        probs = scores[0].astype(np.float64)
    return GradientFlow(steps, xb, outputs, np.asarray(probs, dtype=np.float64), from_logits, int(target),
                        float(value), step_grads, sent, input_grad, weight_grads, by_id)


# --------------------------------------------------------------------------------------
# The four stages
# --------------------------------------------------------------------------------------
@dataclass
class LossBackward:
    """Softmax with cross-entropy, backwards: the gradient at the scores is ``p - y``.

    Attributes
    ----------
    names : tuple of str
        A name per class.
    scores : numpy.ndarray
        The scores ``z`` (before softmax), shape (m,).
    probs : numpy.ndarray
        ``p = softmax(z)``.
    target : int
        The true class.
    onehot : numpy.ndarray
        ``y``: 1 at the target, 0 elsewhere.
    loss : float
        ``-log p[target]``.
    dscores : numpy.ndarray
        ``p - y``: how the loss changes with each score.
    """

    names: tuple[str, ...]
    scores: np.ndarray
    probs: np.ndarray
    target: int
    onehot: np.ndarray
    loss: float
    dscores: np.ndarray


@dataclass
class DenseBackward:
    """A dense layer, backwards.

    Attributes
    ----------
    step : int
        The layer call (index into the model's steps).
    name : str
        Layer name.
    inputs : numpy.ndarray
        ``x``, shape (n,).
    weights : numpy.ndarray
        ``W``, shape (n, units).
    dz : numpy.ndarray
        Gradient at the layer's pre-activation output ``z = x W + b``, shape (units,).
    dweights : numpy.ndarray
        ``dW = outer(x, dz)``, shape (n, units).
    dbias : numpy.ndarray
        ``db = dz``.
    dinputs : numpy.ndarray
        ``dx = W dz``, shape (n,): what this layer sends back.
    unit : int
        The unit shown in detail (the target class for an output layer).
    weight_row : int
        The input ``i`` whose weight ``W[i, unit]`` is shown in detail (largest gradient).
    input_index : int
        The input whose gradient ``dx[i]`` is written out as a sum.
    activation : str
        The layer's activation.
    """

    step: int
    name: str
    inputs: np.ndarray
    weights: np.ndarray
    dz: np.ndarray
    dweights: np.ndarray
    dbias: np.ndarray
    dinputs: np.ndarray
    unit: int
    weight_row: int
    input_index: int
    activation: str


@dataclass
class PoolBackward:
    """One pooling window, backwards.

    Attributes
    ----------
    step : int
    name : str
    mode : {"max", "avg"}
    channel, out_row, out_col : int
        The pooled cell.
    top, left : int
        The window's corner in the pooling layer's input.
    window : numpy.ndarray
        The values under the window, shape (ph, pw).
    winner : tuple of int or None
        (row, col) inside the window of the value max pooling kept.
    dout : float
        The gradient of the pooled cell.
    dwindow : numpy.ndarray
        What flows back to the window, shape (ph, pw).
    dout_map : numpy.ndarray
        The gradient of the whole pooled channel, shape (H_out, W_out).
    dinput_map : numpy.ndarray
        What the layer sends back for that channel, shape (H, W).
    """

    step: int
    name: str
    mode: str
    channel: int
    out_row: int
    out_col: int
    top: int
    left: int
    window: np.ndarray
    winner: tuple[int, int] | None
    dout: float
    dwindow: np.ndarray
    dout_map: np.ndarray
    dinput_map: np.ndarray


@dataclass
class ConvBackward:
    """A convolution, backwards, for one filter and one input channel.

    Attributes
    ----------
    step : int
    name : str
    filter, channel : int
        The filter ``f`` and input channel ``c`` shown.
    stride : tuple of int
    pads : tuple of int
        Zeros added on the top and on the left.
    image : numpy.ndarray
        The input channel with its padding, shape (H + pads, W + pads).
    kernel : numpy.ndarray
        ``K = kernel[:, :, c, f]``, shape (kh, kw).
    z : numpy.ndarray
        The feature map before the activation, shape (H_out, W_out).
    dout : numpy.ndarray
        Gradient at the feature map after the activation (what came back), (H_out, W_out).
    dz : numpy.ndarray
        Gradient before the activation: ``dout * activation'(z)``.
    activation : str
    dkernel : numpy.ndarray
        The layer's kernel gradient for this filter and channel, shape (kh, kw): the sliding-window
        sum ``dK[a, b] = sum_ij dz[i, j] * image[i*s + a, j*s + b]`` (``kernel_terms`` writes one out).
    dbias : float
        The bias gradient of this filter, ``sum_ij dz[i, j]`` (the sum itself for a layer without bias).
    kernel_cell : tuple of int
        The (a, b) whose sum is written out (largest gradient).
    kernel_terms : list of (i, j, dz, x, product)
        Every non-zero term of that sum.
    dimage : numpy.ndarray
        What this filter sends back to the input channel, shape (H, W).
    input_cell : tuple of int
        The input cell whose gradient is written out.
    input_terms : list of (i, j, a, b, dz, K, product)
        Every non-zero term of ``dimage[input_cell]``.
    dinput_all : float
        The gradient of that input cell summed over every filter (what the layer sends back).
    """

    step: int
    name: str
    filter: int
    channel: int
    stride: tuple[int, int]
    pads: tuple[int, int]
    image: np.ndarray
    kernel: np.ndarray
    z: np.ndarray
    dout: np.ndarray
    dz: np.ndarray
    activation: str
    dkernel: np.ndarray
    dbias: float
    kernel_cell: tuple[int, int]
    kernel_terms: list[tuple[int, int, float, float, float]]
    dimage: np.ndarray
    input_cell: tuple[int, int]
    input_terms: list[tuple[int, int, int, int, float, float, float]]
    dinput_all: float


@dataclass
class BackwardWalkthrough:
    """The backward pass of one image through a CNN, stage by stage.

    Attributes
    ----------
    flow : GradientFlow
        Everything the forward and backward pass computed.
    loss : LossBackward
    dense : DenseBackward or None
        The last dense layer (None when the model has none).
    pool : PoolBackward or None
        One window of the first pooling layer (None without pooling).
    conv : ConvBackward or None
        The convolution feeding that pooling layer, else the first one (None without).
    made_up : bool
        True for the guide's example, whose weights are made up.
    """

    flow: GradientFlow
    loss: LossBackward
    dense: DenseBackward | None
    pool: PoolBackward | None
    conv: ConvBackward | None
    made_up: bool = False
    names: tuple[str, ...] = field(default_factory=tuple)

    def to_text(self, lang: str | None = None, color: bool = False) -> str:
        """Explain the backward pass as text (``lang``: "en" or "zh", default from the locale)."""
        return backward_text(self, resolve_lang(lang), color=color)

    def sections(self, lang: str | None = None) -> list[dict[str, Any]]:
        """The walk-through as titled sections of sentences and matrices (see :func:`backward_sections`)."""
        return backward_sections(self, resolve_lang(lang))

    def figure(self, lang: str | None = None) -> Any:
        """Draw the four stages as a matplotlib Figure (needs ``pip install "convlearn[plot]"``)."""
        return backward_figure(self, resolve_lang(lang))

    def to_figure(self, path: str | os.PathLike, lang: str | None = None, dpi: int = 100) -> str:
        """Save the figure as a PNG (written atomically); returns the path.

        Raises
        ------
        ImportError
            If matplotlib is not installed.
        """
        from .render_figures import save_png

        return save_png(self.figure(lang), path, dpi=dpi)


def guide_model() -> Any:
    """The guide's example as a tiny convlearn model (float64), weights set to the walk-through's.

    ``Input(6, 6, 1) -> Conv2D(1, 3x3, relu, no bias; the edge filter) -> MaxPool2D(2) ->
    Flatten -> Dense(3, softmax; the made-up weights)``: the forward pass gives exactly the
    numbers of :func:`convlearn.explain.explain_guide`.
    """
    from .. import layers
    from ..models import Sequential

    model = Sequential([
        layers.Input((6, 6, 1), dtype="float64"),
        layers.Conv2D(1, (3, 3), activation="relu", use_bias=False, dtype="float64", name="conv"),  # (N, 4, 4, 1)
        layers.MaxPool2D(2, dtype="float64", name="pool"),  # (N, 2, 2, 1)
        layers.Flatten(dtype="float64", name="flatten"),  # (N, 4)
        layers.Dense(3, activation="softmax", dtype="float64", name="dense"),  # (N, 3)
    ], name="guide_example")
    model.set_weights([DEFAULT_KERNEL[:, :, None, None], DEFAULT_DENSE_WEIGHTS, DEFAULT_DENSE_BIAS])
    return model


def explain_backward(
    model: Any = None,
    x: Any = None,
    target: Any = None,
    names: Sequence[str] | None = None,
) -> BackwardWalkthrough:
    """Walk through the backward pass of one image, with numbers.

    Parameters
    ----------
    model : convlearn.models.Model, optional
        A classifier with one image input.  Default: the guide's example
        (:func:`guide_model`).
    x : array_like, optional
        One image for the model: (H, W), (H, W, C) or (1, H, W, C).  Default with the
        guide's example: its 6x6 "7".  Required with a model.
    target : int or str, optional
        The true class ``y``: an index, or one of ``names``.  Default: "7" for the guide's
        example, else the class the model predicts.
    names : sequence of str, optional
        A name per class (default: "0", "1", ...; "1", "4", "7" for the guide's example).

    Returns
    -------
    BackwardWalkthrough

    Raises
    ------
    ExplainError
        No image with a model, an image or target that does not fit, or a model that is not a
        classifier.
    """
    made_up = model is None
    if made_up:
        model = guide_model()
        x = DEFAULT_IMAGE if x is None else x
        names = DEFAULT_CLASS_NAMES if names is None else names
        target = "7" if target is None else target
    elif x is None:
        raise ExplainError("err_back_no_image")
    classes = model.output_shape[-1] if isinstance(model.output_shape, tuple) else model.output_shape[0][-1]
    names = tuple(str(i) for i in range(classes)) if names is None else tuple(str(n) for n in names)
    if len(names) != classes:
        raise ExplainError("err_names", units=classes, got=len(names))
    if isinstance(target, str):
        if target in names:
            target = names.index(target)
        elif target.strip().lstrip("-").isdigit():
            target = int(target)
        else:
            raise ExplainError("err_back_target", target=repr(target), classes=classes)
    if target is None:
        target = int(np.argmax(model.predict(as_image_batch(model, x), verbose=0)[0]))
    flow = gradient_flow(model, x, target)
    loss = _loss_stage(flow, model, names)
    dense = _dense_stage(flow)
    pool = _pool_stage(flow)
    conv = _conv_stage(flow, pool)
    return BackwardWalkthrough(flow, loss, dense, pool, conv, made_up, names)


def _input_of(flow: GradientFlow, step: int, k: int = 0) -> np.ndarray:
    """The value step ``step`` reads as its ``k``-th input (batch axis kept)."""
    src = flow.steps[step].inputs[k]
    return flow.x if src < 0 else flow.outputs[src]


def _loss_stage(flow: GradientFlow, model: Any, names: tuple[str, ...]) -> LossBackward:
    last = flow.steps[-1]
    if flow.from_logits:
        scores = flow.outputs[-1][0].astype(np.float64)
    elif hasattr(last.layer, "forward_logits"):
        scores = np.asarray(last.layer.forward_logits(_input_of(flow, last.index))[0][0], dtype=np.float64)
    else:
        scores = np.log(np.maximum(flow.probs, 1e-300))  # a Softmax layer: its input is not kept apart
    onehot = np.zeros_like(flow.probs)
    onehot[flow.target] = 1.0
    return LossBackward(names, scores, flow.probs, flow.target, onehot, flow.loss, flow.probs - onehot)


def _dense_stage(flow: GradientFlow) -> DenseBackward | None:
    dense = [s for s in flow.steps if s.kind == "Dense" and flow.step_grads[s.index] is not None]
    if not dense:
        return None
    info = dense[-1]
    layer = info.layer
    x = _input_of(flow, info.index)
    if x.ndim != 2:
        return None
    z = layer.forward_logits(x)[0]  # (1, units)
    _, act_cache = layer.activation.forward(z)
    dz = np.asarray(layer.activation.backward(flow.step_grads[info.index], act_cache), dtype=np.float64)[0]
    xs = x[0].astype(np.float64)
    W = np.asarray(layer.params["kernel"], dtype=np.float64)  # (n, units)
    dW = np.outer(xs, dz)  # (n, units)
    dx = W @ dz  # (n,)
    is_output = info.index == len(flow.steps) - 1
    unit = flow.target if is_output else int(np.argmax(np.abs(dz)))
    return DenseBackward(info.index, info.name, xs, W, dz, dW, dz.copy(), dx, unit,
                         int(np.argmax(np.abs(dW[:, unit]))), int(np.argmax(np.abs(dx))), layer.activation.name)


def _pool_stage(flow: GradientFlow) -> PoolBackward | None:
    pools = [s for s in flow.steps if s.kind in ("MaxPooling2D", "AveragePooling2D")
             and flow.step_grads[s.index] is not None]
    if not pools:
        return None
    info = pools[0]
    layer = info.layer
    dout = flow.step_grads[info.index][0].astype(np.float64)  # (Ho, Wo, C)
    x = _input_of(flow, info.index)[0].astype(np.float64)  # (H, W, C)
    dx = flow.sent_grads[info.index][0][0].astype(np.float64)  # (H, W, C)
    # the window whose gradient is largest, among those whose pooled value is not 0 (after a
    # ReLU, a window of zeros passes its gradient to a cell that lets nothing through)
    pooled = flow.outputs[info.index][0]  # (Ho, Wo, C)
    score = np.abs(dout) * (pooled != 0) if np.any((pooled != 0) & (dout != 0)) else np.abs(dout)
    i, j, c = (int(v) for v in np.unravel_index(int(np.argmax(score)), dout.shape))
    ph, pw = layer.pool_size
    sh, sw = layer.strides
    pad_top = output_size(x.shape[0], ph, sh, layer.padding).pad_before
    pad_left = output_size(x.shape[1], pw, sw, layer.padding).pad_before
    top, left = i * sh - pad_top, j * sw - pad_left
    window = np.full((ph, pw), np.nan)  # (ph, pw), NaN over the padding
    dwindow = np.zeros((ph, pw))  # (ph, pw)
    for a in range(ph):
        for b in range(pw):
            r, cc = top + a, left + b
            if 0 <= r < x.shape[0] and 0 <= cc < x.shape[1]:
                window[a, b] = x[r, cc, c]
                dwindow[a, b] = dx[r, cc, c]
    mode = getattr(layer, "mode", "max")
    winner = None
    if mode == "max":
        flat = int(np.nanargmax(window))
        winner = (flat // pw, flat % pw)
    return PoolBackward(info.index, info.name, mode, c, i, j, top, left, window, winner, float(dout[i, j, c]),
                        dwindow, dout[:, :, c], dx[:, :, c])


def _conv_stage(flow: GradientFlow, pool: PoolBackward | None) -> ConvBackward | None:
    convs = [s for s in flow.steps if s.kind == "Conv2D" and flow.step_grads[s.index] is not None]
    if not convs:
        return None
    info = convs[0]
    if pool is not None:
        feeding = flow.steps[pool.step].inputs[0]
        if feeding >= 0 and flow.steps[feeding].kind == "Conv2D":
            info = flow.steps[feeding]
    layer = info.layer
    xb = _input_of(flow, info.index)
    kernel_all = np.asarray(layer.params["kernel"], dtype=np.float64)  # (kh, kw, C, F)
    z_all, _ = layer.forward_logits(xb)  # (1, Ho, Wo, F)
    _, act_cache = layer.activation.forward(z_all)
    dz_all = np.asarray(layer.activation.backward(flow.step_grads[info.index], act_cache), dtype=np.float64)[0]
    if pool is not None and info.index == flow.steps[pool.step].inputs[0]:
        f = pool.channel
    else:
        f = int(np.argmax(np.abs(dz_all).sum(axis=(0, 1))))
    x = xb[0].astype(np.float64)  # (H, W, C)
    kh, kw = kernel_all.shape[:2]
    sh, sw = layer.strides
    size_h = output_size(x.shape[0], kh, sh, layer.padding)
    size_w = output_size(x.shape[1], kw, sw, layer.padding)
    pt, pl = size_h.pad_before, size_w.pad_before
    padded = np.zeros((x.shape[0] + size_h.pad_total, x.shape[1] + size_w.pad_total, x.shape[2]))
    padded[pt:pt + x.shape[0], pl:pl + x.shape[1]] = x  # (H + pads, W + pads, C)
    dz = dz_all[:, :, f]  # (Ho, Wo)
    Ho, Wo = dz.shape
    dK = np.asarray(flow.weight_grad(layer.params["kernel"])[:, :, :, f], dtype=np.float64)  # (kh, kw, C)
    c = int(np.argmax(np.abs(dK).sum(axis=(0, 1))))
    a0, b0 = (int(v) for v in np.unravel_index(int(np.argmax(np.abs(dK[:, :, c]))), (kh, kw)))
    kernel_terms = []
    for i in range(Ho):
        for j in range(Wo):
            if dz[i, j] != 0:
                value = padded[i * sh + a0, j * sw + b0, c]
                kernel_terms.append((i, j, float(dz[i, j]), float(value), float(dz[i, j] * value)))
    K = kernel_all[:, :, c, f]
    dimage_padded = np.zeros(padded.shape[:2])  # (H + pads, W + pads)
    for i in range(Ho):
        for j in range(Wo):
            dimage_padded[i * sh:i * sh + kh, j * sw:j * sw + kw] += dz[i, j] * K  # the filter, scaled, put back
    dimage = dimage_padded[pt:pt + x.shape[0], pl:pl + x.shape[1]]  # (H, W)
    r0, c0 = (int(v) for v in np.unravel_index(int(np.argmax(np.abs(dimage))), dimage.shape))
    input_terms = []
    for i in range(Ho):
        for j in range(Wo):
            a, b = r0 + pt - i * sh, c0 + pl - j * sw
            if 0 <= a < kh and 0 <= b < kw and dz[i, j] != 0 and K[a, b] != 0:
                input_terms.append((i, j, a, b, float(dz[i, j]), float(K[a, b]), float(dz[i, j] * K[a, b])))
    sent = flow.sent_grads[info.index][0]
    total = float(sent[0, r0, c0, c]) if sent is not None else float(dimage[r0, c0])
    bias = layer.params.get("bias")
    bias_total = float(flow.weight_grad(bias)[f]) if bias is not None else float(dz.sum())
    return ConvBackward(info.index, info.name, f, c, (sh, sw), (pt, pl), padded[:, :, c], K, z_all[0, :, :, f].astype(np.float64),
                        flow.step_grads[info.index][0, :, :, f].astype(np.float64), dz, layer.activation.name,
                        dK[:, :, c], bias_total, (a0, b0), kernel_terms, dimage, (r0, c0), input_terms, total)


# --------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------
def _heading(text: str, color: bool) -> str:
    bar = "═" * max(4, 60 - display_width(text))
    line = f"══ {text} {bar}"
    return f"\x1b[1;36m{line}\x1b[0m" if color else line


def _sum_text(products: Sequence[str], total: float, more: int, lang: str) -> str:
    body = " + ".join(products) if products else "0"
    if more:
        body += " + " + tr("back_more_terms", lang, count=more)
    return f"{body} = {fmt_gradient(total)}"


def _largest(terms: list, key_index: int) -> tuple[list, int]:
    ordered = sorted(terms, key=lambda t: -abs(t[key_index]))
    return ordered[:SHOWN_TERMS], max(len(ordered) - SHOWN_TERMS, 0)


def _ggrid(values: np.ndarray, marks: dict | None = None, title: str | None = None, color: bool = False) -> list[str]:
    """A matrix of gradients, with enough decimals for its largest value to keep 3 significant digits."""
    values = np.asarray(values, dtype=np.float64)
    size = float(np.nanmax(np.abs(values))) if values.size and np.isfinite(values).any() else 0.0
    digits = 3 if size == 0 else min(6, max(3, 2 - math.floor(math.log10(size))))
    return grid(values, marks=marks, color=color, digits=digits, title=title)


def backward_sections(walk: BackwardWalkthrough, lang: str) -> list[dict[str, Any]]:
    """The walk-through as sections: ``{"title": str, "items": [(kind, item), ...]}``.

    An item is ``("text", sentence)`` or ``("grids", [{"title", "values", "marks"}, ...])``: matrices
    shown side by side, ``marks`` the (row, col) cells to highlight.  :func:`backward_text` prints
    them; the web app draws them.
    """
    L = walk.loss
    target = L.names[L.target]
    intro = [("text", tr("back_intro", lang))]
    if walk.made_up:
        intro.append(("text", tr("back_made_up", lang)))
    sections = [{"title": tr("back_title", lang), "items": intro}]
    rows = [("text", tr("back_loss_header", lang))]
    for k, name in enumerate(L.names):
        rows.append(("text", tr("back_loss_row", lang, name=name, p=fmt_gradient(L.probs[k]), y=int(L.onehot[k]),
                                g=fmt_gradient(L.dscores[k]))))
    sections.append({"title": tr("back_loss_title", lang), "items": [
        ("text", tr("back_loss_value", lang, name=target, p=fmt_gradient(L.probs[L.target]), loss=fmt_gradient(L.loss))),
        ("text", tr("back_loss_rule", lang)), *rows, ("text", tr("back_loss_meaning", lang, name=target))]})
    D = walk.dense
    if D is not None:
        first = tr("back_dense_from_loss", lang) if D.step == len(walk.flow.steps) - 1 else \
            tr("back_dense_dz", lang, activation=D.activation)
        i, j, k = D.weight_row, D.unit, D.input_index
        terms = [(jj, float(D.weights[k, jj]), float(D.dz[jj]), float(D.weights[k, jj] * D.dz[jj]))
                 for jj in range(D.weights.shape[1])]
        shown, more = _largest(terms, 3)
        expr = _sum_text([f"{_paren(w)}×{_paren(g)}" for _, w, g, _ in shown], float(D.dinputs[k]), more, lang)
        sections.append({"title": tr("back_dense_title", lang, name=D.name), "items": [
            ("text", first),
            ("text", tr("back_dense_dw", lang, i=i, j=j, x=fmt_gradient(D.inputs[i]), dz=_paren(D.dz[j]),
                        dw=fmt_gradient(D.dweights[i, j]))),
            ("text", tr("back_dense_db", lang, j=j, db=fmt_gradient(D.dbias[j]))),
            ("text", tr("back_dense_dx", lang, i=k, expr=expr)),
            ("text", tr("back_dense_shapes", lang, n=D.weights.shape[0], units=D.weights.shape[1]))]})
    between = _between(walk)
    if between:
        lines = []
        for info in between:
            g = walk.flow.step_grads[info.index]
            lines.append(("text", tr("back_between_line", lang, name=info.name, kind=info.kind,
                                     shape=_shape(g.shape[1:]), size=fmt_gradient(float(np.abs(g).max())))))
        sections.append({"title": tr("back_between_title", lang), "items": lines})
    P = walk.pool
    if P is not None:
        ph, pw = P.window.shape
        marks = [P.winner] if P.winner is not None else []
        if P.mode == "max":
            a, b = P.winner
            rule = tr("back_pool_max", lang, a=a, b=b, v=fmt_gradient(P.window[a, b]), g=fmt_gradient(P.dout))
        else:
            rule = tr("back_pool_avg", lang, n=ph * pw, g=fmt_gradient(P.dout), share=fmt_gradient(P.dout / (ph * pw)))
        sections.append({"title": tr("back_pool_title", lang, name=P.name), "items": [
            ("text", tr("back_pool_window", lang, row=P.out_row, col=P.out_col, channel=P.channel,
                        rows=_span(P.top, ph), cols=_span(P.left, pw), g=fmt_gradient(P.dout))),
            ("grids", [{"title": tr("back_pool_values", lang), "values": P.window, "marks": marks},
                       {"title": tr("back_pool_grads", lang), "values": P.dwindow, "marks": marks, "arrow": True}]),
            ("text", rule)]})
    C = walk.conv
    if C is not None:
        items: list[tuple[str, Any]] = [("text", tr("back_conv_intro", lang, f=C.filter, c=C.channel))]
        if C.activation == "relu":
            items.append(("text", tr("back_conv_relu", lang, passed=int(np.count_nonzero(C.z > 0)), total=C.z.size)))
        elif C.activation != "linear":
            items.append(("text", tr("back_conv_activation", lang, activation=C.activation)))
        if C.dz.size <= 64:
            items.append(("grids", [{"title": tr("back_conv_z", lang), "values": C.z, "marks": []},
                                    {"title": tr("back_conv_dz", lang), "values": C.dz, "marks": []}]))
        a, b = C.kernel_cell
        sh, sw = C.stride
        shown, more = _largest(C.kernel_terms, 4)
        expr = _sum_text([f"{_paren(dz)}×{_paren(v)}" for _, _, dz, v, _ in shown], float(C.dkernel[a, b]), more, lang)
        items += [("text", tr("back_conv_dk_rule", lang, s=sh if sh == sw else f"{sh},{sw}")),
                  ("text", tr("back_conv_dk", lang, a=a, b=b, count=len(C.kernel_terms), expr=expr)),
                  ("grids", [{"title": tr("back_conv_kernel", lang), "values": C.kernel, "marks": []},
                             {"title": tr("back_conv_dkernel", lang), "values": C.dkernel, "marks": [(a, b)]}]),
                  ("text", tr("back_conv_db", lang, db=fmt_gradient(C.dbias)))]
        r, c = C.input_cell
        shown, more = _largest(C.input_terms, 6)
        expr = _sum_text([f"{_paren(dz)}×{_paren(k)}" for *_, dz, k, _ in shown], float(C.dimage[r, c]), more, lang)
        items += [("text", tr("back_conv_dx", lang, r=r, c=c, expr=expr)),
                  ("text", tr("back_conv_dx_all", lang, r=r, c=c, total=fmt_gradient(C.dinput_all)))]
        sections.append({"title": tr("back_conv_title", lang, name=C.name), "items": items})
    sections.append({"title": "", "items": [
        ("text", tr("back_saliency", lang, size=fmt_gradient(float(np.abs(walk.flow.input_grad).max())))),
        ("text", tr("back_engine_note", lang))]})
    return sections


def backward_text(walk: BackwardWalkthrough, lang: str, color: bool = False) -> str:
    """The walk-through of the backward pass as text (see :func:`backward_sections`)."""
    out: list[str] = []
    for section in backward_sections(walk, lang):
        if section["title"]:
            out.append(_heading(section["title"], color))
        for kind, item in section["items"]:
            if kind == "text":
                out.append(item)
                continue
            blocks: list[Any] = []
            for g in item:
                if blocks:
                    blocks.append("→" if g.get("arrow") else "")
                marks = {tuple(m): "target" for m in g["marks"]}
                blocks.append(_ggrid(g["values"], marks, g["title"], color))
            out += hstack(blocks)
        out.append("")
    return "\n".join(line.rstrip() for line in out) + "\n"


def _span(start: int, size: int) -> str:
    return f"{start}–{start + size - 1}" if size > 1 else f"{start}"


def _shape(shape: Sequence[int]) -> str:
    return "×".join(str(int(s)) for s in shape)


def _between(walk: BackwardWalkthrough) -> list[LayerStep]:
    """The steps between the explained dense layer and the pooling layer (or the input), last first."""
    upper = walk.dense.step if walk.dense is not None else len(walk.flow.steps)
    lower = walk.pool.step if walk.pool is not None else (walk.conv.step if walk.conv is not None else -1)
    return [s for s in reversed(walk.flow.steps) if lower < s.index < upper and walk.flow.step_grads[s.index] is not None]


# --------------------------------------------------------------------------------------
# Figure
# --------------------------------------------------------------------------------------
#: Size in inches of the backward figure.
FIGURE_SIZE = (16.0, 9.0)


def _heat(ax: Any, values: np.ndarray, title: str, mark: tuple[int, int] | None = None, annotate: bool = True,
          gradient: bool = True) -> None:
    """A matrix as coloured cells: gradients on a red/blue scale around 0, plain values in greys."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]
    m = float(np.nanmax(np.abs(values))) if values.size and np.isfinite(values).any() else 1.0
    m = m or 1.0
    if gradient:
        ax.imshow(values, cmap="RdBu_r", vmin=-m, vmax=m)
    else:
        ax.imshow(values, cmap="Greys", vmin=min(0.0, float(np.nanmin(values))), vmax=m)
    ax.set_title(title.replace("`", ""), fontsize=10)
    ax.set_xticks(range(values.shape[1]) if values.shape[1] <= 12 else [])
    ax.set_yticks(range(values.shape[0]) if values.shape[0] <= 12 else [])
    ax.tick_params(labelsize=7)
    if annotate and values.size <= 36:
        for (r, c), v in np.ndenumerate(values):
            dark = np.isfinite(v) and (abs(v) > 0.6 * m if gradient else v > 0.5 * m)
            ax.text(c, r, fmt_gradient(v) if np.isfinite(v) else "·", ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    if mark is not None:
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((mark[1] - 0.5, mark[0] - 0.5), 1, 1, fill=False, edgecolor="#e66101", linewidth=2.5))


def backward_figure(walk: BackwardWalkthrough, lang: str) -> Any:
    """The backward pass as one figure: loss and ``p - y``, the dense layer, a pooling window, the convolution."""
    from .render_figures import figure_fonts, new_figure

    fig = new_figure(FIGURE_SIZE, lang)
    with figure_fonts(fig):
        _draw_backward(fig, walk, lang)
    return fig


def _draw_backward(fig: Any, walk: BackwardWalkthrough, lang: str) -> None:
    L = walk.loss
    fig.suptitle(tr("back_title", lang), fontsize=15, fontweight="bold")
    grid_spec = fig.add_gridspec(2, 4, hspace=0.55, wspace=0.35, left=0.05, right=0.98, top=0.88, bottom=0.08)
    ax = fig.add_subplot(grid_spec[0, 0:2])
    idx = np.arange(len(L.names))
    ax.bar(idx - 0.27, L.probs, width=0.27, label="p", color="#4a90d9")
    ax.bar(idx, L.onehot, width=0.27, label="y", color="#aaaaaa")
    ax.bar(idx + 0.27, L.dscores, width=0.27, label="p − y", color="#d94a4a")
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.set_xticks(idx, L.names)
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(tr("back_fig_loss", lang, name=L.names[L.target], loss=fmt_gradient(L.loss)).replace("`", ""),
                 fontsize=10)
    D = walk.dense
    ax = fig.add_subplot(grid_spec[0, 2:4])
    if D is not None:
        ax.bar(np.arange(D.dinputs.size), D.dinputs, color="#7b3294", width=0.8 if D.dinputs.size <= 40 else 1.0)
        ax.axhline(0, color="#333333", linewidth=0.8)
        if D.dinputs.size <= 40:
            ax.set_xticks(range(D.dinputs.size))
        ax.set_title(tr("back_fig_dense", lang, name=D.name, n=D.dinputs.size).replace("`", ""), fontsize=10)
        ax.tick_params(labelsize=7)
    else:
        ax.axis("off")
    P = walk.pool
    if P is not None:
        _heat(fig.add_subplot(grid_spec[1, 0]), P.window, tr("back_fig_pool_values", lang), P.winner, gradient=False)
        _heat(fig.add_subplot(grid_spec[1, 1]), P.dwindow, tr("back_fig_pool_grads", lang, g=fmt_gradient(P.dout)),
              P.winner)
    C = walk.conv
    if C is not None:
        _heat(fig.add_subplot(grid_spec[1, 2]), C.dz, tr("back_fig_conv_dz", lang, f=C.filter))
        _heat(fig.add_subplot(grid_spec[1, 3]), C.dkernel, tr("back_fig_conv_dk", lang, f=C.filter, c=C.channel),
              C.kernel_cell)
    fig.text(0.5, 0.015, tr("back_fig_footer", lang).replace("`", ""), ha="center", fontsize=9, color="#555555")
    return fig
