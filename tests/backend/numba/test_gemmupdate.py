"""backend/numba/gemmupdate.py and helpers.gemm_update: an update ``c * w + alpha * dot(a, b)`` written
in place runs as one gemm over w, gives the separate product and loop's values, checks everything
before any buffer is written, and is left to the plain loop where it would not be safe."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import helpers
from symgrad.backend.numba.gemmupdate import plan_gemm_updates

RNG = np.random.default_rng(8)


def _step(dtype, mode, w0, v0):
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    w = sg.shared(w0.copy(), name="w")
    v = sg.shared(v0.copy(), name="v")
    h = T.tanh(T.dot(x, w))
    cost = ((T.dot(h, v) - y) ** 2).mean()
    gw, gv = sg.grad(cost, [w, v])
    f = sg.function([x, y], cost, updates=[(w, w * 0.99 - 0.1 * gw), (v, v - 0.1 * gv)], mode=mode)
    return f, w, v


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-12), ("float32", 2e-5)])
def test_updates_by_gemm_match_the_numpy_backend(dtype, rtol):
    w0, v0 = RNG.standard_normal((6, 5)).astype(dtype), RNG.standard_normal((5, 3)).astype(dtype)
    xv, yv = RNG.standard_normal((4, 6)).astype(dtype), RNG.standard_normal((4, 3)).astype(dtype)
    f, w, v = _step(dtype, "numba", w0, v0)
    ref, rw, rv = _step(dtype, "numpy", w0, v0)
    assert f.source.count("gemm_update(") == 2
    for _ in range(3):
        np.testing.assert_allclose(f(xv, yv), ref(xv, yv), rtol=rtol)
    for a, b in ((w, rw), (v, rv)):
        assert a.get_value().dtype == dtype
        np.testing.assert_allclose(a.get_value(), b.get_value(), rtol=rtol, atol=rtol)


def test_a_bad_input_changes_nothing():
    w0, v0 = RNG.standard_normal((6, 5)), RNG.standard_normal((5, 3))
    f, w, v = _step("float64", "numba", w0, v0)
    with pytest.raises(ValueError):
        f(np.ones((4, 6)), np.ones((3, 3)))  # y has 3 rows, the product 4
    assert np.array_equal(w.get_value(), w0) and np.array_equal(v.get_value(), v0)


def test_a_fortran_ordered_weight_gets_the_same_values():
    w0 = np.asfortranarray(RNG.standard_normal((6, 5)))
    v0 = RNG.standard_normal((5, 3))
    f, w, v = _step("float64", "numba", w0, v0)
    ref, rw, _ = _step("float64", "numpy", w0, v0)
    xv, yv = RNG.standard_normal((4, 6)), RNG.standard_normal((4, 3))
    f(xv, yv), ref(xv, yv)
    np.testing.assert_allclose(w.get_value(), rw.get_value(), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_helper_with_a_factor_in_the_target(dtype):
    c = RNG.standard_normal((4, 4)).astype(dtype)
    b = RNG.standard_normal((4, 4)).astype(dtype)
    want = 0.5 * (c @ b) + 2.0 * c  # (c is also the first factor: the product comes first)
    helpers.gemm_update(c, b, c, np.array(0.5, dtype)[()], np.array(2.0, dtype)[()])
    np.testing.assert_allclose(c, want, rtol=1e-5 if dtype == "float32" else 1e-13)


def test_helper_with_an_empty_inner_dimension():
    c = np.ones((2, 3))
    helpers.gemm_update(np.ones((2, 0)), np.ones((0, 3)), c, -0.1, 0.5)
    assert np.array_equal(c, np.full((2, 3), 0.5))


def _plan(expr_of, views_weight=False):
    a, b = T.dmatrix("a"), T.dmatrix("b")
    w = sg.shared(np.zeros((3, 3)), name="w")
    first = w.T if views_weight else a
    new = expr_of(w, T.dot(first, b))
    f = sg.function([a, b], [], updates=[(w, new)], mode="numba", on_unused_input="ignore")
    return "gemm_update(" in f.source


def test_which_updates_qualify():
    assert _plan(lambda w, d: w - 0.1 * d)
    assert _plan(lambda w, d: 0.5 * w + d * 2.0)
    assert not _plan(lambda w, d: w - 0.1 * d * d)  # not linear in the product
    assert not _plan(lambda w, d: w * d)
    assert not _plan(lambda w, d: w - 0.1 * d + 1.0)  # a constant term
    assert not _plan(lambda w, d: w - 0.1 * d, views_weight=True)  # a factor reads w


def test_a_broadcastable_product_takes_the_loop():
    # (1, n) product broadcast over a (3, n) weight: the loop broadcasts it, a gemm could not
    w = sg.shared(np.ones((3, 2)), name="w")
    a, b = T.row("a", dtype="float64"), T.dmatrix("b")
    f = sg.function([a, b], [], updates=[(w, w - 0.1 * T.dot(a, b))], mode="numba")
    f(np.ones((1, 4)), np.ones((4, 2)))
    assert "gemm_update(" not in f.source and np.allclose(w.get_value(), 0.6)


def test_nothing_to_plan_without_updates():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    assert plan_gemm_updates([a, b], [T.dot(a, b)], {}, {}) == {}
