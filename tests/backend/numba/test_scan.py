"""backend/numba/scan.py: the step reads its loop invariants C-ordered, whatever their layout, and
the rows of a reversed sequence from the sequence itself."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import codegen


def test_invariants_of_any_layout():
    h0, W, v = T.dmatrix("h0"), T.dmatrix("W"), T.dvector("v")
    # W.T is F-ordered, v[::2] strided: the kernel copies both once, before the loop
    hs, _ = sg.scan(lambda h, Wt, u: T.tanh(T.dot(h, Wt) + u), outputs_info=h0, non_sequences=[W.T, v[::2]],
                    n_steps=4)
    cost = hs[-1].sum()
    outs = [hs, sg.grad(cost, W), sg.grad(cost, v)]
    rng = np.random.default_rng(5)
    values = rng.standard_normal((3, 5)), rng.standard_normal((5, 5)) * 0.5, rng.standard_normal(10)
    got = sg.function([h0, W, v], outs, mode="numba")(*values)
    want = sg.function([h0, W, v], outs, mode="numpy")(*values)
    h = values[0]
    for _ in range(4):
        h = np.tanh(h @ values[1].T + values[2][::2])
    np.testing.assert_allclose(got[0][-1], h, rtol=1e-13)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_reversed_sequences_read_their_base():
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    y = x * 2.0  # a C-ordered result: its reversal's rows are read from it directly
    outs = []
    for seq, n in [(y[::-1], None), (y[1:][::-1], 3), (x[::-1], 2), (y[::-2], None)]:
        hs, _ = sg.scan(lambda r, h: T.tanh(r + h), sequences=seq, outputs_info=h0, n_steps=n)
        outs.append(hs)
    outs.append(sg.grad(sum(o.sum() for o in outs), x))
    values = np.random.default_rng(6).standard_normal((5, 3)), np.zeros(3)
    f = sg.function([x, h0], outs, mode="numba")
    got, want = f(*values), sg.function([x, h0], outs, mode="numpy")(*values)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    assert ".shape[0] - 1 - " in f.source  # (the gradient's backward scans read reversed histories)
    h = values[1]
    for r in (values[0] * 2)[::-1]:
        h = np.tanh(r + h)
    np.testing.assert_allclose(got[0][-1], h, rtol=1e-13)


def test_stored_values_written_into_their_rows():
    x, h0 = T.dmatrix("x"), T.dvector("h0")

    def step(r, h):
        new = T.tanh(r + h)
        # a carry with history and a per-step output computed in the step (written into their rows),
        # the same value stored twice and a row of the sequence itself (copied)
        return new, new * 2.0, new, r

    (hs, doubled, again, rows), _ = sg.scan(step, sequences=x, outputs_info=[h0, None, None, None])
    outs = [hs, doubled, again, rows]
    f = sg.function([x, h0], outs, mode="numba")
    assert f.source.count("# its row, passed in") == 2
    rng = np.random.default_rng(7)
    for shape in [(4, 3), (1, 3), (0, 3), (3, 0)]:
        values = rng.standard_normal(shape), rng.standard_normal(shape[1])
        got, want = f(*values), sg.function([x, h0], outs, mode="numpy")(*values)
        for a, b in zip(got, want):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=1e-15, atol=1e-15)  # (tanh: helpers.vtanh, within 2 ulp)
    k = T.lvector("k")
    g = sg.function([k], sg.scan(lambda i: T.exp(T.arange(i) * 0.5), sequences=k)[0], mode="numba")
    assert "# its row, passed in" in g.source
    np.testing.assert_allclose(g(np.array([2, 2, 2])), np.exp(np.arange(2) * 0.5)[None].repeat(3, 0), rtol=1e-15)
    with pytest.raises(ValueError, match="keep one shape"):  # a row that does not fit is not written
        g(np.array([2, 2, 3]))


def test_a_step_split_into_parts(monkeypatch, tmp_path):
    # a step longer than MAX_PART_LINES runs as parts; the part writing a history row into the
    # buffer passed in (a destination) must be given that buffer
    monkeypatch.setattr(codegen, "MAX_PART_LINES", 12)
    monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))  # (no plan generated with other parts)
    x, h0 = T.dmatrix("x"), T.dvector("h0")

    def step(r, h):
        a = T.tanh(r * h + 0.5)
        b = T.exp(-a * a) * r
        return T.tanh(a + b.sum() * h)

    hs, _ = sg.scan(step, sequences=x, outputs_info=h0)
    outs = [hs, sg.grad(hs[-1].sum(), x)]
    values = np.random.default_rng(8).standard_normal((4, 3)), np.full(3, 0.3)
    f = sg.function([x, h0], outs, mode="numba")
    assert "def step_part1" in f.source
    for a, b in zip(f(*values), sg.function([x, h0], outs, mode="numpy")(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
