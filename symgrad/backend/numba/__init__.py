"""The numba backend: the whole optimized graph printed as one Python module (``codegen.py``),
jitted with numba from a file in the kernel cache (``cache.py``), so a second process loads
machine code instead of compiling, and skips the rewrites too (its plan, ``plan.py``).

``BACKEND.compile(inputs, outputs, updated)`` returns a :class:`~symgrad.backend.kernel.Kernel`
whose ``loop(n, values)`` runs n steps inside compiled code and whose ``source`` is the generated
module text; ``call.py`` is how Python calls it.

>>> import numpy as np, symgrad.tensor as T
>>> x = T.dvector("x")
>>> BACKEND.compile([x], [T.exp(x)]).call([np.zeros(2)])
[array([1., 1.])]
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ...graph import Variable
from ...rewrite import LOWER_IFELSE, OPTIMIZE, ROW_STREAMS
from ..kernel import Backend, Kernel
from . import cache
from .call import build_kernel
from .plan import KernelPlan, plan_kernel


class NumbaBackend(Backend):
    """One generated, jitted module per graph; plans kept in the kernel cache."""

    name = "numba"
    # the rewrites run before this backend lowers a graph: the shared ones, then one pass over the
    # rows for each matrix-vector product pair a compiled kernel can stream (rewrite/rowstream.py)
    pipeline = OPTIMIZE.then(ROW_STREAMS, LOWER_IFELSE)

    def compile(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
                updated: Mapping[int, int] | None = None) -> Kernel:
        updated = dict(updated or {})
        return build_kernel(plan_kernel(inputs, outputs, updated), inputs, outputs, updated)

    def lookup_plan(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
                    updated: Mapping[int, int]) -> Kernel | None:
        updated = dict(updated)
        plan = cache.lookup_plan(inputs, outputs, updated)
        return None if plan is None else build_kernel(plan, inputs, outputs, updated)

    def store_plan(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
                   updated: Mapping[int, int], kernel: Kernel) -> None:
        if isinstance(kernel.plan, KernelPlan):
            cache.store_plan(inputs, outputs, dict(updated), kernel.plan)


BACKEND = NumbaBackend()
