"""The numba backend: the whole optimized graph printed as one Python function, jitted with
``numba.njit(cache=True)`` from a module in the kernel cache.

``compile_graph(inputs, outputs)`` returns a kernel with the same calling convention as the numpy
backend's, plus ``kernel.loop(n, values, updated)`` running n steps inside compiled code and
``kernel.source`` (the generated module text).

>>> import numpy as np, symgrad.tensor as T
>>> x = T.dvector("x")
>>> compile_graph([x], [T.exp(x)])([np.zeros(2)])
[array([1., 1.])]
"""
from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np

from ...rewrite.alias import overlap
from ...graph import Variable, toposort
from ...rewrite import LOWER_IFELSE, OPTIMIZE, ROW_STREAMS
from ...tensor.rowstream import RowStream
from .aligned import aligned_copy, is_aligned
from .cache import load_module, lookup_plan, store_plan  # noqa: F401  (the backend's plan cache)
from .codegen import ROW_BLOCK_WIDE, generate
from .inplace import plan_inplace
from .threads import ThreadChooser, parallel_kernel, parallel_loop, serial_source


# the rewrites run before this backend lowers a graph: the shared ones, then one pass over the rows
# for each matrix-vector product pair a compiled kernel can stream (rewrite/rowstream.py)
PIPELINE = OPTIMIZE.then(ROW_STREAMS, LOWER_IFELSE)


def _loop_source(inputs: Sequence[Variable], n_out: int, updated: dict[int, int], kernel: str = "kernel",
                 inplace: Sequence[int] = (), name: str = "loop") -> str:
    """``loop(n, a0, ...)``: call ``kernel`` n times, feeding each update back into its input slot.

    A slot the kernel writes in place starts as a copy: the caller's buffer stays as it was until
    every step succeeded (the loop's results replace it then)."""
    args = [f"a{i}" for i in range(len(inputs))]
    state = list(args)
    lines = [f"def {name}(n, " + ", ".join(args) + "):"]
    for slot in updated:
        # state is carried in C-contiguous arrays so every call sees one type (one specialization)
        if slot in inplace:
            lines.append(f"    s{slot} = a{slot}.copy()")
            state[slot] = f"s{slot}"
        elif inputs[slot].ndim:
            lines.append(f"    s{slot} = np.ascontiguousarray(a{slot})")
            state[slot] = f"s{slot}"
        else:
            lines.append(f"    s{slot} = a{slot}")
            state[slot] = f"s{slot}"
    lines.append("    for step in range(n - 1):")
    lines.append(f"        r = {kernel}({', '.join(state)})")
    for slot, out_index in updated.items():
        conv = "np.ascontiguousarray({})" if inputs[slot].ndim else "{}"
        lines.append(f"        s{slot} = " + conv.format(f"r[{out_index}]"))
    lines.append(f"    return {kernel}({', '.join(state)})")
    return "\n".join(lines)


def compile_graph(inputs: Sequence[Variable], outputs: Sequence[Variable],
                  updated: dict[int, int] | None = None, source: str | None = None) -> Callable:
    """A kernel computing ``outputs`` from arrays for ``inputs``.

    ``updated`` maps an input slot to the output index that replaces it between steps of ``loop``.
    ``source``: the kernel generated earlier for this graph (from :func:`lookup_plan`), if known.
    """
    updated = updated or {}
    if source is not None:
        return _wrap(source, inputs, outputs, updated)
    inplace = plan_inplace(inputs, outputs, updated)
    source = generate(inputs, outputs, inplace=inplace)
    slots = tuple(inplace.values())
    wide = wide_slot(inputs, outputs)
    if wide is not None:  # a second kernel in wider row blocks, compiled when first called
        wide_source = generate(inputs, outputs, inplace=inplace, row_block=ROW_BLOCK_WIDE)
        start, wide_start = source.index("def "), wide_source.index("def ")
        if source[:start] != wide_source[:wide_start]:  # the _W functions read the same constants
            raise RuntimeError("numba backend: the wide copy of a kernel has other module constants")
        source = f"# wide row pass reads: a{wide}\n" + source + "\n\n\n" + function_copy(wide_source, "_W")
    streamed = row_slots(inputs, outputs)
    if streamed:
        source = f"# row passes read: {', '.join(f'a{k}' for k in streamed)}\n" + source
    kernels = [("kernel", "loop")] + ([("kernel_W", "loop_W")] if wide is not None else [])
    if updated and "numba.prange" in source:
        # numba bug: a function compiled in a process where a callee containing a parallel loop was
        # loaded from numba's cache segfaults when it is itself loaded from the cache later. So the
        # loop gets its own copy of the kernel (names ending in _L, not cached on their own): they
        # are compiled with the loop, always in the same process, and stored inside its entry.
        source += "\n\n\n" + loop_copy(source)
        for kernel, loop in kernels:
            source += "\n\n\n" + _loop_source(inputs, len(outputs), updated, kernel + "_L", slots, loop)
    elif updated:
        for kernel, loop in kernels:
            source += "\n\n\n" + _loop_source(inputs, len(outputs), updated, kernel, slots, loop)
    return _wrap(source, inputs, outputs, updated)


def row_slots(inputs: Sequence[Variable], outputs: Sequence[Variable], dtype: str | None = None) -> list[int]:
    """The input slots row passes read directly as their X (of ``dtype`` if given), in graph order.
    An X computed inside the kernel (a minibatch slice, a cast) is not an input slot."""
    slot_of = {id(v): k for k, v in enumerate(inputs)}
    found: list[int] = []
    for node in toposort(outputs):
        X = node.inputs[0] if isinstance(node.op, RowStream) else None
        if X is not None and id(X) in slot_of and (dtype is None or X.dtype == dtype):
            if slot_of[id(X)] not in found:
                found.append(slot_of[id(X)])
    return found


def wide_slot(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> int | None:
    """The first input slot a float32 row pass reads directly as its X, if any: the kernel then gets
    a copy with every row pass in blocks of ``ROW_BLOCK_WIDE`` rows, called when that input has
    ``WIDE_MIN_BYTES`` or more (see codegen.ROW_BLOCK_WIDE). A kernel whose float32 passes read only
    computed matrices keeps the one kernel: their sizes are not known before the call."""
    found = row_slots(inputs, outputs, "float32")
    return found[0] if found else None


def loop_copy(source: str) -> str:
    r"""Every function of ``source`` again, renamed ``name_L`` (calls between them renamed too).

    >>> print(loop_copy("def kernel(a0):\n    return kernel_part0(a0)\n\n\ndef kernel_part0(a0):\n    return (a0,)"))
    def kernel_L(a0):
        return kernel_part0_L(a0)
    <BLANKLINE>
    <BLANKLINE>
    def kernel_part0_L(a0):
        return (a0,)
    """
    return function_copy(source, "_L")


def function_copy(source: str, suffix: str) -> str:
    """Every function of ``source`` again, each name (and each call between them) with ``suffix``;
    module constants (C0 = ...) before the first function are shared, not copied."""
    names = re.findall(r"^def (\w+)\(", source, flags=re.MULTILINE)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    start = source.index("def ")
    return pattern.sub(lambda m: m.group(1) + suffix, source[start:])


def header_slots(source: str, what: str) -> tuple[int, ...]:
    r"""The input slots a generated module's header comment ``# {what}: a0, a2`` names.

    >>> header_slots("# row passes read: a0, a3\ndef kernel(a0): ...", "row passes read")
    (0, 3)
    """
    found = re.search(rf"^# {re.escape(what)}: (.*)$", source, flags=re.MULTILINE)
    return tuple(int(a[1:]) for a in found.group(1).split(", ")) if found else ()


def inplace_slots(source: str) -> tuple[int, ...]:
    """The input slots a generated kernel writes its updates into."""
    return header_slots(source, "updates written in place")


# float32 row passes over an input of at least this size run in blocks of codegen.ROW_BLOCK_WIDE
# rows (a second kernel, compiled when first needed): such data stream from memory every step
WIDE_MIN_BYTES = 64 * 1024 * 1024
# ``loop`` copies an input that a row pass reads whole every step and no step replaces onto a cache
# line when its size is in this range and the loop runs at least this many steps. Misaligned, such
# an input that stays in the caches between steps (400x784 float64: 2.5 MB) costs ~12% per step; the
# copy costs about two steps. One streamed from memory every step (4000x784: 25 MB) showed no
# measurable gain, and its copy is slow (page faults). Inputs only sliced per step (a minibatch of a
# shared dataset) are never copied: a step reads a fraction of them.
ALIGN_MIN_BYTES = 32 * 1024
ALIGN_MAX_BYTES = 8 * 1024 * 1024
ALIGN_MIN_STEPS = 32



def _wrap(source: str, inputs: Sequence[Variable], outputs: Sequence[Variable], updated: dict) -> Callable:
    jit_names = re.findall(r"^def (\w+)\(", source, flags=re.MULTILINE)
    namespace = load_module(source, jit_names)

    def load_serial():
        text = serial_source(source)
        return load_module(text, re.findall(r"^def (\w+)\(", text, flags=re.MULTILINE))

    def entry(suffix: str):
        jitted, run_loop = namespace["kernel" + suffix], namespace.get("loop" + suffix)
        if "numba.prange" in source:  # a row pass runs on threads: see threads.py
            chooser = ThreadChooser()
            jitted = parallel_kernel(namespace, load_serial, chooser, "kernel" + suffix)
            run_loop = run_loop and parallel_loop(namespace, load_serial, chooser, updated, "loop" + suffix)
        return jitted, run_loop

    jitted, run_loop = entry("")
    wide_at = next(iter(header_slots(source, "wide row pass reads")), None)
    if wide_at is not None:  # numba compiles the wide copy (*_W) only when it is first called
        (narrow, narrow_loop), (wide, wide_loop) = (jitted, run_loop), entry("_W")

        def jitted(*args):
            return (wide if args[wide_at].nbytes >= WIDE_MIN_BYTES else narrow)(*args)

        if run_loop is not None:
            def run_loop(n, *args):
                return (wide_loop if args[wide_at].nbytes >= WIDE_MIN_BYTES else narrow_loop)(n, *args)
    scalar_in = [v.ndim == 0 for v in inputs]
    half_in = [v.dtype == "float16" for v in inputs]
    out_dtypes = [np.dtype(v.dtype) for v in outputs]
    reference: list = []

    scalar_at = [k for k, s in enumerate(scalar_in) if s]
    any_half = any(half_in)

    array_at = [k for k, s in enumerate(scalar_in) if not s]
    inplace_at = inplace_slots(source)
    others_of = {k: [j for j in array_at if j != k] for k in inplace_at}

    def prepare(values):
        if any_half:
            values = [v.astype(np.float32) if h else v for v, h in zip(values, half_in)]
        values = list(values)
        for k in scalar_at:
            values[k] = values[k][()]
        # numba compiles one specialization per memory layout (~seconds each); a C-contiguous copy
        # of a Fortran array, a transposed or strided view is cheaper than that, and row passes
        # stream C rows fastest anyway. (Read-only arrays keep their own specialization: no copy.)
        for k in array_at:
            if not values[k].flags.c_contiguous:
                values[k] = np.ascontiguousarray(values[k])
        # a buffer the kernel writes in place must be writable and must not be read through
        # another argument (a borrowed value passed twice): else the kernel gets a copy
        for k in inplace_at:
            buf = values[k]
            if not buf.flags.writeable or any(overlap(buf, values[j]) for j in others_of[k]):
                values[k] = buf.copy()
        return values

    # numba returns 0-d results as Python scalars and float16 results as float32 arrays
    convert_at = [k for k, v in enumerate(outputs) if v.ndim == 0 or v.dtype == "float16"]

    def finish(results):
        if not convert_at:
            return list(results)
        results = list(results)
        for k in convert_at:
            results[k] = np.asarray(results[k], dtype=out_dtypes[k])
        return results

    def explain(values, error):
        """Re-run the reference backend to turn a kernel's static message into a precise one."""
        if not reference:
            from ..numpy import compile_graph as numpy_compile

            reference.append(numpy_compile(inputs, outputs))
        try:
            reference[0](values)
        except type(error) as precise:
            raise precise from None
        raise error

    def kernel(values):
        try:
            results = jitted(*prepare(values))
        except (ValueError, IndexError) as e:
            explain(values, e)
        return finish(results)

    # inputs a row pass streams whole every step and no step replaces: one off a cache line is
    # copied onto one when the loop runs long enough (see aligned.py)
    streamed_at = [k for k in header_slots(source, "row passes read") if k not in updated]

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
        except (ValueError, IndexError) as e:
            explain(values, e)
        if copies:  # a result that is a view of a private copy would keep the whole copy alive
            results = [r.copy() if isinstance(r, np.ndarray) and any(overlap(r, c) for c in copies) else r
                       for r in results]
        return results

    kernel.source = source
    kernel.inplace_slots = inplace_at
    # the pieces a generated call path (compile/fastcall.py) uses instead of kernel(values)
    kernel.direct = SimpleNamespace(jitted=jitted, explain=explain, scalar_at=scalar_at, array_at=array_at,
                                    inplace_at=inplace_at, convert_at=convert_at, out_dtypes=out_dtypes,
                                    any_half=any_half)
    kernel.loop = loop if run_loop is not None else None
    kernel.jitted = jitted
    return kernel
