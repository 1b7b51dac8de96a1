"""The tutorial's logistic regression solved by L-BFGS through ``symgrad.scipy.minimize``.

The problem is the seed program's (examples/logistic_regression.py): 400 random samples with 784
features, random 0/1 labels, cost = mean cross-entropy + 0.01 * |w|^2, starting from random
weights. The cost is strictly convex, so L-BFGS-B (one compiled cost-and-gradient function of
the 785 parameters, handed to scipy) finds its minimum; the tutorial's gradient descent
(learning rate 0.1, 10000 steps from the same start) gets close to it. Both are printed.

Run: python examples/scipy_lbfgs.py [--fast] [--plot PATH | --no-plot] [--mode numpy|numba]
The cost of both methods against the iteration is plotted to scipy_lbfgs.png in the current
directory (or to --plot PATH) when matplotlib is installed; --no-plot skips the plot.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import symgrad as sg
import symgrad.tensor as T
from symgrad.scipy import minimize

N, FEATS, SEED = 400, 784, 0
SGD_STEPS, FAST_SGD_STEPS, SGD_REPORTS = 10000, 1000, 10
PLOT = "scipy_lbfgs.png"  # the default plot file, in the current directory


def data(seed: int = SEED):
    """The tutorial's random data set (seeded) and initial weights."""
    rng = np.random.RandomState(seed)
    D = (rng.randn(N, FEATS), rng.randint(size=N, low=0, high=2))
    return D, rng.randn(FEATS)


def build(w_init: np.ndarray, mode: str | None = None):
    """The tutorial's graph: shared w and b, symbolic data, the cost, the SGD step and an evaluator."""
    x, y = T.matrix("x"), T.vector("y")
    w, b = sg.shared(w_init, name="w"), sg.shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    train = sg.function([x, y], None, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)], mode=mode)
    evaluate = sg.function([x, y], [cost, p_1 > 0.5], mode=mode)
    return (x, y, w, b), cost, train, evaluate


def main(argv: list[str] | None = None) -> dict:
    """Solve with L-BFGS-B, then with the tutorial's SGD from the same start; print and compare."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help=f"{FAST_SGD_STEPS} SGD steps instead of {SGD_STEPS}")
    plot = parser.add_mutually_exclusive_group()
    plot.add_argument("--plot", metavar="PATH", default=PLOT,
                      help=f"write cost against iteration for both methods to PATH (default: {PLOT}; "
                           "needs matplotlib, skipped without it)")
    plot.add_argument("--no-plot", action="store_true", help="write no plot")
    parser.add_argument("--mode", choices=["numpy", "numba"], default=None, help="backend (default: config)")
    args = parser.parse_args(argv)
    sgd_steps = FAST_SGD_STEPS if args.fast else SGD_STEPS

    D, w_init = data()
    (x, y, w, b), cost, train, evaluate = build(w_init, args.mode)
    start_cost = float(evaluate(*D)[0])
    print(f"cost at the start: {start_cost:.6f}")

    # --- L-BFGS-B: scipy drives, symgrad computes cost and gradient ---
    iterates = []
    start = time.perf_counter()
    result = minimize(cost, [w, b], {x: D[0], y: D[1]}, method="L-BFGS-B", mode=args.mode,
                      callback=lambda xk: iterates.append(xk.copy()),
                      options={"maxiter": 1000, "gtol": 1e-9, "ftol": 1e-15})  # to the minimum, not near it
    lbfgs_seconds = time.perf_counter() - start
    lbfgs_cost, prediction = evaluate(*D)
    lbfgs_cost, lbfgs_accuracy = float(lbfgs_cost), float((prediction == D[1]).mean())
    w_lbfgs, b_lbfgs = w.get_value(), float(b.get_value())
    print(f"L-BFGS-B: {result.nit} iterations, {result.nfev} cost/gradient evaluations, "
          f"{lbfgs_seconds:.2f} s with compilation, success={bool(result.success)} ({result.message})")
    print(f"L-BFGS-B final cost: {lbfgs_cost:.10f}")
    print(f"L-BFGS-B training accuracy: {lbfgs_accuracy:.4f}")
    print(f"L-BFGS-B largest gradient entry at the solution: {np.abs(result.jac).max():.2e}")
    lbfgs_curve = []
    for xk in iterates:  # cost after each L-BFGS iteration, for the plot
        w.set_value(xk[:FEATS]); b.set_value(xk[FEATS])
        lbfgs_curve.append(float(evaluate(*D)[0]))

    # --- the tutorial's gradient descent from the same start ---
    w.set_value(w_init); b.set_value(0.0)
    chunk = sgd_steps // SGD_REPORTS
    sgd_curve = []
    start = time.perf_counter()
    for k in range(1, SGD_REPORTS + 1):
        train.loop(chunk, *D)
        sgd_curve.append((k * chunk, float(evaluate(*D)[0])))
        print(f"SGD step {k * chunk:6d}  cost {sgd_curve[-1][1]:.10f}  above L-BFGS-B by "
              f"{sgd_curve[-1][1] - lbfgs_cost:.2e}")
    sgd_seconds = time.perf_counter() - start
    sgd_cost, prediction = evaluate(*D)
    sgd_cost, sgd_accuracy = float(sgd_cost), float((prediction == D[1]).mean())
    print(f"SGD ({sgd_steps} steps, learning rate 0.1, {sgd_seconds:.2f} s with compilation) "
          f"final cost: {sgd_cost:.10f}")
    print(f"SGD training accuracy: {sgd_accuracy:.4f}")
    distance = max(np.abs(w.get_value() - w_lbfgs).max(), abs(float(b.get_value()) - b_lbfgs))
    print(f"largest |w_sgd - w_lbfgs|: {distance:.2e}")
    print(f"SGD cost minus L-BFGS-B cost: {sgd_cost - lbfgs_cost:.3e}")
    # the cost is convex: nothing gets below L-BFGS-B's minimum (beyond rounding)
    assert lbfgs_cost <= sgd_cost + 1e-12, "L-BFGS-B did not reach the minimum"

    # leave the L-BFGS solution in the shared variables
    w.set_value(w_lbfgs); b.set_value(b_lbfgs)
    if not args.no_plot:
        if _plot(args.plot, lbfgs_curve, sgd_curve, lbfgs_cost):
            print(f"wrote {args.plot}")
        else:
            print("matplotlib not installed: no plot")
    return {"result": result, "lbfgs_cost": lbfgs_cost, "lbfgs_accuracy": lbfgs_accuracy, "w": w_lbfgs,
            "b": b_lbfgs, "sgd_cost": sgd_cost, "sgd_accuracy": sgd_accuracy, "start_cost": start_cost}


def _plot(path: str, lbfgs_curve: list[float], sgd_curve: list[tuple[int, float]], minimum: float) -> bool:
    """Draw both cost curves to ``path``; False (and no file) without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:  # matplotlib is optional: no plot without it
        return False
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    # distance to the minimum (L-BFGS-B's final cost); points at or below it cannot be drawn on a log axis
    lbfgs = [(i, c - minimum) for i, c in enumerate(lbfgs_curve, start=1) if c > minimum]
    sgd = [(i, c - minimum) for i, c in sgd_curve if c > minimum]
    ax.loglog(*zip(*lbfgs), marker=".", label="L-BFGS-B (per iteration)")
    if sgd:
        ax.loglog(*zip(*sgd), marker="o", label="SGD, learning rate 0.1 (per step)")
    ax.set(xlabel="iteration / step", ylabel="cost - minimum", title="logistic regression, 400 x 784")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return True


if __name__ == "__main__":
    main(sys.argv[1:])
