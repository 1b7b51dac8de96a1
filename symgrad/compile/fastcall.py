"""The call path of a compiled function: one generated Python function per ``Function`` (and one
for its ``loop``), the only code between a call and the kernel.

A training step called from Python pays for every layer between the call and the kernel (argument
conversion, the shared state, the backend's layout checks, result conversion, the update writes):
about twice as much when each layer was its own generic loop as printed here as straight-line
code, one line per argument, no loops, no lists (they run after the kernel has pushed the
interpreter's data out of the caches; docs/PERFORMANCE.md, "The call path"). What it does, in order:

- an argument that is not already an array of the input's exact dtype and rank goes through the
  input's converter (errors name the input; safe casts only unless downcasts are allowed);
- under the state lock when the function updates shared variables or reads a buffer some kernel
  writes in place (see ``shared.STATE_LOCK``): the shared values are read (a copy that dropped its
  updates passes copies of the buffers its kernel writes in place), the kernel runs, its results
  that may share memory with an argument or an earlier result are copied (``KernelInfo.may_alias``),
  and only then every update is written;
- the kernel runs as the backend's printed lines when it offers them (``Kernel.direct``: numba's
  layout checks, its compiled entry, error explanation, result conversion), else as ``Kernel.call``.

``Function.__call__`` binds keywords and defaults and then calls the same function.

>>> import numpy as np, symgrad as sg, symgrad.tensor as T
>>> x = T.dvector("x")
>>> w = sg.shared(np.ones(2), name="w")
>>> f = sg.function([x], (w * x).sum(), updates=[(w, w - x)], mode="numba")
>>> print(call_source(f).splitlines()[0])
def call(a0):
>>> float(f(np.array([1.0, 2.0]))), w.get_value()
(3.0, array([ 0., -1.]))
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .shared import STATE_LOCK


def call_source(fn, loop: bool = False) -> str:
    """The source of ``call(a0, ...)`` for ``fn`` (a ``Function``), or of ``loop(n, a0, ...)``,
    which runs ``LOOP(n, values)`` (the kernel's loop, or ``fn._steps``) in the kernel's place."""
    n_in, n_shared, n_out = len(fn.inputs), len(fn._shared), len(fn.outputs)
    args = [f"a{i}" for i in range(n_in)]
    lines = [f"def {'loop' if loop else 'call'}({', '.join((['n'] if loop else []) + args)}):"]
    for i, spec in enumerate(fn.inputs):
        t = spec.variable.type
        if any(t.broadcastable):  # declared broadcastable dims: the converter checks their sizes
            lines.append(f"    a{i} = C{i}(a{i})")
        else:
            lines.append(f"    if type(a{i}) is not ndarray or a{i}.dtype is not D{i} or a{i}.ndim != {t.ndim}:")
            lines.append(f"        a{i} = C{i}(a{i})")
    values = args + [f"v{n_in + k}" for k in range(n_shared)]
    body = [f"v{n_in + k} = S{k}._value" for k in range(n_shared)]
    if fn._updates_dropped:  # the kernel would write these buffers: it gets copies
        body += [f"v{n_in + k} = v{n_in + k}.copy()" for k in fn._inplace_at]
    direct = None if loop else fn._kernel.direct
    if direct is not None:
        prepare, kernel_args = direct.prepare(values)
        body += prepare
        body += ["try:", f"    r = ENTRY({', '.join(kernel_args)})",
                 "except ERRORS as e:", f"    EXPLAIN([{', '.join(values)}], e)"]
        result: Callable[[int], str] = lambda k: direct.result(k, "r")  # noqa: E731
    else:
        body.append(f"r = {'LOOP(n, ' if loop else 'CALL('}[{', '.join(values)}])")
        result = lambda k: f"r[{k}]"  # noqa: E731
    may_alias = fn._kernel.info.may_alias
    if any(may_alias):
        body.append(f"r = FRESH([{', '.join(result(k) for k in range(len(may_alias)))}], ALIAS, "
                    f"[{', '.join(values)}])")
        result = lambda k: f"r[{k}]"  # noqa: E731
    body += [f"U{k}._value = {result(n_out + k)}" for k in range(len(fn.updates))]
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


def fresh_results(results: Sequence, may_alias: Sequence[bool], protected: list) -> list:
    """``results`` with each one that may share memory (``may_alias``) with an argument or shared
    value (``protected``) or an earlier result replaced by a copy; 0-d results as arrays.

    >>> x = np.zeros(3)
    >>> out = fresh_results([x, x[:2]], [True, True], [x])
    >>> any(np.may_share_memory(o, x) for o in out)
    False
    """
    results = list(results)
    for k, flag in enumerate(may_alias):
        if flag:
            results[k] = _fresh(results[k], protected + results[:k])
    return results


def _fresh(arr, protected: Sequence) -> np.ndarray:
    """``arr``, copied if it may share memory with an input, a shared value or a constant."""
    if not isinstance(arr, np.ndarray):
        return np.asarray(arr)
    if not arr.flags.writeable or any(arr is p or np.may_share_memory(arr, p) for p in protected):
        return arr.copy()
    return arr


def build_call_path(fn) -> tuple[Callable, Callable]:
    """``call(*args)`` and ``loop(n, *args)`` for ``fn``: positional arguments, one per input."""
    kernel = fn._kernel
    namespace = {
        "ndarray": np.ndarray, "LOCK": STATE_LOCK, "CALL": kernel.call, "FRESH": fresh_results,
        "ALIAS": list(kernel.info.may_alias),
        "LOOP": kernel.loop if kernel.loop is not None and not fn._updates_dropped else fn._steps,
    }
    if kernel.direct is not None:
        namespace.update(kernel.direct.namespace)
        namespace.update(ENTRY=kernel.direct.entry, EXPLAIN=kernel.direct.explain, ERRORS=kernel.direct.errors)
    for i, spec in enumerate(fn.inputs):
        namespace[f"C{i}"] = fn._converters[i]
        namespace[f"D{i}"] = np.dtype(spec.variable.type.dtype)
    for k, s in enumerate(fn._shared):
        namespace[f"S{k}"] = s
    for k, (var, _) in enumerate(fn.updates):
        namespace[f"U{k}"] = var
    exec(compile(call_source(fn) + "\n\n\n" + call_source(fn, loop=True), "<symgrad call path>", "exec"),
         namespace)  # noqa: S102 - printed above
    return namespace["call"], namespace["loop"]
