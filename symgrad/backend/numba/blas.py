"""At most two BLAS threads while a kernel runs a loop of small steps.

numba's ``np.dot`` calls scipy's BLAS (OpenBLAS in the wheels), which splits any product above a
small size over all cores. A scan calls such products once per step, and every call splits, starts
and joins its threads: the more threads, the more of a small product is spent waiting for the
slowest of them. The kernel therefore caps scipy's BLAS at ``LOOP_BLAS_THREADS`` just before a
scan's loop and puts the previous count back just after it (``helpers.blas_threads_at_most`` /
``blas_threads_back``), so the large products outside the loop (an LSTM's input projection and its
weight gradients) still use every core. A loop that raises skips the second call: the call path
restores the count the kernel found (``keep_blas_threads``). Measurements of the cap (one thread or
two): docs/PERFORMANCE.md; ``OPENBLAS_NUM_THREADS=1`` keeps every product on one thread.

The kernels reach OpenBLAS's setter and getter by two fixed symbol names registered with LLVM
(``register``), the way numba reaches its own C helpers: the compiled code names the symbol, never
an address, so numba's disk cache stays valid in another process. They are found once: OpenBLAS's
``*openblas_set_num_threads*`` in the library shipped with scipy (its wheel's ``scipy.libs`` folder,
or ``.dylibs`` on macOS). Where there is none (another BLAS, a system scipy) the symbols name two
functions that do nothing and report one thread.

Kernels that run convolutions on numba's threads run with BLAS on one thread instead
(``keep_blas_threads(fn, at=1)``, ``KernelInfo.one_blas_thread``).

>>> run = keep_blas_threads(lambda x: x + 1)
>>> run(1)
2
"""
from __future__ import annotations

import ctypes
import glob
import os
from typing import Callable

import numba
from llvmlite import binding

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
            "openblas_get_num_threads")
_found: list = []  # [(set, get)] or [None], once looked up
# BLAS threads inside a scan's loop: an LSTM step's h (16x128) @ U (128x512) takes 56 us on one
# thread and 38 us on two here; the loop's products on two threads suffer more than on one when
# another process keeps a core busy (docs/PERFORMANCE.md)
LOOP_BLAS_THREADS = 2


def _scipy_openblas() -> tuple[Callable, Callable] | None:
    """(set_num_threads, get_num_threads) of the OpenBLAS that scipy's BLAS wrappers call, or None."""
    try:
        import scipy
    except ImportError:
        return None
    root = os.path.dirname(scipy.__file__)
    candidates = (glob.glob(os.path.join(root, os.pardir, "scipy.libs", "*openblas*"))
                  + glob.glob(os.path.join(root, ".dylibs", "*openblas*")))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = next((getattr(lib, n) for n in _SETTERS if hasattr(lib, n)), None)
        getter = next((getattr(lib, n) for n in _GETTERS if hasattr(lib, n)), None)
        if setter is not None and getter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], None
            getter.argtypes, getter.restype = [], ctypes.c_int
            return setter, getter
    return None


def blas_threads() -> tuple[Callable, Callable] | None:
    """The (set, get) pair of scipy's OpenBLAS thread count, looked up once; None without one."""
    if not _found:
        _found.append(_scipy_openblas())
    return _found[0]


SET_SYMBOL, GET_SYMBOL = "symgrad_blas_set_num_threads", "symgrad_blas_get_num_threads"


_registered: list = []  # [(setter, getter)] once registered: kept alive while LLVM holds their addresses


def _no_blas() -> tuple:  # pragma: no cover - only where scipy has no OpenBLAS
    """A setter that does nothing and a getter that reports one thread (compiled only when needed)."""
    return numba.cfunc("void(int32)")(lambda n: None).ctypes, numba.cfunc("int32()")(lambda: 1).ctypes


def register() -> None:
    """Register ``SET_SYMBOL``/``GET_SYMBOL`` with LLVM (once) before any kernel is compiled or loaded."""
    if _registered:
        return
    found = blas_threads()
    setter, getter = found if found is not None else _no_blas()
    binding.add_symbol(SET_SYMBOL, ctypes.cast(setter, ctypes.c_void_p).value)
    binding.add_symbol(GET_SYMBOL, ctypes.cast(getter, ctypes.c_void_p).value)
    _registered.append((setter, getter))


def keep_blas_threads(fn: Callable, at: int | None = None) -> Callable:
    """``fn`` that leaves scipy's BLAS thread count as it found it, even when ``fn`` raises inside a
    loop (between the kernel's ``blas_threads_at_most`` and ``blas_threads_back``); with ``at``,
    ``fn`` runs with BLAS on ``at`` threads. ``at=1`` is for kernels that run convolutions on numba's
    threads: OpenBLAS's threads spin for a while after each product split over them, and one
    spinning beside numba's threads on a two-core machine stalls both (measured: a 100x256x128
    product on two BLAS threads, then a convolution's image chunks on two numba threads, 8.6 ms
    against 0.49 ms with the product on one thread).

    >>> keep_blas_threads(lambda x: x + 1, at=1)(1)
    2
    """
    found = blas_threads()
    if found is None:
        return fn
    set_threads, get_threads = found

    def run(*args):
        before = get_threads()
        if at is not None and at != before:
            set_threads(at)
        try:
            return fn(*args)
        finally:
            if get_threads() != before:
                set_threads(before)

    return run
