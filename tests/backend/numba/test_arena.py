"""backend/numba/arena.py: a kernel's own arrays live in a buffer kept between calls; nothing a
caller sees is ever in it."""
import threading

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.ifelse import ifelse
from symgrad.backend.numba.arena import Arena, HEADER

rng = np.random.default_rng(7)


def _twice(f, first, second):
    """Results of two calls after a first one (which sizes the arena), the first copied right
    after it returned, to compare after the second."""
    f(*first)
    r1 = f(*first)
    r1 = r1 if isinstance(r1, list) else [r1]
    kept = [np.array(r, copy=True) for r in r1]
    f(*second)
    return r1, kept


def _escapes():
    """Graphs whose outputs are intermediates' views, branch values, increments or loop histories."""
    x, y = T.dmatrix("x"), T.dmatrix("y")
    t = T.tanh(x) * 2.0  # an intermediate, read by others
    hs, _ = sg.scan(lambda h, y: T.tanh(h + y), outputs_info=x[0], non_sequences=y[0], n_steps=3)
    return {
        "view": [(t + 1.0).T[1:], t.sum()],
        "reshape": [(t * y).reshape((-1,)), T.exp(t).sum()],
        "ifelse": [ifelse(T.gt(x.sum(), 0), t * 3.0, y * 4.0), t.mean()],
        "increment": [T.inc_subtensor((t * y)[1:], 1.0), t.max()],
        "dot": [T.dot(t, y.T), T.dot(t, y.T).sum()],
        "gather": [t[T.arange(2)], (t[[0, 1, 0]] * 2).sum()],
        "history": [hs, hs.sum() + t.sum()],
    }, (x, y)


@pytest.mark.parametrize("case", sorted(_escapes()[0]))
def test_outputs_outlive_the_next_call(case):
    graphs, inputs = _escapes()
    f = sg.function(list(inputs), graphs[case], mode="numba", on_unused_input="ignore")
    g = sg.function(list(inputs), graphs[case], mode="numpy", on_unused_input="ignore")
    a = [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))]
    b = [rng.standard_normal((3, 4)) * 5, rng.standard_normal((3, 4)) * 5]
    results, kept = _twice(f, a, b)
    for r, k, want in zip(results, kept, g(*a)):
        np.testing.assert_array_equal(r, k)  # the second call wrote nothing into the first's results
        np.testing.assert_allclose(r, want, rtol=1e-12, atol=1e-12)


def test_intermediates_use_it_and_results_do_not():
    x = T.dmatrix("x")
    t = T.exp(x) + T.dot(x, x.T).sum()
    with_arena = sg.function([x], (T.tanh(t) * 3).sum(axis=0), mode="numba")
    without = sg.function([x], T.exp(x) * 2, mode="numba")
    assert with_arena._kernel.info.arena and not without._kernel.info.arena
    xv = rng.standard_normal((5, 5))
    np.testing.assert_allclose(with_arena(xv), (np.tanh(np.exp(xv) + (xv @ xv.T).sum()) * 3).sum(0), rtol=1e-12)


def test_shapes_grow_and_shrink():
    x = T.dmatrix("x")
    f = sg.function([x], (T.tanh(T.exp(x) * 2) - 1).sum(axis=1), mode="numba")
    for n in [2, 50, 50, 3, 200, 1, 0]:
        xv = rng.standard_normal((n, 7))
        np.testing.assert_allclose(f(xv), (np.tanh(np.exp(xv) * 2) - 1).sum(1), rtol=1e-12)


def test_bad_shapes_change_nothing():
    x, y = T.dmatrix("x"), T.dmatrix("y")
    w = sg.shared(np.ones((3, 4)), name="w")
    f = sg.function([x, y], [], updates=[(w, w + (T.exp(x) * y).sum())], mode="numba")
    f(np.zeros((3, 4)), np.ones((3, 4)))
    before = w.get_value()
    with pytest.raises(ValueError):
        f(np.zeros((3, 4)), np.ones((2, 4)))
    np.testing.assert_array_equal(w.get_value(), before)
    f(np.zeros((3, 4)), np.ones((3, 4)))
    np.testing.assert_array_equal(w.get_value(), before + 12)


def test_loop_reuses_it_every_step():
    x = T.dmatrix("x")
    w = sg.shared(np.zeros(4), name="w")
    step = sg.function([x], (T.tanh(x * w) ** 2).sum(), updates=[(w, w - 0.1 * T.tanh(x + w).sum(axis=0))],
                       mode="numba")
    xv = rng.standard_normal((6, 4))
    looped = step.loop(5, xv)
    after_loop = w.get_value()
    w.set_value(np.zeros(4))
    for _ in range(5):
        last = step(xv)
    np.testing.assert_allclose(w.get_value(), after_loop, rtol=1e-14)
    np.testing.assert_allclose(looped, last, rtol=1e-14)


def test_threads_each_get_a_buffer():
    x = T.dmatrix("x")
    f = sg.function([x], (T.tanh(T.exp(x) * 2) - 1).sum(axis=1), mode="numba")
    inputs = [rng.standard_normal((300, 30)) for _ in range(4)]
    f(inputs[0])
    wrong = []

    def work(xv):
        want = (np.tanh(np.exp(xv) * 2) - 1).sum(1)
        for _ in range(50):
            if not np.allclose(f(xv), want, rtol=1e-12):
                wrong.append(1)

    threads = [threading.Thread(target=work, args=(xv,)) for xv in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong


def test_wrap_grows_to_the_size_asked():
    arena = Arena()

    def kernel(x, ws):
        assert ws.ctypes.data % 64 == 0
        ws[:8].view(np.int64)[0] = HEADER + x
        return x

    run = arena.wrap(kernel)
    assert run(100) == 100 and arena.size() == HEADER + 100
    run(10)
    assert arena.size() == HEADER + 100  # kept: a smaller call fits


def test_wrap_keeps_nothing_too_large(monkeypatch):
    from symgrad.backend.numba import arena as module
    monkeypatch.setattr(module, "MAX_BYTES", 1000)
    arena = Arena()

    def kernel(ws):
        ws[:8].view(np.int64)[0] = 5000
    arena.wrap(kernel)()
    assert arena.size() < 1000
