"""``scan``'s failures are clear errors naming the variable: at build time (wrong number of
outputs, a dtype or rank that changes, bad arguments) and at run time on both backends (a shape
that changes between steps, taps reaching before the initial state, negative or too many steps).

The run-time cases are outputs of ONE function per backend: each test passes good values for
every input but the one it breaks."""
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.scan_module import map as scan_map, scan, until
from tests.conftest import BACKENDS

x, h, fib0, q = T.dvectors("x", "h", "fib0", "q")
k, g = T.lscalar("k"), T.lscalar("g")
M, iv = T.dmatrix("M"), T.lvector("iv")
INPUTS = [x, h, g, k, fib0, M, iv, q]
GOOD = dict(x=np.arange(4.0), h=np.ones(2), g=0, k=3, fib0=np.array([0.0, 1.0]), M=np.eye(2), iv=np.array([2, 2]),
            q=np.arange(3.0))


@pytest.fixture(scope="module", params=BACKENDS)
def checked(request):
    grow, _ = scan(lambda a, g: T.concatenate([a, a[:g]]), outputs_info=h, non_sequences=g, n_steps=k,
                   name="grow")
    fib, _ = scan(lambda a, b: a + b, outputs_info=dict(initial=fib0, taps=[-2, -1]), n_steps=k)
    doubled, _ = scan(lambda v: v * 2, sequences=x, n_steps=k)
    square, _ = scan(lambda m: T.dot(m, m.T), outputs_info=M, n_steps=k)
    ranges, _ = scan_map(lambda n: T.arange(n), iv)
    around, _ = scan_map(lambda back, ahead: back * ahead, dict(input=q, taps=[-1, 1]))
    return sg.function(INPUTS, [grow, fib, doubled, square, ranges, around], mode=request.param)


def _call(fn, **bad):
    values = dict(GOOD, **bad)
    return fn(*[values[v.name] for v in INPUTS])


def test_good_values(checked):
    grow, fib, doubled, square, ranges, around = _call(checked)
    np.testing.assert_allclose(fib, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(doubled, [0.0, 2.0, 4.0])
    assert grow.shape == (3, 2) and square.shape == (3, 2, 2) and ranges.shape == (2, 2)
    np.testing.assert_allclose(around, [0.0])
    assert _call(checked, q=np.zeros(2))[-1].shape == (0,)  # as long as the taps' span: no steps


def test_carry_shape_changes(checked):
    with pytest.raises(ValueError, match=r"recurrent state 0 \('h'\) has shape \(2,\) but step 0 returned shape "
                                         r"\(3,\).*\(scan 'grow'\)"):
        _call(checked, g=1)


def test_matrix_carry_shape_changes(checked):
    with pytest.raises(ValueError, match=r"'M'.*shape \(2, 3\).*shape \(2, 2\)"):
        _call(checked, M=np.ones((2, 3)))


def test_taps_before_initial_state(checked):
    with pytest.raises(ValueError, match=r"outputs_info\[0\] 'fib0' needs at least 2 rows for taps \[-2, -1\]"):
        _call(checked, fib0=np.array([1.0]))


def test_negative_n_steps(checked):
    with pytest.raises(ValueError, match=r"n_steps 'k' is negative \(-1\)"):
        _call(checked, k=-1)
    iscalar = T.iscalar("m")  # (cast to int64 by scan)
    out, _ = scan(lambda a: a * 2, outputs_info=T.constant(1.0), n_steps=iscalar)
    with pytest.raises(ValueError, match=r"n_steps 'm' is negative \(-2\)"):
        sg.function([iscalar], out, mode="numpy")(-2)


def test_sequence_shorter_than_n_steps(checked):
    with pytest.raises(ValueError, match=r"sequence 'x'.* fewer than n_steps = 5"):
        _call(checked, k=5)


def test_sequence_shorter_than_its_taps(checked):
    with pytest.raises(ValueError, match=r"sequences\[0\] 'q' is too short for its taps \[-1, 1\]: it needs at "
                                         "least 2"):
        _call(checked, q=np.zeros(1))


def test_per_step_output_shape_changes(checked):
    with pytest.raises(ValueError, match=r"per-step output.*shape \(1,\) at step 0 but \(2,\) at step 1"):
        _call(checked, iv=np.array([1, 2]))


# --- build time -------------------------------------------------------------------------------
def test_wrong_number_of_outputs():
    with pytest.raises(ValueError, match=r"returned 1 output\(s\) but outputs_info has 2 entries"):
        scan(lambda v, a, b: a + v, sequences=x, outputs_info=[T.constant(0.0), T.constant(1.0)])
    with pytest.raises(ValueError, match=r"returned 2 output\(s\) but outputs_info has 1 entries"):
        scan(lambda v, a: (a + v, a - v), sequences=x, outputs_info=[T.constant(0.0)])


def test_dtype_changes():
    with pytest.raises(TypeError, match=r"float64 vector, but its initial value in outputs_info \('f'\) gives a "
                                        "float32 vector"):
        scan(lambda a: T.cast(a, "float64"), outputs_info=T.fvector("f"), n_steps=3)
    with pytest.raises(TypeError, match="float64 scalar.*int64 scalar"):
        scan(lambda v, a: a + v, sequences=x, outputs_info=T.constant(np.int64(0)))


def test_rank_changes():
    with pytest.raises(TypeError, match=r"float64 scalar, but its initial value in outputs_info \('h'\) gives a "
                                        "float64 vector"):
        scan(lambda a: a.sum(), outputs_info=h, n_steps=3)


def test_constant_negative_n_steps():
    with pytest.raises(ValueError, match="n_steps must be >= 0, got -1"):
        scan(lambda a: a * 2, outputs_info=h, n_steps=-1)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(outputs_info=h, n_steps=T.dscalar("d")), TypeError, r"n_steps must be an integer scalar, got 'd'"),
    (dict(outputs_info=h), ValueError, "n_steps is required when there are no sequences"),
    (dict(sequences=T.dscalar("sc")), TypeError, r"sequences\[0\] 'sc' is a scalar"),
    (dict(sequences=dict(taps=[0])), ValueError, r"sequences\[0\] is a dict without 'input'"),
    (dict(outputs_info=dict(initial=h, taps=[1]), n_steps=2), ValueError, "taps must be negative"),
    (dict(outputs_info=dict(initial=h, taps=[-1, -1]), n_steps=2), ValueError, "lists a tap twice"),
    (dict(outputs_info=dict(initial=T.dscalar("h1"), taps=[-2]), n_steps=2), TypeError, "'h1' is a scalar"),
    (dict(sequences=x, truncate_gradient=1.5), TypeError, "truncate_gradient must be an int"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        scan(lambda *args: args[0], **kwargs)


def test_strict():
    w = sg.shared(2.0, name="w")
    with pytest.raises(ValueError, match="strict=True, but the step function reads 'w' without it being in "
                                         "non_sequences"):
        scan(lambda v: v * w, sequences=x, strict=True)
    scan(lambda v, w: v * w, sequences=x, non_sequences=w, strict=True)
    scan(lambda v: v * 2, sequences=x, strict=True)  # reads nothing from outside: no non_sequences needed


def test_until_condition_not_scalar():
    with pytest.raises(TypeError, match="until: the condition must be a scalar"):
        scan(lambda a: (a, until(a > 0)), outputs_info=h, n_steps=3)


def test_update_of_a_non_shared_variable():
    with pytest.raises(TypeError, match="updates must update shared variables"):
        scan(lambda a: (a * 2, {h: h + 1}), outputs_info=T.dscalar("a"), n_steps=3)


def test_update_changes_type():
    c = sg.shared(0.0, name="c")
    with pytest.raises(TypeError, match=r"the update of 'c' inside the step is a float64 vector"):
        scan(lambda v: (v, {c: c + x}), sequences=x)


def test_no_gradient_through_until():
    a = T.dscalar("a")
    out, _ = scan(lambda p, a: (p * a, until(p > 10)), outputs_info=T.constant(1.0), non_sequences=a, n_steps=10)
    with pytest.raises(NotImplementedError, match="until"):
        T.grad(out[-1], a)
