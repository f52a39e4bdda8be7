"""Pictures of a trained model: sizes, content, the numbers they show, Chinese labels, the train command."""

import logging
import os
import sys
import warnings

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers, utils
from convlearn.callbacks import History
from convlearn.cli import main
from convlearn.explain import (
    confusion_matrix,
    feature_maps,
    misclassified,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_misclassified,
)
from convlearn.explain.i18n import latin_words
from convlearn.explain.model_figures import FIGURE_SIZES, feature_map_figure_size
from convlearn.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, Reshape
from convlearn.models import Sequential

matplotlib = pytest.importorskip("matplotlib", reason="figures need matplotlib")
Image = pytest.importorskip("PIL.Image", reason="figures need Pillow")

DPI = 40


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def assert_png(path, size_inches, dpi=DPI):
    """A PNG of the expected pixel size that is a picture, not a blank or filled rectangle."""
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (round(size_inches[0] * dpi), round(size_inches[1] * dpi))
        rgb = np.asarray(img.convert("RGB"))                              # (H, W, 3)
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 30
    ink = np.any(rgb < 235, axis=2).mean()
    assert 0.02 < ink < 0.9, ink
    folder = os.path.dirname(path)
    assert [p for p in os.listdir(folder) if p.startswith(".tmp")] == []  # atomic writes leave nothing


def texts(fig):
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def missing_glyphs(fig):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def axes_labelled(fig, prefix):
    return [ax for ax in fig.axes if ax.get_label().startswith(prefix)]


def picker_model():
    """Flatten a 2x2 image; the class is the brightest of the first three pixels (softmax over them)."""
    model = Sequential([Input(shape=(2, 2, 1)), Flatten(), Dense(3, activation="softmax")])
    kernel = np.zeros((4, 3), dtype=np.float32)
    kernel[[0, 1, 2], [0, 1, 2]] = 10.0
    model.layers[1].set_weights([kernel, np.zeros(3, dtype=np.float32)])
    return model


def picker_data():
    """Images whose class is known, and labels of which exactly the listed ones are wrong."""
    rng = np.random.default_rng(0)
    n = 40
    winners = rng.integers(0, 3, size=n)
    x = rng.random((n, 4)).astype(np.float32) * 0.5
    x[np.arange(n), winners] = 1.0                                        # the brightest of pixels 0..2
    labels = winners.copy()
    wrong = np.array([2, 5, 11, 17, 23, 31, 38])
    labels[wrong] = (winners[wrong] + 1 + rng.integers(0, 2, size=len(wrong))) % 3
    return x.reshape(n, 2, 2, 1), labels, winners, wrong


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained for a few steps on random 8x8 images, and its history."""
    utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.int64)  # top brighter than bottom
    model = Sequential([Input(shape=(8, 8, 1)), Conv2D(6, 3, activation="relu"), MaxPooling2D(2), Flatten(),
                        Dense(8, activation="relu"), Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    return model, history, x, y


# --------------------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_history_png_and_plotted_values(trained, tmp_path, lang):
    _, history, _, _ = trained
    path = plot_history(history, tmp_path / "curves.png", lang=lang, dpi=DPI)
    assert path == str(tmp_path / "curves.png")
    assert_png(path, FIGURE_SIZES["history"])
    fig = plot_history(history, lang=lang)
    loss_ax, acc_ax = fig.axes[:2]
    plotted = {tuple(np.round(line.get_ydata(), 6)) for ax in (loss_ax, acc_ax) for line in ax.get_lines()}
    for key in ("loss", "val_loss", "accuracy", "val_accuracy"):
        assert tuple(np.round(history.history[key], 6)) in plotted, key
    assert list(loss_ax.get_lines()[0].get_xdata()) == [1, 2, 3]


def test_history_accepts_dicts_and_models_and_explains_what_is_missing(trained):
    model, history, _, _ = trained
    assert "Accuracy (higher is better)" in texts(plot_history(model, lang="en"))
    fig = plot_history({"loss": [1.0, 0.5]}, lang="en")
    joined = " ".join(texts(fig))
    assert "No accuracy was recorded" in joined and "`validation_split=0.1`" in joined
    fig = plot_history({"loss": [0.3], "mae": [0.2]}, lang="en")  # one epoch, another metric
    assert "Metric 'mae'" in texts(fig)
    with pytest.raises(ValueError, match=r"plot_history expects what model.fit returned \(a History\) or its "
                                         r"\.history dict with a 'loss' list; got list"):
        plot_history([0.1, 0.2])


def test_history_points_out_overfitting():
    logs = {"loss": [1.0, 0.6, 0.4, 0.3, 0.2], "val_loss": [1.1, 0.7, 0.65, 0.8, 0.9]}
    assert any("lowest after epoch 3" in t for t in texts(plot_history(logs, lang="en")))
    assert any("第 3 轮后最低" in t for t in texts(plot_history(logs, lang="zh")))
    steady = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.7, 0.6]}
    assert not any("overfit (" in t for t in texts(plot_history(steady, lang="en")))


def test_history_object_epochs_are_counted_from_one():
    history = History()
    history.on_train_begin()
    for epoch, loss in enumerate([0.9, 0.5]):
        history.on_epoch_end(epoch, {"loss": loss, "accuracy": 0.5 + epoch / 4})
    fig = plot_history(history, lang="en")
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [1, 2]


# --------------------------------------------------------------------------------------
# filters
# --------------------------------------------------------------------------------------
def test_filters_show_each_kernel_slice(tmp_path):
    model = Sequential([Input(shape=(6, 6, 2)), Conv2D(5, (3, 2)), Conv2D(7, 2)])
    kernel = np.arange(3 * 2 * 2 * 5, dtype=np.float32).reshape(3, 2, 2, 5) - 30
    model.layers[0].set_weights([kernel, np.zeros(5, np.float32)])
    fig = plot_filters(model, lang="en")
    tiles = axes_labelled(fig, "filter:")
    assert len(tiles) == 5 * 2  # first conv: one picture per filter and input channel
    for ax in tiles:
        _, f, c = ax.get_label().split(":")
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), kernel[:, :, int(c), int(f)])
    assert "Learned filters of layer 'conv2d" in " ".join(texts(fig))
    path = plot_filters(model, tmp_path / "f.png", lang="zh", dpi=DPI)
    assert_png(path, FIGURE_SIZES["filters"])

    deep = model.layers[1]                                                # 5 input channels: the mean of each filter
    fig = plot_filters(model, layer=deep.name, lang="en", max_filters=4)
    tiles = axes_labelled(fig, "filter:")
    assert len(tiles) == 4
    k = deep.get_weights()[0]
    for ax in tiles:
        f = int(ax.get_label().split(":")[1])
        np.testing.assert_allclose(ax.get_images()[0].get_array(), k[:, :, :, f].mean(axis=2), rtol=1e-6)
    joined = " ".join(texts(fig))
    assert "the mean over the 5 input channels" in joined and "the first 4 of 7 filters" in joined
    assert len(axes_labelled(plot_filters(deep, lang="en"), "filter:")) == 7


def test_filters_errors():
    with pytest.raises(ValueError, match=r"plot_filters: model '.*' has no Conv2D layer, so it has no filters"):
        plot_filters(Sequential([Input(shape=(3,)), Dense(2)]))
    model = Sequential([Input(shape=(6, 6, 1)), Conv2D(2, 3), Flatten()])
    with pytest.raises(ValueError, match=r"layer 'flatten.*' is a Flatten, not a Conv2D"):
        plot_filters(model, layer=1)
    with pytest.raises(ValueError, match=r"no layer 'nope' in model"):
        plot_filters(model, layer="nope")
    with pytest.raises(ValueError, match=r"is not built yet, so it has no weights"):
        plot_filters(Conv2D(2, 3))
    with pytest.raises(TypeError, match=r"plot_filters expects a model or a Conv2D layer"):
        plot_filters("conv2d")
    with pytest.raises(ValueError, match=r"`path` must name a \.png file"):
        plot_filters(model, "filters.jpg")
    with pytest.raises(ValueError, match=r"`dpi` must be a whole number from 10 to 600"):
        plot_filters(model, dpi=0)


# --------------------------------------------------------------------------------------
# feature maps
# --------------------------------------------------------------------------------------
def test_feature_maps_have_every_layers_shape_and_values(trained):
    model, _, x, _ = trained
    maps = feature_maps(model, x[3])
    assert [layer for layer, _ in maps] == model.leaf_layers()
    for layer, out in maps:
        assert out.shape == (1,) + tuple(layer.output_shape[1:])
    np.testing.assert_allclose(maps[-1][1], model.predict(x[3:4], verbose=0), rtol=1e-5)
    assert feature_maps(model, x[3, :, :, 0])[0][1].shape == (1, 6, 6, 6)  # a (H, W) image gets its channel axis


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_feature_map_figure_rows(trained, tmp_path, lang):
    model, _, x, _ = trained
    path = plot_feature_maps(model, x[0], tmp_path / "maps.png", lang=lang, dpi=DPI)
    assert_png(path, feature_map_figure_size(5))
    assert feature_map_figure_size(5) == (14.0, 1.1 + 1.35 * 6)
    fig = plot_feature_maps(model, x[0], lang=lang, max_channels=4)
    rows = {}
    for ax in axes_labelled(fig, "fmap:"):
        _, row, channel = ax.get_label().split(":")
        rows.setdefault(row, []).append(channel)
    assert rows == {"input": ["0"], "1": ["0", "1", "2", "3"], "2": ["0", "1", "2", "3"], "3": ["bars"],
                    "4": ["bars"], "5": ["bars"]}
    conv_maps = feature_maps(model, x[0])[0][1]
    first = next(ax for ax in fig.axes if ax.get_label() == "fmap:1:2")
    np.testing.assert_allclose(first.get_images()[0].get_array(), conv_maps[0, :, :, 2], rtol=1e-6)
    if lang == "en":
        assert "channels 0–3 of 6" in texts(fig)
        assert any(t.startswith("predicted class ") for t in texts(fig))


def test_feature_maps_of_a_graph_have_one_row_per_layer_call():
    utils.set_random_seed(1)
    inputs = keras.Input(shape=(6, 6, 1))
    x = layers.Conv2D(3, 3, padding="same", activation="relu", name="stem")(inputs)
    shared = layers.Conv2D(3, 3, padding="same", name="shared")
    y = shared(shared(x))                                                # the same weights, called twice
    z = layers.add([x, y], name="sum")                                   # a residual connection
    outputs = layers.Dense(2, activation="softmax", name="head")(layers.Flatten(name="flat")(z))
    model = keras.Model(inputs, outputs)
    image = np.random.default_rng(0).random((6, 6, 1)).astype(np.float32)
    maps = feature_maps(model, image)
    assert [layer.name for layer, _ in maps] == ["stem", "shared", "shared", "sum", "flat", "head"]
    stem, first, second, total = (out for _, out in maps[:4])
    np.testing.assert_allclose(first, shared(stem), rtol=1e-5)
    np.testing.assert_allclose(second, shared(first), rtol=1e-5)
    np.testing.assert_allclose(total, stem + second, rtol=1e-6)
    np.testing.assert_allclose(maps[-1][1], model.predict(image[None], verbose=0), rtol=1e-5)
    fig = plot_feature_maps(model, image, lang="en")
    assert {ax.get_label().split(":")[1] for ax in axes_labelled(fig, "fmap:")} == {"input", "1", "2", "3", "4", "5", "6"}
    assert "Learned filters of layer 'stem'" in " ".join(texts(plot_filters(model, lang="en")))

    two = keras.Model(inputs, [outputs, layers.Dense(1, name="score")(layers.Flatten()(x))])
    with pytest.raises(ValueError, match=r"has 2 outputs; give the predictions of the one to show instead"):
        confusion_matrix(two, image[None], np.array([1]))
    other = keras.Input(shape=(3,))
    with pytest.raises(ValueError, match=r"has 2 inputs; feature maps follow one image through a model with one input"):
        feature_maps(keras.Model([inputs, other], [outputs, layers.Dense(1)(other)]), image)


def test_a_history_is_not_taken_for_a_model_nor_a_model_for_a_history(trained):
    model, history, x, y = trained
    with pytest.raises(TypeError, match=r"feature_maps expects a model, e\.g\. feature_maps\(model, x_test\[0\]\); "
                                        r"got History"):
        feature_maps(history, x[0])
    with pytest.raises(TypeError, match=r"plot_filters expects a model or a Conv2D layer"):
        plot_filters(history)
    assert texts(plot_history(model, lang="en")) == texts(plot_history(history, lang="en"))  # the model's own history
    with pytest.raises(ValueError, match=r"predictions must be scores of shape \(N, classes\)"):
        confusion_matrix(history, y=y)


def test_feature_maps_of_a_3d_output_and_wrong_images():
    model = Sequential([Input(shape=(12,)), Reshape((3, 4)), Dense(2)])
    fig = plot_feature_maps(model, np.arange(12.0), lang="en")
    assert {ax.get_label() for ax in axes_labelled(fig, "fmap:")} == {"fmap:input:bars", "fmap:1:0", "fmap:2:0"}
    with pytest.raises(ValueError, match=r"takes samples of shape \(12,\); got an image of shape \(3, 4\)\. "
                                         r"Pass one sample, e\.g\. x_test\[0\]"):
        plot_feature_maps(model, np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"`max_channels` must be a whole number from 1 to 16"):
        plot_feature_maps(model, np.zeros(12), max_channels=20)


# --------------------------------------------------------------------------------------
# confusion matrix
# --------------------------------------------------------------------------------------
def independent_count(true, pred, classes):
    m = [[0] * classes for _ in range(classes)]
    for t, p in zip(true, pred):
        m[int(t)][int(p)] += 1
    return np.array(m)


def test_confusion_matrix_is_an_independent_count(trained):
    model, _, x, y = trained
    pred = model.predict(x, verbose=0).argmax(axis=1)
    expected = independent_count(y, pred, 2)
    np.testing.assert_array_equal(confusion_matrix(model, x, y), expected)
    np.testing.assert_array_equal(confusion_matrix(model.predict(x, verbose=0), y=y), expected)
    np.testing.assert_array_equal(confusion_matrix(pred, y=np.eye(2)[y]), expected)    # labels and one-hot
    norm = confusion_matrix(model, x, y, normalize=True)
    np.testing.assert_allclose(norm.sum(axis=1), 1.0)
    np.testing.assert_allclose(norm, expected / expected.sum(axis=1, keepdims=True))

    x3, labels, winners, _ = picker_data()
    np.testing.assert_array_equal(confusion_matrix(picker_model(), x3, labels), independent_count(labels, winners, 3))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_confusion_figure_shows_the_counts(tmp_path, lang):
    x, labels, winners, _ = picker_data()
    model = picker_model()
    path = plot_confusion_matrix(model, x, labels, tmp_path / "cm.png", lang=lang, dpi=DPI)
    assert_png(path, FIGURE_SIZES["confusion"])
    fig = plot_confusion_matrix(model, x, labels, lang=lang)
    expected = independent_count(labels, winners, 3)
    cells = {t.get_gid(): t.get_text() for t in fig.texts + fig.axes[0].texts if (t.get_gid() or "").startswith("cell")}
    assert len(cells) == 9
    for (t, p), n in np.ndenumerate(expected):
        assert cells[f"cell-{t}-{p}"] == f"{n:,}"
    right = int(np.trace(expected))
    title = next(t for t in texts(fig) if str(right) in t and "40" in t)
    assert f"{right / 40 * 100:.1f}%" in title
    fig = plot_confusion_matrix(model, x, labels, lang=lang, normalize=True, class_names=["a", "b", "c"])
    cells = {t.get_gid(): t.get_text() for t in fig.axes[0].texts if (t.get_gid() or "").startswith("cell")}
    share = expected / expected.sum(axis=1, keepdims=True)
    assert all(cells[f"cell-{t}-{p}"] == f"{share[t, p] * 100:.1f}%" for (t, p) in np.ndindex(3, 3))
    assert [tick.get_text() for tick in fig.axes[0].get_xticklabels()] == ["a", "b", "c"]


def test_confusion_errors():
    model = picker_model()
    with pytest.raises(ValueError, match=r"give the true labels as y, e\.g\. confusion_matrix\(model, x_test, y_test\)"):
        confusion_matrix(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"2 predictions but 3 labels; give one label per sample"):
        confusion_matrix(np.array([0, 1]), y=np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"give the inputs x with the model"):
        confusion_matrix(model, y=np.array([0]))
    with pytest.raises(ValueError, match=r"`y` must be whole-number class labels"):
        confusion_matrix(np.array([0, 1]), y=np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"3 classes but only 2 class_names"):
        plot_confusion_matrix(np.array([0, 1, 2]), y=np.array([0, 1, 2]), class_names=["a", "b"])


# --------------------------------------------------------------------------------------
# misclassified images
# --------------------------------------------------------------------------------------
def test_misclassified_are_exactly_the_wrong_ones():
    x, labels, winners, wrong = picker_data()
    found = misclassified(picker_model(), x, labels)
    np.testing.assert_array_equal(found["index"], wrong)
    np.testing.assert_array_equal(found["true"], labels[wrong])
    np.testing.assert_array_equal(found["predicted"], winners[wrong])
    assert found["total"] == 40 and np.all(found["confidence"] > 0.9)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_misclassified_grid_shows_the_wrong_images_with_their_labels(tmp_path, lang):
    x, labels, winners, wrong = picker_data()
    model = picker_model()
    path = plot_misclassified(model, x, labels, tmp_path / "wrong.png", lang=lang, dpi=DPI)
    assert_png(path, FIGURE_SIZES["misclassified"])
    fig = plot_misclassified(model, x, labels, lang=lang, n=5)
    shown = axes_labelled(fig, "mis-")
    assert [int(ax.get_label()[4:]) for ax in shown] == list(wrong[:5])
    for ax in shown:
        i = int(ax.get_label()[4:])
        title = ax.get_title()
        word_true, word_pred = ("true", "predicted") if lang == "en" else ("真实", "预测")
        assert f"{word_true} {labels[i]} → {word_pred} {winners[i]}" in title
        np.testing.assert_array_equal(ax.get_images()[0].get_array(), x[i, :, :, 0])
    title = " ".join(texts(fig))
    assert ("7 of 40" in title) if lang == "en" else ("40 张图像中有 7 张" in title)


def test_misclassified_with_none_wrong_and_named_classes():
    x, _, winners, _ = picker_data()
    fig = plot_misclassified(picker_model(), x, winners, lang="en")
    assert axes_labelled(fig, "mis-") == [] and "No misclassified images: all 40 are right." in texts(fig)
    x, labels, winners, wrong = picker_data()
    fig = plot_misclassified(winners, x.reshape(40, 4), labels, lang="en", n=2, class_names=["cat", "dog", "bird"])
    first = axes_labelled(fig, "mis-")[0]
    names = ["cat", "dog", "bird"]
    assert first.get_title() == f"true {names[labels[wrong[0]]]} → predicted {names[winners[wrong[0]]]}"


def test_misclassified_errors():
    x, labels, _, _ = picker_data()
    with pytest.raises(ValueError, match=r"`n` must be a whole number from 1 to 100"):
        plot_misclassified(picker_model(), x, labels, n=0)
    with pytest.raises(ValueError, match=r"cannot draw samples of shape \(5,\) as pictures"):
        plot_misclassified(np.array([1, 0]), np.zeros((2, 5)), np.array([0, 0]))
    with pytest.raises(ValueError, match=r"3 images but 2 labels"):
        plot_misclassified(np.array([1, 0]), np.zeros((3, 4)), np.array([0, 0]))


# --------------------------------------------------------------------------------------
# Chinese, the backend, a missing matplotlib
# --------------------------------------------------------------------------------------
def every_figure(trained, lang):
    model, history, x, y = trained
    px, labels, _, _ = picker_data()
    return [
        plot_history(history, lang=lang),
        plot_history({"loss": [1.0]}, lang=lang),
        plot_filters(model, lang=lang),
        plot_feature_maps(model, x[0], lang=lang, max_channels=3),
        plot_confusion_matrix(model, x, y, lang=lang),
        plot_confusion_matrix(model, x, y, lang=lang, normalize=True),
        plot_misclassified(picker_model(), px, labels, lang=lang),
    ]


def test_chinese_figures_are_chinese_and_every_glyph_is_drawn(trained, caplog):
    model, *_ = trained
    names = [f"{layer.name}（{type(layer).__name__}）" for layer in model.leaf_layers()]
    names += [f"'{layer.name}'" for layer in model.leaf_layers()]
    with caplog.at_level(logging.WARNING, logger="matplotlib.font_manager"):
        for fig in every_figure(trained, "zh"):
            words = " ".join(texts(fig))
            for name in names:  # layer names and class names are identifiers, written as they are
                words = words.replace(name, " ")
            assert any("\u4e00" <= ch <= "\u9fff" for ch in words)
            assert latin_words(words) == [], latin_words(words)
            assert missing_glyphs(fig) == []
    assert not [r for r in caplog.records if "Failed to find font" in r.getMessage()]


def test_english_figures_have_no_chinese(trained):
    for fig in every_figure(trained, "en"):
        assert not any("\u4e00" <= ch <= "\u9fff" for t in texts(fig) for ch in t)


def test_the_matplotlib_backend_is_left_alone(trained):
    before = matplotlib.get_backend()
    plot_history(trained[1], lang="zh")
    assert matplotlib.get_backend() == before


def test_missing_matplotlib_gives_an_install_hint(monkeypatch, tmp_path, trained):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    x, labels, _, _ = picker_data()
    calls = [
        lambda: plot_history(trained[1], tmp_path / "h.png"),
        lambda: plot_filters(trained[0]),
        lambda: plot_feature_maps(trained[0], trained[2][0]),
        lambda: plot_confusion_matrix(np.array([0, 1]), y=np.array([0, 1])),
        lambda: plot_misclassified(picker_model(), x, labels),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=r'pip install "convlearn\[plot\]"'):
            call()
    assert not os.listdir(tmp_path)


# --------------------------------------------------------------------------------------
# convlearn train draws the curves
# --------------------------------------------------------------------------------------
def train(capsys, *extra, tmp_path):
    code = main(["train", "--limit", "64", "--epochs", "2", "--test-limit", "16", "--verbose", "0", "--seed", "1",
                 "--output", str(tmp_path / "net.keras"), *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_writes_the_curves_next_to_the_model(capsys, tmp_path):
    code, out, err = train(capsys, "--validation-split", "0.25", "--lang", "zh", tmp_path=tmp_path)
    assert code == 0, err
    curves = tmp_path / "net_curves.png"
    assert f"Written: {curves}" in out
    assert_png(str(curves), FIGURE_SIZES["history"], dpi=100)
    assert sorted(os.listdir(tmp_path)) == ["net.keras", "net_curves.png"]


def test_train_no_plots_writes_only_the_model(capsys, tmp_path):
    code, out, _ = train(capsys, "--no-plots", tmp_path=tmp_path)
    assert code == 0 and os.listdir(tmp_path) == ["net.keras"] and "curves" not in out


def test_train_without_matplotlib_says_how_to_install_it_and_succeeds(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, out, err = train(capsys, tmp_path=tmp_path)
    assert code == 0, err
    lines = [line for line in out.splitlines() if "curves" in line.lower()]
    assert lines == ['Training curves not drawn: they need matplotlib and Pillow, install them with: '
                     'pip install "convlearn[plot]" (or pass --no-plots)']
    assert os.listdir(tmp_path) == ["net.keras"]


def test_train_help_names_the_plot_options(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--no-plots" in out and "_curves.png" in out and "--lang {en,zh}" in out
