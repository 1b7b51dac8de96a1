"""Which results of a graph may share memory with its inputs or with each other.

Views (transposes, basic slices, reshapes, an ``Elemwise`` that is its own input, ``specify_shape``)
are free in both backends, so a result may be the very buffer of an input. ``function`` uses this
to copy only the outputs that could alias something; the numba backend uses it to decide which
updates may be written into the shared variable's own buffer.

>>> import symgrad.tensor as T
>>> x = T.dmatrix("x")
>>> alias_root(x.T[1:]) is x, alias_flags([x.T, x * 2])
(True, [True, False])
"""
from __future__ import annotations

import numpy as np

from ..graph import Variable
from ..tensor.ifelse import IfElse
from ..tensor.views import alias_root

__all__ = ["alias_root", "alias_flags", "overlap", "returns_branch_values"]


def returns_branch_values(v: Variable) -> bool:
    """An ``IfElse`` result: one of its branch values as is, so it may be any input or result."""
    return v.owner is not None and isinstance(v.owner.op, IfElse)


def overlap(a, b) -> bool:
    """Whether two arrays may share memory at run time; two arrays that own their memory never do
    (checked without numpy's bounds arithmetic, the common case of a call)."""
    if a.base is None and b.base is None:
        return a is b
    return np.may_share_memory(a, b)


def alias_flags(results: list[Variable]) -> list[bool]:
    """Which results could share memory with an argument, a shared value or another result:
    decided once at compile time, so a call pays for the runtime check only where it is possible."""
    roots = [alias_root(v) for v in results]
    if any(returns_branch_values(r) for r in roots):
        return [True] * len(roots)
    counts: dict = {}
    for r in roots:
        counts[id(r)] = counts.get(id(r), 0) + 1
    return [r.owner is None or counts[id(r)] > 1 for r in roots]
