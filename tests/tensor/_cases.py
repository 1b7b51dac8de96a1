"""Shared machinery for the op tables in tests/tensor.

Every op family has ONE table: a list of :class:`Case` (name, symbolic builder, numpy reference,
input generators). Two tests run over each table, on every backend (the ``mode`` fixture):

- :func:`check_value`: compile the builder on symbolic inputs of the generated arrays' dtypes and
  compare with the numpy reference: same dtype (symbolic and computed), same shape, same values
  (``rtol=1e-12`` for float64, bit-exact for ints and bools);
- :func:`check_grad`: ``symgrad.gradient.verify_grad`` at the case's gradient points.

Inputs are generated from a fixed seed, so every run sees the same arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pytest

import symgrad
import symgrad.tensor as T
from symgrad.gradient import verify_grad

SEED = 20240611


@dataclass(frozen=True)
class Case:
    """One op check.

    ``inputs``: one generator per symbolic input (``rng -> array``, or a fixed array).
    ``grad``: True = verify the gradient at ``inputs``; a tuple of generators = verify it at those
    points instead (kinks, ties, domains); False = the op is not differentiable (int/bool output).
    ``bc``: per-input broadcastable patterns (None = no broadcastable dims) for the value test.
    """

    name: str
    build: Callable
    ref: Callable
    inputs: tuple
    grad: bool | tuple = True
    rtol: float | None = None
    atol: float = 0.0
    bc: tuple | None = None


def params(cases: Sequence[Case]) -> list:
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"duplicate case names: {dupes}"
    return [pytest.param(c, id=c.name) for c in cases]


def grad_params(cases: Sequence[Case]) -> list:
    return params([c for c in cases if c.grad is not False])


def draw(generators, seed: int = SEED) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.asarray(g(rng)) if callable(g) else np.asarray(g) for g in generators]


def variables_for(values, bcs=None) -> list:
    """One symbolic input per array, of its dtype and rank (broadcastable dims from ``bcs``)."""
    bcs = bcs or [None] * len(values)
    return [T.tensor(v.dtype.name, bc if bc is not None else (False,) * v.ndim, f"in{i}")
            for i, (v, bc) in enumerate(zip(values, bcs))]


def assert_matches(out, got, expected, rtol=None, atol=0.0, what=""):
    """``got`` (computed from symbolic ``out``) equals numpy's ``expected``: dtype, shape, values."""
    expected = np.asarray(expected)
    assert isinstance(got, np.ndarray), f"{what}: result is a {type(got).__name__}, not an ndarray"
    assert out.dtype == expected.dtype.name, f"{what}: symbolic dtype {out.dtype}, numpy gives {expected.dtype}"
    assert got.dtype == expected.dtype, f"{what}: computed dtype {got.dtype}, numpy gives {expected.dtype}"
    assert out.ndim == expected.ndim, f"{what}: symbolic ndim {out.ndim}, numpy gives {expected.ndim}"
    assert got.shape == expected.shape, f"{what}: shape {got.shape}, numpy gives {expected.shape}"
    for d, b in enumerate(out.broadcastable):
        assert not b or got.shape[d] == 1, f"{what}: dim {d} is declared broadcastable but has size {got.shape[d]}"
    if expected.dtype.kind == "f":
        if rtol is None:
            rtol = 1e-12 if expected.dtype == np.float64 else 1e-6
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def check_value(case: Case, mode: str) -> None:
    values = draw(case.inputs)
    inputs = variables_for(values, case.bc)
    out = T.as_tensor_variable(case.build(*inputs))
    fn = symgrad.function(inputs, out, mode=mode, on_unused_input="ignore")
    got = fn(*values)
    expected = case.ref(*[v.copy() for v in values])
    assert_matches(out, got, expected, case.rtol, case.atol, case.name)
    # Inputs are never modified by a call.
    for v, again in zip(values, draw(case.inputs)):
        np.testing.assert_array_equal(v, again)


def check_grad(case: Case, mode: str) -> None:
    points = draw(case.grad if isinstance(case.grad, tuple) else case.inputs)
    verify_grad(case.build, points, mode=mode)


# --- input generators (rng -> array) ----------------------------------------------------------------
def uniform(lo, hi, shape=(2, 3), dtype="float64"):
    """Uniform floats in [lo, hi)."""
    return lambda rng: rng.uniform(lo, hi, shape).astype(dtype)


def signed(lo, hi, shape=(2, 3), dtype="float64"):
    """Magnitude in [lo, hi), random sign: values kept away from 0 (kinks of abs, sign, relu)."""
    return lambda rng: (rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)).astype(dtype)


def integers(lo, hi, shape=(2, 3), dtype="int32"):
    """Integers in [lo, hi)."""
    return lambda rng: rng.integers(lo, hi, shape).astype(dtype)


def nonzero_integers(lo, hi, shape=(2, 3), dtype="int32"):
    """Integers in [lo, hi) without 0 (divisors)."""
    def gen(rng):
        v = rng.integers(lo, hi - 1, shape)
        return np.where(v >= 0, v + 1, v).astype(dtype)

    return gen


def booleans(shape=(2, 3)):
    return lambda rng: rng.integers(0, 2, shape).astype(bool)


def choice(values, shape=(2, 3), dtype="float64"):
    """Draws from a fixed set of values (ties on purpose, or safe points only)."""
    return lambda rng: rng.choice(np.asarray(values, dtype=dtype), shape)


def away_from_integers(lo, hi, shape=(2, 3), dtype="float64"):
    """An integer in [lo, hi) plus a fraction in [0.2, 0.8]: away from floor/ceil jumps."""
    return lambda rng: (rng.integers(lo, hi, shape) + rng.uniform(0.2, 0.8, shape)).astype(dtype)


def distinct(shape=(2, 3), dtype="float64", scale=0.5):
    """Values at least ``scale / 2`` apart, in random order: no ties for max/min/argmax."""
    def gen(rng):
        n = int(np.prod(shape))
        v = rng.permutation(n) + rng.uniform(0.0, 0.5, n)
        return ((v - n / 2) * scale).reshape(shape).astype(dtype)

    return gen


def fixed(values, dtype="float64"):
    return np.asarray(values, dtype=dtype)
