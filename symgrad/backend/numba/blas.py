"""One BLAS thread while a kernel runs a loop of small steps.

numba's ``np.dot`` calls scipy's BLAS (OpenBLAS in the wheels), which splits any product above a
small size over all cores. A scan calls such products once per step: an LSTM step's
``h (16x128) @ U (128x512)`` takes ~50 us on one thread and, on a machine whose other core is
busy, ~0.2-6 ms on two (the threads wait for each other at every call). A kernel that contains a
loop therefore runs with scipy's BLAS set to one thread, and puts the previous count back when it
returns (or raises). Products outside the loop in the same kernel run on one thread too; the
measurements are in docs/PERFORMANCE.md.

The setter is found once: OpenBLAS's ``*openblas_set_num_threads*`` in the library shipped with
scipy (its wheel's ``scipy.libs`` folder, or ``.dylibs`` on macOS). Where there is none (another
BLAS, a system scipy) kernels run as they are.

>>> run = one_blas_thread(lambda x: x + 1)
>>> run(1)
2
"""
from __future__ import annotations

import ctypes
import glob
import os
from typing import Callable

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
            "openblas_set_num_threads")
_GETTERS = ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads", "openblas_get_num_threads64_",
            "openblas_get_num_threads")
_found: list = []  # [(set, get)] or [None], once looked up


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


def one_blas_thread(fn: Callable) -> Callable:
    """``fn`` run with scipy's BLAS on one thread, the previous count restored afterwards."""
    found = blas_threads()
    if found is None:
        return fn
    set_threads, get_threads = found

    def run(*args):
        before = get_threads()
        if before == 1:
            return fn(*args)
        set_threads(1)
        try:
            return fn(*args)
        finally:
            set_threads(before)

    return run
