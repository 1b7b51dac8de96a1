"""``python -m symgrad.bench``: symgrad against hand-written numpy, side by side in one process.

Workloads: Theano's logistic regression (400×784 — the seed — and 4 000 and 40 000 rows, float64
and float32), a two-layer tanh/softmax MLP (400×784 → 64 → 10, and ``mlp-500``: deeplearning.net
mlp.py's 784 → 500 → 10 on minibatches of 20; both also in float32: ``mlp-f32``, ``mlp-500-f32``),
lstm.py's LSTM training step (``lstm``) and the lecture's CNN (``cnn-f32``, ``cnn-f64``).
Variants: hand-written numpy (the gradient derived by hand), symgrad numba called from Python per
step, symgrad numba ``loop`` (all steps in one compiled call), and symgrad's numpy backend.
Every variant's final weights are checked against the hand-written numpy run. The repetitions of
the variants are interleaved, so a noisy stretch of a shared machine hits them alike. Compile time
of the seed program (graph + grad + function + first call) is measured in fresh processes, with an
empty and with a warm kernel cache.

With no arguments it runs a quick set (about a minute on 2 cores): the seed in float64 and float32
and the MLP, 3 repetitions, with each workload's step count calibrated from a short probe so that
its fastest variant's repetition lasts about ``--seconds`` (0.3 s), raised after a repetition that
ran much faster than the probe said. ``--full`` runs every workload with 10 000 steps at 400 rows
(several minutes). Explicit options override either set.

Machines are noisy: compare the ratios in one run, not absolute times across runs.

>>> rows = run(steps=3, repeats=1, workloads=["logreg-f64"], variants=["numpy"], compile_times=False, quiet=True)
>>> rows[0]["variant"]
'hand-written numpy'
>>> options([])["workloads"], options(["--full"])["steps"]
(['logreg-f64', 'logreg-f32', 'mlp'], 10000)
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

import symgrad as sg
import symgrad.tensor as T
from symgrad.tensor.signal.pool import pool_2d


@dataclass
class Workload:
    name: str
    build: Callable  # (mode) -> (function, args, shared_vars)
    numpy_step: Callable  # (state) -> state
    numpy_state: Callable  # () -> initial state (list of arrays)
    described: str
    elements: int = 400 * 784  # size of the data: larger workloads run proportionally fewer steps


def _logreg(dtype: str, n: int = 400, feats: int = 784) -> Workload:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, feats)).astype(dtype)
    Y = rng.integers(0, 2, n).astype(dtype)
    w0 = (rng.standard_normal(feats) * 0.05).astype(dtype)
    lr, l2 = 0.1, 0.01

    def build(mode):
        x, y = T.matrix("x", dtype=dtype), T.vector("y", dtype=dtype)
        w = sg.shared(w0.copy(), name="w")
        b = sg.shared(np.asarray(0.0, dtype), name="b")
        p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
        xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
        cost = xent.mean() + l2 * (w ** 2).sum()
        gw, gb = T.grad(cost, [w, b])
        train = sg.function([x, y], [p_1 > 0.5, xent], updates=[(w, w - lr * gw), (b, b - lr * gb)], mode=mode)
        return train, (X, Y), [w, b]

    def numpy_step(state):
        w, b = state[:2]
        p = 1 / (1 + np.exp(-(X @ w + b)))
        xent = -Y * np.log(p) - (1 - Y) * np.log(1 - p)  # the step returns it, so it is computed
        g = (p - Y) / n
        return [w - lr * (X.T @ g + 2 * l2 * w), b - lr * g.sum(), p > 0.5, xent]

    size = "" if n == 400 else f"-{n // 1000}k"
    return Workload(f"logreg-{'f64' if dtype == 'float64' else 'f32'}{size}", build, numpy_step,
                    lambda: [w0.copy(), np.asarray(0.0, dtype)], f"logistic regression {n}x{feats} {dtype}",
                    n * feats)


def _mlp(n: int = 400, feats: int = 784, hidden: int = 64, classes: int = 10, name: str = "mlp",
         dtype: str = "float64") -> Workload:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, feats)).astype(dtype)
    Y = rng.integers(0, classes, n)
    W1 = (rng.standard_normal((feats, hidden)) * 0.05).astype(dtype)
    W2 = (rng.standard_normal((hidden, classes)) * 0.1).astype(dtype)
    lr = np.asarray(0.1, dtype)[()]  # (a float32 step stays float32 in numpy too)

    def build(mode):
        x, y = T.matrix("x", dtype=dtype), T.lvector("y")
        w1, b1 = sg.shared(W1.copy(), name="W1"), sg.shared(np.zeros(hidden, dtype), name="b1")
        w2, b2 = sg.shared(W2.copy(), name="W2"), sg.shared(np.zeros(classes, dtype), name="b2")
        h = T.tanh(T.dot(x, w1) + b1)
        p = T.nnet.softmax(T.dot(h, w2) + b2)
        cost = T.nnet.categorical_crossentropy(p, y).mean()
        params = [w1, b1, w2, b2]
        grads = T.grad(cost, params)
        train = sg.function([x, y], cost, updates=[(v, v - lr * g) for v, g in zip(params, grads)], mode=mode)
        return train, (X, Y), params

    def numpy_step(state):
        w1, b1, w2, b2 = state[:4]
        h = np.tanh(X @ w1 + b1)
        z = h @ w2 + b2
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        cost = -np.log(p[np.arange(n), Y]).mean()
        dz = p.copy()
        dz[np.arange(n), Y] -= 1
        dz /= n
        dh = (dz @ w2.T) * (1 - h * h)
        return [w1 - lr * (X.T @ dh), b1 - lr * dh.sum(0), w2 - lr * (h.T @ dz), b2 - lr * dz.sum(0), cost]

    return Workload(name, build, numpy_step,
                    lambda: [W1.copy(), np.zeros(hidden, dtype), W2.copy(), np.zeros(classes, dtype)],
                    f"MLP {n}x{feats} -> {hidden} tanh -> {classes} softmax{', float32' if dtype == 'float32' else ''}",
                    n * feats)


def _lstm(steps: int = 100, batch: int = 16, dim: int = 128, words: int = 10000, classes: int = 2) -> Workload:
    """deeplearning.net ``lstm.py``'s training step: embedding, an LSTM layer over a masked batch of
    sequences (a scan), mean pooling, softmax, cross-entropy; backpropagation through time and SGD."""
    rng = np.random.default_rng(2)
    X = rng.integers(0, words, (steps, batch))
    lengths = rng.integers(steps // 2, steps + 1, batch)
    M = (np.arange(steps)[:, None] < lengths[None, :]).astype("float64")
    Y = rng.integers(0, classes, batch)
    init = [rng.standard_normal((words, dim)) * 0.01, rng.standard_normal((dim, 4 * dim)) * 0.1,
            rng.standard_normal((dim, 4 * dim)) * 0.1, np.zeros(4 * dim),
            rng.standard_normal((dim, classes)) * 0.1, np.zeros(classes)]
    lr = 0.1

    def build(mode):
        x, mask, y = T.lmatrix("x"), T.matrix("mask"), T.lvector("y")
        params = [sg.shared(v.copy(), name=nm) for v, nm in zip(init, ["Wemb", "W", "U", "b", "U_out", "b_out"])]
        Wemb, W, U, b, U_out, b_out = params
        n_steps, n = x.shape[0], x.shape[1]
        emb = Wemb[x.flatten()].reshape([n_steps, n, dim])
        below = T.dot(emb, W) + b

        def step(m_, x_, h_, c_):
            pre = T.dot(h_, U) + x_
            i = T.nnet.sigmoid(pre[:, :dim])
            f = T.nnet.sigmoid(pre[:, dim:2 * dim])
            o = T.nnet.sigmoid(pre[:, 2 * dim:3 * dim])
            c = T.tanh(pre[:, 3 * dim:])
            c = f * c_ + i * c
            c = m_[:, None] * c + (1.0 - m_)[:, None] * c_
            h = o * T.tanh(c)
            h = m_[:, None] * h + (1.0 - m_)[:, None] * h_
            return h, c

        zeros = T.zeros_like(below[0, :, :dim])
        (hs, _), _ = sg.scan(step, sequences=[mask, below], outputs_info=[zeros, zeros], name="lstm")
        proj = (hs * mask[:, :, None]).sum(axis=0) / mask.sum(axis=0)[:, None]
        pred = T.nnet.softmax(T.dot(proj, U_out) + b_out)
        cost = -T.log(pred[T.arange(n), y] + 1e-8).mean()
        grads = T.grad(cost, params)
        train = sg.function([x, mask, y], cost, updates=[(v, v - lr * g) for v, g in zip(params, grads)], mode=mode)
        return train, (X, M, Y), params

    def sigmoid(z):
        return 1 / (1 + np.exp(-z))

    def numpy_step(state):
        Wemb, W, U, b, U_out, b_out = state[:6]
        n_steps, n = X.shape
        emb = Wemb[X.ravel()].reshape(n_steps, n, dim)
        below = emb @ W + b
        h, c = np.zeros((n, dim)), np.zeros((n, dim))
        hs, cs, gates = np.empty((n_steps, n, dim)), np.empty((n_steps, n, dim)), []
        for t in range(n_steps):
            m = M[t][:, None]
            pre = h @ U + below[t]
            i, f, o = sigmoid(pre[:, :dim]), sigmoid(pre[:, dim:2 * dim]), sigmoid(pre[:, 2 * dim:3 * dim])
            g = np.tanh(pre[:, 3 * dim:])
            c_new = m * (f * c + i * g) + (1 - m) * c
            tc = np.tanh(c_new)
            h_new = m * (o * tc) + (1 - m) * h
            gates.append((i, f, o, g, tc, h, c))
            h, c = h_new, c_new
            hs[t], cs[t] = h, c
        msum = M.sum(axis=0)[:, None]
        proj = (hs * M[:, :, None]).sum(axis=0) / msum
        z = proj @ U_out + b_out
        e = np.exp(z - z.max(axis=1, keepdims=True))
        pred = e / e.sum(axis=1, keepdims=True)
        picked = pred[np.arange(n), Y]
        cost = -np.log(picked + 1e-8).mean()
        dz = np.zeros_like(pred)
        dz[np.arange(n), Y] = -1 / (n * (picked + 1e-8))
        dz = pred * (dz - (dz * pred).sum(axis=1, keepdims=True))
        gU_out, gb_out = proj.T @ dz, dz.sum(axis=0)
        dproj = dz @ U_out.T / msum
        dh, dc = np.zeros((n, dim)), np.zeros((n, dim))
        gU, dbelow = np.zeros_like(U), np.empty_like(below)
        for t in range(n_steps - 1, -1, -1):
            i, f, o, g, tc, h_prev, c_prev = gates[t]
            m = M[t][:, None]
            dh = dh + dproj * m
            dh_new = m * dh
            do = dh_new * tc
            dc_new = dc + dh_new * o * (1 - tc * tc)
            dcm = m * dc_new
            di, df, dg = dcm * g, dcm * c_prev, dcm * i
            dpre = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g * g)], axis=1)
            dbelow[t] = dpre
            gU += h_prev.T @ dpre
            dh = (1 - m) * dh + dpre @ U.T
            dc = (1 - m) * dc_new + dcm * f
        flat = dbelow.reshape(n_steps * n, 4 * dim)
        gW, gb = emb.reshape(n_steps * n, dim).T @ flat, flat.sum(axis=0)
        gWemb = np.zeros_like(Wemb)
        np.add.at(gWemb, X.ravel(), flat @ W.T)
        new = [Wemb - lr * gWemb, W - lr * gW, U - lr * gU, b - lr * gb, U_out - lr * gU_out, b_out - lr * gb_out]
        return new + [cost]

    return Workload("lstm", build, numpy_step, lambda: [v.copy() for v in init],
                    f"LSTM (lstm.py): {steps} steps x batch {batch}, dim {dim}, mean pooling, softmax; BPTT + SGD",
                    steps * batch * dim * 40)


def _cnn(dtype: str = "float32", batch: int = 100) -> Workload:
    """The lecture's CNN (examples/digits_cnn.py) for one SGD step on a batch of 28x28 images:
    conv 4@5x5 tanh, conv 8@3x3 tanh, max-pool 2x2, conv 16@3x3 relu, max-pool 2x2, dense 128 tanh,
    dense 10 softmax, cross-entropy (convolutions unflipped, as Keras's). The hand-written numpy step
    lays out the windows with im2col (``sliding_window_view``) and multiplies with ``@``."""
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, (batch, 1, 28, 28)).astype(dtype)
    Y = rng.integers(0, 10, batch)
    shapes = [(4, 1, 5, 5), (4,), (8, 4, 3, 3), (8,), (16, 8, 3, 3), (16,), (256, 128), (128,), (128, 10), (10,)]
    init = [(rng.uniform(-1, 1, s) * np.sqrt(6.0 / (np.prod(s[1:]) + s[0] * np.prod(s[2:]))) if len(s) == 4
             else rng.uniform(-1, 1, s) * np.sqrt(6.0 / sum(s)) if len(s) == 2 else np.zeros(s)).astype(dtype)
            for s in shapes]
    lr = 0.05

    def build(mode):
        x, y = T.tensor4("x", dtype=dtype), T.lvector("y")
        params = [sg.shared(v.copy(), name=f"p{k}") for k, v in enumerate(init)]
        w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = params

        def conv(h, w, b):
            return T.nnet.conv2d(h, w, filter_flip=False) + b.dimshuffle("x", 0, "x", "x")

        h = T.tanh(conv(x, w1, b1))
        h = pool_2d(T.tanh(conv(h, w2, b2)), ws=(2, 2), ignore_border=True)
        h = pool_2d(T.nnet.relu(conv(h, w3, b3)), ws=(2, 2), ignore_border=True)
        h = T.tanh(T.dot(h.flatten(2), w4) + b4)
        p = T.nnet.softmax(T.dot(h, w5) + b5)
        cost = T.nnet.categorical_crossentropy(p, y).mean()
        grads = T.grad(cost, params)
        train = sg.function([x, y], cost, updates=[(v, v - np.asarray(lr, dtype) * g) for v, g in zip(params, grads)],
                            mode=mode)
        return train, (X, Y), params

    def im2col(x, k):  # (B, C, H, W) -> (B, OH, OW, C*k*k)
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
        b, c, oh, ow = win.shape[:4]
        return win.transpose(0, 2, 3, 1, 4, 5).reshape(b, oh, ow, c * k * k)

    def conv_fwd(x, w, b):
        cols = im2col(x, w.shape[2])
        return (cols @ w.reshape(w.shape[0], -1).T).transpose(0, 3, 1, 2) + b[:, None, None], cols

    def conv_bwd(g, cols, w, x_shape, want_input):
        k, kk = w.shape[0], w.shape[2]
        g2 = g.transpose(0, 2, 3, 1).reshape(-1, k)
        gw = (g2.T @ cols.reshape(-1, cols.shape[-1])).reshape(w.shape)
        if not want_input:
            return None, gw, g.sum(axis=(0, 2, 3))
        oh, ow = g.shape[2:]
        gcols = (g2 @ w.reshape(k, -1)).reshape(g.shape[0], oh, ow, w.shape[1], kk, kk)
        gx = np.zeros(x_shape, dtype)
        for u in range(kk):
            for v in range(kk):
                gx[:, :, u:u + oh, v:v + ow] += gcols[:, :, :, :, u, v].transpose(0, 3, 1, 2)
        return gx, gw, g.sum(axis=(0, 2, 3))

    def pool_fwd(x):  # 2x2, ignore_border
        b, c, h, w = x.shape
        r = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(b, c, h // 2, 2, w // 2, 2)
        return r.max(axis=(3, 5)), r

    def pool_bwd(g, r, out, x_shape):
        gx = np.zeros(x_shape, dtype)
        hits = (r == out[:, :, :, None, :, None]) * g[:, :, :, None, :, None]
        gx[:, :, :r.shape[2] * 2, :r.shape[4] * 2] = hits.reshape(hits.shape[0], hits.shape[1], r.shape[2] * 2, -1)
        return gx

    def numpy_step(state):
        w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = state[:10]
        z1, c1 = conv_fwd(X, w1, b1)
        a1 = np.tanh(z1)
        z2, c2 = conv_fwd(a1, w2, b2)
        a2 = np.tanh(z2)
        p2, r2 = pool_fwd(a2)
        z3, c3 = conv_fwd(p2, w3, b3)
        a3 = np.maximum(z3, 0)
        p3, r3 = pool_fwd(a3)
        f = p3.reshape(batch, -1)
        a4 = np.tanh(f @ w4 + b4)
        z5 = a4 @ w5 + b5
        e = np.exp(z5 - z5.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        cost = -np.log(p[np.arange(batch), Y]).mean()
        dz5 = p.copy()
        dz5[np.arange(batch), Y] -= 1
        dz5 /= batch
        gw5, gb5 = a4.T @ dz5, dz5.sum(0)
        dz4 = (dz5 @ w5.T) * (1 - a4 * a4)
        gw4, gb4 = f.T @ dz4, dz4.sum(0)
        dz3 = pool_bwd((dz4 @ w4.T).reshape(p3.shape), r3, p3, a3.shape) * (z3 > 0)
        dp2, gw3, gb3 = conv_bwd(dz3, c3, w3, p2.shape, True)
        dz2 = pool_bwd(dp2, r2, p2, a2.shape) * (1 - a2 * a2)
        da1, gw2, gb2 = conv_bwd(dz2, c2, w2, a1.shape, True)
        _, gw1, gb1 = conv_bwd(da1 * (1 - a1 * a1), c1, w1, X.shape, False)
        grads = [gw1, gb1, gw2, gb2, gw3, gb3, gw4, gb4, gw5, gb5]
        return [v - np.asarray(lr, dtype) * g for v, g in zip(state[:10], grads)] + [cost]

    return Workload(f"cnn-{dtype[5:]}", build, numpy_step, lambda: [v.copy() for v in init],
                    f"CNN (the lecture's): batch {batch} of 28x28, 3 conv + 2 max-pool + 2 dense, {dtype}",
                    batch * 28 * 28 * 40)


WORKLOADS = {f"logreg-{short}{size}": (lambda dtype=dtype, n=n: _logreg(dtype, n))
             for n, size in [(400, ""), (4000, "-4k"), (40000, "-40k")]
             for short, dtype in [("f64", "float64"), ("f32", "float32")]}
WORKLOADS["mlp"] = _mlp
WORKLOADS["mlp-500"] = lambda: _mlp(20, 784, 500, 10, "mlp-500")  # deeplearning.net mlp.py: 784 -> 500 -> 10, batch 20
WORKLOADS["mlp-f32"] = lambda: _mlp(name="mlp-f32", dtype="float32")
WORKLOADS["mlp-500-f32"] = lambda: _mlp(20, 784, 500, 10, "mlp-500-f32", "float32")
WORKLOADS["lstm"] = _lstm
WORKLOADS["cnn-f32"] = lambda: _cnn("float32")
WORKLOADS["cnn-f64"] = lambda: _cnn("float64")
FULL_WORKLOADS = list(WORKLOADS)
DEFAULT_WORKLOADS = ["logreg-f64", "logreg-f32", "mlp"]  # the quick set: the seed and the MLP
FULL_STEPS = 10000  # --full: steps per repetition at 400x784 (larger data runs proportionally fewer)
REPEATS = 3
SECONDS = 0.3  # quick set: the fastest variant's repetition lasts about this long
PROBE_S = 0.1  # calibration: a probe repetition of each variant lasts at least this long
VARIANTS = ["numpy", "numba-call", "numba-loop", "symgrad-numpy"]
LABELS = {"numpy": "hand-written numpy", "numba-call": "symgrad numba, call", "numba-loop": "symgrad numba, loop",
          "symgrad-numpy": "symgrad numpy backend"}


def fused_report(fn) -> str:
    """What the numba kernel of ``fn`` fused: its one-pass row streams and how they are chunked."""
    source = fn.source or ""
    passes = re.findall(r"^def (rowpass\d+)_rows\(", source, flags=re.MULTILINE)
    if not passes:
        return "no row pass"
    chunks = re.findall(r"row_chunks\(\w+, \w+, (\d+)\)", source)
    threads = f", up to {max(map(int, chunks))} threads" if chunks else ", serial"
    return f"{len(passes)} row pass{'es' if len(passes) > 1 else ''}{threads}"


PAUSE_S = 0.3  # between two variants' repetitions


class _Timed:
    """One variant of a workload, compiled and warmed up; ``once()`` times one repetition."""

    def __init__(self, work: Workload, variant: str, steps: int):
        self.work, self.variant, self.steps = work, variant, steps
        self.fused = ""
        if variant == "numpy":
            work.numpy_step(work.numpy_state())  # warm-up
            return
        mode = "numpy" if variant == "symgrad-numpy" else "numba"
        self.fn, self.args, self.shared = work.build(mode)
        self.initial = [v.get_value() for v in self.shared]
        self.fn(*self.args)  # compile and warm up
        if variant == "numba-loop":
            self.fn.loop(2, *self.args)  # the loop is its own compiled function
        if mode == "numba":
            self.fused = fused_report(self.fn)

    def once(self) -> float:
        """Seconds per step of one repetition from the initial weights (kept in ``weights``)."""
        work, steps = self.work, self.steps
        if self.variant == "numpy":
            state = work.numpy_state()
            t = time.perf_counter()
            for _ in range(steps):
                state = work.numpy_step(state)
            seconds = (time.perf_counter() - t) / steps
            self.weights = state[:len(work.numpy_state())]
            return seconds
        for v, val in zip(self.shared, self.initial):
            v.set_value(val)
        t = time.perf_counter()
        if self.variant == "numba-loop":
            self.fn.loop(steps, *self.args)
        else:
            for _ in range(steps):
                self.fn(*self.args)
        seconds = (time.perf_counter() - t) / steps
        self.weights = [v.get_value() for v in self.shared]
        return seconds

    def probe(self, min_s: float = PROBE_S) -> float:
        """Seconds per step: the steps double until a repetition lasts ``min_s``, then one more
        repetition of as many steps, and the faster of those two counts (the first calls are slow:
        BLAS and numba start their threads, the numba kernels choose how many threads to use)."""
        steps = 4
        while True:
            self.steps = steps
            seconds = self.once()
            if seconds * steps >= min_s or steps >= 1 << 24:
                return min(seconds, self.once())
            steps *= 2


def calibrated_steps(seconds_per_step: float, seconds: float) -> int:
    """Steps for a repetition of about ``seconds`` (two significant digits, at least 10).

    >>> calibrated_steps(31.5e-6, 0.3), calibrated_steps(1.2e-3, 0.3), calibrated_steps(1.0, 0.3)
    (9500, 250, 10)
    """
    return max(10, int(float(f"{seconds / max(seconds_per_step, 1e-9):.2g}")))


_COMPILE_SCRIPT = """
import time, json, numpy as np
t0 = time.perf_counter()
import symgrad as sg, symgrad.tensor as T
t1 = time.perf_counter()
rng = np.random.default_rng(0)
N, feats = 400, 784
D = (rng.standard_normal((N, feats)), rng.integers(0, 2, N).astype(float))
x = T.matrix('x'); y = T.vector('y')
w = sg.shared(rng.standard_normal(feats), name='w'); b = sg.shared(0., name='b')
p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
prediction = p_1 > 0.5
xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
cost = xent.mean() + 0.01 * (w ** 2).sum()
gw, gb = T.grad(cost, [w, b])
train = sg.function([x, y], [prediction, xent], updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)), mode='numba')
train(D[0], D[1])
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "compile_s": t2 - t1}))
"""


def compile_times() -> dict:
    """Seed program compile time in new processes: empty cache, then warm cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, SYMGRAD_CACHE_DIR=cache)
        out = {}
        for label in ("cold", "warm"):
            res = subprocess.run([sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"compile-time probe failed:\n{res.stderr}")
            out[label] = json.loads(res.stdout.strip().splitlines()[-1])
        return out


def _groups(names: list) -> list:
    """Workloads timed together: a float32 workload with its float64 twin, whose ratio is
    reported (a noisy stretch of the machine must hit both alike), else one workload alone."""
    groups, seen = [], set()
    for name in names:
        if name in seen:
            continue
        twin = name.replace("-f64", "-f32") if "-f64" in name else name.replace("-f32", "-f64")
        group = [name] + ([twin] if twin != name and twin in names else [])
        seen.update(group)
        groups.append(group)
    return groups


def run(steps: int | None = None, repeats: int = REPEATS, workloads=None, variants=None,
        compile_times: bool = True, quiet: bool = False, seconds: float = SECONDS) -> list[dict]:
    """Run the benchmark; returns one record per (workload, variant).

    ``steps``: steps per repetition at 400x784 (larger data runs proportionally fewer, at least 10);
    None calibrates each workload from a probe so its fastest variant's repetition lasts about
    ``seconds``. ``workloads`` defaults to the quick set (``DEFAULT_WORKLOADS``)."""
    rows = []
    names = list(workloads or DEFAULT_WORKLOADS)
    variants = variants or VARIANTS
    order = ["numpy"] + [v for v in variants if v != "numpy"]
    start = time.perf_counter()

    def say(message: str) -> None:
        if not quiet:
            print(f"  [{time.perf_counter() - start:5.1f} s] {message}", file=sys.stderr, flush=True)

    for group in _groups(names):
        works, timed = {}, {}
        for wname in group:
            work = works[wname] = WORKLOADS[wname]()
            timed[wname] = []
            for variant in order:
                say(f"preparing {wname}: {LABELS[variant]}...")
                timed[wname].append(_Timed(work, variant, 0))
            if steps is None:
                say(f"calibrating {wname}: probing each variant...")
                fastest = min(t.probe() for t in timed[wname])
                n_steps = calibrated_steps(fastest, seconds)
                say(f"calibrated {wname}: {n_steps} steps per repetition (fastest variant "
                    f"{fastest * 1e6:.1f} us/step, ~{n_steps * fastest:.2f} s)")
            else:
                n_steps = max(10, steps * 400 * 784 // work.elements)  # about the same time per workload
            for t in timed[wname]:
                t.steps = n_steps
        # repetitions interleaved (numpy, call, loop, numpy, ... and float64, float32, float64, ...):
        # a noisy stretch of the machine hits every variant alike instead of one; the best
        # repetition of each is kept
        best = {wname: [float("inf")] * len(order) for wname in group}
        for r in range(repeats):
            for wname in group:
                if steps is None and r > 0:
                    # a probe on a busy stretch of the machine overestimates the step time: when the
                    # fastest variant's best repetition so far lasted under 80 % of ``seconds``, the
                    # steps are raised (every variant runs the same steps in a repetition, so the
                    # final weights still compare)
                    n_steps = calibrated_steps(min(best[wname]), seconds)
                    if n_steps >= 1.25 * timed[wname][0].steps:
                        say(f"recalibrated {wname}: {n_steps} steps per repetition (fastest variant so far "
                            f"{min(best[wname]) * 1e6:.1f} us/step)")
                        for t in timed[wname]:
                            t.steps = n_steps
                for k, (variant, t) in enumerate(zip(order, timed[wname])):
                    say(f"running {wname}, repetition {r + 1} of {repeats}: {LABELS[variant]} ({t.steps} steps)...")
                    # BLAS and OpenMP threads spin for a while after their work (OpenBLAS ~0.1 s):
                    # let the previous variant's go idle, or they compete with this variant's threads
                    time.sleep(PAUSE_S)
                    best[wname][k] = min(best[wname][k], t.once())
        for wname in group:
            reference = (best[wname][0], timed[wname][0].weights)
            for variant, t, secs in zip(order, timed[wname], best[wname]):
                diff = max(float(np.max(np.abs(np.asarray(a, dtype="float64") - np.asarray(b, dtype="float64"))))
                           for a, b in zip(t.weights, reference[1]))
                rows.append({"workload": wname, "described": works[wname].described, "variant": LABELS[variant],
                             "us_per_step": secs * 1e6, "speedup_vs_numpy": reference[0] / secs,
                             "max_weight_diff_vs_numpy": diff, "steps": t.steps, "repeats": repeats,
                             "fused": t.fused})
    rows.sort(key=lambda r: names.index(r["workload"]))  # (stable: variants keep their order)
    if compile_times:
        say("measuring compile time in new processes (cold and warm cache)...")
        ct = globals()["compile_times"]()
        rows.append({"workload": "logreg-f64", "variant": "compile (graph + grad + function + first call)",
                     "cold_s": ct["cold"]["compile_s"], "warm_s": ct["warm"]["compile_s"],
                     "import_s": ct["warm"]["import_s"]})
    say("done")
    return rows


def format_table(rows: list[dict]) -> str:
    import numba

    lines = [f"symgrad benchmark: {os.cpu_count()} cores, numpy {np.__version__}, numba {numba.__version__}",
             f"{'workload':<44} {'variant':<24} {'us/step':>9} {'vs numpy':>9} {'max |dw|':>10}  fused"]
    timed = {r["workload"]: r for r in rows if "us_per_step" in r}
    if timed:
        steps = ", ".join(f"{name} {r['steps']}" for name, r in timed.items())
        lines.insert(1, f"best of {next(iter(timed.values()))['repeats']} repetitions; steps per repetition: {steps}")
    last = None
    for r in rows:
        if "us_per_step" not in r:
            continue
        label = r["described"] if r["workload"] != last else ""
        last = r["workload"]
        lines.append(f"{label:<44} {r['variant']:<24} {r['us_per_step']:>9.1f} {r['speedup_vs_numpy']:>8.2f}x "
                     f"{r['max_weight_diff_vs_numpy']:>10.1e}  {r.get('fused', '')}")
    loops = {r["workload"]: r["us_per_step"] for r in rows if r.get("variant") == LABELS["numba-loop"]}
    for name, t32 in loops.items():  # float32 against symgrad's own float64 on the same workload
        t64 = loops.get(name.replace("f32", "f64"))
        if "f32" in name and t64:
            lines.append(f"{name}: symgrad float32 loop is {t64 / t32:.2f}x faster than symgrad float64")
    for r in rows:
        if "cold_s" in r:
            lines.append(f"compile of the seed program (graph + grad + function + first call): "
                         f"cold cache {r['cold_s']:.2f} s, warm cache {r['warm_s']:.2f} s "
                         f"(import symgrad {r['import_s']:.2f} s, not included)")
    return "\n".join(lines)


def options(argv=None) -> dict:
    """The command line as ``run``'s keyword arguments (and ``json``): the quick set unless
    ``--full``; explicit options override either set's defaults."""
    parser = argparse.ArgumentParser(prog="python -m symgrad.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true",
                        help=f"every workload, {FULL_STEPS} steps at 400x784, {REPEATS} repetitions (several "
                             f"minutes); default: the quick set ({' '.join(DEFAULT_WORKLOADS)}) with "
                             "calibrated steps (about a minute)")
    parser.add_argument("--steps", type=int,
                        help="training steps per repetition at 400x784; larger data runs proportionally fewer "
                             f"(at least 10). Default: calibrated (see --seconds), {FULL_STEPS} with --full")
    parser.add_argument("--seconds", type=float,
                        help="without --steps: calibrate each workload's steps so its fastest variant's "
                             f"repetition lasts about this long (default {SECONDS})")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help=f"timings per variant; the best is kept (default {REPEATS})")
    parser.add_argument("--workloads", nargs="*", choices=list(WORKLOADS),
                        help=f"default: {' '.join(DEFAULT_WORKLOADS)}; with --full: {' '.join(FULL_WORKLOADS)}")
    parser.add_argument("--variants", nargs="*", choices=VARIANTS, help="default: all")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time measurement")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON instead of a table")
    args = parser.parse_args(argv)
    steps = args.steps
    if steps is None and args.full and args.seconds is None:
        steps = FULL_STEPS
    return {"steps": steps, "repeats": args.repeats,
            "workloads": args.workloads or (FULL_WORKLOADS if args.full else DEFAULT_WORKLOADS),
            "variants": args.variants or VARIANTS, "compile_times": not args.no_compile,
            "seconds": SECONDS if args.seconds is None else args.seconds, "json": args.json}


def main(argv=None) -> None:
    kwargs = options(argv)
    as_json = kwargs.pop("json")
    rows = run(**kwargs, quiet=False)
    print(json.dumps(rows, indent=2) if as_json else format_table(rows))


if __name__ == "__main__":
    main()
