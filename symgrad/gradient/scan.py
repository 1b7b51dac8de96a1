"""The gradient of a ``Scan``: another scan, over the reversed steps, whose carries hold the adjoints
(JAX's transpose rule for ``lax.scan``: backpropagation through time).

Step ``t`` of the forward loop maps ``(carry_in, x_t, p) -> (carry_out, y_t)``. Going backwards,
the carry ``a`` is the adjoint of ``carry_out``; step ``t`` adds the gradient arriving at the
stacked history and ``y_t``, recomputes the forward step from the stored ``carry_in`` (the
history shifted by one, starting with the initial value), and takes its vector-Jacobian product:
the adjoint of ``carry_in`` becomes the next carry, the adjoint of ``x_t`` is a per-step output and
the adjoints of the invariants ``p`` accumulate in carries. ``truncate_gradient = K`` runs only the
last ``K`` steps back: earlier steps and the initial values get zero gradient.

Saved forward values: the forward values the backward step reads (the *frontier* between the
recomputed forward step and the adjoint computation: an LSTM's gate activations, its pre-activation
matrix) are not recomputed. The forward scan returns them as extra per-step outputs (a copy of the
forward node whose step has those outputs appended; the scan rewrite merges it with the original)
and the backward scan reads them as sequences. Derivatives that the elementwise rule writes in
terms of the result (sigmoid' = s(1 - s)) then cost no transcendental function at all.
"""
from __future__ import annotations

from dataclasses import replace

from .. import scalar as S
from ..graph import Constant, TensorType, Variable, clone_replace, rebuild_graph, toposort
from ..tensor import elemwise as E
from ..tensor.indexing import FULL, Subtensor, set_subtensor
from ..tensor.scan import Scan, ScanInner
from ..tensor.shape import concatenate, dimshuffle
from ..tensor.views import alias_root
from .backprop import _backprop
from .batching import BATCH_RULES, _Batcher
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

    # forward values the backward step reads come from the forward scan instead of being recomputed;
    # a constant filled to a forward value's shape (the zeros a slice's gradient scatters into) is
    # made from an input of that shape instead: nothing to save
    back_outs = _constants_from_inputs(new_carries + ys, cin_ph + x_ph + p_ph)
    new_carries, ys = back_outs[:len(new_carries)], back_outs[len(new_carries):]
    saved = _frontier(new_carries + ys, {id(v) for v in cin_ph + x_ph}, {id(v) for v in p_ph})
    saved_ph = [v.type(f"saved_{i}") for i, v in enumerate(saved)]
    if saved:
        back_outs = clone_replace(new_carries + ys, dict(zip(saved, saved_ph)))
        new_carries, ys = back_outs[:len(new_carries)], back_outs[len(new_carries):]

    # the forward values at every step: each carry's history (a copy of the node with every history
    # kept and the saved values as extra per-step outputs: the scan rewrite merges it with the
    # original), shifted to give the carry read by step t
    extra = clone_replace(saved, dict(zip(cin_ph + x_ph + p_ph, inner.inputs)))
    ext_inner = inner if not extra else ScanInner(
        inner.inputs, list(inner.outputs[:c + m]) + extra + list(inner.outputs[c + m:]))
    full = replace(op, inner=ext_inner, n_ys=m + len(extra), history=(True,) * c)
    fnode = node if full == op else full.make_node(*node.inputs)
    saved_steps = [full.y_output(fnode, m + i) for i in range(len(extra))]
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

    seq_ph = ([cin_ph[k] for k in range(c)] + x_ph + [gh_ph[k] for k in fc if k in gh_ph]
              + [gy_ph[j] for j in fy] + saved_ph)
    back_inner = ScanInner(a_ph + acc_ph + seq_ph + p_ph, new_carries + ys)
    back = Scan(back_inner, n_carry=len(a_ph) + len(acc_ph), n_seq=len(seq_ph), n_ys=len(ys),
                history=(False,) * (len(a_ph) + len(acc_ph)), name=f"grad_of_{op.name}" if op.name else "grad")
    a0 = [match_type(g_final[k], inits[k]) if g_final[k] is not None else E.zeros_like(inits[k]) for k in fc]
    acc0 = [E.zeros_like(invs[i]) for i in fp]
    seq_outer = ([backwards(carry_in[k]) for k in range(c)] + [backwards(seqs[j]) for j in range(s)]
                 + [backwards(g_hist[k]) for k in fc if k in gh_ph] + [backwards(g_y[j]) for j in fy]
                 + [backwards(v) for v in saved_steps])
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
        if op.truncate <= 0 and _first_n(seqs[j], n):  # every row has a step: no zeros around it
            result[1 + c + j] = per_step
        else:
            result[1 + c + j] = set_subtensor(E.zeros_like(seqs[j])[start:n], per_step)
    return result


def _first_n(seq: Variable, n: Variable) -> bool:
    """Whether ``seq`` is ``x[:n]`` with ``n`` the scan's step count (how ``scan`` passes a sequence
    without taps): a scan that runs has checked that ``x`` has at least ``n`` rows, so ``seq`` has
    exactly ``n`` and the gradient of all its rows is the backward scan's output itself."""
    node = seq.owner
    return (node is not None and isinstance(node.op, Subtensor) and node.op.spec[:1] == (("s", False, True, False),)
            and all(e == FULL for e in node.op.spec[1:]) and node.inputs[1] is n)


def _constants_from_inputs(outputs: list[Variable], available: list[Variable]) -> list[Variable]:
    """``outputs`` with each elementwise constant (an expression without symbols: zeros_like,
    ones_like) of computed values rebuilt on one of ``available`` with its shape pattern, found
    among its elementwise ancestors of that pattern (an elementwise result has the shape of each
    such input). Only its shape counted."""
    ids = {id(v) for v in available}

    def rebuild(node, inputs):
        if not isinstance(node.op, E.Elemwise) or node.op.expr.free_symbols:
            return None
        if all(v.owner is None for v in inputs):
            return None
        out = node.outputs[0]
        stack = list(inputs)  # through elementwise values of the same shape pattern (their inputs share it)
        while stack:
            v = stack.pop()
            if v.broadcastable != out.broadcastable:
                continue
            if id(v) in ids:
                return E.Elemwise(node.op.expr, 1, node.op.dtype).make_node(v)
            if v.owner is not None and isinstance(v.owner.op, E.Elemwise):
                stack.extend(v.owner.inputs)
        return None

    return rebuild_graph(outputs, rebuild)


def _frontier(outputs: list[Variable], step_ids: set, invariant_ids: set) -> list[Variable]:
    """The forward values ``outputs`` read: results computed from the forward step's inputs alone
    (``step_ids``: carries and sequence slices; ``invariant_ids``) that depend on the step and are
    read by a node that also depends on an adjoint. A view (a gate's slice of a matrix) is saved as
    the value it views; the forward step's inputs themselves are at hand and not saved."""
    forward: set = set(step_ids) | set(invariant_ids)
    varying: set = set(step_ids)
    found: dict = {}
    for node in toposort(outputs):
        ins = node.inputs
        if all(id(v) in forward or isinstance(v, Constant) for v in ins):
            forward.update(id(o) for o in node.outputs)
            if any(id(v) in varying for v in ins):
                varying.update(id(o) for o in node.outputs)
            continue
        for v in ins:
            if id(v) in varying:
                root = alias_root(v)
                if root.owner is not None and id(root) in varying and not _cheap(root, forward):
                    found.setdefault(id(root), root)
    return list(found.values())


def _cheap(v: Variable, at_hand: set) -> bool:
    """An elementwise value without transcendental functions computed from values at hand (the
    step's inputs: ``1 - mask``, zeros of a slice's shape): computing it again costs less than
    storing and reading it."""
    node = v.owner
    return (isinstance(node.op, E.Elemwise) and not S.expensive(node.op.expr)
            and all(i.owner is None and (id(i) in at_hand or isinstance(i, Constant)) for i in node.inputs))


VJP_RULES[Scan] = _scan_vjp


def _batch_scan(bt, node, ins):
    """A scan evaluated for a batch of values of some inputs (``jacobian`` through a loop): the same
    loop over a step batched along a leading axis. A carry is batched when its initial value is or
    its new value depends on a batched input (until nothing changes); sequences keep time first, so
    a batched sequence (batch, time, ...) enters as (time, batch, ...) and a stacked result leaves
    as (batch, time, ...)."""
    op: Scan = node.op
    inner = op.inner
    c, s, m = op.n_carry, op.n_seq, op.n_ys
    if ins[0] is not None:
        raise NotImplementedError("jacobian/hessian: cannot batch a scan whose number of steps depends on the seed")
    batched = {k for k in range(len(inner.inputs)) if ins[1 + k] is not None}
    while True:  # carries whose new value reads a batched input are batched too
        deps = _dependents(inner, {id(inner.inputs[k]) for k in batched})
        more = {k for k in range(c) if k not in batched and id(inner.outputs[k]) in deps}
        if not more:
            break
        batched |= more
    deps = _dependents(inner, {id(inner.inputs[k]) for k in batched})
    if op.until and id(inner.outputs[-1]) in deps:
        raise NotImplementedError("jacobian/hessian: cannot batch a scan whose until condition depends on the seed")
    new_inputs = [TensorType(v.dtype, (False,) + v.broadcastable)(v.name) if k in batched else v
                  for k, v in enumerate(inner.inputs)]
    first = min(batched)
    inner_bt = _Batcher(inner.inputs[first], new_inputs[first])
    for k in batched:
        inner_bt.batched[id(inner.inputs[k])] = new_inputs[k]
    batched_ys = [j for j in range(m) if id(inner.outputs[c + j]) in deps]
    outs = [inner_bt.lift(o) if k in batched else o for k, o in enumerate(inner.outputs[:c])]
    outs += [inner_bt.lift(inner.outputs[c + j]) if j in batched_ys else inner.outputs[c + j] for j in range(m)]
    outs += list(inner.outputs[c + m:])
    new_inner = ScanInner(new_inputs, outs)
    new_op = replace(op, inner=new_inner)
    outer = []
    for k in range(len(inner.inputs)):
        v = bt.unbatched(node.inputs[1 + k])
        if k not in batched:
            outer.append(v)
        elif c <= k < c + s:  # (batch, time, ...) -> (time, batch, ...)
            xb = bt.full(node, ins, 1 + k)
            outer.append(dimshuffle(xb, [1, 0] + list(range(2, xb.ndim))))
        else:
            outer.append(bt.full(node, ins, 1 + k))
    new_node = new_op.make_node(bt.unbatched(node.inputs[0]), *outer)

    def time_second(v):  # (time, batch, ...) -> (batch, time, ...)
        return dimshuffle(v, [1, 0] + list(range(2, v.ndim)))

    result = [(new_node.outputs[k], k in batched) for k in range(c)]
    for k in range(c):
        h = new_op.history_output(new_node, k)
        if h is not None:
            result.append((time_second(h), True) if k in batched else (h, False))
    for j in range(m):
        y = new_op.y_output(new_node, j)
        result.append((time_second(y), True) if j in batched_ys else (y, False))
    return result


def _dependents(inner: ScanInner, seeds: set) -> set:
    """Ids of the step graph's variables that depend on the ids in ``seeds``."""
    found = set(seeds)
    for node in toposort(list(inner.outputs)):
        if any(id(v) in found for v in node.inputs):
            found.update(id(o) for o in node.outputs)
    return found


BATCH_RULES[Scan] = _batch_scan
