"""call_inline: a call LLVM inlines even where it counts the site as cold."""
import re

import numba
import numpy as np
import pytest

from symgrad.backend.numba import helpers
from symgrad.backend.numba.inlined import call_inline


def _cold_loop(call: str):
    """A tanh loop after twelve checks that raise: LLVM counts each raise branch as taken half the
    time, so the loop's call sites look cold to it (where a long kernel's late loops find theirs)."""
    checks = "".join(f"    if x[{k}] == 1e300:\n        raise ValueError('bad {k}')\n" for k in range(12))
    source = (f"def f(x):\n{checks}    o = np.empty_like(x)\n    for i in range(x.shape[0]):\n"
              f"        o[i] = {call}\n    return o\n")
    space = {"np": np, "vtanh": helpers.vtanh, "call_inline": call_inline}
    exec(source, space)  # noqa: S102 - the text above
    return numba.njit(**helpers.JIT)(space["f"])


def _calls_vtanh(f) -> bool:
    return bool(re.search(r"call [^\n]*vtanh", f.inspect_llvm(f.signatures[0])))


def test_cold_call_sites_are_inlined():
    x = np.linspace(-3, 3, 17)
    plain, inlined = _cold_loop("vtanh(x[i])"), _cold_loop("call_inline(vtanh, x[i])")
    for f in (plain, inlined):
        np.testing.assert_array_equal(f(x), plain(x))
        np.testing.assert_allclose(f(x), np.tanh(x), rtol=1e-15)
    assert not _calls_vtanh(inlined)
    if not _calls_vtanh(plain):  # (what this guards against: LLVM keeping the call at a cold site)
        pytest.skip("this LLVM inlines vtanh at a cold site too: nothing to tell apart")


def test_kernels_call_the_elementwise_helpers_inlined():
    import symgrad as sg
    import symgrad.tensor as T

    x = T.dvector("x")
    f = sg.function([x], [T.tanh(x) + T.nnet.sigmoid(2 * x) + T.nnet.softplus(x - 1)], mode="numba")
    assert "call_inline(vtanh, " in f.source and "call_inline(sigmoid64, " in f.source
    v = np.linspace(-4, 4, 9)
    np.testing.assert_allclose(f(v)[0], np.tanh(v) + 1 / (1 + np.exp(-2 * v)) + np.log1p(np.exp(v - 1)), rtol=1e-14)
    # vexp: a float64 softmax's exponentials, and a logistic group's one exp (sigmoid and softplus of x)
    m = T.dmatrix("m")
    g = sg.function([m], [T.nnet.softmax(m), T.nnet.sigmoid(m) + T.nnet.softplus(m)], mode="numba")
    assert g.source.count("call_inline(vexp, ") == 2
    a = np.array([[0.5, -2.0, 3.0], [1.0, 0.0, -1.0]])
    e = np.exp(a - a.max(axis=1, keepdims=True))
    got = g(a)
    np.testing.assert_allclose(got[0], e / e.sum(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(got[1], 1 / (1 + np.exp(-a)) + np.log1p(np.exp(a)), rtol=1e-14)


def test_optional_results_are_refused():
    @numba.njit
    def maybe(x):
        return x if x > 0 else None

    @numba.njit
    def run(x):
        return call_inline(maybe, x)

    with pytest.raises(numba.core.errors.TypingError):
        run(1.0)
