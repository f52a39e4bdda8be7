"""Where randomness comes from.

Every random draw in convlearn (initial weights, dropout masks, shuffling in
``fit``) comes from a NumPy ``Generator``: either one made from an explicit
``seed`` argument, or one derived from the global generator that
:func:`convlearn.utils.set_random_seed` resets. Nothing reads NumPy's legacy
global state, so two runs after the same ``set_random_seed(s)`` draw the same
numbers (and train to bit-identical weights with the same number of threads;
see :func:`convlearn.utils.set_random_seed`).
"""

from __future__ import annotations

import random

import numpy as np

_state = {"generator": np.random.default_rng()}


def check_seed(seed, owner="seed"):
    """Validate a seed argument: None or a non-negative int."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            f"{owner} must be None or a non-negative integer; got {seed!r}. "
            "Pass e.g. seed=42."
        )
    return int(seed)


def set_global_seed(seed):
    """Reset the global generator (and Python's and NumPy's legacy ones, like Keras)."""
    seed = check_seed(seed, "set_random_seed(seed)")
    if seed is None:
        raise ValueError("set_random_seed expects a non-negative integer seed; got None. Pass e.g. 42.")
    _state["generator"] = np.random.default_rng(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def generator_for(seed):
    """A generator for one user of randomness.

    With an integer ``seed``: a fresh generator from that seed (the same
    numbers every time). With ``None``: a generator seeded from the global
    one, so it is reproducible after ``set_random_seed``.
    """
    if seed is not None:
        return np.random.default_rng(seed)
    return np.random.default_rng(int(_state["generator"].integers(0, 2**63 - 1)))
