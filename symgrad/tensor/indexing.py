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

import numpy as np

from ..graph import Apply, Op, TensorType, Variable
from .variable import as_tensor_variable

FULL = ("s", False, False, False)


def spec_text(spec: tuple) -> str:
    """Theano-style index pattern: ``int64`` for a scalar, ``array`` for an index array, ``a:b:c`` slices."""
    parts = []
    for entry in spec:
        if entry == "i":
            parts.append("int64")
        elif entry == "a":
            parts.append("array")
        else:
            parts.append(":".join("int64" if present else "" for present in entry[1:]).rstrip(":") or ":")
    return ", ".join(parts)


def _index_output_bc(x: Variable, spec: tuple, idx_inputs: list) -> tuple:
    """Broadcastable pattern of ``x[...]`` following numpy's rules for advanced indices."""
    bc_before, bc_after, adv_positions, adv_inputs = [], [], [], []
    k = 0
    for d, entry in enumerate(spec):
        if entry == "i":
            k += 1
            continue
        if entry == "a":
            adv_positions.append(d)
            adv_inputs.append(idx_inputs[k])
            k += 1
            continue
        k += sum(entry[1:])
        target = bc_after if adv_positions else bc_before
        target.append(x.broadcastable[d] and entry == FULL)
    rest = list(x.broadcastable[len(spec):])
    if not adv_positions:
        return tuple(bc_before + bc_after + rest)
    from .elemwise import broadcast_pattern

    adv_bc = list(broadcast_pattern(adv_inputs))
    adjacent = adv_positions == list(range(adv_positions[0], adv_positions[-1] + 1)) and all(
        spec[d] in ("a", "i") for d in range(adv_positions[0], adv_positions[-1] + 1))
    if adjacent:
        return tuple(bc_before + adv_bc + bc_after + rest)
    return tuple(adv_bc + bc_before + bc_after + rest)


def _check_index_inputs(spec, idx_inputs):
    k = 0
    for entry in spec:
        n = 1 if entry in ("i", "a") else sum(entry[1:])
        for v in idx_inputs[k:k + n]:
            if v.dtype[0] not in "iu" or (entry != "a" and v.ndim != 0):
                raise TypeError(f"index {v.label()} must be an integer {'array' if entry == 'a' else 'scalar'}, "
                                f"got {v.type.describe()}")
        k += n


@dataclass(frozen=True)
class Subtensor(Op):
    """``x[spec]`` with integer and slice entries only (numpy basic indexing: a view)."""

    spec: tuple

    def make_node(self, x, *idx) -> Apply:
        x = as_tensor_variable(x)
        idx = [as_tensor_variable(v) for v in idx]
        _check_index_inputs(self.spec, idx)
        return Apply(self, [x, *idx], [TensorType(x.dtype, _index_output_bc(x, self.spec, idx))])

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
        return Apply(self, [x, *idx], [TensorType(x.dtype, _index_output_bc(x, self.spec, idx))])

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
        target_ndim = len(_index_output_bc(x, self.spec, idx))
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
    if any(e is Ellipsis for e in index):
        pos = index.index(Ellipsis)
        fill = x.ndim - (len(index) - 1)
        index = index[:pos] + (slice(None),) * fill + index[pos + 1:]
    if any(e is None for e in index):
        raise NotImplementedError("indexing with None/newaxis: use x.dimshuffle(..., 'x', ...) instead")
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


def getitem(x, index) -> Variable:
    """``x[index]``: ints, slices (bounds may be symbolic), integer arrays (numpy semantics)."""
    x = as_tensor_variable(x)
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
