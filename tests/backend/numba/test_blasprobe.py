import os
import subprocess
import sys
import textwrap

# in a new process: the test process has long imported scipy.linalg
SCRIPT = textwrap.dedent("""
    import sys
    import numba, numpy as np
    from symgrad.backend.numba import blasprobe
    blasprobe.import_arraymath()
    assert "numba.np.arraymath" in sys.modules
    assert "scipy.linalg" not in sys.modules and "scipy.linalg.cython_blas" not in sys.modules
    from numba.np import arraymath, linalg
    assert getattr(arraymath, "ensure_blas", linalg.ensure_blas) is linalg.ensure_blas  # numba's own, back
    assert linalg.ensure_blas.__module__ == "numba.np.linalg"
    numba.njit(lambda a: a * 2.0)(np.ones(3))  # numba's first compile: its refresh, no BLAS
    assert "scipy.linalg" not in sys.modules
    a, b = np.arange(6.0).reshape(2, 3), np.arange(3.0)
    assert np.array_equal(numba.njit(lambda a, b: np.dot(a, b))(a, b), a @ b)  # the real BLAS, now
    assert hasattr(sys.modules["scipy.linalg.cython_blas"], "__pyx_capi__")
    print("ok")
""")


def test_numbas_first_compile_without_scipy_linalg_and_blas_after(tmp_path):
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


KERNEL = textwrap.dedent("""
    import sys
    import numpy as np, symgrad as sg, symgrad.tensor as T
    x = T.dvector("x")
    f = sg.function([x], T.tanh(x) * 2.0, mode="numba")
    assert np.allclose(f(np.linspace(-1, 1, 5)), np.tanh(np.linspace(-1, 1, 5)) * 2.0)
    print("scipy.linalg" in sys.modules)
""")


def test_a_kernel_without_blas_compiles_without_scipy_linalg(tmp_path):
    env = dict(os.environ, SYMGRAD_CACHE_DIR=str(tmp_path / "cache"))
    res = subprocess.run([sys.executable, "-c", KERNEL], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "False"
