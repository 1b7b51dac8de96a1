"""numba's first compile in a process without importing all of scipy.linalg for a yes/no answer.

numba installs its typing and lowering registries at its first compile (``refresh``). One of them,
``numba.np.arraymath``, asks at import whether a BLAS is there for ``np.dot``: it calls numba's
``ensure_blas``, which runs ``import scipy.linalg.cython_blas``, which executes the whole
``scipy.linalg`` package (and, through scipy's array API layer, ``numpy.f2py``): 0.16 s of a 2.3 s
cold start of the seed program, whose kernel calls no BLAS through numba (products call numpy's
OpenBLAS: :mod:`.blas`).

:func:`import_arraymath` imports ``numba.np.arraymath`` with numba's ``ensure_blas`` answered by a
file check (scipy ships the ``cython_blas`` extension), then puts the real one back, in
``numba.np.linalg`` and in ``arraymath`` (which imported the name): the first kernel that lowers
``np.dot`` runs the real ``ensure_blas`` then, which imports scipy's module and checks its integer
width, and numba's runtime finds its BLAS functions there. No module is put in ``sys.modules``
(another thread importing scipy meanwhile sees scipy as it is). Where the extension is missing,
numba asks as usual. (A scipy whose extension file is there but does not import is answered yes:
a vector ``np.dot`` then fails to compile with scipy's ImportError instead of running numba's loop.)

>>> import_arraymath(); "numba.np.arraymath" in sys.modules
True
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path


def import_arraymath() -> None:
    """Import ``numba.np.arraymath`` (once) without importing ``scipy.linalg`` where scipy ships
    its BLAS module; a no-op once it is imported."""
    if "numba.np.arraymath" in sys.modules or not _blas_shipped():
        return
    from numba.np import linalg

    real = linalg.ensure_blas
    linalg.ensure_blas = _shipped
    try:
        import numba.np.arraymath as arraymath
    finally:
        linalg.ensure_blas = real
    if getattr(arraymath, "ensure_blas", None) is _shipped:
        arraymath.ensure_blas = real


def _shipped() -> None:
    """``ensure_blas`` while arraymath is imported: :func:`_blas_shipped` said yes."""


def _blas_shipped() -> bool:
    """Whether ``scipy.linalg.cython_blas`` is there to import (found without importing
    ``scipy.linalg``: only the ``scipy`` package itself is imported)."""
    try:
        spec = importlib.util.find_spec("scipy.linalg")
    except (ImportError, ValueError):
        return False
    folders = (spec.submodule_search_locations or []) if spec is not None else []
    return any((Path(folder) / ("cython_blas" + suffix)).is_file()
               for folder in folders for suffix in importlib.machinery.EXTENSION_SUFFIXES)
