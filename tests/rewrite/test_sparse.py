"""rewrite/sparse.py: a dense step by the gradient of looked-up rows becomes an increment of those
rows; the values are the dense ones (to rounding) on both backends, and the rewrite leaves alone
what is not ``w + k * gradient``."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.rewrite import optimize
from symgrad.tensor.indexing import IncSubtensor

IDX = np.array([3, 0, 3, 7, 1])  # a row looked up twice


def _lookup(W, x):
    return (T.tanh(W[x]) * np.arange(1.0, 4.0)).sum()


def _dense(Wv, lr):
    """The update written densely in numpy: W - lr * (zeros + add.at)."""
    t = np.tanh(Wv[IDX])
    g = np.zeros_like(Wv)
    np.add.at(g, IDX, (1 - t * t) * np.arange(1.0, 4.0))
    return Wv - lr * g


def _is_increment_of(v, w):
    return isinstance(v.owner.op, IncSubtensor) and v.owner.inputs[0] is w


@pytest.mark.parametrize("lr", ["constant", "scalar"])
def test_rewritten(lr):
    W, x, a = sg.shared(np.zeros((8, 3)), name="W"), T.lvector("x"), T.dscalar("a")
    step = 0.1 if lr == "constant" else a
    (new,) = optimize([W - step * sg.grad(_lookup(W, x), W)])
    assert _is_increment_of(new, W)


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_values(mode):
    Wv = np.random.default_rng(0).standard_normal((8, 3))
    W, x, a = sg.shared(Wv.copy(), name="W"), T.lvector("x"), T.dscalar("a")
    f = sg.function([x, a], [], updates=[(W, W - a * sg.grad(_lookup(W, x), W))], mode=mode)
    f(IDX, 0.5)
    np.testing.assert_allclose(W.get_value(), _dense(Wv, 0.5), rtol=1e-15, atol=1e-16)
    untouched = np.setdiff1d(np.arange(8), IDX)
    np.testing.assert_array_equal(W.get_value()[untouched], Wv[untouched])


def test_basic_slice():
    Wv = np.arange(12.0).reshape(4, 3)
    W = sg.shared(Wv.copy(), name="W")
    g = sg.grad((W[1:3] ** 2).sum(), W)
    (new,) = optimize([W - 0.25 * g])
    assert _is_increment_of(new, W)
    f = sg.function([], [], updates=[(W, W - 0.25 * g)], mode="numba")
    f()
    want = Wv.copy()
    want[1:3] -= 0.25 * 2 * Wv[1:3]
    np.testing.assert_array_equal(W.get_value(), want)


@pytest.mark.parametrize("case", ["decay", "matrix-rate", "set", "other-matrix"])
def test_left_alone(case):
    W, x, M = sg.shared(np.ones((8, 3)), name="W"), T.lvector("x"), T.dmatrix("M")
    g = sg.grad(_lookup(W, x), W)
    expr = {"decay": lambda: 0.9 * W - 0.1 * g,  # every row changes
            "matrix-rate": lambda: W - M * g,  # a rate per element
            "set": lambda: W + T.set_subtensor(T.zeros_like(W)[x], 1.0),
            "other-matrix": lambda: W - 0.1 * g + 0 * M}[case]()
    (new,) = optimize([expr])
    assert not _is_increment_of(new, W)


def test_in_place_and_all_or_nothing():
    """numba writes the increment into W's buffer; an index out of bounds leaves W and b as they were."""
    Wv = np.random.default_rng(1).standard_normal((8, 3))
    W, b, x = sg.shared(Wv.copy(), name="W"), sg.shared(np.ones(3), name="b"), T.lvector("x")
    cost = _lookup(W, x) + (b ** 2).sum()
    gW, gb = sg.grad(cost, [W, b])
    f = sg.function([x], cost, updates=[(W, W - 0.5 * gW), (b, b - 0.5 * gb)], mode="numba")
    assert sorted(f._kernel.info.inplace_slots) == [1, 2]
    buf = W.get_value(borrow=True)
    f(IDX)
    assert W.get_value(borrow=True) is buf
    np.testing.assert_allclose(buf, _dense(Wv, 0.5), rtol=1e-15, atol=1e-16)
    before, b_before = buf.copy(), b.get_value()
    with pytest.raises(IndexError):
        f(np.array([1, 8]))
    np.testing.assert_array_equal(W.get_value(), before)
    np.testing.assert_array_equal(b.get_value(), b_before)


def test_two_increments_one_in_place():
    """Two embeddings: one increment written in place (an increment can raise), the other copied."""
    E1, E2, x = sg.shared(np.ones((5, 2)), name="E1"), sg.shared(np.ones((6, 2)), name="E2"), T.lvector("x")
    cost = (E1[x] ** 2).sum() + (E2[x] ** 3).sum()
    g1, g2 = sg.grad(cost, [E1, E2])
    f = sg.function([x], cost, updates=[(E1, E1 - 0.1 * g1), (E2, E2 - 0.1 * g2)], mode="numba")
    assert len(f._kernel.info.inplace_slots) == 1
    with pytest.raises(IndexError):
        f(np.array([0, 5]))  # in bounds for E2, not for E1
    np.testing.assert_array_equal(E1.get_value(), np.ones((5, 2)))
    np.testing.assert_array_equal(E2.get_value(), np.ones((6, 2)))
    f(np.array([0, 4, 4]))
    want1, want2 = np.ones((5, 2)), np.ones((6, 2))
    want1[[0, 4]] -= [[0.2, 0.2], [0.4, 0.4]]
    want2[[0, 4]] -= [[0.3, 0.3], [0.6, 0.6]]
    np.testing.assert_allclose(E1.get_value(), want1, rtol=1e-15)
    np.testing.assert_allclose(E2.get_value(), want2, rtol=1e-15)
