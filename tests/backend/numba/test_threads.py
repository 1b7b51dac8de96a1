"""Kernels with a threaded row pass: concurrent calls from Python threads, and forked children."""
import itertools
import math
import os
import pickle
import threading
from collections import namedtuple
from dataclasses import dataclass, replace

import numba
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import rowpass, threads


@pytest.fixture(scope="module")
def parallel_step():
    """The logistic-regression step on data large enough for two row chunks (on any machine)."""
    saved = rowpass.ROW_THREADS
    rowpass.ROW_THREADS = 2
    try:
        x, y = T.dmatrix("x"), T.dvector("y")
        w = sg.shared(np.zeros(320), name="w")
        p = T.nnet.sigmoid(T.dot(x, w))
        cost = T.nnet.binary_crossentropy(p, y).mean()
        f = sg.function([x, y], [cost, sg.grad(cost, w)], mode="numba", on_unused_input="ignore")
    finally:
        rowpass.ROW_THREADS = saved
    assert "run_chunks(" in f.source
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((333, 320)), (rng.random(333) > 0.5).astype(float)
    w.set_value(rng.standard_normal(320) * 0.1)
    return f, X, Y


def test_concurrent_calls_give_the_single_thread_result(parallel_step):
    f, X, Y = parallel_step
    expected = f(X, Y)
    results, errors = [None] * 6, []

    def work(k):
        try:
            for _ in range(5):
                results[k] = f(X, Y)
        except Exception as e:  # reported below: a thread's exception would otherwise be lost
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got in results:  # fixed row chunks: the same bits in every thread
        for a, b in zip(got, expected):
            assert np.array_equal(a, b)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_runs_the_kernel_without_being_terminated(parallel_step):
    f, X, Y = parallel_step
    expected = f(X, Y)  # the parent has run a parallel region before forking
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            with os.fdopen(write, "wb") as out:
                pickle.dump(([np.asarray(v) for v in f(X, Y)], threads._state["forked"]), out)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as inp:
        data = inp.read()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child ended with status {status}"
    got, used_serial = pickle.loads(data)
    assert used_serial == (numba.threading_layer() == "omp")  # GNU OpenMP: every call ran on one thread
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_concurrent_training_calls_lose_no_update(mode):
    c = sg.shared(0.0, name="c")
    x = T.dscalar("x")
    step = sg.function([x], c, updates=[(c, c + x)], mode=mode)
    step(0.0)  # compile before the threads start

    def work():
        for _ in range(200):
            step(1.0)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert float(c.get_value()) == 800.0


# --- the thread choice, driven by made-up step times (no kernel, no timing) --------------------
# Hypothesis draws step times for both ways (one clearly faster, a little jitter, maybe a stall);
# the tests check what ThreadChooser and loop_segments promise (not their schedules call by call),
# with any bound written in their tuning constants, so that it follows a retuned constant.
Chooser = threads.ThreadChooser
_PROPERTY = settings(max_examples=100, deadline=None, database=None, derandomize=True)


@dataclass(frozen=True)
class _Times:
    """Made-up seconds per step: the ``fast`` way (True: all threads) takes ``low``, the other
    ``high``, each times a jitter factor cycled by call (or step); from call ``stall`` on, for
    ``stalled`` calls, the fast way takes ``factor * high``."""

    fast: bool
    low: float
    high: float
    jitter: tuple = (1.0,)
    stall: int = 0
    stalled: int = 0
    factor: float = 1.0

    def per_step(self, start: int, steps: int, way: bool) -> float:
        """The mean over steps [start, start + steps) (a loop segment), jittered as its first."""
        stalled = max(0, min(start + steps, self.stall + self.stalled) - max(start, self.stall))
        if way != self.fast or not stalled:
            return self(start, way)
        mean = (stalled * self.factor * self.high + (steps - stalled) * self.low) / steps
        return mean * self.jitter[start % len(self.jitter)]

    def __call__(self, k: int, way: bool) -> float:
        if way != self.fast:
            seconds = self.high
        elif self.stall <= k < self.stall + self.stalled:
            seconds = self.factor * self.high
        else:
            seconds = self.low
        return seconds * self.jitter[k % len(self.jitter)]


@st.composite
def _times(draw, low=(Chooser.TOO_SHORT, Chooser.LONG_CALL / 2), ratio=1.3, stall=None):
    """One way at least ``ratio`` times faster than the other, whatever the jitter (up to 10%);
    with ``stall`` (ranges of its first call and of its length), the fast way stalls for a while:
    at least 10 times slower than the other way."""
    seconds = draw(st.floats(*low))
    times = _Times(draw(st.booleans()), seconds, seconds * draw(st.floats(ratio * 1.1, 4.0)),
                   tuple(draw(st.lists(st.floats(1.0, 1.1), min_size=1, max_size=16))))
    if stall:
        times = replace(times, stall=draw(st.integers(*stall[0])), stalled=draw(st.integers(*stall[1])),
                        factor=draw(st.floats(10.0, 100.0)))
    return times


def _run_calls(n, seconds):
    """Drive a chooser as a kernel's call path does (a timed call, then the calls ``untimed``
    allows): ``seconds(k, way)`` is call k's time. The way of each call, and which were timed."""
    chooser = Chooser()
    ways, timed, free, way = [], [], 0, True
    for k in range(n):
        if free > 0:
            free -= 1
            ways.append(way)
            timed.append(False)
            continue
        way = chooser.pick()
        ways.append(way)
        timed.append(True)
        chooser.record(way, seconds(k, way))
        free, way = chooser.untimed()
    return ways, timed


def _runs(ways, way, start=0, stop=None):
    """(first call, length) of each run of calls on ``way`` that starts in [start, stop)."""
    stop = len(ways) if stop is None else stop
    runs, k = [], 0
    for w, run in itertools.groupby(ways):
        length = len(list(run))
        if w == way and start <= k < stop:
            runs.append((k, length))
        k += length
    return runs


def _assert_rarer_probes(probes, longest):
    """``probes`` (runs of the slower way) are at most ``longest`` calls each, and the gap
    between two never shrinks: a probe that lost again waits longer for the next."""
    assert all(length <= longest for _, length in probes), probes
    gaps = [b - a for (a, _), (b, _) in zip(probes, probes[1:])]
    assert gaps == sorted(gaps), gaps


@_PROPERTY
@given(times=_times(), n=st.integers(100, 5000))
def test_calls_run_the_slower_way_only_in_rarer_probes(times, n):
    ways, _ = _run_calls(n, times)
    probes = _runs(ways, not times.fast, start=Chooser.BURST)  # (after all threads' first burst)
    _assert_rarer_probes(probes, Chooser.BURST)
    # each lost probe at least doubles the wait for the next (from FIRST_PROBE): O(log n) probes
    assert len(probes) <= 2 + math.log2(n / Chooser.FIRST_PROBE)


@_PROPERTY
@given(times=_times(low=(Chooser.TOO_SHORT, 20 * Chooser.LONG_CALL)), n=st.integers(100, 3000))
def test_untimed_calls_keep_the_probe_schedule(times, n):
    long = times.low >= Chooser.LONG_CALL
    # (calls jittering across LONG_CALL are long or not by which of them were timed)
    assume(long or times.low * max(times.jitter) < Chooser.LONG_CALL)
    ways, timed = _run_calls(n, times)
    # a machine turning busy is noticed soon: never more than SAMPLE - 1 untimed calls in a row
    assert all(length < Chooser.SAMPLE for _, length in _runs(timed, False))
    # one call in SAMPLE is timed, plus each probe's calls: its burst, the call back (not counted)
    # and the sample it cut short (calls of a millisecond or more are all timed)
    if not long:
        probes = _runs(ways, not times.fast)
        assert timed.count(True) <= n / Chooser.SAMPLE + (Chooser.BURST + 2) * (len(probes) + 1)
    # untimed calls count towards the next probe: the ways are those of timing every call
    chooser, every_call_timed = Chooser(), []
    for k in range(n):
        every_call_timed.append(chooser.pick())
        chooser.record(every_call_timed[-1], times(k, every_call_timed[-1]))
    assert ways == every_call_timed


@_PROPERTY
@given(seconds=st.floats(1e-7, Chooser.TOO_SHORT / 1.1), ratio=st.floats(0.2, 4.0))
def test_calls_too_short_for_threads_never_run_one_thread(seconds, ratio):
    # (they launch no threads: switching would cost more than it could save)
    ways, _ = _run_calls(300, _Times(True, seconds, seconds * ratio, (1.0, 1.1)))
    assert all(ways)


# after the running way stalls, the other way takes over within this many of its calls: one call
# in SAMPLE is timed, and a timed call of a stalled way (10x slower) makes it the slower way
_NOTICED_WITHIN = 2 * Chooser.SAMPLE


def _settled(ways, way, start):
    """The first call from ``start`` on that begins a run on ``way`` longer than any probe."""
    longer = [way] * 2 * Chooser.BURST
    return next(k for k in range(start, len(ways)) if ways[k:k + len(longer)] == longer)


@_PROPERTY
# (short calls; a stall begins once both ways are measured, and lasts long enough to be noticed)
@given(times=_times(low=(Chooser.TOO_SHORT, Chooser.LONG_CALL / 8),
                    stall=((2 * Chooser.BURST, 3000), (_NOTICED_WITHIN + 4 * Chooser.BURST, 1500))))
def test_calls_leave_a_stalled_way_soon_and_come_back(times):
    fast, end = times.fast, times.stall + times.stalled
    ways, _ = _run_calls(end + 2 * times.stalled + 1000, times)
    # the other way takes over soon (the stalled way runs at most _NOTICED_WITHIN more calls)
    took_over = _settled(ways, not fast, times.stall)
    assert ways[times.stall:took_over].count(fast) <= _NOTICED_WITHIN
    # while the stall lasts, the stalled way runs only in probes, rarer and rarer
    _assert_rarer_probes(_runs(ways, fast, took_over, end - Chooser.BURST), Chooser.BURST)
    # after it, the way is back soon: probes waited twice as long only while they lost
    back = _settled(ways, fast, end)
    assert back - end <= 2 * times.stalled + Chooser.FIRST_PROBE
    # and the other way is probed rarely again
    _assert_rarer_probes(_runs(ways, not fast, back), Chooser.BURST)


@_PROPERTY
@given(times=_times(low=(Chooser.LONG_CALL, 20 * Chooser.LONG_CALL), ratio=1.25 * 1.1),
       n=st.integers(100, 3000))
def test_long_calls_are_probed_one_at_a_time_and_rarely(times, n):
    ways, timed = _run_calls(n, times)
    assert all(timed)  # (timing costs nothing next to a long call)
    probes = _runs(ways, not times.fast, start=Chooser.BURST)  # (after all threads' first burst)
    _assert_rarer_probes(probes, 1)  # one call each: probes never overlap
    # BURST times rarer than the bursts of short calls
    assert all(b - a >= Chooser.BURST * Chooser.FIRST_PROBE for (a, _), (b, _) in zip(probes, probes[1:]))


_Segment = namedtuple("_Segment", "way steps start estimate")


def _run_loop(n, seconds, chooser):
    """Drive loop_segments as parallel_loop does: ``seconds.per_step(start, steps, way)`` is a
    segment's time per step. Its segments, each with the estimates it was chosen by."""
    plan = threads.loop_segments(n, chooser)
    segments, done = [], 0
    segment = next(plan)
    while True:
        way, steps = segment
        segments.append(_Segment(way, steps, done, dict(chooser.estimate)))
        done += steps
        try:
            segment = plan.send(seconds.per_step(done - steps, steps, way))
        except StopIteration:
            break
    assert done == n
    return segments


def _probe_sized(segment):
    """At most PROBE_STEPS steps, and one step or at most PROBE_SECONDS by the way's estimate (one
    thread, before it is measured: by all threads')."""
    guess = segment.estimate[segment.way] or segment.estimate[True]
    return segment.steps <= threads.PROBE_STEPS[segment.way] and (
        segment.steps == 1 or guess is None or segment.steps * guess <= threads.PROBE_SECONDS * (1 + 1e-9))


@_PROPERTY
@given(times=_times(low=(Chooser.TOO_SHORT, 20 * Chooser.LONG_CALL)),
       loops=st.lists(st.integers(1, 20000), min_size=1, max_size=3))
def test_loops_run_the_slower_way_only_in_rarer_probes(times, loops):
    chooser = Chooser()  # (one kernel's: what it learnt carries over to its next loop)
    gaps, since = [], None  # long segments since the last probe (or the start of a later loop)
    for k, n in enumerate(loops):
        since, probe_steps = 0 if k else None, 0
        for segment in _run_loop(n, times, chooser):
            if segment.way == times.fast:
                if since is not None and segment.estimate[segment.way] is not None:
                    since += 1  # (a long segment: not the faster way's first measurement)
                continue
            assert _probe_sized(segment), segment
            if segment.estimate[segment.way] is not None:  # (not its first measurement)
                probe_steps += segment.steps
            if since is not None:
                gaps.append(since)
            since = 0
        assert n < 1000 or probe_steps <= 0.05 * n  # a small fraction of a long loop
    # a probe that lost waits at least twice as many long segments for the next (up to a cap), in
    # the kernel's next loop too
    assert all(b >= min(2 * a, max(gaps)) for a, b in zip(gaps, gaps[1:])), gaps
    assert len(gaps) < 2 or gaps[-1] > gaps[0], gaps


@_PROPERTY
@given(times=_times(low=(Chooser.TOO_SHORT, Chooser.LONG_CALL), stall=((0, 20000), (10**9, 10**9))),
       after=st.integers(1, 20000))
def test_loops_leave_a_stalled_way_within_two_segments(times, after):
    segments = _run_loop(times.stall + after, times, Chooser())
    stalled = [s for s in segments if s.way == times.fast and s.start + s.steps > times.stall]
    # the segment under way when the stall began and the next may be long (no longer than
    # SEGMENT_SECONDS by the estimate then); then the stalled way runs only in probes
    longest = max(threads.FIRST_SEGMENT, threads.PROBE_STEPS[True], threads.SEGMENT_SECONDS / times.low)
    assert all(s.steps <= longest for s in stalled[:2]), stalled
    assert all(_probe_sized(s) for s in stalled[2:]), stalled


def _float32_step():
    """A float32 logistic-regression step (row pass on two chunks), its shared w and b."""
    saved = rowpass.ROW_THREADS
    rowpass.ROW_THREADS = 2
    try:
        x, y = T.matrix("x", dtype="float32"), T.vector("y", dtype="float32")
        w = sg.shared(np.zeros(320, dtype="float32"), name="w")
        b = sg.shared(np.float32(0.0), name="b")
        p = T.nnet.sigmoid(T.dot(x, w) + b)
        cost = T.nnet.binary_crossentropy(p, y).mean()
        gw, gb = sg.grad(cost, [w, b])
        f = sg.function([x, y], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], mode="numba")
    finally:
        rowpass.ROW_THREADS = saved
    assert "run_chunks(" in f.source
    return f, w, b


def test_float32_loop_segments_keep_scalar_state_float32(rng):
    # segments pass their shared values on; a float32 scalar came back as a Python float and the
    # next segment compiled a float64 specialization of the loop (seconds, mid-loop)
    import sys

    f, w, b = _float32_step()
    X = rng.standard_normal((333, 320)).astype("float32")
    Y = (rng.random(333) > 0.5).astype("float32")
    f.loop(300, X, Y)  # several segments (the first 32 steps probe all threads)
    loops = [m.loop for m in list(sys.modules.values())
             if "symgrad_kernel_" in (getattr(m, "__file__", None) or "") and hasattr(m, "loop")
             and f.source in _text(m.__file__)]
    assert len(loops) == 1 and len(loops[0].signatures) == 1
    assert b.get_value().dtype == np.float32


def test_the_wide_copy_of_a_float32_kernel_loops_like_its_calls(monkeypatch, rng):
    from symgrad.backend.numba import call, plan

    monkeypatch.setattr(plan, "ROW_BLOCK_WIDE", 16)  # (a wide copy on every CPU: emit.host_row_block)
    f, w, b = _float32_step()
    monkeypatch.setattr(call, "WIDE_MIN_BYTES", 0)  # every input counts as large
    X = rng.standard_normal((333, 320)).astype("float32")
    Y = (rng.random(333) > 0.5).astype("float32")
    w0, b0 = w.get_value(), b.get_value()
    for _ in range(40):
        expected = f(X, Y)
    w_calls, b_calls = w.get_value(), b.get_value()
    w.set_value(w0)
    b.set_value(b0)
    got = f.loop(40, X, Y)
    assert np.array_equal(got, expected)  # the same chunks and blocks: the same bits
    assert np.array_equal(w.get_value(), w_calls) and np.array_equal(b.get_value(), b_calls)


def test_a_negative_count_of_untimed_calls_does_not_stop_the_timing(parallel_step):
    # two Python threads may both take the last untimed call and leave the count at -1; a check
    # for "nonzero" would then skip the timing forever
    f, X, Y = parallel_step
    call = f._kernel.direct.entry
    cell = dict(zip(call.__code__.co_freevars, call.__closure__))["free"]
    f(X, Y)
    cell.cell_contents = -1
    f(X, Y)
    assert cell.cell_contents >= 0


@pytest.mark.parametrize("start", ["transposed", "read-only"])
def test_array_state_keeps_one_loop_type_across_segments(start, rng):
    # an update returning a transposed view, or a read-only starting value, made the next segment
    # another specialization of the loop (seconds of compiling mid-loop)
    import sys

    saved = rowpass.ROW_THREADS
    rowpass.ROW_THREADS = 2
    try:
        x, y = T.dmatrix("x"), T.dvector("y")
        w = sg.shared(np.zeros(320), name="w")
        M = sg.shared(np.eye(3), name="M")
        cost = T.nnet.binary_crossentropy(T.nnet.sigmoid(T.dot(x, w)), y).mean()
        # (a dot, not an elementwise update: that one would be written in place, from a copy)
        new_M = (M * 0.5).T if start == "transposed" else T.dot(M, np.eye(3) * 0.5)
        f = sg.function([x, y], cost, updates=[(w, w - 0.1 * T.grad(cost, w)), (M, new_M)], mode="numba")
    finally:
        rowpass.ROW_THREADS = saved
    assert "run_chunks(" in f.source
    if start == "read-only":
        value = np.eye(3)
        value.flags.writeable = False
        M.set_value(value, borrow=True)
    X, Y = rng.standard_normal((333, 320)), (rng.random(333) > 0.5).astype(float)
    f.loop(300, X, Y)  # several segments
    loops = [m.loop for m in list(sys.modules.values())
             if "symgrad_kernel_" in (getattr(m, "__file__", None) or "") and hasattr(m, "loop")
             and f.source in _text(m.__file__)]
    assert len(loops) == 1 and len(loops[0].signatures) == 1
    np.testing.assert_allclose(M.get_value(), np.eye(3) * 0.5 ** 300)


def _text(path):
    """A kernel module's text; '' when its cache folder was purged by another test meanwhile."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
