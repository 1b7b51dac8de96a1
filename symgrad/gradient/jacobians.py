"""Theano's Jacobian products and matrices on top of the reverse sweep: ``Lop`` (vector times
Jacobian), ``Rop`` (Jacobian times vector), ``jacobian`` and ``hessian``.

``Lop`` is the sweep seeded with given output gradients; ``Rop`` is two of them (the first is
linear in its seed). ``jacobian`` runs the sweep once with a symbolic seed and then batches that
graph over the rows of an identity matrix (:func:`symgrad.gradient.batching.batch_graph`), so
there is no loop and no per-element copy of the graph.
"""
from __future__ import annotations

import warnings

from ..graph import Variable, clone_replace, toposort
from ..tensor import elemwise as E
from ..tensor.shape import arange, dimshuffle, shape
from ..tensor.variable import as_tensor_variable
from .backprop import DisconnectedInputError, _backprop, _wrt_list, grad
from .batching import batch_graph


def _format_as(like, results: list):
    """Theano's return convention: a list for a list, a tuple for a tuple, else one variable."""
    if isinstance(like, list):
        return list(results)
    if isinstance(like, tuple):
        return tuple(results)
    return results[0]


def _as_list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs: str = "raise") -> Variable | list | tuple:
    """The L-operator: ``eval_points`` (shaped like ``f``) times the Jacobian of ``f`` w.r.t. ``wrt``.

    ``f`` and ``eval_points`` may be lists (paired one to one; the products are summed). The
    result has the shape of each ``wrt`` and follows its form (a list for a list, a tuple for a
    tuple, else one variable). ``consider_constant`` and ``disconnected_inputs`` as in :func:`grad`.

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> W, v, x = T.dmatrix("W"), T.dvector("v"), T.dvector("x")
    >>> vJ = Lop(T.dot(x, W), W, v)
    >>> sg.function([v, x], vJ, mode="numpy")([2.0, 2.0], [0.0, 1.0])
    array([[0., 0.],
           [2., 2.]])
    """
    fs, points = _as_list(f), _as_list(eval_points)
    if len(fs) != len(points):
        raise ValueError(f"Lop: f has {len(fs)} expression(s) but eval_points has {len(points)}")
    seeds = []
    for i, (fi, vi) in enumerate(zip(fs, points)):
        fi, vi = as_tensor_variable(fi), as_tensor_variable(vi)
        if fi.dtype[0] != "f":
            raise TypeError(f"Lop: f[{i}] {fi.label()} must be a float tensor, got {fi.type.describe()}")
        if vi.ndim != fi.ndim:
            raise ValueError(f"Lop: eval_points[{i}] {vi.label()} ({vi.type.describe()}) must have the rank of "
                             f"f[{i}] {fi.label()} ({fi.type.describe()})")
        seeds.append((fi, E.cast(vi, fi.dtype)))
    _, wrt_list = _wrt_list(wrt, "Lop")
    what = f"f {fs[0].label()}" if len(fs) == 1 else "f"
    return _format_as(wrt, _backprop(seeds, wrt_list, consider_constant, disconnected_inputs, "Lop", what))


def Rop(f, wrt, eval_points, disconnected_outputs: str = "raise",
        return_disconnected: str = "zero") -> Variable | list | tuple:
    """The R-operator: the Jacobian of ``f`` w.r.t. ``wrt`` times ``eval_points`` (shaped like ``wrt``).

    ``wrt`` and ``eval_points`` may be lists (paired one to one; the products are summed). The
    result has the shape of each ``f`` and follows its form. An ``f`` that depends on no ``wrt``
    raises (``disconnected_outputs="raise"``), warns or is ignored; its result is then zeros
    (``return_disconnected="zero"``) or None (``"None"``).

    Computed as two L-operators: with ``u`` shaped like ``f``, ``Lop(f, wrt, u)`` is linear in
    ``u``, and its L-operator w.r.t. ``u`` at ``eval_points`` is J·v. The rewrites then simplify it.

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> W, V, x = T.dmatrix("W"), T.dmatrix("V"), T.dvector("x")
    >>> JV = Rop(T.dot(x, W), W, V)
    >>> sg.function([V, x], JV, mode="numpy")([[2.0, 2.0], [2.0, 2.0]], [0.0, 1.0])
    array([2., 2.])
    """
    if disconnected_outputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"Rop: disconnected_outputs must be 'raise', 'warn' or 'ignore', got {disconnected_outputs!r}")
    if return_disconnected not in ("zero", "None"):
        raise ValueError(f"Rop: return_disconnected must be 'zero' or 'None', got {return_disconnected!r}")
    fs = [as_tensor_variable(fi) for fi in _as_list(f)]
    _, wrt_list = _wrt_list(wrt, "Rop")
    points = [as_tensor_variable(v) for v in _as_list(eval_points)]
    if len(wrt_list) != len(points):
        raise ValueError(f"Rop: wrt has {len(wrt_list)} variable(s) but eval_points has {len(points)}")
    for i, (w, v) in enumerate(zip(wrt_list, points)):
        if w.ndim != v.ndim:
            raise ValueError(f"Rop: wrt[{i}] {w.label()} ({w.type.describe()}) and eval_points[{i}] {v.label()} "
                             f"({v.type.describe()}) have different ranks")
    for i, fi in enumerate(fs):
        if fi.dtype[0] != "f":
            raise TypeError(f"Rop: f[{i}] {fi.label()} must be a float tensor, got {fi.type.describe()}")
    wrt_ids = {id(w) for w in wrt_list}
    connected = []
    for i, fi in enumerate(fs):
        deps = {id(fi)} | {id(v) for n in toposort([fi]) for v in n.inputs}
        connected.append(bool(deps & wrt_ids))
        if not connected[-1] and disconnected_outputs != "ignore":
            msg = (f"Rop: f[{i}] {fi.label()} does not depend on any of wrt {[w.label() for w in wrt_list]}; "
                   "pass disconnected_outputs='ignore' to get zeros")
            if disconnected_outputs == "raise":
                raise DisconnectedInputError(msg)
            warnings.warn(msg, stacklevel=2)
    dummies = [fi.type(f"Rop_u{i}") for i, fi in enumerate(fs)]
    vjps = _backprop(list(zip(fs, dummies)), wrt_list, None, "ignore", "Rop", "f")
    seeds = [(g, E.cast(v, g.dtype)) for g, v in zip(vjps, points) if g.dtype[0] == "f"]
    results = _backprop(seeds, dummies, None, "ignore", "Rop", "f")
    # J^T u is linear in u: its derivative never needs u's values, at most its shape (f's)
    results = clone_replace(results, {u: E.zeros_like(fi) for u, fi in zip(dummies, fs)})
    out = [r if ok or return_disconnected == "zero" else None for r, ok in zip(results, connected)]
    return _format_as(f, out)


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs: str = "raise") -> Variable | list | tuple:
    """The Jacobian of a vector ``expression``: for each ``wrt``, a tensor of shape
    ``(len(expression),) + wrt.shape`` whose row i is ``grad(expression[i], wrt)``.

    A scalar ``expression`` gives its gradient. ``wrt`` may be a list (the result is then a list).
    Built without a loop: the reverse sweep runs once on the identity matrix, every step carrying
    one row per output element (see :func:`batch_graph`), so the graph does not grow with the
    length of ``expression``, which may be symbolic.

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> sg.function([x], jacobian(x ** 2, x), mode="numpy")([4.0, 4.0])
    array([[8., 0.],
           [0., 8.]])
    """
    expression = as_tensor_variable(expression)
    _, wrt_list = _wrt_list(wrt, "jacobian")
    if expression.ndim == 0:
        return _format_as(wrt, [grad(expression, w, consider_constant, disconnected_inputs) for w in wrt_list])
    if expression.ndim != 1:
        raise TypeError(f"jacobian: expression {expression.label()} must be a vector (or a scalar), got a "
                        f"{expression.type.describe()}; flatten it first")
    if expression.dtype[0] != "f":
        raise TypeError(f"jacobian: expression {expression.label()} must be a float vector, got "
                        f"{expression.type.describe()}")
    seed = expression.type("jacobian_row")
    rows = _backprop([(expression, seed)], wrt_list, consider_constant, disconnected_inputs, "jacobian",
                     f"expression {expression.label()}")
    n = shape(expression)[0]
    index = arange(n)
    identity = E.cast(E.eq(dimshuffle(index, (0, "x")), dimshuffle(index, ("x", 0))), expression.dtype)
    if expression.broadcastable[0]:
        identity = identity.reshape((n, 1))
    return _format_as(wrt, batch_graph(rows, seed, identity))


def hessian(cost, wrt, consider_constant=None, disconnected_inputs: str = "raise") -> Variable | list | tuple:
    """The Hessian of the scalar ``cost`` for each vector in ``wrt``: ``jacobian(grad(cost, w), w)``,
    an (n, n) matrix (a list of them for a list).

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> sg.function([x], hessian((x ** 2).sum(), x), mode="numpy")([4.0, 4.0])
    array([[2., 0.],
           [0., 2.]])
    """
    cost = as_tensor_variable(cost)
    if cost.ndim != 0:
        raise TypeError(f"hessian: cost must be a scalar (0-d), got {cost.label()} ({cost.type.describe()})")
    _, wrt_list = _wrt_list(wrt, "hessian")
    results = []
    for i, w in enumerate(wrt_list):
        if w.ndim != 1:
            raise TypeError(f"hessian: wrt[{i}] {w.label()} must be a vector, got a {w.type.describe()}")
        g = grad(cost, w, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
        results.append(jacobian(g, w, consider_constant=consider_constant, disconnected_inputs="ignore"))
    return _format_as(wrt, results)

