"""The reference backend: the graph run node by node with numpy, one call per op, simple enough to
be obviously right. The implementations live with the ops (``symgrad/tensor/reference.py``); this
module only orders the nodes. Other backends are tested against this one.

>>> import numpy as np, symgrad.tensor as T
>>> x = T.dvector("x")
>>> BACKEND.compile([x], [T.exp(x)]).call([np.zeros(2)])
[array([1., 1.])]
"""
from __future__ import annotations

from typing import Mapping, Sequence

from ..graph import Variable, toposort
from ..rewrite import LOWER_IFELSE, OPTIMIZE
from ..rewrite.alias import alias_flags
from ..tensor.reference import interpret
from .kernel import Backend, Kernel, KernelInfo


class NumpyBackend(Backend):
    """Kernels that interpret the graph; no loop (``Function.loop`` calls the kernel step by step),
    no source, no plan cache (there is nothing to skip)."""

    name = "numpy"
    pipeline = OPTIMIZE.then(LOWER_IFELSE)  # the rewrites run before this backend lowers a graph

    def compile(self, inputs: Sequence[Variable], outputs: Sequence[Variable],
                updated: Mapping[int, int] | None = None) -> Kernel:
        """A kernel computing ``outputs`` from arrays for ``inputs``, node by node."""
        outputs = list(outputs)
        return Kernel(call=interpret(inputs, toposort(outputs), outputs),
                      info=KernelInfo(may_alias=tuple(alias_flags(outputs))))


BACKEND = NumpyBackend()
