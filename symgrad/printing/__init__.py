"""Showing graphs to people: text, pictures and math (Theano's ``theano.printing``).

- ``pp`` (infix text) and ``debugprint`` (an indented tree; for a compiled function, the graph it
  runs: fused kernels, inputs, updates, row passes): :mod:`symgrad.printing.text`;
- ``pydotprint`` (Graphviz DOT text; PNG/SVG when the ``dot`` program is installed) and
  ``to_networkx`` (optional networkx): :mod:`symgrad.printing.picture`;
- ``latex`` (the math of an expression or a gradient, through sympy): :mod:`symgrad.printing.latex`.

All accept what ``debugprint`` accepts (a variable, a list of variables, a compiled function),
except ``latex`` (one variable), and print any op, known or not (unknown ops by ``str(op)``).

>>> import symgrad.tensor as T
>>> x, y = T.dscalars("x", "y")
>>> pp(x + y)
'(x + y)'
>>> latex(T.exp(x) * y)
'y e^{x}'
"""
from .latex import latex, to_sympy  # noqa: F401
from .picture import pydotprint, to_dot, to_networkx  # noqa: F401
from .text import debugprint, pp  # noqa: F401
from .view import graph_view  # noqa: F401

pprint = pp  # Theano's other name for it

__all__ = ["pp", "pprint", "debugprint", "pydotprint", "to_networkx", "latex", "to_sympy", "graph_view"]
