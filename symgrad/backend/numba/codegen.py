"""Print a whole optimized graph as ONE Python function for numba: :func:`generate`, the entry
point, walks the graph in order, prints each node with its op type's emitter (``EMITTERS``) and
assembles the module: constants, row-pass helpers, and the kernel, split into consecutive parts
of at most ``MAX_PART_LINES`` lines when large.

The printer has one emitter per op type: emitters.py (elementwise, reductions, dot, shape ops,
softmax, conditionals), indexing.py, rowpass.py; the emitter and literals are in emit.py. Fused
elementwise nodes become explicit loops with broadcasting and ranks resolved at generation time;
reductions are loops; dot goes to BLAS through ``np.dot``; indexing is bounds-checked before any
access, so no input can make the kernel read or write out of bounds. 0-d values are plain scalars
inside the kernel.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> source = generate([x], [T.exp(x) * 2])
>>> source.splitlines()[0], source.count("for ")
('def kernel(a0):', 2)
"""
from __future__ import annotations

from typing import Sequence

from ...graph import Variable, toposort
from . import indexing, rowpass  # noqa: F401  (importing them registers their ops' emitters)
from .emit import EMITTERS, ROW_BLOCK, Emitter
from .emitters import _elemwise_head
from .rowpass import ROW_BLOCK_WIDE  # noqa: F401  (re-exported: backend/numba/__init__.py imports it from here)


# --- the whole function ---------------------------------------------------------------------
MAX_PART_LINES = 250  # numba's compile time grows faster than linearly with function size


def generate(inputs: Sequence[Variable], outputs: Sequence[Variable], name: str = "kernel",
             inplace: dict[int, int] | None = None, row_block: int = ROW_BLOCK) -> str:
    """Source of a module-level function ``name(a0, a1, ...)`` returning a tuple of the outputs.

    ``inplace``: {output index: input slot} of updates written into their input's buffer (from
    :func:`~symgrad.backend.numba.inplace.plan_inplace`); those loops run last, after every check.
    ``row_block``: rows per register block of the row passes.
    A large graph is split into consecutive parts of at most ``MAX_PART_LINES`` lines, each its own
    function; ``name`` then calls the parts in order, passing the values each one needs.
    """
    inplace = inplace or {}
    em = Emitter()
    em.row_block = row_block
    args = [em.bind(v, f"a{i}") for i, v in enumerate(inputs)]
    chunks = []  # per node: (lines, names read, names defined)
    last = {id(outputs[k].owner) for k in inplace}
    for node in toposort(outputs):
        if id(node) in last:
            continue
        fn = EMITTERS.get(type(node.op))
        if fn is None:
            raise NotImplementedError(f"numba backend: no code generator for {node.op}")
        start = len(em.lines)
        em.used = set()
        fn(em, node)
        defined = {em.names[id(o)] for o in node.outputs}
        chunks.append((em.lines[start:], em.used - defined, defined))
    if inplace:
        start = len(em.lines)
        em.used = set()
        loops = [_elemwise_head(em, outputs[k].owner, em.name(inputs[slot])) for k, slot in inplace.items()]
        for loop in loops:
            loop()
        defined = {em.names[id(outputs[k])] for k in inplace}
        chunks.append((em.lines[start:], em.used - defined, defined))
        em.globals.insert(0, "# updates written in place: " + ", ".join(f"a{slot}" for slot in inplace.values()))
    results = [em.name(v) for v in outputs]
    globals_ = "\n".join(em.globals + [""] + em.extra) if em.extra else "\n".join(em.globals)
    prelude = globals_ + "\n\n\n" if globals_ else ""
    ret = f"    return ({', '.join(results)}{',' if results else ''})"
    header = f"def {name}({', '.join(args)}):"
    if len(em.lines) <= MAX_PART_LINES:
        body = "\n".join(em.lines)
        return prelude + header + "\n" + (body + "\n" if body else "") + ret
    parts, current, size = [], [], 0
    for chunk in chunks:
        if current and size + len(chunk[0]) > MAX_PART_LINES:
            parts.append(current)
            current, size = [], 0
        current.append(chunk)
        size += len(chunk[0])
    if current:
        parts.append(current)
    needed_later = [set(results)]
    for part in reversed(parts[1:]):
        reads = set().union(*(c[1] for c in part))
        defines = set().union(*(c[2] for c in part))
        needed_later.append(needed_later[-1] - defines | reads)
    needed_later.reverse()  # needed_later[k]: names read after part k
    sources, calls = [], []
    for k, part in enumerate(parts):
        reads = set().union(*(c[1] for c in part))
        defines = set().union(*(c[2] for c in part))
        params = sorted(reads - defines)
        returns = sorted(defines & needed_later[k])
        part_name = f"{name}_part{k}"
        lines = [line for c in part for line in c[0]]
        sources.append(f"def {part_name}({', '.join(params)}):\n" + "\n".join(lines)
                       + f"\n    return ({', '.join(returns)}{',' if returns else ''})")
        target = f"{', '.join(returns)}," if returns else "_"
        calls.append(f"    {target} = {part_name}({', '.join(params)})")
    main = header + "\n" + "\n".join(calls) + "\n" + ret
    return prelude + "\n\n\n".join(sources) + "\n\n\n" + main
