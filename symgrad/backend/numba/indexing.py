"""Emitters of the indexing ops: basic (view) indexing, advanced (integer-array) indexing, and
inc/set_subtensor of both. Index specs are decoded at generation time; every index is
bounds-checked (:func:`_check_index`, printed inline) before any access, so no input can make the
kernel read or write out of bounds.
"""
from __future__ import annotations

from typing import Sequence

from ...graph import Apply, Constant, Variable
from ...tensor.indexing import (
    AdvancedSubtensor,
    IncSubtensor,
    IndexEntry,
    Subtensor,
    advanced_dims,
    decode_spec,
    indexed_broadcastable,
)
from .emit import Emitter, _label, emitter, joined


def _basic_index(em: Emitter, x: Variable, xn: str, entries: Sequence[IndexEntry],
                 idx: Sequence[Variable]) -> list[str]:
    """Index parts for a basic (view) index; ints are bounds-checked."""
    idx_names = [em.name(v) for v in idx]
    parts = []
    for e in entries:
        if e.kind == "int":
            i = em.fresh("j")
            _check_index(em, i, idx_names[e.position], f"{xn}.shape[{e.dim}]",
                         f"index out of bounds for axis {e.dim} of {_label(x)}")
            parts.append(i)
        elif e.kind == "array":
            parts.append(":")
        else:
            parts.append(_slice_text(em, e, idx, idx_names))
    return parts


def _check_index(em: Emitter, target: str, index: str, size: str, message: str) -> None:
    """``target = index`` made non-negative (``index + size`` for a negative one), an IndexError
    with ``message`` where it is outside ``[-size, size)``. Printed, not a helper taking the
    message: numba compiles a function again for every distinct string constant passed to it
    (docs/PERFORMANCE.md, "Checks as intrinsics").

    >>> em = Emitter(); _check_index(em, "j1", "i", "x.shape[0]", "bad"); print("\\n".join(em.lines))
        r1 = i
        index_error_if((r1 < -x.shape[0]) | (r1 >= x.shape[0]), 'bad')
        j1 = r1 + x.shape[0] if r1 < 0 else r1
    """
    raw = em.fresh("r")
    em.emit(f"{raw} = {index}")
    em.fail_if(f"({raw} < -{size}) | ({raw} >= {size})", IndexError, message)
    em.emit(f"{target} = {raw} + {size} if {raw} < 0 else {raw}")


def _slice_text(em: Emitter, e: IndexEntry, idx: Sequence[Variable], idx_names: Sequence[str]) -> str:
    """``start:stop:step`` for a slice entry whose bounds are index inputs; a step that is not a
    nonzero constant is checked != 0."""
    bounds = ["" if k is None else idx_names[k] for k in e.inputs]
    step = e.inputs[2]
    if bounds[2] and not (isinstance(idx[step], Constant) and idx[step].data != 0):
        em.fail_if(f"{bounds[2]} == 0", ValueError, 'slice step cannot be zero')
    return ":".join(bounds) if any(bounds) else ":"


@emitter(Subtensor)
def _subtensor(em: Emitter, node: Apply) -> None:
    x, *idx = node.inputs
    xn = em.name(x)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    parts = _basic_index(em, x, xn, decode_spec(node.op.spec), idx)
    em.emit(f"{o} = {xn}[{', '.join(parts)}]")


def _advanced_prepare(em: Emitter, node: Apply, x: Variable, xn: str, spec, idx):
    """Slice the basic dims, move advanced dims first, broadcast and bounds-check the index arrays.

    Returns (view with advanced dims first, flat index arrays, broadcast-shape code, n, rest dims).
    """
    idx_names = [em.name(v) for v in idx]
    parts, arrays = [], []
    for e in decode_spec(spec):
        if e.kind == "slice":
            parts.append(_slice_text(em, e, idx, idx_names))
        else:  # an int among index arrays is a 0-d index array (numpy's rule)
            parts.append(":")
            arrays.append((e.dim, idx_names[e.position], idx[e.position]))
    parts += [":"] * (x.ndim - len(spec))
    view = em.fresh("t")
    # (x itself where nothing is sliced: numba types x[:, :] with layout 'A', strides known only at
    # run time, and the gather and scatter loops over it do not vectorize)
    em.emit(f"{view} = {xn}" if all(p == ":" for p in parts) else f"{view} = {xn}[{', '.join(parts)}]")
    adv_dims = [d for d, _, _ in arrays]
    others = [d for d in range(x.ndim) if d not in adv_dims]
    perm = adv_dims + others
    if perm != list(range(x.ndim)):
        nv = em.fresh("t")
        em.emit(f"{nv} = np.transpose({view}, ({', '.join(map(str, perm))},))")
        view = nv
    # broadcast the index arrays together (scalars count as 0-d arrays, as in numpy)
    arr_codes = []  # our own int64 copies: they are normalized in place (and may be read-only globals)
    for d, nm, var in arrays:
        arr_codes.append(f"np.array([{nm}], dtype=np.int64).reshape(())" if var.ndim == 0 else f"{nm}.astype(np.int64)")
    bshape = em.fresh("bshape")
    flats = []
    n = em.fresh("n")
    if len(arrays) > 1 and all(var.ndim == 1 for _, _, var in arrays):
        # vectors (a row and a column index, the common case): numpy's broadcast by hand, each
        # length n or 1 (numba's np.broadcast_arrays costs ~1 s of compile in a process)
        lens = [f"{nm}.shape[0]" for _, nm, _ in arrays]
        em.emit(f"{n} = 0 if min({', '.join(lens)}) == 0 else max({', '.join(lens)})")
        em.fail_if(joined([f"({m} != {n}) & ({m} != 1)" for m in lens]),
                   IndexError, 'shape mismatch: indexing arrays could not be broadcast together')
        em.emit(f"{bshape} = ({n},)")
        checked = _checked(em, x, view, arrays, [f"{nm}[min(q, {nm}.shape[0] - 1)]" for _, nm, _ in arrays], n)
        return view, checked, bshape, n, x.ndim - len(arrays)
    if len(arrays) == 1 and arrays[0][2].ndim > 0:
        em.emit(f"{bshape} = {arr_codes[0]}.shape")
        f = em.fresh("ix")
        em.emit(f"{f} = {arr_codes[0]}.reshape(-1)")
        flats.append(f)
    else:
        bnames = [em.fresh("b") for _ in arrays]
        array_vars = [(c, v) for c, (_, _, v) in zip(arr_codes, arrays)]
        nd = max(v.ndim for _, v in array_vars)
        padded = []
        for c, v in array_vars:
            if v.ndim == 0:
                padded.append(f"new_filled(({', '.join('np.int64(1)' for _ in range(nd))},), {c}.item())" if nd else c)
            else:
                padded.append(c)
        if nd == 0:
            em.emit(f"{bshape} = ()")
            for bn, c in zip(bnames, padded):
                f = em.fresh("ix")
                em.emit(f"{f} = np.array([{c}.item()], dtype=np.int64)")
                flats.append(f)
        else:
            em.emit(f"{', '.join(bnames)}, = np.broadcast_arrays({', '.join(padded)})")
            em.emit(f"{bshape} = {bnames[0]}.shape")
            for bn in bnames:
                f = em.fresh("ix")
                em.emit(f"{f} = contiguous({bn}).reshape(-1)")
                flats.append(f)
    em.emit(f"{n} = {flats[0]}.shape[0]")
    checked = _checked(em, x, view, arrays, [f"{f}[q]" for f in flats], n)
    return view, checked, bshape, n, x.ndim - len(arrays)


def _checked(em: Emitter, x: Variable, view: str, arrays: list, items: Sequence[str], n: str) -> list[str]:
    """Bounds-checked int64 copies of the index arrays (``items``: element ``q`` of each)."""
    checked = []
    for pos, (item, (d, _, _)) in enumerate(zip(items, arrays)):
        msg = f"index out of bounds for axis {d} of {_label(x)}"
        # checked indices go to a new array, not back into a broadcast view (numba 0.60 types those read-only)
        c = em.fresh("ix")
        em.emit(f"{c} = new_empty({n}, np.int64)")
        em.open(f"for q in range({n}):")
        _check_index(em, f"{c}[q]", item, f"{view}.shape[{pos}]", msg)
        em.close()
        checked.append(c)
        if arrays[pos][2].ndim == 0:  # numpy checks an integer index even when the result is empty
            _check_index(em, em.fresh("j"), arrays[pos][1], f"{view}.shape[{pos}]", msg)
    return checked


def _result_perm(spec: tuple, ndim_b: int, rest: int) -> list[int] | None:
    """Permutation from (broadcast dims, rest dims) to numpy's order when advanced dims are inside."""
    adv, adjacent = advanced_dims(spec)
    if not adjacent or adv[0] == 0:
        return None
    before = adv[0]  # the slices before the block of advanced dims
    order = list(range(ndim_b, ndim_b + before)) + list(range(ndim_b)) + list(range(ndim_b + before, ndim_b + rest))
    return order


@emitter(AdvancedSubtensor)
def _advanced_subtensor(em: Emitter, node: Apply) -> None:
    x, *idx = node.inputs
    out = node.outputs[0]
    xn = em.name(x)
    o = em.bind(out, f"v{len(em.names)}")
    view, flats, bshape, n, rest = _advanced_prepare(em, node, x, xn, node.op.spec, idx)
    k = len(flats)
    rest_shape = ", ".join(f"{view}.shape[{k + r}]" for r in range(rest))
    flat_out = em.fresh("g")
    em.emit(f"{flat_out} = {em.new_array(out, f'({n}, {rest_shape})' if rest else f'({n},)', x.dtype)}")
    em.open(f"for q in range({n}):")
    em.copy(flat_out, view, rest, (False,) * rest, lead=("q",), src_lead=tuple(f"{f}[q]" for f in flats))
    em.close()
    ndim_b = out.ndim - rest
    target_shape = f"{bshape} + ({rest_shape},)" if rest else bshape
    res = em.fresh("t")
    if ndim_b == 0 and rest == 0:
        em.emit(f"{o} = {flat_out}[0]")
        return
    em.emit(f"{res} = {flat_out}.reshape({target_shape})")
    perm = _result_perm(node.op.spec, ndim_b, rest)
    em.emit(f"{o} = np.transpose({res}, ({', '.join(map(str, perm))},))" if perm else f"{o} = {res}")


@emitter(IncSubtensor)
def _inc_subtensor(em: Emitter, node: Apply) -> None:
    op = node.op
    x, y, *idx = node.inputs
    entries = None if op.advanced else decode_spec(op.spec)
    # a constant fill of x not yet written (emitters._elemwise), claimed where the region is rows
    # x[a:b] of a slice without step: written only when they are not all the rows
    rows = entries is not None and len(entries) == 1 and entries[0].kind == "slice" and entries[0].inputs[2] is None
    fill = em.claim_fill(x) if rows else None
    xn, yn = em.name(x), em.name(y)
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    em.emit(f"{o} = {xn}" if id(x) in em.consumable else f"{o} = {xn}.copy()")  # see codegen._consumable
    if not op.advanced:
        parts = _basic_index(em, x, o, entries, idx)
        region = f"{o}[{', '.join(parts)}]"
        region_ndim = sum(1 for e in entries if e.kind != "int") + x.ndim - len(entries)
        if region_ndim == 0:
            em.emit(f"{region} {'=' if op.set_instead_of_inc else '+='} {yn}")
            return
        r = em.fresh("r")
        em.emit(f"{r} = {region}")
        _check_value_shape(em, y, yn, r, region_ndim)
        # loops (Emitter.copy): y cannot be r's memory (o is a copy, or a value only this node reads,
        # or a buffer written in place whose value is no view of it: inplace.py)
        if fill is not None:
            em.open(f"if {r}.shape[0] == {o}.shape[0]:")  # all the rows: the region is o, written whole
            em.copy(r, yn, region_ndim, y.broadcastable, base="" if op.set_instead_of_inc else fill)
            em.close()
            em.open("else:")
            em.copy(o, fill, x.ndim, ())
        em.copy(r, yn, region_ndim, y.broadcastable, op="=" if op.set_instead_of_inc else "+=")
        if fill is not None:
            em.close()
        return
    view, flats, bshape, n, rest = _advanced_prepare(em, node, x, o, op.spec, idx)
    k = len(flats)
    out_region_ndim = len(_region_bc(node))
    ndim_b = out_region_ndim - rest
    rest_shape = ", ".join(f"{view}.shape[{k + r}]" for r in range(rest))
    region_shape = f"{bshape} + ({rest_shape},)" if rest else bshape
    # y in numpy's region order -> (broadcast dims, rest dims) order, then flattened like the index
    perm = _result_perm(op.spec, ndim_b, rest)
    yb = em.fresh("yb")
    if y.ndim == 0:
        em.emit(f"{yb} = new_filled({region_shape}, {yn})" if out_region_ndim else f"{yb} = new_filled((np.int64(1),), {yn})")
    else:
        numpy_order = f"np.transpose(np.empty({region_shape}), ({', '.join(map(str, perm))},)).shape" if perm else region_shape
        ys = em.fresh("ys")
        em.emit(f"{ys} = {numpy_order}")
        _check_value_shape(em, y, yn, None, out_region_ndim, shape_code=ys)
        if y.ndim == out_region_ndim and not any(y.broadcastable):  # checked: the region's shape
            em.emit(f"{yb} = {yn}")
        else:
            em.emit(f"{yb} = np.broadcast_to({yn}, {ys})")
        if perm:
            inverse = [perm.index(i) for i in range(len(perm))]
            em.emit(f"{yb} = np.transpose({yb}, ({', '.join(map(str, inverse))},))")
    flat_y = em.fresh("fy")
    em.emit(f"{flat_y} = contiguous({yb}).reshape(({n}, {rest_shape}))" if rest else
            f"{flat_y} = contiguous({yb}).reshape(-1)")
    em.open(f"for q in range({n}):")
    em.copy(view, flat_y, rest, (False,) * rest, lead=tuple(f"{f}[q]" for f in flats), src_lead=("q",),
            op="=" if op.set_instead_of_inc else "+=")
    em.close()


def _region_bc(node: Apply) -> tuple:
    return indexed_broadcastable(node.inputs[0], node.op.spec, node.inputs[2:])


def _check_value_shape(em: Emitter, y: Variable, yn: str, region: str | None, region_ndim: int,
                       shape_code: str | None = None) -> None:
    """y must match the indexed region in every non-broadcastable dim (right-aligned)."""
    pad = region_ndim - y.ndim
    checks = [f"{yn}.shape[{j}] != " + (f"{region}.shape[{pad + j}]" if region else f"{shape_code}[{pad + j}]")
              for j in range(y.ndim) if not y.broadcastable[j]]
    if checks:
        em.fail_if(joined(checks),
                   ValueError, f'inc/set_subtensor: value {_label(y)} does not match the indexed region')

