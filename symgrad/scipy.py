"""``minimize``: solve for shared variables with ``scipy.optimize.minimize`` (L-BFGS-B, BFGS, CG, ...).

symgrad compiles one function of the flattened parameter vector that returns the cost and its
gradient together (``jac=True``), so each scipy evaluation is one compiled call. The shared
variables are replaced by slices of that vector inside the graph (each cast back to its own
dtype); data inputs are bound once. When scipy returns, its solution ``x`` is written into the
shared variables and scipy's ``OptimizeResult`` is returned unchanged.

>>> import numpy as np, symgrad as sg
>>> w = sg.shared(np.zeros(2), name="w")
>>> result = minimize(((w - np.array([1.0, -2.0])) ** 2).sum(), w, mode="numpy")
>>> bool(result.success), w.get_value().round(6)
(True, array([ 1., -2.]))
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import scipy.optimize  # the real scipy: this module is symgrad.scipy, imports are absolute

from .backend.numba.blas import thread_pools
from .compile.function import Function, function
from .compile.io import In
from .compile.shared import SharedVariable, float_shared_list
from .gradient import grad
from .graph import Variable
from .tensor import elemwise as E
from .tensor import basic as _basic
from .tensor.shape import concatenate
from .tensor.variable import as_tensor_variable

__all__ = ["minimize", "value_and_grad_function"]


def _wrt(wrt) -> list[SharedVariable]:
    return float_shared_list(wrt, "minimize", "wrt")


def _bindings(args, inputs) -> tuple[list[Variable], list]:
    """(input variables, their values) from ``args`` as a {variable: value} dict or a tuple for ``inputs``."""
    if isinstance(args, Mapping):
        if inputs is not None:
            raise TypeError("minimize: pass either args as a {variable: value} dict or inputs= with an args "
                            "tuple, not both")
        return list(args.keys()), list(args.values())
    if isinstance(args, (Variable, np.ndarray)):
        raise TypeError(f"minimize: args must be a tuple of values (one per inputs entry) or a "
                        f"{{variable: value}} dict, got {type(args).__name__}")
    values = list(args)
    variables = list(inputs) if inputs is not None else []
    if len(values) != len(variables):
        raise ValueError(f"minimize: got {len(values)} args for {len(variables)} inputs; pass inputs=[...] "
                         "with one symbolic variable per value (or args as a {variable: value} dict)")
    return variables, values


def scalar_cost(cost, who: str) -> Variable:
    """``cost`` as a float scalar variable, or a TypeError naming it."""
    cost = as_tensor_variable(cost)
    if cost.ndim != 0 or cost.dtype[0] != "f":
        raise TypeError(f"{who}: cost must be a float scalar, got {cost.label()} ({cost.type.describe()})")
    return cost


def flat_layout(wlist: Sequence[SharedVariable]) -> list[tuple[int, int, tuple]]:
    """``(start, stop, shape)`` of each variable's slice of the flat parameter vector.

    >>> import numpy as np, symgrad as sg
    >>> flat_layout([sg.shared(np.ones((2, 3))), sg.shared(1.0)])
    [(0, 6, (2, 3)), (6, 7, ())]
    """
    layout, start = [], 0
    for w in wlist:
        shape = w.get_value(borrow=True).shape
        size = int(np.prod(shape, dtype=np.int64))
        layout.append((start, start + size, shape))
        start += size
    return layout


def unflatten(flat: Variable, wlist: Sequence[SharedVariable], layout) -> list[Variable]:
    """The pieces of the symbolic flat vector ``flat``, each reshaped and cast like its variable."""
    return [E.cast(flat[lo] if not shape else flat[lo:hi].reshape(shape), w.dtype)
            for w, (lo, hi, shape) in zip(wlist, layout)]


def start_vector(wlist: Sequence[SharedVariable], layout, x0, who: str) -> np.ndarray:
    """The variables' current values as one float64 vector, or ``x0`` checked against the layout."""
    size = layout[-1][1] if layout else 0
    if x0 is None:
        return np.concatenate([np.asarray(w.get_value(borrow=True), dtype=np.float64).ravel() for w in wlist])
    start = np.asarray(x0, dtype=np.float64)
    if start.shape != (size,):
        raise ValueError(f"{who}: x0 must be a flat vector of all wrt values, shape ({size},), got shape {start.shape}")
    return start


def write_back(wlist: Sequence[SharedVariable], layout, x) -> None:
    """Write the flat vector ``x`` into the variables."""
    x = np.asarray(x, dtype=np.float64)
    for w, (lo, hi, shape) in zip(wlist, layout):
        w.set_value(x[lo:hi].reshape(shape).astype(w.dtype))


def solve(objective, start: np.ndarray, method: str, **kwargs: Any) -> scipy.optimize.OptimizeResult:
    """``scipy.optimize.minimize(objective, start, jac=True, ...)`` with every OpenBLAS on one thread
    while the solver works and on the caller's counts while ``objective`` runs. The solvers' own
    vector work is small; OpenBLAS threads it wakes spin for a while afterwards and take the cores
    the next cost evaluation runs on (numba's threads, or Dask workers on the same machine:
    measured 0.097 -> 0.125 s per evaluation of a 2-worker fit)."""
    pools = thread_pools()
    before = [get() for _, get in pools]

    def counts(values):
        for (set_threads, _), n in zip(pools, values):
            set_threads(n)

    def evaluate(theta):
        counts(before)
        try:
            return objective(theta)
        finally:
            counts([1] * len(pools))

    counts([1] * len(pools))
    try:
        return scipy.optimize.minimize(evaluate, start, method=method, jac=True, **kwargs)
    finally:
        counts(before)


def value_and_grad_function(cost, wrt, inputs: Sequence[Variable | In] = (), mode: str | None = None,
                            on_unused_input: str = "raise") -> tuple[Function, list[tuple[int, int, tuple]]]:
    """Compile ``f(theta, *inputs) -> [cost, d cost / d theta]`` where ``theta`` (float64 vector)
    is every variable of ``wrt`` flattened and concatenated, as scipy wants it.

    Returns the function and, per variable, ``(start, stop, shape)`` of its slice of ``theta``.

    >>> import numpy as np, symgrad as sg
    >>> a, b = sg.shared(np.ones((1, 2)), name="a"), sg.shared(3.0, name="b")
    >>> f, layout = value_and_grad_function((a ** 2).sum() * b, [a, b], mode="numpy")
    >>> layout
    [(0, 2, (1, 2)), (2, 3, ())]
    >>> value, gradient = f(np.array([1.0, 2.0, 0.5]))
    >>> float(value), gradient
    (2.5, array([1., 2., 5.]))
    """
    wlist = _wrt(wrt)
    cost = scalar_cost(cost, "minimize")
    layout = flat_layout(wlist)
    theta = _basic.dvector("theta")
    grads = grad(cost, wlist)
    flat = concatenate([E.cast(g, "float64").reshape((hi - lo,)) for g, (lo, hi, _) in zip(grads, layout)])
    givens = dict(zip(wlist, unflatten(theta, wlist, layout)))
    fn = function([theta] + list(inputs), [E.cast(cost, "float64"), flat], givens=givens, mode=mode,
                  on_unused_input=on_unused_input, name="minimize_objective")
    return fn, layout


def minimize(cost, wrt, args: Mapping | Sequence = (), method: str = "L-BFGS-B", x0=None, *,
             inputs: Sequence[Variable] | None = None, mode: str | None = None, **kwargs: Any
             ) -> scipy.optimize.OptimizeResult:
    """Minimize the scalar ``cost`` over the shared variables ``wrt`` with ``scipy.optimize.minimize``.

    - ``wrt``: a float shared variable or a list of them; their current values are the start
      (``x0``, a flat float64 vector of all of them, overrides it).
    - ``args``: the values of the cost's other inputs, as ``{variable: value}``, or a tuple with
      ``inputs=[variable, ...]`` giving their variables.
    - ``method`` and ``**kwargs`` (``tol``, ``options``, ``callback``, ``bounds``, ...) go to scipy;
      ``bounds`` and ``callback`` see the flat vector. Methods that ignore gradients work too (scipy
      warns that the gradient is unused).

    The final ``x`` is written into the shared variables whether or not scipy reports success.

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> x, y = T.dvector("x"), T.dvector("y")
    >>> w = sg.shared(0.0, name="w")
    >>> result = minimize(((w * x - y) ** 2).sum(), w, {x: [1.0, 2.0], y: [2.0, 4.0]}, mode="numpy")
    >>> round(float(w.get_value()), 6), round(float(result.fun), 9)
    (2.0, 0.0)
    """
    for key in ("fun", "jac"):
        if key in kwargs:
            raise TypeError(f"minimize: {key}= is built by symgrad (the compiled cost and gradient); "
                            "do not pass it")
    wlist = _wrt(wrt)
    variables, values = _bindings(args, inputs)
    start = start_vector(wlist, flat_layout(wlist), x0, "minimize")
    # The data become default values: converted and checked once, when the function is built.
    bound = [In(v, value=value) for v, value in zip(variables, values)]
    fn, layout = value_and_grad_function(cost, wlist, bound, mode=mode)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, gradient = fn(theta)
        return float(value), gradient

    result = solve(objective, start, method, **kwargs)
    write_back(wlist, layout, result.x)
    return result
