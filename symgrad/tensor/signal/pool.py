"""Pooling over the last two axes, as Theano's ``theano.tensor.signal.pool.pool_2d``.

A window of ``ws`` rows and columns moves by ``stride`` (default: ``ws``) over the input padded by
``pad`` on each side. ``ignore_border=True`` keeps only the windows that start inside the padded
input and fit in it; ``False`` (Theano's old default, no padding allowed) also keeps a last, partial
window. Modes, each over the window clipped to the input (Theano's rules):

- ``max``: the largest value (padding never wins);
- ``sum``: the sum;
- ``average_exc_pad``: the mean of the window's input values;
- ``average_inc_pad``: the sum divided by the window's size within the padded input (padding
  counts as zeros).

The gradient routes to every input position of a window that holds the window's maximum (ties
included, as Theano's ``MaxPoolGrad``), or spreads evenly (sum, averages): ``PoolGrad``.

>>> import symgrad.tensor as T
>>> pool_2d(T.tensor4("x"), ws=(2, 2), ignore_border=True).type
TensorType(float64, tensor4)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ...graph import Apply, Op, TensorType, Variable
from ..variable import as_tensor_variable

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def _pair(value, what: str, minimum: int) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                                 for v in pair):
        raise TypeError(f"pool_2d: {what} must be a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"pool_2d: {what} must be >= {minimum} in each axis, got {value!r}")
    return int(pair[0]), int(pair[1])


@dataclass(frozen=True)
class PoolParams:
    """Window, stride, padding, ``ignore_border`` and mode of a pooling (module docstring).

    >>> PoolParams((2, 2), (2, 2), (0, 0), False, "max").out_size(5, 4)
    (3, 2)
    """

    ws: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    ignore_border: bool
    mode: str

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        out = []
        for n, k, s, p in zip((h, w), self.ws, self.stride, self.pad):
            if self.ignore_border:
                out.append(max((n + 2 * p - k) // s + 1, 0))
            elif s >= k:
                out.append((n - 1) // s + 1 if n > 0 else 0)
            else:
                out.append(max(0, (n - 1 - k + s) // s) + 1 if n > 0 else 0)
        return out[0], out[1]

    def __str__(self):
        return f"ws={self.ws}, stride={self.stride}, pad={self.pad}, ignore_border={self.ignore_border}, {self.mode}"


def _input(x, who: str) -> Variable:
    x = as_tensor_variable(x)
    if x.ndim < 2:
        raise TypeError(f"{who}: the input must have at least 2 dimensions (pooling runs over the last two), got "
                        f"{x.label()} ({x.type.describe()})")
    return x


@dataclass(frozen=True)
class Pool(Op):
    """``pool_2d``: the last two axes of ``x`` pooled (module docstring)."""

    params: PoolParams

    def make_node(self, x) -> Apply:
        x = _input(x, "pool_2d")
        return Apply(self, [x], [TensorType(x.dtype, x.broadcastable[:-2] + (False, False))])

    def __str__(self):
        return f"Pool{{{self.params}}}"


@dataclass(frozen=True)
class PoolGrad(Op):
    """The gradient of ``Pool``: ``(x, pooled, output gradient)`` -> the gradient of ``x`` (the
    pooled values tell which positions hold a window's maximum)."""

    params: PoolParams

    def make_node(self, x, z, gz) -> Apply:
        x, z, gz = _input(x, "pool_2d gradient"), _input(z, "pool_2d gradient"), _input(gz, "pool_2d gradient")
        if x.dtype[0] != "f" or gz.dtype != x.dtype or z.dtype != x.dtype or not (x.ndim == z.ndim == gz.ndim):
            raise TypeError(f"pool_2d gradient: operands of one float type and rank expected, got "
                            f"{x.type.describe()}, {z.type.describe()}, {gz.type.describe()}")
        return Apply(self, [x, z, gz], [TensorType(x.dtype, x.broadcastable)])

    def __str__(self):
        return f"PoolGrad{{{self.params}}}"


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max", ds=None, st=None,
            padding=None) -> Variable:
    """Theano's ``pool_2d``: ``input``'s last two axes pooled by windows of ``ws`` (``ds``: the old
    name; ``st`` and ``padding`` are the old names of ``stride`` and ``pad``). ``ignore_border``
    None means False with a warning, as in Theano (pass it explicitly).

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> x = T.dmatrix("x")
    >>> f = sg.function([x], pool_2d(x, ws=(2, 2), ignore_border=True), mode="numpy")
    >>> f(np.arange(16.0).reshape(4, 4))
    array([[ 5.,  7.],
           [13., 15.]])
    """
    if ds is not None:
        if ws is not None:
            raise ValueError("pool_2d: give ws or its old name ds, not both")
        ws = ds
    if ws is None:
        raise ValueError("pool_2d: the window size ws is required")
    if st is not None:
        if stride is not None:
            raise ValueError("pool_2d: give stride or its old name st, not both")
        stride = st
    if padding is not None:
        if tuple(pad) != (0, 0):
            raise ValueError("pool_2d: give pad or its old name padding, not both")
        pad = padding
    ws = _pair(ws, "ws", 1)
    stride = ws if stride is None else _pair(stride, "stride", 1)
    pad = _pair(pad, "pad", 0)
    if mode not in MODES:
        raise ValueError(f"pool_2d: mode must be one of {MODES}, got {mode!r}")
    if ignore_border is None:
        warnings.warn("pool_2d: ignore_border was not given; it is False, as in Theano (pass it explicitly)",
                      UserWarning, stacklevel=2)
        ignore_border = False
    if pad != (0, 0) and not ignore_border:
        raise ValueError("pool_2d: padding works only with ignore_border=True")
    if pad[0] >= ws[0] or pad[1] >= ws[1]:
        raise ValueError(f"pool_2d: pad {pad} must be smaller than the window {ws} in each axis")
    return Pool(PoolParams(ws, stride, pad, bool(ignore_border), mode))(_input(input, "pool_2d"))
