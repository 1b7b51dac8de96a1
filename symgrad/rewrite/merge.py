"""Merge: one node per (op, inputs) and one constant per value, so repeated subgraphs are computed once.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> a, b = merge([T.exp(x), T.exp(x)])
>>> a is b
True
"""
from __future__ import annotations

from ..graph import Constant, Variable, rebuild_graph, with_inputs


def merge(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with structurally identical nodes and equal constants shared."""
    constants: dict = {}
    nodes: dict = {}

    def canonical(v: Variable) -> Variable:
        if isinstance(v, Constant) and v.name is None:
            v = constants.setdefault(v.signature(), v)
        return v

    def merge_node(node, inputs):
        inputs = [canonical(v) for v in inputs]
        key = (node.op, tuple(id(v) for v in inputs))
        if key not in nodes:
            nodes[key] = with_inputs(node, inputs)
        return nodes[key]

    return [canonical(v) for v in rebuild_graph(outputs, merge_node)]
