"""Elementwise identities dropped: a node computing ``x0`` of one input, of the input's own type,
is that input. The gradient of a scan leaves one after fusion (a sum of one term): in the LSTM
training step a copy of the 100×16×512 gradient of the pre-activations, 6.5 MB a step.

A node whose result is an output of the graph is kept: the output then stays a value of its own,
never the memory of an input or of another output.

>>> import symgrad.tensor as T
>>> from symgrad import scalar as S
>>> from symgrad.tensor.elemwise import Elemwise
>>> x = T.dvector("x")
>>> y = T.exp(x)
>>> copy = Elemwise(S.arg(0), 1, "float64")(y)
>>> (z,) = drop_identities([copy * 2])
>>> z.owner.inputs[0] is y
True
>>> drop_identities([copy])[0] is copy  # an output
True
"""
from __future__ import annotations

import sympy

from ..graph import Variable, rebuild_graph
from ..tensor.elemwise import Elemwise


def drop_identities(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with every elementwise identity that is not an output replaced by its input."""
    kept = {id(v) for v in outputs}

    def rewrite(node, inputs):
        op = node.op
        if (isinstance(op, Elemwise) and len(inputs) == 1 and isinstance(op.expr, sympy.Symbol)
                and id(node.outputs[0]) not in kept and inputs[0].type == node.outputs[0].type):
            return [inputs[0]]
        return None

    return rebuild_graph(outputs, rewrite)
