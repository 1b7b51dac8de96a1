"""``grad``: values, higher order, consider_constant, intermediates, disconnected inputs."""
import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.gradient import DisconnectedInputError


def test_grad_of_sum_of_squares(mode):
    x = T.dvector("x")
    g = sg.grad((x ** 2).sum(), x)
    assert g.type is T.dvector
    np.testing.assert_allclose(sg.function([x], g, mode=mode)([1.0, -2.0, 3.0]), [2.0, -4.0, 6.0])


def test_t_grad_is_symgrad_grad(mode):
    x = T.dscalar("x")
    f = sg.function([x], [T.grad(T.sin(x), x), sg.grad(T.sin(x), x)], mode=mode)
    a, b = f(0.3)
    assert a == b == pytest.approx(np.cos(0.3), rel=1e-14)


def test_second_derivative_of_cube(mode):
    x = T.dscalar("x")
    g = sg.grad(x ** 3, x)
    h = sg.grad(g, x)
    f = sg.function([x], [g, h], mode=mode)
    for v in [-2.0, 0.0, 0.5, 3.0]:
        d1, d2 = f(v)
        assert d1 == pytest.approx(3 * v ** 2, rel=1e-14)
        assert d2 == pytest.approx(6 * v, rel=1e-14, abs=1e-14)


def test_third_derivative(mode):
    x = T.dscalar("x")
    d3 = sg.grad(sg.grad(sg.grad(T.exp(2 * x), x), x), x)
    assert sg.function([x], d3, mode=mode)(0.5) == pytest.approx(8 * np.exp(1.0), rel=1e-13)


def test_grad_of_grad_of_vector_cost(mode):
    # d/dx of sum(d/dx sum(x**3)) = d/dx sum(3x^2) = 6x
    x = T.dvector("x")
    g = sg.grad((x ** 3).sum(), x)
    h = sg.grad(g.sum(), x)
    np.testing.assert_allclose(sg.function([x], h, mode=mode)([1.0, -2.0]), [6.0, -12.0])


def test_wrt_single_variable_vs_list(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    cost = x * y ** 2
    single = sg.grad(cost, x)
    assert isinstance(single, T.Variable)
    as_list = sg.grad(cost, [x])
    assert isinstance(as_list, list) and len(as_list) == 1
    as_tuple = sg.grad(cost, (x, y))
    assert isinstance(as_tuple, list) and len(as_tuple) == 2
    f = sg.function([x, y], [single, as_list[0], *as_tuple], mode=mode)
    gx1, gx2, gx3, gy = f(2.0, 3.0)
    assert gx1 == gx2 == gx3 == 9.0
    assert gy == 12.0


def test_consider_constant_stops_gradient(mode):
    x = T.dscalar("x")
    h = x ** 2
    cost = h * x
    g_full = sg.grad(cost, x)
    g_stop = sg.grad(cost, x, consider_constant=[h])
    f = sg.function([x], [g_full, g_stop], mode=mode)
    full, stop = f(2.0)
    assert full == 12.0  # 3x^2
    assert stop == 4.0   # h treated as a constant: d(h*x)/dx = h


def test_consider_constant_on_input(mode):
    x, y = T.dscalars("x", "y")
    cost = x * y + x ** 2
    gx = sg.grad(cost, x, consider_constant=[y])
    assert sg.function([x, y], gx, mode=mode)(1.0, 5.0) == 7.0


def test_consider_constant_makes_wrt_disconnected():
    x = T.dscalar("x")
    h = T.exp(x)
    g = sg.grad(h.sum() * 1.0, x, consider_constant=[h], disconnected_inputs="ignore")
    assert float(g.eval({x: 1.0})) == 0.0


def test_gradient_wrt_intermediate_variable(mode):
    x = T.dvector("x")
    h = x * 2
    cost = (h ** 2).sum()
    gh, gx = sg.grad(cost, [h, x])
    f = sg.function([x], [gh, gx], mode=mode)
    vh, vx = f([1.0, 2.0])
    np.testing.assert_allclose(vh, [4.0, 8.0])   # 2h
    np.testing.assert_allclose(vx, [8.0, 16.0])  # 8x


def test_gradient_wrt_shared(mode):
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    x = T.dvector("x")
    cost = (T.dot(x, w) - 1.0) ** 2
    gw = sg.grad(cost, w)
    assert gw.type is w.type
    out = sg.function([x], gw, mode=mode)([1.0, 1.0])
    np.testing.assert_allclose(out, [4.0, 4.0])  # 2*(3-1)*x


def test_gradient_through_broadcast_is_summed(mode):
    x = T.dmatrix("x")
    b = T.dvector("b")
    s = T.dscalar("s")
    cost = ((x + b) * s).sum()
    gb, gs = sg.grad(cost, [b, s])
    assert gb.type is T.dvector and gs.type is T.dscalar
    vb, vs = sg.function([x, b, s], [gb, gs], mode=mode)(np.ones((3, 2)), [1.0, 2.0], 2.0)
    np.testing.assert_allclose(vb, [6.0, 6.0])
    assert vs == 15.0  # sum(x + b)


def test_gradient_through_row_broadcast(mode):
    r = T.drow("r")
    m = T.dmatrix("m")
    g = sg.grad((r * m).sum(), r)
    assert g.type is T.drow
    out = sg.function([r, m], g, mode=mode)([[1.0, 1.0]], np.arange(6.0).reshape(3, 2))
    np.testing.assert_allclose(out, [[6.0, 9.0]])


def test_gradient_of_dot_matrix_vector(mode, rng):
    X = T.dmatrix("X")
    w = T.dvector("w")
    cost = T.tanh(T.dot(X, w)).sum()
    gX, gw = sg.grad(cost, [X, w])
    Xv = rng.standard_normal((4, 3))
    wv = rng.standard_normal(3)
    vX, vw = sg.function([X, w], [gX, gw], mode=mode)(Xv, wv)
    d = 1 - np.tanh(Xv @ wv) ** 2
    np.testing.assert_allclose(vw, Xv.T @ d, rtol=1e-12)
    np.testing.assert_allclose(vX, np.outer(d, wv), rtol=1e-12)


def test_gradient_of_float32_stays_float32(mode):
    x = T.fvector("x")
    g = sg.grad((x ** 2).sum(), x)
    assert g.dtype == "float32"
    out = sg.function([x], g, mode=mode)(np.array([1.0, 2.0], dtype="float32"))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [2.0, 4.0])


def test_gradient_accumulates_over_multiple_uses(mode):
    x = T.dscalar("x")
    cost = x * x + T.sin(x) * x + 3 * x
    g = sg.grad(cost, x)
    v = 0.7
    assert sg.function([x], g, mode=mode)(v) == pytest.approx(2 * v + np.cos(v) * v + np.sin(v) + 3, rel=1e-14)


def test_gradient_wrt_integer_input_is_zero(mode):
    x = T.dvector("x")
    i = T.lscalar("i")
    cost = (x[i] * 3.0)
    gx, gi = sg.grad(cost, [x, i])
    assert gi.dtype == "float64"
    vx, vi = sg.function([x, i], [gx, gi], mode=mode)([1.0, 2.0, 3.0], 1)
    np.testing.assert_allclose(vx, [0.0, 3.0, 0.0])
    assert vi == 0.0


def test_grad_of_mean_and_max(mode):
    x = T.dvector("x")
    gm, gmax = sg.grad(x.mean(), x), sg.grad(x.max(), x)
    vm, vmax = sg.function([x], [gm, gmax], mode=mode)([1.0, 5.0, 2.0, 0.0])
    np.testing.assert_allclose(vm, [0.25] * 4)
    np.testing.assert_allclose(vmax, [0.0, 1.0, 0.0, 0.0])


# --- disconnected inputs -----------------------------------------------------------------------
def test_disconnected_raise():
    x, y = T.dscalars("x", "y")
    with pytest.raises(DisconnectedInputError, match="'y'"):
        sg.grad(x * 2, [x, y])
    assert issubclass(DisconnectedInputError, ValueError)


def test_disconnected_ignore_returns_zeros(mode):
    x = T.dscalar("x")
    y = T.dmatrix("y")
    gx, gy = sg.grad(x * 2, [x, y], disconnected_inputs="ignore")
    assert gy.type is y.type
    vx, vy = sg.function([x, y], [gx, gy], mode=mode, on_unused_input="ignore")(1.0, np.ones((2, 3)))
    assert vx == 2.0
    np.testing.assert_array_equal(vy, np.zeros((2, 3)))


def test_disconnected_warn(mode):
    x, y = T.dscalars("x", "y")
    with pytest.warns(UserWarning, match="'y'"):
        gy = sg.grad(x * 2, y, disconnected_inputs="warn")
    assert sg.function([y], gy, mode=mode)(3.0) == 0.0


def test_connected_but_zero_gradient_does_not_raise(mode):
    # the cost depends on i only through an integer path: connected, gradient zero
    x = T.dvector("x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = sg.grad(T.floor(x).sum() * 1.0, x)
    np.testing.assert_array_equal(sg.function([x], g, mode=mode)([0.5, 1.5]), [0.0, 0.0])


# --- deep graphs ---------------------------------------------------------------------------------
def test_grad_of_deep_chain(mode):
    depth = 2000 if mode == "numpy" else 300  # numba's compile time grows with the kernel's length
    x = T.dscalar("x")
    y = x
    for _ in range(depth):
        y = y + 0.001 * T.sin(y)
    g = sg.grad(y, x)
    v, d = 0.3, 1.0
    for _ in range(depth):
        d *= 1 + 0.001 * np.cos(v)
        v += 0.001 * np.sin(v)
    out, grad = sg.function([x], [y, g], mode=mode)(0.3)
    assert out == pytest.approx(v, rel=1e-12)
    assert grad == pytest.approx(d, rel=1e-10)
