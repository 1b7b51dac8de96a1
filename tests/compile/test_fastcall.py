"""The generated call path (compile/fastcall.py) behaves exactly as the general one."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.compile.fastcall import fast_call_source


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


def _compile(build):
    inputs, outputs, updates = build()
    f = sg.function(inputs, outputs, updates=updates, mode="numba")
    return f, [v for v, _ in updates]


def _same(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        return
    assert type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_the_generated_path_gives_the_general_paths_results_and_state(name):
    build, calls = PROGRAMS[name]
    fast, fast_state = _compile(build)
    general, general_state = _compile(build)
    assert fast._fast is not None
    general._fast = None  # every call takes the general path
    for args in calls:
        _same(fast(*args), general(*args))
        for s, t in zip(fast_state, general_state):
            _same(s.get_value(), t.get_value())


def test_wrong_arguments_raise_the_general_paths_errors_and_change_nothing():
    build = PROGRAMS["step"][0]
    fast, (w, b) = _compile(build)
    general, _ = _compile(build)
    general._fast = None
    before = w.get_value()
    bad = [(np.ones((5, 3), dtype=np.complex128), np.ones(5)),  # not a real dtype
           (np.ones(3), np.ones(5)),  # wrong rank
           (np.ones((5, 4)), np.ones(5)),  # inner dimensions disagree (a kernel error, explained)
           (np.ones((5, 3)), np.ones(4))]  # rows disagree
    for args in bad:
        with pytest.raises((TypeError, ValueError)) as fast_error:
            fast(*args)
        with pytest.raises((TypeError, ValueError)) as general_error:
            general(*args)
        assert type(fast_error.value) is type(general_error.value)
        assert str(fast_error.value) == str(general_error.value)
    np.testing.assert_array_equal(w.get_value(), before)


def test_keywords_and_defaults_take_the_general_path():
    x, s = T.dvector("x"), T.dscalar("s")
    f = sg.function([x, sg.In(s, value=2.0)], x.sum() * s, mode="numba")
    assert float(f(np.ones(3))) == 6.0  # one argument of two: the general path fills the default
    assert float(f(x=np.ones(3), s=1.0)) == 3.0
    assert float(f(np.ones(3), 3.0)) == 9.0  # the generated path


def test_copies_get_their_own_generated_path():
    build = PROGRAMS["step"][0]
    f, (w, b) = _compile(build)
    w2 = sg.shared(w.get_value(), name="w2")
    g = f.copy(swap={w: w2})
    X, Y = PROGRAMS["step"][1][0]
    g(X, Y)
    assert not np.array_equal(w2.get_value(), w.get_value())
    assert "S0" in fast_call_source(g)
    frozen = f.copy(delete_updates=True)
    assert frozen._fast is None  # dropped updates: the general path passes copies of in-place buffers
    before = w.get_value()
    frozen(X, Y)
    np.testing.assert_array_equal(w.get_value(), before)
