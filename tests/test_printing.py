"""``pp`` (infix text) and ``debugprint`` (indented tree), for variables and compiled functions."""
import io

import numpy as np

import symgrad as sg
import symgrad.tensor as T
from symgrad.printing import debugprint, pp


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


def test_pp_nested():
    X = T.dmatrix("X")
    w = T.dvector("w")
    b = T.dscalar("b")
    text = sg.pp(T.exp(T.dot(X, w) + b))
    assert "dot(X, w)" in text and "exp(" in text and "b" in text


def test_pp_compiled_function_shows_optimized_graph():
    X = T.dmatrix("X")
    w = T.dvector("w")
    f = sg.function([X, w], 1 / (1 + T.exp(-T.dot(X, w))))
    assert sg.pp(f) == "sigmoid(dot(X, w))"


def test_pp_unnamed_input_mentions_its_type():
    assert "float64 vector" in sg.pp(T.exp(T.dvector()))


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
    f = sg.function([X, w, b], 1 / (1 + T.exp(-T.dot(X, w) - b)))
    text = sg.debugprint(f, file="str")
    lines = text.splitlines()
    assert lines[0].startswith("Elemwise{") and "sigmoid" in lines[0]
    assert sum(line.lstrip(" |").startswith("Elemwise") for line in lines) == 1
    assert " |Dot [id" in text
    assert "   |X [id" in text and "   |w [id" in text
    assert " |b [id" in text


def test_debugprint_compiled_function_with_several_outputs_and_updates():
    x = T.dvector("x")
    acc = sg.shared(np.zeros(2), name="acc")
    f = sg.function([x], [x.sum(), x * 2], updates=[(acc, acc + x)])
    text = sg.debugprint(f, file="str")
    assert "Reduce" in text or "sum" in text.lower()
    assert "acc" in text  # the update graph is shown too
