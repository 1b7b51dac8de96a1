"""The kernel cache folder: created private, refused when others could write it, kept small."""
import itertools
import os
import sys
import time
import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import cache as kernel_cache
from symgrad.backend.numba import cachedir

DAY = cachedir.DAY_S


@pytest.fixture
def root(tmp_path, monkeypatch):
    """An empty cache root for this test, with fresh once-per-process state."""
    path = tmp_path / "cache"
    monkeypatch.setattr(sg.config, "cache_dir", str(path))
    monkeypatch.setattr(cachedir, "_opened", {})
    monkeypatch.setattr(kernel_cache, "_warned", False)
    return path


_scales = itertools.count(1000)


def _compile(scale=None):
    """Compile and check a kernel; a new graph by default (one this process has not loaded yet)."""
    scale = float(next(_scales)) if scale is None else scale
    x = T.dvector("x")
    f = sg.function([x], T.exp(x) * scale, mode="numba")
    np.testing.assert_allclose(f(np.zeros(2)), [scale, scale])
    return f


def _age(path, days):
    """Make ``path`` look last used ``days`` ago (access time; modification time too if older)."""
    then = time.time() - days * DAY
    st = path.stat()
    os.utime(path, (then, min(st.st_mtime, then)))


def test_created_private(root):
    _compile()
    assert root.stat().st_mode & 0o777 == 0o700
    (env,) = root.glob("env-*")
    assert env.stat().st_mode & 0o777 == 0o700
    assert list(env.glob("symgrad_kernel_*.py")) and list(env.glob("symgrad_plan_*.json"))


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_writable_by_others_refused(root, mode):
    root.mkdir()
    os.chmod(root, mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _compile()
        _compile()
    messages = [str(w.message) for w in caught if "kernel cache" in str(w.message)]
    assert len(messages) == 1 and "writable by other users" in messages[0] and "in memory" in messages[0]
    assert list(root.iterdir()) == []  # nothing read from it, nothing written into it


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a folder away")
def test_owned_by_another_user_refused(root):
    root.mkdir(mode=0o700)
    os.chown(root, 65534, 65534)
    with pytest.warns(RuntimeWarning, match="owned by another user"):
        _compile()
    assert list(root.iterdir()) == []


def test_symlink_judged_by_target(root, tmp_path):
    target = tmp_path / "shared"
    target.mkdir()
    os.chmod(target, 0o777)
    root.symlink_to(target)
    with pytest.warns(RuntimeWarning, match="writable by other users"):
        _compile()
    assert list(target.iterdir()) == []


def test_purge(root):
    _compile()
    (env,) = root.glob("env-*")
    other = root / "env-0123456789abcdef"
    other.mkdir()
    (other / cachedir.ENVIRONMENT_FILE).write_text("{}")
    legacy = root / f"symgrad_kernel_{'0' * 24}.py"
    legacy.write_text("# symgrad before environment folders")
    foreign = [root / "notes.txt", root / "env-py311", root / "__pycache__", root / "symgrad_plan_notes.txt"]
    foreign[0].write_text("not symgrad's")
    foreign[1].mkdir()  # someone's virtual environment
    foreign[2].mkdir()
    foreign[3].write_text("not a plan")
    for path in foreign:
        _age(path, 40)
    kept = list(env.iterdir())
    removed = cachedir.purge(root)
    assert not other.exists() and not legacy.exists() and all(p.exists() for p in foreign)
    assert removed.files == 2
    assert sorted(env.iterdir()) == sorted(kept)  # used just now: kept
    for entry in env.glob("symgrad_*"):
        _age(entry, 31)
    removed = cachedir.purge(root)
    assert not list(env.glob("symgrad_*")) and not list(env.glob("__pycache__/symgrad_kernel_*"))
    assert removed.files >= 3  # module, plan, numba's index and data
    _compile()  # rebuilt on demand


def test_older_than(root):
    _compile()
    (env,) = root.glob("env-*")
    for entry in env.glob("symgrad_*"):
        _age(entry, 2)
    assert cachedir.purge(root, older_than_days=3).files == 0
    assert cachedir.purge(root, older_than_days=1).files >= 2


def test_cleanup_at_most_once_a_day(root, monkeypatch):
    _compile()
    (env,) = root.glob("env-*")
    stale = root / "env-0123456789abcdee"
    stale.mkdir()
    (stale / cachedir.ENVIRONMENT_FILE).write_text("{}")
    _age(stale / cachedir.ENVIRONMENT_FILE, 2)
    recent = root / "env-fedcba9876543210"
    recent.mkdir()
    (recent / cachedir.ENVIRONMENT_FILE).write_text("{}")  # another installation, in use today
    old_plans = list(env.glob("symgrad_plan_*"))
    for plan in old_plans:
        _age(plan, 40)
    monkeypatch.setattr(cachedir, "_opened", {})
    _compile()  # the stamp is fresh: no cleanup yet
    assert stale.exists() and all(p.exists() for p in old_plans)
    _age(root / cachedir.CLEANUP_STAMP, 1.5)
    monkeypatch.setattr(cachedir, "_opened", {})
    _compile()
    assert not stale.exists() and recent.exists()
    assert not any(p.exists() for p in old_plans)
    assert time.time() - (root / cachedir.CLEANUP_STAMP).stat().st_mtime < 60


def test_max_age_setting(monkeypatch):
    with pytest.raises(ValueError, match="cache_max_age_days"):
        sg.config.cache_max_age_days = -1
    monkeypatch.setattr(sg.config, "cache_max_age_days", 7)
    assert sg.config.cache_max_age_days == 7


def test_mark_used(tmp_path):
    entry = tmp_path / "symgrad_kernel.py"
    entry.write_text("x = 1\n")
    _age(entry, 10)
    before = entry.stat()
    assert cachedir.mark_used(entry)
    after = entry.stat()  # (stat reads no data: the access time is the one mark_used set)
    assert after.st_mtime_ns == before.st_mtime_ns  # numba's index is stamped with it
    assert after.st_atime > before.st_atime + 9 * DAY
    assert not cachedir.mark_used(tmp_path / "gone.py")


def test_loading_marks_use(root, monkeypatch):
    calls = []
    monkeypatch.setattr(kernel_cache, "mark_used", lambda path: calls.append(path.name))
    _compile(7.5)
    monkeypatch.setattr(cachedir, "_opened", {})
    for name in [n for n in sys.modules if n.startswith("symgrad_kernel_")]:
        monkeypatch.delitem(sys.modules, name)
    _compile(7.5)  # a new process would load module and plan from the cache
    assert any(n.startswith("symgrad_kernel_") for n in calls) and any(n.startswith("symgrad_plan_") for n in calls)


def test_removed_while_running(root, monkeypatch):
    _compile()
    import shutil

    (env,) = root.glob("env-*")
    shutil.rmtree(env)  # python -m symgrad.cache clear, or another installation's cleanup
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not usable" warning: the folder is made again
        _compile()
    assert list(env.glob("symgrad_kernel_*.py"))


def test_symlink_owned_by_another_user_refused(root, tmp_path):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("only root can give a symlink away")
    target = tmp_path / "mine"
    target.mkdir(mode=0o700)
    root.symlink_to(target)
    os.lchown(root, 65534, 65534)
    with pytest.warns(RuntimeWarning, match="symlink owned by another user"):
        _compile()
    assert list(target.iterdir()) == []


def test_no_bytecode(root, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    _compile()
    assert not list(root.rglob("*.pyc"))  # kernels run from the checked text: no .pyc to trust


def test_clear(root):
    _compile()
    (root / "keep.txt").write_text("not symgrad's")
    removed = cachedir.clear(root)
    assert removed.files >= 4
    assert [p.name for p in root.iterdir()] == ["keep.txt"]  # CACHEDIR.TAG and the stamp went too
    _compile()
