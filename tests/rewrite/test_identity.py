"""rewrite/identity.py: elementwise identities of an intermediate are dropped; outputs and casts stay."""
import numpy as np

import symgrad as sg
import symgrad.tensor as T
from symgrad import scalar as S
from symgrad.graph import toposort
from symgrad.rewrite.identity import drop_identities
from symgrad.tensor.elemwise import Elemwise


def _identity(v, dtype=None):
    return Elemwise(S.arg(0), 1, dtype or v.dtype)(v)


def _identities(outputs):
    return [n for n in toposort(outputs) if isinstance(n.op, Elemwise) and n.op.expr == S.arg(0)]


def test_an_intermediate_identity_is_its_input():
    x = T.dmatrix("x")
    y = T.exp(x)
    (z,) = drop_identities([_identity(y).sum(axis=0)])
    assert _identities([z]) == []
    assert z.owner.inputs[0] is y


def test_outputs_and_casts_stay():
    x = T.dvector("x")
    out = _identity(x)
    cast = _identity(T.exp(x), "float32") * 2
    assert len(_identities(drop_identities([out, cast]))) == 2
    for mode in ("numba", "numpy"):
        f = sg.function([x], [out, cast], mode=mode)
        v = np.arange(3.0)
        r, c = f(v)
        assert not np.shares_memory(r, v) and c.dtype == np.float32
        np.testing.assert_array_equal(r, v)
