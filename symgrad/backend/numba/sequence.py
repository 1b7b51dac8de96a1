"""A split kernel called from Python part by part, with the types the compiled whole would give
each part: :class:`Sequenced`.

codegen.py splits a large kernel into parts (``kernel_part0``, ...) and prints ``kernel`` calling
them in order. A call from Python runs the parts in turn instead
(:class:`~symgrad.backend.numba.codegen.Parts`, the calls as data), and only ``loop`` compiles
``kernel``, when it is first used: it calls the parts apart (apart.py), so that compile is small
(when numba linked every part's code into ``kernel`` and compiled it again, the LSTM training
step's ``loop`` took 7.8 s to start).

Calling a numba function from Python types each array by its flags, though: a view that is
contiguous at one call and not at the next (a transposed batch of one row) would compile the next
part again for another layout, seconds in the middle of a run. The runner gives each part the
types the compiled ``kernel`` would: the arguments are typed as numba types them, every later
value by the declared return type of the part that made it (what numba proved of it, e.g. layout
'A' for a view), and each part runs the compiled code for exactly those types
(``Dispatcher.compile(types)``, loaded from numba's disk cache when there). A value of a smaller
type (float32, int32) comes back to Python as a Python float or int and goes into the next part
as its declared type again.

>>> import symgrad.tensor as T
>>> from symgrad.backend.numba.codegen import generate, MAX_PART_LINES
>>> x = T.dvector("x")
>>> y = x
>>> for k in range(MAX_PART_LINES // 2):
...     y = T.exp(y) * 0.5 if k % 2 else y[::-1] * 0.5
>>> module = generate([x], [y, x.sum()])
>>> [p.name for p in module.parts], len(module.parts[0].calls) > 1
(['kernel'], True)
"""
from __future__ import annotations

from typing import Callable, Sequence

import numba

from .codegen import Parts


class Sequenced:
    """``parts.name`` of the module ``namespace``, called from Python (module docstring)."""

    def __init__(self, parts: Parts, namespace: dict) -> None:
        self._parts = parts
        self._namespace = namespace
        self._runs: dict[tuple, Callable] = {}  # argument types -> the run for them

    def __call__(self, *args):
        key = tuple(numba.typeof(a) for a in args)
        run = self._runs.get(key)
        if run is None:
            run = self._runs[key] = self._compile(key)
        return run(args)

    def _compile(self, arg_types: Sequence) -> Callable:
        """The parts compiled (or loaded) for the types the compiled whole would give them."""
        parts, namespace = self._parts, self._namespace
        types = dict(zip(parts.args, arg_types))
        steps = []
        for call in parts.calls:
            dispatcher = namespace[call.name]
            signature = tuple(types[p] for p in call.params)
            entry = dispatcher.compile(signature)
            returned = dispatcher.overloads[signature].signature.return_type
            types.update(zip(call.returns, returned.types))  # (a tuple's types, empty for ())
            steps.append((entry, call.params, call.returns))
        start = namespace["arena_start"] if parts.arena else None
        arena = parts.args[-1]
        names, results = parts.args, parts.results

        def run(args):
            values = dict(zip(names, args))
            if start is not None:
                start(values[arena])
            for entry, params, returns in steps:
                out = entry(*[values[p] for p in params])
                values.update(zip(returns, out))
            return tuple(values[r] for r in results)

        return run


def entries(parts: Sequence[Parts], namespace: dict) -> dict:
    """``namespace`` with each function of ``parts`` called from Python part by part."""
    return dict(namespace, **{p.name: Sequenced(p, namespace) for p in parts})
