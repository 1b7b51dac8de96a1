"""Graphs as math: ``latex(var)`` writes the expression computing ``var`` (a cost, a gradient) as
LaTeX through sympy.

Each ``Elemwise`` already is a sympy expression; the walk substitutes its inputs' expressions into
it, so a chain of elementwise nodes becomes one formula. Other ops become unevaluated sympy
functions that print themselves: ``X \\cdot w`` (dot), ``X^{T}``, ``\\sum`` / ``\\max`` (reductions),
``x[i]`` (indexing), ``\\operatorname{softmax}``, and ``\\operatorname{len}(y)`` for a dimension's
length (traced back through elementwise ops to the input it comes from). Broadcasting
(``dimshuffle('x', 0)``) is invisible in math and is left out. Any other op prints as its name
applied to its inputs, so new ops need no special case.

>>> import symgrad.tensor as T
>>> X, w, b = T.dmatrix("X"), T.dvector("w"), T.dscalar("b")
>>> latex(T.nnet.sigmoid(T.dot(X, w) + b).sum())
'\\\\sum\\\\left(\\\\sigma\\\\left(X \\\\cdot w + b\\\\right)\\\\right)'
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np
import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from .. import scalar as S
from ..graph import Apply, Constant, Variable, toposort
from ..tensor.ifelse import IfElse
from ..rewrite import optimize as run_rewrites
from ..tensor.rowstream import RowStream
from ..rewrite.stabilize import canonical_sigmoid
from ..tensor.elemwise import Elemwise
from ..tensor.indexing import AdvancedSubtensor, IncSubtensor, Subtensor
from ..tensor.linalg import Dot
from ..tensor.nnet import Softmax
from ..tensor.reduction import Reduce
from ..tensor.shape import (
    ARange,
    DimShuffle,
    Join,
    MakeVector,
    Reshape,
    Shape,
    Shape_i,
    SpecifyShape,
)
from .text import _index_text


class _Structural(sympy.Function):
    """An unevaluated non-elementwise op (for printing only): ``render(printer, args)`` writes it."""

    render: Callable = None
    precedence = PRECEDENCE["Atom"]

    def _latex(self, printer, exp=None):
        return _Printer._power(type(self).render(printer, self.args), exp)


_CLASSES: dict[str, type] = {}


def _structural(name: str, render: Callable, precedence: int = PRECEDENCE["Atom"]) -> type:
    """One sympy function class per distinct rendering (parameters such as an axis are part of
    the class, since sympy function arguments must be expressions)."""
    cls = _CLASSES.get(name)
    if cls is None:
        cls = type("sg_" + re.sub(r"\W", "_", name), (_Structural,), {"render": staticmethod(render), "precedence": precedence,
                                                   "__module__": __name__})
        _CLASSES[name] = cls
    return cls


class _Raw(sympy.Symbol):
    """A symbol printed verbatim (a LaTeX snippet such as a small constant array)."""

    def _latex(self, printer):
        return self.name


class _Twin(sympy.Dummy):
    """A second variable with an already used name: printed the same, but a different symbol (two
    inputs both called ``x`` must not cancel in ``x - x``)."""

    def _latex(self, printer):
        return printer._print(sympy.Symbol(self.name))


def _escape(text: str) -> str:
    out = text
    for ch, rep in (("\\", r"\backslash "), ("{", r"\{"), ("}", r"\}"), ("_", r"\_"), ("^", r"\^{}"),
                    ("#", r"\#"), ("%", r"\%"), ("&", r"\&"), ("$", r"\$"), ("~", r"\~{}")):
        out = out.replace(ch, rep)
    return out


def _paren(printer, arg, level: int = PRECEDENCE["Mul"]) -> str:
    if isinstance(arg, S.switch):  # a cases block next to an operator needs parentheses
        return rf"\left({printer._print(arg)}\right)"
    return printer.parenthesize(arg, level, strict=True)


def _call(name: str) -> Callable:
    return lambda p, args: rf"{name}\left({', '.join(p._print(a) for a in args)}\right)"


def _dot(p, args):
    return rf"{_paren(p, args[0])} \cdot {_paren(p, args[1])}"


def _transpose(p, args):
    return rf"{_paren(p, args[0], PRECEDENCE['Pow'])}^{{T}}"


_REDUCE_SYMBOL = {"sum": r"\sum", "prod": r"\prod", "max": r"\max", "min": r"\min",
                  "argmax": r"\operatorname{argmax}", "argmin": r"\operatorname{argmin}"}


def _reduce(kind: str, axis_text: str) -> Callable:
    sub = rf"_{{\text{{axis}}={axis_text}}}" if axis_text else ""
    return lambda p, args: rf"{_REDUCE_SYMBOL[kind]}{sub}\left({p._print(args[0])}\right)"


def _subtensor(spec) -> Callable:
    return lambda p, args: (rf"{_paren(p, args[0], PRECEDENCE['Pow'])}"
                            rf"\left[{_index_text(spec, [p._print(a) for a in args[1:]])}\right]")


def _inc_subtensor(spec, set_instead: bool) -> Callable:
    name = r"\operatorname{set\_subtensor}" if set_instead else r"\operatorname{inc\_subtensor}"
    return lambda p, args: (rf"{name}\left({_paren(p, args[0], PRECEDENCE['Pow'])}"
                            rf"\left[{_index_text(spec, [p._print(a) for a in args[2:]])}\right], "
                            rf"{p._print(args[1])}\right)")


def _length(axis: int) -> Callable:
    if axis == 0:
        return lambda p, args: rf"\operatorname{{len}}\left({p._print(args[0])}\right)"
    return lambda p, args: rf"\operatorname{{shape}}\left({p._print(args[0])}\right)_{{{axis}}}"


class _Printer(LatexPrinter):
    """sympy's LaTeX printer, plus symgrad's scalar functions (scalar.py) in math notation."""

    @staticmethod
    def _power(text: str, exp) -> str:
        """sympy prints ``f(x)**2`` by handing the exponent to the function's printer."""
        return text if exp is None else rf"\left({text}\right)^{{{exp}}}"

    def _print_sigmoid(self, e, exp=None):
        return self._power(rf"\sigma\left({self._print(e.args[0])}\right)", exp)

    def _print_softplus(self, e, exp=None):
        return self._power(rf"\operatorname{{softplus}}\left({self._print(e.args[0])}\right)", exp)

    def _print_log1p(self, e, exp=None):
        return self._power(rf"\log\left(1 + {self._print(e.args[0])}\right)", exp)

    def _print_expm1(self, e, exp=None):
        return self._power(rf"\left(e^{{{self._print(e.args[0])}}} - 1\right)", exp)

    def _print_switch(self, e, exp=None):
        c, a, b = (self._print(x) for x in e.args)
        return self._power(rf"\begin{{cases}} {a} & \text{{if }} {c} \\ {b} & \text{{otherwise}} \end{{cases}}", exp)

    def _relation(self, e, symbol: str) -> str:
        a, b = (self.parenthesize(x, PRECEDENCE["Add"]) for x in e.args)
        return rf"\left({a} {symbol} {b}\right)"

    def _print_invert(self, e, exp=None):
        return self._power(rf"\neg {self.parenthesize(e.args[0], PRECEDENCE['Pow'])}", exp)

    def _print_maximum(self, e, exp=None):
        return self._power(rf"\max\left({self._print(e.args[0])}, {self._print(e.args[1])}\right)", exp)

    def _print_minimum(self, e, exp=None):
        return self._power(rf"\min\left({self._print(e.args[0])}, {self._print(e.args[1])}\right)", exp)

    def _print_floor(self, e, exp=None):
        return self._power(rf"\left\lfloor {self._print(e.args[0])} \right\rfloor", exp)

    def _print_ceil(self, e, exp=None):
        return self._power(rf"\left\lceil {self._print(e.args[0])} \right\rceil", exp)

    def _print_sign(self, e, exp=None):
        return self._power(rf"\operatorname{{sign}}\left({self._print(e.args[0])}\right)", exp)

    def _print_floor_divide(self, e, exp=None):
        return self._power(rf"\left\lfloor \frac{{{self._print(e.args[0])}}}{{{self._print(e.args[1])}}} \right\rfloor", exp)

    def _print_mod(self, e, exp=None):
        a, b = (self.parenthesize(x, PRECEDENCE["Mul"]) for x in e.args)
        return self._power(rf"\left({a} \bmod {b}\right)", exp)

    def _as_ordered_terms(self, expr, order=None):
        """Sums read left to right like formulas: positive terms first, bare symbols and numbers
        after compound terms (``sigma(x w + b) - y``, not ``-y + sigma(b + x w)``)."""
        terms = super()._as_ordered_terms(expr, order=order)
        if isinstance(expr, sympy.Add):
            terms = sorted(terms, key=lambda t: (t.could_extract_minus_sign(), t.is_Atom))
        return terms

    def _print_Function(self, e, exp=None):
        if isinstance(e, S._Cast):  # a dtype conversion changes no math
            if exp is None:
                return self._print(e.args[0])
            return f"{self.parenthesize(e.args[0], PRECEDENCE['Pow'])}^{{{exp}}}"
        return super()._print_Function(e, exp)


_RELATIONS = {"gt": ">", "ge": r"\geq", "lt": "<", "le": r"\leq", "eq": "=", "neq": r"\neq",
              "bitwise_and": r"\wedge", "bitwise_or": r"\vee", "bitwise_xor": r"\oplus"}
for _name, _symbol in _RELATIONS.items():  # scalar.gt, scalar.bitwise_and, ...: infix, parenthesized
    setattr(_Printer, f"_print_{_name}",
            lambda self, e, exp=None, symbol=_symbol: self._power(self._relation(e, symbol), exp))


def _number_text(x) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    return str(x)


def _constant_expr(c: Constant):
    data = c.data
    if data.size and np.all(data == data.flat[0]):
        value = data.flat[0].item()
        if isinstance(value, bool):
            return sympy.true if value else sympy.false
        if isinstance(value, float) and not value.is_integer():
            return sympy.Float(repr(value))
        return sympy.Integer(int(value))
    if data.size <= 6:
        return _Raw(r"\left[" + ", ".join(_number_text(x) for x in data.ravel().tolist()) + r"\right]")
    return _Raw(r"C_{" + "\\times ".join(map(str, data.shape)) + "}")


def _shape_entry(node: Apply) -> tuple[Variable, int] | None:
    """(x, axis) when ``node`` reads one length of x: ``x.shape[k]`` of a constant k, or the
    ``Shape_i`` the optimizer makes of it."""
    op = node.op
    if isinstance(op, Shape_i):
        return node.inputs[0], op.i
    if isinstance(op, Subtensor) and op.spec == ("i",) and isinstance(node.inputs[1], Constant) \
            and node.inputs[0].owner is not None and isinstance(node.inputs[0].owner.op, Shape):
        source = node.inputs[0].owner.inputs[0]
        return source, int(node.inputs[1].data) % max(source.ndim, 1)
    return None


def _dim_source(v: Variable, axis: int) -> tuple[Variable, int]:
    """The variable and axis a dimension's length comes from: back through elementwise ops (whose
    inputs share non-broadcastable dims), dot, dimshuffle and reductions, to where it is known."""
    while v.owner is not None:
        op, ins = v.owner.op, v.owner.inputs
        if isinstance(op, Elemwise):
            for u in ins:
                a = axis - (v.ndim - u.ndim)
                if a >= 0 and not u.broadcastable[a]:
                    v, axis = u, a
                    break
            else:
                break
        elif isinstance(op, Dot):
            a, b = ins
            if a.ndim == 2 and axis == 0:
                v, axis = a, 0
            elif b.ndim == 2 and axis == v.ndim - 1:
                v, axis = b, 1
            else:
                break
        elif isinstance(op, DimShuffle) and op.new_order[axis] != "x":
            v, axis = ins[0], op.new_order[axis]
        elif isinstance(op, Reduce) and op.axis is not None and op.kind not in ("argmax", "argmin"):
            kept = [i for i in range(ins[0].ndim) if i not in op.axis]
            v, axis = ins[0], kept[axis]
        else:
            break
    return v, axis


def _node_exprs(node: Apply, args: list, expr_of: Callable) -> list:
    """sympy expressions for the outputs of ``node`` given its inputs' expressions."""
    op = node.op
    if isinstance(op, Elemwise):
        return [op.expr.xreplace({S.arg(i): a for i, a in enumerate(args)})]
    if isinstance(op, Dot):
        return [_structural("dot", _dot, PRECEDENCE["Mul"] - 1)(*args)]
    if isinstance(op, Reduce):
        x = node.inputs[0]
        full = op.axis is None or len(op.axis) == x.ndim
        axis = "" if full else ",".join(map(str, op.axis))
        return [_structural(f"{op.kind}_{axis}", _reduce(op.kind, axis), PRECEDENCE["Mul"])(*args)]
    if isinstance(op, DimShuffle):
        kept = [d for d in op.new_order if d != "x"]
        if kept == sorted(kept):  # only adds or drops broadcastable dims: invisible in math
            return [args[0]]
        if op.input_ndim == 2:
            return [_structural("transpose", _transpose)(*args)]
        order = ",".join(map(str, op.new_order))
        return [_structural(f"dimshuffle_{order}",
                            _call(rf"\operatorname{{transpose}}_{{({order})}}"))(*args)]
    read = _shape_entry(node)
    if read is not None:
        v, axis = _dim_source(*read)
        return [_structural(f"len_{axis}", _length(axis))(expr_of(v))]
    if isinstance(op, (Subtensor, AdvancedSubtensor)):
        return [_structural(f"index_{op.spec}", _subtensor(op.spec))(*args)]
    if isinstance(op, IncSubtensor):
        return [_structural(f"inc_{op.spec}_{op.set_instead_of_inc}",
                            _inc_subtensor(op.spec, op.set_instead_of_inc))(*args)]
    if isinstance(op, Shape):
        return [_structural("shape", _call(r"\operatorname{shape}"))(*args)]
    if isinstance(op, Softmax):
        name = r"\log \operatorname{softmax}" if getattr(op, "log", False) else r"\operatorname{softmax}"
        axis = "" if op.axis == node.inputs[0].ndim - 1 else rf"_{{\text{{axis}}={op.axis}}}"
        return [_structural(f"{name}{axis}", _call(name + axis))(*args)]
    if isinstance(op, MakeVector):
        return [_structural("vector", lambda p, a: r"\left[" + ", ".join(map(p._print, a)) + r"\right]")(*args)]
    if isinstance(op, ARange):
        return [_structural("arange", _call(r"\operatorname{arange}"))(*args)]
    if isinstance(op, Reshape):
        return [_structural("reshape", _call(r"\operatorname{reshape}"))(*args)]
    if isinstance(op, Join):
        return [_structural(f"join_{op.axis}", _call(rf"\operatorname{{concatenate}}_{{{op.axis}}}"))(*args)]
    if isinstance(op, RowStream):
        return _row_stream_exprs(op, args)
    if isinstance(op, SpecifyShape):  # a run-time shape check: the value is its input
        return [args[0]]
    if isinstance(op, IfElse) and op.lazy is None and len(args) == 1 + 2 * len(node.outputs):
        n = len(node.outputs)  # inputs: cond, then values, else values
        return [S.switch(args[0], args[1 + k], args[1 + n + k]) for k in range(n)]
    return _generic_exprs(node, args)


def _row_stream_exprs(op, args: list) -> list:
    X, w = args[:2]
    subs = {S.arg(0): _structural("dot", _dot, PRECEDENCE["Mul"] - 1)(X, w)}
    subs.update({S.arg(1 + k): a for k, a in enumerate(args[2:])})
    out = [_structural("dot", _dot, PRECEDENCE["Mul"] - 1)(_structural("transpose", _transpose)(X),
                                                           op.grad_expr.xreplace(subs))]
    out += [e.xreplace(subs) for e, _ in op.row_exprs]
    out += [_structural("sum_", _reduce("sum", ""), PRECEDENCE["Mul"])(e.xreplace(subs)) for e, _ in op.sum_exprs]
    return out


def _generic_exprs(node: Apply, args: list) -> list:
    """Any other op: its name (``str(op)``) applied to its inputs; output k of several gets ``_k``."""
    call = _call(rf"\text{{{_escape(str(node.op))}}}")
    if len(node.outputs) == 1:
        return [_structural(f"op_{node.op!s}", call)(*args)]
    return [_structural(f"op_{node.op!s}_{k}", lambda p, a, k=k: call(p, a) + f"_{{{k}}}")(*args)
            for k in range(len(node.outputs))]


def _integral_floats(expr):
    """1.0 -> 1 for display (shape divisions and constants folded from Python floats)."""
    floats = {f: sympy.Integer(int(f)) for f in expr.atoms(sympy.Float) if float(f).is_integer()}
    return expr.xreplace(floats) if floats else expr


def to_sympy(var: Variable, optimize: bool = False, names: dict | None = None):
    """The sympy expression ``latex`` prints (leaves are real symbols named after the variables;
    wherever the formula of a variable in ``names`` occurs, it is replaced by that name)."""
    if not isinstance(var, Variable):
        raise TypeError(f"latex: expected a symbolic variable, got {type(var).__name__} {var!r:.80}")
    if names is not None and not isinstance(names, dict):
        raise TypeError(f"latex: names must be a dict of variable -> LaTeX name, got {type(names).__name__}")
    names = dict(names or {})
    for k, v in names.items():
        if not isinstance(k, Variable) or not isinstance(v, str):
            raise TypeError(f"latex: names must map symbolic variables to str, got {k!r}: {v!r}")
    roots = [var]
    if optimize:
        roots = run_rewrites(roots)
    exprs: dict[int, object] = {}
    unnamed = [0]
    owner_of_name: dict[str, int] = {}

    def expr_of(v: Variable):
        if id(v) in exprs:
            return exprs[id(v)]
        if isinstance(v, Constant) and not v.name:
            e = _constant_expr(v)
        elif v.name:
            first = owner_of_name.setdefault(v.name, id(v)) == id(v)
            e = sympy.Symbol(v.name, real=True) if first else _Twin(v.name, real=True)
        else:
            unnamed[0] += 1
            e = sympy.Symbol(f"v_{unnamed[0]}", real=True)
        exprs[id(v)] = e
        return e

    # the named variables' own graphs are walked too: with optimize=True they are not in the
    # rewritten graph, but their formulas still are
    for node in toposort(roots + list(names)):
        args = [expr_of(v) for v in node.inputs]
        for out, e in zip(node.outputs, _node_exprs(node, args, expr_of)):
            exprs.setdefault(id(out), e)
    result = expr_of(roots[0])
    # the biggest formulas first, so a name whose formula contains another's still matches
    for formula, name in sorted(((expr_of(k), v) for k, v in names.items()),
                                key=lambda item: -sympy.count_ops(item[0])):
        result = _abbreviate(result, formula, _Raw(name))
    return _integral_floats(result)


def _abbreviate(expr, formula, symbol):
    """``formula`` replaced by ``symbol`` in ``expr``, also where a sum or product contains the
    terms of ``formula`` among others (``h w + b - y`` with ``yhat = h w + b`` gives ``yhat - y``)."""
    expr = expr.xreplace({formula: symbol})
    if not (formula.is_Add or formula.is_Mul):
        return expr
    kind = type(formula)
    parts = set(formula.args)

    def contains(e) -> bool:
        return type(e) is kind and parts < set(e.args)

    expr = expr.replace(contains, lambda e: kind(symbol, *(a for a in e.args if a not in parts)))
    if formula.is_Add:  # sympy distributes numbers over sums: 2*(a + b) is stored as 2a + 2b
        expr = expr.replace(lambda e: e.is_Add and _scaled_part(e, formula) is not None,
                            lambda e: _scaled_part(e, formula) * symbol
                            + sympy.Add(*(a for a in e.args if a not in {_scaled_part(e, formula) * t
                                                                         for t in formula.args})))
    return expr


def _scaled_part(e, formula):
    """The number k such that every term of ``formula`` times k is a term of the sum ``e``, or None."""
    terms = set(e.args)
    first = next((f for f in formula.args if not f.is_Number), formula.args[0])
    for t in e.args:
        k = t / first
        if k.is_Number and k != 1 and all(k * f in terms for f in formula.args):
            return k
    return None


def _for_display(expr, simplify: bool):
    """Notation only, never different math: ``1/(1 + e^{-t})`` is written ``sigma(t)`` and, with
    ``simplify``, common factors are pulled out of sums (``a/n - b/n`` -> ``(a - b)/n``)."""
    expr = canonical_sigmoid(expr)
    if simplify and sympy.count_ops(expr) <= _MAX_SIMPLIFY_OPS:
        expr = sympy.factor_terms(expr, sign=False)
    return expr


_MAX_SIMPLIFY_OPS = 2000  # factor_terms is cheap, but not on formulas nobody would read


def latex(var: Variable, optimize: bool = False, names: dict | None = None, simplify: bool = True) -> str:
    """The math computing ``var`` as a LaTeX string (via sympy).

    ``optimize=True`` prints the graph after symgrad's rewrites (fusion and stabilization), which
    is often the simpler formula: the logistic-regression gradient reads ``\\sigma(z) - y``.
    ``names`` maps variables (inputs or intermediate results) to LaTeX names, e.g. ``{h: "h"}``
    to show a hidden layer by its name instead of its formula. ``simplify`` pulls common factors
    out of sums (display only; the graph is not changed).

    >>> import symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> latex(T.exp(x) / 2)
    '\\\\frac{e^{x}}{2}'
    """
    if not isinstance(simplify, bool):
        raise TypeError(f"latex: simplify must be True or False, got {simplify!r}")
    if not isinstance(optimize, bool):
        raise TypeError(f"latex: optimize must be True or False, got {optimize!r}")
    return _Printer().doprint(_for_display(to_sympy(var, optimize, names), simplify))
