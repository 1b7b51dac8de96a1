"""Index before computing: ``f(x)[s]`` becomes ``f(x[s])`` for a one-input elementwise ``f``.

The deeplearning.net tutorials keep labels as ``T.cast(shared_y, 'int32')`` and take a minibatch
with ``[index * batch_size:(index + 1) * batch_size]`` through ``givens``: computed as written,
every call casts the whole label vector (50 000 labels for MNIST) to use one batch of it. An
elementwise function of one input commutes with basic indexing (same elements, same values, same
index errors), so the slice moves inside and only the batch is cast. Elementwise nodes of several
inputs are left alone: slicing each input first could hide a shape mismatch between them.

>>> import numpy as np, symgrad as sg, symgrad.tensor as T
>>> y = sg.shared(np.arange(10), name="y")
>>> i = T.lscalar("i")
>>> (batch,) = lift_subtensors([T.cast(y, "int32")[i * 2:(i + 1) * 2]])
>>> type(batch.owner.op).__name__, type(batch.owner.inputs[0].owner.op).__name__
('Elemwise', 'Subtensor')
"""
from __future__ import annotations

from ..graph import Variable, rebuild_graph
from ..tensor.elemwise import Elemwise
from ..tensor.indexing import Subtensor


def lift_subtensors(outputs: list[Variable]) -> list[Variable]:
    """Rebuild ``outputs`` with basic indexing applied before one-input elementwise chains."""
    return rebuild_graph(outputs, _lift)


def _lift(node, inputs):
    if not isinstance(node.op, Subtensor):
        return None
    x, *idx = inputs
    chain = []  # the one-input elementwise ops between the indexed value and its source
    while x.owner is not None and isinstance(x.owner.op, Elemwise) and x.owner.op.nin == 1 \
            and x.owner.inputs[0].broadcastable == x.broadcastable:
        chain.append(x.owner.op)
        x = x.owner.inputs[0]
    if not chain:
        return None
    out = node.op(x, *idx)
    for op in reversed(chain):
        out = op(out)
    return out.owner
