"""The ``Scan`` emitter: the step graph printed as its own jitted function in the same module
(through the same code generator, so its nodes get the same loops, checks and fusion), called from
a ``for`` loop in the kernel that writes each step's values into preallocated arrays. No Python runs
per step.

Names: the step module is generated with the suffix ``_s<K>`` (K unique in the enclosing function,
so nested scans nest suffixes) and its constants start with ``<prefix>S<K>_``: everything it adds to
the module is distinct from the enclosing kernel's names, and a copy of the kernel (``_W``)
gets its own copy of the step.
"""
from __future__ import annotations

from ...graph import Apply, Constant, TensorType, Variable
from ...tensor.elemwise import Elemwise
from ...tensor.indexing import Subtensor, decode_spec
from ...tensor.scan import Scan
from .blas import LOOP_BLAS_THREADS
from .emit import Emitter, _label, _np, apart, emitter, joined


def _scalar(dtype: str, value: str) -> str:
    return f"bool({value})" if dtype == "bool" else f"{_np(dtype)}({value})"


def _reversed(v: Variable) -> Variable | None:
    """``x`` when the sequence ``v`` is ``x[::-1]`` (as a backward scan's are): the step then reads
    row ``len(x) - 1 - t`` of ``x`` itself. A row of the reversed view has numba's layout 'A'
    (strides known only at run time) and the step's loops over it do not vectorize; a row of a
    C-ordered ``x`` is C-ordered (the LSTM's backward step: 86 -> 75 us)."""
    node = v.owner
    if node is None or type(node.op) is not Subtensor:
        return None
    entries = decode_spec(node.op.spec)
    if len(entries) != 1 or entries[0].kind != "slice":
        return None
    lo, hi, step = (None if pos is None else node.inputs[1 + pos] for pos in entries[0].inputs)
    if lo is None and hi is None and isinstance(step, Constant) and step.data.ndim == 0 and step.data == -1:
        return node.inputs[0]
    return None


def _zeros_shape(ndim: int) -> str:
    """An all-zero shape of ``ndim`` dimensions as int64 values, not literals (numba compiles a
    callee again for every literal value).

    >>> _zeros_shape(2), _zeros_shape(0)
    ('(np.int64(0), np.int64(0),)', '()')
    """
    return "(" + "".join("np.int64(0), " for _ in range(ndim)).rstrip(" ") + ")"


@emitter(Scan)
def _scan(em: Emitter, node: Apply) -> None:
    from .codegen import generate  # (codegen imports this module to register the emitter)

    op = node.op
    inner = op.inner
    c, s, n_ys = op.n_carry, op.n_seq, op.n_ys
    k = em.fresh("")
    suffix = f"{em.suffix}_s{k}"
    # the step writes each stored value computed by an elementwise node straight into its row of
    # the history (a destination argument): no copy per step (the LSTM's forward step: nine rows)
    stored = [kk for kk in range(c) if op.history[kk]] + [c + j for j in range(n_ys)]
    direct: dict[int, int] = {}  # inner output index -> destination argument slot
    seen: set[int] = set()
    for index in stored:
        var = inner.outputs[index]
        if var.ndim and var.owner is not None and type(var.owner.op) is Elemwise and id(var) not in seen:
            direct[index] = len(inner.inputs) + len(direct)
        seen.add(id(var))
    dests = [TensorType(inner.outputs[i].dtype, inner.outputs[i].broadcastable)(f"row_{i}") for i in direct]
    module = generate(list(inner.inputs) + dests, list(inner.outputs), name="step", row_block=em.row_block,
                      suffix=suffix, global_prefix=f"{em.global_prefix}S{k}_", destinations=direct)
    em.globals.extend(line for line in module.prelude.splitlines())
    em.extra.append(module.functions)
    em.threaded = em.threaded or module.threaded
    step = f"step{suffix}"
    what = f"scan {op.name!r}" if op.name else "scan"

    n = em.fresh("n")
    em.emit(f"{n} = {em.name(node.inputs[0])}")
    em.fail_if(f"{n} < 0", ValueError, f'{what}: n_steps is negative')
    inits = [em.name(v) for v in node.inputs[1:1 + c]]
    seqs = [em.name(v) for v in node.inputs[1 + c:1 + c + s]]
    invariants = []
    for v in node.inputs[1 + c + s:]:
        name = em.name(v)
        if v.ndim:  # read every step: C-ordered (a transposed weight made a 16x512 product 1.6x slower)
            name, view = em.fresh("inv"), name
            em.emit(f"{name} = contiguous({view})")
        invariants.append(name)
    if seqs:
        labels = ", ".join(_label(var) for var in node.inputs[1 + c:1 + c + s])
        em.fail_if(joined([f"{q}.shape[0] < {n}" for q in seqs]),
                   ValueError, f'{what}: a sequence ({labels}) is shorter than n_steps')
    carries = []
    for kk, (var, init) in enumerate(zip(inner.inputs[:c], inits)):
        cv = em.fresh("c")
        # arrays: our own C-ordered copy (the loop variable then has one type; finals never alias inputs)
        em.emit(f"{cv} = contiguous({init}).copy()" if var.ndim else f"{cv} = {_scalar(var.dtype, init)}")
        carries.append(cv)
    # the node's outputs: finals, then histories, then per-step outputs (bound at the end)
    history_out = dict(zip([kk for kk in range(c) if op.history[kk]], node.outputs[c:]))
    ys_out = node.outputs[c + len(history_out):]
    hists = {}
    for kk in range(c):
        if op.history[kk]:
            h = em.fresh("h")
            var = inner.inputs[kk]
            shape = f"({n},) + {carries[kk]}.shape" if var.ndim else f"({n},)"
            em.emit(f"{h} = {em.new_array(history_out[kk], shape, var.dtype)}")
            hists[kk] = h
    ys = []
    spare = {}  # per-step output -> the destination of step 0, before the output is sized
    for j in range(n_ys):
        y = inner.outputs[c + j]
        yv = em.fresh("y")
        em.emit(f"{yv} = new_empty({_zeros_shape(y.ndim + 1)}, {_np(y.dtype)})")  # sized at step 0
        ys.append(yv)
        if c + j in direct:
            spare[j] = em.fresh("y")
            em.emit(f"{spare[j]} = new_empty({_zeros_shape(y.ndim)}, {_np(y.dtype)})")
    t = em.fresh("t")
    rows = []  # each sequence's row of step t
    for var, q in zip(node.inputs[1 + c:1 + c + s], seqs):
        base = _reversed(var)
        rows.append(f"{q}[{t}]" if base is None else f"{em.name(base)}[{em.name(base)}.shape[0] - 1 - {t}]")
    run = em.fresh("steps")
    em.emit(f"{run} = {n}")
    blas = em.fresh("blas")
    em.emit(f"{blas} = blas_threads_at_most({LOOP_BLAS_THREADS})  # small products every step (blas.py)")
    em.open(f"for {t} in range({n}):")
    r = em.fresh("r")
    rows_out = [f"{hists[i]}[{t}]" if i < c else f"({ys[i - c]}[{t}] if {t} > 0 else {spare[i - c]})"
                for i in direct]
    # (apart: the step's code stays out of the kernel part, compiled once; apart.py)
    em.emit(f"{r} = {apart(step, carries + rows + invariants + rows_out)}")
    vals = [f"{r}[{c + j}]" for j in range(n_ys)]
    if ys:  # per-step outputs are sized by step 0's
        em.open(f"if {t} == 0:")
        for j, (yv, val) in enumerate(zip(ys, vals)):
            y = inner.outputs[c + j]
            em.emit(f"{yv} = {em.new_array(ys_out[j], f'({n},) + {val}.shape' if y.ndim else f'({n},)', y.dtype)}")
            if c + j in direct:  # (step 0 wrote into the spare: later steps write into their row)
                em.copy(yv, val, y.ndim, (False,) * y.ndim, lead=(t,))
        em.close()
    # every shape check of the step in one condition (emit.joined)
    checks = ([f"{r}[{kk}].shape != {cv}.shape" for kk, cv in enumerate(carries) if inner.inputs[kk].ndim]
              + [f"{val}.shape != {yv}.shape[1:]" for j, (yv, val) in enumerate(zip(ys, vals))
                 if inner.outputs[c + j].ndim])
    if checks:
        message = f"{what}: a recurrent state or a per-step output changes shape between steps"
        em.fail_if(joined(checks), ValueError, message)
    for kk, cv in enumerate(carries):
        var = inner.inputs[kk]
        em.emit(f"{cv} = {r}[{kk}]" if var.ndim else f"{cv} = {_scalar(var.dtype, f'{r}[{kk}]')}")
        if kk in hists and kk not in direct:  # (loops: see Emitter.copy)
            em.copy(hists[kk], cv, var.ndim, (False,) * var.ndim, lead=(t,))
    for j, (yv, val) in enumerate(zip(ys, vals)):
        y = inner.outputs[c + j]
        if c + j in direct:
            continue
        if y.ndim:
            row = em.fresh("s")
            em.emit(f"{row} = {val}")
            em.copy(yv, row, y.ndim, (False,) * y.ndim, lead=(t,))
        else:
            em.emit(f"{yv}[{t}] = {val}")
    if op.until:
        em.open(f"if {r}[{c + n_ys}]:")
        em.emit(f"{run} = {t} + 1")
        em.emit("break")
        em.close()
    em.close()
    em.emit(f"blas_threads_back({blas})")
    outs = iter(node.outputs)
    for kk, cv in enumerate(carries):  # (a step may return a view of an input: finals never alias one)
        o = em.bind(next(outs), f"v{len(em.names)}")
        em.emit(f"{o} = {cv}.copy()" if inner.inputs[kk].ndim else f"{o} = {cv}")
    for kk in range(c):
        if op.history[kk]:
            o = em.bind(next(outs), f"v{len(em.names)}")
            em.emit(f"{o} = {hists[kk]}[:{run}]" if op.until else f"{o} = {hists[kk]}")
    for yv in ys:
        o = em.bind(next(outs), f"v{len(em.names)}")
        em.emit(f"{o} = {yv}[:{run}]" if op.until else f"{o} = {yv}")
