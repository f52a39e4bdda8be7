"""ONNX export: every layer and model kind, run in ONNX Runtime and compared with ``predict``."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package (the onnx extra)")
ort = pytest.importorskip("onnxruntime", reason="the exported files are checked in ONNX Runtime")

TOL = 1e-5


def randomise(model, seed=0):
    """Non-trivial weights: biases and BatchNormalization's moving statistics away from 0 and 1."""
    rng = np.random.default_rng(seed)
    for path, w in model.named_weights():
        if "variance" in path:
            w[...] = rng.uniform(0.5, 2.0, w.shape)
        else:
            w[...] = rng.normal(0.0, 0.5, w.shape)
    return model


def run_onnx(path, xs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: x for i, x in zip(session.get_inputs(), xs)}
    return session.run(None, feeds)


def assert_matches(model, xs, tmp_path, name="model.onnx", **kwargs):
    """Export, run in ONNX Runtime and compare every output with predict, at 1e-5."""
    xs = xs if isinstance(xs, list) else [xs]
    path = tmp_path / name
    model.export(path, format="onnx", **kwargs)
    expected = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    expected = list(expected.values()) if isinstance(expected, dict) else expected
    expected = expected if isinstance(expected, list) else [expected]
    got = run_onnx(path, xs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=TOL, atol=TOL)
    return onnx.load(str(path))


def images(shape, seed=1):
    return np.random.default_rng(seed).normal(0.0, 1.0, shape).astype(np.float32)


def single_layer(layer, input_shape, seed=0):
    model = keras.Sequential([keras.Input(input_shape), layer])
    return randomise(model, seed)


# ----------------------------------------------------------------------------- layers

@pytest.mark.parametrize("size", [(7, 9), (8, 5), (6, 6)])
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2, 3, (2, 1)])
@pytest.mark.parametrize("kernel", [3, 2, (1, 4)])
def test_conv2d_padding_and_strides(tmp_path, size, padding, strides, kernel):
    model = single_layer(layers.Conv2D(4, kernel, strides=strides, padding=padding), size + (3,))
    assert_matches(model, images((3,) + size + (3,)), tmp_path)


def test_conv2d_same_pads_more_at_bottom_right(tmp_path):
    """An even kernel with an odd input: Keras pads 0 rows on top and 1 at the bottom."""
    model = single_layer(layers.Conv2D(1, 2, strides=2, padding="same", use_bias=False), (5, 5, 1))
    proto = assert_matches(model, images((2, 5, 5, 1)), tmp_path)
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    pads = next(a for a in conv.attribute if a.name == "pads").ints
    assert list(pads) == [0, 0, 1, 1]          # top, left, bottom, right


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid", "tanh", "softmax", "leaky_relu", "elu",
                                        "softplus", "swish", "silu"])
def test_activations_in_conv_and_dense(tmp_path, activation):
    model = keras.Sequential([keras.Input((6, 6, 2)), layers.Conv2D(3, 3, activation=activation),
                              layers.Flatten(), layers.Dense(5, activation=activation)])
    assert_matches(randomise(model), images((4, 6, 6, 2)) * 3, tmp_path)


@pytest.mark.parametrize("layer", [
    layers.Activation("tanh"), layers.Softmax(), layers.Softmax(axis=1), layers.LeakyReLU(0.2), layers.ReLU(),
    layers.ReLU(max_value=0.5), layers.ReLU(negative_slope=0.1, threshold=0.2),
    layers.ReLU(max_value=1.0, negative_slope=0.3, threshold=-0.5),
], ids=lambda layer: type(layer).__name__ + str(layer.get_config().get("max_value", "")))
def test_activation_layers(tmp_path, layer):
    assert_matches(single_layer(layer, (5, 4, 3)), images((3, 5, 4, 3)), tmp_path)


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("pool_size, strides, padding", [
    (2, None, "valid"), (2, None, "same"), (3, 2, "same"), (3, 2, "valid"), ((2, 3), (1, 2), "same"), (3, 1, "same"),
])
def test_pooling_odd_sizes(tmp_path, cls, pool_size, strides, padding):
    """Average pooling with "same" leaves the padded cells out of the mean, as Keras does."""
    model = single_layer(cls(pool_size, strides=strides, padding=padding), (7, 9, 3))
    assert_matches(model, images((2, 7, 9, 3)), tmp_path)


@pytest.mark.parametrize("cls", [layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(tmp_path, cls, keepdims):
    assert_matches(single_layer(cls(keepdims=keepdims), (5, 3, 4)), images((3, 5, 3, 4)), tmp_path)


def test_batch_normalization_uses_moving_averages(tmp_path):
    model = keras.Sequential([keras.Input((6, 6, 3)), layers.Conv2D(4, 3), layers.BatchNormalization(),
                              layers.Flatten(), layers.Dense(5), layers.BatchNormalization(epsilon=0.1)])
    randomise(model, seed=3)
    bn = model.layers[1]
    assert not np.allclose(bn.moving_mean, 0) and not np.allclose(bn.moving_variance, 1)
    assert_matches(model, images((4, 6, 6, 3)), tmp_path)


def test_batch_normalization_other_axis_and_without_scale(tmp_path):
    model = single_layer(layers.BatchNormalization(axis=1, center=False, scale=False), (3, 5, 4))
    assert_matches(model, images((2, 3, 5, 4)), tmp_path)


@pytest.mark.parametrize("axis", [-1, [1, 2, 3], [2, 3]])
def test_layer_normalization(tmp_path, axis):
    assert_matches(single_layer(layers.LayerNormalization(axis=axis), (4, 5, 3)), images((3, 4, 5, 3)), tmp_path)


def test_dropout_is_identity_and_core_layers(tmp_path):
    model = keras.Sequential([keras.Input((4, 4, 2)), layers.Rescaling(1 / 255, offset=-0.5), layers.Dropout(0.5),
                              layers.Reshape((8, 4)), layers.Dense(3), layers.Flatten(), layers.Dense(2)])
    proto = assert_matches(randomise(model), images((5, 4, 4, 2)) * 100, tmp_path)
    assert not any(n.op_type == "Dropout" for n in proto.graph.node)


@pytest.mark.parametrize("merge", [layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum,
                                   layers.Minimum, layers.Concatenate])
def test_merge_layers_with_fan_out(tmp_path, merge):
    """One tensor read by two branches that a merge layer joins again."""
    inputs = keras.Input((6, 6, 2))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    a = layers.Conv2D(4, 3, padding="same")(x)
    b = layers.Conv2D(4, 1)(x)
    merged = merge()([a, b])
    outputs = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(merged))
    assert_matches(randomise(keras.Model(inputs, outputs)), images((3, 6, 6, 2)), tmp_path)


@pytest.mark.parametrize("merge", [layers.Add, layers.Multiply, layers.Maximum, layers.Average])
def test_merge_three_inputs_and_broadcast(tmp_path, merge):
    inputs = keras.Input((4, 4, 3))
    pooled = layers.GlobalAveragePooling2D(keepdims=True)(inputs)       # (N, 1, 1, 3), broadcast
    outputs = merge()([inputs, layers.Conv2D(3, 1)(inputs), pooled])
    assert_matches(randomise(keras.Model(inputs, outputs)), images((2, 4, 4, 3)), tmp_path)


@pytest.mark.parametrize("size", [(7, 9), (8, 6)])
@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(4, 3, dilation_rate=2, padding="same"),
    lambda: layers.Conv2D(4, 3, dilation_rate=(2, 1), padding="valid", activation="relu"),
    lambda: layers.Conv2D(6, 3, groups=3, strides=2, padding="same"),
    lambda: layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
    lambda: layers.DepthwiseConv2D(2, dilation_rate=2, activation="relu"),
    lambda: layers.SeparableConv2D(5, 3, padding="same", depth_multiplier=2, activation="tanh"),
    lambda: layers.SeparableConv2D(4, 2, strides=2, padding="valid"),
    lambda: layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
    lambda: layers.Conv2DTranspose(4, 2, strides=2, padding="valid", activation="relu"),
    lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1),
    lambda: layers.Conv2DTranspose(2, 4, strides=3, padding="same"),
    lambda: layers.Conv2DTranspose(2, 3, dilation_rate=2, padding="valid"),
    lambda: layers.ZeroPadding2D(((1, 2), (0, 3))),
    lambda: layers.Cropping2D(((1, 0), (2, 1))),
    lambda: layers.Cropping2D(1),
    lambda: layers.UpSampling2D((2, 3)),
    lambda: layers.UpSampling2D(2, interpolation="bilinear"),
], ids=["dilated-same", "dilated-valid", "groups", "depthwise", "depthwise-dilated", "separable",
        "separable-strided", "transpose-same", "transpose-valid", "transpose-output-padding", "transpose-k4-s3",
        "transpose-dilated", "zero-padding", "cropping", "cropping-1", "upsampling", "upsampling-bilinear"])
def test_convolution_and_resizing_layers(tmp_path, make, size):
    model = single_layer(make(), size + (3,))
    assert_matches(model, images((2,) + size + (3,)), tmp_path)


@pytest.mark.parametrize("make, size", [
    (lambda: layers.Resizing(5, 7), (9, 6)),                                      # down one axis, up the other
    (lambda: layers.Resizing(12, 4, interpolation="nearest"), (7, 9)),
    (lambda: layers.Resizing(5, 4, crop_to_aspect_ratio=True), (9, 11)),
    (lambda: layers.Resizing(6, 4, pad_to_aspect_ratio=True, fill_value=0.5), (7, 9)),
    (lambda: layers.Resizing(4, 6, interpolation="nearest", pad_to_aspect_ratio=True), (7, 5)),
    (lambda: layers.Resizing(7, 9), (7, 9)),                                      # same size: kept as it is
    (lambda: layers.CenterCrop(5, 4), (9, 8)),                                    # a plain crop
    (lambda: layers.CenterCrop(6, 8), (4, 9)),                                    # smaller: aspect crop, resized
    (lambda: layers.RandomCrop(5, 4, seed=1), (9, 8)),                            # inference: centre, resized
    (lambda: layers.RandomCrop(6, 6, seed=1), (6, 6)),
], ids=["resizing", "resizing-nearest", "resizing-crop", "resizing-pad", "resizing-pad-nearest",
        "resizing-same", "center-crop", "center-crop-small", "random-crop", "random-crop-same"])
def test_resizing_and_cropping_layers_match_predict(tmp_path, make, size):
    model = single_layer(make(), size + (3,))
    assert_matches(model, images((2,) + size + (3,)), tmp_path)


def test_augmentation_layers_are_identity_at_inference(tmp_path):
    model = keras.Sequential([keras.Input((6, 6, 3)), layers.RandomFlip(seed=1), layers.RandomRotation(0.2, seed=2),
                              layers.RandomZoom(0.2, seed=3), layers.RandomTranslation(0.1, 0.1, seed=4),
                              layers.RandomContrast(0.3, seed=5), layers.RandomBrightness(0.2, seed=6),
                              layers.Conv2D(2, 3)])
    proto = assert_matches(randomise(model), images((3, 6, 6, 3)), tmp_path)
    ops = [n.op_type for n in proto.graph.node]
    assert set(ops) == {"Identity", "Conv", "Transpose"} and ops.count("Identity") == 6 + 1   # + the output's


# ----------------------------------------------------------------------------- model kinds

def test_sequential_free_batch_axis(tmp_path):
    model = randomise(keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                                        layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3, activation="softmax")]))
    path = tmp_path / "m.onnx"
    model.export(path, format="onnx")
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 13 and proto.ir_version == 7
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [8, 8, 1]
    for n in (1, 7):
        x = images((n, 8, 8, 1), seed=n)
        np.testing.assert_allclose(run_onnx(path, [x])[0], model.predict(x, verbose=0), rtol=TOL, atol=TOL)


def test_residual_benchmark_model(tmp_path):
    """The benchmark's residual network: strided stem, residual blocks, BatchNormalization, dropout."""
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from worker import keras_like_residual
    finally:
        sys.path.pop(0)
    model = randomise(keras_like_residual(keras, layers), seed=5)
    assert_matches(model, images((4, 28, 28, 1)), tmp_path)


def test_nested_model_and_shared_layer(tmp_path):
    inner_in = keras.Input((6, 6, 2))
    inner = keras.Model(inner_in, layers.Conv2D(3, 3, padding="same", activation="relu")(inner_in), name="inner")
    shared = layers.Dense(4, name="shared")
    inputs = keras.Input((6, 6, 2))
    feats = layers.GlobalMaxPooling2D()(inner(inputs))
    outputs = layers.add([shared(feats), shared(layers.Dense(3)(feats))])   # one layer called twice
    model = randomise(keras.Model(inputs, outputs))
    proto = assert_matches(model, images((3, 6, 6, 2)), tmp_path)
    kernels = [i for i in proto.graph.initializer if i.name.startswith("shared/kernel")]
    assert len(kernels) == 1                      # the shared weights are stored once


def test_sequential_inside_sequential(tmp_path):
    block = keras.Sequential([layers.Conv2D(3, 3, padding="same"), layers.BatchNormalization(),
                              layers.Activation("relu")], name="block")
    model = randomise(keras.Sequential([keras.Input((5, 5, 2)), block, block.__class__(
        [layers.Flatten(), layers.Dense(2)], name="head")]))
    assert_matches(model, images((2, 5, 5, 2)), tmp_path)


class Block(keras.layers.Layer):
    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.first = layers.Conv2D(filters, 3, padding="same", activation="relu")
        self.second = layers.Conv2D(filters, 3, padding="same")

    def call(self, x, training=False):
        return layers.Activation("relu")(self.second(self.first(x)) + x)


class Net(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Conv2D(4, 3, strides=2, padding="same")
        self.block = Block(4)
        self.dropout = layers.Dropout(0.3)
        self.head = layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        x = self.block(self.stem(x))
        return self.head(self.dropout(layers.GlobalAveragePooling2D()(x), training=training))


def test_subclassed_model_through_its_traced_graph(tmp_path):
    model = Net()
    model.build((None, 9, 9, 1))
    assert_matches(randomise(model), images((3, 9, 9, 1)), tmp_path)


def test_two_inputs_two_outputs(tmp_path):
    image = keras.Input((6, 6, 1), name="image")
    extra = keras.Input((3,), name="extra")
    feats = layers.Flatten()(layers.Conv2D(2, 3)(image))
    joined = layers.Concatenate()([feats, extra])
    digit = layers.Dense(4, activation="softmax", name="digit")(joined)
    score = layers.Dense(1, name="score")(joined)
    model = randomise(keras.Model([image, extra], [digit, score]))
    proto = assert_matches(model, [images((3, 6, 6, 1)), images((3, 3), seed=2)], tmp_path)
    assert [i.name for i in proto.graph.input] == ["image", "extra"]
    assert [o.name for o in proto.graph.output] == ["digit", "score"]


def test_unknown_image_size_uses_same_upper(tmp_path):
    """With height and width unknown, "same" is ONNX's SAME_UPPER, which also pads bottom/right."""
    inputs = keras.Input((None, None, 2))
    x = layers.Conv2D(3, 2, strides=2, padding="same")(inputs)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    model = randomise(keras.Model(inputs, layers.GlobalAveragePooling2D()(x)))
    path = tmp_path / "free.onnx"
    model.export(path, format="onnx")
    for shape in ((2, 7, 9, 2), (1, 10, 5, 2)):
        x = images(shape)
        np.testing.assert_allclose(run_onnx(path, [x])[0], model.predict(x, verbose=0), rtol=TOL, atol=TOL)


def test_opset_17_and_verbose(tmp_path, capsys):
    model = randomise(keras.Sequential([keras.Input((4, 4, 1)), layers.Conv2D(2, 3), layers.LayerNormalization()]))
    proto = assert_matches(model, images((2, 4, 4, 1)), tmp_path, opset_version=17, verbose=True)
    assert proto.opset_import[0].version == 17
    assert "model.onnx" in capsys.readouterr().out


def test_export_after_fit_matches_trained_predict(tmp_path):
    x = images((32, 6, 6, 1))
    y = (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)
    model = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.BatchNormalization(), layers.Flatten(), layers.Dropout(0.2),
                              layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert_matches(model, x, tmp_path)


# ----------------------------------------------------------------------------- errors

def small_model():
    return keras.Sequential([keras.Input((4, 4, 1)), layers.Flatten(), layers.Dense(2)])


@pytest.mark.parametrize("fmt", ["tf_saved_model", "keras", "torch", None])
def test_other_formats_are_refused(tmp_path, fmt):
    with pytest.raises(ValueError, match=r"exports format='onnx' only.*model\.save\('model\.keras'\)"):
        small_model().export(tmp_path / "m", format=fmt)


def test_default_format_is_keras_and_refused(tmp_path):
    with pytest.raises(ValueError, match="'tf_saved_model' is one of Keras's formats"):
        small_model().export(tmp_path / "m.onnx")


def test_bad_options(tmp_path):
    with pytest.raises(ValueError, match="opset_version must be an integer from 13 to 17. Received: opset_version=12"):
        small_model().export(tmp_path / "m.onnx", format="onnx", opset_version=12)
    with pytest.raises(ValueError, match="`input_signature` is not supported"):
        small_model().export(tmp_path / "m.onnx", format="onnx", input_signature=[(None, 4, 4, 1)])
    with pytest.raises(TypeError, match=r"unexpected argument\(s\) \['dynamic'\]"):
        small_model().export(tmp_path / "m.onnx", format="onnx", dynamic=True)


def test_unbuilt_model(tmp_path):
    model = keras.Sequential([layers.Dense(2)])
    with pytest.raises(ValueError, match="is not built yet"):
        model.export(tmp_path / "m.onnx", format="onnx")


class Cube(keras.layers.Layer):
    def forward(self, x, training=False):
        return x ** 3, x

    def backward(self, dout, x):
        return 3 * x * x * dout, {}


def test_layer_without_converter_is_named(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2), Cube(name="cube")])
    with pytest.raises(ValueError, match=r"layer 'cube' \(Cube\) has no ONNX converter. Layers with one: .*Conv2D"):
        model.export(tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("layer", [layers.RandomCrop(4, 4, name="crop"), layers.Resizing(4, 4, name="crop"),
                                   layers.CenterCrop(4, 4, name="crop")])
def test_cropping_layers_need_images_of_a_known_size(tmp_path, layer):
    model = keras.Sequential([keras.Input((None, None, 1)), layer])
    with pytest.raises(ValueError, match=rf"'crop' \({type(layer).__name__}\) needs images of a known height and "
                                         r"width; the model gives it shape \(None, None, None, 1\)"):
        model.export(tmp_path / "m.onnx", format="onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_subclass_overriding_forward_gets_no_parent_converter(tmp_path):
    class Doubled(layers.Dense):
        def forward(self, x, training=False):
            out, cache = super().forward(x, training)
            return 2 * out, cache

    model = keras.Sequential([keras.Input((3,)), Doubled(2, name="doubled")])
    with pytest.raises(ValueError, match=r"'doubled' \(Doubled\) has no ONNX converter"):
        model.export(tmp_path / "m.onnx", format="onnx")


def test_subclass_keeping_forward_uses_parent_converter(tmp_path):
    class MyDense(layers.Dense):
        pass

    assert_matches(randomise(keras.Sequential([keras.Input((3,)), MyDense(2)])), images((2, 3)), tmp_path)


class NumpyCall(keras.layers.Layer):
    def call(self, x):
        return np.sin(x)


def test_numpy_call_is_refused(tmp_path):
    model = keras.Sequential([keras.Input((3,)), NumpyCall(name="sine")])
    with pytest.raises(ValueError, match=r"layer 'sine' \(NumpyCall\) computes with NumPy in call\(\)"):
        model.export(tmp_path / "m.onnx", format="onnx")


def test_dropout_forced_into_training_is_refused(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dropout(0.5, name="drop")(inputs, training=True))
    with pytest.raises(ValueError, match=r"'drop' \(Dropout\) is called with training=True"):
        model.export(tmp_path / "m.onnx", format="onnx")


def test_missing_onnx_package_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "convlearn\[onnx\]"'):
        small_model().export(tmp_path / "m.onnx", format="onnx")


# ----------------------------------------------------------------------------- command line

def test_cli_export(tmp_path, capsys):
    from convlearn.cli import main

    model = randomise(keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(2, 3), layers.Flatten(),
                                        layers.Dense(10, activation="softmax")]))
    model.save(tmp_path / "m.keras")
    assert main(["export", str(tmp_path / "m.keras"), str(tmp_path / "m.onnx")]) == 0
    assert "Wrote" in capsys.readouterr().out
    x = images((2, 28, 28, 1))
    np.testing.assert_allclose(run_onnx(tmp_path / "m.onnx", [x])[0], model.predict(x, verbose=0), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("args, message", [
    (["{d}/missing.keras", "{d}/m.onnx"], "no model file at"),
    (["{d}/m.keras", "{d}/m.txt"], "the output file must end in .onnx"),
    (["{d}/m.keras", "{d}/m.onnx", "--opset", "12"], "opset_version must be an integer from 13 to 17"),
    (["{d}/m.keras", "{d}/no_such_folder/m.onnx"], "m.onnx"),
])
def test_cli_export_errors_are_one_line_exit_2(tmp_path, capsys, args, message):
    from convlearn.cli import main

    small_model().save(tmp_path / "m.keras")
    assert main(["export", *(a.format(d=tmp_path) for a in args)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("convlearn: error: ") and message in err and err.count("\n") == 1
