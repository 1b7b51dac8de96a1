"""backend/numba/emit.py: a kernel's checks are intrinsics (no raise statement for numba's passes)
that raise their message as it is, whatever its text."""
import ast

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import call, codegen
from symgrad.backend.numba.cache import load_module
from symgrad.backend.numba.codegen import generate
from symgrad.tensor.shape import assert_op


def _raised(fn, *args):
    with pytest.raises((ValueError, IndexError)) as info:
        fn(*args)
    return info.value


def test_checks_raise_their_messages_without_raise_statements():
    x, y, i = T.dvector("x"), T.dvector("y"), T.lscalar("i")
    module = generate([x, y, i], [x + y, T.dot(x, y), x[i]])
    # no raise statement in the kernel: each costs numba ~15 ms of compile (emit.Emitter.fail_if)
    assert not [n for n in ast.walk(ast.parse(module.source)) if isinstance(n, ast.Raise)]
    kernel = load_module(module)["kernel"]
    error = _raised(kernel, np.ones(3), np.ones(2), np.int64(0))
    assert type(error) is ValueError and "'x'" in str(error)
    error = _raised(kernel, np.ones(3), np.ones(3), np.int64(3))
    assert type(error) is IndexError and "out of bounds" in str(error)


def test_scan_steps_raise_their_own_messages():
    h0, W, v = T.dvector("h0"), T.dmatrix("W"), T.dvector("v")
    hs, _ = sg.scan(lambda h, M: T.tanh(T.dot(M, h)), outputs_info=h0, non_sequences=[W], n_steps=3)
    kernel = load_module(generate([h0, W, v], [hs, T.dot(v, v)]))["kernel"]
    # the step's own check: W's 2 columns against h0's 3 entries
    assert "inner dimensions of 'W'" in str(_raised(kernel, np.ones(3), np.ones((2, 2)), np.ones(4)))
    # the kernel's check around the loop: a 2x3 W makes h of length 2 after the first step
    assert "changes shape" in str(_raised(kernel, np.ones(3), np.ones((2, 3)), np.ones(4)))


def test_a_failed_check_reports_its_message():
    x, y = T.dvector("x"), T.dvector("y")
    f = sg.function([x, y], x * y, mode="numba")
    with pytest.raises(ValueError, match="shapes do not match"):
        f(np.ones(3), np.ones(2))


@pytest.mark.parametrize("split", [False, True], ids=["whole", "parts"])
def test_the_call_path_reports_the_kernels_message(monkeypatch, split):
    """Where the reference backend does not raise (it does today, with a more precise message),
    the user reads the check's message: called, and in ``loop``."""
    monkeypatch.setattr(call, "interpret", lambda *args, **kwargs: (lambda values: None))
    if split:
        monkeypatch.setattr(codegen, "MAX_PART_LINES", 12)
    x, y = T.dvector(f"x_{split}"), T.dvector(f"y_{split}")
    w = sg.shared(np.ones(3), name=f"w_{split}")
    f = sg.function([x, y], [T.tanh(x * y + w).sum(), T.exp(x - w) * 2],
                    updates=[(w, w - 0.1 * T.tanh(x * y))], mode="numba")
    f(np.ones(3), np.ones(3))
    for run in (lambda: f(np.ones(3), np.ones(2)), lambda: f.loop(3, np.ones(3), np.ones(2))):
        with pytest.raises(ValueError, match="shapes do not match"):
            run()


@pytest.mark.parametrize("message", ["nul \x00 inside", "lone \ud800 surrogate", "two\nlines"])
def test_any_message_text(message):
    x = T.dvector("x")
    f = sg.function([x], assert_op(x, x.shape[0] > 1, message) * 2, mode="numba")
    np.testing.assert_array_equal(f(np.ones(2)), [2.0, 2.0])
    with pytest.raises(ValueError) as info:
        f(np.ones(1))
    assert message in str(info.value)
