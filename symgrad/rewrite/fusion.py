"""Elementwise fusion: a tree of Elemwise nodes becomes one node whose expression is the sympy
substitution of the inner expressions into the outer one.

An inner node is inlined when its output has one consumer, or when its expression is small
(recomputing ``1/(1+exp(-z))`` is cheaper than materialising it, and fusing it everywhere lets
the stabilizer see whole formulas such as a sigmoid inside a log). Where numpy's natural dtype of
the inner expression differs from its declared dtype, or the inner node's dtype differs from the
outer node's (a float32 product inside a float64 formula), the inlined expression keeps an explicit
cast, so fused and unfused graphs round the same way on every backend.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> (y,) = fuse([T.log(1 + T.exp(x)) * 2])
>>> y.owner.op.expr
2*log(exp(x0) + 1)
"""
from __future__ import annotations

from functools import lru_cache

import sympy

from .. import scalar as S
from ..graph import Variable, clients, rebuild_graph
from ..scalar.evaluate import natural_dtype
from ..scalar.memo import EXPAND, SubexpressionMemo
from ..tensor.elemwise import Elemwise

SMALL_EXPR_OPS = 8  # inner expressions this small are recomputed in every consumer
MAX_FUSED_OPS = 400  # stop growing a fused expression past this size
MAX_FUSED_INPUTS = 32
MAX_FUSED_DEPTH = 32  # nesting depth: sympy, its printers and Python's parser all recurse on it


def fuse(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with maximal trees of elementwise nodes fused into single nodes."""
    users = clients(outputs)
    is_output = {id(v) for v in outputs}

    def fuse_node(node, inputs):
        if not isinstance(node.op, Elemwise):
            return None
        expr, leaves, subs = _substitute(node, inputs, users, is_output, natural_dtype, frozenset())
        lost = _lost_domain(node.op.expr, subs, expr)
        if lost:
            expr, leaves, _ = _substitute(node, inputs, users, is_output, natural_dtype, lost)
        return Elemwise(expr, len(leaves), node.op.dtype).make_node(*leaves)

    return rebuild_graph(outputs, fuse_node)


def _substitute(node, inputs, users, is_output, natural_dtype, keep_apart: frozenset):
    """The fused expression of ``node`` (inner Elemwise expressions substituted, except the inputs
    at positions ``keep_apart``), its leaves, and the substitution used."""
    leaves: list[Variable] = []
    subs = {}
    inline = []
    n_leaves = 0
    for k, (orig, v) in enumerate(zip(node.inputs, inputs)):
        inner = v.owner
        single_use = len(users.get(id(orig), ())) == 1 and id(orig) not in is_output
        ok = (k not in keep_apart and isinstance(getattr(inner, "op", None), Elemwise)
              and (single_use or _ops(inner.op.expr) <= SMALL_EXPR_OPS)
              and _ops(inner.op.expr) <= MAX_FUSED_OPS
              and _depth(inner.op.expr) <= MAX_FUSED_DEPTH
              and n_leaves + len(inner.inputs) <= MAX_FUSED_INPUTS)
        inline.append(ok)
        n_leaves += len(inner.inputs) if ok else 1
    # Once expressions are merged, sympy may regroup x32 * (x32 / n) into x32**2 / n; numpy
    # computes that product in float64. Leaves narrower than the operation that reads them are
    # therefore widened explicitly (a cast is a function, so sympy cannot regroup across it).
    widen = any(inline)
    for k, (orig, v) in enumerate(zip(node.inputs, inputs)):
        inner = v.owner
        if inline[k]:
            mapping = {S.arg(j): _leaf(leaves, iv, inner.op.dtype) for j, iv in enumerate(inner.inputs)}
            expr = inner.op.expr
            if any(a is not b for a, b in mapping.items()):  # often the identity: skip the walk
                expr = expr.xreplace(mapping)
            natural = natural_dtype(inner.op.expr, tuple(iv.dtype for iv in inner.inputs))
            # Keep the inner result's own rounding (a float32 product inside a float64 formula,
            # int8 wrap-around): a cast is a function, so sympy cannot flatten across it.
            if natural != inner.op.dtype or (inner.op.dtype not in (node.op.dtype, "bool")):
                expr = S.cast_to(inner.op.dtype)(expr)
            subs[S.arg(k)] = expr
        else:
            subs[S.arg(k)] = _leaf(leaves, v, node.op.dtype if widen else None)
    return node.op.expr.xreplace(subs), leaves, subs


@lru_cache(maxsize=4096)
def _domain_atoms(expr: sympy.Expr) -> frozenset:
    """Subexpressions that are NaN for some real arguments: logs and non-integer powers (one walk
    over the distinct subexpressions; ``expr.atoms`` twice: the 200-deep chain's build 3.0 s, now 2.75)."""
    found, seen, stack = set(), set(), [expr]
    while stack:
        e = stack.pop()
        if e.is_Atom or e in seen:
            continue
        seen.add(e)
        if isinstance(e, sympy.log) or (e.is_Pow and e.exp.is_integer is not True):
            found.add(e)
        stack.extend(e.args)
    return frozenset(found)


def _lost_domain(outer: sympy.Expr, subs: dict, fused: sympy.Expr) -> frozenset:
    """Positions of inlined inputs whose logs or roots sympy simplified away in ``fused``
    (``exp(log(u))`` is ``u``, ``sqrt(u)**2`` is ``u``, for every real ``u``), where numpy gives
    NaN for negative ``u``; those inputs stay separate nodes."""
    used = outer.free_symbols
    present = None
    lost = set()
    for sym, expr in subs.items():
        if sym not in used or expr.is_Symbol:
            continue
        atoms = _domain_atoms(expr)
        if atoms:
            present = _domain_atoms(fused) if present is None else present
            if not atoms <= present:
                lost.add(S.arg_index(sym))
    return frozenset(lost)


# sympy.count_ops is slow on large expressions, and fusion asks about deep ones at every step (a
# 200-node chain: about a quarter of its build). Its exact count only matters near SMALL_EXPR_OPS:
# past this many operation nodes an expression is counted by its nodes, which is within a small
# factor of count_ops (``x - y`` is two nodes, Add and Mul(-1, y), and one operation) and far above
# SMALL_EXPR_OPS either way.
_EXACT_COUNT_NODES = 40


@lru_cache(maxsize=4096)
def _ops(expr: sympy.Expr) -> int:
    """sympy's operation count for small expressions; for large ones the number of operation nodes
    (each occurrence, as count_ops counts), counted up to just past MAX_FUSED_OPS."""
    nodes, stack = 0, [expr]
    while stack:
        e = stack.pop()
        if e.is_Atom:
            continue
        nodes += 1
        if nodes > MAX_FUSED_OPS:
            break
        stack.extend(e.args)
    return nodes if nodes > _EXACT_COUNT_NODES else sympy.count_ops(expr)


# Nesting depth of an expression tree (an atom: 0), remembered per subexpression across calls.
_depth = SubexpressionMemo(lambda e: EXPAND if e.args else 0, lambda e, answers: 1 + max(answers))


def _leaf(leaves: list[Variable], v: Variable, dtype: str | None = None) -> sympy.Expr:
    """The symbol of leaf ``v`` (added if new), cast to ``dtype`` when it is a float computation
    reading a narrower number (float32, int)."""
    for j, seen in enumerate(leaves):
        if seen is v:
            break
    else:
        leaves.append(v)
        j = len(leaves) - 1
    if dtype is not None and dtype[0] == "f" and v.dtype != dtype and v.dtype[0] in "iuf":
        return S.cast_to(dtype)(S.arg(j))
    return S.arg(j)
