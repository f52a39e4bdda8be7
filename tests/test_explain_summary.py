"""model.summary(explain=True): every number of every explanation, checked against the layer itself.

Each formula in an explanation is evaluated here (``floor((28 + 2*0 - 3) / 1) + 1 = 26`` must
really make 26), its inputs are compared with the layer's hyperparameters and input shape, and
its result with the output shape and parameter count worked out independently in this file.
"""

import ast
import io
import math
import operator
import re

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers
from convlearn.explain.i18n import latin_words
from convlearn.explain.summary import display_width, explain_layer, wrap_text
from convlearn.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    InputLayer,
    Layer,
    LeakyReLU,
    MaxPool2D,
    MaxPooling2D,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
)
from convlearn.models import Sequential
from convlearn.summary import model_summary

_HAN = re.compile(r"[\u4e00-\u9fff]")
LANGS = ("en", "zh")

# --------------------------------------------------------------------------------------
# evaluating the formulas of a line
# --------------------------------------------------------------------------------------
_FUNCS = {"floor": math.floor, "ceil": math.ceil, "max": max}
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def _eval(node):
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_eval(node.left), _eval(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords:
        return _FUNCS[node.func.id](*[_eval(a) for a in node.args])
    raise ValueError("not arithmetic")


def arithmetic(text):
    """The value of ``text`` if it is plain arithmetic (numbers, + - * /, floor, ceil, max), else None."""
    text = text.strip()
    if not text or not re.search(r"\d", text):
        return None
    try:
        return _eval(ast.parse(text, mode="eval"))
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError):
        return None


def normalise(line):
    """Chinese function names to English ones, thousands separators removed, code spans dropped."""
    line = line.replace("向下取整", "floor").replace("向上取整", "ceil")
    line = re.sub(r"`[^`]*`", " ", line)
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", line)


def chains(line):
    """Every chain ``a = b = c`` of the line whose sides are arithmetic, as lists of (text, value).

    The first side is the longest arithmetic tail of the text before the first ``=``; the last
    side is the number that starts the text after the last ``=``.
    """
    parts = normalise(line).split(" = ")
    found, current = [], []

    def close():
        if len(current) >= 2:
            found.append(list(current))
        current.clear()

    for i, part in enumerate(parts):
        whole = arithmetic(part)
        if whole is not None and i not in (0, len(parts) - 1):
            current.append((part.strip(), whole))
            continue
        if i > 0:  # the number starting this part ends the chain before it
            m = re.match(r"\s*(-?\d+(?:\.\d+)?)", part)
            if m and current:
                current.append((m.group(1), float(m.group(1))))
            close()
        if i < len(parts) - 1:  # the arithmetic tail of this part starts a new chain
            for start in range(len(part)):
                value = arithmetic(part[start:])
                if value is not None:
                    current.append((part[start:].strip(), value))
                    break
    return found


def all_chains(lines):
    out = []
    for line in lines:
        for chain in chains(line):
            values = [v for _, v in chain]
            for v in values[1:]:
                assert math.isclose(v, values[0], rel_tol=1e-3, abs_tol=1e-9), (line, chain)
            out.append(chain)
    return out


def test_the_formula_checker_catches_wrong_arithmetic():
    assert chains("out = floor((28 + 2*0 - 3) / 1) + 1 = 26 (height and width)") == [
        [("floor((28 + 2*0 - 3) / 1) + 1", 26), ("26", 26.0)]]
    assert chains("参数个数 = 5408*100 + 100 = 540,900（每个单元）")[0][-1][1] == 540900
    with pytest.raises(AssertionError):
        all_chains(["params = (3*3*1 + 1) * 32 = 330"])
    with pytest.raises(AssertionError):
        all_chains(["out = ceil(28 / 3) = 9 (height)"])
    assert chains("p = 0 and `(None, 3)`") == []


# --------------------------------------------------------------------------------------
# independent arithmetic
# --------------------------------------------------------------------------------------
def window_out(n, k, s, padding):
    if padding == "same":
        return -(-n // s)
    return (n - k) // s + 1


def same_total(n, k, s):
    return max((window_out(n, k, s, "same") - 1) * s + k - n, 0)


def shape_in(line):
    """The shape written between backticks, e.g. `(None, 26, 26, 32)` -> (None, 26, 26, 32)."""
    m = re.search(r"`\(([^`]*)\)`", line)
    assert m, line
    return tuple(None if d.strip() == "None" else int(d) for d in m.group(1).split(",") if d.strip())


_PARAMS = re.compile(r"(?:params|参数个数) = ")


def params_line(lines):
    """The text from "params =" to the end of the one line that has it."""
    [line] = [ln for ln in lines if _PARAMS.search(ln)]
    return line[_PARAMS.search(line).start():]


def params_number(lines):
    return int(re.findall(r"= (\d+)", normalise(params_line(lines)))[-1])


AXIS_WORDS = {
    "en": {"height and width": (0, 1), "height": (0,), "width": (1,)},
    "zh": {"高和宽": (0, 1), "高": (0,), "宽": (1,)},
}


def size_lines(lines, lang):
    """{axis index: (n, k or None, s, out, padding total or None)} from the output-size lines."""
    found = {}
    for line in lines:
        norm = normalise(line)
        m = re.search(r"floor\(\((\d+) \+ 2\*0 - (\d+)\) / (\d+)\) \+ 1 = (\d+)", norm)
        m2 = re.search(r"ceil\((\d+) / (\d+)\) = (\d+)", norm)
        m3 = re.search(r"max\(\((\d+) - 1\)\*(\d+) \+ (\d+) - (\d+), 0\) = (\d+)", norm)
        if not (m or m2 or m3):
            continue
        label = re.search(r"[（(]([^（）()]*)[）)]$", line).group(1)
        axes = AXIS_WORDS[lang][label]
        for axis in axes:
            entry = found.setdefault(axis, {})
            if m:
                entry.update(n=int(m.group(1)), k=int(m.group(2)), s=int(m.group(3)), out=int(m.group(4)), mode="valid")
            if m2:
                entry.update(n=int(m2.group(1)), s=int(m2.group(2)), out=int(m2.group(3)), mode="same")
            if m3:
                entry.update(pad_out=int(m3.group(1)), pad_s=int(m3.group(2)), k=int(m3.group(3)),
                             pad_n=int(m3.group(4)), total=int(m3.group(5)))
    return found


# --------------------------------------------------------------------------------------
# the layer configurations
# --------------------------------------------------------------------------------------
class Scale(Layer):
    """A learner's own layer: out = x * w + b, w and b of the last axis' size."""

    def build(self, input_shape):
        self.add_weight("w", (input_shape[-1],), "ones")
        self.add_weight("b", (input_shape[-1],), "zeros")

    def forward(self, x, training=False):
        return x * self.params["w"] + self.params["b"], x                  # cache: the input

    def backward(self, dout, x):
        grads = {"w": (dout * x).reshape(-1, dout.shape[-1]).sum(axis=0),
                 "b": dout.reshape(-1, dout.shape[-1]).sum(axis=0)}
        return dout * self.params["w"], grads


class Square(Layer):
    """A custom layer without weights."""

    def forward(self, x, training=False):
        return x * x, x                                                     # cache: the input

    def backward(self, dout, x):
        return 2 * x * dout, {}


CONV_CASES = [
    ((28, 28, 1), dict(filters=32, kernel_size=(3, 3), activation="relu")),     # the guide's layer
    ((11, 13, 3), dict(filters=8, kernel_size=(3, 5), strides=(2, 1))),
    ((28, 28, 1), dict(filters=4, kernel_size=3, strides=2, padding="same")),
    ((7, 9, 2), dict(filters=6, kernel_size=(2, 4), strides=(3, 2), padding="same", use_bias=False)),
    ((5, 5, 3), dict(filters=1, kernel_size=1, activation="sigmoid")),
    ((6, 6, 1), dict(filters=2, kernel_size=6)),                                  # window as big as the image
    ((5, 8, 4), dict(filters=3, kernel_size=(5, 1), strides=(1, 3), padding="same")),
]

POOL_CASES = [
    ((26, 26, 32), MaxPool2D, dict(pool_size=2, strides=2)),                     # the guide's layer
    ((13, 13, 4), MaxPooling2D, dict(pool_size=(3, 3), strides=2)),              # overlapping windows
    ((5, 7, 2), AveragePooling2D, dict(pool_size=(2, 3), padding="same")),
    ((9, 4, 1), AveragePooling2D, dict(pool_size=(3, 2), strides=(2, 1))),
    ((3, 3, 5), MaxPooling2D, dict(pool_size=2, padding="same")),
]


def build(input_shape, layer):
    Sequential([Input(shape=input_shape), layer])
    return layer


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("input_shape,config", CONV_CASES)
def test_conv2d_numbers(input_shape, config, lang):
    layer = build(input_shape, Conv2D(**config))
    lines = explain_layer(layer, lang)
    chain_list = all_chains(lines)
    H, W, C = input_shape
    kh, kw = layer.kernel_size
    sh, sw = layer.strides
    F = config["filters"]
    pad = config.get("padding", "valid")
    expected_out = (window_out(H, kh, sh, pad), window_out(W, kw, sw, pad))
    assert layer.output_shape == (None,) + expected_out + (F,)

    sizes = size_lines(lines, lang)
    assert set(sizes) == {0, 1}
    for axis, (n, k, s) in enumerate([(H, kh, sh), (W, kw, sw)]):
        got = sizes[axis]
        assert got["mode"] == pad and got["n"] == n and got["s"] == s and got["out"] == expected_out[axis]
        if pad == "valid":
            assert got["k"] == k
        else:
            assert (got["pad_out"], got["pad_s"], got["k"], got["pad_n"]) == (expected_out[axis], s, k, n)
            assert got["total"] == same_total(n, k, s)
    assert [shape_in(ln) for ln in lines if "`(" in ln] == [layer.output_shape]

    expected_params = (kh * kw * C + (1 if config.get("use_bias", True) else 0)) * F
    assert params_number(lines) == expected_params == layer.count_params()
    norm = normalise(params_line(lines))
    assert f"{kh}*{kw}*{C}" in norm and f"* {F} =" in norm
    assert len(chain_list) >= 2 + (pad == "same")
    assert str(F) in lines[0] and f"{kh}x{kw}" in lines[0]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("input_shape,cls,config", POOL_CASES)
def test_pooling_numbers(input_shape, cls, config, lang):
    layer = build(input_shape, cls(**config))
    lines = explain_layer(layer, lang)
    all_chains(lines)
    H, W, C = input_shape
    ph, pw = layer.pool_size
    sh, sw = layer.strides
    pad = config.get("padding", "valid")
    expected = (None, window_out(H, ph, sh, pad), window_out(W, pw, sw, pad), C)
    assert layer.output_shape == expected
    sizes = size_lines(lines, lang)
    for axis, (n, k, s) in enumerate([(H, ph, sh), (W, pw, sw)]):
        got = sizes[axis]
        assert (got["n"], got["s"], got["out"], got["k"]) == (n, s, expected[axis + 1], k)
        if pad == "same":
            assert got["total"] == same_total(n, k, s)
    assert [shape_in(ln) for ln in lines if "`(" in ln] == [expected]
    assert params_number(lines) == 0 == layer.count_params()
    word = {"en": ("max pooling", "average pooling"), "zh": ("最大池化", "平均池化")}[lang]
    assert lines[0].startswith(word[0] if layer.mode == "max" else word[1])


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("input_shape", [(13, 13, 32), (4, 5), (3, 1, 2, 2)])
def test_flatten_numbers(input_shape, lang):
    layer = build(input_shape, Flatten())
    lines = explain_layer(layer, lang)
    [chain] = all_chains(lines)
    size = int(np.prod(input_shape))
    assert chain[0][0] == "*".join(str(d) for d in input_shape) and chain[-1][1] == size
    assert shape_in(lines[0]) == (None, size) == layer.output_shape
    assert params_number(lines) == 0 == layer.count_params()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("input_shape,units,use_bias", [((5408,), 100, True), ((100,), 10, True), ((8,), 1, False),
                                                        ((4, 6), 7, True)])
def test_dense_numbers(input_shape, units, use_bias, lang):
    layer = build(input_shape, Dense(units, use_bias=use_bias))
    lines = explain_layer(layer, lang)
    all_chains(lines)
    D = input_shape[-1]
    expected = D * units + (units if use_bias else 0)
    assert params_number(lines) == expected == layer.count_params()
    assert f"{D}*{units}" in params_line(lines)
    assert shape_in(lines[0]) == (None,) + input_shape[:-1] + (units,) == layer.output_shape
    assert str(D) in lines[0] and str(units) in lines[0]


def test_the_guides_dense_layer_reads_as_in_the_issue():
    layer = build((5408,), Dense(100))
    assert explain_layer(layer, "en")[1].startswith("params = 5408*100 + 100 = 540,900")
    conv = build((28, 28, 1), Conv2D(32, (3, 3)))
    en = explain_layer(conv, "en")
    assert "out = floor((28 + 2*0 - 3) / 1) + 1 = 26 (height and width)" in en
    assert "32 filters -> 32 feature maps: output `(None, 26, 26, 32)`" in en
    assert en[3].startswith("params = (3*3*1 + 1) * 32 = 320")
    pool = build((26, 26, 32), MaxPool2D(2, 2))
    assert "out = floor((26 + 2*0 - 2) / 2) + 1 = 13 (height and width)" in explain_layer(pool, "en")
    flat = build((13, 13, 32), Flatten())
    assert "13*13*32 = 5408" in explain_layer(flat, "en")[0]
    same = build((28, 28, 1), Conv2D(8, 3, strides=2, padding="same"))
    assert "out = ceil(28 / 2) = 14 (height and width)" in explain_layer(same, "en")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("rate", [0.5, 0.3, 0.25, 0.0])
def test_dropout_numbers(rate, lang):
    layer = build((10,), Dropout(rate))
    lines = explain_layer(layer, lang)
    found = all_chains(lines)
    if rate:
        [chain] = found
        assert chain[0][0] == f"1/(1 - {rate:g})"
        assert math.isclose(chain[-1][1], 1 / (1 - rate), rel_tol=1e-3)
        assert f"{rate * 100:g}%" in lines[0]
    assert shape_in(lines[-1]) == (None, 10)
    assert params_number(lines) == 0


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("layer,word", [
    (Activation("tanh"), "'tanh'"), (ReLU(), "max(0, x)"), (ReLU(max_value=6.0), "max_value=6"),
    (LeakyReLU(0.1), "0.1*x"), (Softmax(), "softmax"),
])
def test_activation_layers(layer, word, lang):
    layer = build((3, 4), layer)
    lines = explain_layer(layer, lang)
    assert word in lines[0]
    assert shape_in(lines[-1]) == (None, 3, 4) == layer.output_shape
    assert params_number(lines) == 0


@pytest.mark.parametrize("lang", LANGS)
def test_rescaling_shows_the_fraction(lang):
    lines = explain_layer(build((28, 28, 1), Rescaling(1 / 255)), lang)
    [chain] = all_chains(lines)
    assert chain[0][0] == "1/255" and math.isclose(chain[1][1], 1 / 255, rel_tol=1e-3)
    lines = explain_layer(build((4,), Rescaling(2.0, offset=-1.0)), lang)
    assert " 2" in lines[0] and "-1" in lines[0] and all_chains(lines) == []


@pytest.mark.parametrize("lang", LANGS)
def test_reshape_numbers(lang):
    layer = build((784,), Reshape((28, 28, 1)))
    lines = explain_layer(layer, lang)
    [chain] = all_chains(lines)
    assert chain[0][0] == "28*28*1" and chain[1][1] == 784
    assert shape_in(lines[0]) == (None, 28, 28, 1) == layer.output_shape

    layer = build((4, 4, 2), Reshape((-1, 4)))
    lines = explain_layer(layer, lang)
    first, second = all_chains(lines)
    assert first[0][0] == "32 / 4" and first[1][1] == 8
    assert second[0][0] == "8*4" and second[1][1] == 32
    assert layer.output_shape == (None, 8, 4)


@pytest.mark.parametrize("lang", LANGS)
def test_input_nested_custom_frozen_and_unbuilt(lang):
    assert shape_in(explain_layer(InputLayer(shape=(28, 28, 1)), lang)[0]) == (28, 28, 1)

    inner = Sequential([Input(shape=(8, 8, 1)), Conv2D(4, 3), MaxPool2D(), Flatten()])
    outer = Sequential([Input(shape=(8, 8, 1)), inner, Dense(3)])
    lines = explain_layer(outer.layers[0], lang)
    assert "3" in lines[0] and "`(None, 8, 8, 1)`" in lines[0] and "`(None, 36)`" in lines[0]
    [chain] = all_chains(lines)
    assert chain[0][0] == "40 + 0 + 0" and chain[1][1] == 40 == inner.count_params() == 3 * 3 * 1 * 4 + 4

    scale = build((5, 6), Scale())
    lines = explain_layer(scale, lang)
    assert "`Scale`" in lines[0] and shape_in(lines[0]) == (None, 5, 6)
    [chain] = all_chains(lines)
    assert chain[0][0] == "6 + 6" and chain[1][1] == 12 == scale.count_params()
    assert "`w` (6,)" in lines[1] and "`b` (6,)" in lines[1]
    assert params_number(explain_layer(build((3,), Square()), lang)) == 0

    frozen = build((4,), Dense(2, trainable=False))
    assert "`trainable=False`" in explain_layer(frozen, lang)[-1]
    unbuilt = explain_layer(Dense(3), lang)
    assert len(unbuilt) == 1 and "`input_shape=(28, 28, 1)`" in unbuilt[0]


class Block(keras.Model):
    """A subclassed model used as a layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(6)
        self.act = layers.Activation("relu")

    def call(self, x, training=False):
        return self.act(self.dense(x))


@pytest.mark.parametrize("lang", LANGS)
def test_nested_functional_and_subclassed_models_are_explained_as_models(lang):
    inputs = keras.Input(shape=(6,))
    residual = keras.Model(inputs, layers.add([inputs, layers.Dense(6)(inputs)]), name="residual")
    outer = Sequential([Input(shape=(6,)), residual, Block(), Dense(2)])
    for model in outer.layers[:2]:
        lines = explain_layer(model, lang)
        assert "2" in lines[0] and lines[0].count("`(None, 6)`") == 2, lines   # its 2 layers, not its Input
        [chain] = all_chains(lines)
        assert chain[0][0] == "42 + 0" and chain[1][1] == 42 == model.count_params()
    if lang == "en":
        assert explain_layer(residual, lang)[0].startswith("a model used as a layer: its 2 layers turn `(None, 6)`")


def test_a_subclass_that_changes_shapes_is_explained_as_custom():
    class Doubling(Dense):
        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:-1]) + (2 * self.units,)

    class Quiet(Dense):  # only forward changes: still explained as a Dense layer
        def forward(self, x, training=False):
            return super().forward(x, training)

    assert "`Doubling`" in explain_layer(build((4,), Doubling(3)), "en")[0]
    assert explain_layer(build((4,), Quiet(3)), "en")[1].startswith("params = 4*3 + 3 = 15")


def test_explain_layer_rejects_what_is_not_a_layer_and_unknown_languages():
    with pytest.raises(TypeError, match=r"explain_layer expects a convlearn layer, such as model.layers\[0\]; got str"):
        explain_layer("conv2d", "en")
    with pytest.raises(ValueError, match="lang"):
        explain_layer(build((4,), Dense(2)), "fr")


# --------------------------------------------------------------------------------------
# both languages
# --------------------------------------------------------------------------------------
def every_explained_layer():
    layers = [build(shape, Conv2D(**cfg)) for shape, cfg in CONV_CASES]
    layers += [build(shape, cls(**cfg)) for shape, cls, cfg in POOL_CASES]
    layers += [build((13, 13, 32), Flatten()), build((4,), Flatten()), build((5408,), Dense(100, activation="relu")),
               build((100,), Dense(10, activation="softmax")), build((4, 6), Dense(1)), build((3,), Dropout(0.5)),
               build((3,), Dropout(0)), build((3,), Activation("relu")), build((3,), ReLU(max_value=1.0)),
               build((3,), LeakyReLU()), build((3,), Softmax()), build((28, 28, 1), Rescaling(1 / 255)),
               build((784,), Reshape((28, 28, 1))), build((4, 4, 2), Reshape((-1, 4))), InputLayer(shape=(5, 5, 3)),
               build((5, 6), Scale()), build((3,), Square()), build((4,), Dense(2, trainable=False)), Dense(3),
               build((None, None, 3), Conv2D(2, 3)), build((None, 4, 1), MaxPool2D(2)), build((None, 3), Flatten())]
    inner = Sequential([Input(shape=(8, 8, 1)), Conv2D(4, 3), Flatten()])
    layers.append(Sequential([Input(shape=(8, 8, 1)), inner]).layers[0])
    return layers


def test_chinese_explanations_have_no_english_left():
    for layer in every_explained_layer():
        text = "\n".join(explain_layer(layer, "zh"))
        assert _HAN.search(text), text
        assert latin_words(text) == [], text


def test_english_explanations_are_plain_ascii():
    for layer in every_explained_layer():
        for line in explain_layer(layer, "en"):
            assert line.isascii(), line


def test_both_languages_show_the_same_numbers():
    number = re.compile(r"\d+(?:[.,]\d+)*")
    for layer in every_explained_layer():
        en, zh = explain_layer(layer, "en"), explain_layer(layer, "zh")
        assert len(en) == len(zh)
        for a, b in zip(en, zh):
            assert sorted(number.findall(a)) == sorted(number.findall(b)), (a, b)
        assert [[v for _, v in c] for c in all_chains(en)] == [[v for _, v in c] for c in all_chains(zh)]


def test_unknown_sizes_are_explained_without_numbers():
    layer = build((None, None, 3), Conv2D(2, 3))
    lines = explain_layer(layer, "en")
    assert any("not fixed (`None`)" in line for line in lines)
    assert shape_in(lines[2]) == (None, None, None, 2) and params_number(lines) == 3 * 3 * 3 * 2 + 2


# --------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------
def guide_model():
    return Sequential([Input(shape=(28, 28, 1)), Conv2D(32, (3, 3), activation="relu"), MaxPool2D(2, 2), Flatten(),
                       Dense(100, activation="relu"), Dense(10, activation="softmax")])


class _Stream(io.StringIO):
    def __init__(self, encoding):
        super().__init__()
        self._encoding = encoding

    @property
    def encoding(self):
        return self._encoding


@pytest.mark.parametrize("lang", LANGS)
def test_summary_puts_each_explanation_under_its_row_inside_the_table(lang):
    model = guide_model()
    printed = []
    model.summary(explain=True, lang=lang, print_fn=printed.append)
    [text] = printed
    lines = text.splitlines()
    top = lines.index(next(ln for ln in lines if ln.startswith("┏")))
    bottom = lines.index(next(ln for ln in lines if ln.startswith("└")))
    table = lines[top:bottom + 1]
    assert len({display_width(ln) for ln in table}) == 1  # a clean rectangle, CJK counted as two columns
    assert "Total params: 542,230" in text
    body = "\n".join(table)
    position = 0
    for layer in model.layers:
        row = body.index(f"│ {layer.name} ({type(layer).__name__})", position)
        for sentence in explain_layer(layer, lang):
            first_words = wrap_text(sentence, 40)[0].split()[0]
            assert body.index(first_words, row) > row
        position = row + 1
    for line in table[4:-1]:
        if not line.startswith("├") and "(" + "None" not in line[:32]:
            assert line.startswith("│   ") or line.startswith("│ ")


def test_summary_without_explain_is_unchanged_and_ascii_fallback_works():
    model = guide_model()
    plain = model_summary(model, stream=_Stream("utf-8"))
    assert "├" not in plain and "floor" not in plain
    text = model_summary(model, explain=True, lang="en", stream=_Stream("ascii"))
    text.encode("ascii")  # nothing outside ASCII: a plain terminal shows it all
    assert "out = floor((28 + 2*0 - 3) / 1) + 1 = 26 (height and width)" in text
    assert text.splitlines()[1].startswith("+-") and "|   params = 5408*100 + 100 = 540,900" in text
    widths = {len(ln) for ln in text.splitlines() if ln[:1] in "+|"}
    assert len(widths) == 1


def test_summary_explains_nested_models_when_expanded():
    inner = Sequential([Input(shape=(8, 8, 1)), Conv2D(4, 3), Flatten()], name="features")
    outer = Sequential([Input(shape=(8, 8, 1)), inner, Dense(3)])
    text = model_summary(outer, explain=True, lang="en", expand_nested=True, stream=_Stream("utf-8"))
    assert "a model used as a layer: its 2 layers" in text
    assert "params = (3*3*1 + 1) * 4 = 40" in text and "params = 144*3 + 3 = 435" in text


# --------------------------------------------------------------------------------------
# wrapping
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", [12, 20, 33, 64])
def test_wrap_keeps_within_the_width_and_loses_nothing(width):
    texts = [line for layer in every_explained_layer() for lang in LANGS for line in explain_layer(layer, lang)]
    for text in texts:
        lines = wrap_text(text, width, indent="  ", continuation="  ")
        for line in lines:
            assert display_width(line) <= width or "`" in line, (text, line)
            assert not line.strip().startswith(("，", "。", "：", "；", "）")), line
        assert "".join(ln.strip() for ln in lines).replace(" ", "") == text.replace(" ", "")


def test_wrap_keeps_code_and_short_equations_whole():
    lines = wrap_text("an output `(None, 26, 26, 32)` here, with p = 0 at the end", 24)
    assert "`(None, 26, 26, 32)`" in "\n".join(lines)
    assert any("p = 0" in line for line in lines)
