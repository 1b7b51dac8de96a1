"""``verify_grad`` (symgrad/testing.py): accepts a correct gradient, catches a wrong one, and stays
reachable as ``symgrad.gradient.verify_grad`` without the gradient layer importing it."""
import subprocess
import sys

import numpy as np
import pytest

import symgrad.tensor as T
from symgrad import gradient
from symgrad.gradient import VJP_RULES
from symgrad.tensor.linalg import Dot
from symgrad.testing import GradientError, verify_grad


def test_verify_grad_accepts_correct_gradient(mode):
    verify_grad(lambda a, b: T.tanh(a) * T.exp(b) + a * b, [np.array([0.1, -0.3]), np.array([0.2, 0.4])],
                mode=mode)


def test_verify_grad_detects_wrong_gradient(mode):
    saved = VJP_RULES[Dot]
    VJP_RULES[Dot] = lambda node, g: [x * 2 for x in saved(node, g)]
    try:
        with pytest.raises(GradientError):
            verify_grad(lambda a: T.dot(a, a), [np.array([0.5, 1.0])], mode=mode)
    finally:
        VJP_RULES[Dot] = saved


def test_gradient_aliases():
    assert gradient.verify_grad is verify_grad and gradient.GradientError is GradientError
    assert "verify_grad" in dir(gradient)
    with pytest.raises(AttributeError, match="no attribute 'not_there'"):
        gradient.not_there  # noqa: B018


def test_lazy_import():
    # a fresh interpreter: this one has imported symgrad.testing already
    code = "import sys, symgrad, symgrad.gradient; print('symgrad.testing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
