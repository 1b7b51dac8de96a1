"""``Scan``: a loop as one graph node, in the small normal form of JAX's ``lax.scan``.

A scan runs a *step graph* ``n_steps`` times. The step reads its carries (the loop state), one slice
of each sequence (``seq[t]``) and loop-invariant values, and returns the next carries, per-step
outputs ``y_t`` and, optionally, a stop condition (Theano's ``until``)::

    step(carry_0.., x_0[t].., invariant_0..) -> (new_carry_0.., y_0.., [stop])

The node's inputs are ``(n_steps, initial carries.., sequences.., invariants..)``; its outputs are
the final carries, the *history* of the carries for those asked (``history[k]``: the carry after
each step, stacked, which is Theano's output of a recurrent value), and the stacked ``y``s.
Theano's richer interface (taps, ``None`` outputs, implicit shared inputs, updates, ``until``) is a
front end that rewrites into this form: ``symgrad.scan_module``. The gradient is another scan
over the reversed sequences whose carries hold the adjoints (``symgrad.gradient.scan``).

>>> import numpy as np, symgrad as sg, symgrad.tensor as T
>>> h, x = T.dscalar("h"), T.dscalar("x")
>>> inner = ScanInner([h, x], [h + x])
>>> xs = T.dvector("xs")
>>> final, hist = Scan(inner, n_carry=1, n_seq=1, n_ys=0, history=(True,))(xs.shape[0], 0.0, xs)
>>> sg.function([xs], hist, mode="numpy")([1.0, 2.0, 3.0])
array([1., 3., 6.])
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

import sympy

from ..graph import Apply, Constant, Op, TensorType, Variable, flatten_graph, graph_inputs, toposort, unflatten_graph
from .elemwise import Elemwise
from .variable import as_tensor_variable

__all__ = ["ScanInner", "Scan", "assignable", "stacked"]


class ScanInner:
    """The step graph of a scan: placeholder ``inputs`` (no owner) and the ``outputs`` computed from
    them (and constants). Compared by identity (two scans share a step only if they share this
    object); ``key()`` is its content, for caches. Pickles as flat lists (deep graphs, no recursion).
    """

    __slots__ = ("inputs", "outputs", "_key", "__weakref__")

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self._key: str | None = None
        known = {id(v) for v in self.inputs}
        for v in graph_inputs(self.outputs):
            if id(v) not in known and not isinstance(v, Constant):
                raise ValueError(f"scan: the step graph reads {v.label()} ({v.type.describe()}), which is not "
                                 "one of its inputs (the front end passes outside values as invariants)")

    def key(self) -> str:
        """A hash of the step graph's content: ops (exact ``srepr`` of expressions), structure, types."""
        if self._key is None:
            leaves, nodes, out_ids, _ = flatten_graph(list(self.outputs), list(self.inputs))
            position = {id(v): k for k, v in enumerate(self.inputs)}
            parts: list = [out_ids]
            for v in leaves:
                if id(v) in position:
                    parts.append(("input", position[id(v)], v.type.dtype, v.type.broadcastable, v.name))
                else:
                    parts.append(("constant", v.type.dtype, v.type.broadcastable, v.data.shape,
                                  hashlib.sha256(v.data.tobytes()).hexdigest()))
            for op, in_ids, names in nodes:
                text = (f"Elemwise({sympy.srepr(op.expr)}, {op.nin}, {op.dtype})" if isinstance(op, Elemwise)
                        else repr(op))
                parts.append((text, tuple(in_ids), tuple(names)))
            self._key = hashlib.sha256(repr(parts).encode()).hexdigest()[:24]
        return self._key

    def nodes(self) -> list[Apply]:
        return toposort(self.outputs)

    def __repr__(self) -> str:
        return f"ScanInner({self.key()})"

    def __reduce__(self):
        return (_rebuild_inner, (flatten_graph(list(self.outputs), list(self.inputs)),))


def _rebuild_inner(state) -> ScanInner:
    outputs, inputs = unflatten_graph(state)
    return ScanInner(inputs, outputs)


def stacked(t: TensorType) -> TensorType:
    """The type of ``t`` values stacked along a new leading axis (one per step)."""
    return TensorType(t.dtype, (False,) + t.broadcastable)


def assignable(value: TensorType, slot: TensorType) -> bool:
    """Whether a value of type ``value`` may be stored where ``slot`` is expected: the same dtype and
    rank, and broadcastable wherever the slot promises it."""
    return (value.dtype == slot.dtype and value.ndim == slot.ndim
            and all(v or not s for v, s in zip(value.broadcastable, slot.broadcastable)))


@dataclass(frozen=True)
class Scan(Op):
    """``n_steps`` applications of ``inner`` (see the module docstring for the layout).

    ``history[k]``: whether carry ``k``'s value after every step is an output. ``until``: the step's
    last output is a scalar stop condition (the loop ends after the first step where it is true, and
    the stacked outputs hold only the steps run). ``truncate``: Theano's ``truncate_gradient`` (the
    gradient goes back at most that many steps; -1: all). ``name`` is for printing only.
    """

    inner: ScanInner
    n_carry: int
    n_seq: int
    n_ys: int
    history: tuple[bool, ...]
    until: bool = False
    truncate: int = -1
    name: str | None = field(default=None, compare=False)

    @property
    def n_invariant(self) -> int:
        return len(self.inner.inputs) - self.n_carry - self.n_seq

    def make_node(self, n_steps, *values) -> Apply:
        inner = self.inner
        c, s = self.n_carry, self.n_seq
        if len(self.history) != c:
            raise ValueError(f"Scan: history has {len(self.history)} entries for {c} carries")
        expected_outs = c + self.n_ys + (1 if self.until else 0)
        if len(inner.outputs) != expected_outs:
            raise ValueError(f"Scan: the step returns {len(inner.outputs)} values, expected {expected_outs}")
        if len(values) != len(inner.inputs):
            raise ValueError(f"Scan: expected {len(inner.inputs)} initial carries, sequences and invariants, "
                             f"got {len(values)}")
        n_steps = as_tensor_variable(n_steps)
        if n_steps.ndim != 0 or n_steps.dtype[0] not in "iu":
            raise TypeError(f"scan: n_steps must be an integer scalar, got {n_steps.label()} "
                            f"({n_steps.type.describe()})")
        values = [as_tensor_variable(v) for v in values]
        for k in range(c):
            slot, new = inner.inputs[k], inner.outputs[k]
            if not assignable(new.type, slot.type):
                raise TypeError(f"scan: the step's new value of recurrent state {k} {new.label()} is a "
                                f"{new.type.describe()}, but the state is a {slot.type.describe()}: its dtype and "
                                "rank must stay the same from step to step")
            if not assignable(values[k].type, slot.type):
                raise TypeError(f"scan: initial value {values[k].label()} of recurrent state {k} is a "
                                f"{values[k].type.describe()}, the step expects a {slot.type.describe()}")
        for k in range(c, c + s):
            slot, seq = inner.inputs[k], values[k]
            if seq.ndim != slot.ndim + 1 or seq.dtype != slot.dtype or not assignable(
                    TensorType(seq.dtype, seq.broadcastable[1:]), slot.type):
                raise TypeError(f"scan: sequence {seq.label()} ({seq.type.describe()}) does not hold steps of "
                                f"type {slot.type.describe()}")
        for k in range(c + s, len(values)):
            if not assignable(values[k].type, inner.inputs[k].type):
                raise TypeError(f"scan: invariant {values[k].label()} ({values[k].type.describe()}) does not match "
                                f"the step's input of type {inner.inputs[k].type.describe()}")
        if self.until:
            stop = inner.outputs[-1]
            if stop.ndim != 0:
                raise TypeError(f"scan: the until condition {stop.label()} must be a scalar, got "
                                f"{stop.type.describe()}")
        types = [inner.inputs[k].type for k in range(c)]
        types += [stacked(inner.inputs[k].type) for k in range(c) if self.history[k]]
        types += [stacked(y.type) for y in inner.outputs[c:c + self.n_ys]]
        return Apply(self, [n_steps, *values], types)

    def __str__(self) -> str:
        return f"Scan{{{self.name}}}" if self.name else "Scan"

    # --- the layout of a node's outputs -------------------------------------------------------------
    def history_output(self, node: Apply, k: int) -> Variable | None:
        """The stacked history of carry ``k`` in ``node``'s outputs, or None when not kept."""
        if not self.history[k]:
            return None
        return node.outputs[self.n_carry + sum(self.history[:k])]

    def y_output(self, node: Apply, j: int) -> Variable:
        return node.outputs[self.n_carry + sum(self.history) + j]
