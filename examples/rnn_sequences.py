"""An LSTM learns the adding problem: a recurrent net trained through ``symgrad.scan``.

Each sequence has ``STEPS`` time steps of two numbers: a value drawn uniformly from [0, 1) and a
marker that is 1 at exactly two steps (one in each half of the sequence) and 0 elsewhere. The
target is the sum of the two marked values, so the net must remember what it saw at a marked step
until the end. Predicting the mean (1.0) gives a mean squared error of 1/6 ~ 0.167; a net that
solves the task goes well below it. The data are generated (seeded), a fresh batch every step.

The LSTM (``HIDDEN`` units, one scan over time, its gradient a scan over the reversed steps) reads
the sequence, a linear layer maps the last hidden state to the prediction, and Adam minimizes the
mean squared error. The loss is printed every ``PRINT_EVERY`` steps together with the loss of
predicting the mean.

Run: python examples/rnn_sequences.py [--fast] [--plot PATH | --no-plot] [--mode numpy|numba]
The learning curve is plotted to rnn_sequences.png in the current directory (or to --plot PATH)
when matplotlib is installed; --no-plot skips the plot.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

import symgrad as sg
import symgrad.tensor as T
from symgrad.optimizers import adam

STEPS, BATCH, HIDDEN, SEED = 20, 32, 24, 3
ITERATIONS, FAST_ITERATIONS, PRINT_EVERY = 1000, 400, 100
LEARNING_RATE = 0.03
PLOT = "rnn_sequences.png"  # the default plot file, in the current directory


def adding_batch(rng: np.random.RandomState, steps: int = STEPS, batch: int = BATCH):
    """(inputs of shape (steps, batch, 2), targets of shape (batch,)): time first, as scan reads it."""
    values = rng.random_sample((steps, batch))
    markers = np.zeros((steps, batch))
    half = steps // 2
    first = rng.randint(0, half, batch)
    second = rng.randint(half, steps, batch)
    markers[first, np.arange(batch)] = 1.0
    markers[second, np.arange(batch)] = 1.0
    return np.stack([values, markers], axis=-1), (values * markers).sum(axis=0)


def initial_weights(seed: int = SEED) -> dict[str, np.ndarray]:
    """Small random input and recurrent weights for the four gates (input, forget, output,
    candidate side by side), a forget-gate bias of 1 (remember by default), a zero output layer."""
    rng = np.random.RandomState(seed)
    b = np.zeros(4 * HIDDEN)
    b[HIDDEN:2 * HIDDEN] = 1.0
    return {"W": rng.normal(0, 0.3, (2, 4 * HIDDEN)), "U": rng.normal(0, 1 / np.sqrt(HIDDEN), (HIDDEN, 4 * HIDDEN)),
            "b": b, "V": np.zeros((HIDDEN, 1)), "c": np.zeros(1)}


def lstm_step(x_t, h, c, W, U, b):
    """One LSTM step on a batch: gates from the input and the previous hidden state."""
    pre = T.dot(x_t, W) + T.dot(h, U) + b
    i = T.nnet.sigmoid(pre[:, :HIDDEN])
    f = T.nnet.sigmoid(pre[:, HIDDEN:2 * HIDDEN])
    o = T.nnet.sigmoid(pre[:, 2 * HIDDEN:3 * HIDDEN])
    g = T.tanh(pre[:, 3 * HIDDEN:])
    c = f * c + i * g
    return o * T.tanh(c), c


def build(mode: str | None = None, seed: int = SEED):
    """The shared weights, the compiled training step (returns the loss before its update) and predict."""
    params = {name: sg.shared(value, name=name) for name, value in initial_weights(seed).items()}
    W, U, b, V, c = (params[k] for k in ("W", "U", "b", "V", "c"))
    x, y = T.dtensor3("x"), T.dvector("y")
    zeros = T.zeros_like(T.dot(x[0], W)[:, :HIDDEN])
    (hs, _), _ = sg.scan(lstm_step, sequences=x, outputs_info=[zeros, zeros], non_sequences=[W, U, b], name="lstm")
    prediction = (T.dot(hs[-1], V) + c)[:, 0]
    loss = ((prediction - y) ** 2).mean()
    updates = adam(loss, list(params.values()), learning_rate=LEARNING_RATE)
    train = sg.function([x, y], loss, updates=updates, mode=mode)
    predict = sg.function([x], prediction, mode=mode)
    return params, train, predict


def main(argv: list[str] | None = None) -> dict:
    """Train on fresh batches, print the loss every PRINT_EVERY steps; returns the losses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=f"{FAST_ITERATIONS} steps instead of {ITERATIONS}")
    plot = parser.add_mutually_exclusive_group()
    plot.add_argument("--plot", metavar="PATH", default=PLOT,
                      help=f"write the learning curve to PATH (default: {PLOT}; needs matplotlib, skipped "
                           "without it)")
    plot.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--mode", choices=["numpy", "numba"], default=None, help="backend (default: config)")
    args = parser.parse_args(argv)
    iterations = FAST_ITERATIONS if args.fast else ITERATIONS

    params, train, predict = build(args.mode)
    rng = np.random.RandomState(SEED)
    losses = []
    for i in range(iterations):
        xb, yb = adding_batch(rng)
        losses.append(float(train(xb, yb)))
        if (i + 1) % PRINT_EVERY == 0:
            recent = float(np.mean(losses[-PRINT_EVERY:]))
            print(f"step {i + 1:5d}  mean squared error {recent:.4f}  (predicting the mean: {1 / 6:.4f})")
    xt, yt = adding_batch(np.random.RandomState(SEED + 1), batch=256)
    test_mse = float(((predict(xt) - yt) ** 2).mean())
    print(f"held-out mean squared error {test_mse:.4f} on 256 new sequences")
    if not args.no_plot:
        if _plot(args.plot, losses):
            print(f"wrote {args.plot}")
        else:
            print("matplotlib not installed: no plot")
    return {"losses": losses, "test_mse": test_mse, "weights": {k: p.get_value() for k, p in params.items()}}


def _plot(path: str, losses: list[float]) -> bool:
    """Draw the learning curve (a running mean over PRINT_EVERY steps) to ``path``; False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # matplotlib is optional: no plot without it
        return False
    smooth = np.convolve(losses, np.ones(PRINT_EVERY) / PRINT_EVERY, mode="valid")
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.plot(np.arange(PRINT_EVERY, len(losses) + 1), smooth, label="LSTM")
    ax.axhline(1 / 6, color="gray", linestyle="--", label="predicting the mean")
    ax.set(xlabel="training step", ylabel="mean squared error", title="LSTM on the adding problem")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


if __name__ == "__main__":
    main(sys.argv[1:])
