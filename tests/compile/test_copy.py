"""``Function.copy`` (Theano semantics): same results without compiling again, ``swap`` of shared
variables (same type only), ``delete_updates``, ``name``. One compiled function per backend."""
import copy

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend import get_backend
from symgrad.graph import graph_inputs
from tests.conftest import BACKENDS


@pytest.fixture(scope="module", params=BACKENDS)
def step(request):
    x, y = T.dvector("x"), T.dscalar("y")
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    count = sg.shared(0, name="count")
    fn = sg.function([x, sg.In(y, value=2.0)], x * w + y,
                     updates=[(w, w + x.sum()), (count, count + 1)], name="step", mode=request.param)
    return fn, w, count


@pytest.fixture
def no_compiling(monkeypatch, step):
    """Any compile while the test runs fails it."""
    backend = get_backend(step[0].mode)

    def refuse(*args, **kwargs):
        raise AssertionError("copy compiled a kernel")

    monkeypatch.setattr(backend, "compile", refuse)
    monkeypatch.setattr(backend, "pipeline", refuse)


def _reset(*pairs):
    for var, value in pairs:
        var.set_value(value)


def test_plain_copy_shares_kernel_and_state(step, no_compiling):
    fn, w, count = step
    _reset((w, np.array([1.0, 2.0])), (count, 0))
    twin = fn.copy()
    assert twin._kernel is fn._kernel and twin.name == "step copy"
    assert copy.copy(fn).name == "step copy" and fn.copy(name="other").name == "other"
    np.testing.assert_allclose(twin(np.array([1.0, 1.0])), [3.0, 4.0])  # default y = 2
    np.testing.assert_allclose(w.get_value(), [3.0, 4.0])  # the copy updates the same shared w
    np.testing.assert_allclose(fn(np.array([0.0, 0.0]), 1.0), [1.0, 1.0])
    assert int(count.get_value()) == 2


def test_swap_reads_and_updates_the_new_shared_variable(step, no_compiling):
    fn, w, count = step
    _reset((w, np.array([1.0, 2.0])), (count, 0))
    w2 = sg.shared(np.array([10.0, 20.0]), name="w2")
    c2 = sg.shared(100, name="c2")
    swapped = fn.copy(swap={w: w2, count: c2})
    np.testing.assert_allclose(swapped(np.array([1.0, 0.0]), 0.0), [10.0, 0.0])
    np.testing.assert_allclose(w2.get_value(), [11.0, 21.0])
    assert int(c2.get_value()) == 101
    np.testing.assert_allclose(w.get_value(), [1.0, 2.0])  # the original's state is untouched
    assert int(count.get_value()) == 0
    swapped.loop(3, np.array([1.0, 0.0]), 0.0)
    np.testing.assert_allclose(w2.get_value(), [14.0, 24.0])
    assert [v for v, _ in swapped.updates] == [w2, c2]
    roots = graph_inputs(swapped.outputs)
    assert any(v is w2 for v in roots) and not any(v is w for v in roots)
    # the original still reads w
    np.testing.assert_allclose(fn(np.array([1.0, 0.0]), 0.0), [1.0, 0.0])


def test_delete_updates(step, no_compiling):
    fn, w, count = step
    _reset((w, np.array([1.0, 2.0])), (count, 0))
    frozen = fn.copy(delete_updates=True, name="frozen")
    assert frozen.updates == [] and frozen.name == "frozen"
    np.testing.assert_allclose(frozen(np.array([1.0, 1.0]), 0.0), [1.0, 2.0])
    np.testing.assert_allclose(frozen.loop(4, np.array([1.0, 1.0]), 0.0), [1.0, 2.0])
    np.testing.assert_allclose(w.get_value(), [1.0, 2.0])
    assert int(count.get_value()) == 0
    fn(np.array([1.0, 1.0]))  # the original still updates
    assert int(count.get_value()) == 1


def test_swap_errors_name_the_variables(step):
    fn, w, _ = step
    with pytest.raises(TypeError, match=r"'w' \(float64 vector\).*'wrong' \(float32 vector\)"):
        fn.copy(swap={w: sg.shared(np.zeros(2, "float32"), name="wrong")})
    with pytest.raises(TypeError, match=r"'w' \(float64 vector\).*'m' \(float64 matrix\)"):
        fn.copy(swap={w: sg.shared(np.zeros((2, 2)), name="m")})
    with pytest.raises(ValueError, match="'unused' is not used"):
        fn.copy(swap={sg.shared(np.zeros(2), name="unused"): w})
    with pytest.raises(TypeError, match="must be shared variables"):
        fn.copy(swap={T.dvector("v"): w})
    with pytest.raises(TypeError, match="must be shared variables"):
        fn.copy(swap={w: np.zeros(2)})


def test_copy_of_unnamed_function_and_optimized_graph():
    x = T.dvector("x")
    b = sg.shared(np.ones(2), name="b")
    fn = sg.function([x], x + b, mode="numpy")
    b2 = sg.shared(np.full(2, 5.0), name="b2")
    twin = fn.copy(swap={b: b2})
    assert twin.name is None
    assert any(v is b2 for v in graph_inputs(twin.optimized_outputs))
    np.testing.assert_allclose(twin(np.zeros(2)), [5.0, 5.0])
