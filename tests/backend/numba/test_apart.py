"""backend/numba/apart.py: a callee with a disk cache entry of its own is called, not linked in;
a cached caller whose callee changed is compiled again, silently, never run with a dangling call."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import symgrad as sg
import symgrad.tensor as T
from symgrad.backend.numba.apart import Callee, call_apart
from symgrad.backend.numba.diskcache import StaleEntry


@numba.njit
def _halve(x):
    if x.shape[0] == 0:
        raise ValueError("empty")
    return x / 2.0


@numba.njit
def _caller(x):
    return call_apart(_halve, (x,)) + 1.0


def _scan_function(mode="numba"):
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    hs, _ = sg.scan(lambda r, h: T.tanh(r + 0.5 * h), sequences=x, outputs_info=h0)
    return sg.function([x, h0], [hs, sg.grad(hs[-1].sum(), x)], mode=mode)


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """An empty kernel cache: the kernels compile here, so numba can show their code."""
    monkeypatch.setattr(sg.config, "cache_dir", str(tmp_path))


def _module_of(f):
    """The generated module that holds ``f``'s kernel."""
    found = [m for name, m in sys.modules.items() if name.startswith("symgrad_kernel_")
             and Path(m.__file__).is_file() and f.source in Path(m.__file__).read_text()]  # (others' tmp dirs: gone)
    assert len(found) == 1
    return found[0]


def test_values_and_errors_of_a_linked_callee():
    x = np.arange(4.0)
    np.testing.assert_array_equal(_caller(x), x / 2.0 + 1.0)
    with pytest.raises(ValueError, match="empty"):
        _caller(np.zeros(0))
    # a callee without a disk cache entry of its own is linked into its caller as usual
    symbol = _halve.overloads[(numba.typeof(x),)].fndesc.mangled_name
    assert any(line.startswith("define") and symbol in line
               for line in _caller.inspect_llvm((numba.typeof(x),)).splitlines())


def test_a_scan_step_is_compiled_once(fresh_cache):
    f = _scan_function()
    values = np.random.default_rng(3).standard_normal((5, 3)), np.zeros(3)
    hs, g = f(*values)
    h, want = values[1], []
    for r in values[0]:
        h = np.tanh(r + 0.5 * h)
        want.append(h)
    np.testing.assert_allclose(hs, want, rtol=1e-14)
    np.testing.assert_allclose(g, _scan_function("numpy")(*values)[1], rtol=1e-12)
    module = _module_of(f)
    steps = [name for name in vars(module) if name.startswith("step")]
    assert steps
    for name in steps:
        (step,) = getattr(module, name).overloads.values()
        symbol = step.fndesc.mangled_name
        callers = [d for d in vars(module).values() if isinstance(d, numba.core.dispatcher.Dispatcher)
                   and d.py_func.__module__ == module.__name__ and d is not getattr(module, name)]
        ir = "\n".join(text for d in callers for text in d.inspect_llvm().values())
        lines = [line for line in ir.splitlines() if symbol in line]
        assert any(line.startswith("declare") for line in lines)  # called ...
        assert not any(line.startswith("define") for line in lines)  # ... and not compiled again


def test_a_callee_hook_checks_the_symbol(fresh_cache):
    f = _scan_function()
    f(np.ones((2, 3)), np.zeros(3))
    module = _module_of(f)
    name = next(n for n in vars(module) if n.startswith("step"))
    (signature, compiled), = getattr(module, name).overloads.items()
    Callee(module.__name__, name, signature, compiled.fndesc.mangled_name)()  # there: nothing raised
    with pytest.raises(StaleEntry):
        Callee(module.__name__, name, signature, compiled.fndesc.mangled_name + "x")()
    with pytest.raises(StaleEntry):
        Callee("symgrad_kernel_missing", name, signature, compiled.fndesc.mangled_name)()


SCRIPT = textwrap.dedent("""
    import sys, warnings
    warnings.simplefilter("error")
    import numba, numpy as np, symgrad as sg, symgrad.tensor as T
    for k in range(int(sys.argv[2])):  # numba's symbol names count the functions compiled before
        numba.njit(lambda a: a + 1)(1.0)
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    hs, _ = sg.scan(lambda r, h: T.tanh(r + 0.5 * h), sequences=x, outputs_info=h0)
    w = sg.shared(np.ones(3), name="w")
    cost = (hs[-1] * w).sum()
    f = sg.function([x, h0], cost, updates=[(w, w - 0.1 * sg.grad(cost, w))], mode="numba")
    X = np.linspace(-1, 1, 12).reshape(4, 3)
    out = f(X, np.zeros(3)) if sys.argv[1] == "call" else f.loop(3, X, np.zeros(3))
    print(repr(float(out)))
""")


def test_a_caller_whose_callee_was_compiled_again_is_compiled_again(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path))

    def run(what, before=0):
        res = subprocess.run([sys.executable, "-c", SCRIPT, what, str(before)], env=env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, f"{what}: exit {res.returncode}\n{res.stderr[-2000:]}"
        return res.stdout

    first = {what: run(what) for what in ("call", "loop")}
    entries = [p for p in tmp_path.rglob("*.nbi") if ".step" in p.name or ".kernel-" in p.name]
    assert entries
    for path in entries:  # the callees' entries lost: they compile again under new symbol names
        for entry in path.parent.glob(path.name.rsplit(".", 1)[0] + ".*"):
            entry.unlink()
    # compiled again after other functions, under other names: the cached loop's kernel is not the
    # one it was compiled against (warnings are errors in the script: a stale entry is no damage)
    assert {what: run(what, before=3) for what in ("call", "loop")} == first
    assert {what: run(what) for what in ("call", "loop")} == first
