"""split_rows: a cost over all rows equals the sum of its block parts plus the part on zero rows
(value and gradient, every backend); costs that row blocks would change are refused."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.distributed.split import split_rows
from symgrad.tensor.shape import Shape_i

X, y, labels = T.dmatrix("X"), T.dvector("y"), T.lvector("labels")
ROWS = T.lscalar("rows")
rng = np.random.default_rng(7)
W = sg.shared(rng.normal(size=(4, 3)), name="W")
b = sg.shared(rng.normal(size=3), name="b")
w = sg.shared(rng.normal(size=4), name="w")
p = T.nnet.sigmoid(T.dot(X, w))
logits = T.dot(X, W) + b

COSTS = {
    "logistic_mean_l2": (-y * T.log(p) - (1 - y) * T.log(1 - p)).mean() + 0.01 * (w ** 2).sum(),
    "squares_sum_const": ((T.dot(X, w) - y) ** 2).sum() / 2 + 3.0,
    "nll_arange_index": (-T.mean(T.log(T.nnet.softmax(logits))[T.arange(labels.shape[0]), labels])
                         + 0.1 * (W ** 2).sum()),
    "mean_all_axes": T.mean(logits ** 2) * 2 + T.sqr(b).sum(),
    "gram_over_rows": T.sum(T.dot(X.T, X) * T.outer(w, w)) / X.shape[0],
    "embedding_lookup": T.mean(T.sum(W.T[labels] * X, axis=1)),
    "sum_along_axis1_then_rows": (T.sum(T.tanh(X * w), axis=1) - y).mean() + (w * 2).sum(),
    "normalized_by_count_twice": T.sum(T.dot(X, w)) / X.shape[0] / y.shape[0] * 5.0,
    "shape_i_count_and_width": T.sum(T.dot(X, w)) / Shape_i(0)(X) + Shape_i(1)(X) * (w ** 2).sum(),
}
PARAMS = [w, W, b]
N, BLOCK = 23, 7
DATA = (rng.normal(size=(N, 4)), (rng.random(N) > 0.5).astype(float), rng.integers(0, 3, N))


def _used(cost):
    from symgrad.graph import graph_inputs

    leaves = graph_inputs([cost])
    return [v for v in PARAMS if any(v is u for u in leaves)]


# every cost on the reference backend, three on numba (their kernels are what the workers run)
CASES = [(name, "numpy") for name in sorted(COSTS)] + [
    (name, "numba") for name in ("logistic_mean_l2", "nll_arange_index", "gram_over_rows")]


@pytest.mark.parametrize("name, mode", CASES)
def test_blocks_add_up_to_the_whole(name, mode):
    cost = COSTS[name]
    params = _used(cost)
    part = split_rows(cost, [X, y, labels], ROWS)
    outs = lambda c: [c] + sg.grad(c, params)  # noqa: E731
    ins = [X, y, labels, ROWS]
    whole = sg.function([X, y, labels], outs(cost), mode=mode, on_unused_input="ignore")(*DATA)
    once = sg.function(ins, outs(part.full), mode=mode, on_unused_input="ignore")
    local = sg.function(ins, outs(part.local), mode=mode, on_unused_input="ignore")
    total = once(*(d[:0] for d in DATA), N)
    for lo in range(0, N, BLOCK):
        total = [t + r for t, r in zip(total, local(*(d[lo:lo + BLOCK] for d in DATA), N))]
    for got, want in zip(total, whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


REFUSED = {
    "max over rows": (T.max(T.dot(X, w)), "Max"),
    "square of a mean": (T.mean(T.dot(X, w)) ** 2, "not linear"),
    "log of a sum": (T.log(T.sum(T.exp(T.dot(X, w)))), "not linear"),
    "product of two sums": (T.sum(X) * T.sum(y), "not linear"),
    "row vector not sharded": (T.sum(T.dot(X, w) * T.dvector("weights")), "not split into row blocks"),
    "softmax across rows": (T.sum(T.nnet.softmax(T.dot(X, W).T)), "Softmax"),
    "some rows only": (T.sum(X[:5]), "selects some rows"),
    "contraction with a global over rows": (T.dot(T.dot(X, w), T.dvector("v")), "Dot"),
    "prod over rows": (T.prod(y), "Prod"),
    "zeros of a shape vector": (T.sum(T.zeros(X.shape)), "Alloc"),
    # derivatives of 0 or 1 almost everywhere, but not linear: a polynomial test, not a derivative test
    "floor of a sum": (T.floor(T.sum(y)), "not linear"),
    "step of a sum": (T.switch(T.gt(T.sum(y), 0), 1.0, 0.0), "not linear"),
    "sum modulo": (T.sum(X) % 2.0, "not linear"),
    "sum cast to int": (T.cast(T.cast(T.mean(y), "int64"), "float64"), "not linear"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refuses_costs_blocks_would_change(name):
    cost, words = REFUSED[name]
    with pytest.raises(ValueError, match="not a sum over the rows") as info:
        split_rows(cost, [X, y], ROWS)
    assert words in str(info.value)


def test_cost_free_of_the_rows_is_refused():
    with pytest.raises(ValueError, match="does not depend on the rows"):
        split_rows((w ** 2).sum(), [X], ROWS)


def test_float_casts_of_sums_are_linear():
    cost = T.cast(T.cast(T.sum(y), "float32"), "float64") * 2 + T.sum(X)
    part = split_rows(cost, [X, y], ROWS)
    assert part.local is not None


def test_broadcastable_row_axis_is_a_type_error():
    one_row = T.TensorType("float64", (True, False))("one_row")
    with pytest.raises(TypeError, match="broadcastable first axis"):
        split_rows(T.sum(one_row * w), [one_row], ROWS)


def test_scalar_sharded_input_is_a_type_error():
    s = T.dscalar("s")
    with pytest.raises(TypeError, match="scalar"):
        split_rows(s * w.sum(), [s], ROWS)
