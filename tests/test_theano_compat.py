"""symgrad.theano_compat: `import theano...` resolved to symgrad's own modules, the switch, and
`python -m symgrad.theano_compat script.py`."""
import importlib.util
import os
import subprocess
import sys
import types

import pytest

import symgrad
import symgrad.tensor
import symgrad.theano_compat as compat

pytestmark = pytest.mark.skipif(importlib.util.find_spec("theano") is not None and "theano" not in sys.modules,
                                reason="the real Theano is installed: these tests import 'theano'")


@pytest.fixture
def switch():
    compat.install()
    yield compat
    compat.uninstall()


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def test_aliases_are_symgrads_own_modules(switch):
    import theano
    import theano.gradient
    import theano.ifelse
    import theano.printing
    import theano.scan_module
    import theano.tensor as T
    import theano.tensor.nnet
    from theano import config, tensor
    from theano.compile.sharedvalue import SharedVariable

    import symgrad.gradient
    import symgrad.scan_module
    import symgrad.tensor.nnet

    assert theano is symgrad and T is symgrad.tensor and tensor is symgrad.tensor
    assert theano.tensor.nnet is symgrad.tensor.nnet and T.nnet.sigmoid is symgrad.tensor.nnet.sigmoid
    assert theano.scan_module is symgrad.scan_module and theano.scan is symgrad.scan
    assert theano.gradient is symgrad.gradient and theano.printing is symgrad.printing
    assert theano.ifelse is symgrad.ifelse
    assert theano.function is symgrad.function and theano.shared is symgrad.shared and theano.In is symgrad.In
    assert config is symgrad.config and config.floatX in ("float64", "float32")
    assert SharedVariable is symgrad.SharedVariable
    # the modules keep their own identity: the alias does not rename or re-spec them
    assert T.__name__ == "symgrad.tensor" and T.__spec__.name == "symgrad.tensor"
    assert sys.modules["theano.tensor"] is symgrad.tensor


def test_install_is_idempotent_and_uninstall_undoes_it():
    compat.install()
    compat.install()
    try:
        assert sum(isinstance(f, compat._TheanoFinder) for f in sys.meta_path) == 1
        import theano.compile.sharedvalue  # noqa: F401
        assert compat.installed() and "theano" in sys.modules
        assert symgrad.compile.sharedvalue is symgrad.compile.shared  # bound on its parent by the import
    finally:
        compat.uninstall()
    assert not compat.installed()
    assert not any(name == "theano" or name.startswith("theano.") for name in sys.modules)
    assert not hasattr(symgrad.compile, "sharedvalue")  # taken back
    assert symgrad.tensor.nnet.__name__ == "symgrad.tensor.nnet"  # symgrad's own bindings are kept
    with pytest.raises(ModuleNotFoundError):
        import theano  # noqa: F401
    compat.uninstall()  # twice is fine


def test_unknown_theano_path_names_it(switch):
    with pytest.raises(ModuleNotFoundError, match=r"'theano\.gpuarray'.*'symgrad\.gpuarray'.*no counterpart") as info:
        import theano.gpuarray  # noqa: F401
    assert info.value.name == "theano.gpuarray"
    with pytest.raises(ImportError):  # what Theano-era scripts catch
        importlib.import_module("theano.sandbox.cuda")


def test_a_name_that_is_not_a_module_is_refused(switch):
    import theano
    with pytest.raises(ModuleNotFoundError, match=r"symgrad\.config is a _Config, not a module.*from theano import"):
        import theano.config  # noqa: F401
    with pytest.raises(ModuleNotFoundError, match=r"symgrad\.tensor\.shape is a function"):
        import theano.tensor.shape  # noqa: F401
    # nothing was bound over symgrad's own names
    assert theano.config is symgrad.config and symgrad.config.floatX and callable(symgrad.tensor.shape)
    from theano import config
    assert config is symgrad.config


def test_compile_ops_path(switch):
    from theano.compile.ops import Shape_i, shape_i

    import symgrad.compile.ops
    import symgrad.tensor as T
    from symgrad.tensor.shape import Shape_i as own
    assert Shape_i is own and shape_i is symgrad.compile.ops.shape_i
    x = T.dmatrix("x")
    assert int(shape_i(x, 1, fgraph=None).eval({x: [[1.0, 2.0]]})) == 2


def test_convolution_and_pooling_paths(switch):
    import theano.tensor as T
    import theano.tensor.nnet.conv
    from theano.tensor.nnet import conv2d
    from theano.tensor.signal import pool

    import symgrad.tensor.nnet.conv
    import symgrad.tensor.signal.pool
    assert pool is symgrad.tensor.signal.pool and theano.tensor.nnet.conv is symgrad.tensor.nnet.conv
    assert conv2d is T.nnet.conv2d is symgrad.tensor.nnet.conv2d


def test_random_streams_paths(switch):
    if _has("symgrad.sandbox"):
        import theano.sandbox.rng_mrg

        import symgrad.sandbox.rng_mrg
        assert theano.sandbox.rng_mrg is symgrad.sandbox.rng_mrg
    else:
        with pytest.raises(ModuleNotFoundError, match=r"'symgrad\.sandbox'.*random streams"):
            from theano.sandbox.rng_mrg import MRG_RandomStreams  # noqa: F401


def test_a_broken_symgrad_module_keeps_its_own_error(switch, monkeypatch):
    def failing_import(name):
        raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")

    monkeypatch.setattr(compat.importlib, "import_module", failing_import)
    with pytest.raises(ModuleNotFoundError, match="some_dependency") as info:
        compat._import_target("theano.tensor")
    assert info.value.name == "some_dependency"


def test_install_refuses_the_real_theano(monkeypatch):
    monkeypatch.setitem(sys.modules, "theano", types.ModuleType("theano"))
    with pytest.raises(RuntimeError, match="real Theano is already imported"):
        compat.install()
    assert not compat.installed()


def test_symgrad_path():
    assert compat.symgrad_path("theano") == "symgrad"
    assert compat.symgrad_path("theano.tensor.nnet") == "symgrad.tensor.nnet"
    assert compat.symgrad_path("theano.compile.function_module") == "symgrad.compile.function"
    with pytest.raises(ValueError, match="not a Theano module path"):
        compat.symgrad_path("numpy")


SCRIPT = '''
import os, sys
import theano
import theano.tensor as T
from theano import config
from theano.tensor.nnet import sigmoid
from theano.scan_module import scan
import neighbour

x = T.dvector("x")
if not x:  # Theano's truth rule: an optional argument given
    raise SystemExit("variables must be true")
total, _ = theano.scan(lambda v, acc: acc + sigmoid(v), sequences=x, outputs_info=T.constant(0.0))
f = theano.function([x], total[-1])
print("result", round(float(f([0.0, 0.0])), 6))
print("argv", sys.argv[1:], "name", __name__, "file", os.path.basename(__file__), neighbour.VALUE, config.floatX)
print("same", T is sys.modules["symgrad.tensor"], scan is theano.scan)
if sys.argv[1:] == ["fail"]:
    raise SystemExit(3)
'''


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    folder = tmp_path_factory.mktemp("old_script")
    (folder / "old.py").write_text(SCRIPT)
    (folder / "neighbour.py").write_text("VALUE = 'neighbour'\n")
    return folder / "old.py"


def _run(*args, cwd):
    env = dict(os.environ, SYMGRAD_MODE="numpy", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "symgrad.theano_compat", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_python_m_runs_a_theano_script(script, tmp_path):
    done = _run(script, "a", "--b", cwd=tmp_path)  # from another folder: the script's own is on sys.path
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "result 1.0" in out
    assert "argv ['a', '--b'] name __main__ file old.py neighbour" in out
    assert "same True True" in out


def test_python_m_exit_status_and_usage(script, tmp_path):
    assert _run(script, "fail", cwd=tmp_path).returncode == 3
    usage = _run(cwd=tmp_path)
    assert usage.returncode == 2 and "usage: python -m symgrad.theano_compat script.py" in usage.stderr
    missing = _run(tmp_path / "nope.py", cwd=tmp_path)
    assert missing.returncode == 2 and "can't open file" in missing.stderr and "nope.py" in missing.stderr
