"""Print an elementwise sympy expression as Python source for a backend.

One small printer, dispatching on the expression's type, with one table of how each function is
spelled. Floats are printed with ``repr`` so every constant round-trips to the same double
(sympy's default printing keeps only 15 digits).

>>> from symgrad.scalar import arg, sigmoid
>>> NumpyExprPrinter().doprint(sigmoid(arg(0)) * 0.1 + arg(1))
'x1 + 0.1*_sigmoid(x0)'
"""
from __future__ import annotations

import sympy
from sympy.printing.pycode import PythonCodePrinter

# function class name -> template; {0}, {1}, ... are the printed arguments.
NUMPY_FUNCTIONS = {
    "exp": "np.exp({0})", "log": "np.log({0})", "log1p": "np.log1p({0})", "expm1": "np.expm1({0})",
    "sqrt": "np.sqrt({0})", "tanh": "np.tanh({0})", "sin": "np.sin({0})", "cos": "np.cos({0})",
    "Abs": "np.abs({0})", "sign": "np.sign({0})", "floor": "np.floor({0})", "ceil": "np.ceil({0})",
    "ceiling": "np.ceil({0})", "trunc": "np.trunc({0})",
    "round_half_to_even": "np.rint({0})", "round_half_away_from_zero": "_round_half_away({0})",
    "sigmoid": "_sigmoid({0})", "softplus": "_softplus({0})",
    "switch": "np.where({0}, {1}, {2})",
    "maximum": "np.maximum({0}, {1})", "minimum": "np.minimum({0}, {1})",
    "gt": "np.greater({0}, {1})", "ge": "np.greater_equal({0}, {1})",
    "lt": "np.less({0}, {1})", "le": "np.less_equal({0}, {1})",
    "eq": "np.equal({0}, {1})", "neq": "np.not_equal({0}, {1})",
    "bitwise_and": "np.bitwise_and({0}, {1})", "bitwise_or": "np.bitwise_or({0}, {1})",
    "bitwise_xor": "np.bitwise_xor({0}, {1})", "invert": "np.invert({0})",
    "floor_divide": "np.floor_divide({0}, {1})", "mod": "np.mod({0}, {1})",
}


class NumpyExprPrinter(PythonCodePrinter):
    """Prints for evaluation on whole numpy arrays (helpers ``_sigmoid``, ``_softplus``, ``_cast``,
    ``_round_half_away``)."""

    functions = NUMPY_FUNCTIONS

    def __init__(self):
        super().__init__({"fully_qualified_modules": False, "standard": "python3"})

    def _print_Float(self, expr):
        return repr(float(expr))

    def _print_Symbol(self, expr):
        return expr.name

    def _print_Pow(self, expr, rational=False):
        if expr.exp == sympy.S.Half:
            return f"np.sqrt({self._print(expr.base)})"
        if expr.exp == -sympy.S.Half:
            return f"(1/np.sqrt({self._print(expr.base)}))"
        return super()._print_Pow(expr, rational=rational)

    def _print_Mul(self, expr):
        c, rest = expr.as_coeff_Mul()
        if c.is_negative and rest is not sympy.S.One and not (c == -1 and rest.is_Symbol):
            # -(a*b), not (-a)*b: numpy cannot negate a bool factor (the values are bit-identical).
            return f"-({self._print(-expr)})"
        # sympy stores x / 3 as Mul(1/3, x); print a division, as numpy computes x / 3 (not
        # x * 0.333..., which differs in the last bit).
        if c.is_Rational and not c.is_Integer and rest is not sympy.S.One:
            return f"({self._print(c.p * rest)})/{self._print(sympy.Integer(c.q))}"
        return super()._print_Mul(expr)

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name.startswith("cast_"):
            return f"_cast({self._print(expr.args[0])}, {name[5:]!r})"
        template = self.functions.get(name)
        if template is None:
            raise NotImplementedError(f"no {type(self).__name__} rule for function {type(expr).__name__}")
        return template.format(*(self._print(a) for a in expr.args))

    def _print_exp(self, expr):
        return self._print_Function(expr)

    # sympy's own functions have dedicated _print_ methods in PythonCodePrinter; route them
    # through our table so the spelling lives in one place.
    _print_log = _print_exp
    _print_Abs = _print_exp
    _print_sign = _print_exp
    _print_floor = _print_exp
    _print_ceiling = _print_exp
    _print_tanh = _print_exp
    _print_sin = _print_exp
    _print_cos = _print_exp
    _print_log1p = _print_exp
    _print_expm1 = _print_exp
    _print_sqrt = _print_exp

    # Python's inf/nan scalars are sympy's oo/nan inside expressions (x * np.inf, x + np.nan)
    def _print_Infinity(self, expr):
        return "np.inf"

    def _print_NegativeInfinity(self, expr):
        return "(-np.inf)"

    def _print_NaN(self, expr):
        return "np.nan"

    def _print_Exp1(self, expr):
        return repr(float(sympy.E))

    def _print_Pi(self, expr):
        return repr(float(sympy.pi))
