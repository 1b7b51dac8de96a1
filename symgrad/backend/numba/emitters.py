"""One emitter per op type for the ops computed in the kernel itself: elementwise (explicit loops,
broadcasting and ranks resolved at generation time), reductions (loops), dot (BLAS through
``helpers.blas_dot``, numba's ``np.dot``; loops for integers), shape ops, softmax, IfElse and
SpecifyShape. Each registers in ``EMITTERS`` (emit.py); indexing has its own module
(indexing.py), and so have the row passes (rowpass.py).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ...graph import Apply, Constant, Variable
from ...tensor.ifelse import IfElse
from ...tensor.indexing import Subtensor, decode_spec
from ...tensor.elemwise import Elemwise
from ...tensor.linalg import Dot
from ...tensor.nnet import Softmax
from ...tensor.reduction import Reduce
from ...tensor.shape import Alloc, ARange, Assert, DimShuffle, Join, MakeVector, Reshape, Shape, Shape_i, SpecifyShape
from .emit import ARENA, EMITTERS, Emitter, JitFunction, _label, _literal, _np, _op_text, apart, emitter, joined
from .scalarcode import scalar_code
from .scalarprint import fast_exp


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
    """Sizes of each output dim, from the first non-broadcastable input dim; the others are checked,
    all in one condition (``Emitter.fail_if``, ``joined``)."""
    sizes, checks, labels = [], [], []
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
                checks.append(f"{nm}.shape[{j}] != {size}")
                labels += [_label(u) for u in (first, v) if _label(u) not in labels]
        sizes.append(size or "1")
    if checks:
        em.fail_if(joined(checks), ValueError, f"{what}: shapes do not match: {' and '.join(labels)} "
                   "(only dimensions declared broadcastable are broadcast)")
    return sizes


def _open_loops(em: Emitter, sizes: Sequence[str]) -> list[str]:
    idx = []
    for s in sizes:
        i = em.fresh("i")
        em.open(f"for {i} in range({s}):")
        idx.append(i)
    return idx


def _access(v: Variable, nm: str, idx: Sequence[str], offsets: Sequence[int] | None = None) -> str:
    if v.ndim == 0:
        return nm
    pad = len(idx) - v.ndim
    parts = ["0" if v.broadcastable[j] else idx[pad + j] for j in range(v.ndim)]
    if offsets is not None:
        parts = [p if not off else f"{off} + {p}" for p, off in zip(parts, offsets)]
    return f"{nm}[{', '.join(parts)}]"


def _window(v: Variable) -> "tuple[Variable, list[int]] | None":
    """(base, start per dim) when ``v`` is ``base[a:b, c:d, ...]``: slices only, each with a constant
    start >= 0 (or none) and no step but 1. A loop then reads ``base[a + i, c + j]`` instead of the
    view: the view has numba's layout 'A' (strides known only at run time), so LLVM does not
    vectorize a loop over it, while a fresh base is C-ordered. An LSTM's gates are column blocks of
    one product. The view still gives the loop's sizes; with a start past the end the view is
    empty and the loop does not run, so every read stays inside the view."""
    node = v.owner
    if node is None or type(node.op) is not Subtensor or node.inputs[0].ndim != v.ndim:
        return None
    starts = []
    for e in decode_spec(node.op.spec):
        if e.kind != "slice":
            return None
        lo, _, step = (None if pos is None else node.inputs[1 + pos] for pos in e.inputs)
        if step is not None and not (isinstance(step, Constant) and step.data.ndim == 0 and step.data == 1):
            return None
        if lo is None:
            starts.append(0)
        elif isinstance(lo, Constant) and lo.data.ndim == 0 and lo.data.dtype.kind in "iu" and lo.data >= 0:
            starts.append(int(lo.data))
        else:
            return None
    return node.inputs[0], starts + [0] * (v.ndim - len(starts))


@emitter(Elemwise)
def _elemwise(em: Emitter, node: Apply) -> None:
    op, out = node.op, node.outputs[0]
    # a constant fill (the zeros a gradient is added into) that only one node reads: written when
    # read, or where an increment of it needs it (indexing.py: a region that covers the whole array
    # needs no fill)
    fill = op.expr.is_Number and op.dtype in ("float32", "float64") and id(out) in em.consumable
    loop = _elemwise_head(em, node, em.into.get(id(out)), allocate_in_loop=not fill)
    if loop is None:
        return
    if fill:
        em.pending_fills[em.name(out)] = (out.ndim, _literal(float(op.expr), op.dtype))
        return
    loop()


def _elemwise_head(em: Emitter, node: Apply, into: str | None = None,
                   allocate_in_loop: bool = False) -> Callable[[], None] | None:
    """Emit an elementwise node's shape checks and its result array; return the emitter of its
    loop (None for a 0-d result, computed at once). ``into``: an input buffer of the result's type
    that the loop writes into when the shapes agree (an update written in place, see inplace.py:
    every check of every in-place node is emitted before the first loop writes anything; or a row
    of a scan's history, which no input of the step aliases: ``Emitter.into``).
    ``allocate_in_loop``: a new result array is printed by the loop's emitter, which calls for
    nothing in between, so that a loop function (``_plain_loop``) can allocate it itself."""
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
    fresh = em.new_array(out, f"({', '.join(sizes)},)", op.dtype)
    allocate = into is None and allocate_in_loop
    if into is None:
        if not allocate:
            em.emit(f"{o} = {fresh}")
        em.c_ordered.add(o)
    else:
        em.used.add(into)  # (a scan's destination is an argument name, not read through em.name)
        same = " and ".join(f"{into}.shape[{d}] == {n}" for d, n in enumerate(sizes))
        em.emit(f"if {same}:")
        why = "its row, passed in" if id(out) in em.into else f"in place: nothing reads the old {into} any more"
        em.emit(f"    {o} = {into}  # {why}")
        em.emit("else:")
        em.emit(f"    {o} = {fresh}")

    def loop() -> None:
        first = _merged_from(em, node, names, o) if into is None else None
        if first is not None:
            if allocate:
                em.emit(f"{o} = {fresh}")
            _merged_loop(em, node, names, o, sizes, first, width, int_result)
            return
        _plain_loop(em, node, names, o, sizes, width, int_result, fresh if allocate else None)
    return loop


def _plain_loop(em: Emitter, node: Apply, names: Sequence[str], o: str, sizes: Sequence[str], width: str,
                int_result: bool, fresh: str | None = None) -> None:
    """The loop nest of ``_elemwise_head`` writing ``o``: printed inline where its text, with its
    arrays, scalars and sizes renamed to parameters in order, first occurs in the function being
    generated; from its second occurrence on, a function beside it (``ewloopK``, ``JIT_INNER``)
    runs it, called apart (apart.py). numba then types, lowers and optimizes that body once, not
    once per copy (the 200-deep tanh chain: 64 of its 67 forward loops are one body, three tanh
    each). The same operations on the same values either way: the same bits.

    ``fresh``: the new array ``o`` is to be (printed here, not yet). A copy whose text with that
    allocation occurred before is one call of a function that allocates the array and returns it,
    ``o = call_apart(...)``: an allocation printed in the caller costs numba more to compile than
    the call (LLVM inlines ``arena_array`` at every site; docs/PERFORMANCE.md). A copy whose loop
    occurred before with another allocation (in the arena, then new for an output) or in place
    calls the loop alone."""
    sources, offsets = [], []
    for v, nm in zip(node.inputs, names):
        window = _window(v) if v.ndim else None
        sources.append(em.name(window[0]) if window is not None else nm)
        offsets.append(window[1] if window is not None else None)

    args: dict[str, str] = {}  # the caller's name -> the parameter's, in order of first use

    def param(text: str) -> str:  # (literals stay in the text)
        return args.setdefault(text, f"p{len(args)}") if text.isidentifier() else text

    out = param(o)
    body = Emitter()
    _write_loop(body, node, [param(s) for s in sources], offsets, out, [param(n) for n in sizes], width, int_result)
    text = "\n".join(body.lines)
    # (the parameters belong to the key: an input the expression no longer reads, ``s - s``, is
    # one, and with literal sizes nothing after it tells two such loops apart)
    plain = f"({', '.join(args.values())}):\n{text}\n    return 0"
    allocating = None
    if fresh is not None:  # the same loop allocating its result: ``fresh`` in the parameters' names
        passed = ([ARENA] if em.in_arena(node.outputs[0], node.op.dtype) else []) + list(args)[1:]
        params = [args.get(n, n) for n in passed]  # (the arena keeps its name)
        allocation = em.new_array(node.outputs[0], f"({', '.join(args.get(n, n) for n in sizes)},)", node.op.dtype)
        allocating = f"({', '.join(params)}):\n    {out} = {allocation}\n{text}\n    return {out}"
    if allocating in em.loops:
        key, call = allocating, f"{o} = {{}}"
    else:
        if fresh is not None:
            em.emit(f"{o} = {fresh}")
        if plain not in em.loops:  # the first copy: inline
            em.loops[plain] = None
            if allocating is not None:
                em.loops[allocating] = None
            _write_loop(em, node, sources, offsets, o, sizes, width, int_result)
            return
        passed, key, call = list(args), plain, "{}"
    fn = em.loops[key]
    if fn is None:
        name = f"ewloop{sum(f is not None for f in em.loops.values())}{em.suffix}"
        fn = em.loops[key] = JitFunction(name, f"def {name}{key}", "JIT_INNER")
    em.emit(call.format(apart(fn.name, passed)))


def _write_loop(em: Emitter, node: Apply, sources: Sequence[str], offsets: Sequence, o: str, sizes: Sequence[str],
                width: str, int_result: bool) -> None:
    """Loops over ``sizes`` writing ``node``'s expression of the inputs, each read from its source
    (its array, or a window's base at ``offsets``: ``_window``; a 0-d input is the scalar itself)."""
    idx = _open_loops(em, sizes)
    loads = []
    for v, src, off in zip(node.inputs, sources, offsets):
        if v.ndim == 0:
            loads.append(src)
        else:
            t = em.fresh("x")
            em.emit(f"{t} = {_access(v, src, idx, off)}")
            loads.append(t)
    code = scalar_code(em, node.op.expr, loads, width, int_result)
    em.emit(f"{o}[{', '.join(idx)}] = {code}")
    em.close(len(idx))


def _merged_from(em: Emitter, node: Apply, names: Sequence[str], o: str) -> int | None:
    """The first of the trailing axes an elementwise loop runs as one, or None.

    LLVM vectorizes an inner loop in blocks of 16-32 elements on this hardware; a short last axis
    (a 22x22 feature map) then runs in the scalar remainder (measured: tanh with a bias over
    (100, 8, 22, 22) float32, 2.3 ms in four loops, 0.8 ms with the last two as one). Axes
    ``first..`` merge when every input either broadcasts along all of them (it reads index 0) or
    along none and is an array this kernel allocated C-ordered (a reshape is then a view), and the
    result is such an array too."""
    out = node.outputs[0]
    if o not in em.c_ordered:
        return None
    best = None
    for first in range(out.ndim - 2, -1, -1):
        for v, nm in zip(node.inputs, names):
            if v.ndim == 0:
                continue
            axes = [d - (out.ndim - v.ndim) for d in range(first, out.ndim)]
            if all(j < 0 or v.broadcastable[j] for j in axes):
                continue
            if any(j < 0 or v.broadcastable[j] for j in axes) or nm not in em.c_ordered or _window(v) is not None:
                return best
        best = first
    return best


def _merged_loop(em: Emitter, node: Apply, names: Sequence[str], o: str, sizes: Sequence[str], first: int,
                 width: str, int_result: bool) -> None:
    """The loop of ``_elemwise_head`` with axes ``first..`` as one (``_merged_from``)."""
    out, op = node.outputs[0], node.op
    flat = " * ".join(f"({s})" for s in sizes[first:])

    def reshaped(nm: str, lead: Sequence[str]) -> str:
        r = em.fresh("r")
        em.emit(f"{r} = {nm}.reshape(({', '.join([*lead, flat])},))")
        return r

    sources = []
    for v, nm in zip(node.inputs, names):
        pad = out.ndim - v.ndim
        whole = v.ndim > 0 and not v.broadcastable[-1]  # (then along none of the merged axes)
        sources.append(reshaped(nm, [f"{nm}.shape[{j}]" for j in range(first - pad)]) if whole else nm)
    target = reshaped(o, sizes[:first])
    idx = _open_loops(em, [*sizes[:first], flat])
    loads = []
    for v, src in zip(node.inputs, sources):
        if v.ndim == 0:
            loads.append(src)
            continue
        pad = out.ndim - v.ndim
        lead = ["0" if v.broadcastable[j] else idx[pad + j] for j in range(max(first - pad, 0))]
        if not v.broadcastable[-1]:
            parts = lead + [idx[-1]]
        else:
            parts = lead + ["0"] * (v.ndim - len(lead))
        t = em.fresh("x")
        em.emit(f"{t} = {src}[{', '.join(parts)}]")
        loads.append(t)
    code = scalar_code(em, op.expr, loads, width, int_result)
    em.emit(f"{target}[{', '.join(idx)}] = {code}")
    em.close(len(idx))


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
    if op.kind in ("max", "min", "argmax", "argmin") and axes:
        em.fail_if(joined([f"{xn}.shape[{a}] == 0" for a in axes]),
                   ValueError, f'{op.kind} of an empty dimension of {_label(x)}')
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
        best_shape = f"({kept_sizes},)" if kept else "(np.int64(1),)"
        em.emit(f"{best} = new_empty({best_shape}, {_np(src_dtype)})")
        em.emit(f"{o} = new_zeros(({kept_sizes},), np.int64)" if kept else f"{o} = np.int64(0)")
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
    if _summed_rows(em, node, axes):
        return
    idx_all = None
    if not kept:
        em.emit(f"{o} = {init}")
        idx_all = _open_loops(em, sizes)
        v = f"{xn}[{', '.join(idx_all)}]"
        for line in _combine(op.kind, o, v):
            em.emit(line)
        em.close(len(idx_all))
        return
    em.emit(f"{o} = new_filled(({', '.join(sizes[d] for d in kept)},), {init})")  # (init: a typed literal)
    idx = _open_loops(em, sizes)
    acc = f"{o}[{', '.join(idx[d] for d in kept)}]"
    v = em.fresh("x")
    em.emit(f"{v} = {xn}[{', '.join(idx)}]")
    for line in _combine(op.kind, acc, v):
        em.emit(line)
    em.close(len(idx))


def _summed_rows(em: Emitter, node: Apply, axes: Sequence[int]) -> bool:
    """Emit a float sum whose last axes are all summed over, of an array this kernel allocated
    C-ordered, as ``helpers.vsum`` of each row of those axes merged (a view): partial sums that
    vectorize instead of one chain of adds. False, emitting nothing, for any other reduction."""
    op, (x,), out = node.op, node.inputs, node.outputs[0]
    xn = em.name(x)
    if op.kind != "sum" or x.dtype not in ("float32", "float64") or out.dtype != x.dtype or xn not in em.c_ordered:
        return False
    first = x.ndim
    while first > 0 and first - 1 in axes:
        first -= 1
    if first == x.ndim:
        return False
    o = em.name(out)
    sizes = [f"{xn}.shape[{d}]" for d in range(x.ndim)]
    rows = em.fresh("r")
    em.emit(f"{rows} = {xn}.reshape(({', '.join([*sizes[:first], ' * '.join(sizes[first:])])},))")
    kept = [d for d in range(x.ndim) if d not in axes]
    if not kept:  # (every axis summed: one row)
        em.emit(f"{o} = vsum({rows})")
        return True
    em.emit(f"{o} = new_filled(({', '.join(sizes[d] for d in kept)},), {_init_value('sum', out.dtype)})")
    idx = _open_loops(em, sizes[:first])
    em.emit(f"{o}[{', '.join(idx[d] for d in kept)}] += vsum({rows}[{', '.join(idx)}])")
    em.close(len(idx))
    return True


# --- dot --------------------------------------------------------------------------------------
@emitter(Dot)
def _dot(em: Emitter, node: Apply) -> None:
    a, b = node.inputs
    out = node.outputs[0]
    an, bn = em.name(a), em.name(b)
    o = em.bind(out, f"v{len(em.names)}")
    em.fail_if(f"{an}.shape[{a.ndim - 1}] != {bn}.shape[0]",
               ValueError, f'dot: inner dimensions of {_label(a)} and {_label(b)} disagree')
    dtype = out.dtype
    if dtype in ("float32", "float64"):
        ops = [nm if v.dtype == dtype else f"{nm}.astype({_np(dtype)})" for v, nm in ((a, an), (b, bn))]
        if a.ndim == 2 and b.ndim == 2 and em.in_arena(out):
            # into an array of the arena (numba's np.dot with ``out`` checks its shape and layout)
            em.emit(f"{o} = {em.new_array(out, f'({an}.shape[0], {bn}.shape[1])')}")
            em.emit(f"blas_dot_to({ops[0]}, {ops[1]}, {o})")
        else:
            em.emit(f"{o} = blas_dot({ops[0]}, {ops[1]})")
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
    em.emit(f"{o} = new_zeros(({shape},), {_np(dtype)})")
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
        em.emit(f"{o} = new_filled(({', '.join('np.int64(1)' for _ in op.new_order)},), {xn})")
        return
    if out.ndim == 0:
        em.emit(f"{o} = {xn}[{', '.join('0' for _ in range(x.ndim))}]")
        return
    kept = [d for d in op.new_order if d != "x"]
    if not kept:  # every dim dropped, only new ones: x[0, ..., 0] is a scalar in the kernel
        first = f"{xn}[{', '.join('0' for _ in range(x.ndim))}]"
        em.emit(f"{o} = new_filled(({', '.join('np.int64(1)' for _ in op.new_order)},), {first})")
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
        em.emit(f"{o} = new_zeros(np.int64(0), np.int64)")
    else:
        em.emit(f"{o} = new_vector(({', '.join(f'{xn}.shape[{d}]' for d in range(x.ndim))},), np.int64)")


@emitter(Shape_i)
def _shape_i(em: Emitter, node: Apply) -> None:
    # one length read, where x.shape[i] as Subtensor(Shape) printed a shape vector, an index check and
    # a read (what each costs numba: docs/PERFORMANCE.md)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    em.emit(f"{o} = {em.name(node.inputs[0])}.shape[{node.op.i}]")


@emitter(MakeVector)
def _makevector(em: Emitter, node: Apply) -> None:
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    dtype = node.op.dtype
    if not node.inputs:
        em.emit(f"{o} = new_zeros(np.int64(0), {_np(dtype)})")
        return
    items = ", ".join(f"{_np(dtype)}({em.name(v)})" if dtype != "bool" else f"({em.name(v)} != 0)" for v in node.inputs)
    em.emit(f"{o} = new_vector(({items},), {_np(dtype)})")


@emitter(Reshape)
def _reshape(em: Emitter, node: Apply) -> None:
    (x, shp), out = node.inputs, node.outputs[0]
    xn, sn = em.name(x), em.name(shp)
    o = em.bind(out, f"v{len(em.names)}")
    size = "1" if x.ndim == 0 else " * ".join(f"{xn}.shape[{d}]" for d in range(x.ndim))
    # the -1 resolved and the total checked here, so the error names the variable (numba's would not)
    rs = em.fresh("rs")
    em.emit(f"{rs} = resolve_shape({sn}, {size})")
    dims = [em.fresh("s") for _ in range(out.ndim)]
    for d, s in enumerate(dims):
        em.emit(f"{s} = {rs}[{d}]")
    bad = [f"{s} < 0" for s in dims] + [f"{s} != 1" for d, s in enumerate(dims) if out.broadcastable[d]]
    em.fail_if(joined(bad or [f"({size}) != 1"]),  # (to no dims: one element)
               ValueError, f'cannot reshape {_label(x)} into the requested shape')
    src = f"new_filled((np.int64(1),), {xn})" if x.ndim == 0 else f"contiguous({xn})"
    if out.ndim == 0:
        em.emit(f"{o} = {src}.reshape((1,))[0]")
    else:
        em.emit(f"{o} = {src}.reshape(({', '.join(dims)},))")


@emitter(ARange)
def _arange(em: Emitter, node: Apply) -> None:
    start, stop, step = (em.name(v) for v in node.inputs)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    em.fail_if(f"{step} == 0", ValueError, 'arange: step must not be zero')
    em.emit(f"{o} = new_range({start}, {stop}, {step}, {_np(node.op.dtype)})")


@emitter(Alloc)
def _alloc(em: Emitter, node: Apply) -> None:
    (value, *shape), out = node.inputs, node.outputs[0]
    vn = em.name(value)
    o = em.bind(out, f"v{len(em.names)}")
    dims = [em.fresh("s") for _ in shape]
    for s, v in zip(dims, shape):
        em.emit(f"{s} = {em.name(v)}")
    negative = [f"{s} < 0" for s, v in zip(dims, shape) if not isinstance(v, Constant)]  # (constants: make_node)
    if negative:
        em.fail_if(joined(negative), ValueError, f'alloc of {_label(value)}: negative size in the shape')
    pad = len(shape) - value.ndim
    # the value's dims must have the size asked for, unless declared broadcastable and 1 (numpy
    # would otherwise stretch a dim of 1 that was not declared broadcastable)
    checks = [f"{vn}.shape[{d}] != {dims[pad + d]}"
              + (f" and not {vn}.shape[{d}] == 1" if value.broadcastable[d] else "") for d in range(value.ndim)]
    if checks:
        bad = f"alloc of {_label(value)}: the value does not have the requested shape"
        em.fail_if(joined(checks), ValueError, bad)
    if out.ndim == 0:
        em.emit(f"{o} = {_np(out.dtype)}({vn})")
    elif value.ndim == 0:
        em.emit(f"{o} = new_filled(({', '.join(dims)},), {_np(out.dtype)}({vn}))")
    else:
        em.emit(f"{o} = new_empty(({', '.join(dims)},), {_np(out.dtype)})")
        em.copy(o, vn, out.ndim, value.broadcastable)


@emitter(Join)
def _join(em: Emitter, node: Apply) -> None:
    names = [em.name(v) for v in node.inputs]
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    axis = node.op.axis
    first = node.inputs[0]
    for v, nm in zip(node.inputs[1:], names[1:]):
        checks = [f"{nm}.shape[{d}] != {names[0]}.shape[{d}]" for d in range(first.ndim) if d != axis]
        if checks:
            bad = f"join along axis {axis}: {_label(v)} and {_label(first)} differ in shape"
            em.fail_if(joined(checks), ValueError, bad)
    em.emit(f"{o} = np.concatenate(({', '.join(names)},), axis={axis})")


@emitter(Softmax)
def _softmax(em: Emitter, node: Apply) -> None:
    (x,), out = node.inputs, node.outputs[0]
    xn = em.name(x)
    o = em.bind(out, f"v{len(em.names)}")
    axis = node.op.axis
    perm = [d for d in range(x.ndim) if d != axis] + [axis]
    t, m, rows, cols = em.fresh("t"), em.fresh("m"), em.fresh("r"), em.fresh("c")
    moved = f"np.transpose({xn}, ({', '.join(map(str, perm))},))" if perm != list(range(x.ndim)) else xn
    em.emit(f"{t} = contiguous({moved})")
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
    em.emit(f"e = {fast_exp(f'{m}[r, c] - mx', width)}")
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
        em.fail_if(joined(checks),
                   ValueError, f'specify_shape: {_label(x)} does not have the specified shape')
    em.emit(f"{o} = {xn}")


@emitter(Assert)
def _assert(em: Emitter, node: Apply) -> None:
    x, cond = node.inputs
    xn, cn = em.name(x), em.name(cond)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    em.fail_if(f"not {cn}", ValueError, node.op.message)
    em.emit(f"{o} = {xn}")
