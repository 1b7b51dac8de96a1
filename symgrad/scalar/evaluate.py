"""Reference evaluation of the scalar vocabulary: an elementwise expression run on numpy arrays.

This is what an expression *means*: the numpy backend, constant folding and dtype inference all
evaluate expressions here, and compiled backends are tested against it.

>>> import numpy as np
>>> from symgrad.scalar import arg, sigmoid
>>> eval_expr(sigmoid(arg(0)) + arg(1), [np.zeros(2), np.ones(2)])
array([1.5, 1.5])
>>> natural_dtype(arg(0) + arg(1), ("float32", "int64"))
'float64'
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import sympy

from . import maximum, minimum, sigmoid, softplus
from .memo import EXPAND, SubexpressionMemo
from .numpyprint import NumpyExprPrinter


# --- helpers available to printed expressions (names as NumpyExprPrinter spells them) ------------
def _sigmoid(x):
    x = np.asarray(x)
    if x.dtype.kind != "f":  # bools cannot be negated, unsigned ints wrap: use exp's float type
        x = x.astype(np.exp(np.zeros((), x.dtype)).dtype)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x):
    x = np.asarray(x)
    return np.logaddexp(np.zeros((), x.dtype), x)


def _round_half_away(x):
    # exact: trunc(x) and x - trunc(x) are exact in floating point, where floor(x + 0.5) rounds
    # 0.49999999999999994 up to 1
    x = np.asarray(x)
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t)


def _cast(x, dtype):
    return np.asarray(x).astype(dtype)


_NAMESPACE = {"np": np, "_sigmoid": _sigmoid, "_softplus": _softplus, "_cast": _cast,
              "_round_half_away": _round_half_away}


@lru_cache(maxsize=4096)
def expr_function(expr: sympy.Expr, nin: int) -> Callable:
    """Compile an elementwise expression to a Python function of ``x0..x{nin-1}`` on numpy arrays."""
    source = NumpyExprPrinter().doprint(expr)
    args = ", ".join(f"x{i}" for i in range(nin))
    return eval(f"lambda {args}: {source}", dict(_NAMESPACE))  # noqa: S307 - our own printed code


def eval_expr(expr: sympy.Expr, args: Sequence) -> np.ndarray:
    """Evaluate an expression on concrete arguments (floating-point warnings silenced: a NaN or an
    infinity is a value here, as in numpy with ``errstate(all='ignore')``)."""
    with np.errstate(all="ignore"):
        return np.asarray(expr_function(expr, len(args))(*args))


def natural_dtype(expr: sympy.Expr, dtypes: tuple) -> str:
    """The dtype numpy produces for ``expr`` on arrays of these dtypes (before any final cast)."""
    dtypes = tuple(dtypes)
    return _float_closed(expr, dtypes) or _natural_dtype(expr, dtypes)


# Operations that give a float array of their float operands' dtype when every operand is one
# (numpy 2: Python numbers are weak scalars, so ``0.1 * x`` stays float32).
_FLOAT_CLOSED = (sympy.Add, sympy.Mul, sympy.Pow, sympy.exp, sympy.log, sympy.tanh, sympy.sin, sympy.cos,
                 sympy.Abs, sigmoid, softplus, maximum, minimum)


@lru_cache(maxsize=4096)  # (fusion asks about the same inner expression for each of its consumers)
def _float_closed(expr: sympy.Expr, dtypes: tuple) -> str | None:
    """The answer without evaluating, for the common case: every leaf of one float dtype and every
    operation float-closed. Evaluating prints the whole expression (milliseconds for the large
    expressions fusion builds, once per fusion step). None when unsure: a constant subexpression
    such as ``sqrt(2)`` prints as a float64 numpy scalar, which is not weak, so any operation
    without a symbol below it, and anything not in ``_FLOAT_CLOSED``, falls back to evaluation.

    >>> from symgrad.scalar import arg
    >>> _float_closed(sympy.tanh(0.5 * arg(0)) + arg(1) ** 2, ("float32", "float32"))
    'float32'
    >>> _float_closed(arg(0) * sympy.sqrt(2), ("float32",)) is None
    True
    """
    if not dtypes or dtypes[0] not in ("float32", "float64") or any(d != dtypes[0] for d in dtypes):
        return None
    return dtypes[0] if _reads_symbol(expr) is True else None


def _closed_leaf(e: sympy.Basic):
    if e.is_Symbol or (e.is_Number and e.is_finite):  # (oo, nan and zoo: evaluation decides)
        return bool(e.is_Symbol)
    return EXPAND if isinstance(e, _FLOAT_CLOSED) else None


# Per subexpression: True (float-closed and reads a symbol), False (a finite number), None
# (anything else: an operation without a symbol below it, or one not in _FLOAT_CLOSED).
_reads_symbol = SubexpressionMemo(
    _closed_leaf, lambda e, answers: True if all(a is not None for a in answers) and any(answers) else None)


@lru_cache(maxsize=4096)
def _natural_dtype(expr, dtypes):
    args = [np.ones(1, d) for d in dtypes]
    return eval_expr(expr, args).dtype.name
