"""The cost and its gradient over row blocks held by Dask workers, as one client-side callable.

``BlockObjective(cost, params, data, client)(theta)`` returns the cost over all rows and its
gradient with respect to the flat parameter vector ``theta``: one task per worker computes the
part of each block it holds; the parts come back per block and the client adds them in a fixed
pairwise tree over block order (so the sum has the same bits whichever worker ran what, also after
Dask recomputed a lost block), then the part computed once (regularizers, constants: the cost on
zero rows). Per call the client sends ``theta`` once to each worker and receives one (cost,
gradient) per block.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import CancelledError
from typing import Mapping, Sequence

import numpy as np
from distributed import Client

from ..compile.io import In
from ..config import config
from ..compile.shared import SharedVariable, float_shared_list
from ..graph import graph_inputs
from ..scipy import scalar_cost, value_and_grad_function
from ..tensor.basic import lscalar
from . import worker
from .blocks import Blocks, check, place
from .cluster import resolve_client
from .split import split_rows

WAIT_FOR_WORKERS = 60.0  # seconds a fit waits for a cluster that has no worker yet


class BlockObjective:
    """``(cost, gradient)`` of ``cost`` over the row blocks of ``data``'s dask arrays (see the module)."""

    def __init__(self, cost, params: Sequence[SharedVariable] | SharedVariable, data: Mapping,
                 client: Client | None = None, mode: str | None = None, who: str = "distributed"):
        self.params = float_shared_list(params, who, "params")
        cost = scalar_cost(cost, who)
        checked = check(data)
        _refuse_unsplittable_inputs(cost, checked, who)
        rows = lscalar("rows")
        part = split_rows(cost, checked.sharded, rows)  # refuses a cost the blocks would change
        bound = [In(v, value=value) for v, value in zip(checked.bound_variables, checked.bound_values)]
        # the part computed once: the cost on zero rows, by the reference backend (no compile wait)
        self._once, self.layout = value_and_grad_function(part.full, self.params, [*checked.sharded, rows, *bound],
                                                          mode="numpy", on_unused_input="ignore")
        # (the client's mode, not the workers' configuration, says how blocks are computed)
        payload = worker.BlockProgram.make(part.local, self.params, checked.sharded, rows, checked.bound_variables,
                                           checked.bound_values, mode if mode is not None else config.mode)
        self.key = hashlib.sha256(payload).hexdigest()[:24]  # the workers' build cache key
        self.client = resolve_client(client)
        self._build_on_workers(payload)  # before any task: a worker that cannot run ours fails here
        self._payload_bytes = payload
        self._payload = self.client.scatter(payload, broadcast=True, hash=False)  # for workers that join later
        self.blocks: Blocks = place(checked, self.client)
        self.size = self.layout[-1][1] if self.layout else 0
        self.worker_seconds: list[float] = []  # the last call's compute time on each worker used

    def _build_on_workers(self, payload: bytes) -> None:
        """Build the block function on every worker now, all at once, and raise what stops one
        (a worker whose symgrad cannot import or build it) on the client instead of hanging."""
        if not self.client.scheduler_info()["workers"]:
            try:
                self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
            except TimeoutError:
                raise RuntimeError(f"symgrad.distributed: the cluster has no workers (waited {WAIT_FOR_WORKERS} s "
                                   "for one)") from None
        try:
            self.client.run(worker.block_function, self.key, payload)
        except RuntimeError:
            raise
        except Exception as exc:  # e.g. the worker cannot import symgrad.distributed.worker
            raise RuntimeError(f"symgrad.distributed: a worker could not build the block function "
                               f"({type(exc).__name__}: {exc})") from exc

    def __call__(self, theta: np.ndarray, blocks: Sequence[int] | None = None) -> tuple[float, np.ndarray]:
        """Cost and gradient over all blocks, or over ``blocks`` (indices) as if they were all the data."""
        theta = np.ascontiguousarray(theta, dtype=np.float64)
        if theta.shape != (self.size,):
            raise ValueError(f"distributed: theta must be a flat vector of all params, shape ({self.size},), "
                             f"got shape {theta.shape}")
        n = len(self.blocks.rows)
        chosen = list(range(n)) if blocks is None else [int(i) for i in blocks]
        if not chosen or any(not 0 <= i < n for i in chosen) or len(set(chosen)) != len(chosen):
            raise ValueError(f"distributed: blocks must be distinct indices of the {n} row blocks, got {chosen!r}")
        rows = int(sum(self.blocks.rows[i] for i in chosen))
        try:
            partial = self._evaluate(theta, rows, chosen)
        except CancelledError:
            # a killed worker may take the scattered program with it before the broadcast has
            # copied it to the others (Dask: "lose scattered data, which can't be recovered"); lost
            # blocks are recomputed by Dask, the program is scattered again: the same bits
            if self._payload.status == "finished":
                raise
            self._payload = self.client.scatter(self._payload_bytes, broadcast=True, hash=False)
            partial = self._evaluate(theta, rows, chosen)
        value, gradient = _tree_sum([partial[i] for i in chosen])
        once_value, once_gradient = self._once(theta, *self.blocks.templates, rows)
        return float(value + once_value), gradient + once_gradient

    def _evaluate(self, theta: np.ndarray, rows: int, chosen: list[int]) -> dict:
        """{block index: (cost, gradient)} of the blocks ``chosen``, one task per worker."""
        client, futures = self.client, self.blocks.futures
        # one task per worker, over the blocks it holds
        holders = client.who_has([futures[i] for i in chosen])
        by_worker: dict = {}
        for i in chosen:
            where = sorted(holders.get(futures[i].key, ())) or [""]
            by_worker.setdefault(where[0], []).append(i)
        tasks = []
        for address, indices in by_worker.items():
            args = [futures[i] for i in indices]
            # (a block whose holder is gone has no address: any worker, and dask refuses
            # allow_other_workers without workers)
            place = dict(workers=[address], allow_other_workers=True) if address else {}
            task = client.submit(worker.evaluate, self.key, self._payload, theta, rows, *args, pure=False, **place)
            tasks.append((indices, task))
        partial: dict = {}
        self.worker_seconds = []
        for (indices, _), (results, seconds) in zip(tasks, client.gather([t for _, t in tasks])):
            partial.update(zip(indices, results))
            self.worker_seconds.append(seconds)
        return partial


def _refuse_unsplittable_inputs(cost, checked, who: str) -> None:
    """Sharded inputs the cost does not read (they would be persisted for nothing) and random
    draws (every block and the client would advance its own copy of the generator's state)."""
    leaves = graph_inputs([cost])
    for v in checked.sharded:
        if not any(v is leaf for leaf in leaves):
            raise ValueError(f"{who}: data gives {v.label()}, which the cost does not read")
    for leaf in leaves:
        if isinstance(leaf, SharedVariable) and leaf.default_update is not None:
            raise ValueError(f"{who}: the cost draws random numbers ({leaf.label()} has a default update): each "
                             "row block would draw its own, unlike the one-process cost; draw them outside the cost")


def _tree_sum(parts: list[tuple]) -> tuple[float, np.ndarray]:
    """Pairwise sum of (cost, gradient) pairs in a fixed tree over their order."""
    while len(parts) > 1:
        paired = [(a[0] + b[0], a[1] + b[1]) for a, b in zip(parts[0::2], parts[1::2])]
        parts = paired + ([parts[-1]] if len(parts) % 2 else [])
    return parts[0]
