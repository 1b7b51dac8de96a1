"""symgrad: symbolic tensors, sympy-derived gradients, and compiled functions, with Theano's API.

>>> import numpy as np
>>> import symgrad as sg
>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> f = sg.function([x], sg.grad((x ** 2).sum(), x))
>>> f([1.0, 2.0])
array([2., 4.])
"""
from . import tensor  # noqa: F401
from .compile.function import Function, function  # noqa: F401
from .compile.io import In  # noqa: F401
from .compile.shared import SharedVariable, shared  # noqa: F401
from .config import config  # noqa: F401
from .gradient import Lop, Rop, grad  # noqa: F401
from .printing import debugprint, pp  # noqa: F401
from . import printing  # noqa: F401
from . import ifelse  # noqa: F401  (symgrad.ifelse.ifelse, as theano.ifelse.ifelse)
from . import scan_module  # noqa: F401  (theano.scan_module)
from .scan_module import foldl, foldr, map, reduce, scan  # noqa: F401,A004  (theano.scan, theano.map, ...)
from .version import __version__  # noqa: F401

if config.mode == "numba":  # the default backend loads with the library, not inside the first compile
    from .backend import numba as _numba_backend  # noqa: F401

__all__ = ["function", "shared", "In", "config", "tensor", "pp", "grad", "Rop", "Lop", "scan"]
