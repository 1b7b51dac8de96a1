"""The seed's logistic regression on data larger than one block, fitted on a Dask cluster.

Run: python examples/distributed_logistic_regression.py [--rows 1000000] [--workers 2]
(needs the extra: pip install -e '.[distributed]')

A LocalCluster of single-thread worker processes generates the data itself (float32 rows in blocks,
never sent through this process), then the model of examples/logistic_regression.py (sigmoid,
mean cross-entropy + 0.01 * |w|^2) is fitted three ways:

1. ``symgrad.distributed.minimize``: L-BFGS, each cost and gradient computed on the workers;
2. ``symgrad.distributed.train``: SGD, one block per step, epochs over the blocks;
3. ``symgrad.scipy.minimize`` in this process on a subsample that fits in memory comfortably.

Accuracies are measured on all rows (on the workers, with dask). On a real cluster, pass
``--scheduler host:8786``: the same code runs there.
"""
from __future__ import annotations

import argparse
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, wait

import symgrad as sg
import symgrad.distributed
import symgrad.scipy
import symgrad.tensor as T


def make_data(rows: int, features: int, block: int, seed: int = 0):
    """Features and 0/1 labels generated on the workers in blocks of ``block`` rows (float32)."""
    gen = da.random.default_rng(seed)
    X = gen.standard_normal((rows, features), chunks=(block, features), dtype=np.float32)
    truth = np.random.default_rng(seed + 1).normal(size=features).astype(np.float32) / np.sqrt(features)
    noise = gen.standard_normal(rows, chunks=block, dtype=np.float32) * np.float32(0.3)
    y = ((X @ truth + noise) > 0).astype(np.float32)
    return X, y


def model(features: int):
    """The seed program's model, float32 end to end."""
    x, y = T.fmatrix("x"), T.fvector("y")
    w = sg.shared(np.zeros(features, np.float32), name="w")
    b = sg.shared(np.float32(0.0), name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    return cost, x, y, w, b


def accuracy(X, y, w, b) -> float:
    """The share of rows the parameters classify right, computed where the rows are."""
    return float(((X @ w.get_value() + b.get_value() > 0) == (y > 0.5)).mean().compute())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=784)
    ap.add_argument("--block", type=int, default=125_000, help="rows per block")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=30, help="L-BFGS iterations at most")
    ap.add_argument("--epochs", type=int, default=2, help="SGD epochs")
    ap.add_argument("--subsample", type=int, default=20_000, help="rows of the one-process fit")
    ap.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    args = ap.parse_args(argv)

    if args.scheduler:
        client, cluster = Client(args.scheduler), None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    try:
        return _fits(args, client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _fits(args, client) -> dict:
    start = time.perf_counter()
    X, y = make_data(args.rows, args.features, args.block)
    X, y = client.persist([X, y])
    wait([X, y])
    print(f"data: {args.rows} x {args.features} float32 ({X.nbytes / 1e9:.2f} GB) in {X.numblocks[0]} blocks "
          f"on {len(client.scheduler_info()['workers'])} workers, generated there in "
          f"{time.perf_counter() - start:.1f} s")
    cost, x, yv, w, b = model(args.features)
    out = {}

    # 1. L-BFGS on the cluster
    ticks = []
    start = time.perf_counter()
    result = sg.distributed.minimize(cost, [w, b], {x: X, yv: y}, client=client,
                                     callback=lambda xk: ticks.append(time.perf_counter()),
                                     options={"maxiter": args.iterations})
    total = time.perf_counter() - start
    per_iteration = float(np.median(np.diff(ticks))) if len(ticks) > 1 else float("nan")
    out["lbfgs"] = {"iterations": int(result.nit), "evaluations": int(result.nfev), "cost": float(result.fun),
                    "seconds": total, "per_iteration": per_iteration, "accuracy": accuracy(X, y, w, b)}

    # 2. SGD on the cluster, one block a step
    w.set_value(np.zeros(args.features, np.float32))
    b.set_value(np.float32(0.0))
    start = time.perf_counter()
    costs = sg.distributed.train(cost, [w, b], {x: X, yv: y}, sg.optimizers.sgd, epochs=args.epochs,
                                 blocks_per_step=1, client=client, learning_rate=1.0)
    total = time.perf_counter() - start
    out["sgd"] = {"steps": len(costs), "cost": costs[-1], "seconds": total, "per_step": total / len(costs),
                  "accuracy": accuracy(X, y, w, b)}

    # 3. the same L-BFGS fit in this process, on a subsample
    n = min(args.subsample, args.rows)
    Xs, ys = X[:n].compute(), y[:n].compute()
    w.set_value(np.zeros(args.features, np.float32))
    b.set_value(np.float32(0.0))
    ticks = []
    start = time.perf_counter()
    local = sg.scipy.minimize(cost, [w, b], {x: Xs, yv: ys}, callback=lambda xk: ticks.append(time.perf_counter()),
                              options={"maxiter": args.iterations})
    total = time.perf_counter() - start
    out["one_process"] = {"rows": n, "iterations": int(local.nit), "seconds": total,
                          "per_iteration": float(np.median(np.diff(ticks))) if len(ticks) > 1 else float("nan"),
                          "accuracy": accuracy(X, y, w, b)}

    print(f"{'fit':<34}{'iterations':>11}{'s/iteration':>13}{'total s':>9}{'accuracy':>10}")
    rows = [(f"L-BFGS, cluster, {args.rows} rows", out["lbfgs"]["iterations"], out["lbfgs"]["per_iteration"],
             out["lbfgs"]["seconds"], out["lbfgs"]["accuracy"]),
            ("SGD, cluster, 1 block/step", out["sgd"]["steps"], out["sgd"]["per_step"], out["sgd"]["seconds"],
             out["sgd"]["accuracy"]),
            (f"L-BFGS, one process, {n} rows", out["one_process"]["iterations"],
             out["one_process"]["per_iteration"], out["one_process"]["seconds"], out["one_process"]["accuracy"])]
    for name, its, per, total, acc in rows:
        print(f"{name:<34}{its:>11}{per:>13.4f}{total:>9.2f}{acc:>10.4f}")
    print("(accuracy on all rows; a cluster fit's total includes packing the blocks and building the kernels on "
          "the workers)")
    return out


if __name__ == "__main__":
    main()
