"""Every sentence of the walk-throughs, in English and Simplified Chinese (简体中文).

Use it from anywhere in convlearn::

    from convlearn.explain.i18n import resolve_lang, tr
    lang = resolve_lang()                      # "en" or "zh", from the locale
    print(tr("conv_title", lang))              # "卷积层" in a Chinese locale

Rules kept by the catalogue (and checked by the tests):

* both languages have exactly the same keys and the same ``{placeholders}``;
* the Chinese uses the guide's own terms (卷积层, 过滤器, 步长, 特征图, 池化层, 全连接层,
  最大池化, 平均池化, 激活函数, 归一化, 展平, 填充 ...);
* the Chinese contains no English words except those in :data:`ZH_LATIN_ALLOWED`, code
  written between backticks (such as `padding='same'` or `X_train / 255`, which a learner
  types as it is) and quoted literals such as 'valid'.  Single letters are formula variables (n, k, s, p, x, z ...) and are
  allowed too.  :func:`latin_words` finds the words that break this rule.
* no ``$`` (matplotlib would read it as maths) and only characters that the font shipped in
  ``fonts/`` has (``tools/build_font_subset.py`` builds the font from this catalogue).
"""

from __future__ import annotations

import json
import os
import re
import string
from typing import Mapping

__all__ = [
    "LANGS",
    "CATALOGUE",
    "MESSAGES_DIR",
    "load_messages",
    "ZH_LATIN_ALLOWED",
    "resolve_lang",
    "tr",
    "placeholders",
    "latin_words",
    "FONT_FAMILY",
    "FONT_FILE",
    "FONT_FILES",
    "FIGURE_SYMBOLS",
    "font_chars",
]

#: Supported languages.
LANGS = ("en", "zh")

#: English words allowed in Chinese text: names the guide itself keeps in English (ReLU and
#: softmax appear only in its code; CNN, RGB, Keras, TensorFlow, Python, NumPy, MNIST), the file
#: formats PNG and GIF, the text encoding UTF-8, and the function names of formulas (max, exp).
ZH_LATIN_ALLOWED = frozenset(
    {"ReLU", "softmax", "CNN", "RGB", "PNG", "GIF", "Keras", "TensorFlow", "Python", "NumPy", "MNIST", "UTF", "max", "exp", "log"}
)

# key: {"en": ..., "zh": ...}.  Placeholders use str.format names.
_MESSAGES: dict[str, dict[str, str]] = {
    # ---------------------------------------------------------------- shared marks
    "legend_plain": {
        "en": "Marks: [v] = cells under the window, <v> = the value written or chosen in this step, "
        "· = not computed yet. Rows and columns are counted from 0, as in Python.",
        "zh": "标记：[v] 表示窗口覆盖的单元格，<v> 表示这一步写入或选中的值，· 表示还没有计算。"
        "行号和列号从 0 开始数（与 Python 相同）。",
    },
    "legend_color": {
        "en": "Colours: {window} = cells under the window, {target} = the value written or chosen in this step. "
        "Rows and columns are counted from 0, as in Python.",
        "zh": "颜色：{window} 表示窗口覆盖的单元格，{target} 表示这一步写入或选中的值。"
        "行号和列号从 0 开始数（与 Python 相同）。",
    },
    "legend_window_word": {"en": "window", "zh": "窗口"},
    "legend_target_word": {"en": "result", "zh": "结果"},
    "keras_code": {"en": "In Keras: {code}", "zh": "对应的 Keras 代码：{code}"},
    "list_sep": {"en": ", ", "zh": "；"},
    "name_value": {"en": "class {name}: {value}", "zh": "类别 {name}：{value}"},
    # ---------------------------------------------------------------- input layer
    "input_title": {"en": "Input layer", "zh": "输入层"},
    "input_intro": {
        "en": "The input layer is the input image itself, grayscale or RGB. A grayscale image has 1 channel: "
        "every pixel is one number from 0 (black) to 255 (white). An RGB colour image has 3 channels "
        "(red, green, blue), so every pixel is three numbers.",
        "zh": "输入层就是输入图像本身，可以是灰度图像或 RGB 图像。灰度图像只有 1 个通道：每个像素是 0（黑）"
        "到 255（白）之间的一个数。RGB 彩色图像有 3 个通道（红、绿、蓝），所以每个像素由三个数组成。",
    },
    "input_normalize": {
        "en": "Normalisation: before the image is passed to the model, every pixel is divided by 255, "
        "so that all values lie between 0 and 1 (in the guide's code: {code}).",
        "zh": "归一化：在把图像传给模型之前，把每个像素值除以 255，使所有值都落在 0 到 1 之间"
        "（指南代码中的 {code}）。",
    },
    "input_gray_heading": {
        "en": "Grayscale image, shape {shape} (height, width):",
        "zh": "灰度图像，形状为 {shape}（高，宽）：",
    },
    "input_rgb_heading": {
        "en": "RGB image, shape {shape} (height, width, channels): {h}×{w} pixels, "
        "each with a red, a green and a blue value.",
        "zh": "RGB 图像，形状为 {shape}（高，宽，通道）：{h}×{w} 个像素，每个像素有红、绿、蓝三个值。",
    },
    "label_raw_pixels": {"en": "raw pixels (0–255)", "zh": "原始像素（0–255）"},
    "label_normalized": {"en": "normalised (0–1)", "zh": "归一化后（0–1）"},
    "op_divide_255": {"en": "÷ 255 →", "zh": "÷ 255 →"},
    "channel_red": {"en": "R (red)", "zh": "R（红）"},
    "channel_green": {"en": "G (green)", "zh": "G（绿）"},
    "channel_blue": {"en": "B (blue)", "zh": "B（蓝）"},
    "input_example_cell": {
        "en": "pixel ({row}, {col}): {raw} / 255 = {value}",
        "zh": "像素 ({row}, {col})：{raw} / 255 = {value}",
    },
    "input_example_rgb": {
        "en": "pixel ({row}, {col}): {raw} / 255 = {value}",
        "zh": "像素 ({row}, {col})：{raw} / 255 = {value}",
    },
    "input_rgb_note": {
        "en": "Every channel is divided by 255 in the same way; the shape does not change.",
        "zh": "每个通道都以同样的方式除以 255；形状保持不变。",
    },
    "input_made_up": {
        "en": "(The guide shows this example only as a picture, so these pixel values are made up for illustration.)",
        "zh": "（指南中的这个例子只有图片，没有给出具体数值，所以这里的像素值是为演示而设定的。）",
    },
    # ---------------------------------------------------------------- convolution
    "conv_title": {"en": "Convolution layer", "zh": "卷积层"},
    "conv_intro": {
        "en": "The convolution layer applies a filter to the input image to detect its features. "
        "The {kshape} filter slides over the {ishape} image; at each position the pixel values under it "
        "are multiplied by the filter values, one by one, and the products are added up. "
        "That sum is one value of the feature map.",
        "zh": "卷积层把过滤器应用于输入图像，以提取或检测图像的特征。{kshape} 的过滤器在 {ishape} 的图像上滑动；"
        "在每个位置，把过滤器覆盖的像素值与过滤器的值逐个相乘，再把这些乘积相加，得到的和就是特征图中的一个值。",
    },
    "conv_default_image": {
        "en": "Default example: the guide's 6×6 input image is shown only as a picture, so this image of "
        'normalised 0/1 pixels (a handwritten "7", 1 = ink) was chosen for illustration.',
        "zh": "默认示例：指南中 6×6 的输入图像只有图片，没有给出具体数值，所以这里选用一张由归一化像素 0/1 "
        "组成的图像（一个手写的“7”，1 表示笔画）来演示。",
    },
    "conv_default_kernel": {
        "en": "The 3×3 filter detects vertical edges: it gives positive values where the image gets brighter "
        "from left to right and negative values where it gets darker.",
        "zh": "这个 3×3 的过滤器用来检测竖直边缘：图像从左到右变亮的地方得到正值，变暗的地方得到负值。",
    },
    "label_image": {"en": "image", "zh": "输入图像"},
    "label_padded_image": {"en": "padded image", "zh": "填充后的图像"},
    "label_filter": {"en": "filter", "zh": "过滤器"},
    "label_products": {"en": "products", "zh": "乘积"},
    "label_feature_map": {"en": "feature map", "zh": "特征图"},
    "size_heading": {"en": "Output size:", "zh": "输出尺寸："},
    "size_valid_formula": {
        "en": "out = floor((n + 2p − k) / s) + 1   (n: input size, k: filter size, p: padding, s: stride)",
        "zh": "输出尺寸 = 向下取整((n + 2p − k) / s) + 1   （n：输入尺寸，k：过滤器尺寸，p：填充，s：步长）",
    },
    "size_same_formula": {
        "en": "`padding='same'` (the Keras/TensorFlow rule): out = ceil(n / s); the missing room is filled "
        "with zeros: total padding = max((out − 1) × s + k − n, 0), the smaller half before (top/left), "
        "the larger half after (bottom/right).",
        "zh": "`padding='same'`（Keras/TensorFlow 的规则）：输出尺寸 = 向上取整(n / s)；不够的位置用 0 填充："
        "填充总量 = max((输出尺寸 − 1) × s + k − n, 0)，较少的一半放在前面（上/左），较多的一半放在后面（下/右）。",
    },
    "size_both_axes": {"en": "height and width (the same numbers):", "zh": "高和宽（数值相同）："},
    "size_height": {"en": "height:", "zh": "高："},
    "size_width": {"en": "width:", "zh": "宽："},
    "size_valid": {
        "en": "out = floor(({n} + 2×{p} − {k}) / {s}) + 1 = {out}",
        "zh": "输出尺寸 = 向下取整(({n} + 2×{p} − {k}) / {s}) + 1 = {out}",
    },
    "size_same": {
        "en": "out = ceil({n} / {s}) = {out}",
        "zh": "输出尺寸 = 向上取整({n} / {s}) = {out}",
    },
    "size_same_pad": {
        "en": "total padding = max(({out} − 1) × {s} + {k} − {n}, 0) = {total}",
        "zh": "填充总量 = max(({out} − 1) × {s} + {k} − {n}, 0) = {total}",
    },
    "size_same_split": {
        "en": "→ {before} zero(s) before (top/left), {after} after (bottom/right)",
        "zh": "→ 前面（上/左）补 {before} 个 0，后面（下/右）补 {after} 个 0",
    },
    "size_result": {
        "en": "→ the feature map is {h}×{w}: the filter visits {steps} positions.",
        "zh": "→ 特征图的大小是 {h}×{w}：过滤器一共要移动到 {steps} 个位置。",
    },
    "conv_padding_done": {
        "en": "Zeros added around the image: {top} row(s) on top, {bottom} at the bottom, "
        "{left} column(s) on the left, {right} on the right.",
        "zh": "在图像四周补 0：上方 {top} 行，下方 {bottom} 行，左边 {left} 列，右边 {right} 列。",
    },
    "conv_step_heading": {
        "en": "Step {step} of {total}: window on rows {rows}, columns {cols} → feature map cell ({row}, {col})",
        "zh": "第 {step} 步（共 {total} 步）：窗口覆盖第 {rows} 行、第 {cols} 列 → 特征图单元格 ({row}, {col})",
    },
    "conv_sum": {
        "en": "sum of the products: {expr} = {total}",
        "zh": "乘积之和：{expr} = {total}",
    },
    "conv_move_right_1": {
        "en": "Next: the filter moves 1 column to the right (stride {s}).",
        "zh": "下一步：过滤器向右移动 1 列（步长为 {s}）。",
    },
    "conv_move_right_n": {
        "en": "Next: the filter moves {s} columns to the right (stride {s}).",
        "zh": "下一步：过滤器向右移动 {s} 列（步长为 {s}）。",
    },
    "conv_move_down_1": {
        "en": "End of the row: the filter goes back to the left edge and moves 1 row down (stride {s}).",
        "zh": "这一行走完了：过滤器回到最左边，并向下移动 1 行（步长为 {s}）。",
    },
    "conv_move_down_n": {
        "en": "End of the row: the filter goes back to the left edge and moves {s} rows down (stride {s}).",
        "zh": "这一行走完了：过滤器回到最左边，并向下移动 {s} 行（步长为 {s}）。",
    },
    "conv_move_last": {
        "en": "That was the last position: the feature map is complete.",
        "zh": "这是最后一个位置：特征图已经全部算完。",
    },
    "conv_other_steps": {"en": "The other steps, computed the same way:", "zh": "其余各步用同样的方法计算："},
    "conv_step_line": {
        "en": "step {step}: rows {rows}, columns {cols} → ({row}, {col}): {expr} = {total}",
        "zh": "第 {step} 步：第 {rows} 行、第 {cols} 列 → ({row}, {col})：{expr} = {total}",
    },
    "conv_result": {"en": "feature map ({shape}):", "zh": "特征图（{shape}）："},
    "conv_sizes": {
        "en": "Image {ishape} → feature map {oshape}.",
        "zh": "输入图像 {ishape} → 特征图 {oshape}。",
    },
    "compare_heading": {
        "en": "How stride and padding change the size (this {h}×{w} image, {kh}×{kw} filter):",
        "zh": "步长和填充如何改变特征图的大小（本例：{h}×{w} 的图像，{kh}×{kw} 的过滤器）：",
    },
    "compare_row": {
        "en": "stride {s}, padding {padding} → {shape}   ({how})",
        "zh": "步长 {s}，填充 {padding} → {shape}   （{how}）",
    },
    "compare_row_too_big": {
        "en": "stride {s}, padding {padding} → not possible: the filter is larger than the image",
        "zh": "步长 {s}，填充 {padding} → 不可行：过滤器比图像还大",
    },
    "compare_how_valid": {
        "en": "floor(({n} − {k}) / {s}) + 1 = {out}",
        "zh": "向下取整(({n} − {k}) / {s}) + 1 = {out}",
    },
    "compare_how_same": {
        "en": "ceil({n} / {s}) = {out}; {total} zero(s) of padding: {before} before, {after} after",
        "zh": "向上取整({n} / {s}) = {out}；共补 {total} 个 0：前面 {before} 个，后面 {after} 个",
    },
    "compare_how_height": {"en": "height: {how}", "zh": "高：{how}"},
    "compare_summary": {
        "en": "A larger stride makes the feature map smaller. `'same'` padding adds zeros around the image so "
        "that the output size is ceil(n / s): with stride 1 the feature map keeps the size of the image.",
        "zh": "步长越大，特征图越小。`'same'` 填充会在图像四周补 0，使输出尺寸等于 向上取整(n / s)："
        "步长为 1 时，特征图与输入图像一样大。",
    },
    # ---------------------------------------------------------------- activation
    "relu_title": {"en": "Activation function: ReLU", "zh": "激活函数：ReLU"},
    "relu_intro": {
        "en": "Once we have the feature map, an activation function is applied to it to introduce non-linearity. "
        "ReLU(x) = max(0, x): every negative value becomes 0; zero and positive values stay as they are.",
        "zh": "得到特征图之后，要对它应用激活函数来引入非线性。ReLU(x) = max(0, x)：负值变为 0，零和正值保持不变。",
    },
    "label_activated": {"en": "after ReLU", "zh": "经过 ReLU 之后"},
    "relu_change": {
        "en": "({row}, {col}): {value} is negative → max(0, {value}) = 0",
        "zh": "({row}, {col})：{value} 是负数 → max(0, {value}) = 0",
    },
    "relu_count": {
        "en": "{count} of the {total} values were negative and became 0; the others are unchanged.",
        "zh": "{total} 个值中有 {count} 个是负数，变成了 0；其余的值不变。",
    },
    "relu_none": {
        "en": "No value is negative, so ReLU changes nothing here.",
        "zh": "没有负值，所以 ReLU 在这里不改变任何值。",
    },
    # ---------------------------------------------------------------- pooling
    "pool_title": {
        "en": "Pooling layer: {mode} {size}, stride {stride}",
        "zh": "池化层：{mode} {size}，步长为 {stride}",
    },
    "pool_max_name": {"en": "max pooling", "zh": "最大池化"},
    "pool_avg_name": {"en": "average pooling", "zh": "平均池化"},
    "pool_intro": {
        "en": "The pooling layer is applied after the convolution layer. It reduces the size of the feature map "
        "while keeping the important information of the input image, and it reduces the computation time.",
        "zh": "池化层应用在卷积层之后，用于降低特征图的维度，同时保留输入图像的重要信息，并减少计算时间。",
    },
    "pool_intro_max": {
        "en": "Max pooling takes the largest value of each highlighted window.",
        "zh": "最大池化取每个突出显示的窗口中的最大值。",
    },
    "pool_intro_avg": {
        "en": "Average pooling takes the mean of each highlighted window.",
        "zh": "平均池化取每个突出显示的窗口中所有值的平均值。",
    },
    "pool_size_formula": {
        "en": "out = floor((n − pool size) / stride) + 1",
        "zh": "输出尺寸 = 向下取整((n − 池化窗口大小) / 步长) + 1",
    },
    "pool_size_numbers": {
        "en": "floor(({n} − {k}) / {s}) + 1 = {out}",
        "zh": "向下取整(({n} − {k}) / {s}) + 1 = {out}",
    },
    "pool_size_result": {"en": "→ {ishape} becomes {oshape}", "zh": "→ {ishape} 变为 {oshape}"},
    "pool_unused": {
        "en": "{rows} row(s) at the bottom and {cols} column(s) on the right are covered by no window and "
        "are left out (as in Keras with `padding='valid'`).",
        "zh": "最下面 {rows} 行和最右边 {cols} 列没有被任何窗口覆盖，会被舍去（与 Keras 的 `padding='valid'` 相同）。",
    },
    "pool_calc_max": {"en": "max({values}) = {value}", "zh": "max({values}) = {value}"},
    "pool_calc_avg": {"en": "({values}) / {count} = {value}", "zh": "({values}) / {count} = {value}"},
    "pool_step": {
        "en": "Window {step} of {total}: rows {rows}, columns {cols}: {calc} → cell ({row}, {col})",
        "zh": "第 {step} 个窗口（共 {total} 个）：第 {rows} 行、第 {cols} 列：{calc} → 单元格 ({row}, {col})",
    },
    "label_pooled": {"en": "pooled map", "zh": "池化结果"},
    "pool_result": {"en": "pooled feature map ({shape}):", "zh": "池化后的特征图（{shape}）："},
    # ---------------------------------------------------------------- flatten, dense, softmax
    "flatten_title": {"en": "Flatten", "zh": "展平"},
    "flatten_intro": {
        "en": "Feature extraction is done; now comes classification. A fully connected layer takes a vector, "
        "so the pooled map is flattened first: its rows are laid one after another.",
        "zh": "特征提取到此完成，接下来是分类部分。全连接层的输入是一个向量，所以先把池化后的特征图展平："
        "把各行依次首尾相接，排成一行。",
    },
    "label_matrix": {"en": "matrix ({shape})", "zh": "矩阵（{shape}）"},
    "label_vector": {"en": "vector ({n} values)", "zh": "向量（{n} 个值）"},
    "flatten_rule": {
        "en": "Position i of the vector holds cell (i // {w}, i % {w}) of the matrix.",
        "zh": "向量的第 i 个位置存放矩阵的单元格 (i // {w}, i % {w})。",
    },
    "flatten_map": {
        "en": "x[{i}] = cell ({row}, {col}) = {value}",
        "zh": "x[{i}] = 单元格 ({row}, {col}) = {value}",
    },
    "dense_title": {"en": "Fully connected layer", "zh": "全连接层"},
    "dense_intro": {
        "en": "The fully connected layer connects the extracted features to the output layer: each output unit "
        "multiplies every input by its own weight, adds the products up and adds a bias.",
        "zh": "全连接层把前面提取到的特征连接到输出层：每个输出单元把每个输入乘以各自的权重，把乘积相加，再加上偏置。",
    },
    "dense_formula": {
        "en": "z_j = x_0 × w_0j + x_1 × w_1j + … + b_j   (weights × inputs + bias)",
        "zh": "z_j = x_0 × w_0j + x_1 × w_1j + … + b_j   （权重 × 输入 + 偏置）",
    },
    "dense_made_up": {
        "en": "(The weights and biases are made up for illustration, not trained: only the arithmetic matters here.)",
        "zh": "（这里的权重和偏置是为演示而设定的，没有经过训练：这里只关注计算过程。）",
    },
    "label_inputs": {"en": "inputs x", "zh": "输入 x"},
    "label_weights": {
        "en": "weights W ({n} inputs × {units} units)",
        "zh": "权重 W（{n} 个输入 × {units} 个单元）",
    },
    "label_bias": {"en": "bias b", "zh": "偏置 b"},
    "dense_unit": {
        "en": "class {name}: z = {terms} + {bias} = {value}",
        "zh": "类别 {name}：z = {terms} + {bias} = {value}",
    },
    "dense_scores": {"en": "Scores z = [{values}]", "zh": "得分 z = [{values}]"},
    "softmax_title": {"en": "Output layer: softmax", "zh": "输出层：softmax"},
    "softmax_intro": {
        "en": "softmax turns the scores into class probabilities: each is positive and together they add up to 1. "
        "Three steps: take e to the power of each score, add the results up, divide each one by the sum.",
        "zh": "softmax 把得分变成各类别的概率：每个概率都是正数，加起来等于 1。分三步：对每个得分取指数，"
        "把结果相加，再用每个指数除以总和。",
    },
    "softmax_formula": {
        "en": "p_i = e^z_i / (e^z_0 + e^z_1 + …)",
        "zh": "p_i = e^z_i / (e^z_0 + e^z_1 + …)",
    },
    "softmax_scores": {"en": "Scores: {values}", "zh": "得分：{values}"},
    "softmax_shift": {
        "en": "The scores are large, so the largest one, m = {m}, is first subtracted from each "
        "(the probabilities stay the same and exp does not overflow).",
        "zh": "得分较大，所以先从每个得分中减去最大值 m = {m}（概率不变，还能避免 exp 溢出）。",
    },
    "softmax_step_exp": {"en": "1. take e to the power of each score:", "zh": "1. 对每个得分取指数："},
    "softmax_step_sum": {"en": "2. add up: {expr} = {total}", "zh": "2. 求和：{expr} = {total}"},
    "softmax_step_divide": {"en": "3. divide each by the sum:", "zh": "3. 每个指数除以总和："},
    "softmax_check": {
        "en": "The probabilities add up to 1: {expr} = {total}",
        "zh": "概率之和为 1：{expr} = {total}",
    },
    "softmax_prediction": {
        "en": "Predicted class: {name} (probability {percent}%)",
        "zh": "预测类别：{name}（概率 {percent}%）",
    },
    # ---------------------------------------------------------------- the whole guide
    "guide_title": {
        "en": "A beginner's guide to convolutional neural networks, worked out with numbers",
        "zh": "卷积神经网络初学者指南：用具体数字一步步演示",
    },
    "guide_intro": {
        "en": "A CNN model works in two stages: feature extraction (convolution layer + activation function, "
        "pooling layer) and classification (fully connected layers). Below, one image goes through each layer "
        "of the guide's typical model, and every number is shown.",
        "zh": "CNN 模型分两步工作：特征提取（卷积层 + 激活函数、池化层）和分类（全连接层）。"
        "下面让一张图像依次通过指南中典型模型的每一层，并列出每一个数字。",
    },
    "guide_to_conv": {"en": "↓ The normalised image goes into the convolution layer.", "zh": "↓ 归一化后的图像进入卷积层。"},
    "guide_to_relu": {"en": "↓ The feature map goes through the activation function.", "zh": "↓ 特征图经过激活函数。"},
    "guide_to_pool": {"en": "↓ The activated feature map goes into the pooling layer.", "zh": "↓ 激活后的特征图进入池化层。"},
    "guide_to_flatten": {
        "en": "↓ The pooled map is flattened for the fully connected layer.",
        "zh": "↓ 池化结果被展平，送入全连接层。",
    },
    "guide_summary": {"en": "Shapes along the way: {shapes}", "zh": "各层的形状变化：{shapes}"},
    # ---------------------------------------------------------------- figures
    "fig_input_gray_title": {
        "en": "Input layer: normalising a grayscale image (pixel / 255)",
        "zh": "输入层：灰度图像的归一化（像素 / 255）",
    },
    "fig_input_rgb_title": {
        "en": "Input layer: an RGB image has 3 channels, shape {shape}",
        "zh": "输入层：RGB 图像有 3 个通道，形状为 {shape}",
    },
    "fig_picture": {"en": "picture", "zh": "图像"},
    "fig_made_up": {
        "en": "pixel values made up for illustration (the guide shows only a picture)",
        "zh": "像素值为演示而设定（指南中只有图片）",
    },
    "fig_conv_step_title": {
        "en": "Convolution layer: the filter slides with stride {stride}, padding {padding}",
        "zh": "卷积层：过滤器以步长 {stride} 滑动，填充 {padding}",
    },
    "fig_conv_overview_title": {
        "en": "Convolution: {ishape} image * {kshape} filter → {oshape} feature map",
        "zh": "卷积：{ishape} 的输入图像 * {kshape} 的过滤器 → {oshape} 的特征图",
    },
    "fig_cell_filled": {"en": "fills cell ({row}, {col})", "zh": "填入单元格 ({row}, {col})"},
    "fig_padding_note": {"en": "grey cells: zero padding", "zh": "灰色单元格：填充的 0"},
    "fig_relu_title": {
        "en": "Activation function ReLU(x) = max(0, x): negative values become 0",
        "zh": "激活函数 ReLU(x) = max(0, x)：负值变为 0",
    },
    "fig_relu_curve": {"en": "ReLU(x) = max(0, x)", "zh": "ReLU(x) = max(0, x)"},
    "fig_pool_title": {
        "en": "Pooling layer: {mode} {size}, stride {stride}",
        "zh": "池化层：{mode} {size}，步长为 {stride}",
    },
    "fig_pool_step_title": {
        "en": "{mode}, window {step} of {total}: {calc}",
        "zh": "{mode}，第 {step} 个窗口（共 {total} 个）：{calc}",
    },
    "fig_dense_title": {
        "en": "Flatten → fully connected layer: z = weights × inputs + bias",
        "zh": "展平 → 全连接层：z = 权重 × 输入 + 偏置",
    },
    "fig_softmax_title": {
        "en": "softmax: scores → probabilities (exp, add up, divide)",
        "zh": "softmax：得分 → 概率（取指数、求和、相除）",
    },
    "fig_probability": {"en": "probability", "zh": "概率"},
    "fig_exp_sum": {"en": "sum of exp = {total}", "zh": "指数之和 = {total}"},
    "fig_guide_title": {
        "en": "The guide's CNN, one image through every layer",
        "zh": "指南中的 CNN：一张图像依次通过每一层",
    },
    "fig_stage_input": {"en": "input layer\n(normalised)", "zh": "输入层\n（归一化）"},
    "fig_stage_conv": {"en": "convolution\n→ feature map", "zh": "卷积层\n→ 特征图"},
    "fig_stage_relu": {"en": "activation\nReLU", "zh": "激活函数\nReLU"},
    "fig_stage_pool": {"en": "pooling", "zh": "池化层"},
    "fig_stage_flatten": {"en": "flatten", "zh": "展平"},
    "fig_stage_dense": {"en": "fully connected\n(scores)", "zh": "全连接层\n（得分）"},
    "fig_stage_softmax": {"en": "softmax\n(probabilities)", "zh": "softmax\n（概率）"},
    "fig_made_up_weights": {
        "en": "weights made up for illustration, not trained",
        "zh": "权重为演示而设定，未经训练",
    },
    "fig_wrote": {"en": "wrote {path}", "zh": "已写入 {path}"},
    # ---------------------------------------------------------------- command line
    "cli_description": {
        "en": "Explain the guide's CNN layers step by step with real numbers: input normalisation, "
        "convolution, ReLU, pooling, flatten, dense and softmax. Uses the guide's examples by default; "
        "give your own matrices to explain those instead.",
        "zh": "用具体数字一步步解释指南中 CNN 的各层：输入归一化、卷积、ReLU、池化、展平、全连接和 softmax。"
        "默认使用指南中的例子，也可以输入你自己的矩阵。",
    },
    "cli_help": {
        "en": "explain CNN layers step by step with numbers",
        "zh": "用具体数字一步步解释 CNN 的各层",
    },
    "cli_topic": {
        "en": "what to explain: `all` (the whole pipeline, default), `input`, `conv`, `relu`, `pool`, `flatten`, `dense`, `softmax`, `backward` (the backward pass)",
        "zh": "要解释的内容：`all`（整个流程，默认）、`input`、`conv`、`relu`、`pool`、`flatten`、`dense`、`softmax`、`backward`（反向传播）",
    },
    "cli_matrix_hint": {
        "en": "a matrix as text ('1,0,1;0,1,0': ',' between values, ';' between rows) or a `.npy`/`.txt`/`.csv` file",
        "zh": "矩阵，可以写成文本（'1,0,1;0,1,0'：值之间用 ','，行之间用 ';'），也可以是 `.npy`/`.txt`/`.csv` 文件",
    },
    "cli_image": {"en": "image to convolve; {hint}", "zh": "要做卷积的输入图像；{hint}"},
    "cli_kernel": {"en": "filter (kernel); {hint}", "zh": "过滤器；{hint}"},
    "cli_pixels": {
        "en": "raw 0-255 pixels for the input layer (use 'R|G|B' for three channels); {hint}",
        "zh": "输入层的原始像素 0-255（三个通道写成 'R|G|B'）；{hint}",
    },
    "cli_values": {
        "en": "input of the `relu`, `pool` or `flatten` topic (default: the previous stage of the guide's example); {hint}",
        "zh": "`relu`、`pool`、`flatten` 的输入（默认：指南示例中上一步的结果）；{hint}",
    },
    "cli_inputs": {"en": "input vector of the dense topic, such as '1,1,2,0'", "zh": "全连接层的输入向量，例如 '1,1,2,0'"},
    "cli_weights": {
        "en": "dense weights, one row per input and one column per unit; {hint}",
        "zh": "全连接层的权重，每个输入一行、每个单元一列；{hint}",
    },
    "cli_bias": {"en": "dense bias, one value per unit, such as '0.1,0,-0.2'", "zh": "全连接层的偏置，每个单元一个值，例如 '0.1,0,-0.2'"},
    "cli_scores": {"en": "scores for the softmax topic, such as '2.0,1.0,0.1'", "zh": "softmax 的得分，例如 '2.0,1.0,0.1'"},
    "cli_classes": {"en": "class names separated by commas, such as 'cat,dog,bird'", "zh": "类别名称，用逗号分隔，例如 '猫,狗,鸟'"},
    "cli_stride": {"en": "stride of the filter: 1 (default), 2, or 'rows,columns'", "zh": "过滤器的步长：1（默认）、2，或 '行,列'"},
    "cli_padding": {
        "en": "padding: `valid` (default, none), `same` (Keras rule) or a number of zeros on each side",
        "zh": "填充：`valid`（默认，不填充）、`same`（Keras 的规则），或每边补 0 的个数",
    },
    "cli_pool": {"en": "pooling type: `max` (default) or `avg`", "zh": "池化类型：`max`（最大池化，默认）或 `avg`（平均池化）"},
    "cli_pool_size": {"en": "pooling window size (default 2)", "zh": "池化窗口大小（默认 2）"},
    "cli_pool_stride": {"en": "pooling stride (default: the pool size)", "zh": "池化的步长（默认等于池化窗口大小）"},
    "cli_steps": {
        "en": "how many convolution steps to draw in full (default 2; `all` for every step)",
        "zh": "完整画出多少个卷积步骤（默认 2；`all` 表示全部）",
    },
    "cli_lang": {"en": "language: `en` or `zh` (default: from the locale)", "zh": "语言：`en` 或 `zh`（默认根据系统区域设置）"},
    "cli_color": {
        "en": "colour highlighting: `auto` (default: on a terminal without `NO_COLOR`), `always`, `never`",
        "zh": "彩色高亮：`auto`（默认：在终端中且未设置 `NO_COLOR` 时）、`always`、`never`",
    },
    "cli_figures": {
        "en": "also write PNG figures and animated GIFs into this folder (needs `pip install \"convlearn[plot]\"`)",
        "zh": "同时把 PNG 图和 GIF 动画写入这个文件夹（需要 `pip install \"convlearn[plot]\"`）",
    },
    "cli_seed": {"en": "seed of the made-up dense weights (default 0)", "zh": "设定全连接层演示权重的随机种子（默认 0）"},
    "cli_dpi": {"en": "pixels per inch of the figures (default 100)", "zh": "图像分辨率，每英寸像素数（默认 100）"},
    "cli_error": {"en": "error: {message}", "zh": "错误：{message}"},
    # ---------------------------------------------------------------- errors
    "err_lang": {
        "en": "unknown language '{value}'; use `'en'` (English) or `'zh'` (简体中文).",
        "zh": "未知的语言 '{value}'；请使用 `'en'`（英文）或 `'zh'`（简体中文）。",
    },
    "err_empty_matrix": {
        "en": "{name} is empty; type numbers such as '1,0,1;0,1,0' (',' between values, ';' between rows).",
        "zh": "`{name}` 是空的；请输入数字，例如 '1,0,1;0,1,0'（值之间用 ','，行之间用 ';'）。",
    },
    "err_empty_value": {
        "en": "{name}: row {row}, column {col} is empty (two commas in a row?); write one number between commas.",
        "zh": "`{name}`：第 {row} 行第 {col} 列是空的（是否连写了两个逗号？）；逗号之间要写一个数字。",
    },
    "err_not_number": {
        "en": "{name}: row {row}, column {col} is '{token}', which is not a number; use numbers such as 1, -0.5 or 2e-3.",
        "zh": "`{name}`：第 {row} 行第 {col} 列是 '{token}'，不是数字；请使用 1、-0.5 或 2e-3 这样的数字。",
    },
    "err_not_finite": {
        "en": "{name}: row {row}, column {col} is '{token}', which is not a finite number; use ordinary numbers.",
        "zh": "`{name}`：第 {row} 行第 {col} 列是 '{token}'，不是有限的数；请使用普通的数字。",
    },
    "err_empty_row": {
        "en": "{name}: row {row} has no values; remove the extra ';' or fill the row.",
        "zh": "`{name}`：第 {row} 行没有值；请删除多余的 ';' 或补全这一行。",
    },
    "err_ragged": {
        "en": "{name}: every row needs the same number of values, but row 0 has {first} and row {row} has {got}; "
        "check the ',' and ';' separators.",
        "zh": "`{name}`：每一行的值个数必须相同，但第 0 行有 {first} 个，第 {row} 行有 {got} 个；请检查 ',' 和 ';'。",
    },
    "err_channel_shape": {
        "en": "{name}: every channel (separated by '|') needs the same shape, but channel 0 is {first} "
        "and channel {channel} is {got}.",
        "zh": "`{name}`：每个通道（用 '|' 分隔）的形状必须相同，但通道 0 是 {first}，通道 {channel} 是 {got}。",
    },
    "err_not_numeric_array": {
        "en": "{name} must contain numbers only; some values cannot be turned into numbers.",
        "zh": "`{name}` 只能包含数字；有些值无法转换成数字。",
    },
    "err_array_not_finite": {
        "en": "{name} contains nan or inf; use finite numbers only.",
        "zh": "`{name}` 含有 `nan` 或 `inf`；请只使用有限的数。",
    },
    "err_no_file": {
        "en": "{name}: the file '{path}' does not exist; give an existing `.npy`, `.txt` or `.csv` file, "
        "or type the matrix as '1,0;0,1'.",
        "zh": "`{name}`：文件 '{path}' 不存在；请给出已有的 `.npy`、`.txt` 或 `.csv` 文件，或直接写成 '1,0;0,1'。",
    },
    "err_npy_pickle": {
        "en": "{name}: '{path}' holds Python objects, which are not loaded (allow_pickle=False, for safety); "
        "save a plain numeric array with np.save.",
        "zh": "`{name}`：'{path}' 中保存的是 Python 对象，出于安全考虑不会加载（`allow_pickle=False`）；"
        "请用 `np.save` 保存普通的数值数组。",
    },
    "err_bad_file": {
        "en": "{name}: cannot read '{path}': {reason}",
        "zh": "`{name}`：无法读取 '{path}'：{reason}",
    },
    "err_not_npy": {
        "en": "{name}: '{path}' is not a NumPy `.npy` file; write one with `np.save`, or use a `.txt`/`.csv` file.",
        "zh": "`{name}`：'{path}' 不是 NumPy 的 `.npy` 文件；请用 `np.save` 保存，或改用 `.txt`/`.csv` 文件。",
    },
    "err_not_utf8": {
        "en": "{name}: '{path}' is not UTF-8 text; save it as UTF-8 (plain numbers are always fine).",
        "zh": "`{name}`：'{path}' 不是 UTF-8 编码的文本；请保存为 UTF-8 编码。",
    },
    "err_npy_dtype": {
        "en": "{name}: '{path}' holds values of type {dtype}; a numeric array is needed.",
        "zh": "`{name}`：'{path}' 中的值类型是 {dtype}；需要数值数组。",
    },
    "err_file_type": {
        "en": "{name}: '{path}' is not a `.npy`, `.txt` or `.csv` file; use one of these, or type the matrix as '1,0;0,1'.",
        "zh": "`{name}`：'{path}' 不是 `.npy`、`.txt` 或 `.csv` 文件；请使用这几种文件，或直接写成 '1,0;0,1'。",
    },
    "err_ndim": {
        "en": "{name} must be a {ndim}-D matrix; got shape {shape}. For a colour image, pick one channel, e.g. x[:, :, 0].",
        "zh": "`{name}` 必须是 {ndim} 维矩阵；收到的形状是 {shape}。彩色图像请先取一个通道，例如 `x[:, :, 0]`。",
    },
    "err_vector": {
        "en": "{name} must be a vector (one row of numbers, such as '2.0,1.0,0.1'); got shape {shape}. Flatten it first.",
        "zh": "`{name}` 必须是向量（一行数字，例如 '2.0,1.0,0.1'）；收到的形状是 {shape}。请先展平。",
    },
    "err_int_pair": {
        "en": "{name} must be a whole number or two whole numbers 'rows,columns' (such as 2 or '2,1'); got '{value}'.",
        "zh": "`{name}` 必须是一个整数，或两个整数 '行,列'（例如 2 或 '2,1'）；收到的是 '{value}'。",
    },
    "err_too_small": {
        "en": "{name} must be at least {minimum}; got '{value}' (a stride or window of 0 would never move or cover anything).",
        "zh": "`{name}` 至少为 {minimum}；收到的是 '{value}'（步长或窗口为 0 就无法移动或覆盖任何值）。",
    },
    "err_padding": {
        "en": "padding must be `'valid'`, `'same'` or a whole number of zeros (0 or more); got '{value}'.",
        "zh": "填充必须是 `'valid'`、`'same'` 或补 0 的个数（0 或更大的整数）；收到的是 '{value}'。",
    },
    "err_kernel_too_big_axis": {
        "en": "the window ({k}) is larger than the padded input ({n} + 2×{p} = {padded}); "
        "use a smaller window or more padding.",
        "zh": "窗口（{k}）比填充后的输入（{n} + 2×{p} = {padded}）还大；请使用更小的窗口或更多的填充。",
    },
    "err_kernel_too_big": {
        "en": "the {kh}×{kw} filter does not fit in the {h}×{w} image; use a smaller filter, a larger image, "
        "padding `'same'` or some zero padding.",
        "zh": "{kh}×{kw} 的过滤器放不进 {h}×{w} 的图像；请使用更小的过滤器、更大的图像、`'same'` 填充或补一些 0。",
    },
    "err_kernel_too_big_padded": {
        "en": "the {kh}×{kw} filter does not fit in the {h}×{w} image, even with {p} zero(s) of padding on each side "
        "({ph}×{pw}); use a smaller filter, a larger image, padding `'same'` or more padding.",
        "zh": "{kh}×{kw} 的过滤器放不进 {h}×{w} 的图像，每边补 {p} 个 0 之后（{ph}×{pw}）也放不进；"
        "请使用更小的过滤器、更大的图像、`'same'` 填充或更多的填充。",
    },
    "err_pixels_ndim": {
        "en": "pixels must be a grayscale (H, W) or RGB (H, W, 3) image; got shape {shape}.",
        "zh": "像素必须是灰度图像 (H, W) 或 RGB 图像 (H, W, 3)；收到的形状是 {shape}。",
    },
    "err_pixels_channels": {
        "en": "pixels has {channels} channels (shape {shape}); use 1 (grayscale) or 3 (RGB).",
        "zh": "像素有 {channels} 个通道（形状 {shape}）；请使用 1 个（灰度）或 3 个（RGB）。",
    },
    "err_pixels_range": {
        "en": "raw pixels must lie between 0 and 255; got values from {low} to {high}. "
        "Give the raw 0-255 values: dividing by 255 is what this step shows.",
        "zh": "原始像素必须在 0 到 255 之间；收到的值从 {low} 到 {high}。请给出原始的 0-255 值：除以 255 正是这一步要演示的。",
    },
    "err_pool_mode": {
        "en": "pool must be `'max'` or `'avg'`; got '{value}'.",
        "zh": "池化类型必须是 `'max'`（最大池化）或 `'avg'`（平均池化）；收到的是 '{value}'。",
    },
    "err_pool_too_big": {
        "en": "the {ph}×{pw} pooling window does not fit in the {h}×{w} feature map; use a smaller pool size.",
        "zh": "{ph}×{pw} 的池化窗口放不进 {h}×{w} 的特征图；请使用更小的池化窗口。",
    },
    "err_dense_weights": {
        "en": "weights need one row per input ({n} rows) and one column per unit; got shape {shape}.",
        "zh": "权重需要每个输入一行（共 {n} 行）、每个单元一列；收到的形状是 {shape}。",
    },
    "err_dense_bias": {
        "en": "bias needs one value per unit ({units}); got {got}.",
        "zh": "偏置需要每个单元一个值（共 {units} 个）；收到 {got} 个。",
    },
    "err_names": {
        "en": "{units} class names are needed, one per unit; got {got}.",
        "zh": "需要 {units} 个类别名称，每个单元一个；收到 {got} 个。",
    },
    "err_guide_gray": {
        "en": "the whole-guide walk-through convolves a grayscale image; give grayscale pixels (H, W), "
        "or an image to convolve.",
        "zh": "完整流程的演示对灰度图像做卷积；请给出灰度像素 (H, W)，或给出要做卷积的图像。",
    },
    "err_steps": {
        "en": "--steps must be a whole number (0 or more) or `'all'`; got '{value}'.",
        "zh": "`--steps` 必须是整数（0 或更大）或 `'all'`；收到的是 '{value}'。",
    },
    "err_figures_dir": {
        "en": "cannot write figures into '{path}': {reason}",
        "zh": "无法把图写入 '{path}'：{reason}",
    },
    # ---------------------------------------------------------------- model.summary(explain=True)
    "sum_axis_both": {"en": "height and width", "zh": "高和宽"},
    "sum_axis_height": {"en": "height", "zh": "高"},
    "sum_axis_width": {"en": "width", "zh": "宽"},
    "sum_size_valid": {
        "en": "out = floor(({n} + 2*0 - {k}) / {s}) + 1 = {out} ({axis})",
        "zh": "输出尺寸 = 向下取整(({n} + 2*0 - {k}) / {s}) + 1 = {out}（{axis}）",
    },
    "sum_size_same": {
        "en": "out = ceil({n} / {s}) = {out} ({axis})",
        "zh": "输出尺寸 = 向上取整({n} / {s}) = {out}（{axis}）",
    },
    "sum_same_pad": {
        "en": "total padding = max(({out} - 1)*{s} + {k} - {n}, 0) = {total}: {before} zero(s) before, "
        "{after} after ({axis})",
        "zh": "填充总量 = max(({out} - 1)*{s} + {k} - {n}, 0) = {total}：前面补 {before} 个零，后面补 {after} 个零（{axis}）",
    },
    "sum_size_unknown": {
        "en": "{axis}: the input size is not fixed (`None`), so the output size is not fixed either",
        "zh": "{axis}：输入尺寸不固定（`None`），所以输出尺寸也不固定",
    },
    "sum_pad_valid_note": {"en": "no zeros added: p = 0", "zh": "不补零：p = 0"},
    "sum_pad_same_note": {
        "en": "zeros added around the input so that out = ceil(n / s)",
        "zh": "在输入四周补零，使输出尺寸 = 向上取整(n / s)",
    },
    "sum_conv_head": {
        "en": "{filters} filters of {kh}x{kw}, stride {stride}, padding '{padding}' ({note})",
        "zh": "{filters} 个 {kh}x{kw} 的过滤器，步长 {stride}，填充 '{padding}'（{note}）",
    },
    "sum_conv_head_one": {
        "en": "{filters} filter of {kh}x{kw}, stride {stride}, padding '{padding}' ({note})",
        "zh": "{filters} 个 {kh}x{kw} 的过滤器，步长 {stride}，填充 '{padding}'（{note}）",
    },
    "sum_conv_maps": {
        "en": "{filters} filters -> {filters} feature maps: output {shape}",
        "zh": "{filters} 个过滤器 -> {filters} 个特征图：输出形状 {shape}",
    },
    "sum_conv_maps_one": {
        "en": "{filters} filter -> {filters} feature map: output {shape}",
        "zh": "{filters} 个过滤器 -> {filters} 个特征图：输出形状 {shape}",
    },
    "sum_conv_params": {
        "en": "params = ({per} + 1) * {filters} = {total} (each filter: {per} weights, one per window cell "
        "and input channel, and 1 bias)",
        "zh": "参数个数 = ({per} + 1) * {filters} = {total}（每个过滤器有 {per} 个权重，窗口的每个格子、"
        "每个输入通道各一个，另加 1 个偏置）",
    },
    "sum_conv_params_nobias": {
        "en": "params = {per} * {filters} = {total} (each filter: {per} weights, one per window cell and input "
        "channel; no bias because `use_bias=False`)",
        "zh": "参数个数 = {per} * {filters} = {total}（每个过滤器有 {per} 个权重，窗口的每个格子、"
        "每个输入通道各一个；`use_bias=False`，所以没有偏置）",
    },
    "sum_act": {
        "en": "activation '{name}' is applied to every value: the shape does not change",
        "zh": "激活函数 '{name}' 作用于每一个值：形状不变",
    },
    "sum_act_softmax": {
        "en": "activation 'softmax' turns the {units} scores of each sample into probabilities that add up to 1",
        "zh": "激活函数 'softmax' 把每个样本的 {units} 个得分变成概率，它们的和为 1",
    },
    "sum_pool_head_max": {
        "en": "max pooling, window {ph}x{pw}, stride {stride}, padding '{padding}': each window keeps its largest value",
        "zh": "最大池化，窗口 {ph}x{pw}，步长 {stride}，填充 '{padding}'：每个窗口保留其中的最大值",
    },
    "sum_pool_head_avg": {
        "en": "average pooling, window {ph}x{pw}, stride {stride}, padding '{padding}': each window becomes "
        "the mean of its values",
        "zh": "平均池化，窗口 {ph}x{pw}，步长 {stride}，填充 '{padding}'：每个窗口取其中各值的平均值",
    },
    "sum_pool_channels": {
        "en": "the {channels} channels stay as they are: output {shape}",
        "zh": "{channels} 个通道保持不变：输出形状 {shape}",
    },
    "sum_pool_params": {
        "en": "params = 0: a pooling layer has nothing to learn",
        "zh": "参数个数 = 0：池化层没有需要学习的参数",
    },
    "sum_flatten": {
        "en": "each sample becomes one row of {product} = {total} values: output {shape}",
        "zh": "每个样本被展平成一行，共 {product} = {total} 个值：输出形状 {shape}",
    },
    "sum_flatten_flat": {
        "en": "the input is already one row per sample: output {shape}",
        "zh": "输入已经是每个样本一行：输出形状 {shape}",
    },
    "sum_flatten_unknown": {
        "en": "each sample becomes one row, whose length is not fixed because the input size is not: output {shape}",
        "zh": "每个样本被展平成一行；输入尺寸不固定，所以这一行的长度也不固定：输出形状 {shape}",
    },
    "sum_no_params_rearrange": {
        "en": "params = 0: the values are only rearranged",
        "zh": "参数个数 = 0：只是重新排列这些值",
    },
    "sum_dense_units": {
        "en": "{units} units, each connected to all {inputs} inputs: output {shape}",
        "zh": "{units} 个单元，每个单元都与全部 {inputs} 个输入相连：输出形状 {shape}",
    },
    "sum_dense_units_one": {
        "en": "{units} unit, connected to all {inputs} inputs: output {shape}",
        "zh": "{units} 个单元，与全部 {inputs} 个输入相连：输出形状 {shape}",
    },
    "sum_dense_units_last_axis": {
        "en": "{units} units, each connected to all {inputs} values of the last axis (computed at every position "
        "of the other axes): output {shape}",
        "zh": "{units} 个单元，每个单元都与最后一个轴上的全部 {inputs} 个值相连（在其他轴的每个位置上分别计算）："
        "输出形状 {shape}",
    },
    "sum_dense_units_last_axis_one": {
        "en": "{units} unit, connected to all {inputs} values of the last axis (computed at every position "
        "of the other axes): output {shape}",
        "zh": "{units} 个单元，与最后一个轴上的全部 {inputs} 个值相连（在其他轴的每个位置上分别计算）："
        "输出形状 {shape}",
    },
    "sum_dense_params": {
        "en": "params = {inputs}*{units} + {units} = {total} (a weight for every input of every unit, "
        "and one bias per unit)",
        "zh": "参数个数 = {inputs}*{units} + {units} = {total}（每个单元对每个输入各有一个权重，另有每个单元一个偏置）",
    },
    "sum_dense_params_nobias": {
        "en": "params = {inputs}*{units} = {total} (a weight for every input of every unit; no bias because "
        "`use_bias=False`)",
        "zh": "参数个数 = {inputs}*{units} = {total}（每个单元对每个输入各有一个权重；`use_bias=False`，所以没有偏置）",
    },
    "sum_dropout": {
        "en": "while training, a random {percent}% of the values are set to 0 and the others are multiplied by "
        "1/(1 - {rate}) = {scale}; when predicting, nothing changes",
        "zh": "训练时，随机把 {percent}% 的值设为 0，其余的值乘以 1/(1 - {rate}) = {scale}；预测时什么也不改变",
    },
    "sum_dropout_zero": {"en": "rate 0: the layer never changes anything", "zh": "比例为 0：这一层什么也不改变"},
    "sum_same_shape": {
        "en": "the shape does not change: output {shape}; params = 0",
        "zh": "形状不变：输出形状 {shape}；参数个数 = 0",
    },
    "sum_softmax_layer": {
        "en": "softmax turns the {units} scores of each sample into probabilities that add up to 1",
        "zh": "softmax 把每个样本的 {units} 个得分变成概率，它们的和为 1",
    },
    "sum_relu_layer": {
        "en": "ReLU: max(0, x) for every value (negative values become 0)",
        "zh": "ReLU：对每个值计算 max(0, x)（负值变为 0）",
    },
    "sum_relu_options": {
        "en": "ReLU with `max_value={max_value}`, `negative_slope={slope}`, `threshold={threshold}`, "
        "applied to every value",
        "zh": "ReLU（`max_value={max_value}`，`negative_slope={slope}`，`threshold={threshold}`）作用于每一个值",
    },
    "sum_leaky_layer": {
        "en": "`LeakyReLU`: x where x >= 0, {slope}*x where x < 0, for every value",
        "zh": "`LeakyReLU`：x >= 0 时为 x，x < 0 时为 {slope}*x，作用于每一个值",
    },
    "sum_rescaling": {
        "en": "every value is multiplied by {scale}, then {offset} is added",
        "zh": "每个值乘以 {scale}，再加上 {offset}",
    },
    "sum_reshape": {
        "en": "the {size} values of each sample are rearranged as {product} = {size}: output {shape}",
        "zh": "每个样本的 {size} 个值被重新排列成 {product} = {size}：输出形状 {shape}",
    },
    "sum_reshape_minus_one": {
        "en": "the -1 is worked out: {size} / {known} = {value}",
        "zh": "-1 由计算得出：{size} / {known} = {value}",
    },
    "sum_reshape_unknown": {
        "en": "each sample is rearranged: output {shape}",
        "zh": "每个样本被重新排列：输出形状 {shape}",
    },
    "sum_input": {
        "en": "one sample has shape {sample}; in {shape} the `None` is the batch size: any number of samples",
        "zh": "一个样本的形状是 {sample}；在 {shape} 中，`None` 表示批量大小：可以是任意数量的样本",
    },
    "sum_nested": {
        "en": "a model used as a layer: its {count} layers turn {input} into {shape}",
        "zh": "作为一层使用的模型：它的 {count} 层把 {input} 变成 {shape}",
    },
    "sum_nested_params": {
        "en": "params = {sum} (the sum over its layers)",
        "zh": "参数个数 = {sum}（它各层参数个数之和）",
    },
    "sum_custom": {
        "en": "your own layer `{kind}`: its `compute_output_shape()` gives the output {shape}",
        "zh": "自定义层 `{kind}`：它的 `compute_output_shape()` 给出输出形状 {shape}",
    },
    "sum_custom_params": {
        "en": "params = {calc} (weight arrays: {arrays})",
        "zh": "参数个数 = {calc}（权重数组：{arrays}）",
    },
    "sum_custom_no_params": {"en": "params = 0: it has no weights", "zh": "参数个数 = 0：它没有权重"},
    "sum_unbuilt": {
        "en": "not built yet: shapes and parameters are known once the model knows its input shape (give the "
        "first layer `input_shape=(28, 28, 1)`, or call `build()` or `fit()`)",
        "zh": "尚未构建：模型知道输入形状之后才能算出形状和参数个数（给第一层加上 `input_shape=(28, 28, 1)`，"
        "或者调用 `build()` 或 `fit()`）",
    },
    "sum_frozen": {
        "en": "frozen (`trainable=False`): training does not change these weights",
        "zh": "已冻结（`trainable=False`）：训练不会改变这些权重",
    },
    # ---------------------------------------------------------------- model.check_gradients()
    "gc_title": {
        "en": "Gradient check of model '{model}': each layer's backward() against centred differences "
        "(epsilon = {epsilon}), on a float64 copy, batch of {batch}, loss {loss}",
        "zh": "模型 '{model}' 的梯度检验：把每一层 `backward()` 算出的梯度与中心差分得到的数值梯度相比较"
        "（ε = {epsilon}，在 `float64` 副本上计算，批量为 {batch} 个样本，损失函数 {loss}）",
    },
    "gc_legend": {
        "en": "relative error = max|analytic - numerical| / max|gradient| over the entries checked; "
        "OK when at most {tolerance}",
        "zh": "相对误差 = max|解析梯度 - 数值梯度| / max|梯度|（在检查的元素上计算）；不超过 {tolerance} 即为通过",
    },
    "gc_default_loss": {
        "en": "sum(output * R) with a fixed random array R (the model is not compiled)",
        "zh": "Σ(输出 * R)，R 是一个固定的随机数组（模型还没有编译）",
    },
    "gc_col_layer": {"en": "layer", "zh": "层"},
    "gc_col_weight": {"en": "weight", "zh": "权重"},
    "gc_col_shape": {"en": "shape", "zh": "形状"},
    "gc_col_checked": {"en": "checked", "zh": "检查的元素"},
    "gc_col_diff": {"en": "max abs diff", "zh": "最大绝对误差"},
    "gc_col_rel": {"en": "relative error", "zh": "相对误差"},
    "gc_col_result": {"en": "result", "zh": "结果"},
    "gc_input": {"en": "input", "zh": "输入"},
    "gc_input_item": {"en": "input[{index}]", "zh": "输入[{index}]"},
    "gc_input_call": {"en": "{input} (call {call})", "zh": "{input}（第 {call} 次调用）"},
    "gc_checked": {"en": "{checked} of {size}", "zh": "{size} 个中的 {checked} 个"},
    "gc_checked_kinks": {
        "en": "{checked} of {size} ({skipped} at a kink skipped)",
        "zh": "{size} 个中的 {checked} 个（跳过 {skipped} 个不可导点）",
    },
    "gc_kink_note": {
        "en": "Entries at a kink (ReLU at 0, equal values in a max-pooling window) are skipped: the loss has no "
        "derivative there, so there is nothing to compare with.",
        "zh": "位于不可导点的元素（ReLU 在 0 处、最大池化窗口里相等的值）被跳过：损失函数在那里没有导数，无从比较。",
    },
    "gc_ok": {"en": "OK", "zh": "通过"},
    "gc_unchecked": {"en": "not checked", "zh": "未检查"},
    "gc_fail": {"en": "FAIL", "zh": "失败"},
    "gc_note_dtype": {
        "en": "Note: layer '{layer}' returned '{dtype}' values; compute in the dtype of the input (x.dtype), "
        "so that the check can work in float64.",
        "zh": "注意：层 '{layer}' 返回了 '{dtype}' 类型的值；请按输入的类型（`x.dtype`）计算，这样检验才能使用 `float64`。",
    },
    "gc_nothing": {"en": "No layer was checked.", "zh": "没有检查任何层。"},
    "gc_all_ok": {
        "en": "All {count} gradients agree with the numerical ones (relative error at most {tolerance}): "
        "the backward passes are right.",
        "zh": "全部 {count} 个梯度都与数值梯度一致（相对误差不超过 {tolerance}）：反向传播是正确的。",
    },
    "gc_some_fail": {
        "en": "{failed} of {count} gradients do not agree. The failure nearest the output is in layer '{layer}' "
        "(`{type}`), {where}: check its backward(). The layers before it receive their gradient through it, "
        "so they can fail because of it alone.",
        "zh": "{count} 个梯度中有 {failed} 个不一致。离输出最近的失败出现在层 '{layer}'（`{type}`）{where}："
        "请检查它的 `backward()`。它前面的层都要经过它才得到梯度，所以它们可能只是因为它而失败。",
    },
    "gc_where_input": {"en": "in the gradient it passes back to its input", "zh": "传回给输入的梯度中"},
    "gc_where_input_of": {"en": "in the gradient it passes back to its {input}", "zh": "传回给{input}的梯度中"},
    "gc_where_weight": {"en": "in the gradient of its weight '{weight}'", "zh": "权重 '{weight}' 的梯度中"},
    # ---------------------------------------------------------------- pictures of a trained model
    "mf_history_title": {"en": "Training curves: loss and accuracy after each epoch", "zh": "训练曲线：每一轮训练后的损失和准确率"},
    "mf_history_note": {
        "en": "Lower loss and higher accuracy are better. Train with `validation_split=0.1` to also see how the "
        "model does on images it does not train on.",
        "zh": "损失越低、准确率越高越好。训练时加上 `validation_split=0.1`，还能看到模型在没有训练过的图像上的表现。",
    },
    "mf_history_note_val": {
        "en": "Solid: training data. Dashed: validation data, held out from training. If only the training "
        "curves keep improving, the model starts to overfit.",
        "zh": "实线：训练数据。虚线：验证数据（训练时没有用到）。如果只有训练数据的曲线还在变好，模型就开始过拟合了。",
    },
    "mf_overfit": {
        "en": "The validation loss is lowest after epoch {epoch} and rises afterwards, while the training loss keeps "
        "falling: the model starts to overfit (it learns the training images by heart).",
        "zh": "验证数据的损失在第 {epoch} 轮后最低，之后上升，而训练数据的损失继续下降：模型开始过拟合（把训练图像死记硬背下来）。",
    },
    "mf_loss_title": {"en": "Loss (lower is better)", "zh": "损失（越低越好）"},
    "mf_acc_title": {"en": "Accuracy (higher is better)", "zh": "准确率（越高越好）"},
    "mf_metric_title": {"en": "Metric '{name}'", "zh": "指标 '{name}'"},
    "mf_epoch": {"en": "epoch", "zh": "训练轮次"},
    "mf_train": {"en": "training data (last: {value})", "zh": "训练数据（最后：{value}）"},
    "mf_val": {"en": "validation data (last: {value})", "zh": "验证数据（最后：{value}）"},
    "mf_no_metric": {
        "en": "No accuracy was recorded:\ncompile with `metrics=['accuracy']`",
        "zh": "没有记录准确率：\n编译时加上 `metrics=['accuracy']`",
    },
    "mf_filters_title": {
        "en": "Learned filters of layer '{layer}': {filters} of {kh}x{kw}, input channels: {channels}",
        "zh": "层 '{layer}' 学到的过滤器：{filters} 个 {kh}x{kw} 的过滤器，输入通道数：{channels}",
    },
    "mf_filters_colours": {
        "en": "red: positive weight, blue: negative weight, white: 0 (one colour scale for all)",
        "zh": "红色：正权重，蓝色：负权重，白色：0（所有过滤器使用同一个色标）",
    },
    "mf_filters_mean": {
        "en": "each picture: the mean over the {channels} input channels",
        "zh": "每张图是 {channels} 个输入通道的平均值",
    },
    "mf_filters_shown": {"en": "the first {shown} of {filters} filters", "zh": "显示 {filters} 个过滤器中的前 {shown} 个"},
    "mf_filter": {"en": "filter {index}", "zh": "过滤器 {index}"},
    "mf_channel": {"en": "channel {index}", "zh": "通道 {index}"},
    "mf_weight": {"en": "weight", "zh": "权重"},
    "mf_fmaps_title": {"en": "Feature maps: one image, layer by layer", "zh": "特征图：一张图像逐层经过模型"},
    "mf_fmaps_note": {
        "en": "Each small picture is one channel (feature map) of a layer's output, on one colour scale per layer "
        "(dark: low, yellow: high); vectors are drawn as bars.",
        "zh": "每张小图是某一层输出的一个通道（特征图），同一层使用同一个色标（深色：小，黄色：大）；向量画成柱状图。",
    },
    "mf_fmaps_input": {"en": "input {shape}", "zh": "输入 {shape}"},
    "mf_fmaps_row": {"en": "{index}. {layer} ({type}) → {shape}", "zh": "{index}. {layer}（{type}）→ {shape}"},
    "mf_fmaps_channels": {"en": "channels 0–{last} of {channels}", "zh": "{channels} 个通道中的第 0–{last} 个"},
    "mf_prediction": {"en": "predicted class {label} ({percent})", "zh": "预测类别 {label}（{percent}）"},
    "mf_cm_title": {
        "en": "Confusion matrix: {right} of {total} right ({percent})",
        "zh": "混淆矩阵：{total} 个样本中 {right} 个正确（{percent}）",
    },
    "mf_cm_true": {"en": "true class", "zh": "真实类别"},
    "mf_cm_pred": {"en": "predicted class", "zh": "预测类别"},
    "mf_cm_note_counts": {
        "en": "Row: the true class. Column: the class the model predicted. Diagonal (green frames): right answers. "
        "Numbers: how many samples.",
        "zh": "行：真实类别。列：模型预测的类别。对角线（绿框）：预测正确。数字：样本个数。",
    },
    "mf_cm_note_norm": {
        "en": "Row: the true class. Column: the class the model predicted. Diagonal (green frames): right answers. "
        "Numbers: share of the row's class (each row adds up to 100%).",
        "zh": "行：真实类别。列：模型预测的类别。对角线（绿框）：预测正确。数字：占该行真实类别的比例（每一行加起来是 100%）。",
    },
    "mf_mis_title": {
        "en": "Misclassified: {wrong} of {total} images ({percent}); the first {shown} are shown",
        "zh": "分类错误：{total} 张图像中有 {wrong} 张（{percent}）；下面是前 {shown} 张",
    },
    "mf_mis_note": {
        "en": "Above each image: its true label, what the model predicted and the probability it gave; "
        "#: position in the data.",
        "zh": "每张图上方：真实标签、模型的预测以及它给出的概率；#：在数据中的位置。",
    },
    "mf_mis_none": {"en": "No misclassified images: all {total} are right.", "zh": "没有分类错误的图像：{total} 张全部正确。"},
    "mf_mis_tile": {"en": "true {true} → predicted {pred}\n({percent})", "zh": "真实 {true} → 预测 {pred}\n（{percent}）"},
    "mf_mis_tile_labels": {"en": "true {true} → predicted {pred}", "zh": "真实 {true} → 预测 {pred}"},
}

#: Family name and file of the CJK font subset shipped in ``fonts/`` (built by
#: ``tools/build_font_subset.py`` from Noto Sans CJK SC; renamed, as its licence asks).
FONT_FAMILY = "Convlearn CJK Subset"
FONT_FILES = {"Regular": "ConvlearnCJKSubset-Regular.otf", "Bold": "ConvlearnCJKSubset-Bold.otf"}
FONT_FILE = FONT_FILES["Regular"]

#: Characters the figures draw besides the catalogue's (operators, arrows, bars).
FIGURE_SYMBOLS = "⊙×−→←↑↓Σ·…–—÷≈█▶●○■□%‰“”‘’（）：；，。、"

#: Folder of the catalogue's data files: ``messages/*.json``, each ``{key: {"en": ..., "zh": ...}}``
#: (the backward walk-through's sentences, the web app's labels).
MESSAGES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "messages")


def load_messages(folder: str = MESSAGES_DIR) -> dict[str, dict[str, str]]:
    """Read every ``*.json`` message file of ``folder`` (sorted by name) into one dict.

    Raises
    ------
    ValueError
        If a file is not a JSON object of ``{key: {"en": text, "zh": text}}``, or a key is
        defined twice.
    """
    merged: dict[str, dict[str, str]] = {}
    names = sorted(n for n in os.listdir(folder) if n.endswith(".json")) if os.path.isdir(folder) else []
    for name in names:
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict):
            raise ValueError(f"{name}: a message file holds one JSON object of key -> {{lang: text}}.")
        for key, texts in data.items():
            if key in merged or key in _MESSAGES:
                raise ValueError(f"{name}: message {key!r} is defined twice.")
            if not isinstance(texts, dict) or set(texts) != set(LANGS) or not all(isinstance(t, str) for t in texts.values()):
                raise ValueError(f"{name}: message {key!r} needs a text for each of {LANGS}; got {texts!r:.80}.")
            merged[key] = texts
    return merged


_MESSAGES.update(load_messages())

#: ``CATALOGUE[lang][key]`` -> template.
CATALOGUE: dict[str, dict[str, str]] = {lang: {k: v[lang] for k, v in _MESSAGES.items()} for lang in LANGS}

_ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def _normalise(value: str) -> str | None:
    v = value.strip().lower().replace("-", "_")
    if v.startswith("zh"):
        return "zh"
    if v.startswith("en"):
        return "en"
    return None


def resolve_lang(lang: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """Pick the language of the explanations.

    Parameters
    ----------
    lang : str, optional
        ``"en"`` or ``"zh"`` (``"zh_CN"``, ``"zh-Hans"``, ``"en_GB"`` ... are accepted too).
    environ : mapping, optional
        Environment to read the locale from (default: ``os.environ``).  Without ``lang`` the
        first non-empty of ``LANGUAGE`` (its first entry), ``LC_ALL``, ``LC_MESSAGES``,
        ``LANG`` decides, in the order gettext uses: ``zh*`` gives Chinese, anything else
        (or nothing) English.

    Returns
    -------
    str
        ``"en"`` or ``"zh"``.

    Raises
    ------
    ValueError
        If ``lang`` is given and is neither English nor Chinese.
    """
    if lang is not None:
        picked = _normalise(str(lang))
        if picked is None:
            raise ValueError(tr("err_lang", "en", value=lang))
        return picked
    env = os.environ if environ is None else environ
    for var in _ENV_VARS:
        value = env.get(var, "")
        if value:
            first = value.split(":")[0]
            return "zh" if _normalise(first) == "zh" else "en"
    return "en"


def tr(key: str, lang: str | None = None, **fmt: object) -> str:
    """Translate: the catalogue's template ``key`` in ``lang``, filled with ``fmt``.

    Parameters
    ----------
    key : str
        A key of :data:`CATALOGUE`.
    lang : str, optional
        Language (see :func:`resolve_lang`); default: from the locale.
    **fmt
        Values of the template's placeholders.

    Returns
    -------
    str

    Raises
    ------
    KeyError
        If ``key`` is not in the catalogue, or a placeholder has no value.
    """
    lang = resolve_lang(lang)
    try:
        template = CATALOGUE[lang][key]
    except KeyError:
        raise KeyError(f"no message {key!r} in the explain catalogue; add it to convlearn/explain/i18n.py") from None
    return template.format(**fmt)


def placeholders(template: str) -> set[str]:
    """Names of the ``{placeholders}`` in a template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


_CODE_RE = re.compile(r"`[^`]*`|'[^'\s]*'")
_OPTION_RE = re.compile(r"--[a-z][a-z-]*")
_WORD_RE = re.compile(r"[A-Za-z]+")


def latin_words(text: str, allowed: frozenset[str] = ZH_LATIN_ALLOWED) -> list[str]:
    """English words left in a (Chinese) text.

    Code between backticks, quoted literals without spaces (``'same'``, the values a learner
    types in Keras) and command-line options (``--steps``) are skipped; single letters
    (formula variables) and the words of ``allowed`` are fine.

    Parameters
    ----------
    text : str
    allowed : frozenset of str

    Returns
    -------
    list of str
        The offending words, in order (empty when the text is clean).
    """
    text = _OPTION_RE.sub(" ", _CODE_RE.sub(" ", text))
    return [w for w in _WORD_RE.findall(text) if len(w) > 1 and w not in allowed]


def font_chars() -> str:
    """Every character the figures may need from the shipped font, sorted.

    That is: printable ASCII, :data:`FIGURE_SYMBOLS` and every character of the catalogue
    (both languages), without control characters.
    """
    chars = {chr(c) for c in range(0x20, 0x7F)}
    chars.update(FIGURE_SYMBOLS)
    for lang in LANGS:
        for text in CATALOGUE[lang].values():
            chars.update(ch for ch in text if ch.isprintable())
    return "".join(sorted(chars))
