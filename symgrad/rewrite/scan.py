"""Rewrites of ``Scan`` nodes (run first among the shared passes, so the outer graph's later passes
see what they move out):

1. scans that differ only in which histories and per-step outputs they keep (a gradient asks the
   forward scan for every carry's history and for the forward values it saves) become one node
   keeping the union;
2. ``history[-1]`` is the final carry (checked: a scan of zero steps has no last step), so a
   history read only that way is not stored;
3. histories and per-step outputs nobody reads are dropped, and a per-step output that repeats
   another one, or is a sequence's own slice, gets no history of its own;
4. a carry that only accumulates a matrix product (``acc + dot(a, b)``: the gradient of a weight
   matrix in backpropagation through time) becomes per-step outputs ``a``, ``b`` and ONE product of
   the stacked factors after the loop: one large BLAS call instead of a small one per step;
   carries nothing reads any more are dropped;
5. loop invariants are hoisted: step nodes that read only invariants and constants are computed
   once, before the loop, and passed in as new invariants;
6. the step graph goes through the same pipeline as any graph (fusion, stabilization, ...).

>>> import symgrad.tensor as T
>>> from symgrad.scan_module import scan
>>> from symgrad.rewrite import optimize
>>> x, W = T.dvector("x"), T.dmatrix("W")
>>> hs, _ = scan(lambda h, W: T.tanh(T.dot(W.T * 2, h)), outputs_info=x, non_sequences=W, n_steps=3)
>>> (last,) = optimize([hs[-1]])
>>> scan_node = last.owner.inputs[0].owner
>>> scan_node.op.history, len(scan_node.op.inner.nodes()) < len(hs.owner.op.inner.nodes())
((False,), True)
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from .. import scalar as S
from ..graph import Apply, Constant, Variable, clients, clone_replace, rebuild_graph, toposort
from ..tensor import elemwise as E
from ..tensor.indexing import Subtensor
from ..tensor.scan import Scan, ScanInner
from ..tensor.linalg import Dot, dot
from ..tensor.shape import Assert, DimShuffle, dimshuffle, reshape, shape_i
from .merge import merge

Optimizer = Callable[[list[Variable]], list[Variable]]


def optimize_scans(outputs: list[Variable], optimize_step: Optimizer) -> list[Variable]:
    """Rewrite every ``Scan`` reachable from ``outputs`` (see the module docstring); ``optimize_step``
    is the pipeline applied to each step graph."""
    outputs = list(outputs)
    if not any(isinstance(n.op, Scan) for n in toposort(outputs)):
        return outputs
    outputs = _merge_histories(outputs)
    outputs = _last_from_final(outputs)
    uses = clients(outputs)
    out_ids = {id(v) for v in outputs}

    def rewrite(node: Apply, inputs: list) -> "list[Variable] | None":
        if not isinstance(node.op, Scan):
            return None
        used = [id(o) in uses or id(o) in out_ids for o in node.outputs]
        return _rebuild_scan(node, inputs, used, optimize_step)

    return rebuild_graph(outputs, rewrite)


def _merge_histories(outputs: list[Variable]) -> list[Variable]:
    """Scans of the same inputs whose steps share their inputs and carry outputs (the same objects)
    become one node: the union of the kept histories and of the per-step outputs. A gradient makes
    such copies: the forward scan with every history and the forward values it saves."""
    groups: dict = {}
    for node in toposort(outputs):
        if isinstance(node.op, Scan):
            op, inner = node.op, node.op.inner
            stop = (id(inner.outputs[-1]),) if op.until else ()
            key = (op.n_carry, op.n_seq, op.until, op.truncate, tuple(id(v) for v in inner.inputs),
                   tuple(id(v) for v in inner.outputs[:op.n_carry]) + stop, tuple(id(v) for v in node.inputs))
            groups.setdefault(key, []).append(node)
    memo: dict[int, Variable] = {}
    for nodes in groups.values():
        if len(nodes) < 2:
            continue
        op = nodes[0].op
        c = op.n_carry
        ys: dict[int, Variable] = {}  # the union of the per-step outputs, by identity, in order
        for n in nodes:
            for y in n.op.inner.outputs[c:c + n.op.n_ys]:
                ys.setdefault(id(y), y)
        same = all(len(ys) == n.op.n_ys for n in nodes)  # every node has them all: its step will do
        inner = op.inner if same else ScanInner(op.inner.inputs, list(op.inner.outputs[:c]) + list(ys.values())
                                                + ([op.inner.outputs[-1]] if op.until else []))
        position = {key: j for j, key in enumerate(ys)}
        union = tuple(any(n.op.history[k] for n in nodes) for k in range(c))
        merged_op = replace(op, inner=inner, n_ys=len(ys), history=union)
        merged = merged_op.make_node(*nodes[0].inputs)
        for n in nodes:
            for k in range(c):
                memo[id(n.outputs[k])] = merged.outputs[k]
                h = n.op.history_output(n, k)
                if h is not None:
                    memo[id(h)] = merged_op.history_output(merged, k)
            for j, y in enumerate(n.op.inner.outputs[c:c + n.op.n_ys]):
                memo[id(n.op.y_output(n, j))] = merged_op.y_output(merged, position[id(y)])
    return rebuild_graph(outputs, memo=memo) if memo else outputs


def _is_last(node: Apply) -> bool:
    """``x[-1]``: basic indexing by the constant -1 alone."""
    return (isinstance(node.op, Subtensor) and node.op.spec == ("i",) and isinstance(node.inputs[1], Constant)
            and int(node.inputs[1].data) == -1)


def _last_from_final(outputs: list[Variable]) -> list[Variable]:
    uses = clients(outputs)
    out_ids = {id(v) for v in outputs}
    memo: dict[int, Variable] = {}
    for node in toposort(outputs):
        if not isinstance(node.op, Scan) or node.op.until:
            continue
        for k in range(node.op.n_carry):
            h = node.op.history_output(node, k)
            if h is None or id(h) in out_ids:
                continue
            readers = uses.get(id(h), [])
            if not readers or not all(_is_last(r) and pos == 0 for r, pos in readers):
                continue
            n_steps = node.inputs[0]
            final = Assert("index -1 is out of bounds: the scan ran 0 steps")(node.outputs[k], E.gt(n_steps, 0))
            for r, _ in readers:
                memo[id(r.outputs[0])] = final
    return rebuild_graph(outputs, memo=memo) if memo else outputs


def _rebuild_scan(node: Apply, inputs: list, used: list[bool], optimize_step: Optimizer) -> list[Variable]:
    op: Scan = node.op
    inner = op.inner
    c, s, m = op.n_carry, op.n_seq, op.n_ys
    n_steps = inputs[0]
    is_used = {id(o): u for o, u in zip(node.outputs, used)}
    history = [op.history[k] and is_used[id(op.history_output(node, k))] for k in range(c)]
    keep_y = [is_used[id(op.y_output(node, j))] for j in range(m)]
    step_reads = _reads(inner, c)
    # accumulated products become one product after the loop; dead carries go
    products = {k: _accumulated_product(inner, k, c, step_reads) for k in range(c)
                if not history[k] and is_used[id(node.outputs[k])]}
    products = {k: p for k, p in products.items() if p is not None}
    keep_carry = [k not in products and (history[k] or is_used[id(node.outputs[k])]) for k in range(c)]
    extra_ys: list[Variable] = [f for k in products for f in products[k][:2]]
    extra_reads = set().union(*[_reads_of(inner, v, c) for v in extra_ys]) if extra_ys else set()
    # a carry that a kept value reads must stay (and what its new value reads): until nothing changes
    changed = True
    while changed:
        changed = False
        live = ([j for j in range(c) if keep_carry[j]] + [c + j for j in range(m) if keep_y[j]]
                + ([c + m] if op.until else []))
        needed = extra_reads.union(*[step_reads[j] for j in live]) if live else set(extra_reads)
        for k in range(c):
            if not keep_carry[k] and k not in products and k in needed:
                keep_carry[k] = changed = True
    kc = [k for k in range(c) if keep_carry[k]]
    inner_outs = ([inner.outputs[k] for k in kc] + [y for y, keep in zip(inner.outputs[c:c + m], keep_y) if keep]
                  + extra_ys + ([inner.outputs[-1]] if op.until else []))
    # merged before hoisting: copies of the step's values (a gradient's saved forward values) must
    # become one node first, or hoisting would give each copy its own invariants
    trimmed = ScanInner([inner.inputs[k] for k in kc] + list(inner.inputs[c:]), merge(inner_outs))
    new_c = len(kc)
    new_inner, new_outer = _hoist(trimmed, list(trimmed.outputs), new_c, s, list(inputs[1 + c + s:]))
    step_outs = optimize_step(list(new_inner.outputs))
    n_ys = sum(keep_y) + len(extra_ys)
    same = _stored_elsewhere(step_outs[new_c:new_c + n_ys], new_inner.inputs[new_c:new_c + s], inputs[1 + c:1 + c + s],
                             bool(op.until))
    stored = [j for j in range(n_ys) if j not in same]
    step_outs = step_outs[:new_c] + [step_outs[new_c + j] for j in stored] + step_outs[new_c + n_ys:]
    new_inner = ScanInner(new_inner.inputs, step_outs)
    new_op = replace(op, inner=new_inner, n_carry=new_c, n_ys=len(stored), history=tuple(history[k] for k in kc))
    new_node = new_op.make_node(n_steps, *[inputs[1 + k] for k in kc], *inputs[1 + c:1 + c + s], *new_outer)

    def y_output(j: int) -> Variable:
        """The stacked per-step output ``j`` (of the ys before deduplication)."""
        if j not in same:
            return new_op.y_output(new_node, stored.index(j))
        kind, at = same[j]
        return y_output(at) if kind == "y" else inputs[1 + c + at][:n_steps]
    slot = {k: i for i, k in enumerate(kc)}
    result: list[Variable] = []
    for k in range(c):
        if k in slot:
            result.append(new_node.outputs[slot[k]])
        elif k in products:
            y0 = sum(keep_y) + 2 * list(products).index(k)
            ya, yb = y_output(y0), y_output(y0 + 1)
            result.append(_sum_of_products(inputs[1 + k], ya, yb, products[k][2]))
        else:
            result.append(node.outputs[k])  # unread
    for k in range(c):
        h = op.history_output(node, k)
        if h is not None:
            result.append(new_op.history_output(new_node, slot[k]) if history[k] else h)
    j_new = 0
    for j in range(m):
        if keep_y[j]:
            result.append(y_output(j_new))
            j_new += 1
        else:
            result.append(op.y_output(node, j))
    return result


def _stored_elsewhere(ys: list[Variable], seq_slots: list[Variable], seqs: list[Variable],
                      until: bool) -> dict[int, tuple[str, int]]:
    """Per-step outputs not worth a history of their own: ``{j: ("y", j0)}`` for the same value as
    output ``j0`` (a gradient saves ``dpre`` for the input projection and for a weight's product),
    ``{j: ("seq", i)}`` for sequence ``i``'s own slice (its stack is the sequence itself, cut to
    ``n_steps``; not with ``until``, which may stop earlier)."""
    same: dict[int, tuple[str, int]] = {}
    for j, y in enumerate(ys):
        first = next((jj for jj in range(j) if ys[jj] is y and jj not in same), None)
        if first is not None:
            same[j] = ("y", first)
            continue
        i = None if until else next((i for i, slot in enumerate(seq_slots) if y is slot), None)
        if i is not None and seqs[i].broadcastable[1:] == y.broadcastable and seqs[i].dtype == y.dtype:
            same[j] = ("seq", i)
    return same


def _reads_of(inner: ScanInner, v: Variable, c: int) -> set[int]:
    """The carries (by index) that the step value ``v`` depends on."""
    carries = {id(inner.inputs[k]): k for k in range(c)}
    found = {carries[id(v)]} if id(v) in carries else set()
    for nd in toposort([v]):
        found.update(carries[id(x)] for x in nd.inputs if id(x) in carries)
    return found


def _reads(inner: ScanInner, c: int) -> list[set[int]]:
    """For each step output, the carries it depends on."""
    return [_reads_of(inner, v, c) for v in inner.outputs]


def _accumulated_product(inner: ScanInner, k: int, c: int, step_reads: list[set[int]]):
    """``(a, b, transposed)`` when carry ``k`` only accumulates a matrix product (``acc + dot(a, b)``
    with ``acc`` read nowhere else): the sum over the steps is then one product of the stacked
    factors after the loop (one large BLAS call instead of one small one per step). ``transposed``:
    ``a`` is ``A.T`` and ``A`` itself is returned (stacking it is a plain reshape)."""
    new = inner.outputs[k]
    acc = inner.inputs[k]
    nd = new.owner
    if nd is None or not isinstance(nd.op, E.Elemwise) or nd.op.nin != 2 or acc.ndim != 2:
        return None
    if nd.op.expr != S.arg(0) + S.arg(1) or acc not in nd.inputs:
        return None
    other = nd.inputs[1] if nd.inputs[0] is acc else nd.inputs[0]
    if other.owner is None or not isinstance(other.owner.op, Dot) or other.type is not acc.type:
        return None
    if any(k in step_reads[j] for j in range(len(inner.outputs)) if j != k) or k in _reads_of(inner, other, c):
        return None
    a, b = other.owner.inputs
    if a.ndim != 2 or b.ndim != 2:
        return None
    if a.owner is not None and isinstance(a.owner.op, DimShuffle) and a.owner.op.new_order == (1, 0):
        return a.owner.inputs[0], b, True
    return a, b, False


def _sum_of_products(init: Variable, ya: Variable, yb: Variable, transposed: bool) -> Variable:
    """``init + sum_t dot(a_t, b_t)`` from the stacked factors, as one matrix product."""
    if transposed:  # a_t = A_t.T: the stacked A_t are rows of one tall matrix
        left = dimshuffle(reshape(ya, [-1, shape_i(ya, 2)]), (1, 0))
    else:
        left = reshape(dimshuffle(ya, (1, 0, 2)), [shape_i(ya, 1), -1])
    right = reshape(yb, [-1, shape_i(yb, 2)])
    return init + dot(left, right)


def _hoist(inner: ScanInner, inner_outs: list[Variable], c: int, s: int,
           invariant_outer: list[Variable]) -> tuple[ScanInner, list[Variable]]:
    """The step with its loop-invariant nodes moved out: (new step, new invariant values outside)."""
    invariant_ph = list(inner.inputs[c + s:])
    fixed = {id(v) for v in invariant_ph}
    order = toposort(inner_outs)
    for nd in order:
        if all(id(v) in fixed or isinstance(v, Constant) for v in nd.inputs):
            fixed.update(id(o) for o in nd.outputs)
    # hoist the invariant values a varying node (or the step's result) reads
    hoisted: dict[int, Variable] = {}
    for nd in order:
        if all(id(o) in fixed for o in nd.outputs):
            continue
        for v in nd.inputs:
            if id(v) in fixed and v.owner is not None:
                hoisted.setdefault(id(v), v)
    for v in inner_outs:
        if id(v) in fixed and v.owner is not None:
            hoisted.setdefault(id(v), v)
    values = list(hoisted.values())
    outside = clone_replace(values, dict(zip(invariant_ph, invariant_outer))) if values else []
    new_ph = [v.type(v.name) for v in values]
    body = clone_replace(inner_outs, dict(zip(values, new_ph))) if values else list(inner_outs)
    # invariants the step no longer reads are dropped
    read = {id(v) for nd in toposort(body) for v in nd.inputs} | {id(v) for v in body}
    kept = [(ph, out) for ph, out in zip(invariant_ph + new_ph, invariant_outer + outside) if id(ph) in read]
    new_inner = ScanInner(list(inner.inputs[:c + s]) + [ph for ph, _ in kept], body)
    return new_inner, [out for _, out in kept]
