"""Softmax regression and a tanh MLP on scikit-learn's 8x8 digits, in the style of the
deeplearning.net tutorials (logistic_sgd.py and mlp.py) with ``import symgrad as theano``.

The tutorial's structure is kept: the data sets live in shared variables, a compiled training
step takes only a minibatch ``index`` and slices the training set through ``givens``, the cost
is the negative log-likelihood of ``T.nnet.softmax`` plus an L2 penalty, the updates are plain
SGD, and validation and test errors are printed after every epoch. The test error reported for a
model is the one at its best validation epoch (the tutorial's early-stopping rule).

Needs scikit-learn for the data (bundled with it, no download): ``pip install 'symgrad[examples]'``
(matplotlib too, for the plot).

Run: python examples/digits_mlp.py [--fast] [--plot PATH | --no-plot] [--mode numpy|numba]
The error curves are plotted to digits_mlp.png in the current directory (or to --plot PATH) when
matplotlib is installed; --no-plot skips the plot.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy

import symgrad as theano
import symgrad.tensor as T

N_TRAIN, N_VALID = 1000, 397  # of the 1797 digits; the remaining 400 are the test set
BATCH_SIZE = 20
L2_REG = 1e-4  # weight of the squared weights (not the biases) in the cost
N_HIDDEN = 64
PLOT = "digits_mlp.png"  # the default plot file, in the current directory


def load_data(seed: int = 1234) -> list[tuple]:
    """The digits as three (shared_x, shared_y) pairs: train, validation, test.

    Pixels are scaled from 0..16 to [0, 1]; the rows are shuffled with ``seed`` before splitting.
    The tutorial stored labels as floatX for the GPU and cast them; here they are int32 already,
    so a minibatch slice needs no cast.

    >>> train, valid, test = load_data()
    >>> train[0].get_value().shape, valid[0].get_value().shape, test[1].get_value().dtype
    ((1000, 64), (397, 64), dtype('int32'))
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("examples/digits_mlp.py needs scikit-learn for its data set: "
                          "pip install 'symgrad[examples]' (or scikit-learn)") from exc
    digits = load_digits()
    order = numpy.random.RandomState(seed).permutation(len(digits.target))
    data_x = numpy.asarray(digits.data[order] / 16.0, dtype=theano.config.floatX)
    data_y = numpy.asarray(digits.target[order], dtype="int32")
    bounds = [(0, N_TRAIN), (N_TRAIN, N_TRAIN + N_VALID), (N_TRAIN + N_VALID, len(data_y))]
    return [(theano.shared(data_x[a:b], name=f"{part}_x"), theano.shared(data_y[a:b], name=f"{part}_y"))
            for part, (a, b) in zip(("train", "valid", "test"), bounds)]


class LogisticRegression:
    """Multi-class logistic regression: P(y | x) = softmax(x W + b)."""

    def __init__(self, input, n_in: int, n_out: int):
        self.W = theano.shared(numpy.zeros((n_in, n_out), dtype=theano.config.floatX), name="W")
        self.b = theano.shared(numpy.zeros(n_out, dtype=theano.config.floatX), name="b")
        self.p_y_given_x = T.nnet.softmax(T.dot(input, self.W) + self.b)
        self.y_pred = T.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = input

    def negative_log_likelihood(self, y):
        """Mean of -log P(y_i | x_i) over the minibatch: one entry per row, picked by advanced indexing."""
        return -T.mean(T.log(self.p_y_given_x)[T.arange(y.shape[0]), y])

    def errors(self, y):
        """Fraction of the minibatch that is misclassified."""
        return T.mean(T.neq(self.y_pred, y))


class HiddenLayer:
    """tanh(x W + b), W uniform in +-sqrt(6 / (n_in + n_out)) (Glorot & Bengio, as the tutorial)."""

    def __init__(self, rng: numpy.random.RandomState, input, n_in: int, n_out: int):
        bound = numpy.sqrt(6.0 / (n_in + n_out))
        self.W = theano.shared(numpy.asarray(rng.uniform(-bound, bound, (n_in, n_out)),
                                             dtype=theano.config.floatX), name="W")
        self.b = theano.shared(numpy.zeros(n_out, dtype=theano.config.floatX), name="b")
        self.output = T.tanh(T.dot(input, self.W) + self.b)
        self.params = [self.W, self.b]
        self.input = input


class MLP:
    """One tanh hidden layer feeding a softmax regression layer."""

    def __init__(self, rng: numpy.random.RandomState, input, n_in: int, n_hidden: int, n_out: int):
        self.hiddenLayer = HiddenLayer(rng, input, n_in, n_hidden)
        self.logRegressionLayer = LogisticRegression(self.hiddenLayer.output, n_hidden, n_out)
        self.L2_sqr = (self.hiddenLayer.W ** 2).sum() + (self.logRegressionLayer.W ** 2).sum()
        self.negative_log_likelihood = self.logRegressionLayer.negative_log_likelihood
        self.errors = self.logRegressionLayer.errors
        self.params = self.hiddenLayer.params + self.logRegressionLayer.params
        self.input = input


@dataclass
class History:
    """What one training run printed: per epoch the mean minibatch cost and the two error rates."""

    name: str
    cost: list = field(default_factory=list)
    valid_error: list = field(default_factory=list)
    test_error: list = field(default_factory=list)
    seconds: float = 0.0
    final_params: list = field(default_factory=list)  # parameter values after the last epoch

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the lowest validation error (the first one on ties)."""
        return int(numpy.argmin(self.valid_error)) + 1

    @property
    def test_accuracy(self) -> float:
        """Test accuracy at the best validation epoch."""
        return 1.0 - self.test_error[self.best_epoch - 1]


def compile_sgd(classifier, x, y, cost, datasets, learning_rate: float, batch_size: int,
                mode: str | None = None) -> tuple:
    """The tutorial's three compiled functions: ``train_model(index)`` (one SGD step on minibatch
    ``index``, returns its cost), ``validate_model()`` and ``test_model()`` (error rates).

    >>> x, y = T.matrix("x"), T.ivector("y")
    >>> model = LogisticRegression(x, n_in=64, n_out=10)
    >>> train_model, validate_model, test_model = compile_sgd(
    ...     model, x, y, model.negative_log_likelihood(y), load_data(), 0.1, 20, mode="numpy")
    >>> round(float(train_model(0)), 4)  # log(10): all ten classes equally likely at first
    2.3026
    """
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = datasets
    index = T.lscalar("index")
    gparams = [T.grad(cost, param) for param in classifier.params]
    updates = [(param, param - learning_rate * gparam) for param, gparam in zip(classifier.params, gparams)]
    batch = slice(index * batch_size, (index + 1) * batch_size)
    train_model = theano.function([index], cost, updates=updates,
                                  givens={x: train_x[batch], y: train_y[batch]}, mode=mode)
    # The held-out sets are small enough to score whole, one call each per epoch.
    validate_model = theano.function([], classifier.errors(y), givens={x: valid_x, y: valid_y}, mode=mode)
    test_model = theano.function([], classifier.errors(y), givens={x: test_x, y: test_y}, mode=mode)
    return train_model, validate_model, test_model


def sgd_train(name: str, classifier, x, y, cost, datasets, learning_rate: float, n_epochs: int,
              batch_size: int, mode: str | None = None) -> History:
    """Minibatch SGD with :func:`compile_sgd`'s functions, printing the mean minibatch cost and the
    validation and test errors after each epoch.

    >>> x, y = T.matrix("x"), T.ivector("y")
    >>> model = LogisticRegression(x, n_in=64, n_out=10)
    >>> history = sgd_train("demo", model, x, y, model.negative_log_likelihood(y), load_data(),
    ...                     learning_rate=0.1, n_epochs=1, batch_size=20, mode="numpy")
    ... # doctest: +ELLIPSIS
    demo epoch   1: cost 1.9..., validation error ... %, test error ... %
    demo: best validation error ... at epoch 1, test accuracy there ...
    >>> history.test_accuracy > 0.75
    True
    """
    train_model, validate_model, test_model = compile_sgd(classifier, x, y, cost, datasets, learning_rate,
                                                          batch_size, mode)
    n_train_batches = datasets[0][0].get_value(borrow=True).shape[0] // batch_size
    history = History(name)
    start = time.perf_counter()
    for epoch in range(1, n_epochs + 1):
        costs = [float(train_model(i)) for i in range(n_train_batches)]
        history.cost.append(float(numpy.mean(costs)))
        history.valid_error.append(float(validate_model()))
        history.test_error.append(float(test_model()))
        print(f"{name} epoch {epoch:3d}: cost {history.cost[-1]:.4f}, validation error "
              f"{100 * history.valid_error[-1]:5.2f} %, test error {100 * history.test_error[-1]:5.2f} %")
    history.seconds = time.perf_counter() - start
    history.final_params = [param.get_value() for param in classifier.params]
    print(f"{name}: best validation error {100 * min(history.valid_error):.2f} % at epoch "
          f"{history.best_epoch}, test accuracy there {100 * history.test_accuracy:.2f} % "
          f"({history.seconds:.1f} s including compilation)")
    return history


def plot_errors(histories: list[History], path: str) -> None:
    """Write validation and test error per epoch of each model to ``path`` (needs matplotlib).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "errors.png")
    >>> plot_errors([History("demo", [1.0, 0.5], [0.2, 0.1], [0.25, 0.12])], path)
    >>> os.path.getsize(path) > 1000
    True
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the plot needs matplotlib: pip install 'symgrad[examples]' (or matplotlib)") from exc
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    for history, color in zip(histories, ("tab:blue", "tab:red")):
        epochs = numpy.arange(1, len(history.valid_error) + 1)
        ax.plot(epochs, 100 * numpy.asarray(history.valid_error), color=color, label=f"{history.name} validation")
        ax.plot(epochs, 100 * numpy.asarray(history.test_error), color=color, linestyle="--",
                label=f"{history.name} test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_title("8x8 digits: minibatch SGD with symgrad")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: ``--fast``, ``--plot PATH`` or ``--no-plot``, ``--mode``.

    >>> args = parse_args(["--fast", "--plot", "errors.png"])
    >>> args.fast, args.plot, args.no_plot, args.mode
    (True, 'errors.png', False, None)
    >>> args = parse_args(["--no-plot"])
    >>> args.plot, args.no_plot
    ('digits_mlp.png', True)
    """
    parser = argparse.ArgumentParser(
        description="Softmax regression and a tanh MLP on the 8x8 digits, trained by minibatch SGD with symgrad.")
    parser.add_argument("--fast", action="store_true", help="few epochs (for tests)")
    plot = parser.add_mutually_exclusive_group()
    plot.add_argument("--plot", metavar="PATH", default=PLOT,
                      help=f"write the error curves to PATH (default: {PLOT}; needs matplotlib, skipped "
                           "without it)")
    plot.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--mode", choices=("numpy", "numba"), default=None,
                        help="symgrad backend (default: symgrad.config.mode)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, History]:
    """Train softmax regression, then the MLP; return their histories by name.

    >>> main(["--fast"])["MLP"].test_accuracy > 0.9  # doctest: +SKIP
    True
    """
    args = parse_args(argv)
    datasets = load_data()
    print(f"digits: {N_TRAIN} train, {N_VALID} validation, "
          f"{datasets[2][1].get_value().shape[0]} test images of 8x8 pixels; mode={args.mode or theano.config.mode}")
    x = T.matrix("x")
    y = T.ivector("y")
    rng = numpy.random.RandomState(1234)

    logistic = LogisticRegression(x, n_in=64, n_out=10)
    cost = logistic.negative_log_likelihood(y) + L2_REG * (logistic.W ** 2).sum()
    softmax_history = sgd_train("softmax regression", logistic, x, y, cost, datasets, learning_rate=0.1,
                                n_epochs=5 if args.fast else 40, batch_size=BATCH_SIZE, mode=args.mode)

    mlp = MLP(rng, x, n_in=64, n_hidden=N_HIDDEN, n_out=10)
    cost = mlp.negative_log_likelihood(y) + L2_REG * mlp.L2_sqr
    mlp_history = sgd_train("MLP", mlp, x, y, cost, datasets, learning_rate=0.2,
                            n_epochs=10 if args.fast else 60, batch_size=BATCH_SIZE, mode=args.mode)

    histories = {"softmax regression": softmax_history, "MLP": mlp_history}
    for name, history in histories.items():
        print(f"{name}: test accuracy {100 * history.test_accuracy:.2f} %")
    if not args.no_plot:
        try:
            plot_errors(list(histories.values()), args.plot)
        except ImportError:  # matplotlib is optional
            print("matplotlib not installed: no plot")
        else:
            print(f"wrote {args.plot}")
    return histories


if __name__ == "__main__":
    main()
