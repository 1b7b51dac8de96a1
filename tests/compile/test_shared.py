"""Shared variables: types from values, copy semantics, set_value checks, pickling."""
import pickle

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.compile.shared import SharedVariable


# --- types from values ----------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    (3, T.lscalar),
    (0.5, T.dscalar),
    (np.float32(1.5), T.fscalar),
    (np.int32(7), T.iscalar),
    (np.zeros(3), T.dvector),
    (np.zeros((2, 3), dtype="float32"), T.fmatrix),
    (np.arange(4, dtype="int8"), T.bvector),
    ([1.0, 2.0], T.dvector),
    ([[1, 2], [3, 4]], T.lmatrix),
])
def test_type_from_value(value, expected):
    s = sg.shared(value)
    assert isinstance(s, SharedVariable)
    assert s.type is expected
    assert s.get_value().dtype == np.dtype(expected.dtype)


def test_python_scalars():
    i = sg.shared(3, name="i")
    f = sg.shared(2.0, name="f")
    assert i.get_value().shape == () and i.get_value().dtype == np.int64 and i.get_value() == 3
    assert f.get_value().shape == () and f.get_value().dtype == np.float64 and f.get_value() == 2.0
    assert i.name == "i" and f.name == "f"


def test_bool_shared():
    s = sg.shared(True, name="flag")
    assert s.dtype == "bool"
    assert s.get_value() == np.True_


def test_broadcastable_argument():
    s = sg.shared(np.zeros((1, 3)), name="r", broadcastable=(True, False))
    assert s.type is T.drow
    with pytest.raises(ValueError, match="'r'"):
        sg.shared(np.zeros((1, 3)), name="r", broadcastable=(True,))


# --- copy semantics -------------------------------------------------------------------------
def test_shared_copies_its_value():
    a = np.array([1.0, 2.0])
    s = sg.shared(a, name="s")
    a[0] = 100.0
    np.testing.assert_array_equal(s.get_value(), [1.0, 2.0])


def test_shared_borrow_true_keeps_the_array():
    a = np.array([1.0, 2.0])
    s = sg.shared(a, name="s", borrow=True)
    assert s.get_value(borrow=True) is a


def test_get_value_returns_a_copy():
    s = sg.shared(np.array([1.0, 2.0]), name="s")
    v = s.get_value()
    v[0] = -1.0
    np.testing.assert_array_equal(s.get_value(), [1.0, 2.0])
    assert s.get_value() is not s.get_value()


def test_get_value_borrow_true_returns_internal():
    s = sg.shared(np.array([1.0, 2.0]), name="s")
    assert s.get_value(borrow=True) is s.get_value(borrow=True)


def test_set_value_stores_a_copy():
    s = sg.shared(np.zeros(2), name="s")
    a = np.array([3.0, 4.0])
    s.set_value(a)
    a[0] = 100.0
    np.testing.assert_array_equal(s.get_value(), [3.0, 4.0])


def test_set_value_borrow_true_keeps_the_array():
    s = sg.shared(np.zeros(2), name="s")
    a = np.array([3.0, 4.0])
    s.set_value(a, borrow=True)
    assert s.get_value(borrow=True) is a


def test_set_value_from_list_and_upcast():
    s = sg.shared(np.zeros(3), name="s")
    s.set_value([1, 2, 3])
    v = s.get_value()
    assert v.dtype == np.float64
    np.testing.assert_array_equal(v, [1.0, 2.0, 3.0])
    s.set_value(np.arange(3, dtype=np.int32))
    assert s.get_value().dtype == np.float64


def test_set_value_new_shape_is_allowed(mode):
    s = sg.shared(np.zeros(3), name="s")
    f = sg.function([], s.sum(), mode=mode)
    s.set_value(np.ones(5))
    assert f() == 5.0


def test_set_value_seen_by_compiled_functions(mode):
    s = sg.shared(1.0, name="s")
    f = sg.function([], s * 2, mode=mode)
    assert f() == 2.0
    s.set_value(5.0)
    assert f() == 10.0


def test_mutating_passed_array_after_call_does_not_change_shared(mode):
    x = T.dvector("x")
    w = sg.shared(np.zeros(2), name="w")
    f = sg.function([x], updates=[(w, x)], mode=mode)
    a = np.array([1.0, 2.0])
    f(a)
    a[0] = 100.0
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])


# --- set_value errors -----------------------------------------------------------------------
def test_set_value_wrong_ndim():
    s = sg.shared(np.zeros(3), name="w")
    with pytest.raises(TypeError, match="'w'"):
        s.set_value(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="'w'"):
        s.set_value(1.0)
    np.testing.assert_array_equal(s.get_value(), np.zeros(3))


def test_set_value_lossy_downcast():
    s = sg.shared(np.zeros(3, dtype="float32"), name="w")
    with pytest.raises(TypeError, match="'w'"):
        s.set_value(np.ones(3))
    n = sg.shared(0, name="n")
    with pytest.raises(TypeError, match="'n'"):
        n.set_value(1.5)


@pytest.mark.parametrize("bad", [np.array([1j, 2j, 3j]), np.array(["a", "b", "c"]), None, [[1.0], [2.0, 3.0]]])
def test_set_value_bad_dtype(bad):
    s = sg.shared(np.zeros(3), name="w")
    with pytest.raises(TypeError, match="'w'"):
        s.set_value(bad)


def test_set_value_broadcastable_dim():
    s = sg.shared(np.zeros((1, 3)), name="r", broadcastable=(True, False))
    with pytest.raises(ValueError, match="'r'"):
        s.set_value(np.zeros((2, 3)))


# --- shared() errors ------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1 + 2j, np.array([1j]), "abc", np.array(["x"]), None, object(),
                                 np.array([None, 1], dtype=object), [[1, 2], [3]]])
def test_shared_bad_value(bad):
    with pytest.raises(TypeError, match="'state'"):
        sg.shared(bad, name="state")


def test_shared_of_symbolic_variable():
    with pytest.raises(TypeError, match="symbolic"):
        sg.shared(T.dvector("x"))


# --- repr -----------------------------------------------------------------------------------
def test_repr_is_name():
    assert repr(sg.shared(1.0, name="b")) == "b"
    assert "float64" in repr(sg.shared(1.0))


# --- pickling -------------------------------------------------------------------------------
def test_pickle_shared():
    s = sg.shared(np.array([1.0, 2.0]), name="w")
    t = pickle.loads(pickle.dumps(s))
    assert isinstance(t, SharedVariable)
    assert t.name == "w"
    assert t.type is s.type
    np.testing.assert_array_equal(t.get_value(), [1.0, 2.0])
    t.set_value(np.zeros(2))
    np.testing.assert_array_equal(s.get_value(), [1.0, 2.0])
    with pytest.raises(TypeError, match="'w'"):
        t.set_value(np.zeros((2, 2)))  # the unpickled variable keeps its checks


def test_pickle_function_alone(mode):
    x = T.dvector("x")
    f = sg.function([x], T.exp(x).sum(), mode=mode, name="f")
    g = pickle.loads(pickle.dumps(f))
    assert g.name == "f" and g.mode == mode
    assert g([0.0, 0.0]) == 2.0
    with pytest.raises(TypeError, match="'x'"):
        g(np.ones((2, 2)))


def test_pickle_function_with_defaults_and_names(mode):
    x, y = T.dscalars("x", "y")
    f = sg.function([x, sg.In(y, value=3.0, name="beta")], x * y, mode=mode)
    g = pickle.loads(pickle.dumps(f))
    assert g(2.0) == 6.0
    assert g(2.0, beta=0.5) == 1.0
    with pytest.raises(TypeError, match="'x'"):
        g()


def test_pickle_function_and_shared_together_stay_linked(mode):
    x = T.dvector("x")
    w = sg.shared(np.zeros(2), name="w")
    n = sg.shared(0, name="n")
    f = sg.function([x], (w * x).sum(), updates=[(w, w + x), (n, n + 1)], mode=mode)
    f([1.0, 1.0])
    f2, w2, n2 = pickle.loads(pickle.dumps((f, w, n)))
    assert w2 is not w
    np.testing.assert_array_equal(w2.get_value(), [1.0, 1.0])
    assert f2([2.0, 3.0]) == 5.0
    np.testing.assert_array_equal(w2.get_value(), [3.0, 4.0])
    assert n2.get_value() == 2
    # the original pair is untouched by the copy
    np.testing.assert_array_equal(w.get_value(), [1.0, 1.0])
    assert n.get_value() == 1
    f([1.0, 1.0])
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0])
    np.testing.assert_array_equal(w2.get_value(), [3.0, 4.0])


def test_pickle_function_keeps_downcast_and_unused_settings(mode):
    v = T.fvector("v")
    f = sg.function([v], v * 2, allow_input_downcast=True, mode=mode)
    g = pickle.loads(pickle.dumps(f))
    assert g(np.array([1.0, 2.0])).dtype == np.float32


def test_pickle_function_on_deep_graph(mode):
    x = T.dvector("x")
    w = sg.shared(np.array([0.1, 0.2]), name="w")
    depth = 3000 if mode == "numpy" else 200  # numba's compile time grows with the kernel's length
    y = x
    for i in range(depth):
        y = T.tanh(y) + w if i % 2 == 0 else y * 0.5
    f = sg.function([x], y.sum(), updates=[(w, w * 2)], mode=mode)
    arg = np.array([0.3, -0.4])
    expected = arg.copy()
    for i in range(depth):
        expected = np.tanh(expected) + np.array([0.1, 0.2]) if i % 2 == 0 else expected * 0.5
    f2, w2 = pickle.loads(pickle.dumps((f, w)))
    np.testing.assert_allclose(f2(arg), expected.sum(), rtol=1e-12)
    np.testing.assert_array_equal(w2.get_value(), [0.2, 0.4])
    np.testing.assert_array_equal(w.get_value(), [0.1, 0.2])
    np.testing.assert_allclose(f(arg), expected.sum(), rtol=1e-12)
    np.testing.assert_array_equal(w.get_value(), [0.2, 0.4])
