"""The hot path of a compiled function: one generated Python function per ``Function``.

A training step called from Python pays for every layer between the call and the kernel (argument
conversion, the shared state, the backend's layout checks, result conversion, the update writes):
~6 us per call of the 400x784 logistic-regression step when each layer was its own generic loop
(they run after the kernel has pushed the interpreter's data out of the caches), ~2.5 us as this
module's one function (medians of interleaved timings: general path 45.4 us, generated path
41.9 us, the kernel called with its thread choice alone 39.5 us).
This module prints those layers for one function as straight-line code (one line per argument,
no loops, no lists), with exactly the behaviour of the general path:

- an argument that is not already an array of the input's exact dtype and rank goes through the
  input's converter (same errors, same casts);
- the kernel's own argument and result handling (numba: C-contiguous copies, in-place buffers,
  0-d and float16 results) are the lines its backend prints (``Kernel.direct``), the same lines
  ``Kernel.call`` runs; kernel errors are explained by the backend as in the general path;
- updates are written only after the kernel returned, under the state lock.

Used only for positional calls of kernels that offer their printed call (numba) whose results
cannot alias their arguments (see ``rewrite/alias.py``); everything else takes the general path.

>>> import numpy as np, symgrad as sg, symgrad.tensor as T
>>> x = T.dvector("x")
>>> w = sg.shared(np.ones(2), name="w")
>>> f = sg.function([x], (w * x).sum(), updates=[(w, w - x)], mode="numba")
>>> print(fast_call_source(f).splitlines()[0])
def fast(a0):
>>> float(f(np.array([1.0, 2.0]))), w.get_value()
(3.0, array([ 0., -1.]))
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .shared import STATE_LOCK


def eligible(fn) -> bool:
    """Whether ``fn`` can take the generated path (a kernel that offers its printed call, no
    aliasing results, no dropped updates)."""
    return fn._kernel.direct is not None and not fn._any_alias and not fn._updates_dropped


def fast_call_source(fn) -> str:
    """The source of ``fast(a0, ...)`` for ``fn`` (a numba-compiled ``Function``)."""
    direct = fn._kernel.direct
    n_in, n_shared = len(fn.inputs), len(fn._shared)
    args = [f"a{i}" for i in range(n_in)]
    lines = [f"def fast({', '.join(args)}):"]
    for i, spec in enumerate(fn.inputs):
        t = spec.variable.type
        if any(t.broadcastable):  # declared broadcastable dims: the converter checks their sizes
            lines.append(f"    a{i} = C{i}(a{i})")
        else:
            lines.append(f"    if type(a{i}) is not ndarray or a{i}.dtype is not D{i} or a{i}.ndim != {t.ndim}:")
            lines.append(f"        a{i} = C{i}(a{i})")
    values = args + [f"v{n_in + k}" for k in range(n_shared)]
    body = [f"v{n_in + k} = S{k}._value" for k in range(n_shared)]
    prepare, kernel_args = direct.prepare(values)  # the backend's layout checks, printed by it
    body += prepare
    body.append("try:")
    body.append(f"    r = JIT({', '.join(kernel_args)})")
    body.append("except ERRORS as e:")
    body.append(f"    EXPLAIN([{', '.join(values)}], e)")
    n_out = len(fn.outputs)

    def result(k: int) -> str:
        return direct.result(k, "r")

    for k in range(len(fn.updates)):
        body.append(f"U{k}._value = {result(n_out + k)}")
    if fn._single is None:
        body.append("return []")
    elif fn._single:
        body.append(f"return {result(0)}")
    else:
        body.append(f"return [{', '.join(result(k) for k in range(n_out))}]")
    if fn.updates:
        lines.append("    with LOCK:")
        lines += ["        " + line for line in body]
    else:  # reads of a buffer some kernel writes in place are serialized too (see shared.py)
        reads = " or ".join(f"S{k}._inplace" for k in range(n_shared)) or "False"
        lines.append(f"    if {reads}:")
        lines.append("        with LOCK:")
        lines += ["            " + line for line in body]
        lines += ["    " + line for line in body]
    return "\n".join(lines)


def build_fast_call(fn) -> Callable | None:
    """``fast(*args)`` for a positional call of ``fn``, or None where the general path is needed."""
    if not eligible(fn):
        return None
    direct = fn._kernel.direct
    namespace = dict(direct.namespace, ndarray=np.ndarray, LOCK=STATE_LOCK, JIT=direct.entry,
                     EXPLAIN=direct.explain, ERRORS=direct.errors)
    for i, spec in enumerate(fn.inputs):
        namespace[f"C{i}"] = fn._converters[i]
        namespace[f"D{i}"] = np.dtype(spec.variable.type.dtype)
    for k, s in enumerate(fn._shared):
        namespace[f"S{k}"] = s
    for k, (var, _) in enumerate(fn.updates):
        namespace[f"U{k}"] = var
    exec(compile(fast_call_source(fn), "<symgrad fast call>", "exec"), namespace)
    return namespace["fast"]
