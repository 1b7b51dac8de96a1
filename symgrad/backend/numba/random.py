"""Emitters of the random ops (``tensor/random.py``): one loop over the elements inside the kernel.

The MRG31k3p recurrence is not printed: the kernel calls ``mrg31k3p_next`` (helpers.py), the
reference's own step function compiled by numba, so the bits are the reference's by construction.
Each stream's state stays in registers for all its elements (stream ``s`` makes elements
``s, s + n_streams, ...``, the order the reference computes them in) and is written back once.
Every array index is checked or bounded by the loop before it is used.
"""
from __future__ import annotations

from ...graph import Apply
from ...tensor.random import NORM32, NORM64, ChoiceFromUniform, MRGUniform, MultinomialFromUniform
from .emit import Emitter, _label, _literal, _msg, _np, emitter


def _sizes(em: Emitter, node: Apply, ndim: int) -> tuple[list[str], str]:
    """Read the ``size`` vector (input 1) into ``ndim`` checked locals; returns them and their product."""
    size = em.name(node.inputs[1])
    em.emit(f"if {size}.shape[0] != {ndim}:")
    em.emit(f"    raise ValueError({_msg(f'{node.op}: size {_label(node.inputs[1])} must have {ndim} entries')})")
    dims = []
    for d in range(ndim):
        dim = em.fresh("d")
        em.emit(f"{dim} = np.int64({size}[{d}])")
        em.emit(f"if {dim} < 0:")
        em.emit(f"    raise ValueError({_msg(f'{node.op}: size {_label(node.inputs[1])} has a negative entry')})")
        dims.append(dim)
    return dims, " * ".join(dims) if dims else "1"


@emitter(MRGUniform)
def _mrg_uniform(em: Emitter, node: Apply) -> None:
    op = node.op
    dims, total = _sizes(em, node, op.ndim)
    state = em.name(node.inputs[0])
    n, streams, new, out = em.fresh("n"), em.fresh("ns"), em.fresh("st"), em.fresh("u")
    em.emit(f"{n} = {total}")
    em.emit(f"{new} = np.ascontiguousarray({state}).copy()")  # the new state: never the input's buffer
    em.emit(f"{streams} = {new}.shape[0]")
    em.emit(f"if {new}.shape[1] != 6 or ({streams} == 0 and {n} > 0):")
    bad = f"{op}: the state {_label(node.inputs[0])} must have shape (n_streams, 6) with n_streams >= 1"
    em.emit(f"    raise ValueError({_msg(bad)})")
    em.emit(f"{out} = np.empty({n}, dtype={_np(op.dtype)})")
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
    em.emit(f"if {n} < 0:")
    em.emit(f"    raise ValueError({_msg(f'{node.op}: {what} {_label(node.inputs[2])} is negative')})")
    em.emit(f"if {unis}.shape[0] != {rows} * {n}:")
    message = f"{node.op}: {_label(node.inputs[1])} must hold {what} * rows uniforms"
    em.emit(f"    raise ValueError({_msg(message)})")
    return pvals, unis, rows, outcomes, n, em.fresh("z")


@emitter(MultinomialFromUniform)
def _multinomial(em: Emitter, node: Apply) -> None:
    pvals, unis, rows, outcomes, n, out = _categorical_head(em, node, "n")
    dtype = node.inputs[0].dtype
    cum = em.fresh("cum")
    c, r, m, acc = em.fresh("c"), em.fresh("r"), em.fresh("j"), em.fresh("acc")
    em.emit(f"{out} = np.zeros(({rows}, {outcomes}), dtype={_np(node.outputs[0].dtype)})")
    # cumulative sums in the probabilities' dtype, added in order (numpy's cumsum adds so too)
    em.emit(f"{cum} = np.empty(({rows}, {outcomes}), dtype={_np(dtype)})")
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
    em.emit(f"if {outcomes} == 0 and {rows} * {n} > 0:")
    em.emit(f"    raise ValueError({_msg(f'{op}: the probabilities {_label(node.inputs[0])} have no outcomes')})")
    if not op.replace:
        em.emit(f"if {n} > {outcomes}:")
        em.emit(f"    raise ValueError({_msg(f'{op}: cannot draw more values without replacement than there are outcomes')})")
    p, c, r, m, acc, pick, u = (em.fresh(t) for t in ("p", "c", "r", "j", "acc", "pick", "uu"))
    em.emit(f"{out} = np.zeros(({rows}, {n}), dtype={_np(op.dtype)})")
    em.emit(f"{p} = np.ascontiguousarray({pvals}).copy()")
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
