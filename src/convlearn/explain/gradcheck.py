"""Gradient check: do the backward passes agree with numerical derivatives?

Training follows the gradients that each layer's ``backward`` computes.  If one of them is
wrong, training still runs, only worse, so the mistake is easy to miss.  The check compares
them with numerical derivatives of the loss, worked out by centred differences::

    dL/dw  ~  (L(w + epsilon) - L(w - epsilon)) / (2 * epsilon)

for every weight array of every layer and for the gradient each layer passes back to its input::

    >>> model.check_gradients()                      # doctest: +SKIP
    layer                 weight  shape          checked    max abs diff  relative error  result
    conv2d (Conv2D)       kernel  (3, 3, 1, 32)  20 of 288  4.4e-12       1.5e-10         OK
    ...

It works on a float64 copy of the model (the model itself is not changed), on a small batch
(random unless ``x`` is given), with the model's compiled loss, or, before ``compile``, with
``L = sum(output * R)`` for a fixed random array ``R``.  Big arrays are checked on a seeded
random sample of their entries (``max_entries`` per array) to stay fast.

Both sides run on the engine every model runs on (:mod:`convlearn.engine.run`), in
inference mode: the analytic gradients are one forward and one backward pass of the copy's
program; the numerical ones are forward passes from the perturbed layer on.  So any model
works: a chain, residual connections (the gradients of both branches add up), a layer
shared by two branches (its weight gradients add up over its calls), a subclassed model, a
model inside another.  A layer's input is checked call by call: the difference perturbs the
input that one call reads, so it measures the gradient that call passes back.

Your own layers are checked the same way: subclass :class:`convlearn.layers.Layer`, write
``forward(x, training=False)`` returning ``(out, cache)`` and ``backward(dout, cache)``
returning ``(dx, grads)``, put the layer in a model and call ``check_gradients``.  A wrong
``backward`` shows up as FAIL; one that breaks the contract (no pair, a ``dx`` of the wrong
shape, a missing gradient) is explained in a ``ValueError``.  The failure nearest the output
is the one to look at: every layer before it receives its gradient through it, so those fail
too.
"""

from __future__ import annotations

import copy
import inspect
import re

import numpy as np

from .i18n import resolve_lang, tr

__all__ = ["check_gradients", "GradientCheck", "DEFAULT_TOLERANCE", "DEFAULT_MAX_ENTRIES"]

#: A gradient passes when max|analytic - numerical| / max|gradient| is at most this.  Correct
#: smooth layers reach about 1e-8 in float64; ReLU and max pooling can add up to about 1e-5
#: when a perturbation crosses their kink; a wrong backward gives 1e-2 and more.
DEFAULT_TOLERANCE = 1e-4

#: At most this many entries of each array are compared (a seeded random sample).
DEFAULT_MAX_ENTRIES = 20

#: Below this, a difference is rounding noise, whatever the size of the gradient.
_ABS_FLOOR = 1e-9

_DEFAULT_LOSS = "sum(output * R)"

#: Entries tried per array, as a multiple of ``max_entries``, when some sit on kinks.
_MAX_TRIES = 5


class GradientCheck(list):
    """The rows of a gradient check: a list of dicts, one per checked array, plus a summary.

    Each row has the keys ``layer`` (name), ``type`` (class name), ``weight`` (the weight's
    name, or ``"input"`` for the gradient the layer passes back to its input), ``shape``,
    ``checked`` (entries compared), ``size`` (entries in the array), ``max_abs_diff``,
    ``relative_error``, ``skipped`` (entries skipped because the loss has a kink there) and
    ``ok`` (True, False, or None when every entry tried sat on a kink).

    Attributes
    ----------
    ok : bool
        True when no row failed.
    failures : list of dict
        The rows that failed.
    epsilon, tolerance : float
    loss : str
        The loss used: its name, or ``"sum(output * R)"`` before ``compile``.
    batch_size : int
    model_name : str
    notes : list of (str, dict)
        Catalogue keys and values of remarks (a layer that returned float32 values ...).
    """

    def __init__(self, rows=(), epsilon=1e-5, tolerance=DEFAULT_TOLERANCE, loss="", batch_size=0, model_name=""):
        super().__init__(rows)
        self.epsilon = epsilon
        self.tolerance = tolerance
        self.loss = loss
        self.batch_size = batch_size
        self.model_name = model_name
        self.notes = []

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list:
        return [row for row in self if row["ok"] is False]

    def to_text(self, lang: str | None = None) -> str:
        """The table and its conclusion, in ``lang`` ("en" or "zh"; default from the locale)."""
        return _render(self, resolve_lang(lang))

    def __str__(self) -> str:
        return self.to_text()


# --------------------------------------------------------------------------------------
# the float64 copy
# --------------------------------------------------------------------------------------
def _float64_copy(original):
    """A copy of a model or layer computing in float64, sharing nothing with ``original``.

    ``copy.deepcopy`` works for every layer, your own included, and draws no random numbers
    (building from the config would initialise new weights from the global generator).  Each
    float weight is replaced by a float64 array *during* the copy (through ``deepcopy``'s
    memo), so the copy refers to one array per weight everywhere: in ``params`` and ``state``,
    in a shared layer, and in attributes such as ``self.kernel = self.add_weight(...)``.
    """
    from ..models import Model

    leaves = original.leaf_layers() if isinstance(original, Model) else [original]
    memo = {}
    for w in [*original.weights, *(w for leaf in leaves for w in leaf.weights)]:
        if isinstance(w, np.ndarray) and w.dtype.kind == "f":
            memo[id(w)] = w.astype(np.float64)                             # same shape, float64
    memo[id(original.inbound_nodes)] = []    # the graphs the original is called in elsewhere: not needed
    twin = copy.deepcopy(original, memo)
    twin.dtype = "float64"
    return twin


def _program_of(twin, x_shape):
    """The plain program of the float64 copy, every step at inference (``training=False``).

    A model has its own; a single layer is called on an ``Input`` (its copy's graph, nothing
    else is touched) so that a layer written with ``call()`` is opened up like in a model.
    """
    from ..engine.graph import Graph, Program, Step
    from ..layers import Input
    from ..models import Model

    if isinstance(twin, Model):
        plain = twin.graph(False).program(False)
    else:
        x = Input(shape=x_shape[1:], dtype="float64", name=f"{twin.name}_gradient_check_input")
        plain = Graph([x], [twin(x)], owner=f"check_gradients of layer '{twin.name}'").program(False)
    steps = [Step(s.layer, s.inputs, s.output, s.as_list, False, s.node) for s in plain.steps]
    for step in steps:
        step.layer.dtype = "float64"
    return Program(steps, plain.inputs, plain.outputs)


def _leaf_of_steps(program, leaves):
    """For each step, the index of its layer in ``leaves`` (a NumPy ``call()`` runs as a step wrapping it)."""
    index = {id(leaf): i for i, leaf in enumerate(leaves)}
    out = []
    for step in program.steps:
        i = index.get(id(step.layer), index.get(id(getattr(step.layer, "layer", None))))
        assert i is not None, f"step {step} runs no layer of the model"
        out.append(i)
    return out


def _leaves_of(program):
    """The computing layers of a program, in the order they first run (what ``model.leaf_layers()`` gives)."""
    from ..engine.graph import OpaqueCall

    seen, leaves = set(), []
    for step in program.steps:
        layer = step.layer.layer if isinstance(step.layer, OpaqueCall) else step.layer
        if id(layer) not in seen:
            seen.add(id(layer))
            leaves.append(layer)
    return leaves


def _check_model(model):
    from ..layers.base import Layer

    if not isinstance(model, Layer):
        raise TypeError(
            f"check_gradients expects a convlearn model or layer, e.g. model.check_gradients(); "
            f"got {type(model).__name__}."
        )


def _select_layers(leaves, layers):
    """Indices of the leaves to check: all, or those named / numbered / given in ``layers``."""
    if layers is None:
        return list(range(len(leaves)))
    if isinstance(layers, (str, int)) or hasattr(layers, "forward"):
        layers = [layers]
    picked = []
    names = [leaf.name for leaf in leaves]
    for item in layers:
        if isinstance(item, bool):
            index = None
        elif isinstance(item, (int, np.integer)):
            index = int(item) if -len(leaves) <= item < len(leaves) else None
            if index is not None:
                index %= len(leaves)
        elif isinstance(item, str):
            index = names.index(item) if item in names else None
        else:
            index = next((i for i, leaf in enumerate(leaves) if leaf is item), None)
        if index is None:
            raise ValueError(
                f"check_gradients: no layer {item!r} in the model. Give names or positions of its layers: "
                f"{', '.join(names)} (0..{len(leaves) - 1})."
            )
        if index not in picked:
            picked.append(index)
    return sorted(picked)


# --------------------------------------------------------------------------------------
# the batch and the loss
# --------------------------------------------------------------------------------------
def _given_inputs(model, x):
    """``x`` as a list with one item per model input (a dict is read by input name)."""
    several = model.built and len(model.inputs) > 1
    if isinstance(x, dict):
        if not model.built:
            return list(x.values())
        names = model.input_names
        missing = [name for name in names if name not in x]
        if missing:
            raise ValueError(
                f"check_gradients: `x` has no array for the input {missing[0]!r}; its keys must be the model's "
                f"input names: {', '.join(names)}."
            )
        return [x[name] for name in names]
    if isinstance(x, (list, tuple)) and (several or (not model.built and len(x) > 1
                                                     and all(isinstance(a, np.ndarray) for a in x))):
        if model.built and len(x) != len(model.inputs):
            raise ValueError(
                f"check_gradients: model '{model.name}' has {len(model.inputs)} inputs "
                f"({', '.join(model.input_names)}); `x` has {len(x)} arrays. Give one batch per input."
            )
        return list(x)
    if several:
        raise ValueError(
            f"check_gradients: model '{model.name}' has {len(model.inputs)} inputs ({', '.join(model.input_names)}); "
            "give one batch per input, as a list or a dict keyed by input name."
        )
    return [x]


def _batch(model, x, batch_size, rng):
    """The batch to check with: a list of float64 arrays, one per model input."""
    if x is None:
        if not model.built:
            raise ValueError(
                f"check_gradients: model '{model.name}' is not built, so the shape of its input is unknown. "
                "Give a batch, model.check_gradients(x_train[:2]), or give the first layer input_shape=..."
            )
        arrays = []
        for tensor in model.inputs:
            sample = tuple(tensor.shape[1:])
            if any(d is None for d in sample):
                raise ValueError(
                    f"check_gradients: model '{model.name}' takes inputs of shape {(None,) + sample}, with sizes "
                    "that are not fixed; give a batch to check with, e.g. model.check_gradients(x_train[:2])."
                )
            arrays.append(rng.standard_normal((batch_size,) + sample))     # (batch, ...) float64
        return arrays
    arrays = []
    for item in _given_inputs(model, x):
        item = np.asarray(item)
        if item.dtype.kind not in "biuf" or item.ndim < 2:
            raise ValueError(
                "check_gradients: `x` must be a numeric batch with the samples on the first axis, e.g. x_train[:2]; "
                f"got an array of shape {item.shape} and dtype {item.dtype}."
            )
        item = item[:batch_size].astype(np.float64)
        if not np.isfinite(item).all():
            raise ValueError("check_gradients: `x` contains NaN or infinite values.")
        arrays.append(item)
    if len({len(a) for a in arrays}) > 1:
        raise ValueError(
            f"check_gradients: the inputs' batches must have the same number of samples; got "
            f"{', '.join(str(len(a)) for a in arrays)}."
        )
    if not model.built:
        shapes = [(None,) + a.shape[1:] for a in arrays]
        model.build(shapes[0] if len(shapes) == 1 else shapes)
    for k, (a, tensor) in enumerate(zip(arrays, model.inputs)):
        expected = tuple(tensor.shape[1:])
        if len(expected) != a.ndim - 1 or any(e is not None and e != s for e, s in zip(expected, a.shape[1:])):
            which = "inputs" if len(arrays) == 1 else f"input '{model.input_names[k]}'"
            raise ValueError(
                f"check_gradients: model '{model.name}' expects {which} of shape {(None,) + expected}; "
                f"got a batch of shape {a.shape}."
            )
    return arrays


def _layer_batch(layer, x, batch_size, rng):
    """The batch for a single layer (not a model): a list of one float64 array; the layer built for it."""
    if x is None:
        if not layer.built or any(d is None for d in layer.input_shape[1:]):
            raise ValueError(
                f"check_gradients: layer '{layer.name}' is not built for a fixed input shape; give a batch x."
            )
        x = rng.standard_normal((batch_size,) + tuple(layer.input_shape[1:]))
    x = np.asarray(x, dtype=np.float64)[:batch_size]
    if not layer.built:
        layer.build_for((None,) + x.shape[1:])
    return [x]


def _random_targets(loss, out_shape, rng):
    name = getattr(loss, "name", "")
    classes = out_shape[-1]
    if "sparse" in name:
        return rng.integers(0, classes, size=out_shape[:-1])
    if "categorical" in name:
        return np.eye(classes)[rng.integers(0, classes, size=out_shape[:-1])]  # one-hot
    if "binary" in name:
        return rng.integers(0, 2, size=out_shape).astype(np.float64)
    return rng.standard_normal(out_shape)


def _compiled_losses(model, n_outputs):
    """One loss object (or None) per output, copies of what ``compile`` was given; None if not compiled.

    ``loss_weights`` play no part: any fixed combination of the losses is a valid objective.
    """
    from .. import losses
    from ..models import Model

    spec = model.loss if isinstance(model, Model) else None
    if spec is None:
        return None
    if isinstance(spec, dict):
        specs = [spec.get(name) for name in model.output_names]
    elif isinstance(spec, (list, tuple)):
        if len(spec) != n_outputs:
            raise ValueError(
                f"check_gradients: the model was compiled with {len(spec)} losses for its {n_outputs} outputs; "
                "give one loss per output."
            )
        specs = list(spec)
    else:
        specs = [spec] * n_outputs
    # copies: the model's own loss objects keep their state
    return [None if s is None else copy.deepcopy(losses.get(s)) for s in specs]


def _given_targets(model, y, n_outputs):
    """``y`` as a list with one item (or None) per model output."""
    if y is None:
        return [None] * n_outputs
    if n_outputs == 1:
        return [y]
    names = model.output_names
    if isinstance(y, dict):
        return [y.get(name) for name in names]
    if not isinstance(y, (list, tuple)) or len(y) != n_outputs:
        raise ValueError(
            f"check_gradients: model '{model.name}' has {n_outputs} outputs ({', '.join(names)}); give `y` as a "
            "list with one array per output, or a dict keyed by output name."
        )
    return list(y)


class _Objective:
    """The scalar the gradients are taken of: the model's loss(es), or sum(output * R).

    With several outputs, the sum of the outputs' losses (or of their ``sum(output * R)``).
    """

    def __init__(self, model, y, out_shapes, batch_size, rng):
        losses = _compiled_losses(model, len(out_shapes))
        if losses is None:
            if y is not None:
                raise ValueError(
                    "check_gradients: `y` is given but the model has no loss to compare it with. Call "
                    "model.compile(loss=...) first, or leave out `y` to use the default sum(output * R)."
                )
            self.losses = None
            self.name = _DEFAULT_LOSS
            self.projections = [rng.standard_normal(shape) for shape in out_shapes]  # (batch, ...) float64
            return
        self.losses = losses
        self.name = " + ".join(loss.name for loss in losses if loss is not None)
        self.ys = []
        for loss, target, shape in zip(losses, _given_targets(model, y, len(out_shapes)), out_shapes):
            if loss is None:
                self.ys.append(None)
                continue
            target = _random_targets(loss, shape, rng) if target is None else np.asarray(target)[:batch_size]
            target = loss.prepare_targets(np.asarray(target), shape)
            self.ys.append(target.astype(np.float64) if target.dtype.kind == "f" else target)

    def value(self, outs):
        """The objective for the outputs ``outs``; keeps the losses' caches for :meth:`gradients`."""
        if self.losses is None:
            return float(sum(np.sum(out * r) for out, r in zip(outs, self.projections)))
        results = [None if loss is None else loss.forward(target, out)
                   for loss, target, out in zip(self.losses, self.ys, outs)]
        self.caches = [None if r is None else r[1] for r in results]
        return float(sum(r[0] for r in results if r is not None))

    def gradients(self):
        """The gradient of the objective by each output at the last :meth:`value` (None without a loss)."""
        if self.losses is None:
            return [r.copy() for r in self.projections]
        return [None if loss is None else np.asarray(loss.backward(cache), dtype=np.float64)
                for loss, cache in zip(self.losses, self.caches)]


# --------------------------------------------------------------------------------------
# the analytic gradients: the engine's backward pass, each layer's answer checked and kept
# --------------------------------------------------------------------------------------
def _got(value):
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"shape {value.shape}"
    return f"a {type(value).__name__}"


class _Recorder:
    """Stands in for the layer of one step: runs it, keeps its output and what its backward returned.

    It checks that ``backward`` keeps the contract, ``(dx, grads)`` with ``dx`` shaped like
    the input and one gradient per key of ``params`` shaped like the weight, and says what
    is wrong when it does not (the engine itself would fail with a less helpful message).
    """

    def __init__(self, step, leaf):
        self.step, self.layer, self.leaf = step, step.layer, leaf
        self.inputs = None   # the arrays the step read
        self.output = None   # a copy of what it returned
        self.dx = None       # one float64 gradient per input (None until backward runs)

    @property
    def params(self):
        return self.layer.params

    def forward(self, x, training=False):
        self.inputs = list(x) if self.step.as_list else [x]
        self._check_signature("forward", (x,), {"training": training}, "forward(self, x, training=False)")
        returned = self.layer.forward(x, training=training)
        if not (isinstance(returned, tuple) and len(returned) == 2 and isinstance(returned[0], np.ndarray)):
            raise self._fail(
                f"forward() returned {_got(returned)}; it must return a pair (out, cache): the output array and "
                "what backward needs (e.g. return x * x, x)."
            )
        out, cache = returned
        self.output = np.array(out, copy=True)
        return out, cache

    def _fail(self, text):
        return ValueError(f"check_gradients: layer '{self.leaf.name}' ({type(self.leaf).__name__}): {text}")

    def _check_signature(self, method, args, kwargs, expected):
        try:
            inspect.signature(getattr(self.layer, method)).bind(*args, **kwargs)
        except TypeError:
            raise self._fail(
                f"{method}() cannot be called as {expected}. Layers write forward(self, x, training=False) "
                "returning (out, cache) and backward(self, dout, cache) returning (dx, grads)."
            ) from None

    def backward(self, dout, cache):
        self._check_signature("backward", (dout, cache), {}, "backward(self, dout, cache)")
        returned = self.layer.backward(dout, cache)
        keys = ", ".join(repr(k) for k in self.params) or "none"
        if not (isinstance(returned, tuple) and len(returned) == 2):
            shape = self.inputs[0].shape if len(self.inputs) == 1 else [a.shape for a in self.inputs]
            raise self._fail(
                f"backward() returned {_got(returned)}; it must return a pair (dx, grads): the gradient with respect "
                f"to the layer's input, shape {shape}, and a dict with one gradient per key of self.params ({keys})."
            )
        dx, grads = returned
        if not isinstance(grads, dict):
            raise self._fail(
                f"backward() returned {_got(grads)} as grads; it must be a dict with one gradient per key of "
                f"self.params ({keys}), {{}} for a layer without weights."
            )
        missing = [name for name in self.params if name not in grads]
        if missing:
            raise self._fail(
                f"backward() returned no gradient for {missing[0]!r}. Return (dx, grads) with one gradient per key "
                f"of self.params ({keys}), each of the weight's shape."
            )
        extra = [name for name in grads if name not in self.params]
        if extra:
            raise self._fail(
                f"backward() returned a gradient for {extra[0]!r}, which is not a key of self.params ({keys}); "
                "a non-trainable weight (in self.state) gets no gradient."
            )
        for name, w in self.params.items():
            g = np.asarray(grads[name])
            if g.shape != w.shape:
                raise self._fail(
                    f"grads[{name!r}] has shape {g.shape}, but the weight has shape {w.shape}; they must be the same."
                )
        dxs = self._checked_dx(dx)
        self.dx = [np.array(d, dtype=np.float64) for d in dxs]
        return (list(dxs) if self.step.as_list else dxs[0]), grads

    def _checked_dx(self, dx):
        if not self.step.as_list:
            dxs = [dx]
        elif isinstance(dx, (list, tuple)) and len(dx) == len(self.inputs):
            dxs = list(dx)
        else:
            raise self._fail(
                f"backward() returned {_got(dx)} as dx; the layer takes a list of {len(self.inputs)} inputs, so dx "
                f"must be a list of {len(self.inputs)} gradients, one per input."
            )
        for k, (d, x) in enumerate(zip(dxs, self.inputs)):
            if d is None or np.shape(d) != x.shape:
                which = "input" if not self.step.as_list else f"input {k}"
                raise self._fail(
                    f"backward() returned {_got(d if d is None else np.asarray(d))}; it must return the gradient "
                    f"with respect to the layer's {which}, shape {x.shape}, as dx in (dx, grads)."
                )
        return dxs


# --------------------------------------------------------------------------------------
# the numerical gradients: forward passes through the engine, from one step on
# --------------------------------------------------------------------------------------
class _Rerun:
    """The objective after a forward pass of the program's steps from ``start`` on (the engine's forward).

    The slots made before ``start`` keep the values of the first pass.  With ``position``,
    step ``start`` reads its input number ``position`` from a slot of its own, fed with
    ``self.override``: perturbing that array changes what this one call sees, and nothing
    else (another layer reading the same slot keeps the value of the first pass), so the
    difference measures the gradient this call passes back to that input.
    """

    def __init__(self, program, values, objective, start, position=None):
        from ..engine.graph import Program, Step

        steps = list(program.steps[start:])
        self.override = None
        fresh = None
        if position is not None:
            first = steps[0]
            fresh = max(values) + 1
            reads = list(first.inputs)
            self.override = np.array(values[reads[position]], copy=True)
            reads[position] = fresh
            steps[0] = Step(first.layer, reads, first.output, first.as_list, first.training)
        made = {s.output for s in steps}
        needed = []
        for slot in [*(s for step in steps for s in step.inputs), *program.outputs]:
            if slot not in made and slot not in needed:
                needed.append(slot)
        self.program = Program(steps, needed, program.outputs)
        self.fresh, self.values, self.objective = fresh, values, objective

    def __call__(self):
        from ..engine import run

        # copies: a layer that writes into its input must not change the first pass's values
        inputs = [self.override if s == self.fresh else self.values[s].copy() for s in self.program.inputs]
        outs, _ = run.forward(self.program, inputs)
        return self.objective.value(outs)


class _Differences:
    """Numerical derivatives of the objective by one entry of an array, with kink detection.

    Besides the centred difference, the one-sided ones are compared: on a smooth function
    they differ by about ``f'' * epsilon``, which shrinks tenfold with a step ten times
    smaller; at a kink (ReLU at 0, two equal values in a max-pooling window) they differ by
    the jump of the slope, whatever the step.  A suspicious entry is measured again with
    ``epsilon / 10``: if the gap did not shrink, the entry sits on a kink, where the loss has
    no derivative, and it is skipped; otherwise the finer centred difference is used (a ReLU
    that a step of ``epsilon`` pushed across 0 is no longer crossed).
    """

    def __init__(self, evaluate, base, epsilon):
        self.evaluate, self.base, self.epsilon = evaluate, base, epsilon

    def _at(self, flat, index, eps):
        keep = flat[index]
        flat[index] = keep + eps
        plus = self.evaluate()
        flat[index] = keep - eps
        minus = self.evaluate()
        flat[index] = keep
        return (plus - minus) / (2 * eps), abs((plus - self.base) - (self.base - minus)) / eps

    def __call__(self, array, index, threshold):
        """``(derivative, False)``, or ``(None, True)`` when the entry sits on a kink."""
        flat = array.reshape(-1)  # a view: writing into it changes the array
        centred, gap = self._at(flat, index, self.epsilon)
        if gap <= threshold:
            return centred, False
        finer, finer_gap = self._at(flat, index, self.epsilon / 10)
        if finer_gap > 0.5 * gap:
            return None, True
        return finer, False


def _compare(analytic, numerical, tolerance):
    diff = float(np.max(np.abs(analytic - numerical))) if analytic.size else 0.0
    scale = float(max(np.max(np.abs(analytic), initial=0.0), np.max(np.abs(numerical), initial=0.0)))
    relative = diff / scale if scale > 0 else 0.0
    return diff, relative, bool(relative <= tolerance or diff <= _ABS_FLOOR)


def _input_label(position, n_inputs, call, n_calls):
    """The ``weight`` of an input row: ``"input"``, or ``"input[1]"`` / ``"input (call 2)"`` in a graph."""
    label = "input" if n_inputs == 1 else f"input[{position}]"
    return label if n_calls == 1 else f"{label} (call {call + 1})"


_INPUT_LABEL = re.compile(r"input(?:\[(\d+)\])?(?: \(call (\d+)\))?")


def _compare_entries(differences, array, analytic, rng, max_entries, tolerance):
    """Compare ``analytic`` with numerical derivatives on (a sample of) the entries of ``array``."""
    analytic = analytic.reshape(-1)
    threshold = tolerance * max(float(np.max(np.abs(analytic), initial=0.0)), _ABS_FLOOR)
    picked, numerical, kinks = [], [], 0
    order = rng.permutation(array.size) if array.size > max_entries else np.arange(array.size)
    for j in order[:_MAX_TRIES * max_entries]:
        value, kink = differences(array, int(j), threshold)
        if kink:
            kinks += 1
            continue
        picked.append(int(j))
        numerical.append(value)
        if len(picked) == max_entries:
            break
    diff, relative, ok = _compare(analytic[picked], np.array(numerical), tolerance)
    return {"checked": len(picked), "size": int(array.size), "skipped": kinks, "max_abs_diff": diff,
            "relative_error": relative, "ok": ok if picked else None}


def _rows_of_layer(leaf, calls, program, recorders, values, objective, weight_grads, base, rng, epsilon,
                   max_entries, tolerance):
    """The rows of one layer: each weight (summed over the layer's calls), then each input of each call."""
    rows = []
    for name, w in leaf.params.items():
        # perturbed from the first step that reads this array (another layer may hold the same one)
        start = next((k for k, step in enumerate(program.steps) if any(v is w for v in step.layer.params.values())),
                     calls[0])
        differences = _Differences(_Rerun(program, values, objective, start), base, epsilon)
        analytic = np.asarray(weight_grads.get(id(w), np.zeros(w.shape)), dtype=np.float64)
        rows.append({"layer": leaf.name, "type": type(leaf).__name__, "weight": name, "shape": tuple(w.shape),
                     **_compare_entries(differences, w, analytic, rng, max_entries, tolerance)})
    for n, k in enumerate(calls):
        r = recorders[k]
        for p, x_in in enumerate(r.inputs):
            rerun = _Rerun(program, values, objective, k, position=p)
            analytic = r.dx[p] if r.dx is not None else np.zeros(x_in.shape)   # None: no loss depends on it
            rows.append({"layer": leaf.name, "type": type(leaf).__name__,
                         "weight": _input_label(p, len(r.inputs), n, len(calls)), "shape": tuple(x_in.shape),
                         **_compare_entries(_Differences(rerun, base, epsilon), rerun.override, analytic, rng,
                                            max_entries, tolerance)})
    return rows


def check_gradients(model, x=None, y=None, layers=None, epsilon=1e-5, lang=None, print_fn=print,
                    max_entries=DEFAULT_MAX_ENTRIES, batch_size=2, tolerance=DEFAULT_TOLERANCE, seed=0):
    """Compare every layer's ``backward`` with numerical derivatives of the loss.

    Parameters
    ----------
    model : Sequential or Model (or a single Layer)
        Any model: a chain, a graph (residual connections, shared layers, several inputs
        or outputs), a subclassed or a nested one.  Built, or given a batch ``x`` to build
        on.  It is not changed: the check runs on a float64 copy of it.
    x : array, optional
        Inputs to check with (a list or a dict keyed by input name for several inputs); the
        first ``batch_size`` samples are used.  Default: random numbers from a standard
        normal distribution, of the model's input shape.
    y : array, optional
        Targets for the compiled loss (default: random valid labels); a list or a dict keyed
        by output name for several outputs.
    layers : list of str, int or Layer, optional
        Only check these layers (names, positions in ``model.leaf_layers()``, or the layers).
    epsilon : float, default 1e-5
        Step of the centred differences.
    lang : {"en", "zh"}, optional
        Language of the printed table (default: from the locale).
    print_fn : callable or None, default print
        Called once with the whole table; None prints nothing.
    max_entries : int, default 20
        Entries compared per array; larger arrays are sampled (seeded by ``seed``).
    batch_size : int, default 2
    tolerance : float, default 1e-4
        Largest relative error, ``max|analytic - numerical| / max|gradient|``, that passes.
    seed : int, default 0
        Seed of the random batch, targets, projection and sampled entries.

    Returns
    -------
    GradientCheck
        A list of dicts (one per array checked) with ``.ok``, ``.failures`` and
        ``.to_text(lang)``.  Per layer: one row per weight, then one per input of each call
        (``"input"``; in a graph ``"input[1]"`` for the second input of a merge layer and
        ``"input (call 2)"`` for the second call of a shared layer).

    Raises
    ------
    TypeError
        If ``model`` is not a convlearn model or layer.
    ValueError
        On a bad argument, an input of the wrong shape, a ``forward`` that does not return
        ``(out, cache)``, or a ``backward`` that does not return ``(dx, grads)`` with ``dx``
        shaped like the input and one gradient per key of ``self.params``, shaped like the
        weight.
    NotImplementedError
        If a layer has no backward pass (a ``call()`` that computes with NumPy).
    """
    from ..engine import run
    from ..engine.graph import Program, Step
    from ..models import Model

    _check_model(model)
    lang = resolve_lang(lang)
    for name, value, low in (("epsilon", epsilon, 0.0), ("tolerance", tolerance, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > low or not np.isfinite(value):
            raise ValueError(f"check_gradients: `{name}` must be a positive number, e.g. 1e-5. Received: {name}={value!r}.")
    for name, value in (("max_entries", max_entries), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"check_gradients: `{name}` must be a positive integer. Received: {name}={value!r}.")
    if print_fn is not None and not callable(print_fn):
        raise TypeError(f"check_gradients: `print_fn` must be callable (such as print) or None; got {print_fn!r}.")
    rng = np.random.default_rng(seed)

    is_model = isinstance(model, Model)
    xs = _batch(model, x, batch_size, rng) if is_model else _layer_batch(model, x, batch_size, rng)
    twin = _float64_copy(model)
    program = _program_of(twin, xs[0].shape)
    leaves = twin.leaf_layers() if is_model else _leaves_of(program)
    if not leaves:
        raise ValueError(f"check_gradients: model '{model.name}' has no layers. Add some with model.add(...).")
    chosen = _select_layers(model.leaf_layers() if is_model else leaves, layers)
    leaf_of = _leaf_of_steps(program, leaves)

    # analytic: one forward and one backward pass of the engine, each layer's answer kept
    recorders = [_Recorder(step, leaves[i]) for step, i in zip(program.steps, leaf_of)]
    recorded = Program([Step(r, s.inputs, s.output, s.as_list, s.training) for r, s in zip(recorders, program.steps)],
                       program.inputs, program.outputs)
    outs, caches = run.forward(recorded, [a.copy() for a in xs])
    result = GradientCheck(epsilon=float(epsilon), tolerance=float(tolerance), batch_size=len(xs[0]),
                           model_name=model.name)
    noted = set()
    for r in recorders:
        if r.output.dtype != np.float64 and r.leaf.name not in noted:
            noted.add(r.leaf.name)
            result.notes.append(("gc_note_dtype", {"layer": r.leaf.name, "dtype": str(r.output.dtype)}))
    objective = _Objective(model, y, [out.shape for out in outs], len(xs[0]), rng)
    result.loss = objective.name
    base = objective.value(outs)
    _, weight_grads = run.backward(recorded, caches, objective.gradients())

    # numerical: centred differences, entry by entry
    values = dict(zip(program.inputs, xs))
    values.update((step.output, r.output) for step, r in zip(program.steps, recorders))
    for i in chosen:
        calls = [k for k, owner in enumerate(leaf_of) if owner == i]
        result.extend(_rows_of_layer(leaves[i], calls, program, recorders, values, objective, weight_grads, base,
                                     rng, epsilon, max_entries, tolerance))
    if print_fn is not None:
        print_fn(result.to_text(lang))
    return result


# --------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------
def _render(result, lang):
    from .summary import display_width

    loss = f"'{result.loss}'" if result.loss != _DEFAULT_LOSS else tr("gc_default_loss", lang)
    lines = [tr("gc_title", lang, model=result.model_name, epsilon=f"{result.epsilon:g}", batch=result.batch_size,
                loss=loss), tr("gc_legend", lang, tolerance=f"{result.tolerance:.0e}")]
    headers = [tr(k, lang) for k in ("gc_col_layer", "gc_col_weight", "gc_col_shape", "gc_col_checked",
                                      "gc_col_diff", "gc_col_rel", "gc_col_result")]
    rows = []
    for row in result:
        rows.append([
            f"{row['layer']} ({row['type']})",
            _weight_text(row["weight"], lang),
            str(row["shape"]),
            (tr("gc_checked_kinks", lang, checked=row["checked"], size=row["size"], skipped=row["skipped"])
             if row["skipped"] else tr("gc_checked", lang, checked=row["checked"], size=row["size"])),
            f"{row['max_abs_diff']:.1e}",
            f"{row['relative_error']:.1e}",
            tr({True: "gc_ok", False: "gc_fail", None: "gc_unchecked"}[row["ok"]], lang),
        ])
    widths = [max(display_width(cell) for cell in column) for column in zip(headers, *rows)]

    def fmt(cells):
        return "  ".join(cell + " " * (w - display_width(cell)) for cell, w in zip(cells, widths)).rstrip()

    lines += ["", fmt(headers), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    lines.append("")
    if any(row["skipped"] for row in result):
        lines.append(tr("gc_kink_note", lang))
    for key, values in result.notes:
        lines.append(tr(key, lang, **values))
    failures = result.failures
    if not rows:
        lines.append(tr("gc_nothing", lang))
    elif not failures:
        checked = sum(row["ok"] is True for row in result)
        lines.append(tr("gc_all_ok", lang, count=checked, tolerance=f"{result.tolerance:.0e}"))
    else:
        last = failures[-1]
        if last["weight"] == "input":
            where = tr("gc_where_input", lang)
        elif _INPUT_LABEL.fullmatch(last["weight"]):
            where = tr("gc_where_input_of", lang, input=_weight_text(last["weight"], lang))
        else:
            where = tr("gc_where_weight", lang, weight=last["weight"])
        lines.append(tr("gc_some_fail", lang, failed=len(failures), count=len(rows), layer=last["layer"],
                        type=last["type"], where=where))
    return "\n".join(lines)


def _weight_text(weight, lang):
    """A row's ``weight`` as the table shows it: the weight's name, or the input in ``lang``."""
    match = _INPUT_LABEL.fullmatch(weight)
    if match is None:
        return weight
    position, call = match.groups()
    text = tr("gc_input", lang) if position is None else tr("gc_input_item", lang, index=position)
    return text if call is None else tr("gc_input_call", lang, input=text, call=call)
