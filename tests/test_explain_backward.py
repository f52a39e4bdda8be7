"""The backward walk-through and the cell arithmetic: the engine's numbers, finite differences, EN/ZH, figures."""

import re
import warnings

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers, zoo
from convlearn.engine import run
from convlearn.explain import (
    DEFAULT_IMAGE,
    ExplainError,
    explain_backward,
    explain_cell,
    explain_guide,
    gradient_flow,
    network_steps,
)
from convlearn.explain.backward import fmt_gradient, guide_model
from convlearn.explain.i18n import latin_words
from convlearn.losses import SparseCategoricalCrossentropy
from helpers import numerical_gradient

_HAN = re.compile(r"[\u4e00-\u9fff]")


def _loss(model, x, target):
    """The loss the walk-through differentiates, computed from scratch with predict."""
    p = model.predict(x[None], verbose=0)[0].astype(np.float64)
    return -np.log(p[target])


@pytest.fixture(scope="module")
def toy():
    return explain_backward()


@pytest.fixture(scope="module")
def guide_float64():
    """The guide's model in float64 with random weights, and one random image."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        layers.Input((12, 12, 1), dtype="float64"),
        layers.Conv2D(4, 3, activation="relu", dtype="float64"),  # (N, 10, 10, 4)
        layers.MaxPool2D(2, dtype="float64"),  # (N, 5, 5, 4)
        layers.Flatten(dtype="float64"),  # (N, 100)
        layers.Dense(8, activation="relu", dtype="float64"),  # (N, 8)
        layers.Dense(5, activation="softmax", dtype="float64"),  # (N, 5)
    ])
    x = np.random.default_rng(0).uniform(0, 1, (12, 12, 1))
    return model, x


def test_the_guide_example_continues_the_forward_walkthrough(toy):
    forward = explain_guide()
    np.testing.assert_allclose(toy.loss.probs, forward.softmax.probs, rtol=1e-12)
    assert toy.names == ("1", "4", "7") and toy.loss.target == 2 and toy.made_up
    assert toy.loss.loss == pytest.approx(-np.log(forward.softmax.probs[2]))
    np.testing.assert_allclose(toy.loss.dscores, forward.softmax.probs - [0, 0, 1])
    np.testing.assert_allclose(toy.conv.z, forward.conv.output)  # the feature map before ReLU
    np.testing.assert_allclose(toy.flow.outputs[1][0, :, :, 0], forward.pool.output)


def test_toy_gradients_match_the_engine_and_finite_differences(toy):
    model = guide_model()
    x = DEFAULT_IMAGE[..., None]
    f = lambda: _loss(model, x, 2)  # noqa: E731
    W = model.get_layer("dense").params["kernel"]
    np.testing.assert_allclose(toy.dense.dweights, numerical_gradient(f, W), atol=1e-7)
    # the example's 0/1 pixels make ties in max pooling and zeros under ReLU, where finite
    # differences are not defined: the convolution is checked against the engine here, and
    # against finite differences on random numbers below
    np.testing.assert_array_equal(toy.conv.dkernel, toy.flow.weight_grads["conv/kernel"][:, :, 0, 0])
    a, b = toy.conv.kernel_cell
    assert sum(t[4] for t in toy.conv.kernel_terms) == pytest.approx(toy.conv.dkernel[a, b])
    r, c = toy.conv.input_cell
    assert toy.conv.dinput_all == toy.flow.input_grad[0, r, c, 0]


def test_gradient_flow_is_the_engines_backward(guide_float64):
    model, x = guide_float64
    flow = gradient_flow(model, x, 3)
    program = model.program()
    outputs, caches = run.forward(program, [x[None]])
    loss = SparseCategoricalCrossentropy()
    _, cache = loss.forward(np.array([3]), outputs[0])
    input_grads, weight_grads = run.backward(program, caches, [loss.backward(cache)])
    np.testing.assert_array_equal(flow.input_grad, input_grads[0])
    for path, w in model.named_weights():
        np.testing.assert_array_equal(flow.weight_grads[path], weight_grads[id(w)])
    assert flow.loss == pytest.approx(_loss(model, x, 3))
    # every layer got the gradient of its output: same shape as the output
    for out, g in zip(flow.outputs, flow.step_grads):
        assert g.shape == out.shape


def test_stages_of_a_model_agree_with_the_engine_and_finite_differences(guide_float64):
    model, x = guide_float64
    walk = explain_backward(model, x, target=1)
    flow = walk.flow
    # softmax + cross-entropy: p - y
    np.testing.assert_allclose(walk.loss.dscores, flow.probs - np.eye(5)[1])
    # the output dense layer: dW = outer(x, p - y) is the engine's kernel gradient
    D = walk.dense
    assert D.name == model.layers[-1].name and D.unit == 1
    np.testing.assert_allclose(D.dweights, flow.weight_grads[f"{D.name}/kernel"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(D.dbias, flow.weight_grads[f"{D.name}/bias"], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(D.dinputs, flow.step_grads[3][0], rtol=1e-10, atol=1e-14)
    # the pooling window: all of its gradient goes to the winner
    P = walk.pool
    assert P.mode == "max" and P.winner is not None
    expected = np.zeros_like(P.dwindow)
    expected[P.winner] = P.dout
    np.testing.assert_array_equal(P.dwindow, expected)
    assert P.window[P.winner] == np.nanmax(P.window)
    # the convolution: the written-out sum is the engine's kernel gradient
    C = walk.conv
    a, b = C.kernel_cell
    assert C.name == model.layers[0].name
    engine_dk = flow.weight_grads[f"{C.name}/kernel"][:, :, C.channel, C.filter]
    np.testing.assert_allclose(C.dkernel, engine_dk, rtol=1e-10, atol=1e-14)
    assert sum(t[4] for t in C.kernel_terms) == pytest.approx(engine_dk[a, b], rel=1e-10, abs=1e-14)
    assert C.dbias == pytest.approx(flow.weight_grads[f"{C.name}/bias"][C.filter], rel=1e-10, abs=1e-14)
    # what one filter sends back, summed over the filters, is what the layer sends back
    r, c = C.input_cell
    assert sum(t[6] for t in C.input_terms) == pytest.approx(C.dimage[r, c], rel=1e-10, abs=1e-14)
    assert C.dinput_all == pytest.approx(flow.input_grad[0, r, c, C.channel], rel=1e-10, abs=1e-14)
    # and the engine agrees with finite differences on the walked-through weights
    f = lambda: _loss(model, x, 1)  # noqa: E731
    K = model.get_layer(C.name).params["kernel"]
    np.testing.assert_allclose(C.dkernel, numerical_gradient(f, K)[:, :, C.channel, C.filter], rtol=1e-5, atol=1e-9)
    W = model.get_layer(D.name).params["kernel"]
    np.testing.assert_allclose(D.dweights, numerical_gradient(f, W), rtol=1e-5, atol=1e-9)


def test_average_pooling_shares_the_gradient():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        layers.Input((8, 8, 1), dtype="float64"),
        layers.Conv2D(2, 3, activation="relu", dtype="float64"),
        layers.AveragePooling2D(2, dtype="float64"),
        layers.Flatten(dtype="float64"),
        layers.Dense(3, activation="softmax", dtype="float64"),
    ])
    walk = explain_backward(model, np.random.default_rng(1).uniform(0, 1, (8, 8)), target=0)
    assert walk.pool.mode == "avg" and walk.pool.winner is None
    np.testing.assert_allclose(walk.pool.dwindow, np.full((2, 2), walk.pool.dout / 4))
    assert "= " in walk.to_text("en") and "/ 4" in walk.to_text("en")


def test_a_model_without_softmax_is_taken_as_scores():
    keras.utils.set_random_seed(2)
    model = keras.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(), layers.Dense(3)])
    x = np.random.default_rng(2).uniform(0, 1, (6, 6, 1))
    walk = explain_backward(model, x, target=2)
    assert walk.flow.from_logits
    scores = model.predict(x[None], verbose=0)[0].astype(np.float64)
    p = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
    np.testing.assert_allclose(walk.loss.probs, p, rtol=1e-5)
    np.testing.assert_allclose(walk.dense.dz, p - np.eye(3)[2], rtol=1e-4, atol=1e-6)
    assert walk.pool is None and walk.conv is not None


def test_texts_in_english_and_chinese_say_the_same_numbers(toy, guide_float64):
    model, x = guide_float64
    for walk in (toy, explain_backward(model, x, 0)):
        en, zh = walk.to_text("en"), walk.to_text("zh")
        assert "p − y" in en and "Max pooling" in en
        assert not _HAN.search(en)
        assert _HAN.search(zh) and latin_words(zh) == [], latin_words(zh)
        number = re.compile(r"-?\d+\.\d+(?:e-\d+)?")
        assert sorted(number.findall(en)) == sorted(number.findall(zh))
        assert walk.to_text("en", color=True).count("\x1b[") > 4


def test_sections_hold_the_same_matrices_as_the_walkthrough(toy):
    sections = toy.sections("en")
    assert [s["title"] for s in sections][1].startswith("1. Softmax")
    grids = [g for s in sections for kind, item in s["items"] if kind == "grids" for g in item]
    assert any(np.array_equal(g["values"], toy.conv.dkernel) for g in grids)
    assert any(np.array_equal(g["values"], toy.pool.dwindow) for g in grids)


def test_fmt_gradient_keeps_three_significant_digits():
    assert fmt_gradient(0.0012345) == "0.00123"
    assert fmt_gradient(-0.297) == "-0.297"
    assert fmt_gradient(12.3456) == "12.346"
    assert fmt_gradient(3e-9) == "3e-09"
    assert fmt_gradient(0) == "0"


def test_errors_are_clear(guide_float64):
    model, x = guide_float64
    with pytest.raises(ExplainError, match="target class 7 is not one of the model's 5 classes"):
        explain_backward(model, x, target=7)
    with pytest.raises(ExplainError, match="give an image too"):
        explain_backward(model)
    with pytest.raises(ExplainError, match=r"input shape \(12, 12, 1\)"):
        explain_backward(model, np.zeros((28, 28)), target=0)
    with pytest.raises(ExplainError, match="'cat' is not one of"):
        explain_backward(target="cat")
    assert explain_backward(target="4").loss.target == 1
    a, b = layers.Input((4, 4, 1)), layers.Input((4, 4, 1))
    two = keras.Model([a, b], layers.Dense(2)(layers.Flatten()(layers.add([a, b]))))
    with pytest.raises(ExplainError, match="one input; the model has 2"):
        network_steps(two)


def test_every_error_in_both_languages(guide_float64):
    model, x = guide_float64
    a, b = layers.Input((4, 4, 1)), layers.Input((4, 4, 1))
    two = keras.Model([a, b], layers.Dense(2)(layers.Flatten()(layers.add([a, b]))))
    images = keras.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3)])
    cases = [
        ("err_net_one_input", lambda: network_steps(two), "2 个输入"),
        ("err_net_input_shape", lambda: explain_cell(model, np.zeros((5, 5)), 0, (0, 0, 0)), "输入形状"),
        ("err_net_position", lambda: explain_cell(model, x, 0, (10, 0, 0)), "超出了这一层输出的范围"),
        ("err_net_step", lambda: explain_cell(model, x, -1, (0,)), "第 -1 步不存在"),
        ("err_net_classifier", lambda: gradient_flow(images, np.zeros((6, 6)), 0), "分类模型"),
        ("err_back_target", lambda: gradient_flow(model, x, 5), "目标类别 5"),
        ("err_back_no_image", lambda: explain_backward(model), "也要给出一张图像"),
    ]
    for key, call, zh in cases:
        with pytest.raises(ExplainError) as info:
            call()
        assert info.value.key == key
        assert zh in info.value.message("zh") and latin_words(info.value.message("zh")) == []


def test_figure_in_both_languages(toy, tmp_path):
    pytest.importorskip("matplotlib", reason="figures need matplotlib")
    Image = pytest.importorskip("PIL.Image", reason="figures need Pillow")
    for lang in ("en", "zh"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = toy.to_figure(tmp_path / f"backward_{lang}.png", lang, dpi=40)
        assert not [w for w in caught if "missing from font" in str(w.message)]
        with Image.open(path) as img:
            assert img.size == (640, 360)
            assert len(np.unique(np.asarray(img.convert("L")))) > 20  # not blank


# ------------------------------------------------------------------ explain_cell
@pytest.fixture(scope="module")
def guide_and_image():
    keras.utils.set_random_seed(5)
    model = zoo.guide()
    x = np.random.default_rng(5).uniform(0, 1, (28, 28, 1)).astype(np.float32)
    return model, x, [out[0] for _, out in model.layer_outputs(x[None])]


def test_conv_cell_is_window_times_filter_plus_bias(guide_and_image):
    model, x, outs = guide_and_image
    cell = explain_cell(model, x, 0, (5, 7, 3))
    kernel = model.layers[0].params["kernel"][:, :, :, 3]
    np.testing.assert_array_equal(cell.window, x[5:8, 7:10].astype(np.float64))
    np.testing.assert_array_equal(cell.weights, kernel.astype(np.float64))
    assert cell.total == pytest.approx(float((x[5:8, 7:10] * kernel).sum()), rel=1e-6)
    assert cell.z == pytest.approx(cell.total + float(model.layers[0].params["bias"][3]))
    assert cell.output == pytest.approx(max(cell.z, 0.0))
    assert cell.value == pytest.approx(float(outs[0][5, 7, 3]), abs=1e-6)
    assert cell.output == pytest.approx(cell.value, abs=1e-6)


def test_pool_dense_and_flatten_cells(guide_and_image):
    model, x, outs = guide_and_image
    pool = explain_cell(model, x, 1, (4, 6, 2))
    np.testing.assert_array_equal(pool.window, outs[0][8:10, 12:14, 2])
    assert pool.output == pool.value == outs[0][8:10, 12:14, 2].max()
    flat = explain_cell(model, x, 2, (1000,))
    assert flat.source == np.unravel_index(1000, (13, 13, 32)) and flat.output == flat.value
    dense = explain_cell(model, x, 3, (17,))
    assert dense.total == pytest.approx(float(outs[2] @ model.layers[3].params["kernel"][:, 17]), rel=1e-5)
    assert dense.output == pytest.approx(dense.value, abs=1e-5)
    assert len(dense.terms) == 8 and abs(dense.terms[0][3]) >= abs(dense.terms[-1][3])
    soft = explain_cell(model, x, 4, (3,))
    assert soft.activation == "softmax" and soft.output == pytest.approx(soft.value, abs=1e-6)
    np.testing.assert_allclose(soft.exps / soft.exps.sum(), outs[4], atol=1e-6)


def test_cells_of_a_graph_with_a_shortcut_and_batch_norm():
    keras.utils.set_random_seed(6)
    inputs = keras.Input((10, 10, 1))
    a = layers.Conv2D(3, 3, padding="same", name="a")(inputs)
    b = layers.BatchNormalization(name="bn")(layers.Conv2D(3, 3, padding="same", strides=1, name="b")(a))
    s = layers.Activation("relu", name="act")(layers.add([a, b], name="sum"))
    out = layers.Dense(4, activation="softmax", name="out")(layers.GlobalAveragePooling2D(name="gap")(s))
    model = keras.Model(inputs, out)
    steps = network_steps(model)
    names = [st.name for st in steps]
    assert steps[names.index("sum")].inputs == (names.index("a"), names.index("bn"))
    assert steps[names.index("a")].inputs == (-1,)
    x = np.random.default_rng(6).uniform(0, 1, (10, 10, 1))
    for name, pos in [("a", (0, 0, 1)), ("bn", (3, 4, 2)), ("sum", (9, 9, 0)), ("act", (2, 2, 1)),
                      ("gap", (2,)), ("out", (1,))]:
        cell = explain_cell(model, x, names.index(name), pos)
        assert cell.kind != "other"
        assert cell.output == pytest.approx(cell.value, abs=1e-5), name
    corner = explain_cell(model, x, names.index("a"), (0, 0, 1))
    assert corner.top == -1 and corner.left == -1 and np.all(corner.window[0] == 0)  # padding zeros


def test_cell_errors(guide_and_image):
    model, x, _ = guide_and_image
    with pytest.raises(ExplainError, match="Step 9 does not exist"):
        explain_cell(model, x, 9, (0,))
    with pytest.raises(ExplainError, match=r"outside the layer's output of shape \(26, 26, 32\)"):
        explain_cell(model, x, 0, (26, 0, 0))
    with pytest.raises(ExplainError, match="outside"):
        explain_cell(model, x, 0, (1, 2))


def test_explain_backward_on_the_command_line(tmp_path, capsys):
    from convlearn.cli import main

    assert main(["explain", "backward", "--lang", "zh", "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("══ 反向传播") and "p − y" in out
    pytest.importorskip("matplotlib", reason="figures need matplotlib")
    assert main(["explain", "backward", "--lang", "en", "--figures", str(tmp_path)]) == 0
    assert (tmp_path / "backward.png").is_file()


@pytest.fixture(scope="module")
def digit_model_file(tmp_path_factory):
    """A small model of 28x28 one-channel input saved to a file, and a picture of a digit."""
    pil = pytest.importorskip("PIL.Image", reason="pictures need Pillow")
    from PIL import ImageDraw

    keras.utils.set_random_seed(5)
    model = keras.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(3, 5, strides=2, activation="relu"),  # (N, 12, 12, 3)
        layers.MaxPool2D(2),  # (N, 6, 6, 3)
        layers.Flatten(),  # (N, 108)
        layers.Dense(10, activation="softmax"),  # (N, 10)
    ])
    folder = tmp_path_factory.mktemp("backward_cli")
    path = str(folder / "model.keras")
    model.save(path)
    picture = pil.new("L", (60, 80), 255)
    ImageDraw.Draw(picture).line([(10, 10), (50, 10), (25, 70)], fill=0, width=7)  # a "7", dark on light
    picture_path = str(folder / "seven.png")
    picture.save(picture_path)
    return path, picture_path


def test_explain_backward_of_a_model_file_on_a_picture(digit_model_file, capsys):
    from convlearn.cli import main
    from convlearn.datasets import load_digit_image

    path, picture = digit_model_file
    assert main(["explain", "backward", "--model", path, "--image", picture, "--target", "7",
                 "--lang", "en", "--color", "never"]) == 0
    out = capsys.readouterr().out
    model = keras.models.load_model(path)
    x = load_digit_image(picture).reshape(28, 28, 1)
    expected = explain_backward(model, x, 7).to_text("en", False)
    assert out == expected
    assert "dense" in out and "p − y" in out


def test_explain_backward_of_a_model_file_on_an_array(digit_model_file, tmp_path, capsys):
    from convlearn.cli import main

    path, _ = digit_model_file
    x = np.random.default_rng(1).uniform(0, 1, (28, 28, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["explain", "backward", "--model", path, "--image", str(tmp_path / "x.npy"),
                 "--lang", "en", "--color", "never"]) == 0
    out = capsys.readouterr().out
    model = keras.models.load_model(path)
    assert out == explain_backward(model, x).to_text("en", False)   # target: the predicted class


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_explain_backward_command_line_errors(digit_model_file, tmp_path, capsys, lang):
    from convlearn.cli import main

    path, picture = digit_model_file
    wide = keras.Sequential([layers.Input((8, 8, 3)), layers.Flatten(), layers.Dense(2, activation="softmax")])
    wide_path = str(tmp_path / "wide.keras")
    wide.save(wide_path)
    cases = [
        (["--image", picture], {"en": "needs --model FILE", "zh": "需要同时给出 `--model`"}),
        (["--model", path], {"en": "give an image too", "zh": "也要给出一张图像"}),
        (["--model", wide_path, "--image", picture], {"en": "input has shape (8, 8, 3)", "zh": "(8, 8, 3)"}),
        (["--model", str(tmp_path / "missing.keras"), "--image", picture], {"en": "missing.keras", "zh": "missing.keras"}),
    ]
    for extra, expected in cases:
        assert main(["explain", "backward", "--lang", lang, *extra]) == 2
        err = capsys.readouterr().err
        assert expected[lang] in err, (extra, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
