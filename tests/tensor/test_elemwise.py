"""Elementwise ops (symgrad/tensor/elemwise.py): values against numpy, gradients by finite
differences, numpy 2 dtype promotion, and broadcasting (values and gradients)."""
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

import symgrad
import symgrad.tensor as T

from ._cases import (Case, assert_matches, away_from_integers, booleans, check_grad, check_value,
                     choice, fixed, grad_params, integers, nonzero_integers, params, signed, uniform)

X = uniform(-2, 2)                     # any float
POS = uniform(0.5, 2)                  # log, sqrt, divisors, pow bases
SIGNED = signed(0.2, 2)                # away from the kink at 0
TIES = choice([-1.0, 0.0, 1.0])        # comparisons see equal values
INT = integers(-5, 6)
POS_INT = integers(0, 6)
DIVISOR = nonzero_integers(-4, 5)
F32 = uniform(-2, 2, dtype="float32")
# exact halves (and the largest double below 0.5, which floor(x + 0.5) would round up) for round
HALVES = choice([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999999999999994, -1.2, 0.0])
AWAY_FROM_HALVES = fixed([[0.2, 1.3, -0.8], [2.7, -1.1, 0.9]])


def _round_half_up(a):
    """Halves away from zero, by exact decimal arithmetic (an independent reference)."""
    rounded = [float(Decimal(float(v)).to_integral_value(ROUND_HALF_UP)) for v in np.ravel(a)]
    return np.asarray(rounded, dtype=a.dtype).reshape(np.shape(a))


# a / b away from integers (floor division and mod jump there); b of both signs
A_DIV = fixed([[1.3, -2.7, 0.4], [5.5, -0.6, 3.3]])
B_DIV = fixed([[1.0, 1.0, 2.0], [-2.0, 1.0, -1.5]])
# maximum/minimum points: |a - b| >= 0.2, so finite differences never cross a tie
A_MAX = fixed([[0.3, -1.2, 1.5], [-0.4, 2.0, 0.1]])
B_MAX = fixed([[-0.5, 0.4, 0.9], [0.6, 1.1, -0.8]])
# clip(x, -0.5, 0.5) points away from the bounds
CLIP_X = choice([-1.3, -0.8, -0.3, 0.1, 0.35, 0.7, 1.6])
# divisors for 5.0 % b, with 5 / b away from integers
RMOD_B = fixed([[1.3, 2.2, 0.9], [1.7, 3.1, 1.1]])

ELEMWISE = [
    # arithmetic, float64 ---------------------------------------------------------------------
    Case("add", lambda a, b: a + b, np.add, (X, X)),
    Case("T.add", T.add, np.add, (X, X)),
    Case("sub", lambda a, b: a - b, np.subtract, (X, X)),
    Case("T.sub", T.sub, np.subtract, (X, X)),
    Case("mul", lambda a, b: a * b, np.multiply, (X, X)),
    Case("T.mul", T.mul, np.multiply, (X, X)),
    Case("truediv", lambda a, b: a / b, np.true_divide, (X, POS)),
    Case("T.true_div", T.true_div, np.true_divide, (X, SIGNED)),
    Case("floordiv", lambda a, b: a // b, np.floor_divide, (A_DIV, B_DIV)),
    Case("T.floor_div", T.floor_div, np.floor_divide, (A_DIV, B_DIV)),
    Case("mod", lambda a, b: a % b, np.mod, (A_DIV, B_DIV)),
    Case("T.mod", T.mod, np.mod, (A_DIV, B_DIV)),
    Case("pow", lambda a, b: a ** b, np.power, (POS, X)),
    Case("T.pow", T.pow, np.power, (POS, X)),
    Case("neg", lambda a: -a, np.negative, (X,)),
    Case("T.neg", T.neg, np.negative, (X,)),
    Case("pos", lambda a: +a, np.positive, (X,)),
    Case("abs", lambda a: abs(a), np.abs, (SIGNED,)),
    Case("T.abs_", T.abs_, np.abs, (SIGNED,)),
    Case("T.sqr", T.sqr, np.square, (X,)),
    Case("self_sub", lambda a: a - a, lambda a: a - a, (X,)),
    Case("self_mul", lambda a: a * a, lambda a: a * a, (X,)),
    # with Python scalars (weak: the tensor's dtype wins) ---------------------------------------
    Case("add_int", lambda a: a + 2, lambda a: a + 2, (X,)),
    Case("radd_float", lambda a: 1.5 + a, lambda a: 1.5 + a, (X,)),
    Case("rsub_int", lambda a: 2 - a, lambda a: 2 - a, (X,)),
    Case("mul_float", lambda a: a * 2.5, lambda a: a * 2.5, (X,)),
    Case("rmul_int", lambda a: 3 * a, lambda a: 3 * a, (X,)),
    Case("div_int", lambda a: a / 4, lambda a: a / 4, (X,)),
    Case("div_int3", lambda a: a / 3, lambda a: a / 3, (X,)),
    Case("div_float", lambda a: a / 2.5, lambda a: a / 2.5, (X,)),
    Case("rdiv_float", lambda a: 3.0 / a, lambda a: 3.0 / a, (SIGNED,)),
    Case("pow_int", lambda a: a ** 3, lambda a: a ** 3, (X,)),
    Case("pow_half", lambda a: a ** 0.5, lambda a: a ** 0.5, (POS,)),
    Case("pow_minus_one", lambda a: a ** -1, lambda a: a ** -1, (SIGNED,)),
    Case("rpow_int", lambda a: 2 ** a, lambda a: 2 ** a, (X,)),
    Case("floordiv_float", lambda a: a // 0.5, lambda a: a // 0.5,
         (away_from_integers(-3, 3),), grad=(fixed([[0.1, -0.3, 0.7], [1.2, -0.9, 0.4]]),)),
    Case("mod_int", lambda a: a % 2, lambda a: a % 2, (away_from_integers(-3, 3),)),
    Case("rmod_float", lambda b: 5.0 % b, lambda b: 5.0 % b, (RMOD_B,)),
    # with numpy arrays and scalars on the left (numpy must defer to the symbolic operand)
    Case("ndarray_mul", lambda a: np.full((2, 3), 1.5) * a, lambda a: np.full((2, 3), 1.5) * a, (X,)),
    Case("ndarray_radd_vector", lambda a: np.arange(3.0) + a, lambda a: np.arange(3.0) + a, (X,)),
    Case("ndarray_sub", lambda a: np.ones(3) - a, lambda a: np.ones(3) - a, (X,)),
    Case("ndarray_div", lambda a: np.ones(3) / a, lambda a: np.ones(3) / a, (SIGNED,)),
    Case("ndarray_pow", lambda a: np.full(3, 2.0) ** a, lambda a: np.full(3, 2.0) ** a, (X,)),
    Case("ndarray_lt", lambda a: np.zeros(3) < a, lambda a: np.zeros(3) < a, (TIES,), grad=False),
    Case("np_float64_mul", lambda a: np.float64(2.5) * a, lambda a: np.float64(2.5) * a, (X,)),
    Case("np_float64_mul_float32", lambda a: np.float64(2.5) * a, lambda a: np.float64(2.5) * a, (F32,)),
    Case("np_float32_mul_float32", lambda a: np.float32(2.5) * a, lambda a: np.float32(2.5) * a, (F32,)),
    Case("np_int64_add_int8", lambda a: np.int64(100) + a, lambda a: np.int64(100) + a,
         (fixed([[100, -5, 27], [127, -128, 0]], dtype="int8"),), grad=False),
    Case("constant_float64_mul_float32", lambda a: T.constant(0.1) * a, lambda a: np.float64(0.1) * a, (F32,)),
    Case("constant_int64_mul_int8", lambda a: a * T.constant(3, dtype="int64"), lambda a: a * np.int64(3),
         (fixed([[100, -5, 27], [127, -128, 0]], dtype="int8"),), grad=False),
    Case("np_int8_sub_int8", lambda a: np.int8(3) - a, lambda a: np.int8(3) - a,
         (integers(-5, 6, dtype="int8"),), grad=False),
    # arithmetic, integers (not differentiable) ------------------------------------------------
    Case("add_int32", lambda a, b: a + b, np.add, (INT, INT), grad=False),
    Case("sub_int32", lambda a, b: a - b, np.subtract, (INT, INT), grad=False),
    Case("mul_int32", lambda a, b: a * b, np.multiply, (INT, INT), grad=False),
    Case("truediv_int32", lambda a, b: a / b, np.true_divide, (INT, DIVISOR), grad=False),
    Case("floordiv_int32", lambda a, b: a // b, np.floor_divide, (INT, DIVISOR), grad=False),
    Case("mod_int32", lambda a, b: a % b, np.mod, (INT, DIVISOR), grad=False),
    Case("pow_int32", lambda a, b: a ** b, np.power, (INT, integers(0, 4)), grad=False),
    Case("neg_int32", lambda a: -a, np.negative, (INT,), grad=False),
    Case("abs_int32", lambda a: abs(a), np.abs, (INT,), grad=False),
    Case("int32_floordiv_int", lambda a: a // 2, lambda a: a // 2, (INT,), grad=False),
    Case("int32_mod_int", lambda a: a % 3, lambda a: a % 3, (INT,), grad=False),
    Case("int32_div_int", lambda a: a / 2, lambda a: a / 2, (INT,), grad=False),
    Case("int64_mul_int", lambda a: a * 7, lambda a: a * 7, (integers(-5, 6, dtype="int64"),), grad=False),
    Case("int8_add_int", lambda a: a + 3, lambda a: a + 3, (integers(-5, 6, dtype="int8"),), grad=False),
    Case("int8_add_int16", lambda a, b: a + b, np.add,
         (integers(-5, 6, dtype="int8"), integers(-5, 6, dtype="int16")), grad=False),
    Case("uint8_add_int8", lambda a, b: a + b, np.add,
         (integers(0, 6, dtype="uint8"), integers(-5, 6, dtype="int8")), grad=False),
    Case("int32_add_float", lambda a: a + 0.5, lambda a: a + 0.5, (INT,), grad=False),
    Case("int32_mul_float64", lambda a, b: a * b, np.multiply, (INT, X)),
    Case("bool_add_bool", lambda a, b: a + b, np.add, (booleans(), booleans()), grad=False),
    Case("bool_mul_int32", lambda a, b: a * b, np.multiply, (booleans(), INT), grad=False),
    Case("bool_mul_float", lambda a, b: a * b, np.multiply, (booleans(), X)),
    Case("int_sub_bool", lambda a: 1 - a, lambda a: 1 - a, (booleans(),), grad=False),
    Case("bool_div_negative_int", lambda a: a / -3, lambda a: a / -3, (booleans(),), grad=False),
    Case("bool_mul_negative_float", lambda a: a * -2.5, lambda a: a * -2.5, (booleans(),), grad=False),
    Case("neg_bool_times_float", lambda a, b: -(a * b), lambda a, b: -(a * b), (booleans(), X)),
    Case("float_sub_bool_times_float", lambda a, b: b - a * b, lambda a, b: b - a * b, (booleans(), X)),
    Case("bool_weighted_log", lambda t, o: -(t * T.log(o) + (1 - t) * T.log(1 - o)),
         lambda t, o: -(t * np.log(o) + (1 - t) * np.log(1 - o)), (booleans(), uniform(0.1, 0.9))),
    # comparisons (bool output) ----------------------------------------------------------------
    Case("lt", lambda a, b: a < b, np.less, (TIES, TIES), grad=False),
    Case("le", lambda a, b: a <= b, np.less_equal, (TIES, TIES), grad=False),
    Case("gt", lambda a, b: a > b, np.greater, (TIES, TIES), grad=False),
    Case("ge", lambda a, b: a >= b, np.greater_equal, (TIES, TIES), grad=False),
    Case("T.lt", T.lt, np.less, (TIES, TIES), grad=False),
    Case("T.le", T.le, np.less_equal, (TIES, TIES), grad=False),
    Case("T.gt", T.gt, np.greater, (TIES, TIES), grad=False),
    Case("T.ge", T.ge, np.greater_equal, (TIES, TIES), grad=False),
    Case("T.eq", T.eq, np.equal, (TIES, TIES), grad=False),
    Case("T.neq", T.neq, np.not_equal, (TIES, TIES), grad=False),
    Case("lt_scalar", lambda a: a < 0.0, lambda a: a < 0.0, (TIES,), grad=False),
    Case("rgt_scalar", lambda a: 0.0 > a, lambda a: 0.0 > a, (TIES,), grad=False),
    Case("T.eq_scalar", lambda a: T.eq(a, 1), lambda a: a == 1, (TIES,), grad=False),
    Case("ge_int32", lambda a, b: a >= b, np.greater_equal, (INT, INT), grad=False),
    Case("lt_int32_float32", lambda a, b: a < b, np.less, (INT, F32), grad=False),
    Case("T.eq_bool", T.eq, np.equal, (booleans(), booleans()), grad=False),
    # logic: bool and int ------------------------------------------------------------------------
    Case("and_bool", lambda a, b: a & b, np.bitwise_and, (booleans(), booleans()), grad=False),
    Case("or_bool", lambda a, b: a | b, np.bitwise_or, (booleans(), booleans()), grad=False),
    Case("xor_bool", lambda a, b: a ^ b, np.bitwise_xor, (booleans(), booleans()), grad=False),
    Case("invert_bool", lambda a: ~a, np.invert, (booleans(),), grad=False),
    Case("T.and_", T.and_, np.bitwise_and, (booleans(), booleans()), grad=False),
    Case("T.or_", T.or_, np.bitwise_or, (booleans(), booleans()), grad=False),
    Case("T.xor", T.xor, np.bitwise_xor, (booleans(), booleans()), grad=False),
    Case("T.invert", T.invert, np.invert, (booleans(),), grad=False),
    Case("and_int32", lambda a, b: a & b, np.bitwise_and, (INT, INT), grad=False),
    Case("or_int32", lambda a, b: a | b, np.bitwise_or, (INT, INT), grad=False),
    Case("xor_int32", lambda a, b: a ^ b, np.bitwise_xor, (INT, INT), grad=False),
    Case("invert_int32", lambda a: ~a, np.invert, (INT,), grad=False),
    Case("and_int8_int", lambda a: a & 6, lambda a: a & 6, (integers(-5, 6, dtype="int8"),), grad=False),
    Case("and_comparisons", lambda a, b: (a > 0) & (b < 0), lambda a, b: (a > 0) & (b < 0), (TIES, TIES), grad=False),
    Case("or_comparisons", lambda a, b: (a > 0) | ~(b < 0), lambda a, b: (a > 0) | ~(b < 0), (TIES, TIES), grad=False),
    # unary math ----------------------------------------------------------------------------------
    Case("exp", T.exp, np.exp, (X,)),
    Case("log", T.log, np.log, (POS,)),
    Case("log1p", T.log1p, np.log1p, (uniform(-0.5, 2),)),
    Case("expm1", T.expm1, np.expm1, (X,)),
    Case("sqrt", T.sqrt, np.sqrt, (POS,)),
    Case("tanh", T.tanh, np.tanh, (X,)),
    Case("sin", T.sin, np.sin, (X,)),
    Case("cos", T.cos, np.cos, (X,)),
    Case("sign", T.sign, np.sign, (choice([-1.5, -0.5, 0.0, 0.5, 2.0]),), grad=(SIGNED,)),
    Case("floor", T.floor, np.floor, (away_from_integers(-3, 3),)),
    Case("ceil", T.ceil, np.ceil, (away_from_integers(-3, 3),)),
    Case("trunc", T.trunc, np.trunc, (choice([-2.5, -1.7, -0.2, 0.0, 0.6, 3.5]),), grad=(AWAY_FROM_HALVES,)),
    Case("round", T.round, np.round, (HALVES,), grad=(AWAY_FROM_HALVES,)),
    Case("round_half_to_even", T.round_half_to_even, np.round, (HALVES,), grad=False),
    Case("round_half_away", lambda a: T.round(a, mode="half_away_from_zero"), _round_half_up, (HALVES,),
         grad=(AWAY_FROM_HALVES,)),
    Case("round_float32", T.round, np.round, (choice([-1.5, 0.5, 2.5, 0.2], dtype="float32"),), grad=False),
    Case("round_half_away_float32", T.round_half_away_from_zero, _round_half_up,
         (choice([-1.5, 0.5, 2.5, 0.2], dtype="float32"),), grad=False),
    Case("iround", T.iround, lambda a: np.round(a).astype("int64"), (HALVES,), grad=False),
    Case("exp_method", lambda a: a.exp(), np.exp, (X,)),
    Case("log_method", lambda a: a.log(), np.log, (POS,)),
    Case("exp_int32", T.exp, np.exp, (INT,), grad=False),
    Case("sqrt_int32", T.sqrt, np.sqrt, (POS_INT,), grad=False),
    Case("log_int8", T.log, np.log, (integers(1, 6, dtype="int8"),), grad=False),
    Case("sin_bool", T.sin, np.sin, (booleans(),), grad=False),
    Case("sign_int32", T.sign, np.sign, (INT,), grad=False),
    Case("floor_int32", T.floor, np.floor, (INT,), grad=False),
    Case("exp_float32", T.exp, np.exp, (F32,)),
    Case("tanh_float32", T.tanh, np.tanh, (F32,)),
    Case("sqrt_float32", T.sqrt, np.sqrt, (uniform(0.5, 2, dtype="float32"),)),
    Case("log_float32", T.log, np.log, (uniform(0.5, 2, dtype="float32"),)),
    # maximum, minimum, clip, switch -------------------------------------------------------------
    Case("maximum", T.maximum, np.maximum, (A_MAX, B_MAX)),
    Case("minimum", T.minimum, np.minimum, (A_MAX, B_MAX)),
    Case("maximum_ties", T.maximum, np.maximum, (TIES, TIES), grad=(A_MAX, B_MAX)),
    Case("maximum_scalar", lambda a: T.maximum(a, 0.0), lambda a: np.maximum(a, 0.0), (SIGNED,)),
    Case("minimum_int_scalar", lambda a: T.minimum(a, 1), lambda a: np.minimum(a, 1), (SIGNED,)),
    Case("maximum_int32", T.maximum, np.maximum, (INT, INT), grad=False),
    Case("minimum_int32_float", T.minimum, np.minimum, (INT, X)),
    Case("clip", lambda a: T.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5), (CLIP_X,)),
    Case("clip_method", lambda a: a.clip(-0.5, 0.5), lambda a: a.clip(-0.5, 0.5), (CLIP_X,)),
    Case("clip_tensor_bounds", T.clip, np.clip,
         (CLIP_X, fixed([[-0.5, -1.0, -0.2], [0.0, -2.0, -0.6]]), fixed([[0.5, 0.2, 0.8], [0.9, 0.5, 1.0]]))),
    Case("clip_int32", lambda a: T.clip(a, -2, 3), lambda a: np.clip(a, -2, 3), (INT,), grad=False),
    Case("clip_float32", lambda a: T.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5),
         (choice([-1.3, -0.8, -0.3, 0.1, 0.35, 0.7, 1.6], dtype="float32"),)),
    Case("switch", T.switch, np.where, (booleans(), X, X)),
    Case("where", T.where, np.where, (booleans(), X, X)),
    Case("switch_comparison", lambda a, b: T.switch(a > b, a, b), lambda a, b: np.where(a > b, a, b), (A_MAX, B_MAX)),
    Case("switch_scalar_branch", lambda a: T.switch(a > 0, a, 0.0), lambda a: np.where(a > 0, a, 0.0), (SIGNED,)),
    Case("switch_int_cond", lambda c, a, b: T.switch(c, a, b), np.where, (integers(0, 3), X, X)),
    Case("switch_int32_float", T.switch, np.where, (booleans(), INT, X)),
    Case("switch_int8_int", lambda c, a: T.switch(c, a, 1), lambda c, a: np.where(c, a, 1),
         (booleans(), integers(-5, 6, dtype="int8")), grad=False),
    Case("switch_bool", T.switch, np.where, (booleans(), booleans(), booleans()), grad=False),
    Case("switch_float32_python_float", lambda c, a: T.switch(c, a, 0.5), lambda c, a: np.where(c, a, 0.5),
         (booleans(), F32)),
    Case("maximum_float32_python_float", lambda a: T.maximum(a, 0.5), lambda a: np.maximum(a, 0.5),
         (choice([-1.0, 0.2, 0.9, 1.7], dtype="float32"),)),
    Case("clip_int32_float_bounds", lambda a: T.clip(a, 0.5, 2.5), lambda a: np.clip(a, 0.5, 2.5), (INT,),
         grad=False),
    # casts ---------------------------------------------------------------------------------------
    Case("cast_float32", lambda a: T.cast(a, "float32"), lambda a: a.astype("float32"), (X,)),
    Case("cast_float32_to_float64", lambda a: T.cast(a, "float64"), lambda a: a.astype("float64"), (F32,)),
    Case("cast_int32", lambda a: T.cast(a, "int32"), lambda a: a.astype("int32"), (uniform(-4, 4),), grad=False),
    Case("cast_int8_to_float64", lambda a: T.cast(a, "float64"), lambda a: a.astype("float64"),
         (integers(-5, 6, dtype="int8"),), grad=False),
    Case("cast_bool_to_int64", lambda a: T.cast(a, "int64"), lambda a: a.astype("int64"), (booleans(),), grad=False),
    Case("cast_float_to_bool", lambda a: T.cast(a, "bool"), lambda a: a.astype("bool"), (TIES,), grad=False),
    Case("cast_int_to_bool", lambda a: T.cast(a, "bool"), lambda a: a.astype("bool"), (INT,), grad=False),
    Case("cast_same_dtype", lambda a: T.cast(a, "float64"), lambda a: a.astype("float64"), (X,)),
    Case("astype", lambda a: a.astype("float32"), lambda a: a.astype("float32"), (X,)),
    # zeros_like / ones_like ------------------------------------------------------------------
    Case("zeros_like", T.zeros_like, np.zeros_like, (X,)),
    Case("ones_like", T.ones_like, np.ones_like, (X,)),
    Case("zeros_like_int32", T.zeros_like, np.zeros_like, (INT,), grad=False),
    Case("ones_like_bool", T.ones_like, np.ones_like, (booleans(),), grad=False),
    Case("ones_like_dtype", lambda a: T.ones_like(a, "float32"), lambda a: np.ones_like(a, "float32"), (INT,), grad=False),
    Case("zeros_like_dtype", lambda a: T.zeros_like(a, dtype="int8"), lambda a: np.zeros_like(a, "int8"), (X,), grad=False),
    Case("ones_like_times", lambda a: a * T.ones_like(a), lambda a: a * np.ones_like(a), (X,)),
    # compositions ----------------------------------------------------------------------------
    Case("polynomial", lambda a, b: a * b + a ** 2 - 3 * b, lambda a, b: a * b + a ** 2 - 3 * b, (X, X)),
    Case("exp_tanh_mix", lambda a, b: T.exp(-a * a) * T.tanh(b) + T.log(1 + a * a),
         lambda a, b: np.exp(-a * a) * np.tanh(b) + np.log(1 + a * a), (X, X)),
    Case("float32_chain", lambda a: T.tanh(a * 2) + a / 3, lambda a: np.tanh(a * 2) + a / 3, (F32,)),
]


@pytest.mark.parametrize("case", params(ELEMWISE))
def test_value(case, mode):
    check_value(case, mode)


@pytest.mark.parametrize("case", grad_params(ELEMWISE))
def test_grad(case, mode):
    check_grad(case, mode)


# --- ints and bools are not differentiable: grad through them is zero --------------------------------
def test_grad_through_comparison_is_zero(mode):
    x = T.dvector("x")
    g = symgrad.grad(T.switch(x > 0, x, 0.0).sum() + T.cast(x > 0, "float64").sum(), x)
    got = g.eval({x: np.array([-1.0, 2.0, 0.5])}, mode=mode)
    np.testing.assert_array_equal(got, [0.0, 1.0, 1.0])
    assert got.dtype == np.float64


def test_maximum_tie_sends_gradient_to_first_argument(mode):
    a, b = T.dvectors("a", "b")
    ga, gb = symgrad.grad(T.maximum(a, b).sum(), [a, b])
    f = symgrad.function([a, b], [ga, gb], mode=mode)
    got_a, got_b = f([1.0, 2.0, 3.0], [1.0, 1.0, 4.0])
    np.testing.assert_array_equal(got_a, [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(got_b, [0.0, 0.0, 1.0])


def test_switch_gradient_of_guarded_branch_is_finite(mode):
    # The usual idiom: the untaken branch is evaluated on a safe value, so no 0 * inf appears.
    x = T.dvector("x")
    y = T.switch(x > 0, T.sqrt(T.switch(x > 0, x, 1.0)), 0.0)
    g = symgrad.grad(y.sum(), x)
    got = g.eval({x: np.array([-1.0, 0.0, 4.0])}, mode=mode)
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.25])


# --- division by a Python int is numpy's division, not a multiplication by the reciprocal -------------
def test_division_by_python_int_is_bit_exact(mode):
    x = T.dvector("x")
    v = np.random.default_rng(7).uniform(-2, 2, 200)
    f = symgrad.function([x], [x / 3, -x / 3, 2 * x / 3, T.exp(x) / 7], mode=mode)
    *divisions, exp_div = f(v)
    for got, expected in zip(divisions, [v / 3, -v / 3, 2 * v / 3]):
        np.testing.assert_array_equal(got, expected)
    # numba's exp is libm's and numpy's is its own SIMD code: they may differ in the last bit
    np.testing.assert_array_max_ulp(exp_div, np.exp(v) / 7, maxulp=0 if mode == "numpy" else 2)


# --- dtype promotion (numpy 2 rules) ------------------------------------------------------------------
def _sym(dtype, ndim=1, name="x"):
    return T.tensor(dtype, (False,) * ndim, name)


PROMOTION = [
    # (id, input dtypes, builder, numpy reference, expected dtype)
    ("float32*2", ("float32",), lambda a: a * 2, lambda a: a * 2, "float32"),
    ("float32*2.5", ("float32",), lambda a: a * 2.5, lambda a: a * 2.5, "float32"),
    ("2.5*float32", ("float32",), lambda a: 2.5 * a, lambda a: 2.5 * a, "float32"),
    ("float32/2", ("float32",), lambda a: a / 2, lambda a: a / 2, "float32"),
    ("float32**2", ("float32",), lambda a: a ** 2, lambda a: a ** 2, "float32"),
    ("exp(float32)", ("float32",), T.exp, np.exp, "float32"),
    ("int32/int32", ("int32", "int32"), lambda a, b: a / b, np.true_divide, "float64"),
    ("int64/int", ("int64",), lambda a: a / 2, lambda a: a / 2, "float64"),
    ("int32//int32", ("int32", "int32"), lambda a, b: a // b, np.floor_divide, "int32"),
    ("float64<float64", ("float64", "float64"), lambda a, b: a < b, np.less, "bool"),
    ("int32>=float32", ("int32", "float32"), lambda a, b: a >= b, np.greater_equal, "bool"),
    ("T.eq(float32,2)", ("float32",), lambda a: T.eq(a, 2), lambda a: a == 2, "bool"),
    ("mean(int32)", ("int32",), T.mean, np.mean, "float64"),
    ("mean(int8,axis=0)", ("int8",), lambda a: a.mean(axis=0), lambda a: a.mean(axis=0), "float64"),
    ("mean(bool)", ("bool",), T.mean, np.mean, "float64"),
    ("mean(float32)", ("float32",), T.mean, np.mean, "float32"),
    ("int8+1", ("int8",), lambda a: a + 1, lambda a: a + 1, "int8"),
    ("int8*int", ("int8",), lambda a: a * 3, lambda a: a * 3, "int8"),
    ("int8+int8", ("int8", "int8"), lambda a, b: a + b, np.add, "int8"),
    ("int8+int32", ("int8", "int32"), lambda a, b: a + b, np.add, "int32"),
    ("int8+0.5", ("int8",), lambda a: a + 0.5, lambda a: a + 0.5, "float64"),
    ("float32+float64", ("float32", "float64"), lambda a, b: a + b, np.add, "float64"),
    ("float32+int32", ("float32", "int32"), lambda a, b: a + b, np.add, "float64"),
    ("float32+int8", ("float32", "int8"), lambda a, b: a + b, np.add, "float32"),
    ("bool+bool", ("bool", "bool"), lambda a, b: a + b, np.add, "bool"),
    ("bool+1", ("bool",), lambda a: a + 1, lambda a: a + 1, "int64"),
    ("sum(int32)", ("int32",), T.sum, np.sum, "int64"),
    ("sum(bool)", ("bool",), T.sum, np.sum, "int64"),
    ("sum(float32)", ("float32",), T.sum, np.sum, "float32"),
    ("prod(int8)", ("int8",), T.prod, np.prod, "int64"),
    ("max(int8)", ("int8",), T.max, np.max, "int8"),
    ("max(bool)", ("bool",), T.max, np.max, "bool"),
    ("sqrt(int32)", ("int32",), T.sqrt, np.sqrt, "float64"),
    ("sqrt(int8)", ("int8",), T.sqrt, np.sqrt, "float16"),
    ("sigmoid(float32)", ("float32",), T.nnet.sigmoid, lambda a: 1 / (1 + np.exp(-a)), "float32"),
    ("sigmoid(int32)", ("int32",), T.nnet.sigmoid, lambda a: 1 / (1 + np.exp(-a)), "float64"),
    ("var(int32)", ("int32",), T.var, np.var, "float64"),
]


@pytest.mark.parametrize("names,dtypes,build,ref,expected", [pytest.param(*p, id=p[0]) for p in PROMOTION])
def test_dtype_promotion(names, dtypes, build, ref, expected, mode):
    rng = np.random.default_rng(5)
    values = [(rng.integers(0, 2, 4).astype(bool) if d == "bool" else
               rng.integers(1, 5, 4).astype(d) if d[0] in "iu" else rng.uniform(0.5, 2, 4).astype(d))
              for d in dtypes]
    inputs = [_sym(d, 1, f"x{i}") for i, d in enumerate(dtypes)]
    out = build(*inputs)
    assert out.dtype == expected, f"{names}: symbolic dtype {out.dtype}, expected {expected}"
    got = symgrad.function(inputs, out, mode=mode)(*values)
    assert got.dtype == np.dtype(expected), f"{names}: computed dtype {got.dtype}, expected {expected}"
    assert_matches(out, got, ref(*values), rtol=1e-12 if expected == "float64" else 1e-3, what=names)


def test_weak_python_scalars_do_not_upcast_gradients(mode):
    x = T.fvector("x")
    y = (x * 2.5 + 1) ** 2
    g = symgrad.grad(y.sum(), x)
    assert y.dtype == "float32" and g.dtype == "float32"
    got = g.eval({x: np.array([1.0, -0.5], dtype="float32")}, mode=mode)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [5 * (2.5 + 1), 5 * (-1.25 + 1)], rtol=1e-6)


# --- broadcasting ----------------------------------------------------------------------------------
ROW = (True, False)
COL = (False, True)
BROADCAST = [
    Case("row+matrix", lambda r, m: r + m, np.add, (uniform(-1, 1, (1, 3)), X), bc=(ROW, None)),
    Case("matrix*row", lambda m, r: m * r, np.multiply, (X, uniform(-1, 1, (1, 3))), bc=(None, ROW)),
    Case("col*matrix", lambda c, m: c * m, np.multiply, (uniform(-1, 1, (2, 1)), X), bc=(COL, None)),
    Case("matrix-col", lambda m, c: m - c, np.subtract, (X, uniform(-1, 1, (2, 1))), bc=(None, COL)),
    Case("col+row", lambda c, r: c + r, np.add, (uniform(-1, 1, (2, 1)), uniform(-1, 1, (1, 3))), bc=(COL, ROW)),
    Case("scalar+matrix", lambda s, m: s + m, np.add, (uniform(-1, 1, ()), X)),
    Case("matrix/scalar", lambda m, s: m / s, np.true_divide, (X, uniform(0.5, 2, ()))),
    Case("vector+matrix", lambda v, m: v + m, np.add, (uniform(-1, 1, (3,)), X)),
    Case("matrix*vector", lambda m, v: m * v, np.multiply, (X, uniform(-1, 1, (3,)))),
    Case("vector*tensor3", lambda v, t: v * t, np.multiply, (uniform(-1, 1, (3,)), uniform(-1, 1, (2, 2, 3)))),
    Case("row*vector", lambda r, v: r * v, np.multiply, (uniform(-1, 1, (1, 3)), uniform(-1, 1, (3,))), bc=(ROW, None)),
    Case("switch_row_cond", lambda c, a, b: T.switch(c, a, b), np.where,
         (booleans((1, 3)), X, uniform(-1, 1, (2, 1))), bc=(ROW, None, COL)),
    Case("maximum_col", T.maximum, np.maximum, (uniform(-1, 1, (2, 1)), X), bc=(COL, None)),
]


@pytest.mark.parametrize("case", params(BROADCAST))
def test_broadcast_value(case, mode):
    check_value(case, mode)


def _as_declared(v, bc):
    """Inside verify_grad every input is non-broadcastable: reshape restores a row or a column."""
    if bc == ROW:
        return v.reshape((1, -1))
    if bc == COL:
        return v.reshape((-1, 1))
    return v


def _declared_build(case):
    bcs = case.bc or (None,) * len(case.inputs)
    return lambda *xs: case.build(*[_as_declared(x, bc) for x, bc in zip(xs, bcs)])


# The same cases for verify_grad, their inputs reshaped to the declared rows and columns.
BROADCAST_GRAD = [Case(c.name, _declared_build(c), c.ref, c.inputs, bc=c.bc) for c in BROADCAST]


@pytest.mark.parametrize("case", grad_params(BROADCAST_GRAD))
def test_broadcast_grad(case, mode):
    bcs = case.bc or (None,) * len(case.inputs)
    if any(bc is not None for bc in bcs):
        # The reshapes really do make rows/columns: that is what this test is about.
        probe = [T.tensor("float64", (False,) * 2) for _ in range(2)]
        assert _as_declared(probe[0], ROW).broadcastable == ROW
        assert _as_declared(probe[1], COL).broadcastable == COL
    check_grad(case, mode)  # verify_grad at draw(case.inputs)


def test_row_gradient_is_summed_over_rows(mode):
    r, m = T.drow("r"), T.dmatrix("m")
    cost = (r * m).sum() + (3 * r).sum()
    g = symgrad.grad(cost, r)
    assert g.type == r.type
    mv = np.arange(6.0).reshape(2, 3)
    got = g.eval({r: np.ones((1, 3)), m: mv}, mode=mode)
    assert got.shape == (1, 3)
    np.testing.assert_array_equal(got, mv.sum(axis=0, keepdims=True) + 3)


def test_col_scalar_and_vector_gradients_are_reduced(mode):
    c, s, v, m = T.dcol("c"), T.dscalar("s"), T.dvector("v"), T.dmatrix("m")
    cost = (c * m + s * m + v * m).sum()
    gc, gs, gv = symgrad.grad(cost, [c, s, v])
    assert (gc.type, gs.type, gv.type) == (c.type, s.type, v.type)
    mv = np.arange(6.0).reshape(2, 3)
    f = symgrad.function([c, s, v, m], [gc, gs, gv], mode=mode)
    got_c, got_s, got_v = f(np.ones((2, 1)), 1.0, np.ones(3), mv)
    np.testing.assert_array_equal(got_c, mv.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(got_s, mv.sum())
    assert got_s.shape == ()
    np.testing.assert_array_equal(got_v, mv.sum(axis=0))


def test_broadcast_pattern_is_static(mode):
    r, c, m = T.drow(), T.dcol(), T.dmatrix()
    assert (r + c).broadcastable == (False, False)
    assert (r + r).broadcastable == (True, False)
    assert (r + m).broadcastable == (False, False)
    assert (T.dscalar() + T.dvector()).broadcastable == (False,)


def test_undeclared_size_one_dimension_does_not_broadcast(mode):
    a, b = T.dmatrices("a", "b")
    f = symgrad.function([a, b], a + b, mode=mode)
    with pytest.raises(ValueError, match="shapes do not match"):
        f(np.ones((1, 3)), np.ones((2, 3)))


def test_elemwise_type_errors():
    with pytest.raises(TypeError):
        T.dvector() & T.dvector()
    with pytest.raises(TypeError):
        ~T.dvector()
    with pytest.raises(TypeError):
        bool(T.dvector() > 0)
    with pytest.raises(TypeError, match=r"round of 'n': expected a float tensor"):
        T.round(T.lvector("n"))
    with pytest.raises(ValueError, match="mode"):
        T.round(T.dvector(), mode="up")
