"""Shapes without values: ``shape(elementwise(a, b))`` is ``shape(a)`` for an input ``a`` of the
same broadcastable pattern, so computing a shape never forces the elementwise values.

(This also keeps ``mean``'s element count independent of the values it averages, which lets the
row-streaming pass compute both in one loop.)

>>> import symgrad.tensor as T
>>> y = T.dvector("y")
>>> (s,) = shape_of_elemwise([T.exp(y).shape])
>>> s.owner.inputs[0] is y
True
"""
from __future__ import annotations

from ..graph import Variable, rebuild, toposort
from ..tensor.elemwise import Elemwise
from ..tensor.shape import Shape


def shape_of_elemwise(outputs: list[Variable]) -> list[Variable]:
    memo: dict[int, Variable] = {}
    for node in toposort(outputs):
        inputs = [memo.get(id(v), v) for v in node.inputs]
        if isinstance(node.op, Shape):
            src = inputs[0]
            while src.owner is not None and isinstance(src.owner.op, Elemwise):
                same = [v for v in src.owner.inputs if v.broadcastable == src.broadcastable]
                if not same:
                    break
                src = same[0]
            inputs = [src]
        rebuild(node, inputs, memo)
    return [memo.get(id(v), v) for v in outputs]
