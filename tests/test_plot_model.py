"""plot_model: a layered drawing of any model, to SVG (written directly) or PNG (matplotlib)."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers
from convlearn.plot_model import layout

SVG = "{http://www.w3.org/2000/svg}"


def branchy():
    inputs = keras.Input((8, 8, 1), name="image")
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    a = layers.Conv2D(4, 3, padding="same", name="left")(x)
    b = layers.Conv2D(4, 1, name="right")(x)
    merged = layers.Add(name="join")([a, b])
    outputs = layers.Dense(3, activation="softmax", name="head")(layers.GlobalAveragePooling2D(name="gap")(merged))
    return keras.Model(inputs, outputs)


def svg_boxes(path):
    """{layer name: (x, y, width, height, [texts])} from the SVG's layer groups."""
    root = ET.parse(path).getroot()
    out = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "layer":
            frame = [r for r in group.iter(f"{SVG}rect")][-1]
            texts = [t.text for t in group.iter(f"{SVG}text")]
            out[group.get("data-name")] = (*(float(frame.get(k)) for k in ("x", "y", "width", "height")), texts)
    return root, out


def test_svg_has_every_layer_name_and_shape(tmp_path):
    path = tmp_path / "model.svg"
    keras.utils.plot_model(branchy(), to_file=path, show_shapes=True, show_layer_names=True,
                           show_layer_activations=True, show_dtype=True, show_trainable=True)
    root, boxes = svg_boxes(path)
    assert root.tag == f"{SVG}svg"
    assert set(boxes) == {"image", "stem", "left", "right", "join", "gap", "head"}
    assert boxes["stem"][4] == ["stem (Conv2D)", "Activation: relu", "Input shape: (None, 8, 8, 1)",
                                "Output shape: (None, 8, 8, 4)", "Output dtype: float32", "Trainable"]
    assert "Input shape: [(None, 8, 8, 4), (None, 8, 8, 4)]" in boxes["join"][4]
    assert boxes["image"][4][0] == "image (InputLayer)" and "Output shape: (None, 8, 8, 1)" in boxes["image"][4]
    assert not any(t.startswith("Input shape") for t in boxes["image"][4])
    assert "Output shape: (None, 3)" in boxes["head"][4]
    edges = {(g.get("data-source"), g.get("data-target")) for g in root.iter(f"{SVG}g") if g.get("class") == "edge"}
    assert edges == {("image", "stem"), ("stem", "left"), ("stem", "right"), ("left", "join"), ("right", "join"),
                     ("join", "gap"), ("gap", "head")}


def test_defaults_show_class_names_only(tmp_path):
    path = tmp_path / "model.svg"
    keras.utils.plot_model(branchy(), to_file=path)
    _, boxes = svg_boxes(path)
    assert boxes["stem"][4] == ["Conv2D"] and boxes["join"][4] == ["Add"]


def overlaps(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_branches_side_by_side_and_merge_below(tmp_path):
    path = tmp_path / "model.svg"
    keras.utils.plot_model(branchy(), to_file=path, show_shapes=True)
    _, boxes = svg_boxes(path)
    left, right, stem, join = boxes["left"], boxes["right"], boxes["stem"], boxes["join"]

    def centre(b):
        return b[1] + b[3] / 2

    assert centre(left) == pytest.approx(centre(right))                       # one rank
    assert left[0] + left[2] <= right[0] or right[0] + right[2] <= left[0]     # side by side, apart
    assert stem[1] + stem[3] < min(left[1], right[1])                         # the fork above them
    assert join[1] > max(left[1] + left[3], right[1] + right[3])              # the merge below both
    names = list(boxes)
    assert not any(overlaps(boxes[a], boxes[b]) for i, a in enumerate(names) for b in names[i + 1:])


def test_long_edge_gets_its_own_lane():
    """A shortcut over three layers runs beside them, not through them."""
    inputs = keras.Input((6, 6, 2), name="x")
    y = inputs
    for k in range(3):
        y = layers.Conv2D(2, 3, padding="same", name=f"c{k}")(y)
    model = keras.Model(inputs, layers.add([inputs, y], name="sum"))
    picture = layout(model, show_shapes=True)
    boxes = {b["name"]: b for b in picture.boxes}
    edge = next(e for e in picture.edges if (e["source"], e["target"]) == ("x", "sum"))
    points = [p for _, *pts in edge["path"] for p in pts]
    for name in ("c0", "c1", "c2"):
        b = boxes[name]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            if x0 == x1 and min(y0, y1) < b["y"] + b["height"] and max(y0, y1) > b["y"]:
                assert not b["x"] <= x0 <= b["x"] + b["width"]


def test_left_to_right_and_mirrored():
    model = branchy()
    lr = {b["name"]: b for b in layout(model, rankdir="LR").boxes}
    assert lr["stem"]["x"] + lr["stem"]["width"] < lr["left"]["x"]            # ranks run left to right
    assert lr["left"]["x"] == pytest.approx(lr["right"]["x"]) or \
        abs((lr["left"]["x"] + lr["left"]["width"] / 2) - (lr["right"]["x"] + lr["right"]["width"] / 2)) < 1e-6
    bt = {b["name"]: b for b in layout(model, rankdir="BT").boxes}
    assert bt["image"]["y"] > bt["head"]["y"]                                 # bottom to top
    rl = {b["name"]: b for b in layout(model, rankdir="RL").boxes}
    assert rl["image"]["x"] > rl["head"]["x"]


@pytest.mark.parametrize("splines, command", [("ortho", "L"), ("line", "L"), ("spline", "C"), ("curved", "C")])
def test_splines(splines, command):
    picture = layout(branchy(), splines=splines)
    fork = next(e for e in picture.edges if (e["source"], e["target"]) == ("stem", "right"))
    assert {c for c, *_ in fork["path"][1:]} == {command}
    if splines == "ortho":                                                    # right angles only
        pts = [p for _, *ps in fork["path"] for p in ps]
        assert all(a[0] == b[0] or a[1] == b[1] for a, b in itertools.pairwise(pts))


def test_png_is_written(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    pytest.importorskip("matplotlib")
    path = tmp_path / "model.png"
    keras.utils.plot_model(branchy(), to_file=path, show_shapes=True, dpi=72)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    picture = layout(branchy(), show_shapes=True)
    with Image.open(path) as image:
        assert image.size == pytest.approx((picture.width, picture.height), abs=2)   # 72 dpi: a pixel a point
        pixels = np.asarray(image.convert("L"))
    assert pixels.min() < 50 and pixels.max() > 200                          # dark header bands on white
    keras.utils.plot_model(branchy(), to_file=tmp_path / "no_extension")      # like Keras: PNG by default
    assert (tmp_path / "no_extension").read_bytes()[:4] == b"\x89PNG"


def test_dpi_scales_the_png(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    pytest.importorskip("matplotlib")
    keras.utils.plot_model(branchy(), to_file=tmp_path / "a.png", dpi=72)
    keras.utils.plot_model(branchy(), to_file=tmp_path / "b.png", dpi=144)
    with Image.open(tmp_path / "a.png") as a, Image.open(tmp_path / "b.png") as b:
        assert b.size[0] == pytest.approx(2 * a.size[0], abs=2)


class Tower(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(3, 3, name="tower_conv")
        self.pool = layers.GlobalMaxPooling2D(name="tower_pool")
        self.out = layers.Dense(2, name="tower_out")

    def call(self, x, training=False):
        return self.out(self.pool(self.conv(x)))


def test_subclassed_model_is_drawn_from_its_graph(tmp_path):
    model = Tower()
    model.build((None, 6, 6, 1))
    path = tmp_path / "tower.svg"
    keras.utils.plot_model(model, to_file=path, show_layer_names=True, show_shapes=True)
    _, boxes = svg_boxes(path)
    assert {"tower_conv", "tower_pool", "tower_out"} <= set(boxes)
    ys = [boxes[n][1] for n in ("tower_conv", "tower_pool", "tower_out")]
    assert ys == sorted(ys)


def nested():
    inner_in = keras.Input((6, 6, 1))
    inner = keras.Model(inner_in, layers.Conv2D(2, 3, name="inner_conv")(layers.Conv2D(2, 1, name="inner_pre")(inner_in)),
                        name="backbone")
    inputs = keras.Input((6, 6, 1), name="pixels")
    return keras.Model(inputs, layers.Dense(2, name="top")(layers.Flatten(name="flat")(inner(inputs))))


def test_expand_nested(tmp_path):
    closed = {b["name"] for b in layout(nested()).boxes}
    assert "backbone" in closed and "inner_conv" not in closed
    path = tmp_path / "nested.svg"
    keras.utils.plot_model(nested(), to_file=path, expand_nested=True, show_layer_names=True)
    root, boxes = svg_boxes(path)
    assert {"inner_pre", "inner_conv"} <= set(boxes) and "backbone" not in boxes
    frame = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "nested")
    assert [t.text for t in frame.iter(f"{SVG}text")] == ["backbone"]
    rect = frame.find(f"{SVG}rect")
    fx, fy, fw, fh = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
    for name in ("inner_pre", "inner_conv"):
        x, y, w, h, _ = boxes[name]
        assert fx < x and x + w < fx + fw and fy < y and y + h < fy + fh
    x, y, w, h, _ = boxes["top"]
    assert not (fx < x < fx + fw and fy < y < fy + fh)


def test_shared_layer_is_one_box_with_two_inputs(tmp_path):
    inputs = keras.Input((4,), name="v")
    shared = layers.Dense(4, name="shared")
    a = layers.Dense(4, name="a")(inputs)
    out = layers.add([shared(inputs), shared(a)], name="s")
    picture = layout(keras.Model(inputs, out), show_shapes=True)
    assert [b["name"] for b in picture.boxes].count("shared") == 1
    assert {(e["source"], e["target"]) for e in picture.edges} >= {("v", "shared"), ("a", "shared")}


def test_text_is_escaped(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2, name="a<b&c")])
    path = tmp_path / "m.svg"
    keras.utils.plot_model(model, to_file=path, show_layer_names=True)
    _, boxes = svg_boxes(path)                                               # parses: the name is escaped
    assert boxes["a<b&c"][4] == ["a<b&c (Dense)"]


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs, message", [
    ({"to_file": "model.pdf"}, r"to_file must end in \.png or \.svg; got 'model\.pdf'"),
    ({"to_file": "model.dot"}, "without Graphviz"),
    ({"rankdir": "UP"}, "rankdir must be one of 'TB', 'LR', 'BT', 'RL'.*Received: rankdir='UP'"),
    ({"splines": "wavy"}, "splines must be one of.*Received: splines='wavy'"),
    ({"dpi": 0}, "dpi must be a number from 10 to 1000"),
    ({"dpi": "high"}, "Received: dpi='high'"),
    ({"layer_range": ["a", "b"]}, "`layer_range` is not supported"),
    ({"show_colors": True}, r"unrecognized keyword arguments \['show_colors'\]"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    kwargs.setdefault("to_file", tmp_path / "m.svg")
    with pytest.raises(ValueError, match=message):
        keras.utils.plot_model(branchy(), **kwargs)


def test_unbuilt_model_and_not_a_model(tmp_path):
    with pytest.raises(ValueError, match="is not built yet"):
        keras.utils.plot_model(keras.Sequential([layers.Dense(2)]), to_file=tmp_path / "m.svg")
    with pytest.raises(TypeError, match="expects a convlearn model; got Dense"):
        keras.utils.plot_model(layers.Dense(2), to_file=tmp_path / "m.svg")


def test_png_without_matplotlib_points_to_svg(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "convlearn\[plot\]".*\.svg file needs nothing more'):
        keras.utils.plot_model(branchy(), to_file=tmp_path / "m.png")
    keras.utils.plot_model(branchy(), to_file=tmp_path / "m.svg")
    assert re.search(r"<svg ", (tmp_path / "m.svg").read_text())
