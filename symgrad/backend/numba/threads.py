"""Calling kernels whose row passes run on numba's threads: fast on an idle machine, never a
disaster on a busy one.

Row passes split X into a fixed number of chunks (chosen when the kernel is generated), so a result
never depends on how many threads run them. That freedom is used here, per call:

- **Busy machines.** OpenMP threads spin while they wait for each other. When another process
  holds a core, a parallel region can stall for a scheduler time slice: measured 75 µs -> 4.7 ms per
  logistic-regression step on 2 cores with one other busy process. Each kernel therefore times its
  calls and runs them on all threads or on one (``numba.set_num_threads(1)``: the same chunks, the
  same bits), whichever is currently faster; the slower way is re-tried now and then, less often
  each time it loses again. ``loop`` runs its steps in segments of growing length so it can switch
  too.
- **workqueue** (numba's fallback threading layer) is not thread-safe: until a thread-safe layer
  (omp, tbb) is known to be in use, parallel kernels are called under one process-wide lock.
- **fork**: GNU OpenMP terminates a child forked from a process that already ran a parallel region
  when the child launches one. A forked child therefore runs a serial build of the same kernel.

>>> serial_source("nt = row_chunks(n, m, 2)\\nfor c in numba.prange(nt):")
'nt = row_chunks(n, m, 1)\\nfor c in range(nt):'
"""
from __future__ import annotations

import os
import re
import threading
import time
from typing import Callable

_LOCK = threading.Lock()
_state = {"used": False, "threadsafe": False, "forked": False, "unsure": 0}


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


class ThreadChooser:
    """Chooses all threads (True) or one thread (False) for each call from measured step times.

    Each way has a running estimate, an average of its recent step times (occasional
    multi-millisecond stalls of a busy machine must count). A way is measured in bursts of
    ``BURST`` calls whose first is not counted (it pays for waking or parking threads): both ways
    at the start, then the losing way again after 16 calls, 32, 64, ... while it keeps losing.

    >>> c = ThreadChooser()
    >>> for t in [1e-3, 5e-3, 6e-3, 5e-3]: c.record(c.pick(), t)   # all threads: slow (a busy machine)
    >>> for t in [1e-3, 1e-4, 1e-4, 1e-4]: c.record(c.pick(), t)   # one thread
    >>> c.pick()
    False
    """

    BURST = 4
    FIRST_PROBE = 16
    MAX_PROBE = 4096
    # Calls this short launch no threads (small inputs run one chunk): switching would cost more
    TOO_SHORT = 20e-6

    def __init__(self) -> None:
        self.estimate: dict = {True: None, False: None}  # seconds per step, by way
        self.queue: list = []  # ways of the probe under way
        self.burst: list = []  # its step times
        self.last: bool | None = None  # the way of the previous call
        self.calls = 0
        self.interval = self.FIRST_PROBE
        self.next_probe = self.FIRST_PROBE
        self.best: bool | None = None

    def _best(self) -> bool:
        # ties go to all threads: one thread costs two numba.set_num_threads calls
        return self.estimate[True] <= 1.05 * self.estimate[False]

    def _probe(self, way: bool) -> bool:
        self.queue, self.burst = [way] * (self.BURST - 1), []
        return way

    def pick(self) -> bool:
        if self.queue:
            return self.queue.pop()
        par, ser = self.estimate[True], self.estimate[False]
        if par is None:
            return self._probe(True)
        if par < self.TOO_SHORT:
            return True
        if ser is None:
            return self._probe(False)
        self.calls += 1
        if self.calls >= self.next_probe:
            self.next_probe = self.calls + self.interval
            return self._probe(not self._best())
        return self._best()

    def record(self, parallel: bool, seconds_per_step: float) -> None:
        switched, self.last = parallel != self.last, parallel
        if self.queue or self.burst or switched:  # inside a probe
            if not switched:
                self.burst.append(seconds_per_step)
            if self.queue:
                return
            if not self.burst:
                return
            self.estimate[parallel] = sum(self.burst) / len(self.burst)
            self.burst = []
        else:
            old = self.estimate[parallel]
            self.estimate[parallel] = seconds_per_step if old is None else 0.8 * old + 0.2 * seconds_per_step
        if self.estimate[True] is None or self.estimate[False] is None:
            return
        best = self._best()
        # a probe that lost again: wait longer before the next one; a change of winner: probe soon
        self.interval = min(self.interval * 2, self.MAX_PROBE) if best == self.best else self.FIRST_PROBE
        self.best = best


def _run(fn: Callable, args: tuple, parallel: bool):
    import numba

    if parallel:
        return fn(*args)
    saved = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return fn(*args)
    finally:
        numba.set_num_threads(saved)


def _guarded(fn: Callable, args: tuple, parallel: bool):
    _state["used"] = True
    if _state["threadsafe"]:
        return _run(fn, args, parallel)
    with _LOCK:
        result = _run(fn, args, parallel)
        _state["unsure"] += 1
        if _state["unsure"] % 64 == 1 and _layer() in ("omp", "tbb"):  # (asking costs ~1 us)
            _state["threadsafe"] = True
        return result


def _once(load: Callable[[], dict]) -> Callable[[], dict]:
    """``load``, called at most once (the serial build is compiled only in a forked child)."""
    done: list = []

    def get() -> dict:
        if not done:
            done.append(load())
        return done[0]

    return get


def parallel_kernel(namespace: dict, load_serial: Callable[[], dict], chooser: ThreadChooser) -> Callable:
    """``namespace["kernel"]`` called on all threads or one, as ``chooser`` finds faster."""
    serial = _once(load_serial)
    warm = False

    def call(*args):
        nonlocal warm
        if _state["forked"]:
            return serial()["kernel"](*args)
        parallel = chooser.pick()
        start = time.perf_counter()
        result = _guarded(namespace["kernel"], args, parallel)
        if warm:
            chooser.record(parallel, time.perf_counter() - start)
        warm = True  # the first call compiles or loads the kernel: not a step time
        return result

    return call


def parallel_loop(namespace: dict, load_serial: Callable[[], dict], chooser: ThreadChooser,
                  updated: dict) -> Callable:
    """``namespace["loop"]`` run in segments of growing length (8, 16, ... steps), each on all
    threads or one as ``chooser`` decides; ``updated`` (input slot -> result index) carries each
    segment's new shared values into the next. Segments compute exactly the steps one loop would."""
    serial = _once(load_serial)
    slots = sorted(updated.items())

    def call(n, *args):
        if _state["forked"]:
            return serial()["loop"](n, *args)
        args = list(args)
        done, segment = 0, 8
        while True:
            steps = min(segment, n - done)
            parallel = chooser.pick()
            start = time.perf_counter()
            result = _guarded(namespace["loop"], (steps, *args), parallel)
            chooser.record(parallel, (time.perf_counter() - start) / steps)
            done += steps
            if done == n:
                return result
            for slot, k in slots:
                args[slot] = result[k]
            segment = min(segment * 2, 4096)

    return call
