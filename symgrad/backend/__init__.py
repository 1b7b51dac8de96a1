"""Backends turn an optimized graph into a kernel. Each backend owns its lowering: a table keyed
by op type, never code inside the ops. The contract (``Backend``, ``Kernel``, ``KernelInfo``) is in
``kernel.py``; each backend module defines ``BACKEND``, an instance of its ``Backend`` subclass.

>>> get_backend("numpy").name
'numpy'
"""
from __future__ import annotations

import importlib

from ..config import THEANO_MODES
from .kernel import Backend

BACKENDS = {"numpy": "symgrad.backend.numpy", "numba": "symgrad.backend.numba"}


def get_backend(mode: str) -> Backend:
    """The backend for ``mode`` ('numpy' or 'numba', or Theano's names for them: 'FAST_RUN',
    'FAST_COMPILE', 'DebugMode'), or a ValueError listing the choices.

    >>> get_backend("FAST_COMPILE").name
    'numpy'
    """
    mode = THEANO_MODES.get(mode, mode)
    if mode not in BACKENDS:
        raise ValueError(f"unknown mode {mode!r}; choose one of {sorted(BACKENDS)} "
                         f"(or Theano's {sorted(THEANO_MODES)})")
    return importlib.import_module(BACKENDS[mode]).BACKEND
