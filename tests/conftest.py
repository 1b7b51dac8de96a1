"""Shared test setup: every backend-dependent test is parametrized over BACKENDS from here.

When a backend lands, adding its mode to BACKENDS runs the whole op/gradient table on it.
"""
import numpy as np
import pytest

from symgrad.backend import BACKENDS as _AVAILABLE

BACKENDS = [m for m in ("numpy", "numba") if m in _AVAILABLE]


@pytest.fixture(params=BACKENDS)
def mode(request):
    """The backend mode a test runs on."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
