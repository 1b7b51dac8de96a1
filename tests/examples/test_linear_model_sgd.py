"""examples/linear_model_sgd.py: run in-process, its printed numbers against a plain-Python replay."""
import importlib.util
import pathlib
import re
import sys

import pytest
from tests.examples._load import load_example

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "linear_model_sgd.py"


def _load():
    return load_example("linear_model_sgd")


def _replay(epochs):
    """The lecture's arithmetic in plain Python floats: (printed gradients, epoch losses, final w)."""
    w, grads, losses = 1.0, [], []
    for _ in range(epochs):
        for x, y in zip([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]):
            loss, grad = (x * w - y) ** 2, 2 * x * (x * w - y)
            grads.append((x, y, grad))
            w = w - 0.01 * grad
        losses.append(loss)
    return grads, losses, w


def _numbers(pattern, text):
    return [tuple(float(v) for v in m) if isinstance(m, tuple) else float(m) for m in re.findall(pattern, text)]


def test_fast_and_full_runs_print_the_lecture_numbers(mode, capsys, tmp_path, monkeypatch):
    example = _load()
    monkeypatch.chdir(tmp_path)  # the default plot goes to the current directory
    # drawn once (numpy run, to the default linear_model_sgd.png): matplotlib is slow to import
    plot_args = [] if mode == "numpy" else ["--no-plot"]
    learned = example.main(["--fast", "--mode", mode] + plot_args)
    out = capsys.readouterr().out
    grads, losses, w = _replay(3)
    assert out.splitlines()[0] == "predict (before training) 4 4.0"
    assert "\tgrad: 1.0 2.0 -2.0\n" in out  # the lecture's first line
    printed = _numbers(r"grad:\s+(\S+) (\S+) (\S+)", out)
    assert len(printed) == len(grads)  # approx compares flat sequences only (pytest 9 refuses nesting)
    assert all(p == pytest.approx(g, rel=1e-14) for p, g in zip(printed, grads))
    assert _numbers(r"progress: \d+ (\S+)", out) == pytest.approx(losses, rel=1e-14)
    assert learned["w"] == pytest.approx(w, rel=1e-15)
    assert learned["prediction"] == pytest.approx(4 * w, rel=1e-15)
    if mode == "numpy" and importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "linear_model_sgd.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert out.rstrip().endswith("\nwrote linear_model_sgd.png")
    else:
        assert list(tmp_path.iterdir()) == []
    # the full program: the same graph, so no new compile; the reference prints 4 -> 7.8049. The numpy
    # run has no matplotlib (the default plot is skipped with one line), the numba run says --no-plot.
    for stale in tmp_path.iterdir():
        stale.unlink()
    if mode == "numpy":
        monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib... -> ImportError
        monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
        learned = example.main(["--mode", mode])
    else:
        learned = example.main(["--mode", mode, "--no-plot"])
    out = capsys.readouterr().out
    last = "\nmatplotlib not installed: no plot" if mode == "numpy" else ""
    assert out.rstrip().endswith("predict (after training) 4 7.804863933862125" + last)
    assert list(tmp_path.iterdir()) == []
    assert len(_numbers(r"progress: \d+ (\S+)", out)) == 10
    assert learned["prediction"] == pytest.approx(4 * _replay(10)[2], rel=1e-15)


def test_plot_is_skipped_silently_without_matplotlib(monkeypatch, tmp_path, capsys):
    example = _load()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib... -> ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert example._plot(str(tmp_path / "none.png"), [1.0, 0.5], 2.0) is False
    assert not (tmp_path / "none.png").exists()
    assert capsys.readouterr().out == ""


def test_plot_options(tmp_path):
    example = _load()
    with pytest.raises(SystemExit):  # --plot and --no-plot exclude each other
        example.main(["--plot", str(tmp_path / "x.png"), "--no-plot"])
    assert list(tmp_path.iterdir()) == []
