"""Showing graphs to people: ``pp`` (infix text) and ``debugprint`` (an indented tree).

>>> import symgrad.tensor as T
>>> x, y = T.dscalars("x", "y")
>>> pp(x + y)
'(x + y)'
"""
from __future__ import annotations

import sys

import sympy

from . import scalar as S
from .graph import Constant, Variable, toposort
from .tensor.elemwise import Elemwise
from .tensor.indexing import AdvancedSubtensor, IncSubtensor, Subtensor
from .tensor.linalg import Dot
from .tensor.reduction import Reduce
from .tensor.nnet import Softmax
from .tensor.shape import ARange, DimShuffle, MakeVector, Reshape, Shape


def _index_text(spec, idx_texts) -> str:
    parts, k = [], 0
    for entry in spec:
        if entry in ("i", "a"):
            parts.append(idx_texts[k])
            k += 1
        else:
            bounds = []
            for present in entry[1:]:
                if present:
                    bounds.append(idx_texts[k])
                    k += 1
                else:
                    bounds.append("")
            text = ":".join(bounds[:2]) + (f":{bounds[2]}" if bounds[2] else "")
            parts.append(text)
    return ", ".join(parts)


def _node_text(node, texts: list[str]) -> str:
    op = node.op
    if isinstance(op, Elemwise):
        names = {S.arg(i): sympy.Symbol(t) for i, t in enumerate(texts)}
        body = sympy.sstr(op.expr.xreplace(names), order="none")
        atomic = op.expr.is_Symbol or op.expr.is_Function and not isinstance(op.expr, sympy.Pow)
        return body if atomic else f"({body})"
    if isinstance(op, Dot):
        return f"dot({texts[0]}, {texts[1]})"
    if isinstance(op, Reduce):
        axis = "" if op.axis is None or len(op.axis) == node.inputs[0].ndim and op.kind not in ("argmax", "argmin") \
            else f", axis={op.axis[0] if len(op.axis) == 1 else op.axis}"
        return f"{op.kind}({texts[0]}{axis})"
    if isinstance(op, DimShuffle):
        if op.new_order == tuple(reversed(range(op.input_ndim))) and op.input_ndim == 2:
            return f"{texts[0]}.T"
        return f"{texts[0]}.dimshuffle({', '.join(map(repr, op.new_order))})"
    if isinstance(op, (Subtensor, AdvancedSubtensor)):
        return f"{texts[0]}[{_index_text(op.spec, texts[1:])}]"
    if isinstance(op, IncSubtensor):
        fn = "set_subtensor" if op.set_instead_of_inc else "inc_subtensor"
        return f"{fn}({texts[0]}[{_index_text(op.spec, texts[2:])}], {texts[1]})"
    if isinstance(op, Shape):
        return f"{texts[0]}.shape"
    if isinstance(op, MakeVector):
        return f"[{', '.join(texts)}]"
    if isinstance(op, ARange):
        return f"arange({', '.join(texts)})"
    if isinstance(op, Softmax):
        return f"softmax({texts[0]})"
    if isinstance(op, Reshape):
        return f"reshape({texts[0]}, {texts[1]})"
    return f"{op}({', '.join(texts)})"


def _leaf_text(v: Variable) -> str:
    if v.name:
        return v.name
    if isinstance(v, Constant):
        return repr(v)
    return f"<{v.type.describe()}>"


def pp(var) -> str:
    """A readable infix form of the expression computing ``var`` (or of a compiled function).

    >>> import symgrad.tensor as T
    >>> pp(T.dvector("w").sum())
    'sum(w)'
    """
    from .compile.function import Function

    if isinstance(var, Function):
        return "\n".join(pp(o) for o in var.optimized_outputs)
    text: dict[int, str] = {}
    for node in toposort([var]):
        args = [text.get(id(v)) or _leaf_text(v) for v in node.inputs]
        out = _node_text(node, args)
        for o in node.outputs:
            text[id(o)] = out
    return text.get(id(var)) or _leaf_text(var)


def debugprint(obj, file=None, print_type: bool = False) -> str | None:
    """Print the graph as an indented tree, one node per line; shared subtrees are printed once.

    ``obj`` is a variable, a list of variables, or a compiled function (its optimized graph, with
    fused elementwise kernels). ``file='str'`` returns the text instead of printing it.

    >>> import symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> print(debugprint(T.exp(x) + 1, file="str"))
    Elemwise{x0 + 1} [id A]
     |Elemwise{exp(x0)} [id B]
       |x [id C]
    """
    from .compile.function import Function

    if isinstance(obj, Function):
        roots = list(obj.optimized_outputs)
    elif isinstance(obj, (list, tuple)):
        roots = list(obj)
    else:
        roots = [obj]
    ids: dict[int, str] = {}
    lines: list[str] = []

    def ident(v) -> str:
        key = id(v.owner) if v.owner is not None else id(v)
        if key not in ids:
            n, s = len(ids), ""
            while True:
                s = chr(ord("A") + n % 26) + s
                n = n // 26 - 1
                if n < 0:
                    break
            ids[key] = s
        return ids[key]

    for root in roots:
        stack = [(root, 0)]
        while stack:
            v, depth = stack.pop()
            prefix = "" if depth == 0 else " " * (depth - 1) * 2 + " |"
            seen = (id(v.owner) if v.owner is not None else id(v)) in ids
            tag = ident(v)
            typ = f" <{v.type.describe()}>" if print_type else ""
            if v.owner is None:
                lines.append(f"{prefix}{_leaf_text(v)} [id {tag}]{typ}")
                continue
            name = f" '{v.name}'" if v.name else ""
            lines.append(f"{prefix}{v.owner.op} [id {tag}]{name}{typ}{' (seen above)' if seen else ''}")
            if not seen:
                for inp in reversed(v.owner.inputs):
                    stack.append((inp, depth + 1))
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return None
