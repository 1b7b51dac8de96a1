"""Indexing (symgrad/tensor/indexing.py): basic slicing with constant and symbolic bounds, negative
steps, integer indices, integer-array indices (gradient = scatter-add, repeated indices
accumulate), inc_subtensor / set_subtensor; values against numpy and gradients."""
import numpy as np
import pytest

import symgrad
import symgrad.tensor as T

from ._cases import Case, check_grad, check_value, grad_params, params, uniform

V = uniform(-2, 2, (5,))
M = uniform(-2, 2, (4, 3))
T3 = uniform(-2, 2, (2, 3, 4))


def _i(value, dtype="int64"):
    return np.asarray(value, dtype=dtype)


def _inc_at(x, index, y):
    out = x.copy()
    np.add.at(out, index, y)
    return out


def _set_at(x, index, y):
    out = x.copy()
    out[index] = y
    return out


INDEXING = [
    # constant integer and slice indices ---------------------------------------------------------
    Case("v[1]", lambda x: x[1], lambda x: x[1], (V,)),
    Case("v[-1]", lambda x: x[-1], lambda x: x[-1], (V,)),
    Case("v[1:]", lambda x: x[1:], lambda x: x[1:], (V,)),
    Case("v[:2]", lambda x: x[:2], lambda x: x[:2], (V,)),
    Case("v[1:-1]", lambda x: x[1:-1], lambda x: x[1:-1], (V,)),
    Case("v[::2]", lambda x: x[::2], lambda x: x[::2], (V,)),
    Case("v[::-1]", lambda x: x[::-1], lambda x: x[::-1], (V,)),
    Case("v[::-2]", lambda x: x[::-2], lambda x: x[::-2], (V,)),
    Case("v[3:0:-1]", lambda x: x[3:0:-1], lambda x: x[3:0:-1], (V,)),
    Case("v[-2::-2]", lambda x: x[-2::-2], lambda x: x[-2::-2], (V,)),
    Case("v[10:]", lambda x: x[10:], lambda x: x[10:], (V,)),
    Case("v[:100]", lambda x: x[:100], lambda x: x[:100], (V,)),
    Case("v[:]", lambda x: x[:], lambda x: x[:], (V,)),
    Case("m[1]", lambda x: x[1], lambda x: x[1], (M,)),
    Case("m[:,1]", lambda x: x[:, 1], lambda x: x[:, 1], (M,)),
    Case("m[1,2]", lambda x: x[1, 2], lambda x: x[1, 2], (M,)),
    Case("m[-1,::-1]", lambda x: x[-1, ::-1], lambda x: x[-1, ::-1], (M,)),
    Case("m[1:,::-2]", lambda x: x[1:, ::-2], lambda x: x[1:, ::-2], (M,)),
    Case("m[::-1,1:]", lambda x: x[::-1, 1:], lambda x: x[::-1, 1:], (M,)),
    Case("m[...,0]", lambda x: x[..., 0], lambda x: x[..., 0], (M,)),
    Case("t3[0,...,1]", lambda x: x[0, ..., 1], lambda x: x[0, ..., 1], (T3,)),
    Case("t3[:,1]", lambda x: x[:, 1], lambda x: x[:, 1], (T3,)),
    Case("t3[1,:,::-1]", lambda x: x[1, :, ::-1], lambda x: x[1, :, ::-1], (T3,)),
    Case("m[np.int64(1)]", lambda x: x[np.int64(1)], lambda x: x[1], (M,)),
    Case("m_int32[1:3]", lambda x: x[1:3], lambda x: x[1:3], (np.arange(12, dtype="int32").reshape(4, 3),),
         grad=False),
    Case("m_bool[:,0]", lambda x: x[:, 0], lambda x: x[:, 0], (np.eye(3, dtype=bool),), grad=False),
    # symbolic bounds ----------------------------------------------------------------------------
    Case("minibatch", lambda x, i: x[i * 2:(i + 1) * 2], lambda x, i: x[i * 2:(i + 1) * 2], (M, _i(1))),
    Case("minibatch_int32", lambda x, i: x[i * 2:(i + 1) * 2], lambda x, i: x[i * 2:(i + 1) * 2],
         (M, _i(0, "int32"))),
    Case("m[i]", lambda x, i: x[i], lambda x, i: x[i], (M, _i(2))),
    Case("m[i]_negative", lambda x, i: x[i], lambda x, i: x[i], (M, _i(-3))),
    Case("m[:,i]", lambda x, i: x[:, i], lambda x, i: x[:, i], (M, _i(1, "int8"))),
    Case("m[i,j]", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j], (M, _i(3), _i(-1))),
    Case("v[i:j]", lambda x, i, j: x[i:j], lambda x, i, j: x[i:j], (V, _i(1), _i(4))),
    Case("v[::s]_negative", lambda x, s: x[::s], lambda x, s: x[::s], (V, _i(-2))),
    Case("v[j:i:s]", lambda x, i, j, s: x[j:i:s], lambda x, i, j, s: x[j:i:s], (V, _i(0), _i(4), _i(-1))),
    Case("m[i:,j]", lambda x, i, j: x[i:, j], lambda x, i, j: x[i:, j], (M, _i(2), _i(0))),
    Case("v[-n:]", lambda x, n: x[-n:], lambda x, n: x[-n:], (V, _i(2))),
    Case("v[:x.shape[0]-1]", lambda x: x[:x.shape[0] - 1], lambda x: x[:-1], (V,)),
    # integer arrays -----------------------------------------------------------------------------
    Case("v[idx]", lambda x, i: x[i], lambda x, i: x[i], (V, _i([4, 0, 2]))),
    Case("v[idx]_repeated", lambda x, i: x[i], lambda x, i: x[i], (V, _i([0, 2, 0, 0, 4, 2]))),
    Case("v[idx]_negative", lambda x, i: x[i], lambda x, i: x[i], (V, _i([-1, 1, -5, -1]))),
    Case("v[idx]_int32", lambda x, i: x[i], lambda x, i: x[i], (V, _i([3, 3, 1], "int32"))),
    Case("v[idx]_uint8", lambda x, i: x[i], lambda x, i: x[i], (V, _i([2, 0, 2], "uint8"))),
    Case("v[idx2d]", lambda x, i: x[i], lambda x, i: x[i], (V, _i([[0, 1], [1, 4], [0, 0]]))),
    Case("v[idx]_empty", lambda x, i: x[i], lambda x, i: x[i], (V, _i(np.zeros(0)))),
    Case("v[constant_list]", lambda x: x[[1, 1, 3]], lambda x: x[[1, 1, 3]], (V,)),
    Case("m[idx]_rows", lambda x, i: x[i], lambda x, i: x[i], (M, _i([3, 0, 3, 1]))),
    Case("m[:,idx]", lambda x, i: x[:, i], lambda x, i: x[:, i], (M, _i([2, 2, 0]))),
    Case("m[idx,1:]", lambda x, i: x[i, 1:], lambda x, i: x[i, 1:], (M, _i([1, 1, 2]))),
    Case("m[::-1,idx]", lambda x, i: x[::-1, i], lambda x, i: x[::-1, i], (M, _i([0, 2, 0]))),
    Case("m[idx,j]", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j], (M, _i([0, 3, 3]), _i(2))),
    Case("m[idx,idx]_pairs", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j],
         (M, _i([0, 3, 3, 1]), _i([2, 0, 0, 1]))),
    Case("m[idx_col,idx_row]", lambda x, i, j: x[i.dimshuffle(0, "x"), j], lambda x, i, j: x[i[:, None], j],
         (M, _i([0, 3, 0]), _i([1, 2]))),
    Case("p[arange(n),y]", lambda p, y: p[T.arange(y.shape[0]), y], lambda p, y: p[np.arange(len(y)), y],
         (M, _i([2, 0, 2, 1]))),
    Case("p[arange(n),y]_repeated_rows", lambda p, r, y: p[r, y], lambda p, r, y: p[r, y],
         (M, _i([0, 0, 1, 0]), _i([2, 2, 0, 2]))),
    Case("t3[idx,:,idx]", lambda x, i, j: x[i, :, j], lambda x, i, j: x[i, :, j], (T3, _i([1, 0, 1]), _i([3, 3, 0]))),
    Case("t3[:,idx,idx]", lambda x, i, j: x[:, i, j], lambda x, i, j: x[:, i, j], (T3, _i([2, 0]), _i([3, 3]))),
    Case("t3[i,idx]", lambda x, i, j: x[i, j], lambda x, i, j: x[i, j], (T3, _i(1), _i([2, 2, 0]))),
    Case("m_int32[idx]", lambda x, i: x[i], lambda x, i: x[i], (np.arange(12, dtype="int32").reshape(4, 3), _i([1, 1])),
         grad=False),
    # inc_subtensor / set_subtensor ------------------------------------------------------------------
    Case("inc_slice", lambda x, y: T.inc_subtensor(x[1:3], y), lambda x, y: _inc_at(x, np.s_[1:3], y),
         (M, uniform(-1, 1, (2, 3)))),
    Case("inc_slice_scalar", lambda x, y: T.inc_subtensor(x[1:3], y), lambda x, y: _inc_at(x, np.s_[1:3], y),
         (M, uniform(-1, 1, ()))),
    Case("inc_slice_python_float", lambda x: T.inc_subtensor(x[::-2], 5.0), lambda x: _inc_at(x, np.s_[::-2], 5.0),
         (M,)),
    Case("inc_row_vector", lambda x, y: T.inc_subtensor(x[:, 1:], y), lambda x, y: _inc_at(x, np.s_[:, 1:], y),
         (M, uniform(-1, 1, (2,)))),
    Case("inc_int", lambda x, y: T.inc_subtensor(x[2], y), lambda x, y: _inc_at(x, 2, y), (M, uniform(-1, 1, (3,)))),
    Case("inc_symbolic_bounds", lambda x, y, i: T.inc_subtensor(x[i * 2:(i + 1) * 2], y),
         lambda x, y, i: _inc_at(x, np.s_[int(i) * 2:(int(i) + 1) * 2], y), (M, uniform(-1, 1, (2, 3)), _i(1))),
    Case("inc_advanced_repeated", lambda x, y, i: T.inc_subtensor(x[i], y), lambda x, y, i: _inc_at(x, i, y),
         (V, uniform(-1, 1, (4,)), _i([1, 3, 1, 1]))),
    Case("inc_advanced_rows_repeated", lambda x, y, i: T.inc_subtensor(x[i], y), lambda x, y, i: _inc_at(x, i, y),
         (M, uniform(-1, 1, (3, 3)), _i([0, 2, 0]))),
    Case("inc_advanced_pairs", lambda x, y, i, j: T.inc_subtensor(x[i, j], y),
         lambda x, y, i, j: _inc_at(x, (i, j), y), (M, uniform(-1, 1, (3,)), _i([0, 3, 0]), _i([1, 1, 1]))),
    Case("inc_advanced_scalar", lambda x, y, i: T.inc_subtensor(x[i], y), lambda x, y, i: _inc_at(x, i, y),
         (V, uniform(-1, 1, ()), _i([4, 4, 0]))),
    Case("set_slice", lambda x, y: T.set_subtensor(x[1:3], y), lambda x, y: _set_at(x, np.s_[1:3], y),
         (M, uniform(-1, 1, (2, 3)))),
    Case("set_slice_scalar", lambda x, y: T.set_subtensor(x[:, ::-1], y), lambda x, y: _set_at(x, np.s_[:, ::-1], y),
         (M, uniform(-1, 1, ()))),
    Case("set_int_vector", lambda x, y: T.set_subtensor(x[-1], y), lambda x, y: _set_at(x, -1, y),
         (M, uniform(-1, 1, (3,)))),
    Case("set_column_broadcast", lambda x, y: T.set_subtensor(x[1:, 0], y), lambda x, y: _set_at(x, np.s_[1:, 0], y),
         (M, uniform(-1, 1, (3,)))),
    Case("set_advanced", lambda x, y, i: T.set_subtensor(x[i], y), lambda x, y, i: _set_at(x, i, y),
         (V, uniform(-1, 1, (3,)), _i([4, 0, 2]))),
    Case("set_advanced_rows", lambda x, y, i: T.set_subtensor(x[i], y), lambda x, y, i: _set_at(x, i, y),
         (M, uniform(-1, 1, (3,)), _i([3, 1]))),
    Case("set_advanced_pairs", lambda x, y, i, j: T.set_subtensor(x[i, j], y),
         lambda x, y, i, j: _set_at(x, (i, j), y), (M, uniform(-1, 1, (2,)), _i([0, 3]), _i([2, 2]))),
    Case("set_python_float", lambda x: T.set_subtensor(x[1:3, 1], 0.0), lambda x: _set_at(x, np.s_[1:3, 1], 0.0),
         (M,)),
    Case("inc_int32_into_float", lambda x, y: T.inc_subtensor(x[1], y), lambda x, y: _inc_at(x, 1, y),
         (M, np.array([1, 2, 3], dtype="int32"))),
    Case("inc_int32", lambda x, y: T.inc_subtensor(x[1:], y), lambda x, y: _inc_at(x, np.s_[1:], y),
         (np.arange(12, dtype="int32").reshape(4, 3), np.array([1, -2, 3], dtype="int32")), grad=False),
    Case("inc_float32", lambda x, y: T.inc_subtensor(x[0], y), lambda x, y: _inc_at(x, 0, y),
         (uniform(-1, 1, (4, 3), "float32"), uniform(-1, 1, (3,), "float32"))),
    Case("inc_of_expression", lambda x, y: T.inc_subtensor((x * 2)[1:3], y ** 2),
         lambda x, y: _inc_at(x * 2, np.s_[1:3], y ** 2), (M, uniform(-1, 1, (2, 3)))),
    # used in expressions ------------------------------------------------------------------------------
    Case("indexed_sum", lambda x, i: (x[i] ** 2).sum() + x[0, 0], lambda x, i: (x[i] ** 2).sum() + x[0, 0],
         (M, _i([1, 1, 3]))),
    Case("slice_of_slice", lambda x: x[1:][::-1][0], lambda x: x[1:][::-1][0], (M,)),
]


@pytest.mark.parametrize("case", params(INDEXING))
def test_value(case, mode):
    check_value(case, mode)


@pytest.mark.parametrize("case", grad_params(INDEXING))
def test_grad(case, mode):
    check_grad(case, mode)


def test_gradient_of_advanced_indexing_is_scatter_add(mode):
    """Repeated indices accumulate: d/dx sum(x[idx]) counts how often each entry is taken."""
    x, idx = T.dvector("x"), T.lvector("idx")
    g = symgrad.grad(x[idx].sum(), x)
    got = g.eval({x: np.zeros(5), idx: np.array([0, 2, 0, 0, 4, -1])}, mode=mode)
    np.testing.assert_array_equal(got, [3.0, 0.0, 1.0, 0.0, 2.0])

    p, y = T.dmatrix("p"), T.lvector("y")
    rows = T.lvector("rows")
    g = symgrad.grad(T.log(p[rows, y]).sum(), p)
    pv = np.full((2, 3), 0.5)
    got = g.eval({p: pv, rows: np.array([0, 0, 1, 0]), y: np.array([2, 2, 0, 1])}, mode=mode)
    np.testing.assert_array_equal(got, [[0.0, 2.0, 4.0], [2.0, 0.0, 0.0]])


def test_minibatch_gradient(mode):
    X, i = T.dmatrix("X"), T.lscalar("i")
    g = symgrad.grad((X[i * 2:(i + 1) * 2] ** 2).sum(), X)
    f = symgrad.function([X, i], g, mode=mode)
    xv = np.arange(12.0).reshape(4, 3)
    expected = np.zeros((4, 3))
    expected[2:4] = 2 * xv[2:4]
    np.testing.assert_array_equal(f(xv, 1), expected)
    expected = np.zeros((4, 3))
    expected[0:2] = 2 * xv[0:2]
    np.testing.assert_array_equal(f(xv, 0), expected)


def test_static_index_types():
    X, i = T.dmatrix("X"), T.lscalar("i")
    assert X[i * 10:(i + 1) * 10].ndim == 2
    assert X[0].type == T.dvector
    assert X[0, 0].type == T.dscalar
    assert X[T.arange(3), T.lvector()].type == T.dvector
    assert X[T.lmatrix()].ndim == 3
    assert T.drow()[:, 1:].broadcastable == (True, False)
    assert T.drow()[0].broadcastable == (False,)


@pytest.mark.parametrize("build,exc", [
    pytest.param(lambda x: x[0, 1, 2], IndexError, id="too_many_indices"),
    pytest.param(lambda x: x[:, :, :], IndexError, id="too_many_slices"),
    pytest.param(lambda x: x[1.0], TypeError, id="float_index"),
    pytest.param(lambda x: x[0, 1.5], TypeError, id="float_second_index"),
    pytest.param(lambda x: x[T.dscalar()], TypeError, id="float_scalar_variable"),
    pytest.param(lambda x: x[T.fvector()], TypeError, id="float_vector_variable"),
    pytest.param(lambda x: x[1.0:3], TypeError, id="float_slice_bound"),
    pytest.param(lambda x: x[::T.dscalar()], TypeError, id="float_slice_step"),
    pytest.param(lambda x: x[T.lvector():], TypeError, id="vector_slice_bound"),
    pytest.param(lambda x: x[::0], ValueError, id="zero_step"),
    pytest.param(lambda x: T.inc_subtensor(x, 1.0), TypeError, id="inc_not_indexed"),
    pytest.param(lambda x: T.set_subtensor(x[0], T.dmatrix()), ValueError, id="set_value_too_many_dims"),
    pytest.param(lambda x: T.inc_subtensor(T.lmatrix()[0], T.dvector()), TypeError, id="inc_float_into_int"),
])
def test_index_build_errors(build, exc):
    with pytest.raises(exc):
        build(T.dmatrix("x"))


def test_index_runtime_errors(mode):
    x, i, idx = T.dmatrix("x"), T.lscalar("i"), T.lvector("idx")
    value = np.zeros((2, 3))
    with pytest.raises(IndexError):
        x[i].eval({x: value, i: 2}, mode=mode)
    with pytest.raises(IndexError):
        x[idx].eval({x: value, idx: np.array([0, 5])}, mode=mode)
    with pytest.raises(ValueError):
        x[::i].eval({x: value, i: 0}, mode=mode)


def test_int_among_arrays_counts_as_advanced(mode):
    """numpy counts an int as an advanced index when there is an index array: x[:, a, :, 0] has its
    advanced dims apart, so the index dims go first (the type says so too)."""
    x, a = T.TensorType("float64", (True, False, False, False))("x"), T.lvector("a")
    y = x[:, a, :, 0]
    assert y.broadcastable == (False, True, False)
    got = (y * 1.0).eval({x: np.zeros((1, 5, 3, 4)), a: np.array([0, 1])}, mode=mode)
    assert got.shape == (2, 1, 3)


def test_index_error_names_the_index_array(mode):
    x, idx = T.dmatrix("x"), T.lvector("idx")
    values = {x: np.zeros((2, 3)), idx: np.array([0, 5])}
    for indexed in (x[:, idx], T.inc_subtensor(x[idx], 1.0)):
        with pytest.raises(IndexError, match="index array 'idx'"):
            indexed.eval(values, mode=mode)
