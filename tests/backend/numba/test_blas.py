"""backend/numba/blas.py: matrix products run on numpy's OpenBLAS (numpy's bits, one thread pool with
numpy's own products), np.dot where it is missing; a scan's loop runs that BLAS on at most two
threads, and the count comes back."""
import ctypes
import subprocess
import sys

import numba
import numpy as np
import pytest
from llvmlite import binding

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import helpers
from symgrad.backend.numba.blas import (DGEMM_SYMBOL, SGEMM_SYMBOL, blas_threads, keep_blas_threads,
                                        openblas)

FOUND = blas_threads()
needs_openblas = pytest.mark.skipif(FOUND is None, reason="no OpenBLAS with a thread-count setter here")
NUMPY_BLAS = openblas()["which"] == "numpy"
RNG = np.random.default_rng(3)


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


@pytest.mark.skipif(not NUMPY_BLAS, reason="numpy here does not ship OpenBLAS")
def test_products_call_numpys_openblas():
    lib = openblas()
    for symbol, key in ((DGEMM_SYMBOL, "d"), (SGEMM_SYMBOL, "s")):
        assert binding.address_of_symbol(symbol) == ctypes.cast(lib[key], ctypes.c_void_p).value


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m, k, n", [(3, 4, 5), (20, 50, 10), (1, 1, 1), (0, 3, 2), (3, 0, 2), (4, 3, 0)])
def test_matrix_products_give_numpys_bits(dtype, m, k, n):
    a, b = RNG.standard_normal((m, k)).astype(dtype), RNG.standard_normal((k, n)).astype(dtype)
    for x in (a, np.asfortranarray(a), a[::-1]):
        for y in (b, np.asfortranarray(b)):
            want = x @ y
            got = helpers.blas_dot(x, y)
            into = np.full((m, n), 7.0, dtype)  # (k == 0: zeros, whatever was there)
            helpers.blas_dot_to(x, y, into)
            assert got.dtype == want.dtype
            if x.flags.c_contiguous or x.flags.f_contiguous:  # (numpy 2.0 multiplies a reversed view its own way)
                assert np.array_equal(got, want) and np.array_equal(into, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
                assert np.array_equal(into, got)


def test_other_products_are_numpys_dot():
    v, M = RNG.standard_normal(4), RNG.standard_normal((4, 3))
    np.testing.assert_allclose(helpers.blas_dot(v, M), v @ M, rtol=1e-15)
    np.testing.assert_allclose(helpers.blas_dot(M.T, v), M.T @ v, rtol=1e-15)


def test_misaligned_products_raise():
    with pytest.raises(ValueError, match="align"):
        helpers.blas_dot(np.ones((2, 3)), np.ones((4, 2)))
    out = np.zeros((2, 3))
    with pytest.raises(ValueError, match="align"):
        helpers.blas_dot_to(np.ones((2, 4)), np.ones((4, 2)), out)
    assert not out.any()


_WITHOUT_NUMPY_BLAS = """
import glob
import numpy as np
found = glob.glob  # (numpy's wheel folder looks empty to blas.py: its products take np.dot)
glob.glob = lambda pattern, *a, **k: [] if "numpy.libs" in pattern else found(pattern, *a, **k)
from symgrad.backend.numba import blas, helpers
glob.glob = found
assert blas.openblas()["which"] == "scipy"
a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
out = np.empty((2, 4))
helpers.blas_dot_to(a, b, out)
print(np.array_equal(helpers.blas_dot(a, b), a @ b) and np.array_equal(out, a @ b))
"""


def test_without_numpys_openblas_products_take_np_dot():
    # the helpers (from numba's disk cache) read the choice at run time
    done = subprocess.run([sys.executable, "-c", _WITHOUT_NUMPY_BLAS], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"


@needs_openblas
def test_overlapping_calls_put_back_the_first_count(two_threads):
    # a call that starts while another runs at one thread must not restore one thread at its end
    import threading
    import time

    inside = threading.Event()
    first = keep_blas_threads(lambda: (inside.set(), time.sleep(0.05)), at=1)
    second = keep_blas_threads(lambda: time.sleep(0.2), at=1)  # starts inside the first, ends after it
    threads = [threading.Thread(target=first), threading.Thread(target=lambda: inside.wait(5) and second())]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert two_threads() == 2
