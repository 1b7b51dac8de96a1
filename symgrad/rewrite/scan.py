"""Rewrites of ``Scan`` nodes (run first among the shared passes, so the outer graph's later passes
see what they move out):

1. scans that differ only in which histories they keep (a gradient asks the forward scan for every
   carry's history) become one node keeping the union;
2. ``history[-1]`` is the final carry (checked: a scan of zero steps has no last step), so a
   history read only that way is not stored;
3. histories and per-step outputs nobody reads are dropped;
4. loop invariants are hoisted: step nodes that read only invariants and constants are computed
   once, before the loop, and passed in as new invariants;
5. the step graph goes through the same pipeline as any graph (fusion, stabilization, ...).

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

from ..graph import Apply, Constant, Variable, clients, clone_replace, rebuild_graph, toposort
from ..tensor import elemwise as E
from ..tensor.indexing import Subtensor
from ..tensor.scan import Scan, ScanInner
from ..tensor.shape import Assert

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
    groups: dict = {}
    for node in toposort(outputs):
        if isinstance(node.op, Scan):
            key = (replace(node.op, history=(False,) * node.op.n_carry), tuple(id(v) for v in node.inputs))
            groups.setdefault(key, []).append(node)
    memo: dict[int, Variable] = {}
    for nodes in groups.values():
        if len(nodes) < 2:
            continue
        op = nodes[0].op
        union = tuple(any(n.op.history[k] for n in nodes) for k in range(op.n_carry))
        merged_op = replace(op, history=union)
        merged = merged_op.make_node(*nodes[0].inputs)
        for n in nodes:
            for k in range(op.n_carry):
                memo[id(n.outputs[k])] = merged.outputs[k]
                h = n.op.history_output(n, k)
                if h is not None:
                    memo[id(h)] = merged_op.history_output(merged, k)
            for j in range(op.n_ys):
                memo[id(n.op.y_output(n, j))] = merged_op.y_output(merged, j)
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
    history = list(op.history)
    for k in range(c):
        h = op.history_output(node, k)
        if h is not None and not used[node.outputs.index(h)]:
            history[k] = False
    keep_y = [used[node.outputs.index(op.y_output(node, j))] for j in range(m)]
    inner_outs = list(inner.outputs[:c]) + [y for y, keep in zip(inner.outputs[c:c + m], keep_y) if keep]
    if op.until:
        inner_outs.append(inner.outputs[-1])
    n_ys = sum(keep_y)
    new_inner, new_outer = _hoist(inner, inner_outs, c, s, list(inputs[1 + c + s:]))
    step_outs = optimize_step(list(new_inner.outputs))
    new_inner = ScanInner(new_inner.inputs, step_outs)
    new_op = replace(op, inner=new_inner, n_ys=n_ys, history=tuple(history))
    new_node = new_op.make_node(inputs[0], *inputs[1:1 + c + s], *new_outer)
    result: list[Variable] = list(new_node.outputs[:c])
    for k in range(c):
        h = op.history_output(node, k)
        if h is not None:
            result.append(new_op.history_output(new_node, k) if history[k] else h)
    j_new = 0
    for j in range(m):
        if keep_y[j]:
            result.append(new_op.y_output(new_node, j_new))
            j_new += 1
        else:
            result.append(op.y_output(node, j))
    return result


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
