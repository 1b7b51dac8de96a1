"""Which results are views: a transpose, a basic slice, a reshape, an ``Elemwise`` that is its own
input, ``specify_shape`` and ``Assert`` return (part of) their first input's memory in both
backends. ``rewrite/alias.py`` builds the aliasing analysis of whole graphs on this; the scan
gradient uses it to save the value a view reads rather than the view.

>>> import symgrad.tensor as T
>>> x = T.dmatrix("x")
>>> alias_root(x.T[1:]) is x, alias_root(x * 2) is x
(True, False)
"""
from __future__ import annotations

from ..graph import Variable
from .elemwise import Elemwise
from .indexing import Subtensor
from .shape import Assert, DimShuffle, Reshape, SpecifyShape

VIEW_OPS = (DimShuffle, Subtensor, Reshape, Elemwise, SpecifyShape, Assert)


def alias_root(v: Variable) -> Variable:
    """The variable whose memory ``v`` may be a view of (through transposes, slices, reshapes)."""
    while v.owner is not None and isinstance(v.owner.op, VIEW_OPS):
        op = v.owner.op
        if isinstance(op, Elemwise) and not (op.expr.is_Symbol and op.nin == 1):
            break  # an elementwise result is a new array unless its expression is the input itself
        v = v.owner.inputs[0]
    return v
