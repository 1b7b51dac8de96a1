"""Row passes: a RowStream node (one pass over X for ``dot(X.T, f(dot(X, w), ...))``) printed as
a function beside the kernel: ``rowpassK_rows`` streams rows in register blocks of
``ROW_BLOCK`` rows, one of a fixed number of row chunks per call; the kernel itself checks shapes,
picks the chunk count, runs the chunks on numba's threads (``run_chunks``, chunks.py) and adds the
per-chunk results in chunk order.
"""
from __future__ import annotations

import numba

from ...config import config
from ...graph import Apply, Variable
from ...tensor.rowstream import RowStream
from .emit import ROW_BLOCK, Emitter, JitFunction, _label, _literal, _np, emitter
from .scalarcode import scalar_codes

# ROW_BLOCK (rows per block, by the CPU's vector registers) is defined in emit.py, beside the
# Emitter that carries it.
# A float32 X streamed from memory every step runs faster in blocks of 16 rows (40 000x784: 4.29 ms
# per step against 4.73 with 8), one in the caches slower (400 rows: 20.1 against 19.0 us; 4 000:
# 212 against 197 us). Kernels whose float32 row pass reads an input directly therefore carry a
# second copy generated with this block (functions named *_W), compiled only when first called:
# the wrapper calls it for inputs of WIDE_MIN_BYTES or more (see backend/numba/__init__.py). Where
# the block is 4 (x86 without AVX-512, emit.host_row_block) streamed float32 data ran as fast in
# blocks of 4 as of 16 (40 000x784: 5.5-5.9 ms either way), so there is no wide copy (the same block).
ROW_BLOCK_WIDE = 16 if ROW_BLOCK == 8 else ROW_BLOCK
# Row chunks of a large row pass (one per thread); fixed when a kernel is generated, so results
# never depend on how many threads happen to run it.
ROW_THREADS = numba.config.NUMBA_NUM_THREADS


@emitter(RowStream)
def _row_stream(em: Emitter, node: Apply) -> None:
    fname = f"rowpass{len(em.extra)}"
    em.extra.append(_row_pass_functions(fname, node, em.row_block, em.suffix))
    names = [em.name(v) for v in node.inputs]
    results = _row_entry(em, fname, node, names)
    for o, r in zip(node.outputs, results):
        em.bind(o, r)


def _row_pass_functions(fname: str, node: Apply, block: int, suffix: str = "") -> tuple[JitFunction, ...]:
    """The function beside the kernel, ``{fname}_rows{suffix}(c, st)``: chunk ``c`` of the fixed row
    chunks, streamed into its gradient and sum accumulators. The kernel itself checks the shapes,
    picks the chunk count, hands the chunks to numba's threads (``run_chunks``, chunks.py) and adds
    the per-chunk results in chunk order (:func:`_row_entry`), so a result depends only on the
    chunk count, never on scheduling. (One function: numba compiles a callee's code again in
    every caller, and a separate entry and chunk dispatcher each cost a compile of the row code.)"""
    op = node.op
    X, w, *rest = node.inputs
    rows, scalars = rest[:op.n_rows], rest[op.n_rows:]
    width = "float32" if X.dtype == "float32" else "float64"
    rs = [f"r{k}" for k in range(len(rows))]
    sc = [f"s{k}" for k in range(len(scalars))]
    os_ = [f"o{k}" for k in range(len(op.row_exprs))]
    ts = [f"t{k}" for k in range(len(op.sum_exprs))]
    name = f"{fname}_rows{suffix}"
    return (JitFunction(name, _row_chunk_source(name, op, X, width, rs, sc, os_, ts, block), "JIT_FAST_INNER"),)


def _row_chunk_source(name: str, op, X: Variable, width: str, rows: list, scalars: list, os_: list,
                      ts: list, B: int) -> str:
    """Chunk ``c`` of ``nt``, rows [lo, hi) (chunk edges are multiples of the block; the state
    tuple ``st`` holds the data, the per-chunk results and ``nt``): dots in register blocks of
    ``B`` rows, the row expressions, and the gradient accumulated into ``g`` while the block's rows
    are still in cache."""
    zero = _literal(0, X.dtype)
    em = Emitter()
    state = ["X", "w"] + rows + scalars + ["G"] + os_ + [f"{t}s" for t in ts] + ["nt"]
    em.emit(f"{', '.join(state)}, = st")
    em.emit("n = X.shape[0]")
    em.emit(f"per = (n // nt) // {B} * {B}")
    em.emit("lo = c * per")
    em.emit("hi = n if c == nt - 1 else lo + per")
    em.emit("g = G[c]")
    for t in ts:
        em.emit(f"{t} = {t}s[c]")
    em.emit("m = X.shape[1]")
    for k in range(len(ts)):
        em.emit(f"a{k} = {_literal(0, op.sum_exprs[k][1])}")
    exprs = [op.grad_expr] + [e for e, _ in op.row_exprs] + [e for e, _ in op.sum_exprs]

    def row(b: str, index: str, z: str, q: str) -> None:
        loads = []
        for r in rows:
            em.emit(f"y{b}_{r} = {r}[{index}]")
            loads.append(f"y{b}_{r}")
        codes = scalar_codes(em, exprs, [z] + loads + scalars, width)
        em.emit(f"{q} = {codes[0]}")
        for k, o in enumerate(os_):
            em.emit(f"{o}[{index}] = {codes[1 + k]}")
        for k in range(len(ts)):
            em.emit(f"a{k} += {codes[1 + len(os_) + k]}")

    dt = _np(X.dtype)
    em.emit(f"za = new_empty(np.int64({B}), {dt})")  # (not a literal: one helper signature)
    em.emit(f"qa = new_empty(np.int64({B}), {dt})")
    em.emit(f"nb = hi - (hi - lo) % {B}")
    em.open(f"for i in range(lo, nb, {B}):")
    for b in range(B):
        em.emit(f"x{b} = X[i + {b}]")
        em.emit(f"z{b} = {zero}")
    em.open("for j in range(m):")  # B independent dot products share each load of w
    em.emit("wj = w[j]")
    for b in range(B):
        em.emit(f"z{b} += x{b}[j] * wj")
    em.close()
    for b in range(B):
        em.emit(f"za[{b}] = z{b}")
    # the row expressions: printed once, run for each row of the block
    em.open(f"for b in range({B}):")
    row("b", "i + b", "za[b]", "qa[b]")
    em.close()
    for b in range(B):
        em.emit(f"q{b} = qa[{b}]")
    # one pass over g for the whole block, backwards: the block's last columns, read just now by
    # the dots, are still in L1 (each g[j] gets the same sum either way: the same bits)
    em.open("for j in range(m - 1, -1, -1):")
    em.emit("g[j] += " + " + ".join(f"q{b} * x{b}[j]" for b in range(B)))
    em.close(2)
    em.open("for i in range(nb, hi):")
    em.emit("xt = X[i]")
    em.emit(f"z = {zero}")
    em.open("for j in range(m):")
    em.emit("z += xt[j] * w[j]")
    em.close()
    row("t", "i", "z", "q")
    em.open("for j in range(m):")
    em.emit("g[j] += q * xt[j]")
    em.close(2)
    for k, t in enumerate(ts):
        em.emit(f"{t}[0] += a{k}")
    return f"def {name}(c, st):\n" + "\n".join(em.lines) + "\n    return 0"


def _row_entry(em: Emitter, fname: str, node: Apply, names: list[str]) -> list[str]:
    """Emit into the kernel the row pass ``fname`` (its function's name ends with the emitter's
    suffix) over the kernel's values ``names`` (X, w, the row inputs, the scalars): shape checks,
    the chunk count, the per-chunk partial results and their sum in chunk order. Returns the names
    of the gradient, the row outputs and the sums."""
    op = node.op
    X, w, *rest = node.inputs
    rows, scalars = rest[:op.n_rows], rest[op.n_rows:]
    rows_name = f"{fname}_rows{em.suffix}"
    Xn, wn, *rest_n = names
    row_n, scalar_n = rest_n[:op.n_rows], rest_n[op.n_rows:]
    n, m, nt, c = (em.fresh(p) for p in ("n", "m", "nt", "c"))
    em.emit(f"{n} = {Xn}.shape[0]")
    em.emit(f"{m} = {Xn}.shape[1]")
    em.fail_if(f"{wn}.shape[0] != {m}",
               ValueError, f'dot: inner dimensions of {_label(X)} and {_label(w)} disagree')
    for v, r in zip(rows, row_n):
        em.fail_if(f"{r}.shape[0] != {n}",
                   ValueError, f'shapes do not match: {_label(v)} and the rows of {_label(X)}')
    inner = [Xn, wn, *row_n]
    for v, s in zip(scalars, scalar_n):  # scalars arrive 0-d (as numbers) or as 1-element vectors
        if v.ndim:
            sv = em.fresh("sv")
            em.emit(f"{sv} = {s}[0]")
            inner.append(sv)
        else:
            inner.append(s)
    os_ = [em.fresh("ro") for _ in op.row_exprs]
    for o, (_, dt) in zip(os_, op.row_exprs):
        em.emit(f"{o} = new_empty({n}, {_np(dt)})")
    # the chunk count is fixed when the kernel is generated (results never depend on how many
    # threads run at call time); numba.set_num_threads(1) runs the same chunks on one thread
    em.emit(f"{nt} = row_chunks({n}, {m}, {ROW_THREADS if config.parallel else 1})")
    # per-chunk partial results
    G = em.fresh("G")
    em.emit(f"{G} = new_zeros(({nt}, {m}), {_np(op.grad_dtype)})")
    sums = [em.fresh("ts") for _ in op.sum_exprs]
    for t, (_, dt) in zip(sums, op.sum_exprs):
        em.emit(f"{t} = new_zeros(({nt}, np.int64(1)), {_np(dt)})")
    state = f"({', '.join(inner + [G] + os_ + sums + [nt])},)"
    if config.parallel:  # (one chunk runs on this thread, no parallel region: chunks.py)
        em.threaded = True
        em.emit(f"run_chunks({nt}, {rows_name}, {state})")
    else:
        em.emit(f"{rows_name}({n} - {n}, {state})")  # (chunk 0 as a variable: an intp, not a literal)
    g, j = em.fresh("g"), em.fresh("j")
    em.emit(f"{g} = {G}[0]")
    em.open(f"for {c} in range(1, {nt}):")  # chunk order: deterministic for a given thread count
    em.open(f"for {j} in range({m}):")  # (a loop: numba's array += costs more to compile)
    em.emit(f"{g}[{j}] += {G}[{c}, {j}]")
    em.close()
    for t in sums:
        em.emit(f"{t}[0, 0] += {t}[{c}, 0]")
    em.close()
    totals = []
    for t, (_, dt) in zip(sums, op.sum_exprs):
        total = em.fresh("t")
        em.emit(f"{total} = {_np(dt)}({t}[0, 0])")
        totals.append(total)
    return [g] + os_ + totals
