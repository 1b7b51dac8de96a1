"""Shared machinery for the op tables in tests/tensor.

Every op family has ONE table: a list of :class:`Case` (name, symbolic builder, numpy reference,
input generators). Two tests run over each table, on every backend (the ``mode`` fixture):

- :func:`check_value`: compile the builder on symbolic inputs of the generated arrays' dtypes and
  compare with the numpy reference: same dtype (symbolic and computed), same shape, same values
  (``rtol=1e-12`` for float64, bit-exact for ints and bools);
- :func:`check_grad`: ``symgrad.gradient.verify_grad`` at the case's gradient points.

Inputs are generated from a fixed seed, so every run sees the same arrays.

On compiling backends (``BATCHED_MODES``) the cases of a table are checked in chunks: one compiled
function gives the outputs, the projected costs and the gradients of a whole chunk, and serves the
value checks of its cases too; cases whose gradient is checked elsewhere or not at all get a
function for their values (see "batched checks" below). Every case keeps its own test and its own
assertions.
``SYMGRAD_TEST_CHUNK=n`` sets the chunk size; ``SYMGRAD_TEST_BATCH=0`` checks every case on its own,
through ``verify_grad``, as the numpy backend always does.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pytest

import symgrad
import symgrad.tensor as T
from symgrad.gradient import GradientError, verify_grad

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
    """One ``pytest.param`` per case, id = case name; also registers the table for :func:`check_value`."""
    _register("value", cases)
    return _ids(cases)


def grad_params(cases: Sequence[Case]) -> list:
    """The differentiable cases as params; registers them as a table for :func:`check_grad`."""
    cases = [c for c in cases if c.grad is not False]
    _register("grad", cases)
    return _ids(cases)


def _ids(cases: Sequence[Case]) -> list:
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"duplicate case names: {dupes}"
    return [pytest.param(c, id=c.name) for c in cases]


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
    batched = _value_from_grad(case, mode) or _batched("value", case, mode)
    if batched is not None:
        values, out, got = batched
    else:
        values, inputs, out = _build_value(case)
        fn = symgrad.function(inputs, out, mode=mode, on_unused_input="ignore")
        got = fn(*values)
    expected = case.ref(*[v.copy() for v in values])
    assert_matches(out, got, expected, case.rtol, case.atol, case.name)
    # Inputs are never modified by a call.
    for v, again in zip(values, draw(case.inputs)):
        np.testing.assert_array_equal(v, again)


def check_grad(case: Case, mode: str) -> None:
    batched = _batched("grad", case, mode)
    if batched is None:
        points = draw(case.grad if isinstance(case.grad, tuple) else case.inputs)
        verify_grad(case.build, points, mode=mode)
        return
    points, analytic, numeric, abs_tol, rel_tol, _ = batched
    # verify_grad's comparison, input by input
    for i, p in enumerate(points):
        if p.dtype.kind != "f":
            continue
        err = np.abs(analytic[i] - numeric[i])
        if not np.all(err <= abs_tol + rel_tol * np.abs(numeric[i])):
            raise GradientError(
                f"verify_grad: gradient of input {i} disagrees with finite differences\n"
                f"analytic:\n{analytic[i]}\nnumeric:\n{numeric[i]}\nmax abs error {err.max():.3g}")


# --- batched checks -----------------------------------------------------------------------------------
# Compiling a numba kernel costs ~0.1-3 s, and verify_grad compiles three per case (a shape probe, the
# projected cost, the gradient) besides the value's. In BATCHED_MODES a table's cases are checked in
# chunks instead: one function computes a whole chunk's outputs, projected costs (called for the finite
# differences) and symbolic gradients; a case whose gradient is checked at its value inputs takes its value
# check from there too (its output is in that function: the gradient's graph holds it), and the other
# cases' values are computed in chunks of their own. The projection's shape is probed with the numpy
# backend, which compiles nothing. Each case keeps its own inputs, outputs and test: the first test that
# needs a chunk computes the whole chunk (module-level cache, built lazily), and every test then checks
# only its own case, with exactly the per-case assertions and verify_grad's eps and tolerances.
# Cases with the same kernel source and the same arguments (T.add and +) are computed once, as the kernel
# cache makes them compile once case by case. If building, compiling or running a chunk raises, its cases
# are checked one by one, so the error surfaces in the right test (with a warning naming the chunk).
BATCHED_MODES = () if os.environ.get("SYMGRAD_TEST_BATCH") == "0" else ("numba",)
#: Distinct cases per compiled function. Numba's compile time is set by a kernel's content more than by
#: the number of kernels, and grows faster than linearly (cold tests/tensor, 2 workers: chunks of 1 and 2
#: took 249 and 255 s; test_reduction.py alone 144, 153 and 172 s for chunks of 1, 2 and 4), so one case
#: per function: what batching still buys is one function per case instead of verify_grad's three and
#: the value check's one, and cases with the same kernel computed once.
CHUNK = int(os.environ.get("SYMGRAD_TEST_CHUNK", 1))

_TABLES: dict[tuple, list] = {}      # (kind, case ids) -> the table's cases
_TABLE_OF: dict[tuple, tuple] = {}   # (kind, id(case)) -> its table's key
_PLANS: dict[tuple, "_Plan"] = {}     # (table key, mode) -> the table's batches on that mode


def _register(kind: str, cases: Sequence[Case]) -> None:
    key = (kind, tuple(id(c) for c in cases))
    _TABLES[key] = list(cases)  # keeps the cases (and so their ids) alive
    for c in cases:
        _TABLE_OF[(kind, id(c))] = key


def _plan(kind: str, case: Case, mode: str) -> "_Plan | None":
    """The plan of ``case``'s table of this kind on ``mode`` (made on first use); None: not batched."""
    key = _TABLE_OF.get((kind, id(case)))
    if mode not in BATCHED_MODES or key is None:
        return None
    if (key, mode) not in _PLANS:
        _PLANS[key, mode] = _Plan(kind, _TABLES[key], mode, max(CHUNK, 1))
    return _PLANS[key, mode]


def _grad_plan_of_value(case: Case, mode: str) -> "_Plan | None":
    """The gradient plan that computes ``case``'s output on its value check's inputs, if any."""
    if case.grad is not True or case.bc is not None:
        return None  # gradient at other points, or inputs of other types
    plan = _plan("grad", case, mode)
    return plan if plan is not None and plan.serves_value(case) else None


def _value_from_grad(case: Case, mode: str):
    """``case``'s value check from its gradient chunk (values, output, result); None: not served there."""
    plan = _grad_plan_of_value(case, mode)
    return None if plan is None else plan.value(case)


def _batched(kind: str, case: Case, mode: str):
    """``case``'s results, computed with its chunk; None: check the case on its own."""
    plan = _plan(kind, case, mode)
    return None if plan is None else plan.result(case)


class _Plan:
    """A table's cases on one mode, as unique work items cut into chunks computed on first use."""

    def __init__(self, kind: str, cases: Sequence[Case], mode: str, size: int):
        self.kind, self.mode, self.size = kind, mode, size
        build, self.run = (_build_value, _run_values) if kind == "value" else (_build_grad, _run_grads)
        self.items: list = []                 # what is computed: (case, built), one per distinct key
        self.case_of: dict[int, tuple] = {}   # id(case) -> (its item, its own built)
        seen: dict = {}
        for case in cases:
            if kind == "value" and _grad_plan_of_value(case, mode) is not None:
                continue  # (its check reads its gradient chunk's output)
            try:
                built = build(case)
                key = _work_key(kind, built, mode)
            except Exception:  # noqa: BLE001 - the case's own check raises it again, in its own test
                continue
            if key not in seen:
                seen[key] = len(self.items)
                self.items.append((case, built))
            self.case_of[id(case)] = (seen[key], built)
        self.chunks: dict[int, list | None] = {}

    def serves_value(self, case: Case) -> bool:
        """Whether this gradient plan computes ``case``'s output on the value check's inputs."""
        if id(case) not in self.case_of:
            return False
        built = self.case_of[id(case)][1]
        return [v.type for v in built.inputs] == [v.type for v in variables_for(draw(case.inputs))]

    def value(self, case: Case):
        """(values, output, result) of ``case`` from its gradient chunk (served: serves_value), or None."""
        got = self.result(case)
        if got is None:
            return None
        built = self.case_of[id(case)][1]
        return got[0], built.out, got[5]

    def result(self, case: Case):
        if id(case) not in self.case_of:
            return None
        item, built = self.case_of[id(case)]
        k = item // self.size
        if k not in self.chunks:
            chunk = self.items[k * self.size:(k + 1) * self.size]
            try:
                self.chunks[k] = self.run(chunk, self.mode)
            except Exception as e:  # noqa: BLE001
                warnings.warn(f"batched {self.kind} check of {[c.name for c, _ in chunk]} on {self.mode} raised "
                              f"{type(e).__name__}: {str(e)[:300]}; checking these cases one by one", stacklevel=3)
                self.chunks[k] = None
        results = self.chunks[k]
        if results is None:
            return None
        got = results[item - k * self.size]
        if self.kind == "value":  # the case's own symbolic output; arrays equal to its own inputs
            return got[0], built[2], got[2]
        return got


def _work_key(kind: str, built, mode: str):
    """Equal keys: same kernel source, same arguments, so the same results (what the kernel cache does)."""
    if kind == "value":
        values, inputs, out = built
        sources = [symgrad.function(inputs, out, mode=mode, on_unused_input="ignore").source]
        arrays = values
    else:
        sources = [symgrad.function(built.inputs, [built.out, built.cost] + built.grads, mode=mode,
                                    on_unused_input="ignore").source]
        arrays = built.points
    if any(src is None for src in sources):
        return object()  # no source to compare: never shared
    return (*sources, *[(a.dtype.str, a.shape, a.tobytes()) for a in arrays])


def _build_value(case: Case):
    values = draw(case.inputs)
    inputs = variables_for(values, case.bc)
    return values, inputs, T.as_tensor_variable(case.build(*inputs))


def _run_values(chunk, mode: str) -> list:
    inputs = [v for _, (_, ins, _) in chunk for v in ins]
    values = [a for _, (vals, _, _) in chunk for a in vals]
    fn = symgrad.function(inputs, [out for _, (_, _, out) in chunk], mode=mode, on_unused_input="ignore")
    got = fn(*values)
    return [(vals, out, g) for (_, (vals, _, out)), g in zip(chunk, got)]


@dataclass
class _GradSetup:
    """verify_grad's setup for one case (its defaults: n_tests=1, rng seed 42, eps and tolerances)."""

    points: list
    inputs: list
    out: object
    cost: object
    grads: list
    eps: float
    abs_tol: float
    rel_tol: float


def _build_grad(case: Case) -> _GradSetup:
    points = draw(case.grad if isinstance(case.grad, tuple) else case.inputs)
    # As symgrad.gradient.verify_grad does, step by step.
    rng = np.random.default_rng(42)
    points = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) else "float64") for p in points]
    inputs = [T.as_tensor_variable(p).type(f"input_{i}") for i, p in enumerate(points)]
    out = T.as_tensor_variable(case.build(*inputs))
    float32 = any(p.dtype == np.float32 for p in points) or out.dtype == "float32"
    eps = 1e-3 if float32 else 1e-6
    abs_tol = 1e-2 if float32 else 1e-5
    rel_tol = 1e-2 if float32 else 1e-5
    if out.ndim == 0:
        projection = T.constant(np.asarray(rng.uniform(0.5, 1.5, size=None), out.dtype))
    else:
        # Only the projection's shape: probed with the reference backend, which compiles nothing
        # (the output's values and shape are check_value's business).
        shape = np.shape(symgrad.function(inputs, out, mode="numpy", on_unused_input="ignore")(*points))
        projection = T.constant(rng.uniform(0.5, 1.5, size=shape).astype(out.dtype))
    cost = (out * projection).sum()
    grads = symgrad.grad(cost, inputs, disconnected_inputs="ignore")
    return _GradSetup(points, inputs, out, cost, grads, eps, abs_tol, rel_tol)


def _run_grads(chunk, mode: str) -> list:
    setups = [s for _, s in chunk]
    inputs = [v for s in setups for v in s.inputs]
    points = [p for s in setups for p in s.points]
    # One function gives the outputs, the costs and the gradients: one compile, not three (a
    # gradient's graph holds its cost's and its output's, so the three cost little more than the
    # gradients alone); the finite differences read its costs.
    n = len(setups)
    f_all = symgrad.function(inputs, [s.out for s in setups] + [s.cost for s in setups]
                             + [g for s in setups for g in s.grads], mode=mode, on_unused_input="ignore")

    def f_cost(*args):
        return f_all(*args)[n:2 * n]

    at_points = f_all(*points)
    outs, analytic = at_points[:n], at_points[2 * n:]
    # Central differences, one element at a time as in verify_grad. A case's cost depends on its own
    # inputs only, so step t perturbs the t-th float element of every case at once.
    start, steps, first = [], [], 0  # each case's first slot in points; its (slot, element) steps
    for s in setups:
        start.append(first)
        steps.append([(first + i, j) for i, p in enumerate(s.points) if p.dtype.kind == "f" for j in range(p.size)])
        first += len(s.points)
    numeric = [[np.zeros(p.shape) for p in s.points] for s in setups]
    for t in range(max(map(len, steps), default=0)):
        plus, minus = [q.copy() for q in points], [q.copy() for q in points]
        for s, step in zip(setups, steps):
            if t < len(step):
                slot, j = step[t]
                plus[slot].reshape(-1)[j] += s.eps
                minus[slot].reshape(-1)[j] -= s.eps
        up, down = f_cost(*plus), f_cost(*minus)
        for c, (s, step) in enumerate(zip(setups, steps)):
            if t < len(step):
                slot, j = step[t]
                numeric[c][slot - start[c]].reshape(-1)[j] = (float(up[c]) - float(down[c])) / (2 * s.eps)
    return [(s.points, analytic[k:k + len(s.points)], nums, s.abs_tol, s.rel_tol, out)
            for s, nums, k, out in zip(setups, numeric, start, outs)]


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
