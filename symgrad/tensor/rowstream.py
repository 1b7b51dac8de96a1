"""``RowStream``: one pass over the rows of ``X`` computing ``X.T @ r(X @ w, rows...)``, the row-wise
results and their sums over rows. Graphs never contain it as written by a user: the rewrite
``symgrad.rewrite.rowstream.fuse_row_streams`` builds it for compiled backends (see that module for
why). Its reference implementation is in ``tensor/reference.py``.

>>> import sympy
>>> from symgrad.scalar import arg
>>> op = RowStream(1, 0, arg(0) - arg(1), "float64", (), ((arg(0) ** 2, "float64"),))
>>> [o.type.describe() for o in op.make_node(*[None] * 3).outputs]
['float64 vector', 'float64 scalar']
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..graph import Apply, Op, TensorType


@dataclass(frozen=True)
class RowStream(Op):
    """Inputs ``X, w, *rows, *scalars``; symbols: x0 = z_i, then row values, then scalars.

    Outputs: ``X.T @ grad_expr`` (length = columns of X), one vector per ``row_exprs`` entry
    (length = rows of X), one scalar per ``sum_exprs`` entry (the sum over rows).
    """

    n_rows: int
    n_scalars: int
    grad_expr: sympy.Expr
    grad_dtype: str
    row_exprs: tuple  # ((expr, dtype), ...)
    sum_exprs: tuple  # ((expr, dtype), ...)

    def make_node(self, X, w, *rest) -> Apply:
        types = [TensorType(self.grad_dtype, (False,))]
        types += [TensorType(dt, (False,)) for _, dt in self.row_exprs]
        types += [TensorType(dt, ()) for _, dt in self.sum_exprs]
        return Apply(self, [X, w, *rest], types)

    def __str__(self):
        return (f"RowStream{{grad={self.grad_expr}, rows={[e for e, _ in self.row_exprs]}, "
                f"sums={[e for e, _ in self.sum_exprs]}}}")
