"""Losses: values and gradients against PyTorch, finite differences, stability, the fused path, errors.

``loss.forward(prepare_targets(y), y_pred)`` returns the mean loss and a cache, and
``loss.backward(cache)`` its gradient with respect to ``y_pred``; with
``logits=z`` the loss is computed from the scores (fused softmax/sigmoid +
cross-entropy) and the gradient is with respect to ``z``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from convlearn import activations, losses
from helpers import numerical_gradient, rel_error

N, C = 5, 4


def one_hot(labels, classes=C):
    return np.eye(classes)[labels]


def softmax(z):
    return activations.softmax_array(z, -1)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def loss_and_grad(loss, y_raw, y_pred, logits=None):
    y = loss.prepare_targets(np.asarray(y_raw), y_pred.shape)
    value, cache = loss.forward(y, y_pred, logits=logits)
    return value, loss.backward(cache)


def fd_check(loss, y_raw, y_pred, tol=1e-6):
    """Finite differences of ``loss.forward`` with respect to the prediction."""
    y_pred = np.array(y_pred, dtype=np.float64)
    y = loss.prepare_targets(np.asarray(y_raw), y_pred.shape)
    _, cache = loss.forward(y, y_pred)
    analytic = loss.backward(cache)
    numeric = numerical_gradient(lambda: loss.forward(y, y_pred)[0], y_pred, eps=1e-6)
    err = rel_error(analytic, numeric)
    assert err < tol, f"{loss!r}: relative error {err}"


# ---------------------------------------------------------------------------
# Test data: (name, loss factory, y_true, y_pred, torch function of (pred, y))
# ---------------------------------------------------------------------------

def make_cases():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, C, N)
    z = rng.standard_normal((N, C)) * 2
    q = rng.uniform(0.05, 1.0, (N, C))                 # positive scores; Keras renormalises them
    p = softmax(z)
    bin_y = rng.integers(0, 2, (N, 3)).astype(np.float64)
    soft_y = rng.uniform(0, 1, (N, 3))
    bin_z = rng.standard_normal((N, 3)) * 2
    bin_p = rng.uniform(0.05, 0.95, (N, 3))
    reg_y = rng.standard_normal((N, 3))
    reg_p = reg_y + rng.uniform(0.1, 1.0, (N, 3)) * rng.choice([-1, 1], (N, 3))   # |diff| >= 0.1 (MAE kink)
    F = lambda t: t.nn.functional  # noqa: E731

    def cce_probs(t, pred, y, ls=0.0):
        # Keras renormalises the probabilities, q / sum(q), which is softmax(log q); the gradient
        # therefore has a 1/sum(q) term on every class, which nll_loss(log q) would leave out
        return F(t).cross_entropy(t.log(pred), y, label_smoothing=ls)

    def bce_smooth(y, ls):
        return y * (1 - ls) + 0.5 * ls

    return [
        ("cce-logits", lambda: losses.CategoricalCrossentropy(from_logits=True), one_hot(labels), z,
         lambda t, pred, y: F(t).cross_entropy(pred, y)),
        ("cce-logits-smooth", lambda: losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2),
         one_hot(labels), z, lambda t, pred, y: F(t).cross_entropy(pred, y, label_smoothing=0.2)),
        ("cce-probs", lambda: losses.CategoricalCrossentropy(), one_hot(labels), p, cce_probs),
        ("cce-unnormalised", lambda: losses.CategoricalCrossentropy(), one_hot(labels), q, cce_probs),
        ("cce-probs-smooth", lambda: losses.CategoricalCrossentropy(label_smoothing=0.1), one_hot(labels), q,
         lambda t, pred, y: cce_probs(t, pred, y, 0.1)),
        ("cce-soft-labels", lambda: losses.CategoricalCrossentropy(from_logits=True), softmax(z[::-1] * 0.5),
         z, lambda t, pred, y: F(t).cross_entropy(pred, y)),
        ("scce-logits", lambda: losses.SparseCategoricalCrossentropy(from_logits=True), labels, z,
         lambda t, pred, y: F(t).cross_entropy(pred, y.long())),
        ("scce-probs", lambda: losses.SparseCategoricalCrossentropy(), labels, p,
         lambda t, pred, y: F(t).cross_entropy(t.log(pred), y.long())),
        ("scce-unnormalised", lambda: losses.SparseCategoricalCrossentropy(), labels, q,
         lambda t, pred, y: F(t).cross_entropy(t.log(pred), y.long())),
        ("bce-probs", lambda: losses.BinaryCrossentropy(), bin_y, bin_p,
         lambda t, pred, y: F(t).binary_cross_entropy(pred, y)),
        ("bce-soft-labels", lambda: losses.BinaryCrossentropy(), soft_y, bin_p,
         lambda t, pred, y: F(t).binary_cross_entropy(pred, y)),
        ("bce-logits", lambda: losses.BinaryCrossentropy(from_logits=True), bin_y, bin_z,
         lambda t, pred, y: F(t).binary_cross_entropy_with_logits(pred, y)),
        ("bce-probs-smooth", lambda: losses.BinaryCrossentropy(label_smoothing=0.3), bin_y, bin_p,
         lambda t, pred, y: F(t).binary_cross_entropy(pred, bce_smooth(y, 0.3))),
        ("bce-logits-smooth", lambda: losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3), bin_y,
         bin_z, lambda t, pred, y: F(t).binary_cross_entropy_with_logits(pred, bce_smooth(y, 0.3))),
        ("mse", lambda: losses.MeanSquaredError(), reg_y, reg_p, lambda t, pred, y: F(t).mse_loss(pred, y)),
        ("mae", lambda: losses.MeanAbsoluteError(), reg_y, reg_p, lambda t, pred, y: F(t).l1_loss(pred, y)),
    ]


CASES = make_cases()
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name,factory,y,pred,_", CASES, ids=IDS)
def test_loss_gradient_matches_finite_differences(name, factory, y, pred, _):
    fd_check(factory(), y, pred)


@pytest.mark.parametrize("name,factory,y,pred,torch_fn", CASES, ids=IDS)
def test_loss_matches_torch_float64(torch, name, factory, y, pred, torch_fn):
    loss = factory()
    value, grad = loss_and_grad(loss, y, pred)
    pt = torch.tensor(pred, requires_grad=True)
    yt = torch.tensor(np.asarray(y))
    expected = torch_fn(torch, pt, yt)
    expected.backward()
    assert abs(value - expected.item()) <= 1e-12 * max(1.0, abs(expected.item()))
    assert rel_error(grad, pt.grad.numpy()) < 1e-10
    # the Keras-style call gives the same mean
    assert abs(loss(y, pred) - expected.item()) <= 1e-12 * max(1.0, abs(expected.item()))


@pytest.mark.parametrize("name,factory,y,pred,torch_fn", CASES, ids=IDS)
def test_loss_matches_torch_float32(torch, name, factory, y, pred, torch_fn):
    loss = factory()
    pred32 = pred.astype(np.float32)
    value, grad = loss_and_grad(loss, y, pred32)
    assert np.isfinite(value)
    pt = torch.tensor(pred32, requires_grad=True)
    y_np = np.asarray(y)
    yt = torch.tensor(y_np.astype(np.float32) if y_np.dtype.kind == "f" else y_np)
    expected = torch_fn(torch, pt, yt)
    expected.backward()
    assert abs(value - expected.item()) <= 1e-5 * max(1.0, abs(expected.item()))
    assert rel_error(grad, pt.grad.numpy()) < 1e-5


def test_probability_losses_equal_nll_of_log_probabilities(torch):
    rng = np.random.default_rng(3)
    p = softmax(rng.standard_normal((6, 5)))
    labels = rng.integers(0, 5, 6)
    expected = torch.nn.functional.nll_loss(torch.log(torch.tensor(p)), torch.tensor(labels)).item()
    assert abs(losses.SparseCategoricalCrossentropy()(labels, p) - expected) < 1e-12
    assert abs(losses.CategoricalCrossentropy()(one_hot(labels, 5), p) - expected) < 1e-12


# ---------------------------------------------------------------------------
# Stability
# ---------------------------------------------------------------------------

BIG = np.array([[1e4, -1e4, 0.0, 5.0], [-1e4, -1e4, 1e4, 1e4], [3.0, 1e4, -2.0, -1e4]])
BIG_LABELS = np.array([1, 0, 2])


@pytest.mark.parametrize("loss,y", [
    (losses.CategoricalCrossentropy(from_logits=True), one_hot(BIG_LABELS)),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), one_hot(BIG_LABELS)),
    (losses.SparseCategoricalCrossentropy(from_logits=True), BIG_LABELS),
    (losses.BinaryCrossentropy(from_logits=True), (BIG > 0).astype(float)[:, ::-1].copy()),
], ids=["cce", "cce-smooth", "scce", "bce"])
def test_huge_logits_give_finite_loss_and_gradients(torch, loss, y):
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, grad = loss_and_grad(loss, y, BIG.copy())
    assert np.isfinite(value) and np.isfinite(grad).all()
    Fn = torch.nn.functional
    zt = torch.tensor(BIG, requires_grad=True)
    if isinstance(loss, losses.BinaryCrossentropy):
        expected = Fn.binary_cross_entropy_with_logits(zt, torch.tensor(y))
    elif isinstance(loss, losses.SparseCategoricalCrossentropy):
        expected = Fn.cross_entropy(zt, torch.tensor(y))
    else:
        expected = Fn.cross_entropy(zt, torch.tensor(y), label_smoothing=loss.label_smoothing)
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    assert rel_error(grad, zt.grad.numpy()) < 1e-12


@pytest.mark.parametrize("loss,y,p", [
    (losses.CategoricalCrossentropy(), one_hot(np.array([0, 2]), 3), np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])),
    (losses.SparseCategoricalCrossentropy(), np.array([0, 2]), np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])),
    (losses.BinaryCrossentropy(), np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 0.0]])),
], ids=["cce", "scce", "bce"])
def test_probabilities_of_exactly_zero_and_one_are_finite(loss, y, p):
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, grad = loss_and_grad(loss, y, p)
    assert np.isfinite(value) and np.isfinite(grad).all()
    # the wrong, certain sample costs -log(1e-7) (Keras's clip), the right one about 0
    per_sample = loss.__class__(reduction="none")(y, p)
    np.testing.assert_allclose(per_sample, [0.0, -np.log(1e-7)], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# The fused path used by models: forward(y, probs, logits=z), gradient w.r.t. z
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("factory,y,act", [
    (lambda: losses.CategoricalCrossentropy(), one_hot(np.array([0, 3, 1, 1, 2])), softmax),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=0.2), one_hot(np.array([0, 3, 1, 1, 2])), softmax),
    (lambda: losses.SparseCategoricalCrossentropy(), np.array([0, 3, 1, 1, 2]), softmax),
    (lambda: losses.BinaryCrossentropy(), np.array([[1.0, 0, 1], [0, 0, 1], [1, 1, 1], [0, 1, 0], [1, 0, 0]]),
     sigmoid),
    (lambda: losses.BinaryCrossentropy(label_smoothing=0.1), np.array([[1.0], [0], [1], [0], [1]]), sigmoid),
], ids=["cce", "cce-smooth", "scce", "bce", "bce-smooth-1-unit"])
def test_fused_logits_path_matches_unfused_gradient(factory, y, act, rng):
    fused, plain = factory(), factory()
    assert fused.fuses_with == ("softmax" if act is softmax else "sigmoid")
    shape = (5, 4) if act is softmax else y.shape
    z = rng.standard_normal(shape)
    yp = fused.prepare_targets(y, shape)
    value, cache = fused.forward(yp, act(z), logits=z)
    grad = fused.backward(cache)
    # the unfused computation, as a function of z: activation, then the loss on probabilities
    unfused = lambda: plain.forward(yp, act(z))[0]  # noqa: E731
    assert abs(value - unfused()) < 1e-12
    numeric = numerical_gradient(unfused, z)
    assert rel_error(grad, numeric) < 1e-6


def test_fused_path_is_finite_where_probabilities_saturate():
    z = np.array([[1e4, 0.0, -1e4]])
    loss = losses.SparseCategoricalCrossentropy()
    y = loss.prepare_targets(np.array([2]), z.shape)
    value, cache = loss.forward(y, softmax(z), logits=z)
    grad = loss.backward(cache)
    np.testing.assert_allclose(value, 2e4, rtol=1e-12)       # exact, not clipped at -log(1e-7)
    np.testing.assert_allclose(grad, [[1.0, 0.0, -1.0]], atol=1e-12)


# ---------------------------------------------------------------------------
# Reductions, sample weights, per-sample functions, lookup
# ---------------------------------------------------------------------------

def test_reductions_and_sample_weight(rng):
    y = rng.standard_normal((4, 3))
    p = rng.standard_normal((4, 3))
    per_sample = np.mean((p - y) ** 2, axis=-1)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(y, p), per_sample, rtol=1e-6)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="sum")(y, p), per_sample.sum(), rtol=1e-12)
    np.testing.assert_allclose(losses.MeanSquaredError()(y, p), per_sample.mean(), rtol=1e-12)
    w = np.array([1.0, 0.0, 2.0, 0.5])
    np.testing.assert_allclose(losses.MeanSquaredError()(y, p, sample_weight=w), np.sum(per_sample * w) / 4,
                               rtol=1e-12)


@pytest.mark.parametrize("fn,cls,kwargs", [
    (losses.categorical_crossentropy, losses.CategoricalCrossentropy, {"label_smoothing": 0.1}),
    (losses.sparse_categorical_crossentropy, losses.SparseCategoricalCrossentropy, {"from_logits": True}),
    (losses.binary_crossentropy, losses.BinaryCrossentropy, {}),
    (losses.mean_squared_error, losses.MeanSquaredError, {}),
    (losses.mse, losses.MeanSquaredError, {}),
    (losses.mean_absolute_error, losses.MeanAbsoluteError, {}),
    (losses.mae, losses.MeanAbsoluteError, {}),
])
def test_per_sample_functions(fn, cls, kwargs, rng):
    p = rng.uniform(0.05, 0.95, (4, 3))
    if cls is losses.SparseCategoricalCrossentropy:
        y = np.array([0, 2, 1, 1])
    elif cls is losses.CategoricalCrossentropy:
        y = one_hot(np.array([0, 2, 1, 1]), 3)
    else:
        y = rng.integers(0, 2, (4, 3)).astype(float)
    values = fn(y, p, **kwargs)
    assert values.shape == (4,)
    np.testing.assert_allclose(values.mean(), cls(**kwargs)(y, p), rtol=1e-6)
    assert type(losses.get(fn)) is cls                      # the function is accepted by compile(loss=...)


@pytest.mark.parametrize("name,cls", [
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
    ("binary_crossentropy", losses.BinaryCrossentropy),
    ("mse", losses.MeanSquaredError), ("mean_squared_error", losses.MeanSquaredError),
    ("MAE", losses.MeanAbsoluteError), ("mean_absolute_error", losses.MeanAbsoluteError),
])
def test_get_by_name_class_function_and_config(name, cls):
    assert type(losses.get(name)) is cls
    assert type(losses.get(cls)) is cls
    instance = cls(name="custom")
    assert losses.get(instance) is instance
    config = losses.serialize(cls(reduction="sum"))
    restored = losses.get(json.loads(json.dumps(config)))
    assert type(restored) is cls and restored.get_config() == config["config"]


def test_serialize_keeps_options():
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.25)
    restored = losses.get(losses.serialize(loss))
    assert restored.from_logits is True and restored.label_smoothing == 0.25


# ---------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------

def test_unknown_loss_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown loss 'sparse_categorical_crossentropi'\. Did you mean "
                                         r"'sparse_categorical_crossentropy'\? Valid names: binary_crossentropy, "
                                         r"categorical_crossentropy, mae, mean_absolute_error"):
        losses.get("sparse_categorical_crossentropi")


def test_custom_loss_function_is_rejected():
    with pytest.raises(TypeError, match=r"Could not interpret loss .*no backward pass"):
        losses.get(lambda y, p: 0.0)


@pytest.mark.parametrize("factory,match", [
    (lambda: losses.CategoricalCrossentropy(label_smoothing=1.5),
     r"CategoricalCrossentropy: `label_smoothing` must be a number in \[0, 1\]\. Received: label_smoothing=1\.5"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=-0.1), r"BinaryCrossentropy: `label_smoothing` must be"),
    (lambda: losses.CategoricalCrossentropy(axis=0), r"only axis=-1 is supported\. Received: axis=0"),
    (lambda: losses.SparseCategoricalCrossentropy(ignore_class=0), r"`ignore_class` is not supported"),
    (lambda: losses.MeanSquaredError(reduction="average"),
     r"MeanSquaredError: `reduction` must be one of \['sum_over_batch_size', 'mean', 'mean_with_sample_weight', "
     r"'sum', 'none', None\]\. Received: reduction='average'"),
])
def test_invalid_loss_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.mark.parametrize("loss,y,shape,exc,match", [
    (losses.CategoricalCrossentropy(), np.array([0, 1, 2]), (3, 10), ValueError,
     r"expects one-hot labels of shape \(N, 10\); got integer labels of shape \(3,\)\. "
     r"Use loss='sparse_categorical_crossentropy'.*to_categorical\(y, 10\)"),
    (losses.CategoricalCrossentropy(), np.zeros((3, 4)), (3, 10), ValueError,
     r"labels of shape \(3, 4\) do not match the model's output of shape \(3, 10\)"),
    (losses.CategoricalCrossentropy(), np.array([["a"] * 3] * 2), (2, 3), TypeError, r"labels must be numbers"),
    (losses.SparseCategoricalCrossentropy(), np.eye(10)[:3], (3, 10), ValueError,
     r"expects integer class labels of shape \(3,\); got one-hot labels.*loss='categorical_crossentropy'"),
    (losses.SparseCategoricalCrossentropy(), np.array([0, 1, 10]), (3, 10), ValueError,
     r"labels must be in the range 0\.\.9 because the model has 10 outputs; got labels from 0 to 10"),
    (losses.SparseCategoricalCrossentropy(), np.array([-1, 1, 2]), (3, 10), ValueError, r"range 0\.\.9"),
    (losses.SparseCategoricalCrossentropy(), np.array([0.5, 1, 2]), (3, 10), ValueError,
     r"expects whole-number class labels 0\.\.9; got fractional values"),
    (losses.SparseCategoricalCrossentropy(), np.array([np.nan, 1, 2]), (3, 10), ValueError,
     r"labels contain NaN or infinity"),
    (losses.SparseCategoricalCrossentropy(), np.array([0, 1]), (3, 10), ValueError,
     r"labels of shape \(2,\) do not match the model's output of shape \(3, 10\); expected labels of shape"),
    (losses.SparseCategoricalCrossentropy(), np.array(["a", "b"]), (2, 10), TypeError, r"labels must be integers"),
    (losses.BinaryCrossentropy(), np.array([[0.0], [2.0]]), (2, 1), ValueError,
     r"expects labels in \[0, 1\]; got values from 0 to 2.*sparse_categorical_crossentropy"),
    (losses.BinaryCrossentropy(), np.array(["a", "b"]), (2, 1), TypeError, r"labels must be numbers in \[0, 1\]"),
    (losses.MeanSquaredError(), np.zeros((3, 2)), (3, 4), ValueError,
     r"targets of shape \(3, 2\) do not match the model's output of shape \(3, 4\)"),
    (losses.MeanAbsoluteError(), np.array(["x"]), (1, 1), TypeError, r"targets must be numbers"),
])
def test_label_errors(loss, y, shape, exc, match):
    with pytest.raises(exc, match=match):
        loss.prepare_targets(y, shape)


def test_targets_keep_float64_precision_and_losses_compute_in_the_prediction_dtype():
    loss = losses.CategoricalCrossentropy(label_smoothing=0.1)
    y64 = loss.prepare_targets(np.eye(3)[[0, 2]], (2, 3))
    assert y64.dtype == np.float64
    np.testing.assert_array_equal(y64, np.eye(3)[[0, 2]] * 0.9 + 0.1 / 3)     # smoothing not rounded to float32
    assert losses.MeanSquaredError().prepare_targets(np.array([[1, 2]]), (1, 2)).dtype == np.float32
    assert losses.MeanSquaredError().prepare_targets(np.array([[0.1, 0.2]]), (1, 2)).dtype == np.float64
    # a float32 model: the loss and its gradient stay float32 even with float64 targets
    z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 0.3]], dtype=np.float32)
    _, cache = loss.forward(y64, softmax(z), logits=z)
    assert loss.backward(cache).dtype == np.float32
    mse = losses.MeanSquaredError()
    _, cache = mse.forward(mse.prepare_targets(np.array([[0.1, 0.2]]), (1, 2)), np.zeros((1, 2), np.float32))
    assert mse.backward(cache).dtype == np.float32


def test_targets_of_rank_one_are_accepted_for_one_output():
    y = losses.MeanSquaredError().prepare_targets(np.array([1.0, 2.0]), (2, 1))
    assert y.shape == (2, 1)
    y = losses.SparseCategoricalCrossentropy().prepare_targets(np.array([[1], [2]]), (2, 3))
    assert y.shape == (2,)


def test_sparse_predictions_are_the_softmax_bit_for_bit(rng):
    """The training step takes the metrics' probabilities from the loss instead of the
    output layer: they must be exactly what the softmax activation computes."""
    from convlearn.activations import softmax_array
    for dtype in (np.float32, np.float64):
        z = (rng.standard_normal((7, 10)) * 4).astype(dtype)
        loss = losses.SparseCategoricalCrossentropy()
        y = loss.prepare_targets(np.array([0, 3, 1, 9, 2, 5, 5]), z.shape)
        _, cache = loss.forward(y, None, logits=z)
        p = loss.predictions(cache)
        assert p.dtype == dtype
        np.testing.assert_array_equal(p, softmax_array(z))


def test_gradient_is_the_same_whether_or_not_predictions_were_asked_for(rng):
    z = rng.standard_normal((6, 4)).astype(np.float32)
    y = np.array([0, 3, 1, 1, 2, 0])
    asked, plain = losses.SparseCategoricalCrossentropy(), losses.SparseCategoricalCrossentropy()
    _, asked_cache = asked.forward(y, None, logits=z)
    p = asked.predictions(asked_cache).copy()
    _, plain_cache = plain.forward(y, None, logits=z)
    np.testing.assert_array_equal(asked.backward(asked_cache), plain.backward(plain_cache))
    np.testing.assert_array_equal(asked.predictions(asked_cache), p)   # the gradient did not change them


def test_predictions_are_none_without_logits_or_for_other_losses(rng):
    z = rng.standard_normal((5, 4))
    sparse = losses.SparseCategoricalCrossentropy()
    _, cache = sparse.forward(np.array([0, 1, 2, 3, 0]), softmax(z))   # probabilities, not fused
    assert sparse.predictions(cache) is None
    cce = losses.CategoricalCrossentropy()
    _, cache = cce.forward(one_hot(np.array([0, 1, 2, 3, 0])), None, logits=z)
    assert cce.predictions(cache) is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 32, 1000])
def test_forward_returns_exactly_numpy_mean_of_the_per_sample_losses(dtype, n, rng):
    """forward() averages without np.mean's Python layers; the value must not move a bit."""
    z = (rng.standard_normal((n, 10)) * 3).astype(dtype)
    labels = rng.integers(0, 10, n)
    loss = losses.SparseCategoricalCrossentropy()
    value, _ = loss.forward(labels, None, logits=z)
    per_sample, _ = losses.SparseCategoricalCrossentropy()._forward_logits(labels, z)
    assert value == float(np.mean(per_sample))


@pytest.mark.parametrize("reduction, factor", [("sum_over_batch_size", 1), ("mean", 1), ("sum", 8), ("none", 1)])
def test_reduction_is_used_in_training_like_keras(reduction, factor, rng):
    """``sum`` sums over the batch (loss and gradient); ``none`` is averaged, as Keras's compile does."""
    import convlearn as keras
    x, y = rng.random((8, 3), dtype=np.float32), rng.random((8, 2), dtype=np.float32)
    results = {}
    for name in ("sum_over_batch_size", reduction):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        before = model.get_weights()[0]
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=losses.MeanSquaredError(reduction=name))
        loss = model.train_on_batch(x, y)
        results[name] = (loss, model.get_weights()[0] - before)        # the SGD step: -lr * gradient
    (mean_loss, mean_step), (loss, step) = results["sum_over_batch_size"], results[reduction]
    assert loss == pytest.approx(mean_loss * factor, rel=1e-6)
    np.testing.assert_allclose(step, mean_step * factor, rtol=1e-4, atol=1e-7)


def test_one_loss_object_serves_two_threads_at_once(rng):
    """The cache is returned, not kept: concurrent forward/backward calls do not mix."""
    import threading
    loss = losses.SparseCategoricalCrossentropy()
    cases = [(rng.standard_normal((16, 5)), rng.integers(0, 5, 16)) for _ in range(8)]
    expected = []
    for z, y in cases:
        _, cache = loss.forward(y, None, logits=z)
        expected.append(loss.backward(cache))
    failures = []

    def work(k):
        for _ in range(200):
            z, y = cases[k]
            _, cache = loss.forward(y, None, logits=z)
            if not np.array_equal(loss.backward(cache), expected[k]):
                failures.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and failures == []
