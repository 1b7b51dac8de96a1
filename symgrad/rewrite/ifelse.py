"""Lowering ``IfElse`` to its lazy form: each branch's own nodes move inside the node, so they run
only when their branch is taken (see ``symgrad.tensor.ifelse``). Runs last in the rewrite pipeline:
every other rewrite sees plain graphs.

>>> import symgrad.tensor as T
>>> from symgrad.ifelse import ifelse
>>> c, x = T.lscalar("c"), T.dvector("x")
>>> (out,) = lower_ifelse([ifelse(c, T.exp(x), x)])
>>> out.owner.op.lazy
Branches(then=1 nodes, else=0 nodes)
"""
from __future__ import annotations

from typing import Sequence

from ..graph import Apply, Constant, Variable, clients, clone_replace, toposort
from ..tensor.ifelse import Branches, IfElse


def lower_ifelse(outputs: Sequence[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with every ``IfElse`` in lazy form (see the module docstring).

    Nodes are lowered innermost first, so an ``IfElse`` used only by one branch of another ends
    up inside it (a nested ``if``).
    """
    outputs = list(outputs)
    if not any(isinstance(n.op, IfElse) for n in toposort(outputs)):
        return outputs
    while True:
        order = toposort(outputs)
        position = next((i for i, n in enumerate(order) if isinstance(n.op, IfElse) and n.op.lazy is None), None)
        if position is None:
            return outputs
        node = order[position]
        lazy = _make_lazy(node, order[:position], clients(outputs), {id(v) for v in outputs})
        outputs = clone_replace(outputs, dict(zip(node.outputs, lazy.outputs)))


def _exclusive(node: Apply, positions: set, earlier: Sequence[Apply], uses: dict, out_ids: set) -> set:
    """ids of the nodes whose every result is read only by ``node`` at ``positions`` or by other
    such nodes (walked consumers first, so each node's readers are decided before it)."""
    members: set = set()
    for m in reversed(earlier):
        inside = False
        for o in m.outputs:
            if id(o) in out_ids:
                break
            readers = uses.get(id(o), [])
            if not all((c is node and pos in positions) or id(c) in members for c, pos in readers):
                break
            inside = inside or bool(readers)
        else:
            if inside:
                members.add(id(m))
    return members


def _make_lazy(node: Apply, earlier: Sequence[Apply], uses: dict, out_ids: set) -> Apply:
    n = node.op.n_outs
    cond = node.inputs[0]
    thens, elses = node.inputs[1:1 + n], node.inputs[1 + n:]
    then_ids = _exclusive(node, set(range(1, 1 + n)), earlier, uses, out_ids)
    else_ids = _exclusive(node, set(range(1 + n, 1 + 2 * n)), earlier, uses, out_ids)
    then_nodes = [m for m in earlier if id(m) in then_ids]
    else_nodes = [m for m in earlier if id(m) in else_ids]
    inner = {id(o) for m in then_nodes + else_nodes for o in m.outputs}
    boundary: dict[int, Variable] = {}
    for v in [v for m in then_nodes + else_nodes for v in m.inputs] + list(thens) + list(elses):
        if id(v) not in inner and not isinstance(v, Constant):
            boundary.setdefault(id(v), v)
    op = IfElse(n, Branches(then_nodes, else_nodes, thens, elses))
    return op.make_node(cond, *boundary.values())
