"""``T.specify_shape``: the value passes through, the shape is checked at run time (a ValueError
naming the variable, the expected and the actual shape), the gradient passes through; and the
shape of expressions as function outputs. Both backends, one compiled function per backend."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.gradient import verify_grad
from symgrad.tensor.shape import SpecifyShape
from tests.conftest import BACKENDS

M = np.arange(6.0).reshape(2, 3)


@pytest.fixture(scope="module", params=BACKENDS)
def fn(request):
    x, n = T.dmatrix("x"), T.lscalar("n")
    checked = T.specify_shape(x, (n, 3))
    outputs = [
        checked * 2,
        T.specify_shape(x, (None, 3)).sum(),
        T.specify_shape(x, T.shape(x)),  # the input itself: returned as a copy
        checked.shape,
        T.shape(T.exp(x).sum(axis=0)),
        T.shape(T.dot(x, x.T)),
        x.shape[1],
        T.shape(x.sum()),
    ]
    return sg.function([x, n], outputs, mode=request.param)


def test_values_and_shapes(fn):
    x = M.copy()
    doubled, total, same, shp, col_shape, gram_shape, cols, scalar_shape = fn(x, 2)
    np.testing.assert_array_equal(doubled, 2 * M)
    assert float(total) == M.sum()
    np.testing.assert_array_equal(same, M)
    assert not np.shares_memory(same, x)
    for got, want in [(shp, [2, 3]), (col_shape, [3]), (gram_shape, [2, 2]), (cols, 3), (scalar_shape, [])]:
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, want)


def test_wrong_shape_names_variable_expected_and_actual(fn):
    with pytest.raises(ValueError) as info:
        fn(M, 5)
    text = str(info.value)
    assert "specify_shape" in text and "'x'" in text and "(5, 3)" in text and "(2, 3)" in text
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        fn(np.ones((3, 4)), 3)  # the unchecked-rows entry still checks the columns
    np.testing.assert_array_equal(fn(M, 2)[0], 2 * M)  # still usable after an error


def test_verify_grad(mode):
    verify_grad(lambda x: T.specify_shape(T.tanh(x), (2, 3)) * x, [M / 7], mode=mode)


def test_graph_and_gradient_structure():
    x = T.dvector("x")
    y = T.specify_shape(x, (4,))
    assert isinstance(y.owner.op, SpecifyShape) and y.type is x.type
    assert T.specify_shape(x, (None,)) is x  # nothing to check
    assert T.specify_shape(x, 4).owner.op.checked == (True,)
    g = sg.grad((y ** 2).sum(), x)
    assert any(isinstance(n.op, SpecifyShape) for n in sg.graph.toposort([g]))  # the check travels along


@pytest.mark.parametrize("shape, error, text", [
    ((2, 3, 4), ValueError, "3 entries, expected 2"),
    ((2,), ValueError, "1 entries, expected 2"),
    ((-1, 3), ValueError, "size -1"),
    ((2, 2.5), TypeError, "2.5"),
    ((2, T.dscalar("s")), TypeError, "shape entries must be"),
])
def test_bad_shapes(shape, error, text):
    with pytest.raises(error, match=text.replace("(", r"\(").replace(")", r"\)")) as info:
        T.specify_shape(T.dmatrix("x"), shape)
    assert "'x'" in str(info.value)


def test_broadcastable_dims_must_be_one():
    with pytest.raises(ValueError, match="size 3 is not possible for dimension 0"):
        T.specify_shape(T.drow("r"), (3, 4))
    assert T.specify_shape(T.drow("r"), (1, 4)).type is T.drow
    with pytest.raises(TypeError, match="integer vector"):
        T.specify_shape(T.dvector("x"), T.dvector("s"))
