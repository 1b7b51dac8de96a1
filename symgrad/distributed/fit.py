"""``minimize`` (scipy on the client, cost and gradient on the workers) and ``train`` (synchronous
data-parallel gradient steps with symgrad's update rules)."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import scipy.optimize
from distributed import Client

from ..compile.function import function
from ..compile.shared import SharedVariable, float_shared_list
from ..optimizers import sgd
from ..scipy import flat_layout, solve, start_vector, unflatten, write_back
from ..tensor.basic import dvector
from .objective import BlockObjective


def minimize(cost, params: Sequence[SharedVariable] | SharedVariable, data: Mapping, method: str = "L-BFGS-B",
             client: Client | None = None, *, x0=None, mode: str | None = None, **options: Any
             ) -> scipy.optimize.OptimizeResult:
    """Minimize ``cost`` over the shared variables ``params`` with ``scipy.optimize.minimize``, its
    value and gradient computed on the Dask workers that hold the row blocks of ``data``.

    The contract of :func:`symgrad.scipy.minimize`: ``method`` and ``**options`` (``tol``,
    ``options``, ``callback``, ``bounds``) go to scipy, the start is the parameters' values (or
    ``x0``), the solution is written into them and scipy's result is returned. ``data`` maps the
    cost's inputs to dask arrays split into row blocks (values that are not dask arrays are given
    whole to every block). The cost must be a sum or mean over the rows plus terms free of them;
    anything else is refused before any work (``ValueError``).
    """
    for key in ("fun", "jac", "args"):
        if key in options:
            raise TypeError(f"distributed.minimize: {key}= is built by symgrad (the cost and gradient over the "
                            "row blocks); do not pass it")
    who = "distributed.minimize"
    wlist = float_shared_list(params, who, "params")
    start = start_vector(wlist, flat_layout(wlist), x0, who)
    objective = BlockObjective(cost, wlist, data, client, mode, who=who)
    result = solve(objective, start, method, **options)
    write_back(wlist, objective.layout, result.x)
    return result


def train(cost, params: Sequence[SharedVariable] | SharedVariable, data: Mapping, optimizer: Callable = sgd, *,
          epochs: int = 1, blocks_per_step: int | None = None, seed: int | None = 0, client: Client | None = None,
          mode: str | None = None, callback: Callable[[int, float], Any] | None = None,
          **optimizer_args: Any) -> list[float]:
    """Synchronous data-parallel training: each step adds the gradients of the chosen row blocks
    (computed where they live) and applies ``optimizer`` (``symgrad.optimizers.sgd``, ``adam``,
    ... with ``**optimizer_args`` such as ``learning_rate=0.1``) once, on the client, to the
    shared variables ``params``.

    With ``blocks_per_step=None`` every step uses all rows: the step of the one-process function
    ``symgrad.function([], cost, updates=optimizer(cost, params, ...))`` on all the data. With
    ``blocks_per_step=k`` an epoch visits the blocks in a random order (``seed``), ``k`` blocks a
    step: minibatches of whole blocks, the cost's means taken over the step's rows. Returns the
    cost of every step (at the parameters before it); ``callback(step, cost)`` sees each.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"distributed.train: epochs must be a positive integer, got {epochs!r}")
    if blocks_per_step is not None and (isinstance(blocks_per_step, bool) or not isinstance(blocks_per_step, int)
                                        or blocks_per_step < 1):
        raise ValueError(f"distributed.train: blocks_per_step must be a positive integer, got {blocks_per_step!r}")
    who = "distributed.train"
    wlist = float_shared_list(params, who, "params")
    layout = flat_layout(wlist)
    step = _update_function(wlist, layout, optimizer, optimizer_args, mode)  # (its errors before any work)
    objective = BlockObjective(cost, wlist, data, client, mode, who=who)
    n = len(objective.blocks.rows)
    blocks_per_step = n if blocks_per_step is None else blocks_per_step
    rng = np.random.default_rng(seed)
    costs: list[float] = []
    for _ in range(epochs):
        order = np.arange(n) if blocks_per_step >= n else rng.permutation(n)
        for lo in range(0, n, blocks_per_step):
            value, gradient = objective(start_vector(wlist, layout, None, who), order[lo:lo + blocks_per_step])
            step(gradient)
            costs.append(value)
            if callback is not None:
                callback(len(costs) - 1, value)
    return costs


def _update_function(wlist, layout, optimizer: Callable, optimizer_args: dict, mode):
    """``f(flat gradient)`` applying ``optimizer``'s updates to the parameters (and its state)."""
    flat = dvector("gradient")
    updates = optimizer(unflatten(flat, wlist, layout), wlist, **optimizer_args)
    return function([flat], [], updates=updates, mode=mode, name="distributed_step")
