"""backend/numba/sequence.py: a split kernel runs part by part from Python, each part compiled for
the types the compiled whole would give it."""
import numpy as np
from numba.core import event

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba.codegen import MAX_PART_LINES

rng = np.random.default_rng(3)


def _split_graph():
    """Outputs of a kernel long enough to be split, whose first part makes a transposed view and a
    float32 scalar that the last part reads."""
    x, v, z = T.dmatrix("x"), T.dvector("v"), T.fvector("z")
    xt = x.T  # numba types it layout 'F'; from Python, (1, m) gives a C-contiguous array
    zs = z.sum()  # float32
    y = v * xt.sum() * T.cast(zs, "float64")
    for k in range(MAX_PART_LINES // 8):  # (a mean between elementwise steps: two loops each)
        y = T.tanh(y - y.mean()) * (1.5 + 0.01 * k)  # (bodies differ: no loop is shared)
    return [x, v, z], [T.dot(xt, y), T.exp(z) * zs, y.sum()]


class _Compiles(event.Listener):
    def __init__(self):
        self.names = []

    def on_start(self, e):
        self.names.append(e.data["dispatcher"].py_func.__name__)

    def on_end(self, e):
        pass


def _inputs(n, m):
    return [rng.standard_normal((n, m)), rng.standard_normal(n), rng.standard_normal(m).astype(np.float32)]


def test_a_split_kernel_runs_part_by_part_with_static_types():
    inputs, outputs = _split_graph()
    f = sg.function(inputs, outputs, mode="numba")
    g = sg.function(inputs, outputs, mode="numpy")
    assert "def kernel_part1(" in f.source
    for shape in [(3, 4), (1, 4), (3, 1), (3, 4)]:  # x.T is F-ordered, then C and F-ordered, ...
        args = _inputs(*shape)
        compiles = _Compiles()
        with event.install_listener("numba:compile", compiles):
            got = f(*args)
        if shape != (3, 4):  # a layout seen differently from Python compiles nothing more
            assert [n for n in compiles.names if "kernel" in n] == []
        for r, want in zip(got, g(*args)):
            assert r.dtype == want.dtype
            tol = 1e-6 if r.dtype == np.float32 else 1e-12  # (relative to the largest: y - y.mean() cancels)
            np.testing.assert_allclose(r, want, rtol=tol, atol=tol * np.abs(want).max())


def test_loop_compiles_the_whole_kernel():
    inputs, outputs = _split_graph()
    w = sg.shared(np.zeros(4), name="w")
    f = sg.function(inputs, outputs[0], updates=[(w, w + outputs[0])], mode="numba")
    g = sg.function(inputs, outputs[0], updates=[(w, w + outputs[0])], mode="numpy")
    args = _inputs(3, 4)
    got = f.loop(3, *args)
    after = w.get_value()
    w.set_value(np.zeros(4))
    want = g.loop(3, *args)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(after, w.get_value(), rtol=1e-12)
