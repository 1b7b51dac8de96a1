"""Graph rewrites run before any backend lowers the graph: merge, indexing lifted before
one-input elementwise work, constant folding, elementwise fusion, stabilization of fused
formulas, and reuse of computed transcendental results. Each pass returns new outputs; graphs are
never edited in place.

>>> import symgrad.tensor as T
>>> z = T.dvector("z")
>>> (out,) = optimize([T.log(1 / (1 + T.exp(-z)))])
>>> out.owner.op.expr
-softplus(-x0)
"""
from __future__ import annotations

from ..graph import Variable
from .constant_folding import fold_constants
from .fusion import fuse
from .lift import lift_subtensors
from .merge import merge
from .reuse import reuse_computed
from .shape_of import shape_of_elemwise
from .stabilize import stabilize_graph


def optimize(outputs: list[Variable]) -> list[Variable]:
    """The standard pipeline, shared by every backend."""
    outputs = merge(list(outputs))
    outputs = lift_subtensors(outputs)
    outputs = shape_of_elemwise(outputs)
    outputs = fold_constants(outputs)
    outputs = merge(outputs)
    outputs = fuse(outputs)
    outputs = stabilize_graph(outputs)
    outputs = reuse_computed(outputs)
    return merge(outputs)
