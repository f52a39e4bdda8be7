"""PNG figures and GIFs: expected pixel size, not blank, right number of frames, Chinese glyphs drawn."""

import logging
import os
import sys
import warnings

import numpy as np
import pytest

from convlearn.explain import (
    DEFAULT_RGB_PIXELS,
    explain_conv,
    explain_guide,
    explain_input,
    explain_pool,
)
from convlearn.explain.i18n import latin_words

matplotlib = pytest.importorskip("matplotlib", reason="figures need matplotlib")
Image = pytest.importorskip("PIL.Image", reason="figures need Pillow")

from convlearn.explain import render_figures  # noqa: E402  (after the skips)
from convlearn.explain.render_figures import FIGURE_SIZES  # noqa: E402

DPI = 50


@pytest.fixture(scope="module")
def guide():
    return explain_guide()


def _figures(guide, lang):
    """(kind, figure) of every figure the guide draws."""
    return [
        ("guide", guide.figure(lang)),
        ("input_gray", guide.input.figure(lang)),
        ("input_rgb", guide.rgb.figure(lang)),
        ("conv", guide.conv.figure(lang)),
        ("conv_step", guide.conv.figure(lang, step=5)),
        ("relu", guide.relu.figure(lang)),
        ("pool", guide.pool.figure(lang)),
        ("pool_step", guide.pool.figure(lang, step=2)),
        ("flatten", guide.flatten.figure(lang)),
        ("dense", guide.dense.figure(lang)),
        ("softmax", guide.softmax.figure(lang)),
    ]


def assert_png_is_a_picture(path, size_inches, dpi):
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (round(size_inches[0] * dpi), round(size_inches[1] * dpi))
        rgb = np.asarray(img.convert("RGB"))  # (H, W, 3)
    colours = np.unique(rgb.reshape(-1, 3), axis=0)
    assert len(colours) > 30  # text, cells, highlights: far from a flat image
    ink = np.any(rgb < 235, axis=2).mean()
    assert 0.03 < ink < 0.9  # some drawing, not a filled rectangle


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_figure_has_its_size_and_is_not_blank(guide, lang, tmp_path):
    for kind, fig in _figures(guide, lang):
        path = render_figures.save_png(fig, tmp_path / f"{kind}.png", dpi=DPI)
        assert_png_is_a_picture(path, FIGURE_SIZES[kind], DPI)
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp")] == []  # atomic writes leave nothing


def test_to_figure_uses_dpi(tmp_path):
    walk = explain_conv()
    path = walk.to_figure(tmp_path / "step.png", "en", dpi=80, step=0)
    assert_png_is_a_picture(path, FIGURE_SIZES["conv_step"], 80)


def _texts(fig):
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def test_chinese_figures_have_chinese_labels_and_no_english(guide):
    for kind, fig in _figures(guide, "zh"):
        texts = _texts(fig)
        assert any("\u4e00" <= ch <= "\u9fff" for t in texts for ch in t), kind
        assert latin_words(" ".join(texts)) == [], (kind, latin_words(" ".join(texts)))


def test_english_figures_have_english_titles(guide):
    texts = " ".join(_texts(guide.conv.figure("en", step=0)))
    assert "Convolution layer" in texts and "feature map" in texts and "Σ = 1" in texts


def _missing_glyph_warnings(fig):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.canvas.draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_chinese_glyphs_come_from_the_shipped_font(guide, caplog):
    with caplog.at_level(logging.WARNING, logger="matplotlib.font_manager"):
        for kind, fig in _figures(guide, "zh"):
            assert _missing_glyph_warnings(fig) == [], kind
    assert not [r for r in caplog.records if "Failed to find font" in r.getMessage()]  # bold exists too


def test_the_glyph_check_would_catch_a_font_without_chinese():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, "卷积层", family="DejaVu Sans")
    assert _missing_glyph_warnings(fig)


def test_matplotlib_backend_is_left_alone(guide):
    before = matplotlib.get_backend()
    guide.relu.figure("zh")
    assert matplotlib.get_backend() == before


def _frames(path):
    with Image.open(path) as img:
        assert img.format == "GIF"
        n = img.n_frames
        first = np.asarray(img.convert("RGB"))
        img.seek(n - 1)
        last = np.asarray(img.convert("RGB"))
        return n, img.size, first, last


def test_conv_gif_has_one_frame_per_step(tmp_path):
    walk = explain_conv("1,2,3;4,5,6;7,8,9", "1,0;0,-1")
    path = walk.to_gif(tmp_path / "small.gif", "zh", dpi=40)
    n, size, first, last = _frames(path)
    assert n == len(walk.steps) == 4
    assert size == (round(FIGURE_SIZES["conv_step"][0] * 40), round(FIGURE_SIZES["conv_step"][1] * 40))
    assert np.abs(first.astype(int) - last).sum() > 0  # the window moved


def test_pool_gif_has_one_frame_per_window(tmp_path):
    walk = explain_pool(np.arange(36.0).reshape(6, 6), 2, mode="avg")
    n, _, _, _ = _frames(walk.to_gif(tmp_path / "pool.gif", "en", dpi=30))
    assert n == len(walk.steps) == 9


def test_save_figures_writes_the_whole_set(guide, tmp_path):
    paths = guide.save_figures(tmp_path, "zh", dpi=30)
    names = sorted(os.path.basename(p) for p in paths)
    assert names == sorted(os.listdir(tmp_path)) == sorted([
        "guide.png", "input_grayscale.png", "input_rgb.png", "conv.png", "conv_step_01.png", "conv_step_02.png",
        "conv_sliding_window.gif", "relu.png", "pool.png", "pool_sliding_window.gif", "flatten.png", "dense.png",
        "softmax.png",
    ])
    assert _frames(tmp_path / "conv_sliding_window.gif")[0] == 16  # the guide's filter visits 16 positions
    assert _frames(tmp_path / "pool_sliding_window.gif")[0] == 4


def test_figures_for_other_inputs(tmp_path):
    cases = [
        ("input_gray", explain_input("0,64;128,255")),
        ("input_rgb", explain_input(DEFAULT_RGB_PIXELS[:2, :3])),
        ("conv", explain_conv(np.arange(20.0).reshape(4, 5) / 20, "1,-1", stride=(2, 1), padding="same")),
        ("pool", explain_pool(np.arange(30.0).reshape(5, 6), (2, 3), 1, "avg")),
    ]
    for kind, walk in cases:
        path = walk.to_figure(tmp_path / f"{kind}.png", "en", dpi=DPI)
        assert_png_is_a_picture(path, FIGURE_SIZES[kind], DPI)
    big = explain_conv(np.random.default_rng(0).random((28, 28)), padding="same")  # MNIST-sized
    assert_png_is_a_picture(big.to_figure(tmp_path / "big.png", "en", dpi=DPI, step=100), FIGURE_SIZES["conv_step"], DPI)


def test_step_out_of_range():
    with pytest.raises(IndexError, match=r"step must be in 0\.\.15 .* got 16"):
        explain_conv().figure("en", step=16)


def test_missing_matplotlib_gives_an_install_hint(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "convlearn\[plot\]"'):
        explain_conv().to_figure(tmp_path / "x.png")
    with pytest.raises(ImportError, match=r'pip install "convlearn\[plot\]"'):
        explain_conv().to_gif(tmp_path / "x.gif")
