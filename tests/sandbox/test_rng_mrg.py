"""MRG_RandomStreams: Theano's samples, the same bits on both backends, distributions, state threading
through function / loop / scan, symbolic sizes, gradients around draws, errors."""
import numpy as np
import pytest
from scipy import stats

import symgrad as sg
import symgrad.tensor as T
from symgrad.sandbox.rng_mrg import MRG_RandomStreams, guess_n_streams
from symgrad.tensor.random import M1, NORM32, mrg_substreams

# L'Ecuyer et al.'s Java MRG31k3p from seed [12345] * 6 (the data of Theano's
# samples_MRG31k3p_12_7_5.txt): stream 0's seven substreams, five samples each, then stream 1's first.
JAVA_STREAM0 = [
    0.7353244530968368, 0.6142074400559068, 0.11007806099951267, 0.6487741703167558, 0.36619443260133266,
    0.2585685825906694, 0.9489980279468, 0.4309556516818702, 0.12257590936496854, 0.9760319022461772,
    0.6940806899219751, 0.18046841165050864, 0.003993193618953228, 0.5351603352464736, 0.02472442388534546,
    0.7705746139399707, 0.8138928869739175, 0.9650539481081069, 0.24507411010563374, 0.35767574002966285,
    0.4939101580530405, 0.9027785388752818, 0.27498403564095497, 0.03848231676965952, 0.3081609820947051,
    0.9062023567967117, 0.009030417073518038, 0.7953705741092563, 0.5061718439683318, 0.5975547162815928,
    0.5435514179989696, 0.330895590595901, 0.49919482320547104, 0.9409166998229921, 0.8276205519214272]
JAVA_STREAM1 = [0.5180770065635443, 0.2319392478093505, 0.36197659047320485, 0.11120751267299056,
                0.5018561617471278]


def test_theano_reference_samples(mode):
    srng = MRG_RandomStreams(seed=12345)
    draws = []
    for _ in range(2):  # two draws: the second starts 2**134 steps on (Theano's next stream)
        f = sg.function([], srng.uniform(size=(7,), nstreams=7, dtype="float64"), mode=mode)
        draws.append(np.array([f() for _ in range(5)]).T.ravel())
    np.testing.assert_allclose(draws[0], JAVA_STREAM0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(draws[1][:5], JAVA_STREAM1, rtol=0, atol=1e-15)


def test_substreams_and_streams_guess():
    rows = mrg_substreams(np.full(6, 12345), 40)
    assert rows.dtype == np.int32 and rows.shape == (40, 6)
    assert len({tuple(r) for r in rows}) == 40
    assert guess_n_streams((10, 20)) == 33 and guess_n_streams((3,)) == 3 and guess_n_streams(T.lvector()) == 15360


def test_float32_open_interval():
    # the largest integer sample (M1) stays below 1 in float32 arithmetic; the smallest above 0
    assert np.float32(M1) * NORM32 < np.float32(1.0)
    assert np.float32(1) * NORM32 > 0
    srng = MRG_RandomStreams(seed=7)
    u = sg.function([], srng.uniform((4000,), dtype="float32"), mode="numpy")()
    assert u.dtype == np.float32 and ((u > 0) & (u < 1)).all()


def _all_draws(srng, x, s):
    """Every kind of draw, sizes static and symbolic."""
    pv = T.constant(np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]))
    return [
        srng.uniform((3, 5), low=-1.0, high=2.0, dtype="float32"),
        srng.uniform(size=x.shape, dtype="float64"),
        srng.normal((5,), avg=1.0, std=s, dtype="float64"),
        srng.normal([x.shape[0], 3], dtype="float32"),
        srng.binomial(size=x.shape, p=0.3, dtype="int8"),
        srng.binomial(p=T.nnet.sigmoid(x), dtype="float64"),
        srng.multinomial(pvals=pv, n=20),
        srng.choice(size=2, replace=False, p=pv),
        srng.choice(size=4, replace=True, p=pv),
    ]


@pytest.fixture(scope="module")
def same_seed_functions():
    x, s = T.dmatrix("x"), T.dscalar("s")
    fns = {}
    for mode in ("numpy", "numba"):
        srng = MRG_RandomStreams(seed=99)
        fns[mode] = sg.function([x, s], _all_draws(srng, x, s), mode=mode)
    return fns


def test_same_bits_numpy_numba(same_seed_functions):
    x = np.zeros((4, 3))
    for _ in range(2):  # the states advance identically too
        ref = same_seed_functions["numpy"](x, 2.0)
        got = same_seed_functions["numba"](x, 2.0)
        for k, (r, g) in enumerate(zip(ref, got)):
            assert r.dtype == g.dtype and r.shape == g.shape
            if k in (2, 3):  # normal: same uniforms, then each backend's log/cos/sin (float32: within an ulp)
                np.testing.assert_allclose(r, g, rtol=4 * np.finfo(r.dtype).eps, atol=0)
            else:
                np.testing.assert_array_equal(r, g)
    assert [r.shape for r in ref] == [(3, 5), (4, 3), (5,), (4, 3), (4, 3), (4, 3), (2, 3), (2, 2), (2, 4)]
    assert [r.dtype for r in ref][:5] == [np.float32, np.float64, np.float64, np.float32, np.int8]


@pytest.fixture(scope="module")
def big_samples():
    srng = MRG_RandomStreams(seed=4321)
    p = T.dvector("p")
    pv = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    f = sg.function([p], [srng.uniform((20000,), dtype="float64"), srng.normal((20000,), avg=3.0, std=2.0),
                          srng.binomial(size=(20000,), p=0.3), srng.binomial(p=p, dtype="float64"),
                          srng.multinomial(pvals=pv, n=5000),
                          srng.choice(size=2, replace=False, p=np.repeat(pv[:1], 4000, axis=0))],
                    mode="numpy")
    return f(np.full(20000, 0.8))


def test_uniform_distribution(big_samples):
    u = big_samples[0]
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_normal_distribution(big_samples):
    z = big_samples[1]
    assert abs(z.mean() - 3.0) < 0.05 and abs(z.std() - 2.0) < 0.05
    assert stats.kstest(z, "norm", args=(3.0, 2.0)).pvalue > 1e-3


def test_binomial_distribution(big_samples):
    b, bp = big_samples[2], big_samples[3]
    assert b.dtype == np.int64 and set(np.unique(b)) <= {0, 1}
    assert abs(b.mean() - 0.3) < 0.015 and abs(b.var() - 0.21) < 0.01
    assert abs(bp.mean() - 0.8) < 0.015


def test_multinomial_and_choice_distribution(big_samples):
    counts, picks = big_samples[4], big_samples[5]
    assert (counts.sum(axis=1) == 5000).all()
    np.testing.assert_allclose(counts / 5000, [[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], atol=0.03)
    assert (picks[:, 0] != picks[:, 1]).all()  # without replacement
    np.testing.assert_allclose(np.bincount(picks[:, 0], minlength=3) / 4000, [0.1, 0.2, 0.7], atol=0.03)


def test_reproducible_and_advancing():
    a, b = MRG_RandomStreams(seed=5), MRG_RandomStreams(seed=5)
    fa = sg.function([], a.normal((4,)), mode="numpy")
    fb = sg.function([], b.normal((4,)), mode="numpy")
    first = fa()
    assert not np.array_equal(first, fa())  # the state advances with each call
    np.testing.assert_array_equal(first, fb())  # same seed, same draws
    a.seed(5)
    np.testing.assert_array_equal(first, fa())  # re-seeding restarts every draw
    a.seed(6)
    assert not np.array_equal(first, fa())
    g = sg.function([], a.state_updates[0][0] * 1, mode="numpy", no_default_updates=True)
    state = a.state_updates[0][0].get_value()
    g()
    np.testing.assert_array_equal(state, a.state_updates[0][0].get_value())
    assert [s for s, _ in a.updates()] == [a.state_updates[0][0]]


def test_no_default_updates_repeats():
    srng = MRG_RandomStreams(seed=3)
    u = srng.uniform((3,))
    f = sg.function([], u, mode="numpy", no_default_updates=True)
    np.testing.assert_array_equal(f(), f())
    assert u.rstate is u.rng and u.update[0] is u.rstate and u.rstate.default_update is u.update[1]


def test_dtype_and_floatx():
    srng = MRG_RandomStreams(seed=3)
    old = sg.config.floatX
    try:
        sg.config.floatX = "float32"
        assert srng.uniform((2,)).dtype == "float32" and srng.normal((2,)).dtype == "float32"
        assert srng.uniform((2,), low=T.dscalar()).dtype == "float64"  # upcast by the symbolic bound
    finally:
        sg.config.floatX = old
    assert srng.binomial(size=(2,), dtype="float32").dtype == "float32"
    assert srng.multinomial(pvals=np.ones((2, 2)) / 2, dtype="int32").dtype == "int32"


def test_loop_matches_calls(mode):
    def build():
        srng = MRG_RandomStreams(seed=11)
        return sg.function([], srng.uniform((5,), nstreams=2), mode=mode), srng

    f1, s1 = build()
    f2, s2 = build()
    calls = [f1() for _ in range(4)]
    last = f2.loop(4)
    np.testing.assert_array_equal(last, calls[-1])
    np.testing.assert_array_equal(s1.state_updates[0][0].get_value(), s2.state_updates[0][0].get_value())


def _gibbs(srng, W, v0, k):
    """rbm.py's Gibbs chain: every step draws binomial hidden and visible units."""
    def step(v):
        h_mean = T.nnet.sigmoid(T.dot(v, W))
        h = srng.binomial(size=h_mean.shape, n=1, p=h_mean, dtype="float64", nstreams=3)
        v_mean = T.nnet.sigmoid(T.dot(h, W.T))
        v1 = srng.binomial(size=v_mean.shape, n=1, p=v_mean, dtype="float64", nstreams=3)
        return [h_mean, h, v_mean, v1]

    return sg.scan(step, outputs_info=[None, None, None, v0], n_steps=k)


def test_draws_inside_scan(mode):
    W = sg.shared(np.linspace(-1, 1, 12).reshape(4, 3), name="W")
    v0 = T.dmatrix("v0")
    (_, hs, _, vs), updates = _gibbs(MRG_RandomStreams(seed=8), W, v0, 3)
    states = list(updates)
    assert len(states) == 2 and all(s.dtype == "int32" for s in states)  # both draws' states come back
    f = sg.function([v0], [hs, vs], updates=updates, mode=mode)
    start = [s.get_value() for s in states]
    x = np.ones((2, 4))
    hs1, vs1 = f(x)
    assert hs1.shape == (3, 2, 3) and vs1.shape == (3, 2, 4) and set(np.unique(vs1)) <= {0.0, 1.0}
    assert not all(np.array_equal(a, s.get_value()) for a, s in zip(start, states))
    # three steps at once are the same draws as one step three times (states handed over)
    (_, h1, _, v1), up1 = _gibbs(MRG_RandomStreams(seed=8), W, v0, 1)
    for old, new in zip(up1, states):
        old.set_value(new.get_value())
    g = sg.function([v0], [h1[-1], v1[-1]], updates=up1, mode=mode)
    for s, a in zip(states, start):
        s.set_value(a)
    hs2, vs2 = f(x)
    for old, a in zip(up1, start):
        old.set_value(a)
    v = x
    for t in range(3):
        h, v = g(v)
        np.testing.assert_array_equal(h, hs2[t])
        np.testing.assert_array_equal(v, vs2[t])


def test_scan_draws_without_updates_is_an_error():
    W = sg.shared(np.ones((2, 2)), name="W")
    v0 = T.dmatrix("v0")
    (_, _, _, vs), _ = _gibbs(MRG_RandomStreams(seed=8), W, v0, 2)
    with pytest.raises(ValueError, match="pass the updates scan returned"):
        sg.function([v0], vs, mode="numpy")


def test_gradient_through_mask(mode):
    srng = MRG_RandomStreams(seed=2)
    x, mu = T.dvector("x"), T.dscalar("mu")
    mask = srng.binomial(size=x.shape, p=0.5, dtype="float64")
    z = srng.normal(x.shape, avg=mu, std=2.0)
    cost = (x * mask).sum() + (x * z).sum()
    gx, gmu = sg.grad(cost, [x, mu])
    f = sg.function([x, mu], [mask, z, gx, gmu], mode=mode)
    xv = np.arange(6.0)
    m, zv, g, gm = f(xv, 0.5)
    np.testing.assert_array_equal(g, m + zv)  # the samples are constants of the differentiation
    assert float(gm) == pytest.approx(xv.sum())  # d/dmu of x * (mu + 2 * n) is x


def test_errors():
    srng = MRG_RandomStreams(seed=1)
    with pytest.raises(ValueError, match=r"size\[1\] is -2"):
        srng.uniform((3, -2))
    with pytest.raises(TypeError, match=r"size\[0\] must be an int or an integer scalar"):
        srng.uniform((2.5,))
    with pytest.raises(TypeError, match="size must be a tuple of ints or an integer vector"):
        srng.uniform(T.dvector("v"))
    with pytest.raises(ValueError, match="ndim=3 but size has 2 entries"):
        srng.uniform((2, 3), ndim=3)
    with pytest.raises(ValueError, match="pass ndim="):
        srng.uniform(T.lvector("shp"))
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got 'int32'"):
        srng.uniform((2,), dtype="int32")
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\], got 1.5"):
        srng.binomial(size=(2,), p=1.5)
    with pytest.raises(ValueError, match=r"pvals must lie in \[0, 1\]"):
        srng.multinomial(pvals=[[-0.5, 1.5]])
    with pytest.raises(NotImplementedError, match="only n=1"):
        srng.binomial(size=(2,), n=3)
    with pytest.raises(TypeError, match="specify pvals"):
        srng.multinomial()
    with pytest.raises(TypeError, match="a must be None"):
        srng.choice(a=3, p=np.ones((1, 3)) / 3)
    with pytest.raises(ValueError, match="seed must be a positive int"):
        MRG_RandomStreams(seed=0)
    with pytest.raises(ValueError, match="first 3 values of seed must not all be 0"):
        MRG_RandomStreams(seed=[0, 0, 0, 1, 2, 3])


def test_runtime_size_errors(mode):
    srng = MRG_RandomStreams(seed=1)
    k = T.lscalar("k")
    f = sg.function([k], srng.uniform([k, 2]), mode=mode)
    assert f(0).shape == (0, 2)
    with pytest.raises(ValueError, match="negative"):
        f(-1)
    p = T.dmatrix("p")
    g = sg.function([p], srng.choice(size=3, replace=False, p=p), mode=mode)
    with pytest.raises(ValueError, match="without replacement"):
        g(np.ones((1, 2)) / 2)


def test_gradient_through_scan_with_dropout(mode):
    """Backpropagation through a scan whose step draws a mask: the gradient uses the same masks
    as the forward pass (checked by central differences with the state reset each time)."""
    srng = MRG_RandomStreams(seed=5)
    W = sg.shared(np.array([[0.5, -0.2], [0.1, 0.3]]), name="W")
    h0 = T.dvector("h0")

    def step(h):
        mask = srng.binomial(size=h.shape, p=0.8, dtype="float64")
        return T.tanh(T.dot(h * mask, W)) + 0.1

    hs, updates = sg.scan(step, outputs_info=h0, n_steps=3)
    cost = hs[-1].sum()
    f = sg.function([h0], [cost, sg.grad(cost, W)], updates=updates, mode=mode)
    (state,) = list(updates)
    start = state.get_value()
    x = np.array([1.0, 2.0])

    def cost_at(w):
        state.set_value(start)
        W.set_value(w)
        return float(f(x)[0])

    w0 = W.get_value()
    _, grad = f(x)
    numeric = np.zeros_like(w0)
    for idx in np.ndindex(*w0.shape):
        step_ = np.zeros_like(w0)
        step_[idx] = 1e-6
        numeric[idx] = (cost_at(w0 + step_) - cost_at(w0 - step_)) / 2e-6
    np.testing.assert_allclose(grad, numeric, atol=1e-8)
    assert np.abs(grad).sum() > 0


def test_draw_made_outside_scan_is_drawn_once(mode):
    """A sample drawn outside the step and read inside is one value per call (Theano), not a new
    draw each step."""
    srng = MRG_RandomStreams(seed=3)
    u = srng.uniform((3,), dtype="float64")
    h0 = T.dvector("h0")
    hs, updates = sg.scan(lambda h: h + u, outputs_info=h0, n_steps=3)
    assert len(updates) == 0
    f = sg.function([h0], [hs, u], mode=mode)
    out, drawn = f(np.zeros(3))
    np.testing.assert_allclose(out, np.outer([1, 2, 3], drawn))
    out2, drawn2 = f(np.zeros(3))
    assert not np.array_equal(drawn, drawn2)  # the state still advances once per call


def test_draw_made_inside_step(mode):
    """A draw the step makes is drawn every step, also when its size is constant or comes from a
    non-sequence (the step gets the non-sequences themselves): the same masks as the draws made one
    after the other from the same state."""
    srng = MRG_RandomStreams(seed=3)
    x, h0 = T.dvector("x"), T.dvector("h0")

    def step(h, xx):
        return h + srng.binomial(size=xx.shape, p=0.5, dtype="float64") * xx + srng.uniform((3,), dtype="float64")

    hs, updates = sg.scan(step, outputs_info=h0, non_sequences=[x], n_steps=4)
    assert len(updates) == 2
    starts = [s.get_value() for s in updates]
    f = sg.function([h0, x], hs, updates=updates, mode=mode)
    out = f(np.zeros(3), np.ones(3))
    # the same draws made by hand, one step after the other
    mask_start, u_start = sorted(starts, key=len, reverse=True)  # (the mask's size is symbolic: 15360 streams)
    ref = MRG_RandomStreams(seed=3)
    mask, u = ref.uniform((3,), dtype="float64", nstreams=len(mask_start)), ref.uniform((3,), dtype="float64")
    for (state, _), start in zip(ref.state_updates, (mask_start, u_start)):
        state.set_value(start)
    g = sg.function([], [mask < 0.5, u], mode="numpy")
    steps = [np.asarray(m, dtype=float) + v for m, v in (g() for _ in range(4))]
    np.testing.assert_array_equal(out, np.cumsum(steps, axis=0))
