"""A numba kernel as seen from Python: :func:`build_kernel` turns a loaded
:class:`~symgrad.backend.numba.plan.KernelPlan` into a :class:`~symgrad.backend.kernel.Kernel`.

This is the one place that knows what numba's compiled code needs of its arguments and gives
back (:class:`ArgumentLayout`, printed as lines): float16 values live in float32 inside the
kernel; 0-d values are passed as scalars; arrays are C-contiguous (numba compiles one
specialization per memory layout, ~seconds each, and row passes stream C rows fastest); a buffer
written in place is writable and read through no other argument; 0-d results come back as Python
scalars and float16 results as float32. ``Kernel.call`` and ``loop`` run those lines, and
``Kernel.direct`` hands them to callers that print their own call path (``compile/fastcall.py``).

>>> layout = ArgumentLayout(scalar_at=(1,), half_at=(), inplace_at=(0,), convert_at=(0,), out_dtypes=("float64",))
>>> lines, args = layout.prepare(["x", "s"])
>>> print("\\n".join(lines)); args
k0 = x if x.flags.c_contiguous else K_ascontiguousarray(x)
if not k0.flags.writeable:
    k0 = k0.copy()
['k0', 's[()]']
>>> layout.result(0, "r")
'K_asarray(r[0], K_OD0)'
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ...graph import Variable, toposort
from ...rewrite.alias import overlap
from ...tensor.reference import interpret
from ..kernel import DirectCall, Kernel
from .aligned import aligned_copy, is_aligned
from .arena import Arena
from .blas import keep_blas_threads
from .cache import load_module
from .plan import KernelPlan
from .sequence import entries
from .threads import ThreadChooser, parallel_kernel, parallel_loop

# float32 row passes over an input of at least this size run in blocks of rowpass.ROW_BLOCK_WIDE
# rows (a second kernel, compiled when first needed): such data stream from memory every step
WIDE_MIN_BYTES = 64 * 1024 * 1024
# ``loop`` copies an input that a row pass reads whole every step and no step replaces onto a cache
# line when its size is in this range and the loop runs at least this many steps. Misaligned, such
# an input that stays in the caches between steps costs ~12% per step; the copy costs about two
# steps; one streamed from memory every step showed no measurable gain (docs/PERFORMANCE.md,
# "Inputs on a cache line"). Inputs only sliced per step (a minibatch of a shared dataset) are
# never copied: a step reads a fraction of them.
ALIGN_MIN_BYTES = 32 * 1024
ALIGN_MAX_BYTES = 8 * 1024 * 1024
ALIGN_MIN_STEPS = 32
# what a kernel raises for bad shapes or indices (its messages are static: see ``explain``)
KERNEL_ERRORS = (ValueError, IndexError)


@dataclass(frozen=True)
class ArgumentLayout:
    """What numba's compiled code needs of each argument slot and result index (module docstring).
    ``prepare`` and ``result`` print it; the names the lines read are in :data:`NAMESPACE` plus
    ``K_OD<k>`` (:meth:`namespace`)."""

    scalar_at: tuple[int, ...]
    half_at: tuple[int, ...]
    inplace_at: tuple[int, ...]
    convert_at: tuple[int, ...]
    out_dtypes: tuple[str, ...]

    @classmethod
    def of(cls, inputs: Sequence[Variable], outputs: Sequence[Variable], inplace_at: Sequence[int]) -> "ArgumentLayout":
        return cls(scalar_at=tuple(k for k, v in enumerate(inputs) if v.ndim == 0),
                   half_at=tuple(k for k, v in enumerate(inputs) if v.dtype == "float16"),
                   inplace_at=tuple(inplace_at),
                   convert_at=tuple(k for k, v in enumerate(outputs) if v.ndim == 0 or v.dtype == "float16"),
                   out_dtypes=tuple(v.dtype for v in outputs))

    def prepare(self, values: Sequence[str]) -> tuple[list[str], list[str]]:
        """Lines turning the expressions ``values`` (one per slot) into the kernel's arguments,
        and the argument expressions. The lines assign only ``k<slot>``."""
        lines, args = [], []
        arrays = []
        for slot, v in enumerate(values):
            if slot in self.half_at:  # numba has no float16 arrays (see emit._np)
                lines.append(f"k{slot} = {v}.astype(K_float32)")
                v = f"k{slot}"
            if slot in self.scalar_at:
                args.append(f"{v}[()]")
                continue
            # (read-only arrays keep their own specialization: no copy)
            lines.append(f"k{slot} = {v} if {v}.flags.c_contiguous else K_ascontiguousarray({v})")
            args.append(f"k{slot}")
            arrays.append(slot)
        for slot in self.inplace_at:
            # a buffer the kernel writes in place must be writable and must not be read through
            # another argument (a borrowed value passed twice): else the kernel gets a copy
            others = "".join(f" or K_overlap(k{slot}, k{j})" for j in arrays if j != slot)
            lines.append(f"if not k{slot}.flags.writeable{others}:")
            lines.append(f"    k{slot} = k{slot}.copy()")
        return lines, args

    def result(self, k: int, results: str) -> str:
        """The expression of result ``k`` of the kernel's tuple ``results``."""
        return f"K_asarray({results}[{k}], K_OD{k})" if k in self.convert_at else f"{results}[{k}]"

    def namespace(self) -> dict:
        return dict(NAMESPACE, **{f"K_OD{k}": np.dtype(d) for k, d in enumerate(self.out_dtypes)})


NAMESPACE = {"K_float32": np.float32, "K_ascontiguousarray": np.ascontiguousarray, "K_asarray": np.asarray,
             "K_overlap": overlap}


def _functions(layout: ArgumentLayout, n_in: int, n_out: int, entry: Callable, explain: Callable) -> dict:
    """``call(values)``, ``prepare(values)`` and ``finish(results)`` printed from ``layout``."""
    values = [f"v{k}" for k in range(n_in)]
    unpack = [f"    {', '.join(values)}, = values"] if values else []
    lines, args = layout.prepare(values)
    body = ["    " + line for line in lines]
    results = ", ".join(layout.result(k, "r") for k in range(n_out))
    source = "\n".join(
        ["def call(values):"] + unpack + body
        + ["    try:", f"        r = K_ENTRY({', '.join(args)})",
           "    except K_ERRORS as e:", "        K_EXPLAIN(values, e)", f"    return [{results}]", "",
           "def prepare(values):"] + unpack + body + [f"    return [{', '.join(args)}]", "",
           "def finish(r):", f"    return [{results}]"])
    namespace = dict(layout.namespace(), K_ENTRY=entry, K_EXPLAIN=explain, K_ERRORS=KERNEL_ERRORS)
    exec(compile(source, "<symgrad numba call>", "exec"), namespace)  # noqa: S102 - printed above
    return namespace


def build_kernel(plan: KernelPlan, inputs: Sequence[Variable], outputs: Sequence[Variable],
                 updated: dict[int, int]) -> Kernel:
    """The kernel of ``plan`` (its module loaded from the kernel cache) for this graph's types.
    ``inputs``/``outputs`` may be the unoptimized graph: only their types are read, and the
    reference backend runs them to explain an error."""
    # (a split kernel runs part by part from Python; only ``loop`` compiles it whole: sequence.py)
    namespace = entries(plan.module.parts, load_module(plan.module))
    info = plan.info

    def entry(suffix: str):
        jitted, run_loop = namespace["kernel" + suffix], namespace.get("loop" + suffix)
        if info.threaded:  # a row pass runs on threads: see threads.py
            chooser = ThreadChooser()
            jitted = parallel_kernel(namespace, chooser, "kernel" + suffix)
            run_loop = run_loop and parallel_loop(namespace, chooser, updated, "loop" + suffix)
        return jitted, run_loop

    jitted, run_loop = entry("")
    wide_at = info.wide_slot
    if wide_at is not None:  # numba compiles the wide copy (*_W) only when it is first called
        (narrow, narrow_loop), (wide, wide_loop) = (jitted, run_loop), entry("_W")

        def jitted(*args):
            return (wide if args[wide_at].nbytes >= WIDE_MIN_BYTES else narrow)(*args)

        if run_loop is not None:
            def run_loop(n, *args):
                return (wide_loop if args[wide_at].nbytes >= WIDE_MIN_BYTES else narrow_loop)(n, *args)

    if info.loops:  # a loop caps BLAS's threads; one that raises leaves them capped (see blas.py)
        jitted = keep_blas_threads(jitted)
        run_loop = run_loop and keep_blas_threads(run_loop)
    if info.one_blas_thread:  # (numba's threads run the convolutions: blas.py)
        jitted = keep_blas_threads(jitted, at=1)
        run_loop = run_loop and keep_blas_threads(run_loop, at=1)
    if info.arena:  # the kernel's own arrays live in a buffer kept between calls (arena.py)
        arena = Arena()
        jitted = arena.wrap(jitted)
        run_loop = run_loop and arena.wrap(run_loop)

    reference: list = []

    def explain(values, error):
        """Re-run the reference interpreter (tensor/reference.py) to turn a kernel's static message into a precise one."""
        if not reference:  # (built only ever for an error)
            reference.append(interpret(inputs, toposort(outputs), list(outputs)))
        try:
            reference[0](values)
        except type(error) as precise:
            raise precise from None
        raise error

    layout = ArgumentLayout.of(inputs, outputs, info.inplace_slots)
    printed = _functions(layout, len(inputs), len(outputs), jitted, explain)
    prepare, finish = printed["prepare"], printed["finish"]
    # inputs a row pass streams whole every step and no step replaces: one off a cache line is
    # copied onto one when the loop runs long enough (see aligned.py)
    streamed_at = [k for k in info.row_slots if k not in updated]

    def loop(n: int, values):
        try:
            args = prepare(values)
            copies = []
            if n >= ALIGN_MIN_STEPS:
                for k in streamed_at:
                    if ALIGN_MIN_BYTES <= args[k].nbytes <= ALIGN_MAX_BYTES and not is_aligned(args[k]):
                        args[k] = aligned_copy(args[k])
                        copies.append(args[k])
            results = finish(run_loop(n, *args))
        except KERNEL_ERRORS as e:
            explain(values, e)
        if copies:  # a result that is a view of a private copy would keep the whole copy alive
            results = [r.copy() if isinstance(r, np.ndarray) and any(overlap(r, c) for c in copies) else r
                       for r in results]
        return results

    direct = DirectCall(entry=jitted, explain=explain, prepare=layout.prepare, result=layout.result,
                        errors=KERNEL_ERRORS, namespace=layout.namespace())
    return Kernel(call=printed["call"], loop=loop if run_loop is not None else None, source=plan.module.source,
                  info=info, direct=direct, plan=plan)
