"""Graph rewrites run before any backend lowers the graph: merge, indexing lifted before
one-input elementwise work, constant folding, elementwise fusion, stabilization of fused
formulas, elementwise identities dropped, sparse updates of looked-up rows, and reuse of computed transcendental results
(``OPTIMIZE``, shared by every backend); scans' step graphs go through the same passes
(``rewrite/scan.py``, which also hoists loop invariants).
Each pass returns new outputs; graphs are never edited in place.

A backend states its whole pipeline as data (its ``pipeline``): ``OPTIMIZE``, then its own passes
(the numba backend adds ``ROW_STREAMS``), then ``LOWER_IFELSE``, always last, so every other pass
sees plain graphs.

>>> import symgrad.tensor as T
>>> z = T.dvector("z")
>>> (out,) = optimize([T.log(1 / (1 + T.exp(-z)))])
>>> out.owner.op.expr
-softplus(-x0)
"""
from __future__ import annotations

from ..graph import Variable
from .constant_folding import fold_constants
from .fusion import fuse
from .identity import drop_identities
from .ifelse import lower_ifelse
from .lift import lift_subtensors
from .merge import merge
from .pipeline import Pass, Pipeline
from .reuse import reuse_computed
from .rowstream import fuse_row_streams
from .scan import optimize_scans
from .shape_of import shape_i_of_shape, shape_of_elemwise
from .sparse import sparse_updates
from .stabilize import stabilize_graph

MERGE = Pass("merge", merge)
# scans first: what they hoist out of their loops is then optimized with the outer graph. Each step
# graph goes through OPTIMIZE itself (looked up when the pass runs: it is defined below).
SCANS = Pass("optimize_scans", lambda outputs: optimize_scans(outputs, OPTIMIZE))
OPTIMIZE = Pipeline((
    MERGE,
    SCANS,
    Pass("lift_subtensors", lift_subtensors),
    Pass("shape_of_elemwise", shape_of_elemwise),
    Pass("shape_to_shape_i", shape_i_of_shape),
    Pass("fold_constants", fold_constants),
    MERGE,
    Pass("fuse", fuse),
    Pass("stabilize", stabilize_graph),
    Pass("drop_identities", drop_identities),
    Pass("sparse_updates", sparse_updates),
    Pass("reuse_computed", reuse_computed),
    MERGE,
))
ROW_STREAMS = Pass("fuse_row_streams", fuse_row_streams)  # for compiled backends: see rowstream.py
LOWER_IFELSE = Pass("lower_ifelse", lower_ifelse)  # last: branch-only nodes move inside each IfElse


def optimize(outputs: list[Variable]) -> list[Variable]:
    """The shared passes (``OPTIMIZE``), without any backend's own."""
    return OPTIMIZE(outputs)
