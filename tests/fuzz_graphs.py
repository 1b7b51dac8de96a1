"""Random expression graphs for the differential fuzzer (``tests/test_fuzz.py``).

A graph is a :class:`Plan`: plain, printable data (its ``repr`` can be pasted into an
``@example``). Its ``items`` are :class:`Input` and :class:`Node` entries; a node's ``args`` are
positions in ``items``. The same plan is turned into

- a symgrad graph (:func:`build`), compiled on one backend, and
- a direct numpy evaluation (:func:`evaluate`) of the same expression, the reference.

:func:`plans` is the hypothesis strategy. It builds a plan step by step, evaluating every new
node with numpy as it goes, so that it can keep a "tame" plan (whose gradient is checked) away
from kinks (``abs``/``relu``/``maximum`` near a tie, ``max`` reductions with near ties, comparisons
that could flip) and domain edges (``log``/``sqrt`` near 0, division by small numbers, overflow).
"Wild" plans skip those guards (NaN and inf values are compared, gradients are not); "error"
plans may hold one node on which numpy raises (out-of-bounds index, shape mismatch), and symgrad
must raise the same exception type.

:func:`check_plan` runs one plan on one backend: values (dtype, shape, NaN positions, rtol 1e-10
for float64, 1e-4 where a float32 computation feeds the value) and, for tame plans, the gradient
of ``sum_k sum(out_k * w_k)`` against central finite differences of the float64 numpy reference.
"""
from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass

import numpy as np
import pytest

pytest.importorskip("hypothesis")  # the "test" extra
from hypothesis import strategies as st  # noqa: E402

import symgrad  # noqa: E402
import symgrad.tensor as T  # noqa: E402

# ---------------------------------------------------------------------------------------------
# plan data


@dataclass(frozen=True)
class Input:
    """A graph input (or, with ``constant``, a constant in the graph).

    ``fill``: "normal" (uniform in [-2, 2]), "positive" ([0.5, 2]), "int" (integers in [-3, 3]),
    "bool", or an explicit tuple of values (index inputs).
    """

    dtype: str
    broadcastable: tuple
    shape: tuple
    fill: object = "normal"
    constant: bool = False


@dataclass(frozen=True)
class Node:
    """``op`` applied to ``items[args]``; ``params`` are plain data (see :data:`OPS`)."""

    op: str
    args: tuple
    params: tuple = ()


@dataclass(frozen=True)
class Plan:
    """One random program: ``items`` in creation order, ``outputs`` (positions in ``items``).

    ``grad``: check gradients (tame plans only). ``seed``: fills the "normal"/"int" inputs.
    """

    seed: int
    items: tuple
    outputs: tuple
    grad: bool = True


def input_value(seed: int, k: int, inp: Input) -> np.ndarray:
    """The value of input ``k`` (deterministic in ``seed`` and ``k``)."""
    if isinstance(inp.fill, tuple):
        return np.array(inp.fill, dtype=inp.dtype).reshape(inp.shape)
    rng = np.random.default_rng([seed, k])
    if inp.fill == "positive":
        v = rng.uniform(0.5, 2.0, inp.shape)
    elif inp.fill == "int":
        v = rng.integers(-3, 4, inp.shape)
    elif inp.fill == "bool":
        v = rng.random(inp.shape) < 0.5
    else:
        v = rng.uniform(-2.0, 2.0, inp.shape)
    return np.asarray(v, dtype=inp.dtype)


# ---------------------------------------------------------------------------------------------
# ops: each entry builds the symgrad expression and the numpy one from the same arguments

def _sigmoid(x):
    x = x.astype(np.exp(x).dtype)  # ints and bools in exp's float type (bool: float16), as T.sigmoid
    return 1 / (1 + np.exp(-x))


def _relu(x):
    np.positive(x)  # numpy's TypeError for bools, as T.relu
    return np.where(x > 0, x, np.zeros((), x.dtype))


UNARY = {
    "exp": (T.exp, np.exp), "log": (T.log, np.log), "tanh": (T.tanh, np.tanh),
    "sigmoid": (T.sigmoid, _sigmoid), "softplus": (T.softplus, lambda x: np.logaddexp(0, x)),
    "abs": (T.abs, np.abs), "sqrt": (T.sqrt, np.sqrt), "sin": (T.sin, np.sin),
    "sqr": (T.sqr, np.square), "neg": (T.neg, np.negative), "relu": (T.relu, _relu),
    "cos": (T.cos, np.cos), "expm1": (T.expm1, np.expm1), "log1p": (T.log1p, np.log1p),
}
ARITH = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
         "pow": operator.pow}
BINARY = {
    **{k: (f, f) for k, f in ARITH.items()},
    "maximum": (T.maximum, np.maximum), "minimum": (T.minimum, np.minimum),
    "gt": (T.gt, np.greater), "ge": (T.ge, np.greater_equal), "lt": (T.lt, np.less),
    "le": (T.le, np.less_equal), "eq": (T.eq, np.equal), "neq": (T.neq, np.not_equal),
}
COMPARISONS = ("gt", "ge", "lt", "le", "eq", "neq")


def _index_tuple(entries, idx_values, as_int):
    """The Python index for ``x[...]``: ``entries`` with every "@" replaced by the next value."""
    it = iter(idx_values)

    def bound(b):
        return as_int(next(it)) if b == "@" else b

    out = []
    for e in entries:
        if e[0] == "s":
            out.append(slice(bound(e[1]), bound(e[2]), bound(e[3])))
        elif e[0] == "i":
            out.append(bound(e[1]))
        else:
            out.append(next(it))
    return tuple(out)


def _np_index(entries, idx_values):
    return _index_tuple(entries, idx_values, lambda v: int(v))


def _sym_index(entries, idx_syms):
    return _index_tuple(entries, idx_syms, lambda v: v)


def _ref_incset(x, y, idx, set_, advanced):
    out = np.array(x, copy=True)
    if set_:
        out[idx] = y
    elif advanced:
        np.add.at(out, idx, y)
    else:
        out[idx] += y
    return out


def _ref_softmax(x, axis, log):
    if x.dtype.kind != "f":
        x = x.astype("float64")
    if x.size == 0:
        return x.copy()
    z = x - np.max(x, axis=axis, keepdims=True)
    s = np.sum(np.exp(z), axis=axis, keepdims=True)
    return z - np.log(s) if log else np.exp(z) / s


def _ref_dimshuffle(x, pattern):
    kept = [d for d in pattern if d != "x"]
    dropped = [d for d in range(x.ndim) if d not in kept]
    shape = [1 if d == "x" else x.shape[d] for d in pattern]
    return np.transpose(x, kept + dropped).reshape(shape)


def _ref_flatten(x, ndim):
    return x.reshape(x.shape[:ndim - 1] + (math.prod(x.shape[ndim - 1:]),))


def sym_node(node: Node, a: list):
    """The symgrad expression of ``node`` on symbolic arguments ``a``."""
    op, p = node.op, node.params
    if op in UNARY:
        return UNARY[op][0](a[0])
    if op in BINARY:
        return BINARY[op][0](a[0], a[1])
    if op == "const":  # (arith op, python number, number on the left)
        f = ARITH[p[0]]
        return f(p[1], a[0]) if p[2] else f(a[0], p[1])
    if op == "switch":
        return T.switch(a[0], a[1], a[2])
    if op == "reduce":  # (kind, axis, keepdims)
        return getattr(T, p[0])(a[0], axis=p[1], keepdims=p[2])
    if op == "dimshuffle":
        return a[0].dimshuffle(*p[0])
    if op == "dot":
        return T.dot(a[0], a[1])
    if op == "index":
        return a[0][_sym_index(p[0], a[1:])]
    if op in ("inc", "set"):
        region = a[0][_sym_index(p[0], a[2:])]
        return (T.set_subtensor if op == "set" else T.inc_subtensor)(region, a[1])
    if op == "reshape":
        return T.reshape(a[0], p[0])
    if op == "flatten":
        return T.flatten(a[0], p[0])
    if op == "softmax":  # (axis, log)
        return (T.nnet.log_softmax if p[1] else T.nnet.softmax)(a[0], axis=p[0])
    if op == "join":
        return T.join(p[0], *a)
    if op == "stack":
        return T.stack(list(a), axis=p[0])
    raise KeyError(op)


def ref_node(node: Node, a: list) -> np.ndarray:
    """The numpy evaluation of ``node`` on array arguments ``a``."""
    op, p = node.op, node.params
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an empty slice
        if op in UNARY:
            out = UNARY[op][1](a[0])
        elif op in BINARY:
            out = BINARY[op][1](a[0], a[1])
        elif op == "const":
            f = ARITH[p[0]]
            out = f(p[1], a[0]) if p[2] else f(a[0], p[1])
        elif op == "switch":
            out = np.where(a[0], a[1], a[2])
        elif op == "reduce":
            out = getattr(np, p[0])(a[0], axis=p[1], keepdims=p[2])
        elif op == "dimshuffle":
            out = _ref_dimshuffle(a[0], p[0])
        elif op == "dot":
            out = np.dot(a[0], a[1])
        elif op == "index":
            out = a[0][_np_index(p[0], a[1:])]
        elif op in ("inc", "set"):
            entries = p[0]
            out = _ref_incset(a[0], a[1], _np_index(entries, a[2:]), op == "set",
                              any(e[0] == "a" for e in entries))
        elif op == "reshape":
            out = np.reshape(a[0], p[0])
        elif op == "flatten":
            out = _ref_flatten(a[0], p[0])
        elif op == "softmax":
            out = _ref_softmax(a[0], p[0], p[1])
        elif op == "join":
            out = np.concatenate(a, axis=p[0])
        elif op == "stack":
            out = np.stack(a, axis=p[0])
        else:
            raise KeyError(op)
    return np.asarray(out)


def sym_input(inp: Input, k: int, value: np.ndarray):
    if inp.constant:
        return T.constant(value, name=f"c{k}")
    return T.tensor(inp.dtype, inp.broadcastable, name=f"v{k}")


class NodeError(Exception):
    """numpy (or symgrad, building the graph) raised at item ``index``."""

    def __init__(self, index: int, error: Exception):
        super().__init__(f"item {index}: {type(error).__name__}: {error}")
        self.index, self.error = index, error


def evaluate(plan: Plan, upcast: bool = False, replace: dict | None = None) -> list:
    """numpy values of every item (float32/float16 inputs as float64 with ``upcast``;
    ``replace`` maps item positions to input values). Raises :class:`NodeError`."""
    values = []
    for k, item in enumerate(plan.items):
        if isinstance(item, Input):
            v = replace[k] if replace and k in replace else input_value(plan.seed, k, item)
            if upcast and v.dtype.kind == "f":
                v = v.astype("float64")
        else:
            try:
                v = ref_node(item, [values[a] for a in item.args])
            except Exception as e:  # noqa: BLE001 - the exception type is what is compared
                raise NodeError(k, e) from e
        values.append(v)
    return values


def build(plan: Plan) -> list:
    """symgrad variables of every item. Raises :class:`NodeError` if building a node raises."""
    syms = []
    for k, item in enumerate(plan.items):
        if isinstance(item, Input):
            syms.append(sym_input(item, k, input_value(plan.seed, k, item)))
        else:
            try:
                syms.append(sym_node(item, [syms[a] for a in item.args]))
            except Exception as e:  # noqa: BLE001
                raise NodeError(k, e) from e
    return syms


def describe(plan: Plan) -> str:
    """The plan as readable lines (for failure messages)."""
    lines = []
    for k, item in enumerate(plan.items):
        if isinstance(item, Input):
            what = "constant" if item.constant else "input"
            lines.append(f"  {k}: {what} {item.dtype}{list(item.shape)} bc={item.broadcastable} fill={item.fill}")
        else:
            lines.append(f"  {k}: {item.op}{list(item.args)} {item.params if item.params else ''}")
    lines.append(f"  outputs {list(plan.outputs)}, grad={plan.grad}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# checking one plan on one backend

RTOL = {"float64": 1e-10, "float32": 1e-4, "float16": 1e-2}
GRAD_RTOL = {"float64": 1e-5, "float32": 2e-3}
EXPECTED_ERRORS = (ValueError, IndexError, TypeError)


def _scales(plan: Plan, values: list) -> list:
    """Per item: the largest finite magnitude among it and everything it depends on (>= 1), the
    scale of the rounding errors any evaluation order can make."""
    scales = []
    for k, item in enumerate(plan.items):
        v = values[k]
        own = 1.0
        if v.dtype.kind in "fiu" and v.size:
            fin = np.abs(v[np.isfinite(v)]) if v.dtype.kind == "f" else np.abs(v.astype("float64"))
            own = max(1.0, float(fin.max())) if fin.size else 1.0
        if isinstance(item, Node):
            own = max([own] + [scales[a] for a in item.args])
        scales.append(own)
    return scales


def _precisions(plan: Plan, values: list) -> list:
    """Per item: the relative rounding of the least precise computation it depends on (a float32
    sigmoid promoted to float64 keeps float32's error); inputs are exact."""
    prec = []
    for k, item in enumerate(plan.items):
        if isinstance(item, Input):
            prec.append(0.0)
        else:
            own = RTOL.get(values[k].dtype.name, 0.0) if values[k].dtype.kind == "f" else 0.0
            prec.append(max([own] + [prec[a] for a in item.args]))
    return prec


def assert_value_close(got, want: np.ndarray, scale: float, what: str, rtol: float = 0.0) -> None:
    """``got`` equals the numpy reference: dtype, shape, NaN/inf positions, values within tolerance."""
    got = np.asarray(got)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, numpy gives {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, numpy gives {want.shape}"
    if want.dtype.kind != "f":
        assert np.array_equal(got, want), f"{what}: values differ\ngot  {got}\nwant {want}"
        return
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_got, nan_want), f"{what}: NaN positions differ\ngot  {got}\nwant {want}"
    inf_want = np.isinf(want)
    assert np.array_equal(got[inf_want], want[inf_want]) and not np.isinf(got[~inf_want]).any(), \
        f"{what}: infinities differ\ngot  {got}\nwant {want}"
    fin = np.isfinite(want)
    rtol = max(rtol, RTOL[want.dtype.name])
    g, w = got[fin].astype("float64"), want[fin].astype("float64")
    err = np.abs(g - w)
    ok = err <= rtol * scale + rtol * np.abs(w)
    assert ok.all(), (f"{what}: values differ (rtol {rtol}, scale {scale:.3g}, max error "
                      f"{err.max():.3g})\ngot  {got}\nwant {want}")


def _grad_inputs(plan: Plan) -> list:
    return [k for k, it in enumerate(plan.items)
            if isinstance(it, Input) and not it.constant and it.dtype in ("float64", "float32")]


def _cost_outputs(plan: Plan, values: list) -> list:
    """Outputs entering the cost: float32/float64, all finite, each item once."""
    out = []
    for k in plan.outputs:
        v = values[k]
        if v.dtype.name in ("float64", "float32") and np.isfinite(v).all() and k not in out:
            out.append(k)
    return out


def weights(plan: Plan, cost_items: list, values: list) -> list:
    """The random weights ``w_k`` of the cost (one array per cost output, in [0.5, 1.5])."""
    rng = np.random.default_rng([plan.seed, 99])
    return [rng.uniform(0.5, 1.5, values[k].shape) for k in cost_items]


def numeric_gradient(plan: Plan, k: int, cost_items: list, w: list) -> tuple[np.ndarray, float]:
    """Central differences of ``sum_j sum(out_j * w_j)`` (numpy, float64) with respect to item ``k``;
    also the magnitude of the cost's terms (for the rounding part of the tolerance)."""
    x0 = input_value(plan.seed, k, plan.items[k]).astype("float64")
    num = np.zeros(x0.shape)
    flat = num.reshape(-1)

    def cost(x):
        vals = evaluate(plan, upcast=True, replace={k: x})
        return sum(float(np.sum(vals[j] * wj)) for j, wj in zip(cost_items, w)), \
            sum(float(np.sum(np.abs(vals[j] * wj))) for j, wj in zip(cost_items, w))

    terms = cost(x0)[1]
    for i in range(x0.size):
        eps = 1e-6 * max(1.0, abs(x0.reshape(-1)[i]))
        plus, minus = x0.copy(), x0.copy()
        plus.reshape(-1)[i] += eps
        minus.reshape(-1)[i] -= eps
        flat[i] = (cost(plus)[0] - cost(minus)[0]) / (2 * eps)
    return num, terms


def check_plan(plan: Plan, mode: str) -> None:
    """Compile ``plan`` on ``mode`` (one function: outputs and gradients) and compare it with numpy."""
    header = f"mode={mode}\n{describe(plan)}"
    try:
        values = evaluate(plan)
        ref_error = None
    except NodeError as e:
        values, ref_error = None, e
    try:
        syms = build(plan)
    except NodeError as e:
        assert ref_error is not None and ref_error.index == e.index, \
            f"building the graph raised {e}, numpy does not\n{header}"
        assert isinstance(e.error, type(ref_error.error)) or isinstance(ref_error.error, type(e.error)), \
            f"building the graph raised {e}; numpy raises {ref_error}\n{header}"
        return
    inputs = [k for k, it in enumerate(plan.items) if isinstance(it, Input) and not it.constant]
    in_syms = [syms[k] for k in inputs]
    in_vals = [input_value(plan.seed, k, plan.items[k]) for k in inputs]
    outs = [syms[k] for k in plan.outputs]
    if ref_error is not None:
        _check_raises(plan, mode, in_syms, in_vals, outs, ref_error, header)
        return
    cost_items = _cost_outputs(plan, values) if plan.grad else []
    wrt = [k for k in _grad_inputs(plan)] if cost_items else []
    w_syms, w_vals, grads = [], [], []
    try:
        if wrt:
            w_vals = weights(plan, cost_items, values)
            w_syms = [T.tensor("float64", syms[k].broadcastable, name=f"w{k}") for k in cost_items]
            cost = sum((syms[k] * wk).sum() for k, wk in zip(cost_items, w_syms))
            grads = T.grad(cost, [syms[k] for k in wrt], disconnected_inputs="ignore")
        f = symgrad.function(in_syms + w_syms, outs + grads, mode=mode, on_unused_input="ignore")
        results = f(*in_vals, *w_vals)
    except Exception as e:
        raise AssertionError(f"symgrad raised {type(e).__name__}: {e}; numpy does not\n{header}") from e
    scales, precisions = _scales(plan, values), _precisions(plan, values)
    for k, got in zip(plan.outputs, results[:len(outs)]):
        assert_value_close(got, values[k], scales[k], f"output item {k}\n{header}", precisions[k])
    _check_fresh(plan, inputs, in_vals, results, header)
    for k, g in zip(wrt, results[len(outs):]):
        g = np.asarray(g)
        num, terms = numeric_gradient(plan, k, cost_items, w_vals)
        dtype = plan.items[k].dtype
        assert g.dtype == np.dtype(dtype) and g.shape == num.shape, \
            f"gradient of item {k}: {g.dtype}{g.shape}, input is {dtype}{num.shape}\n{header}"
        rtol = GRAD_RTOL[dtype]
        atol = rtol * max(1.0, float(np.abs(num).max(initial=0.0))) + 1e-9 * terms
        err = np.abs(g - num)
        assert np.all(err <= atol + rtol * np.abs(num)), (
            f"gradient of item {k} disagrees with finite differences (max error {err.max():.3g})\n"
            f"analytic {g}\nnumeric  {num}\n{header}")


def _check_fresh(plan, inputs, in_vals, results, header):
    """Inputs are not written to; results are fresh arrays (no memory shared with an input or
    with another result)."""
    for k, v in zip(inputs, in_vals):
        assert np.array_equal(v, input_value(plan.seed, k, plan.items[k]), equal_nan=True), \
            f"input item {k} was modified by the call\n{header}"
    arrays = [np.asarray(r) for r in results]
    for i, r in enumerate(arrays):
        for k, v in zip(inputs, in_vals):
            assert not np.shares_memory(r, v), f"result {i} shares memory with input item {k}\n{header}"
        for j in range(i):
            assert not np.shares_memory(r, arrays[j]), f"results {j} and {i} share memory\n{header}"


def _check_raises(plan, mode, in_syms, in_vals, outs, ref_error, header):
    expected = type(ref_error.error)
    assert issubclass(expected, EXPECTED_ERRORS), f"numpy raised {ref_error}\n{header}"
    try:
        f = symgrad.function(in_syms, outs, mode=mode, on_unused_input="ignore")
        f(*in_vals)
    except EXPECTED_ERRORS as e:
        assert isinstance(e, expected) or isinstance(ref_error.error, type(e)), \
            f"raised {type(e).__name__}: {e}; numpy raises {ref_error}\n{header}"
        return
    raise AssertionError(f"no error; numpy raises {ref_error}\n{header}")


# ---------------------------------------------------------------------------------------------
# the generator

MARGIN = 0.02          # distance from kinks and ties in tame plans
MAX_MAGNITUDE = 1e4    # tame plans keep every value below this
FLOATS = ("float64", "float32")


class _Reject(Exception):
    """This op does not fit here; the generator draws another."""


class _Stop(Exception):
    """The plan already ends in an error node."""


def _fmin_abs(v) -> float:
    v = np.asarray(v, dtype="float64")
    return float(np.abs(v).min()) if v.size else math.inf


def _fmin(v) -> float:
    v = np.asarray(v, dtype="float64")
    return float(v.min()) if v.size else math.inf


def _fmax(v) -> float:
    v = np.asarray(v, dtype="float64")
    return float(v.max()) if v.size else -math.inf


def _min_diff(a, b) -> float:
    """Smallest |a - b| over the broadcast (inf if empty or if they do not broadcast)."""
    try:
        d = np.abs(np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64"))
    except ValueError:
        return math.inf
    return float(np.nanmin(d)) if d.size and not np.isnan(d).all() else math.inf


def _top_gap(v: np.ndarray, axes, largest: bool) -> float:
    """Smallest gap between the extreme value and the runner-up along ``axes``."""
    v = np.asarray(v, dtype="float64")
    axes = tuple(range(v.ndim)) if axes is None else ((axes,) if isinstance(axes, int) else tuple(axes))
    axes = tuple(a % v.ndim for a in axes) if v.ndim else ()
    rest = [d for d in range(v.ndim) if d not in axes]
    m = np.transpose(v, rest + list(axes)).reshape(math.prod(v.shape[d] for d in rest),
                                                   math.prod(v.shape[d] for d in axes))
    if m.shape[1] < 2 or m.shape[0] == 0:
        return math.inf
    s = np.sort(m, axis=1)
    gaps = (s[:, -1] - s[:, -2]) if largest else (s[:, 1] - s[:, 0])
    return float(gaps.min())


class Generator:
    """Grows one plan; every random choice is a hypothesis draw (so examples shrink)."""

    def __init__(self, draw, seed: int, tame: bool, errors: bool, zero_size: bool, float_dtype: str):
        self.draw, self.seed, self.tame, self.errors = draw, seed, tame, errors
        self.zero_size, self.float_dtype = zero_size, float_dtype
        self.items, self.syms, self.vals = [], [], []
        self.error_at = None

    # --- drawing helpers
    def int(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def chance(self, p: float) -> bool:
        """True with probability ``p``; shrinks to False."""
        return self.draw(st.integers(0, 99)) >= 100 - round(100 * p)

    def choice(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    def size(self) -> int:
        return self.choice((2, 3, 1, 4, 0) if self.zero_size else (2, 3, 1, 4))

    def margin(self) -> float:
        return MARGIN if self.tame else 0.0

    # --- items
    def add_input(self, dtype: str, bc, shape, fill=None, constant: bool = False) -> int:
        if fill is None:
            fill = "normal" if dtype[0] == "f" else ("bool" if dtype == "bool" else "int")
        inp = Input(dtype, tuple(bool(b) for b in bc), tuple(int(s) for s in shape), fill,
                    constant and not any(bc))
        k = len(self.items)
        value = input_value(self.seed, k, inp)
        self.items.append(inp)
        self.vals.append(value)
        self.syms.append(sym_input(inp, k, value))
        return k

    def add_node(self, op: str, args, params=()) -> int:
        """Append a node; numpy or symgrad raising ends the plan there (an error example)."""
        if self.error_at is not None:
            raise _Stop()
        node = Node(op, tuple(args), tuple(params))
        ref_exc = sym_exc = None
        try:
            value = ref_node(node, [self.vals[a] for a in args])
        except Exception as e:  # noqa: BLE001
            ref_exc, value = e, None
        try:
            sym = sym_node(node, [self.syms[a] for a in args])
        except Exception as e:  # noqa: BLE001
            sym_exc, sym = e, None
        if ref_exc is None and sym_exc is None:
            if self.tame:
                self._check_tame(op, args, value)
            elif value.dtype.kind == "f" and np.isinf(value).any() and not any(
                    self.vals[a].dtype.kind == "f" and np.isinf(self.vals[a]).any() for a in args):
                # Overflow (exp of exp of ...): symgrad's log(exp(u)) = u stays finite by design
                # (stabilization), where numpy's composition gives inf.
                raise _Reject()
        elif not self.errors and ref_exc is not None:
            raise _Reject()
        k = len(self.items)
        self.items.append(node)
        self.vals.append(value)
        self.syms.append(sym)
        if ref_exc is not None or sym_exc is not None:
            self.error_at = k
        return k

    def _check_tame(self, op, args, value):
        if value.dtype.kind in "fiu" and value.size:
            v = value.astype("float64")
            finite = np.abs(v[~np.isnan(v)])
            if np.isinf(finite).any() or finite.max(initial=0.0) > MAX_MAGNITUDE:
                raise _Reject()
            if np.isnan(v).any() and not (op == "reduce" or any(np.isnan(self.vals[a].astype("float64")).any()
                                                                 for a in args if self.vals[a].dtype.kind == "f")):
                raise _Reject()

    def dtype(self) -> str:
        r = self.int(0, 19)
        if r < 15:
            return self.float_dtype
        if r < 17:
            return "float32" if self.float_dtype == "float64" else "float64"
        return ("int64", "int32", "bool")[r - 17] if r < 19 else "int32"

    def fresh(self, ndim: int | None = None, dtype: str | None = None) -> int:
        ndim = self.int(0, 3) if ndim is None else ndim
        dtype = dtype or self.dtype()
        bc = [False] * ndim
        if ndim and self.chance(0.25):  # T.row / T.col / broadcastable dims
            bc = [self.chance(0.4) for _ in range(ndim)]
        shape = [1 if b else self.size() for b in bc]
        return self.add_input(dtype, bc, shape, constant=self.chance(0.1))

    def pick(self, ok=lambda k: True, p_fresh: float = 0.25, ndim=None, dtype=None) -> int:
        """An existing item satisfying ``ok`` (recent ones preferred), or a fresh input."""
        cands = [k for k in range(len(self.items)) if ok(k)]
        if cands and not self.chance(p_fresh):
            return cands[-1 - min(self.int(0, 4), len(cands) - 1)] if self.chance(0.7) else self.choice(cands)
        if ndim is not None and not isinstance(ndim, int):
            ndim = self.choice(ndim)
        return self.fresh(ndim, dtype)

    def numeric(self, k) -> bool:
        return self.vals[k].dtype.kind in "fiu"

    def bshape(self, ks):
        """Broadcast (shape, broadcastable) of items ``ks`` (left-padded)."""
        ndim = max(len(self.vals[k].shape) for k in ks)
        shape, bc = [1] * ndim, [True] * ndim
        for k in ks:
            s, b = self.vals[k].shape, self.syms[k].broadcastable
            pad = ndim - len(s)
            for i in range(len(s)):
                if not b[i]:
                    shape[pad + i], bc[pad + i] = s[i], False
        return shape, bc

    def compatible(self, k, shape, bc) -> bool:
        s, b = self.vals[k].shape, self.syms[k].broadcastable
        if len(s) > len(shape):
            return False
        pad = len(shape) - len(s)
        return all(b[i] or bc[pad + i] or s[i] == shape[pad + i] for i in range(len(s)))

    def partner(self, ks, dtype=None, numeric=True) -> int:
        """An item that broadcasts with items ``ks`` (maybe a fresh row/col/scalar, a dimshuffled
        lower-rank input, or, in error plans, a mismatching one)."""
        shape, bc = self.bshape(ks)
        ok = (lambda k: self.compatible(k, shape, bc) and (not numeric or self.numeric(k))
              and k not in ks and (dtype is None or self.vals[k].dtype == dtype))
        cands = [k for k in range(len(self.items)) if ok(k)]
        if cands and self.chance(0.4):
            return self.choice(cands)
        dtype = dtype or self.dtype()
        if numeric and dtype == "bool":
            dtype = "int64"
        ndim = len(shape) - (self.int(0, len(shape)) if self.chance(0.3) else 0)
        tshape, tbc = shape[len(shape) - ndim:], bc[len(shape) - ndim:]
        nbc, nshape = [], []
        for s, b in zip(tshape, tbc):
            if b:
                if self.chance(0.5):
                    nbc.append(True), nshape.append(1)
                else:
                    nbc.append(False), nshape.append(self.size())
            elif self.chance(0.3):
                nbc.append(True), nshape.append(1)
            else:
                nbc.append(False), nshape.append(s)
        if self.errors and self.chance(0.3):
            bad = [i for i, (s, b) in enumerate(zip(nshape, nbc)) if not b and s != 1]
            if bad:
                i = self.choice(bad)
                nshape[i] = nshape[i] + 1 if nshape[i] != 0 else 2
        if any(nbc) and self.chance(0.5):  # a lower-rank input, dimshuffled into place
            keep = [i for i, b in enumerate(nbc) if not b]
            if len(keep) == 2 and self.chance(0.5):  # stored transposed
                k = self.add_input(dtype, [False, False], [nshape[keep[1]], nshape[keep[0]]])
                order = {keep[0]: 1, keep[1]: 0}
            else:
                k = self.add_input(dtype, [False] * len(keep), [nshape[i] for i in keep])
                order = {d: j for j, d in enumerate(keep)}
            pattern = ["x" if b else order[i] for i, b in enumerate(nbc)]
            return self.add_node("dimshuffle", [k], (tuple(pattern),))
        return self.add_input(dtype, nbc, nshape, constant=self.chance(0.1))

    # --- helpers that keep tame plans in the smooth region
    def positive(self, k) -> int:
        if _fmin(self.vals[k]) > 0.05 and self.numeric(k):
            return k
        if self.vals[k].dtype == "bool":
            k = self.add_node("const", [k], ("add", 1, False))
        r = self.int(0, 2)
        if r == 1 and _fmax(self.vals[k]) < 4:
            return self.add_node("exp", [k])
        if r == 2:
            return self.add_node("const", [self.add_node("softplus", [k])], ("add", 0.1, True))
        return self.add_node("const", [self.add_node("sqr", [k])], ("add", 0.5, False))

    def denominator(self, k) -> int:
        if _fmin_abs(self.vals[k]) > 0.25 or not self.tame:
            return k
        if self.chance(0.5):
            return self.add_node("const", [self.add_node("tanh", [k])], ("add", 1.5, True))
        return self.add_node("const", [self.add_node("sqr", [k])], ("add", 0.5, False))

    # --- one step per op family
    def step(self) -> None:
        families = (("unary", 6), ("binary", 5), ("const", 3), ("reduce", 3), ("dimshuffle", 2),
                    ("dot", 2), ("index", 2), ("incset", 2), ("switch", 1), ("reshape", 1),
                    ("softmax", 1), ("join", 1))
        r = self.int(0, sum(w for _, w in families) - 1)
        for name, w in families:
            if r < w:
                break
            r -= w
        for _ in range(3):
            try:
                getattr(self, "gen_" + name)()
                return
            except _Reject:
                continue
            except _Stop:
                return
        self.fresh()

    def gen_unary(self):
        name = self.choice(tuple(UNARY))
        bools = self.chance(0.05)
        a = self.pick(lambda k: self.numeric(k) or bools)
        if self.tame or name in ("log", "sqrt"):
            if name in ("log", "sqrt") and self.tame:
                a = self.positive(a)
            if name in ("abs", "relu") and _fmin_abs(self.vals[a]) < self.margin():
                raise _Reject()
            if name == "exp" and _fmax(self.vals[a]) > 6:
                raise _Reject()
            if name == "log1p" and _fmin(self.vals[a]) < -0.9:
                a = self.positive(a)
        self.add_node(name, [a])

    def gen_const(self):
        a = self.pick(lambda k: self.numeric(k))
        op = self.choice(("add", "mul", "sub", "div", "pow"))
        left = self.chance(0.3)
        if op == "pow":
            if left:
                c = self.choice((2, 0.5, 3.0))
            else:
                c = self.choice((2, 3, -1, 0.5, 0, 1, -2, 1.5))
                if isinstance(c, float) and self.tame:
                    a = self.positive(a)
                if c < 0 and self.tame:
                    a = self.denominator(a)
                if c < 0 and self.vals[a].dtype.kind in "iub" and self.vals[a].size == 0:
                    # symgrad rejects int ** negative int when the graph is built; numpy only
                    # raises once there is an element to compute
                    raise _Reject()
        else:
            c = self.choice((0.5, 2, -1.5, 3, 1, -2, 0.25))
            if op == "div" and left:
                a = self.denominator(a)
        self.add_node("const", [a], (op, c, left))

    def gen_binary(self):
        op = self.choice(("add", "sub", "mul", "div", "maximum", "minimum", "pow") + COMPARISONS)
        bools = self.chance(0.1)
        a = self.pick(lambda k: self.numeric(k) or bools)
        b = self.partner([a], numeric=op not in COMPARISONS)
        if op == "div":
            b = self.denominator(b)
        elif op == "pow":
            if self.vals[a].dtype.kind == "f" or self.tame:
                a = self.positive(a)
            if self.tame and _fmin_abs(self.vals[b]) > 3:
                raise _Reject()
        elif op in ("maximum", "minimum") + COMPARISONS:
            if (self.vals[a].dtype.kind == "f" or self.vals[b].dtype.kind == "f") and a != b:
                if _min_diff(self.vals[a], self.vals[b]) < max(self.margin(), 1e-6):
                    raise _Reject()
        self.add_node(op, [a, b])

    def gen_switch(self):
        a = self.pick(lambda k: self.numeric(k))
        b = self.partner([a])
        c0 = self.partner([a, b])
        cmp_ = self.choice(("gt", "lt"))
        if _min_diff(self.vals[a], self.vals[c0]) < max(self.margin(), 1e-6):
            raise _Reject()
        cond = self.add_node(cmp_, [a, c0])
        self.add_node("switch", [cond, a, b] if self.chance(0.5) else [cond, b, a])

    def gen_reduce(self):
        kind = self.choice(("sum", "mean", "max", "min", "prod", "argmax", "argmin"))
        bools = self.chance(0.2)
        a = self.pick(lambda k: self.vals[k].dtype != "bool" or bools)
        nd = self.vals[a].ndim
        if kind in ("argmax", "argmin") or nd == 0 or self.chance(0.3):
            axis = None if nd == 0 or self.chance(0.4) else self.int(-nd, nd - 1)
        else:
            axes = [d for d in range(nd) if self.chance(0.5)] or [self.int(0, nd - 1)]
            axes = [d - nd if self.chance(0.3) else d for d in axes]
            if self.chance(0.3):
                axes.reverse()
            axis = axes[0] if len(axes) == 1 and self.chance(0.5) else tuple(axes)
        keepdims = self.chance(0.3)
        v = self.vals[a]
        if v.dtype.kind == "f" and kind in ("max", "min", "argmax", "argmin"):
            gap = _top_gap(v, axis, kind in ("max", "argmax"))
            exact_ok = isinstance(self.items[a], Input) and gap == 0
            if not exact_ok and gap < (self.margin() if kind in ("max", "min") else 1e-6 * max(1.0, _fmax(np.abs(v)))):
                raise _Reject()
        self.add_node("reduce", [a], (kind, axis, keepdims))

    def gen_dimshuffle(self):
        a = self.pick()
        bc = self.syms[a].broadcastable
        kept = [d for d in range(len(bc)) if not bc[d] or not self.chance(0.5)]
        perm = [kept[i] for i in self.draw(st.permutations(range(len(kept))))]
        for _ in range(self.int(0, 2)):
            perm.insert(self.int(0, len(perm)), "x")
        self.add_node("dimshuffle", [a], (tuple(perm),))

    def gen_dot(self):
        if self.chance(0.2):  # a taller matrix: the numba row passes work in blocks of 8 rows
            a = self.add_input(self.float_dtype, [False, False], [self.choice((9, 17)), self.size()])
        else:
            a = self.pick(lambda k: self.vals[k].ndim in (1, 2) and self.vals[k].dtype != "bool", ndim=(1, 2),
                          dtype=self.float_dtype)
        if self.vals[a].ndim == 2 and self.chance(0.3):
            a = self.add_node("dimshuffle", [a], ((1, 0),))
        left = self.chance(0.6)  # a on the left: its last dim is contracted
        inner = self.vals[a].shape[-1] if left else self.vals[a].shape[0]
        if self.errors and self.chance(0.2):
            inner = inner + 1
        ndim = self.choice((1, 2))
        dtype = self.dtype()
        if dtype == "bool":
            dtype = self.float_dtype
        if ndim == 1:
            b = self.add_input(dtype, [False], [inner])
        elif left:
            m = self.size()
            b = self.add_node("dimshuffle", [self.add_input(dtype, [False, False], [m, inner])], ((1, 0),)) \
                if self.chance(0.3) else self.add_input(dtype, [False, False], [inner, m])
        else:
            b = self.add_input(dtype, [False, False], [self.size(), inner])
        self.add_node("dot", [a, b] if left else [b, a])

    def _index_entries(self, x: int, for_set: bool):
        """(entries, index item positions) for an index into item ``x``."""
        shape = self.vals[x].shape
        nidx = self.int(1, len(shape))
        entries, idx = [], []
        adv_shape = None  # every index array of one index has the same shape
        for d in range(nidx):
            n = shape[d]
            kind = self.choice(("s", "s", "i", "a"))
            if kind == "i" and n == 0 and not self.errors:
                kind = "s"
            if kind == "s":
                def bound(lo, hi):
                    if self.chance(0.4):
                        return None
                    v = self.int(lo, hi)
                    if self.chance(0.3):
                        idx.append(self.add_input(self.choice(("int64", "int32")), [], [], fill=(v,)))
                        return "@"
                    return v
                start, stop = bound(-n - 2, n + 2), bound(-n - 2, n + 2)
                step = None if self.chance(0.4) else self.choice((1, -1, 2, -2, 3, -3))
                if step is not None and self.chance(0.2):
                    idx.append(self.add_input("int64", [], [], fill=(step,)))
                    step = "@"
                entries.append(("s", start, stop, step))
            elif kind == "i":
                v = self.int(-n, n - 1) if n else 0
                if self.errors and self.chance(0.3):
                    v = self.choice((n, -n - 1))
                if self.chance(0.5):
                    idx.append(self.add_input(self.choice(("int64", "int32")), [], [], fill=(v,)))
                    entries.append(("i", "@"))
                else:
                    entries.append(("i", v))
            else:
                if adv_shape is None:
                    adv_shape = (self.int(0, 4),) if self.chance(0.8) else (2, 2)
                size = math.prod(adv_shape)
                if n == 0:
                    values = (0,) * size if self.errors and size else ()
                    if not (self.errors and size):
                        adv_shape = (0,) if len(adv_shape) == 1 else (0, 2)
                        values = ()
                elif for_set:  # distinct positions: numpy's set with repeats is order-dependent
                    perm = self.draw(st.permutations(range(n)))
                    size = min(size, n)
                    adv_shape = (size,)
                    values = tuple(int(i) - (n if self.chance(0.3) else 0) for i in perm[:size])
                else:
                    values = tuple(self.int(-n, n - 1) for _ in range(size))
                if n and values and self.errors and self.chance(0.2):
                    values = values[:-1] + (n,)
                k = self.add_input(self.choice(("int64", "int32")), [False] * len(adv_shape), adv_shape,
                                   fill=values, constant=self.chance(0.3))
                idx.append(k)
                entries.append(("a", "@"))
        if for_set and sum(e[0] == "a" for e in entries) > 1:
            raise _Reject()  # distinct positions are only arranged for one index array
        return tuple(entries), idx

    def gen_index(self):
        x = self.pick(lambda k: self.vals[k].ndim >= 1, ndim=(1, 2, 3))
        entries, idx = self._index_entries(x, for_set=False)
        self.add_node("index", [x, *idx], (entries,))

    def gen_incset(self):
        x = self.pick(lambda k: self.vals[k].ndim >= 1 and self.numeric(k), ndim=(1, 2, 3))
        set_ = self.chance(0.4)
        entries, idx = self._index_entries(x, for_set=set_)
        try:
            region = self.vals[x][_np_index(entries, [self.vals[k] for k in idx])].shape
        except Exception:  # noqa: BLE001 - an error example: any value will do
            region = ()
        xdt = self.vals[x].dtype
        dtype = self.choice(FLOATS) if xdt.kind == "f" else self.choice(("int64", "int32", str(xdt)))
        drop = self.int(0, len(region)) if self.chance(0.3) else 0
        shape, bc = [], []
        for s in region[drop:]:
            if self.chance(0.25):
                shape.append(1), bc.append(True)
            else:
                shape.append(s), bc.append(False)
        if self.errors and self.chance(0.3) and shape:
            shape[-1], bc[-1] = shape[-1] + 2, False
        y = self.add_input(dtype, bc, shape)
        self.add_node("set" if set_ else "inc", [x, y, *idx], (entries,))

    def gen_reshape(self):
        x = self.pick()
        v = self.vals[x]
        if self.chance(0.3):
            self.add_node("flatten", [x], (self.int(1, max(v.ndim, 1)),))
            return
        size = v.size
        ndim = self.int(1, 3)
        if size == 0:
            shape = [self.choice((0, 1, 2, 3)) for _ in range(ndim)]
            shape[self.int(0, ndim - 1)] = 0
        else:
            shape = [1] * ndim
            rest = size
            for p in (2, 3, 5, 7, 11, 13):
                while rest % p == 0:
                    shape[self.int(0, ndim - 1)] *= p
                    rest //= p
            shape[self.int(0, ndim - 1)] *= rest
        if self.chance(0.4):
            shape[self.int(0, ndim - 1)] = -1
        if self.errors and self.chance(0.2):
            shape[self.int(0, ndim - 1)] += 1
        self.add_node("reshape", [x], (tuple(shape),))

    def gen_softmax(self):
        x = self.pick(lambda k: self.vals[k].ndim in (1, 2) and self.numeric(k), ndim=(1, 2))
        nd = self.vals[x].ndim
        axis = self.int(-nd, nd - 1)
        self.add_node("softmax", [x], (axis, self.chance(0.3)))

    def gen_join(self):
        stack = self.chance(0.3)
        x = self.pick(lambda k: stack or self.vals[k].ndim >= 1, ndim=(1, 2))
        shape = list(self.vals[x].shape)
        nd = len(shape)
        axis = self.int(-nd - 1, nd) if stack else self.int(-nd, nd - 1)
        parts = [x]
        for _ in range(self.int(1, 2)):
            s = list(shape)
            if not stack:
                s[axis % nd] = self.size()
            if self.errors and self.chance(0.2) and s:
                d = self.int(0, len(s) - 1)
                s[d] += 1
            dt = self.dtype()
            if (dt == "bool") != (self.vals[x].dtype == np.bool_):
                dt = str(self.vals[x].dtype)
            parts.append(self.add_input(dt, [False] * len(s), s, constant=self.chance(0.1)))
        if self.chance(0.5):
            parts.reverse()
        self.add_node("stack" if stack else "join", parts, (axis,))


@st.composite
def plans(draw, max_nodes: int = 6) -> Plan:
    """Random plans (hypothesis strategy)."""
    kind = draw(st.integers(0, 19))
    tame, errors = kind < 13, 13 <= kind < 17
    zero_size = draw(st.integers(0, 4)) == 4
    float_dtype = "float32" if draw(st.integers(0, 4)) == 4 else "float64"
    g = Generator(draw, seed=draw(st.integers(0, 2 ** 16)), tame=tame, errors=errors, zero_size=zero_size,
                  float_dtype=float_dtype)
    target = draw(st.integers(1, max_nodes))
    while sum(isinstance(it, Node) for it in g.items) < target and g.error_at is None:
        g.step()
    nodes = [k for k, it in enumerate(g.items) if isinstance(it, Node)]
    if g.error_at is not None:
        outputs = (g.error_at,)
    else:
        last = nodes[-1] if nodes else len(g.items) - 1
        extra = [k for k in nodes[:-1] if draw(st.integers(0, 3)) == 3][:2]
        if draw(st.integers(0, 9)) == 9:  # an input, or an output listed twice: still fresh arrays
            extra.append(draw(st.sampled_from([k for k, it in enumerate(g.items) if isinstance(it, Input)] + [last])))
        outputs = tuple(extra + [last])
    return Plan(g.seed, tuple(g.items), outputs, grad=tame and g.error_at is None)
