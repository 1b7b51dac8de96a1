"""``symgrad.scan`` and its relatives (symgrad/scan_module): values against plain numpy loops, on
both backends.

Every case of the table is an output of ONE function per backend (a module-scoped fixture: one
numba compile for the whole table); each test calls it and checks its own output. Shared-variable
updates and ``Function.loop`` get a second function per backend, the tutorial's RNN with taps a
third."""
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.scan_module import foldl, foldr, map as scan_map, reduce as scan_reduce, scan, until
from tests.conftest import BACKENDS

x, A, coeffs, fib0, s = T.dvectors("x", "A", "coeffs", "fib0", "s")
k, xv, limit = T.lscalar("k"), T.dscalar("xv"), T.dscalar("limit")
X3, W, U, H0 = T.dtensor3("X3"), T.dmatrix("W"), T.dmatrix("U"), T.dmatrix("H0")
b = T.dvector("b")
w = sg.shared(2.0, name="w")  # read inside steps: an implicit input
INPUTS = [x, A, k, coeffs, xv, fib0, s, limit, X3, W, U, b, H0]


def _rnn_step(xt, h, W, U, b):
    return T.tanh(T.dot(xt, W) + T.dot(h, U) + b)


def _outputs():
    """name -> symbolic output; each uses Theano's interface the way its tutorial does."""
    out = {}
    out["cumsum"], _ = scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0))
    out["power"], _ = scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A), non_sequences=A, n_steps=k)
    terms, _ = scan(lambda c, p, z: c * z ** p, sequences=[coeffs, T.arange(1000)], non_sequences=xv)
    out["polynomial"] = terms.sum()
    out["fibonacci"], _ = scan(lambda a, b: a + b, outputs_info=dict(initial=fib0, taps=[-2, -1]), n_steps=k)
    out["sequence_taps"], _ = scan(lambda a, b, c: a * 100 + b * 10 + c, sequences=dict(input=s, taps=[-2, 0, 1]))
    out["go_backwards"], _ = scan(lambda v, acc: acc * 2 + v, sequences=x, outputs_info=T.constant(0.0),
                                  go_backwards=True)
    (out["fed_back"], out["not_fed_back"]), _ = scan(lambda v, acc: (acc + v, v * acc), sequences=x,
                                                     outputs_info=[T.constant(0.0), None])
    (out["none_first"], out["carry_second"]), _ = scan(lambda v, acc: (v - acc, acc * 0.5 + v), sequences=x,
                                                       outputs_info=[None, T.constant(1.0)])
    out["until"], _ = scan(lambda p: (p * 2, until(p * 2 > limit)), outputs_info=T.constant(1.0), n_steps=100)
    out["until_sequence"], _ = scan(lambda v, acc: (acc + v, until(acc + v > 2.0)), sequences=x,
                                    outputs_info=T.constant(0.0))
    out["map"], _ = scan_map(lambda v: v ** 2, x)
    out["map_two"], _ = scan_map(lambda u, v: u * v, [x, x[::-1]])
    out["reduce"], _ = scan_reduce(lambda v, acc: acc + v * v, x, T.constant(0.0))
    out["foldl"], _ = foldl(lambda v, acc: acc * 10 + v, x, T.constant(0.0))
    out["foldr"], _ = foldr(lambda v, acc: acc * 10 + v, x, T.constant(0.0))
    out["implicit_shared"], _ = scan_map(lambda v: v * w, x)
    out["strict"], _ = scan(lambda v, w: v * w, sequences=x, non_sequences=w, strict=True)
    out["rnn"], _ = scan(_rnn_step, sequences=X3, outputs_info=H0, non_sequences=[W, U, b])
    out["int_carry"], _ = scan(lambda c: c * 2 + 1, outputs_info=T.constant(np.int64(1)), n_steps=k)
    out["bool_carry"], _ = scan(lambda v, c: T.xor(c, T.gt(v, 0)), sequences=x, outputs_info=T.constant(False))
    out["until_int"], _ = scan(lambda v, c: (c + v, until(T.eq(c + v, 3))), sequences=T.arange(k),
                               outputs_info=T.constant(np.int64(0)))
    out["until_last"] = out["until"][-1]
    (out["mixed_h"], out["mixed_y"], out["mixed_c"]), _ = scan(
        _mixed_step, sequences=[dict(input=s, taps=[1, -1]), x], non_sequences=xv,
        outputs_info=[dict(initial=fib0, taps=[-1, -2]), None, T.constant(0.0)])
    out["nested"], _ = scan(_nested_step, sequences=x, outputs_info=T.constant(0.0), non_sequences=A)
    return out


def _mixed_step(ahead, back, v, h_1, h_2, c, z):
    """Theano's argument order: sequences' taps as given, recurrent outputs' taps as given (None
    outputs take none), then non_sequences."""
    return h_1 - 0.5 * h_2 + ahead * z, back * 100 + v, c + h_1


def _mixed(p):
    h, ys, cs, c = list(p["fib0"]), [], [], 0.0
    for t in range(min(len(p["s"]) - 2, len(p["x"]))):
        ys.append(p["s"][t] * 100 + p["x"][t])
        c += h[-1]
        cs.append(c)
        h.append(h[-1] - 0.5 * h[-2] + p["s"][t + 2] * p["xv"])
    return np.array(h[2:]), np.array(ys), np.array(cs)


def _nested_step(v, acc, A):
    """acc + sum_j v A[j] ** 2 (an inner scan over A, of which only the last step is read)."""
    inner, _ = scan(lambda u, s, v: s + v * u ** 2, sequences=A, outputs_info=T.constant(0.0), non_sequences=v)
    return acc + inner[-1]


def _loop(step, n, init):
    """The per-step values of ``carry = step(t, carry)``, stacked."""
    values, carry = [], init
    for t in range(n):
        carry = step(t, carry)
        values.append(carry)
    return np.array(values)


def _until(values, stop, dtype="float64"):
    """The values up to and including the first one where ``stop`` holds."""
    for t, v in enumerate(values):
        if stop(v):
            return np.array(values[:t + 1], dtype=dtype)
    return np.array(values, dtype=dtype)


def _rnn(p):
    h, hs = p["H0"], []
    for xt in p["X3"]:
        h = np.tanh(xt @ p["W"] + h @ p["U"] + p["b"])
        hs.append(h)
    return np.array(hs).reshape((len(p["X3"]),) + p["H0"].shape)


def _polynomial(p):
    return sum((c * p["xv"] ** i for i, c in enumerate(p["coeffs"])), np.float64(0.0))


def _fibonacci(p):
    seq = list(p["fib0"])
    for _ in range(p["k"]):
        seq.append(seq[-2] + seq[-1])
    return np.array(seq[2:])


def _fold(values):
    acc = 0.0
    for v in values:
        acc = acc * 10 + v
    return acc


REFERENCE = {
    "cumsum": lambda p: np.cumsum(p["x"]),
    "power": lambda p: _loop(lambda t, c: c * p["A"], p["k"], np.ones_like(p["A"])).reshape(p["k"], len(p["A"])),
    "polynomial": _polynomial,
    "fibonacci": _fibonacci,
    "sequence_taps": lambda p: np.array([p["s"][t - 2] * 100 + p["s"][t] * 10 + p["s"][t + 1]
                                         for t in range(2, len(p["s"]) - 1)]),
    "go_backwards": lambda p: _loop(lambda t, c: c * 2 + p["x"][::-1][t], len(p["x"]), 0.0),
    "fed_back": lambda p: np.cumsum(p["x"]),
    "not_fed_back": lambda p: p["x"] * np.concatenate([[0.0], np.cumsum(p["x"])[:-1]]),
    "none_first": lambda p: p["x"] - np.concatenate([[1.0], _loop(lambda t, c: c * 0.5 + p["x"][t],
                                                                  len(p["x"]), 1.0)[:-1]]),
    "carry_second": lambda p: _loop(lambda t, c: c * 0.5 + p["x"][t], len(p["x"]), 1.0),
    "until": lambda p: _until([2.0 ** (t + 1) for t in range(100)], lambda v: v > p["limit"]),
    "until_sequence": lambda p: _until(list(np.cumsum(p["x"])), lambda v: v > 2.0),
    "map": lambda p: p["x"] ** 2,
    "map_two": lambda p: p["x"] * p["x"][::-1],
    "reduce": lambda p: np.sum(p["x"] ** 2),
    "foldl": lambda p: _fold(p["x"]),
    "foldr": lambda p: _fold(p["x"][::-1]),
    "implicit_shared": lambda p: p["x"] * w.get_value(),
    "strict": lambda p: p["x"] * w.get_value(),
    "rnn": _rnn,
    "int_carry": lambda p: np.array([2 ** (t + 2) - 1 for t in range(p["k"])], dtype="int64"),
    "bool_carry": lambda p: np.cumsum(p["x"] > 0) % 2 == 1,
    "until_int": lambda p: _until(list(np.cumsum(np.arange(p["k"]))), lambda v: v == 3, "int64"),
    "until_last": lambda p: _until([2.0 ** (t + 1) for t in range(100)], lambda v: v > p["limit"])[-1],
    "mixed_h": lambda p: _mixed(p)[0],
    "mixed_y": lambda p: _mixed(p)[1],
    "mixed_c": lambda p: _mixed(p)[2],
    "nested": lambda p: np.cumsum(p["x"] * np.sum(p["A"] ** 2)),
}

RNG = np.random.default_rng(11)
POINTS = {
    "short": dict(x=np.array([1.5, -2.0, 0.25]), A=np.array([1.0, 2.0, 3.0]), k=3, coeffs=np.array([1.0, 0.0, 2.0]),
                  xv=3.0, fib0=np.array([0.0, 1.0]), s=np.arange(6.0), limit=40.0,
                  X3=RNG.normal(size=(3, 2, 3)), W=RNG.normal(size=(3, 4)), U=RNG.normal(size=(4, 4)) * 0.5,
                  b=RNG.normal(size=4), H0=RNG.normal(size=(2, 4))),
    "long": dict(x=RNG.normal(size=7), A=RNG.normal(size=2), k=6, coeffs=RNG.normal(size=5), xv=-0.7,
                 fib0=np.array([2.0, -1.0]), s=RNG.normal(size=9), limit=1000.0,
                 X3=RNG.normal(size=(6, 1, 2)), W=RNG.normal(size=(2, 3)), U=RNG.normal(size=(3, 3)) * 0.5,
                 b=RNG.normal(size=3), H0=RNG.normal(size=(1, 3))),
    # no steps where the length is an input: empty histories (x keeps one entry for reduce's [-1])
    "zero_steps": dict(x=np.array([0.5]), A=np.array([1.0, 2.0]), k=0, coeffs=np.zeros(0), xv=2.0,
                       fib0=np.array([1.0, 1.0]), s=np.arange(3.0), limit=0.5,
                       X3=np.zeros((0, 2, 3)), W=RNG.normal(size=(3, 4)), U=RNG.normal(size=(4, 4)),
                       b=RNG.normal(size=4), H0=RNG.normal(size=(2, 4))),
}


@pytest.fixture(scope="module", params=BACKENDS)
def table(request):
    outputs = _outputs()
    fn = sg.function(INPUTS, list(outputs.values()), mode=request.param)
    return fn, list(outputs)


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("case", list(REFERENCE))
def test_values(table, case, point):
    fn, names = table
    p = POINTS[point]
    got = fn(*[p[v.name] for v in INPUTS])[names.index(case)]
    want = np.asarray(REFERENCE[case](p))
    assert got.dtype == want.dtype
    if point == "zero_steps" and want.size == 0:
        assert got.size == 0 and got.shape[0] == 0
        return
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_shared_value_is_read_at_call_time(table):
    fn, names = table
    p = POINTS["short"]
    try:
        w.set_value(-3.0)
        got = fn(*[p[v.name] for v in INPUTS])[names.index("implicit_shared")]
    finally:
        w.set_value(2.0)
    np.testing.assert_allclose(got, p["x"] * -3.0)


def test_zero_steps_history_shape(table):
    fn, names = table
    p = POINTS["zero_steps"]
    got = fn(*[p[v.name] for v in INPUTS])
    assert got[names.index("power")].shape == (0, 2)
    assert got[names.index("rnn")].shape == (0, 2, 4)


@pytest.mark.xfail(strict=True, reason="a per-step output of a scan that runs 0 steps has shape (0, 0): its "
                   "per-step shape is only known from a step (reference _stack, numba emitter sized at step 0)")
def test_zero_steps_per_step_output_shape():
    out, _ = scan_map(lambda v, A: A * v, x, non_sequences=A)
    got = sg.function([x, A], out, mode="numpy")(np.zeros(0), np.ones(2))
    assert got.shape == (0, 2)


def test_pickle(table):
    fn, names = table
    p = POINTS["short"]
    again = pickle.loads(pickle.dumps(fn))
    for got, want in zip(again(*[p[v.name] for v in INPUTS]), fn(*[p[v.name] for v in INPUTS])):
        np.testing.assert_array_equal(got, want)


def test_constant_zero_steps(mode):
    out, _ = scan(lambda p: p * 2, outputs_info=T.constant(1.0), n_steps=0)
    got = out.eval(mode=mode)
    assert got.shape == (0,) and got.dtype == np.float64


def test_output_types():
    out = _outputs()
    assert out["power"].type == T.dmatrix().type
    assert out["rnn"].ndim == 3 and out["reduce"].ndim == 0
    single, _ = scan(lambda v: v * 2, sequences=x, return_list=True)
    assert isinstance(single, list) and len(single) == 1 and single[0].type == x.type
    pair, updates = scan(lambda v: (v * 2, v + 1), sequences=x)
    assert isinstance(pair, list) and len(pair) == 2
    assert updates == OrderedDict()


# --- the Theano tutorial's "multiple outputs, several taps values" RNN --------------------------
def _tutorial_step(u_tm4, u_t, x_tm3, x_tm1, y_tm1, W, W_in_1, W_in_2, W_feedback, W_out):
    x_t = T.tanh(T.dot(x_tm1, W) + T.dot(u_t, W_in_1) + T.dot(u_tm4, W_in_2) + T.dot(y_tm1, W_feedback))
    y_t = T.dot(x_tm3, W_out)
    return [x_t, y_t]


TUTORIAL_INPUTS = [T.dmatrix("u"), T.dmatrix("x0"), T.dvector("y0"), T.dmatrix("W"), T.dmatrix("W_in_1"),
                   T.dmatrix("W_in_2"), T.dmatrix("W_feedback"), T.dmatrix("W_out")]


def tutorial_rnn(u, x0, y0, W, W_in_1, W_in_2, W_feedback, W_out):
    (x_vals, y_vals), _ = scan(_tutorial_step, sequences=dict(input=u, taps=[-4, -0]),
                               outputs_info=[dict(initial=x0, taps=[-3, -1]), y0],
                               non_sequences=[W, W_in_1, W_in_2, W_feedback, W_out], strict=True)
    return x_vals, y_vals


def tutorial_values(rng, steps=3, n_u=2, n_x=3, n_y=2):
    return [rng.normal(size=(steps + 4, n_u)), rng.normal(size=(3, n_x)), rng.normal(size=n_y),
            rng.normal(size=(n_x, n_x)) * 0.5, rng.normal(size=(n_u, n_x)), rng.normal(size=(n_u, n_x)),
            rng.normal(size=(n_y, n_x)), rng.normal(size=(n_x, n_y))]


def _tutorial_reference(u, x0, y0, W, W_in_1, W_in_2, W_feedback, W_out):
    xs, y, x_vals, y_vals = list(x0), y0, [], []
    for t in range(len(u) - 4):
        x_t = np.tanh(xs[-1] @ W + u[t + 4] @ W_in_1 + u[t] @ W_in_2 + y @ W_feedback)
        y = xs[-3] @ W_out
        xs.append(x_t)
        x_vals.append(x_t)
        y_vals.append(y)
    return np.array(x_vals), np.array(y_vals)


def test_tutorial_taps_rnn(mode):
    fn = sg.function(TUTORIAL_INPUTS, list(tutorial_rnn(*TUTORIAL_INPUTS)), mode=mode)
    for steps in (1, 4):
        values = tutorial_values(np.random.default_rng(steps), steps)
        for got, want in zip(fn(*values), _tutorial_reference(*values)):
            np.testing.assert_allclose(got, want, rtol=1e-12)


# --- shared-variable updates made inside the step; Function.loop ------------------------------
count = sg.shared(0.0, name="count")
total = sg.shared(np.zeros(2), name="total")
scale = sg.shared(1.0, name="scale")
V, R = T.dvector("V"), T.dmatrix("R")


@pytest.fixture(scope="module", params=BACKENDS)
def stateful(request):
    weighted, updates = scan(lambda v, acc: (acc + v * count, {count: count + 1}), sequences=V,
                             outputs_info=T.constant(0.0))
    assert list(updates) == [count]
    rows, _ = scan(lambda r, acc: acc + r, sequences=R, outputs_info=total)  # carry starts at a shared value
    updates[total] = rows[-1]
    # a shared non-sequence updated by the step (Theano keys the update by the variable it was given)
    scaled, scale_updates = scan(lambda v, s: (v * s, {s: s * 2}), sequences=V, non_sequences=scale)
    assert list(scale_updates) == [scale]
    updates.update(scale_updates)
    return sg.function([V, R], [weighted, rows[-1], scaled], updates=updates, mode=request.param)


def _reset():
    count.set_value(0.0)
    total.set_value(np.zeros(2))
    scale.set_value(1.0)


def test_updates_inside_step(stateful):
    _reset()
    R1 = np.array([[1.0, 2.0], [3.0, 4.0]])
    weighted, last, scaled = stateful(np.ones(3), R1)
    np.testing.assert_allclose(weighted, [0.0, 1.0, 3.0])
    assert count.get_value() == 3.0
    np.testing.assert_allclose(last, [4.0, 6.0])
    np.testing.assert_allclose(total.get_value(), [4.0, 6.0])
    np.testing.assert_allclose(scaled, [1.0, 2.0, 4.0])
    assert scale.get_value() == 8.0
    weighted, last, scaled = stateful(np.ones(3), R1)
    np.testing.assert_allclose(weighted, [3.0, 7.0, 12.0])
    assert count.get_value() == 6.0
    np.testing.assert_allclose(total.get_value(), [8.0, 12.0])
    np.testing.assert_allclose(scaled, [8.0, 16.0, 32.0])


def test_loop(stateful):
    _reset()
    R1 = np.array([[1.0, 2.0], [3.0, 4.0]])
    weighted, last, scaled = stateful.loop(3, np.ones(2), R1)  # the third call: count starts at 4
    np.testing.assert_allclose(weighted, [4.0, 9.0])
    np.testing.assert_allclose(last, [12.0, 18.0])
    np.testing.assert_allclose(scaled, [16.0, 32.0])
    assert count.get_value() == 6.0 and scale.get_value() == 64.0
    np.testing.assert_allclose(total.get_value(), [12.0, 18.0])
