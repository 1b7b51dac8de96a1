"""The README's tour runs as written (on the reference backend, to keep the suite fast)."""
import re
from pathlib import Path

import symgrad as sg

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_tour_runs(tmp_path, monkeypatch, capsys):
    tour = re.search(r"## A short tour\n\n```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sg.config, "mode", "numpy")
    namespace: dict = {}
    exec(compile(tour, "README.md (tour)", "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert r"\sigma\left(x \cdot w + b\right) - y" in out  # the stabilized gradient, as math
    assert (tmp_path / "train.dot").read_text().startswith("digraph")
    assert namespace["c"].shape == () and namespace["J"].ndim == 2


def test_ci_command():
    quickstart = re.search(r"## Quickstart\n(.*?)\n## ", README.read_text(), re.S).group(1)
    commands = re.findall(r"^(pip install .*?)\s+#", quickstart, re.M)
    assert len(commands) == 2  # one installs and runs the example, one installs and runs the tests
    install, test = commands[1].split(" && ")
    ci = (README.parent / ".ci" / "run").read_text()
    assert f"install_line=({install})" in ci and f"test_line=({test})" in ci
