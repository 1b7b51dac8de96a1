"""The emitter a kernel is printed into, the table of per-op emitters, and literals.

An :class:`Emitter` accumulates a kernel's lines at the current indentation, hands out unique local
names and remembers which name holds each variable. ``EMITTERS`` maps an op type to the function
that prints its node; the functions register themselves with :func:`emitter` in emitters.py,
indexing.py and rowpass.py (codegen.py imports all three). Typed literals, dtypes and the static
text of the kernel's error messages are printed here too.

>>> _literal(0.5, "float32"), _np("bool")
('np.float32(0.5)', 'np.bool_')
"""
from __future__ import annotations

import platform
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numba
import numpy as np
from llvmlite import binding

from ...graph import Apply, Constant, Variable


def host_row_block(machine: str | None = None, features: str | None = None) -> int:
    """Rows per register block of a row pass (rowpass.py) for the CPU numba compiles for: 8 where
    it has 32 vector registers (x86 with AVX-512; ARM), 4 on other x86 (16 registers: eight dot
    products in flight beside their rows' loads spill). Measured on an AVX2 machine, blocks of 4
    against 8: the seed step 50 against 57 us, float32 30 against 38 us, its cold compile 0.2 s less
    (docs/PERFORMANCE.md, 'Row blocks by vector registers'). ``features``: numba's target features
    (``NUMBA_CPU_FEATURES``, else the host's; a named CPU without features counts as no AVX-512).

    >>> host_row_block("x86_64", "+avx2,+fma,-avx512f"), host_row_block("aarch64", "")
    (4, 8)
    """
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64", "i386", "i686"):
        return 8
    if features is None:
        if numba.config.CPU_FEATURES is not None:
            features = numba.config.CPU_FEATURES
        elif numba.config.CPU_NAME is not None:
            features = ""
        else:
            try:
                features = binding.get_host_cpu_features().flatten()
            except RuntimeError:  # (LLVM cannot tell on some hosts: assume the smaller register file)
                features = ""
    return 8 if "+avx512f" in features.split(",") else 4


# The row block of a row pass (rowpass.py) by default: defined here because the Emitter carries it
# for the RowStream emitter; generate sets it per kernel. Their dots share each load of w, their
# gradients each pass over g.
ROW_BLOCK = host_row_block()


# The name of the kernel's arena argument (arena.py): a byte buffer the caller keeps between calls.
ARENA = "ws"


# The jit options of a generated function, by their names in helpers.py: plain (JIT) or a row pass's
# loops (JIT_FAST: sums may be reassociated; JIT_FAST_INNER: the same, for a function only compiled
# code calls; JIT_INNER: plain, for a shared loop only compiled code calls). Options are data of the
# function, chosen where it is generated.
JIT_OPTIONS = ("JIT", "JIT_FAST", "JIT_FAST_INNER", "JIT_INNER")


@dataclass(frozen=True)
class JitFunction:
    """One function of a generated kernel module: its name, its source (``def name(...): ...``)
    and the name of its jit options (one of ``JIT_OPTIONS``).

    >>> JitFunction("kernel", "def kernel(a0): return (a0,)").options
    'JIT'
    """

    name: str
    source: str
    options: str = "JIT"


class Emitter:
    """Accumulates the function body; hands out unique local names."""

    def __init__(self):
        self.lines: list[str] = []
        self.globals: list[str] = []
        self.depth = 1
        self.names: dict[int, str] = {}
        self.counter = 0
        self.used: set[str] = set()  # kernel variables read by the node being emitted
        self.variables: set[str] = set()
        self.extra: list[tuple[JitFunction, ...]] = []  # functions beside the kernel, per row pass
        self.threaded = False  # whether the kernel hands chunks to numba's threads (run_chunks)
        self.row_block = ROW_BLOCK  # rows per register block of a row pass
        self.suffix = ""  # ends the name of every generated function (a copy of a kernel: _W, _L)
        self.global_prefix = "C"  # module constants' names (a scan's step graph gets its own)
        self.consumable: set[int] = set()  # results their one reader may overwrite (codegen._consumable)
        self.arena = False  # whether results may live in the kernel's arena (codegen.generate, arena.py)
        self.escaping: set[int] = set()  # results whose memory a caller may see: never in the arena
        self.arena_used = False
        # constant fills not yet written: {array name: (its ndim, the value's literal)}. Written
        # when the array is first read (``name``), unless an increment claims it (``claim_fill``)
        self.pending_fills: dict[str, tuple[int, str]] = {}
        # elementwise results written into a buffer the caller passed when its shape agrees
        # ({id: the buffer argument's name}: a scan step's history rows, codegen.generate)
        self.into: dict[int, str] = {}
        # names of arrays this kernel allocated C-ordered (np.empty or the arena): an elementwise
        # loop may read them through a reshape that merges trailing axes (emitters._merged_from)
        self.c_ordered: set[str] = set()
        # elementwise loops by their parameters and text with canonical names: None once printed
        # inline, the function that runs it from its second occurrence on (emitters._plain_loop)
        self.loops: dict[str, JitFunction | None] = {}

    def in_arena(self, v: Variable, dtype: str | None = None) -> bool:
        """Whether :meth:`new_array` carves ``v``'s array from the arena."""
        return self.arena and id(v) not in self.escaping and (dtype or v.dtype) != "bool"

    def new_array(self, v: Variable, shape: str, dtype: str | None = None) -> str:
        """The expression of a new, uninitialized array of ``v``'s dtype (or ``dtype``) and the
        tuple expression ``shape``, to hold ``v``: carved from the arena when the kernel has one and
        no caller can see ``v``'s memory (it is not an output nor a view, branch or buffer of one)."""
        dtype = dtype or v.dtype
        if not self.in_arena(v, dtype):
            return f"new_empty({shape}, {_np(dtype)})"
        self.arena_used = True
        self.used.add(ARENA)
        itemsize = np.dtype("float32" if dtype == "float16" else dtype).itemsize
        return f"arena_array({ARENA}, {shape}, {_np(dtype)}, {itemsize})"

    def fresh(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def open(self, line: str) -> None:
        self.emit(line)
        self.depth += 1

    def fail_if(self, cond: str, error: type[ValueError] | type[IndexError], message: str) -> None:
        """A check: ``error(message)`` when ``cond`` holds. Printed as ``value_error_if(cond,
        message)`` (or ``index_error_if``), an intrinsic (helpers.py) that raises it behind a branch
        marked unlikely. Why not ``if cond: raise error(message)``: numba's own passes spend far
        longer on such a statement (docs/PERFORMANCE.md, "Checks as intrinsics"). Without the
        branch marked unlikely, every raise branch counts as taken half the time, so a loop after ten
        checks looks cold to LLVM, which then declines to inline a helper there (a tanh loop after
        the LSTM cell's checks ran one call per element: 40 us instead of 5).

        >>> em = Emitter(); em.fail_if("n < 0", ValueError, "n is negative"); em.lines
        ["    value_error_if(n < 0, 'n is negative')"]
        """
        helper = _CHECKS.get(error)
        if helper is None:
            raise TypeError(f"numba backend: a check raises ValueError or IndexError, not {error!r}")
        self.emit(f"{helper}({cond}, {message!r})")

    def close(self, n: int = 1) -> None:
        self.depth -= n

    def copy(self, dst: str, src: str, ndim: int, broadcast: tuple[bool, ...], lead: tuple[str, ...] = (),
             src_lead: tuple[str, ...] = (), op: str = "=", base: str = "") -> None:
        """Loops writing ``src[*src_lead, ...]`` into ``dst[*lead, ...]`` (``ndim`` dimensions after
        the lead indices, the loop bounds read off ``dst``; ``op="+="`` adds). ``broadcast`` has one
        flag per dimension of ``src`` after ``src_lead``, true where that dimension has length 1 and
        is broadcast; ``src`` may have fewer dimensions (right-aligned; none: a scalar). ``base``:
        ``base + src`` is written (an increment of a constant fill). The caller has checked the
        shapes.

        Why loops: numba's array slice assignment (``dst[t] = src``) costs ~0.25 s of compile per
        site, and its first use in a process ~1 s more (its error message's string formatting);
        these loops cost what an elementwise loop costs.

        >>> em = Emitter(); em.copy("h", "s", 2, (True, False), lead=("t",)); print("\\n".join(em.lines))
            for c1 in range(h.shape[1]):
                for c2 in range(h.shape[2]):
                    h[t, c1, c2] = s[0, c2]
        """
        idx = [self.fresh("c") for _ in range(ndim)]
        first = len(lead)
        for k, i in enumerate(idx):
            self.open(f"for {i} in range({dst}.shape[{first + k}]):")
        pad = ndim - len(broadcast)
        at = ", ".join([*src_lead] + ["0" if b else idx[pad + j] for j, b in enumerate(broadcast)])
        target = ", ".join([*lead] + idx)
        value = f"{src}[{at}]" if at else src
        self.emit(f"{dst}[{target}] {op} {base + ' + ' if base else ''}{value}")
        self.close(ndim)

    def name(self, v: Variable) -> str:
        key = id(v)
        if key not in self.names:
            if not isinstance(v, Constant):
                raise ValueError(f"numba backend: {v!r} is used before it is computed")
            self.names[key] = self.constant(v)
        name = self.names[key]
        if name in self.variables:
            self.used.add(name)
        if name in self.pending_fills:
            ndim, value = self.pending_fills.pop(name)
            self.copy(name, value, ndim, ())
        return name

    def claim_fill(self, v: Variable) -> str | None:
        """The literal that ``v``'s array still has to be filled with (the caller writes it where
        needed), or None: ``v`` is then filled, or no fill."""
        name = self.names.get(id(v))
        return self.pending_fills.pop(name)[1] if name in self.pending_fills else None

    def bind(self, v: Variable, name: str) -> str:
        self.names[id(v)] = name
        self.variables.add(name)
        return name

    def constant(self, c: Constant) -> str:
        data = c.data
        if data.ndim == 0:
            return _literal(data.item(), c.dtype)
        gname = f"{self.global_prefix}{len(self.globals)}"
        text = repr(data.tolist())
        if data.dtype.kind == "f" and not np.isfinite(data).all():  # repr writes nan/inf as bare names
            text = re.sub(r"\b(nan|inf)\b", r"np.\1", text)
        self.globals.append(f"{gname} = np.array({text}, dtype={_np(c.dtype)}).reshape({data.shape!r})")
        return gname


def _np(dtype: str) -> str:
    """numba's spelling of a dtype in generated code.

    numba has no float16 arrays: float16 values live in float32 inside the kernel (numpy also
    computes each float16 operation in float32) and are rounded to float16 at the boundary.
    """
    if dtype == "float16":
        return "np.float32"
    return "np.bool_" if dtype == "bool" else f"np.{dtype}"


def _literal(value, dtype: str) -> str:
    """A typed scalar literal: np.float32(0.5), np.int64(3), True."""
    if dtype == "bool":
        return repr(bool(value))
    if dtype.startswith("float"):
        value = float(value)
        if value != value:
            text = "np.nan"
        elif np.isinf(value):
            text = "np.inf" if value > 0 else "-np.inf"
        else:
            text = repr(value)
        return f"{_np(dtype)}({text})"
    return f"{_np(dtype)}({int(value)})"


def _label(v: Variable) -> str:
    """A short, static description for error messages raised inside the kernel."""
    if v.name:
        return repr(v.name)
    if v.owner is not None:
        return f"the result of {_op_text(v.owner.op)}"
    return "a constant" if isinstance(v, Constant) else "an input"


def _op_text(op, limit: int = 60) -> str:
    """An op for a kernel's error message, shortened to stay readable: the wrapper re-runs the
    reference backend for the precise text."""
    text = str(op)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def joined(conditions: Sequence[str]) -> str:
    """One condition, true when any of ``conditions`` is, for one :meth:`Emitter.fail_if`: joined
    by ``|``, not ``or``, so numba compiles one branch instead of one per condition (each branch
    and raise costs ~20 ms of compile in a large kernel function; the LSTM kernel had 200). Only
    for conditions that are safe to evaluate when an earlier one holds: shape comparisons.

    >>> joined(["a.shape[0] != n", "b.shape[1] != m"])
    '(a.shape[0] != n) | (b.shape[1] != m)'
    """
    return conditions[0] if len(conditions) == 1 else " | ".join(f"({c})" for c in conditions)


def apart(fn: str, args: Sequence[str]) -> str:
    """The text of a call of ``fn`` that keeps its code out of the caller (apart.py): its
    arguments as one tuple, a trailing comma so one argument is a tuple too.

    >>> apart("step", ["a", "b"])
    'call_apart(step, (a, b, ))'
    """
    return f"call_apart({fn}, ({''.join(a + ', ' for a in args)}))"


# the helper that raises each kind of error a check may raise (Emitter.fail_if)
_CHECKS = {ValueError: "value_error_if", IndexError: "index_error_if"}

EMITTERS: dict[type, Callable[[Emitter, Apply], None]] = {}


def emitter(op_type):
    def register(fn):
        EMITTERS[op_type] = fn
        return fn

    return register
