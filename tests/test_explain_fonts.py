"""The CJK font subset shipped for Chinese figure labels."""

import os

import pytest

from convlearn.explain.i18n import CATALOGUE, FONT_FAMILY, FONT_FILES, font_chars

ft2font = pytest.importorskip("matplotlib.ft2font", reason="the font is read with matplotlib's FreeType wrapper")

FONT_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src", "convlearn", "explain",
                        "fonts")


@pytest.mark.parametrize("style", sorted(FONT_FILES))
def test_every_character_of_the_chinese_catalogue_is_in_the_font(style):
    cmap = ft2font.FT2Font(os.path.join(FONT_DIR, FONT_FILES[style])).get_charmap()
    zh_chars = {ch for text in CATALOGUE["zh"].values() for ch in text if ch.isprintable()}
    missing = sorted(ch for ch in zh_chars if ord(ch) not in cmap)
    assert missing == [], f"rebuild the font with tools/build_font_subset.py; missing: {''.join(missing)}"
    missing = sorted(ch for ch in font_chars() if ord(ch) not in cmap)
    assert missing == [], missing


@pytest.mark.parametrize("style", sorted(FONT_FILES))
def test_font_is_renamed_small_and_licensed(style):
    path = os.path.join(FONT_DIR, FONT_FILES[style])
    font = ft2font.FT2Font(path)
    assert font.family_name == FONT_FAMILY
    assert font.style_name == style
    for reserved in ("Noto", "Source"):  # OFL: a modified version may not use the reserved names
        assert reserved not in font.family_name and reserved not in font.postscript_name
    assert os.path.getsize(path) < 400_000


def test_licence_text_ships_with_the_font():
    with open(os.path.join(FONT_DIR, "OFL.txt"), encoding="utf-8") as fh:
        text = fh.read()
    assert "SIL OPEN FONT LICENSE Version 1.1" in text
    assert "Copyright 2014-2021 Adobe" in text and "Reserved Font Name 'Source'" in text
    for name in FONT_FILES.values():
        assert name in text


def test_font_chars_cover_ascii_and_the_figure_symbols():
    chars = font_chars()
    assert all(chr(c) in chars for c in range(0x20, 0x7F))
    assert "⊙" in chars and "Σ" in chars and "卷" in chars
    assert chars == "".join(sorted(set(chars)))
