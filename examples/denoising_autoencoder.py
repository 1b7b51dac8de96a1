"""A denoising autoencoder on scikit-learn's 8x8 digits, in the style of the deeplearning.net
tutorial ``dA.py`` with ``import symgrad as theano``.

The tutorial's model is kept: tied weights (the decoder is ``W.T``), sigmoid units, the input
corrupted by zeroing each pixel with probability ``corruption_level`` (a binomial mask drawn by
``MRG_RandomStreams`` inside the compiled step: a fresh mask every call, the generator's state
advanced by its default update), and the cross-entropy between the clean input and the
reconstruction of the corrupted one, minimized by minibatch SGD. Two models are trained, without
corruption and with 30 % of the pixels zeroed; the mean cost is printed per epoch and the learned
filters (the columns of ``W`` as 8x8 images) are drawn side by side.

Needs scikit-learn for the data (bundled with it, no download): ``pip install 'symgrad[examples]'``
(matplotlib too, for the picture).

Run: python examples/denoising_autoencoder.py [--fast] [--plot PATH | --no-plot] [--mode numpy|numba]
The filters are drawn to denoising_autoencoder.png in the current directory (or to --plot PATH)
when matplotlib is installed; --no-plot skips the picture.
"""
from __future__ import annotations

import argparse
import sys

import numpy

import symgrad as theano
import symgrad.tensor as T
from symgrad.sandbox.rng_mrg import MRG_RandomStreams

N_HIDDEN = 36  # a 6x6 grid of filters
BATCH_SIZE = 20
LEARNING_RATE = 0.1
EPOCHS, FAST_EPOCHS = 40, 6
CORRUPTION_LEVELS = (0.0, 0.3)
SEED = 123
PLOT = "denoising_autoencoder.png"  # the default picture file, in the current directory


def load_digits_x(seed: int = 1234) -> numpy.ndarray:
    """The 1797 digits as rows of 64 pixels scaled from 0..16 to [0, 1], shuffled with ``seed``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("examples/denoising_autoencoder.py needs scikit-learn for its data set: "
                          "pip install 'symgrad[examples]' (or scikit-learn)") from exc
    data = load_digits().data / 16.0
    order = numpy.random.RandomState(seed).permutation(len(data))
    return numpy.asarray(data[order], dtype=theano.config.floatX)


class dA:
    """The tutorial's denoising autoencoder: tied weights, sigmoid encoder and decoder."""

    def __init__(self, numpy_rng, theano_rng, input, n_visible: int, n_hidden: int):
        bound = 4 * numpy.sqrt(6.0 / (n_hidden + n_visible))
        self.W = theano.shared(numpy.asarray(numpy_rng.uniform(-bound, bound, (n_visible, n_hidden)),
                                             dtype=theano.config.floatX), name="W")
        self.b = theano.shared(numpy.zeros(n_hidden, dtype=theano.config.floatX), name="b")
        self.b_prime = theano.shared(numpy.zeros(n_visible, dtype=theano.config.floatX), name="b_prime")
        self.theano_rng = theano_rng
        self.x = input
        self.params = [self.W, self.b, self.b_prime]

    def corrupted(self, input, corruption_level: float):
        """``input`` with each pixel kept with probability 1 - corruption_level, else zeroed."""
        return self.theano_rng.binomial(size=input.shape, n=1, p=1 - corruption_level,
                                        dtype=theano.config.floatX) * input

    def cost_updates(self, corruption_level: float, learning_rate: float):
        """The mean cross-entropy of the reconstruction of the corrupted input, and SGD updates."""
        tilde_x = self.corrupted(self.x, corruption_level)
        y = T.nnet.sigmoid(T.dot(tilde_x, self.W) + self.b)
        z = T.nnet.sigmoid(T.dot(y, self.W.T) + self.b_prime)
        cost = T.mean(-T.sum(self.x * T.log(z) + (1 - self.x) * T.log(1 - z), axis=1))
        grads = T.grad(cost, self.params)
        return cost, [(p, p - learning_rate * g) for p, g in zip(self.params, grads)]


def train(data: numpy.ndarray, corruption_level: float, epochs: int, mode: str | None = None) -> dict:
    """Train one dA on ``data``; returns the mean cost per epoch and the learned weights."""
    train_x = theano.shared(data, name="train_x")
    index = T.lscalar("index")
    x = T.matrix("x")
    model = dA(numpy.random.RandomState(SEED), MRG_RandomStreams(SEED), x, data.shape[1], N_HIDDEN)
    cost, updates = model.cost_updates(corruption_level, LEARNING_RATE)
    step = theano.function([index], cost, updates=updates, mode=mode,
                           givens={x: train_x[index * BATCH_SIZE:(index + 1) * BATCH_SIZE]})
    n_batches = len(data) // BATCH_SIZE
    costs = []
    for epoch in range(epochs):
        costs.append(float(numpy.mean([step(i) for i in range(n_batches)])))
        print(f"corruption {corruption_level:.0%}  epoch {epoch + 1:3d}  cost {costs[-1]:.4f}")
    return {"costs": costs, "W": model.W.get_value()}


def main(argv: list[str] | None = None) -> dict:
    """Train without and with corruption, draw the filters; returns the costs and weights per level."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=f"{FAST_EPOCHS} epochs instead of {EPOCHS}")
    picture = parser.add_mutually_exclusive_group()
    picture.add_argument("--plot", metavar="PATH", default=PLOT,
                         help=f"draw the filters to PATH (default: {PLOT}; needs matplotlib, skipped without it)")
    picture.add_argument("--no-plot", action="store_true", help="draw nothing")
    parser.add_argument("--mode", choices=["numpy", "numba"], default=None, help="backend (default: config)")
    args = parser.parse_args(argv)
    data = load_digits_x()
    results = {level: train(data, level, FAST_EPOCHS if args.fast else EPOCHS, args.mode)
               for level in CORRUPTION_LEVELS}
    if not args.no_plot:
        if _draw(args.plot, results):
            print(f"wrote {args.plot}")
        else:
            print("matplotlib not installed: no picture")
    return results


def tile(W: numpy.ndarray, shape=(8, 8), grid=(6, 6)) -> numpy.ndarray:
    """The columns of ``W`` as ``shape`` images, each scaled to [0, 1], in a ``grid`` with 1-pixel gaps."""
    rows, cols = grid
    h, w = shape
    out = numpy.ones((rows * (h + 1) - 1, cols * (w + 1) - 1))
    for k in range(min(W.shape[1], rows * cols)):
        img = W[:, k].reshape(shape)
        img = (img - img.min()) / (img.max() - img.min() + 1e-8)
        r, c = divmod(k, cols)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = img
    return out


def _draw(path: str, results: dict) -> bool:
    """The filters of each model side by side; False (and no file) without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # matplotlib is optional: no picture without it
        return False
    fig = Figure(figsize=(3 * len(results), 3.4))
    for ax, (level, result) in zip(fig.subplots(1, len(results)), results.items()):
        ax.imshow(tile(result["W"]), cmap="gray", interpolation="nearest")
        ax.set(title=f"corruption {level:.0%}", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path)
    return True


if __name__ == "__main__":
    main(sys.argv[1:])
