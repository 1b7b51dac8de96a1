"""symgrad.scipy.minimize: known minima, and the same run as scipy on a numpy implementation."""
import warnings

import numpy as np
import pytest
import scipy.optimize

import symgrad as sg
import symgrad.tensor as T
from symgrad.scipy import minimize, value_and_grad_function


def _rosenbrock():
    a, c = sg.shared(-1.2, name="a"), sg.shared(1.0, name="c")
    return (1 - a) ** 2 + 100 * (c - a ** 2) ** 2, a, c


@pytest.mark.parametrize("method", ["L-BFGS-B", "BFGS", "CG"])
def test_rosenbrock_known_minimum(mode, method):
    # the same graph for every method: one compile per backend, later ones come from the kernel cache
    cost, a, c = _rosenbrock()
    result = minimize(cost, [a, c], method=method, mode=mode, tol=1e-10)
    assert result.success, result.message
    assert result.nit > 10  # from (-1.2, 1) along the valley: a real run, not a lucky first step
    np.testing.assert_allclose([a.get_value(), c.get_value()], [1.0, 1.0], atol=1e-4)
    np.testing.assert_array_equal([a.get_value(), c.get_value()], result.x)  # written back
    assert a.get_value().shape == () and a.get_value().dtype == np.float64
    assert result.fun == pytest.approx(0.0, abs=1e-8)


def test_bounds_and_callback_see_the_flat_vector(mode):
    cost, a, c = _rosenbrock()
    seen = []
    result = minimize(cost, [a, c], mode=mode, bounds=[(None, 0.5), (None, None)],
                      callback=lambda xk: seen.append(np.array(xk)))
    # with a <= 0.5 the minimum is on the bound, at c = a ** 2: cost (1 - 0.5) ** 2
    np.testing.assert_allclose(result.x, [0.5, 0.25], atol=1e-5)
    assert float(a.get_value()) == pytest.approx(0.5) and result.fun == pytest.approx(0.25, abs=1e-8)
    assert len(seen) == result.nit and all(s.shape == (2,) for s in seen)


def _logistic_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(size=30) > 0).astype(np.float64)
    return X, y


def test_same_path_as_scipy_on_numpy_logistic_regression(mode):
    X, y = _logistic_data()
    x, t = T.dmatrix("x"), T.dvector("t")
    w, b = sg.shared(np.zeros(4), name="w"), sg.shared(0.0, name="b")
    z = T.dot(x, w) + b
    cost = T.mean(T.softplus(z) - t * z) + 0.01 * (w ** 2).sum()
    result = minimize(cost, [w, b], {x: X, t: y}, mode=mode, options={"gtol": 1e-10, "ftol": 1e-15})

    def numpy_cost_and_grad(theta):
        wn, bn = theta[:4], theta[4]
        zn = X @ wn + bn
        dz = (1 / (1 + np.exp(-zn)) - y) / len(y)
        value = np.mean(np.logaddexp(0, zn) - y * zn) + 0.01 * wn @ wn
        return value, np.concatenate([X.T @ dz + 0.02 * wn, [dz.sum()]])

    expected = scipy.optimize.minimize(numpy_cost_and_grad, np.zeros(5), method="L-BFGS-B", jac=True,
                                       options={"gtol": 1e-10, "ftol": 1e-15})
    assert result.success and expected.success
    assert result.nit == expected.nit  # the same path: values and gradients agree to rounding
    np.testing.assert_allclose(result.x, expected.x, rtol=1e-9, atol=1e-12)
    assert result.fun == pytest.approx(expected.fun, rel=1e-12)
    np.testing.assert_allclose(w.get_value(), result.x[:4])
    assert float(b.get_value()) == result.x[4]
    # the gradient at the solution is (close to) zero
    _, gradient = numpy_cost_and_grad(result.x)
    assert np.abs(gradient).max() < 1e-8


def test_float32_row_and_matrix_least_squares_with_inputs_tuple_and_x0(mode):
    """A float32 row (broadcastable first axis) and a float64 matrix; data bound by position."""
    rng = np.random.default_rng(5)
    A, B = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    u = sg.shared(np.zeros((1, 2), np.float32), name="u", broadcastable=(True, False))
    M = sg.shared(np.zeros((3, 2)), name="M")
    a, bmat = T.dmatrix("a"), T.dmatrix("bmat")
    cost = ((T.dot(a, M) + u - bmat) ** 2).sum()
    # least squares with an intercept: solve [A, 1] @ [[M], [u]] = B
    solution = np.linalg.lstsq(np.hstack([A, np.ones((6, 1))]), B, rcond=None)[0]
    x0 = np.full(8, 0.1)  # M's 6 entries then u's 2
    result = minimize(cost, [M, u], (A, B), inputs=[a, bmat], x0=x0, mode=mode, options={"gtol": 1e-9})
    assert result.success
    assert u.get_value().dtype == np.float32 and u.get_value().shape == (1, 2)
    np.testing.assert_allclose(M.get_value(), solution[:3], atol=1e-4)
    np.testing.assert_allclose(u.get_value(), solution[3:], atol=1e-4)


def test_value_and_grad_function_layout():
    m = sg.shared(np.ones((2, 2), np.float32), name="m")
    s = sg.shared(2.0, name="s")
    f, layout = value_and_grad_function((m ** 2).sum() * s, [m, s], mode="numpy")
    assert layout == [(0, 4, (2, 2)), (4, 5, ())]
    value, gradient = f(np.array([1.0, 2.0, 3.0, 4.0, 0.5]))
    assert value.dtype == np.float64 and gradient.dtype == np.float64
    assert float(value) == 15.0
    np.testing.assert_allclose(gradient, [1.0, 2.0, 3.0, 4.0, 30.0])
    np.testing.assert_array_equal(m.get_value(), np.ones((2, 2)))  # shared values untouched


def test_gradient_free_method_still_works():
    cost, a, c = _rosenbrock()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy: Nelder-Mead does not use the gradient
        result = minimize(cost, [a, c], method="Nelder-Mead", mode="numpy", options={"xatol": 1e-8, "fatol": 1e-12})
    np.testing.assert_allclose([a.get_value(), c.get_value()], [1.0, 1.0], atol=1e-4)
    assert result.success


# --- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(wrt=T.dscalar("v")), TypeError, r"wrt\[0\] must be a shared variable \(symgrad.shared\), got 'v' "
     r"\(float64 scalar\)"),
    (dict(wrt=[]), ValueError, "wrt is empty"),
    (dict(wrt="a"), TypeError, r"wrt\[0\] must be a shared variable .*got str"),
    (dict(wrt=[sg.shared(np.int64(1), name="k")]), TypeError, r"wrt\[0\] \('k'\) must be a float shared variable, "
     "got int64 scalar"),
    (dict(x0=np.zeros(3)), ValueError, r"x0 must be a flat vector of all wrt values, shape \(2,\), got shape \(3,\)"),
    (dict(x0=np.zeros((2, 1))), ValueError, r"shape \(2,\), got shape \(2, 1\)"),
    (dict(args=(np.zeros(2),)), ValueError, "got 1 args for 0 inputs"),
    (dict(args={T.dvector("d"): [1.0]}, inputs=[T.dvector("d")]), TypeError, "not both"),
    (dict(jac=True), TypeError, "jac= is built by symgrad"),
])
def test_bad_arguments(kwargs, error, match):
    cost, a, c = _rosenbrock()
    kwargs = {"wrt": [a, c], **kwargs}
    with pytest.raises(error, match=match):
        minimize(cost, mode="numpy", **kwargs)


def test_bad_cost_and_unbound_input():
    a = sg.shared(np.zeros(2), name="a")
    with pytest.raises(TypeError, match=r"cost must be a float scalar, got .*float64 vector"):
        minimize(a * 2, a, mode="numpy")
    x = T.dvector("x")
    with pytest.raises(ValueError, match="'x'"):  # the data for x is missing: function names it
        minimize((a * x).sum(), a, mode="numpy")
    with pytest.raises(TypeError, match=r"input 'x'.*float64 vector"):  # bound data of the wrong rank
        minimize((a * x).sum(), a, {x: np.zeros((2, 2))}, mode="numpy")


def test_blas_thread_count_is_left_as_found(mode):
    # the solver runs with every OpenBLAS on one thread (their spinning threads would take the
    # cores the cost's kernel needs); the caller's counts come back afterwards
    from symgrad.backend.numba.blas import thread_pools

    pools = thread_pools()
    if not pools:
        pytest.skip("no OpenBLAS with a thread-count setter here")
    before = [get() for _, get in pools]
    seen = []
    cost, a, c = _rosenbrock()
    minimize(cost, [a, c], mode=mode, callback=lambda xk: seen.append(tuple(get() for _, get in pools)))
    assert set(seen) == {(1,) * len(pools)} and [get() for _, get in pools] == before
