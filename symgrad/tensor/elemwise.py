"""``Elemwise``: every elementwise operation is one sympy expression over positional inputs.

Arithmetic, comparisons, ``exp``, ``sigmoid``, ``switch``, casts, ... all build an ``Elemwise``
whose ``expr`` uses the symbols ``x0, x1, ...`` (one per input variable). Python scalars are
folded into the expression as numbers, which gives numpy 2's "weak scalar" promotion for free
(``fvector * 2`` stays float32). Output dtypes follow numpy's own ufunc type resolution.

>>> import symgrad.tensor as T
>>> y = T.fvector("x") * 2
>>> y.owner.op.expr, y.dtype
(2*x0, 'float32')
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Sequence

import numpy as np
import sympy

from .. import scalar as S
from ..graph import Apply, Constant, Op, TensorType, Variable
from ..scalar.evaluate import eval_expr
from .variable import as_tensor_variable, constant


@dataclass(frozen=True)
class Elemwise(Op):
    """Apply ``expr`` (over ``x0..x{nin-1}``) elementwise, with numpy broadcasting; result ``dtype``.

    Every input takes part in the output's shape, even one the expression no longer mentions
    (so ``Elemwise(x1, 2)(x, g)`` broadcasts ``g`` to ``x``'s shape: Theano's ``second``).
    """

    expr: sympy.Expr
    nin: int
    dtype: str

    def make_node(self, *inputs) -> Apply:
        if len(inputs) != self.nin:
            raise TypeError(f"{self}: expected {self.nin} inputs, got {len(inputs)}")
        inputs = [as_tensor_variable(v) for v in inputs]
        return Apply(self, inputs, [TensorType(self.dtype, broadcast_pattern(inputs))])

    def shape_source(self, node: Apply) -> Variable | None:
        """The first input of the output's broadcastable pattern: every other dimension is checked
        equal to the output's when the node runs."""
        out = node.outputs[0]
        return next((v for v in node.inputs if v.broadcastable == out.broadcastable), None)

    def __str__(self) -> str:
        return self._text

    @cached_property
    def _text(self) -> str:  # (kernel error labels print each op several times; a deep one takes ms)
        return f"Elemwise{{{self.expr}}}"


def broadcast_pattern(inputs) -> tuple:
    """Static broadcasting: left-pad with broadcastable dims; a dim is broadcastable only if all are."""
    ndim = max((v.ndim for v in inputs), default=0)
    pattern = [True] * ndim
    for v in inputs:
        pad = ndim - v.ndim
        for i, b in enumerate(v.broadcastable):
            pattern[pad + i] = pattern[pad + i] and b
    return tuple(pattern)


def _operand(v):
    """A Variable, or a Python int/float kept as a weak scalar (inlined in the expression)."""
    if isinstance(v, Variable):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, (bool, np.generic)):
        return v
    return as_tensor_variable(v)


@lru_cache(maxsize=4096)
def ufunc_dtype(ufunc: np.ufunc, operand_dtypes: tuple) -> str:
    """numpy's result dtype for ``ufunc`` on these operand dtypes (``int``/``float`` = weak scalar)."""
    dts = tuple(d if d in (int, float) else np.dtype(d) for d in operand_dtypes)
    return ufunc.resolve_dtypes(dts + (None,) * ufunc.nout)[-1].name


def elemwise(build, operands, ufunc: np.ufunc | None = None, dtype: str | None = None,
             name: str = "") -> Variable:
    """Build one ``Elemwise`` node.

    ``build`` maps sympy arguments (symbols or numbers, one per operand) to an expression.
    The output dtype is ``dtype`` if given, else numpy's result type of ``ufunc`` on the operands.
    """
    ops = [_operand(v) for v in operands]
    symbols, variables = [], []
    for v in ops:
        if isinstance(v, Variable):
            for k, seen in enumerate(variables):
                if seen is v:
                    symbols.append(S.arg(k))
                    break
            else:
                symbols.append(S.arg(len(variables)))
                variables.append(v)
        else:
            symbols.append(sympy.sympify(v))
    if dtype is None:
        keys = tuple(v.dtype if isinstance(v, Variable) else type(v) for v in ops)
        try:
            dtype = ufunc_dtype(ufunc, keys)
        except TypeError:
            described = ", ".join(v.type.describe() if isinstance(v, Variable) else type(v).__name__
                                  for v in ops)
            raise TypeError(f"{name or ufunc.__name__} is not defined for operands of type ({described})") from None
    expr = sympy.sympify(build(*symbols))
    if not variables:  # all operands were Python scalars: a constant
        return constant(np.asarray(eval_expr(expr, ()), dtype=dtype))
    return Elemwise(expr, len(variables), dtype)(*variables)


def _float_dtype(x) -> str:
    return ufunc_dtype(np.exp, (x.dtype if isinstance(x, Variable) else type(x),))


# --- the elementwise API --------------------------------------------------------------------
def add(a, b): """a + b""" ; return elemwise(lambda x, y: x + y, (a, b), np.add)
def sub(a, b): """a - b""" ; return elemwise(lambda x, y: x - y, (a, b), np.subtract)
def mul(a, b): """a * b""" ; return elemwise(lambda x, y: x * y, (a, b), np.multiply)
def true_div(a, b): """a / b (ints give float64)""" ; return elemwise(lambda x, y: x / y, (a, b), np.true_divide)
def floor_div(a, b): """a // b""" ; return elemwise(S.floor_divide, (a, b), np.floor_divide)
def mod(a, b): """a % b (sign of b, as numpy)""" ; return elemwise(S.mod, (a, b), np.mod)
def pow(a, b):
    """a ** b. An integer tensor to a negative integer power is a ValueError, as in numpy.

    >>> import symgrad.tensor as T
    >>> (T.lvector("n") ** 2).dtype, (T.lvector("n") ** -1.0).dtype
    ('int64', 'float64')
    """
    if (isinstance(a, Variable) and a.dtype[0] in "iub" and isinstance(b, int)
            and not isinstance(b, bool) and b < 0):
        raise ValueError(f"{a.label()} ({a.type.describe()}) ** {b}: integers to negative integer powers "
                         "are not allowed (numpy raises too); use a float exponent or cast to float first")
    return elemwise(lambda x, y: x ** y, (a, b), np.power)


def neg(a): """-a""" ; return elemwise(lambda x: -x, (a,), np.negative)
def abs(a): """|a|""" ; return elemwise(sympy.Abs, (a,), np.absolute)
def sqr(a): """a ** 2""" ; return elemwise(lambda x: x ** 2, (a,), np.square)
def sqrt(a): """square root""" ; return elemwise(sympy.sqrt, (a,), np.sqrt)
def exp(a): """e ** a""" ; return elemwise(sympy.exp, (a,), np.exp)
def log(a):
    """natural logarithm; of a softmax, the stable log-softmax (finite for logits of ±1000)"""
    owner = getattr(a, "owner", None)
    better = owner.op.log_of(owner) if owner is not None else None
    return better if better is not None else elemwise(sympy.log, (a,), np.log)
def log1p(a): """log(1 + a), accurate for small a""" ; return elemwise(S.log1p, (a,), np.log1p)
def expm1(a): """exp(a) - 1, accurate for small a""" ; return elemwise(S.expm1, (a,), np.expm1)
def tanh(a): """hyperbolic tangent""" ; return elemwise(sympy.tanh, (a,), np.tanh)
def sin(a): """sine""" ; return elemwise(sympy.sin, (a,), np.sin)
def cos(a): """cosine""" ; return elemwise(sympy.cos, (a,), np.cos)
def sign(a): """-1, 0 or 1""" ; return elemwise(S.sign, (a,), np.sign)
def floor(a): """round down""" ; return elemwise(S.floor, (a,), np.floor)
def ceil(a): """round up""" ; return elemwise(S.ceil, (a,), np.ceil)
def maximum(a, b): """elementwise maximum""" ; return elemwise(S.maximum, (a, b), np.maximum)
def minimum(a, b): """elementwise minimum""" ; return elemwise(S.minimum, (a, b), np.minimum)
def gt(a, b): """a > b""" ; return elemwise(S.gt, (a, b), np.greater)
def ge(a, b): """a >= b""" ; return elemwise(S.ge, (a, b), np.greater_equal)
def lt(a, b): """a < b""" ; return elemwise(S.lt, (a, b), np.less)
def le(a, b): """a <= b""" ; return elemwise(S.le, (a, b), np.less_equal)
def eq(a, b): """a == b (elementwise)""" ; return elemwise(S.eq, (a, b), np.equal)
def neq(a, b): """a != b (elementwise)""" ; return elemwise(S.neq, (a, b), np.not_equal)
def and_(a, b): """a & b""" ; return elemwise(S.bitwise_and, (a, b), np.bitwise_and, name="&")
def or_(a, b): """a | b""" ; return elemwise(S.bitwise_or, (a, b), np.bitwise_or, name="|")
def xor(a, b): """a ^ b""" ; return elemwise(S.bitwise_xor, (a, b), np.bitwise_xor, name="^")
def invert(a): """~a""" ; return elemwise(S.invert, (a,), np.invert, name="~")


def trunc(a):
    """Round toward zero (numpy.trunc)."""
    return elemwise(S.trunc, (a,), np.trunc)


def _float_only(a, who: str):
    a = _operand(a)
    if isinstance(a, Variable) and a.dtype[0] != "f":
        raise TypeError(f"{who} of {a.label()}: expected a float tensor, got {a.type.describe()} "
                        "(Theano rounds floats only; integers are already round)")
    return a


def round_half_to_even(a):
    """Round to the nearest integer, halves to the even one (numpy.round); same float dtype."""
    return elemwise(S.round_half_to_even, (_float_only(a, "round_half_to_even"),), np.rint)


def round_half_away_from_zero(a):
    """Round to the nearest integer, halves away from zero (C's round); same float dtype."""
    return elemwise(S.round_half_away_from_zero, (_float_only(a, "round_half_away_from_zero"),), np.rint)


def round(a, mode: str | None = None):  # noqa: A001  (Theano's name)
    """Theano's ``T.round(a, mode=None)``: ``mode`` is ``"half_to_even"`` (the default, as numpy)
    or ``"half_away_from_zero"``; the gradient is zero.

    >>> import symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> T.round(x).eval({x: [0.5, 1.5, -2.5]}).tolist()
    [0.0, 2.0, -2.0]
    >>> T.round(x, "half_away_from_zero").eval({x: [0.5, -2.5]}).tolist()
    [1.0, -3.0]
    """
    a = _float_only(a, "round")
    if mode is None or mode == "half_to_even":
        return round_half_to_even(a)
    if mode == "half_away_from_zero":
        return round_half_away_from_zero(a)
    raise ValueError(f"round: mode must be 'half_to_even' or 'half_away_from_zero', got {mode!r}")


def iround(a, mode: str | None = None):
    """Theano's ``T.iround``: ``round(a, mode)`` cast to int64."""
    return cast(round(a, mode), "int64")


def sigmoid(a):
    """1 / (1 + exp(-a)), stable for large |a|.

    >>> import symgrad.tensor as T
    >>> sigmoid(T.fvector("z")).dtype
    'float32'
    """
    return elemwise(S.sigmoid, (a,), dtype=_float_dtype(a))


def softplus(a):
    """log(1 + exp(a)), stable for large |a|."""
    return elemwise(S.softplus, (a,), dtype=_float_dtype(a))


def relu(a):
    """max(a, 0); gradient 0 at 0."""
    return elemwise(lambda x: S.switch(S.gt(x, 0), x, 0), (a,), np.positive)


def clip(a, a_min, a_max):
    """Limit values to [a_min, a_max] (numpy.clip); gradient 0 outside."""
    keys = tuple(v.dtype if isinstance(v, Variable) else type(v) for v in map(_operand, (a, a_min, a_max)))
    dtype = ufunc_dtype(np.minimum, (ufunc_dtype(np.maximum, keys[:2]), keys[2]))
    return elemwise(lambda x, lo, hi: S.minimum(S.maximum(x, lo), hi), (a, a_min, a_max), dtype=dtype)


def switch(cond, a, b):
    """``a`` where ``cond`` else ``b``, elementwise (numpy.where)."""
    return elemwise(S.switch, (cond, a, b), dtype=ufunc_dtype(np.add, tuple(
        v.dtype if isinstance(v, Variable) else type(v) for v in map(_operand, (a, b)))))


where = switch


def cast(a, dtype: str) -> Variable:
    """Convert to ``dtype`` (numpy's astype: truncation toward zero for float to int)."""
    a = as_tensor_variable(a)
    dtype = np.dtype(dtype).name
    if dtype == a.dtype:
        return a
    return Elemwise(S.cast_to(dtype)(S.arg(0)), 1, dtype)(a)


def zeros_like(a, dtype: str | None = None) -> Variable:
    """Zeros of ``a``'s shape (and dtype unless given)."""
    a = as_tensor_variable(a)
    return Elemwise(sympy.S.Zero, 1, dtype or a.dtype)(a)


def ones_like(a, dtype: str | None = None) -> Variable:
    """Ones of ``a``'s shape (and dtype unless given)."""
    a = as_tensor_variable(a)
    return Elemwise(sympy.S.One, 1, dtype or a.dtype)(a)


def fill(shape_of, value) -> Variable:
    """``value`` broadcast to the shape of ``broadcast(shape_of, value)`` (Theano's ``second``)."""
    shape_of, value = as_tensor_variable(shape_of), as_tensor_variable(value)
    return Elemwise(S.arg(1), 2, value.dtype)(shape_of, value)


def make_elemwise(expr: sympy.Expr, inputs: Sequence[Variable], dtype: str) -> Variable:
    """An Elemwise over only the inputs ``expr`` mentions, with 0-d constants folded in."""
    subs, keep = {}, []
    free = expr.free_symbols
    # A number in the expression is a weak scalar: only a constant whose dtype would not widen the
    # other inputs may become one (float64(2.5) * float32 array is computed in float64).
    others = {v.dtype for k, v in enumerate(inputs)
              if S.arg(k) in free and not (isinstance(v, Constant) and v.ndim == 0)}
    for k, v in enumerate(inputs):
        sym = S.arg(k)
        if sym not in free:
            continue
        if isinstance(v, Constant) and v.ndim == 0 and all(np.result_type(v.dtype, d) == d for d in others):
            subs[sym] = sympy.sympify(v.data.item())
            continue
        for j, seen in enumerate(keep):
            if seen is v:
                subs[sym] = S.arg(j)
                break
        else:
            subs[sym] = S.arg(len(keep))
            keep.append(v)
    expr = expr.xreplace(subs)
    if not keep:
        return constant(np.asarray(float(expr), dtype))
    return Elemwise(expr, len(keep), dtype)(*keep)
