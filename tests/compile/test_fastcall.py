"""The generated call path (compile/fastcall.py): the same results, state and errors on every
backend, for positional and keyword calls, copies and loops."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.compile.fastcall import call_source


def _programs():
    """name -> (build(): (inputs, outputs, updates), argument tuples)."""
    def step():
        x, y = T.dmatrix("x"), T.dvector("y")
        w = sg.shared(np.linspace(-1, 1, 3), name="w")
        b = sg.shared(0.5, name="b")
        p = T.nnet.sigmoid(T.dot(x, w) + b)
        cost = T.nnet.binary_crossentropy(p, y).mean()
        gw, gb = sg.grad(cost, [w, b])
        return [x, y], [cost, p], [(w, w - 0.1 * gw), (b, b - 0.1 * gb)]

    def scalars():
        a, s = T.dscalar("a"), T.fscalar("s")
        c = sg.shared(np.asarray(1, dtype="int64"), name="c")
        return [a, s], a * s + c, [(c, c + 1)]

    def nothing_returned():
        v = T.dvector("v")
        acc = sg.shared(np.zeros(3), name="acc")
        return [v], None, [(acc, acc + v)]

    def reader():
        v = T.dvector("v")
        k = sg.shared(np.arange(3.0), name="k")
        return [v], [(v * k).sum(), v * 2], []

    def broadcastable_input():
        r = T.row("r", dtype="float64")
        return [r], r.sum(axis=0), []

    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3))
    Y = (rng.random(5) > 0.5).astype(float)
    return {
        "step": (step, [(X, Y), (X.T.copy().T, Y), (np.asfortranarray(X), Y[::1]), (X.tolist(), [1, 0, 1, 0, 1])]),
        "scalars": (scalars, [(2.0, 3.0), (np.float64(2.5), np.float32(1.5)), (np.asarray(1.0), 2)]),
        "nothing-returned": (nothing_returned, [(np.ones(3),), ([1.0, 2.0, 3.0],), (np.arange(6.0)[::2],)]),
        "reader": (reader, [(np.ones(3),), (np.arange(3),)]),
        "broadcastable-input": (broadcastable_input, [(np.ones((1, 4)),)]),
    }


PROGRAMS = _programs()


def _compile(build, mode="numba"):
    inputs, outputs, updates = build()
    f = sg.function(inputs, outputs, updates=updates, mode=mode)
    return f, [v for v, _ in updates]


def _same(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        return
    assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_results_and_state_match_the_reference_backend(name):
    build, calls = PROGRAMS[name]
    f, state = _compile(build)
    ref, ref_state = _compile(build, "numpy")
    assert "ENTRY(" in call_source(f) and "CALL(" in call_source(ref)  # numba's lines inlined
    for args in calls:
        _same(f(*args), ref(*args))
        for s, t in zip(state, ref_state):
            _same(s.get_value(), t.get_value())


def test_wrong_arguments_raise_the_same_errors_every_way_and_change_nothing():
    build = PROGRAMS["step"][0]
    f, (w, b) = _compile(build)
    ref, _ = _compile(build, "numpy")
    before = w.get_value()
    bad = [(np.ones((5, 3), dtype=np.complex128), np.ones(5)),  # not a real dtype
           (np.ones(3), np.ones(5)),  # wrong rank
           (np.ones((5, 4)), np.ones(5)),  # inner dimensions disagree (a kernel error, explained)
           (np.ones((5, 3)), np.ones(4))]  # rows disagree
    for args in bad:
        with pytest.raises((TypeError, ValueError)) as error:
            f(*args)
        with pytest.raises((TypeError, ValueError)) as keyword_error:
            f(x=args[0], y=args[1])
        with pytest.raises((TypeError, ValueError)) as ref_error:
            ref(*args)
        assert str(error.value) == str(keyword_error.value)
        assert type(error.value) is type(ref_error.value)  # (a kernel error is explained by the reference
        # backend run on the unoptimized graph: the same kind of message, maybe about another node)
    np.testing.assert_array_equal(w.get_value(), before)


def test_keywords_and_defaults_bind_then_take_the_same_path():
    x, s = T.dvector("x"), T.dscalar("s")
    f = sg.function([x, sg.In(s, value=2.0)], x.sum() * s, mode="numba")
    assert float(f(np.ones(3))) == 6.0  # one argument of two: the default is filled in
    assert float(f(x=np.ones(3), s=1.0)) == 3.0
    assert float(f(np.ones(3), 3.0)) == 9.0


def test_aliasing_results_and_float16_inputs_take_the_generated_path():
    x = T.dvector("x")
    f = sg.function([x], [x, x * 2], mode="numba")  # the first result is the argument itself
    assert "FRESH(" in call_source(f)
    v = np.ones(2)
    out = f(v)
    assert not np.may_share_memory(out[0], v)
    h = T.vector("h", dtype="float16")
    g = sg.function([h], h * 2, mode="numba")
    assert "K_float32" in call_source(g)
    assert g(np.ones(2, dtype="float16")).dtype == np.float16


def test_copies_get_their_own_generated_path():
    build = PROGRAMS["step"][0]
    f, (w, b) = _compile(build)
    w2 = sg.shared(w.get_value(), name="w2")
    g = f.copy(swap={w: w2})
    X, Y = PROGRAMS["step"][1][0]
    g(X, Y)
    assert not np.array_equal(w2.get_value(), w.get_value())
    assert "S0" in call_source(g)
    frozen = f.copy(delete_updates=True)
    assert ".copy()" in call_source(frozen)  # dropped updates: copies of the in-place buffers
    before = w.get_value()
    frozen(X, Y)
    frozen.loop(3, X, Y)
    np.testing.assert_array_equal(w.get_value(), before)
