"""``ifelse``: Theano's lazy conditional on a scalar condition.

``ifelse(cond, then_branch, else_branch)`` is ``then_branch`` when ``cond`` is non-zero, else
``else_branch`` (each may be a list of variables, paired one to one). Unlike ``T.switch``, which
is elementwise and computes both sides, the condition is one scalar and only one side is needed.

What is lazy: when a function is compiled, :func:`lower_ifelse` moves into each ``IfElse`` node
the nodes that only that branch uses (nothing else in the graph, no output, no update reads
them). Those nodes run only when their branch is taken: the numba kernel prints them inside an
``if``/``else``, the numpy backend evaluates them inside the chosen branch. A node the other branch,
the condition or any other output also uses is computed before the ``if``, as usual.

Gradients flow through the taken branch; the branch not taken gets zeros of its own shape
(which needs that branch's value, so in a gradient graph both branch values are computed).

>>> import symgrad as sg, symgrad.tensor as T
>>> a, b = T.dscalars("a", "b")
>>> f = sg.function([a, b], ifelse(T.lt(a, b), a * 2, b * 3), mode="numpy")
>>> float(f(1.0, 2.0)), float(f(3.0, 2.0))
(2.0, 6.0)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .graph import Apply, Constant, Op, Variable, clients, clone_replace, toposort
from .tensor.variable import TensorConstant, as_tensor_variable

__all__ = ["IfElse", "ifelse", "lower_ifelse"]


class Branches:
    """The inner programs of a lowered (lazy) ``IfElse``: each branch's own nodes in order and
    the variables it returns. Compared by identity: two lowered nodes are never merged."""

    __slots__ = ("then_nodes", "else_nodes", "then_outputs", "else_outputs")

    def __init__(self, then_nodes: Sequence[Apply], else_nodes: Sequence[Apply],
                 then_outputs: Sequence[Variable], else_outputs: Sequence[Variable]):
        self.then_nodes = tuple(then_nodes)
        self.else_nodes = tuple(else_nodes)
        self.then_outputs = tuple(then_outputs)
        self.else_outputs = tuple(else_outputs)

    def __repr__(self) -> str:
        return f"Branches(then={len(self.then_nodes)} nodes, else={len(self.else_nodes)} nodes)"


@dataclass(frozen=True)
class IfElse(Op):
    """``n_outs`` outputs: the ``then`` values if the scalar condition is non-zero, else the ``else`` ones.

    Inputs: ``(cond, then_0..then_{n-1}, else_0..else_{n-1})``. After :func:`lower_ifelse`,
    ``lazy`` holds the branches' own nodes and the inputs are ``(cond, values the branches read)``.
    """

    n_outs: int
    lazy: Branches | None = None

    def make_node(self, cond, *values) -> Apply:
        cond = as_tensor_variable(cond)
        if cond.ndim != 0:
            raise TypeError(f"ifelse: the condition must be a scalar, got {cond.label()} ({cond.type.describe()}); "
                            "for an elementwise choice use T.switch")
        values = [as_tensor_variable(v) for v in values]
        if self.lazy is not None:
            return Apply(self, [cond, *values], [v.type for v in self.lazy.then_outputs])
        n = self.n_outs
        if len(values) != 2 * n:
            raise TypeError(f"IfElse: expected a condition and {2 * n} branch values, got {len(values)} values")
        for k, (t, e) in enumerate(zip(values[:n], values[n:])):
            _check_types(t, e, k if n > 1 else None)
        return Apply(self, [cond, *values], [v.type for v in values[:n]])

    def __str__(self) -> str:
        return "IfElse{lazy}" if self.lazy is not None else "IfElse"


def _check_types(t: Variable, e: Variable, k: int | None) -> None:
    if t.type is not e.type:
        where = f" (output {k})" if k is not None else ""
        raise TypeError(f"ifelse: the two branches must have the same type{where}: then branch {t.label()} is a "
                        f"{t.type.describe()}, else branch {e.label()} is a {e.type.describe()} "
                        "(use T.cast or dimshuffle to make them agree)")


def _as_branch(value, like):
    """A symbolic branch value; a plain number or array takes the other branch's type when it can."""
    if isinstance(value, Variable) or not isinstance(like, Variable):
        return as_tensor_variable(value)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf" or arr.ndim != like.ndim:
        return as_tensor_variable(value)
    converted = arr.astype(like.dtype)
    fits = np.array_equal(converted, arr) and all(n == 1 for n, b in zip(arr.shape, like.broadcastable) if b)
    if not fits:
        return as_tensor_variable(value)
    return TensorConstant(like.type, converted)


def ifelse(condition, then_branch, else_branch, name: str | None = None) -> Variable | list[Variable]:
    """``then_branch`` if the scalar ``condition`` is non-zero, else ``else_branch`` (lazily).

    Either branch may be a list (both the same length); the result is then a list. The two
    values of each pair must have the same type (dtype and broadcastable pattern): a
    ``TypeError`` names both otherwise. Plain numbers are converted to the other branch's type.

    >>> import symgrad as sg, symgrad.tensor as T
    >>> x, y = T.dvectors("x", "y")
    >>> small, big = ifelse(T.lt(x.sum(), 0), [x, y], [y, x])
    >>> small.type
    TensorType(float64, vector)
    """
    single = not isinstance(then_branch, (list, tuple))
    thens = [then_branch] if single else list(then_branch)
    elses = list(else_branch) if isinstance(else_branch, (list, tuple)) else [else_branch]
    if len(thens) != len(elses):
        raise ValueError(f"ifelse: the then branch has {len(thens)} value(s) but the else branch has {len(elses)}")
    if not thens:
        raise ValueError("ifelse: the branches are empty")
    thens, elses = ([_as_branch(t, e) for t, e in zip(thens, elses)],
                    [_as_branch(e, t) for t, e in zip(thens, elses)])
    cond = as_tensor_variable(condition)
    if cond.ndim != 0:
        raise TypeError(f"ifelse: the condition must be a scalar, got {cond.label()} ({cond.type.describe()}); "
                        "for an elementwise choice use T.switch")
    for k, (t, e) in enumerate(zip(thens, elses)):
        _check_types(t, e, k if len(thens) > 1 else None)
    outs = IfElse(len(thens)).make_node(cond, *thens, *elses).outputs
    if name is not None:
        for k, o in enumerate(outs):
            o.name = name if single else f"{name}[{k}]"
    return outs[0] if single else list(outs)


# --- lowering: each branch's own nodes move inside the IfElse ---------------------------------
def lower_ifelse(outputs: Sequence[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with every ``IfElse`` in lazy form (see the module docstring).

    Nodes are lowered innermost first, so an ``IfElse`` used only by one branch of another ends
    up inside it (a nested ``if``).

    >>> import symgrad.tensor as T
    >>> c, x = T.lscalar("c"), T.dvector("x")
    >>> (out,) = lower_ifelse([ifelse(c, T.exp(x), x)])
    >>> out.owner.op.lazy
    Branches(then=1 nodes, else=0 nodes)
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
