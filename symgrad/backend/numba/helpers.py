"""Jitted helpers that generated kernels call: stable scalar sigmoid/softplus per float width,
and layout adapters for BLAS. Generated modules import everything from here.

>>> float(sigmoid64(-1000.0)), float(softplus64(1000.0))
(0.0, 1000.0)
"""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

JIT = dict(nogil=True, error_model="numpy", cache=True)
# Row passes may reassociate sums (vectorized dot products) and fuse multiply-adds; no flag that
# assumes finite values or no NaN is set, so inf/nan still propagate as in numpy.
JIT_FAST = dict(JIT, fastmath={"reassoc", "contract"})
# The thread-dispatch function of a row pass: only its prange loop runs in parallel.
JIT_PAR = dict(JIT_FAST, parallel=True)
# Below this many elements of X a row pass stays on one thread: starting the threads (~5 us)
# would cost more than the second core saves.
PARALLEL_MIN_ELEMENTS = 100_000


def as_float(x):
    """``x`` itself if it is a float, else float64 (``-x`` of an unsigned int or a bool would wrap)."""
    return x


@overload(as_float, jit_options={"cache": True})
def _as_float(x):
    if isinstance(x, (types.Integer, types.Boolean)):
        return lambda x: np.float64(x)
    return lambda x: x


@numba.njit(**JIT)
def sigmoid64(x):
    x = as_float(x)
    if x >= 0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


@numba.njit(**JIT)
def sigmoid32(x):
    x = as_float(x)
    one = np.float32(1.0)
    if x >= 0:
        return one / (one + np.exp(-x))
    e = np.exp(x)
    return e / (one + e)


@numba.njit(**JIT)
def softplus64(x):
    x = as_float(x)
    if x > 0:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))


@numba.njit(**JIT)
def softplus32(x):
    x = as_float(x)
    if x > 0:
        return x + np.log1p(np.exp(-x))
    return np.log1p(np.exp(x))


@numba.njit(**JIT)
def row_chunks(n, m, most):
    """Row chunks (one per thread) for a row pass over an n x m matrix: ``most`` for large inputs,
    one for small ones; at least 32 rows per chunk."""
    if n * m < PARALLEL_MIN_ELEMENTS:
        return 1
    return max(1, min(most, n // 32))


def blas_ready(x):
    """``x`` itself when BLAS can take it (C or F contiguous), else a C-contiguous copy."""
    return x


@overload(blas_ready, jit_options={"cache": True})
def _blas_ready(x):
    if isinstance(x, types.Array) and x.layout in "CF":
        return lambda x: x
    return lambda x: np.ascontiguousarray(x)


def contiguous(x):
    """A C-contiguous array with x's values (no copy when it already is)."""
    return x


@overload(contiguous, jit_options={"cache": True})
def _contiguous(x):
    if isinstance(x, types.Array) and x.layout == "C":
        return lambda x: x
    return lambda x: np.ascontiguousarray(x)


def power(a, b):
    """``a ** b`` with numpy's rule for integers: a negative integer exponent is a ValueError."""
    return a ** b


@overload(power, jit_options={"cache": True})
def _power(a, b):
    if isinstance(a, types.Integer) and isinstance(b, types.Integer):
        def impl(a, b):
            if b < 0:
                raise ValueError("Integers to negative integer powers are not allowed.")
            return a ** b
        return impl
    return lambda a, b: a ** b


@numba.njit(**JIT)
def check_index(i, n, what_bad):
    """Normalize a possibly negative index into [0, n); a raise instead of reading out of bounds."""
    if i < -n or i >= n:
        raise IndexError(what_bad)
    return i + n if i < 0 else i
