"""The kernel cache under stress: concurrent processes, damaged compiled entries, and keys that
change whenever anything that shapes the generated code changes."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba import cache as kernel_cache
from symgrad.backend.numba import cachedir

SCRIPT = textwrap.dedent("""
    import numpy as np, symgrad as sg, symgrad.tensor as T
    x, w = T.dmatrix("x"), sg.shared(np.arange(3.0), name="w")
    f = sg.function([x], T.tanh(T.dot(x, w)).sum(), mode="numba")
    print(repr(float(f(np.ones((2, 3))))))
""")
EXPECTED = repr(float(2 * np.tanh(3.0)))


def _start(cache_dir):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(cache_dir))
    return subprocess.Popen([sys.executable, "-c", SCRIPT], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out.strip().splitlines()[-1]


def test_two_processes_compiling_into_one_empty_cache_both_succeed(tmp_path):
    first, second = _start(tmp_path), _start(tmp_path)  # at the same time, same kernel
    assert _finish(first) == EXPECTED and _finish(second) == EXPECTED
    assert len(list(tmp_path.glob("env-*/symgrad_kernel_*.py"))) == 1
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporary files
    # a warm cache is used as it is: a third process compiles nothing
    compiled = list(tmp_path.glob("env-*/__pycache__/*.nb*"))
    assert compiled
    stamps = {p: p.stat().st_mtime_ns for p in compiled}
    assert _finish(_start(tmp_path)) == EXPECTED
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("env-*/__pycache__/*.nb*")} == stamps
    # damage numba's compiled entries too: the next process recompiles instead of crashing
    for path in compiled:
        path.write_bytes(path.read_bytes()[:17] + b"garbage")
    assert _finish(_start(tmp_path)) == EXPECTED


def test_the_module_key_changes_with_symgrad_numba_and_numpy_versions(monkeypatch):
    import numba

    import symgrad.version

    source = "def kernel(a0):\n    return (a0,)"
    keys = {kernel_cache.module_key(source)}
    for module, attr in [(symgrad.version, "__version__"), (numba, "__version__"), (np, "__version__")]:
        cachedir.environment.cache_clear()
        monkeypatch.setattr(module, attr, getattr(module, attr) + ".changed")
        keys.add(kernel_cache.module_key(source))
    cachedir.environment.cache_clear()
    monkeypatch.undo()
    cachedir.environment.cache_clear()
    assert len(keys) == 4


def test_any_change_to_symgrads_source_changes_the_digest(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "codegen.py").write_text("ROW_BLOCK = 8\n")
    before = cachedir.source_digest(tmp_path / "pkg")
    (tmp_path / "pkg" / "codegen.py").write_text("ROW_BLOCK = 4\n")
    assert cachedir.source_digest(tmp_path / "pkg") != before


def test_the_plan_key_changes_with_dtypes_floatx_and_parallel(monkeypatch):
    def key(dtype):
        x = T.vector("x", dtype=dtype)
        return kernel_cache.graph_key([x], [T.exp(x) * 2], {})

    k64, k32 = key("float64"), key("float32")
    assert k64 != k32 and key("float64") == k64
    monkeypatch.setattr(sg.config, "floatX", "float32")
    assert key("float64") != k64
    monkeypatch.setattr(sg.config, "floatX", "float64")
    monkeypatch.setattr(sg.config, "parallel", False)
    assert key("float64") != k64


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway; "
                    "test_unwritable_cache_dir_compiles_in_memory_with_one_warning covers it")
def test_a_read_only_cache_directory_still_works(tmp_path, monkeypatch):
    os.chmod(tmp_path, 0o555)
    try:
        monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))
        monkeypatch.setattr(kernel_cache, "_warned", False)
        x = T.dvector("x")
        with pytest.warns(RuntimeWarning, match="compiling in memory"):
            f = sg.function([x], x * 5 - 2, mode="numba")
        np.testing.assert_allclose(f(np.array([1.0])), [3.0])
    finally:
        os.chmod(tmp_path, 0o755)


STEP_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, symgrad as sg, symgrad.tensor as T
    x, y = T.dmatrix("x"), T.dvector("y")
    w = sg.shared(np.zeros(5), name="w")
    cost = T.nnet.binary_crossentropy(T.nnet.sigmoid(T.dot(x, w)), y).mean()
    step = sg.function([x, y], cost, updates=[(w, w - 0.5 * sg.grad(cost, w))], mode="numba")
    assert "run_chunks(" in step.source
    X, Y = np.linspace(-1, 1, 40 * 5).reshape(40, 5), (np.arange(40) % 2).astype(float)
    out = step(X, Y) if sys.argv[1] == "call" else step.loop(3, X, Y)
    print(repr(float(out)))
""")


def test_a_loop_compiled_after_its_kernel_was_loaded_from_the_cache_loads_safely(tmp_path):
    # numba: a function compiled where a callee running chunks on threads came from the cache, and
    # linked into it, segfaults when loaded from the cache in the next process; the loop calls its
    # kernel apart (apart.py), not linked
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path), NUMBA_NUM_THREADS="2")
    for what in ["call", "loop", "loop", "call"]:
        res = subprocess.run([sys.executable, "-c", STEP_SCRIPT, what], env=env, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, f"{what}: exit {res.returncode}\n{res.stderr[-2000:]}"
