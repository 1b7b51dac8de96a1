"""backend/numba/emit.py: a kernel's checks raise their message's number through a helper call;
the module lists the messages, one list for the kernel and its scan steps."""
import ast

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import call, codegen
from symgrad.backend.numba.cache import load_module
from symgrad.backend.numba.call import kernel_error
from symgrad.backend.numba.codegen import generate
from symgrad.tensor.shape import assert_op


def _raised(fn, *args):
    with pytest.raises((ValueError, IndexError)) as info:
        fn(*args)
    return info.value


def test_checks_raise_numbers_of_their_messages():
    x, y, i = T.dvector("x"), T.dvector("y"), T.lscalar("i")
    module = generate([x, y, i], [x + y, T.dot(x, y), x[i]])
    # no raise statement in the kernel: each costs numba ~15 ms of compile (emit.Emitter.fail_if)
    assert not [n for n in ast.walk(ast.parse(module.source)) if isinstance(n, ast.Raise)]
    kernel = load_module(module)["kernel"]
    error = _raised(kernel, np.ones(3), np.ones(2), np.int64(0))
    assert type(error) is ValueError and "'x'" in module.errors[error.args[0]]
    error = _raised(kernel, np.ones(3), np.ones(3), np.int64(3))
    assert type(error) is IndexError and "out of bounds" in module.errors[error.args[0]]
    assert str(kernel_error(error, module.errors)) == module.errors[error.args[0]]


def test_scan_steps_number_messages_with_their_kernel():
    h0, W, v = T.dvector("h0"), T.dmatrix("W"), T.dvector("v")
    hs, _ = sg.scan(lambda h, M: T.tanh(T.dot(M, h)), outputs_info=h0, non_sequences=[W], n_steps=3)
    module = generate([h0, W, v], [hs, T.dot(v, v)])
    assert len(set(module.errors)) == len(module.errors)
    assert any("inner dimensions of 'v'" in m for m in module.errors)
    kernel = load_module(module)["kernel"]
    # the step's own check: W's 2 columns against h0's 3 entries
    error = _raised(kernel, np.ones(3), np.ones((2, 2)), np.ones(4))
    assert "inner dimensions of 'W'" in module.errors[error.args[0]]
    # the kernel's check around the loop: a 2x3 W makes h of length 2 after the first step
    error = _raised(kernel, np.ones(3), np.ones((2, 3)), np.ones(4))
    assert "changes shape" in module.errors[error.args[0]]


def test_a_failed_check_reports_its_message():
    x, y = T.dvector("x"), T.dvector("y")
    f = sg.function([x, y], x * y, mode="numba")
    with pytest.raises(ValueError, match="shapes do not match"):
        f(np.ones(3), np.ones(2))


@pytest.mark.parametrize("split", [False, True], ids=["whole", "parts"])
def test_the_call_path_puts_messages_back(monkeypatch, split):
    """Where the reference backend does not raise (it does today, with a more precise message),
    the user reads the check's message, never its number: called, and in ``loop``."""
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
    """A message goes into the module's list as it is; the kernel's text gets a printable copy."""
    x = T.dvector("x")
    f = sg.function([x], assert_op(x, x.shape[0] > 1, message) * 2, mode="numba")
    np.testing.assert_array_equal(f(np.ones(2)), [2.0, 2.0])
    with pytest.raises(ValueError) as info:
        f(np.ones(1))
    assert message in str(info.value)
