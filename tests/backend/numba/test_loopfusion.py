"""backend/numba/loopfusion.py and emitters.elemwise_group: consecutive elementwise nodes of one
iteration space run as one loop nest (values kept in scalars where only the nest reads them) and
give numpy's bits; nodes of other shapes, dtypes or broadcast patterns keep their own loops."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import codegen
from symgrad.backend.numba.cache import load_module
from symgrad.backend.numba.loopfusion import loop_groups
from symgrad.graph import toposort
from symgrad.testing import verify_grad

RNG = np.random.default_rng(11)


def _chain(y, n):
    """n steps of tanh(1.01 y + 0.1): elementwise fusion cuts it into nodes of a bounded depth."""
    for _ in range(n):
        y = T.tanh(y * 1.01 + 0.1)
    return y


def _heavy(y):
    """An expression too large to be recomputed in each reader (fusion keeps it a node of its own
    when two nodes read it)."""
    return T.tanh(T.exp(y * 0.3) * 0.5 - T.log1p(y * y) + T.sin(y) * T.cos(y * 2.0))


def _loops(f):
    return f.source.count("for ")


@pytest.fixture(scope="module")
def chain_step():
    x = T.dvector("x")
    y = _chain(x, 60)
    return sg.function([x], [y, sg.grad(y.sum(), x)], mode="numba"), sg.function(
        [x], [y, sg.grad(y.sum(), x)], mode="numpy")


def test_chain_and_its_gradient_run_as_one_loop(chain_step):
    f, ref = chain_step
    assert _loops(f) == 1  # (20 loops and 60 allocations before)
    xv = RNG.standard_normal(257)
    for got, want in zip(f(xv), ref(xv)):  # (numba's tanh and numpy's differ in the last bits)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_chain_rejects_a_matrix_and_is_unchanged_after(chain_step):
    f, ref = chain_step
    xv = RNG.standard_normal(5)
    before = f(xv)[0].copy()
    with pytest.raises(TypeError, match="x"):
        f(np.zeros((3, 3)))
    assert np.array_equal(f(xv)[0], before)


def _kernel(inputs, outputs, monkeypatch, nests):
    """The generated kernel of a graph as it is (every op its own node), with or without nests."""
    with monkeypatch.context() as m:
        if not nests:
            m.setattr(codegen, "loop_groups", lambda *args: {})
        module = codegen.generate(inputs, outputs)
    return module, load_module(module)["kernel"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nest_gives_the_bits_of_separate_loops(dtype, monkeypatch):
    x, b = T.matrix("x", dtype=dtype), T.vector("b", dtype=dtype)
    h = _heavy(x + b)
    outs = [h * 3.0 + _heavy(h), T.exp(-h), T.cast(h, "float64") * 0.1]
    nested, fn = _kernel([x, b], outs, monkeypatch, True)
    apart, ref = _kernel([x, b], outs, monkeypatch, False)
    assert nested.source.count("for ") == 2 < apart.source.count("for ")  # one nest of two axes
    assert nested.source.count("np.empty(") == len(outs)  # only the results get arrays
    xv, bv = RNG.standard_normal((7, 5)).astype(dtype), RNG.standard_normal(5).astype(dtype)
    for got, want in zip(fn(xv, bv), ref(xv, bv)):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_a_value_the_nest_returns_is_stored(mode):
    x = T.dvector("x")
    h = _heavy(x)
    g = _heavy(h) + h
    f = sg.function([x], [h, g], mode=mode)
    xv = RNG.standard_normal(9)
    hv = np.tanh(np.exp(xv * 0.3) * 0.5 - np.log1p(xv * xv) + np.sin(xv) * np.cos(xv * 2.0))
    hh = np.tanh(np.exp(hv * 0.3) * 0.5 - np.log1p(hv * hv) + np.sin(hv) * np.cos(hv * 2.0))
    got_h, got_g = f(xv)
    np.testing.assert_allclose(got_h, hv, rtol=1e-13)
    np.testing.assert_allclose(got_g, hh + hv, rtol=1e-13)


def test_gradient_through_a_nest(mode):
    verify_grad(lambda x: (_heavy(_heavy(x)) * _heavy(x)).sum(), [RNG.standard_normal(6)], mode=mode)


def test_4d_nest_merges_the_trailing_axes(monkeypatch):
    x, w, b = T.tensor4("x"), T.tensor4("w"), T.vector("b")
    y = T.nnet.conv2d(x, w)  # (a C-ordered result: its axes may merge)
    h = _heavy(y + b.dimshuffle("x", 0, "x", "x"))
    outs = [_heavy(h) * h]
    nested, fn = _kernel([x, w, b], outs, monkeypatch, True)
    _, ref = _kernel([x, w, b], outs, monkeypatch, False)
    assert ".reshape(" in nested.source
    xv, wv, bv = RNG.standard_normal((2, 3, 6, 6)), RNG.standard_normal((4, 3, 3, 3)), RNG.standard_normal(4)
    assert np.array_equal(fn(xv, wv, bv)[0], ref(xv, wv, bv)[0])
    f = sg.function([x, w, b], outs, mode="numba")
    np.testing.assert_allclose(f(xv, wv, bv)[0], sg.function([x, w, b], outs, mode="numpy")(xv, wv, bv)[0],
                               rtol=1e-12)


def test_shape_mismatch_in_a_nest_is_a_value_error():
    x, y = T.dvector("x"), T.dvector("y")
    h = _heavy(x)
    f = sg.function([x, y], [_heavy(h) + y * h], mode="numba")
    with pytest.raises(ValueError, match="shape"):
        f(np.ones(4), np.ones(5))


def test_other_broadcast_patterns_keep_their_loops():
    r, m = T.row("r"), T.matrix("m")
    h = T.exp(r)  # (1, n)
    z = T.tanh(h + m)  # (k, n): another iteration space
    (group,) = loop_groups(toposort([z]), [z], set()).values()
    assert [n.outputs[0] for n in group.nodes] == [z.owner.inputs[0], z]


def test_integer_and_bool_values_are_not_kept_in_scalars():
    x = T.dvector("x")
    positive = T.gt(x, 0)  # bool
    z = positive * x
    assert loop_groups(toposort([z]), [z], set()) == {}


def test_excluded_nodes_and_constant_fills_start_no_nest():
    x = T.dvector("x")
    y = T.exp(x)
    z = T.tanh(y)
    order = toposort([z])
    assert len(loop_groups(order, [z], set())) == 1
    assert loop_groups(order, [z], {id(order[-1])}) == {}
    zeros = T.zeros_like(x) + 0.0
    assert loop_groups(toposort([zeros]), [zeros], set()) == {}


def test_unread_value_and_outputs_are_not_virtual():
    x = T.dvector("x")
    y = T.exp(x)
    z = T.tanh(y)
    w = T.sin(z)
    (group,) = loop_groups(toposort([z, w]), [z, w], set()).values()
    assert len(group.nodes) == 3
    assert group.virtual == frozenset({id(y)})
