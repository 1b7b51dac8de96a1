"""Variable constructors: ``scalar/vector/matrix/row/col/tensor3/tensor4`` (dtype defaults to
``config.floatX``), the typed families (``dmatrix``, ``fvector``, ``ivector``, ``lscalar``,
``bscalar``, ...; each is a TensorType, so ``x.type is T.dscalar``), and plurals
(``dscalars('a', 'b')``).

Prefixes follow Theano: d=float64, f=float32, i=int32, l=int64, b=int8, w=int16.

>>> x = dscalar("x")
>>> x.type is dscalar, x.name
(True, 'x')
"""
from __future__ import annotations

import sys

from ..config import config
from ..graph import TensorType, Variable
from .shape import arange  # noqa: F401  (re-exported: T.arange)

KINDS = {
    "scalar": (), "vector": (False,), "matrix": (False, False), "row": (True, False),
    "col": (False, True), "tensor3": (False,) * 3, "tensor4": (False,) * 4,
}
PREFIXES = {"d": "float64", "f": "float32", "i": "int32", "l": "int64", "b": "int8", "w": "int16"}
_PLURAL = {"matrix": "matrices"}


def tensor(dtype: str | None = None, broadcastable=(), name: str | None = None) -> Variable:
    """A variable of any rank: ``T.tensor('float64', (False, True))``."""
    return TensorType(dtype or config.floatX, broadcastable)(name)


def _make_constructor(kind: str, bc: tuple):
    def constructor(name: str | None = None, dtype: str | None = None) -> Variable:
        return TensorType(dtype or config.floatX, bc)(name)

    constructor.__name__ = kind
    constructor.__doc__ = (f"A symbolic {kind} (dtype defaults to config.floatX).\n\n"
                           f"    >>> {kind}('x').ndim\n    {len(bc)}\n")
    return constructor


def _make_plural(make):
    def plural(*names: str) -> list[Variable]:
        return [make(n) for n in names]

    plural.__doc__ = "One variable per name."
    return plural


_module = sys.modules[__name__]
__all__ = ["tensor"]
for _kind, _bc in KINDS.items():
    _ctor = _make_constructor(_kind, _bc)
    _plural_name = _PLURAL.get(_kind, _kind + "s")
    setattr(_module, _kind, _ctor)
    setattr(_module, _plural_name, _make_plural(_ctor))
    __all__ += [_kind, _plural_name]
    for _prefix, _dtype in PREFIXES.items():
        _type = TensorType(_dtype, _bc)
        setattr(_module, _prefix + _kind, _type)
        setattr(_module, _prefix + _plural_name, _make_plural(_type))
        __all__ += [_prefix + _kind, _prefix + _plural_name]
