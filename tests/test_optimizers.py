"""symgrad.optimizers against hand-written numpy versions of the same rules.

The problem: a two-output logistic regression with an L2 penalty on the weights; the weights W
are float64 and the bias b is float32, so every rule is checked on both widths at once. The clip
bound is a symbolic input of the step, so one compiled function per rule and backend checks the
rule unclipped (huge bound) and clipped (small bound).
"""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad import optimizers

N, FEATS, OUTS = 5, 3, 2
RULES = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
HYPER = {  # hyperparameters chosen away from the defaults, so argument passing is checked too
    "sgd": dict(learning_rate=0.5),
    "momentum": dict(learning_rate=0.3, momentum=0.8),
    "nesterov": dict(learning_rate=0.3, momentum=0.7),
    "adagrad": dict(learning_rate=0.2, epsilon=1e-4),
    "rmsprop": dict(learning_rate=0.05, rho=0.8, epsilon=1e-4),
    "adam": dict(learning_rate=0.05, beta1=0.8, beta2=0.95, epsilon=1e-6),
}
NO_CLIP, CLIP = 1e6, 0.05


def _data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N, FEATS))
    Y = (rng.uniform(size=(N, OUTS)) > 0.5).astype(np.float64)
    W0 = rng.normal(size=(FEATS, OUTS))
    b0 = rng.normal(size=OUTS).astype(np.float32)
    return X, Y, W0, b0


# --- numpy reference ---------------------------------------------------------------------------
def _np_cost_and_grads(X, Y, W, b):
    z = X @ W + b  # float64 (b is upcast)
    cost = np.mean(np.logaddexp(0, z) - Y * z) + 0.05 * np.sum(W ** 2)
    dz = (1 / (1 + np.exp(-z)) - Y) / z.size
    return cost, [X.T @ dz + 0.1 * W, dz.sum(axis=0).astype(np.float32)]


def _np_clip(grads, clip):
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
    scale = clip / max(norm, clip)
    return [(g * np.asarray(scale, g.dtype)).astype(g.dtype) for g in grads]


def _np_rule(name, hyper):
    """A step ``(params, grads, state) -> (params, state)`` for one rule, in plain numpy."""
    h = dict(hyper)
    lr = h["learning_rate"]

    def step(params, grads, state):
        new_params, new_state = [], []
        if name == "adam":
            state = list(state)
            t = state.pop() + 1
            a_t = lr * np.sqrt(1 - h["beta2"] ** t) / (1 - h["beta1"] ** t)
        for k, (p, g) in enumerate(zip(params, grads)):
            if name == "sgd":
                new_params.append(p - lr * g)
            elif name in ("momentum", "nesterov"):
                v = h["momentum"] * state[k] - lr * g
                new_params.append(p + v if name == "momentum" else p + h["momentum"] * v - lr * g)
                new_state.append(v)
            elif name == "adagrad":
                accu = state[k] + g ** 2
                new_params.append(p - lr * g / np.sqrt(accu + h["epsilon"]))
                new_state.append(accu)
            elif name == "rmsprop":
                accu = h["rho"] * state[k] + (1 - h["rho"]) * g ** 2
                new_params.append(p - lr * g / np.sqrt(accu + h["epsilon"]))
                new_state.append(accu)
            elif name == "adam":
                m = h["beta1"] * state[2 * k] + (1 - h["beta1"]) * g
                v = h["beta2"] * state[2 * k + 1] + (1 - h["beta2"]) * g ** 2
                new_params.append(p - a_t.astype(p.dtype) * m / (np.sqrt(v) + h["epsilon"]))
                new_state += [m, v]
        if name == "adam":
            new_state.append(t)
        return new_params, new_state

    return step


def _np_initial_state(name, params):
    zeros = [np.zeros_like(p) for p in params]
    if name == "sgd":
        return []
    if name == "adam":
        return [z for p in params for z in (np.zeros_like(p), np.zeros_like(p))] + [np.float64(0.0)]
    return zeros


# --- one compiled step per rule and backend ------------------------------------------------------
# (one function training a copy of the problem with every rule compiles far slower on numba)
BOUNDS = [NO_CLIP] * 3 + [CLIP] * 4  # the gradients' norm stays well above CLIP: clipping is active


def _train(mode, name):
    """(state names, initial state values, per-step (cost, W, b, state values)) for one rule."""
    X, Y, W0, b0 = _data()
    x, y, clip = T.dmatrix("x"), T.dmatrix("y"), T.dscalar("clip")
    W, b = sg.shared(W0, name="W"), sg.shared(b0, name="b")
    z = T.dot(x, W) + b
    cost = T.mean(T.softplus(z) - y * z) + 0.05 * (W ** 2).sum()
    hyper = dict(HYPER[name])
    if name == "sgd":  # a symbolic (float64) learning rate, cast to float32 for b
        hyper["learning_rate"] = sg.shared(hyper["learning_rate"], name="lr")
    cost_or_grads = sg.grad(cost, [W, b]) if name == "rmsprop" else cost  # both call forms
    updates = getattr(optimizers, name)(cost_or_grads, [W, b], clip_norm=clip, **hyper)
    assert [var for var, _ in updates if var is W or var is b] == [W, b]
    states = [var for var, _ in updates if var is not W and var is not b]
    initial = [s.get_value() for s in states]
    step = sg.function([x, y, clip], cost, updates=updates, mode=mode)
    history = []
    for bound in BOUNDS:
        cost_value = float(step(X, Y, bound))
        history.append((cost_value, W.get_value(), b.get_value(), [s.get_value() for s in states]))
    return [s.name for s in states], initial, history


@pytest.mark.parametrize("name", RULES)
def test_rule_matches_numpy_unclipped_then_clipped(mode, name):
    names, initial, history = _train(mode, name)
    # state: zeros of each parameter's dtype (Adam's counter: the widest, float64 here)
    assert names == {
        "sgd": [], "momentum": ["W_velocity", "b_velocity"], "nesterov": ["W_velocity", "b_velocity"],
        "adagrad": ["W_accu", "b_accu"], "rmsprop": ["W_accu", "b_accu"],
        "adam": ["W_m", "W_v", "b_m", "b_v", "adam_t"]}[name]
    for state_name, value in zip(names, initial):
        assert value.dtype == (np.float32 if state_name.startswith("b_") else np.float64), state_name
        assert not value.any()

    X, Y, W0, b0 = _data()
    reference = _np_rule(name, HYPER[name])
    params, state = [W0.copy(), b0.copy()], _np_initial_state(name, [W0, b0])
    for i, (bound, (cost, W, b, state_values)) in enumerate(zip(BOUNDS, history)):
        np_cost, grads = _np_cost_and_grads(X, Y, *params)
        if bound == CLIP:
            assert np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads)) > 4 * CLIP
        params, state = reference(params, _np_clip(grads, bound), state)
        assert cost == pytest.approx(np_cost, rel=1e-6)
        assert W.dtype == np.float64 and b.dtype == np.float32
        np.testing.assert_allclose(W, params[0], rtol=2e-6, atol=1e-7, err_msg=f"{name} step {i}")
        np.testing.assert_allclose(b, params[1], rtol=2e-6, atol=1e-7, err_msg=f"{name} step {i}")
        for state_name, value, expected in zip(names, state_values, state):
            np.testing.assert_allclose(value, expected, rtol=2e-6, atol=1e-7, err_msg=f"{name} {state_name} step {i}")
    if name == "sgd":  # clipped SGD moves the parameters by exactly learning_rate * clip_norm
        (_, W_before, b_before, _), (_, W_after, b_after, _) = history[-2:]
        moved = np.sqrt(np.sum((W_after - W_before) ** 2) + np.sum((b_after - b_before).astype(np.float64) ** 2))
        assert moved == pytest.approx(HYPER["sgd"]["learning_rate"] * CLIP, rel=1e-6)


def test_float32_parameters_keep_float32_math():
    """All-float32 parameters: float32 state, a float32 Adam counter, float32 update expressions."""
    w = sg.shared(np.array([1.0, -2.0], dtype=np.float32), name="w")
    s = sg.shared(np.float32(0.5), name="s")
    cost = (w ** 2).sum() * s + s ** 2
    for name in RULES:
        kwargs = {"learning_rate": 0.1} if name in ("sgd", "momentum", "nesterov") else {}
        updates = getattr(optimizers, name)(cost, [w, s], clip_norm=1.0, **kwargs)
        for var, expr in updates:
            assert var.dtype == "float32" and expr.type is var.type, (name, var.name, expr.type)
    h = sg.shared(np.ones(2, np.float16), name="h")
    updates = optimizers.adam((h ** 2).sum(), [h])
    assert [(var.name, var.dtype) for var, _ in updates] == [
        ("h", "float16"), ("h_m", "float16"), ("h_v", "float16"), ("adam_t", "float32")]  # float16 stops at 2048


def test_nesterov_momentum_is_lasagnes_name():
    assert optimizers.nesterov_momentum is optimizers.nesterov


def test_clip_global_norm_values():
    a, c = T.dvector("a"), T.fmatrix("c")
    clipped = optimizers.clip_global_norm([a, c], 2.5)
    assert [g.type for g in clipped] == [a.type, c.type]
    f = sg.function([a, c], clipped, mode="numpy")
    big = [np.array([3.0, 0.0]), np.array([[4.0]], dtype=np.float32)]  # joint norm 5: halved
    out = f(*big)
    np.testing.assert_allclose(out[0], [1.5, 0.0])
    np.testing.assert_allclose(out[1], [[2.0]])
    assert out[1].dtype == np.float32
    small = [np.array([0.3, 0.0]), np.array([[0.4]], dtype=np.float32)]  # within the bound: unchanged
    out = f(*small)
    np.testing.assert_array_equal(out[0], small[0])
    np.testing.assert_array_equal(out[1], small[1])
    zeros = [np.zeros(2), np.zeros((1, 1), np.float32)]  # no division by zero
    with np.errstate(all="raise"):
        out = f(*zeros)
    assert not out[0].any() and not out[1].any()


def test_given_gradients_are_cast_and_broadcast_to_the_parameter():
    w = sg.shared(np.ones((1, 3), np.float32), name="w", broadcastable=(True, False))
    g = T.dmatrix("g")  # float64, not broadcastable: rejected (it could have more rows)
    with pytest.raises(TypeError, match=r"gradient 0 .*'w'.*float32"):
        optimizers.sgd([g], [w], 0.1)
    g_row = T.drow("g_row")
    [(var, new)] = optimizers.sgd([g_row], [w], 0.1)
    assert new.type is w.type


# --- errors: TypeError/ValueError naming what was wrong -----------------------------------------
def _cost_and_param():
    w = sg.shared(np.zeros(2), name="w")
    return (w ** 2).sum(), w


@pytest.mark.parametrize("call, error, match", [
    (lambda c, w: optimizers.sgd(c, [T.dvector("v")], 0.1), TypeError,
     r"sgd: params\[0\] must be a shared variable \(symgrad.shared\), got 'v' \(float64 vector\)"),
    (lambda c, w: optimizers.sgd(c, [sg.shared(np.zeros(2, int), name="k")], 0.1), TypeError,
     r"params\[0\] \('k'\) must be a float shared variable, got int64 vector"),
    (lambda c, w: optimizers.sgd(c, [w, w], 0.1), ValueError, r"params\[1\] \('w'\) is listed twice"),
    (lambda c, w: optimizers.sgd(c, [], 0.1), ValueError, "params is empty"),
    (lambda c, w: optimizers.sgd(c, 3, 0.1), TypeError, "params must be a shared variable or a list of them, got int"),
    (lambda c, w: optimizers.sgd(c, [w], -0.1), ValueError, r"learning_rate must be in \[0, inf\), got -0.1"),
    (lambda c, w: optimizers.sgd(c, [w], "fast"), TypeError, "learning_rate must be a number.*got 'fast'"),
    (lambda c, w: optimizers.sgd(c, [w], T.dvector("lr")), TypeError, "learning_rate must be a number or a float "
     "scalar variable, got 'lr'"),
    (lambda c, w: optimizers.momentum(c, [w], 0.1, momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
    (lambda c, w: optimizers.rmsprop(c, [w], rho=1.5), ValueError, r"rho must be in \[0, 1\), got 1.5"),
    (lambda c, w: optimizers.adam(c, [w], beta2=float("nan")), ValueError, "beta2 must be in"),
    (lambda c, w: optimizers.adagrad(c, [w], epsilon=-1.0), ValueError, "epsilon must be in"),
    (lambda c, w: optimizers.adam(c, [w], clip_norm=0.0), ValueError, r"clip_norm must be in \(0, inf\), got 0.0"),
    (lambda c, w: optimizers.sgd([c, c], [w], 0.1), ValueError, "got 2 gradients for 1 params"),
    (lambda c, w: optimizers.sgd(w * 2, [w], 0.1), TypeError, "cost_or_grads must be a scalar cost or a list of "
     "gradients, got .*float64 vector"),
    (lambda c, w: optimizers.sgd([T.lvector("gi")], [w], 0.1), TypeError, r"gradient 0 must be a float tensor .*'gi'"),
])
def test_bad_arguments(call, error, match):
    cost, w = _cost_and_param()
    with pytest.raises(error, match=match):
        call(cost, w)


def test_single_shared_variable_is_accepted_as_params():
    cost, w = _cost_and_param()
    [(var, _)] = optimizers.sgd(cost, w, 0.1)
    assert var is w
