"""``In``: an input with a default value and/or a keyword name (Theano's ``theano.In``).

>>> import symgrad.tensor as T
>>> x, y = T.dscalars("x", "y")
>>> In(y, value=1.0).name
'y'
"""
from __future__ import annotations

from ..graph import Constant, Variable
from .shared import SharedVariable

_NO_DEFAULT = object()


class In:
    """Wrap an input variable: ``value`` makes it optional, ``name`` names its keyword."""

    def __init__(self, variable: Variable, name: str | None = None, value=_NO_DEFAULT,
                 borrow: bool = False, mutable: bool = False):
        if not isinstance(variable, Variable):
            raise TypeError(f"In: expected a symbolic variable, got {type(variable).__name__}")
        if mutable:
            raise NotImplementedError("In(mutable=True) is not supported: symgrad never writes into inputs")
        self.variable = variable
        self.name = name if name is not None else variable.name
        self.value = value
        self.borrow = borrow

    @property
    def has_default(self) -> bool:
        return self.value is not _NO_DEFAULT

    def __repr__(self):
        return f"In({self.variable!r}{'' if not self.has_default else f', value={self.value!r}'})"


def as_in(x, position: int) -> In:
    if isinstance(x, In):
        return x
    if isinstance(x, Variable):
        return In(x)
    raise TypeError(f"function: inputs[{position}] must be a symbolic variable or In, got {type(x).__name__}")


def check_input_variable(spec: In, position: int) -> None:
    v = spec.variable
    if isinstance(v, SharedVariable):
        raise TypeError(f"function: inputs[{position}] is the shared variable {v.label()}; shared variables "
                        "are implicit inputs, do not list them (use givens= to substitute one)")
    if isinstance(v, Constant):
        raise TypeError(f"function: inputs[{position}] is a constant; inputs must be free variables")
    if v.owner is not None:
        raise TypeError(f"function: inputs[{position}] ({v.label()}) is computed from other variables; "
                        "inputs must be free variables such as T.matrix('x') (use givens= to replace an "
                        "intermediate result)")
