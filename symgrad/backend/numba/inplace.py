"""Which updates the numba kernel may write straight into the shared variable's buffer.

An update such as ``w - lr * g`` normally fills a new array that replaces ``w`` after the call.
Writing it into ``w``'s own buffer saves the allocation (and, for large weights, the page faults
of a fresh mapping) but is only correct when all of these hold:

- the update is one elementwise loop (float32/float64, ndim >= 1), or an increment of ``w`` itself
  (``inc_subtensor(w[idx], v)``, a sparse update: rewrite/sparse.py), whose result is used by
  nothing else: no other node, output or update reads it, so it can run last;
- its expression cannot raise (no ``helpers.power``): once the first buffer is written nothing may
  fail, or a failing call would leave half its updates applied. An increment can raise (an index
  out of bounds, a value of the wrong shape), so at most one is written in place: it runs after
  every check of the elementwise ones and before their loops, and checks everything before it
  writes;
- the loop reads the old value only as ``w`` itself, element by element at the index it writes
  (never a view of ``w`` such as ``w.T`` or ``w[::-1]``);
- no other update written in place reads ``w``, and no result of the function is a view of ``w``
  (both would see the new value instead of the old);
- no result is an ``IfElse``, and no in-place loop reads one (it may return ``w`` or a view of
  ``w`` as is).

Every other reader of ``w`` runs before the in-place loops (they are scheduled last), and the
kernel still checks at run time that the result has ``w``'s shape (else it allocates). The backend
wrapper hands the kernel a copy instead of the buffer when the buffer is read-only or overlaps
another argument.

>>> import symgrad as sg, symgrad.tensor as T
>>> w = sg.shared(np.zeros(3), name="w")
>>> x = T.dvector("x")
>>> plan_inplace([x, w], [x.sum(), w - x], {1: 1})
{1: 1}
>>> plan_inplace([x, w], [w.T, w - x], {1: 1})  # the output w.T would see the new value
{}
"""
from __future__ import annotations

from typing import Sequence

import numpy as np  # noqa: F401  (doctest namespace)
import sympy

from ...rewrite.alias import alias_root, returns_branch_values
from ...graph import Variable, toposort
from ...tensor.elemwise import Elemwise
from ...tensor.indexing import IncSubtensor


def _can_raise(expr: sympy.Expr) -> bool:
    """A power with a variable exponent may print as ``helpers.power``, which raises for ints."""
    return any(isinstance(e, sympy.Pow) and not e.exp.is_Number for e in sympy.preorder_traversal(expr))


def _may_view(v: Variable, buf: Variable) -> bool:
    """``v`` may be ``buf``'s memory: a view of it, or an ``IfElse`` result (a branch value as is)."""
    root = alias_root(v)
    return root is buf or returns_branch_values(root)


def plan_inplace(inputs: Sequence[Variable], outputs: Sequence[Variable], updated: dict[int, int]) -> dict[int, int]:
    """{output index: input slot} for the updates that can be written into their input's buffer."""
    results = list(outputs)
    if not updated or any(returns_branch_values(alias_root(v)) for v in results):
        return {}
    consumed = {id(v) for node in toposort(results) for v in node.inputs}
    counts: dict = {}
    for v in results:
        counts[id(v)] = counts.get(id(v), 0) + 1
    candidates, increment = {}, False
    for slot, k in updated.items():
        out, buf = results[k], inputs[slot]
        node = out.owner
        if (node is None or out.ndim == 0 or out.dtype not in ("float32", "float64") or out.type is not buf.type
                or counts[id(out)] > 1 or id(out) in consumed):
            continue
        if isinstance(node.op, IncSubtensor):
            if increment or node.inputs[0] is not buf:
                continue
            if any(_may_view(v, buf) for v in node.inputs[1:]):
                continue  # the value or an index read through w: it would change under the increment
            increment = True
        elif not isinstance(node.op, Elemwise) or _can_raise(node.op.expr):
            continue
        elif any(_may_view(v, buf) and v is not buf for v in node.inputs):
            continue  # reads the old value through a view: another element than the one it writes
        candidates[k] = slot
    accepted = {}
    for k, slot in candidates.items():
        buf = inputs[slot]
        read_late = any(_may_view(v, buf) for j in candidates if j != k for v in results[j].owner.inputs)
        returned_view = any(alias_root(v) is buf for j, v in enumerate(results) if j != k)
        if not (read_late or returned_view):
            accepted[k] = slot
    return accepted
