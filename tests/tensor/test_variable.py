"""Tensor variables' Python protocol: Theano's truth rule."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T


def _optional(W=None):
    # dA.py / rbm.py: `if not W:` asks whether the caller passed a variable
    return "default" if not W else W


@pytest.mark.parametrize("make", [
    lambda: T.dmatrix("W"),
    lambda: T.constant(0.0),                      # even a constant zero: truth is "given", not a value
    lambda: sg.shared(np.zeros(2), name="b"),
    lambda: T.exp(T.dvector()),
    lambda: T.lt(T.dscalar(), 1.0),               # the function spelling is an ordinary variable
    lambda: T.eq(T.dscalar(), 1.0),
])
def test_variables_are_true(make):
    v = make()
    assert bool(v) is True
    assert _optional(v) is v


@pytest.mark.parametrize("compare", [
    lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b, lambda a, b: a >= b,
    lambda a, b: 0.5 < a,                        # reflected: Python calls b.__gt__(0.5)
])
def test_comparison_results_raise(compare):
    a, b = T.dscalar("a"), T.dscalar("b")
    with pytest.raises(TypeError, match=r"comparison .* no truth value.*a < b < c"):
        bool(compare(a, b))


def test_chained_comparison_fails_loudly():
    a, b, c = T.dscalars("a", "b", "c")
    with pytest.raises(TypeError, match="no truth value"):
        a < b < c  # noqa: B015
    with pytest.raises(TypeError, match="no truth value"):
        if sg.shared(1.0) > 0:
            pass


def test_equality_is_identity():
    # Theano does not overload ==: variables compare (and hash) by identity
    a, b = T.dscalar("a"), T.dscalar("b")
    assert (a == a) is True and (a == b) is False
    assert len({a, b, a}) == 2


def test_comparison_still_usable_symbolically():
    x = T.dvector("x")
    f = sg.function([x], T.switch(x > 0, x, 0.0), mode="numpy")
    np.testing.assert_array_equal(f([-1.0, 2.0]), [0.0, 2.0])
