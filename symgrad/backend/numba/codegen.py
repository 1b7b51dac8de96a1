"""Print a whole optimized graph as ONE Python function for numba.

The printer has one emitter per op type (``EMITTERS``). Fused elementwise nodes become explicit
loops with broadcasting and ranks resolved at generation time; reductions are loops; dot goes to
BLAS through ``np.dot``; indexing is bounds-checked before any access, so no input can make the
kernel read or write out of bounds. 0-d values are plain scalars inside the kernel.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> source = generate([x], [T.exp(x) * 2])
>>> source.splitlines()[0], source.count("for ")
('def kernel(a0):', 2)
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable, Sequence

import numba
import numpy as np
import sympy

from ... import scalar as S
from ...config import config
from ...graph import Apply, Constant, Variable, toposort
from ...tensor.elemwise import Elemwise
from ...tensor.indexing import FULL, AdvancedSubtensor, IncSubtensor, Subtensor
from ...tensor.linalg import Dot
from ...tensor.nnet import Softmax
from ...tensor.reduction import Reduce
from ...rewrite.rowstream import RowStream
from ...tensor.shape import ARange, DimShuffle, Join, MakeVector, Reshape, Shape
from ...tensor.shape import SpecifyShape
from ...ifelse import IfElse
from .scalarprint import ScalarPrinter

CSE_MIN_OPS = 6  # below this, common-subexpression elimination is not worth the temporaries


class Emitter:
    """Accumulates the function body; hands out unique local names."""

    def __init__(self):
        self.lines: list[str] = []
        self.globals: list[str] = []
        self.depth = 1
        self.names: dict[int, str] = {}
        self.counter = 0
        self.used: set[str] = set()  # kernel variables read by the node being emitted
        self.variables: set[str] = set()
        self.extra: list[str] = []  # helper functions emitted beside the kernel (row passes)
        self.row_block = ROW_BLOCK  # rows per register block of a row pass

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def open(self, line: str) -> None:
        self.emit(line)
        self.depth += 1

    def close(self, n: int = 1) -> None:
        self.depth -= n

    def name(self, v: Variable) -> str:
        key = id(v)
        if key not in self.names:
            if not isinstance(v, Constant):
                raise ValueError(f"numba backend: {v!r} is used before it is computed")
            self.names[key] = self.constant(v)
        name = self.names[key]
        if name in self.variables:
            self.used.add(name)
        return name

    def bind(self, v: Variable, name: str) -> str:
        self.names[id(v)] = name
        self.variables.add(name)
        return name

    def constant(self, c: Constant) -> str:
        data = c.data
        if data.ndim == 0:
            return _literal(data.item(), c.dtype)
        gname = f"C{len(self.globals)}"
        text = repr(data.tolist())
        if data.dtype.kind == "f" and not np.isfinite(data).all():  # repr writes nan/inf as bare names
            text = re.sub(r"\b(nan|inf)\b", r"np.\1", text)
        self.globals.append(f"{gname} = np.array({text}, dtype={_np(c.dtype)}).reshape({data.shape!r})")
        return gname


def _np(dtype: str) -> str:
    """numba's spelling of a dtype in generated code.

    numba has no float16 arrays: float16 values live in float32 inside the kernel (numpy also
    computes each float16 operation in float32) and are rounded to float16 at the boundary.
    """
    if dtype == "float16":
        return "np.float32"
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


def _literal(value, dtype: str) -> str:
    """A typed scalar literal: np.float32(0.5), np.int64(3), True."""
    if dtype == "bool":
        return repr(bool(value))
    if dtype.startswith("float"):
        value = float(value)
        if value != value:
            text = "np.nan"
        elif np.isinf(value):
            text = "np.inf" if value > 0 else "-np.inf"
        else:
            text = repr(value)
        return f"{_np(dtype)}({text})"
    return f"{_np(dtype)}({int(value)})"


def _label(v: Variable) -> str:
    """A short, static description for error messages raised inside the kernel."""
    if v.name:
        return repr(v.name)
    if v.owner is not None:
        return f"the result of {_op_text(v.owner.op)}"
    return "a constant" if isinstance(v, Constant) else "an input"


def _op_text(op, limit: int = 60) -> str:
    """An op for a kernel's error message, shortened: every distinct message is a constant numba
    compiles a raise for, and the wrapper re-runs the reference backend for the precise text."""
    text = str(op)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _msg(text: str) -> str:
    return repr(text)


EMITTERS: dict[type, Callable[[Emitter, Apply], None]] = {}


def emitter(op_type):
    def register(fn):
        EMITTERS[op_type] = fn
        return fn

    return register


# --- elementwise ------------------------------------------------------------------------------
def _float_width(node: Apply) -> str:
    """float32 where numpy computes in float32: float32/float16 results, and comparisons or casts
    of float32 values. A float64 result is computed in float64 even from float32 inputs (numpy
    promotes float32 with int32 to float64): float32 literals there would round differently."""
    floats = {v.dtype for v in node.inputs if v.dtype.startswith("float")}
    if node.op.dtype in ("float32", "float16") or (
            node.op.dtype != "float64" and floats and floats <= {"float32", "float16"}):
        return "float32"
    return "float64"


def _loop_sizes(em: Emitter, out: Variable, inputs: Sequence[Variable], names: Sequence[str], what: str) -> list[str]:
    """Sizes of each output dim, from the first non-broadcastable input dim; others are checked."""
    sizes = []
    for d in range(out.ndim):
        size = None
        for v, nm in zip(inputs, names):
            j = d - (out.ndim - v.ndim)
            if j < 0 or v.broadcastable[j]:
                continue
            if size is None:
                size = em.fresh("n")
                em.emit(f"{size} = {nm}.shape[{j}]")
                first = v
            else:
                em.emit(f"if {nm}.shape[{j}] != {size}:")
                em.emit("    raise ValueError(" + _msg(
                    f"{what}: shapes do not match in dimension {d}: {_label(first)} and {_label(v)} "
                    "(only dimensions declared broadcastable are broadcast)") + ")")
        sizes.append(size or "1")
    return sizes


def _open_loops(em: Emitter, sizes: Sequence[str]) -> list[str]:
    idx = []
    for s in sizes:
        i = em.fresh("i")
        em.open(f"for {i} in range({s}):")
        idx.append(i)
    return idx


def _access(v: Variable, nm: str, idx: Sequence[str]) -> str:
    if v.ndim == 0:
        return nm
    pad = len(idx) - v.ndim
    parts = ["0" if v.broadcastable[j] else idx[pad + j] for j in range(v.ndim)]
    return f"{nm}[{', '.join(parts)}]"


@lru_cache(maxsize=8192)
def _cse(exprs: tuple) -> tuple[tuple, tuple]:
    """(logistic groups, shared subexpressions in dependency order) for ``exprs``; cached, since the
    same fused expressions recur across graphs.

    Nothing is rebuilt: rebuilding a sympy expression re-evaluates its functions and can make
    sympy's assumption system explode on nested functions (tanh of tanh of ...). Shared
    subexpressions are found on the expression DAG (a node with two or more parent edges) and are
    substituted by the printer.

    A logistic group is an argument ``a`` with two or more of sigmoid(a), sigmoid(-a),
    softplus(a), softplus(-a) among the expressions: they are computed from one ``exp(-|a|)`` and
    one ``log1p`` (see :func:`_emit_logistic`).
    """
    calls: dict = {}
    for e in exprs:
        for atom in e.atoms(S.sigmoid, S.softplus):
            a = atom.args[0]
            base, sign = (-a, -1) if a.could_extract_minus_sign() else (a, 1)
            calls.setdefault(base, {})[(type(atom).__name__, sign)] = atom
    groups = tuple((base, tuple(sorted(kinds.items())))
                   for base, kinds in sorted(calls.items(), key=lambda kv: sympy.default_sort_key(kv[0]))
                   if len(kinds) >= 2)
    grouped = {atom for _, kinds in groups for _, atom in kinds}
    parents: dict = {}
    order: list = []  # unique non-atomic nodes, children before parents
    done: set = set()
    for root in exprs:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in done or node.is_Atom:
                continue
            done.add(node)
            stack.append((node, True))
            for child in node.args:
                if not child.is_Atom:
                    parents[child] = parents.get(child, 0) + 1
                    stack.append((child, False))
    shared = tuple(e for e in order if parents.get(e, 0) >= 2 and e not in grouped and not e.is_Atom
                   and not (e.is_Mul and len(e.args) == 2 and e.args[0] == -1 and e.args[1].is_Atom))
    return groups, shared


def _emit_logistic(em: Emitter, printer, base, symbols, names: dict, width: str) -> None:
    """sigmoid/softplus of ±a from one exp and one log1p, bit-identical to the helpers'."""
    one = "np.float32(1)" if width == "float32" else "1.0"
    a, e, d, l = (em.fresh(p) for p in ("lga", "lge", "lgd", "lgl"))
    em.emit(f"{a} = as_float({printer.doprint(base)})")
    em.emit(f"{e} = np.exp(-np.abs({a}))")
    em.emit(f"{d} = {one} + {e}")
    if any(kind == "softplus" for (kind, _), _ in symbols):  # symbols: ((kind, sign), atom) pairs
        em.emit(f"{l} = np.log1p({e})")
    code = {
        ("sigmoid", 1): f"({one}/{d} if {a} >= 0 else {e}/{d})",
        ("sigmoid", -1): f"({e}/{d} if {a} > 0 else {one}/{d})",
        ("softplus", 1): f"({a} + {l} if {a} > 0 else {l})",
        ("softplus", -1): f"(-{a} + {l} if {a} < 0 else {l})",
    }
    for key, atom in symbols:
        var = em.fresh("lg")
        em.emit(f"{var} = {code[key]}")
        names[atom] = var


def scalar_codes(em: Emitter, exprs: Sequence[sympy.Expr], values: Sequence[str], float_width: str,
                 int_result: bool = False) -> list[str]:
    """Emit shared temporaries for ``exprs`` over ``values`` (code per arg); return each one's code."""
    names = {S.arg(k): v for k, v in enumerate(values)}
    groups, shared = _cse(tuple(exprs))
    printer = ScalarPrinter(float_width, names, int_result)
    for base, kinds in groups:
        _emit_logistic(em, printer, base, kinds, names, float_width)
    for e in shared:
        t = em.fresh("c")
        em.emit(f"{t} = {printer.print_top(e)}")
        names[e] = t
    return [printer.print_top(e) for e in exprs]


def scalar_code(em: Emitter, expr: sympy.Expr, values: Sequence[str], float_width: str,
                int_result: bool = False) -> str:
    """:func:`scalar_codes` for one expression."""
    return scalar_codes(em, [expr], values, float_width, int_result)[0]


@emitter(Elemwise)
def _elemwise(em: Emitter, node: Apply) -> None:
    loop = _elemwise_head(em, node)
    if loop is not None:
        loop()


def _elemwise_head(em: Emitter, node: Apply, into: str | None = None) -> Callable[[], None] | None:
    """Emit an elementwise node's shape checks and its result array; return the emitter of its
    loop (None for a 0-d result, computed at once). ``into``: an input buffer of the result's type
    that the loop writes into when the shapes agree (an update written in place, see inplace.py):
    every check of every in-place node is emitted before the first loop writes anything."""
    op, out = node.op, node.outputs[0]
    names = [em.name(v) for v in node.inputs]
    o = em.bind(out, f"v{len(em.names)}")
    width = _float_width(node)
    int_result = op.dtype[0] in "iu"
    cast = "" if op.dtype == "bool" else _np(op.dtype)
    if out.ndim == 0:
        code = scalar_code(em, op.expr, names, width, int_result)
        em.emit(f"{o} = {cast}({code})" if cast else f"{o} = bool({code})")
        return None
    sizes = _loop_sizes(em, out, node.inputs, names, f"elementwise {_op_text(op)}")
    fresh = f"np.empty(({', '.join(sizes)},), dtype={_np(op.dtype)})"
    if into is None:
        em.emit(f"{o} = {fresh}")
    else:
        same = " and ".join(f"{into}.shape[{d}] == {n}" for d, n in enumerate(sizes))
        em.emit(f"if {same}:")
        em.emit(f"    {o} = {into}  # in place: nothing reads the old {into} any more")
        em.emit("else:")
        em.emit(f"    {o} = {fresh}")

    def loop() -> None:
        idx = _open_loops(em, sizes)
        loads = []
        for v, nm in zip(node.inputs, names):
            if v.ndim == 0:
                loads.append(nm)
            else:
                t = em.fresh("x")
                em.emit(f"{t} = {_access(v, nm, idx)}")
                loads.append(t)
        code = scalar_code(em, op.expr, loads, width, int_result)
        em.emit(f"{o}[{', '.join(idx)}] = {code}")
        em.close(len(idx))
    return loop


# --- reductions -------------------------------------------------------------------------------
def _init_value(kind: str, dtype: str) -> str:
    if kind == "sum":
        return _literal(0, dtype)
    if kind == "prod":
        return _literal(1, dtype)
    if dtype.startswith("float"):
        return _literal(-np.inf if kind == "max" else np.inf, dtype)
    info = np.iinfo(dtype)
    return _literal(info.min if kind == "max" else info.max, dtype)


def _combine(kind: str, acc: str, v: str) -> list[str]:
    if kind == "sum":
        return [f"{acc} += {v}"]
    if kind == "prod":
        return [f"{acc} *= {v}"]
    cmp = ">" if kind == "max" else "<"
    return [f"if {v} {cmp} {acc} or {v} != {v}:", f"    {acc} = {v}"]  # NaN propagates, as in numpy


@emitter(Reduce)
def _reduce(em: Emitter, node: Apply) -> None:
    op, (x,), out = node.op, node.inputs, node.outputs[0]
    xn = em.name(x)
    o = em.bind(out, f"v{len(em.names)}")
    dtype = out.dtype
    axes = tuple(range(x.ndim)) if op.axis is None else op.axis
    if x.ndim == 0:
        em.emit(f"{o} = {'np.int64(0)' if op.kind in ('argmax', 'argmin') else f'{_np(dtype)}({xn})'}")
        return
    if op.kind in ("max", "min", "argmax", "argmin"):
        checks = " or ".join(f"{xn}.shape[{a}] == 0" for a in axes)
        em.emit(f"if {checks}:")
        em.emit(f"    raise ValueError({_msg(f'{op.kind} of an empty dimension of {_label(x)}')})")
    sizes = [f"{xn}.shape[{d}]" for d in range(x.ndim)]
    kept = [d for d in range(x.ndim) if d not in axes]
    if op.kind in ("argmax", "argmin"):
        cmp = ">" if op.kind == "argmax" else "<"
        src_dtype = x.dtype
        init = _init_value("max" if op.kind == "argmax" else "min", src_dtype) if src_dtype != "bool" else "False"
        if op.axis is None:
            best, counter = em.fresh("best"), em.fresh("k")
            em.emit(f"{best} = {xn}[{', '.join('0' for _ in range(x.ndim))}]")
            em.emit(f"{o} = np.int64(0)")
            em.emit(f"{counter} = 0")
            idx = _open_loops(em, sizes)
            v = em.fresh("x")
            em.emit(f"{v} = {xn}[{', '.join(idx)}]")
            em.emit(f"if {v} {cmp} {best} or ({v} != {v} and {best} == {best}):")
            em.emit(f"    {best} = {v}")
            em.emit(f"    {o} = np.int64({counter})")
            em.emit(f"{counter} += 1")
            em.close(len(idx))
            return
        kept_sizes = ", ".join(sizes[d] for d in kept)
        best = em.fresh("best")
        em.emit(f"{best} = np.empty(({kept_sizes},), dtype={_np(src_dtype)})" if kept else f"{best} = np.empty((1,), dtype={_np(src_dtype)})")
        em.emit(f"{o} = np.zeros(({kept_sizes},), dtype=np.int64)" if kept else f"{o} = np.int64(0)")
        idx = _open_loops(em, sizes)
        k = ", ".join(idx[d] for d in kept) if kept else "0"
        ax = idx[axes[0]]
        v = em.fresh("x")
        em.emit(f"{v} = {xn}[{', '.join(idx)}]")
        target = f"{o}[{k}]" if kept else o
        em.emit(f"if {ax} == 0 or {v} {cmp} {best}[{k}] or ({v} != {v} and {best}[{k}] == {best}[{k}]):")
        em.emit(f"    {best}[{k}] = {v}")
        em.emit(f"    {target} = {ax}")
        em.close(len(idx))
        return
    init = _init_value(op.kind, dtype)
    idx_all = None
    if not kept:
        em.emit(f"{o} = {init}")
        idx_all = _open_loops(em, sizes)
        v = f"{xn}[{', '.join(idx_all)}]"
        for line in _combine(op.kind, o, v):
            em.emit(line)
        em.close(len(idx_all))
        return
    em.emit(f"{o} = np.full(({', '.join(sizes[d] for d in kept)},), {init}, dtype={_np(dtype)})")
    idx = _open_loops(em, sizes)
    acc = f"{o}[{', '.join(idx[d] for d in kept)}]"
    v = em.fresh("x")
    em.emit(f"{v} = {xn}[{', '.join(idx)}]")
    for line in _combine(op.kind, acc, v):
        em.emit(line)
    em.close(len(idx))


# --- dot --------------------------------------------------------------------------------------
@emitter(Dot)
def _dot(em: Emitter, node: Apply) -> None:
    a, b = node.inputs
    out = node.outputs[0]
    an, bn = em.name(a), em.name(b)
    o = em.bind(out, f"v{len(em.names)}")
    em.emit(f"if {an}.shape[{a.ndim - 1}] != {bn}.shape[0]:")
    em.emit(f"    raise ValueError({_msg(f'dot: inner dimensions of {_label(a)} and {_label(b)} disagree')})")
    dtype = out.dtype
    if dtype in ("float32", "float64"):
        ops = []
        for v, nm in ((a, an), (b, bn)):
            ops.append(f"blas_ready({nm})" if v.dtype == dtype else f"{nm}.astype({_np(dtype)})")
        em.emit(f"{o} = np.dot({ops[0]}, {ops[1]})")
        return
    # integer or bool dot: BLAS has no such type; plain loops in numpy's accumulation dtype
    acc = em.fresh("acc")
    if a.ndim == 1 and b.ndim == 1:
        em.emit(f"{o} = {_literal(0, dtype)}")
        em.open(f"for k in range({an}.shape[0]):")
        em.emit(f"{o} += {an}[k] * {bn}[k]")
        em.close()
        return
    rows = f"{an}.shape[0]" if a.ndim == 2 else "1"
    cols = f"{bn}.shape[1]" if b.ndim == 2 else "1"
    shape = ", ".join(s for s, keep in ((rows, a.ndim == 2), (cols, b.ndim == 2)) if keep)
    em.emit(f"{o} = np.zeros(({shape},), dtype={_np(dtype)})")
    em.open(f"for i in range({rows}):")
    em.open(f"for j in range({cols}):")
    em.emit(f"{acc} = {_literal(0, dtype)}")
    ai = "i, k" if a.ndim == 2 else "k"
    bj = "k, j" if b.ndim == 2 else "k"
    em.open(f"for k in range({bn}.shape[0]):")
    em.emit(f"{acc} += {an}[{ai}] * {bn}[{bj}]")
    em.close()
    target = ", ".join(i for i, keep in (("i", a.ndim == 2), ("j", b.ndim == 2)) if keep)
    em.emit(f"{o}[{target}] = {acc}")
    em.close(2)


# --- shape ops --------------------------------------------------------------------------------
@emitter(DimShuffle)
def _dimshuffle(em: Emitter, node: Apply) -> None:
    op, (x,), out = node.op, node.inputs, node.outputs[0]
    xn = em.name(x)
    o = em.bind(out, f"v{len(em.names)}")
    if x.ndim == 0:
        em.emit(f"{o} = np.full(({', '.join('1' for _ in op.new_order)},), {xn})")
        return
    if out.ndim == 0:
        em.emit(f"{o} = {xn}[{', '.join('0' for _ in range(x.ndim))}]")
        return
    kept = [d for d in op.new_order if d != "x"]
    if not kept:  # every dim dropped, only new ones: x[0, ..., 0] is a scalar in the kernel
        em.emit(f"{o} = np.full(({', '.join('1' for _ in op.new_order)},), {xn}[{', '.join('0' for _ in range(x.ndim))}])")
        return
    cur = xn
    if op.dropped:
        parts = ["0" if d in op.dropped else ":" for d in range(x.ndim)]
        cur_new = em.fresh("t")
        em.emit(f"{cur_new} = {cur}[{', '.join(parts)}]")
        cur = cur_new
    order = sorted(kept)
    perm = [order.index(d) for d in kept]
    if perm != list(range(len(perm))):
        cur_new = em.fresh("t")
        if perm == list(reversed(range(len(perm)))):
            em.emit(f"{cur_new} = {cur}.T")  # numba types .T of a C array as F-contiguous: BLAS takes it as is
        else:
            em.emit(f"{cur_new} = np.transpose({cur}, ({', '.join(map(str, perm))},))")
        cur = cur_new
    if "x" in op.new_order:
        parts = ["None" if d == "x" else ":" for d in op.new_order]
        em.emit(f"{o} = {cur}[{', '.join(parts)}]")
    else:
        em.emit(f"{o} = {cur}")


@emitter(Shape)
def _shape(em: Emitter, node: Apply) -> None:
    (x,) = node.inputs
    xn = em.name(x)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    if x.ndim == 0:
        em.emit(f"{o} = np.zeros(0, dtype=np.int64)")
    else:
        em.emit(f"{o} = np.array(({', '.join(f'{xn}.shape[{d}]' for d in range(x.ndim))},), dtype=np.int64)")


@emitter(MakeVector)
def _makevector(em: Emitter, node: Apply) -> None:
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    dtype = node.op.dtype
    if not node.inputs:
        em.emit(f"{o} = np.zeros(0, dtype={_np(dtype)})")
        return
    items = ", ".join(f"{_np(dtype)}({em.name(v)})" if dtype != "bool" else f"({em.name(v)} != 0)" for v in node.inputs)
    em.emit(f"{o} = np.array(({items},), dtype={_np(dtype)})")


@emitter(Reshape)
def _reshape(em: Emitter, node: Apply) -> None:
    (x, shp), out = node.inputs, node.outputs[0]
    xn, sn = em.name(x), em.name(shp)
    o = em.bind(out, f"v{len(em.names)}")
    dims = [em.fresh("s") for _ in range(out.ndim)]
    for d, s in enumerate(dims):
        em.emit(f"{s} = {sn}[{d}]")
    size = "1" if x.ndim == 0 else " * ".join(f"{xn}.shape[{d}]" for d in range(x.ndim))
    # resolve one -1 and check the total, so the error names the variable
    known, neg = em.fresh("known"), em.fresh("neg")
    em.emit(f"{known} = 1")
    em.emit(f"{neg} = -1")
    for d, s in enumerate(dims):
        em.emit(f"if {s} == -1:")
        em.emit(f"    {neg} = {d}")
        em.emit("else:")
        em.emit(f"    {known} *= {s}")
    bad = _msg(f"cannot reshape {_label(x)} into the requested shape")
    em.emit(f"if {neg} >= 0:")
    em.emit(f"    if {known} == 0 or ({size}) % {known} != 0:")
    em.emit(f"        raise ValueError({bad})")
    for d, s in enumerate(dims):
        em.emit(f"    if {neg} == {d}:")
        em.emit(f"        {s} = ({size}) // {known}")
    em.emit(f"elif {known} != ({size}):")
    em.emit(f"    raise ValueError({bad})")
    for d, s in enumerate(dims):
        em.emit(f"if {s} < 0:")
        em.emit(f"    raise ValueError({bad})")
        if out.broadcastable[d]:
            em.emit(f"if {s} != 1:")
            em.emit(f"    raise ValueError({bad})")
    src = f"np.full((1,), {xn})" if x.ndim == 0 else f"contiguous({xn})"
    if out.ndim == 0:
        em.emit(f"{o} = {src}.reshape((1,))[0]")
    else:
        em.emit(f"{o} = {src}.reshape(({', '.join(dims)},))")


@emitter(ARange)
def _arange(em: Emitter, node: Apply) -> None:
    start, stop, step = (em.name(v) for v in node.inputs)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    em.emit(f"if {step} == 0:")
    em.emit(f"    raise ValueError({_msg('arange: step must not be zero')})")
    em.emit(f"{o} = np.arange({start}, {stop}, {step}).astype({_np(node.op.dtype)})")


@emitter(Join)
def _join(em: Emitter, node: Apply) -> None:
    names = [em.name(v) for v in node.inputs]
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    axis = node.op.axis
    first = node.inputs[0]
    for v, nm in zip(node.inputs[1:], names[1:]):
        for d in range(first.ndim):
            if d != axis:
                em.emit(f"if {nm}.shape[{d}] != {names[0]}.shape[{d}]:")
                em.emit(f"    raise ValueError({_msg(f'join along axis {axis}: {_label(v)} and {_label(first)} differ in dimension {d}')})")
    em.emit(f"{o} = np.concatenate(({', '.join(names)},), axis={axis})")


# --- indexing ---------------------------------------------------------------------------------
def _basic_index(em: Emitter, x: Variable, xn: str, spec: tuple, idx_names: Sequence[str],
                 arrays_as_full: bool = False) -> tuple[list[str], list[int]]:
    """Index parts for a basic (view) index; ints are bounds-checked. Returns (parts, array dims)."""
    parts, k, array_dims = [], 0, []
    for d, entry in enumerate(spec):
        if entry == "i":
            i = em.fresh("j")
            em.emit(f"{i} = check_index({idx_names[k]}, {xn}.shape[{d}], "
                    f"{_msg(f'index out of bounds for axis {d} of {_label(x)}')})")
            if arrays_as_full:
                parts.append(":")
                array_dims.append(d)
                em.emit(f"{i} = np.array([{i}], dtype=np.int64)")
                idx_names = list(idx_names)
                idx_names[k] = i
            else:
                parts.append(i)
            k += 1
        elif entry == "a":
            parts.append(":")
            array_dims.append(d)
            k += 1
        else:
            text, k = _slice_text(em, entry, idx_names, k)
            parts.append(text)
    return parts, array_dims


def _slice_text(em: Emitter, entry: tuple, idx_names: Sequence[str], k: int) -> tuple[str, int]:
    """``start:stop:step`` for a slice entry whose bounds are the next index inputs; checks step != 0."""
    bounds = []
    for present in entry[1:]:
        if present:
            bounds.append(idx_names[k])
            k += 1
        else:
            bounds.append("")
    if entry[3]:
        em.emit(f"if {bounds[2]} == 0:")
        em.emit(f"    raise ValueError({_msg('slice step cannot be zero')})")
    return (":".join(bounds) if any(bounds) else ":"), k


@emitter(Subtensor)
def _subtensor(em: Emitter, node: Apply) -> None:
    x, *idx = node.inputs
    xn = em.name(x)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    parts, _ = _basic_index(em, x, xn, node.op.spec, [em.name(v) for v in idx])
    em.emit(f"{o} = {xn}[{', '.join(parts)}]")


def _advanced_layout(spec: tuple, ndim: int):
    """For x[spec] with integer arrays: (advanced dims, whether the broadcast dims go in front)."""
    adv = [d for d, e in enumerate(spec) if e in ("a", "i")]
    adjacent = adv == list(range(adv[0], adv[-1] + 1))
    return adv, (not adjacent) or adv[0] == 0


def _advanced_prepare(em: Emitter, node: Apply, x: Variable, xn: str, spec, idx):
    """Slice the basic dims, move advanced dims first, broadcast and bounds-check the index arrays.

    Returns (view with advanced dims first, flat index arrays, broadcast-shape code, n, rest dims).
    """
    idx_names = [em.name(v) for v in idx]
    parts, k, arrays = [], 0, []
    for d, entry in enumerate(spec):
        if entry in ("a", "i"):
            parts.append(":")
            arrays.append((d, idx_names[k], idx[k]))
            k += 1
        else:
            text, k = _slice_text(em, entry, idx_names, k)
            parts.append(text)
    parts += [":"] * (x.ndim - len(spec))
    view = em.fresh("t")
    em.emit(f"{view} = {xn}[{', '.join(parts)}]")
    adv_dims = [d for d, _, _ in arrays]
    others = [d for d in range(x.ndim) if d not in adv_dims]
    perm = adv_dims + others
    if perm != list(range(x.ndim)):
        nv = em.fresh("t")
        em.emit(f"{nv} = np.transpose({view}, ({', '.join(map(str, perm))},))")
        view = nv
    # broadcast the index arrays together (scalars count as 0-d arrays, as in numpy)
    arr_codes = []  # our own int64 copies: they are normalized in place (and may be read-only globals)
    for d, nm, var in arrays:
        arr_codes.append(f"np.array([{nm}], dtype=np.int64).reshape(())" if var.ndim == 0 else f"{nm}.astype(np.int64)")
    bshape = em.fresh("bshape")
    flats = []
    if len(arrays) == 1 and arrays[0][2].ndim > 0:
        em.emit(f"{bshape} = {arr_codes[0]}.shape")
        f = em.fresh("ix")
        em.emit(f"{f} = {arr_codes[0]}.reshape(-1)")
        flats.append(f)
    else:
        bnames = [em.fresh("b") for _ in arrays]
        array_vars = [(c, v) for c, (_, _, v) in zip(arr_codes, arrays)]
        nd = max(v.ndim for _, v in array_vars)
        padded = []
        for c, v in array_vars:
            if v.ndim == 0:
                padded.append(f"np.full(({', '.join('1' for _ in range(nd))},), {c}.item())" if nd else c)
            else:
                padded.append(c)
        if nd == 0:
            em.emit(f"{bshape} = ()")
            for bn, c in zip(bnames, padded):
                f = em.fresh("ix")
                em.emit(f"{f} = np.array([{c}.item()], dtype=np.int64)")
                flats.append(f)
        else:
            em.emit(f"{', '.join(bnames)}, = np.broadcast_arrays({', '.join(padded)})")
            em.emit(f"{bshape} = {bnames[0]}.shape")
            for bn in bnames:
                f = em.fresh("ix")
                em.emit(f"{f} = np.ascontiguousarray({bn}).reshape(-1)")
                flats.append(f)
    n = em.fresh("n")
    em.emit(f"{n} = {flats[0]}.shape[0]")
    checked = []
    for pos, (f, (d, _, _)) in enumerate(zip(flats, arrays)):
        msg = _msg(f"index out of bounds for axis {d} of {_label(x)}")
        # checked indices go to a new array, not back into a broadcast view (numba 0.60 types those read-only)
        c = em.fresh("ix")
        em.emit(f"{c} = np.empty({n}, dtype=np.int64)")
        em.open(f"for q in range({n}):")
        em.emit(f"{c}[q] = check_index({f}[q], {view}.shape[{pos}], {msg})")
        em.close()
        checked.append(c)
        if arrays[pos][2].ndim == 0:  # numpy checks an integer index even when the result is empty
            em.emit(f"check_index({arrays[pos][1]}, {view}.shape[{pos}], {msg})")
    rest = x.ndim - len(arrays)
    return view, checked, bshape, n, rest


def _result_perm(spec: tuple, ndim_b: int, rest: int) -> list[int] | None:
    """Permutation from (broadcast dims, rest dims) to numpy's order when advanced dims are inside."""
    adv, front = _advanced_layout(spec, ndim_b + rest)
    if front:
        return None
    before = sum(1 for d in range(adv[0]) if spec[d] not in ("i",))  # basic dims before the block
    order = list(range(ndim_b, ndim_b + before)) + list(range(ndim_b)) + list(range(ndim_b + before, ndim_b + rest))
    return order


@emitter(AdvancedSubtensor)
def _advanced_subtensor(em: Emitter, node: Apply) -> None:
    x, *idx = node.inputs
    out = node.outputs[0]
    xn = em.name(x)
    o = em.bind(out, f"v{len(em.names)}")
    view, flats, bshape, n, rest = _advanced_prepare(em, node, x, xn, node.op.spec, idx)
    k = len(flats)
    rest_shape = ", ".join(f"{view}.shape[{k + r}]" for r in range(rest))
    flat_out = em.fresh("g")
    em.emit(f"{flat_out} = np.empty(({n}, {rest_shape}), dtype={_np(x.dtype)})" if rest else
            f"{flat_out} = np.empty(({n},), dtype={_np(x.dtype)})")
    em.open(f"for q in range({n}):")
    src = f"{view}[{', '.join(f'{f}[q]' for f in flats)}]"
    em.emit(f"{flat_out}[q] = {src}")
    em.close()
    ndim_b = out.ndim - rest
    target_shape = f"{bshape} + ({rest_shape},)" if rest else bshape
    res = em.fresh("t")
    if ndim_b == 0 and rest == 0:
        em.emit(f"{o} = {flat_out}[0]")
        return
    em.emit(f"{res} = {flat_out}.reshape({target_shape})")
    perm = _result_perm(node.op.spec, ndim_b, rest)
    em.emit(f"{o} = np.transpose({res}, ({', '.join(map(str, perm))},))" if perm else f"{o} = {res}")


@emitter(IncSubtensor)
def _inc_subtensor(em: Emitter, node: Apply) -> None:
    op = node.op
    x, y, *idx = node.inputs
    xn, yn = em.name(x), em.name(y)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    em.emit(f"{o} = {xn}.copy()")
    if not op.advanced:
        parts, _ = _basic_index(em, x, o, op.spec, [em.name(v) for v in idx])
        region = f"{o}[{', '.join(parts)}]"
        region_ndim = sum(1 for e in op.spec if e != "i") + x.ndim - len(op.spec)
        if region_ndim == 0:
            em.emit(f"{region} {'=' if op.set_instead_of_inc else '+='} {yn}")
            return
        r = em.fresh("r")
        em.emit(f"{r} = {region}")
        _check_value_shape(em, y, yn, r, region_ndim)
        if op.set_instead_of_inc:
            em.emit(f"{r}[...] = {yn}")
        else:
            em.emit(f"{r} += {yn}")
        return
    view, flats, bshape, n, rest = _advanced_prepare(em, node, x, o, op.spec, idx)
    k = len(flats)
    ndim_b = len(node.inputs[0].type.broadcastable) - rest  # placeholder, fixed below
    out_region_ndim = len(_region_bc(node))
    ndim_b = out_region_ndim - rest
    rest_shape = ", ".join(f"{view}.shape[{k + r}]" for r in range(rest))
    region_shape = f"{bshape} + ({rest_shape},)" if rest else bshape
    # y in numpy's region order -> (broadcast dims, rest dims) order, then flattened like the index
    perm = _result_perm(op.spec, ndim_b, rest)
    yb = em.fresh("yb")
    if y.ndim == 0:
        em.emit(f"{yb} = np.full({region_shape}, {yn})" if out_region_ndim else f"{yb} = np.full((1,), {yn})")
    else:
        numpy_order = f"np.transpose(np.empty({region_shape}), ({', '.join(map(str, perm))},)).shape" if perm else region_shape
        ys = em.fresh("ys")
        em.emit(f"{ys} = {numpy_order}")
        _check_value_shape(em, y, yn, None, out_region_ndim, shape_code=ys)
        em.emit(f"{yb} = np.broadcast_to({yn}, {ys})")
        if perm:
            inverse = [perm.index(i) for i in range(len(perm))]
            em.emit(f"{yb} = np.transpose({yb}, ({', '.join(map(str, inverse))},))")
    flat_y = em.fresh("fy")
    em.emit(f"{flat_y} = np.ascontiguousarray({yb}).reshape(({n}, -1))" if rest else
            f"{flat_y} = np.ascontiguousarray({yb}).reshape(-1)")
    em.open(f"for q in range({n}):")
    tgt = f"{view}[{', '.join(f'{f}[q]' for f in flats)}]"
    if rest:
        src = f"{flat_y}[q].reshape(({rest_shape},))"
    else:
        src = f"{flat_y}[q]"
    if op.set_instead_of_inc:
        em.emit(f"{tgt} = {src}" if not rest else f"{tgt}[...] = {src}")
    else:
        em.emit(f"{tgt} += {src}")
    em.close()


def _region_bc(node: Apply) -> tuple:
    from ...tensor.indexing import _index_output_bc

    return _index_output_bc(node.inputs[0], node.op.spec, list(node.inputs[2:]))


def _check_value_shape(em: Emitter, y: Variable, yn: str, region: str | None, region_ndim: int,
                       shape_code: str | None = None) -> None:
    """y must match the indexed region in every non-broadcastable dim (right-aligned)."""
    pad = region_ndim - y.ndim
    for j in range(y.ndim):
        if y.broadcastable[j]:
            continue
        target = f"{region}.shape[{pad + j}]" if region else f"{shape_code}[{pad + j}]"
        em.emit(f"if {yn}.shape[{j}] != {target}:")
        em.emit(f"    raise ValueError({_msg(f'inc/set_subtensor: value {_label(y)} does not match the indexed region')})")


@emitter(Softmax)
def _softmax(em: Emitter, node: Apply) -> None:
    (x,), out = node.inputs, node.outputs[0]
    xn = em.name(x)
    o = em.bind(out, f"v{len(em.names)}")
    axis = node.op.axis
    perm = [d for d in range(x.ndim) if d != axis] + [axis]
    t, m, rows, cols = em.fresh("t"), em.fresh("m"), em.fresh("r"), em.fresh("c")
    moved = f"np.transpose({xn}, ({', '.join(map(str, perm))},))" if perm != list(range(x.ndim)) else xn
    em.emit(f"{t} = np.ascontiguousarray({moved})")
    em.emit(f"{cols} = {t}.shape[{x.ndim - 1}]")
    em.emit(f"{rows} = {t}.size // {cols} if {cols} > 0 else 0")
    em.emit(f"{m} = {t}.reshape(({rows}, {cols})).copy()")
    width = "float32" if x.dtype == "float32" else "float64"
    zero = _literal(0, width)
    em.open(f"for r in range({rows}):")
    em.emit(f"mx = {m}[r, 0]")
    em.open(f"for c in range(1, {cols}):")
    em.emit(f"if {m}[r, c] > mx or {m}[r, c] != {m}[r, c]:")
    em.emit(f"    mx = {m}[r, c]")
    em.close()
    em.emit(f"tot = {zero}")
    em.open(f"for c in range({cols}):")
    em.emit(f"e = np.exp({m}[r, c] - mx)")
    if node.op.log:
        em.emit(f"{m}[r, c] = {m}[r, c] - mx")
    else:
        em.emit(f"{m}[r, c] = e")
    em.emit("tot += e")
    em.close()
    if node.op.log:
        em.emit("lt = np.log(tot)")
    em.open(f"for c in range({cols}):")
    em.emit(f"{m}[r, c] = {m}[r, c] - lt" if node.op.log else f"{m}[r, c] = {m}[r, c] / tot")
    em.close(2)
    back = [perm.index(d) for d in range(x.ndim)]
    em.emit(f"{o} = np.transpose({m}.reshape({t}.shape), ({', '.join(map(str, back))},))"
            if back != list(range(x.ndim)) else f"{o} = {m}.reshape({t}.shape)")


# --- conditionals and shape checks -------------------------------------------------------------
@emitter(IfElse)
def _ifelse(em: Emitter, node: Apply) -> None:
    """An ``if``/``else``; a lowered IfElse prints each branch's own nodes inside its block, so they
    run only when that branch is taken. Scalars are cast so both blocks give the name one type."""
    op = node.op
    n = op.n_outs
    cond = node.inputs[0]
    c = em.name(cond)
    outs = [em.bind(o, f"v{len(em.names)}") for o in node.outputs]
    if op.lazy is None:
        blocks = [((), node.inputs[1:1 + n]), ((), node.inputs[1 + n:])]
    else:
        blocks = [(op.lazy.then_nodes, op.lazy.then_outputs), (op.lazy.else_nodes, op.lazy.else_outputs)]
    inner: set = set()
    em.open(f"if {c}:" if cond.dtype == "bool" else f"if {c} != 0:")
    for k, (nodes, values) in enumerate(blocks):
        if k == 1:
            em.close()
            em.open("else:")
        for m in nodes:
            emit = EMITTERS.get(type(m.op))
            if emit is None:
                raise NotImplementedError(f"numba backend: no code generator for {m.op}")
            emit(em, m)
            inner.update(em.names[id(o)] for o in m.outputs)
        for o, v, out in zip(outs, values, node.outputs):
            value = em.name(v)
            if out.ndim:
                em.emit(f"{o} = {value}")
            else:
                em.emit(f"{o} = {_np(out.dtype)}({value})" if out.dtype != "bool" else f"{o} = bool({value})")
    em.close()
    em.used -= inner  # names defined inside the blocks are not read from earlier parts


@emitter(SpecifyShape)
def _specify_shape(em: Emitter, node: Apply) -> None:
    x, *dims = node.inputs
    xn = em.name(x)
    sizes = iter(em.name(d) for d in dims)
    checks = [f"{xn}.shape[{d}] != {next(sizes)}" for d, c in enumerate(node.op.checked) if c]
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    if checks:
        em.emit(f"if {' or '.join(checks)}:")
        em.emit(f"    raise ValueError({_msg(f'specify_shape: {_label(x)} does not have the specified shape')})")
    em.emit(f"{o} = {xn}")


# --- row streaming: one pass over X for dot(X.T, f(dot(X, w), ...)) ---------------------------
ROW_BLOCK = 8  # rows per block: their dots share each load of w, their gradients each pass over g
# A float32 X streamed from memory every step runs faster in blocks of 16 rows (40 000x784: 4.29 ms
# per step against 4.73 with 8), one in the caches slower (400 rows: 20.1 against 19.0 us; 4 000:
# 212 against 197 us). Kernels whose float32 row pass reads an input directly therefore carry a
# second copy generated with this block (functions named *_W), compiled only when first called:
# the wrapper calls it for inputs of WIDE_MIN_BYTES or more (see backend/numba/__init__.py).
ROW_BLOCK_WIDE = 16
# Row chunks of a large row pass (one per thread); fixed when a kernel is generated, so results
# never depend on how many threads happen to run it.
ROW_THREADS = numba.config.NUMBA_NUM_THREADS


@emitter(RowStream)
def _row_stream(em: Emitter, node: Apply) -> None:
    names = [em.name(v) for v in node.inputs]
    outs = [em.bind(o, f"v{len(em.names)}") for o in node.outputs]
    fname = f"rowpass{len(em.extra)}"
    em.emit(f"{', '.join(outs)}, = {fname}({', '.join(names)})")
    em.extra.append(_row_pass_source(fname, node, em.row_block))


def _row_pass_source(fname: str, node: Apply, block: int) -> str:
    """Three functions: ``{fname}_rows`` streams rows [lo, hi) into a gradient and sum accumulators;
    ``{fname}_par`` runs it on fixed row chunks, one per thread (``parallel=True``); ``{fname}``
    checks shapes, picks the thread count (:func:`row_threads`) and adds the per-thread partial
    results in chunk order, so a result depends only on the thread count, never on scheduling."""
    op = node.op
    X, w, *rest = node.inputs
    rows, scalars = rest[:op.n_rows], rest[op.n_rows:]
    n_out, n_sum = len(op.row_exprs), len(op.sum_exprs)
    width = "float32" if X.dtype == "float32" else "float64"
    rs = [f"r{k}" for k in range(len(rows))]
    sc = [f"s{k}" for k in range(len(scalars))]
    os_ = [f"o{k}" for k in range(n_out)]
    ts = [f"t{k}" for k in range(n_sum)]
    data = ["X", "w"] + rs + sc
    parts = [_row_chunk_source(fname, op, X, width, rs, sc, os_, ts, block)]
    if config.parallel:
        parts.append(_row_par_source(fname, data, os_, ts, block))
    parts.append(_row_entry_source(fname, op, X, w, rows, scalars, data, os_, ts))
    return "\n\n\n".join(parts)


def _row_chunk_source(fname: str, op, X: Variable, width: str, rows: list, scalars: list, os_: list,
                      ts: list, B: int) -> str:
    """Rows [lo, hi): dots in register blocks of ``B`` rows, the row expressions, and the
    gradient accumulated into ``g`` while the block's rows are still in cache."""
    zero = _literal(0, X.dtype)
    em = Emitter()
    em.emit("m = X.shape[1]")
    for k in range(len(ts)):
        em.emit(f"a{k} = {_literal(0, op.sum_exprs[k][1])}")
    exprs = [op.grad_expr] + [e for e, _ in op.row_exprs] + [e for e, _ in op.sum_exprs]

    def row(b: str, index: str, z: str, q: str) -> None:
        loads = []
        for r in rows:
            em.emit(f"y{b}_{r} = {r}[{index}]")
            loads.append(f"y{b}_{r}")
        codes = scalar_codes(em, exprs, [z] + loads + scalars, width)
        em.emit(f"{q} = {codes[0]}")
        for k, o in enumerate(os_):
            em.emit(f"{o}[{index}] = {codes[1 + k]}")
        for k in range(len(ts)):
            em.emit(f"a{k} += {codes[1 + len(os_) + k]}")

    dt = _np(X.dtype)
    em.emit(f"za = np.empty({B}, dtype={dt})")
    em.emit(f"qa = np.empty({B}, dtype={dt})")
    em.emit(f"nb = hi - (hi - lo) % {B}")
    em.open(f"for i in range(lo, nb, {B}):")
    for b in range(B):
        em.emit(f"x{b} = X[i + {b}]")
        em.emit(f"z{b} = {zero}")
    em.open("for j in range(m):")  # B independent dot products share each load of w
    em.emit("wj = w[j]")
    for b in range(B):
        em.emit(f"z{b} += x{b}[j] * wj")
    em.close()
    for b in range(B):
        em.emit(f"za[{b}] = z{b}")
    # the row expressions: printed once, run for each row of the block
    em.open(f"for b in range({B}):")
    row("b", "i + b", "za[b]", "qa[b]")
    em.close()
    for b in range(B):
        em.emit(f"q{b} = qa[{b}]")
    # one pass over g for the whole block, backwards: the block's last columns, read just now by
    # the dots, are still in L1 (each g[j] gets the same sum either way: the same bits)
    em.open("for j in range(m - 1, -1, -1):")
    em.emit("g[j] += " + " + ".join(f"q{b} * x{b}[j]" for b in range(B)))
    em.close(2)
    em.open("for i in range(nb, hi):")
    em.emit("xt = X[i]")
    em.emit(f"z = {zero}")
    em.open("for j in range(m):")
    em.emit("z += xt[j] * w[j]")
    em.close()
    row("t", "i", "z", "q")
    em.open("for j in range(m):")
    em.emit("g[j] += q * xt[j]")
    em.close(2)
    for k, t in enumerate(ts):
        em.emit(f"{t}[0] += a{k}")
    params = ["X", "w"] + rows + scalars + ["lo", "hi", "g"] + os_ + ts
    return f"def {fname}_rows({', '.join(params)}):\n" + "\n".join(em.lines) + "\n    return 0"


def _row_par_source(fname: str, data: list, os_: list, ts: list, block: int) -> str:
    """One fixed chunk of rows per thread; chunk edges are multiples of the block."""
    params = ["nt"] + data + ["G"] + os_ + [f"{t}s" for t in ts]
    per_thread = [f"{t}s[c]" for t in ts]
    args = data + ["lo", "hi", "G[c]"] + os_ + per_thread
    return "\n".join([
        f"def {fname}_par({', '.join(params)}):",
        "    n = X.shape[0]",
        f"    per = (n // nt) // {block} * {block}",
        "    for c in numba.prange(nt):",
        "        lo = c * per",
        "        hi = n if c == nt - 1 else lo + per",
        f"        {fname}_rows({', '.join(args)})",
        "    return 0",
    ])


def _row_entry_source(fname, op, X, w, rows, scalars, data, os_, ts) -> str:
    em = Emitter()
    em.emit("n = X.shape[0]")
    em.emit("m = X.shape[1]")
    em.emit("if w.shape[0] != m:")
    em.emit(f"    raise ValueError({_msg(f'dot: inner dimensions of {_label(X)} and {_label(w)} disagree')})")
    for k, v in enumerate(rows):
        em.emit(f"if r{k}.shape[0] != n:")
        em.emit(f"    raise ValueError({_msg(f'shapes do not match: {_label(v)} and the rows of {_label(X)}')})")
    inner = list(data)
    for k, v in enumerate(scalars):  # scalars arrive 0-d (as numbers) or as 1-element vectors
        if v.ndim:
            em.emit(f"sv{k} = s{k}[0]")
            inner[inner.index(f"s{k}")] = f"sv{k}"
    for k, (_, dt) in enumerate(op.row_exprs):
        em.emit(f"o{k} = np.empty(n, dtype={_np(dt)})")
    # the chunk count is fixed when the kernel is generated (results never depend on how many
    # threads run at call time); numba.set_num_threads(1) runs the same chunks on one thread
    em.emit(f"nt = row_chunks(n, m, {ROW_THREADS if config.parallel else 1})")
    # per-thread partial results; one thread uses row 0 (the same argument types either way, so
    # the row function compiles once)
    em.emit(f"G = np.zeros((nt, m), dtype={_np(op.grad_dtype)})")
    for k, (_, dt) in enumerate(op.sum_exprs):
        em.emit(f"t{k}s = np.zeros((nt, 1), dtype={_np(dt)})")
    sums = [f"{t}s" for t in ts]
    # (row 0 passed as a variable, not a literal: the same argument types as in the threads)
    em.emit("start = n - n")
    serial = f"{fname}_rows({', '.join(inner + ['start', 'n', 'G[0]'] + os_ + [f'{t}[0]' for t in sums])})"
    if config.parallel:
        em.open("if nt == 1:")
        em.emit(serial)
        em.close()
        em.open("else:")
        em.emit(f"{fname}_par({', '.join(['nt'] + inner + ['G'] + os_ + sums)})")
        em.close()
    else:
        em.emit(serial)
    em.emit("g = G[0]")
    em.open("for c in range(1, nt):")  # chunk order: deterministic for a given thread count
    em.emit("g += G[c]")
    for t in sums:
        em.emit(f"{t}[0, 0] += {t}[c, 0]")
    em.close()
    for k, (_, dt) in enumerate(op.sum_exprs):
        em.emit(f"t{k} = {_np(dt)}(t{k}s[0, 0])")
    results = ["g"] + os_ + ts
    return (f"def {fname}({', '.join(data)}):\n" + "\n".join(em.lines)
            + f"\n    return ({', '.join(results)},)")


# --- the whole function ---------------------------------------------------------------------
MAX_PART_LINES = 250  # numba's compile time grows faster than linearly with function size


def generate(inputs: Sequence[Variable], outputs: Sequence[Variable], name: str = "kernel",
             inplace: dict[int, int] | None = None, row_block: int = ROW_BLOCK) -> str:
    """Source of a module-level function ``name(a0, a1, ...)`` returning a tuple of the outputs.

    ``inplace``: {output index: input slot} of updates written into their input's buffer (from
    :func:`~symgrad.backend.numba.inplace.plan_inplace`); those loops run last, after every check.
    ``row_block``: rows per register block of the row passes.
    A large graph is split into consecutive parts of at most ``MAX_PART_LINES`` lines, each its own
    function; ``name`` then calls the parts in order, passing the values each one needs.
    """
    inplace = inplace or {}
    em = Emitter()
    em.row_block = row_block
    args = [em.bind(v, f"a{i}") for i, v in enumerate(inputs)]
    chunks = []  # per node: (lines, names read, names defined)
    last = {id(outputs[k].owner) for k in inplace}
    for node in toposort(outputs):
        if id(node) in last:
            continue
        fn = EMITTERS.get(type(node.op))
        if fn is None:
            raise NotImplementedError(f"numba backend: no code generator for {node.op}")
        start = len(em.lines)
        em.used = set()
        fn(em, node)
        defined = {em.names[id(o)] for o in node.outputs}
        chunks.append((em.lines[start:], em.used - defined, defined))
    if inplace:
        start = len(em.lines)
        em.used = set()
        loops = [_elemwise_head(em, outputs[k].owner, em.name(inputs[slot])) for k, slot in inplace.items()]
        for loop in loops:
            loop()
        defined = {em.names[id(outputs[k])] for k in inplace}
        chunks.append((em.lines[start:], em.used - defined, defined))
        em.globals.insert(0, "# updates written in place: " + ", ".join(f"a{slot}" for slot in inplace.values()))
    results = [em.name(v) for v in outputs]
    globals_ = "\n".join(em.globals + [""] + em.extra) if em.extra else "\n".join(em.globals)
    prelude = globals_ + "\n\n\n" if globals_ else ""
    ret = f"    return ({', '.join(results)}{',' if results else ''})"
    header = f"def {name}({', '.join(args)}):"
    if len(em.lines) <= MAX_PART_LINES:
        body = "\n".join(em.lines)
        return prelude + header + "\n" + (body + "\n" if body else "") + ret
    parts, current, size = [], [], 0
    for chunk in chunks:
        if current and size + len(chunk[0]) > MAX_PART_LINES:
            parts.append(current)
            current, size = [], 0
        current.append(chunk)
        size += len(chunk[0])
    if current:
        parts.append(current)
    needed_later = [set(results)]
    for part in reversed(parts[1:]):
        reads = set().union(*(c[1] for c in part))
        defines = set().union(*(c[2] for c in part))
        needed_later.append(needed_later[-1] - defines | reads)
    needed_later.reverse()  # needed_later[k]: names read after part k
    sources, calls = [], []
    for k, part in enumerate(parts):
        reads = set().union(*(c[1] for c in part))
        defines = set().union(*(c[2] for c in part))
        params = sorted(reads - defines)
        returns = sorted(defines & needed_later[k])
        part_name = f"{name}_part{k}"
        lines = [line for c in part for line in c[0]]
        sources.append(f"def {part_name}({', '.join(params)}):\n" + "\n".join(lines)
                       + f"\n    return ({', '.join(returns)}{',' if returns else ''})")
        target = f"{', '.join(returns)}," if returns else "_"
        calls.append(f"    {target} = {part_name}({', '.join(params)})")
    main = header + "\n" + "\n".join(calls) + "\n" + ret
    return prelude + "\n\n\n".join(sources) + "\n\n\n" + main
