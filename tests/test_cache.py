"""``python -m symgrad.cache``: info, purge and clear on a cache folder."""
import os
import subprocess
import sys

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad import cache as cli
from symgrad.backend.numba import cachedir


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setattr(sg.config, "cache_dir", str(path))
    monkeypatch.setattr(cachedir, "_opened", {})
    return path


def _fill(root):
    x = T.dvector("x")
    f = sg.function([x], T.sin(x) * 11.5 - 2, mode="numba")
    np.testing.assert_allclose(f(np.zeros(1)), [-2.0])
    other = root / "env-00000000000000aa"
    other.mkdir()
    (other / cachedir.ENVIRONMENT_FILE).write_text("{}")
    (other / "symgrad_kernel_old.py").write_text("# written by another symgrad version\n")


def test_info(root, capsys):
    assert cli.main(["info"]) == 0
    assert "not created yet" in capsys.readouterr().out
    _fill(root)
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert str(root) in out and "used (owned by this user" in out
    assert "1 kernels, 1 plans" in out and "other environments: 1 folders, 2 files" in out


def test_info_refused(root, capsys):
    root.mkdir()
    os.chmod(root, 0o777)
    cli.main(["info"])
    assert "NOT USED: it is writable by other users" in capsys.readouterr().out
    assert cli.main(["clear"]) == 1  # and leaves it alone


def test_purge_clear(root, capsys):
    _fill(root)
    assert cli.main(["purge"]) == 0
    assert "removed 2 files" in capsys.readouterr().out
    cli.main(["info"])
    assert "other environments: 0 folders" in capsys.readouterr().out
    assert cli.main(["purge", "--older-than", "0"]) == 0
    cli.main(["info"])
    assert "0 kernels, 0 plans" in capsys.readouterr().out
    assert cli.main(["clear"]) == 0
    assert list(root.iterdir()) == []


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        cli.main(["purge", "--older-than", "-1"])
    assert "--older-than must be >= 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["compress"])


def test_module_entry_point(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path / "c"))
    res = subprocess.run([sys.executable, "-m", "symgrad.cache", "info"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.startswith(f"symgrad kernel cache: {tmp_path / 'c'}")
