"""Calls that LLVM always inlines: ``call_inline(fn, x)``, how generated loops call the elementwise
helpers (``vtanh``, ``vexp``, the logistic helpers).

A loop over ``vtanh`` vectorizes only when the call is inlined, and LLVM's inliner weighs a call by
how often it thinks the call's block runs: below a frequency it counts the site as cold and
inlines only callees far smaller than ``vtanh`` (its cold threshold is 45, ``vtanh`` costs several
times that). In a long kernel function the blocks after many branches look cold, so a loop late in
a long part called ``vtanh`` once per element (the 250-deep tanh chain with its gradient, once its
parts could grow past ``MAX_PART_LINES``: docs/PERFORMANCE.md, "Large graphs"). The call printed
here carries LLVM's ``alwaysinline`` attribute, so it is inlined wherever the loop is, and the loop
can then be vectorized as any other.

>>> import numba, numpy as np
>>> @numba.njit
... def cube(x):
...     return x * x * x
>>> @numba.njit
... def run(a):
...     return call_inline(cube, a[0] + 1.0)
>>> float(run(np.array([1.0])))
8.0
"""
from __future__ import annotations

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def call_inline(typingctx, fn, x):
    """``fn(x)`` for a jitted ``fn`` that returns a value (not an optional one: numba's plain call
    path unpacks those), the call marked ``alwaysinline`` for LLVM."""
    if not isinstance(fn, types.Dispatcher):
        return None
    inner = fn.get_call_type(typingctx, (types.unliteral(x),), {})  # compiles fn
    if inner is None or isinstance(inner.return_type, types.Optional):
        return None

    def codegen(context, builder, signature, args):
        compiled = fn.dispatcher.get_compile_result(inner)
        context.active_code_library.add_linking_library(compiled.library)
        callee = context.declare_function(builder.module, compiled.fndesc)
        value = context.cast(builder, args[1], signature.args[1], inner.args[0])
        status, result = context.call_conv.call_function(builder, callee, inner.return_type, inner.args, [value],
                                                         attrs=("alwaysinline",))
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return result

    return inner.return_type(fn, x), codegen
