"""The data of a fit: dask arrays split into row blocks that line up, persisted on the workers.

Every dask array in ``data`` is split along its first axis only (other axes in one chunk) at the
row boundaries of the first one, so block ``i`` of every input holds the same rows; the blocks are
persisted in the workers' memory and never gathered to the client. Values that are not dask
arrays are bound whole (every block sees all of them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import dask.array as da
import numpy as np
from distributed import Client, futures_of, wait

from ..compile.shared import SharedVariable
from ..graph import Constant, Variable
from . import worker


@dataclass(frozen=True)
class Blocks:
    """The row blocks: ``futures[i]`` holds block ``i`` of every sharded input (a tuple of arrays
    on one worker). The persisted arrays are not kept: the packed blocks hold their data, and Dask
    keeps the tasks that made them to recompute a lost block."""
    futures: tuple
    rows: tuple                   # rows per block
    templates: tuple              # zero-row arrays of each input's trailing shape and dtype

    @property
    def total_rows(self) -> int:
        return int(sum(self.rows))


@dataclass(frozen=True)
class Data:
    """``data`` checked: the sharded inputs with their dask arrays (lined up), and the rest."""
    sharded: tuple
    arrays: tuple
    bound_variables: tuple
    bound_values: tuple


def check(data: Mapping) -> Data:
    """Check ``data`` ({variable: dask array or value}) and line up its row blocks (lazily:
    nothing is computed); every error is raised here, before any work is sent."""
    if not isinstance(data, Mapping):
        raise TypeError(f"distributed: data must be a {{variable: dask array}} dict, got {type(data).__name__}")
    sharded, arrays, bound_vars, bound_values = [], [], [], []
    for var, value in data.items():
        if not isinstance(var, Variable) or isinstance(var, (SharedVariable, Constant)) or var.owner is not None:
            raise TypeError(f"distributed: data keys must be symbolic inputs (T.dmatrix(...), ...), got "
                            f"{var!r} ({type(var).__name__})")
        if isinstance(value, da.Array):
            sharded.append(var)
            arrays.append(_checked(var, value))
        else:
            bound_vars.append(var)
            bound_values.append(value)
    if not arrays:
        raise ValueError("distributed: no value in data is a dask array, so nothing is split into row blocks "
                         "(use symgrad.scipy.minimize for data in memory, or da.from_array(x, chunks=...) )")
    first_var, first = sharded[0], arrays[0]
    for var, arr in zip(sharded[1:], arrays[1:]):
        if arr.shape[0] != first.shape[0]:
            raise ValueError(f"distributed: the sharded inputs must have the same number of rows: "
                             f"{first_var.label()} has {first.shape[0]}, {var.label()} has {arr.shape[0]}")
    row_chunks = first.chunks[0]
    # one chunk across the other axes: a block holds whole rows; the same row boundaries for all
    arrays = [a if a.chunks[0] == row_chunks and all(len(c) == 1 for c in a.chunks[1:])
              else a.rechunk((row_chunks,) + tuple(-1 for _ in a.shape[1:])) for a in arrays]
    return Data(tuple(sharded), tuple(arrays), tuple(bound_vars), tuple(bound_values))


def place(data: Data, client: Client) -> Blocks:
    """Persist ``data``'s arrays on the workers and pack each row block's pieces together."""
    row_chunks = data.arrays[0].chunks[0]
    arrays = client.persist(list(data.arrays))
    wait(arrays)
    columns = []
    for arr in arrays:
        held = {f.key: f for f in futures_of(arr)}
        columns.append([held[k] for k in _block_keys(arr)])
    # Block i of every input in one tuple on one worker, so an evaluation reads only local memory
    # (persist places each input's blocks on its own): the worker holding its largest part, unless
    # that worker has its share of blocks already (Dask may put all of a small graph's blocks on one)
    largest = int(np.argmax([a.dtype.itemsize * np.prod(a.shape[1:], dtype=np.int64) for a in arrays]))
    holders = client.who_has(columns[largest])
    targets = _balanced([sorted(holders.get(f.key, ())) for f in columns[largest]],
                        sorted(client.scheduler_info()["workers"]))
    packed = [client.submit(worker.pack, *(col[i] for col in columns), pure=False, workers=[target],
                            allow_other_workers=True) for i, target in enumerate(targets)]
    wait(packed)
    templates = tuple(np.empty((0,) + a.shape[1:], dtype=a.dtype) for a in arrays)
    return Blocks(tuple(packed), tuple(int(n) for n in row_chunks), templates)


def _balanced(holders: list[list[str]], workers: list[str]) -> list[str]:
    """A worker for each block: where it is while that worker holds fewer than its share
    (ceil(blocks / workers)), else the worker with the fewest blocks so far.

    >>> _balanced([["a"], ["a"], ["a"], ["b"]], ["a", "b"])
    ['a', 'a', 'b', 'b']
    """
    share = -(-len(holders) // max(1, len(workers)))
    count = {w: 0 for w in workers}
    targets = []
    for where in holders:
        here = next((w for w in where if count.get(w, share) < share), None)
        target = here if here is not None else min(count, key=lambda w: (count[w], w))
        count[target] += 1
        targets.append(target)
    return targets


def _checked(var: Variable, arr: da.Array) -> da.Array:
    if arr.ndim != var.ndim:
        raise TypeError(f"distributed: data for {var.label()} ({var.type.describe()}) must be a {var.ndim}-d "
                        f"dask array, got {arr.ndim}-d with shape {arr.shape}")
    if any(np.isnan(n) for n in arr.shape):
        raise ValueError(f"distributed: the dask array for {var.label()} has unknown chunk sizes; call "
                         "compute_chunk_sizes() on it first")
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError(f"distributed: the dask array for {var.label()} has no rows (shape {arr.shape})")
    if arr.dtype != np.dtype(var.dtype):
        if not np.can_cast(arr.dtype, var.dtype, "safe"):
            raise TypeError(f"distributed: data for {var.label()} must be {var.dtype} (or safely castable to it), "
                            f"got a dask array of {arr.dtype}")
        arr = arr.astype(var.dtype)
    return arr


def _block_keys(arr: da.Array) -> list:
    """The keys of ``arr``'s row blocks in row order (one chunk across the other axes)."""
    keys = arr.__dask_keys__()
    for _ in range(arr.ndim - 1):
        keys = [k[0] for k in keys]
    return keys
