"""model.check_gradients(): built-in layers pass, a wrong backward fails where it is, the model is untouched."""

import re

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers, utils
from convlearn.explain.gradcheck import DEFAULT_TOLERANCE, GradientCheck, check_gradients
from convlearn.explain.i18n import latin_words
from convlearn.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    Layer,
    LeakyReLU,
    MaxPooling2D,
    ReLU,
    Rescaling,
    Reshape,
    Softmax,
)
from convlearn.models import Sequential

_HAN = re.compile(r"[\u4e00-\u9fff]")


def quiet(model, **kwargs):
    return model.check_gradients(print_fn=None, **kwargs)


# --------------------------------------------------------------------------------------
# every built-in layer passes
# --------------------------------------------------------------------------------------
BUILT_IN = {
    "conv_valid_relu": lambda: [Input(shape=(6, 7, 2)), Conv2D(3, (3, 2), activation="relu"), Flatten(), Dense(4)],
    "conv_same_strided": lambda: [Input(shape=(7, 6, 3)), Conv2D(2, 3, strides=2, padding="same", activation="tanh"),
                                  Flatten(), Dense(3)],
    "conv_no_bias_sigmoid": lambda: [Input(shape=(5, 5, 1)), Conv2D(2, (2, 3), strides=(1, 2), use_bias=False,
                                                                     activation="sigmoid"), Flatten(), Dense(2)],
    "max_pool": lambda: [Input(shape=(6, 6, 2)), Conv2D(3, 3), MaxPooling2D(2), Flatten(), Dense(3)],
    "max_pool_overlap_same": lambda: [Input(shape=(5, 5, 2)), MaxPooling2D(3, strides=2, padding="same"), Flatten(),
                                      Dense(2)],
    "avg_pool": lambda: [Input(shape=(6, 5, 2)), AveragePooling2D((2, 3), strides=1), Flatten(), Dense(3)],
    "avg_pool_same": lambda: [Input(shape=(5, 5, 1)), AveragePooling2D(2, padding="same"), Flatten(), Dense(2)],
    "dense_3d_softmax": lambda: [Input(shape=(3, 4)), Dense(5, activation="softmax"), Flatten(), Dense(2)],
    "dropout_reshape_rescaling": lambda: [Input(shape=(12,)), Rescaling(0.5, offset=0.1), Dropout(0.5),
                                          Reshape((3, 4)), Dense(2), Flatten(), Dense(3)],
    "activations": lambda: [Input(shape=(6,)), Dense(5), Activation("elu"), Dense(5), Activation("softplus"),
                            Dense(5), Activation("swish"), Dense(4), LeakyReLU(0.2), Dense(3)],
    "relu_options": lambda: [Input(shape=(6,)), Dense(8), ReLU(max_value=0.5, negative_slope=0.1, threshold=-0.2),
                             Dense(3), Softmax()],
    "batch_norm_global_avg": lambda: [Input(shape=(4, 4, 2)), Conv2D(3, 3, padding="same"),
                                      layers.BatchNormalization(), layers.GlobalAveragePooling2D(), Dense(2)],
    "layer_norm_global_max": lambda: [Input(shape=(4, 5, 3)), layers.LayerNormalization(),
                                      layers.GlobalMaxPooling2D(), Dense(2)],
}


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_built_in_layer_passes_with_the_default_loss(name):
    utils.set_random_seed(3)
    model = Sequential(BUILT_IN[name]())
    result = quiet(model)
    assert result.ok, result.to_text("en")
    assert all(row["ok"] is True for row in result), result.to_text("en")
    expected = [(layer.name, w) for layer in model.leaf_layers() for w in [*layer.params, "input"]]
    assert [(row["layer"], row["weight"]) for row in result] == expected
    for row in result:
        assert row["relative_error"] <= DEFAULT_TOLERANCE and row["checked"] == min(row["size"], 20)


@pytest.mark.parametrize("merge", ["add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"])
def test_every_merge_layer_passes_input_by_input(merge):
    utils.set_random_seed(13)
    inputs = keras.Input(shape=(3,))
    a, b = layers.Dense(3, name="a")(inputs), layers.Dense(3, name="b")(inputs)
    model = keras.Model(inputs, layers.Dense(2, name="head")(getattr(layers, merge)([a, b], name="merge")))
    result = quiet(model)
    assert result.ok and all(row["ok"] is True for row in result), result.to_text("en")
    assert [row["weight"] for row in result if row["layer"] == "merge"] == ["input[0]", "input[1]"]


@pytest.mark.parametrize("loss,last", [
    ("sparse_categorical_crossentropy", "softmax"),
    ("categorical_crossentropy", "softmax"),
    ("binary_crossentropy", "sigmoid"),
    ("mse", None),
    ("mae", None),
])
def test_the_compiled_loss_is_used(loss, last):
    utils.set_random_seed(5)
    model = Sequential([Input(shape=(5, 5, 1)), Conv2D(2, 3, activation="relu"), MaxPooling2D(2, padding="same"),
                        Flatten(), Dense(3, activation=last)])
    model.compile(loss=loss, optimizer="sgd")
    result = quiet(model)
    assert result.ok, result.to_text("en")
    assert result.loss == model.loss.name and "(" not in result.loss


def test_the_guides_model_passes_on_given_data():
    utils.set_random_seed(0)
    model = Sequential([Input(shape=(28, 28, 1)), Conv2D(4, (3, 3), activation="relu"), MaxPooling2D(2, 2),
                        Flatten(), Dense(8, activation="relu"), Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    x = np.random.default_rng(1).random((5, 28, 28, 1)).astype(np.float32)
    y = np.array([3, 1, 4, 1, 5])
    result = quiet(model, x=x, y=y, max_entries=8)
    assert result.ok and result.batch_size == 2
    assert all(row["checked"] <= 8 for row in result)


# --------------------------------------------------------------------------------------
# a wrong backward is found, and where
# --------------------------------------------------------------------------------------
class Square(Layer):
    """out = x * x; ``factor`` is what backward multiplies by (2 is right)."""

    factor = 2.0

    def forward(self, x, training=False):
        return x * x, x                                                     # cache: the input

    def backward(self, dout, x):
        return self.factor * x * dout, {}


class SquareWithoutTwo(Square):
    factor = 1.0  # the classic mistake: d(x^2)/dx written as x


class Scale(Layer):
    """out = x * w + b, with a per-feature weight and bias; ``bias_grad_scale`` 1 is right."""

    bias_grad_scale = 1.0

    def build(self, input_shape):
        self.add_weight("w", (input_shape[-1],), "glorot_uniform")
        self.add_weight("b", (input_shape[-1],), "ones")

    def forward(self, x, training=False):
        return x * self.params["w"] + self.params["b"], x                  # cache: the input

    def backward(self, dout, x):
        grads = {"w": (dout * x).sum(axis=0), "b": self.bias_grad_scale * dout.sum(axis=0)}
        return dout * self.params["w"], grads


class ScaleWithMeanBias(Scale):
    bias_grad_scale = 0.5  # as if the batch of 2 were averaged


def test_a_correct_custom_layer_passes():
    utils.set_random_seed(1)
    model = Sequential([Input(shape=(4,)), Dense(5), Square(), Scale(), Dense(3)])
    result = quiet(model)
    assert result.ok, result.to_text("en")
    assert [row["weight"] for row in result if row["type"] == "Scale"] == ["w", "b", "input"]


def test_a_wrong_input_gradient_fails_there_and_upstream_only():
    utils.set_random_seed(1)
    model = Sequential([Input(shape=(4,)), Dense(5, name="before"), SquareWithoutTwo(name="square"),
                        Dense(3, name="after")])
    result = quiet(model)
    verdict = {(row["layer"], row["weight"]): row["ok"] for row in result}
    assert verdict == {("before", "kernel"): False, ("before", "bias"): False, ("before", "input"): False,
                       ("square", "input"): False,
                       ("after", "kernel"): True, ("after", "bias"): True, ("after", "input"): True}
    assert not result.ok and len(result.failures) == 4
    square = next(row for row in result if row["layer"] == "square")
    assert square["relative_error"] > 0.1  # half the true gradient: far beyond the tolerance
    text = result.to_text("en")
    assert "4 of 7 gradients do not agree" in text
    assert "layer 'square' (`SquareWithoutTwo`), in the gradient it passes back to its input" in text
    zh = result.to_text("zh")
    assert "7 个梯度中有 4 个不一致" in zh and "层 'square'" in zh and "传回给输入的梯度中" in zh


def test_a_wrong_weight_gradient_fails_only_that_weight():
    utils.set_random_seed(2)
    model = Sequential([Input(shape=(4,)), Dense(5), ScaleWithMeanBias(name="scale"), Dense(3)])
    result = quiet(model)
    failed = [(row["layer"], row["weight"]) for row in result.failures]
    assert failed == [("scale", "b")]
    assert "in the gradient of its weight 'b'" in result.to_text("en")


def test_a_single_layer_can_be_checked_on_its_own():
    x = np.random.default_rng(0).standard_normal((3, 4))
    assert check_gradients(Square(), x, print_fn=None).ok
    bad = check_gradients(SquareWithoutTwo(), x, print_fn=None)
    assert [row["ok"] for row in bad] == [False]


def test_a_layer_computing_in_float32_gets_a_note():
    class Float32Square(Square):
        def forward(self, x, training=False):
            return (x * x).astype(np.float32), x

    model = Sequential([Input(shape=(3,)), Dense(2), Float32Square(name="sq32")])
    text = quiet(model).to_text("en")
    assert "Note: layer 'sq32' returned 'float32' values" in text


# --------------------------------------------------------------------------------------
# kinks
# --------------------------------------------------------------------------------------
def test_entries_at_a_kink_are_skipped_not_failed():
    # ReLU then max pooling: windows of ReLU zeros are ties, where the loss has no derivative
    utils.set_random_seed(1)
    model = Sequential([Input(shape=(8, 8, 1)), Conv2D(6, 3, activation="relu", bias_initializer="zeros"),
                        MaxPooling2D(2), Flatten(), Dense(3)])
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 1)) - 1.0  # mostly negative: many zeros after ReLU
    result = quiet(model, x=x, max_entries=30)
    pool = next(row for row in result if row["type"] == "MaxPooling2D")
    assert pool["skipped"] > 0 and pool["ok"] is True and pool["checked"] == 30
    assert result.ok
    assert "at a kink skipped" in result.to_text("en") and "不可导点" in result.to_text("zh")


def test_an_array_with_only_kinks_is_not_checked_rather_than_passed():
    model = Sequential([Input(shape=(4, 4, 1)), MaxPooling2D(2), Flatten(), Dense(2)])
    result = quiet(model, x=np.zeros((1, 4, 4, 1)))  # every window is a four-way tie
    pool = result[0]
    assert (pool["weight"], pool["ok"], pool["checked"], pool["skipped"]) == ("input", None, 0, 16)
    assert result.ok  # nothing failed
    assert "not checked" in result.to_text("en") and "未检查" in result.to_text("zh")


# --------------------------------------------------------------------------------------
# the model is untouched; results, printing, languages
# --------------------------------------------------------------------------------------
def test_the_model_its_weights_and_the_global_random_state_are_untouched():
    utils.set_random_seed(7)
    model = Sequential([Input(shape=(5, 5, 1)), Conv2D(2, 3, activation="relu"), Flatten(), Dense(3)])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    before = model.get_weights()
    loss_before = dict(vars(model.loss))
    quiet(model)
    after_check = Dense(4)
    Sequential([Input(shape=(3,)), after_check])

    utils.set_random_seed(7)
    Sequential([Input(shape=(5, 5, 1)), Conv2D(2, 3, activation="relu"), Flatten(), Dense(3)])
    reference = Dense(4)
    Sequential([Input(shape=(3,)), reference])

    for a, b in zip(before, model.get_weights()):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert all(layer.dtype == "float32" for layer in model.layers)
    assert vars(model.loss).keys() == loss_before.keys()  # its own loss object was never called
    # the check drew no number from the global generator: what is built next is the same
    np.testing.assert_array_equal(after_check.get_weights()[0], reference.get_weights()[0])


def test_result_is_a_list_of_dicts_printed_once():
    utils.set_random_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(2, name="d")])
    printed = []
    result = model.check_gradients(print_fn=printed.append, lang="en")
    assert isinstance(result, GradientCheck) and isinstance(result, list)
    assert [row["weight"] for row in result] == ["kernel", "bias", "input"]
    assert set(result[0]) == {"layer", "type", "weight", "shape", "checked", "size", "skipped", "max_abs_diff",
                              "relative_error", "ok"}
    assert result[0]["shape"] == (3, 2) and result[2]["shape"] == (2, 3)
    assert len(printed) == 1 and printed[0] == result.to_text("en")
    assert "layer" in printed[0] and "relative error" in printed[0] and "All 3 gradients agree" in printed[0]


def test_only_the_chosen_layers_are_checked():
    utils.set_random_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(4, name="a"), Dense(3, name="b"), Dense(2, name="c")])
    assert {row["layer"] for row in quiet(model, layers=["c", 0])} == {"a", "c"}
    assert {row["layer"] for row in quiet(model, layers=model.layers[1])} == {"b"}
    assert {row["layer"] for row in quiet(model, layers=-1)} == {"c"}


def test_nested_models_are_checked_layer_by_layer():
    utils.set_random_seed(0)
    inner = Sequential([Input(shape=(4,)), Dense(3, name="inner_dense")])
    model = Sequential([Input(shape=(4,)), inner, Dense(2, name="outer_dense")])
    result = quiet(model)
    assert result.ok and [row["layer"] for row in result][::3] == ["inner_dense", "outer_dense"]


def test_chinese_table_has_no_english_besides_the_names():
    utils.set_random_seed(0)
    model = Sequential([Input(shape=(3,)), Dense(4), SquareWithoutTwo(), Dense(2)], name="mymodel")
    model.compile(loss="mse", optimizer="sgd")
    result = quiet(model)
    text = result.to_text("zh")
    assert _HAN.search(text)
    for row in result:  # layer and weight names are identifiers, written as they are
        text = text.replace(f"{row['layer']} ({row['type']})", " ").replace(row["weight"], " ")
    assert latin_words(text) == [], latin_words(text)
    for word in ("层", "权重", "形状", "相对误差", "通过", "失败", "梯度检验"):
        assert word in text
    assert not _HAN.search(result.to_text("en"))


def test_the_default_loss_is_named_before_compile():
    utils.set_random_seed(0)
    result = quiet(Sequential([Input(shape=(3,)), Dense(2)]))
    assert result.loss == "sum(output * R)"
    assert "sum(output * R) with a fixed random array R (the model is not compiled)" in result.to_text("en")
    assert "Σ(输出 * R)" in result.to_text("zh")


# --------------------------------------------------------------------------------------
# error messages
# --------------------------------------------------------------------------------------
def test_errors_are_explained():
    model = Sequential([Input(shape=(3,)), Dense(2, name="d")])
    with pytest.raises(TypeError, match=r"check_gradients expects a convlearn model or layer, e\.g\. "
                                        r"model\.check_gradients\(\); got list"):
        check_gradients([1, 2])
    with pytest.raises(ValueError, match=r"`epsilon` must be a positive number, e\.g\. 1e-5\. Received: epsilon=0"):
        quiet(model, epsilon=0)
    with pytest.raises(ValueError, match=r"`tolerance` must be a positive number"):
        quiet(model, tolerance=float("nan"))
    with pytest.raises(ValueError, match=r"`max_entries` must be a positive integer\. Received: max_entries=0"):
        quiet(model, max_entries=0)
    with pytest.raises(TypeError, match=r"`print_fn` must be callable \(such as print\) or None"):
        model.check_gradients(print_fn="yes")
    with pytest.raises(ValueError, match=r"no layer 'dense_9' in the model\. Give names or positions of its "
                                         r"layers: d \(0\.\.0\)"):
        quiet(model, layers="dense_9")
    with pytest.raises(ValueError, match=r"model '.*' expects inputs of shape \(None, 3\); got a batch of shape "
                                         r"\(2, 4\)"):
        quiet(model, x=np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"`x` must be a numeric batch with the samples on the first axis"):
        quiet(model, x=np.ones(3))
    with pytest.raises(ValueError, match=r"`y` is given but the model has no loss to compare it with"):
        quiet(model, y=np.ones(2))
    with pytest.raises(ValueError, match=r"is not built, so the shape of its input is unknown\. Give a batch"):
        quiet(Sequential([Dense(2)]))


def test_a_model_built_by_the_check_on_given_data():
    model = Sequential([Dense(2)])
    assert quiet(model, x=np.ones((2, 3))).ok and model.built and model.input_shape == (None, 3)


def test_broken_backward_contracts_are_explained():
    class NoGrads(Scale):
        def backward(self, dout, x):
            return dout * self.params["w"], {}

    class WrongGradShape(Scale):
        def backward(self, dout, x):
            return dout * self.params["w"], {"w": dout.sum(), "b": dout.sum(axis=0)}

    class ExtraGrad(Scale):
        def backward(self, dout, x):
            dx, grads = super().backward(dout, x)
            return dx, {**grads, "scale": np.ones(1)}

    class WrongShape(Square):
        def backward(self, dout, x):
            return dout[:, :1], {}

    class ReturnsNothing(Square):
        def backward(self, dout, x):
            self._dx = 2 * x * dout

    class OnlyDx(Square):  # the gradient alone, without the dict of weight gradients
        def backward(self, dout, x):
            return 2 * x * dout

    class OldBackward(Square):  # convlearn 0.1's interface: the cache kept on the layer
        def forward(self, x, training=False):
            self._x = x
            return x * x, None

        def backward(self, dout):
            return 2 * self._x * dout

    class OldForward(Square):
        def forward(self, x, training=False):
            return x * x

    def check(layer):
        quiet(Sequential([Input(shape=(3,)), layer]))

    with pytest.raises(ValueError, match=r"layer 'nograds' \(NoGrads\): backward\(\) returned no gradient for 'w'\. "
                                         r"Return \(dx, grads\) with one gradient per key of self\.params \('w', 'b'\)"):
        check(NoGrads(name="nograds"))
    with pytest.raises(ValueError, match=r"grads\['w'\] has shape \(\), but the weight has shape \(3,\); they must "
                                         r"be the same"):
        check(WrongGradShape())
    with pytest.raises(ValueError, match=r"backward\(\) returned a gradient for 'scale', which is not a key of "
                                         r"self\.params \('w', 'b'\)"):
        check(ExtraGrad())
    with pytest.raises(ValueError, match=r"backward\(\) returned shape \(2, 1\); it must return the gradient with "
                                         r"respect to the layer's input, shape \(2, 3\)"):
        check(WrongShape())
    with pytest.raises(ValueError, match=r"backward\(\) returned None; it must return a pair \(dx, grads\)"):
        check(ReturnsNothing())
    with pytest.raises(ValueError, match=r"backward\(\) returned shape \(2, 3\); it must return a pair \(dx, grads\): "
                                         r"the gradient with respect to the layer's input, shape \(2, 3\), and a dict "
                                         r"with one gradient per key of self\.params \(none\)"):
        check(OnlyDx())
    with pytest.raises(ValueError, match=r"backward\(\) cannot be called as backward\(self, dout, cache\)"):
        check(OldBackward())
    with pytest.raises(ValueError, match=r"forward\(\) returned shape \(2, 3\); it must return a pair \(out, cache\)"):
        check(OldForward())


class PairSum(Layer):
    """A merge layer of one's own: out = a + b; ``second_grad`` 1 is right."""

    second_grad = 1.0

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def forward(self, xs, training=False):
        return xs[0] + xs[1], None

    def backward(self, dout, cache):
        return [dout, self.second_grad * dout], {}


def test_a_merge_layer_of_ones_own_is_checked_input_by_input():
    class HalfSecond(PairSum):
        second_grad = 0.5

    class OneGradient(PairSum):
        def backward(self, dout, cache):
            return dout, {}

    def model_with(merge):
        inputs = keras.Input(shape=(4,))
        a = layers.Dense(3, name="a")(inputs)
        b = layers.Dense(3, name="b")(inputs)
        return keras.Model(inputs, layers.Dense(2, name="head")(merge([a, b])))

    utils.set_random_seed(6)
    assert quiet(model_with(PairSum(name="pair"))).ok
    result = quiet(model_with(HalfSecond(name="pair")))
    failed = {(row["layer"], row["weight"]) for row in result.failures}
    assert failed == {("pair", "input[1]"), ("b", "kernel"), ("b", "bias"), ("b", "input")}
    assert "in the gradient it passes back to its input[1]" in result.to_text("en")
    assert "传回给输入[1]的梯度中" in result.to_text("zh")
    with pytest.raises(ValueError, match=r"layer 'pair' \(OneGradient\): backward\(\) returned shape \(2, 3\) as dx; "
                                         r"the layer takes a list of 2 inputs, so dx must be a list of 2 gradients"):
        quiet(model_with(OneGradient(name="pair")))


# --------------------------------------------------------------------------------------
# graphs: residual connections, shared layers, subclassed models
# --------------------------------------------------------------------------------------
def residual_model(branch_layer=None):
    """stem -> (branch) -> add([stem, branch]) -> head: the stem's output feeds two layers."""
    inputs = keras.Input(shape=(5, 5, 2))
    x = layers.Conv2D(3, 3, padding="same", activation="tanh", name="stem")(inputs)
    y = layers.Conv2D(3, 3, padding="same", name="branch")(x)
    if branch_layer is not None:
        y = branch_layer(y)
    z = layers.add([x, y], name="sum")
    outputs = layers.Dense(2, name="head")(layers.Flatten(name="flat")(z))
    return keras.Model(inputs, outputs)


def test_a_residual_model_passes_with_every_array_checked():
    utils.set_random_seed(4)
    model = residual_model()
    model.compile(loss="mse", optimizer="sgd")
    result = quiet(model)
    assert result.ok, result.to_text("en")
    assert all(row["ok"] is True and row["checked"] == min(row["size"], 20) for row in result), result.to_text("en")
    assert [(row["layer"], row["weight"]) for row in result] == [
        ("stem", "kernel"), ("stem", "bias"), ("stem", "input"),
        ("branch", "kernel"), ("branch", "bias"), ("branch", "input"),
        ("sum", "input[0]"), ("sum", "input[1]"),
        ("flat", "input"), ("head", "kernel"), ("head", "bias"), ("head", "input")]
    assert result.loss == "mean_squared_error"


def test_a_wrong_layer_on_one_branch_fails_there_and_upstream_only():
    utils.set_random_seed(4)
    result = quiet(residual_model(SquareWithoutTwo(name="square")))
    failed = {(row["layer"], row["weight"]) for row in result.failures}
    # the stem's gradient is the sum over both branches: the wrong one spoils it, the skip connection does not
    assert failed == {("square", "input"), ("branch", "kernel"), ("branch", "bias"), ("branch", "input"),
                      ("stem", "kernel"), ("stem", "bias"), ("stem", "input")}
    assert "layer 'square' (`SquareWithoutTwo`), in the gradient it passes back to its input" in result.to_text("en")


def test_a_shared_layer_adds_up_the_gradients_of_its_calls():
    utils.set_random_seed(8)
    inputs = keras.Input(shape=(4,))
    shared = layers.Dense(3, activation="tanh", name="shared")
    a = shared(layers.Dense(3, name="left")(inputs))
    b = shared(layers.Dense(3, name="right")(inputs))
    model = keras.Model(inputs, layers.Dense(2, name="head")(layers.add([a, b], name="sum")))
    result = quiet(model)
    assert result.ok, result.to_text("en")
    rows = [(row["layer"], row["weight"]) for row in result]
    assert [w for layer, w in rows if layer == "shared"] == ["kernel", "bias", "input (call 1)", "input (call 2)"]
    assert [row["layer"] for row in result].count("shared") == 4 and len(model.leaf_layers()) == 5
    assert "input (call 2)" in result.to_text("en") and "输入（第 2 次调用）" in result.to_text("zh")
    assert {row["layer"] for row in quiet(model, layers=shared)} == {"shared"}

    class ScaleOnlyFirstCall(Scale):  # weight gradients that do not add up over calls: the weight fails
        calls = 0

        def backward(self, dout, x):
            dx, grads = super().backward(dout, x)
            type(self).calls += 1
            return dx, grads if type(self).calls % 2 else {name: 0 * g for name, g in grads.items()}

    inputs = keras.Input(shape=(4,))
    tied = ScaleOnlyFirstCall(name="tied")
    h = layers.Dense(4, name="h")(inputs)
    model = keras.Model(inputs, layers.Dense(2, name="out")(layers.add([tied(h), tied(layers.Dense(4)(h))])))
    failed = {(row["layer"], row["weight"]) for row in quiet(model).failures}
    assert ("tied", "w") in failed and ("tied", "b") in failed and ("out", "kernel") not in failed


class Decoder(Layer):
    """out = h @ kernel.T with the kernel of another layer (tied weights, as in an autoencoder)."""

    def __init__(self, kernel, **kwargs):
        super().__init__(**kwargs)
        self.params["kernel"] = kernel

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.params["kernel"].shape[0],)

    def forward(self, h, training=False):
        return h @ self.params["kernel"].T, h

    def backward(self, dout, h):
        return dout @ self.params["kernel"], {"kernel": dout.T @ h}


class KerasStyleScale(Layer):
    """A weight kept in an attribute, the Keras way: ``self.w = self.add_weight(...)``."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="glorot_uniform", name="w")

    def forward(self, x, training=False):
        return x * self.w, x

    def backward(self, dout, x):
        return dout * self.w, {"w": (dout * x).sum(axis=0)}


def test_the_float64_copy_keeps_one_array_per_weight():
    # a weight held by two layers, or in an attribute, stays one array in the copy: perturbing it changes every use
    utils.set_random_seed(12)
    encoder = Dense(3, activation="tanh", name="encoder")
    model = Sequential([Input(shape=(4,)), encoder, KerasStyleScale(name="scale")])
    model.add(Decoder(encoder.params["kernel"], name="decoder"))
    result = quiet(model)
    assert result.ok and not result.notes, result.to_text("en")
    assert [(row["layer"], row["weight"]) for row in result if row["weight"] != "input"] == [
        ("encoder", "kernel"), ("encoder", "bias"), ("scale", "w"), ("decoder", "kernel")]
    assert len(model.get_weights()) == 3 and all(w.dtype == np.float32 for w in model.get_weights())


class TwoConvs(keras.Model):
    """A subclassed model with a residual connection and its own layer inside."""

    def __init__(self, square=None, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(2, 3, padding="same", activation="tanh", name="conv")
        self.conv2 = layers.Conv2D(2, 3, padding="same", name="conv2")
        self.square = square or Square(name="square")
        self.plus = layers.Add(name="plus")
        self.flatten = layers.Flatten(name="flatten")
        self.out = layers.Dense(3, activation="softmax", name="out")

    def call(self, x, training=False):
        h = self.conv(x)
        return self.out(self.flatten(self.plus([h, self.square(self.conv2(h))])))


def test_a_subclassed_model_passes_and_its_own_wrong_layer_fails():
    utils.set_random_seed(9)
    model = TwoConvs()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    x = np.random.default_rng(2).standard_normal((3, 4, 4, 1))
    result = quiet(model, x=x, y=np.array([0, 2, 1]))
    assert model.built and result.ok, result.to_text("en")
    assert [row["layer"] for row in result if row["weight"] in ("kernel", "input", "input[0]")] == \
        ["conv", "conv", "conv2", "conv2", "square", "plus", "flatten", "out", "out"]
    bad = quiet(TwoConvs(square=SquareWithoutTwo(name="square")), x=x)
    assert {row["layer"] for row in bad.failures} == {"square", "conv2", "conv"}


def test_a_model_nested_in_a_graph_is_opened_up():
    utils.set_random_seed(10)
    inner = Sequential([Input(shape=(4,)), Dense(4, activation="tanh", name="inner")], name="block")
    inputs = keras.Input(shape=(4,))
    outputs = layers.Dense(2, name="last")(layers.add([inputs, inner(inputs)]))
    model = keras.Model(inputs, outputs)
    result = quiet(model)
    assert result.ok, result.to_text("en")
    add = model.leaf_layers()[1].name
    assert [(row["layer"], row["weight"]) for row in result] == [
        ("inner", "kernel"), ("inner", "bias"), ("inner", "input"), (add, "input[0]"), (add, "input[1]"),
        ("last", "kernel"), ("last", "bias"), ("last", "input")]


def test_several_inputs_and_outputs_are_checked_together():
    utils.set_random_seed(11)
    image, extra = keras.Input(shape=(4, 4, 1), name="image"), keras.Input(shape=(3,), name="extra")
    features = layers.Flatten()(layers.Conv2D(2, 3, name="conv")(image))
    joined = layers.concatenate([features, layers.Dense(3, name="side")(extra)], name="join")
    label = layers.Dense(3, activation="softmax", name="label")(joined)
    score = layers.Dense(1, name="score")(joined)
    model = keras.Model([image, extra], [label, score])
    assert quiet(model).ok
    model.compile(loss={"label": "sparse_categorical_crossentropy", "score": "mse"}, optimizer="sgd")
    rng = np.random.default_rng(0)
    x = {"image": rng.standard_normal((2, 4, 4, 1)), "extra": rng.standard_normal((2, 3))}
    result = quiet(model, x=x, y={"label": np.array([1, 2]), "score": np.ones((2, 1))})
    assert result.ok, result.to_text("en")
    assert result.loss == "sparse_categorical_crossentropy + mean_squared_error"
    assert ("join", "input[1]") in [(row["layer"], row["weight"]) for row in result]
    with pytest.raises(ValueError, match=r"model '.*' has 2 inputs \(image, extra\); give one batch per input"):
        quiet(model, x=x["image"])
