"""Gradients through ``scan`` (symgrad/gradient/scan.py: backpropagation through time): against
finite differences (``verify_grad``) and against the same computation unrolled by hand in Python.

Compile cost decides the split: the unrolled references run on the numpy backend; gradients
through several carries (output taps), truncate_gradient, symbolic n_steps and a nested scan are
outputs of ONE function per backend; an RNN's gradient costs ~10 s of numba compile, so on numba
it is checked once, by ``verify_grad``, and against the unrolled graph on the numpy backend, as
are the front end's sequence taps and go_backwards."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.scan_module import foldr, map as scan_map, scan
from symgrad.tensor.indexing import IncSubtensor
from symgrad.testing import verify_grad
from tests.conftest import BACKENDS
from tests.scan_module.test_scan import tutorial_rnn, tutorial_values

N, K = 4, 2  # steps; truncate_gradient
RNG = np.random.default_rng(5)
X3, W, U, H0 = T.dtensor3("X3"), T.dmatrix("W"), T.dmatrix("U"), T.dmatrix("H0")
b, h2, xs, A = T.dvectors("b", "h2", "xs", "A")
a, c, k = T.dscalar("a"), T.dscalar("c"), T.lscalar("k")
w = sg.shared(0.6, name="w")  # read inside a step: an implicit input, differentiated too
INPUTS = [X3, W, U, b, H0, h2, xs, a, c, A, k]
VALUES = dict(X3=RNG.normal(size=(N, 2, 3)), W=RNG.normal(size=(3, 3)), U=RNG.normal(size=(3, 3)) * 0.5,
              b=RNG.normal(size=3), H0=RNG.normal(size=(2, 3)), h2=np.array([0.3, -0.5]),
              xs=RNG.normal(size=N + 3) * 0.5, a=0.7, c=1.1, A=np.array([0.5, -1.5, 2.0]), k=3)


def _rnn_step(xt, h, W, U, b):
    return T.tanh(T.dot(xt, W) + T.dot(h, U) + b)


def _rnn_cost(hs):
    """Reads every step and the last one twice (history and its [-1])."""
    return (hs ** 2).sum() + hs[-1].sum()


def _unrolled_rnn(stop=0):
    """The RNN's hidden states written out step by step; the first ``stop`` are constants for
    the gradient (truncate_gradient = N - stop)."""
    h, hs = H0, []
    for t in range(N):
        h = _rnn_step(X3[t], h, W, U, b)
        hs.append(h)
    return T.stack(hs), hs[:stop]


def _scan_taps(x0, a, c):
    """h[t] = a h[t-2] + c tanh(h[t-1]), from the two rows of x0."""
    hs, _ = scan(lambda back2, back1, a, c: a * back2 + c * T.tanh(back1),
                 outputs_info=dict(initial=x0, taps=[-2, -1]), non_sequences=[a, c], n_steps=N)
    return hs


def _unrolled_taps(x0, a, c):
    back2, back1, hs = x0[0], x0[1], []
    for _ in range(N):
        back2, back1 = back1, a * back2 + c * T.tanh(back1)
        hs.append(back1)
    return T.stack(hs)


def _numpy_cases():
    """name -> (gradients through scan, the same gradients of the unrolled graph), on the numpy
    backend only: the RNN (on numba: verify_grad's case; each RNN gradient costs ~10 s of numba
    compile), and front-end features whose scans are no new case for the numba emitter."""
    wrt = [X3, W, U, b, H0]
    cases = {}
    for name, truncate, stop in [("rnn", -1, 0), ("truncated", K, N - K), ("truncated_past_start", N + 3, 0)]:
        hs, _ = scan(_rnn_step, sequences=X3, outputs_info=H0, non_sequences=[W, U, b], truncate_gradient=truncate)
        unrolled, constants = _unrolled_rnn(stop)
        cases[name] = (T.grad(_rnn_cost(hs), wrt),
                       T.grad(_rnn_cost(unrolled), wrt, consider_constant=constants, disconnected_inputs="ignore"))
    ys, _ = scan(lambda back, now, ahead, a: T.sin(back * a) * now + ahead ** 2,
                 sequences=dict(input=xs, taps=[-2, 0, 1]), non_sequences=a)
    unrolled = T.stack([T.sin(xs[t - 2] * a) * xs[t] + xs[t + 1] ** 2 for t in range(2, N + 2)])
    cases["sequence_taps"] = (T.grad((ys ** 2).sum(), [xs, a]), T.grad((unrolled ** 2).sum(), [xs, a]))
    ys, unrolled, _ = _tanh_steps(a, go_backwards=True)
    weights = T.arange(N) + 1.0
    cases["backwards_shared"] = (T.grad((ys * weights).sum(), [xs, a, w]),
                                 T.grad((unrolled * weights).sum(), [xs, a, w]))
    return cases


def _tanh_steps(a, truncate=-1, go_backwards=False):
    """acc[t] = tanh(acc[t-1] a + xs[t] w) over the first N entries of xs, through scan and unrolled
    (the first N - truncate steps constant for the gradient)."""
    ys, _ = scan(lambda v, acc, a: T.tanh(acc * a + v * w), sequences=xs[:N], outputs_info=T.constant(0.0),
                 non_sequences=a, go_backwards=go_backwards, truncate_gradient=truncate)
    acc, steps = T.constant(0.0), []
    for t in range(N):
        acc = T.tanh(acc * a + xs[N - 1 - t if go_backwards else t] * w)
        steps.append(acc)
    return ys, T.stack(steps), steps[:N - truncate] if truncate > 0 else []


def _cases():
    """name -> (gradients through scan, the same gradients of the unrolled graph), on both backends:
    several carries (output taps), truncation, a nested scan."""
    cases = {}
    cases["output_taps"] = (T.grad((_scan_taps(h2, a, c) ** 2).sum(), [h2, a, c]),
                            T.grad((_unrolled_taps(h2, a, c) ** 2).sum(), [h2, a, c]))
    ys, unrolled, constants = _tanh_steps(a, truncate=K)
    weights = T.arange(N) + 1.0
    cases["truncated_tanh"] = (T.grad((ys * weights).sum(), [xs, a, w]),
                               T.grad((unrolled * weights).sum(), [xs, a, w], consider_constant=constants))
    # a scan inside the step: acc[t] = acc[t-1] + (sum_j xs[t] h2[j]) ** 2
    def outer(v, acc, h2):
        inner, _ = scan(lambda u, s, v: s + u * v, sequences=h2, outputs_info=T.constant(0.0), non_sequences=v)
        return acc + inner[-1] ** 2

    ys, _ = scan(outer, sequences=xs[:N], outputs_info=T.constant(0.0), non_sequences=h2)
    unrolled = sum((h2[0] * xs[t] + h2[1] * xs[t]) ** 2 for t in range(N))
    cases["nested"] = (T.grad(ys[-1], [xs, h2]), T.grad(unrolled, [xs, h2]))
    return cases


@pytest.fixture(scope="module")
def cases():
    return _cases()


@pytest.fixture(scope="module")
def unrolled(cases):
    return _evaluate(cases, 1, "numpy")


@pytest.fixture(scope="module", params=BACKENDS)
def through_scan(request, cases):
    names = list(cases)
    # d(A ** k)/dA through a scan of symbolic length: k A ** (k - 1)
    powers, _ = scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A, n_steps=k)
    power_grad = T.grad(powers[-1].sum(), A)
    fn = sg.function(INPUTS, [g for name in names for g in cases[name][0]] + [power_grad], mode=request.param,
                     on_unused_input="ignore")
    return fn, names


def _evaluate(cases, which, mode):
    names = list(cases)
    fn = sg.function(INPUTS, [g for name in names for g in cases[name][which]], mode=mode, on_unused_input="ignore")
    return _split(fn(*[VALUES[v.name] for v in INPUTS]), names, cases)


def _split(values, names, cases):
    out, i = {}, 0
    for name in names:
        n = len(cases[name][1])
        out[name] = values[i:i + n]
        i += n
    return out


def _compare(got, want, name):
    for i, (g, expected) in enumerate(zip(got, want)):
        assert np.shape(g) == np.shape(expected), f"{name}: gradient {i}"
        np.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-12, err_msg=f"{name}: gradient {i}")


@pytest.mark.parametrize("name", ["output_taps", "truncated_tanh", "nested"])
def test_equals_unrolled(through_scan, unrolled, cases, name):
    fn, names = through_scan
    _compare(_split(fn(*[VALUES[v.name] for v in INPUTS]), names, cases)[name], unrolled[name], name)


@pytest.fixture(scope="module")
def numpy_grads():
    """(through scan, unrolled) for :func:`_numpy_cases`."""
    cases = _numpy_cases()
    return _evaluate(cases, 0, "numpy"), _evaluate(cases, 1, "numpy")


@pytest.mark.parametrize("name", ["rnn", "truncated", "truncated_past_start", "sequence_taps", "backwards_shared"])
def test_equals_unrolled_numpy(numpy_grads, name):
    got, want = numpy_grads
    _compare(got[name], want[name], name)


def test_truncated_stops(numpy_grads, through_scan, cases):
    got = numpy_grads[0]["truncated"]
    gx, h0 = got[0], got[4]
    assert np.all(gx[:N - K] == 0) and np.all(gx[N - K:] != 0)
    assert np.all(h0 == 0)  # truncated before the first step
    fn, names = through_scan
    gxs = _split(fn(*[VALUES[v.name] for v in INPUTS]), names, cases)["truncated_tanh"][0]
    assert np.all(gxs[:N - K] == 0) and np.all(gxs[N - K:N] != 0) and np.all(gxs[N:] == 0)


def test_symbolic_n_steps(through_scan):
    fn, _ = through_scan
    for steps in (1, 3, 5):
        got = fn(*[dict(VALUES, k=steps)[v.name] for v in INPUTS])[-1]
        np.testing.assert_allclose(got, steps * VALUES["A"] ** (steps - 1), rtol=1e-12)


def test_verify_grad_rnn(mode):
    def rnn(X3, W, U, H0):
        hs, _ = scan(_rnn_step, sequences=X3, outputs_info=H0, non_sequences=[W, U, VALUES["b"]])
        return hs

    verify_grad(rnn, [VALUES["X3"], VALUES["W"], VALUES["U"], VALUES["H0"]], mode=mode)


# --- numpy backend only (the graphs are the backend's business elsewhere) ---------------------
x, v = T.dvectors("x", "v")
XV = np.array([0.1, 0.5, -0.3])
SCANS = {  # name -> (f(inputs...), points) for verify_grad
    "fewer_steps_than_sequence": (
        lambda x: scan(lambda v, acc: acc * v + v, sequences=x, outputs_info=T.constant(1.0), n_steps=2)[0],
        [np.array([1.0, 2.0, 3.0, 4.0])]),
    "int_carry_beside": (
        lambda x, a: scan(lambda v, c, i, a: (c * v + a * i, i + 1), sequences=x, non_sequences=a,
                          outputs_info=[T.constant(1.0), T.constant(np.int64(0))])[0][0],
        [np.array([1.0, 2.0, 3.0]), np.array(0.5)]),
    "backwards_taps": (
        lambda x, a: scan(lambda u, v, acc, a: T.tanh(acc * a + u * v), sequences=dict(input=x, taps=[-1, 1]),
                          outputs_info=T.constant(0.1), non_sequences=a, go_backwards=True)[0],
        [np.array([1.0, 2.0, 3.0, 0.5, -1.0]), np.array(0.5)]),
    "matrix_taps": (
        lambda H: scan(lambda back2, back1: T.tanh(back2 + T.dot(back1, back1)),
                       outputs_info=dict(initial=H, taps=[-2, -1]), n_steps=3)[0],
        [RNG.normal(size=(3, 2, 2)) * 0.5]),
    "map": (lambda x, a: scan_map(lambda v, a: T.sin(v * a), x, non_sequences=a)[0],
            [np.array([1.0, 2.0, 3.0]), np.array(0.5)]),
    "foldr": (lambda x, a: foldr(lambda v, acc, a: T.tanh(acc * a) + v ** 2, x, T.constant(0.2), non_sequences=a)[0],
              [np.array([1.0, -2.0, 0.3]), np.array(0.8)]),
}


@pytest.mark.parametrize("name", list(SCANS))
def test_verify_grad(name):
    fn, points = SCANS[name]
    verify_grad(fn, points, mode="numpy")


def test_grad_through_step_update():
    """o[t] = x[t] c[t] with c[t] = 2 c[t-1] updated inside the step (a shared variable)."""
    c = sg.shared(0.5, name="c")
    ys, updates = scan(lambda v: (v * c, {c: c * 2}), sequences=x)
    fn = sg.function([x], T.grad(ys.sum(), c) + T.grad(updates[c] * ys.sum(), c), mode="numpy")
    np.testing.assert_allclose(fn(np.ones(3)), 7.0 + 2 * 8 * 7 * 0.5)


def _tanh_scan(x, a):
    ys, _ = scan(lambda u, acc, a: T.tanh(acc * a + u), sequences=x, outputs_info=T.constant(0.0), non_sequences=a)
    return ys


def _tanh_unrolled(x, a):
    acc, ys = T.constant(0.0), []
    for t in range(len(XV)):
        acc = T.tanh(acc * a + x[t])
        ys.append(acc)
    return T.stack(ys)


@pytest.mark.parametrize("op", ["Lop", "Rop"])
def test_lop_rop(op):
    build = getattr(T, op)
    fn = sg.function([x, a, v], [build(_tanh_scan(x, a), x, v), build(_tanh_unrolled(x, a), x, v)], mode="numpy")
    got, want = fn(XV, 0.7, np.array([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_second_derivative():
    fn = sg.function([x, a], [T.grad(T.grad(_tanh_scan(x, a).sum(), a), a),
                              T.grad(T.grad(_tanh_unrolled(x, a).sum(), a), a)], mode="numpy")
    got, want = fn(XV, 0.7)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_tutorial_taps_rnn():
    """The tutorial's RNN with taps (tests/scan_module/test_scan.py) against finite differences, wrt
    the sequence, the initial states and two of the weights."""
    u, x0, y0, W, W_in_1, W_in_2, W_feedback, W_out = tutorial_values(np.random.default_rng(2))

    def cost(u, x0, y0, W, W_out):
        x_vals, y_vals = tutorial_rnn(u, x0, y0, W, T.constant(W_in_1), T.constant(W_in_2), T.constant(W_feedback),
                                      W_out)
        return T.concatenate([x_vals.flatten(), y_vals.flatten()])

    verify_grad(cost, [u, x0, y0, W, W_out], mode="numpy")


def test_tutorial_jacobian_and_hessian():
    """Theano's tutorial ("Computing the Jacobian", "Computing the Hessian"): grad inside the step, of
    non_sequences that depend on each other outside the loop."""
    A = T.dmatrix("A")
    y = T.tanh(T.dot(x, A))
    J, updates = scan(lambda i, y, x: T.grad(y[i], x), sequences=T.arange(y.shape[0]), non_sequences=[y, x])
    cost = (y ** 2).sum()
    gy = T.grad(cost, x)
    H, _ = scan(lambda i, gy, x: T.grad(gy[i], x), sequences=T.arange(gy.shape[0]), non_sequences=[gy, x])
    fn = sg.function([x, A], [J, H], updates=updates, mode="numpy")
    Av = RNG.normal(size=(3, 3))
    J_value, H_value = fn(XV, Av)
    yv = np.tanh(XV @ Av)
    np.testing.assert_allclose(J_value, Av.T * (1 - yv ** 2)[:, None], rtol=1e-12)
    # cost = sum tanh(z) ** 2, z = x A: H = A diag(2 (1 - y^2)(1 - 3 y^2)) A.T
    np.testing.assert_allclose(H_value, Av @ np.diag(2 * (1 - yv ** 2) * (1 - 3 * yv ** 2)) @ Av.T, rtol=1e-10)


@pytest.mark.parametrize("what,mode", [("jacobian", "numpy"), ("jacobian", "numba"), ("hessian", "numpy")])
def test_jacobian_hessian(what, mode):
    # jacobian batches the reverse sweep: a batched scan (the batching rule in gradient/scan.py)
    if what == "jacobian":
        got, want = T.jacobian(_tanh_scan(x, a), x), T.jacobian(_tanh_unrolled(x, a), x)
    else:
        got, want = T.hessian(_tanh_scan(x, a).sum(), x), T.hessian(_tanh_unrolled(x, a).sum(), x)
    got, want = sg.function([x, a], [got, want], mode=mode)(XV, 0.7)
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("truncate", [-1, 2])
def test_sequence_gradient_without_zeros(truncate):
    # the gradient of a sequence every step reads is the backward scan's output itself; with
    # truncate_gradient the rows it does not reach get zeros around it
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    hs, _ = scan(lambda r, h: T.tanh(r * h + r), sequences=x, outputs_info=h0, n_steps=3,
                 truncate_gradient=truncate)
    g = sg.grad((hs ** 2).sum(), x)
    increments = [n for n in sg.graph.toposort([g]) if isinstance(n.op, IncSubtensor)]
    assert len(increments) == (1 if truncate < 0 else 2)  # (x[:3]'s own gradient is one)
    values = RNG.normal(size=(5, 2)), RNG.normal(size=2)
    got = sg.function([x, h0], g, mode="numpy")(*values)
    eps, want = 1e-6, np.zeros((5, 2))
    f = sg.function([x, h0], (hs ** 2).sum(), mode="numpy")
    for i in np.ndindex(5, 2):
        d = np.zeros((5, 2))
        d[i] = eps
        want[i] = (f(values[0] + d, values[1]) - f(values[0] - d, values[1])) / (2 * eps)
    if truncate > 0:  # (a truncated gradient is not the derivative: steps before the last 2 get none)
        want[:1] = 0
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    assert not got[3:].any()
