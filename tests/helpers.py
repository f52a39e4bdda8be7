"""Shared test helpers: a finite-difference gradient checker and small array utilities.

The checker compares a layer's analytic gradients with centred finite
differences of a random linear functional of its output,
``L(x, params) = sum(w * layer(x))``, whose gradient with respect to the
output is ``w`` itself. Everything runs in float64 on tiny shapes.
"""

from __future__ import annotations

import numpy as np

TINY = 1e-12


def rel_error(analytic, numeric):
    """max |a - n| / max(|a| + |n|): a relative error that is 0 only when the arrays agree.

    The denominator is the largest ``|a| + |n|`` over all entries (floored at
    ``TINY``), so that entries that are 0 in both arrays do not divide by zero
    and a gradient that is wrongly all zeros gives an error of 1.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    assert a.shape == n.shape, f"shapes differ: {a.shape} vs {n.shape}"
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a) + np.abs(n))), TINY)
    return float(np.max(np.abs(a - n))) / scale


def numerical_gradient(f, x, eps=1e-6):
    """Centred finite differences of the scalar function ``f()`` with respect to ``x``.

    ``x`` is perturbed in place, one entry at a time, and restored.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        plus = f()
        x[i] = old - eps
        minus = f()
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def check_layer_gradients(layer, x, training=False, forward=None, tol=1e-6, seed=0):
    """Assert that ``layer.backward`` matches finite differences for the input(s) and every weight.

    Parameters
    ----------
    layer : convlearn layer, built with ``dtype="float64"``
    x : float64 array, the input batch, or a list of arrays for a layer of several inputs
    forward : callable(x) -> out, optional
        How to recompute the output for the numerical gradient; defaults to
        ``layer.forward(x, training)``. Dropout passes a function that uses a
        fresh layer with the same seed, so the mask stays the same.

    Returns
    -------
    dict
        The relative error of each gradient (keys ``"input"`` or ``"input_0"``,
        ``"input_1"``, ..., and the weight names).
    """
    several = isinstance(x, (list, tuple))
    xs = [np.array(a, dtype=np.float64) for a in (x if several else [x])]
    arg = xs if several else xs[0]
    if not layer.built:                                               # build without a call (no random draw)
        layer.build_for([(None,) + a.shape[1:] for a in xs] if several else (None,) + xs[0].shape[1:])
    forward = forward or (lambda inp: layer.forward(inp, training=training)[0])
    out, cache = layer.forward(arg, training=training)
    w = np.random.default_rng(seed).standard_normal(out.shape)       # the random linear functional
    dx, grads = layer.backward(w.copy(), cache)
    dxs = list(dx) if several else [dx]
    assert len(dxs) == len(xs)
    for d, a in zip(dxs, xs):
        assert d.shape == a.shape
    assert set(grads) == set(layer.params)
    names = [f"input_{i}" for i in range(len(xs))] if several else ["input"]
    analytic = {**dict(zip(names, dxs)), **{k: grads[k].copy() for k in layer.params}}

    def loss():
        return float(np.sum(w * forward(arg)))

    errors = {n: rel_error(analytic[n], numerical_gradient(loss, a)) for n, a in zip(names, xs)}
    for key, value in layer.params.items():
        errors[key] = rel_error(analytic[key], numerical_gradient(loss, value))
    bad = {k: e for k, e in errors.items() if not e < tol}
    assert not bad, f"{type(layer).__name__}: gradient check failed (relative errors {bad}, tolerance {tol})"
    return errors


def distinct_values(rng, shape, spacing=0.01):
    """Random values whose pairwise gaps are at least ``spacing``: max pooling has no near-ties."""
    n = int(np.prod(shape))
    values = (rng.permutation(n) - n / 2) * spacing
    return values.reshape(shape).astype(np.float64)


def away_from(rng, shape, points, margin=0.05, scale=1.0):
    """Normal samples pushed at least ``margin`` away from each of ``points`` (kinks of ReLU-like functions)."""
    x = rng.standard_normal(shape) * scale
    for p in points:
        close = np.abs(x - p) < margin
        x[close] = p + np.where(x[close] >= p, margin, -margin) * 2
    return x


def tf_same_pads(n, k, s):
    """Padding (before, after) of TensorFlow's 'same': extra cell at the bottom/right.

    Written out here independently of the library's own helper.
    """
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2
