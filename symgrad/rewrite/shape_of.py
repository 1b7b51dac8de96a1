"""Shapes without values: the shape of a result is read from the input whose shape it always has
(``Op.shape_source``): ``shape(elementwise(a, b))`` is ``shape(a)`` for an input ``a`` of the same
broadcastable pattern, ``shape(softmax(z))`` is ``shape(z)``, so computing a shape never forces the
values.

(This also keeps ``mean``'s element count independent of the values it averages, which lets the
row-streaming pass compute both in one loop.)

Then ``x.shape[k]`` for a constant ``k`` becomes ``Shape_i(k)(x)`` (Theano's
``local_shape_to_shape_i``): one length, where the shape vector and an index into it cost a
compiled backend an array, a bounds check and a read.

>>> import symgrad.tensor as T
>>> y = T.dvector("y")
>>> (s,) = shape_of_elemwise([T.exp(y).shape])
>>> s.owner.inputs[0] is y
True
>>> (n,) = shape_i_of_shape(shape_of_elemwise([T.exp(y).shape[-1]]))
>>> str(n.owner.op), n.owner.inputs[0] is y
('Shape_i{0}', True)
"""
from __future__ import annotations

from ..graph import Constant, Variable, rebuild_graph, with_inputs
from ..tensor.indexing import Subtensor
from ..tensor.shape import Shape, Shape_i


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


def shape_i_of_shape(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with each ``x.shape[k]`` of a constant ``k`` read as ``Shape_i(k)(x)``."""
    return rebuild_graph(outputs, _shape_i)


def _shape_i(node, inputs):
    if not (isinstance(node.op, Subtensor) and node.op.spec == ("i",) and isinstance(inputs[1], Constant)):
        return None
    vector = inputs[0].owner
    if vector is None or not isinstance(vector.op, Shape):
        return None
    x, k = vector.inputs[0], int(inputs[1].data)
    if not -x.ndim <= k < x.ndim:  # (left as it is: it raises numpy's IndexError when run)
        return None
    return Shape_i(k % x.ndim).make_node(x)
