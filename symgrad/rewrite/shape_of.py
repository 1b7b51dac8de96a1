"""Shapes without values: the shape of a result is read from the input whose shape it always has
(``Op.shape_source``): ``shape(elementwise(a, b))`` is ``shape(a)`` for an input ``a`` of the same
broadcastable pattern, ``shape(softmax(z))`` is ``shape(z)``, so computing a shape never forces the
values.

(This also keeps ``mean``'s element count independent of the values it averages, which lets the
row-streaming pass compute both in one loop.)

>>> import symgrad.tensor as T
>>> y = T.dvector("y")
>>> (s,) = shape_of_elemwise([T.exp(y).shape])
>>> s.owner.inputs[0] is y
True
"""
from __future__ import annotations

from ..graph import Variable, rebuild_graph, with_inputs
from ..tensor.shape import Shape


def shape_of_elemwise(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with each shape of an elementwise result taken from one of its inputs."""
    return rebuild_graph(outputs, _shape_source)


def _shape_source(node, inputs):
    if not isinstance(node.op, Shape):
        return None
    src = inputs[0]
    while src.owner is not None:  # (each op says which input's shape it keeps: Op.shape_source)
        nxt = src.owner.op.shape_source(src.owner)
        if nxt is None:
            break
        src = nxt
    return with_inputs(node, [src])
