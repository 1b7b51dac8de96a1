"""The gradient of a ``Scan``: another scan, over the reversed steps, whose carries hold the adjoints
(JAX's transpose rule for ``lax.scan``: backpropagation through time).

Step ``t`` of the forward loop maps ``(carry_in, x_t, p) -> (carry_out, y_t)``. Going backwards,
the carry ``a`` is the adjoint of ``carry_out``; step ``t`` adds the gradient arriving at the
stacked history and ``y_t``, recomputes the forward step from the stored ``carry_in`` (the
history shifted by one, starting with the initial value), and takes its vector-Jacobian product:
the adjoint of ``carry_in`` becomes the next carry, the adjoint of ``x_t`` is a per-step output and
the adjoints of the invariants ``p`` accumulate in carries. ``truncate_gradient = K`` runs only the
last ``K`` steps back: earlier steps and the initial values get zero gradient.
"""
from __future__ import annotations

from dataclasses import replace

from ..graph import Variable, clone_replace
from ..tensor import elemwise as E
from ..tensor.indexing import set_subtensor
from ..tensor.scan import Scan, ScanInner
from ..tensor.shape import concatenate, dimshuffle
from .backprop import _backprop
from .vjp_rules import VJP_RULES, match_type


def _is_float(v: Variable) -> bool:
    return v.dtype[0] == "f"


def _scan_vjp(node, *gs):
    op: Scan = node.op
    if op.until:
        raise NotImplementedError("grad: no gradient through a scan that stops with until (the number of steps "
                                  "depends on the values); give it a fixed n_steps instead")
    inner = op.inner
    c, s, m = op.n_carry, op.n_seq, op.n_ys
    n = node.inputs[0]
    inits = node.inputs[1:1 + c]
    seqs = node.inputs[1 + c:1 + c + s]
    invs = node.inputs[1 + c + s:]
    g_final = list(gs[:c])
    g_hist: list = [None] * c
    pos = c
    for k in range(c):
        if op.history[k]:
            g_hist[k] = gs[pos]
            pos += 1
    g_y = list(gs[pos:pos + m])

    fc = [k for k in range(c) if _is_float(inner.inputs[k])]
    fy = [j for j in range(m) if _is_float(inner.outputs[c + j]) and g_y[j] is not None]
    fs = [j for j in range(s) if _is_float(inner.inputs[c + j])]
    fp = [i for i in range(len(invs)) if _is_float(inner.inputs[c + s + i])]
    if not any(g is not None for g in g_final + g_hist + g_y):
        return [None] * len(node.inputs)

    # the forward values at every step: each carry's history (the same node, every history kept:
    # the scan rewrite merges it with the original), shifted to give the carry read by step t
    full = replace(op, history=(True,) * c)
    fnode = node if op.history == full.history else full.make_node(*node.inputs)
    carry_in = []
    for k in range(c):
        hist = full.history_output(fnode, k)
        carry_in.append(concatenate([dimshuffle(inits[k], ("x",) + tuple(range(inits[k].ndim))), hist[:-1]]))

    if op.truncate > 0:
        nb = E.minimum(n, op.truncate)
    else:
        nb = n
    start = n - nb

    def backwards(x):  # rows [start, n) in reverse order
        return x[start:n][::-1]

    # the backward step's inputs
    a_ph = [inner.inputs[k].type(f"adjoint_{k}") for k in fc]
    acc_ph = [inner.inputs[c + s + i].type(f"grad_acc_{i}") for i in fp]
    cin_ph = [inner.inputs[k].type(inner.inputs[k].name) for k in range(c)]
    x_ph = [inner.inputs[c + j].type(inner.inputs[c + j].name) for j in range(s)]
    gh_ph = {k: inner.inputs[k].type(f"g_hist_{k}") for k in fc if g_hist[k] is not None}
    gy_ph = {j: inner.outputs[c + j].type(f"g_y_{j}") for j in fy}
    p_ph = [inner.inputs[c + s + i].type(inner.inputs[c + s + i].name) for i in range(len(invs))]

    recomputed = clone_replace(list(inner.outputs[:c + m]), dict(zip(inner.inputs, cin_ph + x_ph + p_ph)))
    seeds = []
    for slot, k in enumerate(fc):
        cot = a_ph[slot] if k not in gh_ph else a_ph[slot] + gh_ph[k]
        seeds.append((recomputed[k], cot))
    for j in fy:
        seeds.append((recomputed[c + j], gy_ph[j]))
    wrt = [cin_ph[k] for k in fc] + [x_ph[j] for j in fs] + [p_ph[i] for i in fp]
    grads = _backprop(seeds, wrt, None, "ignore", "grad", "scan step") if wrt else []
    d_cin = grads[:len(fc)]
    d_x = grads[len(fc):len(fc) + len(fs)]
    d_p = grads[len(fc) + len(fs):]
    new_carries = [match_type(d, cin_ph[k]) for d, k in zip(d_cin, fc)]
    new_carries += [acc + match_type(d, p_ph[i]) for acc, d, i in zip(acc_ph, d_p, fp)]
    ys = [match_type(d, x_ph[j]) for d, j in zip(d_x, fs)]

    seq_ph = ([cin_ph[k] for k in range(c)] + x_ph + [gh_ph[k] for k in fc if k in gh_ph]
              + [gy_ph[j] for j in fy])
    back_inner = ScanInner(a_ph + acc_ph + seq_ph + p_ph, new_carries + ys)
    back = Scan(back_inner, n_carry=len(a_ph) + len(acc_ph), n_seq=len(seq_ph), n_ys=len(ys),
                history=(False,) * (len(a_ph) + len(acc_ph)), name=f"grad_of_{op.name}" if op.name else "grad")
    a0 = [match_type(g_final[k], inits[k]) if g_final[k] is not None else E.zeros_like(inits[k]) for k in fc]
    acc0 = [E.zeros_like(invs[i]) for i in fp]
    seq_outer = ([backwards(carry_in[k]) for k in range(c)] + [backwards(seqs[j]) for j in range(s)]
                 + [backwards(g_hist[k]) for k in fc if k in gh_ph] + [backwards(g_y[j]) for j in fy])
    bnode = back.make_node(nb, *a0, *acc0, *seq_outer, *invs)

    result: list = [None] * len(node.inputs)
    whole = E.eq(nb, n)
    for slot, k in enumerate(fc):
        adj = bnode.outputs[slot]
        result[1 + k] = adj if op.truncate <= 0 else E.switch(whole, adj, E.zeros_like(adj))
    for slot, i in enumerate(fp):
        result[1 + c + s + i] = bnode.outputs[len(fc) + slot]
    for slot, j in enumerate(fs):
        per_step = back.y_output(bnode, slot)[::-1]  # steps [start, n) in forward order
        result[1 + c + j] = set_subtensor(E.zeros_like(seqs[j])[start:n], per_step)
    return result


VJP_RULES[Scan] = _scan_vjp
