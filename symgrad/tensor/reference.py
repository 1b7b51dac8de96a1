"""Reference semantics: one numpy implementation per op, and the interpreter that runs them.

Every op type has one entry in ``IMPLS``: ``factory(node) -> function(*input_arrays) -> result``
(a list for a node with several outputs). This table is what each op *means*: the numpy backend
runs it node by node, constant folding runs it on constant inputs, and compiled backends are tested
against it. Errors name the variables involved (``describe``), so a compiled backend re-runs this
interpreter to explain a failure precisely.

Adding an op: register its implementation here with ``@impl(MyOp)``.

>>> import numpy as np, symgrad.tensor as T
>>> x = T.dvector("x")
>>> y = T.exp(x)
>>> interpret([x], [y.owner], [y])([np.zeros(2)])
[array([1., 1.])]
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ..graph import Apply, Constant, Variable
from ..scalar.evaluate import expr_function
from .elemwise import Elemwise
from .ifelse import IfElse
from .indexing import AdvancedSubtensor, IncSubtensor, IndexEntry, Subtensor, decode_spec
from .linalg import Dot
from .nnet import Softmax
from .nnet.abstract_conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights, ConvParams
from .random import (NORM32, NORM64, ChoiceFromUniform, MRGUniform, MultinomialFromUniform, RandomStateChoice,
                     RandomStateDraw, RandomStateMultinomial, RandomStatePermutation, mrg31k3p_step,
                     pack_random_state, unpack_random_state)
from .reduction import Reduce
from .rowstream import RowStream
from .scan import Scan
from .shape import Alloc, ARange, Assert, DimShuffle, Join, MakeVector, Reshape, Shape, Shape_i, SpecifyShape
from .signal.pool import Pool, PoolGrad, PoolParams

IMPLS: dict[type, Callable[[Apply], Callable]] = {}


def impl(op_type):
    def register(factory):
        IMPLS[op_type] = factory
        return factory

    return register


def broadcast_shape(node: Apply, arrays) -> tuple:
    """Output shape of an elementwise node; a size mismatch in a non-broadcastable dim is an error."""
    out_type = node.outputs[0].type
    ndim = out_type.ndim
    shape = [1] * ndim
    owner = [None] * ndim
    for var, arr in zip(node.inputs, arrays):
        pad = ndim - var.ndim
        for i, n in enumerate(np.shape(arr)):
            d = pad + i
            if var.broadcastable[i]:
                continue
            if owner[d] is None:
                shape[d], owner[d] = n, var
            elif shape[d] != n:
                raise ValueError(
                    f"shapes do not match in dimension {d}: {describe(owner[d], None)} has size {shape[d]} "
                    f"but {describe(var, None)} has size {n} (only dimensions declared broadcastable, "
                    "e.g. T.row/T.col or dimshuffle('x'), are broadcast)")
    return tuple(shape)


@impl(Elemwise)
def _elemwise(node):
    op = node.op
    fn = expr_function(op.expr, op.nin)
    dtype = np.dtype(op.dtype)

    def run(*args):
        shape = broadcast_shape(node, args)
        out = np.asarray(fn(*args), dtype=dtype)
        if out.shape != shape:
            out = np.array(np.broadcast_to(out, shape))
        return out

    return run


@impl(Dot)
def _dot(node):
    def run(a, b):
        if a.shape[-1] != b.shape[0]:
            raise ValueError(f"dot: inner dimensions disagree: {describe(node.inputs[0], a)} "
                             f"and {describe(node.inputs[1], b)}")
        return np.dot(a, b)

    return run


@impl(Reduce)
def _reduce(node):
    op = node.op
    fn = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min,
          "argmax": np.argmax, "argmin": np.argmin}[op.kind]
    dtype = node.outputs[0].dtype
    if op.kind in ("argmax", "argmin"):
        axis = None if op.axis is None else op.axis[0]
    else:
        axis = op.axis

    def run(x):
        if op.kind not in ("sum", "prod") and any(x.shape[a] == 0 for a in (op.axis or range(x.ndim))):
            raise ValueError(f"{op.kind} of an empty dimension of {describe(node.inputs[0], x)}")
        return np.asarray(fn(x, axis=axis), dtype=dtype)

    return run


@impl(DimShuffle)
def _dimshuffle(node):
    op = node.op
    kept = [d for d in op.new_order if d != "x"]
    dropped = list(op.dropped)
    expand = [i for i, d in enumerate(op.new_order) if d == "x"]

    def run(x):
        if any(x.shape[d] != 1 for d in dropped):
            raise ValueError(f"cannot drop dimension(s) {dropped} of {describe(node.inputs[0], x)}: size is not 1")
        y = np.transpose(x, kept + dropped).reshape([x.shape[d] for d in kept])
        return np.expand_dims(y, expand) if expand else y

    return run


@impl(Reshape)
def _reshape(node):
    out_bc = node.outputs[0].broadcastable

    def run(x, shp):
        try:
            y = np.reshape(x, tuple(int(s) for s in shp))
        except ValueError:
            raise ValueError(f"cannot reshape {describe(node.inputs[0], x)} into shape {tuple(shp)}") from None
        if any(b and n != 1 for b, n in zip(out_bc, y.shape)):
            raise ValueError(f"reshape produced shape {y.shape}, expected size 1 in broadcastable dims")
        return y

    return run


@impl(Shape)
def _shape(node):
    return lambda x: np.array(x.shape, dtype="int64")


@impl(Shape_i)
def _shape_i(node):
    i = node.op.i
    return lambda x: np.asarray(x.shape[i], dtype="int64")


@impl(MakeVector)
def _makevector(node):
    dtype = node.outputs[0].dtype
    return lambda *xs: np.array(xs, dtype=dtype)


@impl(ARange)
def _arange(node):
    dtype = node.outputs[0].dtype

    def run(start, stop, step):
        if step == 0:
            raise ValueError("arange: step must not be zero")
        return np.arange(start, stop, step, dtype=dtype)

    return run


@impl(Alloc)
def _alloc(node):
    value_var = node.inputs[0]
    dtype = node.outputs[0].dtype

    def run(value, *shape):
        shape = tuple(int(s) for s in shape)
        if any(s < 0 for s in shape):
            raise ValueError(f"alloc of {describe(value_var, value)}: negative size in shape {shape}")
        pad = len(shape) - np.ndim(value)
        for d, n in enumerate(np.shape(value)):
            # declared broadcastable dims stretch; others must already have the size asked for
            if n != shape[pad + d] and not (value_var.broadcastable[d] and n == 1):
                raise ValueError(f"alloc of {describe(value_var, value)} to shape {shape}: dimension {d} "
                                 f"has size {n}, not {shape[pad + d]} (only dimensions declared "
                                 "broadcastable are broadcast)")
        out = np.empty(shape, dtype=dtype)
        out[...] = value
        return out

    return run


@impl(Join)
def _join(node):
    axis = node.op.axis

    def run(*xs):
        try:
            return np.concatenate(xs, axis=axis)
        except ValueError:
            shapes = ", ".join(describe(v, x) for v, x in zip(node.inputs, xs))
            raise ValueError(f"join along axis {axis}: shapes do not fit: {shapes}") from None

    return run


def index_tuple(entries: Sequence[IndexEntry], idx) -> tuple:
    """The numpy index of a decoded spec (:func:`~symgrad.tensor.indexing.decode_spec`), given the
    index input arrays.

    >>> import numpy as np
    >>> index_tuple(decode_spec(("i", ("s", True, False, False))), [np.int64(2), np.int64(1)])
    (2, slice(1, None, None))
    """
    out = []
    for e in entries:
        if e.kind == "int":
            out.append(int(idx[e.position]))
        elif e.kind == "array":
            out.append(idx[e.position])
        else:
            start, stop, step = (None if k is None else int(idx[k]) for k in e.inputs)
            if step == 0:
                raise ValueError("slice step cannot be zero")
            out.append(slice(start, stop, step))
    return tuple(out)


def _index_checker(node: Apply, first: int) -> Callable:
    """``check(x, idx) -> numpy index`` for an indexing node whose index inputs start at input
    ``first``: an index out of bounds raises an IndexError that names the variables."""
    entries = decode_spec(node.op.spec)
    x_var = node.inputs[0]

    def check(x, idx):
        index = index_tuple(entries, idx)
        for e, entry in zip(entries, index):
            d = e.dim
            if e.kind == "int" and not -x.shape[d] <= entry < x.shape[d]:
                raise IndexError(f"index {entry} is out of bounds for axis {d} of {describe(x_var, x)}")
            if e.kind == "array" and entry.size and (entry.max() >= x.shape[d] or entry.min() < -x.shape[d]):
                raise IndexError(f"index array {describe(node.inputs[first + e.position], entry)} has values out "
                                 f"of bounds for axis {d} of {describe(x_var, x)}")
        return index

    return check


@impl(Subtensor)
def _subtensor(node):
    check = _index_checker(node, 1)
    return lambda x, *idx: x[check(x, idx)]


@impl(AdvancedSubtensor)
def _advanced_subtensor(node):
    check = _index_checker(node, 1)

    def run(x, *idx):
        index = check(x, idx)
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"indexing {describe(node.inputs[0], x)}: {e}") from None

    return run


@impl(IncSubtensor)
def _inc_subtensor(node):
    op = node.op
    y_var = node.inputs[1]
    check = _index_checker(node, 2)

    def run(x, y, *idx):
        index = check(x, idx)
        out = x.copy()
        region = np.shape(x[index])
        pad = len(region) - y.ndim
        for i, n in enumerate(y.shape):
            if not y_var.broadcastable[i] and n != region[pad + i]:
                raise ValueError(f"inc/set_subtensor: value {describe(y_var, y)} does not match the indexed "
                                 f"region of shape {region}")
        if op.set_instead_of_inc:
            out[index] = y
        elif op.advanced:
            np.add.at(out, index, y)
        else:
            out[index] += y
        return out

    return run


@impl(Softmax)
def _softmax(node):
    axis = node.op.axis

    def run(x):
        if x.shape[axis] == 0:
            return x.copy()
        shifted = x - np.max(x, axis=axis, keepdims=True)
        e = np.exp(shifted)
        if node.op.log:
            return shifted - np.log(np.sum(e, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    return run


@impl(RowStream)
def _row_stream(node):
    op = node.op

    def run(X, w, *rest):
        if X.shape[1] != w.shape[0]:
            raise ValueError(f"dot: inner dimensions disagree: {describe(node.inputs[0], X)} "
                             f"and {describe(node.inputs[1], w)}")
        rows, scalars = rest[:op.n_rows], rest[op.n_rows:]
        for v, a in zip(node.inputs[2:], rows):
            if a.shape[0] != X.shape[0]:
                raise ValueError(f"shapes do not match: {describe(v, a)} has {a.shape[0]} rows, "
                                 f"{describe(node.inputs[0], X)} has {X.shape[0]}")
        args = [np.dot(X, w), *rows, *[np.asarray(s).reshape(()) for s in scalars]]

        def ev(expr, dtype):
            out = np.asarray(expr_function(expr, len(args))(*args), dtype=dtype)
            return np.array(np.broadcast_to(out, (X.shape[0],))) if out.shape != (X.shape[0],) else out

        r = ev(op.grad_expr, op.grad_dtype)
        results = [np.dot(X.T, r)]
        results += [ev(e, dt) for e, dt in op.row_exprs]
        results += [np.asarray(ev(e, dt).sum(), dtype=dt) for e, dt in op.sum_exprs]
        return results

    return run


@impl(IfElse)
def _ifelse(node):
    """The chosen branch's values; a lowered (lazy) IfElse runs only the chosen branch's own nodes."""
    op = node.op
    n = op.n_outs
    if op.lazy is None:
        def run(cond, *values):
            chosen = values[:n] if cond else values[n:]
            return chosen[0] if n == 1 else list(chosen)

        return run
    boundary = node.inputs[1:]
    branches = [interpret(boundary, op.lazy.then_nodes, op.lazy.then_outputs),
                interpret(boundary, op.lazy.else_nodes, op.lazy.else_outputs)]

    def run(cond, *values):
        results = branches[0 if cond else 1](values)
        return results[0] if n == 1 else results

    return run


@impl(SpecifyShape)
def _specify_shape(node):
    checked = node.op.checked
    x_var = node.inputs[0]

    def run(x, *dims):
        sizes = iter(dims)
        expected = tuple(int(next(sizes)) if c else None for c in checked)
        if any(e is not None and e != n for e, n in zip(expected, np.shape(x))):
            note = " (None: any size)" if None in expected else ""
            raise ValueError(f"specify_shape: {describe(x_var, x)} does not have the specified shape "
                             f"{expected}{note}")
        return x

    return run


@impl(Scan)
def _scan(node):
    """The loop in Python, the step through :func:`interpret` (compiled backends run it inside the kernel)."""
    op = node.op
    inner = op.inner
    c, s, n_ys = op.n_carry, op.n_seq, op.n_ys
    step = interpret(inner.inputs, inner.nodes(), inner.outputs)
    carry_vars = node.inputs[1:1 + c]
    seq_vars = node.inputs[1 + c:1 + c + s]
    kept = [k for k in range(c) if op.history[k]]
    y_vars = inner.outputs[c:c + n_ys]

    def run(n_steps, *values):
        n = int(n_steps)
        if n < 0:
            given = f" {node.inputs[0].label()}" if node.inputs[0].name else ""
            raise ValueError(f"scan: n_steps{given} is negative ({n}){_named(op)}")
        carries = list(values[:c])
        seqs = values[c:c + s]
        rest = list(values[c + s:])
        for var, q in zip(seq_vars, seqs):
            if len(q) < n:
                raise ValueError(f"scan: sequence {describe(var, q)} has fewer than n_steps = {n} entries{_named(op)}")
        shapes = [np.shape(v) for v in carries]
        hist: list[list] = [[] for _ in kept]
        ys: list[list] = [[] for _ in range(n_ys)]
        for t in range(n):
            outs = step(carries + [q[t] for q in seqs] + rest)
            for k in range(c):
                if np.shape(outs[k]) != shapes[k]:
                    raise ValueError(f"scan: recurrent state {k} ({carry_vars[k].label()}) has shape {shapes[k]} "
                                     f"but step {t} returned shape {np.shape(outs[k])}: its shape must stay the "
                                     f"same from step to step{_named(op)}")
            carries = outs[:c]
            for h, k in zip(hist, kept):
                h.append(carries[k])
            for j in range(n_ys):
                ys[j].append(outs[c + j])
            if op.until and outs[-1]:
                break
        # (a step may return a view of an input: the finals never alias one)
        results = [np.array(v, dtype=var.dtype, copy=True) for v, var in zip(carries, node.outputs[:c])]
        for h, k in zip(hist, kept):
            results.append(_stack(h, shapes[k], carry_vars[k].dtype))
        for j in range(n_ys):
            results.append(_stack(ys[j], (0,) * y_vars[j].ndim, y_vars[j].dtype,
                                  f"per-step output {j} ({y_vars[j].label()}){_named(op)}"))
        return results if len(results) > 1 else results[0]

    return run


def _named(op) -> str:
    return f" (scan {op.name!r})" if op.name else ""


def _stack(values: list, empty_shape: tuple, dtype: str, what: str = "an output") -> np.ndarray:
    """The per-step values along a new first axis; no steps: shape (0, *empty_shape)."""
    if not values:
        return np.zeros((0,) + tuple(empty_shape), dtype=dtype)
    shape = np.shape(values[0])
    for t, v in enumerate(values):
        if np.shape(v) != shape:
            raise ValueError(f"scan: {what} has shape {shape} at step 0 but {np.shape(v)} at step {t}: "
                             "per-step outputs must keep one shape")
    return np.stack(values).astype(dtype, copy=False)


@impl(Assert)
def _assert(node):
    message = node.op.message

    def run(x, cond):
        if not cond:
            raise ValueError(message)
        return x

    return run


def _sample_size(node: Apply, size, ndim: int) -> tuple:
    if size.shape != (ndim,):
        raise ValueError(f"{node.op}: size {describe(node.inputs[1], size)} must have {ndim} entries")
    if (size < 0).any():
        raise ValueError(f"{node.op}: size {describe(node.inputs[1], size)} has a negative entry")
    return tuple(int(s) for s in size)


@impl(MRGUniform)
def _mrg_uniform(node):
    op = node.op

    def run(rstate, size):
        shape = _sample_size(node, size, op.ndim)
        n = int(np.prod(shape, dtype=np.int64))
        if rstate.shape[1] != 6 or (rstate.shape[0] == 0 and n > 0):
            raise ValueError(f"{op}: the state {describe(node.inputs[0], rstate)} must have shape "
                             "(n_streams, 6) with n_streams >= 1")
        state = rstate.astype(np.int64)
        ks = np.empty(n, dtype=np.int64)
        streams = state.shape[0]
        # element i comes from stream i % streams: one vectorized step of the streams per round
        for start in range(0, n, streams):
            m = min(streams, n - start)
            *new, ks[start:start + m] = mrg31k3p_step(*(state[:m, j] for j in range(6)))
            state[:m] = np.stack(new, axis=1)
        if op.dtype == "float32":
            sample = ks.astype(np.float32) * NORM32
        else:
            sample = ks.astype(np.float64) * NORM64
        return [state.astype(np.int32), sample.reshape(shape)]

    return run


def _categorical_inputs(node: Apply, pvals, unis, count, what: str) -> tuple[int, int, int]:
    rows, outcomes = pvals.shape
    count = int(count)
    if count < 0:
        raise ValueError(f"{node.op}: {what} {describe(node.inputs[2], count)} is negative")
    if unis.shape[0] != rows * count:
        raise ValueError(f"{node.op}: {describe(node.inputs[1], unis)} must hold {what} * rows = "
                         f"{count} * {rows} uniforms")
    return rows, outcomes, count


@impl(MultinomialFromUniform)
def _multinomial_from_uniform(node):
    dtype = node.outputs[0].dtype

    def run(pvals, unis, n):
        rows, outcomes, n = _categorical_inputs(node, pvals, unis, n, "n")
        counts = np.zeros((rows, outcomes), dtype=dtype)
        cum = np.cumsum(pvals, axis=1)  # sequential sums, as the compiled loop adds
        for c in range(n):
            above = cum > unis[c * rows:(c + 1) * rows, None]
            hit = above.any(axis=1)
            first = above.argmax(axis=1)
            counts[np.flatnonzero(hit), first[hit]] += 1
        return counts

    return run


@impl(ChoiceFromUniform)
def _choice_from_uniform(node):
    op = node.op

    def run(pvals, unis, size):
        rows, outcomes, size = _categorical_inputs(node, pvals, unis, size, "size")
        if outcomes == 0 and rows * size > 0:
            raise ValueError(f"{op}: the probabilities {describe(node.inputs[0], pvals)} have no outcomes")
        if not op.replace and size > outcomes:
            raise ValueError(f"{op}: cannot draw {size} values without replacement from "
                             f"{outcomes} outcomes ({describe(node.inputs[0], pvals)})")
        out = np.zeros((rows, size), dtype=op.dtype)
        p = np.array(pvals)
        for c in range(size):
            for r in range(rows):
                cum = np.cumsum(p[r])
                above = np.flatnonzero(cum > unis[c * rows + r])
                # (a row summing to just below the uniform by rounding: its last possible outcome)
                m = above[0] if above.size else max(np.flatnonzero(p[r] > 0), default=outcomes - 1)
                out[r, c] = m
                if not op.replace:  # remove the outcome and renormalize (by a sequential sum)
                    p[r, m] = 0
                    with np.errstate(invalid="ignore", divide="ignore"):  # (a row with nothing left)
                        p[r] = p[r] / np.cumsum(p[r])[-1]
        return out

    return run


def _mt_start(node: Apply, state, size, ndim: int) -> tuple[np.random.RandomState, tuple, int]:
    shape = _sample_size(node, size, ndim)
    try:
        rs = unpack_random_state(state)
    except ValueError as e:
        raise ValueError(f"{node.op}: the state {describe(node.inputs[0], state)} is not a packed RandomState "
                         f"({e})") from None
    return rs, shape, int(np.prod(shape, dtype=np.int64))


def _first_above(cum: np.ndarray, d: np.ndarray, p: np.ndarray) -> np.ndarray:
    """For each double, the first index whose cumulative probability exceeds it; when rounding
    leaves the total below it, the last outcome of positive probability."""
    idx = np.searchsorted(cum, d, side="right")
    positive = np.flatnonzero(p > 0)
    idx[idx >= len(cum)] = positive[-1] if positive.size else len(cum) - 1
    return idx


def _probabilities(node: Apply, k: int, p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if (p < 0).any() or not np.isfinite(p).all():
        raise ValueError(f"{node.op}: the probabilities {describe(node.inputs[k], p)} must be finite and >= 0")
    return p


@impl(RandomStateDraw)
def _random_state_draw(node):
    op = node.op

    def run(state, size, a, b):
        rs, shape, n = _mt_start(node, state, size, op.ndim)
        try:
            a = np.broadcast_to(np.asarray(a, dtype=np.float64), shape)
            b = np.broadcast_to(np.asarray(b, dtype=np.float64), shape)
        except ValueError:
            raise ValueError(f"{op}: the parameters {describe(node.inputs[2], a)} and {describe(node.inputs[3], b)} "
                             f"do not broadcast to size {shape}") from None
        if op.dist == "uniform":  # numpy's RandomState.uniform: low + (high - low) * double
            out = a + (b - a) * rs.random_sample(n).reshape(shape)
        elif op.dist == "normal":  # RandomState.normal: loc + scale * legacy gauss
            out = a + b * rs.standard_normal(n).reshape(shape)
        elif op.dist == "binomial":  # trials a, probability b: the doubles below b among a of them
            trials = a.astype(np.int64).ravel()
            if (trials < 0).any():
                raise ValueError(f"{op}: the number of trials {describe(node.inputs[2], a)} is negative")
            hits = rs.random_sample(int(trials.sum())) < np.repeat(b.ravel(), trials)
            total = np.concatenate([[0], np.cumsum(hits)])
            ends = np.cumsum(trials)
            out = (total[ends] - total[ends - trials]).reshape(shape)
        else:  # random_integers in [a, b]
            if (b < a).any():
                raise ValueError(f"{op}: high {describe(node.inputs[3], b)} is below low {describe(node.inputs[2], a)}")
            out = a + np.floor(rs.random_sample(n).reshape(shape) * (b - a + 1.0))
        return [pack_random_state(rs), np.asarray(out).astype(op.dtype)]

    return run


@impl(RandomStatePermutation)
def _random_state_permutation(node):
    op = node.op

    def run(state, size, n):
        rs, shape, count = _mt_start(node, state, size, op.ndim)
        n = int(n)
        if n < 0:
            raise ValueError(f"{op}: n {describe(node.inputs[2], n)} is negative")
        out = np.empty((count, n), dtype=op.dtype)
        for r in range(count):  # Fisher-Yates: swap i with floor(double * (i + 1)), i = n-1 .. 1
            perm = np.arange(n)
            d = rs.random_sample(max(n - 1, 0))
            for t, i in enumerate(range(n - 1, 0, -1)):
                j = min(int(d[t] * (i + 1)), i)  # (a product rounded up must not reach past i)
                perm[i], perm[j] = perm[j], perm[i]
            out[r] = perm
        return [pack_random_state(rs), out.reshape(shape + (n,))]

    return run


@impl(RandomStateChoice)
def _random_state_choice(node):
    op = node.op

    def run(state, size, a, p):
        rs, shape, k = _mt_start(node, state, size, op.ndim)
        m, pvals_given = len(a), p
        if m == 0 and k > 0:
            raise ValueError(f"{op}: cannot choose from the empty {describe(node.inputs[2], a)}")
        if op.replace and len(p) == 0:
            idx = np.minimum((rs.random_sample(k) * m).astype(np.int64), m - 1)
        elif op.replace:
            if len(p) != m:
                raise ValueError(f"{op}: p {describe(node.inputs[3], p)} must have one entry per element of "
                                 f"{describe(node.inputs[2], a)}")
            p = _probabilities(node, 3, p)
            idx = _first_above(np.cumsum(p), rs.random_sample(k), p)
        elif len(p) == 0:
            if k > m:
                raise ValueError(f"{op}: cannot draw {k} values without replacement from {describe(node.inputs[2], a)}")
            perm = np.arange(m)
            d = rs.random_sample(k)
            for i in range(k):  # a partial Fisher-Yates shuffle
                j = min(i + int(d[i] * (m - i)), m - 1)
                perm[i], perm[j] = perm[j], perm[i]
            idx = perm[:k]
        else:  # each draw: the remaining outcomes' cumulative sums against a double times their total
            if len(p) != m:
                raise ValueError(f"{op}: p {describe(node.inputs[3], p)} must have one entry per element of "
                                 f"{describe(node.inputs[2], a)}")
            p = _probabilities(node, 3, p).copy()
            d = rs.random_sample(k)
            idx = np.empty(k, dtype=np.int64)
            for i in range(k):
                cum = np.cumsum(p)
                if not cum[-1] > 0:
                    raise ValueError(f"{op}: fewer outcomes of positive probability in "
                                     f"{describe(node.inputs[3], pvals_given)} than the {k} values to draw")
                idx[i] = _first_above(cum, d[i:i + 1] * cum[-1], p)[0]
                p[idx[i]] = 0
        return [pack_random_state(rs), np.asarray(a)[idx].reshape(shape).astype(op.dtype)]

    return run


@impl(RandomStateMultinomial)
def _random_state_multinomial(node):
    op = node.op

    def run(state, size, n, pvals):
        rs, shape, count = _mt_start(node, state, size, op.ndim)
        n, m = int(n), len(pvals)
        if n < 0:
            raise ValueError(f"{op}: n {describe(node.inputs[2], n)} is negative")
        if m == 0 and n * count > 0:
            raise ValueError(f"{op}: pvals {describe(node.inputs[3], pvals)} has no outcomes")
        p = _probabilities(node, 3, pvals)
        out = np.zeros((count, m), dtype=op.dtype)
        if n * count:
            idx = _first_above(np.cumsum(p), rs.random_sample(count * n), p).reshape(count, n)
            np.add.at(out, (np.repeat(np.arange(count), n), idx.ravel()), 1)
        return [pack_random_state(rs), out.reshape(shape + (m,))]

    return run


# --- convolution and pooling (nnet/abstract_conv.py, signal/pool.py) ---------------------------------
def _conv_windows(x, params: ConvParams, kh: int, kw: int, oh: int, ow: int):
    """The padded input's windows as a read-only view: ``(B, C, oh, ow, kh, kw)``."""
    ph, pw = params.pads(kh, kw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else np.ascontiguousarray(x)
    (sh, sw), (dh, dw) = params.subsample, params.dilation
    s = xp.strides
    return np.lib.stride_tricks.as_strided(xp, (x.shape[0], x.shape[1], oh, ow, kh, kw),
                                           (s[0], s[1], s[2] * sh, s[3] * sw, s[2] * dh, s[3] * dw), writeable=False)


def _conv_out(node, who: str, x_var, x_shape, w_var, w_shape, params: ConvParams) -> tuple[int, int]:
    """The output size, after checking that the channels agree and the filters fit."""
    if x_shape[1] != w_shape[1]:
        raise ValueError(f"{who}: {describe(x_var, np.empty(x_shape))} has {x_shape[1]} channels but "
                         f"{describe(w_var, np.empty(w_shape))} expects {w_shape[1]}")
    oh, ow = params.out_size(x_shape[2], x_shape[3], w_shape[2], w_shape[3])
    if oh < 1 or ow < 1:
        raise ValueError(f"{who}: the filters {describe(w_var, np.empty(w_shape))} (dilation "
                         f"{params.dilation}) do not fit the input {describe(x_var, np.empty(x_shape))} padded by "
                         f"{params.pads(w_shape[2], w_shape[3])}")
    return oh, ow


def _flipped(w, params: ConvParams):
    return w[:, :, ::-1, ::-1] if params.flip else w


@impl(Conv2d)
def _conv2d(node):
    params = node.op.params

    def run(x, w):
        oh, ow = _conv_out(node, "conv2d", node.inputs[0], x.shape, node.inputs[1], w.shape, params)
        win = _conv_windows(x, params, w.shape[2], w.shape[3], oh, ow)
        out = np.tensordot(win, _flipped(w, params), axes=([1, 4, 5], [1, 2, 3]))  # (B, oh, ow, K)
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    return run


def _grad_geometry(who, x_shape, w_shape, gz, params: ConvParams) -> tuple[int, int]:
    """The output size of a convolution of ``x_shape`` by ``w_shape``, checked against ``gz``."""
    oh, ow = params.out_size(x_shape[2], x_shape[3], w_shape[2], w_shape[3])
    if gz.shape != (x_shape[0], w_shape[0], oh, ow):
        expected = (x_shape[0], w_shape[0], oh, ow)
        raise ValueError(f"{who}: the output gradient has shape {gz.shape}, expected {expected} for an input of "
                         f"shape {x_shape} and filters of shape {w_shape}")
    return oh, ow


@impl(Conv2dGradInputs)
def _conv2d_grad_inputs(node):
    params = node.op.params

    def run(w, gz, h, wd):
        x_shape = (gz.shape[0], w.shape[1], int(h), int(wd))
        oh, ow = _grad_geometry("conv2d gradient", x_shape, w.shape, gz, params)
        ph, pw = params.pads(w.shape[2], w.shape[3])
        (sh, sw), (dh, dw) = params.subsample, params.dilation
        gxp = np.zeros((x_shape[0], x_shape[1], x_shape[2] + 2 * ph, x_shape[3] + 2 * pw),
                       dtype=node.outputs[0].dtype)
        wf = _flipped(w, params)
        for u in range(w.shape[2]):
            for v in range(w.shape[3]):
                part = np.tensordot(gz, wf[:, :, u, v], axes=([1], [0])).transpose(0, 3, 1, 2)  # (B, C, oh, ow)
                gxp[:, :, u * dh:u * dh + sh * (oh - 1) + 1:sh, v * dw:v * dw + sw * (ow - 1) + 1:sw] += part
        return np.ascontiguousarray(gxp[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]])

    return run


@impl(Conv2dGradWeights)
def _conv2d_grad_weights(node):
    params = node.op.params

    def run(x, gz, kh, kw):
        w_shape = (gz.shape[1], x.shape[1], int(kh), int(kw))
        oh, ow = _grad_geometry("conv2d gradient", x.shape, w_shape, gz, params)
        win = _conv_windows(x, params, w_shape[2], w_shape[3], oh, ow)
        gw = np.tensordot(gz, win, axes=([0, 2, 3], [0, 2, 3]))  # (K, C, kh, kw)
        return np.ascontiguousarray(_flipped(gw, params)).astype(node.outputs[0].dtype, copy=False)

    return run


def pool_windows(n: int, params: PoolParams, axis: int) -> list[tuple[int, int, int]]:
    """Per output index along one axis: the window's ``(start, stop)`` in the input (clipped to it)
    and the count an average divides by (module docstring of signal/pool.py)."""
    k, s, p = params.ws[axis], params.stride[axis], params.pad[axis]
    out = []
    for r in range(params.out_size(n, n)[axis]):
        start, stop = r * s, min(r * s + k, n + 2 * p)
        lo, hi = max(start, p), min(stop, n + p)
        out.append((lo - p, hi - p, stop - start if params.mode == "average_inc_pad" else hi - lo))
    return out


@impl(Pool)
def _pool(node):
    params = node.op.params

    def run(x):
        h, w = x.shape[-2:]
        rows, cols = pool_windows(h, params, 0), pool_windows(w, params, 1)
        out = np.empty(x.shape[:-2] + (len(rows), len(cols)), dtype=x.dtype)
        for i, (r0, r1, rc) in enumerate(rows):
            for j, (c0, c1, cc) in enumerate(cols):
                block = x[..., r0:r1, c0:c1]
                if params.mode == "max":
                    out[..., i, j] = block.max(axis=(-2, -1))
                else:
                    total = block.sum(axis=(-2, -1))
                    out[..., i, j] = total if params.mode == "sum" else total / (rc * cc)
        return out

    return run


@impl(PoolGrad)
def _pool_grad(node):
    params = node.op.params

    def run(x, z, gz):
        h, w = x.shape[-2:]
        rows, cols = pool_windows(h, params, 0), pool_windows(w, params, 1)
        expected = x.shape[:-2] + (len(rows), len(cols))
        if z.shape != expected or gz.shape != expected:
            raise ValueError(f"pool_2d gradient: pooled values of shape {z.shape} and their gradient of shape "
                             f"{gz.shape} do not match an input of shape {x.shape} (expected {expected})")
        gx = np.zeros_like(x)
        for i, (r0, r1, rc) in enumerate(rows):
            for j, (c0, c1, cc) in enumerate(cols):
                g = gz[..., i, j][..., None, None]
                if params.mode == "max":
                    gx[..., r0:r1, c0:c1] += (x[..., r0:r1, c0:c1] == z[..., i, j][..., None, None]) * g
                elif params.mode == "sum":
                    gx[..., r0:r1, c0:c1] += g
                else:
                    gx[..., r0:r1, c0:c1] += g / (rc * cc)
        return gx

    return run


def describe(var: Variable, value) -> str:
    """The variable's label (``Variable.label``) and, when there is a value, its shape.

    >>> import numpy as np, symgrad.tensor as T
    >>> describe(T.dmatrix("x"), np.zeros((3, 4)))
    "'x' (float64 matrix of shape (3, 4))"
    """
    if value is None:
        return var.label()
    return f"{var.label()} ({var.type.describe()} of shape {np.shape(value)})"


def interpret(inputs: Sequence[Variable], nodes: Sequence[Apply], outputs: Sequence[Variable]) -> Callable:
    """``run(values) -> list of arrays``: evaluate ``nodes`` (in this order) from one value per input.

    Every value a node reads must be an input, a constant or an output of an earlier node. Used for
    whole graphs (the numpy backend) and for the branches of a lazy ``IfElse``.
    """
    slot: dict[int, int] = {}
    for v in inputs:
        slot.setdefault(id(v), len(slot))
    constants: list[tuple[int, np.ndarray]] = []

    def place(v: Variable, what: str) -> int:
        if id(v) not in slot:
            if not isinstance(v, Constant):
                raise ValueError(f"{what} {v!r} was not provided")
            slot[id(v)] = len(slot)
            constants.append((slot[id(v)], v.data))
        return slot[id(v)]

    steps = []
    for node in nodes:
        ins = [place(v, "graph input") for v in node.inputs]
        factory = IMPLS.get(type(node.op))
        if factory is None:
            raise NotImplementedError(f"no reference implementation for {node.op}")
        for o in node.outputs:
            slot[id(o)] = len(slot)
        out = slot[id(node.outputs[0])] if len(node.outputs) == 1 else [slot[id(o)] for o in node.outputs]
        steps.append((factory(node), ins, out, node))
    out_slots = [place(v, "output") for v in outputs]
    size = len(slot)
    in_slots = [slot[id(v)] for v in inputs]
    n_in = len(inputs)

    def run(values: Sequence) -> list:
        storage = [None] * size
        for s, val in zip(in_slots, values[:n_in]):
            storage[s] = val
        for s, val in constants:
            storage[s] = val
        with np.errstate(all="ignore"):
            for fn, ins, out, node in steps:
                args = [storage[i] for i in ins]
                try:
                    if isinstance(out, list):
                        for s, value in zip(out, fn(*args)):
                            storage[s] = value
                    else:
                        storage[out] = fn(*args)
                except (ValueError, IndexError) as e:
                    raise type(e)(f"{e}\n  while computing {node.op} of "
                                  f"{', '.join(describe(v, a) for v, a in zip(node.inputs, args))}") from None
        # numpy returns scalars for 0-d results (x[i], dot of vectors): results are always arrays
        return [v if type(v) is np.ndarray else np.asarray(v) for v in (storage[s] for s in out_slots)]

    return run
