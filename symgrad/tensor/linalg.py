"""Matrix products: ``dot`` (numpy.dot for 1-D and 2-D operands) and ``outer``.

>>> import symgrad.tensor as T
>>> T.dot(T.dmatrix("X"), T.dvector("w")).type
TensorType(float64, vector)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..graph import Apply, Op, TensorType, Variable
from .shape import reshape, shape_i
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
    """Matrix/vector product (numpy.dot); a 0-d operand multiplies elementwise. An ``a`` of more than
    two dimensions times a matrix or vector sums over ``a``'s last axis, as numpy.dot does (one
    matrix product of ``a`` seen as a matrix, so BLAS does it in one call).

    >>> import symgrad.tensor as T
    >>> dot(T.tensor3("x"), T.dmatrix("W")).type
    TensorType(float64, tensor3)
    """
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim > 2 and b.ndim in (1, 2):
        lead = [shape_i(a, i) for i in range(a.ndim - 1)]
        flat = Dot()(reshape(a, [-1, shape_i(a, a.ndim - 1)]), b)
        return reshape(flat, lead + ([shape_i(b, 1)] if b.ndim == 2 else []))
    if b.ndim > 2:
        raise TypeError(f"dot: an operand of more than 2 dimensions is supported on the left only, got "
                        f"{b.label()} ({b.type.describe()}) on the right")
    return Dot()(a, b)


def outer(a, b) -> Variable:
    """Outer product of two vectors."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    for v in (a, b):
        if v.ndim != 1:
            raise TypeError(f"outer: operands must be vectors, got {v.label()} ({v.type.describe()})")
    return a.dimshuffle(0, "x") * b.dimshuffle("x", 0)
