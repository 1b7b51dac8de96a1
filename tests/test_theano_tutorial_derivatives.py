"""The "Derivatives in Theano" tutorial page, run as a Theano user would write it (default mode),
asserting the numbers the tutorial prints. ``theano.scan`` loops are replaced by the
``jacobian``/``hessian`` macros the page points to."""
import numpy
import numpy as np
import pytest

import symgrad as theano
import symgrad.tensor as T


def test_star_import_exposes_the_tutorial_names():
    namespace: dict = {}
    exec("from symgrad import *", namespace)  # noqa: S102 - the statement under test
    for name in ("function", "shared", "In", "config", "tensor", "pp", "grad", "Rop", "Lop"):
        assert name in namespace, name
    assert namespace["function"] is theano.function and namespace["tensor"] is T
    assert namespace["config"].floatX == "float64"


def test_derivatives_tutorial():
    from symgrad import function, pp

    # Computing gradients
    x = T.dscalar("x")
    y = x ** 2
    gy = T.grad(y, x)
    assert "x" in pp(gy)  # (the printed form differs from Theano's; the value does not)
    f = function([x], gy)
    assert f(4) == numpy.array(8.0) and f(4).shape == ()
    assert numpy.allclose(f(94.2), 188.4)

    x = T.dmatrix("x")
    s = T.sum(1 / (1 + T.exp(-x)))
    gs = T.grad(s, x)
    dlogistic = function([x], gs)
    np.testing.assert_allclose(dlogistic([[0, 1], [-1, -2]]), [[0.25, 0.19661193], [0.19661193, 0.10499359]],
                               rtol=1e-7)

    # Computing the Jacobian (Theano's page builds it with scan; theano.gradient.jacobian is the macro)
    x = T.dvector("x")
    y = x ** 2
    J = theano.gradient.jacobian(y, x)
    f = function([x], J)
    np.testing.assert_array_equal(f([4, 4]), [[8.0, 0.0], [0.0, 8.0]])

    # Computing the Hessian
    x = T.dvector("x")
    y = x ** 2
    cost = y.sum()
    H = theano.gradient.hessian(cost, x)
    f = function([x], H)
    np.testing.assert_array_equal(f([4, 4]), [[2.0, 0.0], [0.0, 2.0]])

    # R-operator
    W = T.dmatrix("W")
    V = T.dmatrix("V")
    x = T.dvector("x")
    y = T.dot(x, W)
    JV = T.Rop(y, W, V)
    f = theano.function([W, V, x], JV, on_unused_input="ignore")  # (J·V does not need W's values)
    np.testing.assert_array_equal(f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]), [2.0, 2.0])

    # L-operator
    W = T.dmatrix("W")
    v = T.dvector("v")
    x = T.dvector("x")
    y = T.dot(x, W)
    VJ = T.Lop(y, W, v)
    f = theano.function([v, x], VJ)
    np.testing.assert_array_equal(f([2, 2], [0, 1]), [[0.0, 0.0], [2.0, 2.0]])

    # Hessian times a vector, both ways
    x = T.dvector("x")
    v = T.dvector("v")
    y = T.sum(x ** 2)
    gy = T.grad(y, x)
    vH = T.grad(T.sum(gy * v), x)
    f = theano.function([x, v], vH)
    np.testing.assert_array_equal(f([4, 4], [2, 2]), [4.0, 4.0])

    Hv = T.Rop(gy, x, v)
    f = theano.function([x, v], Hv)
    np.testing.assert_array_equal(f([4, 4], [2, 2]), [4.0, 4.0])


@pytest.mark.parametrize("name", ["jacobian", "hessian", "Rop", "Lop", "specify_shape"])
def test_tensor_namespace(name):
    assert callable(getattr(T, name))
