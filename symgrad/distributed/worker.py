"""What runs on the Dask workers: build the block function once per process, evaluate it on the
row blocks the worker holds.

The block function comes as a :class:`BlockProgram` (the graph of one block's cost, flattened,
with the values of the inputs that are not split into blocks); each worker process builds it once
(when the fit starts, or when a worker that joined later first gets a block; symgrad's plan and
kernel caches make that a load, not a compile, on all but the first worker of a machine) and
keeps it in ``_BUILT`` under the program's key, so an iteration sends parameters and receives
gradients, nothing else.
"""
from __future__ import annotations

import pickle
import time
from dataclasses import dataclass

import numpy as np

from ..compile.function import Function
from ..compile.io import In
from ..compile.shared import shared
from ..graph import clone_replace, flatten_graph, unflatten_graph
from ..scipy import value_and_grad_function

_BUILT: dict[str, Function] = {}
_KEEP = 16


@dataclass(frozen=True)
class BlockProgram:
    """A block's cost as the workers receive it: ``graph`` is ``flatten_graph([cost], params +
    sharded + [rows] + bound)`` with the parameters as plain symbolic variables of their types
    (``shapes``: their shapes), so neither their values travel nor the key changes with them;
    ``bound`` are the values of the inputs that are not split."""
    graph: tuple
    shapes: tuple
    n_sharded: int
    bound: tuple
    mode: str | None

    @staticmethod
    def make(cost, params, sharded, rows, bound_vars, bound_values, mode) -> bytes:
        stand_ins = [p.type.make_variable(name=p.name) for p in params]
        (cost,) = clone_replace([cost], dict(zip(params, stand_ins)))
        graph = flatten_graph([cost], [*stand_ins, *sharded, rows, *bound_vars])
        shapes = tuple(p.get_value(borrow=True).shape for p in params)
        return pickle.dumps(BlockProgram(graph, shapes, len(sharded), tuple(bound_values), mode),
                            protocol=pickle.HIGHEST_PROTOCOL)

    def build(self) -> Function:
        (cost,), extra = unflatten_graph(self.graph)
        n = len(self.shapes)
        # shared variables again (what value_and_grad_function replaces by slices of theta)
        params = [shared(np.zeros(shape, v.dtype), name=v.name, broadcastable=v.broadcastable)
                  for v, shape in zip(extra[:n], self.shapes)]
        (cost,) = clone_replace([cost], dict(zip(extra[:n], params)))
        rest = extra[n:]
        sharded, rows, bound = rest[:self.n_sharded], rest[self.n_sharded], rest[self.n_sharded + 1:]
        inputs = [*sharded, rows, *(In(v, value=value) for v, value in zip(bound, self.bound))]
        fn, _ = value_and_grad_function(cost, params, inputs, mode=self.mode, on_unused_input="ignore")
        return fn


def block_function(key: str, payload: bytes) -> Function:
    """This process's build of the program ``payload`` (built on first use; the client builds it
    on every worker when a fit starts, a worker that joins later when it first gets a block)."""
    fn = _BUILT.get(key)
    if fn is None:
        try:
            program = pickle.loads(payload)
            fn = program.build()
        except Exception as exc:  # the client sees which worker failed and why, not a hung fit
            raise RuntimeError(f"symgrad.distributed: a worker could not build the block function "
                               f"({type(exc).__name__}: {exc})") from exc
        while len(_BUILT) >= _KEEP:  # a long-lived worker serving many fits keeps the recent ones
            _BUILT.pop(next(iter(_BUILT)))
        _BUILT[key] = fn
    return fn


def pack(*arrays) -> tuple:
    """One row block of every sharded input, kept together on one worker."""
    return arrays


def evaluate(key: str, payload: bytes, theta: np.ndarray, rows: int, *blocks: tuple) -> tuple[list[tuple], float]:
    """(cost, gradient) at ``theta`` of each block (a tuple of the inputs' rows), on the
    worker's own threads only. Partial results go back per block: the client adds them in block
    order, so the sum has the same bits wherever each block ran. Also returns the seconds spent."""
    fn = block_function(key, payload)
    start = time.perf_counter()
    threads = _worker_threads()
    saved = None
    if threads is not None:
        import numba  # (a dependency of symgrad; only its thread count is set here)

        saved = numba.get_num_threads()
        numba.set_num_threads(min(saved, threads))
    try:
        results = []
        for block in blocks:
            value, gradient = fn(theta, *block, rows)
            results.append((float(value), np.asarray(gradient, dtype=np.float64)))
        return results, time.perf_counter() - start
    finally:
        if saved is not None:
            numba.set_num_threads(saved)


def _worker_threads() -> int | None:
    """The thread count of the Dask worker running this task (None outside a worker): its
    kernels use that many of numba's threads, as many as the cluster gives it."""
    try:
        from distributed import get_worker

        return get_worker().state.nthreads
    except ValueError:  # not in a worker
        return None
