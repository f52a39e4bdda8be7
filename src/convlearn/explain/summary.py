"""Why each row of ``model.summary()`` has its output shape and parameter count.

``model.summary(explain=True)`` prints, under every layer, the formulas with that layer's own
numbers; for the guide's first layer, ``Conv2D(32, (3, 3), input_shape=(28, 28, 1))``::

    32 filters of 3x3, stride 1, padding 'valid' (no zeros added: p = 0)
    out = floor((28 + 2*0 - 3) / 1) + 1 = 26 (height and width)
    32 filters -> 32 feature maps: output `(None, 26, 26, 32)`
    params = (3*3*1 + 1) * 32 = 320 (each filter: 3*3*1 weights, one per window cell and input
        channel, and 1 bias)

Use it directly with :func:`explain_layer`, which returns those lines (in English or Chinese):

>>> from convlearn.layers import Dense, Flatten, Input
>>> from convlearn.models import Sequential
>>> model = Sequential([Input(shape=(13, 13, 32)), Flatten(), Dense(100)])
>>> explain_layer(model.layers[1], "en")[1]
'params = 5408*100 + 100 = 540,900 (a weight for every input of every unit, and one bias per unit)'

The arithmetic is written with ASCII operators (``*``, ``-``, ``->``), so that the English text
prints on any terminal.  Every formula is an expression that evaluates to the number after its
``=`` (the tests check them all against the layer's real output shape and ``count_params()``).
"""

from __future__ import annotations

import math
import re
import unicodedata

from .i18n import resolve_lang, tr

__all__ = ["explain_layer", "wrap_text", "display_width"]


# --------------------------------------------------------------------------------------
# small formatting helpers
# --------------------------------------------------------------------------------------
def _shape(shape) -> str:
    """``(None, 26, 26, 32)``, between backticks: the tuple Keras and convlearn print."""
    dims = ", ".join("None" if d is None else str(d) for d in shape)
    return "`(" + dims + ("," if len(shape) == 1 else "") + ")`"


def _num(x: float) -> str:
    """A hyperparameter as a learner would type it: ``2``, ``0.5``, ``0.003922``."""
    x = float(x)
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}"


def _pair(values) -> str:
    """``2`` for (2, 2), ``(2, 1)`` otherwise."""
    a, b = values
    return str(a) if a == b else f"({a}, {b})"


def _product(dims) -> str:
    return "*".join(str(d) for d in dims)


def _count(n: int) -> str:
    return f"{n:,}"


def _plural(key: str, n: int) -> str:
    """``key`` for several, ``key + "_one"`` for exactly one (English needs both forms)."""
    return key + "_one" if n == 1 else key


def _calc(parts: list[str], total: int) -> str:
    """``3*4 + 4 = 16``, or just ``16`` when there is nothing to add or multiply."""
    expr = " + ".join(parts)
    return _count(total) if expr in (str(total), _count(total)) else f"{expr} = {_count(total)}"


def _known(dims) -> bool:
    return all(d is not None for d in dims)


# --------------------------------------------------------------------------------------
# sliding windows (convolution and pooling)
# --------------------------------------------------------------------------------------
def _window_lines(n_hw, k_hw, s_hw, padding, out_hw, lang) -> list[str]:
    """The output-size lines of a sliding window, one per axis (one for both when equal)."""
    axes = [("sum_axis_height", n_hw[0], k_hw[0], s_hw[0], out_hw[0]),
            ("sum_axis_width", n_hw[1], k_hw[1], s_hw[1], out_hw[1])]
    if axes[0][1:] == axes[1][1:]:
        axes = [("sum_axis_both",) + axes[0][1:]]
    lines = []
    for axis_key, n, k, s, out in axes:
        axis = tr(axis_key, lang)
        if n is None:
            lines.append(tr("sum_size_unknown", lang, axis=axis))
            continue
        if padding == "same":
            lines.append(tr("sum_size_same", lang, n=n, s=s, out=out, axis=axis))
            total = max((out - 1) * s + k - n, 0)
            before = total // 2
            lines.append(tr("sum_same_pad", lang, n=n, k=k, s=s, out=out, total=total, before=before,
                            after=total - before, axis=axis))
        else:
            lines.append(tr("sum_size_valid", lang, n=n, k=k, s=s, out=out, axis=axis))
    return lines


def _activation_line(layer, out_shape, lang) -> list[str]:
    act = getattr(getattr(layer, "activation", None), "name", "linear")
    if act == "linear":
        return []
    if act == "softmax":
        return [tr("sum_act_softmax", lang, units=out_shape[-1] if out_shape[-1] is not None else "?")]
    return [tr("sum_act", lang, name=act)]


def _conv(layer, lang) -> list[str]:
    _, H, W, C = layer.input_shape
    out = layer.output_shape
    kh, kw = layer.kernel_size
    F = layer.filters
    pad_note = tr("sum_pad_valid_note", lang) if layer.padding == "valid" else tr("sum_pad_same_note", lang)
    lines = [tr(_plural("sum_conv_head", F), lang, filters=F, kh=kh, kw=kw, stride=_pair(layer.strides),
                padding=layer.padding, note=pad_note)]
    lines += _window_lines((H, W), (kh, kw), layer.strides, layer.padding, out[1:3], lang)
    lines.append(tr(_plural("sum_conv_maps", F), lang, filters=F, shape=_shape(out)))
    per_filter = _product((kh, kw, C))
    if layer.use_bias:
        lines.append(tr("sum_conv_params", lang, per=per_filter, filters=F, total=_count(layer.count_params())))
    else:
        lines.append(tr("sum_conv_params_nobias", lang, per=per_filter, filters=F,
                        total=_count(layer.count_params())))
    return lines + _activation_line(layer, out, lang)


def _pool(layer, lang) -> list[str]:
    _, H, W, C = layer.input_shape
    out = layer.output_shape
    ph, pw = layer.pool_size
    key = "sum_pool_head_max" if layer.mode == "max" else "sum_pool_head_avg"
    lines = [tr(key, lang, ph=ph, pw=pw, stride=_pair(layer.strides), padding=layer.padding)]
    lines += _window_lines((H, W), (ph, pw), layer.strides, layer.padding, out[1:3], lang)
    lines.append(tr("sum_pool_channels", lang, channels=C, shape=_shape(out)))
    lines.append(tr("sum_pool_params", lang))
    return lines


def _flatten(layer, lang) -> list[str]:
    rest = layer.input_shape[1:]
    out = layer.output_shape
    if len(rest) == 1:
        return [tr("sum_flatten_flat", lang, shape=_shape(out)), tr("sum_no_params_rearrange", lang)]
    if not _known(rest):
        return [tr("sum_flatten_unknown", lang, shape=_shape(out)), tr("sum_no_params_rearrange", lang)]
    return [tr("sum_flatten", lang, product=_product(rest), total=math.prod(rest), shape=_shape(out)),
            tr("sum_no_params_rearrange", lang)]


def _dense(layer, lang) -> list[str]:
    D = layer.input_shape[-1]
    U = layer.units
    out = layer.output_shape
    key = "sum_dense_units" if len(layer.input_shape) == 2 else "sum_dense_units_last_axis"
    lines = [tr(_plural(key, U), lang, units=U, inputs=D, shape=_shape(out))]
    total = _count(layer.count_params())
    if layer.use_bias:
        lines.append(tr("sum_dense_params", lang, inputs=D, units=U, total=total))
    else:
        lines.append(tr("sum_dense_params_nobias", lang, inputs=D, units=U, total=total))
    return lines + _activation_line(layer, out, lang)


def _dropout(layer, lang) -> list[str]:
    rate = layer.rate
    lines = []
    if rate > 0:
        lines.append(tr("sum_dropout", lang, percent=_num(rate * 100), rate=_num(rate),
                        scale=_num(1 / (1 - rate))))
    else:
        lines.append(tr("sum_dropout_zero", lang))
    lines.append(tr("sum_same_shape", lang, shape=_shape(layer.output_shape)))
    return lines


def _activation_layer(layer, lang) -> list[str]:
    name = type(layer).__name__
    shape = _shape(layer.output_shape)
    if name == "Softmax":
        units = layer.output_shape[-1]
        first = tr("sum_softmax_layer", lang, units=units if units is not None else "?")
    elif name == "ReLU":
        if layer.max_value is None and layer.negative_slope == 0 and layer.threshold == 0:
            first = tr("sum_relu_layer", lang)
        else:
            first = tr("sum_relu_options", lang, max_value="-" if layer.max_value is None else _num(layer.max_value),
                       slope=_num(layer.negative_slope), threshold=_num(layer.threshold))
    elif name == "LeakyReLU":
        first = tr("sum_leaky_layer", lang, slope=_num(layer.negative_slope))
    else:
        first = tr("sum_act", lang, name=layer.activation.name)
    return [first, tr("sum_same_shape", lang, shape=shape)]


def _rescaling(layer, lang) -> list[str]:
    scale = layer.scale
    inverse = 1 / scale if scale else 0
    if scale and abs(inverse - round(inverse)) < 1e-6 * abs(inverse) and round(inverse) not in (0, 1, -1):
        scale_text = f"1/{int(round(inverse))} = {_num(scale)}"
    else:
        scale_text = _num(scale)
    return [tr("sum_rescaling", lang, scale=scale_text, offset=_num(layer.offset)),
            tr("sum_same_shape", lang, shape=_shape(layer.output_shape))]


def _reshape(layer, lang) -> list[str]:
    rest = layer.input_shape[1:]
    out = layer.output_shape
    lines = []
    if _known(rest):
        size = math.prod(rest)
        target = layer.target_shape
        if -1 in target:
            known = [d for d in target if d != -1]
            known_text = f"({_product(known)})" if len(known) > 1 else (str(known[0]) if known else "1")
            lines.append(tr("sum_reshape_minus_one", lang, size=size, known=known_text,
                            value=size // math.prod(known)))
        lines.append(tr("sum_reshape", lang, size=size, product=_product(out[1:]), shape=_shape(out)))
    else:
        lines.append(tr("sum_reshape_unknown", lang, shape=_shape(out)))
    lines.append(tr("sum_no_params_rearrange", lang))
    return lines


def _input(layer, lang) -> list[str]:
    return [tr("sum_input", lang, sample=_shape(layer.shape), shape=_shape(layer.output_shape))]


def _shapes(shape, lang) -> str:
    """One shape, or the shapes of several inputs or outputs (a list)."""
    return tr("list_sep", lang).join(_shape(s) for s in shape) if isinstance(shape, list) else _shape(shape)


def _nested(layer, lang) -> list[str]:
    inner = [sub for sub in layer.layers if not sub.is_input_layer]      # a functional model lists its inputs
    counts = [sub.count_params() for sub in inner]
    lines = [tr("sum_nested", lang, count=len(inner), input=_shapes(layer.input_shape, lang),
                shape=_shapes(layer.output_shape, lang))]
    lines.append(tr("sum_nested_params", lang, sum=_calc([_count(c) for c in counts], sum(counts))))
    return lines


def _generic(layer, lang) -> list[str]:
    lines = [tr("sum_custom", lang, kind=type(layer).__name__, shape=_shape(layer.output_shape))]
    if layer.params:
        parts = [_product(w.shape) if w.ndim else "1" for w in layer.params.values()]
        arrays = tr("list_sep", lang).join(f"`{name}` {tuple(w.shape)}" for name, w in layer.params.items())
        lines.append(tr("sum_custom_params", lang, calc=_calc(parts, layer.count_params()), arrays=arrays))
    else:
        lines.append(tr("sum_custom_no_params", lang))
    return lines


_EXPLAINERS = {
    "Conv2D": _conv,
    "MaxPooling2D": _pool,
    "AveragePooling2D": _pool,
    "Flatten": _flatten,
    "Dense": _dense,
    "Dropout": _dropout,
    "Activation": _activation_layer,
    "Softmax": _activation_layer,
    "LeakyReLU": _activation_layer,
    "ReLU": _activation_layer,
    "Rescaling": _rescaling,
    "Reshape": _reshape,
    "InputLayer": _input,
}


def _explainer(layer):
    """The explainer of the nearest convlearn class in the layer's class hierarchy."""
    from ..models import Model

    if isinstance(layer, Model):                                           # Sequential, functional or subclassed
        return _nested
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("convlearn.") and cls.__name__ in _EXPLAINERS:
            if cls is type(layer) or not _overrides_shape(layer, cls):
                return _EXPLAINERS[cls.__name__]
            break
    return _generic


def _overrides_shape(layer, base) -> bool:
    """Whether a subclass changed how the output shape or the weights are made."""
    cls = type(layer)
    return any(getattr(cls, name) is not getattr(base, name) for name in ("build", "compute_output_shape"))


def explain_layer(layer, lang: str | None = None) -> list[str]:
    """How ``layer``'s output shape and parameter count follow from its hyperparameters.

    Parameters
    ----------
    layer : convlearn.layers.Layer
        A layer of a model (built: the model knows its input shape).  Nested models
        (``Sequential``, functional or subclassed) and your own ``Layer`` subclasses are
        explained too.
    lang : {"en", "zh"}, optional
        Language; default: from the locale (see :func:`convlearn.explain.resolve_lang`).

    Returns
    -------
    list of str
        One sentence or formula per line, without indentation or line breaks.

    Raises
    ------
    TypeError
        If ``layer`` is not a convlearn layer.
    ValueError
        If ``lang`` is neither English nor Chinese.

    Examples
    --------
    >>> from convlearn.layers import Conv2D
    >>> from convlearn.models import Sequential
    >>> model = Sequential([Conv2D(32, (3, 3), input_shape=(28, 28, 1))])
    >>> for line in explain_layer(model.layers[0], "en"):
    ...     print(line)
    32 filters of 3x3, stride 1, padding 'valid' (no zeros added: p = 0)
    out = floor((28 + 2*0 - 3) / 1) + 1 = 26 (height and width)
    32 filters -> 32 feature maps: output `(None, 26, 26, 32)`
    params = (3*3*1 + 1) * 32 = 320 (each filter: 3*3*1 weights, one per window cell and input channel, and 1 bias)
    """
    from ..layers.base import Layer

    lang = resolve_lang(lang)
    if not isinstance(layer, Layer):
        raise TypeError(
            f"explain_layer expects a convlearn layer, such as model.layers[0]; got {type(layer).__name__}."
        )
    if not layer.built or layer.output_shape is None:
        return [tr("sum_unbuilt", lang)]
    lines = _explainer(layer)(layer, lang)
    if not layer.trainable and layer.count_params():
        lines.append(tr("sum_frozen", lang))
    return lines


# --------------------------------------------------------------------------------------
# wrapping for the terminal (CJK characters take two columns)
# --------------------------------------------------------------------------------------
_CJK = "\u2e80-\u9fff\u3000-\u303f\uff00-\uffef"
_CJK_PUNCT_AFTER = "，。；：、）》」』！？”’"
# Tokens, tried in order: code between backticks and short equations ("p = 0") stay whole;
# spaces; one CJK character with the closing punctuation after it; a run of other characters.
_P = "[" + _CJK_PUNCT_AFTER + "]*"  # closing punctuation stays with what it follows
_TOKEN_RE = re.compile(
    r"`[^`]*`[^\s" + _CJK + r"]*" + _P
    + r"|[^\s" + _CJK + r"]{1,12} = [^\s" + _CJK + r"]{1,12}(?=[\s" + _CJK + r"]|$)" + _P
    + r"|\s+"
    + r"|[" + _CJK + r"]" + _P
    + r"|[^\s" + _CJK + r"]+" + _P
)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _split_long(token: str, width: int) -> list[str]:
    pieces, current = [], ""
    for ch in token:
        if current and display_width(current + ch) > width:
            carry = ""
            if ch in _CJK_PUNCT_AFTER and len(current) > 1:  # punctuation never starts a line
                current, carry = current[:-1], current[-1]
            pieces.append(current)
            current = carry
        current += ch
    return pieces + ([current] if current else [])


def wrap_text(text: str, width: int, indent: str = "", continuation: str = "    ") -> list[str]:
    """Break ``text`` into lines of at most ``width`` terminal columns.

    English breaks between words; Chinese may break between any two characters, but never
    before a closing punctuation mark (，。：）...).  Code between backticks and short equations
    such as ``p = 0`` are kept whole (code longer than a line gets a line of its own); other
    words longer than a line are cut.

    Parameters
    ----------
    text : str
    width : int
        Columns per line, indentation included.
    indent : str
        Put in front of the first line.
    continuation : str
        Put in front of the following lines (after ``indent``).

    Returns
    -------
    list of str
    """
    lines: list[str] = []
    prefix = indent
    current = ""
    for token in _TOKEN_RE.findall(text):
        room = width - display_width(prefix)
        if token.isspace():
            if current:
                current += " "
            continue
        if display_width(current + token) <= room:
            current += token
            continue
        if current.strip():
            lines.append(prefix + current.rstrip())
            prefix = indent + continuation
            room = width - display_width(prefix)
        current = ""
        if display_width(token) > room and not token.startswith("`"):  # code is never cut
            *full, token = _split_long(token, max(room, 1))
            lines.extend(prefix + piece for piece in full)
            prefix = indent + continuation
        current = token
    if current.strip() or not lines:
        lines.append(prefix + current.rstrip())
    return lines
