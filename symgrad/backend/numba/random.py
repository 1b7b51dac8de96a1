"""Emitters of the random ops (``tensor/random.py``): one loop over the elements inside the kernel.

numpy RandomState draws (``RandomStateDraw``, ...) run MT19937 on the packed state through the
helpers ``mt_double``/``mt_gauss``, bit for bit numpy's legacy generator, which the reference runs.

The MRG31k3p recurrence is not printed: the kernel calls ``mrg31k3p_next`` (helpers.py), the
reference's own step function compiled by numba, so the bits are the reference's by construction.
Each stream's state stays in registers for all its elements (stream ``s`` makes elements
``s, s + n_streams, ...``, the order the reference computes them in) and is written back once.
Every array index is checked or bounded by the loop before it is used.
"""
from __future__ import annotations

from ...graph import Apply
from ...tensor.random import (NORM32, NORM64, ChoiceFromUniform, MRGUniform, MultinomialFromUniform, RandomStateChoice,
                              RandomStateDraw, RandomStateMultinomial, RandomStatePermutation)
from .emit import Emitter, _label, _literal, _np, emitter


def _sizes(em: Emitter, node: Apply, ndim: int) -> tuple[list[str], str]:
    """Read the ``size`` vector (input 1) into ``ndim`` checked locals; returns them and their product."""
    size = em.name(node.inputs[1])
    em.fail_if(f"{size}.shape[0] != {ndim}",
               ValueError, f'{node.op}: size {_label(node.inputs[1])} must have {ndim} entries')
    dims = []
    for d in range(ndim):
        dim = em.fresh("d")
        em.emit(f"{dim} = np.int64({size}[{d}])")
        em.fail_if(f"{dim} < 0",
                   ValueError, f'{node.op}: size {_label(node.inputs[1])} has a negative entry')
        dims.append(dim)
    return dims, " * ".join(dims) if dims else "1"


@emitter(MRGUniform)
def _mrg_uniform(em: Emitter, node: Apply) -> None:
    op = node.op
    dims, total = _sizes(em, node, op.ndim)
    state = em.name(node.inputs[0])
    n, streams, new, out = em.fresh("n"), em.fresh("ns"), em.fresh("st"), em.fresh("u")
    em.emit(f"{n} = {total}")
    em.emit(f"{new} = contiguous({state}).copy()")  # the new state: never the input's buffer
    em.emit(f"{streams} = {new}.shape[0]")
    bad = f"{op}: the state {_label(node.inputs[0])} must have shape (n_streams, 6) with n_streams >= 1"
    em.fail_if(f"{new}.shape[1] != 6 or ({streams} == 0 and {n} > 0)", ValueError, bad)
    em.emit(f"{out} = new_empty({n}, {_np(op.dtype)})")
    s, i = em.fresh("s"), em.fresh("i")
    x = [em.fresh("x") for _ in range(6)]
    k = em.fresh("k")
    em.open(f"for {s} in range(min({streams}, {n})):")
    em.emit(f"{', '.join(x)} = " + ", ".join(f"np.int64({new}[{s}, {j}])" for j in range(6)))
    em.open(f"for {i} in range({s}, {n}, {streams}):")
    em.emit(f"{', '.join(x)}, {k} = mrg31k3p_next({', '.join(x)})")
    if op.dtype == "float32":  # float32 arithmetic, as Theano's kernel: stays below 1
        em.emit(f"{out}[{i}] = np.float32({k}) * {_literal(float(NORM32), 'float32')}")
    else:
        em.emit(f"{out}[{i}] = np.float64({k}) * {_literal(NORM64, 'float64')}")
    em.close()
    for j in range(6):
        em.emit(f"{new}[{s}, {j}] = np.int32({x[j]})")
    em.close()
    em.bind(node.outputs[0], new)
    sample = em.bind(node.outputs[1], f"v{len(em.names)}")
    if op.ndim == 0:
        em.emit(f"{sample} = {out}[0]")
    else:
        em.emit(f"{sample} = {out}.reshape(({', '.join(dims)},))")


def _categorical_head(em: Emitter, node: Apply, what: str) -> tuple[str, str, str, str, str, str]:
    pvals, unis, count = (em.name(v) for v in node.inputs)
    rows, outcomes, n = em.fresh("rows"), em.fresh("m"), em.fresh("n")
    em.emit(f"{rows}, {outcomes} = {pvals}.shape")
    em.emit(f"{n} = np.int64({count})")
    em.fail_if(f"{n} < 0", ValueError, f'{node.op}: {what} {_label(node.inputs[2])} is negative')
    message = f"{node.op}: {_label(node.inputs[1])} must hold {what} * rows uniforms"
    em.fail_if(f"{unis}.shape[0] != {rows} * {n}", ValueError, message)
    return pvals, unis, rows, outcomes, n, em.fresh("z")


@emitter(MultinomialFromUniform)
def _multinomial(em: Emitter, node: Apply) -> None:
    pvals, unis, rows, outcomes, n, out = _categorical_head(em, node, "n")
    dtype = node.inputs[0].dtype
    cum = em.fresh("cum")
    c, r, m, acc = em.fresh("c"), em.fresh("r"), em.fresh("j"), em.fresh("acc")
    em.emit(f"{out} = new_zeros(({rows}, {outcomes}), {_np(node.outputs[0].dtype)})")
    # cumulative sums in the probabilities' dtype, added in order (numpy's cumsum adds so too)
    em.emit(f"{cum} = new_empty(({rows}, {outcomes}), {_np(dtype)})")
    em.open(f"for {r} in range({rows}):")
    em.emit(f"{acc} = {_literal(0, dtype)}")
    em.open(f"for {m} in range({outcomes}):")
    em.emit(f"{acc} = {acc} + {pvals}[{r}, {m}]")
    em.emit(f"{cum}[{r}, {m}] = {acc}")
    em.close(2)
    em.open(f"for {c} in range({n}):")
    em.open(f"for {r} in range({rows}):")
    em.open(f"for {m} in range({outcomes}):")
    em.open(f"if {cum}[{r}, {m}] > {unis}[{c} * {rows} + {r}]:")
    em.emit(f"{out}[{r}, {m}] += 1")
    em.emit("break")
    em.close(4)
    em.bind(node.outputs[0], out)


@emitter(ChoiceFromUniform)
def _choice(em: Emitter, node: Apply) -> None:
    op = node.op
    pvals, unis, rows, outcomes, n, out = _categorical_head(em, node, "size")
    dtype = node.inputs[0].dtype
    em.fail_if(f"{outcomes} == 0 and {rows} * {n} > 0",
               ValueError, f'{op}: the probabilities {_label(node.inputs[0])} have no outcomes')
    if not op.replace:
        message = f"{op}: cannot draw more values without replacement than there are outcomes"
        em.fail_if(f"{n} > {outcomes}", ValueError, message)
    p, c, r, m, acc, pick, u = (em.fresh(t) for t in ("p", "c", "r", "j", "acc", "pick", "uu"))
    em.emit(f"{out} = new_zeros(({rows}, {n}), {_np(op.dtype)})")
    em.emit(f"{p} = contiguous({pvals}).copy()")
    em.open(f"for {c} in range({n}):")
    em.open(f"for {r} in range({rows}):")
    em.emit(f"{u} = {unis}[{c} * {rows} + {r}]")
    em.emit(f"{acc} = {_literal(0, dtype)}")
    em.emit(f"{pick} = -1")
    em.open(f"for {m} in range({outcomes}):")
    em.emit(f"{acc} = {acc} + {p}[{r}, {m}]")
    em.open(f"if {acc} > {u}:")
    em.emit(f"{pick} = {m}")
    em.emit("break")
    em.close(2)
    em.open(f"if {pick} < 0:")  # rounding left the row's sum below u: its last possible outcome
    em.emit(f"{pick} = {outcomes} - 1")
    em.open(f"for {m} in range({outcomes} - 1, -1, -1):")
    em.open(f"if {p}[{r}, {m}] > 0:")
    em.emit(f"{pick} = {m}")
    em.emit("break")
    em.close(3)
    em.emit(f"{out}[{r}, {c}] = {pick}")
    if not op.replace:  # remove the outcome and renormalize by a sequential sum, as the reference
        em.emit(f"{p}[{r}, {pick}] = 0")
        em.emit(f"{acc} = {_literal(0, dtype)}")
        em.open(f"for {m} in range({outcomes}):")
        em.emit(f"{acc} = {acc} + {p}[{r}, {m}]")
        em.close()
        em.open(f"for {m} in range({outcomes}):")
        em.emit(f"{p}[{r}, {m}] = {p}[{r}, {m}] / {acc}")
        em.close()
    em.close(2)
    em.bind(node.outputs[0], out)


def _mt_head(em: Emitter, node: Apply, ndim: int) -> tuple[list[str], str, str, str]:
    """Sizes, element count and a checked copy of the packed state (the new state)."""
    dims, total = _sizes(em, node, ndim)
    n, st = em.fresh("n"), em.fresh("st")
    em.emit(f"{n} = {total}")
    em.emit(f"{st} = mt_checked_copy({em.name(node.inputs[0])})")
    em.bind(node.outputs[0], st)
    return dims, n, st, em.fresh("i")


def _shape_tuple(dims: list[str]) -> str:
    return f"({', '.join(dims)},)" if dims else "()"


def _finish(em: Emitter, node: Apply, out: str, shape: str, scalar: bool) -> None:
    sample = em.bind(node.outputs[1], f"v{len(em.names)}")
    em.emit(f"{sample} = {out}[0]" if scalar else f"{sample} = {out}.reshape({shape})")


def _flat_param(em: Emitter, var, dims: list[str], i: str) -> str:
    """The expression of parameter ``var`` at flat element ``i`` of the sample, as float64 (a
    scalar is read as it is; an array is broadcast to the sample's shape first, which checks it)."""
    name = em.name(var)
    if var.ndim == 0:
        return f"np.float64({name})"
    flat = em.fresh("pf")
    em.emit(f"{flat} = contiguous(np.broadcast_to({name}, {_shape_tuple(dims)})).ravel()")
    return f"np.float64({flat}[{i}])"


@emitter(RandomStateDraw)
def _random_state_draw(em: Emitter, node: Apply) -> None:
    op = node.op
    dims, n, st, i = _mt_head(em, node, op.ndim)
    a = _flat_param(em, node.inputs[2], dims, i)
    b = _flat_param(em, node.inputs[3], dims, i)
    out, av, bv = em.fresh("z"), em.fresh("pa"), em.fresh("pb")
    em.emit(f"{out} = new_empty({n}, {_np(op.dtype)})")
    em.open(f"for {i} in range({n}):")
    em.emit(f"{av} = {a}")
    em.emit(f"{bv} = {b}")
    cast = _np(op.dtype)
    if op.dist == "uniform":
        em.emit(f"{out}[{i}] = {cast}({av} + ({bv} - {av}) * mt_double({st}))")
    elif op.dist == "normal":
        em.emit(f"{out}[{i}] = {cast}({av} + {bv} * mt_gauss({st}))")
    elif op.dist == "binomial":
        count, t = em.fresh("cnt"), em.fresh("t")
        em.fail_if(f"{av} < 0",
                   ValueError, f'{op}: the number of trials {_label(node.inputs[2])} is negative')
        em.emit(f"{count} = 0")
        em.open(f"for {t} in range(np.int64({av})):")
        em.emit(f"if mt_double({st}) < {bv}:")
        em.emit(f"    {count} += 1")
        em.close()
        em.emit(f"{out}[{i}] = {cast}({count})")
    else:
        message = f"{op}: high {_label(node.inputs[3])} is below low {_label(node.inputs[2])}"
        em.fail_if(f"{bv} < {av}", ValueError, message)
        em.emit(f"{out}[{i}] = {cast}({av} + np.floor(mt_double({st}) * ({bv} - {av} + 1.0)))")
    em.close()
    _finish(em, node, out, _shape_tuple(dims), op.ndim == 0)


@emitter(RandomStatePermutation)
def _random_state_permutation(em: Emitter, node: Apply) -> None:
    op = node.op
    dims, count, st, r = _mt_head(em, node, op.ndim)
    m, out, i, j, tmp = em.fresh("m"), em.fresh("z"), em.fresh("i"), em.fresh("j"), em.fresh("tmp")
    em.emit(f"{m} = np.int64({em.name(node.inputs[2])})")
    em.fail_if(f"{m} < 0", ValueError, f'{op}: n {_label(node.inputs[2])} is negative')
    em.emit(f"{out} = new_empty(({count}, {m}), {_np(op.dtype)})")
    em.open(f"for {r} in range({count}):")
    em.open(f"for {i} in range({m}):")
    em.emit(f"{out}[{r}, {i}] = {i}")
    em.close()
    em.open(f"for {i} in range({m} - 1, 0, -1):")  # j = floor(double * (i + 1)) <= i
    em.emit(f"{j} = min(np.int64(mt_double({st}) * ({i} + 1)), {i})")
    em.emit(f"{tmp} = {out}[{r}, {i}]")
    em.emit(f"{out}[{r}, {i}] = {out}[{r}, {j}]")
    em.emit(f"{out}[{r}, {j}] = {tmp}")
    em.close(2)
    sample = em.bind(node.outputs[1], f"v{len(em.names)}")
    em.emit(f"{sample} = {out}.reshape(({''.join(d + ', ' for d in dims)}{m}))")


def _emit_cumulative(em: Emitter, node: Apply, k: int, m: str) -> tuple[str, str]:
    """Sequential float64 cumulative sums of the probabilities (input ``k``, checked >= 0 and
    finite) and the last outcome of positive probability (the answer when rounding leaves the
    total below a double)."""
    p = em.name(node.inputs[k])
    cum, acc, last, j = em.fresh("cum"), em.fresh("acc"), em.fresh("last"), em.fresh("j")
    em.emit(f"{cum} = new_empty({m}, np.float64)")
    em.emit(f"{acc} = 0.0")
    em.emit(f"{last} = {m} - 1")
    em.open(f"for {j} in range({m}):")
    message = f"{node.op}: the probabilities {_label(node.inputs[k])} must be finite and >= 0"
    em.fail_if(f"not ({p}[{j}] >= 0 and np.isfinite({p}[{j}]))", ValueError, message)
    em.emit(f"{acc} = {acc} + np.float64({p}[{j}])")
    em.emit(f"{cum}[{j}] = {acc}")
    em.close()
    em.open(f"for {j} in range({m} - 1, -1, -1):")
    em.open(f"if {p}[{j}] > 0:")
    em.emit(f"{last} = {j}")
    em.emit("break")
    em.close(2)
    return cum, last


def _emit_categorical(em: Emitter, cum: str, last: str, m: str, st: str, pick: str) -> None:
    d, j = em.fresh("dd"), em.fresh("j")
    em.emit(f"{d} = mt_double({st})")
    em.emit(f"{pick} = {last}")
    em.open(f"for {j} in range({m}):")
    em.open(f"if {cum}[{j}] > {d}:")
    em.emit(f"{pick} = {j}")
    em.emit("break")
    em.close(2)


@emitter(RandomStateChoice)
def _random_state_choice(em: Emitter, node: Apply) -> None:
    op = node.op
    dims, k, st, i = _mt_head(em, node, op.ndim)
    a, p = em.name(node.inputs[2]), em.name(node.inputs[3])
    m, out, pick = em.fresh("m"), em.fresh("z"), em.fresh("pick")
    em.emit(f"{m} = {a}.shape[0]")
    em.fail_if(f"{m} == 0 and {k} > 0",
               ValueError, f'{op}: cannot choose from the empty {_label(node.inputs[2])}')
    em.emit(f"{out} = new_empty({k}, {_np(op.dtype)})")
    if op.replace:
        message = f"{op}: p {_label(node.inputs[3])} must have one entry per element of a"
        em.fail_if(f"{p}.shape[0] != 0 and {p}.shape[0] != {m}", ValueError, message)
        em.open(f"if {p}.shape[0] == 0:")
        em.open(f"for {i} in range({k}):")
        # min: a product rounded up to m must not index past the end (the reference does the same)
        em.emit(f"{out}[{i}] = {a}[min(np.int64(mt_double({st}) * {m}), {m} - 1)]")
        em.close(2)
        em.open("else:")
        cum, last = _emit_cumulative(em, node, 3, m)
        em.open(f"for {i} in range({k}):")
        _emit_categorical(em, cum, last, m, st, pick)
        em.emit(f"{out}[{i}] = {a}[{pick}]")
        em.close(2)
    else:
        perm, j, tmp = em.fresh("perm"), em.fresh("j"), em.fresh("tmp")
        em.open(f"if {p}.shape[0] == 0:")
        em.fail_if(f"{k} > {m}", ValueError, f'{op}: cannot draw more values without replacement than a has')
        em.emit(f"{perm} = np.arange({m})")
        em.open(f"for {i} in range({k}):")  # a partial Fisher-Yates shuffle: i <= j < m
        em.emit(f"{j} = min({i} + np.int64(mt_double({st}) * ({m} - {i})), {m} - 1)")
        em.emit(f"{tmp} = {perm}[{i}]")
        em.emit(f"{perm}[{i}] = {perm}[{j}]")
        em.emit(f"{perm}[{j}] = {tmp}")
        em.emit(f"{out}[{i}] = {a}[{perm}[{i}]]")
        em.close(2)
        em.open("else:")  # each draw: the remaining outcomes' cumulative sums against a double times their total
        message = f"{op}: p {_label(node.inputs[3])} must have one entry per element of a"
        em.fail_if(f"{p}.shape[0] != {m}", ValueError, message)
        left, jj, total = em.fresh("left"), em.fresh("j"), em.fresh("tot")
        em.emit(f"{left} = new_empty({m}, np.float64)")
        em.open(f"for {jj} in range({m}):")
        message = f"{op}: the probabilities {_label(node.inputs[3])} must be finite and >= 0"
        em.fail_if(f"not ({p}[{jj}] >= 0 and np.isfinite({p}[{jj}]))", ValueError, message)
        em.emit(f"{left}[{jj}] = np.float64({p}[{jj}])")
        em.close()
        cum, last = em.fresh("cum"), em.fresh("last")
        em.emit(f"{cum} = new_empty({m}, np.float64)")
        em.open(f"for {i} in range({k}):")
        em.emit(f"{total} = 0.0")
        em.open(f"for {jj} in range({m}):")
        em.emit(f"{total} = {total} + {left}[{jj}]")
        em.emit(f"{cum}[{jj}] = {total}")
        em.close()
        message = f"{op}: fewer outcomes of positive probability in p than values to draw"
        em.fail_if(f"not {total} > 0", ValueError, message)
        em.emit(f"{last} = {m} - 1")
        em.open(f"for {jj} in range({m} - 1, -1, -1):")
        em.open(f"if {left}[{jj}] > 0:")
        em.emit(f"{last} = {jj}")
        em.emit("break")
        em.close(2)
        d = em.fresh("dd")
        em.emit(f"{d} = mt_double({st}) * {total}")
        em.emit(f"{pick} = {last}")
        em.open(f"for {jj} in range({m}):")
        em.open(f"if {cum}[{jj}] > {d}:")
        em.emit(f"{pick} = {jj}")
        em.emit("break")
        em.close(2)
        em.emit(f"{out}[{i}] = {a}[{pick}]")
        em.emit(f"{left}[{pick}] = 0.0")
        em.close(2)
    _finish(em, node, out, _shape_tuple(dims), op.ndim == 0)


@emitter(RandomStateMultinomial)
def _random_state_multinomial(em: Emitter, node: Apply) -> None:
    op = node.op
    dims, count, st, r = _mt_head(em, node, op.ndim)
    n, m, out, t, pick = em.fresh("ntr"), em.fresh("m"), em.fresh("z"), em.fresh("t"), em.fresh("pick")
    em.emit(f"{n} = np.int64({em.name(node.inputs[2])})")
    em.emit(f"{m} = {em.name(node.inputs[3])}.shape[0]")
    em.fail_if(f"{n} < 0", ValueError, f'{op}: n {_label(node.inputs[2])} is negative')
    em.fail_if(f"{m} == 0 and {n} * {count} > 0",
               ValueError, f'{op}: pvals {_label(node.inputs[3])} has no outcomes')
    cum, last = _emit_cumulative(em, node, 3, m)
    em.emit(f"{out} = new_zeros(({count}, {m}), {_np(op.dtype)})")
    em.open(f"for {r} in range({count}):")
    em.open(f"for {t} in range({n}):")
    _emit_categorical(em, cum, last, m, st, pick)
    em.emit(f"{out}[{r}, {pick}] += 1")
    em.close(2)
    sample = em.bind(node.outputs[1], f"v{len(em.names)}")
    em.emit(f"{sample} = {out}.reshape(({''.join(d + ', ' for d in dims)}{m}))")
