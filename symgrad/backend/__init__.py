"""Backends turn an optimized graph into a callable. Each backend owns its lowering: a table keyed
by op type, never code inside the ops.

A backend module exposes ``compile_graph(inputs, outputs) -> kernel`` where
``kernel(values) -> list of arrays`` takes one array per input variable.

>>> get_backend("numpy").__name__
'symgrad.backend.numpy'
"""
from __future__ import annotations

import importlib

BACKENDS = {"numpy": "symgrad.backend.numpy", "numba": "symgrad.backend.numba"}


def get_backend(mode: str):
    """The backend module for ``mode`` ('numpy' or 'numba'), or a ValueError listing the choices."""
    if mode not in BACKENDS:
        raise ValueError(f"unknown mode {mode!r}; choose one of {sorted(BACKENDS)}")
    return importlib.import_module(BACKENDS[mode])
