"""The terminal rendering: grids, marks, colours, and the arithmetic it prints."""

import math
import re

import numpy as np
import pytest

from convlearn.explain import (
    explain_conv,
    explain_dense,
    explain_guide,
    explain_pool,
    explain_relu,
    explain_softmax,
)
from convlearn.explain.render_text import display_width, fmt_number, grid, hstack

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_SAFE = re.compile(r"^[\d\s.+\-*/(),]*$")


def _evaluate(expr):
    """Evaluate an arithmetic expression as printed (×, −, e^, floor/ceil/max, Chinese names)."""
    expr = (
        expr.replace("×", "*").replace("−", "-").replace("向下取整", "floor").replace("向上取整", "ceil")
        .replace("e^", "E**")
    )
    names = {"floor": math.floor, "ceil": math.ceil, "max": max, "E": math.e}
    bare = re.sub(r"\b(floor|ceil|max|E)\b", "", expr)
    if not _SAFE.match(bare) or not re.search(r"\d", bare):
        raise ValueError(expr)
    return eval(expr, {"__builtins__": {}}, names)  # noqa: S307  (digits and the four names only)


def check_printed_arithmetic(text):
    """Every 'expression = value' in the text holds, up to the printed rounding.  Returns how many."""
    checked = 0
    for line in text.splitlines():
        parts = line.split(" = ")
        for left, right in zip(parts, parts[1:]):
            lhs = re.split(r": |：|→ ", left)[-1].strip()
            m = _NUMBER.match(right.strip())
            if not m:
                continue
            try:
                value = _evaluate(lhs)
            except (ValueError, SyntaxError, TypeError, NameError):
                continue
            shown = m.group()
            decimals = len(shown.split(".")[1]) if "." in shown else 0
            tol = 10.0 ** -decimals * 0.51 + 2e-3 * abs(float(shown))
            assert abs(value - float(shown)) <= tol, f"{lhs} = {value}, printed {shown} in: {line}"
            checked += 1
    return checked


def test_fmt_number():
    assert fmt_number(3.0) == "3"
    assert fmt_number(-0.0) == "0"
    assert fmt_number(128 / 255) == "0.502"
    assert fmt_number(0.1 + 0.2) == "0.3"
    assert fmt_number(2.5e-7) == "0"
    assert fmt_number(float("nan")) == "·"
    assert fmt_number(1.23456, 4) == "1.2346"


def test_display_width_counts_wide_characters_and_skips_colour_codes():
    assert display_width("abc") == 3
    assert display_width("特征图") == 6
    assert display_width("\x1b[1;36mab\x1b[0m") == 2


def test_grid_marks_cells_plainly_or_in_colour():
    values = np.array([[1.0, 2.0], [3.0, -4.5]])
    plain = "\n".join(grid(values, {(0, 1): "window", (1, 0): "target"}))
    assert "[2]" in plain.replace(" ", "") and "<3>" in plain.replace(" ", "")
    assert "-4.5" in plain and "\x1b" not in plain
    assert plain.count("┌") == 1 and plain.count("┘") == 1
    coloured = "\n".join(grid(values, {(0, 1): "window"}, color=True))
    assert "\x1b[30;102m" in coloured and "[" not in re.sub(r"\x1b\[[0-9;]*m", "", coloured)


def test_hstack_aligns_blocks_even_with_chinese_titles():
    left = ["特征图", "┌──┐", "│ 1│", "└──┘"]
    right = ["x", "y", "z"]
    lines = hstack([left, "→", right])
    starts = {display_width(line[: line.index(ch)]) for line, ch in zip(lines, "xyz")}
    assert len(starts) == 1  # the right block starts in the same column on every line
    assert "→" in lines[2]


def test_conv_text_shows_chosen_steps_in_full_and_lists_the_rest():
    walk = explain_conv()
    text = walk.to_text("en", steps_in_full=3)
    assert len(re.findall(r"^Step \d+ of 16:", text, flags=re.M)) == 3
    assert len(re.findall(r"^  step \d+:", text, flags=re.M)) == 13
    full = walk.to_text("en", steps_in_full=None)
    assert len(re.findall(r"^Step \d+ of 16:", full, flags=re.M)) == 16
    assert "Next: the filter moves 1 column to the right (stride 1)." in full
    assert "End of the row: the filter goes back to the left edge and moves 1 row down (stride 1)." in full
    assert "That was the last position" in full
    assert "out = floor((6 + 2×0 − 3) / 1) + 1 = 4" in full
    assert "[0][1][1]" in full.replace(" ", "")  # the first window's middle row, marked
    assert "In Keras: `Conv2D(1, (3, 3), strides=1, padding='valid')`" in full


def test_conv_text_shows_same_padding_numbers():
    text = explain_conv(stride=2, padding="same").to_text("en")
    assert "out = ceil(6 / 2) = 3" in text
    assert "total padding = max((3 − 1) × 2 + 3 − 6, 0) = 1" in text
    assert "→ 0 zero(s) before (top/left), 1 after (bottom/right)" in text
    assert "Zeros added around the image: 0 row(s) on top, 1 at the bottom, 0 column(s) on the left, 1 on the right." in text
    assert "padded image" in text
    assert "moves 2 columns to the right (stride 2)" in text


def test_conv_text_different_height_and_width():
    text = explain_conv(np.ones((5, 7)), "1,0,-1", stride=(1, 2)).to_text("en")
    assert "height:" in text and "width:" in text
    assert "out = floor((5 + 2×0 − 1) / 1) + 1 = 5" in text
    assert "out = floor((7 + 2×0 − 3) / 2) + 1 = 3" in text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_printed_calculation_is_right(lang):
    text = explain_guide().to_text(lang, steps_in_full=None)
    assert check_printed_arithmetic(text) >= 38  # 16 convolution sums, sizes, pooling, ReLU, dense, softmax
    for walk in [
        explain_conv("0.5,1.25,-2;3,0.125,7;1,1,1", "0.3,-0.7;1.1,0", stride=1, padding="same"),
        explain_pool("1,3,2,4;5,6,7,8;9,2,1,0;3,4,5,6", mode="avg"),
        explain_relu("-1.5,2;0.25,-3"),
        explain_dense("0.5,1.5,-2", "0.1,0.2;0.3,-0.4;0.5,0.6", "0.05,-0.05"),
        explain_softmax("2.0,1.0,0.1"),
        explain_softmax("1000,999,990"),
    ]:
        assert check_printed_arithmetic(walk.to_text(lang)) >= 2


def test_arithmetic_checker_catches_a_wrong_sum():
    with pytest.raises(AssertionError, match="printed 6"):
        check_printed_arithmetic("sum of the products: 1×2 + 3×1 = 6")
    with pytest.raises(AssertionError, match="printed 0.3"):
        check_printed_arithmetic("3. divide: 1 / 9.508 = 0.3")
    assert check_printed_arithmetic("a: 2 + 2 = 4\nout = floor((6 + 2×0 − 3) / 2) + 1 = 2\ne^1.9 = 6.6859") == 3


def test_relu_and_pool_texts_name_each_change():
    relu = explain_relu().to_text("en")
    assert relu.count("is negative → max(0,") == 5
    assert "5 of the 16 values were negative and became 0" in relu
    pool = explain_pool().to_text("en")
    assert "max(1, 0, 1, 1) = 1 → cell (0, 0)" in pool
    assert "In Keras: `MaxPool2D(2, 2)`" in pool
    odd = explain_pool(np.arange(25.0).reshape(5, 5)).to_text("en")
    assert "1 row(s) at the bottom and 1 column(s) on the right are covered by no window" in odd


def test_softmax_text_shows_the_shift_for_large_scores():
    text = explain_softmax("1000,999,990").to_text("en")
    assert "m = 1000" in text
    assert "e^(1000 − 1000) = 1" in text


def test_colour_text_has_ansi_and_plain_text_has_none():
    walk = explain_conv()
    assert "\x1b[" in walk.to_text("en", color=True)
    assert "\x1b[" not in walk.to_text("en")
    assert "Marks: [v] = cells under the window" in walk.to_text("en")
