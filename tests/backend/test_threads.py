"""Kernels with a threaded row pass: concurrent calls from Python threads, and forked children."""
import os
import pickle
import threading

import numba
import numpy as np
import pytest

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
    assert "numba.prange" in f.source
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((333, 320)), (rng.random(333) > 0.5).astype(float)
    w.set_value(rng.standard_normal(320) * 0.1)
    return f, X, Y


def test_concurrent_calls_from_threads_give_the_single_thread_result(parallel_step):
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
    assert used_serial == (numba.threading_layer() == "omp")  # GNU OpenMP: the serial build ran
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_concurrent_training_calls_are_serialized_and_lose_no_update(mode):
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
def _run_loop(n, par_time, ser_time, chooser=None):
    """Drive loop_segments with step times given by functions of the steps done so far."""
    chooser = chooser or threads.ThreadChooser()
    plan = threads.loop_segments(n, chooser)
    segments, done = [], 0
    segment = next(plan)
    while True:
        way, steps = segment
        segments.append(segment)
        t = par_time(done) if way else ser_time(done)
        done += steps
        try:
            segment = plan.send(t)
        except StopIteration:
            break
    assert done == n and sum(s for _, s in segments) == n
    return segments, chooser


def _steps(segments, way):
    return sum(s for w, s in segments if w == way)


def test_an_idle_machine_runs_a_loop_on_all_threads_with_few_one_thread_steps():
    segments, chooser = _run_loop(2000, lambda d: 35e-6, lambda d: 70e-6)
    assert _steps(segments, False) <= 16  # two probes of 8 steps
    segments, _ = _run_loop(2000, lambda d: 35e-6, lambda d: 70e-6, chooser)
    assert _steps(segments, False) <= 8  # the next loop of the kernel probes less often


def test_a_loop_of_long_steps_probes_one_thread_for_one_step():
    # 40 000 rows: 8 ms per step on all threads; the first one-thread probe was 8 steps (~120 ms)
    segments, chooser = _run_loop(20, lambda d: 8e-3, lambda d: 15e-3)
    assert segments == [(True, 20)]  # the first loop measures all threads only
    segments, _ = _run_loop(20, lambda d: 8e-3, lambda d: 15e-3, chooser)
    assert segments == [(False, 1), (True, 19)]


def test_a_busy_machine_runs_a_loop_on_one_thread():
    segments, _ = _run_loop(2000, lambda d: 2e-3, lambda d: 70e-6)
    assert _steps(segments, True) <= 32 + 32


def test_a_loop_switches_when_the_machine_gets_busy_midway():
    segments, _ = _run_loop(20000, lambda d: 35e-6 if d < 5000 else 2e-3, lambda d: 70e-6)
    assert [w for w, s in segments][-3:] == [False, False, False]
    # segments last ~20 ms at most: after the switch only one segment runs on the stalled threads
    assert _steps(segments, True) < 5000 + 2 * 20e-3 / 35e-6 + 64


def _run_calls(n, seconds):
    """Drive the chooser as a kernel's call path does (timed calls, then the calls ``untimed``
    allows): ``seconds(k, way)`` is call k's time; the ways it ran."""
    chooser = threads.ThreadChooser()
    ways, free = [], 0
    for k in range(n):
        if free:
            free -= 1
            ways.append(way)
            continue
        way = chooser.pick()
        ways.append(way)
        chooser.record(way, seconds(k, way))
        free, way = chooser.untimed()
    return ways


def test_steady_calls_are_timed_one_in_sample_and_probes_keep_their_schedule():
    chooser = threads.ThreadChooser()
    timed, calls = 0, 0
    while calls < 1000:
        way = chooser.pick()
        chooser.record(way, 35e-6 if way else 70e-6)
        free, _ = chooser.untimed()
        assert free <= chooser.SAMPLE - 1
        timed, calls = timed + 1, calls + 1 + free
    assert timed < 0.3 * calls  # most calls ran untimed
    # the probe schedule counts untimed calls: the same one-thread calls as timing every call
    sampled = [k for k, w in enumerate(_run_calls(3000, lambda k, w: 35e-6 if w else 70e-6)) if not w]
    everyone = threads.ThreadChooser()
    plain = []
    for k in range(3000):
        w = everyone.pick()
        everyone.record(w, 35e-6 if w else 70e-6)
        if not w:
            plain.append(k)
    assert sampled == plain


def test_calls_check_the_other_way_soon_after_the_running_way_turns_slow():
    # one hundred calls (1000-1099) where threads stall
    ways = _run_calls(3000, lambda k, way: (2e-3 if 1000 <= k < 1100 else 35e-6) if way else 70e-6)
    assert ways[1010:1100].count(True) <= 12  # one thread while threads stall (but for short probes)
    assert all(ways[1200:1250])  # back on all threads soon after (not thousands of calls later)
    assert ways[2000:].count(False) <= 12  # and the one-thread probes are rare again


def test_long_calls_are_probed_rarely_and_one_at_a_time():
    ways = _run_calls(200, lambda k, way: 8e-3 if way else 16e-3)  # a 40 000-row step: 8 ms on all threads
    assert ways.count(False) <= 3  # the first measurement, then after 64 and 192 calls
    assert all(ways[20:60])


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
    assert "numba.prange" in f.source
    return f, w, b


def test_a_float32_loop_in_segments_keeps_its_scalar_state_float32(rng):
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
    from symgrad.backend import numba as backend

    f, w, b = _float32_step()
    monkeypatch.setattr(backend, "WIDE_MIN_BYTES", 0)  # every input counts as large
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
    call = f._kernel.direct.jitted
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
    assert "numba.prange" in f.source
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
