"""backend/numba/emitters.py: elementwise loops over slices read the slice's base (at an offset)."""
import re

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba.codegen import generate


def _both(inputs, out, *values):
    got = sg.function(inputs, out, mode="numba")
    want = sg.function(inputs, out, mode="numpy")
    return got, got(*values), want(*values)


@pytest.mark.parametrize("cut", [
    lambda p: p[:, 4:8], lambda p: p[1:, 8:], lambda p: p[2:3, :5], lambda p: p[:, 20:],  # past the end: empty
    lambda p: p[:, 3:100], lambda p: p[5:, 1:], lambda p: p[:, :5], lambda p: p[:2],
], ids=["cols", "tail", "row", "empty", "clipped", "both", "head", "rows"])
def test_slice_of_a_product(cut):
    x, W = T.dmatrix("x"), T.dmatrix("W")
    pre = T.dot(x, W)
    xv, Wv = np.random.default_rng(0).standard_normal((4, 3)), np.random.default_rng(1).standard_normal((3, 12))
    got, a, b = _both([x, W], T.nnet.sigmoid(cut(pre)) * 2 + T.tanh(cut(pre)), xv, Wv)
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-300)
    assert a.shape == b.shape


def test_loop_reads_base():
    x, W = T.dmatrix("x"), T.dmatrix("W")
    pre = T.dot(x, W)
    f = sg.function([x, W], T.exp(pre[:, 4:8]), mode="numba")
    assert "4 + " in f.source  # read at an offset into the product, not through the view


def test_variable_start_and_3d():
    x, k = T.dtensor3("x"), T.lscalar("k")
    y = x * 1.0
    _, a, b = _both([x, k], [T.exp(y[1:, :, 2:]), T.exp(y[:, k:])], np.arange(24.0).reshape(2, 3, 4) / 10, 1)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-14)


def test_reshape_resolves_or_refuses_a_shape():
    x, s = T.dmatrix("x"), T.lvector("s")
    f = sg.function([x, s], x.reshape(s, ndim=2), mode="numba")
    v = np.arange(12.0).reshape(3, 4)
    for shape in ([6, 2], [-1, 3], [2, -1], [12, 1]):
        np.testing.assert_array_equal(f(v, shape), v.reshape(shape))
    for bad in ([5, 2], [-1, -1], [-1, 5], [-2, -6], [0, -1], [-3, 4]):
        with pytest.raises(ValueError, match="reshape"):
            f(v, bad)
    empty = np.zeros((0, 4))
    assert f(empty, [-1, 2]).shape == (0, 2)  # numpy's rule: -1 of 0 elements with the rest known
    with pytest.raises(ValueError, match="reshape"):
        f(empty, [0, -1])  # numpy: ambiguous
    r = sg.function([x], x.reshape(()), mode="numba")
    assert r(np.full((1, 1), 3.0)) == 3.0
    with pytest.raises(ValueError, match="reshape"):
        r(v)


def _layer(v):
    return T.tanh(1.5 * v + 0.25)


def test_a_repeated_loop_is_one_function():
    x = T.dvector("x")
    module = generate([x], [_layer(x), _layer(_layer(x)) + 0])
    names = [f.name for f in module.functions]
    assert names.count("ewloop0") == 1 and module.source.count("call_apart(ewloop0") >= 1
    assert [f.options for f in module.functions if f.name == "ewloop0"] == ["JIT_INNER"]


def _big(v):  # (more than fusion recomputes in each reader)
    return T.tanh(1.5 * v + 0.25) * T.exp(-v) + v * v * 0.5 + 1


def test_a_shared_loop_allocates_its_result():
    """A loop repeated with the same allocation is one statement: its function allocates the array
    and returns it. Repeated with another allocation (new, for an output), the loop alone is shared."""
    x = T.dvector("x")
    y1 = _big(x)
    y2 = _big(y1)  # the arena, as y1: one call
    y3 = _big(y2)  # an output: new, then the loop alone
    f = sg.function([x], [y3, (y1 * y2).sum()], mode="numba")
    src = f.source
    assert re.search(r"^    v\d+ = call_apart\(ewloop\d+, \(ws, ", src, flags=re.MULTILINE)
    assert re.search(r"^def ewloop\d+\(ws, p1, p2\):\n    p0 = arena_array\(ws, \(p2,\), np.float64, 8\)\n(.*\n)*"
                     r"    return p0$", src, flags=re.MULTILINE)
    assert re.search(r"^    (v\d+) = new_empty\(.*\n    call_apart\(ewloop\d+, \(\1, ", src, flags=re.MULTILINE)
    v = np.linspace(-1, 1, 7)

    def big(v):
        return np.tanh(1.5 * v + 0.25) * np.exp(-v) + v * v * 0.5 + 1

    got, total = f(v)
    np.testing.assert_allclose(got, big(big(big(v))), rtol=1e-14)
    np.testing.assert_allclose(total, (big(v) * big(big(v))).sum(), rtol=1e-14)
    again, _ = f(-v)  # the arena is carved again; the first result is the caller's own
    np.testing.assert_allclose(got, big(big(big(v))), rtol=1e-14)
    np.testing.assert_allclose(again, big(big(big(-v))), rtol=1e-14)


def test_shared_loops_give_the_inline_loops_bits():
    a, b, c = T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("c")
    w = sg.shared(np.linspace(0, 1, 6).reshape(2, 3), name="w")
    u = sg.shared(np.linspace(0, 1, 6).reshape(2, 3), name="u")
    outs = [_layer(a), _layer(b), _layer(c[:, 1:4])]  # the last reads a window of c
    f = sg.function([a, b, c], outs, updates=[(w, w - 0.1 * _layer(a)), (u, u - 0.1 * _layer(b))], mode="numba")
    assert f.source.count("call_apart(ewloop") >= 2
    v = np.random.default_rng(3).standard_normal((2, 3))
    wide = np.concatenate([v[:, :1], v, v[:, :1]], axis=1)
    got = f(v, v.copy(), wide)
    assert np.array_equal(got[0], got[1]) and np.array_equal(got[0], got[2])  # inline, shared, windowed
    np.testing.assert_allclose(got[0], np.tanh(1.5 * v + 0.25), rtol=1e-15)
    assert np.array_equal(w.get_value(), u.get_value())  # two updates, in place: inline and shared
    assert not np.array_equal(w.get_value(), np.linspace(0, 1, 6).reshape(2, 3))
    f.loop(3, v, v.copy(), wide)  # the kernel called apart from loop, the shared loops apart from it
    assert np.array_equal(w.get_value(), u.get_value())


def test_loops_of_one_text_and_other_parameters_stay_apart():
    row = T.TensorType("float64", (True,))
    x, y, s = row("x"), row("y"), T.dscalar("s")
    # (x, s), (y,) and (y, s): one loop text (s is read by none of them, every size is 1)
    outs = [T.tanh(x) + (s - s), T.tanh(y) + T.ones_like(y) * 0, T.tanh(y) + (s - s)]
    _, got, want = _both([x, y, s], outs, np.array([0.5]), np.array([0.25]), 1.0)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-15)
