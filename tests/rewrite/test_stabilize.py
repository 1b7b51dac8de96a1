"""Numerics: every stabilized pattern stays finite, with its gradient, for logits of ±1000.

The sigmoid patterns (log(sigmoid), log(1 - sigmoid), softplus, the sigmoid cross-entropy) are in
test_rewrites.py; this table covers softmax: large logits, log(softmax), and the categorical
cross-entropy in each way Theano-era code writes it. All patterns of the table are outputs of one
compiled function per backend (one compile, many checks).
"""
import numpy as np
import pytest
from scipy.special import log_softmax as np_log_softmax, softmax as np_softmax

import symgrad as sg
import symgrad.tensor as T

Z = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0], [0.5, -0.25, 2.0], [-1000.0, -1000.0, -999.0]])
Y = np.array([2, 0, 1, 0])  # the classes whose probability is ~exp(-2000) in the first rows
ONEHOT = np.eye(3)[Y]
N = len(Y)


def _cases(z, y, onehot):
    """(name, symbolic value, exact numpy value); gradients are taken w.r.t. z of each value's sum."""
    p = T.nnet.softmax(z)
    lsm = np_log_softmax(Z, axis=1)
    nll = -lsm[np.arange(N), Y]
    return [
        ("softmax(z)", p, np_softmax(Z, axis=1)),
        ("log(softmax(z))", T.log(p), lsm),
        ("log_softmax(z)", T.nnet.log_softmax(z), lsm),
        ("categorical_crossentropy(softmax(z), y)", T.nnet.categorical_crossentropy(p, y), nll),
        ("categorical_crossentropy(softmax(z), onehot)", T.nnet.categorical_crossentropy(p, onehot), nll),
        ("-mean(log(softmax(z))[arange(n), y])", -T.mean(T.log(p)[T.arange(y.shape[0]), y]), nll.mean()),
    ]


def _exact_grad(name):
    """d sum(value)/dz, exactly."""
    p = np_softmax(Z, axis=1)
    if name == "softmax(z)":
        return np.zeros_like(Z)  # each row of a softmax sums to 1
    if name in ("log(softmax(z))", "log_softmax(z)"):
        return 1.0 - 3 * p
    g = p - ONEHOT
    return g / N if name.startswith("-mean") else g


@pytest.fixture(scope="module", params=["numpy", "numba"])
def table(request):
    z, y, onehot = T.dmatrix("z"), T.lvector("y"), T.dmatrix("onehot")
    cases = _cases(z, y, onehot)
    outputs = []
    for _, value, _ in cases:
        outputs += [value, sg.grad(value.sum(), z)]
    f = sg.function([z, y, onehot], outputs, mode=request.param, on_unused_input="ignore")
    got = f(Z, Y, ONEHOT)
    return {name: (got[2 * k], got[2 * k + 1], exact) for k, (name, _, exact) in enumerate(cases)}


@pytest.mark.parametrize("name", [c[0] for c in _cases(T.dmatrix(), T.lvector(), T.dmatrix())])
def test_softmax_pattern_and_gradient_are_finite_and_exact(table, name):
    value, grad, exact = table[name]
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad)), f"{name}: {value}, {grad}"
    np.testing.assert_allclose(value, exact, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad, _exact_grad(name), rtol=1e-12, atol=1e-15)


def test_log_of_a_softmax_builds_the_stable_op():
    z = T.dmatrix("z")
    assert str(T.log(T.nnet.softmax(z)).owner.op) == "LogSoftmax{axis=1}"
