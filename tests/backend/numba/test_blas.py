"""backend/numba/blas.py: kernels with a loop run scipy's BLAS on one thread, and put the count back."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba.blas import blas_threads, one_blas_thread

FOUND = blas_threads()
needs_openblas = pytest.mark.skipif(FOUND is None, reason="scipy here does not ship OpenBLAS")


@needs_openblas
def test_one_thread_inside_then_restored():
    set_threads, get_threads = FOUND
    before = get_threads()
    set_threads(2)
    try:
        assert one_blas_thread(lambda: get_threads())() == 1
        assert get_threads() == 2

        def fails():
            raise ValueError("inside")
        with pytest.raises(ValueError, match="inside"):
            one_blas_thread(fails)()
        assert get_threads() == 2
    finally:
        set_threads(before)


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
