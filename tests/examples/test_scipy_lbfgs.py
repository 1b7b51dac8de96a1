"""examples/scipy_lbfgs.py: run in-process (fast variant), its printed numbers checked in numpy.

The example's 400 x 784 problem runs on the numpy backend here: on numba its row passes are
threaded kernels whose compiles would dominate the suite, and minimize on numba is covered by
tests/test_scipy.py.
"""
import importlib.util
import pathlib
import re

import numpy as np
import pytest
from tests.examples._load import load_example

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "scipy_lbfgs.py"


def _load():
    return load_example("scipy_lbfgs")


def _cost_and_grad(X, Y, w, b):
    z = X @ w + b
    cost = np.mean(np.logaddexp(0, z) - Y * z) + 0.01 * w @ w
    dz = (1 / (1 + np.exp(-z)) - Y) / len(Y)
    return cost, X.T @ dz + 0.02 * w, dz.sum()


def _value(name, out):
    return float(re.search(rf"{name}: (\S+)", out).group(1))


def test_fast_run_reaches_the_minimum_and_beats_sgd(capsys, tmp_path, monkeypatch):
    example = _load()
    monkeypatch.chdir(tmp_path)  # nothing may land in the current directory
    plot = tmp_path / "plots" / "lbfgs.png"  # --plot PATH instead of the default scipy_lbfgs.png
    plot.parent.mkdir()
    learned = example.main(["--fast", "--mode", "numpy", "--plot", str(plot)])
    out = capsys.readouterr().out
    (X, labels), w0 = example.data()
    Y = labels.astype(float)
    # L-BFGS: the printed cost is the cost of the weights left in place, and they are a minimum
    cost, gw, gb = _cost_and_grad(X, Y, learned["w"], learned["b"])
    assert _value("L-BFGS-B final cost", out) == pytest.approx(cost, rel=1e-9)
    assert max(np.abs(gw).max(), abs(gb)) < 1e-7
    iterations = int(re.search(r"L-BFGS-B: (\d+) iterations", out).group(1))
    assert iterations == learned["result"].nit and 10 < iterations < 1000
    assert _value("L-BFGS-B training accuracy", out) == ((X @ learned["w"] + learned["b"] > 0) == labels).mean()
    # SGD: the tutorial's steps replayed in numpy
    w, b = w0.copy(), 0.0
    for _ in range(example.FAST_SGD_STEPS):
        _, gw, gb = _cost_and_grad(X, Y, w, b)
        w, b = w - 0.1 * gw, b - 0.1 * gb
    sgd_cost = _cost_and_grad(X, Y, w, b)[0]
    assert _value(r"SGD \(1000 steps, learning rate 0.1, \S+ s with compilation\) final cost", out) == \
        pytest.approx(sgd_cost, rel=1e-9)
    assert len(re.findall(r"SGD step\s+\d+\s+cost", out)) == 10
    assert _value("SGD cost minus L-BFGS-B cost", out) == pytest.approx(sgd_cost - cost, rel=1e-3)
    assert sgd_cost > cost
    assert _value("cost at the start", out) == pytest.approx(_cost_and_grad(X, Y, w0, 0.0)[0], rel=1e-6)
    if importlib.util.find_spec("matplotlib") is not None:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {plot}" in out
    else:
        assert "matplotlib not installed: no plot" in out
    assert [p.name for p in tmp_path.iterdir()] == ["plots"]  # not the default scipy_lbfgs.png
