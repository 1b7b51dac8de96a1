"""The BLAS the kernels' matrix products run on, and at most two of its threads while a kernel runs
a loop of small steps.

Products run on numpy's OpenBLAS. numba's ``np.dot`` calls scipy's BLAS, and numpy's and scipy's
wheels each ship their own OpenBLAS with its own threads: a script that alternates numpy's products
and a kernel's has two pools on the same cores, and each pool's threads spin for a while after a
product, taking the cores the other pool needs (measured: the 400x784 MLP step, called between
numpy steps, 1.59 ms instead of 1.21 ms, and numpy's step 1.75 ms instead of 1.38 ms; the issue's
"a call costs twice a loop step"). ``helpers.blas_dot``/``blas_dot_to`` therefore call the ILP64
``cblas_dgemm``/``cblas_sgemm`` of numpy's wheel for two float matrices (numpy's own products
call the same functions: for C- or F-ordered operands the same bits as ``a @ b``) and numba's
``np.dot`` otherwise (vectors, integers), or for everything where numpy ships no OpenBLAS
(``openblas()["which"] == "scipy"``).

A scan calls small products once per step, and every call splits, starts and joins the BLAS
threads: the more threads, the more of a small product is spent waiting for the slowest of them.
The kernel therefore caps the BLAS at ``LOOP_BLAS_THREADS`` just before a scan's loop and puts the
previous count back just after it (``helpers.blas_threads_at_most`` / ``blas_threads_back``), so
the large products outside the loop (an LSTM's input projection and its weight gradients) still
use every core. A loop that raises skips the second call: the call path restores the count the
kernel found (``keep_blas_threads``). Measurements of the cap (one thread or two):
docs/PERFORMANCE.md; ``OPENBLAS_NUM_THREADS=1`` keeps every product on one thread.

The kernels reach OpenBLAS by fixed symbol names registered with LLVM (``register``), the way numba
reaches its own C helpers: the compiled code names the symbol, never an address, so numba's disk
cache stays valid in another process. They are found once (``openblas``), in the library shipped
with numpy (its wheel's ``numpy.libs`` folder, or ``.dylibs`` on macOS), else the thread functions
of scipy's; an int32 symbol says whether the gemm symbols are real, read by the helpers at run time
(a cached helper is right in either environment). Where there is no OpenBLAS at all the thread
symbols name two functions that do nothing and report one thread.

Kernels that run convolutions on numba's threads run with BLAS on one thread instead
(``keep_blas_threads(fn, at=1)``, ``KernelInfo.one_blas_thread``).

>>> run = keep_blas_threads(lambda x: x + 1)
>>> run(1)
2
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os
import threading
from typing import Callable

import numba
from llvmlite import binding

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
            "openblas_get_num_threads")
# BLAS threads inside a scan's loop: an LSTM step's h (16x128) @ U (128x512) takes 56 us on one
# thread and 38 us on two here; the loop's products on two threads suffer more than on one when
# another process keeps a core busy (docs/PERFORMANCE.md)
LOOP_BLAS_THREADS = 2


# CBLAS matrix products with 64-bit integers (ILP64), as numpy's wheels ship them: by precision
_GEMMS = {"d": ("scipy_cblas_dgemm64_", "cblas_dgemm64_"), "s": ("scipy_cblas_sgemm64_", "cblas_sgemm64_")}


def _openblas(package: str, folders: tuple[str, ...], gemm: bool) -> dict | None:
    """{"set", "get"} (thread count) and, with ``gemm``, {"d", "s"} (ILP64 ``cblas_?gemm``) of the
    OpenBLAS shipped in ``package``'s wheel (a folder beside it or inside it), or None."""
    try:
        root = os.path.dirname(__import__(package).__file__)
    except ImportError:
        return None
    candidates = [p for folder in folders for p in glob.glob(os.path.join(root, folder, "*openblas*"))]
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        found = {key: next((getattr(lib, n) for n in names if hasattr(lib, n)), None)
                 for key, names in (("set", _SETTERS), ("get", _GETTERS), *(_GEMMS.items() if gemm else ()))}
        if all(f is not None for f in found.values()):
            found["set"].argtypes, found["set"].restype = [ctypes.c_int], None
            found["get"].argtypes, found["get"].restype = [], ctypes.c_int
            return found
    return None


@functools.cache
def _scipy_openblas() -> dict | None:
    """{"set", "get"} of the OpenBLAS scipy's wheel ships (numba's ``np.dot`` and scipy's solvers
    run on it), looked up once; None without one."""
    return _openblas("scipy", (os.path.join(os.pardir, "scipy.libs"), ".dylibs"), gemm=False)


@functools.cache
def openblas() -> dict:
    """The BLAS the kernels' matrix products call, looked up once: numpy's OpenBLAS when its wheel
    ships one with ILP64 ``cblas_?gemm`` (``"numpy"``: the products share numpy's threads), else
    scipy's (``"scipy"``: numba's ``np.dot``), with its thread count's {"set", "get"} where found."""
    lib = _openblas("numpy", (os.path.join(os.pardir, "numpy.libs"), ".dylibs"), gemm=True)
    if lib is not None:
        return {**lib, "which": "numpy"}
    return {**(_scipy_openblas() or {}), "which": "scipy"}


def blas_threads() -> tuple[Callable, Callable] | None:
    """The (set, get) pair of the thread count of the BLAS the products run on; None without one."""
    lib = openblas()
    return (lib["set"], lib["get"]) if "set" in lib else None


def thread_pools() -> list[tuple[Callable, Callable]]:
    """The (set, get) pairs of every OpenBLAS thread pool found: numpy's and scipy's (their wheels
    ship one each; numba's ``np.dot`` and scipy's solvers run on scipy's)."""
    pools = [blas_threads()]
    scipy_lib = _scipy_openblas() if openblas()["which"] == "numpy" else None
    if scipy_lib is not None:
        pools.append((scipy_lib["set"], scipy_lib["get"]))
    return [p for p in pools if p is not None]


SET_SYMBOL, GET_SYMBOL = "symgrad_blas_set_num_threads", "symgrad_blas_get_num_threads"
DGEMM_SYMBOL, SGEMM_SYMBOL = "symgrad_cblas_dgemm", "symgrad_cblas_sgemm"
GEMM_READY_SYMBOL = "symgrad_cblas_ready"  # an int32: 1 when the two above are numpy's OpenBLAS


_registered: list = []  # the registered functions and flag, once: kept alive while LLVM holds their addresses


def _no_blas() -> tuple:  # pragma: no cover - only where scipy has no OpenBLAS
    """A setter that does nothing and a getter that reports one thread (compiled only when needed)."""
    return numba.cfunc("void(int32)")(lambda n: None).ctypes, numba.cfunc("int32()")(lambda: 1).ctypes


def register() -> None:
    """Register the four symbols with LLVM (once) before any kernel is compiled or loaded."""
    if _registered:
        return
    found, lib = blas_threads(), openblas()
    setter, getter = found if found is not None else _no_blas()
    ready = ctypes.c_int32(lib["which"] == "numpy")
    if ready.value:
        dgemm, sgemm = lib["d"], lib["s"]
    else:  # pragma: no cover - never called: GEMM_READY_SYMBOL says 0 and the products take np.dot
        dgemm = sgemm = ctypes.CFUNCTYPE(None)(lambda: None)
    for name, fn in ((SET_SYMBOL, setter), (GET_SYMBOL, getter), (DGEMM_SYMBOL, dgemm), (SGEMM_SYMBOL, sgemm)):
        binding.add_symbol(name, ctypes.cast(fn, ctypes.c_void_p).value)
    binding.add_symbol(GEMM_READY_SYMBOL, ctypes.addressof(ready))
    _registered.append((setter, getter, dgemm, sgemm, ready))


def keep_blas_threads(fn: Callable, at: int | None = None) -> Callable:
    """``fn`` that leaves the BLAS thread count as it found it, even when ``fn`` raises inside a
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
        with _calls_lock:  # (the first of overlapping calls records the count, the last puts it back)
            if not _calls:
                _calls.append(get_threads())
            _calls.append(at)
            if at is not None and at != get_threads():
                set_threads(at)
        try:
            return fn(*args)
        finally:
            with _calls_lock:
                _calls.pop()
                if len(_calls) == 1:
                    before = _calls.pop()
                    if get_threads() != before:
                        set_threads(before)

    return run


# The count before the first of the calls now inside ``keep_blas_threads`` (from Python threads),
# then one entry per such call: a call that started while another had the count at ``at`` must not
# take that for the count to put back (numpy's own products would stay on one thread)
_calls: list = []
_calls_lock = threading.Lock()
