"""The scalar vocabulary of ``Elemwise`` expressions: sympy symbols and the functions sympy lacks.

Every elementwise op is a sympy expression over the positional symbols ``x0, x1, ...``. Most
functions are sympy's own (``exp``, ``log``, ``tanh``, ``Abs``, ...). The ones defined here are
either numerically special (``sigmoid``, ``softplus``), piecewise (``switch``, ``maximum``) or
boolean/integer valued (comparisons, bitwise logic, floor division). Each defines ``fdiff`` so
``sympy.diff`` differentiates it: there is no separate gradient rule to write.

>>> import sympy
>>> sympy.diff(sigmoid(arg(0)), arg(0))
(1 - sigmoid(x0))*sigmoid(x0)
"""
from __future__ import annotations

import sympy
from sympy.codegen.cfunctions import expm1, log1p  # noqa: F401  (re-exported vocabulary)
from sympy.core.logic import fuzzy_and

_ARGS: list[sympy.Symbol] = []


def arg(i: int) -> sympy.Symbol:
    """The i-th positional input symbol of an elementwise expression (real-valued)."""
    while len(_ARGS) <= i:
        _ARGS.append(sympy.Symbol(f"x{len(_ARGS)}", real=True))
    return _ARGS[i]


def arg_index(sym: sympy.Symbol) -> int:
    """Inverse of :func:`arg`."""
    return int(sym.name[1:])


class _RealFunction(sympy.Function):
    """A function whose value is real when its arguments are (sympy otherwise assumes complex
    values: Abs(exp(f(x))) became exp(re(f(x))), which no backend prints)."""

    def _eval_is_real(self):
        return fuzzy_and(a.is_real for a in self.args)


class sigmoid(_RealFunction):
    """The logistic function 1 / (1 + exp(-x)), evaluated stably for large |x|."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0]) * (1 - sigmoid(self.args[0]))

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))


class softplus(_RealFunction):
    """log(1 + exp(x)), evaluated stably for large |x|."""

    nargs = 1

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return sympy.log(1 + sympy.exp(x))


class switch(_RealFunction):
    """``switch(c, a, b)``: a where c is true, else b (numpy.where).

    Its derivative keeps the switch (``switch(c, a', b')``) instead of multiplying by an
    indicator, so an infinite derivative in the branch not taken cannot leak in as 0*inf = nan.
    """

    nargs = 3

    def _eval_is_real(self):  # the condition's value does not matter
        return fuzzy_and(a.is_real for a in self.args[1:])

    def _eval_derivative(self, s):
        c, a, b = self.args
        da, db = sympy.diff(a, s), sympy.diff(b, s)
        if da == 0 and db == 0:
            return sympy.S.Zero
        return switch(c, da, db)


class maximum(_RealFunction):
    """Elementwise maximum (numpy.maximum: NaN propagates). Ties send the gradient to the first argument."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, b = self.args
        return switch(ge(a, b), 1, 0) if argindex == 1 else switch(ge(a, b), 0, 1)


class minimum(_RealFunction):
    """Elementwise minimum (numpy.minimum). Ties send the gradient to the first argument."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, b = self.args
        return switch(le(a, b), 1, 0) if argindex == 1 else switch(le(a, b), 0, 1)


class _PiecewiseConstant(_RealFunction):
    """Functions whose derivative is zero wherever it exists (comparisons, rounding, logic)."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero


def _piecewise_constant(name: str, nargs: int, doc: str):
    return type(name, (_PiecewiseConstant,), {"nargs": nargs, "__doc__": doc, "__module__": __name__})


gt = _piecewise_constant("gt", 2, "a > b (bool).")
ge = _piecewise_constant("ge", 2, "a >= b (bool).")
lt = _piecewise_constant("lt", 2, "a < b (bool).")
le = _piecewise_constant("le", 2, "a <= b (bool).")
eq = _piecewise_constant("eq", 2, "a == b (bool).")
neq = _piecewise_constant("neq", 2, "a != b (bool).")
bitwise_and = _piecewise_constant("bitwise_and", 2, "a & b (logical for bools, bitwise for ints).")
bitwise_or = _piecewise_constant("bitwise_or", 2, "a | b.")
bitwise_xor = _piecewise_constant("bitwise_xor", 2, "a ^ b.")
invert = _piecewise_constant("invert", 1, "~a (logical not for bools, bitwise not for ints).")
floor = _piecewise_constant("floor", 1, "Round down (numpy.floor).")
ceil = _piecewise_constant("ceil", 1, "Round up (numpy.ceil).")
sign = _piecewise_constant("sign", 1, "Sign: -1, 0 or 1 (numpy.sign).")
trunc = _piecewise_constant("trunc", 1, "Round toward zero (numpy.trunc).")
round_half_to_even = _piecewise_constant("round_half_to_even", 1, "Round, halves to the even integer (numpy.rint).")
round_half_away_from_zero = _piecewise_constant("round_half_away_from_zero", 1,
                                                "Round, halves away from zero (C's round).")
floor_divide = _piecewise_constant("floor_divide", 2, "a // b (numpy.floor_divide).")


class mod(_RealFunction):
    """a % b with numpy's convention (the result takes the sign of b)."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, b = self.args
        return sympy.S.One if argindex == 1 else -floor_divide(a, b)


def clean_derivative(expr: sympy.Expr) -> sympy.Expr:
    """Remove distributions sympy introduces when differentiating sympy's own Abs/sign twice."""
    if expr.has(sympy.DiracDelta):
        expr = expr.replace(sympy.DiracDelta, lambda *a: sympy.S.Zero)
    if expr.has(sympy.Heaviside):
        expr = expr.replace(sympy.Heaviside, lambda x, *a: switch(gt(x, 0), 1, 0))
    if expr.has(sympy.sign):
        expr = expr.replace(sympy.sign, lambda x: sign(x))
    return expr


class _Cast(_RealFunction):
    nargs = 1
    dtype = ""

    def fdiff(self, argindex=1):
        return sympy.S.One


_CASTS: dict[str, type] = {}


def cast_to(dtype: str) -> type:
    """The sympy function converting to ``dtype`` (one class per dtype, e.g. ``cast_float32``)."""
    fn = _CASTS.get(dtype)
    if fn is None:
        fn = type(f"cast_{dtype}", (_Cast,), {"dtype": dtype, "__module__": __name__,
                                              "__doc__": f"Convert to {dtype}."})
        globals()[fn.__name__] = fn  # importable by name, so expressions pickle
        _CASTS[dtype] = fn
    return fn


for _dt in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
            "float16", "float32", "float64"):
    cast_to(_dt)


def expensive(expr: sympy.Expr) -> bool:
    """Whether ``expr`` calls a function that costs more than a few arithmetic operations (exp,
    tanh, sigmoid, a fractional power; not a cast): worth reading from memory rather than computing
    again.

    >>> expensive(sigmoid(arg(0)) * 2), expensive(arg(0) * 2 + 1)
    (True, False)
    """
    for e in sympy.preorder_traversal(expr):
        if isinstance(e, sympy.Function) and not isinstance(e, _Cast):
            return True
        if isinstance(e, sympy.Pow) and not e.exp.is_Integer:
            return True
    return False


def is_arg(sym) -> bool:
    """True for the positional input symbols x0, x1, ..."""
    return isinstance(sym, sympy.Symbol) and sym in _ARGS
