"""The lecture's convolutional net on 28x28 digits, written with symgrad as Keras would build it.

The model, layer by layer as the lecture's Keras ``Sequential``: conv 4@5x5 tanh -> conv 8@3x3
tanh -> max-pool 2x2 -> conv 16@3x3 relu -> max-pool 2x2 -> flatten -> dense 128 tanh -> dense 10
softmax; categorical cross-entropy; SGD with learning rate 0.05, decay 1e-6 (Keras: the rate at
step t is 0.05 / (1 + 1e-6 t)), Nesterov momentum 0.9; batches of 100, 10 epochs, the last 20 %
of the data held out for validation (Keras's ``validation_split``). Kernels are Glorot-uniform,
biases zero, convolutions 'valid' and unflipped (Keras's cross-correlation).

The data are MNIST-shaped: scikit-learn's bundled 8x8 digits upscaled 3x into 28x28 images, each
drawn four times with a random shift of up to 2 pixels and light noise. The split is by original
digit (the held-out 20 % are digits the training images never show, in any shift).

Needs scikit-learn (the data) and, for the plot, matplotlib: ``pip install 'symgrad[examples]'``.

Run: python examples/digits_cnn.py [--fast] [--plot PATH | --no-plot] [--mode numpy|numba]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy

import symgrad as sg
import symgrad.tensor as T
from symgrad.optimizers import nesterov
from symgrad.tensor.signal.pool import pool_2d

COPIES = 4  # drawings of each original digit
EPOCHS, FAST_EPOCHS = 10, 2
BATCH = 100
PLOT = "digits_cnn.png"


def load_data(seed: int = 0, copies: int = COPIES) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Images ``(N, 1, 28, 28)`` in [0, 1] (float32) and one-hot labels ``(N, 10)``; the last 20 %
    of the rows are drawings of digits the first 80 % never show.

    >>> x, y = load_data(copies=1)
    >>> x.shape, y.shape, x.dtype, float(y.sum())
    ((1797, 1, 28, 28), (1797, 10), dtype('float32'), 1797.0)
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("examples/digits_cnn.py needs scikit-learn for its data set: "
                          "pip install 'symgrad[examples]' (or scikit-learn)") from exc
    digits = load_digits()
    rng = numpy.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    cut = int(round(0.8 * len(order)))
    images, labels = [], []
    for part in (order[:cut], order[cut:]):  # training digits first, held-out digits last
        for index in numpy.repeat(part, copies):
            big = numpy.kron(digits.images[index] / 16.0, numpy.ones((3, 3)))
            dy, dx = rng.integers(0, 5, 2)
            canvas = numpy.zeros((28, 28))
            canvas[dy:dy + 24, dx:dx + 24] = big
            images.append(numpy.clip(canvas + rng.normal(0, 0.05, canvas.shape), 0, 1))
            labels.append(digits.target[index])
        rows = len(part) * copies
        mixed = rng.permutation(rows) + len(images) - rows
        images[-rows:], labels[-rows:] = [images[k] for k in mixed], [labels[k] for k in mixed]
    x = numpy.asarray(images, dtype="float32")[:, None]
    return x, numpy.eye(10, dtype="float32")[labels]


def _glorot(rng, shape, fan_in, fan_out):
    bound = numpy.sqrt(6.0 / (fan_in + fan_out))
    return sg.shared(rng.uniform(-bound, bound, shape).astype("float32"))


def build(seed: int = 1):
    """The model's parameters and the symbolic images ``x``, one-hot labels ``y``, predictions.

    >>> params, x, y, p = build()
    >>> [tuple(v.get_value().shape) for v in params[::2]]
    [(4, 1, 5, 5), (8, 4, 3, 3), (16, 8, 3, 3), (256, 128), (128, 10)]
    """
    rng = numpy.random.default_rng(seed)
    params = []

    def conv(h, n_in, n_out, k, activation):
        w = _glorot(rng, (n_out, n_in, k, k), n_in * k * k, n_out * k * k)
        b = sg.shared(numpy.zeros(n_out, dtype="float32"))
        params.extend([w, b])
        return activation(T.nnet.conv2d(h, w, filter_flip=False) + b.dimshuffle("x", 0, "x", "x"))

    def dense(h, n_in, n_out, activation):
        w = _glorot(rng, (n_in, n_out), n_in, n_out)
        b = sg.shared(numpy.zeros(n_out, dtype="float32"))
        params.extend([w, b])
        return activation(T.dot(h, w) + b)

    x, y = T.ftensor4("x"), T.fmatrix("y")
    h = conv(x, 1, 4, 5, T.tanh)                                     # 24x24
    h = conv(h, 4, 8, 3, T.tanh)                                     # 22x22
    h = pool_2d(h, ws=(2, 2), ignore_border=True)                    # 11x11
    h = conv(h, 8, 16, 3, T.nnet.relu)                               # 9x9
    h = pool_2d(h, ws=(2, 2), ignore_border=True)                    # 4x4
    h = dense(h.flatten(2), 16 * 4 * 4, 128, T.tanh)
    p = dense(h, 128, 10, T.nnet.softmax)
    return params, x, y, p


@dataclass
class History:
    """Per epoch, as Keras's ``fit`` reports it: training loss and accuracy (means over the
    epoch's batches), validation loss and accuracy (after the epoch)."""

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    seconds: float = 0.0


def fit(epochs: int, mode: str | None = None, seed: int = 1, copies: int = COPIES) -> History:
    """Train the model (module docstring), printing each epoch as Keras's ``fit`` does."""
    images, onehot = load_data(copies=copies)
    split = int(round(0.8 * len(images)))
    params, x, y, p = build(seed)
    loss = T.mean(T.nnet.categorical_crossentropy(p, y))
    hits = T.mean(T.eq(T.argmax(p, axis=1), T.argmax(y, axis=1)))
    step = sg.shared(numpy.float32(0), name="step")
    rate = 0.05 / (1.0 + 1e-6 * step)  # Keras's decay
    updates = nesterov(loss, params, rate, momentum=0.9) + [(step, step + 1)]
    start = time.perf_counter()
    train = sg.function([x, y], [loss, hits], updates=updates, mode=mode)
    evaluate = sg.function([x, y], [loss, hits], mode=mode)
    order_rng = numpy.random.default_rng(seed)
    history = History()
    batches = (split + BATCH - 1) // BATCH
    print(f"Train on {split} samples, validate on {len(images) - split} samples")
    for epoch in range(1, epochs + 1):
        began = time.perf_counter()
        order = order_rng.permutation(split)
        sums = numpy.zeros(2)
        for b in range(batches):
            rows = order[b * BATCH:(b + 1) * BATCH]
            sums += numpy.array(train(images[rows], onehot[rows]), dtype=float) * len(rows)
        history.loss.append(sums[0] / split)
        history.accuracy.append(sums[1] / split)
        val = numpy.array(evaluate(images[split:], onehot[split:]), dtype=float)
        history.val_loss.append(val[0])
        history.val_accuracy.append(val[1])
        print(f"Epoch {epoch}/{epochs}\n{batches}/{batches} - {time.perf_counter() - began:.0f}s - loss: "
              f"{history.loss[-1]:.4f} - accuracy: {history.accuracy[-1]:.4f} - val_loss: {val[0]:.4f} - "
              f"val_accuracy: {val[1]:.4f}")
    history.seconds = time.perf_counter() - start
    print(f"trained in {history.seconds:.1f} s (compilation included)")
    return history


def plot(history: History, path: str) -> None:
    """The learning curves (loss and accuracy, training and validation) to ``path``."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the plot needs matplotlib: pip install 'symgrad[examples]' (or matplotlib)") from exc
    fig = Figure(figsize=(9, 3.5))
    epochs = numpy.arange(1, len(history.loss) + 1)
    for ax, key in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        ax.plot(epochs, getattr(history, key), label=f"training {key}")
        ax.plot(epochs, getattr(history, f"val_{key}"), label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> History:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=f"{FAST_EPOCHS} epochs instead of {EPOCHS} (for tests)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--plot", metavar="PATH", default=PLOT, help=f"the learning curves (default: {PLOT})")
    where.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--mode", choices=("numpy", "numba"), default=None, help="symgrad backend")
    args = parser.parse_args(argv)
    history = fit(FAST_EPOCHS if args.fast else EPOCHS, args.mode)
    if not args.no_plot:
        try:
            plot(history, args.plot)
            print(f"wrote {args.plot}")
        except ImportError:
            print("matplotlib not installed: no plot")
    return history


if __name__ == "__main__":
    main()
