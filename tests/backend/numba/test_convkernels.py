"""backend/numba/convkernels.py: the range of output columns that read inside the input, against
enumeration; im2col against the definition (every stride, dilation and padding up to small sizes)."""
import itertools

import numpy as np

from symgrad.backend.numba.convkernels import _im2col, _inside


def test_inside_range_is_exact():
    for n, v, s, d, p, count in itertools.product(range(0, 5), range(3), range(1, 4), range(1, 3), range(4),
                                                  range(0, 6)):
        inside = [j for j in range(count) if 0 <= j * s + v * d - p < n]
        lo, hi = _inside(n, v, s, d, p, count)
        assert list(range(lo, hi)) == inside, (n, v, s, d, p, count)


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
