"""Neural-network functions (Theano's ``T.nnet``): sigmoid, softplus, relu, softmax and the
cross-entropies. Elementwise ones are sympy expressions; softmax is one structural op with a
stable implementation (max subtracted) and a one-line gradient rule.

>>> import symgrad.tensor as T
>>> T.nnet.softmax(T.dmatrix("z")).type
TensorType(float64, matrix)
"""
from __future__ import annotations

from dataclasses import dataclass

from ...graph import Apply, Op, TensorType, Variable
from ..elemwise import cast, log, relu, sigmoid, softplus  # noqa: F401  (part of T.nnet)
from ..indexing import getitem
from ..reduction import sum as reduce_sum
from ..shape import arange
from ..variable import as_tensor_variable
from .abstract_conv import conv2d  # noqa: F401  (T.nnet.conv2d, Theano's path)


@dataclass(frozen=True)
class Softmax(Op):
    """exp(x - max) / sum(exp(x - max)) along ``axis``; with ``log``, its logarithm computed as
    x - max - log(sum(exp(x - max))), finite wherever the true value is (log(softmax) of logits of
    ±1000 is about -2000, where the plain composition gives -inf)."""

    axis: int
    log: bool = False

    def log_of(self, node: Apply) -> Variable | None:
        """log of a softmax is the stable log-softmax (see the class docstring)."""
        return None if self.log else Softmax(self.axis, log=True)(node.inputs[0])

    def shape_source(self, node: Apply) -> Variable:
        return node.inputs[0]

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if x.dtype[0] != "f":

            x = cast(x, "float64")
        return Apply(self, [x], [TensorType(x.dtype, x.broadcastable)])

    def __str__(self):
        return f"{'LogSoftmax' if self.log else 'Softmax'}{{axis={self.axis}}}"


def softmax(x, axis: int = -1) -> Variable:
    """Row-wise softmax of a matrix (or over ``axis``); a vector is treated as one row."""
    x = as_tensor_variable(x)
    if x.ndim == 0:
        raise TypeError(f"softmax of {x.label()}: expected a vector or matrix, got a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"softmax of {x.label()}: axis {axis} out of bounds for {x.type.describe()}")
    return Softmax(axis % x.ndim)(x)


def log_softmax(x, axis: int = -1) -> Variable:
    """log(softmax(x)) along ``axis``, stable for large logits (``T.log(softmax(x))`` builds this too).

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> z = T.dvector("z")
    >>> sg.function([z], log_softmax(z), mode="numpy")(np.array([1000.0, 0.0]))
    array([    0., -1000.])
    """
    x = softmax(x, axis)
    return Softmax(x.owner.op.axis, log=True)(x.owner.inputs[0])


def binary_crossentropy(output, target) -> Variable:
    """-(target * log(output) + (1 - target) * log(1 - output)), elementwise."""
    return -(target * log(output) + (1 - target) * log(1 - output))


def sigmoid_binary_crossentropy(logits, target) -> Variable:
    """Binary cross-entropy of ``sigmoid(logits)``, written in its stable softplus form."""
    return target * softplus(-logits) + (1 - target) * softplus(logits)


def categorical_crossentropy(coding_dist, true_dist) -> Variable:
    """-log(probability of the true class) per row.

    ``true_dist`` is either a one-hot (or soft) matrix like ``coding_dist`` or an integer vector of
    class indices.
    """
    coding_dist, true_dist = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if true_dist.ndim == coding_dist.ndim:
        return -reduce_sum(true_dist * log(coding_dist), axis=-1)
    if true_dist.ndim == coding_dist.ndim - 1 and true_dist.dtype[0] in "iu" and coding_dist.ndim in (1, 2):
        index = true_dist if coding_dist.ndim == 1 else (arange(coding_dist.shape[0]), true_dist)
        if coding_dist.owner is not None and isinstance(coding_dist.owner.op, Softmax):
            return -getitem(log(coding_dist), index)  # log of the softmax: the stable log-softmax
        return -log(getitem(coding_dist, index))
    raise TypeError(f"categorical_crossentropy: true_dist must be a {coding_dist.ndim}-d distribution or a "
                    f"{coding_dist.ndim - 1}-d integer index, got {true_dist.type.describe()}")
