"""backend/numba/convkernels.py: im2col against the definition (strides, dilations, paddings); the
unrolled 2x2 max pooling against numpy."""
import itertools

import numpy as np

from symgrad.backend.numba.convkernels import _im2col, pool_backward, pool_forward


def test_im2col_matches_definition():
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4))
    cases = [(3, 2, 1, 2, 2, 1, 1, 2), (1, 3, 0, 3, 1, 3, 2, 1), (2, 2, 2, 0, 3, 2, 1, 1), (2, 3, 0, 0, 1, 1, 1, 1)]
    for kh, kw, ph, pw, sh, sw, dh, dw in cases:
        oh = (5 + 2 * ph - (kh - 1) * dh - 1) // sh + 1
        ow = (4 + 2 * pw - (kw - 1) * dw - 1) // sw + 1
        cols = np.full((2 * kh * kw, oh * ow), np.nan)
        _im2col(x, 1, cols, kh, kw, ph, pw, sh, sw, dh, dw, oh, ow)
        xp = np.pad(x[1], ((0, 0), (ph, ph), (pw, pw)))
        for c, u, v, i, j in itertools.product(range(2), range(kh), range(kw), range(oh), range(ow)):
            assert cols[(c * kh + u) * kw + v, i * ow + j] == xp[c, i * sh + u * dh, j * sw + v * dw]


def test_max_pool_2x2_matches_numpy():
    # the unrolled 2x2 kernels: odd sizes (a row and a column no window reads), ties, a NaN
    rng = np.random.default_rng(1)
    for h, w, dtype in [(6, 8, np.float64), (7, 5, np.float32), (2, 3, np.float64)]:
        x = rng.integers(0, 3, (3, h, w)).astype(dtype)
        x[1, 0, 1] = np.nan
        oh, ow = h // 2, w // 2
        z = np.full((3, oh, ow), -1, dtype)
        pool_forward(x, 2, 2, 2, 2, 0, 0, 0, z)
        blocks = x[:, :2 * oh, :2 * ow].reshape(3, oh, 2, ow, 2)
        np.testing.assert_array_equal(z, blocks.max(axis=(2, 4)))
        gz = rng.standard_normal((3, oh, ow)).astype(dtype)
        gx = np.full_like(x, np.nan)
        pool_backward(x, z, gz, 2, 2, 2, 2, 0, 0, 0, gx)
        expect = np.zeros_like(x)
        up = np.repeat(np.repeat(z, 2, axis=1), 2, axis=2)
        expect[:, :2 * oh, :2 * ow] = np.where(x[:, :2 * oh, :2 * ow] == up, np.repeat(np.repeat(gz, 2, 1), 2, 2), 0)
        np.testing.assert_array_equal(gx, expect)
