"""Kernels with a threaded row pass: concurrent calls from Python threads, and forked children."""
import os
import pickle
import threading

import numba
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import codegen, threads


@pytest.fixture(scope="module")
def parallel_step():
    """The logistic-regression step on data large enough for two row chunks (on any machine)."""
    saved = codegen.ROW_THREADS
    codegen.ROW_THREADS = 2
    try:
        x, y = T.dmatrix("x"), T.dvector("y")
        w = sg.shared(np.zeros(320), name="w")
        p = T.nnet.sigmoid(T.dot(x, w))
        cost = T.nnet.binary_crossentropy(p, y).mean()
        f = sg.function([x, y], [cost, sg.grad(cost, w)], mode="numba", on_unused_input="ignore")
    finally:
        codegen.ROW_THREADS = saved
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
