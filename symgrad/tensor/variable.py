"""Tensor variables: numpy-like operators on symbolic arrays, constants, ``as_tensor_variable``.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> (x * 2 + 1).dtype
'float64'
"""
from __future__ import annotations

import weakref

import numpy as np

from ..graph import Constant, TensorType, Variable


class _TensorOperators:
    """Operators and methods shared by tensor variables, constants and shared variables."""

    __slots__ = ()
    # numpy defers to our reflected operators: np_array * x is symbolic, not an object array.
    __array_ufunc__ = None

    # arithmetic -------------------------------------------------------------------------
    def __add__(self, other): return _T().add(self, other)
    def __radd__(self, other): return _T().add(other, self)
    def __sub__(self, other): return _T().sub(self, other)
    def __rsub__(self, other): return _T().sub(other, self)
    def __mul__(self, other): return _T().mul(self, other)
    def __rmul__(self, other): return _T().mul(other, self)
    def __truediv__(self, other): return _T().true_div(self, other)
    def __rtruediv__(self, other): return _T().true_div(other, self)
    def __floordiv__(self, other): return _T().floor_div(self, other)
    def __rfloordiv__(self, other): return _T().floor_div(other, self)
    def __mod__(self, other): return _T().mod(self, other)
    def __rmod__(self, other): return _T().mod(other, self)
    def __pow__(self, other): return _T().pow(self, other)
    def __rpow__(self, other): return _T().pow(other, self)
    def __neg__(self): return _T().neg(self)
    def __pos__(self): return self
    def __abs__(self): return _T().abs(self)
    # comparisons (``==`` stays identity, as in Theano: use T.eq) ---------------------------
    # the operators' results (not T.lt(...)'s, as in Theano) have no truth value: see __bool__
    def __lt__(self, other): return _comparison(_T().lt(self, other))
    def __le__(self, other): return _comparison(_T().le(self, other))
    def __gt__(self, other): return _comparison(_T().gt(self, other))
    def __ge__(self, other): return _comparison(_T().ge(self, other))
    # logic -------------------------------------------------------------------------------
    def __and__(self, other): return _T().and_(self, other)
    def __rand__(self, other): return _T().and_(other, self)
    def __or__(self, other): return _T().or_(self, other)
    def __ror__(self, other): return _T().or_(other, self)
    def __xor__(self, other): return _T().xor(self, other)
    def __rxor__(self, other): return _T().xor(other, self)
    def __invert__(self): return _T().invert(self)
    # linear algebra, indexing, shape -----------------------------------------------------
    def __matmul__(self, other): return _T().dot(self, other)
    def __rmatmul__(self, other): return _T().dot(other, self)
    def __getitem__(self, index): return _T().getitem(self, index)

    def __bool__(self):
        """Theano's rule: every variable is true (``if not W:`` tests whether an optional argument
        was given), except the result of ``<``, ``<=``, ``>``, ``>=``, so that ``a < b < c`` (which
        Python runs as ``(a < b) and (b < c)``) and ``if x > 0:`` fail instead of silently
        dropping a comparison. ``==`` compares variables by identity, as in Theano.

        >>> import symgrad.tensor as T
        >>> x = T.dscalar("x")
        >>> bool(x), bool(T.lt(x, 1.0))
        (True, True)
        >>> bool(x < 1.0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: the result of a comparison (x < y, x >= y, ...) has no truth value: ...
        """
        if self in _COMPARISONS:
            raise TypeError(
                "the result of a comparison (x < y, x >= y, ...) has no truth value: it is symbolic, "
                "known only when the function runs, so `a < b < c` or `if x < y:` cannot be decided "
                "while the graph is built; write T.and_(a < b, b < c) or T.switch(x < y, ...) for "
                "elementwise logic, or compile and evaluate it first")
        return True

    def __iter__(self):
        raise TypeError("a symbolic variable cannot be iterated; index it (x[i]) instead")

    def __len__(self):
        raise TypeError("a symbolic variable has no len(); use x.shape[0]")

    @property
    def T(self): return _T().transpose(self)
    @property
    def shape(self): return _T().shape(self)
    @property
    def size(self): return _T().prod(_T().shape(self))

    def transpose(self, *axes): return _T().transpose(self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None))
    def dimshuffle(self, *pattern): return _T().dimshuffle(self, pattern[0] if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)) else pattern)
    def reshape(self, shape, ndim=None): return _T().reshape(self, shape, ndim=ndim)
    def flatten(self, ndim=1): return _T().flatten(self, ndim)
    def astype(self, dtype): return _T().cast(self, dtype)
    def clip(self, a_min, a_max): return _T().clip(self, a_min, a_max)
    def dot(self, other): return _T().dot(self, other)
    def sum(self, axis=None, keepdims=False, dtype=None): return _T().sum(self, axis=axis, keepdims=keepdims, dtype=dtype)
    def mean(self, axis=None, keepdims=False): return _T().mean(self, axis=axis, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return _T().max(self, axis=axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return _T().min(self, axis=axis, keepdims=keepdims)
    def prod(self, axis=None, keepdims=False): return _T().prod(self, axis=axis, keepdims=keepdims)
    def argmax(self, axis=None, keepdims=False): return _T().argmax(self, axis=axis, keepdims=keepdims)
    def argmin(self, axis=None, keepdims=False): return _T().argmin(self, axis=axis, keepdims=keepdims)
    def std(self, axis=None, keepdims=False): return _T().std(self, axis=axis, keepdims=keepdims)
    def var(self, axis=None, keepdims=False): return _T().var(self, axis=axis, keepdims=keepdims)
    def exp(self): return _T().exp(self)
    def log(self): return _T().log(self)

    def eval(self, inputs_to_values: dict | None = None, mode: str | None = None):
        """Compile (cached per variable and input set) and evaluate this variable.

        >>> import symgrad.tensor as T
        >>> x = T.dscalar("x")
        >>> float((x * 2).eval({x: 3.0}))
        6.0
        """
        from ..compile.function import eval_variable

        return eval_variable(self, inputs_to_values or {}, mode)


# Results of the comparison operators, by identity (weak: the set never keeps a graph alive).
_COMPARISONS: "weakref.WeakSet[Variable]" = weakref.WeakSet()


def _comparison(result):
    _COMPARISONS.add(result)
    return result


def _T():
    # deliberate: a variable's operators build ops (tensor/elemwise.py, ...), which import this
    # module for TensorVariable; the ops are looked up when an operator is first used
    from .. import tensor

    return tensor


class TensorVariable(_TensorOperators, Variable):
    """A symbolic array. Create one with ``T.vector('x')``, ``T.dmatrix('X')``, ..."""

    __slots__ = ()


class TensorConstant(_TensorOperators, Constant):
    """A constant array embedded in the graph."""

    __slots__ = ()


def constant(value, name: str | None = None, dtype: str | None = None) -> TensorConstant:
    """Wrap a Python or numpy value as a graph constant (numpy's dtype unless ``dtype`` is given).

    >>> constant([1.0, 2.0]).type
    TensorType(float64, vector)
    """
    arr = np.asarray(value, dtype=dtype)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"cannot make a constant from {type(value).__name__} with dtype {arr.dtype}")
    if dtype is None and arr.dtype == np.float16:
        arr = arr.astype("float32")
    type_ = TensorType(arr.dtype, (False,) * arr.ndim)
    return TensorConstant(type_, arr, name=name)


def as_tensor_variable(x, name: str | None = None, ndim: int | None = None) -> Variable:
    """Return ``x`` if it is a tensor variable, else a constant holding it.

    ``ndim``, if given, must match (a clear ``TypeError`` otherwise).
    """
    if isinstance(x, Variable):
        var = x
    elif isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flat(x)):
        var = _T().stack([as_tensor_variable(e) for e in x])
    else:
        try:
            var = constant(x, name=name)
        except (TypeError, ValueError) as e:
            raise TypeError(f"cannot convert {x!r} to a symbolic tensor: {e}") from None
    if ndim is not None and var.ndim != ndim:
        raise TypeError(f"{var.label()}: expected a {ndim}-d tensor, got {var.type.describe()}")
    return var


def _flat(x):
    stack = [x]
    while stack:
        e = stack.pop()
        if isinstance(e, (list, tuple)):
            stack.extend(e)
        else:
            yield e
