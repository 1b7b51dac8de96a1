"""backend/numba/blas.py: a scan's loop runs scipy's BLAS on at most two threads, and the count comes back."""
import numba
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import helpers
from symgrad.backend.numba.blas import blas_threads, keep_blas_threads

FOUND = blas_threads()
needs_openblas = pytest.mark.skipif(FOUND is None, reason="scipy here does not ship OpenBLAS")


@pytest.fixture
def two_threads():
    set_threads, get_threads = FOUND
    before = get_threads()
    set_threads(2)
    yield get_threads
    set_threads(before)


@numba.njit
def _inside_and_after(k):
    was = helpers.blas_threads_at_most(k)
    inside = helpers._blas_get()
    helpers.blas_threads_back(was)
    return inside, helpers._blas_get()


@needs_openblas
def test_at_most_k_inside(two_threads):
    assert _inside_and_after(1) == (1, 2)
    assert _inside_and_after(2) == (2, 2)
    FOUND[0](3)  # (a count above the cap comes back too; OpenBLAS caps it at its own maximum)
    assert _inside_and_after(1) == (1, two_threads())


@needs_openblas
def test_restored_after_raise(two_threads):
    def fails():
        FOUND[0](1)  # as a loop does before it raises
        raise ValueError("inside")
    with pytest.raises(ValueError, match="inside"):
        keep_blas_threads(fails)()
    assert two_threads() == 2


@needs_openblas
def test_kernel_raising_in_loop(two_threads):
    x = T.dvector("x")
    hs, _ = sg.scan(lambda h: h[1:] * 2.0, outputs_info=x, n_steps=3)
    f = sg.function([x], hs[-1], mode="numba")
    with pytest.raises(ValueError, match="must stay the same"):
        f(np.ones(4))
    assert two_threads() == 2


def test_kernels_with_a_loop_say_so():
    x, W = T.dvector("x"), T.dmatrix("W")
    hs, _ = sg.scan(lambda h, W: T.tanh(T.dot(W, h)), outputs_info=x, non_sequences=W, n_steps=3)
    looped = sg.function([x, W], hs[-1], mode="numba")
    plain = sg.function([x, W], T.dot(W, x), mode="numba")
    assert looped._kernel.info.loops and not plain._kernel.info.loops
    xv, Wv = np.ones(2), np.eye(2) * 0.5
    want = xv
    for _ in range(3):
        want = np.tanh(Wv @ want)
    np.testing.assert_allclose(looped(xv, Wv), want, rtol=1e-15)


@needs_openblas
def test_threaded_convolutions_run_on_one_blas_thread(two_threads):
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w)
    f = sg.function([x, w], [y, T.dot(y.flatten(2), y.flatten(2).T)], mode="numba")
    assert f._kernel.info.one_blas_thread and f._kernel.info.threaded
    xv, wv = np.ones((16, 4, 20, 20)), np.ones((8, 4, 3, 3))  # 1.5 M multiply-adds: in chunks on threads
    assert f(xv, wv)[0][0, 0, 0, 0] == 36 and two_threads() == 2  # (the count comes back)
    with pytest.raises(ValueError, match="channels"):
        f(xv, np.ones((8, 3, 3, 3)))
    assert two_threads() == 2
