"""A two-layer sigmoid network learns XOR from scratch: the classic four-sample table.

Inputs are X = [[0,0,1], [0,1,1], [1,0,1], [1,1,1]] (the last column is a constant, the bias) and
the targets y = [0, 1, 1, 0] are the XOR of the first two columns, which no single layer can
fit. Weights start uniform in [-1, 1) (seeded), the hidden layer has 4 units, and full-batch
gradient descent (``symgrad.optimizers.sgd``, learning rate 1) minimizes the sum of squared
errors for 1500 iterations. The loss is printed every 100 iterations and must fall every time.

Run: python examples/two_layer_net.py [--fast] [--plot PATH | --no-plot] [--mode numpy|numba]
The loss curve is plotted to two_layer_net.png in the current directory (or to --plot PATH) when
matplotlib is installed; --no-plot skips the plot.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import symgrad as sg
import symgrad.tensor as T
from symgrad.optimizers import sgd

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
HIDDEN, LEARNING_RATE, SEED = 4, 1.0, 1
ITERATIONS, FAST_ITERATIONS, PRINT_EVERY = 1500, 300, 100
PLOT = "two_layer_net.png"  # the default plot file, in the current directory


def initial_weights(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Uniform in [-1, 1): the input-to-hidden (3 x 4) and hidden-to-output (4 x 1) weights."""
    rng = np.random.RandomState(seed)
    return 2 * rng.random_sample((3, HIDDEN)) - 1, 2 * rng.random_sample((HIDDEN, 1)) - 1


def build(mode: str | None = None, seed: int = SEED):
    """Shared weights, the compiled training step (returns the loss before its update) and predict."""
    w1_init, w2_init = initial_weights(seed)
    w1, w2 = sg.shared(w1_init, name="w1"), sg.shared(w2_init, name="w2")
    x, y = T.dmatrix("x"), T.dmatrix("y")
    hidden = T.sigmoid(T.dot(x, w1))
    output = T.sigmoid(T.dot(hidden, w2))
    loss = ((output - y) ** 2).sum()
    train = sg.function([x, y], loss, updates=sgd(loss, [w1, w2], learning_rate=LEARNING_RATE), mode=mode)
    predict = sg.function([x], output, mode=mode)
    return (w1, w2), train, predict


def main(argv: list[str] | None = None) -> dict:
    """Train, print the loss every 100 iterations and the final predictions; returns them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=f"{FAST_ITERATIONS} iterations instead of {ITERATIONS}")
    plot = parser.add_mutually_exclusive_group()
    plot.add_argument("--plot", metavar="PATH", default=PLOT,
                      help=f"write the loss curve to PATH (default: {PLOT}; needs matplotlib, skipped "
                           "without it)")
    plot.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--mode", choices=["numpy", "numba"], default=None, help="backend (default: config)")
    args = parser.parse_args(argv)
    iterations = FAST_ITERATIONS if args.fast else ITERATIONS

    weights, train, predict = build(args.mode)
    losses = []
    printed = []
    for i in range(iterations):
        losses.append(float(train(X, Y)))
        if i % PRINT_EVERY == 0 or i == iterations - 1:
            printed.append(losses[-1])
            print(f"iteration {i:5d}  loss {losses[-1]:.6f}")
    assert all(b < a for a, b in zip(printed, printed[1:])), "the loss did not fall monotonically"
    predictions = predict(X)
    print("final loss:", float(((predictions - Y) ** 2).sum()))
    print("predictions after training:")
    for row, target, p in zip(X, Y, predictions):
        print(f"  {row[:2].astype(int)} -> {p[0]:.4f} (target {int(target[0])})")
    correct = int(((predictions > 0.5) == (Y > 0.5)).sum())
    print(f"correct after rounding: {correct} of {len(Y)}")
    if not args.no_plot:
        if _plot(args.plot, losses):
            print(f"wrote {args.plot}")
        else:
            print("matplotlib not installed: no plot")
    return {"losses": losses, "printed": printed, "predictions": predictions,
            "weights": [w.get_value() for w in weights]}


def _plot(path: str, losses: list[float]) -> bool:
    """Draw the loss curve to ``path``; False (and no file) without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # matplotlib is optional: no plot without it
        return False
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.semilogy(losses)
    ax.set(xlabel="iteration", ylabel="sum of squared errors", title="two-layer net on XOR")
    fig.tight_layout()
    fig.savefig(path)
    return True


if __name__ == "__main__":
    main(sys.argv[1:])
