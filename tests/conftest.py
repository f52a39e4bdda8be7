"""Shared fixtures for the test suite."""

from __future__ import annotations

import numpy as np
import pytest

import convlearn


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator for each test."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _restore_kernels():
    """Every test starts and ends with the default ("fast") kernels."""
    convlearn.ops.set_kernels("fast")
    yield
    convlearn.ops.set_kernels("fast")


@pytest.fixture(scope="session")
def torch():
    """PyTorch, the oracle of the parity tests; those tests are skipped where it is not installed."""
    torch = pytest.importorskip(
        "torch", reason="PyTorch is the reference implementation for the parity tests; "
                        "install torch (CPU build) to run them")
    torch.set_num_threads(1)
    return torch
