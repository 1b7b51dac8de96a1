"""Graph rewrites: merge, constant folding, elementwise fusion, stabilization."""
import numpy as np
import pytest
import sympy

import symgrad as sg
import symgrad.tensor as T
from symgrad import scalar as S
from symgrad.backend.numpy import BACKEND as numpy_backend
from symgrad.graph import Constant, graph_inputs, toposort
from symgrad.rewrite import optimize
from symgrad.rewrite.constant_folding import MAX_FOLDED_SIZE, fold_constants
from symgrad.rewrite.fusion import fuse
from symgrad.rewrite.merge import merge
from symgrad.rewrite.stabilize import stabilize, stabilize_graph
from symgrad.tensor.elemwise import Elemwise
from symgrad.tensor.linalg import Dot


def _op_names(outputs):
    return [type(n.op).__name__ for n in toposort(outputs)]


def _unoptimized(inputs, outputs, values):
    """Run the graph node by node exactly as written (no merge, folding, fusion or stabilization)."""
    return numpy_backend.compile(inputs, outputs).call([np.asarray(v, dtype=i.dtype) for i, v in zip(inputs, values)])


# --- merge -----------------------------------------------------------------------------------
def test_merge_identical_subgraphs():
    x = T.dvector("x")
    a, b = merge([T.exp(x) + 1, T.exp(x) + 1])
    assert a is b
    assert len(toposort([a, b])) == 2


def test_merge_inside_one_expression():
    x, y = T.dvectors("x", "y")
    out = T.sin(x * y) + T.sin(x * y)
    (m,) = merge([out])
    assert len(toposort([m])) == 3
    assert m.owner.inputs[0] is m.owner.inputs[1]


def test_merge_equal_constants():
    x = T.dvector("x")
    a, b = merge([x + T.constant([1.0, 2.0]), x + T.constant([1.0, 2.0])])
    assert a is b
    c, d = merge([x + T.constant([1.0, 2.0]), x + T.constant([1.0, 3.0])])
    assert c is not d


def test_merge_keeps_different_ops_apart():
    x = T.dvector("x")
    a, b = merge([T.exp(x), T.log(x)])
    assert a is not b
    a, b = merge([x.sum(axis=0), x.max(axis=0)])
    assert a is not b


def test_merge_does_not_touch_original_graph():
    x = T.dvector("x")
    e1, e2 = T.exp(x), T.exp(x)
    out = e1 + e2
    merge([out])
    assert out.owner.inputs == (e1, e2)


def test_compiled_function_computes_duplicates_once(mode):
    x = T.dvector("x")
    f = sg.function([x], [T.dot(x, x) * 2, T.dot(x, x) + 1], mode=mode)
    assert _op_names(f.optimized_outputs).count("Dot") == 1
    a, b = f([1.0, 2.0])
    assert a == 10.0 and b == 6.0


# --- constant folding ------------------------------------------------------------------------
def test_fold_all_constant_expression():
    (c,) = fold_constants([T.exp(T.constant(0.0)) * 3 + T.constant(1.0)])
    assert isinstance(c, Constant)
    assert c.data == 4.0 and c.type is T.dscalar


def test_fold_scalar_constants_into_elemwise():
    x = T.dscalar("x")
    (out,) = fold_constants([T.constant(2.0) * T.constant(3.0) + x])
    assert out.owner.op.expr == S.arg(0) + sympy.Float(6.0)
    assert graph_inputs([out]) == [x]


def test_fold_keeps_dtype():
    (c,) = fold_constants([T.constant(np.float32(2.0)) * T.constant(np.float32(3.0))])
    assert isinstance(c, Constant) and c.dtype == "float32"
    (i,) = fold_constants([T.constant(7) // T.constant(2)])
    assert i.dtype == "int64" and i.data == 3


def test_fold_vector_constants_and_structural_ops():
    v = T.constant([1.0, 2.0, 3.0])
    (c,) = fold_constants([T.dot(v, v) + v.sum()])
    assert isinstance(c, Constant) and c.data == 20.0


def test_large_constants_are_not_folded():
    big = T.constant(np.ones(MAX_FOLDED_SIZE + 1))
    (out,) = fold_constants([big * 2])
    assert not isinstance(out, Constant)


def test_compiled_constant_output(mode):
    f = sg.function([], T.exp(T.constant(0.0)) + 1, mode=mode)
    assert isinstance(f.optimized_outputs[0], Constant)
    out = f()
    assert out == 2.0
    out[...] = 5.0  # the folded constant is read-only; the caller gets its own copy
    assert f() == 2.0


def test_folding_error_surfaces_at_call_time(mode):
    x = T.dvector("x")
    f = sg.function([x], T.constant([1.0, 2.0])[5] + x.sum(), mode=mode)  # compiling must not raise
    with pytest.raises(IndexError):
        f([1.0])


def test_folding_does_not_warn_on_inf(mode):
    f = sg.function([], T.log(T.constant(0.0)), mode=mode)
    assert f() == -np.inf


# --- fusion ----------------------------------------------------------------------------------
def _logistic():
    X = T.dmatrix("X")
    w = T.dvector("w")
    b = T.dscalar("b")
    return [X, w, b], 1 / (1 + T.exp(-T.dot(X, w) - b))


def test_fusion_counts_operations_exactly_where_the_small_limit_is_decided():
    from symgrad.rewrite.fusion import MAX_FUSED_OPS, SMALL_EXPR_OPS, _ops

    x, y = S.arg(0), S.arg(1)
    for small in (x - y, 1 / (1 + sympy.exp(-x)), sympy.tanh(1.01 * x + 0.1) * (y - 2) / x, x * y / 3):
        assert _ops(small) == sympy.count_ops(small)
    deep = x
    for k in range(15):
        deep = sympy.tanh(1.01 * deep + 0.1)
    assert SMALL_EXPR_OPS < _ops(deep) <= sympy.count_ops(deep)  # (each level: an Add, a Mul and a tanh)
    huge = sympy.Add(*[sympy.tanh(S.arg(k)) * S.arg(k + 1) for k in range(300)])  # 601 operation nodes
    assert MAX_FUSED_OPS < _ops(huge) <= MAX_FUSED_OPS + 1  # (counted only just past the limit)


def test_fusion_depth_does_not_depend_on_what_was_asked_before():
    from symgrad.rewrite import fusion

    x = S.arg(0)
    chain = [x]
    for k in range(40):
        chain.append(sympy.tanh(1.01 * chain[-1] + 0.1))
    expr = chain[-1] * (1 - chain[20] ** 2)
    fusion._depth.clear()
    fresh = fusion._depth(expr)
    fusion._depth.clear()
    for e in chain:  # (the walk then stops at every known level)
        fusion._depth(e)
    assert fusion._depth(expr) == fresh == 3 * 40 + 1
    assert fusion._depth(x) == 0 and fusion._depth(sympy.Integer(2)) == 0


def test_fusion_makes_one_elemwise_node():
    inputs, out = _logistic()
    assert _op_names([out]).count("Elemwise") >= 4
    (fused,) = fuse([out])
    names = _op_names([fused])
    assert names.count("Elemwise") == 1
    assert names.count("Dot") == 1
    assert isinstance(fused.owner.op, Elemwise)
    assert isinstance(fused.owner.inputs[0].owner.op, Dot) or isinstance(fused.owner.inputs[1].owner.op, Dot)


def test_fused_and_unfused_results_equal(mode, rng):
    inputs, out = _logistic()
    f = sg.function(inputs, out, mode=mode)
    assert _op_names(f.optimized_outputs).count("Elemwise") == 1
    values = [rng.standard_normal((5, 3)), rng.standard_normal(3), 0.3]
    (expected,) = _unoptimized(inputs, [out], values)
    np.testing.assert_allclose(f(*values), expected, rtol=1e-14, atol=0)


def test_fusion_with_integer_intermediate(mode):
    i = T.lvector("i")
    x = T.dvector("x")
    out = (i // 2) / 3 + T.exp(x) * (i % 3)
    f = sg.function([i, x], out, mode=mode)
    assert _op_names(f.optimized_outputs) == ["Elemwise"]
    values = [np.array([-3, 1, 4, 7]), np.array([0.5, -1.0, 2.0, 0.0])]
    (expected,) = _unoptimized([i, x], [out], values)
    np.testing.assert_array_equal(f(*values), expected)


def test_fusion_with_float32_intermediate(mode):
    a = T.fvector("a")
    d = T.dvector("d")
    out = (a * np.float32(0.1)) * d  # the float32 product is rounded before meeting the float64
    f = sg.function([a, d], out, mode=mode)
    values = [np.array([1.0, 3.0, 7.0], dtype="float32"), np.array([1.0, 1.0, 1.0])]
    (expected,) = _unoptimized([a, d], [out], values)
    np.testing.assert_array_equal(f(*values), expected)


def test_fusion_keeps_shared_intermediate_values_consistent(mode, rng):
    x = T.dvector("x")
    h = T.tanh(x) * 3  # used by two outputs
    outs = [h + 1, h * h, T.exp(h).sum()]
    f = sg.function([x], outs, mode=mode)
    v = rng.standard_normal(4)
    expected = _unoptimized([x], outs, [v])
    for got, want in zip(f(v), expected):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_fusion_stops_at_non_elemwise():
    x = T.dvector("x")
    out = T.exp(T.exp(x).sum() + 1) * 2
    (fused,) = fuse([out])
    assert _op_names([fused]) == ["Elemwise", "Reduce", "Elemwise"]


def test_fusion_of_deep_chain_is_bounded(mode):
    depth = 3000 if mode == "numpy" else 200  # numba's compile time grows with the number of loops
    x = T.dvector("x")
    y = x
    for _ in range(depth):
        y = T.tanh(y) * 0.9 + 0.1
    f = sg.function([x], y, mode=mode)
    names = _op_names(f.optimized_outputs)
    assert set(names) == {"Elemwise"}
    assert 1 < len(names) < depth
    v = np.array([0.2, -3.0])
    expected = v.copy()
    for _ in range(depth):
        expected = np.tanh(expected) * 0.9 + 0.1
    np.testing.assert_allclose(f(v), expected, rtol=1e-12)


def test_fusion_with_broadcasting(mode, rng):
    r = T.drow("r")
    c = T.dcol("c")
    m = T.dmatrix("m")
    out = T.exp(r + c) * m - r
    f = sg.function([r, c, m], out, mode=mode)
    values = [rng.standard_normal((1, 3)), rng.standard_normal((2, 1)), rng.standard_normal((2, 3))]
    (expected,) = _unoptimized([r, c, m], [out], values)
    assert f(*values).shape == (2, 3)
    np.testing.assert_allclose(f(*values), expected, rtol=1e-14)


def test_fused_elemwise_keeps_shape_of_unused_input(mode):
    # T.fill / zeros_like style: an input the expression does not mention still gives the shape
    x = T.dvector("x")
    out = T.zeros_like(x) + 1
    f = sg.function([x], out, mode=mode)
    np.testing.assert_array_equal(f([5.0, 6.0, 7.0]), [1.0, 1.0, 1.0])


def test_the_shape_of_a_softmax_does_not_compute_it(mode):
    # Theano's categorical cross-entropy indexes log(p)[arange(p.shape[0]), y]: p itself is unused
    from symgrad.tensor.nnet import Softmax

    z, y = T.dmatrix("z"), T.lvector("y")
    p = T.nnet.softmax(z)
    cost = T.nnet.categorical_crossentropy(p, y).mean()
    f = sg.function([z, y], [cost, p.shape], mode=mode)
    kinds = [n.op.log for n in toposort(f.optimized_outputs) if isinstance(n.op, Softmax)]
    assert kinds == [True]  # the log-softmax only
    zv, yv = np.random.default_rng(4).standard_normal((5, 3)), np.array([0, 2, 1, 1, 0])
    got, shape = f(zv, yv)
    ref = zv - zv.max(1, keepdims=True)
    ref = ref - np.log(np.exp(ref).sum(1, keepdims=True))
    np.testing.assert_allclose(got, -ref[np.arange(5), yv].mean(), rtol=1e-14)
    assert tuple(shape) == (5, 3)


# --- stabilization ---------------------------------------------------------------------------
Z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])


def _softplus(a):
    return np.logaddexp(0.0, a)


def _sigmoid(a):
    return np.exp(-_softplus(-a))


def _p(z):
    return 1 / (1 + T.exp(-z))


def _xent(z, y):
    p = _p(z)
    return -y * T.log(p) - (1 - y) * T.log(1 - p)


STABLE_CASES = {
    "log(sigmoid(z))": (lambda z: T.log(T.sigmoid(z)), lambda z: -_softplus(-z)),
    "log(1/(1+exp(-z)))": (lambda z: T.log(_p(z)), lambda z: -_softplus(-z)),
    "log(1-sigmoid(z))": (lambda z: T.log(1 - T.sigmoid(z)), lambda z: -_softplus(z)),
    "log(1-1/(1+exp(-z)))": (lambda z: T.log(1 - _p(z)), lambda z: -_softplus(z)),
    "log(1+exp(z))": (lambda z: T.log(1 + T.exp(z)), _softplus),
    "1/(1+exp(-z))": (_p, _sigmoid),
    "grad log(sigmoid(z))": (lambda z: sg.grad(T.log(_p(z)).sum(), z), lambda z: _sigmoid(-z)),
    "grad log(1-sigmoid(z))": (lambda z: sg.grad(T.log(1 - _p(z)).sum(), z), lambda z: -_sigmoid(z)),
    "grad log(1+exp(z))": (lambda z: sg.grad(T.log(1 + T.exp(z)).sum(), z), _sigmoid),
}


@pytest.mark.parametrize("name", list(STABLE_CASES))
def test_stabilized_pattern(mode, name):
    build, exact = STABLE_CASES[name]
    z = T.dvector("z")
    out = sg.function([z], build(z), mode=mode)(Z)
    assert np.all(np.isfinite(out)), f"{name} at {Z}: {out}"
    np.testing.assert_allclose(out, exact(Z), rtol=1e-12, atol=1e-300)


def test_log_sigmoid_of_minus_1000_is_minus_1000(mode):
    z = T.dscalar("z")
    assert sg.function([z], T.log(_p(z)), mode=mode)(-1000.0) == -1000.0


@pytest.mark.parametrize("y_value", [0.0, 1.0, 0.3])
def test_sigmoid_cross_entropy_and_gradient(mode, y_value):
    z = T.dvector("z")
    y = T.dvector("y")
    xent = _xent(z, y)
    gz = sg.grad(xent.sum(), z)
    Y = np.full_like(Z, y_value)
    cost, grad = sg.function([z, y], [xent, gz], mode=mode)(Z, Y)
    assert np.all(np.isfinite(cost)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(cost, Y * _softplus(-Z) + (1 - Y) * _softplus(Z), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(grad, _sigmoid(Z) - Y, rtol=1e-12, atol=1e-15)


def test_cross_entropy_mean_in_training_graph(mode):
    # the logistic-regression cost with a dot product feeding the sigmoid
    X = T.dmatrix("X")
    y = T.dvector("y")
    w = sg.shared(np.array([1.0, -1.0]), name="w")
    z = T.dot(X, w)
    cost = _xent(z, y).mean()
    gw = sg.grad(cost, w)
    Xv = np.array([[600.0, -400.0], [-500.0, 500.0], [0.0, 0.0]])
    Yv = np.array([0.0, 1.0, 1.0])
    c, g = sg.function([X, y], [cost, gw], mode=mode)(Xv, Yv)
    zv = Xv @ np.array([1.0, -1.0])
    np.testing.assert_allclose(c, np.mean(Yv * _softplus(-zv) + (1 - Yv) * _softplus(zv)), rtol=1e-12)
    np.testing.assert_allclose(g, Xv.T @ (_sigmoid(zv) - Yv) / 3, rtol=1e-12)


def test_naive_graph_overflows_without_stabilization():
    # sanity check that the cases above need the rewrite: run unoptimized
    z = T.dvector("z")
    with np.errstate(all="ignore"):
        (naive,) = _unoptimized([z], [T.log(_p(z))], [Z])
        (naive_1m,) = _unoptimized([z], [T.log(1 - _p(z))], [Z])
    assert not np.all(np.isfinite(naive))
    assert not np.all(np.isfinite(naive_1m))


def test_stabilize_leaves_expressions_without_exp_unchanged():
    x0, x1 = S.arg(0), S.arg(1)
    for expr in [x0 ** 2 + sympy.log(x0), sympy.sin(x0) / x1, sympy.log(1 + x0), x0 * x1 - 3]:
        assert stabilize(expr) is expr


def test_stabilize_graph_leaves_exp_free_graph_unchanged():
    x = T.dvector("x")
    out = T.log(1 + x * x) / (x + 2)
    (fused,) = fuse([out])
    assert stabilize_graph([fused]) == [fused]


def test_stabilize_sympy_cross_entropy():
    z, y = S.arg(0), S.arg(1)
    p = 1 / (1 + sympy.exp(-z))
    expr = -y * sympy.log(p) - (1 - y) * sympy.log(1 - p)
    result = stabilize(expr)
    assert not result.has(sympy.exp)
    for zv in (-2, 0.5, 3):
        for yv in (0, 0.25, 1):
            point = {z: zv, y: yv}
            exact = complex(expr.subs(point).evalf(30))
            stable = complex(result.subs(point).rewrite(sympy.exp).evalf(30))
            assert abs(stable - exact) < 1e-12


def test_stabilize_leaves_safe_exp_alone():
    x0 = S.arg(0)
    expr = sympy.exp(x0) * 2 + 1
    assert stabilize(expr) == expr


def test_optimize_preserves_values(mode, rng):
    x = T.dvector("x")
    y = T.dvector("y")
    outs = [
        T.log(1 + T.exp(x)) * y,
        T.sqrt(x * x + 1) - T.tanh(y) / (1 + y * y),
        (T.exp(x) / (1 + T.exp(x))).sum(),
        T.maximum(x, y) * T.switch(x > 0, x, -x),
    ]
    xv, yv = rng.standard_normal(5), rng.standard_normal(5)
    expected = _unoptimized([x, y], outs, [xv, yv])
    opt = optimize(outs)
    assert len(toposort(opt)) < len(toposort(outs))
    got = sg.function([x, y], outs, mode=mode)(xv, yv)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-15)
