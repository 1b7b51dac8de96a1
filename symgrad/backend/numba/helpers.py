"""Jitted helpers that generated kernels call: stable scalar sigmoid/softplus per float width,
a tanh that loops run in SIMD, and layout adapters for BLAS. Generated modules import everything
from here.

>>> float(sigmoid64(-1000.0)), float(softplus64(1000.0))
(0.0, 1000.0)
>>> bool(abs(vtanh(0.5) - np.tanh(0.5)) <= 4 * np.spacing(0.5)), float(vtanh(-np.inf)), float(vtanh(np.float32(100.0)))
(True, -1.0, 1.0)
"""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from llvmlite import ir
from numba.extending import intrinsic, overload

from ...tensor.random import mrg31k3p_step as _mrg31k3p_step
from .blas import (
    DGEMM_SYMBOL as _DGEMM_SYMBOL,
    GEMM_READY_SYMBOL as _GEMM_READY_SYMBOL,
    GET_SYMBOL as _GET_SYMBOL,
    SET_SYMBOL as _SET_SYMBOL,
    SGEMM_SYMBOL as _SGEMM_SYMBOL,
    register as _register_blas,
)
from .apart import call_apart  # noqa: F401  (generated modules import it from here)
from .chunks import run_chunks  # noqa: F401  (generated modules import it from here)
from .diskcache import attach_all as _attach_all

# No cache=True: a disk cache that survives damaged entries is attached after jitting
# (diskcache.attach); for kernels beside their module, for the helpers below where numba keeps
# the package's files.
# Without the wrapper numba builds for calls through a C function pointer (cfunc), which nothing
# makes: kernels and parts are called from Python or apart (apart.py), helpers from compiled code.
# Its LLVM passes and machine code cost up to 0.3 s per function with many array arguments (the
# 200-deep chain's first call 8.05-8.09 -> 7.41-7.47 s, the LSTM's 17.7-17.8 -> 17.0-17.2 s).
JIT = dict(nogil=True, error_model="numpy", no_cfunc_wrapper=True)
# Row passes may reassociate sums (vectorized dot products) and fuse multiply-adds; no flag that
# assumes finite values or no NaN is set, so inf/nan still propagate as in numpy.
JIT_FAST = dict(JIT, fastmath={"reassoc", "contract"})
# The elementwise functions written in plain arithmetic (vexp, vtanh, sigmoid64): multiply-adds
# fused (a polynomial's Horner steps become one FMA each, rounded once), nothing reordered.
JIT_FMA = dict(JIT, fastmath={"contract"})
# A row pass, called only from its kernel: without the wrapper for calls from Python either
# (cpython: unboxing the state tuple), which would never run. The seed's cold first call:
# 1.79-1.95 -> 1.63-1.65 s.
JIT_FAST_INNER = dict(JIT_FAST, no_cpython_wrapper=True)
# A loop body shared by several loops of a kernel (emitters._plain_loop), called apart: the
# kernel's own options, without that wrapper.
JIT_INNER = dict(JIT, no_cpython_wrapper=True)
# Below this many elements of X a row pass stays on one thread: starting the threads (~5 us)
# would cost more than the second core saves.
PARALLEL_MIN_ELEMENTS = 100_000


def as_float(x):
    """``x`` itself if it is a float, else float64 (``-x`` of an unsigned int or a bool would wrap)."""
    return x


@overload(as_float, jit_options={"cache": True})
def _as_float(x):
    if isinstance(x, (types.Integer, types.Boolean)):
        return lambda x: np.float64(x)
    return lambda x: x


@numba.njit(**JIT)
def round_half_away(x):
    """Round halves away from zero, exactly (see scalar/evaluate.py's ``_round_half_away``)."""
    t = np.trunc(x)
    if abs(x - t) >= 0.5:
        return t + np.sign(x)
    return t


@numba.njit(**JIT)
def vsum(a):
    """The sum of the 1-d array ``a`` in its own dtype, in eight interleaved partial sums added
    pairwise at the end (numpy sums in blocks too). One running sum is a chain of dependent adds
    that LLVM may not reorder (no fastmath): eight run as one vector. A float32 bias gradient over
    (100, 8, 22, 22): 0.21 -> 0.08 ms, and 13x closer to the exact sum.

    >>> float(vsum(np.arange(10.0)))
    45.0
    """
    n = a.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = a.dtype.type(0)
    m = n - n % 8
    for i in range(0, m, 8):
        s0 += a[i]
        s1 += a[i + 1]
        s2 += a[i + 2]
        s3 += a[i + 3]
        s4 += a[i + 4]
        s5 += a[i + 5]
        s6 += a[i + 6]
        s7 += a[i + 7]
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for i in range(m, n):
        s += a[i]
    return s


@numba.njit(**JIT)
def row_chunks(n, m, most):
    """Row chunks (one per thread) for a row pass over an n x m matrix: ``most`` for large inputs,
    one for small ones; at least 32 rows per chunk."""
    if n * m < PARALLEL_MIN_ELEMENTS:
        return 1
    return max(1, min(most, n // 32))


def blas_ready(x):
    """``x`` itself when BLAS can take it (C or F contiguous), else a C-contiguous copy."""
    return x


@overload(blas_ready, jit_options={"cache": True})
def _blas_ready(x):
    if isinstance(x, types.Array) and x.layout in "CF":
        return lambda x: x
    return lambda x: np.ascontiguousarray(x)


# --- matrix products on numpy's OpenBLAS (see blas.py) -----------------------------------------------
_register_blas()  # before any kernel that calls the functions below is compiled or loaded
_GEMM_ARGS = (types.int32, types.int32, types.int32, types.int64, types.int64, types.int64)
# (pointers travel as intp: the same register as a pointer in the C calling convention)
_OPERANDS = (types.intp, types.int64, types.intp, types.int64)  # a, lda, b, ldb
_dgemm = types.ExternalFunction(_DGEMM_SYMBOL, types.void(*_GEMM_ARGS, types.float64, *_OPERANDS, types.float64,
                                                          types.intp, types.int64))
_sgemm = types.ExternalFunction(_SGEMM_SYMBOL, types.void(*_GEMM_ARGS, types.float32, *_OPERANDS, types.float32,
                                                          types.intp, types.int64))
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS's constants


@intrinsic
def _gemm_ready(typingctx):
    """Whether the gemm symbols are numpy's OpenBLAS (an int32 that blas.register sets): read at
    run time, so a helper from numba's disk cache is right in an environment without it."""
    def codegen(context, builder, signature, args):
        flag = ir.GlobalVariable(builder.module, ir.IntType(32), name=_GEMM_READY_SYMBOL)
        flag.linkage = "external"
        return builder.icmp_unsigned("!=", builder.load(flag), ir.Constant(ir.IntType(32), 0))
    return types.boolean(), codegen


def _gemm_kind(a, b):
    """"d"/"s" when ``a @ b`` can go to ``cblas_?gemm``: two matrices of one float dtype, each C- or
    F-ordered in its type (``blas_ready``'s result); else None."""
    if not (isinstance(a, types.Array) and isinstance(b, types.Array) and a.ndim == 2 and b.ndim == 2
            and a.layout in "CF" and b.layout in "CF" and a.dtype == b.dtype):
        return None
    return {types.float64: "d", types.float32: "s"}.get(a.dtype)


@numba.njit(**JIT)
def _gemm_into(a, b, out):
    """``out = a @ b`` by ``cblas_?gemm`` (a, b C- or F-ordered; out C-ordered, of their dtype and
    shape: the callers check). Row-major: a C-ordered operand is read as it is, an F-ordered one as
    the transpose of its C-ordered reading."""
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:  # (BLAS may leave out untouched)
        for i in range(m):
            for j in range(n):
                out[i, j] = 0
        return
    _gemm_call(a, b, out, 1.0, 0.0)


@numba.njit(**JIT)
def _gemm_call(a, b, c, alpha, beta):
    """``c = alpha * (a @ b) + beta * c`` by ``cblas_?gemm`` (every size at least 1; c C-ordered)."""
    m, k, n = a.shape[0], a.shape[1], b.shape[1]
    ta, lda = (_NO_TRANS, k) if a.flags.c_contiguous else (_TRANS, m)
    tb, ldb = (_NO_TRANS, n) if b.flags.c_contiguous else (_TRANS, k)
    if a.itemsize == 8:
        _dgemm(_ROW_MAJOR, ta, tb, m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta, c.ctypes.data, n)
    else:
        _sgemm(_ROW_MAJOR, ta, tb, m, n, k, np.float32(alpha), a.ctypes.data, lda, b.ctypes.data, ldb,
               np.float32(beta), c.ctypes.data, n)


def _product(a, b):
    """``np.dot(a, b)`` of operands made ready for BLAS; matrices of a float dtype go to numpy's
    OpenBLAS (one thread pool with numpy's own products, see blas.py)."""
    return np.dot(a, b)


@overload(_product, jit_options={"cache": True})
def _product_impl(a, b):
    if _gemm_kind(a, b) is None:
        return lambda a, b: np.dot(a, b)

    def impl(a, b):
        if not _gemm_ready():
            return np.dot(a, b)
        if a.shape[1] != b.shape[0]:
            raise ValueError("matrix product: shapes do not align")
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
        _gemm_into(a, b, out)
        return out
    return impl


def _product_to(a, b, out):
    """``np.dot(a, b, out)`` of operands made ready for BLAS (``_product``'s route)."""
    np.dot(a, b, out)


@overload(_product_to, jit_options={"cache": True})
def _product_to_impl(a, b, out):
    if _gemm_kind(a, b) is None or not (isinstance(out, types.Array) and out.ndim == 2 and out.dtype == a.dtype):
        return lambda a, b, out: np.dot(a, b, out)

    def impl(a, b, out):
        if not (_gemm_ready() and out.flags.c_contiguous):
            np.dot(a, b, out)
            return
        if a.shape[1] != b.shape[0] or out.shape[0] != a.shape[0] or out.shape[1] != b.shape[1]:
            raise ValueError("matrix product: shapes do not align")
        _gemm_into(a, b, out)
    return impl


def _gemm_update(a, b, c, alpha, beta):
    """``c[...] = alpha * (a @ b) + beta * c`` in c's buffer (shapes checked by the caller)."""
    d = np.dot(a, b)
    c[...] = alpha * d + beta * c


@overload(_gemm_update, jit_options={"cache": True})
def _gemm_update_impl(a, b, c, alpha, beta):
    direct = _gemm_kind(a, b) is not None and isinstance(c, types.Array) and c.ndim == 2 and c.dtype == a.dtype

    def impl(a, b, c, alpha, beta):
        m, n = c.shape
        if direct and _gemm_ready() and c.flags.c_contiguous and a.shape[1] > 0 and m > 0 and n > 0:
            lo, hi = c.ctypes.data, c.ctypes.data + c.nbytes
            if not (_overlaps(a, lo, hi) or _overlaps(b, lo, hi)):
                _gemm_call(a, b, c, alpha, beta)
                return
        d = _product(a, b)  # (a factor in c's memory, another layout, no numpy BLAS: the product first)
        for i in range(m):
            for j in range(n):
                c[i, j] = alpha * d[i, j] + beta * c[i, j]
    return impl


@numba.njit(**JIT)
def _overlaps(x, lo, hi):
    """Whether the contiguous array ``x`` shares a byte with [lo, hi)."""
    start = x.ctypes.data
    return x.size > 0 and start < hi and lo < start + x.nbytes


@numba.njit(**JIT)
def gemm_update(a, b, c, alpha, beta):
    """``c = alpha * (a @ b) + beta * c`` written into ``c`` (gemmupdate.py): one ``cblas_?gemm``
    when c is C-ordered and shares no memory with a or b, else the product, then a loop."""
    _gemm_update(blas_ready(a), blas_ready(b), c, alpha, beta)


@numba.njit(**JIT)
def blas_dot(a, b):
    """``np.dot`` of arrays made ready for BLAS (``blas_ready``). A helper, so numba compiles its
    implementation of ``np.dot`` once per signature for good (disk cache), not once in every process
    that compiles a kernel (~0.2 s each)."""
    return _product(blas_ready(a), blas_ready(b))


@numba.njit(**JIT)
def blas_dot_to(a, b, out):
    """``np.dot(a, b, out)`` with a and b made ready for BLAS (``blas_dot``'s reason)."""
    _product_to(blas_ready(a), blas_ready(b), out)


def contiguous(x):
    """A C-contiguous array with x's values (no copy when it already is)."""
    return x


@overload(contiguous, jit_options={"cache": True})
def _contiguous(x):
    if isinstance(x, types.Array) and x.layout == "C":
        return lambda x: x
    return lambda x: np.ascontiguousarray(x)


def power(a, b):
    """``a ** b`` with numpy's rule for integers: a negative integer exponent is a ValueError."""
    return a ** b


@overload(power, jit_options={"cache": True})
def _power(a, b):
    if isinstance(a, types.Integer) and isinstance(b, types.Integer):
        def impl(a, b):
            if b < 0:
                raise ValueError("Integers to negative integer powers are not allowed.")
            return a ** b
        return impl
    return lambda a, b: a ** b


@intrinsic
def unlikely(typingctx, cond):
    """``cond`` as a bool, with LLVM told it is almost always false (``llvm.expect``): kernels guard
    every raise with it (``Emitter.fail_if``), so LLVM lays out and optimizes the paths that do not
    raise as the hot ones."""
    def codegen(context, builder, signature, args):
        truth = context.is_true(builder, signature.args[0], args[0])
        i1 = ir.IntType(1)
        expect = builder.module.declare_intrinsic("llvm.expect", [i1], ir.FunctionType(i1, [i1, i1]))
        return builder.call(expect, [truth, ir.Constant(i1, 0)])
    return types.boolean(cond), codegen


def _check(error: type[Exception]):
    """An intrinsic ``check(cond, message)``: ``error(message)`` when ``cond``, for a string constant
    ``message`` (a kernel's check, emit.Emitter.fail_if). numba's own static raise, with the branch
    marked unlikely (as ``unlikely``), printed where it is called: no call for LLVM to inline (numba
    0.63 left calls of a jitted check in place, and the loops after a dozen of them looked cold:
    vtanh called per element), no blocks for numba's passes (an ``if cond: raise`` costs those
    several times as long), and nothing compiled per message (a jitted function taking the message
    is compiled again for every string constant, which numba types as its literal)."""
    @intrinsic
    def check(typingctx, cond, message):
        if not isinstance(message, types.StringLiteral):
            return None
        text = message.literal_value

        def codegen(context, builder, signature, args):
            failed = context.is_true(builder, signature.args[0], args[0])
            with cgutils.if_unlikely(builder, failed):
                context.call_conv.return_user_exc(builder, error, (text,))
            return context.get_dummy_value()
        return types.none(cond, message), codegen
    return check


value_error_if = _check(ValueError)
index_error_if = _check(IndexError)


@numba.njit(**JIT)
def resolve_shape(shape, size):
    """The dims of a reshape of ``size`` elements to ``shape`` (ints, one of them may be -1), as
    int64, the -1 resolved; every dim -1 when there is none (the kernel raises, naming the
    variable). One call instead of a branch per dim and a raise per case in every kernel."""
    out = np.empty(shape.shape[0], dtype=np.int64)
    known, neg = 1, -1
    for d in range(shape.shape[0]):
        out[d] = shape[d]
        if out[d] == -1 and neg < 0:
            neg = d
        else:
            known *= out[d]
    if neg >= 0:
        if known > 0 and size % known == 0:
            out[neg] = size // known
        else:
            out[:] = -1
    elif known != size:
        out[:] = -1
    return out


# --- BLAS threads around a loop (see blas.py) -------------------------------------------------------
_blas_set = types.ExternalFunction(_SET_SYMBOL, types.void(types.int32))
_blas_get = types.ExternalFunction(_GET_SYMBOL, types.int32())


@numba.njit(**JIT)
def blas_threads_at_most(k):
    """Set the products' BLAS to at most ``k`` threads; the count it had, for ``blas_threads_back``."""
    n = _blas_get()
    if n > k:
        _blas_set(k)
    return n


@numba.njit(**JIT)
def blas_threads_back(n):
    """Put back the count ``blas_threads_at_most`` returned."""
    if _blas_get() != n:
        _blas_set(n)


# --- the kernel's arena (see arena.py) --------------------------------------------------------------
ARENA_HEADER = 64  # bytes before the first array: the bump position (int64), alone on its cache line


@intrinsic
def _at(typingctx, ws, offset, dtype):
    """A pointer to ``dtype`` values at byte ``offset`` of the byte array ``ws`` (callers keep
    ``offset`` inside ``ws`` and aligned for ``dtype``)."""
    target = dtype.dtype if isinstance(dtype, types.DTypeSpec) else dtype.instance_type

    def codegen(context, builder, signature, args):
        arr = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.bitcast(builder.gep(arr.data, [args[1]]), context.get_value_type(signature.return_type))
    return types.CPointer(target)(ws, offset, dtype), codegen


@numba.njit(**JIT)
def arena_start(ws):
    """Start a call: the arena's arrays are carved again from its first byte after the header."""
    _at(ws, 0, np.int64)[0] = ARENA_HEADER


@numba.njit(**JIT)
def arena_array(ws, shape, dtype, itemsize):
    """An uninitialized C array of ``shape`` and ``dtype``: the arena's next bytes when they fit,
    else a new array (the position moves on either way, so the caller learns the size needed).
    The array is made on the arena's memory with ``numba.carray`` (no owner of its own: the arena
    outlives the call); a view and a reshape would cost 1.5 s more to compile per shape rank."""
    n = itemsize
    for s in shape:
        if unlikely(s < 0):
            raise ValueError("negative dimensions are not allowed")
        n *= s
    pos = _at(ws, 0, np.int64)
    p = pos[0]
    q = p + (n + 63) // 64 * 64  # each array starts on a cache line
    pos[0] = q
    if q <= ws.shape[0]:
        return numba.carray(_at(ws, p, dtype), shape)
    return np.empty(shape, dtype)


# --- new arrays --------------------------------------------------------------------------------
# Generated code allocates through these cached helpers, not np.empty/np.zeros/np.full/np.array
# directly: numba compiles its implementation of each of those once per process and signature
# (0.2-0.4 s of a cold compile, docs/PERFORMANCE.md "Start-up and compile time"); a call to a
# helper loads it from the disk cache, already compiled. ``dtype`` is a numpy scalar type or an
# array's ``.dtype``; ``shape`` an int or a tuple of ints, as numpy takes them.
@numba.njit(**JIT)
def new_empty(shape, dtype):
    """``np.empty(shape, dtype)``."""
    return np.empty(shape, dtype)


@numba.njit(**JIT)
def new_zeros(shape, dtype):
    """``np.zeros(shape, dtype)``."""
    return np.zeros(shape, dtype)


@numba.njit(**JIT)
def new_filled(shape, value):
    """``np.full(shape, value)``: the value's dtype (generated code passes a typed value)."""
    return np.full(shape, value)


@numba.njit(**JIT)
def new_vector(items, dtype):
    """``np.array(items, dtype)`` for a tuple of numbers."""
    return np.array(items, dtype)


@numba.njit(**JIT)
def new_range(start, stop, step, dtype):
    """``np.arange(start, stop, step).astype(dtype)`` (numba's ``np.arange`` and what it calls cost
    0.5 s of compile in every process that prints one: the MLP's cross-entropy indexes rows by one)."""
    return np.arange(start, stop, step).astype(dtype)


# --- tanh that LLVM can vectorize --------------------------------------------------------------
# numba calls libm's tanh one element at a time (llvmlite's PyPI builds have no SVML): 336 us for
# a 400x64 layer against numpy's 44 us. This tanh is plain arithmetic in one function without
# calls, which LLVM inlines into the kernel's loop and runs 4 or 8 elements at a time.
# Accuracy, checked against numpy over the whole range in tests/backend/numba/test_helpers.py: within
# 4 ulp (libm: within 1), exact at 0, -0, +-inf, nan and subnormals. A float32 tanh is vtanh32: the
# same formula in float64 with the terms a float32 result needs, rounded once.
@intrinsic
def _from_bits(typingctx, i):
    """The float64 whose bits are the int64 ``i``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _to_bits(typingctx, d):
    """The int64 whose bits are the float64 ``d``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts: k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13 = (
    float(1.0 / np.prod(np.arange(1.0, k + 1))) for k in range(2, 14))
# Rounding to an integer by adding 1.5 * 2**52: the sum's low bits are the integer k (|k| < 2**51),
# so 2**k is built from the bits with integer adds and shifts, which AVX2 has for 4 lanes; a
# float -> int64 conversion is one lane at a time before AVX-512 (measured: 10 % of vtanh's time).
_ROUNDER = 6755399441055744.0
_ROUNDER_BITS = 0x4338000000000000


@numba.njit(**JIT_FMA)
def _round_log2(y):
    """k = y / ln2 rounded to the nearest integer (|y| < 2**50), as a float and as the int64
    ``k + 1023``, the biased exponent of 2**k (``_from_bits((k + 1023) << 52)`` is 2**k)."""
    kb = y * _LOG2E + _ROUNDER
    return kb - _ROUNDER, (_to_bits(kb) - _ROUNDER_BITS) + 1023


@numba.njit(**JIT_FMA)
def _expm1_reduced(y, k):
    """expm1(r) for r = y - k ln2, |r| <= ln2/2 (Cody-Waite: ln2 in two parts): the Taylor series up
    to r**13 (truncation below 1e-17 relative), evaluated by Estrin's scheme: the terms in pairs,
    combined with r**2, r**4, r**8, so the longest chain of dependent multiply-adds is 5 instead of
    12 (a loop of these is bound by that chain: Horner's form ran at half the speed)."""
    r = (y - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    q = ((_E2 + _E3 * r) + r2 * (_E4 + _E5 * r)) + r4 * ((_E6 + _E7 * r) + r2 * (_E8 + _E9 * r)) \
        + (r4 * r4) * ((_E10 + _E11 * r) + r2 * (_E12 + _E13 * r))
    return r + r2 * q


@numba.njit(**JIT_FMA)
def vexp(x):
    """exp(x) in plain arithmetic that LLVM inlines and vectorizes (libm's exp is a call per
    element): exp(x) = exp(r) * 2**k, 2**k applied in two halves so that results down to the
    subnormals and up to overflow come out right without a branch. Within 2 ulp of numpy's exp on
    normal results; inf, 0 and nan where numpy gives them."""
    x = as_float(x)
    y = x if x < 710.0 else 710.0  # exp(710) overflows to inf, exp(-746) underflows to 0
    y = y if y > -746.0 else -746.0
    k, kb = _round_log2(y)
    ki = kb - 1023
    half = ki >> 1
    e = ((_expm1_reduced(y, k) + 1.0) * _from_bits((half + 1023) << 52)) * _from_bits((ki - half + 1023) << 52)
    return e if x == x else x


@numba.njit(**JIT_FMA)
def vtanh(x):
    """tanh(x) = u / (u + 2), u = expm1(2|x|), with x's sign; |x| >= 22 gives +-1 exactly.
    expm1(y) = 2**k expm1(r) + (2**k - 1) for y = k ln2 + r, |r| <= ln2/2: no cancellation for
    any y >= 0 (k = 0 is expm1(r) itself), one polynomial and no branch. One function, no calls:
    LLVM inlines it into a loop and vectorizes the loop.

    >>> bool(abs(vtanh(0.5) - np.tanh(0.5)) <= 4 * np.spacing(0.5))
    True
    """
    x = as_float(x)
    a = np.abs(x)
    y = 2.0 * (a if a < 22.0 else 22.0)
    k, kb = _round_log2(y)
    p = _from_bits(kb << 52)  # 2**k, k <= 64: a normal float
    u = p * _expm1_reduced(y, k) + (p - 1.0)
    t = np.copysign(u / (u + 2.0), x)
    return t if x == x else x


@numba.njit(**JIT_FMA)
def vtanh32(x):
    """tanh of a float32 ``x`` as a float32 (what float32 kernels print): expm1(2|x|) / (expm1(2|x|)
    + 2) in float64 with expm1 = exp - 1 (the cancellation costs at most ~1e-12 relative above
    |x| = 2**-12, far below a float32 ulp; below it tanh(x) rounds to x), exp from its Taylor
    series up to r**8 (truncation below 6e-9 relative). No branch: LLVM vectorizes the loop. Within
    1 float32 ulp of tanh rounded from float64, exact on 99.99 % of points (numpy's own float32
    tanh: within 1 ulp, exact on 78 %), at 1.2x the speed of vtanh rounded."""
    x = np.float64(x)
    a = np.abs(x)
    y = 2.0 * (a if a < 10.0 else 10.0)  # tanh(5) rounds to 1 in float32
    k, kb = _round_log2(y)
    r = (y - k * _LN2_HI) - k * _LN2_LO
    r2 = r * r
    q = ((_E2 + _E3 * r) + r2 * (_E4 + _E5 * r)) + (r2 * r2) * ((_E6 + _E7 * r) + r2 * _E8)  # (Estrin)
    u = ((r + r2 * q) + 1.0) * _from_bits(kb << 52) - 1.0
    t = np.copysign(u / (u + 2.0), x)
    return np.float32(t if a >= 2.0 ** -12 else x)  # (x: also a NaN)


# MRG31k3p: the reference's own step function (tensor/random.py), compiled, so both backends
# compute the same bits by construction.
mrg31k3p_next = numba.njit(**JIT)(_mrg31k3p_step)

# numpy's legacy RandomState (MT19937) on a packed state (tensor/random.py: 624 key words, the
# position, has_gauss, the cached gaussian's bits), bit for bit: the reference unpacks the same
# vector into a RandomState (tests compare with numpy's own draws). Key words are uint32 values
# held in int64, so no operation overflows; the position is checked (mt_checked_copy) before a
# kernel runs, so every index stays in [0, 624).
@numba.njit(**JIT)
def mt_twist(st):
    # the standard loop split where (i + 1) and (i + 397) wrap, so no modulo per word
    for i in range(227):
        y = (st[i] & 0x80000000) | (st[i + 1] & 0x7FFFFFFF)
        st[i] = st[i + 397] ^ (y >> 1) ^ (0x9908B0DF * (y & 1))
    for i in range(227, 623):
        y = (st[i] & 0x80000000) | (st[i + 1] & 0x7FFFFFFF)
        st[i] = st[i - 227] ^ (y >> 1) ^ (0x9908B0DF * (y & 1))
    y = (st[623] & 0x80000000) | (st[0] & 0x7FFFFFFF)
    st[623] = st[396] ^ (y >> 1) ^ (0x9908B0DF * (y & 1))
    st[624] = 0


@numba.njit(**JIT)
def mt_double(st):
    """numpy's legacy random_sample: 53 random bits from two tempered words (one function, so
    the kernel's loop calls one helper per double)."""
    if st[624] >= 623:  # (twist when either word would run past the key)
        if st[624] == 623:
            y = st[623]
            st[624] = 624
            mt_twist(st)
            st[624] = 0
            y ^= y >> 11
            y ^= (y << 7) & 0x9D2C5680
            y ^= (y << 15) & 0xEFC60000
            y ^= y >> 18
            a = y >> 5
            y = st[0]
            st[624] = 1
        else:
            mt_twist(st)
            y = st[0]
            st[624] = 1
            y ^= y >> 11
            y ^= (y << 7) & 0x9D2C5680
            y ^= (y << 15) & 0xEFC60000
            y ^= y >> 18
            a = y >> 5
            y = st[1]
            st[624] = 2
    else:
        pos = st[624]
        y = st[pos]
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        a = y >> 5
        y = st[pos + 1]
        st[624] = pos + 2
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    y ^= y >> 18
    b = y >> 6
    return (a * 67108864.0 + b) / 9007199254740992.0


@numba.njit(**JIT)
def mt_gauss(st):
    """numpy's legacy standard normal: the polar method, the second value cached in the state."""
    bits = np.empty(1, dtype=np.int64)
    if st[625] != 0:
        st[625] = 0
        bits[0] = st[626]
        return bits.view(np.float64)[0]
    while True:
        x1 = 2.0 * mt_double(st) - 1.0
        x2 = 2.0 * mt_double(st) - 1.0
        r2 = x1 * x1 + x2 * x2
        if r2 < 1.0 and r2 != 0.0:
            break
    f = np.sqrt(-2.0 * np.log(r2) / r2)
    st[625] = 1
    bits.view(np.float64)[0] = f * x1
    st[626] = bits[0]
    return f * x2


@numba.njit(**JIT)
def mt_checked_copy(state):
    """A C-ordered copy of a packed state, after checking it can be run without reading out of bounds."""
    if state.shape[0] != 627 or state[624] < 0 or state[624] > 624:
        raise ValueError("random draw: the state is not a packed numpy RandomState")
    return np.ascontiguousarray(state).copy()


@numba.njit(**JIT_FMA)
def sigmoid64(x):
    """1/(1+exp(-x)) without overflow: e = exp(-|x|), then 1/(1+e) or e/(1+e). Both sides are
    computed and one is selected, so a loop over it vectorizes (vexp, no branch)."""
    x = as_float(x)
    e = vexp(-np.abs(x))
    d = 1.0 + e
    return 1.0 / d if x >= 0 else e / d


@numba.njit(**JIT)
def sigmoid32(x):
    """sigmoid64's formula in float32 (libm's expf: vexp is float64 arithmetic)."""
    x = as_float(x)
    one = np.float32(1.0)
    e = np.exp(-np.abs(x))
    d = one + e
    return one / d if x >= 0 else e / d


@numba.njit(**JIT)
def softplus64(x):
    """log(1+exp(x)) without overflow: with l = log1p(exp(-|x|)), x + l for x > 0, else l."""
    x = as_float(x)
    lg = np.log1p(vexp(-np.abs(x)))
    return x + lg if x > 0 else lg


@numba.njit(**JIT)
def softplus32(x):
    """softplus64's formula in float32."""
    x = as_float(x)
    lg = np.log1p(np.exp(-np.abs(x)))
    return x + lg if x > 0 else lg


# Every helper above: a damaged cache entry is compiled again, not raised (numba's own cache raises).
_attach_all(globals())
