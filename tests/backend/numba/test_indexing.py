"""backend/numba/indexing.py: index vectors broadcast by hand as numpy does (each of length n or 1)."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T

LENGTHS = [(3, 3), (1, 3), (3, 1), (1, 1), (0, 1), (1, 0), (0, 0)]


def _functions():
    x, i, j, y = T.dmatrix("x"), T.lvector("i"), T.lvector("j"), T.dvector("y")
    outs = [x[i, j] * 2, T.inc_subtensor(x[i, j], y), T.set_subtensor(x[i, j], y)]
    return ([sg.function([x, i, j, y], outs, mode=m, on_unused_input="ignore") for m in ("numba", "numpy")])


@pytest.mark.parametrize("lengths", LENGTHS, ids=[f"{a}x{b}" for a, b in LENGTHS])
def test_index_vectors_broadcast_like_numpy(lengths):
    f, g = _functions()
    rng = np.random.default_rng(sum(lengths))
    x = rng.standard_normal((4, 5))
    i, j = rng.integers(-4, 4, lengths[0]), rng.integers(-5, 5, lengths[1])
    y = rng.standard_normal(0 if 0 in lengths else max(lengths))
    for got, want in zip(f(x, i, j, y), g(x, i, j, y)):
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_index_vectors_of_other_lengths_are_refused():
    f, _ = _functions()
    x = np.zeros((4, 5))
    with pytest.raises(IndexError, match="broadcast"):
        f(x, np.array([0, 1]), np.array([0, 1, 2]), np.zeros(3))
    with pytest.raises(IndexError):
        f(x, np.array([0, 4]), np.array([0, 1]), np.zeros(2))  # out of bounds
