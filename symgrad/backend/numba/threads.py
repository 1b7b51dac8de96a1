"""Calling kernels whose row passes or convolutions run on numba's threads: fast on an idle
machine, never a disaster on a busy one.

Row passes split X into a fixed number of chunks (chosen when the kernel is generated), and
convolutions their images (conv.py), so a result never depends on how many threads run them. That
freedom is used here, per call:

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
  when the child launches one. A forked child therefore runs every call on one thread: with one
  thread ``run_chunks`` (chunks.py) runs the same chunks one after the other on the calling
  thread and starts no parallel region (the same bits).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Callable

import numpy as np

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


class ThreadChooser:
    """Chooses all threads (True) or one thread (False) for each call from measured step times.

    Each way has a running estimate, an average of its recent step times (occasional
    multi-millisecond stalls of a busy machine must count). A way is measured in bursts of
    ``BURST`` calls whose first is not counted (it pays for waking or parking threads): both ways
    at the start, then the losing way again after 16 calls, 32, 64, ... while it keeps losing.
    Calls of a millisecond or more are measured one at a time, after 64, 128, ... calls.

    >>> c = ThreadChooser()
    >>> for t in [1e-3, 5e-3, 6e-3, 5e-3]: c.record(c.pick(), t)   # all threads: slow (a busy machine)
    >>> for t in [1e-3, 1e-4, 1e-4, 1e-4]: c.record(c.pick(), t)   # one thread
    >>> c.pick()
    False
    """

    BURST = 4
    # A call this long is a precise measurement on its own (waking threads is noise next to it):
    # its probes are one call, counted, and come four times less often
    LONG_CALL = 1e-3
    FIRST_PROBE = 16
    MAX_PROBE = 4096
    # Calls this short launch no threads (small inputs run one chunk): switching would cost more
    TOO_SHORT = 20e-6
    SAMPLE = 8  # in the steady state one call in this many is timed (see untimed)

    def __init__(self) -> None:
        self.estimate: dict = {True: None, False: None}  # seconds per step, by way
        self.queue: list = []  # ways of the probe under way
        self.burst: list = []  # its step times
        self.last: bool | None = None  # the way of the previous call
        self.calls = 0
        self.interval = self.FIRST_PROBE
        self.next_probe = self.FIRST_PROBE
        self.best: bool | None = None
        self.loop_wait = 2  # long loop segments before a loop measures the slower way again
        self.keep_first = False  # count the first call of the probe under way

    def untimed(self) -> tuple[int, bool]:
        """After a timed call: how many of the next calls may run without being timed, and which
        way. In the steady state (no probe under way or due) that is ``SAMPLE - 1`` calls on the
        best way: timing a call and the bookkeeping cost ~3 us after a 400x784 step (the kernel has
        just pushed the interpreter's data out of the caches), so one call in ``SAMPLE`` is timed;
        calls of a millisecond or more are all timed. Untimed calls count towards the next probe as
        if they had been picked, so probes keep their schedule. A machine turning busy is noticed
        at most ``SAMPLE - 1`` calls later."""
        if self.queue or self.burst:
            return 0, True
        par, ser = self.estimate[True], self.estimate[False]
        if par is None:
            return 0, True
        if par < self.TOO_SHORT:
            return self.SAMPLE - 1, True
        if ser is None or self.best is None or min(par, ser) >= self.LONG_CALL:
            return 0, True  # (a long call's timing costs nothing next to it: every one is timed)
        n = min(self.SAMPLE - 1, self.next_probe - self.calls - 1)
        if n <= 0:
            return 0, True
        self.calls += n
        # the calls run the best way: the next timed call continues them (it is counted, not
        # taken for the first call back from a probe)
        self.last = self.best
        return n, self.best

    def best_way(self) -> bool:
        """The faster way by the current estimates (both must be known)."""
        # ties go to all threads: one thread costs two numba.set_num_threads calls; long calls are
        # measured one at a time, so one thread must win clearly (a stalled machine loses 2x+)
        par, ser = self.estimate[True], self.estimate[False]
        margin = 1.25 if (par if par < ser else ser) >= self.LONG_CALL else 1.05
        return par <= margin * ser

    def observe(self, parallel: bool, seconds_per_step: float) -> None:
        """A precise measurement (a loop segment of many steps) replaces the way's estimate."""
        self.estimate[parallel] = seconds_per_step
        self.last = None  # the next call is not a continuation of a burst

    def _burst(self) -> int:
        par, ser = self.estimate[True], self.estimate[False]  # (no list: this runs on every call)
        low = ser if par is None else par if ser is None or par < ser else ser
        return 1 if low is not None and low >= self.LONG_CALL else self.BURST

    def _probe(self, way: bool) -> bool:
        n = self._burst()
        self.queue, self.burst, self.keep_first = [way] * (n - 1), [], n == 1
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
            self.next_probe = self.calls + self.interval * (self.BURST // self._burst())
            return self._probe(False)
        self.calls += 1
        if self.calls >= self.next_probe:
            self.next_probe = self.calls + self.interval * (self.BURST // self._burst())
            return self._probe(not self.best_way())
        return self.best_way()

    def record(self, parallel: bool, seconds_per_step: float) -> None:
        switched, self.last = parallel != self.last, parallel
        probed = bool(self.queue or self.burst or switched)  # this call belongs to a burst
        if probed:
            if not switched or self.keep_first:
                self.burst.append(seconds_per_step)
            if self.queue or not self.burst:
                return
            self.estimate[parallel] = sum(self.burst) / len(self.burst)
            self.burst, self.keep_first = [], False  # (the call back is not part of the probe)
        else:
            old = self.estimate[parallel]
            self.estimate[parallel] = seconds_per_step if old is None else 0.8 * old + 0.2 * seconds_per_step
        if self.estimate[True] is None or self.estimate[False] is None:
            return
        best = self.best_way()
        if probed and self.best is not None:
            # a probe that lost again: wait twice as long for the next; one that won: probe soon
            self.interval = min(self.interval * 2, self.MAX_PROBE) if best == self.best else self.FIRST_PROBE
        elif best != self.best:
            # the running way got slower than the other's last measurement: check that one soon
            self.interval = self.FIRST_PROBE
            self.next_probe = self.calls + self.FIRST_PROBE * (self.BURST // self._burst())
        self.best = best


def _run(fn: Callable, args: tuple, parallel: bool):
    if parallel:
        return fn(*args)
    import numba

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


def parallel_kernel(namespace: dict, chooser: ThreadChooser, name: str = "kernel") -> Callable:
    """``namespace[name]`` called on all threads or one, as ``chooser`` finds faster."""
    warm = False

    fn = namespace[name]
    clock = time.perf_counter

    free, way = 0, True  # calls left that run ``way`` untimed (chooser.untimed)

    def call(*args):
        nonlocal warm, free, way
        if _state["forked"]:
            return _run(fn, args, False)
        if free > 0:  # (> 0: two threads may both take the last free call, leaving -1)
            free -= 1
            parallel, start = way, None
        else:
            parallel, start = chooser.pick(), clock()
        if parallel and _state["threadsafe"]:  # the common case, without the frames of _guarded
            _state["used"] = True
            result = fn(*args)
        else:
            result = _guarded(fn, args, parallel)
        if start is not None:
            if warm:
                chooser.record(parallel, clock() - start)
                free, way = chooser.untimed()
            warm = True  # the first call compiles or loads the kernel: not a step time
        return result

    return call


PROBE_STEPS = {False: 8, True: 32}
PROBE_SECONDS = 0.002  # at most (by its last estimate) what a probe of a slow way may cost
FIRST_SEGMENT = 64
LONGEST_SEGMENT = 4096
# ... but no longer than this (by the current estimate): if the machine turns busy mid-segment,
# at most this much runs the way that just became slow
SEGMENT_SECONDS = 0.02


def loop_segments(n: int, chooser: ThreadChooser):
    """Segments (way, steps) for a loop of ``n`` steps; send each segment's seconds per step back.

    Each way is first measured on a short segment (``PROBE_STEPS``); then the faster way runs in
    segments of growing length, and the slower way is measured again on a short segment after 2,
    4, 8, 16 long ones while it keeps losing (the count carries over to the kernel's next loop).
    Long segments time themselves precisely, so a loop needs no bursts, and a slow way never runs
    for long: a long segment that turns slow makes the next one take the other way.

    >>> c = ThreadChooser()
    >>> plan = loop_segments(300, c)
    >>> way, steps = next(plan); way, steps
    (True, 32)
    >>> plan.send(50e-6)   # all threads: 50 us per step; now one thread is measured
    (False, 8)
    >>> plan.send(30e-6)   # one thread is faster (a busy machine): it runs the long segments
    (False, 64)
    """
    done, long, since = 0, FIRST_SEGMENT, 0
    while done < n:
        par, ser = chooser.estimate[True], chooser.estimate[False]
        probe = False
        if par is None:
            way, probe = True, True
        elif ser is None and par >= chooser.TOO_SHORT:
            way, probe = False, True
        elif ser is not None and since >= chooser.loop_wait and par >= chooser.TOO_SHORT:
            way, probe, since = not chooser.best_way(), True, 0
        else:
            way = chooser.best_way() if ser is not None else True
        if probe:
            # a probe lasts about PROBE_SECONDS by the way's estimate; one thread never measured
            # yet is guessed twice as slow as all threads (a 40 000-row step: one 15 ms step, not 8)
            guess = chooser.estimate[way] or (2 * par if not way else None)
            cap = max(1, int(PROBE_SECONDS / guess)) if guess else PROBE_STEPS[way]
            steps = min(PROBE_STEPS[way], cap, n - done)
        else:
            steps = min(long, n - done)
            per_step = chooser.estimate[way] or par
            cap = max(FIRST_SEGMENT, int(SEGMENT_SECONDS / per_step)) if per_step else LONGEST_SEGMENT
            long, since = min(2 * long, LONGEST_SEGMENT, cap), since + 1
        before = chooser.best_way() if par is not None and ser is not None else None
        seconds = yield way, steps
        if seconds is None:  # not a step time (the segment compiled or loaded the loop)
            done += steps
            continue
        chooser.observe(way, seconds)
        if probe and before is not None:
            # lost again: probe less often (remembered by the kernel's chooser, across loops)
            chooser.loop_wait = min(chooser.loop_wait * 2, 16) if chooser.best_way() == before else 2
        done += steps


def carry(args: list, result, slots) -> None:
    """Feed a segment's new shared values (``slots``: input slot -> result index) into the next
    segment's arguments with the types the first segment had, else the next segment is a new
    specialization of the loop (seconds of compiling mid-loop): numba returns a 0-d result as a
    Python float (a float32 scalar is given back as float32), and an array result may be a view in
    another order (given back C-contiguous).

    >>> args = [np.float32(1.0)]
    >>> carry(args, (2.5,), [(0, 0)]); type(args[0]).__name__
    'float32'
    """
    for slot, k in slots:
        value = result[k]
        args[slot] = np.ascontiguousarray(value) if isinstance(value, np.ndarray) else type(args[slot])(value)


def parallel_loop(namespace: dict, chooser: ThreadChooser, updated: dict, name: str = "loop") -> Callable:
    """``namespace[name]`` run in segments (see :func:`loop_segments`), each on all threads or
    one; ``updated`` (input slot -> result index) carries each segment's new shared values into
    the next. Segments compute exactly the steps one loop would."""
    slots = sorted(updated.items())
    warm = False

    def call(n, *args):
        nonlocal warm
        if _state["forked"]:
            return _run(namespace[name], (n, *args), False)
        args = list(args)
        for slot, _ in slots:  # later segments get writable state (carry): so must the first
            if isinstance(args[slot], np.ndarray) and not args[slot].flags.writeable:
                args[slot] = args[slot].copy()
        plan = loop_segments(n, chooser)
        segment = next(plan)
        while True:
            parallel, steps = segment
            start = time.perf_counter()
            result = _guarded(namespace[name], (steps, *args), parallel)
            seconds = (time.perf_counter() - start) / steps if warm else None
            warm = True  # the first segment compiles or loads the loop
            try:
                segment = plan.send(seconds)
            except StopIteration:
                return result
            carry(args, result, slots)

    return call
