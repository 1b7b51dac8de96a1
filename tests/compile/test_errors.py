"""Errors a user can cause: always TypeError/ValueError (or subclasses), naming the variable."""
import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend import get_backend
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
    with pytest.raises(ValueError, match="FAST_RUN"):
        sg.config.mode = "FAST_RUN_PLEASE"


@pytest.mark.parametrize("theano_mode,backend", [("FAST_RUN", "numba"), ("FAST_COMPILE", "numpy"),
                                                 ("DebugMode", "numpy")])
def test_theano_mode_names(theano_mode, backend, monkeypatch):
    x = T.dscalar("x")
    f = sg.function([x], x * 2, mode=theano_mode)
    assert float(f(3.0)) == 6.0 and get_backend(f.mode).name == backend
    monkeypatch.setattr(sg.config, "mode", sg.config.mode)  # restored after the test
    sg.config.mode = theano_mode  # as Theano scripts set it
    assert sg.config.mode == backend


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
def test_comparison_has_no_truth_value():  # other variables are true (Theano's rule: tests/tensor/test_variable.py)
    x = T.dscalar("x")
    with pytest.raises(TypeError, match="truth value"):
        bool(x > 0)


def test_error_messages_name_shared_variables_in_shape_errors():
    w = sg.shared(np.zeros(3), name="weights")
    x = T.dvector("x")
    f = sg.function([x], w + x)
    with pytest.raises(ValueError, match=r"'weights'.*'x'|'x'.*'weights'"):
        f(np.zeros(4))


# --- hostile calls on both backends: a clear error, and no shared variable changes -------------
def _training_step(mode):
    X, y = T.dmatrix("X"), T.dvector("y")
    w = sg.shared(np.array([0.5, -0.25, 1.0]), name="w")
    b = sg.shared(0.1, name="b")
    p = T.nnet.sigmoid(T.dot(X, w) + b)
    cost = T.nnet.binary_crossentropy(p, y).mean()
    gw, gb = sg.grad(cost, [w, b])
    f = sg.function([X, y], [cost, p[1:]], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], mode=mode)
    return f, w, b


GOOD_X, GOOD_Y = np.ones((4, 3)), np.array([0.0, 1.0, 1.0, 0.0])
HOSTILE_CALLS = {
    "complex X": ((GOOD_X + 1j, GOOD_Y), {}, TypeError, r"input 'X'.*complex"),
    "object y": ((GOOD_X, np.array([None] * 4, dtype=object)), {}, TypeError, r"input 'y'.*object"),
    "str y": ((GOOD_X, "0110"), {}, TypeError, r"input 'y'"),
    "None X": ((None, GOOD_Y), {}, TypeError, r"input 'X'.*None"),
    "ragged X": (([[1.0, 2.0, 3.0], [1.0]], GOOD_Y), {}, TypeError, r"input 'X'.*ragged"),
    "X of rank 1": ((np.ones(3), GOOD_Y), {}, TypeError, r"input 'X'.*expected float64 matrix"),
    "X of rank 3": ((np.ones((4, 3, 1)), GOOD_Y), {}, TypeError, r"input 'X'.*expected float64 matrix"),
    "dot inner dimension": ((np.ones((4, 5)), GOOD_Y), {}, ValueError, r"'X'.*'w'|'w'.*'X'"),
    "rows of X and y disagree": ((GOOD_X, np.ones(5)), {}, ValueError, r"'y'|'X'"),
    "missing argument": ((GOOD_X,), {}, TypeError, r"'y'"),
    "extra argument": ((GOOD_X, GOOD_Y, GOOD_Y), {}, TypeError, r"takes 2 input"),
    "unknown keyword": ((GOOD_X, GOOD_Y), {"z": 1.0}, TypeError, r"'z'"),
    "uint64 y": ((GOOD_X, np.array([0, 1, 1, 0], dtype=np.uint64)), {}, None, None),  # a safe cast: accepted
    "float32 X": ((GOOD_X.astype(np.float32), GOOD_Y), {}, None, None),  # a safe cast: accepted
    "empty X": ((np.ones((0, 3)), np.ones(0)), {}, None, None),  # valid: a mean over no rows is nan
}


@pytest.fixture(scope="module", params=["numpy", "numba"])
def step(request):
    return _training_step(request.param)


@pytest.mark.parametrize("case", list(HOSTILE_CALLS))
def test_hostile_call_is_a_clear_error_and_changes_nothing(step, case):
    f, w, b = step
    args, kwargs, error, message = HOSTILE_CALLS[case]
    before = (w.get_value(), b.get_value())
    if error is None:  # an unusual but valid call: it runs and updates
        with np.errstate(invalid="ignore", divide="ignore"):
            f(*args, **kwargs)
        w.set_value(before[0])
        b.set_value(before[1])
        return
    with pytest.raises(error, match=message) as info:
        f(*args, **kwargs)
    assert not isinstance(info.value, IndexError)
    assert np.array_equal(w.get_value(), before[0]) and b.get_value() == before[1]
    f(GOOD_X, GOOD_Y)  # the function still works afterwards
    w.set_value(before[0])
    b.set_value(before[1])
