"""Optimizers: step by step against torch.optim and against Keras's formulas written out here.

Keras and torch differ in where epsilon goes (Adam: Keras adds it to sqrt(v)
before the bias correction is folded into the step size, torch after;
RMSprop: Keras puts it inside the square root, torch outside). With a tiny
epsilon these differences vanish below the tolerance, so torch is a valid
oracle: 1e-12 for Adam, 1e-15 for RMSprop (at the first step
v = (1 - rho) g^2 can be small, and 1e-12 inside or outside the root shows
at the 1e-9 level). The exact Keras formulas, with the default epsilon, are
checked separately against a plain NumPy transcription.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from convlearn import optimizers
from helpers import rel_error

STEPS = 20
SHAPES = [(3, 4), (4,), (2, 2, 1, 3)]


def random_problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return params, grads


def run_convlearn(opt, params, grads):
    params = [p.copy() for p in params]
    ids = [id(p) for p in params]
    history = []
    for step_grads in grads:
        opt.apply(params, [g.copy() for g in step_grads])
        history.append([p.copy() for p in params])
    assert [id(p) for p in params] == ids, "updates must happen in place"
    assert opt.iterations == len(grads)
    return history


def run_torch(torch, make_opt, params, grads):
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = make_opt(tparams)
    history = []
    for step_grads in grads:
        for tp, g in zip(tparams, step_grads):
            tp.grad = torch.tensor(g.copy())
        opt.step()
        history.append([tp.detach().numpy().copy() for tp in tparams])
    return history


TORCH_CASES = [
    ("sgd", lambda: optimizers.SGD(learning_rate=0.1), lambda t, p: t.optim.SGD(p, lr=0.1)),
    ("sgd-momentum", lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
     lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.9)),
    ("sgd-nesterov", lambda: optimizers.SGD(learning_rate=0.05, momentum=0.8, nesterov=True),
     lambda t, p: t.optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True)),
    ("adam", lambda: optimizers.Adam(learning_rate=0.01, epsilon=1e-12),
     lambda t, p: t.optim.Adam(p, lr=0.01, eps=1e-12)),
    ("adam-betas", lambda: optimizers.Adam(learning_rate=0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-12),
     lambda t, p: t.optim.Adam(p, lr=0.02, betas=(0.5, 0.9), eps=1e-12)),
    ("adam-amsgrad", lambda: optimizers.Adam(learning_rate=0.01, epsilon=1e-12, amsgrad=True),
     lambda t, p: t.optim.Adam(p, lr=0.01, eps=1e-12, amsgrad=True)),
    ("adamw", lambda: optimizers.Adam(learning_rate=0.01, epsilon=1e-12, weight_decay=0.1),
     lambda t, p: t.optim.AdamW(p, lr=0.01, eps=1e-12, weight_decay=0.1)),
    ("rmsprop", lambda: optimizers.RMSprop(learning_rate=0.01, epsilon=1e-15),
     lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-15)),
    ("rmsprop-momentum", lambda: optimizers.RMSprop(learning_rate=0.01, rho=0.8, momentum=0.5, epsilon=1e-15),
     lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.8, eps=1e-15, momentum=0.5)),
    ("rmsprop-centered", lambda: optimizers.RMSprop(learning_rate=0.01, centered=True, epsilon=1e-15),
     lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-15, centered=True)),
    ("rmsprop-centered-momentum",
     lambda: optimizers.RMSprop(learning_rate=0.005, momentum=0.9, centered=True, epsilon=1e-15),
     lambda t, p: t.optim.RMSprop(p, lr=0.005, alpha=0.9, eps=1e-15, momentum=0.9, centered=True)),
]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-9), (np.float32, 2e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("name,make,make_torch", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_optimizer_matches_torch_step_by_step(torch, name, make, make_torch, dtype, tol):
    params, grads = random_problem(dtype=dtype)
    ours = run_convlearn(make(), params, grads)
    theirs = run_torch(torch, lambda p: make_torch(torch, p), params, grads)
    for step, (a, b) in enumerate(zip(ours, theirs), 1):
        for pa, pb in zip(a, b):
            assert pa.dtype == dtype
            err = rel_error(pa, pb)
            assert err < tol, f"{name}: step {step} differs (relative error {err})"
    # the parameters did move
    assert rel_error(ours[-1][0], params[0]) > 1e-3


# ---------------------------------------------------------------------------
# Keras's formulas, written out independently
# ---------------------------------------------------------------------------

def keras_sgd(params, grads, lr, momentum=0.0, nesterov=False, weight_decay=None):
    w = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    out = []
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            if weight_decay:
                w[i] = w[i] - w[i] * weight_decay * lr
            if momentum:
                m[i] = m[i] * momentum - g * lr
                w[i] = w[i] + (m[i] * momentum - g * lr if nesterov else m[i])
            else:
                w[i] = w[i] - g * lr
        out.append([x.copy() for x in w])
    return out


def keras_adam(params, grads, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    w = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    vhat = [np.zeros_like(p) for p in params]
    out = []
    for t, step_grads in enumerate(grads, 1):
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i, g in enumerate(step_grads):
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            v[i] = v[i] + (g * g - v[i]) * (1 - b2)
            vv = v[i]
            if amsgrad:
                vhat[i] = np.maximum(vhat[i], v[i])
                vv = vhat[i]
            w[i] = w[i] - (m[i] * alpha) / (np.sqrt(vv) + eps)
        out.append([x.copy() for x in w])
    return out


def keras_rmsprop(params, grads, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    w = [p.copy() for p in params]
    vel = [np.zeros_like(p) for p in params]
    avg = [np.zeros_like(p) for p in params]
    mom = [np.zeros_like(p) for p in params]
    out = []
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            vel[i] = rho * vel[i] + (1 - rho) * g * g
            if centered:
                avg[i] = rho * avg[i] + (1 - rho) * g
                denominator = vel[i] - avg[i] * avg[i] + eps
            else:
                denominator = vel[i] + eps
            increment = lr * g / np.sqrt(denominator)
            if momentum:
                mom[i] = momentum * mom[i] + increment
                w[i] = w[i] - mom[i]
            else:
                w[i] = w[i] - increment
        out.append([x.copy() for x in w])
    return out


KERAS_CASES = [
    ("sgd", lambda: optimizers.SGD(learning_rate=0.1), lambda p, g: keras_sgd(p, g, 0.1)),
    ("sgd-momentum", lambda: optimizers.SGD(0.05, momentum=0.9), lambda p, g: keras_sgd(p, g, 0.05, 0.9)),
    ("sgd-nesterov", lambda: optimizers.SGD(0.05, momentum=0.7, nesterov=True),
     lambda p, g: keras_sgd(p, g, 0.05, 0.7, True)),
    ("sgd-weight-decay", lambda: optimizers.SGD(0.05, momentum=0.5, weight_decay=0.2),
     lambda p, g: keras_sgd(p, g, 0.05, 0.5, weight_decay=0.2)),
    ("adam-defaults", lambda: optimizers.Adam(), lambda p, g: keras_adam(p, g, 0.001)),
    ("adam-big-eps", lambda: optimizers.Adam(0.01, epsilon=0.1), lambda p, g: keras_adam(p, g, 0.01, eps=0.1)),
    ("adam-amsgrad", lambda: optimizers.Adam(0.01, beta_2=0.9, epsilon=0.01, amsgrad=True),
     lambda p, g: keras_adam(p, g, 0.01, b2=0.9, eps=0.01, amsgrad=True)),
    ("rmsprop-defaults", lambda: optimizers.RMSprop(), lambda p, g: keras_rmsprop(p, g, 0.001)),
    ("rmsprop-big-eps", lambda: optimizers.RMSprop(0.01, epsilon=0.5), lambda p, g: keras_rmsprop(p, g, 0.01, eps=0.5)),
    ("rmsprop-centered-momentum", lambda: optimizers.RMSprop(0.01, rho=0.7, momentum=0.6, epsilon=0.05, centered=True),
     lambda p, g: keras_rmsprop(p, g, 0.01, 0.7, 0.6, 0.05, True)),
]


@pytest.mark.parametrize("name,make,formula", KERAS_CASES, ids=[c[0] for c in KERAS_CASES])
def test_optimizer_follows_keras_formulas(name, make, formula):
    params, grads = random_problem(seed=1)
    ours = run_convlearn(make(), params, grads)
    expected = formula(params, grads)
    for step, (a, b) in enumerate(zip(ours, expected), 1):
        for pa, pb in zip(a, b):
            assert rel_error(pa, pb) < 1e-12, f"{name}: step {step} differs"


def test_adam_epsilon_placement_differs_from_torch_with_a_large_epsilon(torch):
    """The documented difference is real: with epsilon=0.1 Keras's Adam and torch's Adam disagree."""
    params, grads = random_problem(seed=2)
    ours = run_convlearn(optimizers.Adam(0.01, epsilon=0.1), params, grads)
    theirs = run_torch(torch, lambda p: torch.optim.Adam(p, lr=0.01, eps=0.1), params, grads)
    assert rel_error(ours[-1][0], theirs[-1][0]) > 1e-6
    expected = keras_adam(params, grads, 0.01, eps=0.1)
    assert rel_error(ours[-1][0], expected[-1][0]) < 1e-12


# ---------------------------------------------------------------------------
# Clipping, weight decay, learning rate
# ---------------------------------------------------------------------------

def one_sgd_step(grads, **kwargs):
    """Return the update applied by plain SGD with learning rate 1, i.e. minus the (clipped) gradients."""
    params = [np.zeros_like(g) for g in grads]
    optimizers.SGD(learning_rate=1.0, **kwargs).apply(params, [g.copy() for g in grads])
    return [-p for p in params]


def test_clipnorm_clips_each_gradient_separately():
    big = np.array([3.0, 4.0])                  # norm 5
    small = np.array([0.3, 0.4])                # norm 0.5
    clipped = one_sgd_step([big, small], clipnorm=1.0)
    np.testing.assert_allclose(clipped[0], big / 5.0, rtol=1e-12)
    np.testing.assert_allclose(clipped[1], small, rtol=1e-12)       # under the limit: unchanged


def test_clipvalue_clips_each_element():
    g = np.array([[-3.0, 0.2], [0.7, 5.0]])
    np.testing.assert_allclose(one_sgd_step([g], clipvalue=0.5)[0], [[-0.5, 0.2], [0.5, 0.5]])


def test_global_clipnorm_scales_all_gradients_together():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 4.0])             # joint norm 5
    clipped = one_sgd_step([a, b], global_clipnorm=2.5)
    np.testing.assert_allclose(clipped[0], a / 2, rtol=1e-12)
    np.testing.assert_allclose(clipped[1], b / 2, rtol=1e-12)
    unclipped = one_sgd_step([a, b], global_clipnorm=10.0)
    np.testing.assert_allclose(unclipped[0], a)
    np.testing.assert_allclose(unclipped[1], b)


@pytest.mark.parametrize("make", [
    lambda **kw: optimizers.SGD(0.1, momentum=0.9, **kw),
    lambda **kw: optimizers.Adam(0.1, **kw),
    lambda **kw: optimizers.RMSprop(0.1, **kw),
], ids=["sgd", "adam", "rmsprop"])
def test_clipping_matches_clipping_the_gradients_by_hand(make):
    params, grads = random_problem(seed=4)
    grads = [[g * 10 for g in step] for step in grads]            # large enough to be clipped

    def by_norm(g, c):
        n = np.sqrt(np.sum(g * g))
        return g * (c / n) if n > c else g

    cases = [
        ({"clipnorm": 1.5}, lambda gs: [by_norm(g, 1.5) for g in gs]),
        ({"clipvalue": 0.3}, lambda gs: [np.clip(g, -0.3, 0.3) for g in gs]),
        ({"global_clipnorm": 2.0}, lambda gs: [g * min(1.0, 2.0 / math.sqrt(sum(np.sum(x * x) for x in gs)))
                                                for g in gs]),
    ]
    for kwargs, clip in cases:
        ours = run_convlearn(make(**kwargs), params, grads)
        by_hand = run_convlearn(make(), params, [clip(step) for step in grads])
        for a, b in zip(ours[-1], by_hand[-1]):
            assert rel_error(a, b) < 1e-12, kwargs


def test_weight_decay_is_decoupled_and_scaled_by_learning_rate():
    w = np.array([2.0, -4.0])
    opt = optimizers.SGD(learning_rate=0.5, weight_decay=0.1)
    opt.apply([w], [np.zeros(2)])
    np.testing.assert_allclose(w, [2.0 * (1 - 0.05), -4.0 * (1 - 0.05)], rtol=1e-12)


def test_learning_rate_can_be_changed_between_steps():
    w = np.array([1.0])
    opt = optimizers.SGD(learning_rate=0.1)
    opt.apply([w], [np.array([1.0])])
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5
    opt.apply([w], [np.array([1.0])])
    np.testing.assert_allclose(w, [1.0 - 0.1 - 0.5])


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.RMSprop])
@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "0.01", None])
def test_learning_rate_setter_validates(cls, value):
    opt = cls()
    with pytest.raises(ValueError, match=rf"{cls.__name__}: `learning_rate` must be a number in \[0, inf\)\. "
                                         r"Received: learning_rate="):
        opt.learning_rate = value
    with pytest.raises(ValueError, match=r"`learning_rate` must be a number"):
        cls(learning_rate=value)


@pytest.mark.parametrize("cls", [optimizers.SGD, optimizers.Adam, optimizers.RMSprop])
def test_lr_argument_is_rejected_with_the_new_name(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: the argument `lr` is no longer supported; "
                                         r"use `learning_rate` instead"):
        cls(lr=0.01)


def test_float32_parameters_stay_float32():
    for opt in (optimizers.SGD(0.1, momentum=0.9, nesterov=True), optimizers.Adam(amsgrad=True, weight_decay=0.01),
                optimizers.RMSprop(momentum=0.5, centered=True)):
        w = np.ones((3, 2), dtype=np.float32)
        opt.apply([w], [np.full((3, 2), 0.5, dtype=np.float32)])
        assert w.dtype == np.float32 and (w < 1).all()
        assert all(s.dtype == np.float32 for slot in opt.slots for s in slot.values())


# ---------------------------------------------------------------------------
# Lookup, config and state
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name,cls", [("sgd", optimizers.SGD), ("Adam", optimizers.Adam),
                                      ("RMSPROP", optimizers.RMSprop)])
def test_get_by_name_class_instance_and_config(name, cls):
    assert type(optimizers.get(name)) is cls
    assert type(optimizers.get(cls)) is cls
    opt = cls(learning_rate=0.123, clipnorm=2.0)
    assert optimizers.get(opt) is opt
    config = json.loads(json.dumps(optimizers.serialize(opt)))
    restored = optimizers.get(config)
    assert type(restored) is cls and restored.get_config() == opt.get_config()


def test_default_hyperparameters_follow_keras():
    assert optimizers.SGD().learning_rate == 0.01
    adam = optimizers.Adam()
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (0.001, 0.9, 0.999, 1e-7, False)
    rms = optimizers.RMSprop()
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.001, 0.9, 0.0, 1e-7, False)


def test_state_round_trip_continues_identically():
    params, grads = random_problem(seed=5)
    a = optimizers.Adam(0.01, amsgrad=True)
    pa = [p.copy() for p in params]
    for g in grads[:5]:
        a.apply(pa, g)
    state = [np.array(s, copy=True) for s in a.get_state()]
    b = optimizers.Adam(0.01, amsgrad=True)
    pb = [p.copy() for p in pa]
    b.set_state(state, pb)
    assert b.iterations == 5
    for g in grads[5:]:
        a.apply(pa, g)
        b.apply(pb, g)
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x, y)


def test_state_errors():
    params = [np.zeros((2, 3)), np.zeros(3)]
    opt = optimizers.RMSprop(momentum=0.5)
    opt.apply(params, [np.ones((2, 3)), np.ones(3)])
    state = opt.get_state()
    with pytest.raises(ValueError, match=r"Saved optimizer state has 3 arrays; expected 5"):
        optimizers.RMSprop(momentum=0.5).set_state(state[:3], params)
    bad = list(state)
    bad[1] = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"has an array of shape \(3, 2\); expected \(2, 3\)"):
        optimizers.RMSprop(momentum=0.5).set_state(bad, params)
    with pytest.raises(ValueError, match=r"the step count must be one integer >= 0"):
        optimizers.RMSprop(momentum=0.5).set_state([np.array(-1)] + state[1:], params)


def test_apply_to_a_different_number_of_weights():
    opt = optimizers.SGD()
    opt.apply([np.zeros(2), np.zeros(3)], [np.ones(2), np.ones(3)])
    with pytest.raises(ValueError, match=r"SGD was built for 2 weight arrays but received 3\. "
                                         r"The model changed since compile\(\): call model\.compile"):
        opt.apply([np.zeros(2), np.zeros(3), np.zeros(1)], [np.ones(2), np.ones(3), np.ones(1)])


def test_unknown_optimizer_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown optimizer 'adan'\. Did you mean 'adam'\? "
                                         r"Valid names: adam, rmsprop, sgd\."):
        optimizers.get("adan")
    with pytest.raises(TypeError, match=r"Could not interpret optimizer 3\. Pass a name \('adam', 'sgd', 'rmsprop'\)"):
        optimizers.get(3)


@pytest.mark.parametrize("factory,exc,match", [
    (lambda: optimizers.SGD(momentum=1.0), ValueError, r"SGD: `momentum` must be a number in \[0, 1\)"),
    (lambda: optimizers.SGD(momentum=-0.5), ValueError, r"Received: momentum=-0\.5"),
    (lambda: optimizers.Adam(beta_1=1.0), ValueError, r"Adam: `beta_1` must be a number in \[0, 1\)"),
    (lambda: optimizers.Adam(beta_2=2), ValueError, r"Adam: `beta_2` must be a number"),
    (lambda: optimizers.Adam(epsilon=-1e-7), ValueError, r"Adam: `epsilon` must be a number in \(0, inf\)"),
    (lambda: optimizers.RMSprop(rho=1.0), ValueError, r"RMSprop: `rho` must be a number in \[0, 1\)"),
    (lambda: optimizers.RMSprop(momentum=1.5), ValueError, r"RMSprop: `momentum` must be a number"),
    (lambda: optimizers.RMSprop(epsilon="tiny"), ValueError, r"RMSprop: `epsilon` must be a number"),
    (lambda: optimizers.SGD(clipnorm=0), ValueError, r"SGD: `clipnorm` must be a number in \(0, inf\)"),
    (lambda: optimizers.Adam(clipvalue=-1.0), ValueError, r"Adam: `clipvalue` must be a number in \(0, inf\)"),
    (lambda: optimizers.Adam(global_clipnorm=0.0), ValueError, r"`global_clipnorm` must be a number in \(0, inf\)"),
    (lambda: optimizers.SGD(clipnorm=1.0, clipvalue=1.0), ValueError,
     r"SGD: set at most one of clipnorm, clipvalue and global_clipnorm"),
    (lambda: optimizers.Adam(weight_decay=-0.1), ValueError, r"Adam: `weight_decay` must be a number in \[0, inf\)"),
    (lambda: optimizers.Adam(decay=0.1), TypeError, r"Adam got unexpected keyword argument\(s\): 'decay'"),
    (lambda: optimizers.SGD(learning_rat=0.1), TypeError, r"SGD got unexpected keyword argument\(s\)"),
])
def test_invalid_optimizer_arguments(factory, exc, match):
    with pytest.raises(exc, match=match):
        factory()


def test_misspelt_optimizer_argument_suggests_the_right_one():
    with pytest.raises(TypeError, match="did you mean 'learning_rate'"):
        optimizers.SGD(learning_rat=0.1)


@pytest.mark.parametrize("make", [
    lambda: optimizers.Adam(0.01), lambda: optimizers.SGD(0.1, momentum=0.9),
    lambda: optimizers.RMSprop(0.01, centered=True), lambda: optimizers.Adam(0.01, clipnorm=1.0),
    lambda: optimizers.SGD(0.1, clipvalue=0.5),
], ids=["adam", "sgd", "rmsprop", "adam-clipnorm", "sgd-clipvalue"])
def test_updating_in_groups_equals_one_apply(make):
    params, grads = random_problem(3)
    whole = run_convlearn(make(), params, grads)
    opt = make()
    assert opt.applies_in_parts
    current = [p.copy() for p in params]
    for step, step_grads in enumerate(grads):
        opt.begin_step(current)
        opt.apply_some([2, 0], current, step_grads)      # late group first, as in training
        opt.apply_some([1], current, step_grads)
        for a, b in zip(current, whole[step]):
            assert np.array_equal(a, b)


def test_global_clipnorm_needs_every_gradient_before_updating():
    assert not optimizers.SGD(0.1, global_clipnorm=1.0).applies_in_parts
