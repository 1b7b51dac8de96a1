"""examples/digits_cnn.py: a short run (one drawing per digit, two epochs, numpy backend) prints
Keras's epoch lines and learns; one training step on the numba backend equals the numpy
backend's; the plot is written; the doctests run."""
import contextlib
import doctest
import importlib.util
import io
import re

import numpy
import pytest
from tests.examples._load import load_example

pytest.importorskip("sklearn", reason="the CNN example needs the 'examples' extra (scikit-learn)")

LINE = re.compile(r"^(\d+)/(\d+) - \d+s - loss: ([\d.]+) - accuracy: ([\d.]+) - val_loss: ([\d.]+) - "
                  r"val_accuracy: ([\d.]+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def example():
    return load_example("digits_cnn")


@pytest.fixture(scope="module")
def short_run(example):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        history = example.fit(2, mode="numpy", copies=1)
    return history, out.getvalue()


def test_keras_lines_and_learning(short_run):
    history, text = short_run
    rows = [tuple(map(float, r)) for r in LINE.findall(text)]
    assert [r[:2] for r in rows] == [(15, 15)] * 2  # 1438 training images in batches of 100
    numpy.testing.assert_allclose([r[2] for r in rows], history.loss, atol=5e-5)
    numpy.testing.assert_allclose([r[5] for r in rows], history.val_accuracy, atol=5e-5)
    assert history.loss[1] < history.loss[0] and history.val_accuracy[1] > 0.5


def test_numba_step_equals_numpy_step(example):
    images, onehot = example.load_data(copies=1)
    params = {}
    for mode in ("numpy", "numba"):
        ps, x, y, p = example.build(seed=3)
        loss = example.T.mean(example.T.nnet.categorical_crossentropy(p, y))
        step = example.sg.function([x, y], loss, updates=example.nesterov(loss, ps, 0.05, momentum=0.9), mode=mode)
        costs = [float(step(images[k:k + 20], onehot[k:k + 20])) for k in (0, 20)]
        params[mode] = costs, [v.get_value() for v in ps]
    assert params["numba"][0] == pytest.approx(params["numpy"][0], rel=1e-5)
    for a, b in zip(params["numba"][1], params["numpy"][1]):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # (float32 end to end)


def test_plot(example, short_run, tmp_path):
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib not installed")
    example.plot(short_run[0], str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_doctests(example):
    result = doctest.testmod(example)
    assert result.failed == 0 and result.attempted >= 3
