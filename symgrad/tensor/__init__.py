"""``symgrad.tensor`` (imported as ``T``): symbolic arrays and everything that operates on them.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> y = T.sum(T.exp(x) ** 2)
>>> y.ndim
0
"""
from ..graph import TensorType, Variable  # noqa: F401
from . import nnet  # noqa: F401
from .basic import *  # noqa: F401,F403
from .basic import tensor  # noqa: F401
from .elemwise import (  # noqa: F401
    Elemwise, abs, add, and_, cast, ceil, clip, cos, eq, exp, expm1, fill, floor, floor_div, ge, gt,
    invert, iround, le, log, log1p, lt, maximum, minimum, mod, mul, neg, neq, ones_like, or_, pow, relu, round,
    round_half_away_from_zero, round_half_to_even, sigmoid, sign, sin, softplus, sqr, sqrt, sub, switch, tanh,
    true_div, trunc, where, xor, zeros_like)
from .indexing import getitem, inc_subtensor, set_subtensor  # noqa: F401
from .linalg import dot, outer  # noqa: F401
from .reduction import argmax, argmin, max, mean, min, prod, std, sum, var  # noqa: F401
from .shape import (  # noqa: F401
    alloc, arange, concatenate, dimshuffle, flatten, join, ones, reshape, shape, specify_shape, stack, transpose,
    zeros)
from .variable import (  # noqa: F401
    TensorConstant, TensorVariable, as_tensor_variable, constant)

abs_ = abs
int_div = floor_div


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Theano's ``T.grad``: see :func:`symgrad.gradient.grad`."""
    from ..gradient import grad as _grad

    return _grad(cost, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """Theano's ``T.Lop`` (vector times Jacobian): see :func:`symgrad.gradient.Lop`."""
    from ..gradient import Lop as _Lop

    return _Lop(f, wrt, eval_points, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)


def Rop(f, wrt, eval_points, disconnected_outputs="raise", return_disconnected="zero"):
    """Theano's ``T.Rop`` (Jacobian times vector): see :func:`symgrad.gradient.Rop`."""
    from ..gradient import Rop as _Rop

    return _Rop(f, wrt, eval_points, disconnected_outputs=disconnected_outputs,
                return_disconnected=return_disconnected)


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Theano's ``T.jacobian``: see :func:`symgrad.gradient.jacobian`."""
    from ..gradient import jacobian as _jacobian

    return _jacobian(expression, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """Theano's ``T.hessian``: see :func:`symgrad.gradient.hessian`."""
    from ..gradient import hessian as _hessian

    return _hessian(cost, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs)
