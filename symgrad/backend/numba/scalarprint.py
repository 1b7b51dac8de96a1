"""Print an elementwise sympy expression as scalar code inside a numba loop.

Same table as the numpy printer where numba's scalar ``np.*`` functions match numpy's; the
differences are scalar-only forms (``a if c else b`` evaluates only the branch taken), stable
helpers per float width, and literals typed as float32 in float32 kernels so nothing is silently
computed in float64.

>>> from symgrad.scalar import arg, sigmoid
>>> ScalarPrinter("float32").doprint(sigmoid(arg(0)) * 0.5)
'np.float32(0.5)*call_inline(sigmoid32, x0)'
"""
from __future__ import annotations

import sympy

from ...scalar.numpyprint import NUMPY_FUNCTIONS, NumpyExprPrinter

_SCALAR_FUNCTIONS = dict(NUMPY_FUNCTIONS)
_SCALAR_FUNCTIONS.update({
    "switch": "({1} if {0} else {2})",
    "gt": "({0} > {1})", "ge": "({0} >= {1})", "lt": "({0} < {1})", "le": "({0} <= {1})",
    "eq": "({0} == {1})", "neq": "({0} != {1})",
    "round_half_away_from_zero": "round_half_away({0})",
})


def base_copies(expr: sympy.Expr) -> int:
    """How many times :class:`ScalarPrinter` writes a power's base: a small integer power is
    multiplied out (``x**3`` is ``x*x*x``), anything else names its base once.

    >>> from symgrad.scalar import arg
    >>> base_copies(arg(0) ** 3), base_copies(arg(0) ** 5), base_copies(arg(0) * 2)
    (3, 1, 1)
    """
    if expr.is_Pow and expr.exp.is_Integer and 2 <= int(expr.exp) <= 4:
        return int(expr.exp)
    return 1


def fast_exp(arg: str, float_width: str) -> str:
    """The exp of a softmax or a logistic group inside a loop: float64 ``vexp`` (helpers.py), which
    LLVM inlines and vectorizes (libm's exp is a call per element); float32 keeps libm's expf (vexp
    is float64 arithmetic: half the lanes, and a float64 row sum).

    >>> fast_exp("z", "float64"), fast_exp("z", "float32")
    ('call_inline(vexp, z)', 'np.exp(z)')
    """
    return f"np.exp({arg})" if float_width == "float32" else f"call_inline(vexp, {arg})"


class ScalarPrinter(NumpyExprPrinter):
    """``float_dtype``: the float width literals and helpers use ('float64' or 'float32');
    ``int_result``: the expression computes an integer (its powers follow numpy's integer rule)."""

    functions = _SCALAR_FUNCTIONS

    def __init__(self, float_dtype: str = "float64", names: dict | None = None, int_result: bool = False):
        super().__init__()
        self.float_dtype = float_dtype
        self.int_result = int_result
        self.names = names if names is not None else {}
        self._top = None
        suffix = "32" if float_dtype == "float32" else "64"
        # tanh: helpers.vtanh, plain arithmetic that LLVM vectorizes (libm's is a call per element);
        # the helpers are called through inlined.call_inline, so LLVM inlines them wherever the loop is
        tanh = "call_inline(vtanh, {0})" if suffix == "64" else "call_inline(vtanh32, {0})"
        self.functions = dict(_SCALAR_FUNCTIONS, sigmoid=f"call_inline(sigmoid{suffix}, {{0}})",
                              softplus=f"call_inline(softplus{suffix}, {{0}})", tanh=tanh)

    def _print(self, expr, **kwargs):
        # named subexpressions (inputs, shared temporaries) print as their names, except the one
        # being defined
        if expr is not self._top:
            name = self.names.get(expr)
            if name is not None:
                return name
        return super()._print(expr, **kwargs)

    def print_top(self, expr) -> str:
        """Print ``expr`` itself (even if it has a name), its subexpressions by name."""
        self._top = expr
        try:
            return self.doprint(expr)
        finally:
            self._top = None

    def _print_Symbol(self, expr):
        return self.names.get(expr, expr.name)

    def _print_Float(self, expr):
        text = repr(float(expr))
        return f"np.float32({text})" if self.float_dtype == "float32" else text

    def _print_Integer(self, expr):
        return f"np.float32({int(expr)})" if self.float_dtype == "float32" else str(int(expr))

    def _print_Infinity(self, expr):
        return "np.float32(np.inf)" if self.float_dtype == "float32" else "np.inf"

    def _print_NegativeInfinity(self, expr):
        return "np.float32(-np.inf)" if self.float_dtype == "float32" else "(-np.inf)"

    def _print_NaN(self, expr):
        return "np.float32(np.nan)" if self.float_dtype == "float32" else "np.nan"

    def _print_Rational(self, expr):
        if self.float_dtype == "float32":
            return f"(np.float32({expr.p})/np.float32({expr.q}))"
        return f"({expr.p}/{expr.q})"

    def _print_Half(self, expr):
        return self._print_Rational(expr)

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.base, expr.exp
        copies = base_copies(expr)
        if copies > 1:  # x**2 as x*x: exact, and no pow() call
            b = self.parenthesize(base, sympy.printing.precedence.PRECEDENCE["Mul"])
            return "(" + "*".join([b] * copies) + ")"
        if exp.is_Integer and int(exp) == -1:
            one = "np.float32(1)" if self.float_dtype == "float32" else "1.0"
            return f"({one}/{self.parenthesize(base, sympy.printing.precedence.PRECEDENCE['Mul'])})"
        if not exp.is_Integer and exp not in (sympy.S.Half, -sympy.S.Half):
            # A variable exponent: numba raises a float32 base to an integer power in float32,
            # numpy in float64 (float32 ** int32 is float64); integers to a negative power raise.
            if self.int_result:
                return f"power({self._print(base)}, {self._print(exp)})"
            if self.float_dtype == "float64":
                return f"(np.float64({self._print(base)})**({self._print(exp)}))"
        return super()._print_Pow(expr, rational=rational)

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name.startswith("cast_"):
            dtype = name[5:]
            inner = self._print(expr.args[0])
            if dtype == "float16":  # no float16 in numba kernels: see emit._np
                dtype = "float32"
            return f"({inner} != 0)" if dtype == "bool" else f"np.{dtype}({inner})"
        return super()._print_Function(expr)
