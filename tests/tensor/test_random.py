"""RandomStreams (numpy RandomState semantics) and the random ops of tensor/random.py: Theano's tutorial
"Using Random Numbers", numpy's bits, the same bits on both backends, distributions, loop and scan,
pickling, gradients around draws, errors."""
import pickle

import numpy as np
import pytest
from scipy import stats

import symgrad as sg
import symgrad.tensor as T
from symgrad.compile.shared import RandomStateSharedVariable
from symgrad.sandbox.rng_mrg import MRG_RandomStreams
from symgrad.tensor.random import MT_STATE_SIZE, pack_random_state, unpack_random_state
from symgrad.tensor.shared_randomstreams import RandomStreams


def _first_seed(seed, k=0):
    """The seed RandomStreams(seed) gives its k-th draw's RandomState."""
    gen = np.random.RandomState(seed)
    return [int(gen.randint(2 ** 30)) for _ in range(k + 1)][k]


def test_tutorial_using_random_numbers(mode):
    srng = RandomStreams(seed=234)
    rv_u = srng.uniform((2, 2))
    rv_n = srng.normal((2, 2))
    f = sg.function([], rv_u, mode=mode)
    g = sg.function([], rv_n, mode=mode, no_default_updates=True)
    nearly_zeros = sg.function([], rv_u + rv_u - 2 * rv_u, mode=mode)
    f_val0, f_val1 = f(), f()
    assert not np.allclose(f_val0, f_val1)  # different numbers from f each call
    np.testing.assert_array_equal(g(), g())  # the same numbers from g each call
    np.testing.assert_allclose(nearly_zeros(), 0.0, atol=1e-15)  # one draw per call, used three times
    # seeding one stream, then all of them
    rng_val = rv_u.rng.get_value(borrow=True)
    rng_val.seed(89234)
    rv_u.rng.set_value(rng_val, borrow=True)
    np.testing.assert_array_equal(f(), np.random.RandomState(89234).uniform(size=(2, 2)))
    srng.seed(902340)
    seeds = np.random.RandomState(902340).randint(2 ** 30, size=2)
    np.testing.assert_array_equal(f(), np.random.RandomState(int(seeds[0])).uniform(size=(2, 2)))
    np.testing.assert_array_equal(g(), np.random.RandomState(int(seeds[1])).normal(size=(2, 2)))
    # sharing streams between functions; restoring a state reproduces the draws
    state_after_v0 = rv_u.rng.get_value().get_state()
    nearly_zeros()  # this affects rv_u's generator
    v1 = f()
    rng = rv_u.rng.get_value(borrow=True)
    rng.set_state(state_after_v0)
    rv_u.rng.set_value(rng, borrow=True)
    v2 = f()  # v2 != v1
    v3 = f()  # v3 == v1
    assert not np.allclose(v1, v2)
    np.testing.assert_array_equal(v1, v3)


@pytest.mark.parametrize("streams", [RandomStreams, MRG_RandomStreams])
def test_tutorial_copying_random_state(streams):
    class Graph:
        def __init__(self, seed=123):
            self.rng = streams(seed)
            self.y = self.rng.uniform(size=(1,))

    g1, g2 = Graph(seed=123), Graph(seed=987)
    f1, f2 = sg.function([], g1.y, mode="numpy"), sg.function([], g2.y, mode="numpy")
    assert f1() != f2()

    def copy_random_state(g1, g2):
        if isinstance(g1.rng, MRG_RandomStreams):
            g2.rng.rstate = g1.rng.rstate
        for su1, su2 in zip(g1.rng.state_updates, g2.rng.state_updates):
            su2[0].set_value(su1[0].get_value())

    copy_random_state(g1, g2)
    assert f1() == f2()


def test_numpy_bits(mode):
    srng = RandomStreams(seed=7)
    lo = T.dvector("lo")
    u = srng.uniform(size=(3, 4), low=lo, high=2.0)
    n = srng.normal(size=(5,), avg=1.0, std=3.0)
    n32 = srng.normal(size=(3,), dtype="float32")
    f = sg.function([lo], [u, n, n32], mode=mode)
    low = np.array([-1.0, 0.0, 0.5, 1.0])
    for _ in range(2):
        got = f(low)
    rs = [np.random.RandomState(_first_seed(7, k)) for k in range(3)]
    want_u = [rs[0].uniform(low, 2.0, size=(3, 4)) for _ in range(2)][-1]
    want_n = [rs[1].normal(1.0, 3.0, size=(5,)) for _ in range(2)][-1]
    want_n32 = [rs[2].normal(size=(3,)) for _ in range(2)][-1].astype(np.float32)
    np.testing.assert_array_equal(got[0], want_u)
    np.testing.assert_array_equal(got[1], want_n)
    np.testing.assert_array_equal(got[2], want_n32)
    assert got[2].dtype == np.float32


def _all_draws(srng, x):
    return [srng.uniform(size=x.shape, low=-1.0, high=T.constant(np.array([1.0, 2.0, 3.0])), dtype="float32"),
            srng.normal(avg=x, std=2.0),
            srng.binomial(size=(4,), n=5, p=0.3), srng.binomial(p=T.nnet.sigmoid(x), dtype="float64"),
            srng.binomial(size=(3,), prob=0.5),
            srng.random_integers((6,), low=-2, high=3), srng.permutation((2,), n=5), srng.permutation(n=4),
            srng.choice((7,), a=4), srng.choice((3,), a=np.array([10., 20., 30.]), p=[0.2, 0.3, 0.5]),
            srng.choice((3,), a=5, replace=False), srng.multinomial((2,), n=10, pvals=[0.1, 0.2, 0.7]),
            srng.choice((2,), a=np.array([5, 6, 7, 8]), replace=False, p=[0.1, 0.2, 0.3, 0.4])]


@pytest.fixture(scope="module")
def both_backends():
    x = T.dmatrix("x")
    return {mode: sg.function([x], _all_draws(RandomStreams(seed=42), x), mode=mode) for mode in ("numpy", "numba")}


def test_same_bits_numpy_numba(both_backends):
    x = np.zeros((2, 3))
    for _ in range(2):  # the packed states advance identically too
        ref, got = both_backends["numpy"](x), both_backends["numba"](x)
        for r, g in zip(ref, got):
            assert r.dtype == g.dtype and r.shape == g.shape
            np.testing.assert_array_equal(r, g)
    shapes = [(2, 3), (2, 3), (4,), (2, 3), (3,), (6,), (2, 5), (4,), (7,), (3,), (3,), (2, 3), (2,)]
    assert [r.shape for r in ref] == shapes


@pytest.fixture(scope="module")
def big_samples():
    srng = RandomStreams(seed=2024)
    f = sg.function([], [srng.binomial(size=(20000,), n=5, p=0.3), srng.random_integers((20000,), low=-2, high=3),
                         srng.permutation((500,), n=6), srng.choice((20000,), a=3, p=[0.2, 0.3, 0.5]),
                         srng.choice((4,), a=4, replace=False), srng.multinomial((2000,), n=10, pvals=[0.1, 0.2, 0.7]),
                         srng.uniform((20000,)), srng.normal((20000,), avg=-1.0, std=0.5)], mode="numpy")
    return f()


def test_distributions(big_samples):
    binom, ints, perms, picks, perm4, counts, u, z = big_samples
    assert abs(binom.mean() - 1.5) < 0.03 and abs(binom.var() - 1.05) < 0.05
    assert set(np.unique(ints)) == set(range(-2, 4))
    np.testing.assert_allclose(np.bincount(ints + 2) / 20000, np.full(6, 1 / 6), atol=0.015)
    assert all(sorted(p) == list(range(6)) for p in perms)
    assert len({tuple(p) for p in perms}) > 300  # of the 720 permutations
    np.testing.assert_allclose(np.bincount(picks) / 20000, [0.2, 0.3, 0.5], atol=0.015)
    assert sorted(perm4) == [0, 1, 2, 3]
    assert (counts.sum(axis=1) == 10).all()
    np.testing.assert_allclose(counts.mean(axis=0), [1.0, 2.0, 7.0], atol=0.1)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    assert stats.kstest(z, "norm", args=(-1.0, 0.5)).pvalue > 1e-3


def test_loop(mode):
    def build():
        srng = RandomStreams(seed=5)
        return sg.function([], srng.normal((3,)), mode=mode)

    f1, f2 = build(), build()
    calls = [f1() for _ in range(3)]
    np.testing.assert_array_equal(f2.loop(3), calls[-1])


def test_draws_inside_scan(mode):
    srng = RandomStreams(seed=11)
    h0 = T.dvector("h0")
    hs, updates = sg.scan(lambda h: h + srng.normal(size=h.shape, std=0.1), outputs_info=h0, n_steps=4)
    (state,) = list(updates)
    assert isinstance(state, RandomStateSharedVariable)
    f = sg.function([h0], hs, updates=updates, mode=mode)
    start = state.get_value()
    out = f(np.zeros(3))
    want = np.cumsum(start.normal(0.0, 0.1, size=(4, 3)), axis=0)  # the same generator, step after step
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-15)
    assert state.get_value().get_state()[2] == start.get_state()[2]  # the state advanced like numpy's


def test_shared_random_state_value():
    r = sg.shared(np.random.RandomState(3), name="r")
    assert isinstance(r, RandomStateSharedVariable) and r.type.describe() == "int64 vector"
    assert r.get_value(return_internal_type=True).shape == (MT_STATE_SIZE,)
    rs = r.get_value()
    rs.random_sample()  # drawing from the copy changes nothing until it is set back
    assert r.get_value().random_sample() == np.random.RandomState(3).random_sample()
    r.set_value(rs)
    ref = np.random.RandomState(3)
    ref.random_sample()
    assert r.get_value().random_sample() == ref.random_sample()
    r2 = pickle.loads(pickle.dumps(r))
    assert isinstance(r2, RandomStateSharedVariable)
    assert r2.get_value().random_sample() == r.get_value().random_sample()
    with pytest.raises(TypeError, match="expected a numpy.random.RandomState"):
        r.set_value(np.zeros(3))
    gauss = np.random.RandomState(1)
    gauss.standard_normal()  # a cached gaussian survives packing
    assert unpack_random_state(pack_random_state(gauss)).standard_normal() == gauss.standard_normal()


def test_srng_getitem_and_updates():
    srng = RandomStreams(seed=1)
    rv = srng.uniform((2,))
    assert isinstance(srng[rv], np.random.RandomState)
    srng[rv] = np.random.RandomState(77)
    np.testing.assert_array_equal(sg.function([], rv, mode="numpy")(), np.random.RandomState(77).uniform(size=2))
    assert srng.updates() == [rv.update] and rv.update[0] is rv.rng and rv.rng.default_update is rv.update[1]


def test_gradient_through_mask(mode):
    srng = RandomStreams(seed=3)
    x = T.dvector("x")
    mask = srng.binomial(size=x.shape, p=0.5, dtype="float64")
    f = sg.function([x], [mask, sg.grad((x * mask * x).sum(), x)], mode=mode)
    m, g = f(np.arange(5.0))
    np.testing.assert_array_equal(g, 2 * np.arange(5.0) * m)


def test_errors():
    srng = RandomStreams(seed=1)
    with pytest.raises(ValueError, match=r"size\[0\] is -1"):
        srng.uniform((-1, 2))
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.2"):
        srng.binomial(size=(2,), p=1.2)
    with pytest.raises(ValueError, match="n must be >= 0"):
        srng.binomial(size=(2,), n=-1)
    with pytest.raises(ValueError, match="ndim=1 but size has 2 entries"):
        srng.normal((2, 2), ndim=1)
    with pytest.raises(ValueError, match="has more dimensions than the 1-d size"):
        srng.uniform((3,), low=T.dmatrix("lo"))
    with pytest.raises(TypeError, match="dtype must be float32 or float64"):
        srng.uniform((2,), dtype="int64")
    with pytest.raises(NotImplementedError, match="pvals must be a vector"):
        srng.multinomial(pvals=np.ones((2, 2)) / 2)


def test_choice_without_replacement_with_p(mode):
    srng = RandomStreams(seed=8)
    f = sg.function([], srng.choice((2,), a=3, replace=False, p=[0.6, 0.3, 0.1]), mode=mode)
    pairs = np.array([f() for _ in range(3000)])
    assert (pairs[:, 0] != pairs[:, 1]).all()
    np.testing.assert_allclose(np.bincount(pairs[:, 0], minlength=3) / 3000, [0.6, 0.3, 0.1], atol=0.03)
    # the second draw among the rest: P(second = 1) = 0.6 * 0.3 / 0.4 + 0.1 * 0.3 / 0.9
    assert abs((pairs[:, 1] == 1).mean() - (0.6 * 0.75 + 0.1 / 3)) < 0.03
    g = sg.function([], srng.choice((3,), a=3, replace=False, p=[0.5, 0.5, 0.0]), mode=mode)
    with pytest.raises(ValueError, match="fewer outcomes of positive probability"):
        g()


def test_runtime_errors(mode):
    srng = RandomStreams(seed=1)
    k, hi = T.lscalar("k"), T.lscalar("hi")
    f = sg.function([k], srng.choice([k], a=3, replace=False), mode=mode)
    assert sorted(f(3)) == [0, 1, 2]
    with pytest.raises(ValueError, match="without replacement"):
        f(4)
    with pytest.raises(ValueError, match="negative"):
        f(-1)
    g = sg.function([hi], srng.random_integers((3,), low=2, high=hi), mode=mode)
    assert set(g(2)) == {2}
    with pytest.raises(ValueError, match="below low"):
        g(1)
    lo = T.dmatrix("lo")
    h = sg.function([lo], srng.uniform((2, 3), low=lo), mode=mode)
    with pytest.raises(ValueError):
        h(np.zeros((3, 3)))  # does not broadcast to the size


def test_numpy_bits_from_any_state(mode):
    """A state mid-way through its key, at an odd word (a randint consumed one) and with a cached
    gaussian: the draws are still numpy's."""
    srng = RandomStreams(seed=1)
    u, z = srng.uniform((700,)), srng.normal((3,))
    f = sg.function([], [u, z], mode=mode)
    rs = np.random.RandomState(9)
    rs.randint(2 ** 30)
    rs.standard_normal()
    srng[u], srng[z] = rs, rs
    got_u, got_z = f()
    np.testing.assert_array_equal(got_u, rs.uniform(size=700))
    rs2 = np.random.RandomState(9)
    rs2.randint(2 ** 30)
    rs2.standard_normal()
    np.testing.assert_array_equal(got_z, rs2.normal(size=3))
