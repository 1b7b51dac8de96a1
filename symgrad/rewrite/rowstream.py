"""Row streaming: one pass over the rows of ``X`` for ``dot(X.T, f(dot(X, w), rows...))``.

Generalized linear models (logistic, linear, Poisson regression, an MLP's first layer) compute
``z = X @ w``, an elementwise ``r = f(z, y, ...)`` per row, and the gradient ``X.T @ r``: two passes
over ``X``. ``RowStream`` does it in one: for each block of rows it computes the row dots, every
elementwise result that depends on them (``r``, per-row losses, predictions), the sums over rows of
those that are only summed (the cost, the bias gradient), and accumulates ``X.T @ r`` while the
rows are in cache.

The rewrite applies to graphs lowered by a compiled backend (numba); the reference backend has an
implementation too, so the op is tested on both.

>>> import symgrad.tensor as T
>>> X, w, y = T.dmatrix("X"), T.dvector("w"), T.dvector("y")
>>> g = T.dot(X.T, T.nnet.sigmoid(T.dot(X, w)) - y)
>>> [type(n.op).__name__ for n in __import__("symgrad").graph.toposort(fuse_row_streams([g]))]
['RowStream']
"""
from __future__ import annotations


from .. import scalar as S
from ..graph import Variable, clients, clone_replace, toposort
from ..tensor.elemwise import Elemwise
from ..tensor.linalg import Dot
from ..tensor.reduction import Reduce
from ..tensor.rowstream import RowStream
from ..tensor.shape import DimShuffle


def _is_transpose_of(v: Variable, X: Variable) -> bool:
    return (v.owner is not None and isinstance(v.owner.op, DimShuffle) and v.owner.op.new_order == (1, 0)
            and v.owner.inputs[0] is X)


def fuse_row_streams(outputs: list[Variable]) -> list[Variable]:
    """Replace each ``dot(X.T, r(dot(X, w)))`` pattern by one RowStream node (where it applies)."""
    outputs = list(outputs)
    while True:
        replaced = _fuse_one(outputs)
        if replaced is None:
            return outputs
        outputs = replaced


def _fuse_one(outputs: list[Variable]):
    order = toposort(outputs)
    users = clients(outputs)
    is_output = {id(v) for v in outputs}
    for gnode in order:
        if not isinstance(gnode.op, Dot):
            continue
        t, r = gnode.inputs
        if r.ndim != 1 or t.ndim != 2 or t.owner is None or not isinstance(t.owner.op, DimShuffle) \
                or t.owner.op.new_order != (1, 0):
            continue
        X = t.owner.inputs[0]
        znode = next((n for n in order if isinstance(n.op, Dot) and n.inputs[0] is X and n.inputs[1].ndim == 1),
                     None)
        if znode is None or X.dtype not in ("float32", "float64") or gnode.outputs[0].dtype != X.dtype:
            continue
        plan = _plan(order, users, is_output, znode, gnode)
        if plan is not None:
            return _apply(outputs, plan)
    return None


def _plan(order, users, is_output, znode, gnode):
    """The region of row-wise elementwise nodes driven by z, and how each result leaves the pass."""
    z = znode.outputs[0]
    X, w = znode.inputs
    r = gnode.inputs[1]
    # everything that depends on z: the pass inputs must not
    depends = {id(z)}
    for node in order:
        if any(id(v) in depends for v in node.inputs):
            depends.update(id(o) for o in node.outputs)
    if id(w) in depends or id(X) in depends:
        return None
    region: list = []  # elementwise row nodes computed inside the pass, in order
    in_region = {id(z)}
    for node in order:
        if not isinstance(node.op, Elemwise) or node.outputs[0].ndim != 1 or node.outputs[0].broadcastable[0]:
            continue
        if not any(id(v) in in_region for v in node.inputs):
            continue
        if all(id(v) in in_region or (id(v) not in depends and v.ndim <= 1) for v in node.inputs):
            region.append(node)
            in_region.add(id(node.outputs[0]))
    if id(r) not in in_region or r is z:
        return None
    # how results leave: summed over rows, materialized as a vector, or (r) dotted with X.T
    row_vars, sum_nodes = [], []
    for var in [z] + [n.outputs[0] for n in region]:
        outside = [(n, i) for n, i in users.get(id(var), ()) if id(n.outputs[0]) not in in_region or n is gnode]
        need_vector = id(var) in is_output
        for n, i in outside:
            if n is gnode:
                continue
            if isinstance(n.op, Reduce) and n.op.kind == "sum" and n.op.axis == (0,):
                sum_nodes.append(n)
            else:
                need_vector = True
        if need_vector:
            row_vars.append(var)
    return z, X, w, r, region, row_vars, sum_nodes, gnode


def _apply(outputs, plan):
    z, X, w, r, region, row_vars, sum_nodes, gnode = plan
    # inputs of the pass: row vectors and scalars from outside the region
    inside = {id(z)} | {id(n.outputs[0]) for n in region}
    rows, scalars = [], []
    for node in region:
        for v in node.inputs:
            if id(v) in inside or any(v is u for u in rows + scalars):
                continue
            (rows if v.ndim == 1 and not v.broadcastable[0] else scalars).append(v)
    symbol = {id(z): S.arg(0)}
    for k, v in enumerate(rows):
        symbol[id(v)] = S.arg(1 + k)
    for k, v in enumerate(scalars):
        symbol[id(v)] = S.arg(1 + len(rows) + k)
    expr_of = {id(z): S.arg(0)}
    for node in region:
        subs = {S.arg(k): expr_of[id(v)] if id(v) in expr_of else symbol[id(v)] for k, v in enumerate(node.inputs)}
        expr = node.op.expr.xreplace(subs)
        out = node.outputs[0]
        expr_of[id(out)] = expr if out.dtype in (X.dtype, "bool") else S.cast_to(out.dtype)(expr)
    op = RowStream(len(rows), len(scalars), expr_of[id(r)], gnode.outputs[0].dtype,
                   tuple((expr_of[id(v)], v.dtype) for v in row_vars),
                   tuple((expr_of[id(n.inputs[0])], n.outputs[0].dtype) for n in sum_nodes))
    node = op.make_node(X, w, *rows, *scalars)
    replace = {gnode.outputs[0]: node.outputs[0]}
    for k, v in enumerate(row_vars):
        replace[v] = node.outputs[1 + k]
    for k, n in enumerate(sum_nodes):
        replace[n.outputs[0]] = node.outputs[1 + len(row_vars) + k]
    return clone_replace(outputs, replace)
