"""A weight update that is a linear combination of the weight and a matrix product, written by BLAS
into the weight's buffer: ``w - lr * dot(a, b)`` (and ``c * w - lr * dot(a, b)``, weight decay
written into the update) becomes one ``cblas_?gemm`` call with ``beta = c`` and ``alpha = -lr`` over ``w`` in place
(:func:`plan_gemm_updates`, :func:`emit_gemm_update`).

Without it the product fills an array and a loop then reads it and the old weight and writes the
new one: two more passes over a matrix as large as the weight (the 784x500 first layer of
deeplearning.net's mlp.py: 3 MB each). Only updates already written in place qualify
(inplace.py: nothing else reads the new value and nothing can fail once the buffers are written);
the product is then read by the update alone, both are float matrices of
the weight's dtype, neither factor is a view of a buffer written in place (the product is now
computed after the checks, among the in-place writes), and neither the weight nor the product
is broadcastable. An L2 term written into the cost reaches the update as an array constant and
does not qualify (only ``c * w - lr * dot(a, b)`` with numeric ``c`` folds it in).

BLAS rounds ``alpha * (a @ b) + beta * w`` in its own order (the product's partial sums are added
into ``w`` block by block), so the new weight can differ from the separate product and loop in the
last bit.

>>> import symgrad as sg, symgrad.tensor as T
>>> w = sg.shared(np.zeros((3, 2)), name="w")
>>> a, b = T.dmatrix("a"), T.dmatrix("b")
>>> f = sg.function([a, b], [], updates=[(w, 0.9 * w - 0.1 * T.dot(a, b))], mode="numba")
>>> [line.split("#")[0].strip() for line in f.source.splitlines() if "gemm_update(" in line]
['gemm_update(a0, a1, a2, np.float64(-0.1), np.float64(0.9))']
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np  # noqa: F401  (doctest namespace)
import sympy

from ... import scalar as S
from ...graph import Apply, Variable
from ...tensor.elemwise import Elemwise
from ...tensor.linalg import Dot
from .emit import Emitter, _label, _literal, _op_text, joined
from .inplace import _may_view


@dataclass(frozen=True)
class GemmUpdate:
    """``new = alpha * dot + beta * old`` of an update written in place; ``dot`` its product's node."""

    alpha: float
    beta: float
    dot: Apply = field(repr=False, compare=False, default=None)


def _coefficients(expr: sympy.Expr, old: int, product: int) -> tuple[float, float] | None:
    """(alpha, beta) when ``expr`` is ``alpha * x_product + beta * x_old`` with numeric coefficients."""
    terms = sympy.expand(expr).as_coefficients_dict()
    x_old, x_product = S.arg(old), S.arg(product)
    if set(terms) != {x_old, x_product} or not all(c.is_Number for c in terms.values()):
        return None
    return float(terms[x_product]), float(terms[x_old])


def plan_gemm_updates(inputs: Sequence[Variable], outputs: Sequence[Variable], inplace: dict[int, int],
                      reads: dict[int, int]) -> dict[int, GemmUpdate]:
    """{output index: its GemmUpdate} among the updates written in place (``inplace``: {output index:
    input slot}; ``reads``: how often each value is read, a returned one twice: codegen._reads)."""
    buffers = [inputs[slot] for slot in inplace.values()]
    found = {}
    for k, slot in inplace.items():
        node, buf = outputs[k].owner, inputs[slot]
        if not isinstance(node.op, Elemwise) or len(node.inputs) != 2 or buf.ndim != 2 or any(buf.broadcastable):
            continue
        products = [j for j, v in enumerate(node.inputs)
                    if v.owner is not None and isinstance(v.owner.op, Dot) and reads.get(id(v)) == 1]
        olds = [j for j, v in enumerate(node.inputs) if v is buf]
        if len(products) != 1 or len(olds) != 1:
            continue
        dot = node.inputs[products[0]].owner
        if (any(v.ndim != 2 or v.dtype != buf.dtype for v in (*dot.inputs, dot.outputs[0]))
                or any(dot.outputs[0].broadcastable)  # (the loop would broadcast it over w)
                or any(_may_view(v, b) for v in dot.inputs for b in buffers)):
            continue
        coefficients = _coefficients(node.op.expr, olds[0], products[0])
        if coefficients is not None:
            found[k] = GemmUpdate(*coefficients, dot=dot)
    return found


def emit_gemm_update(em: Emitter, out: Variable, buf: Variable, update: GemmUpdate):
    """Emit the checks of a GemmUpdate (the product's inner dimensions, the weight's shape against
    the product's); return the emitter of the call itself, printed with the in-place loops."""
    a, b = update.dot.inputs
    an, bn, wn = em.name(a), em.name(b), em.name(buf)
    o = em.bind(out, f"v{len(em.names)}")
    em.fail_if(f"{an}.shape[1] != {bn}.shape[0]",
               ValueError, f'dot: inner dimensions of {_label(a)} and {_label(b)} disagree')
    em.fail_if(joined([f"{wn}.shape[0] != {an}.shape[0]", f"{wn}.shape[1] != {bn}.shape[1]"]),
               ValueError, f"elementwise {_op_text(out.owner.op)}: shapes do not match: {_label(buf)} "
                                    f"and the result of {_op_text(update.dot.op)} "
                                    "(only dimensions declared broadcastable are broadcast)")

    def call() -> None:
        alpha, beta = _literal(update.alpha, buf.dtype), _literal(update.beta, buf.dtype)
        em.emit(f"gemm_update({an}, {bn}, {wn}, {alpha}, {beta})  # {wn} = {alpha} * ({an} @ {bn}) + {beta} * {wn}")
        em.emit(f"{o} = {wn}")
    return call

