"""Reverse-mode differentiation: ``grad``, the vector-Jacobian rules, and ``verify_grad``; on top of
them Theano's ``Lop``, ``Rop``, ``jacobian`` and ``hessian``.

``grad`` is micrograd's loop on a graph: sort the nodes, walk them backwards, and accumulate each
input's gradient. An ``Elemwise`` node needs no rule: its partial derivatives are
``sympy.diff`` of its expression. The structural ops each have one rule in ``VJP_RULES``.
Broadcasting is undone in one place, :func:`match_type`.

``Lop`` is the same walk seeded with given output gradients; ``Rop`` is two of them (the first is
linear in its seed). ``jacobian`` runs the walk once with a symbolic seed and then batches that
graph over the rows of an identity matrix (``batch_graph``: one rule per op type in
``BATCH_RULES``), so there is no loop and no per-element copy of the graph.

>>> import symgrad.tensor as T
>>> x = T.dscalar("x")
>>> gx = grad(x ** 3, x)
>>> float(gx.eval({x: 2.0}))
12.0
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import sympy

from . import scalar as S
from .graph import Apply, Constant, Variable, clone_replace, toposort
from .ifelse import IfElse, ifelse
from .tensor import elemwise as E
from .tensor.indexing import FULL, AdvancedSubtensor, IncSubtensor, Subtensor
from .tensor.linalg import Dot, dot, outer
from .tensor.nnet import Softmax
from .tensor.reduction import Reduce
from .tensor.shape import ARange, DimShuffle, Join, MakeVector, Reshape, Shape, dimshuffle, shape
from .tensor.shape import SpecifyShape, arange
from .tensor.variable import as_tensor_variable, constant


class DisconnectedInputError(ValueError):
    """``grad`` was asked for the gradient with respect to a variable the cost does not depend on."""


class GradientError(AssertionError):
    """``verify_grad`` found a symbolic gradient that disagrees with finite differences."""


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
            grads[id(inp)] = g if prev is None else E.add(prev, g)

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
                import warnings

                warnings.warn(msg, stacklevel=3)
            dtype = w.dtype if w.dtype[0] == "f" else "float64"
            g = E.zeros_like(w, dtype)
        results.append(g)
    return results


def match_type(g: Variable, var: Variable) -> Variable:
    """Undo broadcasting: sum ``g`` down to ``var``'s rank and broadcastable dims, cast to its dtype."""
    from .tensor.reduction import sum as tsum

    if g.ndim > var.ndim:
        g = tsum(g, axis=tuple(range(g.ndim - var.ndim)))
    axes = tuple(i for i in range(var.ndim) if var.broadcastable[i] and not g.broadcastable[i])
    if axes:
        g = tsum(g, axis=axes, keepdims=True)
    if g.ndim < var.ndim or any(gb and not vb for gb, vb in zip(g.broadcastable, var.broadcastable)):
        g = E.fill(var, g)
    if g.dtype != var.dtype:
        g = E.cast(g, var.dtype)
    return g


# --- vector-Jacobian rules: rule(node, *output_grads) -> one gradient (or None) per input ---------
@lru_cache(maxsize=8192)
def partial(expr: sympy.Expr, k: int) -> sympy.Expr:
    """d expr / d x_k, cleaned of distributions (cached: the same op is differentiated often)."""
    d = S.clean_derivative(sympy.diff(expr, S.arg(k)))
    if d.has(sympy.Derivative, sympy.Subs):
        raise NotImplementedError(f"grad: sympy could not differentiate {expr} with respect to x{k}")
    return d


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
    return E.Elemwise(expr, len(keep), dtype)(*keep)


def _elemwise_vjp(node, g):
    op = node.op
    g_sym = S.arg(op.nin)
    out = []
    for k, inp in enumerate(node.inputs):
        if inp.dtype[0] != "f":
            out.append(None)
            continue
        d = partial(op.expr, k)
        if d == 0:
            out.append(None)
            continue
        # The gradient has the output's shape: g carries it, so inputs d does not mention can go.
        out.append(make_elemwise(g_sym * d, list(node.inputs) + [g], inp.dtype))
    return out


def _dot_vjp(node, g):
    a, b = node.inputs
    if a.ndim == 1 and b.ndim == 1:
        return [g * b, g * a]
    if a.ndim == 2 and b.ndim == 1:
        return [outer(g, b), dot(a.T, g)]
    if a.ndim == 1 and b.ndim == 2:
        return [dot(b, g), outer(a, g)]
    return [dot(g, b.T), dot(a.T, g)]


def _expand(g: Variable, x: Variable, axes) -> Variable:
    """Re-insert reduced ``axes`` into ``g`` as broadcastable dims."""
    pattern, k = [], 0
    for i in range(x.ndim):
        if i in axes:
            pattern.append("x")
        else:
            pattern.append(k)
            k += 1
    return dimshuffle(g, pattern)


def _reduce_vjp(node, g):
    op, (x,) = node.op, node.inputs
    if op.kind in ("argmax", "argmin"):
        return [None]
    axes = op.axis
    ge = _expand(g, x, axes)
    if op.kind == "sum":
        return [E.fill(x, ge)]
    out = _expand(node.outputs[0], x, axes)
    if op.kind in ("max", "min"):
        return [ge * E.eq(x, out)]
    # prod: d/dx_i = product of the others, computed without dividing by zero.
    from .tensor.reduction import prod, sum as tsum

    is_zero = E.eq(x, 0)
    zeros = _expand(tsum(is_zero, axis=axes), x, axes)
    prod_nonzero = _expand(prod(E.switch(is_zero, 1, x), axis=axes), x, axes)
    others = E.switch(E.eq(zeros, 0), prod_nonzero / E.switch(is_zero, 1, x),
                      E.switch(is_zero & E.eq(zeros, 1), prod_nonzero, 0))
    return [ge * others]


def _dimshuffle_vjp(node, g):
    op = node.op
    pattern = [op.new_order.index(i) if i in op.new_order else "x" for i in range(op.input_ndim)]
    return [dimshuffle(g, pattern)]


def _reshape_vjp(node, g):
    x = node.inputs[0]
    return [g.reshape(shape(x), ndim=x.ndim), None]


def _makevector_vjp(node, g):
    return [g[i] for i in range(len(node.inputs))]


def _join_vjp(node, g):
    axis = node.op.axis
    out, start = [], 0
    for t in node.inputs:
        stop = start + t.shape[axis]
        index = (slice(None),) * axis + (slice(start, stop),)
        out.append(g[index])
        start = stop
    return out


def _subtensor_vjp(node, g):
    x, *idx = node.inputs
    advanced = isinstance(node.op, AdvancedSubtensor)
    return [IncSubtensor(node.op.spec, advanced)(E.zeros_like(x), g, *idx)] + [None] * len(idx)


def _incsubtensor_vjp(node, g):
    op = node.op
    x, y, *idx = node.inputs
    cls = AdvancedSubtensor if op.advanced else Subtensor
    gy = cls(op.spec)(g, *idx)
    gx = IncSubtensor(op.spec, op.advanced, True)(g, constant(np.zeros((), g.dtype)), *idx) \
        if op.set_instead_of_inc else g
    return [gx, gy] + [None] * len(idx)


def _softmax_vjp(node, g):
    s = node.outputs[0]
    from .tensor.reduction import sum as tsum

    if node.op.log:  # d log_softmax: g - softmax * sum(g), with softmax = exp(log_softmax) <= 1
        from .tensor.elemwise import exp

        return [g - exp(s) * tsum(g, axis=node.op.axis, keepdims=True)]
    return [s * (g - tsum(g * s, axis=node.op.axis, keepdims=True))]


def _ifelse_vjp(node, *gs):
    """Through the taken branch; the other branch's inputs get zeros of their own shape."""
    if node.op.lazy is not None:
        raise NotImplementedError("grad: a lowered IfElse (from a compiled graph) has no gradient rule")
    n = node.op.n_outs
    cond, thens, elses = node.inputs[0], node.inputs[1:1 + n], node.inputs[1 + n:]
    ks = [k for k, g in enumerate(gs) if g is not None and thens[k].dtype[0] == "f"]
    then_grads, else_grads = [None] * n, [None] * n
    if ks:
        gs_k = [match_type(gs[k], node.outputs[k]) for k in ks]
        taken = ifelse(cond, gs_k, [E.zeros_like(thens[k]) for k in ks])
        not_taken = ifelse(cond, [E.zeros_like(elses[k]) for k in ks], gs_k)
        for k, t, e in zip(ks, taken, not_taken):
            then_grads[k], else_grads[k] = t, e
    return [None] + then_grads + else_grads


def _specify_shape_vjp(node, g):
    x, *dims = node.inputs
    return [SpecifyShape(node.op.checked)(match_type(g, node.outputs[0]), *dims)] + [None] * len(dims)


def _no_gradient(node, *gs):
    return [None] * len(node.inputs)


VJP_RULES: dict[type, Callable] = {
    E.Elemwise: _elemwise_vjp,
    Dot: _dot_vjp,
    Reduce: _reduce_vjp,
    DimShuffle: _dimshuffle_vjp,
    Reshape: _reshape_vjp,
    MakeVector: _makevector_vjp,
    Join: _join_vjp,
    Subtensor: _subtensor_vjp,
    AdvancedSubtensor: _subtensor_vjp,
    IncSubtensor: _incsubtensor_vjp,
    Softmax: _softmax_vjp,
    Shape: _no_gradient,
    ARange: _no_gradient,
    IfElse: _ifelse_vjp,
    SpecifyShape: _specify_shape_vjp,
}


# --- Lop, Rop, jacobian, hessian --------------------------------------------------------------
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
            import warnings

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


# --- batching: one graph for many seeds --------------------------------------------------------
def batch_graph(outputs: Sequence[Variable], seed: Variable, batched_seed: Variable) -> list[Variable]:
    """``outputs`` (graphs in a placeholder ``seed``) evaluated for every row of ``batched_seed``
    at once: each result gets a leading dimension of ``batched_seed.shape[0]``.

    Every node that depends on ``seed`` is rebuilt by its rule in ``BATCH_RULES`` on values that
    carry the extra leading (batch) dimension; nodes that do not are shared unchanged. Outputs
    that do not depend on ``seed`` are broadcast along the batch dimension.

    >>> import numpy as np, symgrad.tensor as T
    >>> v, x = T.dvector("v"), T.dvector("x")
    >>> (out,) = batch_graph([v * x], v, T.dmatrix("V"))
    >>> out.type
    TensorType(float64, matrix)
    """
    batcher = _Batcher(seed, batched_seed)
    return [batcher.lift(v) for v in outputs]


class _Batcher:
    """Memo of batched values (leading batch dim) and of unbatched replacements (``Shape`` of a
    batched value does not depend on the batch, but must not refer to the placeholder)."""

    def __init__(self, seed: Variable, batched_seed: Variable):
        self.batched: dict[int, Variable] = {id(seed): batched_seed}
        self.replaced: dict[int, Variable] = {}
        self.rows = arange(shape(batched_seed)[0])  # a vector as long as the batch

    def lift(self, var: Variable) -> Variable:
        for node in toposort([var]):
            if any(id(o) in self.batched or id(o) in self.replaced for o in node.outputs):
                continue
            ins = [self.batched.get(id(v)) for v in node.inputs]
            if all(b is None for b in ins):
                if any(id(v) in self.replaced for v in node.inputs):
                    new = node.op.make_node(*[self.replaced.get(id(v), v) for v in node.inputs])
                    for o, n in zip(node.outputs, new.outputs):
                        self.replaced[id(o)] = n
                continue
            rule = BATCH_RULES.get(type(node.op))
            if rule is None:
                raise NotImplementedError(f"jacobian/hessian: no batching rule for {node.op}")
            for o, (value, is_batched) in zip(node.outputs, rule(self, node, ins)):
                if is_batched:
                    self.batched[id(o)] = _conform(value, o)
                else:
                    self.replaced[id(o)] = value
        if id(var) in self.batched:
            return self.batched[id(var)]
        return self.broadcast(self.replaced.get(id(var), var))

    def unbatched(self, v: Variable) -> Variable:
        return self.replaced.get(id(v), v)

    def broadcast(self, v: Variable) -> Variable:
        """``v`` repeated along a new leading batch dimension."""
        rows = dimshuffle(self.rows, [0] + ["x"] * v.ndim)
        return E.fill(rows, dimshuffle(v, ["x"] + list(range(v.ndim))))

    def full(self, node: Apply, ins: list, i: int) -> Variable:
        """Input ``i`` of ``node`` with a batch dimension (broadcast if it has none)."""
        return ins[i] if ins[i] is not None else self.broadcast(self.unbatched(node.inputs[i]))


def _conform(value: Variable, original: Variable) -> Variable:
    """``value`` with the original's broadcastable pattern after a non-broadcastable batch dim (a
    reshape to sizes that are constant 1 exactly where the original's dims are broadcastable), so
    the batched graph type-checks like the original."""
    want = (False,) + original.broadcastable
    if value.broadcastable == want:
        return value
    return value.reshape([1 if w else shape(value)[d] for d, w in enumerate(want)])


def _after_batch(xb: Variable, extra: int) -> Variable:
    """Insert ``extra`` broadcastable dims right after the batch dim (left-padding of the original)."""
    if extra <= 0:
        return xb
    return dimshuffle(xb, [0] + ["x"] * extra + list(range(1, xb.ndim)))


def _batch_elemwise(bt, node, ins):
    out_ndim = node.outputs[0].ndim
    args = [x if xb is None else _after_batch(xb, out_ndim - x.ndim)
            for x, xb in zip((bt.unbatched(v) for v in node.inputs), ins)]
    return [(node.op.make_node(*args).outputs[0], True)]


def _batch_reduce(bt, node, ins):
    op, (x,), (xb,) = node.op, node.inputs, ins
    if op.axis is None and op.kind in ("argmax", "argmin"):
        raise NotImplementedError(f"jacobian/hessian: cannot batch {op} over the flattened array")
    axes = tuple(range(x.ndim)) if op.axis is None else op.axis
    if not axes:
        return [(E.cast(xb, node.outputs[0].dtype), True)]
    return [(Reduce(op.kind, tuple(a + 1 for a in axes))(xb), True)]


def _batch_dimshuffle(bt, node, ins):
    order = (0,) + tuple("x" if d == "x" else d + 1 for d in node.op.new_order)
    return [(DimShuffle(node.op.input_ndim + 1, order)(ins[0]), True)]


def _batch_reshape(bt, node, ins):
    (x, shp), (xb, shpb) = node.inputs, ins
    if shpb is not None:
        raise NotImplementedError("jacobian/hessian: cannot batch a reshape whose shape depends on the seed")
    shp = bt.unbatched(shp)
    b = shape(xb)[0]
    if shp.owner is not None and isinstance(shp.owner.op, MakeVector):
        new_shape = MakeVector("int64")(b, *shp.owner.inputs)
    elif isinstance(shp, Constant):
        new_shape = MakeVector("int64")(b, *[constant(np.int64(s)) for s in shp.data])
    else:
        new_shape = Join(0)(MakeVector("int64")(b), E.cast(shp, "int64"))
    return [(Reshape(node.op.ndim + 1)(xb, new_shape), True)]


def _batch_shape(bt, node, ins):
    return [(shape(ins[0])[1:], False)]


def _batch_makevector(bt, node, ins):
    columns = [dimshuffle(E.cast(bt.full(node, ins, i), node.op.dtype), (0, "x")) for i in range(len(ins))]
    return [(Join(1)(*columns) if len(columns) > 1 else columns[0], True)]


def _batch_join(bt, node, ins):
    return [(Join(node.op.axis + 1)(*[bt.full(node, ins, i) for i in range(len(ins))]), True)]


def _index_arguments(bt, node, ins, first: int) -> list:
    if any(b is not None for b in ins[first:]):
        raise NotImplementedError(f"jacobian/hessian: cannot batch {node.op} with indices that depend on the seed")
    return [bt.unbatched(v) for v in node.inputs[first:]]


def _batch_last(xb: Variable) -> Variable:
    return dimshuffle(xb, list(range(1, xb.ndim)) + [0])


def _batch_first(x: Variable) -> Variable:
    return dimshuffle(x, [x.ndim - 1] + list(range(x.ndim - 1)))


def _batch_subtensor(bt, node, ins):
    idx = _index_arguments(bt, node, ins, 1)
    if isinstance(node.op, AdvancedSubtensor):
        # with the batch as the last, unindexed dim, numpy's placement of the index dims (in
        # place, or first when the index entries are not adjacent) leaves it last: move it back
        return [(_batch_first(AdvancedSubtensor(node.op.spec)(_batch_last(ins[0]), *idx)), True)]
    return [(Subtensor((FULL,) + node.op.spec)(ins[0], *idx), True)]


def _batch_incsubtensor(bt, node, ins):
    op = node.op
    x, y = (bt.unbatched(v) for v in node.inputs[:2])
    idx = _index_arguments(bt, node, ins, 2)
    xb = bt.full(node, ins, 0)
    if not op.advanced:
        # a leading full slice; an unbatched y broadcasts over the batch like over any leading dim
        yb = y if ins[1] is None else _after_batch(ins[1], _region_ndim(x, op.spec, idx) - y.ndim)
        return [(IncSubtensor((FULL,) + op.spec, False, op.set_instead_of_inc)(xb, yb, *idx), True)]
    # the batch as the last dim of x and of the indexed region (see _batch_subtensor)
    if ins[1] is None:
        y_last = dimshuffle(y, list(range(y.ndim)) + ["x"])
    else:
        y_last = _batch_last(_after_batch(ins[1], _region_ndim(x, op.spec, idx) - y.ndim))
    out = IncSubtensor(op.spec, True, op.set_instead_of_inc)(_batch_last(xb), y_last, *idx)
    return [(_batch_first(out), True)]


def _region_ndim(x: Variable, spec: tuple, idx: list) -> int:
    from .tensor.indexing import _index_output_bc

    return len(_index_output_bc(x, spec, idx))


def _reshaped(x: Variable, sizes: list, like: Variable, lead: int) -> Variable:
    """Reshape to ``sizes``; dims of ``like`` (from position ``lead``) that are broadcastable get 1."""
    entries = list(sizes)
    for d, b in enumerate(like.broadcastable):
        if b:
            entries[lead + d] = 1
    return x.reshape(entries)


def _batch_dot(bt, node, ins):
    a, b = (bt.unbatched(v) for v in node.inputs)
    ab, bb = ins
    out = node.outputs[0]
    if ab is not None and bb is not None:
        raise NotImplementedError("jacobian/hessian: a product of two seed-dependent values is not linear")
    if ab is not None:
        if a.ndim == 1:
            return [(dot(ab, b), True)]
        size, rows = shape(ab)[0], shape(ab)[1]
        flat = dot(ab.reshape([size * rows, shape(ab)[2]]), b)
        sizes = [size, rows] + ([shape(b)[1]] if b.ndim == 2 else [])
        return [(_reshaped(flat, sizes, out, 1), True)]
    if b.ndim == 1:
        return [(dot(bb, a) if a.ndim == 1 else dot(bb, a.T), True)]
    size, inner, cols = shape(bb)[0], shape(bb)[1], shape(bb)[2]
    flat = dot(a, dimshuffle(bb, (1, 0, 2)).reshape([inner, size * cols]))
    if a.ndim == 1:
        return [(_reshaped(flat, [size, cols], out, 1), True)]
    rows = shape(a)[0]
    return [(dimshuffle(flat.reshape([rows, size, cols]), (1, 0, 2)), True)]


def _batch_softmax(bt, node, ins):
    from dataclasses import replace

    return [(replace(node.op, axis=node.op.axis + 1)(ins[0]), True)]


def _batch_ifelse(bt, node, ins):
    if ins[0] is not None:
        raise NotImplementedError("jacobian/hessian: cannot batch an ifelse whose condition depends on the seed")
    n = node.op.n_outs
    values = [_conform(bt.full(node, ins, i), node.inputs[i]) for i in range(1, 1 + 2 * n)]
    outs = IfElse(n)(bt.unbatched(node.inputs[0]), *values)
    return [(o, True) for o in (outs if n > 1 else [outs])]


def _batch_specify_shape(bt, node, ins):
    dims = _index_arguments(bt, node, ins, 1)
    return [(SpecifyShape((False,) + node.op.checked)(ins[0], *dims), True)]


BATCH_RULES: dict[type, Callable] = {
    E.Elemwise: _batch_elemwise,
    Reduce: _batch_reduce,
    DimShuffle: _batch_dimshuffle,
    Reshape: _batch_reshape,
    Shape: _batch_shape,
    MakeVector: _batch_makevector,
    Join: _batch_join,
    Subtensor: _batch_subtensor,
    AdvancedSubtensor: _batch_subtensor,
    IncSubtensor: _batch_incsubtensor,
    Dot: _batch_dot,
    Softmax: _batch_softmax,
    IfElse: _batch_ifelse,
    SpecifyShape: _batch_specify_shape,
}


def verify_grad(fn: Callable, points: Sequence, n_tests: int = 1, rng=None, eps: float | None = None,
                abs_tol: float | None = None, rel_tol: float | None = None, mode: str | None = None) -> None:
    """Check ``grad`` of ``fn`` against central finite differences at ``points``.

    ``fn`` maps symbolic inputs (one per point, of the point's dtype and rank) to a symbolic output.
    The output is projected on a random tensor so every output element is checked. Raises
    :class:`GradientError` on disagreement.

    >>> import numpy as np, symgrad.tensor as T
    >>> verify_grad(lambda x: T.tanh(x) * x, [np.array([0.1, -0.7])])
    """
    from .compile.function import function

    rng = np.random.default_rng(42) if rng is None else rng
    points = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) else "float64") for p in points]
    inputs = [as_tensor_variable(p).type(f"input_{i}") for i, p in enumerate(points)]
    out = as_tensor_variable(fn(*inputs))
    float32 = any(p.dtype == np.float32 for p in points) or out.dtype == "float32"
    eps = eps or (1e-3 if float32 else 1e-6)
    abs_tol = abs_tol or (1e-2 if float32 else 1e-5)
    rel_tol = rel_tol or (1e-2 if float32 else 1e-5)
    for _ in range(n_tests):
        probe_value = rng.uniform(0.5, 1.5, size=None) if out.ndim == 0 else None
        projection = constant(rng.uniform(0.5, 1.5, size=_shape_of(fn, inputs, out, points, mode)).astype(out.dtype)) \
            if probe_value is None else constant(np.asarray(probe_value, out.dtype))
        cost = (out * projection).sum()
        f_cost = function(inputs, cost, mode=mode, on_unused_input="ignore")
        f_grad = function(inputs, grad(cost, inputs, disconnected_inputs="ignore"), mode=mode,
                          on_unused_input="ignore")
        analytic = f_grad(*points)
        for i, p in enumerate(points):
            if p.dtype.kind != "f":
                continue
            numeric = np.zeros(p.shape)
            flat = numeric.reshape(-1)
            for j in range(p.size):
                plus, minus = [q.copy() for q in points], [q.copy() for q in points]
                plus[i].reshape(-1)[j] += eps
                minus[i].reshape(-1)[j] -= eps
                flat[j] = (float(f_cost(*plus)) - float(f_cost(*minus))) / (2 * eps)
            err = np.abs(analytic[i] - numeric)
            if not np.all(err <= abs_tol + rel_tol * np.abs(numeric)):
                raise GradientError(
                    f"verify_grad: gradient of input {i} disagrees with finite differences\n"
                    f"analytic:\n{analytic[i]}\nnumeric:\n{numeric}\nmax abs error {err.max():.3g}")


def _shape_of(fn, inputs, out, points, mode):
    from .compile.function import function

    return np.shape(function(inputs, out, mode=mode, on_unused_input="ignore")(*points))
