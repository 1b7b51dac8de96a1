"""examples/denoising_autoencoder.py: the dA learns on the digits (fast run), and both backends draw
the same corruption masks (MRG bits) and so compute the same costs."""
import numpy as np
import pytest
from tests.examples._load import load_example

pytest.importorskip("sklearn")


def test_fast_run_learns(capsys, tmp_path, monkeypatch):
    example = load_example("denoising_autoencoder")
    monkeypatch.chdir(tmp_path)  # the default picture goes to the current directory
    results = example.main(["--fast", "--mode", "numba"])
    out = capsys.readouterr().out
    assert out.count("epoch") == example.FAST_EPOCHS * len(example.CORRUPTION_LEVELS)
    for level, result in results.items():
        costs = result["costs"]
        assert costs[-1] < 0.85 * costs[0], (level, costs)
    # the corrupted model sees less of its input: its reconstruction cost stays higher
    assert results[0.3]["costs"][-1] > results[0.0]["costs"][-1]
    assert (tmp_path / example.PLOT).exists() or "matplotlib not installed" in out


def test_backends_agree():
    example = load_example("denoising_autoencoder")
    data = example.load_digits_x()[:200]
    got = {mode: example.train(data, 0.3, 2, mode) for mode in ("numpy", "numba")}
    np.testing.assert_allclose(got["numba"]["costs"], got["numpy"]["costs"], rtol=1e-12)
    np.testing.assert_allclose(got["numba"]["W"], got["numpy"]["W"], rtol=1e-10, atol=1e-13)
