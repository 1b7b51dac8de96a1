"""Calling kernels whose row passes run on numba's threads, safely.

Two hazards of numba's threading layers, handled here so a user never meets them:

- the *workqueue* layer is not thread-safe: two Python threads launching parallel regions at once
  abort the process. Until a thread-safe layer (omp, tbb) is known to be in use, parallel kernels
  are called under one process-wide lock.
- GNU OpenMP (the *omp* layer) is not fork-safe: a child forked from a process that already ran a
  parallel region is terminated when it launches one. A forked child therefore runs a serial build
  of the same kernel (one row chunk, ``prange`` printed as ``range``): correct, just not threaded.

>>> serial_source("nt = row_chunks(n, m, 2)\\nfor c in numba.prange(nt):")
'nt = row_chunks(n, m, 1)\\nfor c in range(nt):'
"""
from __future__ import annotations

import os
import re
import threading
from typing import Callable

_LOCK = threading.Lock()
_state = {"used": False, "threadsafe": False, "forked": False}


def _layer() -> str | None:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run in this process
        return None


def _after_fork_in_child() -> None:
    if _state["used"] and _layer() == "omp":
        _state["forked"] = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def serial_source(source: str) -> str:
    """The same kernel with every row pass on one chunk and no parallel loop."""
    source = re.sub(r"row_chunks\(n, m, \d+\)", "row_chunks(n, m, 1)", source)
    return source.replace("numba.prange(", "range(")


def parallel_entry(name: str, namespace: dict, load_serial: Callable[[], dict]) -> Callable:
    """``namespace[name]`` wrapped for the hazards above; ``load_serial()`` builds the serial module
    (only in a forked child, and only once)."""
    serial: list = []

    def call(*args):
        if _state["forked"]:
            if not serial:
                serial.append(load_serial())
            return serial[0][name](*args)
        _state["used"] = True
        if _state["threadsafe"]:
            return namespace[name](*args)
        with _LOCK:
            result = namespace[name](*args)
            if _layer() in ("omp", "tbb"):
                _state["threadsafe"] = True
            return result

    return call
