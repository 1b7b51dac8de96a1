"""examples/rnn_sequences.py: the LSTM learns the adding problem (fast run), and both backends
compute the same training steps."""
import numpy as np
from tests.examples._load import load_example


def test_fast_run_learns(capsys, tmp_path, monkeypatch):
    example = load_example("rnn_sequences")
    monkeypatch.chdir(tmp_path)  # the default plot goes to the current directory
    result = example.main(["--fast", "--mode", "numba"])
    out = capsys.readouterr().out
    assert out.count("mean squared error") == example.FAST_ITERATIONS // example.PRINT_EVERY + 1
    # predicting the mean gives 1/6; a net that remembers the marked values does far better
    assert result["test_mse"] < (1 / 6) / 10
    assert np.mean(result["losses"][-50:]) < np.mean(result["losses"][:50]) / 10
    assert (tmp_path / example.PLOT).exists() or "matplotlib not installed" in out


def test_backends_agree():
    example = load_example("rnn_sequences")
    losses = {}
    for mode in ("numpy", "numba"):
        params, train, _ = example.build(mode)
        rng = np.random.RandomState(0)
        losses[mode] = [float(train(*example.adding_batch(rng))) for _ in range(5)]
        losses[mode + " weights"] = params["U"].get_value()
    np.testing.assert_allclose(losses["numba"], losses["numpy"], rtol=1e-12)
    np.testing.assert_allclose(losses["numba weights"], losses["numpy weights"], rtol=1e-10, atol=1e-14)
