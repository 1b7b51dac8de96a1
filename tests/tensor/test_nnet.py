"""Neural-network functions (symgrad/tensor/nnet.py, T.nnet): sigmoid, softplus, relu, softmax
(row-wise on matrices, vectors, other axes), binary and categorical cross-entropy (one-hot matrix
and integer-vector targets); values against numpy formulas and gradients."""
import numpy as np
import pytest

import symgrad
import symgrad.tensor as T

from ._cases import Case, booleans, check_grad, check_value, fixed, grad_params, integers, params, signed, uniform

X = uniform(-3, 3)
PROBS = uniform(0.05, 0.95)
TARGETS = uniform(0.0, 1.0)


def _sigmoid(x):
    with np.errstate(over="ignore"):  # exp(800) = inf gives the right limit, 0
        return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.log1p(np.exp(x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _bce(o, t):
    return -(t * np.log(o) + (1 - t) * np.log(1 - o))


def _one_hot(y, n):
    return np.eye(n)[y]


Y = np.array([2, 0, 2], dtype="int64")          # class indices, repeated
P_ROWS = lambda rng: _softmax(rng.uniform(-2, 2, (3, 4)))  # noqa: E731  rows of probabilities

NNET = [
    Case("sigmoid", T.nnet.sigmoid, _sigmoid, (X,)),
    Case("T.sigmoid", T.sigmoid, _sigmoid, (X,)),
    Case("sigmoid_large", T.nnet.sigmoid, _sigmoid, (fixed([-800.0, -40.0, 0.0, 40.0, 800.0]),),
         grad=(fixed([-30.0, -3.0, 0.0, 3.0, 30.0]),)),
    Case("sigmoid_float32", T.nnet.sigmoid, _sigmoid, (uniform(-3, 3, dtype="float32"),)),
    Case("sigmoid_int32", T.nnet.sigmoid, _sigmoid, (integers(-5, 6),), grad=False),
    Case("softplus", T.nnet.softplus, _softplus, (X,)),
    Case("T.softplus", T.softplus, _softplus, (X,)),
    Case("softplus_large", T.nnet.softplus, lambda x: np.logaddexp(0, x),
         (fixed([-800.0, -40.0, 0.0, 40.0, 800.0]),), grad=(fixed([-30.0, -3.0, 0.0, 3.0, 30.0]),)),
    Case("softplus_float32", T.nnet.softplus, _softplus, (uniform(-3, 3, dtype="float32"),)),
    Case("relu", T.nnet.relu, lambda x: np.maximum(x, 0), (signed(0.2, 2),)),
    Case("T.relu", T.relu, lambda x: np.maximum(x, 0), (signed(0.2, 2),)),
    Case("relu_zero", T.nnet.relu, lambda x: np.maximum(x, 0), (fixed([-1.0, 0.0, 2.0]),),
         grad=(fixed([-1.0, -0.1, 2.0]),)),
    Case("relu_float32", T.nnet.relu, lambda x: np.maximum(x, np.float32(0)), (signed(0.2, 2, dtype="float32"),)),
    Case("relu_int32", T.nnet.relu, lambda x: np.maximum(x, 0), (integers(-5, 6),), grad=False),
    # softmax
    Case("softmax_matrix", T.nnet.softmax, _softmax, (X,)),
    Case("softmax_vector", T.nnet.softmax, _softmax, (uniform(-3, 3, (4,)),)),
    Case("softmax_axis0", lambda x: T.nnet.softmax(x, axis=0), lambda x: _softmax(x, 0), (X,)),
    Case("softmax_3d", T.nnet.softmax, _softmax, (uniform(-3, 3, (2, 2, 3)),)),
    Case("softmax_large", T.nnet.softmax, _softmax, (fixed([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]]),),
         grad=(fixed([[10.0, 0.0, -10.0], [5.0, 5.0, 5.0]]),)),
    Case("softmax_float32", T.nnet.softmax, _softmax, (uniform(-3, 3, dtype="float32"),)),
    Case("softmax_int", T.nnet.softmax, lambda x: _softmax(x.astype("float64")), (integers(-3, 4),), grad=False),
    Case("log_softmax_matrix", T.nnet.log_softmax, lambda x: np.log(_softmax(x)), (X,)),
    Case("log_softmax_axis0_3d", lambda x: T.nnet.log_softmax(x, axis=0), lambda x: np.log(_softmax(x, 0)),
         (uniform(-3, 3, (2, 2, 3)),)),
    Case("log_of_softmax_float32", lambda x: T.log(T.nnet.softmax(x)), lambda x: np.log(_softmax(x)),
         (uniform(-3, 3, dtype="float32"),)),
    Case("softmax_then_weighted", lambda x, w: (T.nnet.softmax(x) * w).sum(axis=1),
         lambda x, w: (_softmax(x) * w).sum(axis=1), (X, X)),
    # cross-entropies
    Case("binary_crossentropy", T.nnet.binary_crossentropy, _bce, (PROBS, TARGETS)),
    Case("binary_crossentropy_bool_target", lambda o, t: T.nnet.binary_crossentropy(o, t), _bce,
         (PROBS, booleans())),
    Case("binary_crossentropy_sigmoid", lambda z, t: T.nnet.binary_crossentropy(T.nnet.sigmoid(z), t),
         lambda z, t: _bce(_sigmoid(z), t), (X, TARGETS), rtol=1e-10),
    Case("binary_crossentropy_float32", T.nnet.binary_crossentropy, _bce,
         (uniform(0.05, 0.95, dtype="float32"), uniform(0, 1, dtype="float32"))),
    Case("sigmoid_binary_crossentropy", T.nnet.sigmoid_binary_crossentropy,
         lambda z, t: _bce(_sigmoid(z), t), (X, TARGETS), rtol=1e-10),
    Case("categorical_crossentropy_onehot", T.nnet.categorical_crossentropy,
         lambda p, t: -(t * np.log(p)).sum(axis=-1), (P_ROWS, _one_hot(Y, 4))),
    Case("categorical_crossentropy_soft", T.nnet.categorical_crossentropy,
         lambda p, t: -(t * np.log(p)).sum(axis=-1), (P_ROWS, P_ROWS)),
    Case("categorical_crossentropy_int", T.nnet.categorical_crossentropy,
         lambda p, y: -np.log(p[np.arange(len(y)), y]), (P_ROWS, Y)),
    Case("categorical_crossentropy_int32", T.nnet.categorical_crossentropy,
         lambda p, y: -np.log(p[np.arange(len(y)), y]), (P_ROWS, Y.astype("int32"))),
    Case("categorical_crossentropy_vector_int", T.nnet.categorical_crossentropy,
         lambda p, y: -np.log(p[y]), (lambda rng: _softmax(rng.uniform(-2, 2, (4,))), np.asarray(3))),
    Case("softmax_categorical_crossentropy", lambda z, y: T.nnet.categorical_crossentropy(T.nnet.softmax(z), y).mean(),
         lambda z, y: -np.log(_softmax(z)[np.arange(len(y)), y]).mean(), (uniform(-2, 2, (3, 4)), Y), rtol=1e-10),
    Case("softmax_categorical_crossentropy_onehot",
         lambda z, t: T.nnet.categorical_crossentropy(T.nnet.softmax(z), t).sum(),
         lambda z, t: -(t * np.log(_softmax(z))).sum(), (uniform(-2, 2, (3, 4)), _one_hot(Y, 4)), rtol=1e-10),
]


@pytest.mark.parametrize("case", params(NNET))
def test_value(case, mode):
    check_value(case, mode)


@pytest.mark.parametrize("case", grad_params(NNET))
def test_grad(case, mode):
    check_grad(case, mode)


def test_sigmoid_gradient_is_accurate_in_both_tails(mode):
    """sigmoid'(x) = sigmoid(x) * sigmoid(-x): full relative precision for large |x| of either sign."""
    x = T.dvector("x")
    g = symgrad.grad(T.nnet.sigmoid(x).sum(), x)
    v = np.array([-40.0, -20.0, -5.0, 0.0, 5.0, 20.0, 40.0])
    e = np.exp(-np.abs(v))
    np.testing.assert_allclose(g.eval({x: v}, mode=mode), e / (1 + e) ** 2, rtol=1e-12)


def test_softmax_rows_sum_to_one_and_gradient_of_sum_is_zero(mode):
    z = T.dmatrix("z")
    s = T.nnet.softmax(z)
    g = symgrad.grad(s.sum(), z)
    f = symgrad.function([z], [s.sum(axis=1), g], mode=mode)
    sums, gz = f(np.random.default_rng(3).uniform(-5, 5, (3, 4)))
    np.testing.assert_allclose(sums, 1.0, rtol=1e-15)
    np.testing.assert_allclose(gz, 0.0, atol=1e-15)


def test_categorical_crossentropy_gradient_is_softmax_minus_onehot(mode):
    z, y = T.dmatrix("z"), T.lvector("y")
    cost = T.nnet.categorical_crossentropy(T.nnet.softmax(z), y).sum()
    g = symgrad.grad(cost, z)
    zv = np.random.default_rng(4).uniform(-2, 2, (3, 4))
    got = g.eval({z: zv, y: Y}, mode=mode)
    np.testing.assert_allclose(got, _softmax(zv) - _one_hot(Y, 4), rtol=1e-10, atol=1e-15)


def test_sigmoid_crossentropy_gradient_is_finite_when_saturated(mode):
    z, t = T.dvectors("z", "t")
    cost = T.nnet.binary_crossentropy(T.nnet.sigmoid(z), t).sum()
    g = symgrad.grad(cost, z)
    f = symgrad.function([z, t], [cost, g], mode=mode)
    zv, tv = np.array([-50.0, 50.0, 0.0]), np.array([1.0, 0.0, 1.0])
    c, gz = f(zv, tv)
    np.testing.assert_allclose(c, 50 + 50 + np.log(2), rtol=1e-12)
    np.testing.assert_allclose(gz, _sigmoid(zv) - tv, rtol=1e-12)


@pytest.mark.parametrize("build,exc", [
    pytest.param(lambda: T.nnet.softmax(T.dscalar()), TypeError, id="softmax_scalar"),
    pytest.param(lambda: T.nnet.softmax(T.dmatrix(), axis=2), ValueError, id="softmax_bad_axis"),
    pytest.param(lambda: T.nnet.categorical_crossentropy(T.dmatrix(), T.dvector()), TypeError,
                 id="crossentropy_float_vector_target"),
    pytest.param(lambda: T.nnet.categorical_crossentropy(T.dmatrix(), T.ltensor3()), TypeError,
                 id="crossentropy_target_rank"),
    pytest.param(lambda: T.nnet.categorical_crossentropy(T.dtensor3(), T.lmatrix()), TypeError,
                 id="crossentropy_int_target_of_tensor3"),
])
def test_nnet_build_errors(build, exc):
    with pytest.raises(exc):
        build()
