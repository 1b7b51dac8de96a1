"""examples/housing_regression.py: the fast variant runs once in-process (default mode, so numba
when it is the default) and its printed numbers are checked; gradient descent is replayed in
numpy with the hand-derived gradient; the module's doctests run (numpy mode, cheap).
"""
import contextlib
import doctest
import importlib.util
import io
import pathlib
import re
import sys

import numpy
import pytest
from tests.examples._load import load_example

pytest.importorskip("mlxtend", reason="the housing example needs the 'examples' extra (mlxtend)")

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "housing_regression.py"
LINE = re.compile(r"^(random search|direction search|gradient descent|least squares)\s*: price =\s*(-?[\d.]+) "
                  r"\* rooms ([+-])\s+([\d.]+)\s+loss\s+([\d.]+)", re.MULTILINE)
SIGMOID = re.compile(r"^linear -> sigmoid -> linear \(4 sigmoid units, (\d+) steps\): loss ([\d.]+) \((.*)\)$",
                     re.MULTILINE)


def _load_example():
    return load_example("housing_regression")


@pytest.fixture(scope="module")
def example():
    return _load_example()


@pytest.fixture(scope="module")
def fast_run(example, tmp_path_factory):
    """One run of ``--fast`` in an empty current directory, with the default plot (written there when
    matplotlib is installed): (fits, printed text, that directory)."""
    folder = tmp_path_factory.mktemp("housing")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(out):
        monkeypatch.chdir(folder)
        fits = example.main(["--fast"])
    return fits, out.getvalue(), folder


def test_prints_each_line_fit_as_returned(fast_run):
    fits, text, _ = fast_run
    printed = {name: (float(k), float(sign + b), float(loss)) for name, k, sign, b, loss in LINE.findall(text)}
    assert set(printed) == {"random search", "direction search", "gradient descent", "least squares"}
    for name, (k, b, loss) in printed.items():
        assert k == pytest.approx(fits[name].k, abs=5e-4)
        assert b == pytest.approx(fits[name].b, abs=5e-4)
        assert loss == pytest.approx(fits[name].loss, abs=5e-4)


def test_every_search_lowers_the_loss_towards_least_squares(fast_run):
    fits, text, _ = fast_run
    exact = fits["least squares"].loss
    assert exact == pytest.approx(43.6006, abs=1e-3)  # RM alone explains about half of MEDV's variance
    for name in ("random search", "direction search", "gradient descent"):
        losses = [loss for _, loss in fits[name].history]
        assert all(b <= a for a, b in zip(losses, losses[1:])), f"{name}: the loss never rises: {losses}"
        assert losses[-1] < losses[0] / 10
        assert fits[name].history[-1] == (5000 if name == "gradient descent" else 300, fits[name].loss)
        assert fits[name].loss >= exact - 1e-9  # nothing beats least squares
    # measured on the fast variant: random 75.6, direction 44.4, gradient descent 45.2
    assert fits["random search"].loss < 100
    assert fits["direction search"].loss < 48
    assert fits["gradient descent"].loss < 48


def test_sigmoid_model_beats_the_line(fast_run):
    fits, text, _ = fast_run
    steps, loss, trail = SIGMOID.search(text).groups()
    fit = fits["linear -> sigmoid -> linear"]
    assert int(steps) == 2000 and float(loss) == pytest.approx(fit.loss, abs=5e-4)
    assert trail == "loss after " + fit.trail() and fit.trail().startswith("1: ") and trail.endswith(" -> 2000: 34.8")
    assert fit.loss < fits["least squares"].loss - 5  # measured 34.8 against 43.6
    predicted = [float(v) for v in re.search(r"^sigmoid model:\s+(.*)$", text, re.MULTILINE).group(1).split()]
    assert len(predicted) == 5 and predicted[-1] > predicted[2]  # 8 rooms cost more than 6


def test_gradient_descent_matches_a_numpy_replay(example, fast_run):
    fits, _, _ = fast_run
    rooms, price = example.load_housing()
    fit = fits["gradient descent"]
    assert fit.start == fits["direction search"].start  # both local searches start from one random point
    k, b = fit.start
    for _ in range(fit.history[-1][0]):
        residual = k * rooms + b - price
        k, b = k - 0.02 * 2 * numpy.mean(residual * rooms), b - 0.02 * 2 * numpy.mean(residual)
    assert fit.k == pytest.approx(k, rel=1e-9, abs=1e-9)
    assert fit.b == pytest.approx(b, rel=1e-9, abs=1e-9)


def test_plot_is_written_to_the_current_directory(fast_run):
    _, text, folder = fast_run
    if importlib.util.find_spec("matplotlib") is None:
        assert text.rstrip().endswith("\nmatplotlib not installed: no plot")
        assert list(folder.iterdir()) == []
        return
    assert text.rstrip().endswith("\nwrote housing_regression.png")
    assert [p.name for p in folder.iterdir()] == ["housing_regression.png"]
    assert (folder / "housing_regression.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_optional_packages_name_the_extra(example, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError, match=r"mlxtend.*symgrad\[examples\]"):
        example.load_housing()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"matplotlib.*symgrad\[examples\]"):
        example.plot_fits(None, None, [], None, None, "unused.png")


def test_doctests(example):
    result = doctest.testmod(example, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 10
