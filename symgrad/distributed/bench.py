"""``python -m symgrad.distributed.bench``: time one cost-and-gradient evaluation (what an L-BFGS
iteration costs) of the seed's logistic regression over row blocks on LocalClusters of 1, 2, ...
single-thread workers, beside the same evaluation in this process on all rows.

The data are generated on the workers (normal features, labels from a noisy linear rule). Each
cluster gets a warm-up call (it builds the block function on the workers), then ``--calls``
evaluations at parameters that change every call; the median is reported, with the compute time
of the slowest worker and the bytes of parameters sent and partial results received per call
(the pickled payloads; Dask's own message headers come on top).

>>> parse(["--rows", "1000", "--workers", "1"]).workers
[1]
"""
from __future__ import annotations

import argparse
import pickle
import time

import numpy as np

__all__ = ["main", "parse"]


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m symgrad.distributed.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--cols", type=int, default=100)
    ap.add_argument("--block", type=int, default=250_000, help="rows per block")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--calls", type=int, default=15)
    ap.add_argument("--one-process", action="store_true", help="also time the evaluation here on all rows")
    return ap.parse_args(argv)


def _problem(args):
    import dask.array as da

    import symgrad as sg
    import symgrad.tensor as T

    gen = da.random.default_rng(0)
    X = gen.standard_normal((args.rows, args.cols), chunks=(args.block, args.cols), dtype=args.dtype)
    truth = np.random.default_rng(1).normal(size=args.cols).astype(args.dtype)
    noise = gen.standard_normal(args.rows, chunks=args.block, dtype=args.dtype)
    y = ((X @ truth + noise) > 0).astype(args.dtype)
    x, yv = T.matrix("X", dtype=args.dtype), T.vector("y", dtype=args.dtype)
    w = sg.shared(np.zeros(args.cols, args.dtype), name="w")
    z = T.dot(x, w)
    cost = T.sum(T.nnet.softplus(z) - yv * z) + 0.5 * (w ** 2).sum()
    return X, y, x, yv, w, cost


def _thetas(args) -> list[np.ndarray]:
    base = np.random.default_rng(2).normal(size=args.cols)
    return [base * (1 + 1e-3 * k) for k in range(args.calls + 1)]


def _time_cluster(args, n_workers: int) -> dict:
    from distributed import Client, LocalCluster, wait

    from .objective import BlockObjective

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        X, y, x, yv, w, cost = _problem(args)
        X, y = client.persist([X, y])
        wait([X, y])
        objective = BlockObjective(cost, w, {x: X, yv: y}, client)
        thetas = _thetas(args)
        objective(thetas[0])
        calls, slowest = [], []
        for theta in thetas[1:]:
            start = time.perf_counter()
            objective(theta)
            calls.append(time.perf_counter() - start)
            slowest.append(max(objective.worker_seconds))
        tasks = len(objective.worker_seconds)
        sent = tasks * len(pickle.dumps((objective.key, thetas[0], objective.blocks.total_rows)))
        partial = (0.0, np.zeros(args.cols))
        received = len(objective.blocks.rows) * len(pickle.dumps(partial))
        return {"workers": n_workers, "tasks": tasks, "call": float(np.median(calls)), "best": float(np.min(calls)),
                "worker": float(np.median(slowest)), "sent": sent, "received": received,
                "gb": X.nbytes / 1e9, "blocks": len(objective.blocks.rows)}


def _time_one_process(args) -> float:
    from distributed import Client, LocalCluster

    from ..scipy import value_and_grad_function

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster):
        X, y, x, yv, w, cost = _problem(args)
        Xn, yn = X.compute(), y.compute()
    fn, _ = value_and_grad_function(cost, [w], [x, yv])
    thetas = _thetas(args)
    fn(thetas[0], Xn, yn)
    times = []
    for theta in thetas[1:]:
        start = time.perf_counter()
        fn(theta, Xn, yn)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main(argv=None) -> list[dict]:
    args = parse(argv)
    rows = [_time_cluster(args, n) for n in args.workers]
    print(f"{args.rows} x {args.cols} {args.dtype} ({rows[0]['gb']:.2f} GB) in {rows[0]['blocks']} blocks; "
          f"median of {args.calls} cost+gradient evaluations")
    base = rows[0]["call"]
    print(f"{'workers':>8}{'s/call':>10}{'best':>9}{'slowest worker':>16}{'vs first':>10}{'sent B':>9}"
          f"{'received B':>12}")
    for r in rows:
        print(f"{r['workers']:>8}{r['call']:>10.4f}{r['best']:>9.4f}{r['worker']:>16.4f}{r['call'] / base:>10.2f}"
              f"{r['sent']:>9}{r['received']:>12}")
    if args.one_process:
        one = _time_one_process(args)
        print(f"one process (all its threads, data in memory): {one:.4f} s/call")
        rows.append({"workers": 0, "call": one})
    return rows


if __name__ == "__main__":
    main()
