"""tensor/signal/pool.py: pool_2d's values against a direct numpy loop (Theano's rules), its
gradient against finite differences (ties: every maximum gets the gradient, as in Theano), and
its errors, on every backend. One function per backend holds the whole table (compile cost)."""
import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.tensor.signal.pool import pool_2d
from symgrad.testing import verify_grad
from tests.conftest import BACKENDS

RNG = np.random.default_rng(4)
X = T.tensor4("X")
XV = RNG.standard_normal((2, 3, 7, 6))
MODES = ["max", "sum", "average_exc_pad", "average_inc_pad"]
# (ws, stride, pad, ignore_border)
SHAPES = [((2, 2), None, (0, 0), True), ((2, 2), None, (0, 0), False), ((3, 2), (1, 2), (1, 1), True),
          ((3, 3), (2, 2), (0, 0), False), ((2, 3), (3, 1), (1, 0), True), ((1, 1), (2, 3), (0, 0), False)]


def direct(x, ws, stride, pad, ignore_border, mode):
    """Theano's Pool.perform, written out: windows over the padded input, clipped to the input
    (to the padded input for average_inc_pad), partial windows kept unless ignore_border."""
    (kh, kw), (sh, sw), (ph, pw) = ws, stride, pad
    h, w = x.shape[-2:]
    sizes = []
    for n, k, s, p in ((h, kh, sh, ph), (w, kw, sw, pw)):
        if ignore_border:
            sizes.append((n + 2 * p - k) // s + 1)
        else:
            sizes.append((n - 1) // s + 1 if s >= k else max(0, (n - 1 - k + s) // s) + 1)
    xp = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)])
    out = np.zeros(x.shape[:-2] + tuple(sizes))
    for i in range(sizes[0]):
        for j in range(sizes[1]):
            r0, r1 = i * sh, min(i * sh + kh, h + 2 * ph)
            c0, c1 = j * sw, min(j * sw + kw, w + 2 * pw)
            inner = xp[..., max(r0, ph):min(r1, h + ph), max(c0, pw):min(c1, w + pw)]
            if mode == "max":
                out[..., i, j] = inner.max(axis=(-2, -1))
            elif mode == "sum":
                out[..., i, j] = inner.sum(axis=(-2, -1))
            elif mode == "average_exc_pad":
                out[..., i, j] = inner.mean(axis=(-2, -1))
            else:
                out[..., i, j] = inner.sum(axis=(-2, -1)) / ((r1 - r0) * (c1 - c0))
    return out


def _cases():
    return [(mode, *shape) for mode in MODES for shape in SHAPES]


@pytest.fixture(scope="module")
def results():
    outs = []
    for mode, ws, stride, pad, ib in _cases():
        y = pool_2d(X, ws=ws, stride=stride, pad=pad, ignore_border=ib, mode=mode)
        outs += [y, sg.grad((y * y).sum(), X)]
    return {m: sg.function([X], outs, mode=m)(XV) for m in BACKENDS}


def test_values(results, mode):
    for k, (pmode, ws, stride, pad, ib) in enumerate(_cases()):
        np.testing.assert_allclose(results[mode][2 * k], direct(XV, ws, stride or ws, pad, ib, pmode), rtol=1e-13,
                                   err_msg=f"{pmode} {ws} {stride} {pad} {ib}")


def test_backends_agree(results):
    for a, b in zip(results["numpy"], results[BACKENDS[-1]]):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("pmode", MODES)
def test_verify_grad(pmode):
    for ws, stride, pad, ib in SHAPES[2:4]:
        verify_grad(lambda x: pool_2d(x, ws=ws, stride=stride, pad=pad, ignore_border=ib, mode=pmode), [XV[:1]],
                    mode="numpy")


def test_verify_grad_numba():
    def pooled(x):
        y = pool_2d(x, ws=(3, 2), stride=(1, 2), pad=(1, 1), ignore_border=True, mode="max")
        return pool_2d(T.tanh(y), ws=(2, 2), ignore_border=False, mode="average_inc_pad")
    verify_grad(pooled, [XV[:1]], mode="numba")


def test_ties_all_get_the_gradient(mode):
    x = T.dmatrix("x")
    y = pool_2d(x, ws=(2, 2), ignore_border=True)
    g = sg.function([x], sg.grad(y.sum(), x), mode=mode)(np.array([[1.0, 1.0], [0.0, 1.0]]))
    np.testing.assert_array_equal(g, [[1.0, 1.0], [0.0, 1.0]])


def test_any_rank_and_second_derivative(mode):
    x = T.dtensor3("x")
    y = pool_2d(x, ws=(2, 2), ignore_border=True, mode="average_exc_pad")
    g = sg.grad((y ** 2).sum(), x)
    xv = RNG.standard_normal((2, 4, 5))
    got = sg.function([x], [y, sg.grad((g ** 2).sum(), x)], mode=mode)(xv)
    np.testing.assert_allclose(got[0], direct(xv[None], (2, 2), (2, 2), (0, 0), True, "average_exc_pad")[0],
                               rtol=1e-13)
    assert got[1].shape == xv.shape


def test_old_keywords_and_default():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = pool_2d(X, ds=(2, 2), st=(1, 1))
    assert any("ignore_border" in str(w.message) for w in caught)
    assert y.owner.op.params.stride == (1, 1) and not y.owner.op.params.ignore_border


def test_bad_input():
    with pytest.raises(ValueError, match="ws must be >= 1"):
        pool_2d(X, ws=(0, 2), ignore_border=True)
    with pytest.raises(TypeError, match="at least 2 dimensions.*'v'"):
        pool_2d(T.dvector("v"), ws=(2, 2), ignore_border=True)
    with pytest.raises(ValueError, match="mode"):
        pool_2d(X, ws=(2, 2), ignore_border=True, mode="min")
    with pytest.raises(ValueError, match="ignore_border=True"):
        pool_2d(X, ws=(2, 2), pad=(1, 1), ignore_border=False)
    with pytest.raises(NotImplementedError, match="max pooling"):
        g = sg.grad(pool_2d(X, ws=(2, 2), ignore_border=True).sum(), X)
        sg.grad(g.sum(), X)


def test_nan_wins_a_max_window(mode):
    x = T.dmatrix("x")
    xv = np.array([[1.0, np.nan, 0.0, 2.0], [3.0, 0.5, 1.0, 1.0]])
    got = sg.function([x], pool_2d(x, ws=(2, 2), ignore_border=True), mode=mode)(xv)
    assert np.isnan(got[0, 0]) and got[0, 1] == 2.0
