"""backend/numba/scalarcode.py: shared subexpressions of a loop's expressions become temporaries."""
import numpy as np
import sympy

import symgrad as sg
import symgrad.tensor as T
from symgrad import scalar as S
from symgrad.backend.numba.emit import Emitter
from symgrad.backend.numba.scalarcode import _cse, scalar_codes


def test_power_base_shared():
    # the printer writes x**2 as x*x: a base that is not an atom must be computed once
    inner = sympy.tanh(S.arg(0) + 1)
    for k in (2, 3, 4):
        _, shared = _cse((inner ** k + S.arg(1),))
        assert inner in shared
    _, shared = _cse((inner ** 5 + S.arg(1),))  # printed as a power: one copy
    assert inner not in shared
    _, shared = _cse((S.arg(0) ** 2,))
    assert shared == ()


def test_squared_call_printed_once():
    x = T.dvector("x")
    out = 1 - T.tanh(T.tanh(x) * 2 + 0.5) ** 2
    f = sg.function([x], out, mode="numba")
    assert f.source.count("(vtanh,") == 2
    xv = np.linspace(-3, 3, 11)
    np.testing.assert_allclose(f(xv), sg.function([x], out, mode="numpy")(xv), rtol=1e-14, atol=1e-15)


def test_grouped_argument_not_a_temporary():
    # sigmoid(a), softplus(a) and softplus(-a) come from one group, which prints a once: no
    # temporary for a
    a = S.arg(0) + S.arg(1)
    groups, shared = _cse((S.sigmoid(a) * S.arg(2) + S.softplus(a) + S.softplus(-a),))
    assert len(groups) == 1 and shared == ()
    _, shared = _cse((S.sigmoid(a) + S.softplus(-a) + a * S.arg(2),))  # a read elsewhere too
    assert shared == (a,)


def test_equal_outputs_computed_once():
    # an output that is also part of another output, or equal to it, is one temporary
    t = sympy.tanh(S.arg(0))
    em = Emitter()
    codes = scalar_codes(em, [t, 2 * t, t], ["a", "b"], "float64")
    text = "\n".join(em.lines + codes)
    assert text.count("(vtanh,") == 1
    assert codes[0] == codes[2] and codes[0] in codes[1]
    sig = S.sigmoid(S.arg(0) + S.arg(1))
    em = Emitter()
    codes = scalar_codes(em, [sig, S.softplus(S.arg(0) + S.arg(1))], ["a", "b"], "float64")
    assert "sigmoid" not in "\n".join(codes)  # a grouped call is its group's value
