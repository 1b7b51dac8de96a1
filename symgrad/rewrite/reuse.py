"""Read a computed elementwise result instead of computing its transcendental functions again.

Fusion inlines small expressions into every consumer, so that the stabilizer sees whole formulas
(a sigmoid inside a log). Where such an expression is also computed as its own node (it has other
consumers), each consumer evaluates it again: a tanh layer's gradient ``g * (1 - tanh(z)**2)``
called tanh once more for every element, and libm's scalar tanh costs more than the whole
multiply-add around it. After stabilization, this pass replaces, inside each fused expression, a
subexpression that is exactly the expression of another computed node over the same leaves (and
calls an exp, log, tanh, sigmoid, ... ) by a read of that node's result. Same inputs, same formula,
same dtype: the same bits.

>>> import symgrad.tensor as T
>>> from symgrad.rewrite import optimize
>>> z, g = T.dvector("z"), T.dvector("g")
>>> h = T.tanh(z)
>>> h_out, dz = optimize([h, g * (1 - h ** 2)])
>>> dz.owner.op.expr, dz.owner.inputs[1] is h_out
(x0*(1 - x1**2), True)
"""
from __future__ import annotations

import sympy

from .. import scalar as S
from ..graph import Variable, rebuild_graph, toposort
from ..tensor.elemwise import Elemwise, broadcast_pattern


def reuse_computed(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with recomputed transcendental subexpressions read from their nodes."""
    order = toposort(outputs)
    costly = [n for n in order if isinstance(n.op, Elemwise) and S.expensive(n.op.expr)]
    providers = [n for n in costly if n.outputs[0].ndim]
    costly = {id(n) for n in costly}
    if not providers:
        return list(outputs)
    memo: dict[int, Variable] = {}  # what each provider became, for the nodes that read it
    visited: set[int] = set()

    def reuse_node(node, inputs):
        visited.add(id(node))
        if id(node) not in costly:
            return None
        expr, leaves = node.op.expr, list(inputs)
        position = {id(v): j for j, v in enumerate(node.inputs)}
        for m in providers:
            if m is node or m.outputs[0].type is not node.outputs[0].type:  # (the type holds the dtype)
                continue
            if id(m) not in visited:  # not rebuilt yet: reading it would keep its old inputs alive
                continue
            spots = [position.get(id(v)) for v in m.inputs]
            if None in spots:
                continue
            pattern = m.op.expr.xreplace({S.arg(k): S.arg(j) for k, j in enumerate(spots)})
            if pattern != expr and expr.has(pattern):
                expr = expr.xreplace({pattern: S.arg(len(leaves))})
                leaves.append(memo.get(id(m.outputs[0]), m.outputs[0]))
        if expr is node.op.expr:
            return None
        expr, leaves = _drop_unread(node.op.expr, expr, leaves, node.outputs[0])
        return Elemwise(expr, len(leaves), node.op.dtype).make_node(*leaves)

    # providers first, shallowest first: a provider's ancestors then come before it, so a deeper
    # provider (c) finds the shallower ones inside it (its gates) rebuilt, and a node that reads
    # one gets it as rebuilt
    depth: dict[int, int] = {}
    for n in order:
        depth[id(n)] = 1 + max((depth.get(id(v.owner), 0) for v in n.inputs if v.owner is not None), default=0)
    ahead = [n.outputs[0] for n in sorted(providers, key=lambda n: (depth[id(n)], sympy.count_ops(n.op.expr)))]
    return rebuild_graph(ahead + list(outputs), reuse_node, memo)[len(ahead):]


def _drop_unread(before: sympy.Expr, expr: sympy.Expr, leaves: list[Variable],
                 out: Variable) -> tuple[sympy.Expr, list[Variable]]:
    """Leaves that only the replaced subexpressions read are dropped when the others still give
    the output's type (the reused result has it, and its own node checked their shapes), so the
    loop does not load them. A leaf the expression did not read before (``0 * y``: only its shape
    counts) stays: its shape check must stay."""
    gone = {j for j in range(len(leaves)) if S.arg(j) in before.free_symbols and S.arg(j) not in expr.free_symbols}
    read = [j for j in range(len(leaves)) if j not in gone]
    kept = [leaves[j] for j in read]
    if not gone or broadcast_pattern(kept) != out.broadcastable:
        return expr, leaves
    return expr.xreplace({S.arg(j): S.arg(k) for k, j in enumerate(read)}), kept
