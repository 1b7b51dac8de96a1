"""Shape ops (symgrad/tensor/shape.py): transpose, dimshuffle, reshape, flatten, shape, arange,
concatenate/join/stack; values against numpy and gradients."""
import numpy as np
import pytest

import symgrad
import symgrad.tensor as T

from symgrad.graph import toposort
from symgrad.rewrite import optimize
from symgrad.tensor.shape import Shape_i

from ._cases import Case, check_grad, check_value, grad_params, integers, params, uniform

M = uniform(-2, 2, (2, 3))
V = uniform(-2, 2, (3,))
T3 = uniform(-2, 2, (2, 3, 4))
ROW = (True, False)
COL = (False, True)


def _n(value, dtype="int64"):
    return np.asarray(value, dtype=dtype)


SHAPE = [
    # transpose / dimshuffle ---------------------------------------------------------------------
    Case(".T", lambda x: x.T, lambda x: x.T, (M,)),
    Case(".T_vector", lambda x: x.T, lambda x: x.T, (V,)),
    Case(".T_3d", lambda x: x.T, lambda x: x.T, (T3,)),
    Case("T.transpose", T.transpose, np.transpose, (M,)),
    Case("transpose_axes", lambda x: T.transpose(x, (1, 0, 2)), lambda x: np.transpose(x, (1, 0, 2)), (T3,)),
    Case("transpose_negative_axes", lambda x: T.transpose(x, (-1, 0, 1)), lambda x: np.transpose(x, (-1, 0, 1)), (T3,)),
    Case("method_transpose", lambda x: x.transpose(), lambda x: x.transpose(), (M,)),
    Case("method_transpose_args", lambda x: x.transpose(2, 0, 1), lambda x: x.transpose(2, 0, 1), (T3,)),
    Case("method_transpose_tuple", lambda x: x.transpose((1, 2, 0)), lambda x: x.transpose((1, 2, 0)), (T3,)),
    Case("transpose_int32", lambda x: x.T, lambda x: x.T, (integers(-3, 3),), grad=False),
    Case("dimshuffle_swap", lambda x: x.dimshuffle(1, 0), lambda x: x.T, (M,)),
    Case("dimshuffle_x_middle", lambda x: x.dimshuffle(0, "x", 1), lambda x: x[:, None, :], (M,)),
    Case("dimshuffle_x_first", lambda x: x.dimshuffle("x", 0), lambda x: x[None, :], (V,)),
    Case("dimshuffle_x_last", lambda x: x.dimshuffle(0, "x"), lambda x: x[:, None], (V,)),
    Case("dimshuffle_x_transpose", lambda x: x.dimshuffle(1, "x", 0, "x"), lambda x: x.T[:, None, :, None], (M,)),
    Case("dimshuffle_list", lambda x: x.dimshuffle([2, 0, 1]), lambda x: x.transpose(2, 0, 1), (T3,)),
    Case("T.dimshuffle", lambda x: T.dimshuffle(x, ("x", 1, 0)), lambda x: x.T[None], (M,)),
    Case("dimshuffle_scalar", lambda x: x.dimshuffle("x", "x"), lambda x: x.reshape(1, 1), (uniform(-1, 1, ()),)),
    Case("dimshuffle_drop_row", lambda x: x.dimshuffle(1), lambda x: x[0], (uniform(-1, 1, (1, 3)),), bc=(ROW,),
         grad=False),
    Case("dimshuffle_drop_col", lambda x: x.dimshuffle("x", 0), lambda x: x.T, (uniform(-1, 1, (2, 1)),), bc=(COL,),
         grad=False),
    Case("dimshuffle_identity", lambda x: x.dimshuffle(0, 1), lambda x: x, (M,)),
    # reshape / flatten --------------------------------------------------------------------------
    Case("reshape", lambda x: x.reshape((3, 2)), lambda x: x.reshape((3, 2)), (M,)),
    Case("reshape_-1", lambda x: x.reshape((-1,)), lambda x: x.reshape((-1,)), (M,)),
    Case("reshape_int_-1", lambda x: x.reshape(-1), lambda x: x.reshape(-1), (M,)),
    Case("reshape_3_-1", lambda x: x.reshape((3, -1)), lambda x: x.reshape((3, -1)), (M,)),
    Case("reshape_-1_2_2", lambda x: x.reshape((-1, 2, 2)), lambda x: x.reshape((-1, 2, 2)), (T3,)),
    Case("reshape_list", lambda x: T.reshape(x, [6, 4]), lambda x: x.reshape(6, 4), (T3,)),
    Case("reshape_vector_to_matrix", lambda x: x.reshape((3, 1)), lambda x: x.reshape(3, 1), (V,)),
    Case("reshape_to_row", lambda x: x.reshape((1, -1)), lambda x: x.reshape(1, -1), (M,)),
    Case("reshape_to_scalar", lambda x: x.reshape(()), lambda x: x.reshape(()), (uniform(-1, 1, (1, 1)),)),
    Case("reshape_symbolic_entry", lambda x: x.reshape((x.shape[1], x.shape[0])), lambda x: x.reshape(3, 2), (M,)),
    Case("reshape_symbolic_entry_-1", lambda x: x.reshape((x.shape[0] * 2, -1)), lambda x: x.reshape(4, -1), (T3,)),
    Case("reshape_symbolic_vector", lambda x: x.reshape(x.shape[::-1], ndim=2), lambda x: x.reshape(3, 2), (M,)),
    Case("reshape_lscalar", lambda x, n: x.reshape((n, -1)), lambda x, n: x.reshape(int(n), -1), (M, _n(3))),
    Case("reshape_iscalar", lambda x, n: x.reshape((n, -1)), lambda x, n: x.reshape(int(n), -1), (M, _n(2, "int32"))),
    Case("reshape_int32", lambda x: x.reshape((3, 2)), lambda x: x.reshape(3, 2), (integers(-3, 3),), grad=False),
    Case("flatten", lambda x: x.flatten(), lambda x: x.flatten(), (M,)),
    Case("T.flatten", T.flatten, lambda x: x.flatten(), (T3,)),
    Case("flatten_ndim2", lambda x: x.flatten(2), lambda x: x.reshape(2, -1), (T3,)),
    Case("flatten_ndim3", lambda x: T.flatten(x, ndim=3), lambda x: x, (T3,)),
    Case("flatten_vector", lambda x: x.flatten(), lambda x: x, (V,)),
    Case("flatten_bool", lambda x: x.flatten(), lambda x: x.flatten(), (np.array([[True, False], [False, True]]),),
         grad=False),
    # shape and arange ---------------------------------------------------------------------------
    Case("x.shape", lambda x: x.shape, lambda x: np.array(x.shape, dtype="int64"), (M,), grad=False),
    Case("T.shape", T.shape, lambda x: np.array(x.shape, dtype="int64"), (T3,), grad=False),
    Case("x.shape[0]", lambda x: x.shape[0], lambda x: np.asarray(x.shape[0], dtype="int64"), (M,), grad=False),
    Case("x.shape[-1]", lambda x: x.shape[-1], lambda x: np.asarray(x.shape[-1], dtype="int64"), (T3,), grad=False),
    Case("x.shape[1:]", lambda x: x.shape[1:], lambda x: np.array(x.shape[1:], dtype="int64"), (T3,), grad=False),
    Case("Shape_i", lambda x: Shape_i(1)(x), lambda x: np.asarray(x.shape[1], dtype="int64"), (T3,), grad=False),
    Case("Shape_i_times_x", lambda x: x * Shape_i(0)(x), lambda x: x * x.shape[0], (M,)),
    Case("scalar.shape", lambda x: x.shape, lambda x: np.zeros(0, dtype="int64"), (uniform(-1, 1, ()),), grad=False),
    Case("shape_arithmetic", lambda x: x.shape[0] * x.shape[1] + 1, lambda x: np.asarray(x.size + 1, dtype="int64"),
         (M,), grad=False),
    Case("divide_by_shape", lambda x: x.sum() / x.shape[0], lambda x: x.sum() / x.shape[0], (M,)),
    Case("arange_lscalar", lambda n: T.arange(n), lambda n: np.arange(n), (_n(5),), grad=False),
    Case("arange_iscalar", lambda n: T.arange(n), lambda n: np.arange(n), (_n(4, "int32"),), grad=False),
    Case("arange_start_stop_step", lambda a, b, s: T.arange(a, b, s), np.arange, (_n(2), _n(11), _n(3)), grad=False),
    Case("arange_negative_step", lambda a, b: T.arange(a, b, -2), lambda a, b: np.arange(a, b, -2),
         (_n(5), _n(-2)), grad=False),
    Case("arange_empty", lambda n: T.arange(n), lambda n: np.arange(n), (_n(0),), grad=False),
    Case("arange_of_shape", lambda x: T.arange(x.shape[0]), lambda x: np.arange(x.shape[0]), (M,), grad=False),
    Case("arange_float", lambda a: T.arange(a, 2.0, 0.5), lambda a: np.arange(a, 2.0, 0.5), (np.asarray(0.25),),
         grad=False),
    Case("arange_times_x", lambda x: x * T.arange(x.shape[0]), lambda x: x * np.arange(x.shape[0]), (V,)),
    # alloc / zeros / ones -----------------------------------------------------------------------
    Case("alloc_scalar", lambda a, n: T.alloc(a, n, 3), lambda a, n: np.full((int(n), 3), a),
         (uniform(-1, 1, ()), _n(2))),
    Case("alloc_vector", lambda v, n: T.alloc(v, n, 3), lambda v, n: np.tile(v, (int(n), 1)), (V, _n(2))),
    Case("alloc_row", lambda r: T.alloc(r, 2, 2, 3), lambda r: np.broadcast_to(r, (2, 2, 3)) + 0.0,
         (uniform(-1, 1, (1, 3)),), bc=(ROW,), grad=False),
    Case("alloc_dimshuffled", lambda v: T.alloc(v.dimshuffle("x", 0, "x"), 2, 3, 2),
         lambda v: np.broadcast_to(v[None, :, None], (2, 3, 2)) + 0.0, (V,)),
    Case("alloc_same_shape", lambda x: T.alloc(x, 2, 3), lambda x: x + 0.0, (M,)),
    Case("alloc_0d", lambda a: T.alloc(a), lambda a: a + 0.0, (uniform(-1, 1, ()),)),
    Case("alloc_shape_tuple", lambda x: T.alloc(1.5, (x.shape[1], x.shape[0])), lambda x: np.full((3, 2), 1.5), (M,),
         grad=False),
    Case("alloc_int", lambda v, n: T.alloc(v, n, 2), lambda v, n: np.tile(v, (int(n), 1)),
         (integers(-3, 3, (2,)), _n(3)), grad=False),
    Case("alloc_empty", lambda v, n: T.alloc(v, n, 3), lambda v, n: np.zeros((0, 3)), (V, _n(0)), grad=False),
    Case("zeros_of_shape", lambda x: T.zeros(x.shape), lambda x: np.zeros_like(x), (T3,), grad=False),
    Case("ones_int32", lambda n: T.ones((n, 2), dtype="int32"), lambda n: np.ones((int(n), 2), "int32"), (_n(3),),
         grad=False),
    Case("zeros_plus_x", lambda x: T.zeros((2, 3)) + x, lambda x: x + 0.0, (M,)),
    # concatenate / join / stack -----------------------------------------------------------------
    Case("concatenate_axis0", lambda a, b: T.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
         (M, uniform(-1, 1, (1, 3)))),
    Case("concatenate_axis1", lambda a, b: T.concatenate([a, b], axis=1), lambda a, b: np.concatenate([a, b], axis=1),
         (M, uniform(-1, 1, (2, 2)))),
    Case("concatenate_axis-1", lambda a, b, c: T.concatenate([a, b, c], axis=-1),
         lambda a, b, c: np.concatenate([a, b, c], axis=-1), (V, V, uniform(-1, 1, (1,)))),
    Case("concatenate_same_twice", lambda a: T.concatenate([a, a * 2], axis=0),
         lambda a: np.concatenate([a, a * 2], axis=0), (M,)),
    Case("concatenate_float32_float64", lambda a, b: T.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
         (uniform(-1, 1, (2,), "float32"), V)),
    Case("concatenate_int_float", lambda a, b: T.concatenate([a, b]), lambda a, b: np.concatenate([a, b]),
         (integers(-3, 3, (2,)), V)),
    Case("concatenate_one", lambda a: T.concatenate([a]), lambda a: np.concatenate([a]), (M,)),
    Case("join_axis1", lambda a, b: T.join(1, a, b), lambda a, b: np.concatenate([a, b], axis=1),
         (M, uniform(-1, 1, (2, 1)))),
    Case("join_axis0_3", lambda a, b, c: T.join(0, a, b, c), lambda a, b, c: np.concatenate([a, b, c]), (M, M, M)),
    Case("stack_vectors", lambda a, b: T.stack([a, b]), lambda a, b: np.stack([a, b]), (V, V)),
    Case("stack_vectors_axis1", lambda a, b: T.stack([a, b], axis=1), lambda a, b: np.stack([a, b], axis=1), (V, V)),
    Case("stack_axis-1", lambda a, b: T.stack([a, b], axis=-1), lambda a, b: np.stack([a, b], axis=-1), (M, M)),
    Case("stack_matrices_axis1", lambda a, b, c: T.stack([a, b, c], axis=1),
         lambda a, b, c: np.stack([a, b, c], axis=1), (M, M, M)),
    Case("stack_scalars", lambda a, b: T.stack([a, b, a * b]), lambda a, b: np.stack([a, b, a * b]),
         (uniform(-1, 1, ()), uniform(-1, 1, ()))),
    Case("stack_scalars_int_float", lambda a, b: T.stack([a, b]), lambda a, b: np.stack([a, b]),
         (_n(3, "int32"), uniform(-1, 1, ()))),
    Case("stack_int_scalars", lambda a, b: T.stack([a, b]), lambda a, b: np.stack([a, b]),
         (_n(3, "int32"), _n(-1, "int8")), grad=False),
    Case("as_tensor_list", lambda a, b: T.as_tensor_variable([a, b]), lambda a, b: np.array([a, b]),
         (uniform(-1, 1, ()), uniform(-1, 1, ()))),
]


@pytest.mark.parametrize("case", params(SHAPE))
def test_value(case, mode):
    check_value(case, mode)


@pytest.mark.parametrize("case", grad_params(SHAPE))
def test_grad(case, mode):
    check_grad(case, mode)


def test_dimshuffle_drop_grad(mode):
    """Dropping a broadcastable dim and getting it back in the gradient (through a real row)."""
    r = T.drow("r")
    g = symgrad.grad((r.dimshuffle(1) * np.array([1.0, 2.0, 3.0])).sum(), r)
    assert g.type == r.type
    np.testing.assert_array_equal(g.eval({r: np.zeros((1, 3))}, mode=mode), [[1.0, 2.0, 3.0]])
    c = T.dcol("c")
    g = symgrad.grad((c.dimshuffle("x", 0) ** 2).sum(), c)
    np.testing.assert_array_equal(g.eval({c: np.array([[1.0], [2.0]])}, mode=mode), [[2.0], [4.0]])


def test_static_broadcastable_patterns():
    x = T.dmatrix("x")
    assert x.dimshuffle(0, "x", 1).broadcastable == (False, True, False)
    assert x.reshape((1, -1)).broadcastable == (True, False)
    assert x.reshape((x.shape[0], 1)).broadcastable == (False, True)
    assert T.drow().T.broadcastable == (False, True)
    assert T.concatenate([T.drow(), T.drow()]).broadcastable == (False, False)
    assert T.concatenate([T.drow(), T.drow()], axis=1).broadcastable == (True, False)
    assert x.shape.dtype == "int64" and x.shape[0].dtype == "int64" and x.shape[0].ndim == 0
    assert T.arange(T.lscalar()).dtype == "int64"
    assert T.arange(T.iscalar()).dtype == "int64"
    assert T.alloc(T.drow(), 2, 1, T.lscalar()).broadcastable == (False, True, False)  # constant 1: as in Theano
    assert T.alloc(T.bscalar(), 2).dtype == "int8" and T.zeros((2,)).dtype == "float64"


@pytest.mark.parametrize("build,exc", [
    pytest.param(lambda x: x.dimshuffle(0), ValueError, id="dimshuffle_drop_nonbroadcastable"),
    pytest.param(lambda x: x.dimshuffle(0, 2), ValueError, id="dimshuffle_bad_dim"),
    pytest.param(lambda x: x.dimshuffle(0, 0), ValueError, id="dimshuffle_repeated"),
    pytest.param(lambda x: x.transpose(0, 0), ValueError, id="transpose_not_permutation"),
    pytest.param(lambda x: x.reshape((-1, -1)), ValueError, id="reshape_two_-1"),
    pytest.param(lambda x: x.reshape((2.0, 3)), TypeError, id="reshape_float_dim"),
    pytest.param(lambda x: x.reshape(T.dvector()), TypeError, id="reshape_float_vector"),
    pytest.param(lambda x: x.reshape(x.shape), ValueError, id="reshape_symbolic_no_ndim"),
    pytest.param(lambda x: x.flatten(3), ValueError, id="flatten_ndim_too_big"),
    pytest.param(lambda x: Shape_i(2)(x), TypeError, id="Shape_i_no_such_axis"),
    pytest.param(lambda x: T.concatenate([x, x], axis=2), ValueError, id="concatenate_bad_axis"),
    pytest.param(lambda x: T.concatenate([x, T.dvector()]), TypeError, id="concatenate_ndim_mismatch"),
    pytest.param(lambda x: T.concatenate([]), ValueError, id="concatenate_empty"),
    pytest.param(lambda x: T.concatenate([x[0, 0], x[0, 1]]), ValueError, id="concatenate_scalars"),
    pytest.param(lambda x: T.stack([x, x], axis=3), ValueError, id="stack_bad_axis"),
    pytest.param(lambda x: T.arange(T.dscalar(), dtype="int64"), TypeError, id="arange_int_of_float"),
    pytest.param(lambda x: T.alloc(x, 3), TypeError, id="alloc_more_dims_than_shape"),
    pytest.param(lambda x: T.alloc(x, 2.0, 3), TypeError, id="alloc_float_shape"),
    pytest.param(lambda x: T.alloc(x, -1, 3), ValueError, id="alloc_negative_constant"),
    pytest.param(lambda x: T.zeros(T.lvector()), ValueError, id="zeros_unknown_length"),
])
def test_build_errors(build, exc):
    with pytest.raises(exc):
        build(T.dmatrix("x"))


def test_runtime_shape_errors(mode):
    x = T.dmatrix("x")
    with pytest.raises(ValueError, match="reshape"):
        x.reshape((4, -1)).eval({x: np.zeros((2, 3))}, mode=mode)
    a, b = T.dmatrices("a", "b")
    with pytest.raises(ValueError, match="join"):
        T.concatenate([a, b], axis=0).eval({a: np.zeros((2, 3)), b: np.zeros((2, 2))}, mode=mode)


def test_alloc_runtime_errors(mode):
    v, n = T.dvector("v"), T.lscalar("n")
    f = symgrad.function([v, n], T.alloc(v, n, 3), mode=mode)
    with pytest.raises(ValueError, match=r"alloc of 'v'.*dimension 0"):
        f(np.zeros(4), 2)  # never stretched: v is not broadcastable
    with pytest.raises(ValueError, match=r"alloc of 'v'.*negative"):
        f(np.zeros(3), -1)


def test_alloc_jacobian_and_hessian(mode):
    """Through the batching rule: the value batched along a new leading dim, aligned to the right."""
    v, n = T.dvector("v"), T.lscalar("n")
    jac = T.jacobian((T.alloc(v, n, 3) * T.arange(3)).sum(axis=0), v)  # n * v * [0, 1, 2]
    hess = T.hessian(T.alloc(v ** 2, 2, 3).sum(), v)  # 2 * sum(v ** 2)
    f = symgrad.function([v, n], [jac, hess], mode=mode)
    got_jac, got_hess = f(np.array([1.0, 2.0, 3.0]), 2)
    np.testing.assert_allclose(got_jac, np.diag([0.0, 2.0, 4.0]))
    np.testing.assert_allclose(got_hess, 4 * np.eye(3))


def test_constant_shape_entries_become_shape_i():
    """The optimizer reads ``x.shape[k]`` of a constant k as ``Shape_i`` (negative k counted from the
    end); the shape vector is gone from such graphs, and kept where a slice of it is read."""
    x = T.dtensor3("x")
    last, twice, tail = optimize([x.shape[-1], x.shape[0] * 2, x.shape[1:]])

    def ops(v):
        return [str(n.op) for n in toposort([v])]

    assert ops(last) == ["Shape_i{2}"]
    assert "Shape_i{0}" in ops(twice) and "Shape" not in ops(twice)
    assert "Shape" in ops(tail)


def test_shape_entry_out_of_range_raises_when_run(mode):
    """``x.shape[2]`` of a matrix is not rewritten: it raises numpy's IndexError when run."""
    x = T.dmatrix("x")
    f = symgrad.function([x], x.shape[2], mode=mode)
    with pytest.raises(IndexError):
        f(np.zeros((2, 3)))


def test_shape_i_jacobian(mode):
    """Through Shape_i's batching rule: d(v * len(v))/dv = len(v) * I."""
    v = T.dvector("v")
    jac = T.jacobian(v * Shape_i(0)(v), v)
    np.testing.assert_array_equal(jac.eval({v: np.arange(3.0)}, mode=mode), 3 * np.eye(3))
