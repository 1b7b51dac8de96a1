"""The seed program: Theano's logistic-regression tutorial (examples/logistic_regression.py), small.

The tutorial's code is repeated here with N=40, feats=20 and 200 steps, and its weights are
compared with the same training loop in plain numpy using the hand-derived gradient (p - y) / N.
"""
import ast
import pathlib

import numpy
import pytest

import symgrad as theano
import symgrad.tensor as T

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "logistic_regression.py"
N, FEATS, STEPS = 40, 20, 200


def _data(seed=0):
    rng = numpy.random.RandomState(seed)
    D = (rng.randn(N, FEATS), rng.randint(size=N, low=0, high=2))
    w0 = rng.randn(FEATS)
    return D, w0


def _numpy_replay(D, w0, steps):
    X, Y = D[0], D[1].astype(float)
    w_np, b_np = w0.copy(), 0.0
    for _ in range(steps):
        with numpy.errstate(over="ignore"):  # exp overflow gives p = 0 exactly, which is right
            p = 1 / (1 + numpy.exp(-(X @ w_np + b_np)))
        g = (p - Y) / N
        w_np, b_np = w_np - 0.1 * (X.T @ g + 0.02 * w_np), b_np - 0.1 * g.sum()
    return w_np, b_np


def _tutorial(mode, D, w0):
    """The tutorial's program, verbatim but for the sizes, the seed and ``mode``."""
    x = T.matrix('x'); y = T.vector('y')
    w = theano.shared(w0, name='w'); b = theano.shared(0., name='b')
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = theano.function(inputs=[x, y], outputs=[prediction, xent],
                            updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)), mode=mode)
    predict = theano.function(inputs=[x], outputs=prediction, mode=mode)
    return w, b, train, predict


def test_logistic_regression_matches_numpy(mode):
    D, w0 = _data()
    w, b, train, predict = _tutorial(mode, D, w0)
    first_err = None
    for _ in range(STEPS):
        pred, err = train(D[0], D[1])
        first_err = err.mean() if first_err is None else first_err
    assert err.mean() < first_err
    w_np, b_np = _numpy_replay(D, w0, STEPS)
    numpy.testing.assert_allclose(w.get_value(), w_np, rtol=0, atol=1e-10)
    assert abs(float(b.get_value()) - b_np) < 1e-10
    # the outputs of the last step are those of the weights before it
    w_prev, b_prev = _numpy_replay(D, w0, STEPS - 1)
    z_prev = D[0] @ w_prev + b_prev
    numpy.testing.assert_array_equal(pred, z_prev > 0)
    Y = D[1].astype(float)
    expected_xent = Y * numpy.logaddexp(0, -z_prev) + (1 - Y) * numpy.logaddexp(0, z_prev)
    numpy.testing.assert_allclose(err, expected_xent, rtol=1e-9, atol=1e-12)
    final = predict(D[0])
    assert final.dtype == numpy.bool_
    numpy.testing.assert_array_equal(final, (D[0] @ w_np + b_np) > 0)
    # training made progress: better than the initial weights
    initial = (D[0] @ w0) > 0
    assert (final == D[1]).mean() > (initial == D[1]).mean()


def test_logistic_regression_inputs_not_modified_and_weights_fresh(mode):
    D, w0 = _data(seed=1)
    X, Y = D[0].copy(), D[1].copy()
    w, b, train, predict = _tutorial(mode, D, w0)
    w0_copy = w0.copy()
    for _ in range(3):
        train(D[0], D[1])
    numpy.testing.assert_array_equal(D[0], X)
    numpy.testing.assert_array_equal(D[1], Y)
    numpy.testing.assert_array_equal(w0, w0_copy)  # shared() copied the initial weights
    w_np, b_np = _numpy_replay((X, Y), w0_copy, 3)
    numpy.testing.assert_allclose(w.get_value(), w_np, rtol=0, atol=1e-12)


def test_logistic_regression_with_extreme_inputs_stays_finite(mode):
    # large activations: the stabilized cross-entropy and its gradient must not produce nan/inf
    D, w0 = _data(seed=2)
    X = D[0] * 1000.0
    w, b, train, predict = _tutorial(mode, (X, D[1]), w0)
    for _ in range(5):
        pred, err = train(X, D[1])
        assert numpy.all(numpy.isfinite(err))
    assert numpy.all(numpy.isfinite(w.get_value()))
    w_np, b_np = _numpy_replay((X, D[1]), w0, 5)
    numpy.testing.assert_allclose(w.get_value(), w_np, rtol=1e-10, atol=1e-8)


def test_example_script_keeps_the_tutorial_program():
    """The example runs too long for the suite (10000 steps); check it parses and uses the same API."""
    source = EXAMPLE.read_text()
    tree = ast.parse(source)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {"symgrad", "symgrad.tensor"} <= imported
    for snippet in ["theano.shared(rng.randn(feats), name='w')", "T.grad(cost, [w, b])",
                    "updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb))",
                    "p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))"]:
        assert snippet in source


@pytest.mark.parametrize("steps", [1, 2])
def test_first_steps_exactly(mode, steps):
    D, w0 = _data(seed=3)
    w, b, train, predict = _tutorial(mode, D, w0)
    for _ in range(steps):
        train(D[0], D[1])
    w_np, b_np = _numpy_replay(D, w0, steps)
    numpy.testing.assert_allclose(w.get_value(), w_np, rtol=1e-13, atol=1e-15)
    assert float(b.get_value()) == pytest.approx(b_np, rel=1e-12, abs=1e-15)
