"""tensor/nnet/abstract_conv.py: conv2d's values against a direct numpy loop, its gradients against
finite differences, and its errors, on every backend.

Compile cost decides the layout: all cases of a table are outputs of ONE function per backend; the
numba backend's gradients (first and second order) are compared with the numpy backend's, which
``verify_grad`` checks against finite differences, and one numba ``verify_grad`` covers a case
with padding, strides and dilation."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.tensor.nnet import conv as old_conv
from symgrad.testing import verify_grad
from tests.conftest import BACKENDS

RNG = np.random.default_rng(3)
X, W = T.tensor4("X"), T.tensor4("W")
XV, WV = RNG.standard_normal((2, 3, 7, 6)), RNG.standard_normal((4, 3, 3, 2))
# (border_mode, subsample, filter_dilation, filter_flip)
CASES = [("valid", (1, 1), (1, 1), True), ("full", (2, 1), (1, 2), False), ("half", (1, 2), (2, 1), True),
         ((1, 2), (2, 2), (1, 1), True), (2, (3, 1), (2, 2), False)]


def direct(x, w, border, subsample, dilation, flip):
    """The convolution written as its definition: a sum over channels and filter taps."""
    kh, kw = w.shape[2:]
    if flip:
        w = w[:, :, ::-1, ::-1]
    pads = []
    for b, k, d in zip(border if isinstance(border, tuple) else (border, border), (kh, kw), dilation):
        span = (k - 1) * d + 1
        pads.append({"valid": 0, "full": span - 1, "half": span // 2}.get(b, b))
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0],) * 2, (pads[1],) * 2))
    (sh, sw), (dh, dw) = subsample, dilation
    oh, ow = (xp.shape[2] - (kh - 1) * dh - 1) // sh + 1, (xp.shape[3] - (kw - 1) * dw - 1) // sw + 1
    out = np.zeros((x.shape[0], w.shape[0], oh, ow))
    for i in range(oh):
        for j in range(ow):
            for u in range(kh):
                for v in range(kw):
                    out[:, :, i, j] += xp[:, :, i * sh + u * dh, j * sw + v * dw] @ w[:, :, u, v].T
    return out


def _table():
    outs = []
    for border, sub, dil, flip in CASES:
        y = T.nnet.conv2d(X, W, border_mode=border, subsample=sub, filter_dilation=dil, filter_flip=flip)
        gx, gw = sg.grad((y * y).sum() * 0.5 + y.sum(), [X, W])
        outs += [y, gx, gw, *sg.grad((gx * gx).sum() + (gw ** 3).sum(), [X, W])]  # (second order: the three ops)
    return outs


@pytest.fixture(scope="module")
def results():
    outs = _table()
    return {m: sg.function([X, W], outs, mode=m)(XV, WV) for m in BACKENDS}


def test_values(results, mode):
    for k, (border, sub, dil, flip) in enumerate(CASES):
        got = results[mode][5 * k]
        np.testing.assert_allclose(got, direct(XV, WV, border, sub, dil, flip), rtol=1e-12, atol=1e-12)


def test_backends_agree(results):
    for a, b in zip(results["numpy"], results[BACKENDS[-1]]):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_verify_grad(case):
    border, sub, dil, flip = CASES[case]
    verify_grad(lambda x, w: T.nnet.conv2d(x, w, border_mode=border, subsample=sub, filter_dilation=dil,
                                           filter_flip=flip), [XV[:1], WV[:2]], mode="numpy")


def test_verify_grad_of_the_gradients():
    def second(x, w):
        y = T.nnet.conv2d(x, w, border_mode=(1, 0), subsample=(2, 1))
        gx, gw = sg.grad((T.tanh(y) ** 2).sum(), [x, w])
        return gx.sum() * 0.3 + (gw ** 2).sum()
    verify_grad(second, [XV[:1, :, :5], WV[:2]], mode="numpy")


def test_verify_grad_numba():
    verify_grad(lambda x, w: T.tanh(T.nnet.conv2d(x, w, border_mode="half", subsample=(2, 1), filter_dilation=(1, 2))),
                [XV[:1], WV[:2]], mode="numba")


def test_float32_end_to_end(mode):
    x, w = T.ftensor4("x"), T.ftensor4("w")
    y = T.nnet.conv2d(x, w, border_mode="half")
    outs = [y, *sg.grad(y.sum(), [x, w])]
    got = sg.function([x, w], outs, mode=mode)(XV.astype("float32"), WV.astype("float32"))
    assert all(g.dtype == np.float32 for g in got)
    np.testing.assert_allclose(got[0], direct(XV, WV, "half", (1, 1), (1, 1), True), rtol=1e-4, atol=1e-4)


def test_old_path_and_hints(mode):
    y = old_conv.conv2d(X, W, image_shape=(None, 3, 7, 6), filter_shape=(4, 3, 3, 2), border_mode="full")
    got = sg.function([X, W], y, mode=mode)(XV, WV)
    np.testing.assert_allclose(got, direct(XV, WV, "full", (1, 1), (1, 1), True), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="shape"):  # a hint that the arrays break
        sg.function([X, W], y, mode=mode)(XV[:, :, :5], WV)


def test_bad_input_at_build():
    with pytest.raises(TypeError, match="4-D tensor, got 'M'"):
        T.nnet.conv2d(T.dmatrix("M"), W)
    with pytest.raises(TypeError, match="float"):
        T.nnet.conv2d(T.itensor4("I"), W)
    with pytest.raises(ValueError, match="'X' has 3 channels.*'W' expects 2"):
        T.nnet.conv2d(X, W, input_shape=(None, 3, 7, 6), filter_shape=(4, 2, 3, 3))
    with pytest.raises(ValueError, match="border_mode"):
        T.nnet.conv2d(X, W, border_mode="same")
    with pytest.raises(ValueError, match="subsample"):
        T.nnet.conv2d(X, W, subsample=(0, 1))


def test_bad_input_at_run_time_changes_nothing(mode):
    w = sg.shared(WV.copy(), name="w")
    y = T.nnet.conv2d(X, w)
    f = sg.function([X], y.sum(), updates=[(w, w - 0.1 * sg.grad(y.sum(), w))], mode=mode)
    with pytest.raises(ValueError, match="'X'.*channels|channels.*'X'"):
        f(XV[:, :2])
    with pytest.raises(ValueError, match="do not fit"):  # a 3x2 filter on a 2x6 'valid' input
        f(XV[:, :, :2])
    np.testing.assert_array_equal(w.get_value(), WV)
    f(XV)
    assert not np.array_equal(w.get_value(), WV)
