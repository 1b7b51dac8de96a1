"""symgrad.printing: ``pp`` (infix text), ``debugprint`` (indented tree), ``pydotprint`` (Graphviz),
``to_networkx`` and ``latex``, for variables and compiled functions on both backends.

Compiled functions are few: one logistic-regression training step per backend (module fixture),
checked by every printer; the other compiled functions use the numpy backend (no kernel compile).
"""
import io
import shutil
import stat
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import sympy

import symgrad as sg
import symgrad.tensor as T
from symgrad.graph import Apply, Op
from symgrad.printing import debugprint, latex, pp, pydotprint, to_networkx, to_sympy
from symgrad.tensor.shape import Shape_i
from tests.conftest import BACKENDS


# --- pp --------------------------------------------------------------------------------------
def test_pp_addition():
    x, y = T.dscalars("x", "y")
    assert sg.pp(x + y) == "(x + y)"
    assert pp is sg.pp


def test_pp_leaves():
    assert sg.pp(T.dscalar("x")) == "x"
    assert sg.pp(T.constant(2.0)) == "2.0"
    assert sg.pp(sg.shared(1.0, name="b")) == "b"


def test_pp_common_expressions():
    x, y = T.dscalars("x", "y")
    X = T.dmatrix("X")
    w = T.dvector("w")
    assert sg.pp(x - y) == "(x - y)"
    assert sg.pp(x / y) == "(x/y)"
    assert sg.pp(T.exp(x)) == "exp(x)"
    assert sg.pp(T.dot(X, w)) == "dot(X, w)"
    assert sg.pp(w.sum()) == "sum(w)"
    assert sg.pp(X.sum(axis=0)) == "sum(X, axis=0)"
    assert sg.pp(X.T) == "X.T"
    assert sg.pp(w[1:3]) == "w[1:3]"
    assert sg.pp(X.shape) == "X.shape"
    assert sg.pp(Shape_i(1)(X)) == "X.shape[1]"
    assert sg.pp(T.nnet.softmax(X)) == "softmax(X)"
    assert sg.pp(T.nnet.softmax(X, axis=0)) == "softmax(X, axis=0)"
    assert sg.pp(T.log(T.nnet.softmax(X))) == "log_softmax(X)"


def test_pp_nested():
    X = T.dmatrix("X")
    w = T.dvector("w")
    b = T.dscalar("b")
    text = sg.pp(T.exp(T.dot(X, w) + b))
    assert "dot(X, w)" in text and "exp(" in text and "b" in text


def test_pp_compiled_function_shows_optimized_graph():
    X = T.dmatrix("X")
    w = T.dvector("w")
    f = sg.function([X, w], 1 / (1 + T.exp(-T.dot(X, w))), mode="numpy")
    assert sg.pp(f) == "sigmoid(dot(X, w))"


def test_pp_unnamed_input_mentions_its_type():
    assert "float64 vector" in sg.pp(T.exp(T.dvector()))


def test_pp_distinct_inputs_with_equal_text_do_not_cancel():
    assert sg.pp(T.dvector() - T.dvector()) == "(<float64 vector> - <float64 vector>)"
    x = T.dvector("x")
    assert sg.pp(x - T.dvector("x")) == "(x - x)" and sg.pp(x - x) == "(0)"


# --- debugprint --------------------------------------------------------------------------------
def test_debugprint_returns_string_with_file_str():
    x = T.dvector("x")
    text = sg.debugprint(T.exp(x) + 1, file="str")
    assert text == (
        "Elemwise{x0 + 1} [id A]\n"
        " |Elemwise{exp(x0)} [id B]\n"
        "   |x [id C]")


def test_debugprint_indentation_grows_with_depth():
    x, y = T.dscalars("x", "y")
    out = T.exp(T.sin(x) * y)
    lines = sg.debugprint(out, file="str").splitlines()
    assert lines[0].startswith("Elemwise{exp(x0)}")
    assert lines[1].startswith(" |Elemwise")
    assert lines[2].startswith("   |Elemwise{sin(x0)}")
    assert lines[3] == "     |x [id D]"
    assert lines[4] == "   |y [id E]"


def test_debugprint_marks_shared_subtrees():
    x = T.dscalar("x")
    z = T.exp(x)
    out = T.sin(z) + z
    text = sg.debugprint(out, file="str")
    assert text.count("Elemwise{exp(x0)}") == 2
    assert "(seen above)" in text
    assert text.count("|x [id") == 1  # the shared subtree is expanded once


def test_debugprint_prints_to_stdout_by_default(capsys):
    x = T.dvector("x")
    assert debugprint(x * 2) is None
    out = capsys.readouterr().out
    assert "Elemwise{2*x0}" in out and " |x [id B]" in out


def test_debugprint_to_file_object():
    x = T.dvector("x")
    buf = io.StringIO()
    debugprint(T.exp(x), file=buf)
    assert buf.getvalue() == "Elemwise{exp(x0)} [id A]\n |x [id B]\n"


def test_debugprint_function_shows_shape_i():
    """A compiled function's graph is the optimized one: ``x.shape[0]`` shows as Theano's Shape_i."""
    x = T.dmatrix("x")
    text = sg.debugprint(sg.function([x], x.sum() / x.shape[0], mode="numpy"), file="str")
    assert "Shape_i{0} [id" in text and "Shape [id" not in text


def test_debugprint_print_type():
    x = T.dvector("x")
    text = sg.debugprint(x.sum(), file="str", print_type=True)
    assert "<float64 scalar>" in text and "<float64 vector>" in text


def test_debugprint_list_of_outputs():
    x = T.dscalar("x")
    a = T.exp(x)
    text = sg.debugprint([a, a * 2], file="str")
    lines = text.splitlines()
    assert lines[0] == "Elemwise{exp(x0)} [id A]"
    assert any(line.startswith("Elemwise{2*x0}") for line in lines)
    assert "(seen above)" in text


def test_debugprint_named_intermediate():
    x = T.dscalar("x")
    h = T.exp(x)
    h.name = "h"
    assert "'h'" in sg.debugprint(h + 1, file="str")


def test_debugprint_compiled_function_shows_fused_kernel():
    X = T.dmatrix("X")
    w = T.dvector("w")
    b = T.dscalar("b")
    f = sg.function([X, w, b], 1 / (1 + T.exp(-T.dot(X, w) - b)), mode="numpy")
    text = sg.debugprint(f, file="str")
    lines = text.splitlines()
    assert lines[:3] == ["Inputs: X <float64 matrix>, w <float64 vector>, b <float64 scalar>", "Outputs:",
                         "Elemwise{sigmoid(x0 + x1)} [id A]"]
    lines = lines[2:]
    assert sum(line.lstrip(" |").startswith("Elemwise") for line in lines) == 1
    assert " |Dot [id" in text
    assert "   |X [id" in text and "   |w [id" in text
    assert " |b [id" in text


def test_debugprint_compiled_function_with_several_outputs_and_updates():
    x = T.dvector("x")
    acc = sg.shared(np.zeros(2), name="acc")
    f = sg.function([x], [x.sum(), x * 2], updates=[(acc, acc + x)], mode="numpy")
    text = sg.debugprint(f, file="str")
    assert text.splitlines() == [
        "Inputs: x <float64 vector>",
        "Shared: acc <float64 vector> (updated)",
        "Outputs:",
        "Sum{axis=(0,)} [id A]",
        " |x [id B]",
        "Elemwise{2*x0} [id C]",
        " |x [id B]",
        "Updates:",
        "acc <- Elemwise{x0 + x1} [id D]",
        " |acc [id E]",
        " |x [id B]"]


# --- shared graphs ---------------------------------------------------------------------------------
def _logistic_regression():
    """Theano's logistic-regression tutorial graph (tiny), with its gradients."""
    x, y = T.matrix("x"), T.vector("y")
    w, b = sg.shared(np.array([0.5, -0.25, 1.0]), name="w"), sg.shared(0.0, name="b")
    p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
    xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = T.grad(cost, [w, b])
    return dict(x=x, y=y, w=w, b=b, p_1=p_1, xent=xent, cost=cost, gw=gw, gb=gb)


@pytest.fixture(scope="module")
def lr():
    return _logistic_regression()


@pytest.fixture(scope="module", params=BACKENDS)
def train(request):
    """One compiled training step per backend: the only numba compile of this module."""
    g = _logistic_regression()
    f = sg.function([g["x"], g["y"]], [g["p_1"] > 0.5, g["xent"]],
                    updates=[(g["w"], g["w"] - 0.1 * g["gw"]), (g["b"], g["b"] - 0.1 * g["gb"])],
                    mode=request.param)
    return f, g


@dataclass(frozen=True)
class SplitSign(Op):
    """An op no printer knows (two outputs): every printer must fall back to ``str(op)``."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return Apply(self, [x], [x.type, x.type])

    def __str__(self):
        return "SplitSign{pos,neg}"


# --- debugprint and pp of compiled functions, on both backends -------------------------------------
def test_debugprint_function_shows_inputs_kernels_and_updates(train):
    f, g = train
    text = sg.debugprint(f, file="str")
    lines = text.splitlines()
    assert lines[0] == "Inputs: x <float64 matrix>, y <float64 vector>"
    assert lines[1] == "Shared: w <float64 vector> (updated), b <float64 scalar> (updated)"
    assert lines[2] == "Outputs:"
    assert "Updates:" in lines
    updates = lines[lines.index("Updates:") + 1:]
    assert sum(line.startswith("w <- Elemwise{") for line in updates) == 1
    assert sum(line.startswith("b <- Elemwise{") for line in updates) == 1
    if f.mode == "numba":  # the row pass: one node, four outputs, spelled out in the legend
        assert lines[3] == "RowStream{2 row outputs, 1 sum}.1 [id A]"
        assert "RowStream{2 row outputs, 1 sum}.2 [id A] (seen above)" in text
        legend = lines[lines.index("Row passes:") + 1:]
        assert legend[0].startswith("RowStream [id A]: one pass over the rows i of x, with x0 = dot(x, w)[i], "
                                    "x1 = y[i], x2 = b")
        assert legend[1].startswith("  .0 = x.T @ (") and "sigmoid(x0 + x2)" in legend[1]
        assert legend[2] == "  .1 = gt(cast_float64(sigmoid(x0 + x2)), 0.5)  (a bool per row)"
        assert "softplus" in legend[3] and legend[3].endswith("(a float64 per row)")
        assert legend[4].startswith("  .3 = sum over rows of ")
    else:  # fused elementwise kernels, stabilized: one node per output formula
        assert lines[3] == "Elemwise{gt(cast_float64(sigmoid(x0 + x1)), 0.5)} [id A]"
        assert any(line.startswith("Elemwise{x0*softplus(") for line in lines)
        assert "RowStream" not in text and "Row passes:" not in text
    assert debugprint(f, file="str", depth=1).splitlines()[3].endswith("[id A]")


def test_pp_function_on_both_backends(train):
    f, g = train
    lines = sg.pp(f).splitlines()
    assert len(lines) == 4  # two outputs, two updates
    assert lines[0] == "gt(cast_float64(sigmoid(b + dot(x, w))), 0.5)"
    assert lines[1] == "(y*softplus(-b - dot(x, w)) + (1 - y)*softplus(b + dot(x, w)))"
    assert lines[2].startswith("(w - 0.1*dot(x.T, ")
    assert lines[3].startswith("(b - 0.1*sum(")


def test_pydotprint_function_draws_optimized_graph_with_updates(train):
    f, g = train
    text = pydotprint(f)
    assert 'label="x\\nfloat64 (?, ?)"' in text and 'fillcolor="green"' in text
    assert 'label="w\\nfloat64 (?,)"' in text and 'fillcolor="cyan"' in text
    assert 'label="update of w\\nfloat64 (?,)"' in text and 'label="output 0\\nbool (?,)"' in text
    assert text.count('label="update"') == 2 and 'constraint="false"' in text
    if f.mode == "numba":
        assert 'label="RowStream{2 row outputs, 1 sum}"' in text and 'fillcolor="yellow"' in text
        assert 'label="out 1"' in text  # an output of a multi-output node
    else:
        assert "RowStream" not in text


def test_to_networkx_function(train):
    nx = pytest.importorskip("networkx")
    f, g = train
    G = to_networkx(f)
    assert nx.is_directed_acyclic_graph(G)
    kinds = {G.nodes[k]["kind"] for k in G}
    assert kinds == {"input", "shared", "constant", "apply", "output", "variable"}
    assert [G.nodes[k]["obj"] for k in G.graph["inputs"]] == [g["x"], g["y"]]
    new_w = next(k for k, v in G.graph["updates"].items() if G.nodes[v]["obj"] is g["w"])
    assert G.nodes[new_w]["roles"] == ["update of w"] and G.nodes[new_w]["dtype"] == "float64"
    order = [G.nodes[k]["order"] for k in nx.topological_sort(G) if G.nodes[k]["kind"] == "apply"]
    assert sorted(order) == list(range(len(order)))
    ops = {G.nodes[k]["op"] for k in G if G.nodes[k]["kind"] == "apply"}
    assert ("RowStream" in ops) == (f.mode == "numba")


# --- debugprint details --------------------------------------------------------------------------
def test_debugprint_function_without_inputs_or_updates():
    c = sg.shared(np.ones(2), name="c")
    text = debugprint(sg.function([], c * 2, mode="numpy"), file="str")
    assert text.splitlines()[:3] == ["Inputs: none", "Shared: c <float64 vector>", "Outputs:"]
    assert "Updates:" not in text


def test_debugprint_depth_limits_the_tree():
    x = T.dvector("x")
    out = T.exp(T.sin(x)) + 1
    assert debugprint(out, file="str", depth=1) == "Elemwise{x0 + 1} [id A]"
    assert debugprint(out, file="str", depth=2).splitlines() == ["Elemwise{x0 + 1} [id A]",
                                                                 " |Elemwise{exp(x0)} [id B]"]
    with pytest.raises(TypeError, match="depth must be an int"):
        debugprint(out, file="str", depth="2")


def test_debugprint_and_pp_reject_what_is_not_a_graph():
    with pytest.raises(TypeError, match="expected a symbolic variable.*got int"):
        debugprint(3, file="str")
    with pytest.raises(TypeError, match="pp: expected a symbolic variable or a compiled function, got list"):
        pp([T.dvector("x")])


def test_unknown_op_prints_by_its_name_everywhere():
    x = T.dvector("x")
    pos, neg = SplitSign()(x)
    out = pos - neg
    text = debugprint(out, file="str")
    assert " |SplitSign{pos,neg}.0 [id B]" in text and " |SplitSign{pos,neg}.1 [id B] (seen above)" in text
    assert pp(out) == "(SplitSign{pos,neg}(x) - SplitSign{pos,neg}(x))"
    dot = pydotprint(out)
    assert 'label="SplitSign{pos,neg}"' in dot and 'label="out 0 -> 0: float64 (?,)"' in dot
    assert latex(out) == r"\text{SplitSign\{pos,neg\}}\left(x\right)_{0} - \text{SplitSign\{pos,neg\}}\left(x\right)_{1}"
    nx = pytest.importorskip("networkx")
    G = to_networkx(out)
    assert [G.nodes[k]["op"] for k in nx.topological_sort(G) if G.nodes[k]["kind"] == "apply"] == \
        ["SplitSign", "Elemwise"]


# --- pydotprint ----------------------------------------------------------------------------------
def test_pydotprint_variable_colours_shapes_and_edges():
    x = T.dvector("x")
    X = T.dmatrix("X")
    b = sg.shared(0.5, name="b")
    out = T.dot(X.T, T.exp(x) + b) * 2
    text = pydotprint(out)
    lines = text.splitlines()
    assert lines[:2] == ["digraph symgrad {", "  rankdir=TB;"] and text.endswith("}\n")
    assert '[label="x\\nfloat64 (?,)", tooltip="x: float64 vector", shape="box", style="filled", ' \
           'fillcolor="green"];' in text
    assert 'label="b\\nfloat64 ()", tooltip="b: float64 scalar", shape="box", style="filled", fillcolor="cyan"' \
        in text
    assert 'label="output\\nfloat64 (?,)"' in text and 'fillcolor="blue", fontcolor="white"' in text
    assert 'label="Dot", tooltip="Dot", shape="ellipse", style="filled", fillcolor="white"' in text
    assert 'label="Elemwise{exp(x0)}"' in text and 'fillcolor="#FFAABB"' in text
    # X.T is a view of X: its input edge is blue; the unnamed intermediate is an edge with its type
    x_key = next(line.split()[0] for line in lines if 'label="X\\n' in line)
    assert f'  {x_key} -> n' in text and 'color="blue"' in text
    assert '[label="0: float64 (?, ?)"]' in text  # X.T enters Dot at position 0
    assert '[label="1: float64 (?,)"]' in text


def test_pydotprint_options():
    x = T.dvector("x")
    h = T.exp(x) + 1
    h.name = "h"
    out = T.log(h) * 3.0
    compact = pydotprint(out)
    full = pydotprint(out, compact=False)
    assert full.count('shape="box"') == compact.count('shape="box"') + 2  # boxes for exp(x) and log(h)
    assert 'label="h\\nfloat64 (?,)"' in compact  # named intermediates are always boxes
    simple = pydotprint(out, var_with_name_simple=True)
    assert 'label="h"' in simple and 'label="x"' in simple
    assert "\\nid=0" in pydotprint(out, with_ids=True)
    low = pydotprint(out, high_contrast=False)
    assert 'color="green", penwidth="2"' in low and 'fillcolor="green"' not in low
    assert 'fillcolor="orange"' in pydotprint(out, colorCodes={"Elemwise": "orange"})
    assert 'label="Elemw..."' in pydotprint(out, max_label_size=8)
    assert "rankdir=LR;" in pydotprint(out, rankdir="LR")
    assert 'style="filled,dashed"' in pydotprint(x * np.arange(2.0))  # constants are dashed


def test_pydotprint_writes_dot_files(tmp_path, capsys):
    x = T.dvector("x")
    target = tmp_path / "graph.dot"
    text = pydotprint(T.exp(x), target)
    assert target.read_text() == text
    assert capsys.readouterr().out == f"The output file is available at {target}\n"
    pydotprint(T.exp(x), str(tmp_path / "graph"), format="dot", print_output_file=False)
    assert (tmp_path / "graph.dot").read_text() == text
    assert capsys.readouterr().out == ""


def _fake_dot(folder, body: str) -> None:
    script = folder / "dot"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_pydotprint_runs_the_dot_program(tmp_path, monkeypatch):
    # a stand-in for Graphviz: records its arguments and copies the DOT text to the -o file
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _fake_dot(bin_dir, f'echo "$@" > {tmp_path}/args\n{shutil.which("cat")} > "$3"\n')
    monkeypatch.setenv("PATH", str(bin_dir))
    x = T.dvector("x")
    text = pydotprint(T.exp(x), tmp_path / "g.png", print_output_file=False)
    assert (tmp_path / "args").read_text().split() == ["-Tpng", "-o", str(tmp_path / "g.png")]
    assert (tmp_path / "g.png").read_text() == text
    pydotprint(T.exp(x), tmp_path / "g.out", format="svg", print_output_file=False)
    assert (tmp_path / "args").read_text().split()[0] == "-Tsvg"
    pydotprint(T.exp(x), tmp_path / "pic", print_output_file=False)  # no suffix: png, suffix added
    assert (tmp_path / "pic.png").exists()


def test_pydotprint_reports_a_failing_dot_program(tmp_path, monkeypatch):
    _fake_dot(tmp_path, 'echo "syntax error in line 3" >&2\nexit 1\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"'dot'.*failed drawing .*g\.png \(exit status 1\): syntax error"):
        pydotprint(T.exp(T.dvector("x")), tmp_path / "g.png")


def test_pydotprint_without_graphviz_writes_dot_text_and_warns(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    x = T.dvector("x")
    with pytest.warns(UserWarning, match=r"'dot' program is not installed, so .*g\.svg was not drawn.*g\.dot"):
        text = pydotprint(T.exp(x), tmp_path / "g.svg")
    assert (tmp_path / "g.dot").read_text() == text and not (tmp_path / "g.svg").exists()
    assert capsys.readouterr().out == f"The output file is available at {tmp_path / 'g.dot'}\n"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_pydotprint_real_graphviz_draws_svg(tmp_path, lr):
    pydotprint(lr["gb"], tmp_path / "gb.svg", print_output_file=False)
    assert "<svg" in (tmp_path / "gb.svg").read_text()


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(format="bmp"), ValueError, "format must be one of"),
    (dict(outfile="g.txt"), ValueError, "the suffix of outfile 'g.txt' must be one of"),
    (dict(format=2), TypeError, "format must be a str"),
    (dict(outfile=3), TypeError, "outfile must be a path"),
    (dict(compact="yes"), TypeError, "compact must be True or False"),
    (dict(max_label_size=-1), ValueError, "max_label_size must be an int >= 0"),
    (dict(rankdir="up"), ValueError, "rankdir must be"),
    (dict(colorCodes=["Dot"]), TypeError, "colorCodes must be a dict"),
])
def test_pydotprint_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        pydotprint(T.exp(T.dvector("x")), **kwargs)


def test_pydotprint_rejects_what_is_not_a_graph():
    with pytest.raises(TypeError, match="expected a symbolic variable, a non-empty list"):
        pydotprint("x")


# --- to_networkx ---------------------------------------------------------------------------------
def test_to_networkx_variable_graph(lr):
    nx = pytest.importorskip("networkx")
    G = to_networkx([lr["gw"], lr["gb"]])
    assert isinstance(G, nx.DiGraph) and nx.is_directed_acyclic_graph(G)
    assert [G.nodes[k]["roles"] for k in G.graph["outputs"]] == [["output 0"], ["output 1"]]
    by_obj = {id(G.nodes[k]["obj"]): k for k in G}
    w = by_obj[id(lr["w"])]
    assert G.nodes[w] | {} == G.nodes[w] and G.nodes[w]["kind"] == "shared"
    assert (G.nodes[w]["label"], G.nodes[w]["dtype"], G.nodes[w]["shape"]) == ("w\nfloat64 (?,)", "float64", "(?,)")
    dots = [k for k in G if G.nodes[k]["op"] == "Dot"]
    assert dots and all(sorted(G.edges[e]["position"] for e in G.in_edges(k)) == [0, 1] for k in dots)
    order = list(nx.topological_sort(G))
    assert order.index(w) < order.index(G.graph["outputs"][0])


def test_to_networkx_needs_networkx(monkeypatch):
    monkeypatch.setitem(sys.modules, "networkx", None)  # import networkx now raises ImportError
    with pytest.raises(ImportError, match="pip install networkx"):
        to_networkx(T.dvector("x") * 2)


# --- latex ---------------------------------------------------------------------------------------
def test_latex_logistic_regression_bias_gradient(lr):
    raw = latex(lr["gb"])
    assert raw.startswith(r"\sum\left(") and r"\sigma\left(x \cdot w + b\right)" in raw
    assert r"\operatorname{len}\left(y\right)" in raw
    assert latex(lr["gb"], optimize=True) == (
        r"\sum\left(\frac{\sigma\left(x \cdot w + b\right) - y}{\operatorname{len}\left(y\right)}\right)")


def test_latex_logistic_regression_weight_gradient_and_cost(lr):
    assert latex(lr["gw"], optimize=True) == (
        r"0.02 w + x^{T} \cdot \frac{\sigma\left(x \cdot w + b\right) - y}{\operatorname{len}\left(y\right)}")
    assert latex(lr["p_1"]) == r"\sigma\left(x \cdot w + b\right)"
    cost = latex(lr["cost"])
    assert cost.startswith(r"0.01 \sum\left(w^{2}\right) + \frac{\sum\left(") and cost.endswith(
        r"}{\operatorname{len}\left(y\right)}")
    assert r"\log{\left(1 - \sigma\left(x \cdot w + b\right) \right)}" in cost
    assert r"\operatorname{softplus}\left(x \cdot w + b\right)" in latex(lr["cost"], optimize=True)


def test_latex_names_abbreviate_formulas():
    x, y = T.dmatrix("x"), T.dvector("y")
    W, v = T.dmatrix("W"), T.dvector("v")
    h = T.nnet.sigmoid(T.dot(x, W))
    yhat = T.dot(h, v) + 1.5
    cost = ((yhat - y) ** 2).sum()
    gW = T.grad(cost, W)
    names = {h: "h", yhat: r"\hat{y}"}
    assert latex(gW, names=names) == r"x^{T} \cdot 2 v h \left(1 - h\right) \left(\hat{y} - y\right)"
    assert latex(cost, names=names) == r"\sum\left(\left(\hat{y} - y\right)^{2}\right)"
    assert latex(cost, names={x: r"\mathbf{X}"}).count(r"\mathbf{X}") == 1
    assert r"\hat{y}" in latex(cost, optimize=True, names=names)  # names survive the rewrites


A, B = T.dmatrix("A"), T.dmatrix("B")
u, i, n = T.dvector("u"), T.lscalar("i"), T.lscalar("n")
LATEX_CASES = [
    (lambda: A.T, r"A^{T}"),
    (lambda: (A + B).T, r"\left(A + B\right)^{T}"),
    (lambda: T.dot(A, B) ** 2, r"\left(A \cdot B\right)^{2}"),
    (lambda: T.dot(A + B, u), r"\left(A + B\right) \cdot u"),
    (lambda: u * T.dot(A, u), r"u \left(A \cdot u\right)"),
    (lambda: A.sum(axis=1) / A.shape[1], r"\frac{\sum_{\text{axis}=1}\left(A\right)}{\operatorname{shape}\left(A\right)_{1}}"),
    (lambda: A.mean(), r"\frac{\sum\left(A\right)}{\operatorname{len}\left(A\right) \operatorname{shape}\left(A\right)_{1}}"),
    (lambda: Shape_i(0)(A) * Shape_i(1)(A), r"\operatorname{len}\left(A\right) \operatorname{shape}\left(A\right)_{1}"),
    (lambda: T.max(A, axis=0), r"\max_{\text{axis}=0}\left(A\right)"),
    (lambda: T.argmax(A, axis=1), r"\operatorname{argmax}_{\text{axis}=1}\left(A\right)"),
    (lambda: T.prod(u), r"\prod\left(u\right)"),
    (lambda: T.nnet.softmax(A)[i, 1:3], r"\operatorname{softmax}\left(A\right)\left[i, 1:3\right]"),
    (lambda: u[T.lvector("k")], r"u\left[k\right]"),
    (lambda: T.log(T.nnet.softmax(A, axis=0)), r"\log \operatorname{softmax}_{\text{axis}=0}\left(A\right)"),
    (lambda: T.inc_subtensor(u[i], 1.0), r"\operatorname{inc\_subtensor}\left(u\left[i\right], 1\right)"),
    (lambda: T.set_subtensor(u[:i], 0.0), r"\operatorname{set\_subtensor}\left(u\left[:i\right], 0\right)"),
    (lambda: T.switch(u > 0, u, 0.1 * u), r"\begin{cases} u & \text{if } \left(u > 0\right) \\ 0.1 u & \text{otherwise} \end{cases}"),
    (lambda: (u >= 1) & (u < 3), r"\left(\left(u \geq 1\right) \wedge \left(u < 3\right)\right)"),
    (lambda: T.maximum(u, 0) + T.minimum(u, 1), r"\max\left(u, 0\right) + \min\left(u, 1\right)"),
    (lambda: T.floor(u) + T.ceil(u), r"\left\lceil u \right\rceil + \left\lfloor u \right\rfloor"),
    (lambda: (n // 2) % 3, r"\left(\left\lfloor \frac{n}{2} \right\rfloor \bmod 3\right)"),
    (lambda: T.log1p(u) + T.expm1(u), r"\left(e^{u} - 1\right) + \log\left(1 + u\right)"),
    (lambda: T.nnet.softplus(u) * T.cast(u, "float32"), r"u \operatorname{softplus}\left(u\right)"),
    (lambda: T.concatenate([A, B], axis=1).reshape((2, -1)),
     r"\operatorname{reshape}\left(\operatorname{concatenate}_{1}\left(A, B\right), \left[2, -1\right]\right)"),
    (lambda: T.arange(n) * T.constant(np.arange(3.0)), r"\left[0, 1, 2\right] \operatorname{arange}\left(0, n, 1\right)"),
    (lambda: u * T.constant(np.full(3, 0.5)), r"0.5 u"),
    (lambda: T.dvector() + T.dvector(), r"v_{1} + v_{2}"),
    (lambda: T.dvector("x") - T.dvector("x"), r"x - x"),  # two inputs called x do not cancel
    (lambda: T.nnet.sigmoid(u) ** 2 + T.dot(u, u) ** 2 + T.cast(u + 1, "float32") ** 2,
     r"\left(u \cdot u\right)^{2} + \left(u + 1\right)^{2} + \left(\sigma\left(u\right)\right)^{2}"),
    (lambda: A.dimshuffle(1, "x", 0), r"A^{T}"),
    (lambda: T.tensor3("C").dimshuffle(2, 0, 1), r"\operatorname{transpose}_{(2,0,1)}\left(C\right)"),
    (lambda: u.dimshuffle("x", 0) + A, r"A + u"),
]


@pytest.mark.parametrize("build, expected", LATEX_CASES)
def test_latex_of_structural_and_scalar_ops(build, expected):
    assert latex(build()) == expected


def test_latex_is_the_same_math():
    # a chain of elementwise nodes becomes one formula: evaluate it against numpy
    x, y = T.dvector("x"), T.dvector("y")
    out = T.exp(-x) * T.log1p(y ** 2) / (1 + T.nnet.sigmoid(x - y)) - T.sqrt(abs(y))
    expr = to_sympy(out)
    fn = sympy.lambdify([sympy.Symbol("x", real=True), sympy.Symbol("y", real=True)],
                        expr.replace(lambda e: type(e).__name__ == "sigmoid",
                                     lambda e: 1 / (1 + sympy.exp(-e.args[0]))), "numpy")
    xv, yv = np.array([0.3, -1.2, 2.0]), np.array([1.5, 0.2, -0.7])
    expected = np.exp(-xv) * np.log1p(yv ** 2) / (1 + 1 / (1 + np.exp(yv - xv))) - np.sqrt(np.abs(yv))
    np.testing.assert_allclose(fn(xv, yv), expected, rtol=1e-12)


def test_latex_bad_arguments():
    x = T.dvector("x")
    with pytest.raises(TypeError, match="latex: expected a symbolic variable, got int"):
        latex(3)
    with pytest.raises(TypeError, match="names must be a dict"):
        latex(x, names=[x])
    with pytest.raises(TypeError, match="names must map symbolic variables to str"):
        latex(x, names={x: 1})
    with pytest.raises(TypeError, match="simplify must be True or False"):
        latex(x, simplify="yes")
    with pytest.raises(TypeError, match="optimize must be True or False"):
        latex(x, optimize=1)


def test_latex_simplify_off_keeps_sympy_form(lr):
    assert latex(lr["gb"], optimize=True, simplify=False) == (
        r"\sum\left(\frac{\sigma\left(x \cdot w + b\right)}{\operatorname{len}\left(y\right)} - "
        r"\frac{y}{\operatorname{len}\left(y\right)}\right)")


def test_printing_namespace():
    import symgrad.printing as P

    assert P.pprint is P.pp and sg.printing.debugprint is debugprint
    assert set(P.__all__) >= {"pp", "debugprint", "pydotprint", "to_networkx", "latex"}


def test_ifelse_and_specify_shape_print_everywhere():
    ifelse = pytest.importorskip("symgrad.ifelse").ifelse
    if not hasattr(T, "specify_shape"):
        pytest.skip("T.specify_shape is not available")
    a, b = T.dscalars("a", "b")
    x = T.dvector("x")
    out = ifelse(T.lt(a, b), a * 2, b * 3) + T.specify_shape(x, (3,)).sum()
    assert latex(out) == (r"\sum\left(x\right) + \begin{cases} 2 a & \text{if } \left(a < b\right) \\ 3 b & "
                          r"\text{otherwise} \end{cases}")
    assert pp(out) == "(IfElse(lt(a, b), (2*a), (3*b)) + sum(SpecifyShape(x, 3)))"
    text = debugprint(sg.function([a, b, x], out, mode="numpy"), file="str")  # lowered: lazy branches
    assert " |IfElse{lazy} [id B]" in text and "   |SpecifyShape [id" in text
    assert 'label="IfElse"' in pydotprint(out) and 'fillcolor="magenta"' in pydotprint(out)
