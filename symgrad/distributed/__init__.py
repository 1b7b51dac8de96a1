"""Data-parallel fits on a Dask cluster: symgrad's kernels on each row block, Dask moving data and tasks.

``minimize`` runs ``scipy.optimize.minimize`` on the client with the cost and gradient computed
on the workers, where the row blocks of the data live; ``train`` takes synchronous gradient steps
with symgrad's update rules (``sgd`` ... ``adam``). Both need the optional extra
``pip install 'symgrad[distributed]'`` (``dask[distributed]``); ``import symgrad`` never imports Dask.

A fit works on any Dask deployment: pass ``client=`` or make a ``distributed.Client`` current
(``Client("scheduler-address:8786")`` for a real cluster); without one a ``LocalCluster`` of
single-thread worker processes, one per core, is started and reused. The cost must be a sum or a
mean over the rows of the dask arrays plus terms free of them (regularizers): anything else, a max
over rows say, is refused with a ``ValueError`` before any work (``split.py`` says what splits).

Usage (the seed's logistic regression on 4 million rows generated on the workers)::

    import dask.array as da, numpy as np, symgrad as sg, symgrad.tensor as T
    import symgrad.distributed as sgd_dist
    X, y = T.fmatrix("X"), T.fvector("y")
    w, b = sg.shared(np.zeros(784, np.float32), name="w"), sg.shared(np.float32(0), name="b")
    p = T.nnet.sigmoid(T.dot(X, w) + b)
    cost = T.nnet.binary_crossentropy(p, y).mean() + 0.01 * (w ** 2).sum()
    Xd = da.random.default_rng(0).standard_normal((4_000_000, 784), chunks=(250_000, 784), dtype=np.float32)
    yd = (Xd[:, 0] > 0).astype(np.float32)
    result = sgd_dist.minimize(cost, [w, b], {X: Xd, y: yd})
"""
from __future__ import annotations

try:
    import distributed as _distributed  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("symgrad.distributed needs Dask's distributed scheduler: pip install 'symgrad[distributed]' "
                      "(or pip install 'dask[distributed]')") from exc

from .fit import minimize, train
from .objective import BlockObjective
from .split import split_rows

__all__ = ["minimize", "train", "BlockObjective", "split_rows"]
