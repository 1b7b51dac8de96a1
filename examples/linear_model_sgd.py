"""y = w * x fitted by per-sample SGD: the classic autograd lecture program, with symgrad symbols.

The data are x = 1, 2, 3 and y = 2, 4, 6 (so the answer is w = 2). Starting from w = 1.0, each
sample takes one step w <- w - 0.01 * d loss / d w on loss = (x * w - y) ** 2, for 10 epochs. As
in the lecture, each step prints the sample and the gradient, each epoch the last sample's loss,
and at the end the prediction for x = 4 (7.804863933862125 in float64; the float32 original
prints 7.8049).

Run: python examples/linear_model_sgd.py [--fast] [--plot PATH | --no-plot] [--mode numpy|numba]
The loss per epoch and the fit are plotted to linear_model_sgd.png in the current directory (or
to --plot PATH) when matplotlib is installed; --no-plot skips the plot.
"""
from __future__ import annotations

import argparse
import sys

import symgrad as sg
import symgrad.tensor as T

X_DATA = [1.0, 2.0, 3.0]
Y_DATA = [2.0, 4.0, 6.0]
LEARNING_RATE = 0.01
PLOT = "linear_model_sgd.png"  # the default plot file, in the current directory


def build(mode: str | None = None):
    """The model: w (shared), the compiled SGD step and the forward pass."""
    w = sg.shared(1.0, name="w")  # a guess
    x, y = T.dscalars("x", "y")
    loss = (x * w - y) ** 2
    grad_w = sg.grad(loss, w)
    # outputs are computed from w before the update, as the lecture prints them
    step = sg.function([x, y], [grad_w, loss], updates=[(w, w - LEARNING_RATE * grad_w)], mode=mode)
    forward = sg.function([x], x * w, mode=mode)
    return w, step, forward


def main(argv: list[str] | None = None) -> dict:
    """Train and print; returns what was learned (w, per-epoch losses, the prediction for 4)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="3 epochs instead of 10")
    plot = parser.add_mutually_exclusive_group()
    plot.add_argument("--plot", metavar="PATH", default=PLOT,
                      help=f"write the loss per epoch and the fit to PATH (default: {PLOT}; "
                           "needs matplotlib, skipped without it)")
    plot.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--mode", choices=["numpy", "numba"], default=None, help="backend (default: config)")
    args = parser.parse_args(argv)
    epochs = 3 if args.fast else 10

    w, step, forward = build(args.mode)
    print("predict (before training)", 4, float(forward(4)))
    losses = []
    for epoch in range(epochs):
        for x_val, y_val in zip(X_DATA, Y_DATA):
            grad, loss = step(x_val, y_val)
            print("\tgrad:", x_val, y_val, float(grad))
        losses.append(float(loss))
        print("progress:", epoch, float(loss))
    prediction = float(forward(4))
    print("predict (after training)", 4, prediction)
    if not args.no_plot:
        if _plot(args.plot, losses, float(w.get_value())):
            print(f"wrote {args.plot}")
        else:
            print("matplotlib not installed: no plot")
    return {"w": float(w.get_value()), "losses": losses, "prediction": prediction}


def _plot(path: str, losses: list[float], w: float) -> bool:
    """Draw the loss per epoch and the fit to ``path``; False (and no file) without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # matplotlib is optional: no plot without it
        return False
    fig = Figure(figsize=(8, 3.5))
    left, right = fig.subplots(1, 2)
    left.semilogy(range(len(losses)), losses, marker="o")
    left.set(xlabel="epoch", ylabel="loss (last sample)", title="per-sample SGD")
    right.scatter(X_DATA, Y_DATA, label="data")
    right.plot([0, 4], [0, 4 * w], color="C1", label=f"y = {w:.4f} x")
    right.legend()
    right.set(xlabel="x", ylabel="y", title="fit")
    fig.tight_layout()
    fig.savefig(path)
    return True


if __name__ == "__main__":
    main(sys.argv[1:])
