"""House prices from the number of rooms: the computational-graph lesson's regression, with symgrad.

The data are the Boston housing records (Harrison & Rubinfeld, 1978; 506 census tracts) as
shipped inside mlxtend (BSD-3), so nothing is downloaded. Only two columns are used: RM, the
average number of rooms per dwelling, and MEDV, the median home value in $1000s. (Column B,
derived from the proportion of Black residents by town, is the reason scikit-learn removed the
set; it is not used here.)

The straight line ``price = k * rooms + b`` is fitted three ways; the two searches score their
candidates with one compiled mean-squared-error function:

1. random search: draw (k, b) at random, keep the best;
2. direction search: from a random start, step in a random direction and keep the step if the loss
   falls (and keep the direction while it keeps working);
3. gradient descent: ``T.grad`` of the loss, plain updates of shared k and b.

Then a ``linear -> sigmoid -> linear`` model (a few sigmoid units of the standardized room count)
is trained by gradient descent; it can bend where prices rise faster than linearly.

Needs mlxtend for the data: ``pip install 'symgrad[examples]'`` (matplotlib too, for the plot).

Run: python examples/housing_regression.py [--fast] [--plot PATH | --no-plot] [--mode numpy|numba]
The fits and loss curves are plotted to housing_regression.png in the current directory (or to
--plot PATH) when matplotlib is installed; --no-plot skips the plot.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numpy

import symgrad as theano
import symgrad.tensor as T

RANGE = 100.0  # random search and random starts draw k and b uniformly from [-RANGE, RANGE]
HIDDEN = 4  # sigmoid units of the linear -> sigmoid -> linear model
PLOT = "housing_regression.png"  # the default plot file, in the current directory


def load_housing() -> tuple[numpy.ndarray, numpy.ndarray]:
    """Rooms per dwelling (RM) and median value in $1000s (MEDV) of the 506 Boston tracts.

    >>> rooms, price = load_housing()
    >>> rooms.shape, round(float(rooms.mean()), 2), round(float(price.mean()), 2)
    ((506,), 6.28, 22.53)
    """
    try:
        from mlxtend.data import boston_housing_data
    except ImportError as exc:
        raise ImportError("examples/housing_regression.py needs mlxtend, which ships the Boston housing "
                          "data: pip install 'symgrad[examples]' (or mlxtend)") from exc
    features, price = boston_housing_data()
    return features[:, 5].copy(), price  # column 5 is RM


@dataclass
class Fit:
    """A fitted line ``k * rooms + b`` (k and b unused for the sigmoid model) and its loss history."""

    name: str
    loss: float
    k: float = numpy.nan
    b: float = numpy.nan
    history: list = field(default_factory=list)  # (step, loss after that many steps or tries)
    start: tuple = (numpy.nan, numpy.nan)  # (k, b) where a local search began

    def trail(self) -> str:
        """The loss after 1, 10, 100, ... steps and at the end: ``1: 90.2 -> 10: 51.0 -> 40: 47.5``.

        >>> Fit("demo", 2.0, history=[(0, 9.0), (3, 5.0), (12, 2.0)]).trail()
        '1: 9 -> 10: 5 -> 12: 2'
        """
        steps = [step for step, _ in self.history]
        last = steps[-1]
        milestones = [10 ** j for j in range(len(str(last))) if 10 ** j < last] + [last]
        losses = [self.history[numpy.searchsorted(steps, m, side="right") - 1][1] for m in milestones]
        return " -> ".join(f"{m}: {value:.3g}" for m, value in zip(milestones, losses))


def mse_function(rooms, price, mode: str | None = None):
    """Compile ``loss(k, b) = mean((k * rooms + b - price) ** 2)`` with the data in shared variables.

    >>> loss = mse_function([1.0, 2.0], [3.0, 5.0], mode="numpy")
    >>> float(loss(2.0, 1.0)), float(loss(0.0, 0.0))
    (0.0, 17.0)
    """
    x = theano.shared(numpy.asarray(rooms, dtype="float64"), name="rooms")
    y = theano.shared(numpy.asarray(price, dtype="float64"), name="price")
    k, b = T.dscalars("k", "b")
    return theano.function([k, b], T.mean((k * x + b - y) ** 2), mode=mode)


def random_search(loss, rng: numpy.random.RandomState, tries: int) -> Fit:
    """Try ``tries`` random (k, b); keep the best.

    >>> loss = mse_function([1.0, 2.0], [70.0, 100.0], mode="numpy")  # price = 30 * rooms + 40
    >>> fit = random_search(loss, numpy.random.RandomState(0), 50)
    >>> float(loss(0.0, 0.0)), fit.loss < 100
    (7450.0, True)
    """
    best = Fit("random search", numpy.inf)
    for step in range(1, tries + 1):
        k, b = rng.uniform(-RANGE, RANGE, size=2)
        value = float(loss(k, b))
        if value < best.loss:
            best.k, best.b, best.loss = float(k), float(b), value
            best.history.append((step, value))
    best.history.append((tries, best.loss))
    return best


def direction_search(loss, rng: numpy.random.RandomState, start: tuple[float, float], steps: int,
                     step_size: float = 1.0) -> Fit:
    """From ``start``, step by ``step_size`` along random unit directions, keeping only steps that
    lower the loss; a direction that worked is tried again before a new one is drawn.

    >>> loss = mse_function([1.0, 2.0], [3.0, 5.0], mode="numpy")
    >>> fit = direction_search(loss, numpy.random.RandomState(0), (0.0, 0.0), 100, 0.1)
    >>> fit.loss < float(loss(0.0, 0.0))
    True
    """
    k, b = start
    fit = Fit("direction search", float(loss(k, b)), k, b, [(0, float(loss(k, b)))], start=(k, b))
    direction = None
    for step in range(1, steps + 1):
        if direction is None:
            direction = rng.normal(size=2)
            direction /= numpy.linalg.norm(direction)
        k_new, b_new = fit.k + step_size * direction[0], fit.b + step_size * direction[1]
        value = float(loss(k_new, b_new))
        if value < fit.loss:
            fit.k, fit.b, fit.loss = float(k_new), float(b_new), value
            fit.history.append((step, value))
        else:
            direction = None
    fit.history.append((steps, fit.loss))
    return fit


def gradient_descent(rooms, price, start: tuple[float, float], steps: int, learning_rate: float,
                     mode: str | None = None) -> Fit:
    """Fit k and b by gradient descent on the mean squared error, with the gradients from ``T.grad``.

    >>> fit = gradient_descent([1.0, 2.0], [3.0, 5.0], (0.0, 0.0), 2000, 0.1, mode="numpy")
    >>> round(fit.k, 3), round(fit.b, 3), fit.history[0]
    (2.0, 1.0, (0, 17.0))
    """
    x = theano.shared(numpy.asarray(rooms, dtype="float64"), name="rooms")
    y = theano.shared(numpy.asarray(price, dtype="float64"), name="price")
    k = theano.shared(float(start[0]), name="k")
    b = theano.shared(float(start[1]), name="b")
    cost = T.mean((k * x + b - y) ** 2)
    gk, gb = T.grad(cost, [k, b])
    train = theano.function([], cost, updates=[(k, k - learning_rate * gk), (b, b - learning_rate * gb)],
                            mode=mode)
    # each call returns the loss at the parameters it started from, i.e. after `step` steps
    history = [(step, float(train())) for step in range(steps)]
    fit = Fit("gradient descent", float(loss_of_line(k.get_value(), b.get_value(), rooms, price)),
              float(k.get_value()), float(b.get_value()), history, start=tuple(start))
    fit.history.append((steps, fit.loss))
    return fit


def loss_of_line(k: float, b: float, rooms, price) -> float:
    """Mean squared error of ``k * rooms + b`` in plain numpy.

    >>> loss_of_line(2.0, 1.0, [1.0, 2.0], [3.0, 6.0])
    0.5
    """
    return float(numpy.mean((float(k) * numpy.asarray(rooms) + float(b) - numpy.asarray(price)) ** 2))


class SigmoidModel:
    """``price = w2 . sigmoid(w1 * z + b1) + b2`` on the standardized room count ``z``: a linear
    layer, sigmoid units, and a linear read-out, trained by gradient descent on the squared error.

    >>> model = SigmoidModel([1.0, 2.0, 3.0], [1.0, 1.0, 5.0], hidden=3, rng=numpy.random.RandomState(0),
    ...                      mode="numpy")
    >>> model.train(500, learning_rate=0.5).loss < 1e-3  # three points: fitted exactly
    True
    """

    def __init__(self, rooms, price, hidden: int, rng: numpy.random.RandomState, mode: str | None = None):
        rooms = numpy.asarray(rooms, dtype="float64")
        self.mean, self.std = float(rooms.mean()), float(rooms.std())
        self.w1 = theano.shared(rng.normal(size=hidden), name="w1")
        self.b1 = theano.shared(rng.normal(size=hidden), name="b1")
        self.w2 = theano.shared(rng.normal(size=hidden), name="w2")
        self.b2 = theano.shared(float(numpy.mean(price)), name="b2")
        self.params = [self.w1, self.b1, self.w2, self.b2]
        z = T.dvector("z")
        hidden_units = T.nnet.sigmoid(T.outer(z, self.w1) + self.b1)  # (tracts, hidden)
        self.prediction = T.dot(hidden_units, self.w2) + self.b2
        self.predict = theano.function([z], self.prediction, mode=mode)
        self._z, self._data = z, (self.standardize(rooms), numpy.asarray(price, dtype="float64"))
        self._mode = mode

    def standardize(self, rooms) -> numpy.ndarray:
        """(rooms - mean) / std with the training data's mean and standard deviation."""
        return (numpy.asarray(rooms, dtype="float64") - self.mean) / self.std

    def train(self, steps: int, learning_rate: float) -> Fit:
        """``steps`` gradient-descent steps on all tracts, recording the loss at each."""
        z_data, y_data = self._data
        y = theano.shared(y_data, name="price")
        cost = T.mean((self.prediction - y) ** 2)
        grads = T.grad(cost, self.params)
        train = theano.function([], cost, givens={self._z: theano.shared(z_data, name="rooms_std")},
                                updates=[(p, p - learning_rate * g) for p, g in zip(self.params, grads)],
                                mode=self._mode)
        history = [(step, float(train())) for step in range(steps)]
        final = float(numpy.mean((self.predict(z_data) - y_data) ** 2))
        return Fit("linear -> sigmoid -> linear", final, history=history + [(steps, final)])

    def __call__(self, rooms) -> numpy.ndarray:
        """Predicted prices for raw room counts."""
        return self.predict(self.standardize(numpy.atleast_1d(rooms)))


def plot_fits(rooms, price, fits: list[Fit], model: SigmoidModel, sigmoid_fit: Fit, path: str) -> None:
    """Write the data with each fit (left) and the loss histories (right) to ``path``; needs matplotlib.

    >>> import os, tempfile
    >>> rooms, price = numpy.array([5.0, 6.0, 7.0]), numpy.array([15.0, 20.0, 30.0])
    >>> model = SigmoidModel(rooms, price, hidden=2, rng=numpy.random.RandomState(0), mode="numpy")
    >>> line = Fit("line", 2.0, 7.5, -23.0, [(0, 9.0), (5, 2.0)])
    >>> path = os.path.join(tempfile.mkdtemp(), "fits.png")
    >>> plot_fits(rooms, price, [line], model, model.train(10, 0.1), path)
    >>> os.path.getsize(path) > 1000
    True
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the plot needs matplotlib: pip install 'symgrad[examples]' (or matplotlib)") from exc
    fig = Figure(figsize=(11, 4.5))
    data_ax, loss_ax = fig.subplots(1, 2)
    data_ax.scatter(rooms, price, s=8, color="0.6", label="Boston tracts")
    grid = numpy.linspace(float(numpy.min(rooms)), float(numpy.max(rooms)), 200)
    for fit in fits:
        data_ax.plot(grid, fit.k * grid + fit.b, label=f"{fit.name} (loss {fit.loss:.1f})")
    data_ax.plot(grid, model(grid), color="black", linewidth=2,
                 label=f"{sigmoid_fit.name} (loss {sigmoid_fit.loss:.1f})")
    data_ax.set_xlabel("average rooms per dwelling (RM)")
    data_ax.set_ylabel("median value, $1000s (MEDV)")
    data_ax.legend(fontsize=8)
    for fit in fits + [sigmoid_fit]:
        steps, losses = zip(*fit.history)
        loss_ax.plot(steps, losses, marker="." if len(steps) < 200 else None, label=fit.name)
    loss_ax.set_xscale("symlog")
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("step (or try)")
    loss_ax.set_ylabel("mean squared error")
    loss_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: ``--fast``, ``--plot PATH`` or ``--no-plot``, ``--mode``.

    >>> args = parse_args(["--fast", "--mode", "numpy"])
    >>> args.fast, args.plot, args.no_plot, args.mode
    (True, 'housing_regression.png', False, 'numpy')
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer tries and steps (for tests)")
    plot = parser.add_mutually_exclusive_group()
    plot.add_argument("--plot", metavar="PATH", default=PLOT,
                      help=f"write the fits and loss curves to PATH (default: {PLOT}; needs matplotlib, "
                           "skipped without it)")
    plot.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--mode", choices=("numpy", "numba"), default=None,
                        help="symgrad backend (default: symgrad.config.mode)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Fit]:
    """Fit the line three ways and the sigmoid model once; print and return the fits by name.

    >>> main(["--fast"])["gradient descent"].loss < 50  # doctest: +SKIP
    True
    """
    args = parse_args(argv)
    rooms, price = load_housing()
    rng = numpy.random.RandomState(42)
    tries = 300 if args.fast else 2000
    gd_steps, sigmoid_steps = (5000, 2000) if args.fast else (10000, 20000)
    print(f"Boston housing: {len(rooms)} tracts, rooms {rooms.min():.2f}..{rooms.max():.2f}, "
          f"price ${price.min():.0f}k..${price.max():.0f}k; mode={args.mode or theano.config.mode}")
    print(f"loss = mean squared error in ($1000s)^2; predicting the mean price scores {price.var():.2f}")

    loss = mse_function(rooms, price, mode=args.mode)
    start = tuple(float(v) for v in rng.uniform(-RANGE, RANGE, size=2))
    fits = [random_search(loss, rng, tries),
            direction_search(loss, rng, start, tries),
            gradient_descent(rooms, price, start, gd_steps, learning_rate=0.02, mode=args.mode)]
    exact_k, exact_b = numpy.polyfit(rooms, price, 1)
    exact = Fit("least squares", loss_of_line(exact_k, exact_b, rooms, price), float(exact_k), float(exact_b))
    for fit in fits + [exact]:
        note = "numpy.polyfit, for reference" if fit is exact else f"loss after {fit.trail()}"
        print(f"{fit.name:16s}: price = {fit.k:6.3f} * rooms {'-' if fit.b < 0 else '+'} {abs(fit.b):7.3f}   "
              f"loss {fit.loss:7.3f}   ({note})")

    model = SigmoidModel(rooms, price, hidden=HIDDEN, rng=rng, mode=args.mode)
    sigmoid_fit = model.train(sigmoid_steps, learning_rate=0.1)
    print(f"{sigmoid_fit.name} ({HIDDEN} sigmoid units, {sigmoid_steps} steps): loss {sigmoid_fit.loss:.3f} "
          f"(loss after {sigmoid_fit.trail()})")
    sample = numpy.array([4.0, 5.0, 6.0, 7.0, 8.0])
    print("rooms:           " + "".join(f"{r:8.0f}" for r in sample))
    print("line (gradient): " + "".join(f"{fits[2].k * r + fits[2].b:8.1f}" for r in sample))
    print("sigmoid model:   " + "".join(f"{p:8.1f}" for p in model(sample)))

    result = {fit.name: fit for fit in fits + [exact, sigmoid_fit]}
    if not args.no_plot:
        try:
            plot_fits(rooms, price, fits, model, sigmoid_fit, args.plot)
        except ImportError:  # matplotlib is optional
            print("matplotlib not installed: no plot")
        else:
            print(f"wrote {args.plot}")
    return result


if __name__ == "__main__":
    main()
