"""Sparse updates: ``w + k * inc_subtensor(zeros_like(w)[idx], v)`` becomes
``inc_subtensor(w[idx], k * v)``.

The gradient of a lookup ``w[idx]`` (an embedding, ``lstm.py``'s ``Wemb[x]``) is a matrix of zeros
with the looked-up rows' gradients added in; an SGD update ``w - lr * g`` then reads and writes
every row of ``w`` (10 000 x 128 for ``lstm.py``) to change the few hundred that were looked up.
When the elementwise step is ``w`` plus a multiple of the gradient, where the multiple depends
only on scalars, the rows that were not looked up keep their value, and the others get ``k``
times each contribution added: the update becomes the increment alone. On the numba backend an
update that is an increment of ``w`` itself is then written into ``w``'s buffer (inplace.py).

Rounding: a row looked up twice gets ``w + k*v1 + k*v2`` instead of ``w + k*(v1 + v2)``, both
correctly rounded steps of the same sum; with a non-finite ``k`` only the looked-up rows become
nan/inf (the dense form made every row ``w + k*0``). Both backends compute the rewritten form.

>>> import numpy as np, symgrad as sg, symgrad.tensor as T
>>> w = sg.shared(np.zeros((10, 3)), name="w")
>>> x = T.lvector("x")
>>> g = sg.grad((w[x] ** 2).sum(), w)
>>> from symgrad.rewrite import optimize  # (after fusion: the step is one elementwise node)
>>> (new,) = optimize([w - 0.1 * g])
>>> type(new.owner.op).__name__, new.owner.inputs[0] is w
('IncSubtensor', True)
"""
from __future__ import annotations

import sympy

from .. import scalar as S
from ..graph import Variable, rebuild_graph
from ..tensor.elemwise import Elemwise
from ..tensor.indexing import IncSubtensor


def sparse_updates(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with dense steps by an increment of zeros turned into the increment."""
    return rebuild_graph(outputs, _sparse)


def _zeros_like(z: Variable, w: Variable) -> bool:
    """``z`` is an elementwise 0 of ``w`` alone: same shape as ``w`` by construction."""
    node = z.owner
    return (node is not None and isinstance(node.op, Elemwise) and node.op.expr == 0 and len(node.inputs) == 1
            and node.inputs[0] is w and z.broadcastable == w.broadcastable)


def _sparse(node, inputs):
    op = node.op
    if not isinstance(op, Elemwise):
        return None
    out = node.outputs[0]
    for gi, g in enumerate(inputs):
        inc = g.owner
        if inc is None or not isinstance(inc.op, IncSubtensor) or inc.op.set_instead_of_inc:
            continue
        z, v, *idx = inc.inputs
        for wi, w in enumerate(inputs):
            if wi == gi or not _zeros_like(z, w) or w.broadcastable != out.broadcastable or w.dtype != out.dtype:
                continue
            if any(u.ndim for j, u in enumerate(inputs) if j not in (wi, gi)):
                continue  # every other input a scalar: k is the same for every element, no shape check is lost
            xw, xg = S.arg(wi), S.arg(gi)
            rest = sympy.expand(op.expr - xw)
            k = sympy.expand(rest.diff(xg))
            if k == 0 or k.has(xw) or k.has(xg) or sympy.expand(rest - k * xg) != 0:
                continue  # not w + k * g
            others = sorted(k.free_symbols, key=lambda s: s.name)
            others_in = [inputs[int(s.name[1:])] for s in others]
            scaled = Elemwise(k.subs({s: S.arg(j + 1) for j, s in enumerate(others)}, simultaneous=True) * S.arg(0),
                              1 + len(others), out.dtype)(v, *others_in)
            return IncSubtensor(inc.op.spec, inc.op.advanced)(w, scaled, *idx).owner
    return None
