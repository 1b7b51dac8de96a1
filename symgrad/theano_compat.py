"""Run Theano code unchanged: ``import theano...`` resolved to symgrad.

From a shell, an old script runs as it is (its arguments, ``__name__ == "__main__"``, ``__file__``
and its folder on ``sys.path``, as ``python script.py`` gives it)::

    python -m symgrad.theano_compat logistic_sgd.py [args...]

In a notebook or a program, the same switch is a function (idempotent; ``uninstall`` undoes it)::

    import symgrad.theano_compat
    symgrad.theano_compat.install()
    import theano.tensor as T        # symgrad.tensor, the same module object

``theano`` and ``theano.<sub>`` are aliases of symgrad's modules (the same objects, so
``theano.tensor is symgrad.tensor``): ``theano.<path>`` is ``symgrad.<path>`` unless
``ALIASES`` names another module. A Theano path with no symgrad counterpart is an
``ImportError`` that names both, so ``try: import theano.gpuarray except ImportError`` keeps
working.

>>> import symgrad, symgrad.tensor, symgrad.theano_compat as compat
>>> compat.install()
>>> import theano, theano.tensor as T
>>> T is symgrad.tensor, theano.scan is symgrad.scan, theano.config.floatX
(True, True, 'float64')
>>> compat.uninstall()
>>> "theano" in sys.modules
False
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import runpy
import sys
import types
from collections.abc import Sequence

__all__ = ["ALIASES", "install", "uninstall", "installed", "run_script", "main"]

ALIASES: dict[str, str] = {
    # The paths Theano programs import (the deeplearning.net tutorials, Theano's documentation),
    # each with the symgrad module that stands for it; any other theano.<path> is tried as
    # symgrad.<path>. (Importing a renamed one also binds it on its parent, as any import does:
    # symgrad.compile then has a `sharedvalue` attribute, symgrad.compile.shared, until uninstall().)
    "theano": "symgrad",
    "theano.tensor": "symgrad.tensor",
    "theano.tensor.nnet": "symgrad.tensor.nnet",
    "theano.tensor.shared_randomstreams": "symgrad.tensor.shared_randomstreams",
    "theano.tensor.signal": "symgrad.tensor.signal",
    "theano.tensor.signal.pool": "symgrad.tensor.signal.pool",
    "theano.sandbox": "symgrad.sandbox",
    "theano.sandbox.rng_mrg": "symgrad.sandbox.rng_mrg",
    "theano.scan_module": "symgrad.scan_module",
    "theano.printing": "symgrad.printing",
    "theano.gradient": "symgrad.gradient",
    "theano.ifelse": "symgrad.ifelse",
    "theano.compile": "symgrad.compile",
    "theano.compile.io": "symgrad.compile.io",
    "theano.compile.sharedvalue": "symgrad.compile.shared",
    "theano.compile.function_module": "symgrad.compile.function",
    "theano.compile.function": "symgrad.compile.function",
}
"""Theano module path -> symgrad module path. ``theano.config``, ``theano.function``,
``theano.shared``, ``theano.In``, ``theano.scan`` are attributes of ``symgrad`` itself."""

# Where the modules that other issues build will live, so the error says what is missing and why,
# instead of Python's bare "No module named ...". Checked only when the symgrad module is absent.
_PLANNED: dict[str, str] = {
    "symgrad.sandbox": "random streams (MRG_RandomStreams) come with issue 14",
    "symgrad.sandbox.rng_mrg": "random streams (MRG_RandomStreams) come with issue 14",
    "symgrad.tensor.shared_randomstreams": "random streams (RandomStreams) come with issue 14",
}


def symgrad_path(theano_path: str) -> str:
    """The symgrad module that stands for a Theano module path.

    >>> symgrad_path("theano.scan_module"), symgrad_path("theano.compile.sharedvalue")
    ('symgrad.scan_module', 'symgrad.compile.shared')
    """
    if theano_path in ALIASES:
        return ALIASES[theano_path]
    parent, _, last = theano_path.rpartition(".")
    if not parent:
        raise ValueError(f"not a Theano module path: {theano_path!r}")
    return symgrad_path(parent) + "." + last  # theano.compile.sharedvalue.x -> symgrad.compile.shared.x


def _import_target(theano_path: str) -> types.ModuleType:
    target = symgrad_path(theano_path)
    parent, _, child = target.rpartition(".")
    attribute = getattr(sys.modules.get(parent), child, None)
    if attribute is not None and not isinstance(attribute, types.ModuleType):
        # `import theano.config` would bind the module symgrad/config.py over the settings object
        # symgrad.config (an import binds the module on its parent); Theano has no such module either
        theano_parent, _, _ = theano_path.rpartition(".")
        raise ModuleNotFoundError(
            f"No module named {theano_path!r}: {target} is a {type(attribute).__name__}, not a module; "
            f"write `from {theano_parent} import {child}`", name=theano_path)
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        # Only a missing symgrad module becomes our message; a module that exists but fails to
        # import (its own missing dependency) keeps its real error.
        if error.name is None or not (target == error.name or target.startswith(error.name + ".")):
            raise
        why = _PLANNED.get(error.name) or _PLANNED.get(target)
        detail = f"not in this symgrad yet: {why}" if why else "symgrad has no counterpart"
        raise ModuleNotFoundError(
            f"No module named {theano_path!r}: symgrad.theano_compat maps it to {target!r}, "
            f"and {error.name!r} does not exist ({detail})", name=theano_path) from error


class _AliasLoader(importlib.abc.Loader):
    """Hands the import system an existing symgrad module instead of executing anything."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.original_spec = module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system stamps the alias's spec on the module it got from create_module;
        # the module is symgrad's and stays symgrad's (its __spec__ says where it really is).
        module.__spec__ = self.original_spec


class _TheanoFinder(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder for ``theano`` and ``theano.*``."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != "theano" and not fullname.startswith("theano."):
            return None
        module = _import_target(fullname)
        is_package = hasattr(module, "__path__")
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(module), origin=getattr(module, "__file__", None), is_package=is_package)


_finder: _TheanoFinder | None = None


def installed() -> bool:
    """Whether ``import theano`` currently resolves to symgrad."""
    return _finder is not None and _finder in sys.meta_path


def install() -> None:
    """Make ``import theano...`` resolve to symgrad's modules from now on (idempotent).

    Raises RuntimeError if the real Theano is already imported: its modules would stay in use.
    """
    global _finder
    if installed():
        return
    existing = sys.modules.get("theano")
    if existing is not None and not _is_alias(existing):
        raise RuntimeError(f"the real Theano is already imported ({getattr(existing, '__file__', existing)!r}); "
                           "install symgrad.theano_compat before anything imports theano")
    _finder = _TheanoFinder()
    sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    """Undo :func:`install`: ``theano`` is no longer found, and the aliases leave ``sys.modules``."""
    global _finder
    if _finder is not None and _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    _finder = None
    aliases = {name: module for name, module in sys.modules.items()
               if (name == "theano" or name.startswith("theano.")) and _is_alias(module)}
    for name, module in aliases.items():
        del sys.modules[name]
        # importing theano.compile.sharedvalue set symgrad.compile.sharedvalue (the import system
        # binds a submodule on its parent); take back what is not symgrad's own name
        parent_name, _, child = name.rpartition(".")
        parent = aliases.get(parent_name)
        if parent is not None and module.__name__ != f"{parent.__name__}.{child}" \
                and getattr(parent, child, None) is module:
            delattr(parent, child)


def _is_alias(module: object) -> bool:
    name = getattr(module, "__name__", None)
    return isinstance(name, str) and (name == "symgrad" or name.startswith("symgrad."))


def run_script(path: str, argv: Sequence[str] = ()) -> dict:
    """Run the Python file ``path`` as ``python path *argv`` would, with theano resolved to symgrad.

    Returns the script's globals (as :func:`runpy.run_path` does).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"script {path!r} does not exist")
    install()
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    sys.argv = [path, *argv]
    folder = os.path.dirname(os.path.abspath(path))
    # `python script.py` puts the script's folder first on sys.path (it imports its neighbours,
    # as logistic_sgd.py is imported by mlp.py); `python -m` put the current folder there.
    if sys.path:
        sys.path[0] = folder
    else:
        sys.path.insert(0, folder)
    try:
        return runpy.run_path(path, run_name="__main__")
    finally:
        sys.argv = saved_argv
        if saved_path0 is not None:
            sys.path[0] = saved_path0


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m symgrad.theano_compat script.py [args...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m symgrad.theano_compat script.py [args...]\n"
              "runs a Theano script with every 'import theano...' resolved to symgrad", file=sys.stderr)
        raise SystemExit(0 if argv else 2)
    if not os.path.isfile(argv[0]):  # as python itself answers
        print(f"python -m symgrad.theano_compat: can't open file {argv[0]!r}: no such file", file=sys.stderr)
        raise SystemExit(2)
    run_script(argv[0], argv[1:])


if __name__ == "__main__":
    main()
