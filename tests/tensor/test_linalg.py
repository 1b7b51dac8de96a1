"""Matrix products (symgrad/tensor/linalg.py): T.dot and @ for every 1-D/2-D combination, outer;
values against numpy.dot, gradients, dtypes, and the errors for other ranks."""
import numpy as np
import pytest

import symgrad
import symgrad.tensor as T

from ._cases import Case, check_grad, check_value, grad_params, integers, params, uniform

SHAPES = {"v3": (3,), "v2": (2,), "m23": (2, 3), "m34": (3, 4), "m32": (3, 2)}


def _u(name, dtype="float64"):
    return uniform(-2, 2, SHAPES[name], dtype)


COMBOS = [("vv", "v3", "v3"), ("mv", "m23", "v3"), ("vm", "v3", "m34"), ("mm", "m23", "m34")]

LINALG = [
    Case(f"{how}_{kind}", build, np.dot, (_u(a), _u(b)))
    for kind, a, b in COMBOS
    for how, build in [("T.dot", T.dot), ("matmul", lambda x, y: x @ y), ("method_dot", lambda x, y: x.dot(y))]
] + [
    Case("rmatmul_constant", lambda x: np.ones((2, 2)) @ x, lambda x: np.ones((2, 2)) @ x, (_u("m23"),)),
    Case("matmul_constant", lambda x: x @ np.arange(3.0), lambda x: x @ np.arange(3.0), (_u("m23"),)),
    Case("dot_same_input", lambda x: T.dot(x, x.T), lambda x: np.dot(x, x.T), (_u("m23"),)),
    Case("dot_vector_self", lambda x: T.dot(x, x), lambda x: np.dot(x, x), (_u("v3"),)),
    Case("dot_scalar_left", T.dot, np.dot, (uniform(-2, 2, ()), _u("m23"))),
    Case("dot_scalar_right", T.dot, np.dot, (_u("v3"), uniform(-2, 2, ()))),
    Case("dot_chain", lambda a, b, c: T.dot(T.dot(a, b), c), lambda a, b, c: a @ b @ c,
         (_u("m23"), _u("m34"), uniform(-2, 2, (4,)))),
    Case("dot_float32", T.dot, np.dot, (_u("m23", "float32"), _u("m34", "float32"))),
    Case("dot_float32_float64", T.dot, np.dot, (_u("m23", "float32"), _u("v3"))),
    Case("dot_int32", T.dot, np.dot, (integers(-3, 4, (2, 3)), integers(-3, 4, (3, 4))), grad=False),
    Case("dot_int_float", T.dot, np.dot, (integers(-3, 4, (2, 3)), _u("v3"))),
    Case("dot_bool_int", T.dot, np.dot, (np.array([[True, False], [True, True]]), integers(-3, 4, (2,))), grad=False),
    Case("dot_tall", T.dot, np.dot, (_u("m32"), _u("v2"))),
    Case("outer", T.outer, np.outer, (_u("v3"), _u("v2"))),
    Case("outer_float32", T.outer, np.outer, (_u("v3", "float32"), _u("v2", "float32"))),
    Case("outer_int", T.outer, np.outer, (integers(-3, 4, (3,)), integers(-3, 4, (2,))), grad=False),
    Case("dot_then_tanh", lambda w, x: T.tanh(T.dot(x, w)).sum(), lambda w, x: np.tanh(np.dot(x, w)).sum(),
         (_u("v3"), _u("m23"))),
]


@pytest.mark.parametrize("case", params(LINALG))
def test_value(case, mode):
    check_value(case, mode)


@pytest.mark.parametrize("case", grad_params(LINALG))
def test_grad(case, mode):
    check_grad(case, mode)


def test_dot_broadcastable_patterns():
    assert T.dot(T.drow(), T.dmatrix()).broadcastable == (True, False)
    assert T.dot(T.dmatrix(), T.dcol()).broadcastable == (False, True)
    assert T.dot(T.dvector(), T.dmatrix()).broadcastable == (False,)
    assert T.dot(T.dmatrix(), T.dvector()).broadcastable == (False,)
    assert T.dot(T.dvector(), T.dvector()).broadcastable == ()


def test_dot_row_gradient(mode):
    r, m = T.drow("r"), T.dmatrix("m")
    g = symgrad.grad(T.dot(r, m).sum(), r)
    assert g.type == r.type
    mv = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(g.eval({r: np.ones((1, 3)), m: mv}, mode=mode), mv.sum(axis=1)[None, :])


@pytest.mark.parametrize("build", [
    pytest.param(lambda: T.dot(T.dvector(), T.dtensor3()), id="dot_vector_tensor3"),
    pytest.param(lambda: T.dmatrix() @ T.dtensor4(), id="matmul_tensor4"),
    pytest.param(lambda: T.outer(T.dmatrix(), T.dvector()), id="outer_matrix"),
    pytest.param(lambda: T.outer(T.dvector(), T.dscalar()), id="outer_scalar"),
])
def test_bad_rank_raises_type_error(build):
    with pytest.raises(TypeError):
        build()


@pytest.mark.parametrize("right", ["matrix", "vector"])
def test_dot_tensor3_left_is_numpy_dot(mode, right):
    # numpy.dot sums over a's last axis; for a 2-D or 1-D right operand that is also what ``@`` gives.
    x = T.dtensor3("x")
    w = T.dmatrix("w") if right == "matrix" else T.dvector("w")
    xv = np.arange(24.0).reshape(2, 3, 4) / 7
    wv = np.arange(8.0).reshape(4, 2) - 3 if right == "matrix" else np.arange(4.0) - 1.5
    for expr in (T.dot(x, w), x @ w):
        np.testing.assert_allclose(expr.eval({x: xv, w: wv}, mode=mode), np.dot(xv, wv), rtol=1e-14)
    g = symgrad.grad(T.dot(x, w).sum(), x)
    np.testing.assert_allclose(g.eval({x: xv, w: wv}, mode=mode),
                               np.broadcast_to(wv.sum(axis=-1) if right == "matrix" else wv, xv.shape), rtol=1e-14)


def test_inner_dimension_mismatch_at_run_time(mode):
    a, b = T.dmatrices("a", "b")
    with pytest.raises(ValueError, match="dot"):
        T.dot(a, b).eval({a: np.ones((2, 3)), b: np.ones((2, 3))}, mode=mode)
