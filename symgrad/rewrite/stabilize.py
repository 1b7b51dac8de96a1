"""Numerical stabilization of fused elementwise expressions, by exact algebra in sympy.

Formulas built from ``exp`` overflow or cancel catastrophically when written naively: the
chain-rule gradient of a sigmoid cross-entropy contains ``(1 - y) / (1 - p)`` times ``p (1 - p)``,
which is ``0 * inf`` once ``p`` rounds to 1. After fusion the whole formula is one sympy
expression, so it can be rewritten exactly:

1. sigmoid and softplus are expanded to ``exp``/``log``; every ``exp`` must be ``exp(k*u)`` for
   one argument ``u`` and integers k, so the formula is a rational function of ``E = exp(u)``;
2. each ``log(R(E))`` is factored into ``log`` of linear factors: ``log(E) = u``,
   ``log(1 + E) = softplus(u)``;
3. the remaining terms with ``E`` are combined and split into partial fractions in ``E``:
   ``c / (1 + E) = c * sigmoid(-u)``, ``E**k = exp(k*u)``.

The result is mathematically identical and finite wherever the true value is. The work is
bounded (expression size, degree) and cached per expression; when a formula does not fit the
pattern it is left as it is.

>>> import sympy
>>> from symgrad.scalar import arg
>>> z, y = arg(0), arg(1)
>>> p = 1 / (1 + sympy.exp(-z))
>>> stabilize(-y * sympy.log(p) - (1 - y) * sympy.log(1 - p))
x1*softplus(-x0) + (1 - x1)*softplus(x0)
"""
from __future__ import annotations

from functools import lru_cache

import sympy

from .. import scalar as S
from ..graph import Variable, rebuild_graph
from ..tensor.elemwise import Elemwise

MAX_OPS = 300
MAX_DEGREE = 6


def stabilize_graph(outputs: list[Variable]) -> list[Variable]:
    """Replace each Elemwise node's expression by its stabilized form (when that changes it)."""
    return rebuild_graph(outputs, _stabilize_node)


def _stabilize_node(node, inputs):
    op = node.op
    if not isinstance(op, Elemwise):
        return None
    expr = canonical_sigmoid(op.expr)
    if op.dtype[0] == "f":
        expr = stabilize(expr)
    return Elemwise(expr, op.nin, op.dtype).make_node(*inputs) if expr != op.expr else None


def _is_logistic(e) -> bool:
    return (e.is_Pow and e.exp == -1 and e.base.is_Add and len(e.base.args) == 2 and sympy.S.One in e.base.args
            and any(isinstance(a, sympy.exp) for a in e.base.args))


@lru_cache(maxsize=2048)
def canonical_sigmoid(expr: sympy.Expr) -> sympy.Expr:
    """``1/(1 + exp(-t))`` written as ``sigmoid(t)`` (any dtype; cheap, structural).

    >>> from symgrad.scalar import arg, gt
    >>> canonical_sigmoid(gt(1 / (1 + sympy.exp(-arg(0))), 0.5))
    gt(sigmoid(x0), 0.5)
    """
    if not expr.has(sympy.exp):
        return expr
    return expr.replace(_is_logistic, lambda e: S.sigmoid(-next(a for a in e.base.args
                                                                   if isinstance(a, sympy.exp)).args[0]))


@lru_cache(maxsize=2048)
def stabilize(expr: sympy.Expr) -> sympy.Expr:
    """The stable form of ``expr`` (or ``expr`` itself if it needs none or does not fit)."""
    if not expr.has(sympy.exp, S.sigmoid, S.softplus) or sympy.count_ops(expr) > MAX_OPS:
        return expr
    try:
        result = _stabilize(expr)
    except (sympy.polys.polyerrors.BasePolynomialError, ValueError, TypeError,
            NotImplementedError, ZeroDivisionError, RecursionError):
        # BasePolynomialError: also PolynomialDivisionFailed, which sympy raises when float
        # coefficients (softplus(z) + 0.1) hide whether a remainder is zero
        return expr
    return expr if result is None else result


def _stabilize(expr):
    e = expr.replace(S.sigmoid, lambda a: 1 / (1 + sympy.exp(-a)))
    e = e.replace(S.softplus, lambda a: sympy.log(1 + sympy.exp(a)))
    exps = sorted(e.atoms(sympy.exp), key=sympy.default_sort_key)
    if not exps:
        return None
    u = exps[0].args[0]
    if u.could_extract_minus_sign():
        u = -u
    E = sympy.Dummy("E", positive=True)
    powers = {}
    for atom in exps:
        k = sympy.cancel(atom.args[0] / u)
        if not (k.is_Integer and abs(int(k)) <= MAX_DEGREE):
            return None  # several unrelated exponentials: not a pattern we know
        powers[atom] = E ** k
    e = e.xreplace(powers)
    if not _needs_work(e, E):
        return None
    e = e.replace(lambda t: isinstance(t, sympy.log) and t.args[0].has(E), lambda t: _stable_log(t.args[0], E, u))
    terms = sympy.Add.make_args(e)
    with_e = [t for t in terms if t.has(E)]
    free = [t for t in terms if not t.has(E)]
    if with_e:
        rational = sympy.cancel(sympy.together(sympy.Add(*with_e)))
        num, den = sympy.fraction(rational)
        if not (_polynomial_in(num, E) and _polynomial_in(den, E)):
            return None
        if sympy.degree(den, E) > 0:
            rational = sympy.apart(rational, E)
        with_e = []
        for t in sympy.Add.make_args(rational):
            (with_e if t.has(E) else free).append(t)
        with_e, free = _prefer_sigmoid_of_u(with_e, free, E, u)
        paired = _sigmoid_product(with_e, E, u)
        with_e = paired if paired is not None else [_back_to_exp(t, E, u) for t in with_e]
    result = sympy.Add(*with_e, *free)
    if result.has(E):
        return None
    return result


def _prefer_sigmoid_of_u(with_e, free, E, u):
    """P0 + c/(1+E) = (P0 + c) - c*sigmoid(u): take that form when P0 + c is simpler.

    This is what turns the cross-entropy gradient ``1 - y - sigmoid(-z)`` into ``sigmoid(z) - y``.
    """
    simple = [t for t in with_e if sympy.fraction(t)[1].as_base_exp() == (E + 1, 1)
              and not sympy.fraction(t)[0].has(E)]
    if len(simple) != 1 or not free:
        return with_e, free
    c = sympy.fraction(simple[0])[0]
    p0 = sympy.Add(*free)
    alt = sympy.expand(p0 + c)
    # alt == 0 has no terms at all (sigmoid(u) itself: 1 - sigmoid(-u) would lose precision for u << 0)
    n_alt = 0 if alt == 0 else len(sympy.Add.make_args(alt))
    if n_alt >= len(sympy.Add.make_args(sympy.expand(p0))):
        return with_e, free
    rest = [t for t in with_e if t is not simple[0]]
    return rest, [alt, -c * S.sigmoid(u)]


def _sigmoid_product(with_e, E, u):
    """``sum_k c_k t**k`` with ``t = 1/(1+E) = sigmoid(-u)`` and a factor ``1 - t = sigmoid(u)``: write it
    ``sigmoid(u) * Q(sigmoid(-u))``, or None.

    The sigmoid's derivative ``t - t**2`` becomes ``sigmoid(u)*sigmoid(-u)``, accurate for u of either
    sign (``t - t**2`` cancels to 0 once t rounds to 1, for u << 0).
    """
    if len(with_e) < 2:
        return None
    t = sympy.Dummy("t")
    poly = sympy.S.Zero
    for term in with_e:
        num, den = sympy.fraction(term)
        base, k = den.as_base_exp()
        if num.has(E) or not (k.is_Integer and k > 0) or sympy.expand(base - (E + 1)) != 0:
            return None
        poly += num * t ** k
    q, r = sympy.div(sympy.Poly(poly, t), sympy.Poly(1 - t, t))
    if not r.is_zero:
        return None
    return [S.sigmoid(u) * q.as_expr().xreplace({t: S.sigmoid(-u)})]


def _needs_work(e, E) -> bool:
    """Only rewrite formulas with a log of exponentials or an exponential in a denominator."""
    for t in sympy.preorder_traversal(e):
        if isinstance(t, sympy.log) and t.args[0].has(E):
            return True
        if isinstance(t, sympy.Pow) and t.exp.is_negative and t.base.has(E) and t.base != E:
            return True
    return False


def _polynomial_in(p, E) -> bool:
    try:
        return sympy.Poly(p, E).degree() <= MAX_DEGREE
    except sympy.PolynomialError:
        return False


def _stable_log(arg, E, u):
    """log of a rational function of E, as a sum of u, softplus(u) and logs of E-free factors.

    ``k*u - k*softplus(u)`` (from ``log(E / (1 + E))``) is written ``-k*softplus(-u)``, which keeps
    full relative precision where ``u`` is large.
    """
    num, den = sympy.fraction(sympy.cancel(sympy.together(arg)))
    e_num, sp_num, rest_num = _log_of_polynomial(num, E)
    e_den, sp_den, rest_den = _log_of_polynomial(den, E)
    n_e, n_sp = e_num - e_den, sp_num - sp_den
    out = rest_num - rest_den
    if n_e * n_sp < 0:
        m = min(abs(n_e), abs(n_sp))
        sign = 1 if n_e > 0 else -1
        out += -sign * m * S.softplus(-u)
        n_e -= sign * m
        n_sp += sign * m
    return out + n_e * u + n_sp * S.softplus(u)


def _log_of_polynomial(p, E):
    """(power of E, power of 1 + E, log of the rest) for a polynomial p in E."""
    coeff, factors = sympy.factor_list(p, E)
    rest = sympy.log(coeff) if coeff != 1 else sympy.S.Zero
    n_e = n_sp = 0
    for f, mult in factors:
        if f == E:
            n_e += mult
        elif sympy.expand(f - (E + 1)) == 0:
            n_sp += mult
        elif not f.has(E):
            rest += mult * sympy.log(f)
        else:
            poly = sympy.Poly(f, E)
            if poly.degree() == 1 and poly.coeffs()[1] != 0 and sympy.cancel(poly.coeffs()[0] / poly.coeffs()[1]) == 1:
                rest += mult * sympy.log(poly.coeffs()[1])  # b*E + b = b * (1 + E)
                n_sp += mult
                continue
            raise ValueError("log of a polynomial without a stable form")
    return n_e, n_sp, rest


def _back_to_exp(term, E, u):
    """One partial-fraction term back in terms of u: c/(E+1)**k -> c*sigmoid(-u)**k."""
    num, den = sympy.fraction(term)
    out_den = sympy.S.One
    for factor in sympy.Mul.make_args(den):
        base, mult = factor.as_base_exp()
        if base.has(E):
            if sympy.expand(base - (E + 1)) == 0:
                num = num * S.sigmoid(-u) ** mult
                continue
            if base == E:
                num = num * sympy.exp(-mult * u)
                continue
            raise ValueError("denominator without a stable form")
        out_den *= base ** mult
    num = num.replace(lambda t: t == E or (isinstance(t, sympy.Pow) and t.base == E),
                      lambda t: sympy.exp(u) if t == E else sympy.exp(t.exp * u))
    return num / out_den
