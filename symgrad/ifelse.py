"""``symgrad.ifelse``: Theano's module path (``theano.ifelse``) for the lazy conditional. The op,
its semantics and examples live with the other ops in ``symgrad/tensor/ifelse.py``.

>>> from symgrad.ifelse import ifelse
>>> ifelse.__module__
'symgrad.tensor.ifelse'
"""
from __future__ import annotations

from .tensor.ifelse import IfElse, ifelse

__all__ = ["IfElse", "ifelse"]
