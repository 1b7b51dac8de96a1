"""Graphs as text: ``pp`` (infix) and ``debugprint`` (an indented tree, Theano's layout).

For a compiled function both show what the backend runs: the optimized graph, where each fused
``Elemwise`` is one sympy expression over its inputs ``x0, x1, ...`` and each ``RowStream`` (the
numba backend's one-pass-over-the-rows kernel) is spelled out under "Row passes".

>>> import symgrad.tensor as T
>>> x, y = T.dscalars("x", "y")
>>> pp(x + y)
'(x + y)'
"""
from __future__ import annotations

import re
import sys

import sympy

from .. import scalar as S
from ..compile.function import Function
from ..graph import Apply, Variable, toposort
from ..tensor.rowstream import RowStream
from ..tensor.elemwise import Elemwise
from ..tensor.indexing import AdvancedSubtensor, IncSubtensor, Subtensor, decode_spec
from ..tensor.linalg import Dot
from ..tensor.nnet import Softmax
from ..tensor.reduction import Reduce
from ..tensor.shape import ARange, DimShuffle, MakeVector, Reshape, Shape, Shape_i
from .view import graph_view, leaf_text


def _index_text(spec: tuple, idx_texts: list[str]) -> str:
    """``i, a:b, ::k`` from an index spec and the texts of its index inputs (pp and latex)."""
    parts = []
    for e in decode_spec(spec):
        if e.kind != "slice":
            parts.append(idx_texts[e.position])
            continue
        start, stop, step = ("" if k is None else idx_texts[k] for k in e.inputs)
        parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
    return ", ".join(parts)


def _node_text(node: Apply, texts: list[str]) -> list[str]:
    """One text per output of ``node``."""
    if _is_row_stream(node.op):
        return _row_stream_texts(node, texts)
    return [_single_text(node, texts)] * len(node.outputs)


def _text_symbols(variables, texts: list[str], first: int = 0) -> dict:
    """Symbols ``x{first+i}`` -> a symbol printing as ``texts[i]``. Each distinct variable gets its
    own symbol even when two texts are equal (two unnamed vectors must not cancel in ``a - b``);
    the marker that keeps them apart is removed by :func:`_unmark` after printing."""
    distinct: dict[int, int] = {}
    out = {}
    for i, (v, t) in enumerate(zip(variables, texts)):
        k = distinct.setdefault(id(v), len(distinct))
        out[S.arg(first + i)] = sympy.Symbol(f"{t}\x00{k}\x00")
    return out


def _unmark(text: str) -> str:
    return re.sub("\x00\\d+\x00", "", text)


def _single_text(node: Apply, texts: list[str]) -> str:
    op = node.op
    if isinstance(op, Elemwise):
        names = _text_symbols(node.inputs, texts)
        body = _unmark(sympy.sstr(op.expr.xreplace(names), order="none"))
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
    if isinstance(op, Shape_i):
        return f"{texts[0]}.shape[{op.i}]"
    if isinstance(op, MakeVector):
        return f"[{', '.join(texts)}]"
    if isinstance(op, ARange):
        return f"arange({', '.join(texts)})"
    if isinstance(op, Softmax):
        axis = "" if op.axis == node.inputs[0].ndim - 1 else f", axis={op.axis}"
        return f"{'log_softmax' if getattr(op, 'log', False) else 'softmax'}({texts[0]}{axis})"
    if isinstance(op, Reshape):
        return f"reshape({texts[0]}, {texts[1]})"
    return f"{op}({', '.join(texts)})"


def _is_row_stream(op) -> bool:
    return isinstance(op, RowStream)


def _row_stream_texts(node: Apply, texts: list[str]) -> list[str]:
    """The math of each RowStream output: ``X.T @ r``, the row-wise vectors, the sums over rows."""
    op = node.op
    X, w = texts[0], texts[1]
    names = {S.arg(0): sympy.Symbol(f"dot({X}, {w})")}
    names.update(_text_symbols(node.inputs[2:], texts[2:], first=1))

    def show(expr, bare: bool = False) -> str:
        body = _unmark(sympy.sstr(expr.xreplace(names), order="none"))
        return body if bare or expr.is_Symbol or expr.is_Function else f"({body})"

    out = [f"dot({X}.T, {show(op.grad_expr, bare=True)})"]
    out += [show(e) for e, _ in op.row_exprs]
    out += [f"sum({show(e, bare=True)})" for e, _ in op.sum_exprs]
    return out


def _row_stream_legend(node: Apply, tag: str, name_of) -> list[str]:
    """Lines spelling out one RowStream node for debugprint: what x0, x1, ... stand for and what
    each output ``.k`` computes."""
    op = node.op
    X, w = (name_of(v) for v in node.inputs[:2])
    symbols = [f"x0 = dot({X}, {w})[i]"]
    for k, v in enumerate(node.inputs[2:2 + op.n_rows]):
        symbols.append(f"x{1 + k} = {name_of(v)}[i]")
    for k, v in enumerate(node.inputs[2 + op.n_rows:]):
        symbols.append(f"x{1 + op.n_rows + k} = {name_of(v)}")
    lines = [f"RowStream [id {tag}]: one pass over the rows i of {X}, with {', '.join(symbols)}",
             f"  .0 = {X}.T @ ({op.grad_expr})"]
    k = 1
    for expr, dtype in op.row_exprs:
        lines.append(f"  .{k} = {expr}  (a {dtype} per row)")
        k += 1
    for expr, dtype in op.sum_exprs:
        lines.append(f"  .{k} = sum over rows of {expr}  ({dtype})")
        k += 1
    return lines


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _op_text(node: Apply) -> str:
    if _is_row_stream(node.op):  # spelled out under "Row passes"
        op = node.op
        return f"RowStream{{{_count(len(op.row_exprs), 'row output')}, {_count(len(op.sum_exprs), 'sum')}}}"
    return str(node.op)


def pp(var) -> str:
    """A readable infix form of the expression computing ``var`` (or of a compiled function: one
    line per output and update, of its optimized graph).

    >>> import symgrad.tensor as T
    >>> pp(T.dvector("w").sum())
    'sum(w)'
    """
    if isinstance(var, Function):
        return "\n".join(pp(o) for o in var.optimized_outputs)
    if not isinstance(var, Variable):
        raise TypeError(f"pp: expected a symbolic variable or a compiled function, got {type(var).__name__} "
                        f"{var!r:.80}")
    text: dict[int, str] = {}
    for node in toposort([var]):
        args = [text.get(id(v)) or leaf_text(v) for v in node.inputs]
        for o, out in zip(node.outputs, _node_text(node, args)):
            text[id(o)] = out
    return text.get(id(var)) or leaf_text(var)


def _letters(n: int) -> str:
    s = ""
    while True:
        s = chr(ord("A") + n % 26) + s
        n = n // 26 - 1
        if n < 0:
            return s


class _TreePrinter:
    """Prints trees sharing one table of ids, so a node seen in an earlier tree is "seen above"."""

    def __init__(self, print_type: bool, depth: int):
        self.ids: dict[int, str] = {}
        self.print_type = print_type
        self.depth = depth
        self.row_streams: list[tuple[Apply, str]] = []

    def ident(self, v: Variable) -> str:
        key = id(v.owner) if v.owner is not None else id(v)
        if key not in self.ids:
            self.ids[key] = _letters(len(self.ids))
            if v.owner is not None and _is_row_stream(v.owner.op):
                self.row_streams.append((v.owner, self.ids[key]))
        return self.ids[key]

    def name_of(self, v: Variable) -> str:
        """How a legend refers to a variable: a leaf by name, a computed value by its op and id."""
        if v.owner is None:
            return leaf_text(v)
        return f"{_op_text(v.owner)} [id {self.ident(v)}]"

    def tree(self, root: Variable, lead: str = "") -> list[str]:
        lines: list[str] = []
        stack = [(root, 0)]
        while stack:
            v, depth = stack.pop()
            prefix = lead if depth == 0 else " " * (depth - 1) * 2 + " |"
            seen = (id(v.owner) if v.owner is not None else id(v)) in self.ids
            tag = self.ident(v)
            typ = f" <{v.type.describe()}>" if self.print_type else ""
            if v.owner is None:
                lines.append(f"{prefix}{leaf_text(v)} [id {tag}]{typ}")
                continue
            index = f".{v.index}" if len(v.owner.outputs) > 1 else ""
            name = f" '{v.name}'" if v.name else ""
            lines.append(f"{prefix}{_op_text(v.owner)}{index} [id {tag}]{name}{typ}{' (seen above)' if seen else ''}")
            if not seen and (self.depth < 0 or depth + 1 < self.depth):
                for inp in reversed(v.owner.inputs):
                    stack.append((inp, depth + 1))
        return lines

    def legend(self) -> list[str]:
        if not self.row_streams:
            return []
        lines = ["Row passes:"]
        for node, tag in self.row_streams:
            lines += _row_stream_legend(node, tag, self.name_of)
        return lines


def _describe_leaf(v: Variable) -> str:
    return f"{leaf_text(v)} <{v.type.describe()}>"


def debugprint(obj, file=None, print_type: bool = False, depth: int = -1) -> str | None:
    """Print the graph as an indented tree, one node per line; shared subtrees are printed once.

    ``obj`` is a variable, a list of variables, or a compiled function. A function is shown as it
    runs: its inputs and shared variables, the optimized graph of each output (fused elementwise
    kernels as sympy expressions), each update as ``name <- tree``, and the row passes of the
    numba backend. ``depth`` limits how deep trees go (-1: no limit); ``file='str'`` returns the
    text instead of printing it.

    >>> import symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> print(debugprint(T.exp(x) + 1, file="str"))
    Elemwise{x0 + 1} [id A]
     |Elemwise{exp(x0)} [id B]
       |x [id C]
    """
    if not isinstance(depth, int) or isinstance(depth, bool):
        raise TypeError(f"debugprint: depth must be an int (-1 for no limit), got {depth!r}")
    view = graph_view(obj)
    printer = _TreePrinter(print_type, depth)
    lines: list[str] = []
    if view.is_function:
        updated = {id(var) for var, _ in view.updates}
        lines.append("Inputs: " + (", ".join(map(_describe_leaf, view.inputs)) or "none"))
        shared = view.shared() + [var for var, _ in view.updates if all(var is not s for s in view.shared())]
        if shared:
            lines.append("Shared: " + ", ".join(_describe_leaf(s) + (" (updated)" if id(s) in updated else "")
                                                for s in shared))
        n_out = len(view.roots) - len(view.updates)
        lines.append("Outputs:" if n_out else "Outputs: none")
        for root in view.roots[:n_out]:
            lines += printer.tree(root)
        if view.updates:
            lines.append("Updates:")
            for var, root in view.updates:
                lines += printer.tree(root, lead=f"{leaf_text(var)} <- ")
    else:
        for root in view.roots:
            lines += printer.tree(root)
    lines += printer.legend()
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return None
