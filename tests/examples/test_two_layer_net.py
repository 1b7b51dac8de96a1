"""examples/two_layer_net.py: run in-process (fast variant), its numbers against the same net in numpy."""
import importlib.util
import pathlib
import re

import numpy as np
import pytest
from tests.examples._load import load_example

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "two_layer_net.py"


def _load():
    return load_example("two_layer_net")


def _numpy_replay(example, iterations):
    """Full-batch gradient descent on the sum of squared errors, gradients derived by hand."""
    X, Y = example.X, example.Y
    w1, w2 = example.initial_weights()
    losses = []
    for _ in range(iterations):
        hidden = 1 / (1 + np.exp(-(X @ w1)))
        output = 1 / (1 + np.exp(-(hidden @ w2)))
        losses.append(((output - Y) ** 2).sum())
        d_out = 2 * (output - Y) * output * (1 - output)
        d_hidden = (d_out @ w2.T) * hidden * (1 - hidden)
        w1, w2 = w1 - example.LEARNING_RATE * X.T @ d_hidden, w2 - example.LEARNING_RATE * hidden.T @ d_out
    output = 1 / (1 + np.exp(-(1 / (1 + np.exp(-(X @ w1))) @ w2)))
    return losses, output, (w1, w2)


def test_fast_run_matches_numpy(mode, capsys, tmp_path, monkeypatch):
    example = _load()
    monkeypatch.chdir(tmp_path)  # the default plot goes to the current directory
    # drawn once (numpy run, to the default two_layer_net.png): matplotlib is slow to import
    plot_args = [] if mode == "numpy" else ["--no-plot"]
    learned = example.main(["--fast", "--mode", mode] + plot_args)
    out = capsys.readouterr().out
    n = example.FAST_ITERATIONS
    losses, output, weights = _numpy_replay(example, n)
    printed = [(int(i), float(v)) for i, v in re.findall(r"iteration\s+(\d+)\s+loss (\S+)", out)]
    assert [i for i, _ in printed] == [0, 100, 200, n - 1]
    for i, value in printed:  # printed with 6 decimals
        assert value == pytest.approx(losses[i], abs=5e-7)
    assert all(b < a for (_, a), (_, b) in zip(printed, printed[1:]))
    np.testing.assert_allclose(learned["losses"], losses, rtol=1e-10)
    np.testing.assert_allclose(learned["predictions"], output, rtol=1e-10)
    for got, expected in zip(learned["weights"], weights):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    predicted = [float(v) for v in re.findall(r"-> (\S+) \(target", out)]
    np.testing.assert_allclose(predicted, output.ravel(), atol=5e-5)
    assert float(re.search(r"final loss: (\S+)", out).group(1)) == pytest.approx(((output - example.Y) ** 2).sum())
    # after 300 iterations the net already separates XOR
    assert "correct after rounding: 4 of 4" in out
    if mode == "numpy" and importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "two_layer_net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert out.rstrip().endswith("\nwrote two_layer_net.png")
    elif mode == "numpy":
        assert out.rstrip().endswith("\nmatplotlib not installed: no plot")
    else:
        assert list(tmp_path.iterdir()) == []
