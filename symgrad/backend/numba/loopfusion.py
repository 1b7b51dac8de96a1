"""Which consecutive elementwise nodes of a kernel share one loop nest: :func:`loop_groups`.

Elementwise fusion (rewrite/fusion.py) merges a tree of elementwise nodes into one expression,
but it stops where an expression grows too deep or a value has several readers (a tanh chain of
200 nodes is 20 fused nodes; a forward value the gradient reads again is its own node). Each such
node was its own loop, and numba compiles each loop for about 20-50 ms, reading and writing an
array between them. Here, consecutive nodes of the kernel's order become one loop nest when each
later node reads a result of an earlier one and all results have the same rank and the same
broadcastable axes: the reader's shape check then ties its loop sizes to the earlier node's, so
one set of sizes serves the nest. A result read only by later nodes of its nest is *virtual*: a
scalar of the loop, no array (emitters.elemwise_group prints the nest).

Results read inside their nest are float32 or float64 (the loop keeps them in a scalar cast to
that dtype: the same bits as storing and loading them). Constant fills, 0-d results, updates
written in place and results written into a caller's buffer keep their own loops.

>>> import symgrad.tensor as T
>>> from symgrad.graph import toposort
>>> x = T.dvector("x")
>>> y = T.exp(x)
>>> z = T.tanh(y) + y
>>> order = toposort([z])  # (unfused: exp, tanh, add)
>>> [(len(g.nodes), len(g.virtual)) for g in loop_groups(order, [z], set()).values()]
[(3, 2)]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ...graph import Apply, Variable
from ...tensor.elemwise import Elemwise

# float results only: a value kept in a loop scalar is cast to its dtype (numba rounds an integer
# or bool store differently from a cast)
_SCALAR_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class LoopGroup:
    """Consecutive elementwise nodes printed as one loop nest, and the ids of their results that
    get no array (only later nodes of the group read them)."""

    nodes: tuple[Apply, ...]
    virtual: frozenset[int]


def read_counts(order: Sequence[Apply]) -> dict[int, int]:
    """How many times each value is an input of a node of ``order`` ({id: count})."""
    reads: dict[int, int] = {}
    for node in order:
        for v in node.inputs:
            reads[id(v)] = reads.get(id(v), 0) + 1
    return reads


def _alone(node: Apply, excluded: set[int]) -> bool:
    """Whether ``node`` keeps its own loop: not elementwise, 0-d, a constant fill, or in ``excluded``
    (ids of nodes and results the kernel writes elsewhere: in place, into a caller's buffer)."""
    if type(node.op) is not Elemwise or id(node) in excluded or id(node.outputs[0]) in excluded:
        return True
    return node.outputs[0].ndim == 0 or node.op.expr.is_Number


def loop_groups(order: Sequence[Apply], outputs: Sequence[Variable], excluded: set[int]) -> dict[int, LoopGroup]:
    """The loop nests of two or more nodes, by the id of their first node (``order``: the kernel's
    node order; ``outputs``: its results, which always get an array)."""
    groups: list[list[Apply]] = []
    current: list[Apply] = []
    for node in order:
        if _alone(node, excluded):
            current = []
            continue
        if current and _joins(node, current):
            current.append(node)
            continue
        current = [node]
        groups.append(current)
    reads = read_counts(order)
    returned = {id(v) for v in outputs}
    found = {}
    for nodes in groups:
        if len(nodes) < 2:
            continue
        inside: dict[int, int] = {}
        for node in nodes:
            for v in node.inputs:
                inside[id(v)] = inside.get(id(v), 0) + 1
        virtual = frozenset(id(n.outputs[0]) for n in nodes[:-1]
                            if id(n.outputs[0]) not in returned
                            and inside.get(id(n.outputs[0])) == reads.get(id(n.outputs[0])))
        found[id(nodes[0])] = LoopGroup(tuple(nodes), virtual)
    return found


def _joins(node: Apply, group: Sequence[Apply]) -> bool:
    """Whether ``node`` runs in the loop nest of ``group``: it reads a result of the group, every
    result of the group it reads is a float, and its result has the group's broadcastable axes."""
    out = node.outputs[0]
    if out.broadcastable != group[0].outputs[0].broadcastable:
        return False
    made = {id(n.outputs[0]): n.outputs[0] for n in group}
    read = [made[id(v)] for v in node.inputs if id(v) in made]
    return bool(read) and all(v.dtype in _SCALAR_DTYPES for v in read)

