"""Theano's default updates: ``SharedVariable.default_update`` and ``function(no_default_updates=)``."""
import pickle

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.compile.function import MissingInputError


def _counter(start=0.0):
    c = sg.shared(np.float64(start), name="c")
    c.default_update = c + 1
    return c


def test_default_update_applied(mode):
    c = _counter()
    f = sg.function([], c * 2, mode=mode)
    assert [float(f()) for _ in range(3)] == [0.0, 2.0, 4.0]
    assert float(c.get_value()) == 3.0


def test_no_default_updates():
    c = _counter()
    assert float(sg.function([], c, mode="numpy", no_default_updates=True)()) == 0.0
    assert float(c.get_value()) == 0.0
    d = _counter(10.0)
    f = sg.function([], c + d, mode="numpy", no_default_updates=[c])
    f()
    assert float(c.get_value()) == 0.0 and float(d.get_value()) == 11.0
    with pytest.raises(TypeError, match="no_default_updates"):
        sg.function([], c, mode="numpy", no_default_updates="c")


def test_explicit_update_wins():
    c = _counter()
    sg.function([], c, updates=[(c, c + 10)], mode="numpy")()
    assert float(c.get_value()) == 10.0


def test_transitive_default_updates():
    a = _counter()
    b = sg.shared(np.float64(0.0), name="b")
    b.default_update = b + a  # b's update reads a, which has a default update of its own
    f = sg.function([], b * 0, mode="numpy")
    f()
    f()
    assert float(a.get_value()) == 2.0 and float(b.get_value()) == 1.0


def test_default_update_reads_inputs():
    x = T.dscalar("x")
    c = sg.shared(np.float64(0.0), name="c")
    c.default_update = c + x
    f = sg.function([x], x * 1, mode="numpy")
    f(2.0)
    f(3.0)
    assert float(c.get_value()) == 0.0  # the outputs do not read c: no update
    g = sg.function([x], x + c, mode="numpy")
    g(2.0)
    assert float(c.get_value()) == 2.0


def test_default_update_free_variable_error():
    x = T.dscalar("x")
    c = sg.shared(np.float64(0.0), name="c")
    c.default_update = c + x
    with pytest.raises(MissingInputError, match="default_update of shared variable 'c' reads 'x'"):
        sg.function([], c, mode="numpy")


def test_default_update_wrong_type():
    c = sg.shared(np.float64(0.0), name="c")
    c.default_update = T.cast(c, "float32")
    with pytest.raises(TypeError, match="default_update of shared variable 'c' must be a float64 scalar"):
        sg.function([], c, mode="numpy")


def test_loop_applies_default_updates(mode):
    c = _counter()
    f = sg.function([], c, mode=mode)
    f.loop(5)
    assert float(c.get_value()) == 5.0


def test_default_update_pickles():
    c = _counter(3.0)
    c2 = pickle.loads(pickle.dumps(c))
    assert c2.default_update is not None
    assert float(sg.function([], c2, mode="numpy")()) == 3.0
    assert float(c2.get_value()) == 4.0
    assert sg.shared(1.0).default_update is None


def test_eval_applies_default_update():
    c = _counter()
    (c * 1).eval()
    assert float(c.get_value()) == 1.0
