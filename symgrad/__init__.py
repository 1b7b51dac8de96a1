"""symgrad: symbolic tensors, sympy-derived gradients, and compiled functions, with Theano's API.

>>> import numpy as np
>>> import symgrad as sg
>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> f = sg.function([x], sg.grad((x ** 2).sum(), x))
>>> f([1.0, 2.0])
array([2., 4.])
"""
import importlib as _importlib
from typing import Any as _Any

from .config import config  # noqa: F401  (eager and cheap: importing the submodule would otherwise
#                                  replace the attribute ``symgrad.config`` by the module)
from .version import __version__  # noqa: F401

# ``import symgrad`` loads only this file: the names below are imported at their first use
# (PEP 562), so a script pays for sympy when it builds a graph and for numba when it compiles its
# first numba kernel (``backend.get_backend``): a script on the numpy backend never loads numba.
# Each name maps to the module that defines it.
_LAZY = {
    "Function": "symgrad.compile.function", "function": "symgrad.compile.function",
    "In": "symgrad.compile.io",
    "SharedVariable": "symgrad.compile.shared", "shared": "symgrad.compile.shared",
    "Lop": "symgrad.gradient", "Rop": "symgrad.gradient", "grad": "symgrad.gradient",
    "debugprint": "symgrad.printing", "pp": "symgrad.printing",
    # theano.scan, theano.map, ... (theano.scan_module)
    "foldl": "symgrad.scan_module", "foldr": "symgrad.scan_module", "map": "symgrad.scan_module",
    "reduce": "symgrad.scan_module", "scan": "symgrad.scan_module",
}
# subpackages reachable as attributes, as after ``import theano``: theano.tensor, theano.ifelse.ifelse, ...
_SUBMODULES = frozenset({"tensor", "printing", "ifelse", "scan_module", "sandbox", "gradient", "compile",
                         "optimizers", "scipy", "testing", "graph", "scalar", "rewrite", "backend"})


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(module), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = ["function", "shared", "In", "config", "tensor", "pp", "grad", "Rop", "Lop", "scan"]
