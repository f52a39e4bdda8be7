"""Every error message of the walk-throughs, in English and in Chinese."""

import numpy as np
import pytest

from convlearn.explain import (
    DEFAULT_RGB_PIXELS,
    ExplainError,
    explain_conv,
    explain_dense,
    explain_guide,
    explain_input,
    explain_pool,
    explain_softmax,
    load_array,
    output_size,
    parse_array,
    resolve_lang,
)
from convlearn.explain.i18n import CATALOGUE, latin_words


def _files(tmp_path):
    obj = tmp_path / "objects.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    (tmp_path / "garbage.npy").write_bytes(b"not numpy at all")
    (tmp_path / "truncated.npy").write_bytes(b"\x93NUMPY\x01\x00\xff")
    (tmp_path / "latin1.txt").write_bytes(b"1,2\n\xff\xfe,3\n")
    (tmp_path / "data.json").write_text("[[1, 2]]")
    return tmp_path


# (key, call, English pattern, a piece of the Chinese message)
CASES = [
    ("err_empty_matrix", lambda d: parse_array("  ", "--kernel"), r"--kernel is empty; type numbers such as", "是空的"),
    ("err_empty_value", lambda d: parse_array("1,,2", "--image"), r"--image: row 0, column 1 is empty", "第 0 行第 1 列是空的"),
    ("err_not_number", lambda d: parse_array("1,0;0,a", "--image"), r"row 1, column 1 is 'a', which is not a number",
     "不是数字"),
    ("err_not_finite", lambda d: parse_array("1,inf", "--image"), r"row 0, column 1 is 'inf', which is not a finite",
     "不是有限的数"),
    ("err_empty_row", lambda d: parse_array("1,2;;3,4", "--image"), r"row 1 has no values", "第 1 行没有值"),
    ("err_ragged", lambda d: parse_array("1,0,1;0,1", "--kernel"),
     r"every row needs the same number of values, but row 0 has 3 and row 1 has 2", "每一行的值个数必须相同"),
    ("err_channel_shape", lambda d: parse_array("1,2|3", "--pixels"), r"channel 0 is \(1, 2\) and channel 1 is \(1, 1\)",
     "形状必须相同"),
    ("err_not_numeric_array", lambda d: load_array([["a", "b"]], "image"), r"image must contain numbers only", "只能包含数字"),
    ("err_array_not_finite", lambda d: load_array(np.array([1.0, np.nan]), "scores"), r"scores contains nan or inf",
     "有限的数"),
    ("err_no_file", lambda d: load_array(str(d / "missing.npy"), "--image"), r"missing\.npy' does not exist", "不存在"),
    ("err_npy_pickle", lambda d: load_array(str(d / "objects.npy"), "--image"), r"holds Python objects, which are not loaded",
     "出于安全考虑不会加载"),
    ("err_not_npy", lambda d: load_array(str(d / "garbage.npy"), "--image"), r"garbage\.npy' is not a NumPy `\.npy` file",
     "不是 NumPy"),
    ("err_bad_file", lambda d: load_array(str(d / "truncated.npy"), "--image"), r"cannot read '.*truncated\.npy': ",
     "无法读取"),
    ("err_not_utf8", lambda d: load_array(str(d / "latin1.txt"), "--image"), r"latin1\.txt' is not UTF-8 text", "不是 UTF-8"),
    ("err_npy_dtype", lambda d: load_array(str(d / "text.npy"), "--image"), r"holds values of type <U1; a numeric array",
     "需要数值数组"),
    ("err_file_type", lambda d: load_array(str(d / "data.json"), "--image"), r"data\.json' is not a `\.npy`, `\.txt` or `\.csv`",
     "不是"),
    ("err_ndim", lambda d: explain_conv(image="1,0|0,1"), r"image must be a 2-D matrix; got shape \(1, 2, 2\)", "必须是 2 维矩阵"),
    ("err_vector", lambda d: explain_softmax(np.ones((2, 2))), r"scores must be a vector .* got shape \(2, 2\)", "必须是向量"),
    ("err_int_pair", lambda d: explain_conv(stride="1,2,3"), r"stride must be a whole number or two whole numbers .* got '1,2,3'",
     "必须是一个整数"),
    ("err_too_small", lambda d: explain_conv(stride=0), r"stride must be at least 1; got '0'", "至少为 1"),
    ("err_padding", lambda d: explain_conv(padding="full"), r"padding must be `'valid'`, `'same'` or a whole number .* got 'full'",
     "填充必须是"),
    ("err_kernel_too_big_axis", lambda d: output_size(2, 3, 1, "valid"),
     r"the window \(3\) is larger than the padded input \(2 \+ 2×0 = 2\)", "窗口（3）比填充后的输入"),
    ("err_kernel_too_big", lambda d: explain_conv("1,0;0,1", "1,1,1;1,1,1;1,1,1"),
     r"the 3×3 filter does not fit in the 2×2 image; use a smaller filter", "放不进 2×2 的图像"),
    ("err_kernel_too_big_padded", lambda d: explain_conv("1", "1,1,1,1;1,1,1,1;1,1,1,1;1,1,1,1", padding=1),
     r"even with 1 zero\(s\) of padding on each side \(3×3\)", "每边补 1 个 0 之后"),
    ("err_pixels_ndim", lambda d: explain_input(np.arange(4.0)), r"pixels must be a grayscale \(H, W\) or RGB \(H, W, 3\) image; got shape \(4,\)",
     "像素必须是灰度图像"),
    ("err_pixels_channels", lambda d: explain_input(np.zeros((2, 2, 4))), r"pixels has 4 channels \(shape \(2, 2, 4\)\)",
     "4 个通道"),
    ("err_pixels_range", lambda d: explain_input("0,300;-1,5"), r"raw pixels must lie between 0 and 255; got values from -1 to 300",
     "原始像素必须在 0 到 255 之间"),
    ("err_pool_mode", lambda d: explain_pool(mode="min"), r"pool must be `'max'` or `'avg'`; got 'min'", "池化类型必须是"),
    ("err_pool_too_big", lambda d: explain_pool("1,2;3,4", pool_size=3),
     r"the 3×3 pooling window does not fit in the 2×2 feature map", "池化窗口放不进"),
    ("err_dense_weights", lambda d: explain_dense("1,2", "1,2,3;4,5,6;7,8,9"),
     r"weights need one row per input \(2 rows\) and one column per unit; got shape \(3, 3\)", "每个输入一行"),
    ("err_dense_bias", lambda d: explain_dense("1,2", "1;2", "1,2"), r"bias needs one value per unit \(1\); got 2", "每个单元一个值"),
    ("err_names", lambda d: explain_softmax("1,2", names=["a"]), r"2 class names are needed, one per unit; got 1", "需要 2 个类别名称"),
    ("err_guide_gray", lambda d: explain_guide(pixels=DEFAULT_RGB_PIXELS), r"convolves a grayscale image", "灰度图像"),
]
CLI_ONLY = {"err_lang", "err_steps", "err_figures_dir",  # tested in test_explain_cli.py
            # explain backward --model/--image, tested in test_explain_backward.py
            "err_back_image_without_model", "err_back_model_without_image", "err_back_picture_shape"}
# the errors of explain_cell and explain_backward, tested in test_explain_backward.py
NETWORK = {"err_net_one_input", "err_net_input_shape", "err_net_position", "err_net_step", "err_net_classifier",
           "err_back_target", "err_back_no_image"}


@pytest.mark.parametrize("key,call,pattern,zh", CASES, ids=[c[0] for c in CASES])
def test_error_message(tmp_path, key, call, pattern, zh):
    with pytest.raises(ExplainError, match=pattern) as info:
        call(_files(tmp_path))
    assert info.value.key == key
    assert isinstance(info.value, ValueError)  # callers may catch ValueError
    chinese = info.value.message("zh")
    assert zh in chinese
    if key != "err_bad_file":  # that one quotes the system's own reason
        assert not latin_words(chinese.replace(str(tmp_path), "")), chinese


def test_every_error_of_the_catalogue_is_tested():
    keys = {k for k in CATALOGUE["en"] if k.startswith("err_")}
    assert keys == {c[0] for c in CASES} | CLI_ONLY | NETWORK


@pytest.mark.parametrize("bad", [0, -1, "0", "a", 1.5, "1.5", True, (1, 2, 3), ""])
def test_bad_strides(bad):
    with pytest.raises(ExplainError, match="stride must"):
        explain_conv(stride=bad)


@pytest.mark.parametrize("bad", [-1, "-2", "full", 1.5, None])
def test_bad_paddings(bad):
    with pytest.raises(ExplainError, match="padding must be"):
        explain_conv(padding=bad)


@pytest.mark.parametrize("bad", [0, "0,1", "a"])
def test_bad_pool_sizes(bad):
    with pytest.raises(ExplainError, match="pool_size must"):
        explain_pool(pool_size=bad)


def test_bad_language():
    with pytest.raises(ValueError, match=r"unknown language 'fr'; use `'en'` \(English\) or `'zh'`"):
        resolve_lang("fr")
