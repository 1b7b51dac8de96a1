"""The vector-Jacobian rules: ``VJP_RULES``, one ``rule(node, *output_grads)`` per structural op type,
returning one gradient (or None) per input.

An ``Elemwise`` node needs no hand-written rule: its partial derivatives are ``sympy.diff`` of its
expression (:func:`partial`), built back into graphs by ``tensor.elemwise.make_elemwise``. Broadcasting is
undone in one place, :func:`match_type`, which the reverse sweep applies to every rule's result.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np
import sympy

from .. import scalar as S
from ..graph import Variable
from ..tensor.ifelse import IfElse, ifelse
from ..tensor import elemwise as E
from ..tensor.elemwise import make_elemwise
from ..tensor.indexing import AdvancedSubtensor, IncSubtensor, Subtensor
from ..tensor.linalg import Dot, dot, outer
from ..tensor.nnet import Softmax
from ..tensor.nnet.abstract_conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
from ..tensor.reduction import Reduce, keep_reduced_dims, prod
from ..tensor.reduction import sum as tsum
from ..tensor.random import (ChoiceFromUniform, MRGUniform, MultinomialFromUniform, RandomStateChoice,
                             RandomStateDraw, RandomStateMultinomial, RandomStatePermutation)
from ..tensor.shape import (
    Alloc, ARange, Assert, DimShuffle, Join, MakeVector, Reshape, Shape, Shape_i, SpecifyShape, dimshuffle, shape,
    shape_i)
from ..tensor.signal.pool import Pool, PoolGrad
from ..tensor.variable import constant


def match_type(g: Variable, var: Variable) -> Variable:
    """Undo broadcasting: sum ``g`` down to ``var``'s rank and broadcastable dims, cast to its dtype."""
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
        if op.expr.is_Function and d.has(op.expr) and node.outputs[0].dtype == inp.dtype:
            # sigmoid' = s(1 - s), tanh' = 1 - t**2, exp' = exp: read the result instead of
            # computing it again. Fusion inlines it back where both live in one loop; where the
            # result is stored anyway (a scan's saved forward values) no transcendental is recomputed.
            d = d.xreplace({op.expr: S.arg(op.nin + 1)})
            out.append(make_elemwise(g_sym * d, list(node.inputs) + [g, node.outputs[0]], inp.dtype))
            continue
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


def _reduce_vjp(node, g):
    op, (x,) = node.op, node.inputs
    if op.kind in ("argmax", "argmin"):
        return [None]
    axes = op.axis
    ge = keep_reduced_dims(g, x, axes)
    if op.kind == "sum":
        return [E.fill(x, ge)]
    out = keep_reduced_dims(node.outputs[0], x, axes)
    if op.kind in ("max", "min"):
        return [ge * E.eq(x, out)]
    # prod: d/dx_i = product of the others, computed without dividing by zero.
    is_zero = E.eq(x, 0)
    zeros = keep_reduced_dims(tsum(is_zero, axis=axes), x, axes)
    prod_nonzero = keep_reduced_dims(prod(E.switch(is_zero, 1, x), axis=axes), x, axes)
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


def _alloc_vjp(node, g):
    # the reverse sweep's match_type sums g over the dims the value was broadcast along
    return [g] + [None] * (len(node.inputs) - 1)


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
    if node.op.log:  # d log_softmax: g - softmax * sum(g), with softmax = exp(log_softmax) <= 1
        return [g - E.exp(s) * tsum(g, axis=node.op.axis, keepdims=True)]
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


def _conv2d_vjp(node, g):
    x, w = node.inputs
    p = node.op.params
    return [Conv2dGradInputs(p)(w, g, shape_i(x, 2), shape_i(x, 3)),
            Conv2dGradWeights(p)(x, g, shape_i(w, 2), shape_i(w, 3))]


# The three convolution ops are the partial derivatives of one trilinear form <gz, conv2d(x, w)>:
# <g, GradInputs(w, gz)> = <gz, conv2d(g, w)> and <g, GradWeights(x, gz)> = <gz, conv2d(x, g)>,
# so the gradients of the gradients are the three ops again (second derivatives, Rop through Lop).
def _conv2d_grad_inputs_vjp(node, g):
    w, gz = node.inputs[:2]
    p = node.op.params
    return [Conv2dGradWeights(p)(g, gz, shape_i(w, 2), shape_i(w, 3)), Conv2d(p)(g, w), None, None]


def _conv2d_grad_weights_vjp(node, g):
    x, gz = node.inputs[:2]
    p = node.op.params
    return [Conv2dGradInputs(p)(g, gz, shape_i(x, 2), shape_i(x, 3)), Conv2d(p)(x, g), None, None]


def _pool_vjp(node, g):
    return [PoolGrad(node.op.params)(node.inputs[0], node.outputs[0], g)]


def _pool_grad_vjp(node, g):
    """PoolGrad is linear in the output gradient; for sum and averages its transpose is the pooling
    itself (each window's share gathered back), and the input only gives shapes."""
    p = node.op.params
    if p.mode == "max":
        raise NotImplementedError("grad: no second derivative through max pooling (the gradient of PoolGrad in "
                                  "mode 'max'); sum and average pooling have one")
    return [None, None, Pool(p)(g)]


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
    Alloc: _alloc_vjp,
    Subtensor: _subtensor_vjp,
    AdvancedSubtensor: _subtensor_vjp,
    IncSubtensor: _incsubtensor_vjp,
    Softmax: _softmax_vjp,
    Conv2d: _conv2d_vjp,
    Conv2dGradInputs: _conv2d_grad_inputs_vjp,
    Conv2dGradWeights: _conv2d_grad_weights_vjp,
    Pool: _pool_vjp,
    PoolGrad: _pool_grad_vjp,
    Shape: _no_gradient,
    Shape_i: _no_gradient,
    ARange: _no_gradient,
    IfElse: _ifelse_vjp,
    SpecifyShape: _specify_shape_vjp,
    Assert: lambda node, g: [g, None],
    # random draws: no gradient to the state, size or probabilities (a sample is a constant
    # of the graph for differentiation, as in Theano: grad of x * mask treats the mask as given)
    MRGUniform: _no_gradient,
    MultinomialFromUniform: _no_gradient,
    ChoiceFromUniform: _no_gradient,
    RandomStateDraw: _no_gradient,
    RandomStatePermutation: _no_gradient,
    RandomStateChoice: _no_gradient,
    RandomStateMultinomial: _no_gradient,
}

