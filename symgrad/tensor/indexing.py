"""Indexing: basic slicing with symbolic bounds (``Subtensor``), integer-array indexing
(``AdvancedSubtensor``), and their scatter counterparts used by gradients and
``inc_subtensor``/``set_subtensor``.

An index is described by a ``spec``: one entry per indexed dimension, either ``"i"`` (an integer
scalar, which drops the dimension), ``"a"`` (an integer array), or ``("s", has_start, has_stop,
has_step)`` (a slice). Every index value is an input variable, so symbolic bounds such as
``X[i * b:(i + 1) * b]`` are ordinary graph inputs.

>>> import symgrad.tensor as T
>>> X, i = T.dmatrix("X"), T.lscalar("i")
>>> X[i * 10:(i + 1) * 10].ndim, X[0].ndim, X[T.arange(3), T.lvector("y")].ndim
(2, 1, 1)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from ..graph import Apply, Op, TensorType, Variable
from .elemwise import broadcast_pattern
from .variable import as_tensor_variable

FULL = ("s", False, False, False)


@dataclass(frozen=True)
class IndexEntry:
    """One entry of an index spec, decoded: the dimension of ``x`` it indexes, its ``kind``
    (``"int"``: drops the dimension, ``"array"`` or ``"slice"``), and the positions among the
    op's index inputs of what it reads: ``(k,)`` for an int or an array, ``(start, stop, step)``
    for a slice, each a position or None where the bound is absent.
    """

    dim: int
    kind: str
    inputs: tuple

    @property
    def position(self) -> int:
        """The index input of an int or array entry."""
        return self.inputs[0]

    @property
    def is_full_slice(self) -> bool:
        """``:`` (a slice with no bounds)."""
        return self.kind == "slice" and self.inputs == (None, None, None)


@lru_cache(maxsize=1024)
def decode_spec(spec: tuple) -> tuple[IndexEntry, ...]:
    """The entries of an index spec, each with the index inputs it reads: the one walk of a spec
    that type inference, evaluation, code generation and printing share.

    >>> [(e.kind, e.inputs) for e in decode_spec(("i", ("s", True, False, True), "a"))]  # x[i, j::k, v]
    [('int', (0,)), ('slice', (1, None, 2)), ('array', (3,))]
    """
    entries, k = [], 0
    for d, entry in enumerate(spec):
        if entry in ("i", "a"):
            entries.append(IndexEntry(d, "int" if entry == "i" else "array", (k,)))
            k += 1
            continue
        bounds = []
        for present in entry[1:]:
            bounds.append(k if present else None)
            k += present
        entries.append(IndexEntry(d, "slice", tuple(bounds)))
    return tuple(entries)


def spec_text(spec: tuple) -> str:
    """Theano-style index pattern: ``int64`` for a scalar, ``array`` for an index array, ``a:b:c`` slices."""
    parts = []
    for e in decode_spec(spec):
        if e.kind == "slice":
            parts.append(":".join("" if b is None else "int64" for b in e.inputs).rstrip(":") or ":")
        else:
            parts.append("int64" if e.kind == "int" else "array")
    return ", ".join(parts)


def advanced_dims(spec: tuple) -> tuple[list[int], bool]:
    """For an index with integer arrays: the dims of ``x`` it indexes by arrays or ints (numpy
    counts an int as an advanced index then), and whether they are adjacent. numpy puts the
    broadcast index dims in their place when they are, and first otherwise.

    >>> advanced_dims(("a", "i")), advanced_dims((FULL, "a", FULL, "i"))
    (([0, 1], True), ([1, 3], False))
    """
    dims = [e.dim for e in decode_spec(spec) if e.kind != "slice"]
    return dims, dims == list(range(dims[0], dims[-1] + 1))


def indexed_broadcastable(x: Variable, spec: tuple, idx_inputs: Sequence[Variable]) -> tuple:
    """Broadcastable pattern of ``x[...]`` following numpy's rules for advanced indices.

    >>> import symgrad.tensor as T
    >>> indexed_broadcastable(T.dtensor3(), ("a", FULL, "a"), [T.lvector(), T.lvector()])
    (False, False)
    """
    entries = decode_spec(spec)
    arrays, bc_before, bc_after = [], [], []
    for e in entries:
        if e.kind == "array":
            arrays.append(idx_inputs[e.position])
        elif e.kind == "slice":  # a slice keeps its dim, broadcastable only when it is ``:``
            (bc_after if arrays else bc_before).append(x.broadcastable[e.dim] and e.is_full_slice)
    rest = list(x.broadcastable[len(spec):])
    if not arrays:
        return tuple(bc_before + bc_after + rest)
    adv_bc = list(broadcast_pattern(arrays))
    if advanced_dims(spec)[1]:
        return tuple(bc_before + adv_bc + bc_after + rest)
    return tuple(adv_bc + bc_before + bc_after + rest)


def _check_index_inputs(spec: tuple, idx_inputs: Sequence[Variable]) -> None:
    for e in decode_spec(spec):
        for k in e.inputs:
            if k is None:
                continue
            v = idx_inputs[k]
            if v.dtype[0] not in "iu" or (e.kind != "array" and v.ndim != 0):
                raise TypeError(f"index {v.label()} must be an integer {'array' if e.kind == 'array' else 'scalar'}, "
                                f"got {v.type.describe()}")


@dataclass(frozen=True)
class Subtensor(Op):
    """``x[spec]`` with integer and slice entries only (numpy basic indexing: a view)."""

    spec: tuple

    def make_node(self, x, *idx) -> Apply:
        x = as_tensor_variable(x)
        idx = [as_tensor_variable(v) for v in idx]
        _check_index_inputs(self.spec, idx)
        return Apply(self, [x, *idx], [TensorType(x.dtype, indexed_broadcastable(x, self.spec, idx))])

    def __str__(self):
        return f"Subtensor{{{spec_text(self.spec)}}}"


@dataclass(frozen=True)
class AdvancedSubtensor(Op):
    """``x[spec]`` where at least one entry is an integer array (numpy advanced indexing: a copy)."""

    spec: tuple

    def make_node(self, x, *idx) -> Apply:
        x = as_tensor_variable(x)
        idx = [as_tensor_variable(v) for v in idx]
        _check_index_inputs(self.spec, idx)
        return Apply(self, [x, *idx], [TensorType(x.dtype, indexed_broadcastable(x, self.spec, idx))])

    def __str__(self):
        return f"AdvancedSubtensor{{{spec_text(self.spec)}}}"


@dataclass(frozen=True)
class IncSubtensor(Op):
    """A copy of ``x`` with ``y`` added to (or, with ``set_instead_of_inc``, written into) ``x[spec]``.

    For advanced indices the add is ``numpy.add.at``: repeated indices accumulate (scatter-add).
    """

    spec: tuple
    advanced: bool
    set_instead_of_inc: bool = False

    def make_node(self, x, y, *idx) -> Apply:
        x, y = as_tensor_variable(x), as_tensor_variable(y)
        idx = [as_tensor_variable(v) for v in idx]
        _check_index_inputs(self.spec, idx)
        target_ndim = len(indexed_broadcastable(x, self.spec, idx))
        if y.ndim > target_ndim:
            raise ValueError(f"inc/set_subtensor: value {y.label()} ({y.type.describe()}) has more dimensions "
                             f"than the indexed region ({target_ndim})")
        if not np.can_cast(y.dtype, x.dtype, "same_kind"):
            raise TypeError(f"inc/set_subtensor: cannot write {y.dtype} values into {x.label()} ({x.dtype})")
        return Apply(self, [x, y, *idx], [x.type])

    def __str__(self):
        kind = "Set" if self.set_instead_of_inc else "Inc"
        return f"{'Advanced' if self.advanced else ''}{kind}Subtensor{{{spec_text(self.spec)}}}"


def _parse_index(x: Variable, index) -> tuple[tuple, list, bool]:
    """Turn a Python index into (spec, index input variables, is_advanced)."""
    if not isinstance(index, tuple):
        index = (index,)
    index = _expand_ellipsis(x, index)
    if any(e is None for e in index):
        raise NotImplementedError("indexing with None/newaxis together with integer arrays is not supported: "
                                  "use x.dimshuffle(..., 'x', ...) instead")
    if len(index) > x.ndim:
        raise IndexError(f"too many indices for {x.label()} ({x.type.describe()}): {len(index)} given")
    spec, inputs, advanced = [], [], False
    for entry in index:
        if isinstance(entry, slice):
            parts = [entry.start, entry.stop, entry.step]
            if isinstance(entry.step, (int, np.integer)) and entry.step == 0:
                raise ValueError(f"slice step cannot be zero (indexing {x.label()})")
            spec.append(("s",) + tuple(p is not None for p in parts))
            inputs.extend(as_tensor_variable(p) for p in parts if p is not None)
            continue
        if isinstance(entry, (bool, np.bool_)):
            raise NotImplementedError("boolean indexing is not supported; use T.switch or integer indices")
        v = as_tensor_variable(entry)
        if v.dtype == "bool":
            raise NotImplementedError(f"boolean mask indexing of {x.label()} is not supported; "
                                      "use T.switch, or integer indices from numpy.nonzero")
        if v.dtype[0] not in "iu":
            raise TypeError(f"index into {x.label()} must be an integer, got {v.type.describe()}")
        if v.ndim == 0:
            spec.append("i")
        else:
            spec.append("a")
            advanced = True
        inputs.append(v)
    # Trailing full slices change nothing; one is kept when the index has nothing else, so that
    # x[:] is still an indexed tensor (Theano: set_subtensor(x[:], y) writes all of x).
    while len(spec) > 1 and spec[-1] == FULL:
        spec.pop()
    return tuple(spec), inputs, advanced


def _expand_ellipsis(x: Variable, index: tuple) -> tuple:
    if any(e is Ellipsis for e in index):
        pos = index.index(Ellipsis)
        fill = x.ndim - (len(index) - 1 - sum(e is None for e in index))
        index = index[:pos] + (slice(None),) * fill + index[pos + 1:]
    return index


def _with_new_axes(x: Variable, index: tuple) -> Variable:
    """``x[index]`` where ``index`` has ``None`` entries (numpy's newaxis): the index without them,
    then a broadcastable axis inserted where each was."""
    from .shape import dimshuffle  # (shape.py builds on this module)

    plain = tuple(e for e in index if e is not None)
    full = slice(None)
    # full slices alone select everything: x[:, None] is x with a new axis, no indexing node (one
    # graph for m[:, None] and the same m used elsewhere, so they merge)
    y = getitem(x, plain) if any(not (isinstance(e, slice) and e == full) for e in plain) else x
    pattern: list = []
    kept = 0
    for e in index:
        if e is None:
            pattern.append("x")
        elif isinstance(e, slice):
            pattern.append(kept)
            kept += 1
    pattern.extend(range(kept, y.ndim))
    return dimshuffle(y, tuple(pattern))


def getitem(x, index) -> Variable:
    """``x[index]``: ints, slices (bounds may be symbolic), integer arrays, ``None`` (numpy semantics).

    >>> import symgrad.tensor as T
    >>> T.dvector("m")[:, None].broadcastable
    (False, True)
    """
    x = as_tensor_variable(x)
    items = index if isinstance(index, tuple) else (index,)
    if any(e is None for e in items):
        items = _expand_ellipsis(x, items)
        if all(e is None or isinstance(e, slice) or (not isinstance(e, (list, np.ndarray)) and
                                                     as_tensor_variable(e).ndim == 0) for e in items):
            return _with_new_axes(x, items)
    spec, inputs, advanced = _parse_index(x, index)
    if not spec:
        return x
    if advanced:
        return AdvancedSubtensor(spec)(x, *inputs)
    return Subtensor(spec)(x, *inputs)


def _inc_or_set(x, index, y, set_: bool) -> Variable:
    x = as_tensor_variable(x)
    spec, inputs, advanced = _parse_index(x, index)
    return IncSubtensor(spec, advanced, set_)(x, y, *inputs)


def inc_subtensor(x_indexed: Variable, y) -> Variable:
    """A copy of the tensor indexed by ``x_indexed`` with ``y`` added at those indices.

    >>> import symgrad.tensor as T
    >>> v = T.dvector("v")
    >>> inc_subtensor(v[1:3], 5.0).type
    TensorType(float64, vector)
    """
    node = x_indexed.owner
    if node is None or not isinstance(node.op, (Subtensor, AdvancedSubtensor)):
        raise TypeError("inc_subtensor/set_subtensor expect an indexed tensor such as x[1:3] or x[idx]")
    return IncSubtensor(node.op.spec, isinstance(node.op, AdvancedSubtensor), False)(node.inputs[0], y, *node.inputs[1:])


def set_subtensor(x_indexed: Variable, y) -> Variable:
    """A copy of the tensor indexed by ``x_indexed`` with ``y`` written at those indices."""
    node = x_indexed.owner
    if node is None or not isinstance(node.op, (Subtensor, AdvancedSubtensor)):
        raise TypeError("inc_subtensor/set_subtensor expect an indexed tensor such as x[1:3] or x[idx]")
    return IncSubtensor(node.op.spec, isinstance(node.op, AdvancedSubtensor), True)(node.inputs[0], y, *node.inputs[1:])
