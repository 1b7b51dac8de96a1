"""Calls that keep a large callee's machine code out of its caller: ``call_apart(fn, args)``.

When a jitted function calls another, numba links the callee's code into the caller's module and
optimizes and compiles the whole module again: a scan's step is compiled once on its own and again
inside the kernel part that runs the scan, a row pass inside its kernel, every kernel part inside
the ``kernel`` that ``loop`` compiles (the LSTM training step: ``loop``'s first call 7.8 s, of
which almost all is its parts compiled a second time). A callee with a disk cache entry of its own
is called apart instead: the caller declares the callee's symbol and numba's JIT linker finds it
among the code already loaded, so each function's machine code is made once.

What makes that safe when the caller comes back from the disk cache in another process: the
caller's entry carries a :class:`Callee` among numba's reload hooks, which run before its object
code is loaded. The hook loads (or compiles) the callee first and checks that it has the symbol the
caller was compiled against (numba's symbol names hold a per-process counter: a callee compiled
again elsewhere has another name). If not, it raises ``diskcache.StaleEntry`` and the caller's entry
is compiled again, never loaded with a dangling call.

Callees without a disk cache entry of their own (kernels compiled in memory when the cache folder
is unusable, functions jitted without a cache) are linked as before: their code then lives only
inside their caller's entry.

>>> import numba, numpy as np
>>> @numba.njit
... def twice(x):
...     return 2 * x
>>> @numba.njit
... def run(x):
...     return call_apart(twice, (x,))
>>> run(np.arange(3.0))
array([0., 2., 4.])
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from numba import types
from numba.core.caching import NullCache
from numba.extending import intrinsic

from .diskcache import StaleEntry


@dataclass(frozen=True)
class Callee:
    """Reload hook of a cached caller: load ``module.name`` for ``signature`` and check that it
    defines ``symbol`` (pickled into the caller's cache entry, so plain data)."""

    module: str
    name: str
    signature: tuple
    symbol: str

    def __call__(self) -> None:
        try:
            module = sys.modules.get(self.module) or importlib.import_module(self.module)
            dispatcher = getattr(module, self.name)
            dispatcher.compile(self.signature)
            symbol = dispatcher.overloads[self.signature].fndesc.mangled_name
        except Exception as error:  # noqa: BLE001 - whatever stops the callee, the caller is recompiled
            raise StaleEntry(f"callee {self.module}.{self.name} unavailable: {error}") from error
        if symbol != self.symbol:
            raise StaleEntry(f"callee {self.module}.{self.name} was compiled again since its caller")


def separately_cached(dispatcher) -> bool:
    """True when ``dispatcher``'s compiled code has a disk cache entry of its own."""
    return not isinstance(dispatcher._cache, NullCache)


def use_callee(context, dispatcher, signature):
    """The compile result of ``dispatcher`` for ``signature``, made callable from the code being
    lowered: apart when it is separately cached (a reload hook added), linked in otherwise."""
    compiled = dispatcher.get_compile_result(signature)
    library = context.active_code_library
    if separately_cached(dispatcher):
        py_func = dispatcher.py_func
        library._reload_init.add(Callee(py_func.__module__, py_func.__qualname__, tuple(signature.args),
                                        compiled.fndesc.mangled_name))
    else:
        library.add_linking_library(compiled.library)
    return compiled


@intrinsic
def call_apart(typingctx, fn, args):
    """``fn(*args)`` with ``fn``'s code kept out of the caller when it is separately cached."""
    if not (isinstance(fn, types.Dispatcher) and isinstance(args, types.BaseTuple)):
        return None
    arg_types = tuple(types.unliteral(t) for t in args.types)
    inner = fn.get_call_type(typingctx, arg_types, {})  # compiles fn
    if inner is None:
        return None

    def codegen(context, builder, signature, llargs):
        values = [context.cast(builder, builder.extract_value(llargs[1], k), t, u)
                  for k, (t, u) in enumerate(zip(args.types, inner.args))]
        compiled = use_callee(context, fn.dispatcher, inner)
        return context.call_internal(builder, compiled.fndesc, inner, values)

    return inner.return_type(fn, args), codegen
