"""Reductions (symgrad/tensor/reduction.py): sum mean max min prod argmax argmin var std over every
kind of axis (int, negative int, tuple, None) with and without keepdims; prod's gradient with
zeros in the input; dtypes of int and bool reductions; bad axes."""
import numpy as np
import pytest

import symgrad
import symgrad.tensor as T

from ._cases import (Case, booleans, check_grad, check_value, distinct, fixed, grad_params, integers,
                     params, uniform)

M = distinct((2, 3))            # no ties: max/min/argmax gradients are well defined
T3 = distinct((2, 3, 2))
PROD_M = uniform(0.5, 1.5, (2, 3))

AXES_2D = [None, 0, 1, -1, -2, (0,), (1,), (0, 1), (-1, 0), ()]
AXES_3D = [None, 1, -1, (0, 2), (2, 0), (0, 1, 2), (1, 2)]


def _axis_id(axis):
    return "None" if axis is None else str(axis).replace(" ", "")


def _reduction_cases():
    cases = []
    for kind in ("sum", "mean", "max", "min", "prod", "var", "std"):
        fn = getattr(T, kind)
        ref = getattr(np, kind)
        gen2, gen3 = (PROD_M, uniform(0.5, 1.5, (2, 3, 2))) if kind == "prod" else (M, T3)
        for keepdims in (False, True):
            kd = "_keepdims" if keepdims else ""
            for axis in AXES_2D:
                cases.append(Case(f"{kind}_axis={_axis_id(axis)}{kd}",
                                  lambda x, fn=fn, axis=axis, keepdims=keepdims: fn(x, axis=axis, keepdims=keepdims),
                                  lambda x, ref=ref, axis=axis, keepdims=keepdims: ref(x, axis=axis, keepdims=keepdims),
                                  (gen2,),
                                  # std over no axis is sqrt(0): its gradient does not exist
                                  grad=not (kind == "std" and axis == ())))
            for axis in AXES_3D:
                cases.append(Case(f"{kind}_3d_axis={_axis_id(axis)}{kd}",
                                  lambda x, fn=fn, axis=axis, keepdims=keepdims: fn(x, axis=axis, keepdims=keepdims),
                                  lambda x, ref=ref, axis=axis, keepdims=keepdims: ref(x, axis=axis, keepdims=keepdims),
                                  (gen3,)))
    for kind in ("argmax", "argmin"):
        fn, ref = getattr(T, kind), getattr(np, kind)
        for keepdims in (False, True):
            kd = "_keepdims" if keepdims else ""
            for axis, gen in [(None, M), (0, M), (1, M), (-1, M), (-2, M), (None, T3), (1, T3), (-1, T3)]:
                cases.append(Case(f"{kind}_{gen is T3 and '3d_' or ''}axis={_axis_id(axis)}{kd}",
                                  lambda x, fn=fn, axis=axis, keepdims=keepdims: fn(x, axis=axis, keepdims=keepdims),
                                  lambda x, ref=ref, axis=axis, keepdims=keepdims: ref(x, axis=axis, keepdims=keepdims),
                                  (gen,), grad=False))
    return cases


REDUCTIONS = _reduction_cases() + [
    # methods
    Case("method_sum", lambda x: x.sum(axis=1), lambda x: x.sum(axis=1), (M,)),
    Case("method_mean", lambda x: x.mean(axis=0, keepdims=True), lambda x: x.mean(axis=0, keepdims=True), (M,)),
    Case("method_max", lambda x: x.max(), lambda x: x.max(), (M,)),
    Case("method_min", lambda x: x.min(axis=-1), lambda x: x.min(axis=-1), (M,)),
    Case("method_prod", lambda x: x.prod(axis=0), lambda x: x.prod(axis=0), (PROD_M,)),
    Case("method_argmax", lambda x: x.argmax(axis=1), lambda x: x.argmax(axis=1), (M,), grad=False),
    Case("method_argmin", lambda x: x.argmin(), lambda x: x.argmin(), (M,), grad=False),
    Case("method_var", lambda x: x.var(axis=1), lambda x: x.var(axis=1), (M,)),
    Case("method_std", lambda x: x.std(keepdims=True), lambda x: x.std(keepdims=True), (M,)),
    Case("size", lambda x: x.size, lambda x: np.asarray(x.size, dtype="int64"), (M,), grad=False),
    # vectors and scalars
    Case("sum_vector", T.sum, np.sum, (distinct((4,)),)),
    Case("max_vector_axis0", lambda x: T.max(x, axis=0), lambda x: np.max(x, axis=0), (distinct((4,)),)),
    Case("argmax_vector", T.argmax, np.argmax, (distinct((4,)),), grad=False),
    Case("sum_scalar", T.sum, np.sum, (uniform(-1, 1, ()),)),
    Case("mean_scalar", T.mean, np.mean, (uniform(-1, 1, ()),)),
    # ties: argmax takes the first, max/min values still match numpy
    Case("argmax_ties", lambda x: T.argmax(x, axis=1), lambda x: np.argmax(x, axis=1),
         (fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]),), grad=False),
    Case("argmin_ties", lambda x: T.argmin(x, axis=0), lambda x: np.argmin(x, axis=0),
         (fixed([[1.0, 3.0, 0.0], [1.0, 2.0, 0.0]]),), grad=False),
    Case("max_ties", lambda x: T.max(x, axis=1), lambda x: np.max(x, axis=1),
         (fixed([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]),), grad=False),
    # ints and bools
    Case("sum_int32", lambda x: T.sum(x, axis=0), lambda x: np.sum(x, axis=0), (integers(-5, 6),), grad=False),
    Case("sum_int8", T.sum, np.sum, (integers(-100, 100, dtype="int8"),), grad=False),
    Case("sum_uint8", T.sum, np.sum, (integers(0, 250, dtype="uint8"),), grad=False),
    Case("sum_bool", lambda x: T.sum(x, axis=1), lambda x: np.sum(x, axis=1), (booleans(),), grad=False),
    Case("sum_dtype", lambda x: T.sum(x, dtype="int32"), lambda x: np.sum(x, dtype="int32"), (booleans(),), grad=False),
    Case("sum_float32", lambda x: T.sum(x, axis=0), lambda x: np.sum(x, axis=0),
         (uniform(-1, 1, dtype="float32"),)),
    Case("mean_int32", T.mean, np.mean, (integers(-5, 6),), grad=False),
    Case("mean_int32_axis", lambda x: T.mean(x, axis=1, keepdims=True),
         lambda x: np.mean(x, axis=1, keepdims=True), (integers(-5, 6),), grad=False),
    Case("mean_bool", T.mean, np.mean, (booleans(),), grad=False),
    Case("mean_bool_axis0", lambda x: T.mean(x, axis=0), lambda x: np.mean(x, axis=0), (booleans(),), grad=False),
    Case("mean_float32", lambda x: T.mean(x, axis=1), lambda x: np.mean(x, axis=1),
         (uniform(-1, 1, dtype="float32"),)),
    Case("max_int32", lambda x: T.max(x, axis=0), lambda x: np.max(x, axis=0), (integers(-5, 6),), grad=False),
    Case("min_bool", lambda x: T.min(x, axis=1), lambda x: np.min(x, axis=1), (booleans(),), grad=False),
    Case("max_bool", T.max, np.max, (booleans(),), grad=False),
    Case("prod_int32", lambda x: T.prod(x, axis=1), lambda x: np.prod(x, axis=1), (integers(-3, 4),), grad=False),
    Case("prod_bool", T.prod, np.prod, (booleans(),), grad=False),
    Case("argmax_int32", lambda x: T.argmax(x, axis=0), lambda x: np.argmax(x, axis=0), (integers(-5, 6),), grad=False),
    Case("argmin_bool", T.argmin, np.argmin, (booleans(),), grad=False),
    Case("var_int32", lambda x: T.var(x, axis=0), lambda x: np.var(x, axis=0), (integers(-5, 6),), grad=False),
    Case("std_int32", T.std, np.std, (integers(-5, 6),), grad=False),
    Case("var_float32", lambda x: T.var(x, axis=1), lambda x: np.var(x, axis=1), (uniform(-1, 1, dtype="float32"),)),
]

# prod with zeros in the input: one zero, two zeros, in every reduced group.
ZEROS = fixed([[0.0, 1.5, -2.0], [0.5, 0.0, 0.0]])          # row 0: one zero, row 1: two zeros
ONE_ZERO = fixed([[1.2, 0.0, 0.7], [0.9, 1.1, -1.3]])
TWO_ZEROS_COLUMN = fixed([[0.0, 1.5, 0.8], [0.0, -0.7, 1.2]])
ZEROS_3D = fixed([[[0.0, 1.5], [0.0, -2.0], [0.5, 1.1]], [[0.9, 0.0], [1.3, 0.6], [-0.8, 0.0]]])
PROD_ZEROS = [
    Case(f"prod_zeros_{name}_axis={_axis_id(axis)}{'_keepdims' if kd else ''}",
         lambda x, axis=axis, kd=kd: T.prod(x, axis=axis, keepdims=kd),
         lambda x, axis=axis, kd=kd: np.prod(x, axis=axis, keepdims=kd), (value,))
    for name, value in [("mixed", ZEROS), ("one", ONE_ZERO), ("two_in_column", TWO_ZEROS_COLUMN)]
    for axis in (None, 0, 1, -1)
    for kd in (False, True)
] + [
    Case(f"prod_zeros_3d_axis={_axis_id(axis)}", lambda x, axis=axis: T.prod(x, axis=axis),
         lambda x, axis=axis: np.prod(x, axis=axis), (ZEROS_3D,))
    for axis in (None, 0, 1, 2, (0, 2), (1, 2))
] + [
    Case("prod_zeros_vector_one", T.prod, np.prod, (fixed([1.5, 0.0, -2.0, 0.5]),)),
    Case("prod_zeros_vector_two", T.prod, np.prod, (fixed([1.5, 0.0, -2.0, 0.0]),)),
    Case("prod_zeros_vector_all", T.prod, np.prod, (fixed([0.0, 0.0]),)),
    Case("prod_zeros_composed", lambda x: T.prod(x * x - 1, axis=1), lambda x: np.prod(x * x - 1, axis=1),
         (fixed([[1.0, 2.0, -1.0], [0.5, 1.0, 3.0]]),)),
]

ALL = REDUCTIONS + PROD_ZEROS


@pytest.mark.parametrize("case", params(ALL))
def test_value(case, mode):
    check_value(case, mode)


@pytest.mark.parametrize("case", grad_params(ALL))
def test_grad(case, mode):
    check_grad(case, mode)


def test_prod_grad_with_zeros_is_exact(mode):
    """Product of the other entries: nonzero only at the single zero of a group with one zero."""
    x = T.dmatrix("x")
    g = symgrad.grad(T.prod(x, axis=1).sum(), x)
    got = g.eval({x: ZEROS}, mode=mode)
    np.testing.assert_array_equal(got, [[1.5 * -2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    got = g.eval({x: ONE_ZERO}, mode=mode)
    np.testing.assert_array_equal(got[0], [0.0, 1.2 * 0.7, 0.0])
    np.testing.assert_allclose(got[1], [1.1 * -1.3, 0.9 * -1.3, 0.9 * 1.1], rtol=1e-15)
    assert np.all(np.isfinite(got))


def test_mean_of_ints_and_bools_is_float64(mode):
    i, b = T.ivector("i"), T.bvector("b")
    assert T.mean(i).dtype == "float64"
    assert T.mean(T.cast(b, "bool")).dtype == "float64"
    f = symgrad.function([i, b], [T.mean(i), T.mean(T.cast(b, "bool"))], mode=mode)
    got_i, got_b = f(np.array([1, 2], dtype="int32"), np.array([1, 0, 0], dtype="int8"))
    assert got_i.dtype == got_b.dtype == np.float64
    assert got_i == 1.5 and got_b == pytest.approx(1 / 3, rel=1e-15)


def test_reduction_broadcastable_patterns():
    r = T.drow("r")
    assert T.sum(r, axis=1).broadcastable == (True,)
    assert T.sum(r, axis=0).broadcastable == (False,)
    assert T.sum(r, axis=0, keepdims=True).broadcastable == (True, False)
    assert T.max(T.dmatrix(), axis=1, keepdims=True).broadcastable == (False, True)
    assert T.argmax(T.dmatrix(), keepdims=True).broadcastable == (True, True)


@pytest.mark.parametrize("build", [
    pytest.param(lambda x: x.sum(axis=2), id="sum_axis=2"),
    pytest.param(lambda x: x.sum(axis=-3), id="sum_axis=-3"),
    pytest.param(lambda x: x.mean(axis=(0, 2)), id="mean_axis=(0,2)"),
    pytest.param(lambda x: x.max(axis=(0, 0)), id="max_repeated_axis"),
    pytest.param(lambda x: x.prod(axis=(1, -1)), id="prod_repeated_negative_axis"),
    pytest.param(lambda x: x.argmax(axis=2), id="argmax_axis=2"),
    pytest.param(lambda x: x.argmin(axis=(0, 1)), id="argmin_tuple_axis"),
    pytest.param(lambda x: x.var(axis=5), id="var_axis=5"),
    pytest.param(lambda x: x.std(axis=-3), id="std_axis=-3"),
])
def test_bad_axis_raises_value_error(build):
    with pytest.raises(ValueError, match="axis"):
        build(T.dmatrix("x"))


def test_float_axis_raises_type_error():
    # as numpy: np.sum(x, axis=1.0) is a TypeError
    with pytest.raises(TypeError):
        T.dmatrix("x").sum(axis=1.0)
