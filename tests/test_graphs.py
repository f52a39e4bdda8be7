"""Models that are graphs: residual blocks, shared layers, fan-out, several inputs and outputs.

Gradients of whole graphs are checked against finite differences (float64) and
against PyTorch with the weights copied across; the same network written as
Sequential, functional and subclassed gives bit-identical numbers.
"""

from __future__ import annotations

import numpy as np

import convlearn as keras
from convlearn import layers
from convlearn.engine import run
from convlearn.engine.graph import Program
from helpers import numerical_gradient, rel_error

F64 = "float64"


def linear_functional(outputs, seed=0):
    """Random weights ``w`` for a loss ``sum(w * output)``: its gradient with respect to each output is ``w``."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(out.shape) for out in outputs]


def engine_gradients(model, xs, training=False, seed=0):
    """Outputs, input gradients and weight gradients of ``sum(w * outputs)`` through the engine."""
    program = model.program(training=training)
    outs, caches = run.forward(program, xs)
    ws = linear_functional(outs, seed)
    full = Program(program.steps, program.inputs, program.outputs)       # every gradient
    input_grads, weight_grads = run.backward(full, caches, ws)
    return outs, input_grads, weight_grads, ws


def check_graph_gradients(model, xs, tol=1e-6, training=False):
    """Every weight and input gradient of the model equals the finite difference of sum(w * outputs)."""
    outs, input_grads, weight_grads, ws = engine_gradients(model, xs, training)

    def value():
        return float(sum(np.sum(w * o) for w, o in zip(ws, run.forward(model.program(training=training), xs)[0])))

    checked = 0
    for x, g in zip(xs, input_grads):
        assert rel_error(g, numerical_gradient(value, x)) < tol
        checked += 1
    for path, w in model.named_weights():
        if id(w) in weight_grads:
            assert rel_error(weight_grads[id(w)], numerical_gradient(value, w)) < tol, path
            checked += 1
    return checked


def residual_model(dtype=F64, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 2), dtype=dtype)
    x = layers.Conv2D(3, 3, padding="same", activation="tanh", dtype=dtype)(inputs)
    y = layers.Conv2D(3, 3, padding="same", activation="tanh", dtype=dtype)(x)
    y = layers.Conv2D(3, 3, padding="same", dtype=dtype)(y)
    x = layers.add([x, y], dtype=dtype)                                # the residual connection
    x = layers.Activation("tanh", dtype=dtype)(x)
    outputs = layers.Dense(4, dtype=dtype)(layers.Flatten(dtype=dtype)(x))
    return keras.Model(inputs, outputs)


def test_residual_block_gradients_match_finite_differences(rng):
    model = residual_model()
    assert check_graph_gradients(model, [rng.standard_normal((2, 6, 6, 2))]) == 1 + 8


def test_a_layer_shared_between_two_branches_adds_the_gradients_of_both_calls(rng):
    keras.utils.set_random_seed(1)
    shared = layers.Dense(3, activation="tanh", dtype=F64)
    a = keras.Input((4,), dtype=F64)
    b = keras.Input((4,), dtype=F64)
    out = layers.concatenate([shared(a), shared(b)], dtype=F64)
    model = keras.Model([a, b], layers.Dense(2, dtype=F64)(out))
    assert len(shared._inbound_nodes) == 2 and len(model.weights) == 4
    xs = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    assert check_graph_gradients(model, xs) == 2 + 4
    # the shared kernel's gradient is the sum of what each call alone would give
    _, _, grads, ws = engine_gradients(model, xs)
    steps = model.program().steps
    assert sum(step.layer is shared for step in steps) == 2


def test_one_tensor_feeding_three_layers(rng):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((5,), dtype=F64)
    h = layers.Dense(4, activation="tanh", dtype=F64)(inputs)
    branches = [layers.Dense(3, activation=act, dtype=F64)(h) for act in ("tanh", "sigmoid", "linear")]
    model = keras.Model(inputs, layers.add(branches, dtype=F64))
    assert check_graph_gradients(model, [rng.standard_normal((3, 5))]) == 1 + 8


def test_concatenate_on_channels_and_two_outputs(rng):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((5, 5, 1), dtype=F64)
    a = layers.Conv2D(2, 3, padding="same", activation="tanh", dtype=F64)(inputs)
    b = layers.Conv2D(3, 1, activation="tanh", dtype=F64)(inputs)
    x = layers.Concatenate(axis=-1, dtype=F64)([a, b])              # (5, 5, 5)
    x = layers.Flatten(dtype=F64)(layers.MaxPooling2D(dtype=F64)(x))
    model = keras.Model(inputs, [layers.Dense(2, dtype=F64)(x), layers.Dense(1, dtype=F64)(x)])
    assert check_graph_gradients(model, [rng.standard_normal((2, 5, 5, 1))]) == 1 + 8


def test_two_inputs(rng):
    keras.utils.set_random_seed(4)
    image = keras.Input((6, 6, 1), dtype=F64, name="image")
    meta = keras.Input((3,), dtype=F64, name="meta")
    x = layers.Flatten(dtype=F64)(layers.Conv2D(2, 3, activation="tanh", dtype=F64)(image))
    x = layers.concatenate([x, layers.Dense(4, activation="tanh", dtype=F64)(meta)], dtype=F64)
    model = keras.Model({"image": image, "meta": meta}, layers.Dense(2, dtype=F64)(x))
    xs = [rng.standard_normal((2, 6, 6, 1)), rng.standard_normal((2, 3))]
    assert check_graph_gradients(model, xs) == 2 + 6


def test_batch_normalization_in_a_graph_in_training_mode(rng):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((4, 4, 2), dtype=F64)
    # (no bias before BatchNormalization: the batch mean takes any constant away, its gradient is 0)
    x = layers.Conv2D(3, 3, padding="same", use_bias=False, dtype=F64)(inputs)
    x = layers.BatchNormalization(dtype=F64)(x)
    x = layers.add([x, layers.Conv2D(3, 1, dtype=F64)(inputs)], dtype=F64)
    model = keras.Model(inputs, layers.Dense(2, dtype=F64)(layers.Flatten(dtype=F64)(x)))
    # training mode normalises with the batch statistics, which depend on every sample
    assert check_graph_gradients(model, [rng.standard_normal((4, 4, 4, 2))], training=True) == 1 + 7


# ---------------------------------------------------------------------------
# PyTorch: the same graphs, weights copied across
# ---------------------------------------------------------------------------

def _nchw(kernel, torch):
    return torch.tensor(np.transpose(kernel, (3, 2, 0, 1)).copy(), requires_grad=True)


def test_residual_block_matches_pytorch(torch, rng):
    F = torch.nn.functional
    model = residual_model()
    x = rng.standard_normal((3, 6, 6, 2))
    outs, input_grads, grads, ws = engine_gradients(model, [x])
    k1, b1, k2, b2, k3, b3, kd, bd = [w for _, w in model.named_weights()]
    tk = [_nchw(k, torch) for k in (k1, k2, k3)]
    tb = [torch.tensor(b, requires_grad=True) for b in (b1, b2, b3)]
    tkd, tbd = torch.tensor(kd, requires_grad=True), torch.tensor(bd, requires_grad=True)
    tx = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    h = torch.tanh(F.conv2d(tx, tk[0], tb[0], padding=1))
    y = F.conv2d(torch.tanh(F.conv2d(h, tk[1], tb[1], padding=1)), tk[2], tb[2], padding=1)
    z = torch.tanh(h + y).permute(0, 2, 3, 1).reshape(3, -1) @ tkd + tbd
    (z * torch.tensor(ws[0])).sum().backward()
    np.testing.assert_allclose(outs[0], z.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(input_grads[0], tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-9, atol=1e-12)
    for w, t in zip((k1, k2, k3), tk):
        np.testing.assert_allclose(grads[id(w)], t.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-9, atol=1e-12)
    for w, t in zip((b1, b2, b3, kd, bd), tb + [tkd, tbd]):
        np.testing.assert_allclose(grads[id(w)], t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_shared_layer_and_two_inputs_match_pytorch(torch, rng):
    keras.utils.set_random_seed(6)
    shared = layers.Dense(3, activation="tanh", dtype=F64)
    a, b = keras.Input((4,), dtype=F64), keras.Input((4,), dtype=F64)
    out = layers.Dense(2, dtype=F64)(layers.concatenate([shared(a), shared(b)], dtype=F64))
    model = keras.Model([a, b], out)
    xs = [rng.standard_normal((5, 4)), rng.standard_normal((5, 4))]
    outs, input_grads, grads, ws = engine_gradients(model, xs)
    ks, bs, ko, bo = [w for _, w in model.named_weights()]
    t = [torch.tensor(v, requires_grad=True) for v in (ks, bs, ko, bo)]
    ta, tb = (torch.tensor(v, requires_grad=True) for v in xs)
    z = torch.cat([torch.tanh(ta @ t[0] + t[1]), torch.tanh(tb @ t[0] + t[1])], dim=-1) @ t[2] + t[3]
    (z * torch.tensor(ws[0])).sum().backward()
    np.testing.assert_allclose(outs[0], z.detach().numpy(), rtol=1e-10)
    for g, tg in zip(input_grads, (ta.grad, tb.grad)):
        np.testing.assert_allclose(g, tg.numpy(), rtol=1e-9, atol=1e-12)
    for w, tw in zip((ks, bs, ko, bo), t):
        np.testing.assert_allclose(grads[id(w)], tw.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_batch_normalization_graph_trains_like_pytorch(torch, rng):
    """One SGD step in training mode, and the moving statistics, against torch.nn.BatchNorm2d."""
    F = torch.nn.functional
    keras.utils.set_random_seed(7)
    inputs = keras.Input((5, 5, 2), dtype=F64)
    x = layers.Conv2D(3, 3, dtype=F64)(inputs)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-3, dtype=F64)(x)
    x = layers.Activation("relu", dtype=F64)(x)
    model = keras.Model(inputs, layers.Dense(2, dtype=F64)(layers.Flatten(dtype=F64)(x)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    xb, yb = rng.standard_normal((6, 5, 5, 2)), rng.standard_normal((6, 2))
    k, b, gamma, beta, mean, var, kd, bd = [w.copy() for _, w in model.named_weights()]
    conv = torch.nn.Conv2d(2, 3, 3).double()
    bn = torch.nn.BatchNorm2d(3, eps=1e-3, momentum=0.1).double()   # torch's momentum is 1 - Keras's
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(np.transpose(k, (3, 2, 0, 1))))
        conv.bias.copy_(torch.tensor(b))
        bn.weight.copy_(torch.tensor(gamma))
        bn.bias.copy_(torch.tensor(beta))
    tkd, tbd = torch.tensor(kd, requires_grad=True), torch.tensor(bd, requires_grad=True)
    params = list(conv.parameters()) + list(bn.parameters()) + [tkd, tbd]
    opt = torch.optim.SGD(params, lr=0.1)
    h = F.relu(bn(conv(torch.tensor(xb.transpose(0, 3, 1, 2).copy()))))
    pred = h.permute(0, 2, 3, 1).reshape(6, -1) @ tkd + tbd
    loss = ((pred - torch.tensor(yb)) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    model.train_on_batch(xb, yb)
    got = dict(model.named_weights())
    names = list(got)
    np.testing.assert_allclose(got[names[0]], conv.weight.detach().numpy().transpose(2, 3, 1, 0), rtol=1e-9)
    np.testing.assert_allclose(got[names[2]], bn.weight.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(got[names[3]], bn.bias.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got[names[4]], bn.running_mean.numpy(), rtol=1e-9, atol=1e-12)
    # torch keeps the unbiased batch variance in its running average, Keras the biased one
    n = 6 * 3 * 3
    batch_var_unbiased = (bn.running_var.numpy() - 0.9 * var) / 0.1
    np.testing.assert_allclose(got[names[5]], 0.9 * var + 0.1 * batch_var_unbiased * (n - 1) / n, rtol=1e-9)
    np.testing.assert_allclose(got[names[6]], tkd.detach().numpy(), rtol=1e-9)


# ---------------------------------------------------------------------------
# One network, three ways of writing it: the same bits
# ---------------------------------------------------------------------------

def _three_ways(dtype="float32"):
    def make_layers():
        keras.utils.set_random_seed(11)
        return [layers.Conv2D(4, 3, activation="relu", dtype=dtype), layers.MaxPooling2D(dtype=dtype),
                layers.Flatten(dtype=dtype), layers.Dropout(0.25, seed=3, dtype=dtype),
                layers.Dense(8, activation="relu", dtype=dtype), layers.Dense(3, activation="softmax", dtype=dtype)]

    sequential = keras.Sequential([keras.Input((8, 8, 1), dtype=dtype)] + make_layers())
    stack = make_layers()
    inputs = keras.Input((8, 8, 1), dtype=dtype)
    x = inputs
    for layer in stack:
        x = layer(x)
    functional = keras.Model(inputs, x)

    class Subclassed(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.stack = make_layers()

        def call(self, x, training=False):
            for layer in self.stack:
                x = layer(x)
            return x

    subclassed = Subclassed()
    subclassed.build((None, 8, 8, 1))
    return sequential, functional, subclassed


def test_sequential_functional_and_subclassed_give_the_same_bits(rng):
    models = _three_ways()
    x = rng.random((16, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 16)
    for model in models:
        assert [w.shape for w in model.get_weights()] == [w.shape for w in models[0].get_weights()]
        np.testing.assert_array_equal(model.get_weights()[0], models[0].get_weights()[0])
    predictions = [m.predict(x, verbose=0) for m in models]
    for p in predictions[1:]:
        np.testing.assert_array_equal(p, predictions[0])
    gradients = []
    for model in models:
        _, input_grads, grads, _ = engine_gradients(model, [x], training=True)
        gradients.append([input_grads[0]] + [grads[id(w)] for w in model.trainable_weights])
    for g in gradients[1:]:
        for a, b in zip(g, gradients[0]):
            np.testing.assert_array_equal(a, b)
    histories = []
    for model in models:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        keras.utils.set_random_seed(5)
        histories.append(model.fit(x, y, epochs=2, batch_size=4, verbose=0).history)
    for model, h in zip(models[1:], histories[1:]):
        assert h == histories[0]
        for a, b in zip(model.get_weights(), models[0].get_weights()):
            np.testing.assert_array_equal(a, b)
    assert isinstance(models[0], keras.Model) and isinstance(models[1], keras.Model)


def test_fan_out_to_three_layers_and_concatenate_match_pytorch(torch, rng):
    """One tensor read by three layers, their outputs concatenated on channels."""
    F = torch.nn.functional
    keras.utils.set_random_seed(12)
    inputs = keras.Input((5, 5, 2), dtype=F64)
    h = layers.Conv2D(3, 3, padding="same", activation="tanh", dtype=F64)(inputs)
    branches = [layers.Conv2D(2, 1, activation=act, dtype=F64)(h) for act in ("tanh", "sigmoid", "linear")]
    x = layers.Concatenate(axis=-1, dtype=F64)(branches)                 # (5, 5, 6)
    model = keras.Model(inputs, layers.Dense(2, dtype=F64)(layers.GlobalAveragePooling2D(dtype=F64)(x)))
    xb = rng.standard_normal((3, 5, 5, 2))
    outs, input_grads, grads, ws = engine_gradients(model, [xb])
    weights = [w for _, w in model.named_weights()]
    tw = [_nchw(w, torch) if w.ndim == 4 else torch.tensor(w, requires_grad=True) for w in weights]
    tx = torch.tensor(xb.transpose(0, 3, 1, 2).copy(), requires_grad=True)
    th = torch.tanh(F.conv2d(tx, tw[0], tw[1], padding=1))
    acts = (torch.tanh, torch.sigmoid, lambda t: t)
    tb = [act(F.conv2d(th, tw[2 + 2 * k], tw[3 + 2 * k])) for k, act in enumerate(acts)]
    z = torch.cat(tb, dim=1).mean(dim=(2, 3)) @ tw[8] + tw[9]
    (z * torch.tensor(ws[0])).sum().backward()
    np.testing.assert_allclose(outs[0], z.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(input_grads[0], tx.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-9, atol=1e-12)
    for w, t in zip(weights, tw):
        want = t.grad.numpy().transpose(2, 3, 1, 0) if w.ndim == 4 else t.grad.numpy()
        np.testing.assert_allclose(grads[id(w)], want, rtol=1e-9, atol=1e-12)


def test_layer_normalization_in_a_graph_matches_pytorch(torch, rng):
    F = torch.nn.functional
    keras.utils.set_random_seed(13)
    inputs = keras.Input((6,), dtype=F64)
    h = layers.Dense(4, activation="tanh", dtype=F64)(inputs)
    x = layers.add([layers.LayerNormalization(dtype=F64)(h), h], dtype=F64)
    model = keras.Model(inputs, layers.Dense(2, dtype=F64)(x))
    norm = model.layers[2]
    norm.set_weights([rng.uniform(0.5, 1.5, 4), rng.normal(0, 0.2, 4)])
    xb = rng.standard_normal((5, 6))
    outs, input_grads, grads, ws = engine_gradients(model, [xb])
    weights = [w for _, w in model.named_weights()]
    k1, b1, gamma, beta, k2, b2 = (torch.tensor(w, requires_grad=True) for w in weights)
    tx = torch.tensor(xb, requires_grad=True)
    th = torch.tanh(tx @ k1 + b1)
    z = (F.layer_norm(th, (4,), gamma, beta, eps=1e-3) + th) @ k2 + b2
    (z * torch.tensor(ws[0])).sum().backward()
    np.testing.assert_allclose(outs[0], z.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(input_grads[0], tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for w, t in zip(weights, (k1, b1, gamma, beta, k2, b2)):
        np.testing.assert_allclose(grads[id(w)], t.grad.numpy(), rtol=1e-9, atol=1e-12)
