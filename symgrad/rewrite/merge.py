"""Merge: one node per (op, inputs) and one constant per value, so repeated subgraphs are computed once.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> a, b = merge([T.exp(x), T.exp(x)])
>>> a is b
True
"""
from __future__ import annotations

from ..graph import Constant, Variable, toposort


def merge(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with structurally identical nodes and equal constants shared."""
    memo: dict[int, Variable] = {}
    constants: dict = {}
    nodes: dict = {}

    def canonical(v: Variable) -> Variable:
        v = memo.get(id(v), v)
        if isinstance(v, Constant) and v.name is None:
            v = constants.setdefault(v.signature(), v)
        return v

    for node in toposort(outputs):
        inputs = [canonical(v) for v in node.inputs]
        key = (node.op, tuple(id(v) for v in inputs))
        existing = nodes.get(key)
        if existing is None:
            if any(a is not b for a, b in zip(inputs, node.inputs)):
                existing = node.op.make_node(*inputs)
            else:
                existing = node
            nodes[key] = existing
        for old, new in zip(node.outputs, existing.outputs):
            if old is not new:
                if old.name and not new.name:
                    new.name = old.name
                memo[id(old)] = new
    return [canonical(v) for v in outputs]
