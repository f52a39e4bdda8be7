"""The English/Chinese catalogue: same keys, same placeholders, complete Chinese output."""

import re

import numpy as np
import pytest

from convlearn.explain import (
    DEFAULT_RGB_PIXELS,
    explain_conv,
    explain_dense,
    explain_flatten,
    explain_guide,
    explain_input,
    explain_pool,
    explain_relu,
    explain_softmax,
    resolve_lang,
    tr,
)
from convlearn.explain.i18n import CATALOGUE, LANGS, ZH_LATIN_ALLOWED, latin_words, placeholders

_HAN = re.compile(r"[\u4e00-\u9fff]")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def test_both_languages_have_the_same_keys():
    assert set(CATALOGUE) == set(LANGS) == {"en", "zh"}
    assert set(CATALOGUE["en"]) == set(CATALOGUE["zh"])
    assert len(CATALOGUE["en"]) > 100


@pytest.mark.parametrize("key", sorted(CATALOGUE["en"]))
def test_same_placeholders_in_both_languages(key):
    assert placeholders(CATALOGUE["en"][key]) == placeholders(CATALOGUE["zh"][key])


@pytest.mark.parametrize("key", sorted(CATALOGUE["zh"]))
def test_chinese_templates_have_no_english_words(key):
    text = _PLACEHOLDER.sub(" ", CATALOGUE["zh"][key])
    assert latin_words(text) == [], CATALOGUE["zh"][key]
    assert "$" not in text  # matplotlib would read $...$ as maths


def test_chinese_uses_the_guides_terms():
    zh = " ".join(CATALOGUE["zh"].values())
    for term in ["卷积层", "过滤器", "步长", "特征图", "池化层", "全连接层", "最大池化", "平均池化", "激活函数",
                 "归一化", "展平", "填充", "输入层", "灰度", "通道"]:
        assert term in zh, term


def test_latin_words_finds_english_and_skips_code():
    assert latin_words("卷积层 filter 的 `padding='same'` 和 'valid'，--steps，ReLU，n 与 k") == ["filter"]
    assert latin_words("max(0, x) 与 exp") == []
    assert "filter" not in ZH_LATIN_ALLOWED


def test_tr_formats_and_complains_clearly():
    assert tr("conv_result", "en", shape="4×4") == "feature map (4×4):"
    assert tr("conv_result", "zh", shape="4×4") == "特征图（4×4）："
    with pytest.raises(KeyError, match="no message 'nope' in the explain catalogue"):
        tr("nope", "en")


@pytest.mark.parametrize(
    "env,expected",
    [
        ({}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),
        ({"LANG": "C"}, "en"),
        ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "zh"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LC_MESSAGES": "zh_CN", "LANG": "en_US"}, "zh"),
        ({"LANGUAGE": "zh_CN:en_US", "LC_ALL": "en_US.UTF-8"}, "zh"),
        ({"LANGUAGE": "", "LC_ALL": "", "LANG": "zh_SG"}, "zh"),
    ],
)
def test_language_from_the_locale(env, expected):
    assert resolve_lang(None, env) == expected


@pytest.mark.parametrize("given,expected", [("en", "en"), ("zh", "zh"), ("zh_CN", "zh"), ("zh-Hans", "zh"), ("EN_gb", "en")])
def test_explicit_language_wins(given, expected):
    assert resolve_lang(given, {"LANG": "zh_CN.UTF-8"}) == expected


def _all_texts(lang):
    g = explain_guide()
    walks = [
        g,
        explain_input(),
        explain_input(DEFAULT_RGB_PIXELS),
        explain_conv(stride=2, padding="same"),
        explain_conv("1,2,3;4,5,6;7,8,9", "1,-1;-1,1", stride=(2, 1), padding=1),
        explain_conv(np.arange(35.0).reshape(5, 7), "1,0,-1", stride=(1, 2)),
        explain_relu("1,2;3,4"),
        explain_pool(pool_size=(2, 3), strides=1, mode="avg"),
        explain_pool("1,2,3;4,5,6;7,8,9", 2),
        explain_flatten(np.arange(12.0).reshape(3, 4)),
        explain_dense("1,2,3,4,5", seed=1),
        explain_softmax("1000,999,990"),
    ]
    texts = [w.to_text(lang) for w in walks]
    texts.append(explain_conv().to_text(lang, steps_in_full=None))
    texts.append(g.to_text(lang, color=True))
    return texts


def test_chinese_output_has_no_english_left():
    for text in _all_texts("zh"):
        assert _HAN.search(text)
        assert latin_words(text) == [], text


def test_english_output_has_no_chinese():
    for text in _all_texts("en"):
        assert not _HAN.search(text), text


def test_chinese_and_english_explain_the_same_numbers():
    en = explain_guide().to_text("en").splitlines()
    zh = explain_guide().to_text("zh").splitlines()
    assert len(en) == len(zh)
    number = re.compile(r"-?\d+\.\d+|-\d+")  # decimals and negatives: the computed values
    for a, b in zip(en, zh):
        assert sorted(number.findall(a)) == sorted(number.findall(b)), (a, b)
    rows_en = [line.split("│")[1] for line in en if "│" in line]  # the cells of the first matrix of a row
    rows_zh = [line.split("│")[1] for line in zh if "│" in line]
    assert rows_en == rows_zh and len(rows_en) > 50
