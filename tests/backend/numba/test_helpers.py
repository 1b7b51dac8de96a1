"""The numba helpers that replace libm in kernels: accuracy against numpy over the whole range,
special values, and that a kernel's loop calling them is vectorized."""
import numba
import numpy as np
import pytest

from symgrad.backend.numba.helpers import sigmoid32, sigmoid64, softplus64, vexp, vtanh, vtanh32
from symgrad.backend.numba import helpers


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
        out[i] = vtanh32(x[i])
    return out


_tanh_all = _loop_of(vtanh)
_exp_all = _loop_of(vexp)
_sigmoid_all = _loop_of(sigmoid64)


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
    rng = np.random.default_rng(1)
    # dense around the switch to tanh(x) = x (2**-12) and where 2|x| crosses powers of two
    special32 = SPECIAL[(np.abs(SPECIAL) < 1e30) | ~np.isfinite(SPECIAL)].astype(np.float32)  # inf, nan kept
    parts = [_sample(rng, 12.0), rng.uniform(2.0 ** -13, 2.0 ** -11, 100000), rng.uniform(0.3, 0.4, 100000)]
    x = np.concatenate([p.astype(np.float32) for p in parts] + [special32])
    got = _tanh32_all(x)
    assert got.dtype == np.float32
    ref = np.tanh(x.astype(np.float64)).astype(np.float32)
    finite = np.isfinite(ref)
    assert np.abs(got[finite].view(np.int32).astype(np.int64) - ref[finite].view(np.int32).astype(np.int64)).max() <= 1
    np.testing.assert_array_equal(got[~finite], ref[~finite])  # nan
    special = _tanh32_all(special32)
    np.testing.assert_array_equal(special[:8], np.tanh(special32[:8]))  # 0, -0, inf, nan, subnormals
    assert np.signbit(special[1])


@pytest.mark.parametrize("loop", [_tanh_all, _tanh32_all], ids=["float64", "float32"])
def test_a_tanh_loop_is_vectorized(loop):
    import re

    x = np.linspace(-3, 3, 64).astype(np.float64 if loop is _tanh_all else np.float32)
    loop(x)
    asm = loop.inspect_asm(loop.signatures[0])
    # tanh's final division, on several elements at once (x86: packed divide; ARM: fdiv on a vector)
    assert re.search(r"\b(vdivpd|divpd)\b|fdiv\s+v\d+\.2d", asm)


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


def test_exp_is_within_two_ulp_of_numpy_and_exact_at_the_ends():
    rng = np.random.default_rng(4)
    x = np.concatenate([_sample(rng, 700.0), rng.uniform(-745.2, -708, 20000), SPECIAL])
    with np.errstate(over="ignore", invalid="ignore"):
        ref = np.exp(x)
    got = _exp_all(x)
    normal = np.isfinite(ref) & (ref >= np.finfo(np.float64).tiny)
    assert _ulps(got[normal], ref[normal]).max() <= 2
    sub = np.isfinite(ref) & ~normal  # subnormal results: within 2 of the smallest subnormal
    assert np.abs(got[sub] - ref[sub]).max() <= 2 * 5e-324
    special = _exp_all(np.array([np.inf, -np.inf, np.nan, 710.0, -746.0, 0.0]))
    np.testing.assert_array_equal(special, [np.inf, 0.0, np.nan, np.inf, 0.0, 1.0])


def test_sigmoid_and_softplus_match_numpy_without_overflow():
    x = np.concatenate([_sample(np.random.default_rng(5), 800.0), SPECIAL])
    with np.errstate(over="ignore", invalid="ignore"):
        ref = np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    got = _sigmoid_all(x)
    ok = np.isfinite(ref) & (ref >= np.finfo(np.float64).tiny)
    assert _ulps(got[ok], ref[ok]).max() <= 4
    assert np.isnan(got[np.isnan(x)]).all()
    assert got[x == np.inf].tolist() == [1.0] and got[x == -np.inf].tolist() == [0.0]
    assert float(sigmoid32(np.float32(-200.0))) == 0.0
    assert float(sigmoid32(np.float32(3.0))) == np.float32(1 / (1 + np.exp(-3.0)))
    assert float(softplus64(1000.0)) == 1000.0 and abs(float(softplus64(0.5)) - np.log1p(np.exp(0.5))) <= 4e-16


def test_a_sigmoid_loop_is_vectorized():
    import re

    x = np.linspace(-3, 3, 64)
    _sigmoid_all(x)
    asm = _sigmoid_all.inspect_asm(_sigmoid_all.signatures[0])
    assert re.search(r"\b(vdivpd|divpd)\b|fdiv\s+v\d+\.2d", asm)  # (a packed divide, as for tanh)


@numba.njit
def _truth(a, n):
    return helpers.unlikely(a), helpers.unlikely(n)


def test_unlikely_is_the_truth():
    assert _truth(True, 0) == (True, False) and _truth(False, 3) == (False, True)


def _checked_then_tanh(guard: str):
    """A kernel's shape: twelve shape checks, each raising, then a tanh loop (LLVM counts every
    raise branch as taken half the time unless told otherwise, and the loop looks cold). ``guard``:
    ``unlikely`` or nothing before an ``if ...: raise``, or ``value_error_if``, the call kernels print."""
    if guard == "value_error_if":
        checks = "".join(f"    value_error_if(a{k}.shape[0] != n, 'bad {k}')\n" for k in range(12))
    else:
        checks = "".join(f"    if {guard}(a{k}.shape[0] != n):\n        raise ValueError('bad {k}')\n"
                         for k in range(12))
    args = ", ".join(f"a{k}" for k in range(12))
    source = (f"def f({args}, x):\n    n = x.shape[0]\n{checks}    o = np.empty(n)\n    for i in range(n):\n"
              "        o[i] = vtanh(x[i])\n    p = np.empty(n)\n    for i in range(n):\n"
              "        p[i] = vtanh(o[i] * 2.0)\n    return p\n")
    space = {"np": np, "vtanh": helpers.vtanh, "unlikely": helpers.unlikely, "value_error_if": helpers.value_error_if}
    exec(source, space)  # noqa: S102 - the text above
    return numba.njit(**helpers.JIT)(space["f"])


@pytest.mark.parametrize("guard", ["unlikely", "value_error_if"])
def test_checks_keep_the_loops_hot(guard):
    import re

    f = _checked_then_tanh(guard)
    x = np.linspace(-2, 2, 16)
    got = f(*[x] * 13)
    np.testing.assert_allclose(got, np.tanh(np.tanh(x) * 2), rtol=1e-14)
    with pytest.raises(ValueError, match="bad 3"):
        f(*[x] * 3, x[:2], *[x] * 9)
    llvm = f.inspect_llvm(f.signatures[0])
    assert not re.search(r"call [^\n]*vtanh", llvm)  # inlined into both loops (then vectorized)


@numba.njit
def _allocate(n, x, a):
    return (helpers.new_empty((n, 3), np.float32).shape, helpers.new_empty(n, a.dtype).dtype == a.dtype,
            helpers.new_zeros((n, 2), np.bool_), helpers.new_zeros(n, a.dtype),
            helpers.new_filled((2, n), np.float32(x)), helpers.new_filled((n,), x), helpers.new_filled((1,), True),
            helpers.new_vector((n, x, True), np.float64), helpers.new_vector((a.shape[0],), np.int64),
            helpers.new_empty((), np.float64).shape)


def test_new_arrays_are_numpys():
    """The allocation helpers generated code calls give what numpy's functions give."""
    a = np.arange(4, dtype=np.int32)
    shape, same_dtype, zeros, zeros_like_a, full, filled, flags, vector, shape_vector, empty0 = _allocate(3, 2.5, a)
    assert shape == (3, 3) and same_dtype and empty0 == ()
    for got, want in [(zeros, np.zeros((3, 2), np.bool_)), (zeros_like_a, np.zeros(3, np.int32)),
                      (full, np.full((2, 3), 2.5, np.float32)), (filled, np.full((3,), 2.5)),
                      (flags, np.full((1,), True)), (vector, np.array((3, 2.5, True), np.float64)),
                      (shape_vector, np.array((4,), np.int64))]:
        assert got.dtype == want.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)


def test_new_arrays_refuse_negative_sizes():
    with pytest.raises(ValueError):
        helpers.new_empty((-1, 2), np.float64)
    with pytest.raises(ValueError):
        helpers.new_zeros(-3, np.float64)
