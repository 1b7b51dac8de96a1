"""Print a whole optimized graph as ONE Python function for numba: :func:`generate`, the entry
point, walks the graph in order, prints each node with its op type's emitter (``EMITTERS``) and
assembles the module: constants, row-pass helpers, and the kernel, split into consecutive parts
of about ``MAX_PART_LINES`` lines when large (``_split``).

The printer has one emitter per op type: emitters.py (elementwise, reductions, dot, shape ops,
softmax, conditionals), indexing.py, rowpass.py, scan.py, random.py; the emitter and literals are in emit.py. Fused
elementwise nodes become explicit loops with broadcasting and ranks resolved at generation time;
reductions are loops; dot goes to BLAS through ``helpers.blas_dot``; indexing is bounds-checked
before any access, so no input can make the kernel read or write out of bounds. 0-d values are plain scalars
inside the kernel.

The result is a :class:`KernelModule`, data rather than text: module-level lines and the jitted
functions, each with its jit options. Copies of a kernel (wider row blocks, the loop's private
copy) are generated again with a name ``suffix``, never made by renaming text.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> module = generate([x], [T.exp(x) * 2])
>>> [f.name for f in module.functions], module.source.count("for ")
(['kernel'], 2)
>>> [f.name for f in generate([x], [T.exp(x) * 2], suffix="_W").functions]
['kernel_W']
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from ...graph import Variable, toposort
from ...rewrite.alias import alias_root
from ...tensor.elemwise import Elemwise
from ...tensor.ifelse import IfElse
from ...tensor.indexing import IncSubtensor
from . import conv, indexing, random, rowpass, scan  # noqa: F401  (importing them registers their ops' emitters)
from .emit import ARENA, EMITTERS, JIT_OPTIONS, ROW_BLOCK, Emitter, JitFunction, apart
from .emitters import _elemwise_head
from .gemmupdate import emit_gemm_update, plan_gemm_updates
from .rowpass import ROW_BLOCK_WIDE  # noqa: F401  (re-exported: backend/numba/__init__.py imports it from here)


@dataclass(frozen=True)
class PartCall:
    """One call of a split kernel's function ``name``: the values it reads and those it returns."""

    name: str
    params: tuple[str, ...]
    returns: tuple[str, ...]


@dataclass(frozen=True)
class Parts:
    """How the function ``name`` of a split kernel runs: from its arguments ``args``, the arena
    started first when ``arena``, each call in order, then its results. sequence.py runs it from
    Python with these names (the compiled ``name`` is only compiled for ``loop``)."""

    name: str
    args: tuple[str, ...]
    arena: bool
    calls: tuple[PartCall, ...]
    results: tuple[str, ...]


@dataclass(frozen=True)
class KernelModule:
    """A generated kernel module: ``prelude`` (module-level constants and comments, read by the
    functions) and its jitted functions in order, each with its jit options.

    >>> m = KernelModule("C0 = 1", (JitFunction("kernel", "def kernel(a0):\\n    return (a0 + C0,)"),))
    >>> print(m.source)
    C0 = 1
    <BLANKLINE>
    <BLANKLINE>
    def kernel(a0):
        return (a0 + C0,)
    """

    prelude: str
    functions: tuple[JitFunction, ...]
    arena: bool = False  # whether the kernel takes the arena argument last (arena.py)
    parts: tuple[Parts, ...] = ()  # of each function that calls the parts of a split kernel
    threaded: bool = False  # whether a function hands chunks to numba's threads (run_chunks, chunks.py)

    def __post_init__(self):
        for f in self.functions:  # (a plan read back from disk is built through here too)
            if not (isinstance(f, JitFunction) and f.name.isidentifier() and f.options in JIT_OPTIONS
                    and f.source.startswith(f"def {f.name}(")):
                raise ValueError(f"numba backend: not a generated function: {f!r:.200}")
        names = {f.name for f in self.functions}
        for p in self.parts:  # (sequence.py calls these functions by name, with these values)
            values = [*p.args, *p.results] + [n for c in p.calls for n in (*c.params, *c.returns)]
            if not (isinstance(p, Parts) and p.name in names and all(c.name in names for c in p.calls)
                    and all(isinstance(n, str) and n.isidentifier() for n in values)):
                raise ValueError(f"numba backend: not the parts of a generated function: {p!r:.200}")

    @property
    def source(self) -> str:
        """The module's text (what the cache stores and a user reads), without imports."""
        return "\n\n\n".join(([self.prelude] if self.prelude else []) + [f.source for f in self.functions])

    def extended(self, *others: "KernelModule") -> "KernelModule":
        """This module's functions followed by those of ``others``, which must read the same
        constants (copies of one kernel) or none."""
        for other in others:
            if other.prelude and other.prelude != self.prelude:
                raise RuntimeError("numba backend: a copy of a kernel has other module constants")
        return replace(self, functions=self.functions + tuple(f for o in others for f in o.functions),
                       parts=self.parts + tuple(p for o in others for p in o.parts),
                       threaded=self.threaded or any(o.threaded for o in others))


def _reads(order, outputs: Sequence[Variable]) -> dict[int, int]:
    """{id: how often a value is read}: once per input slot of a node, twice for a returned value
    (the caller reads it), so a count of 1 means one node reads it once and nothing else."""
    reads: dict[int, int] = {}
    for node in order:
        for v in node.inputs:
            reads[id(v)] = reads.get(id(v), 0) + 1
    for v in outputs:
        reads[id(v)] = reads.get(id(v), 0) + 2
    return reads


def _consumable(order, reads: dict[int, int]) -> set[int]:
    """Ids of results that their one reader may overwrite: a fresh array this kernel allocated
    (an elementwise result that is not its input, an IncSubtensor's copy), read by exactly one
    node once and not returned (``reads``: ``_reads``). An IncSubtensor of such a value adds into
    it instead of copying it (the gradient of k slices of one matrix: one zero matrix and k
    increments)."""
    return {id(v) for node in order if isinstance(node.op, (Elemwise, IncSubtensor)) for v in node.outputs
            if v.ndim > 0 and reads.get(id(v)) == 1 and alias_root(v) is v}


def _escaping(outputs: Sequence[Variable]) -> set[int]:
    """Ids of the results whose memory a caller may see, which never live in the arena: the
    outputs' roots (views: rewrite/alias.py), every value an IfElse among them may return as it is,
    and the buffer an IncSubtensor among them may add into (``_consumable``)."""
    seen: set[int] = set()
    stack = list(outputs)
    while stack:
        v = alias_root(stack.pop())
        if id(v) in seen:
            continue
        seen.add(id(v))
        op = v.owner.op if v.owner is not None else None
        if isinstance(op, IfElse):
            stack.extend(v.owner.inputs[1:])
            if op.lazy is not None:
                stack.extend(list(op.lazy.then_outputs) + list(op.lazy.else_outputs))
        elif isinstance(op, IncSubtensor):
            stack.append(v.owner.inputs[0])
    return seen


# --- the whole function ---------------------------------------------------------------------
MAX_PART_LINES = 250  # numba's compile time grows faster than linearly with function size
# Every value a part passes on to later parts is boxed by it and unboxed by each part that reads it,
# a cost per array (docs/PERFORMANCE.md, "Large graphs"). A part past MAX_PART_LINES therefore ends
# at the first boundary where it would pass on at most this many values, and at four times
# MAX_PART_LINES whatever it passes: the 200-deep tanh chain with its gradient keeps every third
# tanh for its backward loops, and a cut right after its forward pass passed them all.
MAX_PART_CROSSING = 32


def _split(chunks: Sequence[tuple]) -> list[list[tuple]]:
    """``generate``'s chunks (lines, names read, names defined) in consecutive parts: a part past
    ``MAX_PART_LINES`` ends before the first chunk at which it would pass on at most
    ``MAX_PART_CROSSING`` of its own values (those it defines that this chunk or a later one reads),
    or where it would grow past four times ``MAX_PART_LINES``. (Results are returned by the part that
    defines them wherever the cuts fall, and a value from an earlier part was passed on already.)

    >>> chunks = [(["a = 1"] * 200, set(), {"a"}), (["b = a"] * 200, {"a"}, {"b"}), (["c = b"] * 9, {"b"}, {"c"})]
    >>> [len(part) for part in _split(chunks)]  # (each cut passes one value on)
    [1, 2]
    """
    read_from, later = [], set()  # read_from[k]: the names chunk k or a later one reads
    for _, reads, _ in reversed(chunks):
        later = later | reads
        read_from.append(later)
    read_from.reverse()
    parts, current, size, own = [], [], 0, set()
    for chunk, needed in zip(chunks, read_from):
        grown = size + len(chunk[0])
        if current and grown > MAX_PART_LINES and (len(own & needed) <= MAX_PART_CROSSING
                                                    or grown > 4 * MAX_PART_LINES):
            parts.append(current)
            current, size, own = [], 0, set()
        current.append(chunk)
        size += len(chunk[0])
        own |= chunk[2]
    if current:
        parts.append(current)
    return parts


def generate(inputs: Sequence[Variable], outputs: Sequence[Variable], name: str = "kernel",
             inplace: dict[int, int] | None = None, row_block: int = ROW_BLOCK, suffix: str = "",
             global_prefix: str = "C", arena: bool = False,
             destinations: dict[int, int] | None = None) -> KernelModule:
    """A module whose function ``name(a0, a1, ...)`` returns a tuple of the outputs.

    ``inplace``: {output index: input slot} of updates written into their input's buffer (from
    :func:`~symgrad.backend.numba.inplace.plan_inplace`); those loops run last, after every check.
    ``row_block``: rows per register block of the row passes. ``suffix`` ends the name of every
    function of the module (``name`` included) and every call between them: a copy of a kernel.
    A large graph is split into consecutive parts of about ``MAX_PART_LINES`` lines (a part grows
    past it, up to four times, to a boundary where it passes at most ``MAX_PART_CROSSING`` of its
    values on: ``_split``), each its own function;
    ``name`` then calls the parts in order, passing the values each one needs.
    ``global_prefix`` starts the names of module constants (a scan's step module shares the module).
    ``arena``: large results that no caller can see may be carved from an arena, a byte buffer
    the caller keeps between calls (arena.py); a kernel that does takes it as its last argument.
    ``destinations``: {output index: input slot} of elementwise outputs written, in graph order,
    into the buffer passed in that slot when its shape agrees (a scan step's history rows: the
    loop around the step then copies nothing). No input may alias such a buffer.
    """
    inplace = inplace or {}
    em = Emitter()
    em.row_block = row_block
    em.suffix = suffix
    em.global_prefix = global_prefix
    em.arena = arena
    em.escaping = _escaping(outputs) if arena else set()
    args = [em.bind(v, f"a{i}") for i, v in enumerate(inputs)]
    for k in destinations or {}:  # (the caller copies nothing for these: each must be written)
        if outputs[k].owner is None or type(outputs[k].owner.op) is not Elemwise or outputs[k].ndim == 0:
            raise ValueError(f"numba backend: output {k} has no elementwise loop to write into its destination")
    em.into = {id(outputs[k]): args[slot] for k, slot in (destinations or {}).items()}
    chunks = []  # per node: (lines, names read, names defined)
    last = {id(outputs[k].owner) for k in inplace}
    order = toposort(outputs)
    reads = _reads(order, outputs)
    em.consumable = _consumable(order, reads)
    gemms = plan_gemm_updates(inputs, outputs, inplace, reads)
    last |= {id(u.dot) for u in gemms.values()}  # (each product is computed by its update's gemm call)
    for node in order:
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
        elementwise = {k: slot for k, slot in inplace.items() if isinstance(outputs[k].owner.op, Elemwise)}
        loops = [emit_gemm_update(em, outputs[k], inputs[slot], gemms[k]) if k in gemms
                 else _elemwise_head(em, outputs[k].owner, em.name(inputs[slot])) for k, slot in elementwise.items()]
        for k, slot in inplace.items():  # at most one increment (it can raise): after every check, before any loop
            if k not in elementwise:
                em.consumable.add(id(inputs[slot]))  # (indexing's IncSubtensor then adds into the buffer)
                EMITTERS[type(outputs[k].owner.op)](em, outputs[k].owner)
        for loop in loops:
            loop()
        defined = {em.names[id(outputs[k])] for k in inplace}
        chunks.append((em.lines[start:], em.used - defined, defined))
        em.globals.insert(0, "# updates written in place: " + ", ".join(f"a{slot}" for slot in inplace.values()))
    results = [em.name(v) for v in outputs]
    if len(em.lines) > MAX_PART_LINES:  # split: every result a value a part returns (sequence.py)
        for k, r in enumerate(results):
            if r not in em.variables:  # a constant
                results[k] = em.bind(outputs[k], em.fresh("k"))
                line = f"    {results[k]} = {r}"
                em.lines.append(line)
                chunks.append(([line], set(), {results[k]}))
    helpers = tuple(f for group in em.extra for f in group) + tuple(f for f in em.loops.values() if f is not None)
    prelude = "\n".join(em.globals)
    ret = f"    return ({', '.join(results)}{',' if results else ''})"
    start = []
    if em.arena_used:  # (every call carves its arrays from the arena's start again)
        args.append(ARENA)
        start = [f"    arena_start({ARENA})"]
    header = f"def {name}{suffix}({', '.join(args)}):"
    if len(em.lines) <= MAX_PART_LINES:
        body = "\n".join(start + em.lines)
        main = JitFunction(name + suffix, header + "\n" + (body + "\n" if body else "") + ret)
        return KernelModule(prelude, helpers + (main,), em.arena_used, threaded=em.threaded)
    parts = _split(chunks)
    needed_later = [set(results)]
    for part in reversed(parts[1:]):
        reads = set().union(*(c[1] for c in part))
        defines = set().union(*(c[2] for c in part))
        needed_later.append(needed_later[-1] - defines | reads)
    needed_later.reverse()  # needed_later[k]: names read after part k
    functions, calls, steps = [], [], []
    for k, part in enumerate(parts):
        reads = set().union(*(c[1] for c in part))
        defines = set().union(*(c[2] for c in part))
        params = sorted(reads - defines)
        returns = sorted(defines & needed_later[k])
        part_name = f"{name}_part{k}{suffix}"
        lines = [line for c in part for line in c[0]]
        functions.append(JitFunction(part_name, f"def {part_name}({', '.join(params)}):\n" + "\n".join(lines)
                                     + f"\n    return ({', '.join(returns)}{',' if returns else ''})"))
        target = f"{', '.join(returns)}," if returns else "_"
        # (apart: ``kernel``, compiled for loop, calls the parts' own code; apart.py)
        calls.append(f"    {target} = {apart(part_name, params)}")
        steps.append(PartCall(part_name, tuple(params), tuple(returns)))
    main = JitFunction(name + suffix, header + "\n" + "\n".join(start + calls) + "\n" + ret)
    sequence = Parts(name + suffix, tuple(args), bool(start), tuple(steps), tuple(results))
    return KernelModule(prelude, helpers + tuple(functions) + (main,), em.arena_used, (sequence,), em.threaded)
