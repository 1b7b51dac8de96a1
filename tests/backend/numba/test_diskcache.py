"""A damaged kernel cache is never a crash: each kind of damage to each kind of cached file, with
numba's cache folder (NUMBA_CACHE_DIR) set and unset, and symgrad's given and defaulted. Each case
runs in a fresh process: damage is only seen when a process loads the entry."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

from symgrad.backend.numba import convkernels, helpers
from symgrad.backend.numba.diskcache import TolerantCache

SCRIPT = textwrap.dedent("""
    import numpy as np, symgrad as sg, symgrad.tensor as T
    x = T.dvector("x")
    f = sg.function([x], T.exp(x) * 2 + 1, mode="numba")
    print(repr(f(np.array([0.0, 1.0])).tolist()))
""")
EXPECTED = repr((np.exp([0.0, 1.0]) * 2 + 1).tolist())

FILES = {"index": "env-*/__pycache__/symgrad_kernel_*.nbi", "data": "env-*/__pycache__/symgrad_kernel_*.nbc",
         "module": "env-*/symgrad_kernel_*.py", "plan": "env-*/symgrad_plan_*.json"}
DAMAGES = {
    "truncated": lambda data: data[:len(data) // 2],
    "emptied": lambda data: b"",
    "zeroed": lambda data: bytes(len(data)),
    "random": lambda data: np.random.default_rng(7).integers(0, 256, len(data), dtype=np.uint8).tobytes(),
}
# numba_dir: NUMBA_CACHE_DIR set (kernels' compiled files still go beside their module, in symgrad's
# folder), with SYMGRAD_CACHE_DIR unset (the per-user default under XDG_CACHE_HOME); unset: the other way
LOCATIONS = ["numba_dir_set", "numba_dir_unset"]


def _environ(location, base):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SYMGRAD_", "NUMBA_CACHE_DIR", "PYTHONDONTWRITEBYTECODE"))}
    if location == "numba_dir_set":
        env.update(XDG_CACHE_HOME=str(base / "xdg"), NUMBA_CACHE_DIR=str(base.parent / "numba"))
        return env, base / "xdg" / "symgrad"
    env.update(SYMGRAD_CACHE_DIR=str(base / "cache"))
    return env, base / "cache"


def _run(env):
    res = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip().splitlines()[-1], res.stderr


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A warm cache per location, built once; each test damages its own copy."""
    built = {}
    for location in LOCATIONS:
        base = tmp_path_factory.mktemp(location) / "template"
        env, root = _environ(location, base)
        assert _run(env)[0] == EXPECTED
        built[location] = base
    return built


@pytest.mark.parametrize("location", LOCATIONS)
@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("kind", FILES)
def test_damaged(kind, damage, location, warm, tmp_path):
    base = tmp_path / "template"
    shutil.copytree(warm[location], base, symlinks=True)
    env, root = _environ(location, base)
    (victim,) = root.glob(FILES[kind])
    damaged = DAMAGES[damage](victim.read_bytes())
    victim.write_bytes(damaged)
    out, err = _run(env)
    assert out == EXPECTED
    assert sum("Warning:" in line for line in err.splitlines()) <= 1, err
    assert victim.exists() and victim.read_bytes() != damaged  # the entry was rebuilt
    if location == "numba_dir_set":  # kernels keep their compiled files in symgrad's folder
        assert not list((base.parent / "numba").rglob("symgrad_kernel_*"))


def test_warm_start_skips_numba_compiler(warm, tmp_path):
    """A process that finds its kernel compiled loads the machine code without initialising
    numba's compiler (``refresh``: its typing and lowering registries, 0.2 s per process), and gets
    the same values; it still compiles what is not cached (the second function). (Other code may
    refresh for its own reasons: with scipy 1.13, blas.py compiles two stand-in cfuncs.)"""
    base = tmp_path / "template"
    shutil.copytree(warm["numba_dir_unset"], base, symlinks=True)
    env, _ = _environ("numba_dir_unset", base)
    script = textwrap.dedent("""
        import traceback, numba.core.base
        loading = []
        refresh = numba.core.base.BaseContext.refresh
        def spy(self):
            loading.append(any(f.name == "load_overload" for f in traceback.extract_stack()))
            return refresh(self)
        numba.core.base.BaseContext.refresh = spy
    """) + SCRIPT + textwrap.dedent("""
        print("refreshed while loading:", any(loading))
        g = sg.function([x], T.exp(x) * 3 + 1, mode="numba")
        print(repr(g(np.array([0.0, 1.0])).tolist()))
    """)
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    first, loaded, second = res.stdout.strip().splitlines()[-3:]
    assert (first, loaded) == (EXPECTED, "refreshed while loading: False")
    assert second == repr((np.exp([0.0, 1.0]) * 3 + 1).tolist())


@pytest.mark.parametrize("module", [helpers, convkernels], ids=["helpers", "convkernels"])
def test_every_jitted_helper_has_a_tolerant_disk_cache(module):
    jitted = [v for v in vars(module).values() if isinstance(v, Dispatcher) and v.py_func.__module__ == module.__name__]
    assert len(jitted) > 10 and all(isinstance(v._cache, TolerantCache) for v in jitted)
