"""Reverse-mode differentiation: ``grad`` and the vector-Jacobian rules; on top of them Theano's
``Lop``, ``Rop``, ``jacobian`` and ``hessian``.

One module per job:

- :mod:`.backprop`: ``grad``, micrograd's loop on a graph (sort the nodes, walk them backwards,
  accumulate each input's gradient);
- :mod:`.vjp_rules`: ``VJP_RULES``, one rule per structural op; an ``Elemwise`` needs none, its
  partial derivatives are ``sympy.diff`` of its expression; ``match_type`` undoes broadcasting;
- :mod:`.jacobians`: ``Lop``, ``Rop`` (two Lops), ``jacobian`` and ``hessian``;
- :mod:`.batching`: ``batch_graph`` and ``BATCH_RULES``, which let ``jacobian`` run one sweep for
  all rows of an identity matrix;
- :mod:`.scan`: the rule of ``Scan`` (backpropagation through time: a scan over the reversed steps).

``verify_grad`` lives in :mod:`symgrad.testing` and is reachable here too (see ``__getattr__``).

>>> import symgrad.tensor as T
>>> x = T.dscalar("x")
>>> gx = grad(x ** 3, x)
>>> float(gx.eval({x: 2.0}))
12.0
"""
from __future__ import annotations

from .backprop import DisconnectedInputError, grad
from .batching import BATCH_RULES, batch_graph
from .jacobians import Lop, Rop, hessian, jacobian
from .vjp_rules import VJP_RULES, make_elemwise, match_type
from .vjp_rules import partial  # noqa: F401  (symgrad.gradient.partial, as before the split)
from . import scan as _scan  # noqa: F401  (registers the Scan rule in VJP_RULES)

__all__ = ["grad", "Lop", "Rop", "jacobian", "hessian", "verify_grad", "GradientError", "DisconnectedInputError",
           "VJP_RULES", "match_type", "make_elemwise", "batch_graph", "BATCH_RULES"]

_FROM_TESTING = ("verify_grad", "GradientError")


def __getattr__(name: str):
    # verify_grad compiles functions, so it lives in symgrad.testing, above the compile layer: a
    # module-level import of it here would make the gradient layer import everything up to compile
    # (and import itself back: testing imports grad from here). Theano code calls
    # theano.gradient.verify_grad, so the name is resolved here on first use instead (PyTensor's
    # Variable.eval imports the compile layer lazily in the same way).
    if name in _FROM_TESTING:
        from .. import testing

        return getattr(testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FROM_TESTING))
