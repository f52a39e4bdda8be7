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

Your own layers are checked the same way: subclass :class:`convlearn.layers.Layer`, write
``forward`` and ``backward``, put the layer in a model and call ``check_gradients``.  A wrong
``backward`` shows up as FAIL.  The failure nearest the output is the one to look at: every
layer before it receives its gradient through it, so those fail too.
"""

from __future__ import annotations

import copy
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
def _twin(layer):
    """A float64 copy of ``layer``: same weights, computing in float64, sharing nothing with it.

    ``copy.deepcopy`` works for every layer, your own included, and draws no random numbers
    (building from the config would initialise new weights from the global generator).
    """
    twin = copy.deepcopy(layer)
    twin.dtype = "float64"
    twin.params = {name: np.array(w, dtype=np.float64) for name, w in layer.params.items()}
    twin.grads = {}
    twin.need_input_grad = True
    return twin


def _leaves(model):
    if hasattr(model, "leaf_layers"):
        return model.leaf_layers()
    return [model]


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
def _batch(model, x, batch_size, rng):
    sample = tuple(model.input_shape[1:]) if model.built else None
    if x is None:
        if sample is None:
            raise ValueError(
                f"check_gradients: model '{model.name}' is not built, so the shape of its input is unknown. "
                "Give a batch, model.check_gradients(x_train[:2]), or give the first layer input_shape=..."
            )
        if any(d is None for d in sample):
            raise ValueError(
                f"check_gradients: model '{model.name}' takes inputs of shape {(None,) + sample}, with sizes "
                "that are not fixed; give a batch to check with, e.g. model.check_gradients(x_train[:2])."
            )
        return rng.standard_normal((batch_size,) + sample)  # (batch, ...) float64
    x = np.asarray(x)
    if x.dtype.kind not in "biuf" or x.ndim < 2:
        raise ValueError(
            f"check_gradients: `x` must be a numeric batch with the samples on the first axis, e.g. x_train[:2]; "
            f"got an array of shape {x.shape} and dtype {x.dtype}."
        )
    x = x[:batch_size].astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError("check_gradients: `x` contains NaN or infinite values.")
    if not model.built:
        model.build((None,) + x.shape[1:])
    expected = tuple(model.input_shape[1:])
    if len(expected) != x.ndim - 1 or any(e is not None and e != s for e, s in zip(expected, x.shape[1:])):
        raise ValueError(
            f"check_gradients: model '{model.name}' expects inputs of shape {(None,) + expected}; "
            f"got a batch of shape {x.shape}."
        )
    return x


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


class _Objective:
    """The scalar the gradients are taken of: the model's loss, or sum(output * R)."""

    def __init__(self, model, y, out_shape, batch_size, rng):
        loss = getattr(model, "loss", None)
        if loss is None:
            if y is not None:
                raise ValueError(
                    "check_gradients: `y` is given but the model has no loss to compare it with. Call "
                    "model.compile(loss=...) first, or leave out `y` to use the default sum(output * R)."
                )
            self.loss = None
            self.name = _DEFAULT_LOSS
            self.projection = rng.standard_normal(out_shape)  # (batch, ...) float64
            return
        self.loss = copy.deepcopy(loss)  # the model's own loss object keeps its state
        self.name = loss.name
        if y is None:
            y = _random_targets(loss, out_shape, rng)
        else:
            y = np.asarray(y)[:batch_size]
        y = self.loss.prepare_targets(np.asarray(y), out_shape)
        self.y = y.astype(np.float64) if y.dtype.kind == "f" else y

    def value(self, out):
        if self.loss is None:
            return float(np.sum(out * self.projection))
        return self.loss.forward(self.y, out)

    def gradient(self):
        if self.loss is None:
            return self.projection.copy()
        return np.asarray(self.loss.backward(), dtype=np.float64)


# --------------------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------------------
def _forward_from(twins, start, a):
    for layer in twins[start:]:
        a = layer.forward(a, training=False)
    return a


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

    def __init__(self, objective, twins, start, inputs, base, epsilon):
        self.objective, self.twins, self.start, self.inputs = objective, twins, start, inputs
        self.base, self.epsilon = base, epsilon

    def _at(self, flat, index, eps):
        keep = flat[index]
        flat[index] = keep + eps
        plus = self.objective.value(_forward_from(self.twins, self.start, self.inputs))
        flat[index] = keep - eps
        minus = self.objective.value(_forward_from(self.twins, self.start, self.inputs))
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


def check_gradients(model, x=None, y=None, layers=None, epsilon=1e-5, lang=None, print_fn=print,
                    max_entries=DEFAULT_MAX_ENTRIES, batch_size=2, tolerance=DEFAULT_TOLERANCE, seed=0):
    """Compare every layer's ``backward`` with numerical derivatives of the loss.

    Parameters
    ----------
    model : Sequential or Model (or a single Layer)
        Built, or given a batch ``x`` to build on.  It is not changed: the check runs on a
        float64 copy of its layers.
    x : array, optional
        Inputs to check with; the first ``batch_size`` samples are used.  Default: random
        numbers from a standard normal distribution, of the model's input shape.
    y : array, optional
        Targets for the compiled loss (default: random valid labels).
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
        ``.to_text(lang)``.

    Raises
    ------
    TypeError
        If ``model`` is not a convlearn model or layer.
    ValueError
        On a bad argument, an input of the wrong shape, or a ``backward`` that returns
        something of the wrong shape or does not set a gradient for every weight.
    """
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

    if hasattr(model, "leaf_layers"):
        x = _batch(model, x, batch_size, rng)
    else:  # a single layer
        if x is None:
            if not model.built or any(d is None for d in model.input_shape[1:]):
                raise ValueError(
                    f"check_gradients: layer '{model.name}' is not built for a fixed input shape; give a batch x."
                )
            x = rng.standard_normal((batch_size,) + tuple(model.input_shape[1:]))
        x = np.asarray(x, dtype=np.float64)[:batch_size]
        if not model.built:
            model.build_for((None,) + x.shape[1:])
    leaves = _leaves(model)
    if not leaves:
        raise ValueError(f"check_gradients: model '{model.name}' has no layers. Add some with model.add(...).")
    chosen = _select_layers(leaves, layers)
    twins = [_twin(layer) for layer in leaves]

    # analytic: one forward pass keeping every layer's input, one backward pass
    inputs = [x]
    for twin in twins:
        inputs.append(twin.forward(inputs[-1], training=False))
    result = GradientCheck(epsilon=float(epsilon), tolerance=float(tolerance), batch_size=len(x),
                           model_name=model.name)
    for twin, out in zip(twins, inputs[1:]):
        if isinstance(out, np.ndarray) and out.dtype != np.float64:
            result.notes.append(("gc_note_dtype", {"layer": twin.name, "dtype": str(out.dtype)}))
    out = inputs[-1]
    objective = _Objective(model, y, out.shape, len(x), rng)
    result.loss = objective.name
    objective.value(out)
    dout = objective.gradient()
    analytic_input = [None] * len(twins)
    analytic_weights = [None] * len(twins)
    for i in range(len(twins) - 1, -1, -1):
        twin = twins[i]
        dx = twin.backward(dout)
        missing = [name for name in twin.params if name not in twin.grads]
        if missing:
            raise ValueError(
                f"check_gradients: layer '{twin.name}' ({type(twin).__name__}): backward() did not set "
                f"self.grads[{missing[0]!r}]. Set one gradient per weight, with the weight's shape."
            )
        for name, w in twin.params.items():
            g = np.asarray(twin.grads[name])
            if g.shape != w.shape:
                raise ValueError(
                    f"check_gradients: layer '{twin.name}' ({type(twin).__name__}): self.grads[{name!r}] has "
                    f"shape {g.shape}, but the weight has shape {w.shape}; they must be the same."
                )
        analytic_weights[i] = {name: np.array(twin.grads[name], dtype=np.float64) for name in twin.params}
        if dx is None or np.shape(dx) != inputs[i].shape:
            got = "None" if dx is None else f"shape {np.shape(dx)}"
            raise ValueError(
                f"check_gradients: layer '{twin.name}' ({type(twin).__name__}): backward() returned {got}; it must "
                f"return the gradient with respect to the layer's input, shape {inputs[i].shape}."
            )
        analytic_input[i] = np.array(dx, dtype=np.float64)
        dout = analytic_input[i]

    # numerical: centred differences, entry by entry
    base = objective.value(_forward_from(twins, 0, x))
    for i in chosen:
        twin = twins[i]
        layer_input = inputs[i].copy()
        differences = _Differences(objective, twins, i, layer_input, base, epsilon)
        arrays = [(name, w, analytic_weights[i][name]) for name, w in twin.params.items()]
        arrays.append(("input", layer_input, analytic_input[i]))
        for name, array, analytic in arrays:
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
            result.append({
                "layer": twin.name, "type": type(twin).__name__, "weight": name, "shape": tuple(array.shape),
                "checked": len(picked), "size": int(array.size), "skipped": kinks, "max_abs_diff": diff,
                "relative_error": relative, "ok": ok if picked else None,
            })
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
            tr("gc_input", lang) if row["weight"] == "input" else row["weight"],
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
        where = (tr("gc_where_input", lang) if last["weight"] == "input"
                 else tr("gc_where_weight", lang, weight=last["weight"]))
        lines.append(tr("gc_some_fail", lang, failed=len(failures), count=len(rows), layer=last["layer"],
                        type=last["type"], where=where))
    return "\n".join(lines)
