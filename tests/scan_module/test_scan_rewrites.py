"""The scan rewrites (symgrad/rewrite/scan.py) did what they say, read off the compiled function's
optimized graph (numpy backend: the rewrites are shared, and compiling there costs nothing), with
the values checked too."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.graph import toposort
from symgrad.scan_module import scan
from symgrad.tensor.elemwise import Elemwise
from symgrad.tensor.linalg import Dot
from symgrad.tensor.scan import Scan

x, h0 = T.dvectors("x", "h0")
W, U, X3, H0 = T.dmatrix("W"), T.dmatrix("U"), T.dtensor3("X3"), T.dmatrix("H0")
k = T.lscalar("k")


def _scans(fn):
    return [n for n in toposort(fn.optimized_outputs) if isinstance(n.op, Scan)]


def test_last_step_keeps_no_history():
    hs, _ = scan(lambda h, W: T.tanh(T.dot(W, h)), outputs_info=h0, non_sequences=W, n_steps=k)
    fn = sg.function([h0, W, k], hs[-1], mode="numpy")
    (node,) = _scans(fn)
    assert node.op.history == (False,)
    Wv, h = np.array([[0.5, -1.0], [0.25, 2.0]]), np.array([1.0, -0.5])
    want = h
    for _ in range(3):
        want = np.tanh(Wv @ want)
    np.testing.assert_allclose(fn(h, Wv, 3), want, rtol=1e-15)
    with pytest.raises(ValueError, match="index -1 is out of bounds: the scan ran 0 steps"):
        fn(h, Wv, 0)


def test_unread_outputs_dropped():
    (total, squares), _ = scan(lambda v, acc: (acc + v, v ** 2), sequences=x, outputs_info=[T.constant(0.0), None])
    fn = sg.function([x], total, mode="numpy")
    (node,) = _scans(fn)
    assert node.op.n_ys == 0 and node.op.history == (True,)
    np.testing.assert_allclose(fn([1.0, 2.0, 3.0]), [1.0, 3.0, 6.0])


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_repeated_and_passthrough_outputs_share_storage(mode):
    """A per-step output equal to another, or a sequence's own slice, has no history of its own."""
    (total, twice, again, same_x), _ = scan(lambda v, acc: (acc + v, v * 2, v * 2, v), sequences=x,
                                            outputs_info=[T.constant(0.0), None, None, None])
    fn = sg.function([x], [total, twice, again, same_x], mode=mode)
    (node,) = _scans(fn)
    assert node.op.n_ys == 1
    xv = np.array([1.0, 2.0, 3.0, 4.0])
    got = fn(xv)
    for g, want in zip(got, [np.cumsum(xv), 2 * xv, 2 * xv, xv]):
        np.testing.assert_array_equal(g, want)
    (t3, x3), _ = scan(lambda v, acc: (acc + v, v), sequences=x, outputs_info=[T.constant(0.0), None], n_steps=k)
    np.testing.assert_array_equal(sg.function([x, k], x3, mode=mode)(xv, 3), xv[:3])  # cut to n_steps


def test_dead_carry_dropped():
    (total, count), _ = scan(lambda v, acc, n: (acc + v, n + 1), sequences=x,
                             outputs_info=[T.constant(0.0), T.constant(0.0)])
    fn = sg.function([x], total[-1], mode="numpy")
    (node,) = _scans(fn)
    assert node.op.n_carry == 1
    assert float(fn([1.0, 2.0, 3.0])) == 6.0


def test_invariants_hoisted():
    hs, _ = scan(lambda h, W: T.tanh(T.dot(W.T * 2, h)), outputs_info=h0, non_sequences=W, n_steps=3)
    fn = sg.function([h0, W], hs, mode="numpy")
    (node,) = _scans(fn)
    step = [type(n.op).__name__ for n in node.op.inner.nodes()]
    assert step.count("Dot") == 1 and "DimShuffle" not in step  # W.T * 2 is computed once, outside
    Wv, h = np.array([[0.5, -1.0], [0.25, 2.0]]), np.array([1.0, -0.5])
    want = []
    for _ in range(3):
        h = np.tanh((Wv.T * 2) @ h)
        want.append(h)
    np.testing.assert_allclose(fn(np.array([1.0, -0.5]), Wv), want, rtol=1e-15)


def test_step_graph_fused():
    hs, _ = scan(lambda h: T.tanh(T.exp(h) * 2 + 1) - h, outputs_info=h0, n_steps=2)
    fn = sg.function([h0], hs, mode="numpy")
    (node,) = _scans(fn)
    assert [type(n.op) for n in node.op.inner.nodes()] == [Elemwise]


def test_forward_and_gradient_share_one_forward_scan():
    hs, _ = scan(lambda xt, h, W, U: T.tanh(T.dot(xt, W) + T.dot(h, U)), sequences=X3, outputs_info=H0,
                 non_sequences=[W, U])
    cost = (hs ** 2).sum()
    fn = sg.function([X3, H0, W, U], [cost] + T.grad(cost, [W, U]), mode="numpy")
    scans = _scans(fn)
    assert len(scans) == 2  # the forward (its history shared by the cost and the gradient) and the backward
    backward = scans[-1]
    # W's and U's gradients accumulate dot products: per-step factors and one product after the
    # loop each, so the backward scan carries only the adjoint of h
    assert backward.op.n_carry == 1
    assert sum(isinstance(n.op, Dot) for n in toposort(fn.optimized_outputs)) == 2
    rng = np.random.default_rng(3)
    values = [rng.normal(size=(3, 2, 2)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), rng.normal(size=(2, 2))]
    for got, want in zip(fn(*values)[1:], _bptt(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def _bptt(xs, h0, Wv, Uv):
    """d/dW, d/dU of sum(h_t ** 2) for h_t = tanh(x_t W + h_{t-1} U), by hand."""
    hs = [h0]
    for xt in xs:
        hs.append(np.tanh(xt @ Wv + hs[-1] @ Uv))
    gW, gU, carry = np.zeros_like(Wv), np.zeros_like(Uv), np.zeros_like(h0)
    for t in range(len(xs), 0, -1):
        dz = (2 * hs[t] + carry) * (1 - hs[t] ** 2)
        gW += xs[t - 1].T @ dz
        gU += hs[t - 1].T @ dz
        carry = dz @ Uv.T
    return gW, gU
