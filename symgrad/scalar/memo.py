"""A question about sympy expressions answered bottom-up and remembered per subexpression across
calls: :class:`SubexpressionMemo`.

Fusion asks about expressions that grow by substituting ones it asked about before (their depth,
whether numpy keeps them in one float dtype), so a walk that stops at known subtrees does only the
new part of each expression; walking each whole expression again made the fusion of a deep chain
quadratic (docs/PERFORMANCE.md, "Large graphs").

>>> import sympy
>>> x = sympy.Symbol("x")
>>> depth = SubexpressionMemo(lambda e: EXPAND if e.args else 0, lambda e, answers: 1 + max(answers))
>>> depth(sympy.tanh(2 * x + 1)), depth(x)
(3, 0)
"""
from __future__ import annotations

from typing import Any, Callable

import sympy

EXPAND = object()  # a leaf answer meaning "answer from the arguments' answers"


class SubexpressionMemo:
    """``memo(expr)``: ``leaf(e)``, the answer for a subexpression without looking at its arguments,
    or ``EXPAND``: then ``combine(e, the answers for e.args)``. Every answer is kept. An iterative
    post-order walk (sympy shares subtrees: each is visited once). When more than ``limit`` answers
    are kept, a call starts a new dict: a walk in another thread keeps the one it reads."""

    def __init__(self, leaf: Callable[[sympy.Basic], Any], combine: Callable[[sympy.Basic, list], Any],
                 limit: int = 1 << 16) -> None:
        self.leaf, self.combine, self.limit = leaf, combine, limit
        self.answers: dict = {}

    def clear(self) -> None:
        self.answers = {}

    def __call__(self, expr: sympy.Basic) -> Any:
        if len(self.answers) > self.limit:
            self.answers = {}
        memo = self.answers
        stack = [(expr, False)]
        while stack:
            e, children_done = stack.pop()
            if e in memo:
                continue
            if children_done:
                memo[e] = self.combine(e, [memo[a] for a in e.args])
                continue
            answer = self.leaf(e)
            if answer is not EXPAND:
                memo[e] = answer
            else:
                stack.append((e, True))
                stack.extend((a, False) for a in e.args if a not in memo)
        return memo[expr]
