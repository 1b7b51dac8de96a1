"""Graphs as pictures: ``pydotprint`` (Graphviz DOT text; PNG, SVG, ... when the ``dot`` program is
installed) and ``to_networkx`` (a ``networkx.DiGraph``, when networkx is installed).

Both draw the same bipartite graph, with Theano's conventions: variables are boxes (green: inputs,
cyan: shared variables, blue: outputs and new values of shared variables, white: constants and
named intermediates), ops are ellipses (pink: elementwise, purple: indexing, brown: shape, yellow:
the numba backend's row passes, magenta: IfElse), and an edge into an op is labelled with the
input's position when the op has several inputs; an edge drawn blue reaches an op that returns a
view of that input. A dashed edge goes from the new value of a shared variable to the variable.

No Python Graphviz package is needed: the DOT text is written by hand and, for pictures, piped
to the ``dot`` program.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> text = pydotprint(T.exp(x).sum())
>>> text.splitlines()[0], 'fillcolor="green"' in text
('digraph symgrad {', True)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass, field

from ..compile.shared import SharedVariable
from ..graph import Constant, Variable, toposort
from ..tensor.indexing import Subtensor
from ..tensor.shape import DimShuffle, Reshape
from .text import _op_text
from .view import graph_view, leaf_text, pattern_text

#: fill colours of variable boxes, by kind (Theano's: inputs green, outputs blue, shared cyan)
VARIABLE_COLOURS = {"input": "green", "shared": "cyan", "output": "blue", "constant": "white",
                    "variable": "white"}
#: fill colours of op ellipses, by op type name; other ops are white
OP_COLOURS = {"Elemwise": "#FFAABB", "Subtensor": "#FFAAFF", "AdvancedSubtensor": "#FFAAFF",
              "IncSubtensor": "#FFAAFF", "Shape": "brown", "IfElse": "magenta", "RowStream": "yellow",
              "Alloc": "#FFAA22"}
_LIGHT_TEXT = {"blue", "brown"}  # fills dark enough to need white text
_VIEW_OPS = (DimShuffle, Subtensor, Reshape)  # ops whose output is a view of input 0
FORMATS = ("dot", "gv", "png", "svg", "pdf", "ps", "jpg", "jpeg", "gif")


@dataclass
class PictureNode:
    """One node of the picture: a variable (kind input/shared/constant/output/variable) or an op
    application (kind ``apply``, ``order`` = its position in the topological order)."""

    key: str
    kind: str
    label: str
    title: str
    dtype: str | None = None
    shape: str | None = None
    op: str | None = None
    order: int | None = None
    roles: list[str] = field(default_factory=list)
    obj: object = None
    named: bool = False


@dataclass
class PictureEdge:
    """``src -> dst``; ``position`` is the input position (into an op) or the output index (out of one)."""

    src: str
    dst: str
    position: int
    view: bool = False


@dataclass
class Picture:
    nodes: dict[str, PictureNode]
    edges: list[PictureEdge]
    updates: list[tuple[str, str]]  # (key of the new value, key of the shared variable)
    inputs: list[str]
    outputs: list[str]


def _short(text: str, limit: int) -> str:
    return text if limit <= 0 or len(text) <= limit else text[:max(limit - 3, 1)] + "..."


def _variable_kind(v: Variable, roles: list[str]) -> str:
    if isinstance(v, SharedVariable):
        return "shared"
    if isinstance(v, Constant):
        return "constant"
    if v.owner is None:
        return "input"
    return "output" if roles else "variable"


def build_picture(obj, max_label_size: int = 70) -> Picture:
    """The nodes and edges ``pydotprint`` and ``to_networkx`` draw (see the module docstring)."""
    view = graph_view(obj)
    order = toposort(view.roots)
    used = {id(v) for node in order for v in node.inputs} | {id(v) for v in view.roots}
    nodes: dict[str, PictureNode] = {}
    key_of: dict[int, str] = {}

    def add_variable(v: Variable) -> str:
        if id(v) in key_of:
            return key_of[id(v)]
        key = f"v{len(key_of)}"
        key_of[id(v)] = key
        roles = view.roles_of(v)
        kind = _variable_kind(v, roles)
        type_text = f"{v.dtype} {pattern_text(v)}"
        name = leaf_text(v) if v.owner is None else (v.name or "")
        lines = [_short(name, max_label_size)] if name else []
        lines += roles + [type_text]
        title = f"{name or 'unnamed'}: {v.type.describe()}" + (f" ({', '.join(roles)})" if roles else "")
        nodes[key] = PictureNode(key, kind, "\n".join(lines), title, v.dtype, pattern_text(v), obj=v,
                                 roles=list(roles), named=bool(v.name) or v.owner is None)
        return key

    for v in view.inputs:
        add_variable(v)
    edges: list[PictureEdge] = []
    for k, node in enumerate(order):
        ins = [add_variable(v) for v in node.inputs]
        key = f"n{k}"
        full = str(node.op)
        nodes[key] = PictureNode(key, "apply", _short(_op_text(node), max_label_size), full,
                                 op=type(node.op).__name__, order=k, obj=node)
        is_view = isinstance(node.op, _VIEW_OPS)
        edges += [PictureEdge(src, key, i, view=is_view and i == 0) for i, src in enumerate(ins)]
        for i, out in enumerate(node.outputs):
            if id(out) in used:
                edges.append(PictureEdge(key, add_variable(out), i))
    for v in view.roots:
        add_variable(v)
    updates = [(key_of[id(root)], add_variable(var)) for var, root in view.updates]
    return Picture(nodes, edges, updates, [key_of[id(v)] for v in view.inputs],
                   [key_of[id(v)] for v in view.roots])


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(**attrs) -> str:
    """`` [k="v", ...]`` for the attributes that are set, or nothing."""
    items = [f"{k}={_quote(str(v))}" for k, v in attrs.items() if v is not None]
    return " [" + ", ".join(items) + "]" if items else ""


def _style(fill: str, high_contrast: bool) -> dict:
    if fill == "white":
        return {"style": "filled", "fillcolor": "white"}
    if high_contrast:
        return {"style": "filled", "fillcolor": fill, "fontcolor": "white" if fill in _LIGHT_TEXT else None}
    return {"color": fill, "penwidth": "2"}


def to_dot(pic: Picture, compact: bool = True, var_with_name_simple: bool = False, with_ids: bool = False,
           high_contrast: bool = True, colour_codes: dict | None = None, rankdir: str = "TB") -> str:
    """The DOT text of a picture (``pydotprint`` without writing files)."""
    op_colours = {**OP_COLOURS, **(colour_codes or {})}
    # compact: an unnamed intermediate variable is drawn as the edge between two ops, not a box
    hidden = {k for k, n in pic.nodes.items() if compact and n.kind == "variable" and not n.named}
    lines = ["digraph symgrad {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=9];']
    for key, n in pic.nodes.items():
        if key in hidden:
            continue
        label = n.label
        if var_with_name_simple and n.kind != "apply":
            label = label.split("\n")[0] if n.named else n.label.split("\n")[-1]
        if with_ids:
            label += f"\nid={n.order if n.kind == 'apply' else key}"
        if n.kind == "apply":
            attrs = {"shape": "ellipse", **_style(op_colours.get(n.op, "white"), high_contrast)}
        else:
            attrs = {"shape": "box", **_style(VARIABLE_COLOURS[n.kind], high_contrast)}
            if n.kind == "constant":
                attrs["style"] = "filled,dashed"
        lines.append(f"  {key}{_attrs(label=label, tooltip=n.title, **attrs)};")
    n_inputs: dict[str, int] = {}
    out_of: dict[str, list[PictureEdge]] = {}
    for e in pic.edges:
        n_inputs[e.dst] = n_inputs.get(e.dst, 0) + 1
        out_of.setdefault(e.src, []).append(e)
    for e in pic.edges:
        if e.src in hidden:
            continue
        if e.dst in hidden:  # draw the hidden variable as edges from its producer to each consumer
            var = pic.nodes[e.dst]
            for e2 in out_of.get(e.dst, ()):
                parts = [f"out {e.position} -> " if len(pic.nodes[e.src].obj.outputs) > 1 else ""]
                parts.append(f"{e2.position}: " if n_inputs[e2.dst] > 1 else "")
                lines.append(f"  {e.src} -> {e2.dst}"
                             + _attrs(label="".join(parts) + f"{var.dtype} {var.shape}",
                                      color="blue" if e2.view else None) + ";")
            continue
        label = str(e.position) if pic.nodes[e.dst].kind == "apply" and n_inputs[e.dst] > 1 else None
        if pic.nodes[e.src].kind == "apply" and len(pic.nodes[e.src].obj.outputs) > 1:
            label = f"out {e.position}"
        lines.append(f"  {e.src} -> {e.dst}{_attrs(label=label, color='blue' if e.view else None)};")
    for new, var in pic.updates:
        lines.append(f"  {new} -> {var}{_attrs(style='dashed', color='grey40', constraint='false', label='update')};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _check_bool(value, what: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"pydotprint: {what} must be True or False, got {value!r}")


def pydotprint(fct, outfile: str | os.PathLike | None = None, format: str | None = None, *, compact: bool = True,
               with_ids: bool = False, high_contrast: bool = True, colorCodes: dict | None = None,
               max_label_size: int = 70, var_with_name_simple: bool = False, print_output_file: bool = True,
               rankdir: str = "TB") -> str:
    """Draw a variable, a list of variables or a compiled function (its optimized graph, with
    updates) with Graphviz, Theano's way; returns the DOT text.

    - ``outfile`` None: nothing is written. Ending in ``.dot``/``.gv`` (or ``format='dot'``): the
      DOT text is written. Otherwise the picture is drawn in ``format`` (default: the file's suffix,
      else png) by the ``dot`` program; if it is not installed, the DOT text is written next to
      ``outfile`` (suffix ``.dot``) with a warning.
    - ``compact``: unnamed intermediate variables are edges (labelled with their type), not boxes.
    - ``var_with_name_simple``: variable boxes show only the name; ``with_ids``: ids in labels;
      ``high_contrast`` False colours borders instead of filling; ``colorCodes`` maps op type names
      (``"Dot"``) to colours; ``max_label_size`` shortens long labels (0: never).

    >>> import symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> print(pydotprint(2 * x, rankdir="LR"))  # doctest: +ELLIPSIS
    digraph symgrad {
      rankdir=LR;
    ...
      v0 [label="x\\nfloat64 (?,)", tooltip="x: float64 vector", shape="box", style="filled", fillcolor="green"];
      n0 [label="Elemwise{2*x0}", ...];
    ...
    """
    for value, what in ((compact, "compact"), (with_ids, "with_ids"), (high_contrast, "high_contrast"),
                        (var_with_name_simple, "var_with_name_simple"), (print_output_file, "print_output_file")):
        _check_bool(value, what)
    if not isinstance(max_label_size, int) or isinstance(max_label_size, bool) or max_label_size < 0:
        raise ValueError(f"pydotprint: max_label_size must be an int >= 0, got {max_label_size!r}")
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"pydotprint: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    if colorCodes is not None and not isinstance(colorCodes, dict):
        raise TypeError(f"pydotprint: colorCodes must be a dict of op type name -> colour, got "
                        f"{type(colorCodes).__name__}")
    if outfile is not None and not isinstance(outfile, (str, os.PathLike)):
        raise TypeError(f"pydotprint: outfile must be a path (str or os.PathLike) or None, got "
                        f"{type(outfile).__name__}")
    if format is not None and not isinstance(format, str):
        raise TypeError(f"pydotprint: format must be a str such as 'png' or None, got {type(format).__name__}")
    path = None if outfile is None else os.fspath(outfile)
    suffix = os.path.splitext(path)[1][1:].lower() if path else ""
    fmt = (format or suffix or "png").lower()
    if fmt not in FORMATS:
        where = "format" if format else f"the suffix of outfile {path!r}"
        raise ValueError(f"pydotprint: {where} must be one of {', '.join(FORMATS)}, got {fmt!r}")
    text = to_dot(build_picture(fct, max_label_size), compact=compact, var_with_name_simple=var_with_name_simple,
                  with_ids=with_ids, high_contrast=high_contrast, colour_codes=colorCodes, rankdir=rankdir)
    if path is None:
        return text
    if not suffix:
        path = f"{path}.{fmt}"
    if fmt in ("dot", "gv"):
        _write_text(path, text)
    else:
        dot = shutil.which("dot")
        if dot is None:
            dot_path = os.path.splitext(path)[0] + ".dot"
            _write_text(dot_path, text)
            warnings.warn(f"pydotprint: the Graphviz 'dot' program is not installed, so {path} was not drawn; "
                          f"the DOT text is in {dot_path} (install Graphviz, e.g. 'apt-get install graphviz', "
                          f"for {fmt} pictures)", stacklevel=2)
            path = dot_path
        else:
            _run_dot(dot, fmt, path, text)
    if print_output_file:
        print(f"The output file is available at {path}")
    return text


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def _run_dot(dot: str, fmt: str, path: str, text: str) -> None:
    try:
        done = subprocess.run([dot, f"-T{fmt}", "-o", path], input=text.encode("utf-8"), capture_output=True,
                              timeout=120)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"pydotprint: Graphviz 'dot' ({dot}) took more than 120 s drawing {path}") from None
    if done.returncode != 0:
        raise RuntimeError(f"pydotprint: Graphviz 'dot' ({dot}) failed drawing {path} (exit status "
                           f"{done.returncode}): {done.stderr.decode('utf-8', 'replace').strip()}")


def to_networkx(fct):
    """The graph of a variable, a list of variables or a compiled function (optimized, with
    updates) as a ``networkx.DiGraph`` (networkx is optional: ``pip install networkx``).

    Nodes are the variables (``kind`` input/shared/constant/output/variable) and op applications
    (``kind`` apply, ``op`` its type name, ``order`` its topological position); each carries
    ``label``, ``title``, ``dtype``, ``shape`` (the pattern, e.g. ``(?, 1)``), ``roles`` and ``obj``
    (the Variable or Apply). Edges carry ``position``. ``G.graph`` holds ``inputs``, ``outputs``
    and ``updates`` ({new value: shared variable}) as node keys.

    >>> import networkx as nx, symgrad.tensor as T  # doctest: +SKIP
    >>> G = to_networkx(T.exp(T.dvector("x")))  # doctest: +SKIP
    >>> [G.nodes[k]["kind"] for k in nx.topological_sort(G)]  # doctest: +SKIP
    ['input', 'apply', 'output']

    (skipped in the doctest run: networkx is optional; tests/printing/test_printing.py checks this.)
    """
    try:
        import networkx as nx
    except ImportError as e:
        raise ImportError("to_networkx needs the optional package networkx: pip install networkx") from e
    pic = build_picture(fct)
    G = nx.DiGraph(inputs=pic.inputs, outputs=pic.outputs, updates=dict(pic.updates))
    for key, n in pic.nodes.items():
        G.add_node(key, kind=n.kind, label=n.label, title=n.title, dtype=n.dtype, shape=n.shape, op=n.op,
                   order=n.order, roles=n.roles, obj=n.obj)
    for e in pic.edges:
        G.add_edge(e.src, e.dst, position=e.position, view=e.view)
    return G


__all__ = ["pydotprint", "to_networkx", "build_picture", "to_dot", "Picture", "PictureNode", "PictureEdge",
           "VARIABLE_COLOURS", "OP_COLOURS", "FORMATS"]
