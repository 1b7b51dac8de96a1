"""Gradient-descent update rules: each returns the ``updates`` list for ``symgrad.function``.

Every rule takes the cost (or a ready list of gradients, one per parameter) and the parameters
(float shared variables), creates the state it needs as new shared variables (zeros like each
parameter, same dtype), and returns ``[(shared_variable, new_expression), ...]`` for the
parameters and their state. The formulas and argument names follow Lasagne's ``updates`` module,
the reference for Theano-era training code. float32 parameters keep float32 state and float32
arithmetic: Python-number hyperparameters are weak scalars, symbolic ones are cast to each
parameter's dtype.

``clip_norm`` rescales all gradients together when their joint L2 norm exceeds it (global norm
clipping), before the rule sees them.

>>> import numpy as np, symgrad as sg
>>> w = sg.shared(np.array([1.0, -2.0]), name="w")
>>> cost = (w ** 2).sum()
>>> step = sg.function([], cost, updates=sgd(cost, [w], learning_rate=0.25), mode="numpy")
>>> float(step()), w.get_value()
(5.0, array([ 0.5, -1. ]))
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Sequence, Union

import numpy as np

from .compile.shared import SharedVariable, float_shared_list, shared
from .gradient import grad as _grad
from .graph import Variable
from .tensor import elemwise as E
from .tensor.reduction import sum as _sum
from .tensor.variable import as_tensor_variable

__all__ = ["sgd", "momentum", "nesterov", "nesterov_momentum", "adagrad", "rmsprop", "adam",
           "clip_global_norm"]

Updates = list[tuple[SharedVariable, Variable]]
Hyper = Union[float, Variable]


# --- argument checking ---------------------------------------------------------------------------
def _params(params, who: str) -> list[SharedVariable]:
    return float_shared_list(params, who, "params")


def _hyper(value, name: str, who: str, low: float = 0.0, high: float = math.inf,
           low_open: bool = False, high_open: bool = True) -> Hyper:
    """A hyperparameter: a Python number (kept a weak scalar) or a symbolic float scalar."""
    if isinstance(value, Variable):
        if value.ndim != 0 or value.dtype[0] != "f":
            raise TypeError(f"{who}: {name} must be a number or a float scalar variable, "
                            f"got {value.label()} ({value.type.describe()})")
        return value
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{who}: {name} must be a number or a float scalar variable, got {value!r} "
                        f"({type(value).__name__})")
    value = float(value)
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if not math.isfinite(value) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{who}: {name} must be in {interval}, got {value!r}")
    return value


def _in(h: Hyper, dtype: str) -> Hyper:
    """``h`` for arithmetic in ``dtype``: numbers stay weak scalars, variables are cast."""
    return E.cast(h, dtype) if isinstance(h, Variable) else h


def _gradients(cost_or_grads, params: list[SharedVariable], clip_norm, who: str) -> list[Variable]:
    if isinstance(cost_or_grads, (list, tuple)):
        if len(cost_or_grads) != len(params):
            raise ValueError(f"{who}: got {len(cost_or_grads)} gradients for {len(params)} params; "
                             "pass one gradient per parameter (or the cost)")
        grads = [_match_param(as_tensor_variable(g), p, i, who) for i, (g, p) in enumerate(zip(cost_or_grads, params))]
    else:
        cost = as_tensor_variable(cost_or_grads)
        if cost.ndim != 0:
            raise TypeError(f"{who}: cost_or_grads must be a scalar cost or a list of gradients, got "
                            f"{cost.label()} ({cost.type.describe()})")
        grads = _grad(cost, params)
    if clip_norm is not None:
        grads = clip_global_norm(grads, clip_norm)
    return grads


def _match_param(g: Variable, p: SharedVariable, i: int, who: str) -> Variable:
    """A given gradient, cast to its parameter's dtype and broadcast to its type (or an error)."""
    if g.dtype[0] != "f" or g.ndim != p.ndim or any(pb and not gb for pb, gb in zip(p.broadcastable, g.broadcastable)):
        raise TypeError(f"{who}: gradient {i} must be a float tensor of the type of {p.label()} "
                        f"({p.type.describe()}), got {g.label()} ({g.type.describe()})")
    g = E.cast(g, p.dtype)
    return g if g.type is p.type else E.fill(p, g)


def _state(p: SharedVariable, what: str) -> SharedVariable:
    """A new shared variable of zeros with ``p``'s shape, dtype and broadcastable pattern."""
    return shared(np.zeros_like(p.get_value(borrow=True)), name=f"{p.name}_{what}" if p.name else None,
                  broadcastable=p.broadcastable)


def clip_global_norm(grads: Sequence, clip_norm: float) -> list[Variable]:
    """Rescale ``grads`` together so their joint L2 norm is at most ``clip_norm``.

    Gradients whose joint norm is already within the bound are returned unchanged in value; the
    scale is ``clip_norm / max(norm, clip_norm)`` (no division by zero for zero gradients).

    >>> import numpy as np, symgrad.tensor as T
    >>> g = T.dvector("g")
    >>> [clipped] = clip_global_norm([g], 1.0)
    >>> clipped.eval({g: np.array([3.0, 4.0])}, mode="numpy")
    array([0.6, 0.8])
    """
    clip_norm = _hyper(clip_norm, "clip_norm", "clip_global_norm", low_open=True)
    grads = [as_tensor_variable(g) for g in grads]
    for i, g in enumerate(grads):
        if g.dtype[0] != "f":
            raise TypeError(f"clip_global_norm: grads[{i}] must be a float tensor, got {g.label()} "
                            f"({g.type.describe()})")
    squares = [_sum(E.sqr(g)) for g in grads]
    total = squares[0]
    for s in squares[1:]:
        total = E.add(total, s)
    norm = E.sqrt(total)
    scale = E.true_div(_in(clip_norm, norm.dtype), E.maximum(norm, _in(clip_norm, norm.dtype)))
    return [E.mul(g, E.cast(scale, g.dtype)) for g in grads]


# --- the rules -----------------------------------------------------------------------------------
def sgd(cost_or_grads, params, learning_rate: Hyper, clip_norm: float | None = None) -> Updates:
    """Plain gradient descent: ``param - learning_rate * grad``.

    >>> import numpy as np, symgrad as sg
    >>> w = sg.shared(np.array([2.0]), name="w")
    >>> [(var, new)] = sgd((w ** 2).sum(), [w], learning_rate=0.1)
    >>> var is w, new.eval(mode="numpy")
    (True, array([1.6]))
    """
    who = "sgd"
    params = _params(params, who)
    lr = _hyper(learning_rate, "learning_rate", who)
    grads = _gradients(cost_or_grads, params, clip_norm, who)
    return [(p, p - _in(lr, p.dtype) * g) for p, g in zip(params, grads)]


def momentum(cost_or_grads, params, learning_rate: Hyper, momentum: Hyper = 0.9,
             clip_norm: float | None = None) -> Updates:
    """Heavy-ball momentum: ``v = momentum * v - learning_rate * grad``, then ``param + v``.

    One velocity per parameter (shared, starts at zero).

    >>> import numpy as np, symgrad as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> updates = momentum((w ** 2).sum(), [w], learning_rate=0.1, momentum=0.5)
    >>> [var.name for var, _ in updates]
    ['w', 'w_velocity']
    """
    who = "momentum"
    params = _params(params, who)
    lr = _hyper(learning_rate, "learning_rate", who)
    mu = _hyper(momentum, "momentum", who, high=1.0)
    grads = _gradients(cost_or_grads, params, clip_norm, who)
    updates = []
    for p, g in zip(params, grads):
        v = _state(p, "velocity")
        v_new = _in(mu, p.dtype) * v - _in(lr, p.dtype) * g
        updates += [(p, p + v_new), (v, v_new)]
    return updates


def nesterov(cost_or_grads, params, learning_rate: Hyper, momentum: Hyper = 0.9,
             clip_norm: float | None = None) -> Updates:
    """Nesterov momentum (Lasagne's ``nesterov_momentum``): ``v = momentum * v - learning_rate * grad``,
    then ``param + momentum * v - learning_rate * grad``.

    >>> import numpy as np, symgrad as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> step = sg.function([], [], updates=nesterov((w ** 2).sum(), [w], 0.1, momentum=0.5), mode="numpy")
    >>> _ = step(); w.get_value()  # v = -0.2; w = 1 + 0.5 * v - 0.2
    array([0.7])
    """
    who = "nesterov"
    params = _params(params, who)
    lr = _hyper(learning_rate, "learning_rate", who)
    mu = _hyper(momentum, "momentum", who, high=1.0)
    grads = _gradients(cost_or_grads, params, clip_norm, who)
    updates = []
    for p, g in zip(params, grads):
        v = _state(p, "velocity")
        step = _in(lr, p.dtype) * g
        v_new = _in(mu, p.dtype) * v - step
        updates += [(p, p + _in(mu, p.dtype) * v_new - step), (v, v_new)]
    return updates


nesterov_momentum = nesterov  # Lasagne's name


def adagrad(cost_or_grads, params, learning_rate: Hyper = 1.0, epsilon: Hyper = 1e-6,
            clip_norm: float | None = None) -> Updates:
    """Adagrad: ``accu += grad ** 2``, then ``param - learning_rate * grad / sqrt(accu + epsilon)``.

    >>> import numpy as np, symgrad as sg
    >>> w = sg.shared(np.array([3.0]), name="w")
    >>> step = sg.function([], [], updates=adagrad((w ** 2).sum(), [w], 0.5, epsilon=0.0), mode="numpy")
    >>> _ = step(); w.get_value()  # accu = 36; w = 3 - 0.5 * 6 / 6
    array([2.5])
    """
    who = "adagrad"
    params = _params(params, who)
    lr = _hyper(learning_rate, "learning_rate", who)
    eps = _hyper(epsilon, "epsilon", who)
    grads = _gradients(cost_or_grads, params, clip_norm, who)
    updates = []
    for p, g in zip(params, grads):
        accu = _state(p, "accu")
        accu_new = accu + E.sqr(g)
        updates += [(p, p - _in(lr, p.dtype) * g / E.sqrt(accu_new + _in(eps, p.dtype))), (accu, accu_new)]
    return updates


def rmsprop(cost_or_grads, params, learning_rate: Hyper = 1.0, rho: Hyper = 0.9, epsilon: Hyper = 1e-6,
            clip_norm: float | None = None) -> Updates:
    """RMSProp: ``accu = rho * accu + (1 - rho) * grad ** 2``, then
    ``param - learning_rate * grad / sqrt(accu + epsilon)``.

    >>> import numpy as np, symgrad as sg
    >>> w = sg.shared(np.array([3.0]), name="w")
    >>> step = sg.function([], [], updates=rmsprop((w ** 2).sum(), [w], 0.1, rho=0.75, epsilon=0.0),
    ...                    mode="numpy")
    >>> _ = step(); w.get_value()  # accu = 0.25 * 36 = 9; w = 3 - 0.1 * 6 / 3
    array([2.8])
    """
    who = "rmsprop"
    params = _params(params, who)
    lr = _hyper(learning_rate, "learning_rate", who)
    rho = _hyper(rho, "rho", who, high=1.0)
    eps = _hyper(epsilon, "epsilon", who)
    grads = _gradients(cost_or_grads, params, clip_norm, who)
    updates = []
    for p, g in zip(params, grads):
        accu = _state(p, "accu")
        r = _in(rho, p.dtype)
        accu_new = r * accu + (1 - r) * E.sqr(g)
        updates += [(p, p - _in(lr, p.dtype) * g / E.sqrt(accu_new + _in(eps, p.dtype))), (accu, accu_new)]
    return updates


def adam(cost_or_grads, params, learning_rate: Hyper = 0.001, beta1: Hyper = 0.9, beta2: Hyper = 0.999,
         epsilon: Hyper = 1e-8, clip_norm: float | None = None) -> Updates:
    """Adam (Kingma & Ba), in the paper's efficient form, with one shared step counter ``t``:
    ``m = beta1 * m + (1 - beta1) * grad``, ``v = beta2 * v + (1 - beta2) * grad ** 2``,
    ``param - learning_rate * sqrt(1 - beta2 ** t) / (1 - beta1 ** t) * m / (sqrt(v) + epsilon)``.

    The counter's dtype is the widest of the parameters' and float32 (float32 when all are float32).

    >>> import numpy as np, symgrad as sg
    >>> w = sg.shared(np.array([3.0]), name="w")
    >>> step = sg.function([], [], updates=adam((w ** 2).sum(), [w], 0.1), mode="numpy")
    >>> _ = step(); w.get_value().round(6)  # the first step moves each weight by about learning_rate
    array([2.9])
    """
    who = "adam"
    params = _params(params, who)
    lr = _hyper(learning_rate, "learning_rate", who)
    b1 = _hyper(beta1, "beta1", who, high=1.0)
    b2 = _hyper(beta2, "beta2", who, high=1.0)
    eps = _hyper(epsilon, "epsilon", who)
    grads = _gradients(cost_or_grads, params, clip_norm, who)
    t_dtype = np.result_type(np.float32, *[p.dtype for p in params]).name  # float16 would stop counting at 2048
    t_prev = shared(np.zeros((), t_dtype), name="adam_t")
    t = t_prev + 1
    # Python-number betas stay weak scalars, so t's dtype sets the precision of the bias correction.
    b1t, b2t, lrt = _in(b1, t_dtype), _in(b2, t_dtype), _in(lr, t_dtype)
    a_t = lrt * E.sqrt(1 - b2t ** t) / (1 - b1t ** t)
    updates = []
    for p, g in zip(params, grads):
        m, v = _state(p, "m"), _state(p, "v")
        b1p, b2p = _in(b1, p.dtype), _in(b2, p.dtype)
        m_new = b1p * m + (1 - b1p) * g
        v_new = b2p * v + (1 - b2p) * E.sqr(g)
        step = E.cast(a_t, p.dtype) * m_new / (E.sqrt(v_new) + _in(eps, p.dtype))
        updates += [(p, p - step), (m, m_new), (v, v_new)]
    updates.append((t_prev, t))
    return updates
