"""numba's first compile in a process without importing all of scipy.linalg for a yes/no answer.

numba installs its typing and lowering registries at its first compile (``refresh``). One of them,
``numba.np.arraymath``, asks at import whether a BLAS is there for ``np.dot``: it runs
``import scipy.linalg.cython_blas``, which executes the whole ``scipy.linalg`` package (and, through
scipy's array API layer, ``numpy.f2py``): 0.16 s of a 2.3 s cold start of the seed program, whose
kernel calls no BLAS through numba (products call numpy's OpenBLAS: :mod:`.blas`).

:func:`import_arraymath` imports ``numba.np.arraymath`` with a stand-in module under that name, so
the question is answered by a file check instead, and removes the stand-in at once: the first
kernel that does lower ``np.dot`` runs numba's ``ensure_blas`` again and imports the real module
then, and numba's runtime looks its BLAS functions up in that real module. The stand-in answers yes
only where scipy ships ``cython_blas`` (which numba would have imported); elsewhere numba asks as
usual. Nothing else sees the stand-in: it is in ``sys.modules`` only during that one import.

>>> import_arraymath(); "numba.np.arraymath" in sys.modules
True
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path

_BLAS = "scipy.linalg.cython_blas"


def import_arraymath() -> None:
    """Import ``numba.np.arraymath`` (once) without importing ``scipy.linalg`` where scipy ships
    its BLAS module; a no-op once either is imported."""
    if "numba.np.arraymath" in sys.modules or _BLAS in sys.modules or not _blas_shipped():
        return
    stand_in = types.ModuleType(_BLAS)
    sys.modules[_BLAS] = stand_in
    try:
        import numba.np.arraymath  # noqa: F401 - the import is the point
    finally:
        if sys.modules.get(_BLAS) is stand_in:
            del sys.modules[_BLAS]


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
