"""``symgrad.ifelse``: values against a Python reference, laziness (a branch that would fail is
never run when not taken), lowering, gradients (verify_grad) and type errors, on both backends.

Compiled functions are module-scoped: one for values, one for gradients per backend."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.gradient import verify_grad
from symgrad.ifelse import IfElse, ifelse
from symgrad.rewrite.ifelse import lower_ifelse
from tests.conftest import BACKENDS

X = np.array([1.0, 2.0, 3.0])


@pytest.fixture(scope="module", params=BACKENDS)
def values_fn(request):
    x, i, c = T.dvector("x"), T.lscalar("i"), T.dscalar("c")
    # nested, and lazy: x[i] with i out of range is only read when i < len(x)
    picked = ifelse(T.lt(i, x.shape[0]), ifelse(T.gt(i, 0), x[i] * 2, T.exp(x[0])), -1.0)
    same_or_tripled = ifelse(T.lt(i, 0), x, x * 3)  # the then branch is an input: returned as a copy
    total, head = ifelse(i, [x.sum(), x[:2]], [x.max(), x[1:]])  # lists; int condition
    e = T.exp(x)  # used by both branches and as an output: computed outside the if
    shared_node = ifelse(T.eq(i, 2), e, -e)
    signed = ifelse(c, x, -x)  # float condition: non-zero (and NaN) is true
    count = sg.shared(0, name="count")
    fn = sg.function([x, i, c], [picked, same_or_tripled, total, head, shared_node, e, signed],
                     updates=[(count, ifelse(T.lt(i, 0), count, count + 1))], mode=request.param)
    return fn, count


def _reference(x, i, c):
    picked = (x[i] * 2 if i > 0 else np.exp(x[0])) if i < len(x) else -1.0
    return [picked, x if i < 0 else x * 3, x.sum() if i else x.max(), x[:2] if i else x[1:],
            np.exp(x) if i == 2 else -np.exp(x), np.exp(x), x if c else -x]


@pytest.mark.parametrize("i, c", [(1, 0.5), (0, 0.0), (10, np.nan), (-1, -2.0), (2, 0.0)])
def test_values_match_reference(values_fn, i, c):
    fn, count = values_fn
    before = int(count.get_value())
    got = fn(X, i, c)
    for k, (g, want) in enumerate(zip(got, _reference(X, i, c))):
        np.testing.assert_allclose(g, want, rtol=1e-15, err_msg=f"output {k}")
    assert int(count.get_value()) == before + (0 if i < 0 else 1)


def test_result_never_aliases_an_input(values_fn):
    fn, _ = values_fn
    x = X.copy()
    out = fn(x, -1, 1.0)
    assert not np.shares_memory(out[1], x) and not np.shares_memory(out[6], x)
    out[1][:] = 0
    np.testing.assert_array_equal(x, X)


def test_loop_runs_the_conditional_update(values_fn):
    fn, count = values_fn
    before = int(count.get_value())
    fn.loop(3, X, 1, 1.0)
    fn.loop(2, X, -1, 1.0)
    assert int(count.get_value()) == before + 3


def test_failing_branch_not_taken_is_not_run(values_fn):
    # x[10] would raise IndexError if the branch's nodes ran
    fn, _ = values_fn
    assert float(fn(X, 10, 1.0)[0]) == -1.0
    assert float(fn(X, 3, 1.0)[0]) == -1.0


def test_lowering_moves_only_branch_only_nodes():
    c, x = T.lscalar("c"), T.dvector("x")
    e = T.exp(x)
    then_value, else_value = e + 1, T.tanh(e) * 2
    also_output = T.sin(x)
    out = ifelse(c, then_value * also_output, else_value)
    lowered, kept = lower_ifelse([out, also_output])
    lazy = lowered.owner.op.lazy
    then_ops = [str(n.op) for n in lazy.then_nodes]
    else_ops = [str(n.op) for n in lazy.else_nodes]
    assert len(then_ops) == 2 and len(else_ops) == 2  # (e + 1, * sin) and (tanh, * 2)
    assert kept is also_output
    boundary = lowered.owner.inputs[1:]
    assert any(v is e for v in boundary) and any(v is also_output for v in boundary)
    assert not any(v is then_value for v in boundary)
    # nested: an ifelse used by one branch only ends up inside it
    inner = ifelse(T.gt(c, 1), x * 2, x * 3)
    (outer,) = lower_ifelse([ifelse(c, inner.sum(), x.sum())])
    assert any(isinstance(n.op, IfElse) for n in outer.owner.op.lazy.then_nodes)


@pytest.fixture(scope="module", params=BACKENDS)
def grad_fn(request):
    a, b, c = T.dvector("a"), T.dvector("b"), T.dscalar("c")
    t, u = ifelse(c, [a * b, T.exp(a)], [b ** 2, T.tanh(b)])
    cost = (t + u).sum()
    fn = sg.function([a, b, c], sg.grad(cost, [a, b]), mode=request.param)
    return fn


def test_gradient_flows_through_taken_branch_only(grad_fn):
    a, b = np.array([0.5, -1.0]), np.array([2.0, 0.25])
    ga, gb = grad_fn(a, b, 1.0)
    np.testing.assert_allclose(ga, b + np.exp(a), rtol=1e-14)
    np.testing.assert_allclose(gb, a, rtol=1e-14)
    ga, gb = grad_fn(a, b, 0.0)
    np.testing.assert_allclose(ga, np.zeros(2))
    np.testing.assert_allclose(gb, 2 * b + 1 - np.tanh(b) ** 2, rtol=1e-14)


def test_verify_grad(mode):
    # one ifelse takes its then branch and one its else branch at this point
    def fn(a, b):
        s = a.sum()
        return ifelse(T.gt(s, 0), a * b, b ** 2) + ifelse(T.lt(s, 0), T.exp(a), T.tanh(b) * a)

    verify_grad(fn, [np.array([0.5, 0.75]), np.array([-0.3, 1.2])], mode=mode)


def test_python_numbers_take_the_other_branch_type():
    c = T.lscalar("c")
    assert ifelse(c, T.fscalar("f"), 0.5).type is T.fscalar
    assert ifelse(c, np.zeros(3), T.fvector("f")).type is T.fvector
    assert ifelse(c, 2, T.lscalar("n")).type is T.lscalar


@pytest.mark.parametrize("then, other", [
    (T.dvector("x"), T.fvector("y")),
    (T.dmatrix("x"), T.drow("y")),
    (T.dvector("x"), T.dmatrix("y")),
    (T.ivector("x"), np.array([0.5, 1.5])),
])
def test_branch_types_must_match(then, other):
    with pytest.raises(TypeError, match="same type") as info:
        ifelse(T.lscalar("c"), then, other)
    assert "'x'" in str(info.value) and then.type.describe() in str(info.value)


def test_bad_calls():
    c, x = T.lscalar("c"), T.dvector("x")
    with pytest.raises(TypeError, match="condition must be a scalar"):
        ifelse(x, x, x)
    with pytest.raises(ValueError, match="1 value"):
        ifelse(c, [x], [x, x])
    with pytest.raises(TypeError, match=r"output 1.*'y'"):
        ifelse(c, [x, x], [x, T.fvector("y")])
