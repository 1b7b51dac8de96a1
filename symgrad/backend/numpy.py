"""The reference backend: the graph run node by node with numpy, one call per op, simple enough to
be obviously right. The implementations live with the ops (``symgrad/tensor/reference.py``); this
module only orders the nodes. Other backends are tested against this one.

>>> import numpy as np, symgrad.tensor as T
>>> x = T.dvector("x")
>>> compile_graph([x], [T.exp(x)])([np.zeros(2)])
[array([1., 1.])]
"""
from __future__ import annotations

from typing import Callable, Sequence

from ..graph import Variable, toposort
from ..rewrite import LOWER_IFELSE, OPTIMIZE
from ..tensor.reference import interpret

PIPELINE = OPTIMIZE.then(LOWER_IFELSE)  # the rewrites run before this backend lowers a graph


def compile_graph(inputs: Sequence[Variable], outputs: Sequence[Variable],
                  updated: dict | None = None) -> Callable:
    """A kernel computing ``outputs`` from arrays for ``inputs``, node by node.

    ``updated`` (input slot -> output index, used by compiled backends' loops) is not needed here:
    ``Function.loop`` drives this kernel step by step.
    """
    run = interpret(inputs, toposort(outputs), outputs)

    def kernel(values):
        return run(values)

    kernel.loop = None
    kernel.source = None
    return kernel
