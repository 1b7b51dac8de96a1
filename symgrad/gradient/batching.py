"""Batching: ``batch_graph`` evaluates a graph built on a placeholder for many values of it at once,
with one rule per op type in ``BATCH_RULES``; ``jacobian`` and ``hessian`` use it to run one
reverse sweep for every row of an identity matrix.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from ..graph import Apply, Constant, Variable, toposort
from ..tensor.ifelse import IfElse
from ..tensor import elemwise as E
from ..tensor.indexing import FULL, AdvancedSubtensor, IncSubtensor, Subtensor, indexed_broadcastable
from ..tensor.linalg import Dot, dot
from ..tensor.nnet import Softmax
from ..tensor.reduction import Reduce
from ..tensor.shape import (
    Alloc, DimShuffle, Join, MakeVector, Reshape, Shape, Shape_i, SpecifyShape, arange, dimshuffle, shape)
from ..tensor.variable import constant


def batch_graph(outputs: Sequence[Variable], seed: Variable, batched_seed: Variable) -> list[Variable]:
    """``outputs`` (graphs in a placeholder ``seed``) evaluated for every row of ``batched_seed``
    at once: each result gets a leading dimension of ``batched_seed.shape[0]``.

    Every node that depends on ``seed`` is rebuilt by its rule in ``BATCH_RULES`` on values that
    carry the extra leading (batch) dimension; nodes that do not are shared unchanged. Outputs
    that do not depend on ``seed`` are broadcast along the batch dimension.

    >>> import numpy as np, symgrad.tensor as T
    >>> v, x = T.dvector("v"), T.dvector("x")
    >>> (out,) = batch_graph([v * x], v, T.dmatrix("V"))
    >>> out.type
    TensorType(float64, matrix)
    """
    batcher = _Batcher(seed, batched_seed)
    return [batcher.lift(v) for v in outputs]


class _Batcher:
    """Memo of batched values (leading batch dim) and of unbatched replacements (``Shape`` of a
    batched value does not depend on the batch, but must not refer to the placeholder)."""

    def __init__(self, seed: Variable, batched_seed: Variable):
        self.batched: dict[int, Variable] = {id(seed): batched_seed}
        self.replaced: dict[int, Variable] = {}
        self.rows = arange(shape(batched_seed)[0])  # a vector as long as the batch

    def lift(self, var: Variable) -> Variable:
        for node in toposort([var]):
            if any(id(o) in self.batched or id(o) in self.replaced for o in node.outputs):
                continue
            ins = [self.batched.get(id(v)) for v in node.inputs]
            if all(b is None for b in ins):
                if any(id(v) in self.replaced for v in node.inputs):
                    new = node.op.make_node(*[self.replaced.get(id(v), v) for v in node.inputs])
                    for o, n in zip(node.outputs, new.outputs):
                        self.replaced[id(o)] = n
                continue
            rule = BATCH_RULES.get(type(node.op))
            if rule is None:
                raise NotImplementedError(f"jacobian/hessian: no batching rule for {node.op}")
            for o, (value, is_batched) in zip(node.outputs, rule(self, node, ins)):
                if is_batched:
                    self.batched[id(o)] = _conform(value, o)
                else:
                    self.replaced[id(o)] = value
        if id(var) in self.batched:
            return self.batched[id(var)]
        return self.broadcast(self.replaced.get(id(var), var))

    def unbatched(self, v: Variable) -> Variable:
        return self.replaced.get(id(v), v)

    def broadcast(self, v: Variable) -> Variable:
        """``v`` repeated along a new leading batch dimension."""
        rows = dimshuffle(self.rows, [0] + ["x"] * v.ndim)
        return E.fill(rows, dimshuffle(v, ["x"] + list(range(v.ndim))))

    def full(self, node: Apply, ins: list, i: int) -> Variable:
        """Input ``i`` of ``node`` with a batch dimension (broadcast if it has none)."""
        return ins[i] if ins[i] is not None else self.broadcast(self.unbatched(node.inputs[i]))


def _conform(value: Variable, original: Variable) -> Variable:
    """``value`` with the original's broadcastable pattern after a non-broadcastable batch dim (a
    reshape to sizes that are constant 1 exactly where the original's dims are broadcastable), so
    the batched graph type-checks like the original."""
    want = (False,) + original.broadcastable
    if value.broadcastable == want:
        return value
    return value.reshape([1 if w else shape(value)[d] for d, w in enumerate(want)])


def _after_batch(xb: Variable, extra: int) -> Variable:
    """Insert ``extra`` broadcastable dims right after the batch dim (left-padding of the original)."""
    if extra <= 0:
        return xb
    return dimshuffle(xb, [0] + ["x"] * extra + list(range(1, xb.ndim)))


def _batch_elemwise(bt, node, ins):
    out_ndim = node.outputs[0].ndim
    args = [x if xb is None else _after_batch(xb, out_ndim - x.ndim)
            for x, xb in zip((bt.unbatched(v) for v in node.inputs), ins)]
    return [(node.op.make_node(*args).outputs[0], True)]


def _batch_reduce(bt, node, ins):
    op, (x,), (xb,) = node.op, node.inputs, ins
    if op.axis is None and op.kind in ("argmax", "argmin"):
        raise NotImplementedError(f"jacobian/hessian: cannot batch {op} over the flattened array")
    axes = tuple(range(x.ndim)) if op.axis is None else op.axis
    if not axes:
        return [(E.cast(xb, node.outputs[0].dtype), True)]
    return [(Reduce(op.kind, tuple(a + 1 for a in axes))(xb), True)]


def _batch_dimshuffle(bt, node, ins):
    order = (0,) + tuple("x" if d == "x" else d + 1 for d in node.op.new_order)
    return [(DimShuffle(node.op.input_ndim + 1, order)(ins[0]), True)]


def _batch_reshape(bt, node, ins):
    shp, (xb, shpb) = node.inputs[1], ins
    if shpb is not None:
        raise NotImplementedError("jacobian/hessian: cannot batch a reshape whose shape depends on the seed")
    shp = bt.unbatched(shp)
    b = shape(xb)[0]
    if shp.owner is not None and isinstance(shp.owner.op, MakeVector):
        new_shape = MakeVector("int64")(b, *shp.owner.inputs)
    elif isinstance(shp, Constant):
        new_shape = MakeVector("int64")(b, *[constant(np.int64(s)) for s in shp.data])
    else:
        new_shape = Join(0)(MakeVector("int64")(b), E.cast(shp, "int64"))
    return [(Reshape(node.op.ndim + 1)(xb, new_shape), True)]


def _batch_shape(bt, node, ins):
    return [(shape(ins[0])[1:], False)]


def _batch_shape_i(bt, node, ins):
    return [(Shape_i(node.op.i + 1)(ins[0]), False)]


def _batch_makevector(bt, node, ins):
    columns = [dimshuffle(E.cast(bt.full(node, ins, i), node.op.dtype), (0, "x")) for i in range(len(ins))]
    return [(Join(1)(*columns) if len(columns) > 1 else columns[0], True)]


def _batch_join(bt, node, ins):
    return [(Join(node.op.axis + 1)(*[bt.full(node, ins, i) for i in range(len(ins))]), True)]


def _index_arguments(bt, node, ins, first: int) -> list:
    if any(b is not None for b in ins[first:]):
        raise NotImplementedError(f"jacobian/hessian: cannot batch {node.op} with indices that depend on the seed")
    return [bt.unbatched(v) for v in node.inputs[first:]]


def _batch_last(xb: Variable) -> Variable:
    return dimshuffle(xb, list(range(1, xb.ndim)) + [0])


def _batch_first(x: Variable) -> Variable:
    return dimshuffle(x, [x.ndim - 1] + list(range(x.ndim - 1)))


def _batch_subtensor(bt, node, ins):
    idx = _index_arguments(bt, node, ins, 1)
    if isinstance(node.op, AdvancedSubtensor):
        # with the batch as the last, unindexed dim, numpy's placement of the index dims (in
        # place, or first when the index entries are not adjacent) leaves it last: move it back
        return [(_batch_first(AdvancedSubtensor(node.op.spec)(_batch_last(ins[0]), *idx)), True)]
    return [(Subtensor((FULL,) + node.op.spec)(ins[0], *idx), True)]


def _batch_incsubtensor(bt, node, ins):
    op = node.op
    x, y = (bt.unbatched(v) for v in node.inputs[:2])
    idx = _index_arguments(bt, node, ins, 2)
    xb = bt.full(node, ins, 0)
    if not op.advanced:
        # a leading full slice; an unbatched y broadcasts over the batch like over any leading dim
        yb = y if ins[1] is None else _after_batch(ins[1], _region_ndim(x, op.spec, idx) - y.ndim)
        return [(IncSubtensor((FULL,) + op.spec, False, op.set_instead_of_inc)(xb, yb, *idx), True)]
    # the batch as the last dim of x and of the indexed region (see _batch_subtensor)
    if ins[1] is None:
        y_last = dimshuffle(y, list(range(y.ndim)) + ["x"])
    else:
        y_last = _batch_last(_after_batch(ins[1], _region_ndim(x, op.spec, idx) - y.ndim))
    out = IncSubtensor(op.spec, True, op.set_instead_of_inc)(_batch_last(xb), y_last, *idx)
    return [(_batch_first(out), True)]


def _region_ndim(x: Variable, spec: tuple, idx: list) -> int:
    return len(indexed_broadcastable(x, spec, idx))


def _reshaped(x: Variable, sizes: list, like: Variable, lead: int) -> Variable:
    """Reshape to ``sizes``; dims of ``like`` (from position ``lead``) that are broadcastable get 1."""
    entries = list(sizes)
    for d, b in enumerate(like.broadcastable):
        if b:
            entries[lead + d] = 1
    return x.reshape(entries)


def _batch_dot(bt, node, ins):
    a, b = (bt.unbatched(v) for v in node.inputs)
    ab, bb = ins
    out = node.outputs[0]
    if ab is not None and bb is not None:
        raise NotImplementedError("jacobian/hessian: a product of two seed-dependent values is not linear")
    if ab is not None:
        if a.ndim == 1:
            return [(dot(ab, b), True)]
        size, rows = shape(ab)[0], shape(ab)[1]
        flat = dot(ab.reshape([size * rows, shape(ab)[2]]), b)
        sizes = [size, rows] + ([shape(b)[1]] if b.ndim == 2 else [])
        return [(_reshaped(flat, sizes, out, 1), True)]
    if b.ndim == 1:
        return [(dot(bb, a) if a.ndim == 1 else dot(bb, a.T), True)]
    size, inner, cols = shape(bb)[0], shape(bb)[1], shape(bb)[2]
    flat = dot(a, dimshuffle(bb, (1, 0, 2)).reshape([inner, size * cols]))
    if a.ndim == 1:
        return [(_reshaped(flat, [size, cols], out, 1), True)]
    rows = shape(a)[0]
    return [(dimshuffle(flat.reshape([rows, size, cols]), (1, 0, 2)), True)]


def _batch_softmax(bt, node, ins):
    return [(replace(node.op, axis=node.op.axis + 1)(ins[0]), True)]


def _batch_ifelse(bt, node, ins):
    if ins[0] is not None:
        raise NotImplementedError("jacobian/hessian: cannot batch an ifelse whose condition depends on the seed")
    n = node.op.n_outs
    values = [_conform(bt.full(node, ins, i), node.inputs[i]) for i in range(1, 1 + 2 * n)]
    outs = IfElse(n)(bt.unbatched(node.inputs[0]), *values)
    return [(o, True) for o in (outs if n > 1 else [outs])]


def _batch_specify_shape(bt, node, ins):
    dims = _index_arguments(bt, node, ins, 1)
    return [(SpecifyShape((False,) + node.op.checked)(ins[0], *dims), True)]


def _batch_alloc(bt, node, ins):
    # the batched value, aligned to the trailing dims of the result, broadcast to (batch, *shape)
    dims = _index_arguments(bt, node, ins, 1)
    value = _after_batch(ins[0], len(dims) - node.inputs[0].ndim)
    return [(Alloc()(value, shape(ins[0])[0], *dims), True)]


BATCH_RULES: dict[type, Callable] = {
    E.Elemwise: _batch_elemwise,
    Reduce: _batch_reduce,
    DimShuffle: _batch_dimshuffle,
    Reshape: _batch_reshape,
    Shape: _batch_shape,
    Shape_i: _batch_shape_i,
    MakeVector: _batch_makevector,
    Join: _batch_join,
    Subtensor: _batch_subtensor,
    AdvancedSubtensor: _batch_subtensor,
    IncSubtensor: _batch_incsubtensor,
    Dot: _batch_dot,
    Softmax: _batch_softmax,
    IfElse: _batch_ifelse,
    SpecifyShape: _batch_specify_shape,
    Alloc: _batch_alloc,
}

