"""backend/numba/indexing.py: index vectors broadcast by hand as numpy does (each of length n or 1);
bounds checks printed inline."""
import ast

import numpy as np
import pytest
from numba.core.registry import CPUDispatcher

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import helpers
from symgrad.backend.numba.codegen import generate

LENGTHS = [(3, 3), (1, 3), (3, 1), (1, 1), (0, 1), (1, 0), (0, 0)]


def _functions():
    x, i, j, y = T.dmatrix("x"), T.lvector("i"), T.lvector("j"), T.dvector("y")
    outs = [x[i, j] * 2, T.inc_subtensor(x[i, j], y), T.set_subtensor(x[i, j], y)]
    return ([sg.function([x, i, j, y], outs, mode=m, on_unused_input="ignore") for m in ("numba", "numpy")])


@pytest.mark.parametrize("lengths", LENGTHS, ids=[f"{a}x{b}" for a, b in LENGTHS])
def test_index_vectors_broadcast_like_numpy(lengths):
    f, g = _functions()
    rng = np.random.default_rng(sum(lengths))
    x = rng.standard_normal((4, 5))
    i, j = rng.integers(-4, 4, lengths[0]), rng.integers(-5, 5, lengths[1])
    y = rng.standard_normal(0 if 0 in lengths else max(lengths))
    for got, want in zip(f(x, i, j, y), g(x, i, j, y)):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_index_vectors_of_other_lengths_are_refused():
    f, _ = _functions()
    x = np.zeros((4, 5))
    with pytest.raises(IndexError, match="broadcast"):
        f(x, np.array([0, 1]), np.array([0, 1, 2]), np.zeros(3))
    with pytest.raises(IndexError):
        f(x, np.array([0, 4]), np.array([0, 1]), np.zeros(2))  # out of bounds


def test_increments_of_zeros_write_every_element():
    """A zero fill only an increment reads is written where the region does not cover it (emit.py,
    pending fills); 0 + -0.0 stays +0.0 as in numpy. The regions change between calls, so rows a
    call leaves unwritten would keep the last call's values."""
    x, y, w, z = T.dmatrix("x"), T.dmatrix("y"), T.dmatrix("w"), T.dmatrix("z")
    a, b = T.lscalar("a"), T.lscalar("b")
    outs = [T.inc_subtensor(T.zeros_like(x)[a:b], y) * 1.0, T.set_subtensor(T.zeros_like(x)[a:b], y) * 1.0,
            T.dot(T.zeros_like(x) * 1.0, w),  # read by another op: filled before it
            T.inc_subtensor(T.zeros_like(x)[::2], z) * 1.0, T.inc_subtensor(T.zeros_like(x)[[0, 3]], z) * 1.0]
    for out in outs:  # (one function each: a zero fill read twice is filled at once)
        f, g = (sg.function([x, y, w, z, a, b], out, mode=m, on_unused_input="ignore") for m in ("numba", "numpy"))
        for k, (lo, hi) in enumerate([(0, 4), (1, 3), (0, 4), (2, 2), (-1, 4), (0, 4), (0, 1)]):
            yv = -np.zeros((len(range(4)[lo:hi]), 3))  # -0.0
            yv[:, 1] = np.arange(len(yv)) + k + 1.0
            args = (np.ones((4, 3)), yv, np.ones((3, 2)) * k, np.full((2, 3), k + 1.0), lo, hi)
            got, want = f(*args), g(*args)
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_helpers_get_no_string_constants():
    """numba types a string constant passed to a jitted function as its literal and compiles the
    function again for each distinct one: a bounds check whose message went to a helper cost a new
    graph a compile per message. Generated code passes helpers no strings."""
    x, i, idx = T.dmatrix("x"), T.lscalar("i"), T.lvector("idx")
    module = generate([x, i, idx], [x[i], x[idx], x[:, idx], T.inc_subtensor(x[idx], 1.0), x[i, idx]])
    jitted = {name for name, f in vars(helpers).items() if isinstance(f, CPUDispatcher)}
    calls = [c for c in ast.walk(ast.parse(module.source))
             if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in jitted]
    assert calls
    for call in calls:
        assert not [a for a in ast.walk(call) if isinstance(a, ast.Constant) and isinstance(a.value, str)], \
            ast.unparse(call)


def test_negative_and_out_of_bounds_indices():
    x, i, idx = T.dmatrix("x"), T.lscalar("i"), T.lvector("idx")
    f = sg.function([x, i, idx], [x[i], x[i, idx]], mode="numba")
    value = np.arange(12.0).reshape(3, 4)
    for k in (-3, -1, 0, 2):
        got = f(value, k, np.array([-4, -1, 0, 3]))
        np.testing.assert_array_equal(got[0], value[k])
        np.testing.assert_array_equal(got[1], value[k, [-4, -1, 0, 3]])
    for k, ix in ((3, [0]), (-4, [0]), (0, [4]), (0, [-5])):
        with pytest.raises(IndexError, match="'x'"):
            f(value, k, np.array(ix))


def test_gathers_read_the_array_itself():
    """An advanced index of no sliced dimension reads the array as it is (a C-ordered array keeps
    its layout for the gather and scatter loops), not through a full-slice view ``x[:, :]``."""
    x, i, y = T.dmatrix("x"), T.lvector("i"), T.dmatrix("y")
    outs = [x[i] * 2, T.inc_subtensor(x[i], y)]
    f = sg.function([x, i, y], outs, mode="numba")
    assert "[:, :]" not in f.source
    xv, iv = np.arange(12.0).reshape(4, 3), np.array([3, 0, 3, -1])
    yv = np.ones((4, 3))
    got = f(xv, iv, yv)
    want = xv.copy()
    np.add.at(want, iv, yv)
    np.testing.assert_array_equal(got[0], xv[iv] * 2)
    np.testing.assert_array_equal(got[1], want)
    assert np.array_equal(xv, np.arange(12.0).reshape(4, 3))  # the input is left as it was
