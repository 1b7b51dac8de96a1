"""``run_chunks(count, fn, state)``: ``fn(c, state)`` for every chunk ``c`` in ``range(count)``,
on numba's threads, from compiled code, without a ``prange``.

A ``prange`` loop makes numba run its parfor passes and compile a gufunc and two wrappers for
every function that holds one: 0.8 s of the seed's 3.5 s cold compile, for a loop of two
iterations that only calls the row function. This intrinsic compiles ``fn`` as an ordinary jitted
function and prints a small C-ABI wrapper beside the call (the gufunc signature numba's threading
layers take: ``void(char **args, intp *dims, intp *steps, void *data)``) that reads the state
tuple through ``data`` and runs the chunks it is handed. The chunks go to numba's own thread pool
(``numba_parallel_for``, the function its parfors call, with ``get_num_threads()`` threads, at
most one per chunk: workqueue would give all of a short range to one thread), so
``numba.set_num_threads`` and the threading layer (omp, tbb, workqueue) act on them as on a
``prange``. With one thread (or one chunk) they run in order on the calling thread, with no
parallel region at all: that is how threads.py runs a kernel on one thread, and how a forked child
of a process that used GNU OpenMP runs it safely.

Chunk indices travel as offsets: the wrapper's one "array" argument is ``data`` itself with a
step of one byte, so the layer hands chunk ``r`` the pointer ``data + r`` (no index array).

An exception in a chunk is raised by the kernel: on one thread at once (the calling thread
stops at the failing chunk); on threads the wrapper marks the failure, the other chunks finish, and
the kernel runs the chunks again in order on the calling thread, so the first failing chunk raises
its own exception (a chunk that failed on a thread and not again raises RuntimeError). Chunks
write only the kernel's own arrays, never its inputs, so running them again changes nothing a
caller sees. ``fn`` returns an integer (a returned array would never be released).

>>> import numba, numpy as np
>>> @numba.njit
... def square(c, st):
...     st[0][c] = c * c
...     return 0
>>> @numba.njit
... def run(n):
...     out = np.zeros(n, dtype=np.int64)
...     run_chunks(n, square, (out,))
...     return out
>>> run(4)
array([0, 1, 4, 9])
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .apart import use_callee

_I8P = ir.IntType(8).as_pointer()
_INTP = ir.IntType(64)
_WRAPPER = ir.FunctionType(ir.VoidType(), [_I8P.as_pointer(), _INTP.as_pointer(), _INTP.as_pointer(), _I8P])
# numba's own declarations (numba/np/ufunc/parallel.py), so modules linked together agree
_PARALLEL_FOR = ir.FunctionType(ir.VoidType(), [_I8P] * 5 + [_INTP] * 3)
_GET_NUM_THREADS = ir.FunctionType(_INTP, [])


def start_threads() -> None:
    """Load numba's threading layer, which defines the symbols the wrapper calls. Run when a
    kernel is compiled and, from numba's cache, before one is loaded (the library's reload hook)."""
    from numba.np.ufunc.parallel import _launch_threads

    _launch_threads()


@intrinsic
def run_chunks(typingctx, count, fn, state):
    if not (isinstance(count, types.Integer) and isinstance(fn, types.Dispatcher)
            and isinstance(state, types.BaseTuple)):
        return None
    start_threads()
    inner = fn.get_call_type(typingctx, (types.intp, state), {})  # compiles fn
    if inner is None or not isinstance(inner.return_type, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        n, _, st = args
        n = context.cast(builder, n, signature.args[0], types.intp)
        compiled = use_callee(context, fn.dispatcher, inner)  # (apart when cached on its own: apart.py)
        library = context.active_code_library
        library._reload_init.add(start_threads)  # (numba's parfors register their loader the same way)
        module = builder.module
        state_type = context.get_value_type(state)

        # what the threads read through ``data``: the state and a flag a failing chunk sets
        shared_type = ir.LiteralStructType([state_type, ir.IntType(32)])

        def in_order(b):  # every chunk on this thread; an exception leaves the kernel at once
            with cgutils.for_range(b, n) as loop:
                context.call_internal(b, compiled.fndesc, inner, [loop.index, st])

        wrapper = ir.Function(module, _WRAPPER, module.get_unique_name("symgrad_chunks"))
        wrapper.linkage = "internal"
        wb = ir.IRBuilder(wrapper.append_basic_block("entry"))
        arrays, dims, _steps, data = wrapper.args
        shared = wb.bitcast(data, shared_type.as_pointer())
        value = wb.load(cgutils.gep_inbounds(wb, shared, 0, 0))
        first = wb.sub(wb.ptrtoint(wb.load(arrays), _INTP), wb.ptrtoint(data, _INTP))
        with cgutils.for_range(wb, wb.load(dims)) as loop:  # (OpenMP hands one chunk, tbb a range)
            status, _ = context.call_internal_no_propagate(wb, compiled.fndesc, inner,
                                                           [wb.add(first, loop.index), value])
            with wb.if_then(status.is_error, likely=False):
                wb.store(ir.IntType(32)(1), cgutils.gep_inbounds(wb, shared, 0, 1))
        wb.ret_void()

        get_threads = cgutils.get_or_insert_function(module, _GET_NUM_THREADS, "get_num_threads")
        parallel_for = cgutils.get_or_insert_function(module, _PARALLEL_FOR, "numba_parallel_for")
        # (the C function returns an int: only its low 32 bits are defined)
        threads = builder.sext(builder.trunc(builder.call(get_threads, []), ir.IntType(32)), _INTP)
        threads = builder.select(builder.icmp_signed("<", n, threads), n, threads)  # (workqueue: one chunk each)
        one = _INTP(1)
        serial = builder.icmp_signed("<=", threads, one)
        shared = cgutils.alloca_once(builder, shared_type)
        builder.store(st, cgutils.gep_inbounds(builder, shared, 0, 0))
        failed_at = cgutils.gep_inbounds(builder, shared, 0, 1)
        builder.store(ir.IntType(32)(0), failed_at)
        data_at = builder.bitcast(shared, _I8P)
        arrays_at = cgutils.alloca_once(builder, _I8P)
        dims_at = cgutils.alloca_once(builder, _INTP)
        steps_at = cgutils.alloca_once(builder, _INTP)
        with builder.if_else(serial) as (one_thread, threaded):
            with one_thread:
                in_order(builder)
            with threaded:
                builder.store(data_at, arrays_at)
                builder.store(n, dims_at)
                builder.store(one, steps_at)
                builder.call(parallel_for, [builder.bitcast(wrapper, _I8P), builder.bitcast(arrays_at, _I8P),
                                            builder.bitcast(dims_at, _I8P), builder.bitcast(steps_at, _I8P),
                                            data_at, _INTP(0), one, threads])
                with builder.if_then(builder.icmp_signed("!=", builder.load(failed_at), ir.IntType(32)(0)),
                                     likely=False):
                    in_order(builder)  # the first failing chunk raises its exception here
                    context.call_conv.return_user_exc(builder, RuntimeError,
                                                      ("run_chunks: a chunk failed on a thread",))
        return context.get_constant(types.int64, 0)

    return types.int64(count, fn, state), codegen
