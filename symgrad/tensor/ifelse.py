"""``ifelse``: Theano's lazy conditional on a scalar condition.

``ifelse(cond, then_branch, else_branch)`` is ``then_branch`` when ``cond`` is non-zero, else
``else_branch`` (each may be a list of variables, paired one to one). Unlike ``T.switch``, which
is elementwise and computes both sides, the condition is one scalar and only one side is needed.

What is lazy: when a function is compiled, ``symgrad.rewrite.ifelse.lower_ifelse`` moves into each ``IfElse`` node
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

from ..graph import Apply, Op, Variable
from .variable import TensorConstant, as_tensor_variable

__all__ = ["Branches", "IfElse", "ifelse"]


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

    Inputs: ``(cond, then_0..then_{n-1}, else_0..else_{n-1})``. After ``lower_ifelse`` (rewrite/ifelse.py),
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
