"""examples/digits_mlp.py: the fast variant runs once in-process and its printed numbers are
checked; the final test errors are recomputed in numpy from the trained weights; the MLP's first
SGD steps are compared with hand-derived backpropagation on both backends; the module's doctests
run (numpy mode).

The fast variant runs in numpy mode: on numba it compiles six kernels (about 10 s from an empty
cache, most of this file's cost otherwise); numba is covered by the MLP step test, whose kernel is
the largest of the six. (The full example prints the same numbers on both backends.)
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

pytest.importorskip("sklearn", reason="the digits example needs the 'examples' extra (scikit-learn)")

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "digits_mlp.py"
EPOCH = re.compile(r"^(softmax regression|MLP) epoch\s+(\d+): cost ([\d.]+), validation error\s+([\d.]+) %, "
                   r"test error\s+([\d.]+) %$", re.MULTILINE)
ACCURACY = re.compile(r"^(softmax regression|MLP): test accuracy ([\d.]+) %$", re.MULTILINE)


def _load_example():
    return load_example("digits_mlp")


@pytest.fixture(scope="module")
def example():
    return _load_example()


@pytest.fixture(scope="module")
def fast_run(example, tmp_path_factory):
    """One run of ``--fast`` in an empty current directory, with the default plot (written there when
    matplotlib is installed): (histories, printed text, that directory)."""
    folder = tmp_path_factory.mktemp("digits")
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(out):
        monkeypatch.chdir(folder)
        histories = example.main(["--fast", "--mode", "numpy"])
    return histories, out.getvalue(), folder


def _epochs(text, name):
    return [tuple(map(float, rest)) for model, *rest in EPOCH.findall(text) if model == name]


@pytest.mark.parametrize("name, epochs", [("softmax regression", 5), ("MLP", 10)])
def test_every_epoch_is_printed_as_recorded(fast_run, name, epochs):
    histories, text, _ = fast_run
    rows = _epochs(text, name)
    assert [int(row[0]) for row in rows] == list(range(1, epochs + 1))
    history = histories[name]
    numpy.testing.assert_allclose([row[1] for row in rows], history.cost, atol=5e-5)
    numpy.testing.assert_allclose([row[2] for row in rows], 100 * numpy.array(history.valid_error), atol=5e-3)
    numpy.testing.assert_allclose([row[3] for row in rows], 100 * numpy.array(history.test_error), atol=5e-3)


@pytest.mark.parametrize("name", ["softmax regression", "MLP"])
def test_training_lowers_cost_and_validation_error(fast_run, name):
    history = fast_run[0][name]
    assert all(b < a for a, b in zip(history.cost, history.cost[1:])), history.cost
    assert min(history.valid_error[1:]) < history.valid_error[0]


def test_printed_test_accuracy(fast_run):
    histories, text, _ = fast_run
    printed = {name: float(value) for name, value in ACCURACY.findall(text)}
    assert printed == pytest.approx({name: 100 * h.test_accuracy for name, h in histories.items()}, abs=5e-3)
    # measured on the fast variant: softmax regression 92.00 %, MLP 96.50 % (the full run: 96.50 %, 97.75 %)
    assert printed["softmax regression"] >= 88.0
    assert printed["MLP"] >= 94.0
    assert printed["MLP"] > printed["softmax regression"]


def test_final_test_error_matches_numpy_forward_pass(example, fast_run):
    histories = fast_run[0]
    _, _, (test_x, test_y) = example.load_data()
    x, y = test_x.get_value(), test_y.get_value()
    w1, b1, w2, b2 = histories["MLP"].final_params
    predicted = numpy.argmax(numpy.tanh(x @ w1 + b1) @ w2 + b2, axis=1)
    assert histories["MLP"].test_error[-1] == pytest.approx(numpy.mean(predicted != y), abs=1e-12)
    w, b = histories["softmax regression"].final_params
    predicted = numpy.argmax(x @ w + b, axis=1)
    assert histories["softmax regression"].test_error[-1] == pytest.approx(numpy.mean(predicted != y), abs=1e-12)


def test_mlp_steps_match_hand_derived_backprop(example, mode):
    """Three SGD steps of the tutorial's train_model (givens slicing minibatches out of the shared
    training set) against numpy: cost = mean NLL + L2_REG * (|W1|^2 + |W2|^2)."""
    T = example.T
    datasets = example.load_data()
    x, y = T.matrix("x"), T.ivector("y")
    mlp = example.MLP(numpy.random.RandomState(7), x, n_in=64, n_hidden=example.N_HIDDEN, n_out=10)
    w1, b1, w2, b2 = [p.get_value() for p in mlp.params]
    cost = mlp.negative_log_likelihood(y) + example.L2_REG * mlp.L2_sqr
    lr, bs, l2 = 0.2, example.BATCH_SIZE, example.L2_REG
    train_model, _, _ = example.compile_sgd(mlp, x, y, cost, datasets, lr, bs, mode=mode)
    data_x, data_y = datasets[0][0].get_value(), datasets[0][1].get_value()
    for index in (0, 1, 49):  # 49: the last full minibatch
        xb, yb = data_x[index * bs:(index + 1) * bs], data_y[index * bs:(index + 1) * bs]
        h = numpy.tanh(xb @ w1 + b1)
        z = h @ w2 + b2
        p = numpy.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        expected_cost = -numpy.mean(numpy.log(p[numpy.arange(bs), yb])) + l2 * ((w1 ** 2).sum() + (w2 ** 2).sum())
        dz = p.copy()
        dz[numpy.arange(bs), yb] -= 1
        dz /= bs
        da = (dz @ w2.T) * (1 - h ** 2)
        w1, b1, w2, b2 = (w1 - lr * (xb.T @ da + 2 * l2 * w1), b1 - lr * da.sum(axis=0),
                          w2 - lr * (h.T @ dz + 2 * l2 * w2), b2 - lr * dz.sum(axis=0))
        assert float(train_model(index)) == pytest.approx(expected_cost, rel=1e-12)
        for param, value in zip(mlp.params, (w1, b1, w2, b2)):
            numpy.testing.assert_allclose(param.get_value(), value, rtol=1e-11, atol=1e-13)


def test_plot_is_written_to_the_current_directory(fast_run):
    _, text, folder = fast_run
    if importlib.util.find_spec("matplotlib") is None:
        assert text.rstrip().endswith("\nmatplotlib not installed: no plot")
        assert list(folder.iterdir()) == []
        return
    assert text.rstrip().endswith("\nwrote digits_mlp.png")
    assert [p.name for p in folder.iterdir()] == ["digits_mlp.png"]
    assert (folder / "digits_mlp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_optional_packages_name_the_extra(example, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"scikit-learn.*symgrad\[examples\]"):
        example.load_data()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"matplotlib.*symgrad\[examples\]"):
        example.plot_errors([], "unused.png")


def test_doctests(example):
    result = doctest.testmod(example, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 8
