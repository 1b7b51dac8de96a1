"""What the numba backend generates for one graph, as data: a :class:`KernelPlan` holds the kernel
module (the kernel, its copies and its loops, each function with its jit options) and the
:class:`~symgrad.backend.kernel.KernelInfo` found while generating it. The plan cache stores it as
JSON (``cache.py``), so a warm start rebuilds the kernel without the graph's rewrites or any sympy
work, and without reading anything back out of the generated text.

Copies, generated again under a name suffix (:func:`~symgrad.backend.numba.codegen.generate`):

- ``_W``: a kernel whose float32 row pass reads an input directly gets a copy in wider row blocks
  (``ROW_BLOCK_WIDE``), called for large inputs (see ``call.py``);
- there is no copy for ``loop``: it calls the kernel apart (apart.py), so its first call compiles
  only itself. (Threaded kernels once had a ``_L`` copy for it, against a numba crash loading a
  function compiled beside a cached parallel loop; the parallel loops have since become
  ``run_chunks`` calls, and tests/backend/numba/test_cache.py runs that sequence.)

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> plan = plan_kernel([x], [T.exp(x)], {})
>>> [f.name for f in plan.module.functions]
['kernel']
>>> plan.info.threaded, plan.info.loops, plan.info.one_blas_thread
(False, False, False)
>>> KernelPlan.from_json(plan.to_json()) == plan
True
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Sequence

from ...graph import Variable, toposort
from ...rewrite.alias import alias_flags
from ...tensor.nnet.abstract_conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
from ...tensor.rowstream import RowStream
from ...tensor.scan import Scan
from ..kernel import KernelInfo
from .codegen import KernelModule, PartCall, Parts, generate
from .emit import ARENA, ROW_BLOCK, JitFunction, apart
from .inplace import plan_inplace
from .rowpass import ROW_BLOCK_WIDE

# Part of every plan's JSON and of its key: a plan written by another layout is never misread.
PLAN_VERSION = 12


@dataclass(frozen=True)
class KernelPlan:
    """A kernel module and what is known about it."""

    module: KernelModule
    info: KernelInfo

    def to_json(self) -> str:
        """The plan as JSON, with a digest of its content (valid JSON with damaged text is refused)."""
        body = {"version": PLAN_VERSION, "prelude": self.module.prelude,
                "functions": [[f.name, f.options, f.source] for f in self.module.functions],
                "info": asdict(self.info),
                "parts": [asdict(p) for p in self.module.parts]}
        return json.dumps(dict(body, digest=_digest(body)))

    @classmethod
    def from_json(cls, text: str | bytes) -> "KernelPlan":
        """The plan ``to_json`` wrote; ValueError, KeyError or TypeError for anything else (another
        version, damaged text, a field of the wrong type)."""
        data = json.loads(text)
        digest = data.pop("digest")
        if data.get("version") != PLAN_VERSION or digest != _digest(data):
            raise ValueError("not a plan of this version, or damaged")
        info = data["info"]
        wide = info["wide_slot"]
        plan = cls(
            module=KernelModule(_text(data["prelude"]), tuple(JitFunction(_text(n), _text(s), _text(o))
                                                              for n, o, s in data["functions"]),
                                _flag(info["arena"]), tuple(_parts(p) for p in data["parts"]),
                                _flag(info["threaded"])),
            info=KernelInfo(may_alias=tuple(_flag(b) for b in info["may_alias"]),
                            inplace_slots=tuple(_slot(k) for k in info["inplace_slots"]),
                            row_slots=tuple(_slot(k) for k in info["row_slots"]),
                            wide_slot=None if wide is None else _slot(wide),
                            threaded=_flag(info["threaded"]), loops=_flag(info["loops"]),
                            arena=_flag(info["arena"]), one_blas_thread=_flag(info["one_blas_thread"])))
        if plan.info.arena != plan.module.arena:
            raise ValueError("plan: arena flag disagrees with its module")
        return plan


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _text(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"plan: expected text, got {type(value).__name__}")
    return value


def _names(values) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise TypeError(f"plan: expected a list of names, got {type(values).__name__}")
    return tuple(_text(v) for v in values)


def _parts(data: dict) -> Parts:
    calls = tuple(PartCall(_text(c["name"]), _names(c["params"]), _names(c["returns"])) for c in data["calls"])
    return Parts(_text(data["name"]), _names(data["args"]), _flag(data["arena"]), calls, _names(data["results"]))


def _slot(value) -> int:
    if type(value) is not int or value < 0:
        raise TypeError(f"plan: expected an input slot, got {value!r}")
    return value


def _flag(value) -> bool:
    if type(value) is not bool:
        raise TypeError(f"plan: expected true or false, got {value!r}")
    return value


def plan_kernel(inputs: Sequence[Variable], outputs: Sequence[Variable], updated: dict[int, int]) -> KernelPlan:
    """Generate the kernel of an optimized graph, its copies and its loops (see the module docstring).
    ``updated``: input slot -> index of the output that replaces it between steps of ``loop``."""
    inplace = plan_inplace(inputs, outputs, updated)
    module = generate(inputs, outputs, inplace=inplace, arena=True)
    wide = wide_slot(inputs, outputs)
    suffixes = [""]
    if wide is not None:  # compiled when first called (see call.py)
        module = module.extended(generate(inputs, outputs, inplace=inplace, row_block=ROW_BLOCK_WIDE, suffix="_W",
                                          arena=True))
        suffixes.append("_W")
    if updated:
        slots = tuple(inplace.values())
        loops = tuple(_loop_function(inputs, updated, f"kernel{s}", slots, f"loop{s}", module.arena)
                      for s in suffixes)
        module = module.extended(KernelModule("", loops))
    ops = [type(n.op) for n in toposort(list(outputs))]
    loops = Scan in ops
    convolutions = module.threaded and any(op in (Conv2d, Conv2dGradInputs, Conv2dGradWeights) for op in ops)
    info = KernelInfo(may_alias=tuple(alias_flags(list(outputs))), inplace_slots=tuple(inplace.values()),
                      row_slots=tuple(row_slots(inputs, outputs)), wide_slot=wide, threaded=module.threaded,
                      loops=loops, arena=module.arena, one_blas_thread=convolutions)
    return KernelPlan(module, info)


def _loop_function(inputs: Sequence[Variable], updated: dict[int, int], kernel: str, inplace: Sequence[int],
                   name: str, arena: bool = False) -> JitFunction:
    """``name(n, a0, ...)``: call ``kernel`` n times, feeding each update back into its input slot
    (``arena``: the kernel takes the arena last, and so does the loop: every step uses it again).

    A slot the kernel writes in place starts as a copy: the caller's buffer stays as it was until
    every step succeeded (the loop's results replace it then)."""
    args = [f"a{i}" for i in range(len(inputs))]
    state = list(args)
    lines = [f"def {name}(n, " + ", ".join(args + [ARENA] * arena) + "):"]
    for slot in updated:
        # state is carried in C-contiguous arrays so every call sees one type (one specialization)
        if slot in inplace:
            lines.append(f"    s{slot} = a{slot}.copy()")
        elif inputs[slot].ndim:
            lines.append(f"    s{slot} = np.ascontiguousarray(a{slot})")
        else:
            lines.append(f"    s{slot} = a{slot}")
        state[slot] = f"s{slot}"
    lines.append("    for step in range(n - 1):")
    call = apart(kernel, state + [ARENA] * arena)
    lines.append(f"        r = {call}")
    for slot, out_index in updated.items():
        conv = "np.ascontiguousarray({})" if inputs[slot].ndim else "{}"
        lines.append(f"        s{slot} = " + conv.format(f"r[{out_index}]"))
    lines.append(f"    return {call}")
    return JitFunction(name, "\n".join(lines))


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


def row_blocks() -> tuple[int, int]:
    """The row blocks generated code uses on this CPU (part of the plan key: a plan made on another
    CPU would run, only in blocks chosen for that one)."""
    return ROW_BLOCK, ROW_BLOCK_WIDE


def wide_slot(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> int | None:
    """The first input slot a float32 row pass reads directly as its X, if any: the kernel then gets
    a copy with every row pass in blocks of ``ROW_BLOCK_WIDE`` rows, called when that input has
    ``WIDE_MIN_BYTES`` or more (see rowpass.ROW_BLOCK_WIDE). A kernel whose float32 passes read only
    computed matrices keeps the one kernel: their sizes are not known before the call."""
    if ROW_BLOCK_WIDE == ROW_BLOCK:  # (no wider block on this CPU: rowpass.ROW_BLOCK_WIDE)
        return None
    found = row_slots(inputs, outputs, "float32")
    return found[0] if found else None
