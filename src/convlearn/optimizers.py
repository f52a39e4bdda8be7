"""Optimizers: how weights move given their gradients. Keras's formulas and defaults.

- ``SGD``: ``v = momentum * v - lr * g``; ``w += v`` (Nesterov: ``w += momentum * v - lr * g``).
- ``Adam``: ``m = b1 m + (1 - b1) g``; ``v = b2 v + (1 - b2) g^2``;
  ``w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.
- ``RMSprop``: ``v = rho v + (1 - rho) g^2``; ``w -= lr * g / sqrt(v + eps)``
  (centered: ``v - mean_g^2`` under the root; momentum accumulates the step).

Updates happen in place, in the weights' own dtype, with preallocated scratch
arrays (no fresh large temporaries every step).
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import accepted_arguments, float_in_range, reject_unknown_kwargs
from ._registry import Registry
from .ops import parallel


class Optimizer:
    """Base class.

    Parameters
    ----------
    learning_rate : float
    clipnorm : float, optional
        Clip each gradient so its L2 norm is at most this.
    clipvalue : float, optional
        Clip each gradient element to [-clipvalue, clipvalue].
    global_clipnorm : float, optional
        Clip all gradients together so their joint L2 norm is at most this.
    weight_decay : float, optional
        Decoupled weight decay: ``w -= lr * weight_decay * w`` before each step.
    """

    slot_names: tuple = ()

    def __init__(self, learning_rate=0.001, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 weight_decay=None, name=None, **kwargs):
        owner = type(self).__name__
        if "lr" in kwargs:
            raise ValueError(f"{owner}: the argument `lr` is no longer supported; use `learning_rate` instead.")
        if kwargs:
            reject_unknown_kwargs(kwargs, accepted_arguments(type(self)), owner)
        self.learning_rate = learning_rate
        inf = math.inf
        self.clipnorm = None if clipnorm is None else float_in_range(clipnorm, "clipnorm", owner, 0, inf, False)
        self.clipvalue = None if clipvalue is None else float_in_range(clipvalue, "clipvalue", owner, 0, inf, False)
        self.global_clipnorm = (None if global_clipnorm is None
                                else float_in_range(global_clipnorm, "global_clipnorm", owner, 0, inf, False))
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{owner}: set at most one of clipnorm, clipvalue and global_clipnorm.")
        self.weight_decay = (None if weight_decay is None
                             else float_in_range(weight_decay, "weight_decay", owner, 0, inf))
        self.name = name or owner.lower()
        self.iterations = 0
        self.slots = None        # one dict of state arrays per variable, made on the first step
        self._scratch = None

    @property
    def learning_rate(self):
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = float_in_range(value, "learning_rate", type(self).__name__, 0, math.inf)

    def build(self, params):
        """Create the state (momenta etc.) for a list of weight arrays."""
        self.slots = [{name: np.zeros_like(p) for name in self.slot_names} for p in params]
        self._scratch = [np.empty_like(p) for p in params]

    def apply(self, params, grads):
        """Update ``params`` in place from ``grads`` (two lists in the same order)."""
        if self.global_clipnorm is not None:
            grads = self.clip_global(grads)
        self.begin_step(params)
        self.apply_some(range(len(params)), params, grads)

    @property
    def applies_in_parts(self):
        """Whether weights may be updated in groups as their gradients arrive
        (:meth:`begin_step`, then :meth:`apply_some`): not with ``global_clipnorm``,
        which needs every gradient first."""
        return self.global_clipnorm is None

    def begin_step(self, params):
        """Start one step over ``params``: build the state on first use, count the step."""
        if self.slots is None:
            self.build(params)
        elif len(self.slots) != len(params):
            raise ValueError(
                f"{type(self).__name__} was built for {len(self.slots)} weight arrays but received "
                f"{len(params)}. The model changed since compile(): call model.compile(...) again."
            )
        self.iterations += 1

    def apply_some(self, indices, params, grads):
        """Update the weights at ``indices`` of ``params`` from the matching ``grads``.

        Call :meth:`begin_step` once first. Calls for disjoint ``indices`` may
        run at the same time in different threads.
        """
        lr = self._learning_rate
        for i in indices:
            g = self._clip_one(grads[i])
            self._update_in_blocks(params[i], g, self.slots[i], self._scratch[i], lr)

    def _update_in_blocks(self, p, g, slots, tmp, lr):
        """Run :meth:`update` on the whole array, or on blocks of it in parallel threads.

        Every formula is element-wise, so blocks are independent and the result
        is the same either way.
        """
        if p.size < 200_000 or not parallel.threaded():
            if self.weight_decay:
                p -= p.dtype.type(lr * self.weight_decay) * p
            self.update(p, g, slots, tmp, lr)
            return
        p_flat, g_flat = p.reshape(-1), np.ascontiguousarray(g).reshape(-1)

        def block(a, b):
            pf, gf = p_flat[a:b], g_flat[a:b]
            if self.weight_decay:
                pf -= pf.dtype.type(lr * self.weight_decay) * pf
            self.update(pf, gf, {k: v.reshape(-1)[a:b] for k, v in slots.items()}, tmp.reshape(-1)[a:b], lr)

        parallel.run(block, parallel.ranges(p.size))

    def update(self, p, g, slots, tmp, lr):
        raise NotImplementedError

    def _clip_one(self, g):
        if self.clipvalue is not None:
            return np.clip(g, -self.clipvalue, self.clipvalue)
        if self.clipnorm is not None:
            norm = float(np.sqrt(np.sum(np.square(g, dtype=np.float64))))
            return g * (self.clipnorm / norm) if norm > self.clipnorm else g
        return g

    def clip_global(self, grads):
        """``grads`` scaled together so that their joint L2 norm is at most ``global_clipnorm``."""
        norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads))
        if norm > self.global_clipnorm:
            return [g * (self.global_clipnorm / norm) for g in grads]
        return grads

    # -- state, for saving --------------------------------------------------------
    def get_state(self):
        """Flat list of state arrays (iterations first) for saving."""
        arrays = [np.array(self.iterations, dtype=np.int64)]
        for slot in self.slots or []:
            arrays.extend(slot[name] for name in self.slot_names)
        return arrays

    def set_state(self, arrays, params):
        """Restore what :meth:`get_state` returned, for a model with weights ``params``."""
        expected = 1 + len(self.slot_names) * len(params)
        if len(arrays) != expected:
            raise ValueError(f"Saved optimizer state has {len(arrays)} arrays; expected {expected}.")
        step = np.asarray(arrays[0])
        if step.size != 1 or step.dtype.kind not in "iu" or int(step.reshape(())) < 0:
            raise ValueError(f"Saved optimizer state: the step count must be one integer >= 0; got {step!r:.80}.")
        self.build(params)
        self.iterations = int(step.reshape(()))
        it = iter(arrays[1:])
        for slot in self.slots:
            for name in self.slot_names:
                value = next(it)
                if value.shape != slot[name].shape:
                    raise ValueError(f"Saved optimizer state has an array of shape {value.shape}; "
                                     f"expected {slot[name].shape}.")
                slot[name][...] = value
                del value          # the next array may be read lazily: never hold two at once

    def get_config(self):
        return {"name": self.name, "learning_rate": self._learning_rate, "clipnorm": self.clipnorm,
                "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm,
                "weight_decay": self.weight_decay}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self._learning_rate})"


REGISTRY = Registry("optimizer", Optimizer, advice=(
    ". Pass a name ('adam', 'sgd', 'rmsprop') or an instance such as convlearn.optimizers.Adam(learning_rate=1e-3)."))


@REGISTRY.register("sgd")
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Parameters
    ----------
    learning_rate : float, default 0.01
    momentum : float in [0, 1), default 0
    nesterov : bool, default False
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = float_in_range(momentum, "momentum", "SGD", 0, 1)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def update(self, p, g, slots, tmp, lr):
        dt = p.dtype.type
        if not self.momentum:
            np.multiply(g, dt(lr), out=tmp)
            p -= tmp
            return
        v = slots["momentum"]
        v *= dt(self.momentum)
        np.multiply(g, dt(lr), out=tmp)
        v -= tmp                                   # v = momentum * v - lr * g
        if self.nesterov:
            p -= tmp
            np.multiply(v, dt(self.momentum), out=tmp)
            p += tmp                               # w += momentum * v - lr * g
        else:
            p += v

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, nesterov=self.nesterov)
        return config


@REGISTRY.register("adam")
class Adam(Optimizer):
    """Adam: momentum plus a per-weight step size from the running mean of squared gradients.

    Parameters
    ----------
    learning_rate : float, default 0.001
    beta_1 : float, default 0.9
    beta_2 : float, default 0.999
    epsilon : float, default 1e-7
    amsgrad : bool, default False
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = float_in_range(beta_1, "beta_1", "Adam", 0, 1)
        self.beta_2 = float_in_range(beta_2, "beta_2", "Adam", 0, 1)
        self.epsilon = float_in_range(epsilon, "epsilon", "Adam", 0, math.inf, low_inclusive=False)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")

    def update(self, p, g, slots, tmp, lr):
        dt = p.dtype.type
        t = self.iterations
        alpha = lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        m, v = slots["m"], slots["v"]
        np.multiply(g, dt(1 - self.beta_1), out=tmp)
        m *= dt(self.beta_1)
        m += tmp                                   # m = b1 m + (1 - b1) g
        np.multiply(g, g, out=tmp)
        tmp *= dt(1 - self.beta_2)
        v *= dt(self.beta_2)
        v += tmp                                   # v = b2 v + (1 - b2) g^2
        if self.amsgrad:
            np.maximum(slots["v_hat"], v, out=slots["v_hat"])
            v = slots["v_hat"]
        np.sqrt(v, out=tmp)
        tmp += dt(self.epsilon)
        np.divide(m, tmp, out=tmp)
        tmp *= dt(alpha)
        p -= tmp                                   # w -= alpha m / (sqrt(v) + eps)

    def get_config(self):
        config = super().get_config()
        config.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon, amsgrad=self.amsgrad)
        return config


@REGISTRY.register("rmsprop")
class RMSprop(Optimizer):
    """RMSprop: divide each step by the root of a running mean of squared gradients.

    Parameters
    ----------
    learning_rate : float, default 0.001
    rho : float, default 0.9
    momentum : float, default 0
    epsilon : float, default 1e-7
    centered : bool, default False
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = float_in_range(rho, "rho", "RMSprop", 0, 1)
        self.momentum = float_in_range(momentum, "momentum", "RMSprop", 0, 1)
        self.epsilon = float_in_range(epsilon, "epsilon", "RMSprop", 0, math.inf, low_inclusive=False)
        self.centered = bool(centered)
        self.slot_names = ("v",) + (("mean_g",) if self.centered else ()) + (("momentum",) if self.momentum else ())

    def update(self, p, g, slots, tmp, lr):
        dt = p.dtype.type
        v = slots["v"]
        np.multiply(g, g, out=tmp)
        tmp *= dt(1 - self.rho)
        v *= dt(self.rho)
        v += tmp                                   # v = rho v + (1 - rho) g^2
        if self.centered:
            mg = slots["mean_g"]
            mg *= dt(self.rho)
            mg += dt(1 - self.rho) * g             # running mean of g
            np.multiply(mg, mg, out=tmp)
            np.subtract(v, tmp, out=tmp)
        else:
            tmp[...] = v
        tmp += dt(self.epsilon)
        np.sqrt(tmp, out=tmp)
        np.divide(g, tmp, out=tmp)
        tmp *= dt(lr)                              # step = lr g / sqrt(v + eps)
        if self.momentum:
            mom = slots["momentum"]
            mom *= dt(self.momentum)
            mom += tmp
            p -= mom
        else:
            p -= tmp

    def get_config(self):
        config = super().get_config()
        config.update(rho=self.rho, momentum=self.momentum, epsilon=self.epsilon, centered=self.centered)
        return config


def get(identifier):
    """Turn a name (``"adam"``), a class, a config or an instance into an optimizer.

    Raises
    ------
    ValueError
        For an unknown name (lists the valid ones).
    """
    return REGISTRY.get(identifier)


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}``, readable back by :func:`get` and :func:`deserialize`."""
    return REGISTRY.serialize(optimizer)


def deserialize(config):
    """The optimizer a :func:`serialize` config (or a name) describes, with no state yet."""
    return REGISTRY.deserialize(config)
