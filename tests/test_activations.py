"""Activation functions: finite differences, PyTorch parity, stability, lookup by name and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convlearn import activations
from helpers import away_from, numerical_gradient, rel_error

# (name, activation object, torch function)
CASES = [
    ("linear", activations.Linear(), lambda t, x: x * 1.0),
    ("relu", activations.ReLU(), lambda t, x: t.relu(x)),
    ("sigmoid", activations.Sigmoid(), lambda t, x: t.sigmoid(x)),
    ("tanh", activations.Tanh(), lambda t, x: t.tanh(x)),
    ("softmax", activations.Softmax(), lambda t, x: t.softmax(x, -1)),
    ("softmax-axis0", activations.Softmax(axis=0), lambda t, x: t.softmax(x, 0)),
    ("softmax-axis1", activations.Softmax(axis=1), lambda t, x: t.softmax(x, 1)),
    ("leaky_relu", activations.LeakyReLU(), lambda t, x: t.nn.functional.leaky_relu(x, 0.2)),
    ("leaky_relu-0.5", activations.LeakyReLU(0.5), lambda t, x: t.nn.functional.leaky_relu(x, 0.5)),
    ("elu", activations.ELU(), lambda t, x: t.nn.functional.elu(x)),
    ("elu-0.7", activations.ELU(0.7), lambda t, x: t.nn.functional.elu(x, 0.7)),
    ("softplus", activations.Softplus(), lambda t, x: t.nn.functional.softplus(x)),
    ("swish", activations.Swish(), lambda t, x: t.nn.functional.silu(x)),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,act,_", CASES, ids=IDS)
def test_activation_gradient_matches_finite_differences(name, act, _, rng):
    x = away_from(rng, (3, 4, 5), [0.0], scale=2.0)
    w = rng.standard_normal(x.shape)
    out, cache = act.forward(x)
    dx = act.backward(w, cache)
    numeric = numerical_gradient(lambda: float(np.sum(w * act.forward(x)[0])), x)
    assert rel_error(dx, numeric) < 1e-6


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("name,act,torch_fn", CASES, ids=IDS)
def test_activation_matches_torch(torch, name, act, torch_fn, dtype, tol, rng):
    x = away_from(rng, (3, 4, 5), [0.0], scale=3.0).astype(dtype)
    w = rng.standard_normal(x.shape).astype(dtype)
    out, cache = act.forward(x)
    dx = act.backward(w, cache)
    assert out.dtype == dtype and dx.dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_fn(torch, xt)
    yt.backward(torch.tensor(w))
    assert rel_error(out, yt.detach().numpy()) < tol
    assert rel_error(dx, xt.grad.numpy()) < tol


@pytest.mark.parametrize("name,act,torch_fn", CASES, ids=IDS)
def test_activation_is_finite_for_huge_inputs(torch, name, act, torch_fn):
    x = np.array([[-1e4, -50.0, 0.5, 50.0, 1e4], [1e4, 1e4, -1e4, 0.0, 3.0]])
    with np.errstate(over="raise", divide="raise", invalid="raise"):   # underflow to 0 is fine
        out, cache = act.forward(x)
        dx = act.backward(np.ones_like(x), cache)
    assert np.isfinite(out).all() and np.isfinite(dx).all()
    expected = torch_fn(torch, torch.tensor(x)).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-300)


def test_softmax_rows_are_probabilities(rng):
    x = rng.standard_normal((6, 10)) * 20
    p = activations.softmax(x)
    assert (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    # invariant to adding a constant to every score
    np.testing.assert_allclose(activations.softmax(x + 1000.0), p, rtol=1e-12)


def test_relu_gradient_at_zero_is_zero():
    act = activations.ReLU()
    out, cache = act.forward(np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(act.backward(np.ones(3), cache), [0.0, 0.0, 1.0])


@pytest.mark.parametrize("fn,name", [
    (activations.linear, "linear"), (activations.relu, "relu"), (activations.sigmoid, "sigmoid"),
    (activations.tanh, "tanh"), (activations.softmax, "softmax"), (activations.leaky_relu, "leaky_relu"),
    (activations.elu, "elu"), (activations.softplus, "softplus"), (activations.swish, "swish"),
    (activations.silu, "swish"),
])
def test_keras_style_functions_match_objects_and_lookup(fn, name, rng):
    x = rng.standard_normal((2, 5))
    from_name = activations.get(name)
    np.testing.assert_allclose(fn(x), from_name.forward(x)[0], rtol=1e-15)
    assert activations.get(fn).name == name                 # a function is accepted by its name
    assert activations.serialize(fn) == name


def test_functions_with_arguments(rng):
    x = np.array([-2.0, -0.5, 0.0, 1.5])
    np.testing.assert_allclose(activations.leaky_relu(x, negative_slope=0.1), [-0.2, -0.05, 0.0, 1.5])
    np.testing.assert_allclose(activations.elu(x, alpha=2.0), np.where(x > 0, x, 2.0 * np.expm1(x)))
    m = rng.standard_normal((3, 4))
    np.testing.assert_allclose(activations.softmax(m, axis=0).sum(axis=0), 1.0, rtol=1e-12)
    assert activations.relu([-1, 2]).tolist() == [0, 2]         # lists are accepted


def test_get_accepts_none_names_and_instances():
    assert activations.get(None).name == "linear"
    assert activations.get("ReLU").name == "relu"              # case-insensitive
    assert activations.get("silu").name == "swish"
    act = activations.ELU(0.3)
    assert activations.get(act) is act
    assert json.dumps(activations.serialize("tanh")) == '"tanh"'


def test_unknown_activation_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown activation 'sigmod'\. Did you mean 'sigmoid'\? "
                                         r"Valid names: elu, leaky_relu, linear, relu, sigmoid, silu, "
                                         r"softmax, softplus, swish, tanh\."):
        activations.get("sigmod")
    with pytest.raises(ValueError, match=r"Unknown activation 'xyzzy'\. Valid names:"):
        activations.get("xyzzy")


def test_custom_python_function_is_rejected():
    def my_act(x):
        return x

    with pytest.raises(TypeError, match=r"Could not interpret activation .*my_act.*valid: elu, .*"
                                        r"a custom Python function has no backward pass"):
        activations.get(my_act)
    with pytest.raises(TypeError, match=r"Could not interpret activation 3"):
        activations.get(3)
