"""The numba helpers that replace libm in kernels: accuracy against numpy over the whole range,
special values, and that a kernel's loop calling them is vectorized."""
import numba
import numpy as np
import pytest

from symgrad.backend.numba.helpers import vtanh


def _loop_of(fn):
    """A jitted loop applying ``fn`` to every element, compiled as kernels are."""
    @numba.njit(error_model="numpy")
    def apply(x):
        out = np.empty_like(x)
        for i in range(x.size):
            out[i] = fn(x[i])
        return out
    return apply


@numba.njit(error_model="numpy")
def _tanh32_all(x):  # what float32 kernels print
    out = np.empty_like(x)
    for i in range(x.size):
        out[i] = np.float32(vtanh(np.float64(x[i])))
    return out


_tanh_all = _loop_of(vtanh)


def _ulps(got, ref):
    ok = np.isfinite(ref) & (ref != 0)
    return np.abs(got[ok] - ref[ok]) / np.spacing(np.abs(ref[ok]).astype(ref.dtype))


def _sample(rng, scale):
    tiny = np.logspace(-320, np.log10(scale), 4000)
    return np.concatenate([rng.standard_normal(20000) * scale / 10, rng.uniform(-scale, scale, 20000), tiny, -tiny])


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310, 22.0, -22.0, 21.99, 0.17328679513998632,
                    0.3466, 19.06, 709.78, -745.13, 1e300, -1e300])


def test_tanh_is_within_four_ulp_of_numpy_and_exact_at_special_values():
    rng = np.random.default_rng(0)
    # dense where the formula changes (Taylor expm1 up to 2|x| = 0.7) and near 0, plus the range
    x = np.concatenate([_sample(rng, 30.0), rng.uniform(0.3, 0.4, 200000), rng.uniform(0.15, 0.2, 200000),
                        rng.uniform(0, 1e-2, 200000), [0.17331473110491039, -0.17394708876133044], SPECIAL])
    got, ref = _tanh_all(x), np.tanh(x)
    finite = np.isfinite(ref)
    assert np.abs(got[finite].view(np.int64) - ref[finite].view(np.int64)).max() <= 4
    special = _tanh_all(SPECIAL)
    np.testing.assert_array_equal(special[:8], np.tanh(SPECIAL[:8]))  # 0, -0 (sign kept), inf, nan, subnormals
    assert np.signbit(special[1]) and np.isnan(special[4])
    assert np.all(np.abs(special[~np.isnan(special)]) <= 1)


def test_float32_tanh_is_within_one_float32_ulp_of_float64():
    x = _sample(np.random.default_rng(1), 12.0).astype(np.float32)
    got = _tanh32_all(x)
    assert got.dtype == np.float32
    ref = np.tanh(x.astype(np.float64))
    ok = ref != 0
    assert np.all(np.abs(got[ok] - ref[ok]) <= np.spacing(np.abs(ref[ok]).astype(np.float32)))


@pytest.mark.parametrize("loop", [_tanh_all, _tanh32_all], ids=["float64", "float32"])
def test_a_tanh_loop_is_vectorized(loop):
    import re

    x = np.linspace(-3, 3, 64).astype(np.float64 if loop is _tanh_all else np.float32)
    loop(x)
    asm = loop.inspect_asm(loop.signatures[0])
    # the floor of tanh's exp reduction, on several elements at once (x86: packed round; ARM: frint)
    assert re.search(r"\b(vrndscalepd|vroundpd|roundpd)\b|frint\w+\s+v\d+\.2d", asm)


@pytest.mark.parametrize("mode", ["numpy", "numba"])
def test_tanh_in_a_compiled_function_matches_numpy(mode):
    import symgrad as sg
    import symgrad.tensor as T

    x = T.dmatrix("x")
    f = sg.function([x], [T.tanh(x), sg.grad(T.tanh(x).sum(), x)], mode=mode)
    v = np.random.default_rng(3).standard_normal((7, 5)) * 4
    h, g = f(v)
    np.testing.assert_allclose(h, np.tanh(v), rtol=1e-15, atol=0)
    # 1 - tanh**2 near |tanh| = 1 cancels: an ulp of tanh is an ulp of 1 in the derivative
    np.testing.assert_allclose(g, 1 - np.tanh(v) ** 2, rtol=1e-13, atol=4e-16)
