"""Split a cost into a part summed over row blocks and a part computed once (no Dask here).

A cost is *row-separable* in some inputs (the "sharded" ones, whose rows are split into blocks)
when it is an affine function of sums over their rows: ``mean(loss(X @ W + b, y)) + l2 * (W ** 2).sum()``
is ``S / N + G`` with ``S`` a sum over rows, ``N`` the row count and ``G`` free of the data.
Then the cost over all rows is ``sum over blocks of local(block) + G``, exactly (up to the order
of the additions): ``local`` is the cost's linear part in the row sums (``S / N``, with ``N`` the
total row count, given as an input), computed on each block where it lives; ``G`` is the same
cost graph evaluated on blocks of zero rows (every row sum is then zero).

The analysis walks the graph once and gives every variable a kind:

- ``GLOBAL``: free of the sharded inputs (it may use the row count);
- ``Row(axis)``: a tensor whose ``axis`` runs over the rows, and whose row ``i`` depends only on
  row ``i`` of the sharded inputs (elementwise maths, products with global matrices, softmax
  and reductions along other axes, ``p[arange(n), y]``, ``W[y]``);
- ``SUMS``: an affine function of sums over rows (``Reduce`` sum over the row axis, a product
  contracting the rows of two row tensors, then linear maths with global values);
- ``ShapeOf(axis)``, ``COUNT``, ``INDEX``: the shape of a row tensor, its row count, ``arange`` of it.

Anything else that touches the rows (a max over rows, a sum of a non-linear function of a row
sum, a transpose fed to a product with a global matrix, ...) is refused with a ``ValueError``
naming the op: splitting the rows would change such a cost.

>>> import symgrad.tensor as T
>>> X, y, w = T.dmatrix("X"), T.dvector("y"), T.dvector("w")
>>> cost = ((T.dot(X, w) - y) ** 2).mean() + 0.1 * (w ** 2).sum()
>>> rows = T.lscalar("rows")
>>> part = split_rows(cost, [X, y], rows)
>>> from symgrad.graph import graph_inputs
>>> sorted(v.name for v in graph_inputs([part.local]) if v.name)  # one block's rows, the total count
['X', 'rows', 'w', 'y']
>>> split_rows(T.max(T.dot(X, w)), [X], rows)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: distributed: the cost is not a sum over the rows of 'X': Max{axis=(0,)} reduces over the rows ...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import sympy

from ..scalar import _Cast, arg
from ..graph import Apply, Constant, Variable, toposort, with_inputs
from ..tensor.elemwise import Elemwise
from ..tensor.indexing import AdvancedSubtensor, Subtensor, decode_spec
from ..tensor.linalg import Dot
from ..tensor.nnet import Softmax
from ..tensor.reduction import Reduce
from ..tensor.shape import ARange, DimShuffle, Shape, Shape_i

__all__ = ["RowSplit", "split_rows"]


@dataclass(frozen=True)
class Row:
    """A row-wise tensor whose dimension ``axis`` runs over the rows."""
    axis: int


@dataclass(frozen=True)
class ShapeOf:
    """The shape vector of a row-wise tensor (entry ``axis`` is the row count)."""
    axis: int


GLOBAL, SUMS, COUNT, INDEX = "global", "sums", "count", "index"


@dataclass(frozen=True)
class RowSplit:
    """``local``: the cost's part summed over row blocks (a graph of one block's rows and ``rows``,
    the total row count); ``full``: the cost with its row counts replaced by ``rows`` (except as
    the stop of an ``arange``, which indexes a block's own rows), which on blocks of zero rows
    gives the part computed once."""
    local: Variable
    full: Variable


class _Refused(ValueError):
    pass


def split_rows(cost: Variable, sharded: Sequence[Variable], rows: Variable) -> RowSplit:
    """Split ``cost`` over row blocks of ``sharded`` (see the module docstring); ``rows`` is the
    int64 scalar input that stands for the total row count."""
    names = ", ".join(v.label() for v in sharded)
    kinds: dict[int, object] = {}
    for v in sharded:
        if v.ndim == 0:
            raise TypeError(f"distributed: the sharded input {v.label()} is a scalar; only tensors with rows "
                            "(their first axis) can be split into row blocks")
        if v.broadcastable[0]:
            raise TypeError(f"distributed: the sharded input {v.label()} ({v.type.describe()}) has a broadcastable "
                            "first axis (always one row); its rows cannot be split into blocks")
        kinds[id(v)] = Row(0)
    full: dict[int, Variable] = {}
    local: dict[int, Variable] = {}
    for node in toposort([cost]):
        in_kinds = [kinds.get(id(v), GLOBAL) for v in node.inputs]
        if all(k == GLOBAL for k in in_kinds):
            out_kind = GLOBAL
        else:
            try:
                out_kind = _classify(node, in_kinds)
            except _Refused as refusal:
                raise ValueError(f"distributed: the cost is not a sum over the rows of {names}: {refusal}; "
                                 "only sums and means over rows split across blocks") from None
        new_inputs = [rows if k == COUNT and not isinstance(node.op, ARange) else full.get(id(v), v)
                      for v, k in zip(node.inputs, in_kinds)]
        new_node = with_inputs(node, new_inputs)
        for old, new in zip(node.outputs, new_node.outputs):
            kinds[id(old)] = out_kind
            if new is not old:
                full[id(old)] = new
        if out_kind == SUMS:
            local[id(node.outputs[0])] = _local_part(node, new_node, in_kinds, local)
    kind = kinds.get(id(cost), GLOBAL)
    if kind != SUMS:
        raise ValueError(f"distributed: the cost does not depend on the rows of {names}: nothing to split "
                         "over row blocks (minimize it with symgrad.scipy.minimize)")
    return RowSplit(local[id(cost)], full.get(id(cost), cost))


# --- kinds -------------------------------------------------------------------------------------
def _classify(node: Apply, kinds: list) -> object:
    op, ins = node.op, node.inputs
    if isinstance(op, Elemwise):
        return _elemwise_kind(node, kinds)
    if isinstance(op, Reduce):
        return _reduce_kind(node, kinds[0])
    if isinstance(op, Dot):
        return _dot_kind(node, kinds)
    if isinstance(op, DimShuffle) and kinds[0] == SUMS:
        return SUMS
    if isinstance(op, DimShuffle) and isinstance(kinds[0], Row):
        return Row(op.new_order.index(kinds[0].axis))  # (the row axis is never broadcastable: never dropped)
    if isinstance(op, Shape) and isinstance(kinds[0], Row):
        return ShapeOf(kinds[0].axis)
    if isinstance(op, Shape_i) and isinstance(kinds[0], Row):
        return COUNT if op.i == kinds[0].axis else GLOBAL  # a row count, or the size of another axis
    if isinstance(op, Subtensor):
        return _subtensor_kind(node, kinds)
    if isinstance(op, AdvancedSubtensor):
        return _advanced_kind(node, kinds)
    if isinstance(op, Softmax) and isinstance(kinds[0], Row) and op.axis % ins[0].ndim != kinds[0].axis:
        return kinds[0]
    if isinstance(op, ARange) and kinds == [GLOBAL, COUNT, GLOBAL] and _is(ins[0], 0) and _is(ins[2], 1):
        return INDEX
    raise _Refused(f"{op} of {_what(ins, kinds)} is not known to keep rows apart")


def _what(ins, kinds) -> str:
    touched = [v for v, k in zip(ins, kinds) if k != GLOBAL]
    return ", ".join(v.label() for v in touched)


def _is(v: Variable, value) -> bool:
    return isinstance(v, Constant) and v.data.ndim == 0 and v.data.item() == value


def _elemwise_kind(node: Apply, kinds: list) -> object:
    out = node.outputs[0]
    if INDEX in kinds or any(isinstance(k, ShapeOf) for k in kinds):
        raise _Refused(f"{node.op} computes with {_what(node.inputs, kinds)} (row positions or a shape vector)")
    rows = [(v, k) for v, k in zip(node.inputs, kinds) if isinstance(k, Row)]
    if rows and SUMS in kinds:
        raise _Refused(f"{node.op} combines rows with sums over rows ({_what(node.inputs, kinds)})")
    if rows:
        axes = {k.axis + out.ndim - v.ndim for v, k in rows}
        if len(axes) != 1:
            raise _Refused(f"{node.op} aligns the rows of {_what(node.inputs, kinds)} along different axes")
        (axis,) = axes
        for v, k in zip(node.inputs, kinds):
            at = axis - (out.ndim - v.ndim)
            if k in (GLOBAL, COUNT) and at >= 0 and not v.broadcastable[at]:
                raise _Refused(f"{node.op} aligns {v.label()}, which is not split into row blocks, with the rows "
                               f"of {_what(node.inputs, kinds)} (pass it as sharded data too)")
        return Row(axis)
    if SUMS in kinds:
        if not _affine(node.op.expr, [arg(i) for i, k in enumerate(kinds) if k == SUMS]):
            raise _Refused(f"{node.op} is not linear in the sums over rows ({_what(node.inputs, kinds)})")
        return SUMS
    return GLOBAL  # row counts with global values


def _affine(expr: sympy.Expr, sums: list) -> bool:
    """Whether ``expr`` is a polynomial of degree <= 1 in ``sums`` (its coefficients free of them).
    Derivatives cannot tell: a floor, a comparison or a cast to int has derivative 0 or 1 almost
    everywhere. Casts between float types are linear and looked through."""
    expr = expr.replace(lambda e: isinstance(e, _Cast) and e.dtype.startswith("float"), lambda e: e.args[0])
    try:
        return sympy.Poly(expr, *sums).total_degree() <= 1
    except sympy.PolynomialError:  # a sum inside a function that is not a polynomial
        return False


def _reduce_kind(node: Apply, kind) -> object:
    op, x = node.op, node.inputs[0]
    axes = tuple(range(x.ndim)) if op.axis is None else op.axis
    if kind == SUMS:
        if op.kind != "sum":
            raise _Refused(f"{op} of a sum over rows ({x.label()}) is not linear in it")
        return SUMS
    if not isinstance(kind, Row):
        raise _Refused(f"{op} of {x.label()}")
    if kind.axis in axes:
        if op.kind != "sum":
            raise _Refused(f"{op} reduces over the rows of {x.label()} (a {op.kind} over row blocks is not a sum "
                           f"of the blocks' {op.kind}ima)" if op.kind in ("max", "min") else
                           f"{op} reduces over the rows of {x.label()}")
        return SUMS
    return Row(kind.axis - sum(1 for a in axes if a < kind.axis))


def _dot_kind(node: Apply, kinds: list) -> object:
    (a, b), (ka, kb) = node.inputs, kinds
    if SUMS in kinds:
        if ka in (SUMS, GLOBAL) and kb in (SUMS, GLOBAL) and not (ka == kb == SUMS):
            return SUMS
        raise _Refused(f"Dot of {_what(node.inputs, kinds)} is not linear in the sums over rows")
    if isinstance(ka, Row) and isinstance(kb, Row):
        if ka.axis == a.ndim - 1 and kb.axis == 0:
            return SUMS  # the product contracts the rows: a sum over them
        raise _Refused(f"Dot of {a.label()} and {b.label()} pairs rows with non-rows")
    if isinstance(ka, Row) and kb == GLOBAL and a.ndim == 2 and ka.axis == 0:
        return Row(0)
    if ka == GLOBAL and isinstance(kb, Row) and b.ndim == 2 and kb.axis == 1:
        return Row(a.ndim - 1)
    raise _Refused(f"Dot of {_what(node.inputs, kinds)} sums over its rows with a tensor not split into row "
                   "blocks, or moves its rows")


def _subtensor_kind(node: Apply, kinds: list) -> object:
    x, idx = node.inputs[0], node.inputs[1:]
    kind = kinds[0]
    if any(k != GLOBAL for k in kinds[1:]):
        raise _Refused(f"{node.op} indexes with {_what(idx, kinds[1:])}")
    entries = decode_spec(node.op.spec)
    if isinstance(kind, ShapeOf):
        (entry,) = entries
        if entry.kind == "int" and isinstance(idx[entry.position], Constant):
            at = int(idx[entry.position].data) % x.owner.inputs[0].ndim  # (x is the shape vector)
            return COUNT if at == kind.axis else GLOBAL  # a row count, or the size of another axis
        raise _Refused(f"{node.op} of the shape of a row tensor other than one constant entry")
    if kind == SUMS:
        return SUMS
    if isinstance(kind, Row):
        dropped = 0
        for e in entries:
            if e.dim == kind.axis:
                if not e.is_full_slice:
                    raise _Refused(f"{node.op} selects some rows of {x.label()}")
            elif e.dim < kind.axis and e.kind == "int":
                dropped += 1
        return Row(kind.axis - dropped)
    raise _Refused(f"{node.op} of {x.label()}")


def _advanced_kind(node: Apply, kinds: list) -> object:
    x, idx = node.inputs[0], node.inputs[1:]
    entries = decode_spec(node.op.spec)
    kind, idx_kinds = kinds[0], kinds[1:]
    if isinstance(kind, Row) and kind.axis == 0 and x.ndim == 2 and [e.kind for e in entries] == ["array", "array"]:
        first, second = (idx_kinds[e.position] for e in entries)
        if first == INDEX and second == Row(0) and idx[entries[1].position].ndim == 1:
            return Row(0)  # p[arange(n), y]: one entry per row
    if kind == GLOBAL and entries[0].kind == "array" and idx_kinds[entries[0].position] == Row(0) \
            and idx[entries[0].position].ndim == 1 and all(e.is_full_slice for e in entries[1:]):
        return Row(0)  # W[y]: a global row per row of y
    raise _Refused(f"{node.op} of {x.label()} with {_what(idx, idx_kinds) or 'global indices'} does not keep one "
                   "result per row")


# --- the local part ----------------------------------------------------------------------------
def _local_part(node: Apply, new_node: Apply, kinds: list, local: dict) -> Variable:
    """The linear part in the row sums of ``node``'s output (a SUMS variable), built on the local
    parts of its SUMS inputs; a sum over rows is all local (its zero-row value is zero)."""
    op = node.op
    if not any(k == SUMS for k in kinds):
        return new_node.outputs[0]  # a sum over rows (Reduce or a contracting Dot): all of it is local
    ins = [local[id(v)] if k == SUMS else nv for v, nv, k in zip(node.inputs, new_node.inputs, kinds)]
    if isinstance(op, Elemwise):
        sums = [arg(i) for i, k in enumerate(kinds) if k == SUMS]
        linear = sympy.Add(*[s * sympy.diff(op.expr, s) for s in sums])
        return Elemwise(linear, op.nin, op.dtype)(*ins)
    return with_inputs(node, ins).outputs[0]  # Dot with a global operand, Reduce sum, DimShuffle, Subtensor: linear
