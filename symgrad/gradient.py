"""Reverse-mode differentiation: ``grad``, the vector-Jacobian rules, and ``verify_grad``.

``grad`` is micrograd's loop on a graph: sort the nodes, walk them backwards, and accumulate each
input's gradient. An ``Elemwise`` node needs no rule: its partial derivatives are
``sympy.diff`` of its expression. The structural ops each have one rule in ``VJP_RULES``.
Broadcasting is undone in one place, :func:`match_type`.

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
from .graph import Constant, Variable, toposort
from .tensor import elemwise as E
from .tensor.indexing import AdvancedSubtensor, IncSubtensor, Subtensor
from .tensor.linalg import Dot, dot, outer
from .tensor.nnet import Softmax
from .tensor.reduction import Reduce
from .tensor.shape import ARange, DimShuffle, Join, MakeVector, Reshape, Shape, dimshuffle, shape
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
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError(f"grad: disconnected_inputs must be 'raise', 'warn' or 'ignore', got {disconnected_inputs!r}")
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    for i, w in enumerate(wrt_list):
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt[{i}] must be a symbolic variable, got {type(w).__name__}")
    stop = {id(v) for v in (consider_constant or [])}

    order = toposort([cost])
    # Variables that depend on some wrt: only their gradients are needed.
    needed = {id(w) for w in wrt_list}
    for node in order:
        if any(id(v) in needed and id(v) not in stop for v in node.inputs):
            needed.update(id(o) for o in node.outputs)

    grads: dict[int, Variable] = {id(cost): constant(np.ones((), cost.dtype))}
    for node in reversed(order):
        out_grads = [grads.get(id(o)) for o in node.outputs]
        if all(g is None for g in out_grads):
            continue
        if not any(id(v) in needed and id(v) not in stop for v in node.inputs):
            continue
        rule = VJP_RULES.get(type(node.op))
        if rule is None:
            raise NotImplementedError(f"grad: no gradient rule for {node.op}")
        for inp, g in zip(node.inputs, rule(node, *out_grads)):
            if g is None or id(inp) not in needed or id(inp) in stop or inp.dtype[0] != "f":
                continue
            g = match_type(g, inp)
            prev = grads.get(id(inp))
            grads[id(inp)] = g if prev is None else E.add(prev, g)

    ancestors = {id(cost)} | {id(v) for n in order for v in n.inputs}
    results = []
    for w in wrt_list:
        g = grads.get(id(w))
        if g is None:
            if id(w) not in ancestors and disconnected_inputs != "ignore":
                msg = (f"grad: cost {cost.label()} does not depend on {w.label()} ({w.type.describe()}); "
                       "pass disconnected_inputs='ignore' to get zeros instead")
                if disconnected_inputs == "raise":
                    raise DisconnectedInputError(msg)
                import warnings

                warnings.warn(msg, stacklevel=2)
            dtype = w.dtype if w.dtype[0] == "f" else "float64"
            g = E.zeros_like(w, dtype)
        results.append(g)
    return results[0] if single else results


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
