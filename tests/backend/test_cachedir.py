"""The kernel cache folder: created private, refused when others could write it, kept small."""
import itertools
import os
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
    monkeypatch.setattr(cachedir, "_opened", set())
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


def test_a_symlink_to_someone_elses_folder_is_judged_by_its_target(root, tmp_path):
    target = tmp_path / "shared"
    target.mkdir()
    os.chmod(target, 0o777)
    root.symlink_to(target)
    with pytest.warns(RuntimeWarning, match="writable by other users"):
        _compile()
    assert list(target.iterdir()) == []


def test_purge_drops_other_environments_and_unused_entries(root):
    _compile()
    (env,) = root.glob("env-*")
    other = root / "env-0123456789abcdef"
    other.mkdir()
    (other / "symgrad_kernel_x.py").write_text("# another symgrad")
    legacy = root / "symgrad_kernel_0000.py"
    legacy.write_text("# symgrad before environment folders")
    foreign = root / "notes.txt"
    foreign.write_text("not symgrad's")
    kept = list(env.iterdir())
    removed = cachedir.purge(root)
    assert not other.exists() and not legacy.exists() and foreign.exists()
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
    stale = root / "env-0123456789abcdef"
    stale.mkdir()
    (stale / cachedir.ENVIRONMENT_FILE).write_text("{}")
    _age(stale / cachedir.ENVIRONMENT_FILE, 2)
    recent = root / "env-fedcba9876543210"
    recent.mkdir()
    (recent / cachedir.ENVIRONMENT_FILE).write_text("{}")  # another installation, in use today
    old_plans = list(env.glob("symgrad_plan_*"))
    for plan in old_plans:
        _age(plan, 40)
    monkeypatch.setattr(cachedir, "_opened", set())
    _compile()  # the stamp is fresh: no cleanup yet
    assert stale.exists() and all(p.exists() for p in old_plans)
    _age(root / cachedir.CLEANUP_STAMP, 1.5)
    monkeypatch.setattr(cachedir, "_opened", set())
    _compile()
    assert not stale.exists() and recent.exists()
    assert not any(p.exists() for p in old_plans)
    assert time.time() - (root / cachedir.CLEANUP_STAMP).stat().st_mtime < 60


def test_max_age_setting(monkeypatch):
    with pytest.raises(ValueError, match="cache_max_age_days"):
        sg.config.cache_max_age_days = -1
    monkeypatch.setattr(sg.config, "cache_max_age_days", 7)
    assert sg.config.cache_max_age_days == 7


def test_loading_keeps_numbas_stamp(root, monkeypatch):
    _compile(7.5)
    (module,) = root.glob("env-*/symgrad_kernel_*.py")
    _age(module, 10)
    before = module.stat().st_mtime_ns
    monkeypatch.setattr(cachedir, "_opened", set())
    for name in [n for n in list(__import__("sys").modules) if n.startswith("symgrad_kernel_")]:
        monkeypatch.delitem(__import__("sys").modules, name)
    _compile(7.5)
    assert module.stat().st_mtime_ns == before  # numba's index is stamped with it
    assert time.time() - module.stat().st_atime < 60  # marked as used


def test_clear(root):
    _compile()
    (root / "keep.txt").write_text("not symgrad's")
    removed = cachedir.clear(root)
    assert removed.files >= 4
    assert [p.name for p in root.iterdir()] == ["keep.txt"]
    _compile()
