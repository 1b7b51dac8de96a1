"""The computational-graph lesson: a small network, its forward graph, the order in which the
forward and backward passes visit the nodes, the gradients as math, and pictures of it all.

The network is linear -> sigmoid -> linear with a squared-error cost:

    h = sigmoid(x W1 + b1),   yhat = h w2 + b2,   cost = mean((yhat - y)^2)

Run: python examples/graph_pictures.py [--out FOLDER] [--mode numpy|numba]
It writes DOT files (and PNG pictures when Graphviz's ``dot`` program is installed) into FOLDER
(default: a new temporary folder) and prints everything else.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np

import symgrad as theano
import symgrad.tensor as T
from symgrad.graph import toposort
from symgrad.printing import debugprint, latex, pp, pydotprint

N_IN, N_HIDDEN = 3, 4


def build_network(seed: int = 0):
    """Symbolic inputs, shared parameters, and the named results of the forward pass."""
    rng = np.random.default_rng(seed)
    x = T.matrix("x")
    y = T.vector("y")
    W1 = theano.shared(rng.normal(size=(N_IN, N_HIDDEN)), name="W1")
    b1 = theano.shared(np.zeros(N_HIDDEN), name="b1")
    w2 = theano.shared(rng.normal(size=N_HIDDEN), name="w2")
    b2 = theano.shared(0.0, name="b2")
    h = T.nnet.sigmoid(T.dot(x, W1) + b1)
    h.name = "h"
    yhat = T.dot(h, w2) + b2
    yhat.name = "yhat"
    cost = ((yhat - y) ** 2).mean()
    cost.name = "cost"
    return (x, y), (W1, b1, w2, b2), (h, yhat, cost)


def _result_text(node) -> str:
    names = [o.name for o in node.outputs if o.name]
    return f" -> {', '.join(names)}" if names else ""


def _section(title: str) -> None:
    print(f"\n=== {title} ===")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="folder for the pictures (default: a new temporary folder)")
    parser.add_argument("--mode", default="numpy", choices=["numpy", "numba"],
                        help="backend of the compiled training step (numpy: no compile time)")
    args = parser.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="graph_pictures_")
    os.makedirs(out, exist_ok=True)

    (x, y), params, (h, yhat, cost) = build_network()

    _section("Forward graph (pp)")
    print(pp(cost))
    _section("Forward graph (debugprint)")
    debugprint(cost)

    _section("Forward pass: nodes in topological order")
    forward = toposort([cost])
    for k, node in enumerate(forward):
        print(f"{k:3d}. {node.op}{_result_text(node)}")

    grads = T.grad(cost, list(params))
    for p, g in zip(params, grads):
        g.name = f"d cost/d {p.name}"
    _section("Backward pass: gradient nodes in the order they are computed")
    seen = {id(n) for n in forward}
    backward = [n for n in toposort(grads) if id(n) not in seen]
    for k, node in enumerate(backward):
        print(f"{k:3d}. {node.op}{_result_text(node)}")
    # reverse mode: the gradient starts at the cost and visits, in reverse topological order, every
    # forward node with a float result that depends on a parameter
    depends = {id(p) for p in params}
    on_path = []
    for k, node in enumerate(forward):
        if any(id(v) in depends for v in node.inputs) and node.outputs[0].dtype.startswith("float"):
            depends.update(id(o) for o in node.outputs)
            on_path.append(k)
    print(f"({len(forward)} forward nodes, {len(backward)} gradient nodes; the chain rule visits the forward "
          f"nodes {' <- '.join(map(str, reversed(on_path)))}: from the cost back to the parameters)")

    short = {h: "h", yhat: r"\hat{y}"}
    _section("Gradients as LaTeX: the chain rule (h and yhat by name)")
    for p, g in zip(params, grads):
        print(rf"\frac{{\partial\,\mathrm{{cost}}}}{{\partial {latex(p)}}} = {latex(g, names=short)}")
    _section("Gradients as LaTeX after symgrad's rewrites (fused, stabilized)")
    for p, g in zip(params, grads):
        print(rf"\frac{{\partial\,\mathrm{{cost}}}}{{\partial {latex(p)}}} = {latex(g, optimize=True, names=short)}")
    _section("The forward pass as LaTeX")
    print(f"h = {latex(h)}")
    print(rf"\hat{{y}} = {latex(yhat, names={h: 'h'})}")
    print(rf"\mathrm{{cost}} = {latex(cost, names=short)}")

    lr = 0.1
    train = theano.function([x, y], cost, updates=[(p, p - lr * g) for p, g in zip(params, grads)],
                            mode=args.mode)
    _section(f"The compiled training step (mode={args.mode!r}): the graph that runs")
    debugprint(train)
    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(8, N_IN)), rng.normal(size=8)
    costs = [float(train(X, Y)) for _ in range(3)]
    print("cost over 3 steps:", ", ".join(f"{c:.4f}" for c in costs))

    _section(f"Pictures in {out}")
    have_dot = shutil.which("dot") is not None
    written = []
    for stem, what in (("forward", cost), ("backward", grads), ("train_step", train)):
        dot_file = os.path.join(out, f"{stem}.dot")
        pydotprint(what, dot_file, print_output_file=False)
        written.append(dot_file)
        if have_dot:
            png_file = os.path.join(out, f"{stem}.png")
            pydotprint(what, png_file, print_output_file=False)
            written.append(png_file)
    for path in written:
        print(path)
    if not have_dot:
        print("(Graphviz's 'dot' program is not installed: only DOT files were written; "
              "render them with 'dot -Tpng FILE.dot -o FILE.png' after installing Graphviz)")
    return {"out": out, "written": written, "costs": costs, "forward": forward, "backward": backward}


if __name__ == "__main__":
    main(sys.argv[1:])
