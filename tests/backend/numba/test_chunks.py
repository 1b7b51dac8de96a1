"""run_chunks: every chunk runs once, on numba's threads or in order on this thread, and a chunk's
exception is raised by the caller."""
import numba
import numpy as np
import pytest
from numba.core.errors import TypingError

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba.chunks import run_chunks


@numba.njit(nogil=True)
def _mark(c, st):
    out, bad = st
    if c == bad:
        raise ValueError("chunk failed")
    out[c] += c + 1
    return 0


@numba.njit(nogil=True)
def _run(n, bad):
    out = np.zeros(n, dtype=np.int64)
    run_chunks(n, _mark, (out, bad))
    return out


@pytest.fixture(params=[1, 2], ids=["one-thread", "threads"])
def threads(request):
    saved = numba.get_num_threads()
    numba.set_num_threads(min(request.param, numba.config.NUMBA_NUM_THREADS))
    yield
    numba.set_num_threads(saved)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_every_chunk_runs_once(threads, n):
    np.testing.assert_array_equal(_run(n, -1), np.arange(1, n + 1))


@pytest.mark.parametrize("n, bad", [(1, 0), (3, 1), (4, 3)])
def test_a_failing_chunk_raises(threads, n, bad):
    with pytest.raises(ValueError, match="chunk failed"):
        _run(n, bad)


def test_a_chunk_must_return_an_integer():
    @numba.njit
    def array(c, st):
        return np.empty(3)

    @numba.njit
    def run(n):
        return run_chunks(n, array, (n,))

    with pytest.raises(TypingError):
        run(2)


def test_a_row_pass_that_raises_raises():
    # a row output raising in the row loop (0 ** -1 in int64): the kernel must not return its
    # uninitialized arrays
    x, y, w, k = T.dmatrix("x"), T.dvector("y"), T.dvector("w"), T.lscalar("k")
    z = T.dot(x, w)
    f = sg.function([x, y, w, k], [T.dot(x.T, T.nnet.sigmoid(z) - y), T.cast(z > 0, "int64") ** k], mode="numba")
    assert "rowpass0_rows" in f.source
    rng = np.random.default_rng(0)
    with pytest.raises((ZeroDivisionError, ValueError)):
        f(rng.standard_normal((20, 3)), rng.random(20), rng.standard_normal(3), -1)
