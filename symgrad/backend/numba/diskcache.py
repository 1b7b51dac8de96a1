"""numba's per-function disk cache, made tolerant: a damaged entry means "compile again".

numba loads a function's index (``.nbi``) and data (``.nbc``) files at its first call and raises
whatever unpickling raises when one is truncated, emptied, zeroed or overwritten (``EOFError``,
``UnpicklingError``, ``MemoryError``, ...). :class:`TolerantCache` catches that, removes the
function's files, warns once per process and lets numba compile as if nothing was cached; the
fresh result is then saved over the damaged entry.

Generated kernels keep their compiled files beside their module, in the private kernel cache
(``__pycache__`` of the environment folder), whatever ``NUMBA_CACHE_DIR`` says: one folder holds
everything, so the cache's trust check, cleanup and ``python -m symgrad.cache`` cover it. The
jitted helpers keep numba's usual places (they live in the installed package).

This subclasses numba's ``FunctionCache`` and replaces a dispatcher's ``_cache``: numba has no
public hook for either; the tests run against the oldest and newest numba the project supports.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from numba.core import caching
from numba.core.dispatcher import Dispatcher
from numba.core.runtime import rtsys

from . import blasprobe

_warned = False


class StaleEntry(RuntimeError):
    """An entry compiled against another entry that has changed since (a callee called apart:
    apart.py). Not damage: it is compiled again without a warning."""


class TolerantCache(caching.FunctionCache):
    """A ``FunctionCache`` whose damaged entries are rebuilt instead of raised."""

    def load_overload(self, sig, target_context):
        loaded = self._load_or_none(sig, target_context)
        if loaded is None:  # numba compiles next; its refresh then finds arraymath imported (blasprobe)
            blasprobe.import_arraymath()
        return loaded

    def _load_or_none(self, sig, target_context):
        try:
            # numba's own load_overload first calls ``target_context.refresh()``: it imports and
            # installs every typing and lowering registry numba has (scipy.linalg included, for
            # BLAS), 0.2 s once per process, which loading machine code does not need: the entry
            # holds linked object code. Only the runtime's symbols must be known to the linker. A
            # process that compiles something later refreshes then (numba's compiler always does).
            rtsys.initialize(target_context)
            with self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        except StaleEntry:
            self._drop()
            return None
        except Exception as error:  # noqa: BLE001 - any failure to load means: compile again
            self._drop()
            _warn_once(f"symgrad: damaged compiled-code cache entry {self._entry()} "
                       f"({type(error).__name__}: {str(error)[:200]}); removed and compiled again")
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as error:  # noqa: BLE001 - the function works; only the cache is lost
            self._drop()  # a half-written or unreadable index must not be loaded next time
            _warn_once(f"symgrad: could not save compiled code to {self._entry()} "
                       f"({type(error).__name__}: {str(error)[:200]}); it will be compiled again next time")

    def _entry(self) -> str:
        return f"{self._cache_path}/{self._impl.filename_base}.*"

    def _drop(self) -> None:
        try:
            for path in Path(self._cache_path).glob(self._impl.filename_base + ".*"):
                if path.suffix in (".nbi", ".nbc"):
                    path.unlink()
        except OSError:
            pass  # numba overwrites the entry when it saves the new compile


class _KernelCacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = [caching.InTreeCacheLocator]  # beside the generated module, in symgrad's own cache folder


class KernelCache(TolerantCache):
    """A generated kernel's cache: tolerant, and in the ``__pycache__`` beside its module."""

    _impl_class = _KernelCacheImpl


def attach(dispatcher, cache_class=KernelCache) -> None:
    """Give a jitted function a tolerant disk cache (what ``cache=True`` does, with numba's kind).

    >>> KernelCache._impl_class._locator_classes[0].__name__   # kernels: beside their module
    'InTreeCacheLocator'
    """
    try:
        dispatcher._cache = cache_class(dispatcher.py_func)
    except Exception as error:  # noqa: BLE001 - e.g. no writable place: the function still works
        _warn_once(f"symgrad: cannot cache {dispatcher.py_func.__name__} on disk ({error}); compiling in memory")


def attach_all(namespace: dict, cache_class=TolerantCache) -> None:
    """:func:`attach` for every jitted function defined in the module whose globals are
    ``namespace`` and that has no disk cache yet: found by type, so no helper is left without one.

    >>> import symgrad.backend.numba.helpers as helpers
    >>> type(helpers.new_range._cache).__name__
    'TolerantCache'
    """
    for value in list(namespace.values()):
        if (isinstance(value, Dispatcher) and value.py_func.__module__ == namespace["__name__"]
                and isinstance(value._cache, caching.NullCache)):
            attach(value, cache_class)


def _warn_once(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(message, RuntimeWarning, stacklevel=2)
