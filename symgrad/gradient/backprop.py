"""The reverse sweep: ``grad``, and ``_backprop`` behind it and behind ``Lop``/``Rop``/``jacobian``.

``grad`` is micrograd's loop on a graph: sort the nodes, walk them backwards, and accumulate each
input's gradient. Each node's contribution comes from its op's rule in ``VJP_RULES``
(:mod:`symgrad.gradient.vjp_rules`), and :func:`match_type` undoes broadcasting on the way.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ..graph import Variable, toposort
from ..tensor import elemwise as E
from ..tensor.indexing import IncSubtensor
from ..tensor.variable import as_tensor_variable, constant
from .vjp_rules import VJP_RULES, match_type


class DisconnectedInputError(ValueError):
    """``grad`` was asked for the gradient with respect to a variable the cost does not depend on."""


def grad(cost, wrt, consider_constant=None, disconnected_inputs: str = "raise"):
    """Gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list of them).

    ``consider_constant``: variables through which no gradient flows. ``disconnected_inputs``:
    what to do when ``cost`` does not depend on a ``wrt`` ("raise", "warn" or "ignore"; the last two
    return zeros).

    >>> import symgrad.tensor as T
    >>> w = T.dvector("w")
    >>> grad((w ** 2).sum(), w).type
    TensorType(float64, vector)
    """
    cost = as_tensor_variable(cost)
    if cost.ndim != 0:
        raise TypeError(f"grad: cost must be a scalar (0-d), got {cost.label()} ({cost.type.describe()}); "
                        "reduce it first, e.g. cost.sum() or cost.mean()")
    if cost.dtype[0] != "f":
        raise TypeError(f"grad: cost must be a float scalar, got {cost.type.describe()}")
    single, wrt_list = _wrt_list(wrt, "grad")
    results = _backprop([(cost, constant(np.ones((), cost.dtype)))], wrt_list, consider_constant,
                        disconnected_inputs, "grad", f"cost {cost.label()}")
    return results[0] if single else results


def _wrt_list(wrt, who: str) -> tuple[bool, list]:
    """(was a single variable, the variables as a list), checking each is symbolic."""
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for i, w in enumerate(wrt_list):
        if not isinstance(w, Variable):
            raise TypeError(f"{who}: wrt[{i}] must be a symbolic variable, got {type(w).__name__}")
    return single, wrt_list


def _scatter_into_zeros(v: Variable):
    """The IncSubtensor node of ``v`` if ``v`` is ``inc_subtensor(zeros_like(x), g, idx)`` (how
    indexing's gradient scatters ``g``), else None."""
    node = v.owner
    if node is None or not isinstance(node.op, IncSubtensor) or node.op.set_instead_of_inc:
        return None
    base = node.inputs[0].owner
    if base is None or not isinstance(base.op, E.Elemwise) or base.op.expr != 0:
        return None
    return node


def _accumulate(prev: Variable, g: Variable) -> Variable:
    """``prev + g`` for two gradients of one variable. When one of them scatters into zeros (the
    gradient of an indexed read), the other is added into directly: an LSTM's four gate slices of one
    matrix give one zeros and four in-place increments instead of four zero matrices and their sum."""
    for a, b in ((prev, g), (g, prev)):
        node = _scatter_into_zeros(b)
        if node is not None and a.type == b.type:
            return node.op(a, *node.inputs[1:])
    return E.add(prev, g)


def _backprop(seeds: Sequence[tuple[Variable, Variable]], wrt_list: Sequence[Variable], consider_constant,
              disconnected_inputs: str, who: str, what: str) -> list[Variable]:
    """The reverse sweep behind ``grad`` and ``Lop``: ``seeds`` are (variable, its given gradient)
    pairs; returns sum over seeds of (seed gradient · d variable / d w) for each ``w``."""
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"{who}: disconnected_inputs must be 'raise', 'warn' or 'ignore', got {disconnected_inputs!r}")
    stop = {id(v) for v in (consider_constant or [])}
    roots = [v for v, _ in seeds]
    order = toposort(roots)
    # Variables that depend on some wrt: only their gradients are needed.
    needed = {id(w) for w in wrt_list}
    for node in order:
        if any(id(v) in needed and id(v) not in stop for v in node.inputs):
            needed.update(id(o) for o in node.outputs)

    grads: dict[int, Variable] = {}
    for v, g in seeds:
        grads[id(v)] = g if id(v) not in grads else E.add(grads[id(v)], g)
    for node in reversed(order):
        out_grads = [grads.get(id(o)) for o in node.outputs]
        if all(g is None for g in out_grads):
            continue
        if not any(id(v) in needed and id(v) not in stop for v in node.inputs):
            continue
        rule = VJP_RULES.get(type(node.op))
        if rule is None:
            raise NotImplementedError(f"{who}: no gradient rule for {node.op}")
        for inp, g in zip(node.inputs, rule(node, *out_grads)):
            if g is None or id(inp) not in needed or id(inp) in stop or inp.dtype[0] != "f":
                continue
            g = match_type(g, inp)
            prev = grads.get(id(inp))
            grads[id(inp)] = g if prev is None else _accumulate(prev, g)

    ancestors = {id(v) for v in roots} | {id(v) for n in order for v in n.inputs}
    results = []
    for w in wrt_list:
        g = grads.get(id(w))
        if g is None:
            if id(w) not in ancestors and disconnected_inputs != "ignore":
                msg = (f"{who}: {what} does not depend on {w.label()} ({w.type.describe()}); "
                       "pass disconnected_inputs='ignore' to get zeros instead")
                if disconnected_inputs == "raise":
                    raise DisconnectedInputError(msg)
                warnings.warn(msg, stacklevel=3)
            dtype = w.dtype if w.dtype[0] == "f" else "float64"
            g = E.zeros_like(w, dtype)
        results.append(g)
    return results

