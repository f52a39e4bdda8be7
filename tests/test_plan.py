"""The fast paths are passes over the program, chosen by pattern, each equal to the plain program."""

from __future__ import annotations

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers, ops
from convlearn.engine import plan, run


def kinds(program):
    return [type(step.layer).__name__ for step in program.steps]


def conv_bn_model(activation_layer=True, pool=True, dtype="float32"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((10, 10, 3), dtype=dtype)
    x = layers.Conv2D(8, 3, padding="same", dtype=dtype)(inputs)
    x = layers.BatchNormalization(dtype=dtype)(x)
    if activation_layer:
        x = layers.Activation("relu", dtype=dtype)(x)
    if pool:
        x = layers.MaxPooling2D(dtype=dtype)(x)
    x = layers.Dense(4, use_bias=False, dtype=dtype)(layers.Flatten(dtype=dtype)(x))
    x = layers.BatchNormalization(dtype=dtype)(x)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax", dtype=dtype)(x))
    # BatchNormalization statistics away from their initial values, as after training
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) if i in (0, 3) else rng.normal(0, 0.3, w.shape)
                               for i, w in enumerate(layer.get_weights())])
    return model


@pytest.mark.parametrize("activation_layer, pool", [(True, True), (False, True), (True, False)])
def test_batch_normalization_folded_into_the_convolution_at_inference(activation_layer, pool, rng):
    model = conv_bn_model(activation_layer, pool)
    planned = plan.inference_plan(model.program())
    names = kinds(planned)
    assert "BatchNormalization" not in names                      # both folded: after Conv2D and after Dense
    assert names[0] == ("FusedConvPool" if pool else "FoldedConv")
    x = rng.random((7, 10, 10, 3), dtype=np.float32)
    plain = run.forward(model.program(), [x])[0][0]
    fast = run.forward(planned, [x])[0][0]
    np.testing.assert_allclose(fast, plain, rtol=2e-5, atol=2e-6)   # equal to float32 rounding
    np.testing.assert_allclose(model.predict(x, verbose=0), plain, rtol=2e-5, atol=2e-6)


def test_folding_in_float64_equals_the_unfolded_result_to_rounding(rng):
    model = conv_bn_model(dtype="float64")
    x = rng.random((3, 10, 10, 3))
    plain = run.forward(model.program(), [x])[0][0]
    np.testing.assert_allclose(run.forward(plan.inference_plan(model.program()), [x])[0][0], plain, rtol=1e-12)


def test_no_folding_when_the_convolution_output_is_read_twice_or_in_training(rng):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((6, 6, 2))
    conv = layers.Conv2D(2, 3, padding="same")(inputs)
    x = layers.add([layers.BatchNormalization()(conv), conv])
    model = keras.Model(inputs, x)
    assert "BatchNormalization" in kinds(plan.inference_plan(model.program()))
    x = rng.random((2, 6, 6, 2), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), run.forward(model.program(), [x])[0][0], rtol=1e-6)
    training, _ = plan.training_plan(conv_bn_model().program(training=True), [None], set())
    assert "BatchNormalization" in kinds(training) and "FoldedConv" not in kinds(training)


def test_conv_and_pool_fuse_inside_a_branch_of_a_graph(rng):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1))
    a = layers.MaxPooling2D()(layers.Conv2D(4, 3, padding="same", activation="relu")(inputs))
    b = layers.MaxPooling2D()(layers.Conv2D(4, 1)(inputs))
    shared = layers.Conv2D(4, 3, padding="same", activation="relu")
    c = shared(inputs)
    d = layers.add([layers.MaxPooling2D()(c), layers.AveragePooling2D()(c)])    # c read twice: no fusion
    model = keras.Model(inputs, layers.concatenate([a, b, d]))
    names = kinds(plan.inference_plan(model.program()))
    assert names.count("FusedConvPool") == 2 and names.count("Conv2D") == 1
    x = rng.random((5, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), run.forward(model.program(), [x])[0][0],
                               rtol=1e-5, atol=1e-6)
    with ops.use_kernels("reference"):                 # no pass runs with the reference kernels
        assert kinds(plan.inference_plan(model.program())) == kinds(model.program())


def test_training_plan_gives_the_gradients_of_the_plain_program(rng):
    """Logits outputs, pruned input gradients and fused steps change nothing but the speed."""
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3, activation="softmax")])
    loss = keras.losses.SparseCategoricalCrossentropy()
    x, y = rng.random((6, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, 6)
    params = model.trainable_weights
    planned, logits = plan.training_plan(model.program(training=True), ["softmax"], {id(p) for p in params})
    assert kinds(planned) == ["FusedConvPool", "Flatten", "Call"] and logits[0].name == "softmax"
    assert planned.steps[0].layer.need_dx is False               # no gradient for the images
    outs, caches = run.forward(planned, [x])
    _, cache = loss.forward(y, None, logits=outs[0])
    _, fast = run.backward(planned, caches, [loss.backward(cache).astype(np.float32)])
    outs, caches = run.forward(model.program(training=True), [x])
    _, cache = loss.forward(y, outs[0])
    _, plain = run.backward(model.program(training=True), caches, [loss.backward(cache).astype(np.float32)])
    for p in params:
        np.testing.assert_allclose(fast[id(p)], plain[id(p)], rtol=2e-4, atol=1e-6)


def test_frozen_layers_get_no_gradient_and_nothing_before_them_does(rng):
    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(4), layers.Dense(3), layers.Dense(2)])
    model.layers[0].trainable = False
    model.layers[1].trainable = False
    params = model.trainable_weights
    planned, _ = plan.training_plan(model.program(training=True), [None], {id(p) for p in params})
    # only the last layer's input needs no gradient: slots 0..2 are not computed
    assert planned.needs_grad == {planned.steps[2].output}
    outs, caches = run.forward(planned, [rng.random((3, 6), dtype=np.float32)])
    _, grads = run.backward(planned, caches, [np.ones_like(outs[0])])
    assert set(grads) == {id(p) for p in params}


def residual_model():
    """Convolutions with padding and stride, batch normalisation, ReLU layers, an
    overlapping max pooling and a shortcut, like the residual benchmark."""
    keras.utils.set_random_seed(6)
    inputs = keras.Input((9, 9, 2))
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)               # (5, 5, 4)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    y = layers.Conv2D(6, 3, padding="same")(layers.Activation("relu")(x))
    y = layers.BatchNormalization()(y)
    y = layers.MaxPooling2D(3, strides=2, padding="same")(y)                 # (3, 3, 6)
    y = layers.add([y, layers.Conv2D(6, 1, strides=2, padding="same")(x)])
    y = layers.GlobalAveragePooling2D()(y)
    return keras.Model(inputs, layers.Dense(3, activation="softmax")(y))


def test_training_plan_with_norm_relu_and_reused_buffers_gives_the_plain_gradients(rng):
    """BatchNormalization + ReLU as one step, a ReLU layer inside the convolution after
    it, convolutions and max pooling with buffers of their own: the gradients and
    moving averages of the plain program, in two steps that reuse the buffers."""
    results = {}
    for name in ("plain", "planned"):
        model = residual_model()
        params = model.trainable_weights
        program = model.program(training=True)
        if name == "planned":
            program, _ = plan.training_plan(program, [None], {id(p) for p in params})
            assert kinds(program) == ["ConvCall", "NormReLU", "ConvCall", "BatchNormalization", "MaxPoolCall",
                                      "ConvCall", "Add", "GlobalAveragePooling2D", "Dense"]
            stem, relu_conv, shortcut = (program.steps[i].layer for i in (0, 2, 5))
            assert stem.need_dx is False and relu_conv.need_dx is True and shortcut.need_dx is True
            assert relu_conv.relu is not None and stem.relu is None and shortcut.relu is None
        got = []
        for seed in (0, 1):                      # the second step reuses the first one's buffers
            data = np.random.default_rng(seed)
            x = data.random((5, 9, 9, 2), dtype=np.float32)
            outs, caches = run.forward(program, [x])
            g = data.standard_normal(outs[0].shape).astype(np.float32)
            _, grads = run.backward(program, caches, [g])
            got.append([grads[id(p)] for p in params])
        moving = [w for layer in model.layers if isinstance(layer, layers.BatchNormalization)
                  for w in layer.get_weights()[2:]]
        results[name] = (got, moving)
    for a, b in zip(results["planned"][0], results["plain"][0]):
        for ga, gb in zip(a, b):
            np.testing.assert_allclose(ga, gb, rtol=2e-4, atol=1e-6)
    for a, b in zip(results["planned"][1], results["plain"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_norm_relu_is_not_fused_when_the_normalisation_output_is_read_twice(rng):
    keras.utils.set_random_seed(7)
    inputs = keras.Input((4, 4, 2))
    norm = layers.BatchNormalization()(layers.Conv2D(2, 3, padding="same")(inputs))
    model = keras.Model(inputs, layers.add([layers.Activation("relu")(norm), norm]))
    planned, _ = plan.training_plan(model.program(training=True), [None], {id(p) for p in model.trainable_weights})
    assert "NormReLU" not in kinds(planned) and "BatchNormalization" in kinds(planned)
