"""Matrix products: ``dot`` (numpy.dot for 1-D and 2-D operands) and ``outer``.

>>> import symgrad.tensor as T
>>> T.dot(T.dmatrix("X"), T.dvector("w")).type
TensorType(float64, vector)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Apply, Op, TensorType, Variable
from .variable import as_tensor_variable


@dataclass(frozen=True)
class Dot(Op):
    """numpy.dot of two 1-D or 2-D tensors (vector·vector, matrix·vector, vector·matrix, matrix·matrix)."""

    def make_node(self, a, b) -> Apply:
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for v in (a, b):
            if v.ndim not in (1, 2):
                raise TypeError(f"dot: operands must be 1-D or 2-D, got {v.label()} ({v.type.describe()})")
        dtype = np.result_type(np.empty((), a.dtype), np.empty((), b.dtype)).name
        bc = a.broadcastable[:-1] + b.broadcastable[:-2] + b.broadcastable[-1:] if b.ndim == 2 else a.broadcastable[:-1]
        return Apply(self, [a, b], [TensorType(dtype, bc)])

    def __str__(self):
        return "Dot"


def dot(a, b) -> Variable:
    """Matrix/vector product (numpy.dot); a 0-d operand multiplies elementwise."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return Dot()(a, b)


def outer(a, b) -> Variable:
    """Outer product of two vectors."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    for v in (a, b):
        if v.ndim != 1:
            raise TypeError(f"outer: operands must be vectors, got {v.label()} ({v.type.describe()})")
    return a.dimshuffle(0, "x") * b.dimshuffle("x", 0)
