"""examples/graph_pictures.py, the computational-graph lesson: run it (numpy mode: no kernel
compile) and check what it prints and the pictures it writes."""
import contextlib
import io
import pathlib
import runpy
import shutil
import sys
import tempfile

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "graph_pictures.py"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Run the example as a script once: (output folder, printed text, the namespace's result)."""
    out = tmp_path_factory.mktemp("pictures") / "nested" / "folder"  # created by the example
    argv = sys.argv
    sys.argv = [str(EXAMPLE), "--out", str(out)]
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            runpy.run_path(str(EXAMPLE), run_name="__main__")
    finally:
        sys.argv = argv
    return out, buf.getvalue()


def test_prints_the_forward_graph_and_both_passes(run):
    out, text = run
    for section in ("Forward graph (pp)", "Forward graph (debugprint)", "Forward pass: nodes in topological order",
                    "Backward pass: gradient nodes in the order they are computed",
                    "Gradients as LaTeX: the chain rule (h and yhat by name)",
                    "Gradients as LaTeX after symgrad's rewrites (fused, stabilized)",
                    "The compiled training step (mode='numpy'): the graph that runs", f"Pictures in {out}"):
        assert f"=== {section} ===" in text
    forward = text.split("=== Forward pass: nodes in topological order ===\n")[1].split("\n\n")[0].splitlines()
    assert forward[0] == "  0. Dot" and forward[2] == "  2. Elemwise{sigmoid(x0)} -> h"
    assert forward[4] == "  4. Elemwise{x0 + x1} -> yhat" and forward[-1].endswith("-> cost")
    backward = text.split("computed ===\n")[1].split("\n\n")[0]
    for name in ("W1", "b1", "w2", "b2"):
        assert f"-> d cost/d {name}" in backward
    assert "the chain rule visits the forward nodes 10 <- 7 <- 6 <- 5 <- 4 <- 3 <- 2 <- 1 <- 0" in backward


def test_prints_gradients_as_latex(run):
    _, text = run
    chain_rule = text.split("the chain rule (h and yhat by name) ===\n")[1].split("\n\n")[0].splitlines()
    assert chain_rule[0] == (r"\frac{\partial\,\mathrm{cost}}{\partial W_{1}} = x^{T} \cdot \frac{2 w_{2} h "
                             r"\left(1 - h\right) \left(\hat{y} - y\right)}{\operatorname{len}\left(x\right)}")
    assert chain_rule[2] == (r"\frac{\partial\,\mathrm{cost}}{\partial w_{2}} = h^{T} \cdot \frac{2 \left(\hat{y} - y"
                             r"\right)}{\operatorname{len}\left(x\right)}")
    assert r"h = \sigma\left(x \cdot W_{1} + b_{1}\right)" in text
    assert r"\mathrm{cost} = \frac{\sum\left(\left(\hat{y} - y\right)^{2}\right)}{\operatorname{len}\left(x\right)}" \
        in text


def test_prints_the_compiled_step_and_trains(run):
    _, text = run
    step = text.split("the graph that runs ===\n")[1]
    assert step.startswith("Inputs: x <float64 matrix>, y <float64 vector>\nShared: W1 <float64 matrix> (updated)")
    assert "W1 <- Elemwise{x0 - 0.1*x1}" in step and "b2 <- Elemwise{x0 - 0.1*x1}" in step
    costs = [float(c) for c in text.split("cost over 3 steps: ")[1].splitlines()[0].split(", ")]
    assert costs[0] > costs[1] > costs[2]


def test_writes_dot_files_and_pictures(run):
    out, text = run
    for stem in ("forward", "backward", "train_step"):
        dot = (out / f"{stem}.dot").read_text()
        assert dot.startswith("digraph symgrad {\n") and dot.endswith("}\n")
        assert str(out / f"{stem}.dot") in text
        png = out / f"{stem}.png"
        if shutil.which("dot"):
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert not png.exists()
    assert 'label="cost\\noutput\\nfloat64 ()"' in (out / "forward.dot").read_text()
    assert 'label="update of W1\\nfloat64 (?, ?)"' in (out / "train_step.dot").read_text()
    assert ("only DOT files were written" in text) == (shutil.which("dot") is None)


def test_without_graphviz_only_dot_files_in_a_new_temporary_folder(tmp_path, monkeypatch, capsys):
    """No --out: the files go to a new temporary folder (here under tmp_path), not the current directory."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-graphviz"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # where tempfile.mkdtemp creates folders
    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    namespace = runpy.run_path(str(EXAMPLE))  # not as __main__: call main() directly
    result = namespace["main"]([])
    out = pathlib.Path(result["out"])
    assert out.parent == tmp_path / "tmp" and out.name.startswith("graph_pictures_")
    assert sorted(p.name for p in out.iterdir()) == ["backward.dot", "forward.dot", "train_step.dot"]
    assert [pathlib.Path(p).name for p in result["written"]] == ["forward.dot", "backward.dot", "train_step.dot"]
    assert "Graphviz's 'dot' program is not installed" in capsys.readouterr().out
    assert list((tmp_path / "cwd").iterdir()) == []
