"""Theano's ``theano.compile.ops`` shape ops, under that path for scripts that import them from
there (``from theano.compile.ops import Shape_i``): ``Shape``, ``shape``, ``Shape_i``, ``shape_i``,
``SpecifyShape`` and ``specify_shape``, all defined in ``symgrad.tensor.shape``.

>>> import numpy as np, symgrad.tensor as T
>>> x = T.dmatrix("x")
>>> int(shape_i(x, 1).eval({x: np.zeros((2, 5))}))
5
"""
from __future__ import annotations

from ..graph import Variable
from ..tensor.shape import Shape, Shape_i, SpecifyShape, shape, specify_shape
from ..tensor.shape import shape_i as _shape_i

__all__ = ["Shape", "Shape_i", "SpecifyShape", "shape", "shape_i", "specify_shape"]


def shape_i(var, i: int, fgraph=None) -> Variable:
    """``var.shape[i]``, as Theano's ``theano.compile.ops.shape_i``; ``fgraph`` (Theano's shape
    feature of a function graph) is accepted and not needed: the optimizer makes ``Shape_i`` of it."""
    return _shape_i(var, i)
