"""What a printer shows: the roots of a variable, a list of variables or a compiled function, with
their roles (output k, new value of a shared variable) and the function's declared inputs.

Every printer (``debugprint``, ``pydotprint``, ``to_networkx``, ``latex``) starts here, so they
agree on what "the graph of a function" is: its optimized outputs followed by its updates.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> view = graph_view(x.sum())
>>> [r.name for r in view.inputs], view.roles_of(view.roots[0])
(['x'], ['output'])
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..compile.function import Function
from ..compile.shared import SharedVariable
from ..graph import Constant, Variable, graph_inputs


@dataclass
class GraphView:
    """The roots to print, in order; ``roles[id(root)]`` says what each one is; ``inputs`` are the
    function's inputs (or the free variables of an expression), ``updates`` the (shared variable,
    root) pairs of a function."""

    roots: list[Variable]
    roles: dict[int, list[str]]
    inputs: list[Variable]
    updates: list[tuple[Variable, Variable]] = field(default_factory=list)
    is_function: bool = False

    def roles_of(self, v: Variable) -> list[str]:
        return self.roles.get(id(v), [])

    def shared(self) -> list[Variable]:
        """The shared variables the graph reads, in first-seen order."""
        return [v for v in graph_inputs(self.roots) if isinstance(v, SharedVariable)]


def graph_view(obj) -> GraphView:
    """The roots and roles of ``obj``: a Variable, a list/tuple of them, or a compiled Function
    (its optimized graph: what the backend runs, outputs then updates)."""
    if isinstance(obj, Function):
        roots = list(obj.optimized_outputs)
        n_out = len(obj.outputs)
        roles: dict[int, list[str]] = {}
        for k, v in enumerate(roots[:n_out]):
            roles.setdefault(id(v), []).append(f"output {k}" if n_out > 1 else "output")
        updates = []
        for (var, _), v in zip(obj.updates, roots[n_out:]):
            # the repr of a shared variable: its name, or <shared float64 vector>
            roles.setdefault(id(v), []).append(f"update of {var!r}")
            updates.append((var, v))
        return GraphView(roots, roles, [spec.variable for spec in obj.inputs], updates, is_function=True)
    if isinstance(obj, Variable):
        roots = [obj]
    elif isinstance(obj, (list, tuple)) and obj and all(isinstance(v, Variable) for v in obj):
        roots = list(obj)
    else:
        raise TypeError("expected a symbolic variable, a non-empty list of variables or a compiled function, "
                        f"got {type(obj).__name__} {obj!r:.80}")
    roles = {}
    for k, v in enumerate(roots):
        roles.setdefault(id(v), []).append(f"output {k}" if len(roots) > 1 else "output")
    inputs = [v for v in graph_inputs(roots) if not isinstance(v, (Constant, SharedVariable))]
    return GraphView(roots, roles, inputs)


def pattern_text(v: Variable) -> str:
    """The static shape pattern: ``?`` for a dimension of any length, ``1`` for a broadcastable one.

    >>> import symgrad.tensor as T
    >>> pattern_text(T.dvector()), pattern_text(T.drow()), pattern_text(T.dscalar())
    ('(?,)', '(1, ?)', '()')
    """
    dims = ["1" if b else "?" for b in v.broadcastable]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def leaf_text(v: Variable) -> str:
    """How a leaf is called: its name, a small constant's value, or its type."""
    if v.name:
        return v.name
    if isinstance(v, Constant):
        return repr(v)
    return f"<{v.type.describe()}>"
