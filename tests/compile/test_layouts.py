"""Memory layouts and special values: C, Fortran, transposed views, strided slices, negative
strides, read-only arrays, zero-size dimensions, NaN and ±inf all give the answer of a
C-contiguous copy, on both backends, and the two backends agree.

One function per backend (many outputs: elementwise, reductions, BLAS and row-pass dots,
indexing, softmax) is called with every layout of the same values.
"""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T

BASE = np.random.default_rng(3).uniform(-2, 2, (5, 4))
VEC = np.random.default_rng(4).uniform(-1, 1, 4)


def _strided(a):
    """The values of ``a`` as a view with steps of 2 and 3 into a larger array."""
    big = np.full((a.shape[0] * 2, a.shape[1] * 3), np.nan)
    big[::2, ::3] = a
    return big[::2, ::3]


def _reversed(a):
    """The values of ``a`` in an array with negative strides in both dimensions."""
    return a[::-1, ::-1].copy()[::-1, ::-1]


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


LAYOUTS = {
    "C": np.ascontiguousarray,
    "F": np.asfortranarray,
    "transposed view": lambda a: a.T.copy().T,
    "strided slice": _strided,
    "negative strides": _reversed,
    "read-only": _read_only,
}
VALUES = {
    "finite": BASE,
    "nan and inf": np.where(np.arange(20).reshape(5, 4) % 7 == 3, np.nan,
                            np.where(np.arange(20).reshape(5, 4) % 5 == 1, np.inf, BASE)),
    "-inf": np.where(np.arange(20).reshape(5, 4) % 6 == 2, -np.inf, BASE),
}


def _graph():
    A, v = T.dmatrix("A"), T.dvector("v")
    outputs = [
        T.tanh(A) * 2 + A ** 2,                       # elementwise
        A.sum(axis=0), A.max(axis=1), A.mean(),       # reductions
        T.dot(A, v), T.dot(A.T, A),                   # BLAS
        T.dot(A.T, T.nnet.sigmoid(T.dot(A, v))),      # the one-pass row stream
        A[1:, ::-1], A[[0, 2, 2]], A.T[:, 1],         # indexing
        T.nnet.softmax(A),
    ]
    return [A, v], outputs


@pytest.fixture(scope="module", params=["numpy", "numba"])
def compiled(request):
    inputs, outputs = _graph()
    return request.param, sg.function(inputs, outputs, mode=request.param)


@pytest.fixture(scope="module")
def reference():
    inputs, outputs = _graph()
    return sg.function(inputs, outputs, mode="numpy")


def _same(got, expected, exact: bool):
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        if exact:
            np.testing.assert_array_equal(g, e)
        else:
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14, equal_nan=True)


@pytest.mark.parametrize("values", list(VALUES))
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layout_and_values_give_the_contiguous_answer(compiled, reference, layout, values):
    mode, f = compiled
    data = VALUES[values]
    A = LAYOUTS[layout](data)
    assert np.array_equal(A, data, equal_nan=True)
    v = _strided(VEC[None, :])[0] if layout == "strided slice" else VEC[::-1].copy()[::-1]
    with np.errstate(invalid="ignore", over="ignore"):
        got = f(A, v)
        contiguous = f(np.ascontiguousarray(data), VEC.copy())
        expected = reference(np.ascontiguousarray(data), VEC.copy())
    _same(got, contiguous, exact=False)  # BLAS may pick another kernel for another layout
    _same(got, expected, exact=False)
    assert np.array_equal(A, data, equal_nan=True)  # inputs are never written


@pytest.mark.parametrize("shape", [(0, 4), (5, 0), (0, 0)])
def test_zero_size_dimensions(mode, shape):
    A, v = T.dmatrix("A"), T.dvector("v")
    outputs = [T.exp(A) + 1, A.sum(axis=0), A.sum(), T.dot(A, v), T.dot(A.T, A), A[1:, ::-1],
               T.dot(A.T, T.nnet.sigmoid(T.dot(A, v)))]
    f = sg.function([A, v], outputs, mode=mode)
    a, vec = np.zeros(shape), np.zeros(shape[1])
    expected = [np.exp(a) + 1, a.sum(axis=0), a.sum(), a @ vec, a.T @ a, a[1:, ::-1],
                a.T @ (1 / (1 + np.exp(-(a @ vec))))]
    for g, e in zip(f(a, vec), expected):
        assert g.shape == e.shape
        np.testing.assert_array_equal(g, e)
    g = sg.function([A], A.max(axis=0), mode=mode)
    if shape[0] == 0:  # numpy: a reduction with no identity over an empty axis is an error
        with pytest.raises(ValueError):
            g(a)
    else:
        assert g(a).shape == (shape[1],)
