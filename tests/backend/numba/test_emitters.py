"""backend/numba/emitters.py: elementwise loops over slices read the slice's base (at an offset)."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T


def _both(inputs, out, *values):
    got = sg.function(inputs, out, mode="numba")
    want = sg.function(inputs, out, mode="numpy")
    return got, got(*values), want(*values)


@pytest.mark.parametrize("cut", [
    lambda p: p[:, 4:8], lambda p: p[1:, 8:], lambda p: p[2:3, :5], lambda p: p[:, 20:],  # past the end: empty
    lambda p: p[:, 3:100], lambda p: p[5:, 1:], lambda p: p[:, :5], lambda p: p[:2],
], ids=["cols", "tail", "row", "empty", "clipped", "both", "head", "rows"])
def test_slice_of_a_product(cut):
    x, W = T.dmatrix("x"), T.dmatrix("W")
    pre = T.dot(x, W)
    xv, Wv = np.random.default_rng(0).standard_normal((4, 3)), np.random.default_rng(1).standard_normal((3, 12))
    got, a, b = _both([x, W], T.nnet.sigmoid(cut(pre)) * 2 + T.tanh(cut(pre)), xv, Wv)
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-300)
    assert a.shape == b.shape


def test_loop_reads_base():
    x, W = T.dmatrix("x"), T.dmatrix("W")
    pre = T.dot(x, W)
    f = sg.function([x, W], T.exp(pre[:, 4:8]), mode="numba")
    assert "4 + " in f.source  # read at an offset into the product, not through the view


def test_variable_start_and_3d():
    x, k = T.dtensor3("x"), T.lscalar("k")
    y = x * 1.0
    _, a, b = _both([x, k], [T.exp(y[1:, :, 2:]), T.exp(y[:, k:])], np.arange(24.0).reshape(2, 3, 4) / 10, 1)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-14)


def test_reshape_resolves_or_refuses_a_shape():
    x, s = T.dmatrix("x"), T.lvector("s")
    f = sg.function([x, s], x.reshape(s, ndim=2), mode="numba")
    v = np.arange(12.0).reshape(3, 4)
    for shape in ([6, 2], [-1, 3], [2, -1], [12, 1]):
        np.testing.assert_array_equal(f(v, shape), v.reshape(shape))
    for bad in ([5, 2], [-1, -1], [-1, 5], [-2, -6], [0, -1], [-3, 4]):
        with pytest.raises(ValueError, match="reshape"):
            f(v, bad)
    empty = np.zeros((0, 4))
    assert f(empty, [-1, 2]).shape == (0, 2)  # numpy's rule: -1 of 0 elements with the rest known
    with pytest.raises(ValueError, match="reshape"):
        f(empty, [0, -1])  # numpy: ambiguous
    r = sg.function([x], x.reshape(()), mode="numba")
    assert r(np.full((1, 1), 3.0)) == 3.0
    with pytest.raises(ValueError, match="reshape"):
        r(v)
