"""rewrite/lift.py: basic indexing moves before one-input elementwise work, with the same values
and the same errors on both backends."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.graph import toposort
from symgrad.rewrite import optimize


def test_a_cast_minibatch_of_shared_labels_casts_only_the_batch():
    y = sg.shared(np.arange(10), name="y")
    i = T.lscalar("i")
    batch = T.cast(y, "int32")[i * 3:(i + 1) * 3]
    (out,) = optimize([batch * 2])
    elemwise = [n for n in toposort([out]) if type(n.op).__name__ == "Elemwise"]
    assert not any(v is y for n in elemwise for v in n.inputs)  # nothing casts the whole of y


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_values_dtypes_and_index_errors_are_unchanged(mode):
    x = T.dvector("x")
    i = T.lscalar("i")
    f = sg.function([x, i], [T.cast(T.exp(x), "float32")[i], T.sqrt(x)[1:i], T.cast(x, "int16")[::-2]],
                    mode=mode)
    v = np.array([0.5, 1.0, 4.0, 9.0])
    a, b, c = f(v, 2)
    assert a.dtype == np.float32 and a == np.float32(np.exp(4.0))
    np.testing.assert_array_equal(b, np.sqrt(v)[1:2])
    assert c.dtype == np.int16
    np.testing.assert_array_equal(c, v.astype(np.int16)[::-2])
    with pytest.raises(IndexError):
        f(v, 7)  # the index is checked as before


def test_several_input_elementwise_work_is_not_sliced_first():
    a, b = T.dvectors("a", "b")
    f = sg.function([a, b], (a + b)[0:2], mode="numpy")
    with pytest.raises(ValueError):
        f(np.ones(3), np.ones(4))  # slicing a and b first would hide the mismatch
