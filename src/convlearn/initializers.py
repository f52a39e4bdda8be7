"""Initial values of weights, with Keras's names, formulas and defaults.

``fan_in`` and ``fan_out`` follow Keras: for a Dense kernel (D, U) they are D
and U; for a Conv2D kernel (kh, kw, C, F) they are kh*kw*C and kh*kw*F.

An initializer given an integer ``seed`` returns the same values on every call;
without a seed it draws from the global generator that
``convlearn.utils.set_random_seed`` resets.
"""

from __future__ import annotations

import math

import numpy as np

from . import _rng
from ._registry import Registry

# Keras scales the standard deviation of its truncated normal (cut at 2 stddev)
# by this constant so that the truncated distribution keeps the wanted variance.
_TRUNCATION_CORRECTION = 0.87962566103423978


def compute_fans(shape):
    """Return ``(fan_in, fan_out)`` for a weight of the given shape."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated_normal(rng, shape, stddev, mean=0.0):
    """Normal samples redrawn until they lie within two standard deviations."""
    out = rng.normal(0.0, 1.0, size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


class Initializer:
    """Base class: ``init(shape, dtype="float32") -> ndarray``."""

    def __init__(self, seed=None):
        self.seed = _rng.check_seed(seed, f"{type(self).__name__}(seed)")

    def _rng(self):
        return _rng.generator_for(self.seed)

    def __call__(self, shape, dtype="float32"):
        return np.asarray(self.sample(tuple(int(s) for s in shape)), dtype=dtype)

    def sample(self, shape):
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


REGISTRY = Registry("initializer", Initializer, advice=(
    ": pass a name such as 'glorot_uniform' or an instance such as convlearn.initializers.HeNormal(seed=0)."))


@REGISTRY.register("zeros")
class Zeros(Initializer):
    """All zeros (the default bias initializer)."""

    def __init__(self):
        super().__init__(None)

    def sample(self, shape):
        return np.zeros(shape)

    def get_config(self):
        return {}


@REGISTRY.register("ones")
class Ones(Zeros):
    """All ones."""

    def sample(self, shape):
        return np.ones(shape)


@REGISTRY.register("constant")
class Constant(Initializer):
    """Every value equal to ``value``."""

    def __init__(self, value=0.0):
        super().__init__(None)
        self.value = float(value)

    def sample(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


@REGISTRY.register("random_normal")
class RandomNormal(Initializer):
    """Normal distribution with ``mean`` and ``stddev`` (Keras defaults 0.0 and 0.05)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape):
        return self._rng().normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


@REGISTRY.register("random_uniform")
class RandomUniform(Initializer):
    """Uniform distribution on ``[minval, maxval)`` (Keras defaults -0.05, 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def sample(self, shape):
        return self._rng().uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


@REGISTRY.register("truncated_normal")
class TruncatedNormal(RandomNormal):
    """Normal distribution cut at two standard deviations (redrawn beyond)."""

    def sample(self, shape):
        return _truncated_normal(self._rng(), shape, self.stddev, self.mean)


@REGISTRY.register("variance_scaling")
class VarianceScaling(Initializer):
    """Random values whose variance is ``scale / n``.

    ``n`` is fan_in, fan_out or their average (``mode``); the distribution is
    a truncated normal, an untruncated normal, or a uniform on ``[-limit,
    limit]`` with ``limit = sqrt(3 * scale / n)``.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(
                f"VarianceScaling: `mode` must be one of ['fan_in', 'fan_out', 'fan_avg']. Received: mode={mode!r}."
            )
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                "VarianceScaling: `distribution` must be one of ['truncated_normal', 'untruncated_normal', "
                f"'uniform']. Received: distribution={distribution!r}."
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def sample(self, shape):
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape)
        return _truncated_normal(rng, shape, math.sqrt(variance) / _TRUNCATION_CORRECTION)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _preset(class_name, alias, scale, mode, distribution, doc):
    """A VarianceScaling with fixed arguments, registered under ``alias``."""

    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    cls = type(class_name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})
    return REGISTRY.register(alias)(cls)


GlorotUniform = _preset(
    "GlorotUniform", "glorot_uniform", 1.0, "fan_avg", "uniform",
    "Uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out)). Keras's default kernel initializer.")
GlorotNormal = _preset(
    "GlorotNormal", "glorot_normal", 1.0, "fan_avg", "truncated_normal",
    "Truncated normal with stddev sqrt(2 / (fan_in + fan_out)).")
HeUniform = _preset(
    "HeUniform", "he_uniform", 2.0, "fan_in", "uniform",
    "Uniform on [-limit, limit], limit = sqrt(6 / fan_in).")
HeNormal = _preset(
    "HeNormal", "he_normal", 2.0, "fan_in", "truncated_normal",
    "Truncated normal with stddev sqrt(2 / fan_in).")
LecunUniform = _preset(
    "LecunUniform", "lecun_uniform", 1.0, "fan_in", "uniform",
    "Uniform on [-limit, limit], limit = sqrt(3 / fan_in).")
LecunNormal = _preset(
    "LecunNormal", "lecun_normal", 1.0, "fan_in", "truncated_normal",
    "Truncated normal with stddev sqrt(1 / fan_in).")


def get(identifier):
    """Turn a name, a class, a config dict or an instance into an initializer.

    Raises
    ------
    ValueError
        For an unknown name (lists the valid ones).
    """
    return REGISTRY.get(identifier)


def serialize(initializer):
    """JSON-serialisable description, readable back by :func:`get` and :func:`deserialize`."""
    return REGISTRY.serialize(initializer)


def deserialize(config):
    """The initializer a :func:`serialize` config (or a name) describes."""
    return REGISTRY.deserialize(config)
