"""``symgrad.function``: outputs, updates, givens, In, input conversion, failed calls, ``eval``."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.compile.function import Function


# --- outputs ---------------------------------------------------------------------------------
def test_single_scalar_output_is_0d_array(mode):
    x = T.dvector("x")
    f = sg.function([x], x.sum(), mode=mode)
    out = f([1.0, 2.0, 3.0])
    assert isinstance(f, Function)
    assert isinstance(out, np.ndarray)
    assert out.shape == () and out.dtype == np.float64
    assert out == 6.0


def test_single_vector_output_is_array(mode):
    x = T.dvector("x")
    out = sg.function([x], x * 2, mode=mode)(np.array([1.0, -2.0]))
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, [2.0, -4.0])


@pytest.mark.parametrize("container", [list, tuple])
def test_list_of_outputs_returns_list(mode, container):
    x = T.dvector("x")
    f = sg.function([x], container([x + 1, x.sum(), x * x]), mode=mode)
    out = f([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3
    np.testing.assert_array_equal(out[0], [2.0, 3.0])
    assert out[1].shape == () and out[1] == 3.0
    np.testing.assert_array_equal(out[2], [1.0, 4.0])


def test_one_element_list_returns_one_element_list(mode):
    x = T.dscalar("x")
    out = sg.function([x], [x * 3], mode=mode)(2.0)
    assert isinstance(out, list) and len(out) == 1
    assert out[0] == 6.0


def test_no_outputs_returns_empty_list(mode):
    x = T.dscalar("x")
    acc = sg.shared(0.0, name="acc")
    f = sg.function([x], updates=[(acc, acc + x)], mode=mode)
    assert f(2.0) == []
    assert f(3.0) == []
    assert acc.get_value() == 5.0


def test_function_without_inputs(mode):
    f = sg.function([], T.constant(2.0) * 3, mode=mode)
    assert f() == 6.0


def test_same_output_twice(mode):
    x = T.dvector("x")
    y = T.exp(x)
    a, b = sg.function([x], [y, y], mode=mode)([0.0, 1.0])
    np.testing.assert_allclose(a, np.exp([0.0, 1.0]))
    np.testing.assert_array_equal(a, b)
    a[0] = 100.0  # the two outputs must not be one buffer that a caller can corrupt
    assert b[0] == 1.0


def test_output_is_an_input(mode):
    x = T.dvector("x")
    arg = np.array([1.0, 2.0])
    out = sg.function([x], x, mode=mode)(arg)
    np.testing.assert_array_equal(out, arg)
    out[0] = 42.0
    assert arg[0] == 1.0, "returning an input must not alias the caller's array"


def test_inputs_are_not_modified(mode):
    x = T.dvector("x")
    arg = np.array([1.0, 2.0, 3.0])
    sg.function([x], [x * 2, T.set_subtensor(x[0], 9.0)], mode=mode)(arg)
    np.testing.assert_array_equal(arg, [1.0, 2.0, 3.0])


def test_output_does_not_alias_shared_value(mode):
    w = sg.shared(np.arange(3.0), name="w")
    f = sg.function([], w, mode=mode)
    out = f()
    out[:] = -1.0
    np.testing.assert_array_equal(w.get_value(), [0.0, 1.0, 2.0])


def test_repeated_calls_are_independent(mode):
    x = T.dvector("x")
    f = sg.function([x], x ** 2, mode=mode)
    first = f([1.0, 2.0])
    second = f([3.0, 4.0])
    np.testing.assert_array_equal(first, [1.0, 4.0])
    np.testing.assert_array_equal(second, [9.0, 16.0])


def test_function_name_and_mode(mode):
    x = T.dscalar("x")
    f = sg.function([x], x + 1, mode=mode, name="inc")
    assert f.name == "inc"
    assert f.mode == mode
    assert "inc" in repr(f)


# --- updates ---------------------------------------------------------------------------------
def test_updates_as_list_of_pairs(mode):
    x = T.dscalar("x")
    acc = sg.shared(0.0, name="acc")
    f = sg.function([x], acc * 1, updates=[(acc, acc + x)], mode=mode)
    assert f(2.0) == 0.0  # outputs see the old value
    assert acc.get_value() == 2.0
    assert f(5.0) == 2.0
    assert acc.get_value() == 7.0


def test_updates_as_tuple_of_pairs(mode):
    acc = sg.shared(1.0, name="acc")
    f = sg.function([], updates=((acc, acc * 2),), mode=mode)
    f()
    f()
    assert acc.get_value() == 4.0


def test_updates_as_dict(mode):
    a = sg.shared(np.array([1.0, 2.0]), name="a")
    n = sg.shared(0, name="n")
    f = sg.function([], updates={a: a * 10, n: n + 1}, mode=mode)
    f()
    np.testing.assert_array_equal(a.get_value(), [10.0, 20.0])
    assert n.get_value() == 1 and n.get_value().dtype == np.int64


def test_updates_all_computed_from_old_values(mode):
    a = sg.shared(1.0, name="a")
    b = sg.shared(2.0, name="b")
    swap = sg.function([], [a + 0, b + 0], updates=[(a, b), (b, a)], mode=mode)
    out = swap()
    assert [float(o) for o in out] == [1.0, 2.0]
    assert a.get_value() == 2.0 and b.get_value() == 1.0
    swap()
    assert a.get_value() == 1.0 and b.get_value() == 2.0


def test_update_that_depends_on_another_updated_shared(mode):
    # Fibonacci: both new values are computed from the old pair.
    a = sg.shared(0, name="a")
    b = sg.shared(1, name="b")
    step = sg.function([], updates=[(a, b), (b, a + b)], mode=mode)
    for _ in range(10):
        step()
    assert int(a.get_value()) == 55 and int(b.get_value()) == 89


def test_output_returns_old_value_updates_applied_after(mode):
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    f = sg.function([], [w * 1, w.sum()], updates=[(w, w + 1)], mode=mode)
    out, total = f()
    np.testing.assert_array_equal(out, [1.0, 2.0])
    assert total == 3.0
    np.testing.assert_array_equal(w.get_value(), [2.0, 3.0])


def test_update_expression_identical_to_output(mode):
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    new_w = w * 2
    f = sg.function([], new_w, updates=[(w, new_w)], mode=mode)
    out = f()
    np.testing.assert_array_equal(out, [2.0, 4.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 4.0])
    out[0] = -5.0  # the returned array and the stored value must be separate buffers
    np.testing.assert_array_equal(w.get_value(), [2.0, 4.0])


def test_update_to_a_constant(mode):
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    f = sg.function([], updates=[(w, np.zeros(2))], mode=mode)
    f()
    np.testing.assert_array_equal(w.get_value(), [0.0, 0.0])
    # the stored value is writable and independent of the graph's constant
    w.get_value(borrow=True)[0] = 3.0
    f()
    np.testing.assert_array_equal(w.get_value(), [0.0, 0.0])


def test_update_keeps_dtype(mode):
    w = sg.shared(np.ones(3, dtype="float32"), name="w")
    f = sg.function([], updates=[(w, w * 2)], mode=mode)
    f()
    assert w.get_value().dtype == np.float32
    np.testing.assert_array_equal(w.get_value(), [2, 2, 2])


def test_update_with_integer_shared_and_python_int(mode):
    n = sg.shared(np.int32(5), name="n")
    assert n.type is T.iscalar
    f = sg.function([], n, updates=[(n, n + 1)], mode=mode)
    assert f() == 5
    assert n.get_value() == 6 and n.get_value().dtype == np.int32


def test_shared_used_as_implicit_input(mode):
    x = T.dvector("x")
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    f = sg.function([x], x * w, mode=mode)
    np.testing.assert_array_equal(f([3.0, 4.0]), [3.0, 8.0])
    w.set_value(np.array([0.5, 0.5]))
    np.testing.assert_array_equal(f([3.0, 4.0]), [1.5, 2.0])


def test_two_functions_share_state(mode):
    c = sg.shared(0, name="c")
    inc = sg.function([], updates=[(c, c + 1)], mode=mode)
    get = sg.function([], c, mode=mode)
    inc()
    inc()
    assert get() == 2


# --- givens ----------------------------------------------------------------------------------
def test_givens_replace_a_variable_in_outputs(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    f = sg.function([y], x * 2, givens={x: y + 1}, mode=mode)
    assert f(3.0) == 8.0


def test_givens_replace_shared_by_input(mode):
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    v = T.dvector("v")
    f = sg.function([v], (w * 3).sum(), givens=[(w, v)], mode=mode)
    assert f([1.0, 1.0]) == 6.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])


def test_givens_apply_to_updates(mode):
    x = T.dscalar("x")
    y = T.dscalar("y")
    acc = sg.shared(0.0, name="acc")
    f = sg.function([y], [], updates=[(acc, acc + x)], givens={x: y * 10}, mode=mode)
    f(1.0)
    f(2.0)
    assert acc.get_value() == 30.0


def test_givens_replace_an_intermediate(mode):
    x = T.dvector("x")
    h = T.exp(x)
    out = h.sum()
    z = T.dvector("z")
    f = sg.function([z], out, givens={h: z}, mode=mode)
    assert f([1.0, 2.0]) == 3.0


def test_givens_wrong_type_is_rejected():
    x = T.dvector("x")
    m = T.dmatrix("m")
    with pytest.raises(TypeError, match="'x'"):
        sg.function([m], x * 2, givens={x: m})


# --- In: defaults and keyword arguments -------------------------------------------------------
def test_in_default_value(mode):
    x, y = T.dscalars("x", "y")
    f = sg.function([x, sg.In(y, value=2.0)], x * y, mode=mode)
    assert f(3.0) == 6.0
    assert f(3.0, 4.0) == 12.0
    assert f(3.0, y=5.0) == 15.0
    assert f(3.0) == 6.0  # the default is not changed by a call that overrides it


def test_in_keyword_name(mode):
    x, y = T.dscalars("x", "y")
    f = sg.function([x, sg.In(y, value=1.0, name="beta")], x - y, mode=mode)
    assert f(x=3.0, beta=0.5) == 2.5
    assert f(beta=2.0, x=1.0) == -1.0
    with pytest.raises(TypeError, match="'y'"):
        f(1.0, y=2.0)  # the keyword is the In's name, not the variable's


def test_inputs_by_variable_name(mode):
    a, b = T.dscalars("a", "b")
    f = sg.function([a, b], a / b, mode=mode)
    assert f(b=4.0, a=2.0) == 0.5
    assert f(6.0, b=3.0) == 2.0


def test_in_default_array_is_converted_and_reused(mode):
    x = T.dvector("x")
    default = [1, 2, 3]  # ints and a list: converted once to float64
    f = sg.function([sg.In(x, value=default)], x * 2, mode=mode)
    out = f()
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [2.0, 4.0, 6.0])
    out[0] = 100.0
    np.testing.assert_array_equal(f(), [2.0, 4.0, 6.0])


def test_in_bad_default_is_rejected_when_compiling():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="'x'"):
        sg.function([sg.In(x, value=np.ones((2, 2)))], x * 2)


def test_missing_required_input_without_default():
    x, y = T.dscalars("x", "y")
    f = sg.function([x, sg.In(y, value=1.0)], x + y)
    with pytest.raises(TypeError, match="'x'"):
        f()
    with pytest.raises(TypeError, match="'x'"):
        f(y=2.0)


def test_in_requires_a_variable():
    with pytest.raises(TypeError, match="symbolic variable"):
        sg.In(3.0)


# --- input conversion: upcasts accepted, downcasts refused ------------------------------------
def test_safe_upcast_int_array_into_float_input(mode):
    x = T.dvector("x")
    out = sg.function([x], x / 2, mode=mode)(np.array([1, 2, 3], dtype=np.int64))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.5, 1.0, 1.5])


def test_safe_upcast_float32_into_float64(mode):
    x = T.dvector("x")
    out = sg.function([x], x * 1, mode=mode)(np.array([0.5, 1.5], dtype=np.float32))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [0.5, 1.5])


def test_lists_and_python_scalars_accepted(mode):
    x = T.dmatrix("x")
    s = T.dscalar("s")
    i = T.lscalar("i")
    f = sg.function([x, s, i], x * s + i, mode=mode)
    np.testing.assert_array_equal(f([[1, 2], [3, 4]], 2, 1), [[3.0, 5.0], [7.0, 9.0]])
    np.testing.assert_array_equal(f([[1.0, 2.0], [3.0, 4.0]], 0.5, np.int8(0)), [[0.5, 1.0], [1.5, 2.0]])


def test_python_float_into_float32_input(mode):
    x = T.fscalar("x")
    out = sg.function([x], x * 2, mode=mode)(0.1)
    assert out.dtype == np.float32
    assert out == np.float32(0.2)


def test_python_ints_that_fit_into_int32_input(mode):
    i = T.ivector("i")
    out = sg.function([i], i + 1, mode=mode)([1, 2, 3])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, [2, 3, 4])


@pytest.mark.parametrize("value", [
    np.array([1.0, 2.0]),                   # float64 array -> float32 input
    np.array([1, 2], dtype=np.int64),       # int64 -> float32 could lose digits
])
def test_lossy_downcast_into_float32_rejected(value):
    v = T.fvector("v")
    f = sg.function([v], v * 2)
    with pytest.raises(TypeError, match=r"input 'v'.*allow_input_downcast"):
        f(value)


@pytest.mark.parametrize("value", [
    np.array([1, 2], dtype=np.int64),
    np.array([1.0, 2.0]),
    [1.5, 2.0],
    [2 ** 40, 1],
])
def test_lossy_downcast_into_int32_rejected(value):
    i = T.ivector("idx")
    f = sg.function([i], i * 2)
    with pytest.raises(TypeError, match="'idx'"):
        f(value)


def test_float_into_int64_input_rejected():
    n = T.lscalar("n")
    f = sg.function([n], n + 1)
    with pytest.raises(TypeError, match="'n'"):
        f(1.5)
    with pytest.raises(TypeError, match="'n'"):
        f(np.float64(2.0))


def test_allow_input_downcast(mode):
    v = T.fvector("v")
    f = sg.function([v], v * 2, allow_input_downcast=True, mode=mode)
    out = f(np.array([1.0, 2.5]))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [2.0, 5.0])
    i = T.ivector("i")
    g = sg.function([i], i + 0, allow_input_downcast=True, mode=mode)
    assert g(np.array([7, 8], dtype=np.int64)).dtype == np.int32


def test_allow_input_downcast_false_rejects_python_float_into_float32():
    x = T.fscalar("x")
    f = sg.function([x], x * 2, allow_input_downcast=False)
    with pytest.raises(TypeError, match="'x'"):
        f(0.1)


def test_broadcastable_input_accepts_size_one(mode):
    r = T.drow("r")
    m = T.dmatrix("m")
    out = sg.function([r, m], r + m, mode=mode)([[1.0, 2.0]], np.zeros((3, 2)))
    np.testing.assert_array_equal(out, [[1.0, 2.0]] * 3)


def test_empty_arrays(mode):
    x = T.dvector("x")
    out = sg.function([x], [x * 2, x.sum()], mode=mode)(np.zeros(0))
    assert out[0].shape == (0,)
    assert out[1] == 0.0


# --- a failed call changes no shared variable ------------------------------------------------
def _state(*shared):
    return [s.get_value() for s in shared]


def test_bad_input_changes_no_shared(mode):
    x = T.dvector("x")
    w = sg.shared(np.array([1.0, 2.0, 3.0]), name="w")
    n = sg.shared(0, name="n")
    f = sg.function([x], x.sum(), updates=[(n, n + 1), (w, w + x)], mode=mode)
    f([1.0, 1.0, 1.0])
    before = _state(w, n)
    with pytest.raises(TypeError, match="'x'"):
        f(np.ones((3, 1)))
    with pytest.raises(TypeError, match="'x'"):
        f("abc")
    with pytest.raises(ValueError, match="'x'"):
        f([1.0, 2.0])  # shapes of w and x disagree
    after = _state(w, n)
    np.testing.assert_array_equal(after[0], before[0])
    assert after[1] == before[1] == 1


def test_dot_shape_mismatch_deep_in_graph_changes_no_shared(mode):
    X = T.dmatrix("X")
    w = sg.shared(np.ones(3), name="w")
    b = sg.shared(0.0, name="b")
    steps = sg.shared(0, name="steps")
    p = T.sigmoid(T.dot(X, w) + b)
    f = sg.function([X], p, updates=[(steps, steps + 1), (b, b + 1), (w, w * 2)], mode=mode)
    f(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dot.*'X'.*'w'"):
        f(np.ones((2, 4)))
    assert steps.get_value() == 1
    assert b.get_value() == 1.0
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])


def test_out_of_bounds_index_changes_no_shared(mode):
    i = T.lscalar("i")
    w = sg.shared(np.array([1.0, 2.0, 3.0]), name="w")
    n = sg.shared(0, name="n")
    f = sg.function([i], w[i], updates=[(n, n + 1), (w, w * 10)], mode=mode)
    assert f(-1) == 3.0
    with pytest.raises(IndexError, match="'w'"):
        f(3)
    with pytest.raises(IndexError, match="'w'"):
        f(-4)
    assert n.get_value() == 1
    np.testing.assert_array_equal(w.get_value(), [10.0, 20.0, 30.0])


def test_out_of_bounds_update_index_changes_no_shared(mode):
    i = T.lscalar("i")
    w = sg.shared(np.zeros(3), name="w")
    other = sg.shared(5.0, name="other")
    f = sg.function([i], updates=[(other, other + 1), (w, T.inc_subtensor(w[i], 1.0))], mode=mode)
    f(0)
    with pytest.raises(IndexError):
        f(7)
    assert other.get_value() == 6.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 0.0, 0.0])


def test_failed_call_then_good_call(mode):
    x = T.dvector("x")
    acc = sg.shared(np.zeros(2), name="acc")
    f = sg.function([x], updates=[(acc, acc + x)], mode=mode)
    with pytest.raises(ValueError):
        f([1.0, 2.0, 3.0])
    f([1.0, 2.0])
    np.testing.assert_array_equal(acc.get_value(), [1.0, 2.0])


# --- eval --------------------------------------------------------------------------------------
def test_eval_with_variable_keys(mode):
    x, y = T.dscalars("x", "y")
    assert (x * y + 1).eval({x: 2.0, y: 3.0}, mode=mode) == 7.0


def test_eval_with_name_keys(mode):
    x = T.dvector("x")
    y = T.dscalar("y")
    out = (x * y).eval({"x": [1.0, 2.0], "y": 3.0}, mode=mode)
    np.testing.assert_array_equal(out, [3.0, 6.0])


def test_eval_of_constant_and_shared(mode):
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    np.testing.assert_array_equal((w * 2).eval(mode=mode), [2.0, 4.0])
    assert T.constant(3.0).eval(mode=mode) == 3.0
    w.set_value(np.array([5.0, 5.0]))
    np.testing.assert_array_equal((w * 2).eval(mode=mode), [10.0, 10.0])


def test_eval_repeated_uses_new_values(mode):
    x = T.dscalar("x")
    y = x ** 2
    assert y.eval({x: 2.0}, mode=mode) == 4.0
    assert y.eval({x: 3.0}, mode=mode) == 9.0


def test_eval_unknown_name():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="'z'"):
        (x + 1).eval({"z": 1.0})


def test_eval_missing_input():
    x, y = T.dscalars("x", "y")
    with pytest.raises(ValueError, match="'y'"):
        (x + y).eval({x: 1.0})


def test_eval_bad_value():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="'x'"):
        (x + 1).eval({x: [[1.0]]})


def test_two_shared_updated_by_one_expression_do_not_alias(mode):
    src = sg.shared(np.array([1.0, 2.0]), name="src")
    a = sg.shared(np.zeros(2), name="a")
    b = sg.shared(np.zeros(2), name="b")
    new = src * 2
    sg.function([], updates=[(a, new), (b, new)], mode=mode)()
    a.get_value(borrow=True)[0] = -1.0
    np.testing.assert_array_equal(b.get_value(), [2.0, 4.0])
