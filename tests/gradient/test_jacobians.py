"""``Lop``, ``Rop``, ``jacobian``, ``hessian`` (symgrad/gradient/jacobians.py) and the batching behind the
last two (symgrad/gradient/batching.py: ``batch_graph``, one rule per op type in ``BATCH_RULES``).

Values are checked against explicit numpy Jacobians, finite differences and row-by-row ``grad``
on the numpy backend (no compile cost); one module-scoped function per backend checks that
both backends agree on all of it."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.gradient import BATCH_RULES, DisconnectedInputError, Lop, Rop, batch_graph, hessian, jacobian
from symgrad.graph import toposort
from symgrad.ifelse import IfElse, ifelse
from symgrad.tensor.shape import Shape_i
from tests.conftest import BACKENDS

RNG = np.random.default_rng(7)
WV = RNG.normal(size=(3, 4))
XV = RNG.normal(size=4)


def numpy_fn(inputs, outputs):
    return sg.function(inputs, outputs, mode="numpy", on_unused_input="ignore")


# --- batching: every rule against the same graph evaluated one seed row at a time ------------
X, Y, R, C = T.dmatrix("X"), T.dvector("Y"), T.drow("R"), T.lscalar("C")
IDX, IDX2 = T.lvector("idx"), T.lvector("idx2")
FORWARD = [X, Y, R, C, IDX, IDX2]
FORWARD_VALUES = [RNG.normal(size=(2, 3)), RNG.normal(size=3), RNG.normal(size=(1, 3)), np.int64(1),
                  np.array([1, 0, 1]), np.array([0, 1, 1])]
SEEDS = {"s": T.dscalar("vs"), "v": T.dvector("vv"), "m": T.dmatrix("vm"), "t": T.dtensor3("vt")}
SEED_SHAPES = {"s": (), "v": (3,), "m": (2, 3), "t": (2, 3, 2)}
BATCH = 4  # differs from every other size, so a misplaced batch dim shows

BATCHED = [  # (name, seed kind, f(seed)) -- every op type in BATCH_RULES appears
    ("elemwise_broadcast", "v", lambda v: v * X + 1),
    ("elemwise_scalar_seed", "s", lambda v: T.exp(v) * Y + X),
    ("reduce_sum_axis0", "m", lambda v: (v * X).sum(axis=0)),
    ("reduce_all_and_keepdims", "m", lambda v: v.sum() + v.max(axis=1, keepdims=True)),
    ("reduce_prod_min", "m", lambda v: v.prod(axis=1) + v.min(axis=0)[:2]),
    ("argmax", "m", lambda v: v.argmax(axis=1)),
    ("dimshuffle", "m", lambda v: v.T.dimshuffle(0, "x", 1) * X.T.dimshuffle("x", 0, 1)),
    ("reshape_constant", "m", lambda v: v.reshape((3, 2))),
    ("reshape_symbolic_vector", "m", lambda v: (v * 2).reshape(T.shape(X)[::-1], ndim=2)),
    ("flatten", "t", lambda v: v.flatten()),
    ("shape_of_batched", "v", lambda v: v * T.cast(v.shape[0], "float64") + T.cast(v.shape, "float64").sum()),
    ("makevector_mixed", "v", lambda v: T.stack([v[0], v[1] * 2, Y[0]])),
    ("join", "v", lambda v: T.concatenate([v, Y, v[:1]])),
    ("join_axis1", "m", lambda v: T.join(1, v, X)),
    ("subtensor", "m", lambda v: v[1] + v[:, 1:].sum() + v[0, ::-1]),
    ("advanced_first", "m", lambda v: v[IDX]),
    ("advanced_inner", "m", lambda v: v[:, IDX]),
    ("advanced_pair", "m", lambda v: v[IDX[:2], IDX2[:2]]),
    ("advanced_split", "t", lambda v: v[IDX[:2], :, IDX2[:2]]),
    ("advanced_int_split", "t", lambda v: v[1, :, IDX]),
    ("inc_into_forward", "v", lambda v: T.inc_subtensor(X[1], v)),
    ("set_into_seed", "m", lambda v: T.set_subtensor(v[:, 0], Y[:2])),
    ("inc_advanced_both", "m", lambda v: T.inc_subtensor(v[IDX], v[0] * 2)),
    ("inc_advanced_split_forward_y", "t", lambda v: T.inc_subtensor(v[IDX[:2], :, IDX2[:2]], X)),
    ("inc_advanced_split_seed_y", "t", lambda v: T.inc_subtensor(v[IDX[:2], :, IDX2[:2]], v[0, :, :2].T)),
    ("dot_vec_vec", "v", lambda v: T.dot(v, Y)),
    ("dot_mat_vec", "m", lambda v: T.dot(v, Y)),
    ("dot_mat_mat", "m", lambda v: T.dot(v, X.T)),
    ("dot_vec_mat", "v", lambda v: T.dot(v, X.T)),
    ("dot_forward_mat_seed_vec", "v", lambda v: T.dot(X, v)),
    ("dot_forward_vec_seed_vec", "v", lambda v: T.dot(Y, v)),
    ("dot_forward_vec_seed_mat", "m", lambda v: T.dot(Y[:2], v)),
    ("dot_forward_mat_seed_mat", "m", lambda v: T.dot(X.T, v)),
    ("dot_row_keeps_broadcastable", "m", lambda v: T.dot(R, v.T) + T.dot(v[:1], X.T)),
    ("softmax", "m", lambda v: T.nnet.softmax(v) + T.nnet.log_softmax(v * X)),
    ("ifelse", "m", lambda v: ifelse(C, v * 2, X) + ifelse(T.lt(C, 0), v, -v)),
    ("ifelse_list", "v", lambda v: T.concatenate(ifelse(C, [v, Y], [Y, v]))),
    ("specify_shape", "m", lambda v: T.specify_shape(v, (2, 3)) * X),
    ("alloc", "v", lambda v: T.alloc(v, 2, 3) * X + T.alloc(v[0], 3)),
    ("shape_i", "m", lambda v: v * Shape_i(1)(v) + Shape_i(0)(v)),
    # scan: the seed as a sequence (rows of the matrix), as the initial state and as an invariant
    ("scan_sequence", "m", lambda v: sg.scan(lambda x, h, y: T.tanh(x * y + h), sequences=v,
                                             outputs_info=T.zeros_like(Y), non_sequences=Y)[0]),
    ("scan_initial_invariant", "v", lambda v: sg.scan(lambda h, w: T.tanh(h * w + Y), outputs_info=v,
                                                      non_sequences=v, n_steps=3)[0][-1]),
    ("scan_unbatched_carry", "v", lambda v: sg.scan(lambda x, k, h: [k + 1.0, h + x * k], sequences=v,
                                                    outputs_info=[T.constant(0.0), T.constant(0.0)])[0][1]),
]


def test_every_batching_rule_is_exercised():
    used = set()
    for _, kind, build in BATCHED:
        used.update(type(n.op) for n in toposort([build(SEEDS[kind])]))
    assert set(BATCH_RULES) <= used | {type(None)}, set(BATCH_RULES) - used


@pytest.fixture(scope="module")
def batched_results():
    """All cases in one function per form: batched (one seed matrix per kind), and row by row."""
    batched_seeds = {k: T.TensorType("float64", (False,) * (v.ndim + 1))(f"V{k}") for k, v in SEEDS.items()}
    outs, rows = [], []
    for _, kind, build in BATCHED:
        out = build(SEEDS[kind])
        rows.append(out)
        (b,) = batch_graph([out], SEEDS[kind], batched_seeds[kind])
        outs.append(b)
    seed_values = {k: RNG.normal(size=(BATCH,) + s) for k, s in SEED_SHAPES.items()}
    kinds = list(SEEDS)
    got = numpy_fn([batched_seeds[k] for k in kinds] + FORWARD, outs)(
        *[seed_values[k] for k in kinds], *FORWARD_VALUES)
    one_row = numpy_fn([SEEDS[k] for k in kinds] + FORWARD, rows)
    expected = [one_row(*[seed_values[k][b] for k in kinds], *FORWARD_VALUES) for b in range(BATCH)]
    return got, expected, rows, outs


@pytest.mark.parametrize("k", range(len(BATCHED)), ids=[c[0] for c in BATCHED])
def test_batched_graph_equals_rows(batched_results, k):
    got, expected, rows, outs = batched_results
    want = np.stack([e[k] for e in expected])
    assert got[k].shape == want.shape and got[k].dtype == want.dtype
    assert outs[k].ndim == rows[k].ndim + 1 and outs[k].broadcastable[1:] == rows[k].broadcastable
    np.testing.assert_allclose(got[k], want, rtol=1e-13, atol=1e-14)


def test_batching_errors():
    v = T.dvector("v")
    with pytest.raises(NotImplementedError, match="not linear"):
        batch_graph([T.dot(v, v)], v, T.dmatrix("V"))
    with pytest.raises(NotImplementedError, match="condition"):
        batch_graph([ifelse(T.gt(v.sum(), 0), v, -v)], v, T.dmatrix("V"))


# --- Lop / Rop -----------------------------------------------------------------------------
def _jac_tanh(W, x):
    """d tanh(W x) / d (W, x) as explicit arrays: shapes (3, 3, 4) and (3, 4)."""
    s = 1 - np.tanh(W @ x) ** 2
    dW = np.zeros((3, 3, 4))
    for i in range(3):
        dW[i, i] = s[i] * x
    return dW, s[:, None] * W


def test_lop_and_rop_against_explicit_jacobian():
    W, x, u, dW, dx = T.dmatrix("W"), T.dvector("x"), T.dvector("u"), T.dmatrix("dW"), T.dvector("dx")
    y = T.tanh(T.dot(W, x))
    lop = Lop(y, [W, x], u)
    rop = Rop(y, [W, x], [dW, dx])
    assert isinstance(lop, list) and isinstance(Lop(y, (W, x), u), tuple) and not isinstance(rop, list)
    uv, dWv, dxv = RNG.normal(size=3), RNG.normal(size=(3, 4)), RNG.normal(size=4)
    gW, gx, jv = numpy_fn([W, x, u, dW, dx], lop + [rop])(WV, XV, uv, dWv, dxv)
    JW, Jx = _jac_tanh(WV, XV)
    np.testing.assert_allclose(gW, np.einsum("i,ijk->jk", uv, JW), rtol=1e-12)
    np.testing.assert_allclose(gx, uv @ Jx, rtol=1e-12)
    np.testing.assert_allclose(jv, np.einsum("ijk,jk->i", JW, dWv) + Jx @ dxv, rtol=1e-12)


def test_lists_of_f_and_disconnected_outputs():
    x, v, z = T.dvector("x"), T.dvector("v"), T.dvector("z")
    fs = [x ** 2, T.sin(x).sum(), z * 2]
    with pytest.raises(DisconnectedInputError, match="f\\[2\\]"):
        Rop(fs, x, v)
    zero = Rop(fs, x, v, disconnected_outputs="ignore")
    none = Rop(fs, x, v, disconnected_outputs="ignore", return_disconnected="None")
    assert isinstance(zero, list) and len(zero) == 3 and none[2] is None
    a, b, c = numpy_fn([x, v, z], zero)(np.array([1.0, 2.0]), np.array([3.0, -1.0]), np.ones(2))
    np.testing.assert_allclose(a, [6.0, -4.0])
    np.testing.assert_allclose(b, np.cos(1.0) * 3 - np.cos(2.0))
    np.testing.assert_allclose(c, [0.0, 0.0])
    # Lop of several f: the products are summed
    w = T.dscalar("w")
    total = Lop([x * w, (x * w).sum()], w, [v, T.constant(2.0)])
    assert float(numpy_fn([x, w, v], total)(np.array([1.0, 2.0]), 5.0, np.array([3.0, 4.0]))) == 11.0 + 6.0


def test_rop_of_gradient_is_hessian_vector_product():
    x, v = T.dvector("x"), T.dvector("v")
    cost = (T.exp(x) * x[::-1]).sum()
    hv = Rop(sg.grad(cost, x), x, v)
    vh = sg.grad((sg.grad(cost, x) * v).sum(), x)
    H = hessian(cost, x)
    xv, vv = np.array([0.3, -0.2, 0.5]), np.array([1.0, 2.0, -1.0])
    a, b, h = numpy_fn([x, v], [hv, vh, H])(xv, vv)
    np.testing.assert_allclose(a, h @ vv, rtol=1e-12)
    np.testing.assert_allclose(b, vv @ h, rtol=1e-12)


def test_rop_through_ifelse_and_lop_consider_constant():
    x, v, c = T.dvector("x"), T.dvector("v"), T.lscalar("c")
    y = ifelse(c, T.exp(x) * x, x[::-1] ** 3)
    h = x ** 2
    f = numpy_fn([x, v, c], [Rop(y, x, v), jacobian(y, x), Lop(h * x, x, v, consider_constant=[h])])
    xv, vv = np.array([0.5, -1.0, 2.0]), np.array([1.0, 3.0, -2.0])
    for cv in (0, 1):
        jv, J, lop = f(xv, vv, cv)
        np.testing.assert_allclose(jv, J @ vv, rtol=1e-12)
        np.testing.assert_allclose(lop, vv * xv ** 2, rtol=1e-14)
    np.testing.assert_allclose(f(xv, vv, 1)[1], np.diag(np.exp(xv) * (1 + xv)), rtol=1e-12)


@pytest.mark.parametrize("call, error, text", [
    (lambda x, W: Lop(x * 2, x, [x, x]), ValueError, "1 expression"),
    (lambda x, W: Lop(x * 2, x, W), ValueError, "rank of f"),
    (lambda x, W: Lop(T.cast(x, "int64"), x, x), TypeError, "float"),
    (lambda x, W: Lop(W.sum(), x, T.dscalar("s")), DisconnectedInputError, "does not depend on 'x'"),
    (lambda x, W: Rop(x * 2, x, W), ValueError, "different ranks"),
    (lambda x, W: Rop(x * 2, [x, W], [x]), ValueError, "2 variable"),
    (lambda x, W: Rop(x * 2, x, x, return_disconnected="maybe"), ValueError, "return_disconnected"),
    (lambda x, W: jacobian(W * 2, x), TypeError, "must be a vector"),
    (lambda x, W: jacobian(T.cast(x, "int64"), x), TypeError, "float vector"),
    (lambda x, W: jacobian(W.sum(axis=0), x), DisconnectedInputError, "does not depend on 'x'"),
    (lambda x, W: hessian(x * 2, x), TypeError, "scalar"),
    (lambda x, W: hessian(W.sum(), W), TypeError, "must be a vector"),
])
def test_bad_calls(call, error, text):
    with pytest.raises(error, match=text):
        call(T.dvector("x"), T.dmatrix("W"))


# --- jacobian / hessian -----------------------------------------------------------------------
def _composite(x, W):
    """Many op types between x and the output vector: dot, softmax, max, join, indexing, ifelse."""
    h = T.tanh(T.dot(W, x))
    p = T.nnet.softmax(h) * x[:3].max()
    q = T.concatenate([p, (x ** 2)[[3, 0]], T.stack([x.prod(), h[0]])])
    return ifelse(T.gt(x.sum(), -100), q * 2, q) + T.specify_shape(q, (7,))


def test_jacobian_equals_row_by_row_gradients():
    x, W = T.dvector("x"), T.dmatrix("W")
    y = _composite(x, W)
    jx, jW = jacobian(y, [x, W])
    rows = [sg.grad(y[i], [x, W]) for i in range(7)]
    got = numpy_fn([x, W], [jx, jW] + [g for r in rows for g in r])(XV, WV)
    assert got[0].shape == (7, 4) and got[1].shape == (7, 3, 4)
    np.testing.assert_allclose(got[0], np.stack(got[2::2]), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got[1], np.stack(got[3::2]), rtol=1e-12, atol=1e-14)


def test_jacobian_scalar_expression_is_grad_and_graph_size_is_constant():
    x = T.dvector("x")
    g = jacobian((x ** 3).sum(), x)
    assert g.type is T.dvector
    assert len(toposort([jacobian(T.tanh(x) * x[::-1], x)])) < 40  # no per-element rows
    assert not any(isinstance(n.op, IfElse) for n in toposort([g]))


def test_hessian_against_finite_differences():
    x = T.dvector("x")
    cost = T.log(T.exp(x).sum()) * x[0] + (x ** 3).sum()
    h, g = numpy_fn([x], [hessian(cost, x), sg.grad(cost, x)])(XV)
    grad_only = numpy_fn([x], sg.grad(cost, x))
    eps = 1e-6
    numeric = np.stack([(grad_only(XV + eps * e) - grad_only(XV - eps * e)) / (2 * eps) for e in np.eye(4)])
    np.testing.assert_allclose(h, numeric, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h, h.T, rtol=1e-12)
    # a linear cost: zeros, and lists give lists
    w = T.dvector("w")
    hx, hw = hessian((x * 3).sum() + (w ** 2).sum(), [x, w])
    a, b = numpy_fn([x, w], [hx, hw])(XV, np.ones(2))
    np.testing.assert_array_equal(a, np.zeros((4, 4)))
    np.testing.assert_array_equal(b, 2 * np.eye(2))


# --- both backends: one function (numba compiles are the cost: Lop, Rop and hessian run on
# numba in tests/test_theano_tutorial_derivatives.py, batched ifelse and indexing on numpy above)
@pytest.fixture(scope="module", params=BACKENDS)
def jacobians(request):
    x, W, big = T.dvector("x"), T.dmatrix("W"), T.dvector("big")
    y = T.tanh(T.dot(W, x)) * x[:3].sum()
    outs = jacobian(y, [x, W]) + [jacobian(T.sin(big) * big.sum(), big)]  # 100 elements: no unrolling
    return sg.function([x, W, big], outs, mode=request.param)


def test_jacobians_on_both_backends(jacobians):
    big = np.linspace(-1, 1, 100)
    jx, jW, jbig = jacobians(XV, WV, big)
    s = 1 - np.tanh(WV @ XV) ** 2
    total = XV[:3].sum()
    want_x = (s[:, None] * WV) * total + np.tanh(WV @ XV)[:, None] * (np.arange(4) < 3)
    want_W = np.zeros((3, 3, 4))
    for i in range(3):
        want_W[i, i] = s[i] * XV * total
    np.testing.assert_allclose(jx, want_x, rtol=1e-12)
    np.testing.assert_allclose(jW, want_W, rtol=1e-12)
    np.testing.assert_allclose(jbig, np.diag(np.cos(big) * big.sum()) + np.sin(big)[:, None], rtol=1e-12, atol=1e-15)
