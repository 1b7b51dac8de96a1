"""backend/numba/conv.py: a convolution's images in chunks on threads give the bits of one thread
and the numpy backend's values; loops and sums over its C-ordered results (merged trailing axes,
emitters._merged_from and _summed_rows) against numpy."""
import numba
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T

X, W, B = T.tensor4("X"), T.tensor4("W"), T.vector("B")
M, U = T.matrix("M"), T.vector("U")
RNG = np.random.default_rng(5)
# 16 images: 1.5 M multiply-adds per product, above the threshold for threads
XV, WV = RNG.standard_normal((16, 4, 20, 20)), RNG.standard_normal((8, 4, 3, 3)) * 0.3
BV, MV, UV = RNG.standard_normal(8), RNG.standard_normal((20, 20)), RNG.standard_normal(16)


def _outputs():
    y = T.nnet.conv2d(X, W, border_mode="half")
    a = T.tanh(y + B.dimshuffle("x", 0, "x", "x"))  # per channel
    grads = sg.grad((a * a).sum(), [X, W, B])
    return [a, *grads, y * M * 2.0, y + U.dimshuffle(0, "x", "x", "x"),  # trailing, leading
            y.sum(axis=(0, 2, 3)), y.sum(axis=(2, 3)), y.sum(axis=3), y.sum(), y.sum(axis=(1, 3))]


@pytest.fixture(scope="module")
def compiled():
    return sg.function([X, W, B, M, U], _outputs(), mode="numba")


def test_values_against_numpy(compiled):
    want = sg.function([X, W, B, M, U], _outputs(), mode="numpy")(XV, WV, BV, MV, UV)
    for got, ref in zip(compiled(XV, WV, BV, MV, UV), want):
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_threads_give_the_bits_of_one_thread(compiled):
    assert compiled._kernel.info.threaded
    many = compiled(XV, WV, BV, MV, UV)
    numba.set_num_threads(1)  # the same image chunks on one thread
    try:
        one = compiled(XV, WV, BV, MV, UV)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    for a, b in zip(many, one):
        assert np.array_equal(a, b)


def test_float32_sums_are_closer_than_one_running_sum():
    # 40 000 values near 0.7 per channel: one running float32 sum is 0.1 off the exact 25 100,
    # eight partial sums 0.01
    x = T.tensor4("x", dtype="float32")
    f = sg.function([x], T.tanh(x).sum(axis=(0, 2, 3)), mode="numba")
    xv = RNG.uniform(0.5, 1.0, (100, 2, 20, 20)).astype(np.float32)
    exact = np.tanh(xv.astype(np.float64)).sum(axis=(0, 2, 3))
    assert np.abs(f(xv) - exact).max() <= 0.03
