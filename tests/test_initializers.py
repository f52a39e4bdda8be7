"""Initializers: fans, the documented distributions (mean, variance, limits), seeds, lookup and errors.

The statistics are checked on tens of thousands of draws with tolerances of
several standard errors; the seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from convlearn import initializers, layers, utils

DENSE = (200, 300)            # fan_in 200, fan_out 300
CONV = (5, 5, 16, 32)         # fan_in 5*5*16 = 400, fan_out 5*5*32 = 800
FANS = {DENSE: (200, 300), CONV: (400, 800)}

# variance of a standard normal truncated at +-2, from its density and distribution function
_PHI2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
TRUNCATED_VARIANCE = 1 - 4 * _PHI2 / math.erf(2 / math.sqrt(2))


def test_compute_fans():
    assert initializers.compute_fans(DENSE) == (200, 300)
    assert initializers.compute_fans(CONV) == (400, 800)
    assert initializers.compute_fans((7,)) == (7, 7)
    assert initializers.compute_fans(()) == (1, 1)


def check_uniform(values, limit):
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.99 * limit                     # the whole interval is used
    n = values.size
    assert abs(values.mean()) < 5 * limit / math.sqrt(3 * n)
    np.testing.assert_allclose(values.var(), limit ** 2 / 3, rtol=0.03)


def check_truncated_normal(values, variance):
    """Variance as documented; nothing beyond 2 standard deviations of the untruncated normal."""
    sigma = math.sqrt(variance / TRUNCATED_VARIANCE)                 # stddev before truncation
    assert np.abs(values).max() <= 2 * sigma
    assert np.abs(values).max() > 1.95 * sigma
    assert abs(values.mean()) < 5 * math.sqrt(variance / values.size)
    np.testing.assert_allclose(values.var(), variance, rtol=0.03)


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize("name,kind,variance", [
    ("glorot_uniform", "uniform", lambda fi, fo: 2 / (fi + fo)),
    ("glorot_normal", "normal", lambda fi, fo: 2 / (fi + fo)),
    ("he_uniform", "uniform", lambda fi, fo: 2 / fi),
    ("he_normal", "normal", lambda fi, fo: 2 / fi),
    ("lecun_uniform", "uniform", lambda fi, fo: 1 / fi),
    ("lecun_normal", "normal", lambda fi, fo: 1 / fi),
])
def test_variance_scaling_presets(shape, name, kind, variance):
    cls = type(initializers.get(name))
    values = cls(seed=3)(shape, dtype="float64")
    assert values.shape == shape and values.dtype == np.float64
    var = variance(*FANS[shape])
    if kind == "uniform":
        check_uniform(values, math.sqrt(3 * var))     # e.g. glorot: sqrt(6 / (fan_in + fan_out))
    else:
        check_truncated_normal(values, var)


@pytest.mark.parametrize("mode,n", [("fan_in", 400), ("fan_out", 800), ("fan_avg", 600)])
@pytest.mark.parametrize("distribution", ["uniform", "truncated_normal", "untruncated_normal"])
def test_variance_scaling_modes(mode, n, distribution):
    init = initializers.VarianceScaling(scale=3.0, mode=mode, distribution=distribution, seed=11)
    values = init(CONV, dtype="float64")
    variance = 3.0 / n
    if distribution == "uniform":
        check_uniform(values, math.sqrt(3 * variance))
    elif distribution == "truncated_normal":
        check_truncated_normal(values, variance)
    else:
        np.testing.assert_allclose(values.var(), variance, rtol=0.03)
        assert np.abs(values).max() > 3 * math.sqrt(variance)     # not truncated


def test_basic_initializers():
    shape = (300, 200)
    normal = initializers.RandomNormal(mean=1.0, stddev=0.5, seed=1)(shape, dtype="float64")
    assert abs(normal.mean() - 1.0) < 5 * 0.5 / math.sqrt(normal.size)
    np.testing.assert_allclose(normal.std(), 0.5, rtol=0.02)
    uniform = initializers.RandomUniform(minval=-2.0, maxval=1.0, seed=2)(shape, dtype="float64")
    assert uniform.min() >= -2.0 and uniform.max() < 1.0
    np.testing.assert_allclose([uniform.mean(), uniform.var()], [-0.5, 9 / 12], rtol=0.02, atol=0.01)
    truncated = initializers.TruncatedNormal(mean=0.5, stddev=0.1, seed=3)(shape, dtype="float64")
    assert np.abs(truncated - 0.5).max() <= 0.2                       # cut at 2 stddev
    np.testing.assert_allclose(truncated.var(), 0.01 * TRUNCATED_VARIANCE, rtol=0.03)
    np.testing.assert_array_equal(initializers.Zeros()((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(initializers.Ones()((2, 3)), np.ones((2, 3)))
    np.testing.assert_array_equal(initializers.Constant(0.25)((4,)), np.full(4, 0.25))


def test_keras_defaults():
    assert initializers.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}
    assert initializers.RandomUniform().get_config() == {"minval": -0.05, "maxval": 0.05, "seed": None}
    assert initializers.VarianceScaling().get_config() == {
        "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "seed": None}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype(dtype):
    assert initializers.GlorotUniform(seed=0)((3, 4), dtype=dtype).dtype == np.dtype(dtype)


@pytest.mark.parametrize("cls", [initializers.RandomNormal, initializers.RandomUniform, initializers.TruncatedNormal,
                                 initializers.GlorotUniform, initializers.HeNormal, initializers.VarianceScaling])
def test_seeded_initializers_repeat(cls):
    a = cls(seed=42)
    first = a((6, 5))
    np.testing.assert_array_equal(first, a((6, 5)))              # same values on every call
    np.testing.assert_array_equal(first, cls(seed=42)((6, 5)))   # and in a fresh instance
    assert not np.array_equal(first, cls(seed=43)((6, 5)))


def test_unseeded_initializers_follow_the_global_seed():
    init = initializers.GlorotUniform()
    utils.set_random_seed(5)
    a1, a2 = init((4, 4)), init((4, 4))
    assert not np.array_equal(a1, a2)                             # a new draw each call
    utils.set_random_seed(5)
    np.testing.assert_array_equal(init((4, 4)), a1)               # reproducible after reseeding
    np.testing.assert_array_equal(init((4, 4)), a2)


def test_layers_use_the_documented_limits():
    utils.set_random_seed(0)
    conv = layers.Conv2D(32, 5)                                   # default glorot_uniform
    conv.build_for((None, 28, 28, 16))
    kernel = conv.params["kernel"]
    assert kernel.shape == CONV and kernel.dtype == np.float32
    assert np.abs(kernel).max() <= math.sqrt(6 / (400 + 800))
    np.testing.assert_array_equal(conv.params["bias"], np.zeros(32))
    dense = layers.Dense(300, kernel_initializer="he_uniform")
    dense.build_for((None, 200))
    assert np.abs(dense.params["kernel"]).max() <= math.sqrt(6 / 200)
    assert np.abs(dense.params["kernel"]).max() > 0.99 * math.sqrt(6 / 200)


@pytest.mark.parametrize("name", ["zeros", "ones", "constant", "random_normal", "random_uniform", "truncated_normal",
                                  "variance_scaling", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal"])
def test_get_and_serialize_round_trip(name):
    init = initializers.get(name)
    config = json.loads(json.dumps(initializers.serialize(init)))
    again = initializers.get(config)
    assert type(again) is type(init) and again.get_config() == init.get_config()
    assert initializers.get(type(init)).get_config() == init.get_config()
    assert initializers.get(init) is init


def test_serialize_keeps_arguments():
    init = initializers.VarianceScaling(scale=2.0, mode="fan_out", distribution="uniform", seed=9)
    again = initializers.get(initializers.serialize(init))
    np.testing.assert_array_equal(again((3, 3)), init((3, 3)))
    assert initializers.get(initializers.serialize(initializers.Constant(3.5)))((2,)).tolist() == [3.5, 3.5]


def test_unknown_initializer_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"Unknown initializer 'he_unifrom'\. Did you mean 'he_uniform'\? "
                                         r"Valid names: constant, glorot_normal, glorot_uniform, he_normal"):
        initializers.get("he_unifrom")
    with pytest.raises(ValueError, match=r"Unknown initializer 'Orthogonal'.*Valid names:"):
        initializers.get({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(TypeError, match=r"Could not interpret initializer 0\.5: pass a name such as 'glorot_uniform'"):
        initializers.get(0.5)


@pytest.mark.parametrize("kwargs,match", [
    ({"mode": "fan_sum"}, r"VarianceScaling: `mode` must be one of \['fan_in', 'fan_out', 'fan_avg'\]\. "
                          r"Received: mode='fan_sum'"),
    ({"distribution": "normal"}, r"`distribution` must be one of \['truncated_normal', 'untruncated_normal', "
                                 r"'uniform'\]\. Received: distribution='normal'"),
    ({"seed": -3}, r"VarianceScaling\(seed\) must be None or a non-negative integer; got -3"),
])
def test_invalid_initializer_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        initializers.VarianceScaling(**kwargs)


def test_invalid_seed_in_presets_and_global():
    with pytest.raises(ValueError, match=r"GlorotUniform\(seed\) must be None or a non-negative integer"):
        initializers.GlorotUniform(seed="1")
    with pytest.raises(ValueError, match=r"set_random_seed expects a non-negative integer seed; got None"):
        utils.set_random_seed(None)
    with pytest.raises(ValueError, match=r"set_random_seed\(seed\) must be None or a non-negative integer"):
        utils.set_random_seed(-1)
