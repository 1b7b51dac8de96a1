"""``import symgrad`` loads neither sympy nor numba: each is imported when first needed."""
import subprocess
import sys
import textwrap


def _run(script: str) -> list[str]:
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.split()


def test_import_is_light():
    assert _run("""
        import sys, symgrad
        print("sympy" in sys.modules, "numba" in sys.modules, symgrad.config.floatX)
    """) == ["False", "False", "float64"]


def test_numba_loads_with_first_kernel():
    out = _run("""
        import sys, numpy as np, symgrad as sg, symgrad.tensor as T
        x = T.dvector("x")
        f = sg.function([x], x * 2, mode="numpy")
        print("numba" in sys.modules, f(np.ones(2)).tolist() == [2.0, 2.0])
        g = sg.function([x], x * 2, mode="numba")
        print("numba" in sys.modules, g(np.ones(2)).tolist() == [2.0, 2.0])
    """)
    assert out == ["False", "True", "True", "True"]


def test_lazy_names():
    out = _run("""
        import symgrad as sg, symgrad.tensor as T
        print(sg.tensor is T, callable(sg.function), callable(sg.ifelse.ifelse), "scan" in dir(sg))
        try:
            sg.no_such_thing
        except AttributeError as e:
            print("AttributeError", "no_such_thing" in str(e))
    """)
    assert out == ["True", "True", "True", "True", "AttributeError", "True"]
