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

# Theano's module path (``theano.ifelse``); the op lives with the other ops in tensor/ifelse.py
from .tensor.ifelse import IfElse, ifelse

__all__ = ["IfElse", "ifelse"]
