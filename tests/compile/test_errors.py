"""Errors a user can cause: always TypeError/ValueError (or subclasses), naming the variable."""
import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.compile.function import MissingInputError, UnusedInputError
from symgrad.gradient import DisconnectedInputError


# --- bad values for inputs -------------------------------------------------------------------
@pytest.mark.parametrize("bad, what", [
    (np.array([1 + 1j, 2j]), "complex"),
    (np.array(["a", "b"]), "<U1"),
    (np.array([None, 1.0], dtype=object), "object"),
    ("ab", "<U2"),
    (None, "None"),
    ([[1.0, 2.0], [3.0]], "ragged"),
    ({"a": 1}, "object"),
])
def test_bad_dtype_input(bad, what):
    x = T.dvector("x")
    f = sg.function([x], x * 2)
    with pytest.raises(TypeError, match=rf"input 'x'.*{what}"):
        f(bad)


@pytest.mark.parametrize("value", [1.0, np.zeros((2, 2)), [[1.0]], np.zeros((1, 1, 1))])
def test_wrong_ndim(value):
    x = T.dvector("x")
    f = sg.function([x], x * 2)
    with pytest.raises(TypeError, match=r"input 'x'.*expected float64 vector"):
        f(value)


def test_wrong_ndim_for_scalar_input():
    s = T.dscalar("s")
    f = sg.function([s], s * 2)
    with pytest.raises(TypeError, match=r"input 's'.*scalar"):
        f([1.0])


def test_error_names_input_position_when_unnamed():
    x = T.dvector()
    f = sg.function([x], x * 2)
    with pytest.raises(TypeError, match="input 0"):
        f(np.zeros((2, 2)))


def test_broadcastable_dim_of_wrong_size():
    c = T.dcol("c")
    f = sg.function([c], c * 2)
    with pytest.raises(ValueError, match=r"input 'c'.*dimension 1"):
        f(np.zeros((3, 2)))


def test_shapes_that_do_not_broadcast():
    x = T.dmatrix("x")
    y = T.dmatrix("y")
    f = sg.function([x, y], x + y)
    with pytest.raises(ValueError, match=r"'x'.*'y'"):
        f(np.zeros((2, 3)), np.zeros((2, 4)))
    # size-1 dims of a non-broadcastable input are not broadcast either (Theano's rule)
    with pytest.raises(ValueError, match=r"'x'.*'y'"):
        f(np.zeros((2, 3)), np.zeros((1, 3)))


def test_dot_inner_dimensions():
    a = T.dmatrix("a")
    b = T.dmatrix("b")
    f = sg.function([a, b], T.dot(a, b))
    with pytest.raises(ValueError, match=r"dot.*'a'.*'b'"):
        f(np.zeros((2, 3)), np.zeros((4, 2)))


# --- calling errors --------------------------------------------------------------------------
def test_unknown_keyword_input():
    x = T.dscalar("x")
    f = sg.function([x], x * 2)
    with pytest.raises(TypeError, match="'z'"):
        f(z=1.0)


def test_too_many_positional_arguments():
    x = T.dscalar("x")
    f = sg.function([x], x * 2)
    with pytest.raises(TypeError, match="takes 1 input"):
        f(1.0, 2.0)


def test_input_given_twice():
    x, y = T.dscalars("x", "y")
    f = sg.function([x, y], x * y)
    with pytest.raises(TypeError, match="'x' twice"):
        f(1.0, 2.0, x=3.0)


def test_missing_argument():
    x, y = T.dscalars("x", "y")
    f = sg.function([x, y], x * y)
    with pytest.raises(TypeError, match="'y'"):
        f(1.0)


# --- compile-time errors ---------------------------------------------------------------------
def test_missing_input_variable():
    x, y = T.dscalars("x", "y")
    with pytest.raises(MissingInputError, match="'y'") as info:
        sg.function([x], x + y)
    assert isinstance(info.value, ValueError)


def test_missing_input_in_updates():
    x, y = T.dscalars("x", "y")
    acc = sg.shared(0.0, name="acc")
    with pytest.raises(MissingInputError, match="'y'"):
        sg.function([x], x, updates=[(acc, acc + y)])


def test_unused_input_raises_by_default():
    x, y = T.dscalars("x", "y")
    with pytest.raises(UnusedInputError, match="'y'") as info:
        sg.function([x, y], x * 2)
    assert isinstance(info.value, ValueError)


def test_unused_input_warn():
    x, y = T.dscalars("x", "y")
    with pytest.warns(UserWarning, match="'y'"):
        f = sg.function([x, y], x * 2, on_unused_input="warn")
    assert f(1.0, 5.0) == 2.0


def test_unused_input_ignore():
    x, y = T.dscalars("x", "y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = sg.function([x, y], x * 2, on_unused_input="ignore")
    assert f(1.0, 5.0) == 2.0
    with pytest.raises(TypeError, match="'y'"):
        f(1.0, [5.0])  # an unused input is still checked


def test_bad_on_unused_input_value():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="on_unused_input"):
        sg.function([x], x, on_unused_input="sometimes")


def test_shared_variable_listed_as_input():
    w = sg.shared(1.0, name="w")
    with pytest.raises(TypeError, match="'w'"):
        sg.function([w], w * 2)


def test_input_listed_twice():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="'x'.*twice"):
        sg.function([x, x], x * 2)


def test_input_that_is_not_a_variable():
    with pytest.raises(TypeError, match=r"inputs\[0\]"):
        sg.function([1.0], T.constant(1.0))


def test_inputs_not_a_list():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="list"):
        sg.function(x, x * 2)


def test_computed_variable_as_input():
    x = T.dscalar("x")
    y = x * 2
    y.name = "y"
    with pytest.raises(TypeError, match="'y'"):
        sg.function([y], y + 1)


def test_constant_as_input():
    with pytest.raises(TypeError, match="constant"):
        sg.function([T.constant(1.0)], T.constant(2.0))


def test_unknown_mode():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="mode"):
        sg.function([x], x, mode="fortran")


# --- update errors ---------------------------------------------------------------------------
def test_update_non_shared_variable():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="only shared variables"):
        sg.function([x], x, updates=[(x, x + 1)])


def test_update_same_shared_twice():
    w = sg.shared(0.0, name="w")
    with pytest.raises(ValueError, match="'w'.*twice"):
        sg.function([], updates=[(w, w + 1), (w, w + 2)])


@pytest.mark.parametrize("make_update", [
    lambda w: T.cast(w, "float32"),                 # narrower dtype
    lambda w: T.cast(w, "int64"),                   # int into float
    lambda w: T.stack([w, w]),                      # wrong ndim
    lambda w: w.dimshuffle("x", 0),                 # wrong ndim/broadcastable
])
def test_update_type_must_match(make_update):
    w = sg.shared(np.zeros(3), name="w")
    with pytest.raises(TypeError, match="'w'.*float64 vector"):
        sg.function([], updates=[(w, make_update(w))])


def test_update_safe_upcast_is_still_rejected():
    # the update must be exactly the shared variable's type: no silent casts
    w = sg.shared(np.zeros(3), name="w")
    i = T.lvector("i")
    with pytest.raises(TypeError, match="'w'"):
        sg.function([i], updates=[(w, i)])
    f32 = sg.shared(np.zeros(3, dtype="float32"), name="w32")
    with pytest.raises(TypeError, match="'w32'"):
        sg.function([], updates=[(f32, f32 * np.float64(2.0))])


def test_update_broadcastable_mismatch():
    r = sg.shared(np.zeros((1, 3)), name="r", broadcastable=(True, False))
    m = T.dmatrix("m")
    with pytest.raises(TypeError, match="'r'"):
        sg.function([m], updates=[(r, m)])


def test_update_malformed_pairs():
    w = sg.shared(0.0, name="w")
    with pytest.raises(TypeError, match="pair"):
        sg.function([], updates=[(w, w + 1, w)])
    with pytest.raises(TypeError, match="updates"):
        sg.function([], updates=5)


# --- grad errors -----------------------------------------------------------------------------
def test_grad_non_scalar_cost():
    x = T.dvector("x")
    cost = x * 2
    cost.name = "cost"
    with pytest.raises(TypeError, match=r"scalar.*'cost'"):
        sg.grad(cost, x)


def test_grad_integer_cost():
    i = T.lscalar("i")
    with pytest.raises(TypeError, match="float"):
        sg.grad(i * 2, i)


def test_grad_disconnected_raises():
    x, y = T.dscalars("x", "y")
    with pytest.raises(DisconnectedInputError, match="'y'") as info:
        sg.grad(x ** 2, y)
    assert isinstance(info.value, ValueError)


def test_grad_wrt_not_a_variable():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="wrt"):
        sg.grad(x ** 2, 1.0)


def test_grad_bad_disconnected_inputs_value():
    x = T.dscalar("x")
    with pytest.raises(ValueError, match="disconnected_inputs"):
        sg.grad(x ** 2, x, disconnected_inputs="maybe")


# --- symbolic misuse -------------------------------------------------------------------------
def test_symbolic_variable_has_no_truth_value():
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)


def test_error_messages_name_shared_variables_in_shape_errors():
    w = sg.shared(np.zeros(3), name="weights")
    x = T.dvector("x")
    f = sg.function([x], w + x)
    with pytest.raises(ValueError, match=r"'weights'.*'x'|'x'.*'weights'"):
        f(np.zeros(4))
