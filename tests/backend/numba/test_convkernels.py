"""backend/numba/convkernels.py: im2col against the definition (strides, dilations, paddings)."""
import itertools

import numpy as np

from symgrad.backend.numba.convkernels import _im2col


def test_im2col_matches_definition():
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4))
    cases = [(3, 2, 1, 2, 2, 1, 1, 2), (1, 3, 0, 3, 1, 3, 2, 1), (2, 2, 2, 0, 3, 2, 1, 1)]
    for kh, kw, ph, pw, sh, sw, dh, dw in cases:
        oh = (5 + 2 * ph - (kh - 1) * dh - 1) // sh + 1
        ow = (4 + 2 * pw - (kw - 1) * dw - 1) // sw + 1
        cols = np.full((2 * kh * kw, oh * ow), np.nan)
        _im2col(x, 1, cols, kh, kw, ph, pw, sh, sw, dh, dw, oh, ow)
        xp = np.pad(x[1], ((0, 0), (ph, ph), (pw, pw)))
        for c, u, v, i, j in itertools.product(range(2), range(kh), range(kw), range(oh), range(ow)):
            assert cols[(c * kh + u) * kw + v, i * ow + j] == xp[c, i * sh + u * dh, j * sw + v * dw]
