"""Reductions: sum, prod, max, min, argmax, argmin (one op, ``Reduce``), and mean/var/std on top.

``keepdims`` is a DimShuffle after the reduction, so only one op needs gradient and code rules.

>>> import symgrad.tensor as T
>>> T.dmatrix("X").sum(axis=0).broadcastable
(False,)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import scalar as S
from ..graph import Apply, Op, TensorType, Variable
from .elemwise import Elemwise, cast, mul, sqrt
from .shape import dimshuffle, shape_i
from .variable import as_tensor_variable, constant

_NUMPY = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "argmax": np.argmax, "argmin": np.argmin}


@dataclass(frozen=True)
class Reduce(Op):
    """Reduce over ``axis`` (a sorted tuple; for argmax/argmin a single axis, or None = flattened)."""

    kind: str
    axis: tuple | None

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if self.kind in ("argmax", "argmin"):
            dtype = "int64"
        elif self.kind in ("sum", "prod"):
            dtype = _NUMPY[self.kind](np.empty((0,), x.dtype)).dtype.name
        else:
            dtype = x.dtype
        axes = range(x.ndim) if self.axis is None else self.axis
        bc = tuple(b for i, b in enumerate(x.broadcastable) if i not in axes)
        return Apply(self, [x], [TensorType(dtype, bc)])

    def __str__(self):
        return f"{self.kind.capitalize()}{{axis={self.axis}}}" if self.axis is not None else self.kind.capitalize()


def normalize_axis(x: Variable, axis, who: str) -> tuple:
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative ints, or a clear ValueError."""
    if axis is None:
        return tuple(range(x.ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -x.ndim <= a < x.ndim:
            raise ValueError(f"{who} of {x.label()} ({x.type.describe()}): axis {a!r} is out of bounds")
        out.append(int(a) % x.ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{who} of {x.label()}: repeated axis in {axis!r}")
    return tuple(sorted(out))


def keep_reduced_dims(y: Variable, x: Variable, axes) -> Variable:
    """``y``, a reduction of ``x`` over ``axes``, with those axes put back as broadcastable dims
    (numpy's ``keepdims``; also how a reduction's gradient is broadcast back over ``x``).

    >>> import symgrad.tensor as T
    >>> X = T.dtensor3("X")
    >>> keep_reduced_dims(X.sum(axis=(0, 2)), X, (0, 2)).broadcastable
    (True, False, True)
    """
    kept = iter(range(y.ndim))
    return dimshuffle(y, ["x" if i in axes else next(kept) for i in range(x.ndim)])


def _keep(x: Variable, out: Variable, axes, keepdims: bool) -> Variable:
    return keep_reduced_dims(out, x, axes) if keepdims else out


def _reduce(kind: str, x, axis, keepdims: bool) -> Variable:
    x = as_tensor_variable(x)
    axes = normalize_axis(x, axis, kind)
    if kind in ("max", "min") and x.dtype == "bool":
        return cast(_reduce(kind, cast(x, "int8"), axis, keepdims), "bool")
    if not axes and kind not in ("argmax", "argmin"):
        if kind in ("sum", "prod"):  # nothing to reduce, but numpy still widens small ints and bools
            return cast(x, _NUMPY[kind](np.empty((0,), x.dtype)).dtype.name)
        return x
    return _keep(x, Reduce(kind, axes)(x), axes, keepdims)


def sum(x, axis=None, keepdims: bool = False, dtype: str | None = None) -> Variable:
    """Sum over ``axis`` (numpy's accumulator dtype: small ints and bools sum as int64)."""
    out = _reduce("sum", x, axis, keepdims)
    if dtype is not None:
        out = cast(out, dtype)
    return out


def prod(x, axis=None, keepdims: bool = False) -> Variable:
    """Product over ``axis``."""
    return _reduce("prod", x, axis, keepdims)


def max(x, axis=None, keepdims: bool = False) -> Variable:
    """Maximum over ``axis`` (NaN propagates)."""
    return _reduce("max", x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False) -> Variable:
    """Minimum over ``axis``."""
    return _reduce("min", x, axis, keepdims)


def _arg(kind: str, x, axis, keepdims: bool) -> Variable:
    x = as_tensor_variable(x)
    if axis is None:
        return _keep(x, Reduce(kind, None)(x), range(x.ndim), keepdims)
    if not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{kind} of {x.label()}: axis must be an int or None, got {axis!r}")
    axes = normalize_axis(x, axis, kind)
    return _keep(x, Reduce(kind, axes)(x), axes, keepdims)


def argmax(x, axis=None, keepdims: bool = False) -> Variable:
    """Index of the maximum (int64); ``axis=None`` indexes the flattened array."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims: bool = False) -> Variable:
    """Index of the minimum (int64); ``axis=None`` indexes the flattened array."""
    return _arg("argmin", x, axis, keepdims)


def count(x: Variable, axes: tuple) -> Variable:
    """Number of elements over ``axes`` as an int64 scalar."""
    n = 1
    for a in axes:
        n = mul(n, shape_i(x, a)) if not isinstance(n, int) or n != 1 else shape_i(x, a)
    return n


def mean(x, axis=None, keepdims: bool = False) -> Variable:
    """Arithmetic mean; ints and bools give float64 (as numpy)."""
    x = as_tensor_variable(x)
    axes = normalize_axis(x, axis, "mean")
    dtype = "float64" if x.dtype[0] in "biu" else x.dtype
    total = _reduce("sum", x, axes, keepdims)
    n = count(x, axes) if axes else constant(1)
    if isinstance(n, int):
        n = constant(n)
    return Elemwise(S.arg(0) / S.arg(1), 2, dtype)(total, n)


def var(x, axis=None, keepdims: bool = False) -> Variable:
    """Population variance (numpy.var with ddof=0)."""
    x = as_tensor_variable(x)
    centered = x - mean(x, axis, keepdims=True)
    return mean(centered * centered, axis, keepdims)


def std(x, axis=None, keepdims: bool = False) -> Variable:
    """Population standard deviation (numpy.std with ddof=0)."""
    return sqrt(var(x, axis, keepdims))
