"""Scalar expressions printed inside a kernel's loops: shared subexpressions become temporaries,
and sigmoid/softplus of the same argument share one ``exp`` and one ``log1p``; each expression is
then printed through :class:`~.scalarprint.ScalarPrinter`. Used by the elementwise emitter
(emitters.py) and by the row passes (rowpass.py).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import sympy

from ... import scalar as S
from .emit import Emitter
from .scalarprint import ScalarPrinter, base_copies, fast_exp

@lru_cache(maxsize=8192)
def _cse(exprs: tuple) -> tuple[tuple, tuple]:
    """(logistic groups, shared subexpressions in dependency order) for ``exprs``; cached, since the
    same fused expressions recur across graphs.

    Nothing is rebuilt: rebuilding a sympy expression re-evaluates its functions and can make
    sympy's assumption system explode on nested functions (tanh of tanh of ...). Shared
    subexpressions are found on the expression DAG (a node with two or more uses) and are
    substituted by the printer. A use is a parent edge, counted once per copy the printer writes
    (``x**2`` is ``x*x``), an output (each expression is used once by its own), or a logistic
    group (it prints its argument once, and its calls print as its names).

    A logistic group is an argument ``a`` with two or more of sigmoid(a), sigmoid(-a),
    softplus(a), softplus(-a) among the expressions: they are computed from one ``exp(-|a|)`` and
    one ``log1p`` (see :func:`_emit_logistic`).
    """
    calls: dict = {}
    for e in exprs:
        for atom in e.atoms(S.sigmoid, S.softplus):
            a = atom.args[0]
            base, sign = (-a, -1) if a.could_extract_minus_sign() else (a, 1)
            calls.setdefault(base, {})[(type(atom).__name__, sign)] = atom
    groups = tuple((base, tuple(sorted(kinds.items())))
                   for base, kinds in sorted(calls.items(), key=lambda kv: sympy.default_sort_key(kv[0]))
                   if len(kinds) >= 2)
    grouped = {atom for _, kinds in groups for _, atom in kinds}
    parents: dict = {base: 1 for base, _ in groups}  # read once, by its group
    for root in exprs:  # and each expression once, by its output (two equal outputs: one temporary)
        parents[root] = parents.get(root, 0) + 1
    order: list = []  # unique non-atomic nodes, children before parents
    done: set = set()
    # a grouped call prints as its group's name, and the group prints its argument once: walk the
    # group arguments as roots and not the calls' arguments (a temporary nothing reads otherwise)
    for root in tuple(base for base, _ in groups) + tuple(exprs):
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if node in done or node.is_Atom or node in grouped:
                continue
            done.add(node)
            stack.append((node, True))
            # the printer spells x**2..x**4 as x*x...: a power's base counts once per copy, so a
            # squared tanh is one call bound to a temporary, not two calls to compile
            copies = base_copies(node)
            for child in node.args:
                if not child.is_Atom:
                    parents[child] = parents.get(child, 0) + (copies if child is node.args[0] else 1)
                    stack.append((child, False))
    shared = tuple(e for e in order if parents.get(e, 0) >= 2 and e not in grouped and not e.is_Atom
                   and not (e.is_Mul and len(e.args) == 2 and e.args[0] == -1 and e.args[1].is_Atom))
    return groups, shared


def _emit_logistic(em: Emitter, printer, base, symbols, names: dict, width: str) -> None:
    """sigmoid/softplus of ±a from one exp (``fast_exp``) and one log1p, bit-identical to the
    helpers'."""
    one = "np.float32(1)" if width == "float32" else "1.0"
    a, e, d, l = (em.fresh(p) for p in ("lga", "lge", "lgd", "lgl"))
    em.emit(f"{a} = as_float({printer.doprint(base)})")
    em.emit(f"{e} = {fast_exp(f'-np.abs({a})', width)}")
    em.emit(f"{d} = {one} + {e}")
    if any(kind == "softplus" for (kind, _), _ in symbols):  # symbols: ((kind, sign), atom) pairs
        em.emit(f"{l} = np.log1p({e})")
    code = {
        ("sigmoid", 1): f"({one}/{d} if {a} >= 0 else {e}/{d})",
        ("sigmoid", -1): f"({e}/{d} if {a} > 0 else {one}/{d})",
        ("softplus", 1): f"({a} + {l} if {a} > 0 else {l})",
        ("softplus", -1): f"(-{a} + {l} if {a} < 0 else {l})",
    }
    for key, atom in symbols:
        var = em.fresh("lg")
        em.emit(f"{var} = {code[key]}")
        names[atom] = var


def scalar_codes(em: Emitter, exprs: Sequence[sympy.Expr], values: Sequence[str], float_width: str,
                 int_result: bool = False) -> list[str]:
    """Emit shared temporaries for ``exprs`` over ``values`` (code per arg); return each one's code."""
    names = {S.arg(k): v for k, v in enumerate(values)}
    groups, shared = _cse(tuple(exprs))
    printer = ScalarPrinter(float_width, names, int_result)
    for base, kinds in groups:
        _emit_logistic(em, printer, base, kinds, names, float_width)
    for e in shared:
        t = em.fresh("c")
        em.emit(f"{t} = {printer.print_top(e)}")
        names[e] = t
    return [names.get(e) or printer.print_top(e) for e in exprs]


def scalar_code(em: Emitter, expr: sympy.Expr, values: Sequence[str], float_width: str,
                int_result: bool = False) -> str:
    """:func:`scalar_codes` for one expression."""
    return scalar_codes(em, [expr], values, float_width, int_result)[0]
