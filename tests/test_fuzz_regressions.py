"""Regression tests for what the differential fuzzer (tests/test_fuzz.py) found.

Each test is the minimal graph of one failing example, checked on both backends against numpy.
"""
import numpy as np
import pytest

import symgrad
import symgrad.tensor as T


def test_set_and_inc_subtensor_of_full_slice(mode):
    # x[:] used to be x itself, so set_subtensor(x[:], y) raised TypeError; numpy's x[:] = y
    # (and Theano's set_subtensor(x[:], y)) writes all of x.
    x, y = T.dvector("x"), T.dscalar("y")
    s, i = T.set_subtensor(x[:], y), T.inc_subtensor(x[:], y)
    f = symgrad.function([x, y], [s, i, x[:], *T.grad((s * i).sum(), [x, y])], mode=mode)
    xv, yv = np.array([0.5, -1.0, 2.0]), 0.25
    s_v, i_v, view, gx, gy = f(xv, yv)
    np.testing.assert_array_equal(s_v, np.full(3, yv))
    np.testing.assert_array_equal(i_v, xv + yv)
    np.testing.assert_array_equal(view, xv)
    # cost = sum(y * (x + y)): d/dx = y, d/dy = sum(x + 2y)
    np.testing.assert_allclose(gx, np.full(3, yv), rtol=1e-12)
    np.testing.assert_allclose(gy, np.sum(xv + 2 * yv), rtol=1e-12)


def test_sum_and_prod_over_no_axis_widen_small_ints(mode):
    # sum of an int32 scalar (nothing to reduce) stayed int32; numpy's accumulator is int64.
    c, b = T.iscalar("c"), T.bvector("b")
    outs = [T.sum(c), T.prod(b, axis=()), T.sum(b, axis=(), keepdims=True), T.max(b, axis=())]
    f = symgrad.function([c, b], outs, mode=mode)
    cv, bv = np.int32(-3), np.array([100, -7], np.int8)
    want = [np.sum(cv), np.prod(bv, axis=()), np.sum(bv, axis=(), keepdims=True), np.max(bv, axis=())]
    for got, ref in zip(f(cv, bv), want):
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


def test_integer_to_negative_integer_power_raises(mode):
    # numpy: "Integers to negative integer powers are not allowed."; symgrad computed 1/x and
    # truncated (numpy backend) or returned 0 (numba).
    n = T.lvector("n")
    with pytest.raises(ValueError, match="negative integer powers"):
        n ** -1
    e = T.ivector("e")
    f = symgrad.function([n, e], n ** e, mode=mode)
    np.testing.assert_array_equal(f(np.array([2, 3]), np.array([3, 0], np.int32)), [8, 1])
    with pytest.raises(ValueError, match="negative integer powers"):
        f(np.array([2, 3]), np.array([1, -1], np.int32))


def test_fused_exp_of_log_keeps_nan_of_negative_input(mode):
    # Fusion substituted log(x) into exp(.) and sympy simplified exp(log(x)) to x (likewise
    # sqrt(x)**2): numpy gives NaN for x < 0.
    x = T.dvector("x")
    outs = [T.exp(T.log(x)), T.sqr(T.sqrt(x)), T.exp(2 * T.log(x)) + 1, T.log(T.exp(x))]
    f = symgrad.function([x], outs, mode=mode)
    xv = np.array([-1.0, 2.0])
    with np.errstate(invalid="ignore"):
        want = [np.exp(np.log(xv)), np.square(np.sqrt(xv)), np.exp(2 * np.log(xv)) + 1, np.log(np.exp(xv))]
    for got, ref in zip(f(xv), want):
        np.testing.assert_allclose(got, ref, rtol=1e-14)  # NaN positions must match too


def test_float32_values_in_float64_formulas_round_like_numpy(mode):
    # numpy computes float32 (op) int32 in float64. Fusion regrouped x * (x / i) into x**2 / i,
    # squaring in float32; the numba kernel also raised float32 to an int32 power in float32 and
    # typed the literal 0.1 as float32 in these float64 formulas (errors of 1e-8, not 1e-16).
    x, i, j = T.fvector("x"), T.tensor("int64", (True,), "i"), T.ivector("j")
    outs = [x * (x / i), x ** j, (x ** j).sum(), x * j * 0.1, T.exp(x * j * 0.1)]
    f = symgrad.function([x, i, j], outs, mode=mode)
    xv, iv, jv = np.array([0.1, 0.7, -1.3], np.float32), np.array([3]), np.array([3, 5, 7], np.int32)
    want = [xv * (xv / iv), xv ** jv, (xv ** jv).sum(), xv * jv * 0.1, np.exp(xv * jv * 0.1)]
    for got, ref in zip(f(xv, iv, jv), want):
        assert got.dtype == ref.dtype == np.float64
        np.testing.assert_allclose(got, ref, rtol=1e-14)


def test_dimshuffle_dropping_every_dim_then_adding_new_ones(mode):
    # numba: a broadcastable vector (or a row-times-vector dot) dimshuffled to ('x', 'x') dropped
    # its dim to a kernel scalar, then indexed that scalar with None (a TypingError).
    v, r, w = T.tensor("float64", (True,), "v"), T.frow("r"), T.dvector("w")
    m = T.tensor("int32", (True, True), "m")
    outs = [v.dimshuffle("x", "x"), T.dot(r, w).dimshuffle("x"), m.dimshuffle("x", 1, "x")]
    cost = (outs[0] * 3).sum() + outs[1].sum()
    f = symgrad.function([v, r, w, m], outs + T.grad(cost, [v, r, w]), mode=mode)
    vv, rv, wv, mv = np.array([2.0]), np.array([[0.5, 1.0, 2.0]], np.float32), np.array([1.0, -1.0, 3.0]), \
        np.array([[5]], np.int32)
    got = f(vv, rv, wv, mv)
    want = [vv.reshape(1, 1), np.dot(rv, wv).reshape(1), mv.reshape(1, 1, 1),
            np.array([3.0]), wv.reshape(1, 3).astype(np.float32), rv.reshape(3).astype(np.float64)]
    for g, ref in zip(got, want):
        assert g.dtype == ref.dtype and g.shape == ref.shape
        np.testing.assert_allclose(g, ref, rtol=1e-6 if ref.dtype == np.float32 else 1e-14)


def test_abs_of_exp_of_symgrad_functions_compiles(mode):
    # sympy took sigmoid(x), cast_float64(i), ... for complex-valued and rewrote
    # Abs(exp(f)) as exp(re(f)), which neither backend can print (NotImplementedError).
    x, i = T.dvector("x"), T.ivector("i")
    outs = [T.abs(T.exp(T.sigmoid(x))), T.abs(T.exp(i)) * x, T.abs(T.softplus(x))]
    f = symgrad.function([x, i], outs + [T.grad(sum(o.sum() for o in outs), x)], mode=mode)
    xv, iv = np.array([0.5, -1.0]), np.array([1, -2], np.int32)
    sig = 1 / (1 + np.exp(-xv))
    want = [np.exp(sig), np.exp(iv) * xv, np.logaddexp(0, xv),
            np.exp(sig) * sig * (1 - sig) + np.exp(iv) + sig]
    for got, ref in zip(f(xv, iv), want):
        np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_nan_and_inf_constants_compile(mode):
    # Constant folding of log1p(constant) produced NaN entries, written into the numba kernel as
    # a bare `nan`; x * np.inf and x + np.nan (sympy's oo and nan) printed as bare names on both
    # backends (NameError).
    x, f32 = T.dvector("x"), T.fvector("f")
    outs = [T.log1p(T.constant(np.array([-2.0, 1.0]))) * x, x + T.constant(np.array([np.nan, -np.inf])),
            x * np.inf, x + np.nan, f32 * np.inf - 1]
    f = symgrad.function([x, f32], outs, mode=mode)
    xv, fv = np.array([1.0, 0.0]), np.array([1.0, 0.0], np.float32)
    with np.errstate(all="ignore"):
        want = [np.log1p(np.array([-2.0, 1.0])) * xv, xv + np.array([np.nan, -np.inf]), xv * np.inf,
                xv + np.nan, fv * np.inf - 1]
    for got, ref in zip(f(xv, fv), want):
        assert got.dtype == ref.dtype
        np.testing.assert_array_equal(got, ref)


def test_flatten_of_empty_array_keeps_leading_dims(mode):
    # flatten(x, 2) reshaped to (x.shape[0], -1): numpy cannot infer -1 for a (0, 2, 3) array
    # (ValueError); the result is (0, 6), as in Theano.
    x, m = T.ftensor3("x"), T.dmatrix("m")
    f = symgrad.function([x, m], [T.flatten(x, 2), T.flatten(x, 1), T.grad((T.flatten(m, 1) ** 2).sum(), m)],
                         mode=mode)
    for shape in [(0, 2, 3), (2, 0, 3), (2, 3, 4)]:
        xv = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        mv = np.arange(shape[0] * 2, dtype=np.float64).reshape(shape[0], 2)
        a, b, g = f(xv, mv)
        np.testing.assert_array_equal(a, xv.reshape(shape[0], shape[1] * shape[2]))
        np.testing.assert_array_equal(b, xv.reshape(-1))
        np.testing.assert_array_equal(g, 2 * mv)


def test_out_of_bounds_integer_index_beside_an_empty_index_array_raises(mode):
    # numba: x[:, 3, a] with an empty index array a never checked the integer 3 (the bounds
    # check ran per broadcast element, of which there were none); numpy raises IndexError.
    x, i, a = T.lmatrix("x"), T.iscalar("i"), T.ivector("a")
    f = symgrad.function([x, i, a], x[a, i], mode=mode)
    xv, empty = np.zeros((2, 3), np.int64), np.array([], np.int32)
    assert f(xv, -3, empty).shape == (0,)
    with pytest.raises(IndexError):
        f(xv, 3, empty)


def test_sigmoid_and_softplus_of_bools_and_unsigned_ints(mode):
    # numpy backend: sigmoid(bool) negated the bools (TypeError); numba: sigmoid/softplus of a
    # uint8 negated it in uint8 (5 -> 251). Both compute in exp's float type (float16 here).
    b, u = T.tensor("bool", (False,), "b"), T.tensor("uint8", (False,), "u")
    f = symgrad.function([b, u], [T.sigmoid(b), T.sigmoid(u), T.softplus(u)], mode=mode)
    bv, uv = np.array([True, False]), np.array([5, 0], np.uint8)
    want = [1 / (1 + np.exp(-bv.astype(np.float16))), 1 / (1 + np.exp(-uv.astype(np.float16))),
            np.logaddexp(np.float16(0), uv.astype(np.float16))]
    for got, ref in zip(f(bv, uv), want):
        assert got.dtype == ref.dtype == np.float16
        np.testing.assert_allclose(got, ref, rtol=2e-3)


def test_gradient_with_float_offset_inside_log_of_softplus_compiles(mode):
    # The stabilizer's partial fractions raised sympy's PolynomialDivisionFailed (float
    # coefficients: it cannot tell whether a remainder is zero) and the function did not compile.
    x, w = T.dvector("x"), T.dvector("w")
    cost = T.sigmoid(x).sum() + T.softplus(x).sum() + (w * T.log(T.softplus(x) + 0.1)).sum()
    f = symgrad.function([x, w], T.grad(cost, x), mode=mode)
    xv, wv = np.array([0.3, -1.2]), np.array([0.7, 1.5])
    s, sp = 1 / (1 + np.exp(-xv)), np.logaddexp(0, xv)
    np.testing.assert_allclose(f(xv, wv), s * (1 - s) + s + wv * s / (sp + 0.1), rtol=1e-13)
