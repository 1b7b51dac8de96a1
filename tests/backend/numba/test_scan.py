"""backend/numba/scan.py: the step reads its loop invariants C-ordered, whatever their layout."""
import numpy as np

import symgrad as sg
import symgrad.tensor as T


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
