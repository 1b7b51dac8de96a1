"""``function``: compile inputs, outputs and updates into a callable ``Function``.

Calling a ``Function`` converts every argument (safe upcasts only, unless downcasts are allowed),
runs the backend's kernel, and only then writes all updates together: a call that fails leaves
every shared variable exactly as it was. The call path doing this is generated per function
(``fastcall.py``).

>>> import numpy as np, symgrad as sg, symgrad.tensor as T
>>> x = T.dvector("x")
>>> total = sg.shared(0.0, name="total")
>>> f = sg.function([x], x.sum(), updates=[(total, total + x.sum())])
>>> float(f([1.0, 2.0])), float(total.get_value())
(3.0, 3.0)
"""
from __future__ import annotations

import copy as _copy
import warnings
import weakref
from typing import Sequence

import numpy as np

from ..backend import get_backend
from ..config import config
from ..graph import Constant, Variable, clone_replace, flatten_graph, graph_inputs, unflatten_graph
from ..tensor.elemwise import cast
from ..tensor.variable import as_tensor_variable
from .convert import make_converter
from .fastcall import build_call_path
from .io import In, as_in, check_input_variable
from .shared import SharedVariable


class MissingInputError(ValueError):
    """An output depends on a free variable that is not among the function's inputs."""


class UnusedInputError(ValueError):
    """An input does not take part in computing any output or update."""


def _normalize_updates(updates) -> list[tuple[SharedVariable, Variable]]:
    if updates is None:
        return []
    if isinstance(updates, dict):
        pairs = list(updates.items())
    else:
        try:
            pairs = [tuple(p) for p in updates]
        except TypeError:
            raise TypeError("updates must be a list of (shared_variable, new_expression) pairs or a dict") from None
    out, seen = [], set()
    for i, pair in enumerate(pairs):
        if len(pair) != 2:
            raise TypeError(f"updates[{i}] must be a (shared_variable, new_expression) pair, got {pair!r}")
        var, expr = pair
        if not isinstance(var, SharedVariable):
            raise TypeError(f"updates[{i}]: only shared variables can be updated, got {var!r} "
                            f"({type(var).__name__})")
        if id(var) in seen:
            raise ValueError(f"updates: shared variable {var.label()} is updated twice")
        seen.add(id(var))
        expr = as_tensor_variable(expr)
        if expr.type is not var.type:  # exactly the shared variable's type, as Theano requires
            raise TypeError(f"updates: the new value of shared variable {var.label()} must be a "
                            f"{var.type.describe()}, got {expr.type.describe()} (use T.cast to convert)")
        out.append((var, expr))
    return out


def _default_updates(roots: list[Variable], update_pairs: list, no_default_updates, inputs: list[In],
                     replace: dict) -> list[tuple[SharedVariable, Variable]]:
    """Theano's default updates: ``(v, v.default_update)`` for every shared variable ``v`` that
    ``roots`` (the outputs and updates) read, transitively through the default updates added, that
    has a ``default_update``, no update in ``update_pairs`` and is not excluded by
    ``no_default_updates`` (True: none are added; a list: those variables are skipped)."""
    if no_default_updates is True:
        return []
    if no_default_updates in (None, False):
        excluded = set()
    elif isinstance(no_default_updates, (list, tuple, set)):
        excluded = {id(v) for v in no_default_updates}
    else:
        raise TypeError("function: no_default_updates must be True, False or a list of shared variables, "
                        f"got {type(no_default_updates).__name__}")
    given = {id(spec.variable) for spec in inputs}
    done = {id(var) for var, _ in update_pairs} | excluded
    added: list[tuple[SharedVariable, Variable]] = []
    pending = list(roots)
    while pending:  # a default update may read further shared variables with default updates
        found = []
        for v in graph_inputs(pending):
            default = getattr(v, "default_update", None) if isinstance(v, SharedVariable) else None
            if default is None or id(v) in done:
                continue
            done.add(id(v))
            expr = as_tensor_variable(default)
            if replace:
                expr = clone_replace([expr], replace)[0]
            if expr.type is not v.type:
                raise TypeError(f"function: the default_update of shared variable {v.label()} must be a "
                                f"{v.type.describe()}, got {expr.type.describe()}")
            for free in graph_inputs([expr]):
                # a draw made inside a scan step: its default update reads the step's placeholders
                if id(free) not in given and not isinstance(free, (Constant, SharedVariable)):
                    raise MissingInputError(
                        f"function: the default_update of shared variable {v.label()} reads {free.label()}, "
                        "which is not an input of this function (for a random draw made inside a scan step, "
                        "pass the updates scan returned to function; or list the variable in no_default_updates)")
            found.append((v, expr))
        added.extend(found)
        pending = [e for _, e in found]
    return added


def _normalize_givens(givens) -> dict:
    if not givens:
        return {}
    pairs = list(givens.items()) if isinstance(givens, dict) else [tuple(p) for p in givens]
    out = {}
    for old, new in pairs:
        if not isinstance(old, Variable):
            raise TypeError(f"givens: keys must be symbolic variables, got {type(old).__name__}")
        new = as_tensor_variable(new)
        if new.ndim != old.ndim or new.dtype != old.dtype:
            if new.ndim == old.ndim and np.can_cast(new.dtype, old.dtype, "safe"):
                new = cast(new, old.dtype)
            else:
                raise TypeError(f"givens: replacement for {old.label()} must be a {old.type.describe()}, "
                                f"got {new.type.describe()}")
        out[old] = new
    return out


class Function:
    """A compiled function; call it with the inputs' values (positionally or by name).

    ``fn.maker`` style internals are not exposed; ``fn.inputs``, ``fn.outputs`` and ``fn.updates``
    hold the symbolic graph it was built from, and ``fn.mode`` the backend.
    """

    def __init__(self, inputs: list[In], outputs: list[Variable], single: bool | None,
                 updates: list[tuple[SharedVariable, Variable]], mode: str, allow_input_downcast,
                 on_unused_input: str, name: str | None):
        self.inputs = inputs
        self.outputs = outputs
        self.updates = updates
        self.mode = mode
        self.name = name
        self._single = single
        self._allow_input_downcast = allow_input_downcast
        self._on_unused_input = on_unused_input
        self._build()

    # --- construction ---------------------------------------------------------------------------
    def _build(self) -> None:
        input_vars = [spec.variable for spec in self.inputs]
        targets = list(self.outputs) + [expr for _, expr in self.updates]
        roots = graph_inputs(targets)
        given = {id(v) for v in input_vars}
        for v in roots:
            if id(v) not in given and not isinstance(v, (Constant, SharedVariable)):
                raise MissingInputError(
                    f"function: the outputs depend on {v.label()} ({v.type.describe()}), which is not in the "
                    f"inputs list {[s.variable for s in self.inputs]}")
        used = {id(v) for v in roots}
        for i, spec in enumerate(self.inputs):
            if id(spec.variable) not in used and self._on_unused_input != "ignore":
                msg = (f"function: input {i} ({spec.variable.label()}) is not used to compute any output or "
                       "update; pass on_unused_input='ignore' (or 'warn') if this is intended")
                if self._on_unused_input == "raise":
                    raise UnusedInputError(msg)
                warnings.warn(msg, stacklevel=3)
        self._shared = [v for v in roots if isinstance(v, SharedVariable)]
        backend = get_backend(self.mode)
        kernel_inputs = input_vars + self._shared
        slot_of = {id(v): len(input_vars) + k for k, v in enumerate(self._shared)}
        updated = {slot_of[id(var)]: len(self.outputs) + k for k, (var, _) in enumerate(self.updates)
                   if id(var) in slot_of}
        self._targets = targets
        self._optimized = None
        # A compiled backend may remember what it generated for this exact graph, so a new process
        # skips the rewrites (sympy work) as well as the compile.
        kernel = backend.lookup_plan(kernel_inputs, targets, updated)
        if kernel is None:
            kernel = backend.compile(kernel_inputs, self.optimized_outputs, updated)
            backend.store_plan(kernel_inputs, targets, updated, kernel)
        self._kernel = kernel
        # updates the kernel writes into the shared variable's own buffer (numba, see inplace.py)
        self._inplace_at = [slot - len(input_vars) for slot in kernel.info.inplace_slots]
        for k in self._inplace_at:
            self._shared[k]._inplace = True
        self._converters = [make_converter(spec.variable.type, _input_label(spec, i), self._allow_input_downcast)
                            for i, spec in enumerate(self.inputs)]
        self._defaults = [self._converters[i](spec.value) if spec.has_default else None
                          for i, spec in enumerate(self.inputs)]
        self._by_name = {}
        for i, spec in enumerate(self.inputs):
            if spec.name:
                self._by_name.setdefault(spec.name, i)
        self._n_out = len(self.outputs)
        self._updates_dropped = False  # a copy made with delete_updates=True (see copy)
        self._call, self._loop_call = build_call_path(self)  # (fastcall.py)

    @property
    def optimized_outputs(self) -> list[Variable]:
        """The outputs and updates after every rewrite (what the backend lowers), built on demand."""
        if self._optimized is None:
            self._optimized = get_backend(self.mode).pipeline(self._targets)
        return self._optimized
    # --- calling --------------------------------------------------------------------------------
    def _bind(self, args, kwargs) -> list:
        n = len(self.inputs)
        if len(args) > n:
            raise TypeError(f"{self._what()} takes {n} input(s), got {len(args)} positional argument(s)")
        values = list(args) + [_MISSING] * (n - len(args))
        for key, value in kwargs.items():
            i = self._by_name.get(key)
            if i is None:
                raise TypeError(f"{self._what()} got an unknown keyword argument {key!r}; "
                                f"inputs are named {list(self._by_name)}")
            if values[i] is not _MISSING:
                raise TypeError(f"{self._what()} got input {key!r} twice (positionally and by keyword)")
            values[i] = value
        out = []
        for i, value in enumerate(values):
            if value is _MISSING:
                if self._defaults[i] is None:
                    raise TypeError(f"{self._what()}: missing required input {_input_label(self.inputs[i], i)}")
                out.append(self._defaults[i])
            else:
                out.append(self._converters[i](value))
        return out

    @property
    def source(self) -> str | None:
        """The generated kernel module (numba mode), so a user can read what runs."""
        return self._kernel.source

    def __call__(self, *args, **kwargs):
        if kwargs or len(args) != len(self._converters):
            args = self._bind(args, kwargs)
        return self._call(*args)  # (the hot path of a training loop: positional arguments only)

    def loop(self, n_steps: int, *args, **kwargs):
        """Run the step ``n_steps`` times (updates applied between steps) and return the outputs of
        the last step: the same result as calling the function ``n_steps`` times. In numba mode the
        whole loop runs inside compiled code. All updates are written only once every step succeeded.

        >>> import symgrad as sg, symgrad.tensor as T
        >>> c = sg.shared(0.0, name="c")
        >>> f = sg.function([], c, updates=[(c, c + 1)])
        >>> float(f.loop(5)), float(c.get_value())
        (4.0, 5.0)
        """
        if not isinstance(n_steps, (int, np.integer)) or isinstance(n_steps, bool) or n_steps < 1:
            raise ValueError(f"{self._what()}.loop: n_steps must be a positive int, got {n_steps!r}")
        return self._loop_call(int(n_steps), *self._bind(args, kwargs))

    def _steps(self, n_steps: int, values: list) -> list:
        """``loop`` where the kernel has none (or a copy dropped the updates): ``n_steps`` calls,
        each update fed to the next; the call path writes the last step's updates."""
        n_in = len(self.inputs)
        inputs, state = values[:n_in], values[n_in:]
        slot = {id(s): k for k, s in enumerate(self._shared)}
        targets = [slot.get(id(var)) for var, _ in self.updates]
        for _ in range(n_steps):
            args = state
            if self._updates_dropped:  # the kernel would write these buffers: it gets copies
                args = [v.copy() if k in self._inplace_at else v for k, v in enumerate(state)]
            results = self._kernel.call(inputs + args)
            state = list(state)
            for k, value in zip(targets, results[self._n_out:]):
                if k is not None:
                    state[k] = value
        return results

    def copy(self, share_memory: bool = False, swap: dict | None = None, delete_updates: bool = False,
             name: str | None = None) -> "Function":
        """A new function computing the same thing, without compiling anything (Theano's ``copy``).

        - ``swap``: {old shared variable: new shared variable}; the copy reads (and updates) the new
          ones. Each new one must have exactly the old one's type (``TypeError`` naming both), and
          each old one must be used by this function (``ValueError``).
        - ``delete_updates``: the copy writes no updates (its kernel still computes them; they are
          dropped).
        - ``name``: the copy's name; default ``"<name> copy"``.
        - ``share_memory``: accepted for compatibility. A kernel keeps no storage between calls, so
          the copy always shares the compiled kernel and never intermediate results.

        >>> import symgrad as sg, symgrad.tensor as T
        >>> acc, other = sg.shared(0.0, name="acc"), sg.shared(10.0, name="other")
        >>> inc = sg.function([], acc, updates=[(acc, acc + 1)], mode="numpy", name="inc")
        >>> inc2 = inc.copy(swap={acc: other})
        >>> float(inc2()), float(other.get_value()), float(acc.get_value()), inc2.name
        (10.0, 11.0, 0.0, 'inc copy')
        """
        swap = dict(swap or {})
        used = {id(v) for v in self._shared} | {id(var) for var, _ in self.updates}
        for old, new in swap.items():
            for role, v in (("keys", old), ("values", new)):
                if not isinstance(v, SharedVariable):
                    raise TypeError(f"{self._what()}.copy: swap {role} must be shared variables, got {v!r} "
                                    f"({type(v).__name__})")
            if id(old) not in used:
                raise ValueError(f"{self._what()}.copy: shared variable {old.label()} is not used by this function, "
                                 "so it cannot be swapped")
            if new.type is not old.type:
                raise TypeError(f"{self._what()}.copy: cannot swap shared variable {old.label()} "
                                f"({old.type.describe()}) for {new.label()} ({new.type.describe()}): the types differ")
        fn = object.__new__(Function)
        fn.__dict__.update(self.__dict__)  # the compiled kernel, converters and alias flags are reused
        fn.name = name or (f"{self.name} copy" if self.name else None)
        fn.inputs = [_copy.copy(spec) for spec in self.inputs]
        fn._defaults = list(self._defaults)
        updates = [] if delete_updates else list(self.updates)
        fn._updates_dropped = self._updates_dropped or (delete_updates and bool(self.updates))
        if swap:
            by_id = {id(old): new for old, new in swap.items()}
            fn._shared = [by_id.get(id(v), v) for v in self._shared]  # same slots: same kernel
            for k in fn._inplace_at:
                fn._shared[k]._inplace = True
            rebuilt = clone_replace(list(self.outputs) + [e for _, e in updates], swap)
            fn.outputs = rebuilt[:len(self.outputs)]
            updates = [(by_id.get(id(var), var), e) for (var, _), e in zip(updates, rebuilt[len(self.outputs):])]
            fn._optimized = None  # rebuilt on demand (printing) from the swapped graph
        fn.updates = updates
        fn._targets = list(fn.outputs) + [e for _, e in updates]
        fn._call, fn._loop_call = build_call_path(fn)  # its own shared variables and updates
        if delete_updates and self._optimized is not None and not swap:
            fn._optimized = self._optimized[:len(self.outputs)]
        return fn

    def __copy__(self):
        return self.copy()

    def _what(self) -> str:
        return f"function {self.name!r}" if self.name else "function"

    # --- pickling: the graph is stored flat, so deep graphs do not hit the recursion limit -------
    def __reduce__(self):
        outs = list(self.outputs) + [e for _, e in self.updates]
        extra = [spec.variable for spec in self.inputs] + [v for v, _ in self.updates]
        state = {
            "graph": flatten_graph(outs, extra),
            # (the no-default sentinel is not picklable by identity: store a flag instead)
            "inputs": [(spec.name, spec.has_default, spec.value if spec.has_default else None, spec.borrow)
                       for spec in self.inputs],
            "n_out": len(self.outputs), "single": self._single, "mode": self.mode,
            "allow_input_downcast": self._allow_input_downcast,
            "on_unused_input": self._on_unused_input, "name": self.name,
        }
        return (_rebuild_function, (state,))

    def __repr__(self):
        return f"<symgrad.Function {self.name or ''} ({len(self.inputs)} inputs, {self._n_out} outputs, " \
               f"{len(self.updates)} updates, mode={self.mode!r})>"


_MISSING = object()


def _input_label(spec: In, i: int) -> str:
    name = spec.name or spec.variable.name
    return f"input {name!r} (index {i})" if name else f"input {i}"


def _rebuild_function(state: dict) -> Function:
    outs, extra = unflatten_graph(state["graph"])
    n_in = len(state["inputs"])
    inputs = []
    for var, (name, has_default, value, borrow) in zip(extra[:n_in], state["inputs"]):
        spec = In(var, name=name, borrow=borrow)
        if has_default:
            spec.value = value
        inputs.append(spec)
    n_out = state["n_out"]
    updates = list(zip(extra[n_in:], outs[n_out:]))
    return Function(inputs, outs[:n_out], state["single"], updates, state["mode"],
                    state["allow_input_downcast"], state["on_unused_input"], state["name"])


def function(inputs: Sequence, outputs=None, updates=None, givens=None, mode: str | None = None,
             allow_input_downcast: bool | None = None, on_unused_input: str = "raise",
             name: str | None = None, no_default_updates=False) -> Function:
    """Compile a callable computing ``outputs`` from ``inputs`` and applying ``updates``.

    - ``outputs``: a variable (the call returns one array, 0-d for scalars), a list (returns a
      list), or None (returns ``[]``).
    - ``updates``: (shared_variable, new_expression) pairs or a dict; all are computed from the old
      values and written together after the outputs.
    - ``givens``: {variable: replacement} substituted in outputs and updates.
    - ``mode``: "numpy" (the reference backend); default ``symgrad.config.mode``.
    - ``no_default_updates``: shared variables read by the outputs or updates that have a
      ``default_update`` (random streams' states) and no update given get it as their update, as
      in Theano; True adds none, a list of shared variables skips those.

    >>> import symgrad.tensor as T
    >>> a, b = T.dscalars("a", "b")
    >>> f = function([a, In(b, value=2.0)], a * b)
    >>> float(f(3.0)), float(f(3.0, b=4.0))
    (6.0, 12.0)
    """
    if isinstance(inputs, (Variable, In)):
        raise TypeError("function: inputs must be a list of variables (e.g. [x], not x)")
    specs = [as_in(x, i) for i, x in enumerate(inputs)]
    seen = set()
    for i, spec in enumerate(specs):
        check_input_variable(spec, i)
        if id(spec.variable) in seen:
            raise ValueError(f"function: input {spec.variable.label()} is listed twice")
        seen.add(id(spec.variable))
    if on_unused_input not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got {on_unused_input!r}")
    if outputs is None:
        single, outs = None, []
    elif isinstance(outputs, (list, tuple)):
        single, outs = False, [as_tensor_variable(o) for o in outputs]
    else:
        single, outs = True, [as_tensor_variable(outputs)]
    update_pairs = _normalize_updates(updates)
    replace = _normalize_givens(givens)
    if replace:
        n = len(outs)
        rebuilt = clone_replace(outs + [e for _, e in update_pairs], replace)
        outs = rebuilt[:n]
        update_pairs = [(v, e) for (v, _), e in zip(update_pairs, rebuilt[n:])]
    update_pairs += _default_updates(outs + [e for _, e in update_pairs], update_pairs, no_default_updates, specs,
                                     replace)
    mode = mode or config.mode
    get_backend(mode)  # fail early on an unknown mode
    return Function(specs, outs, single, update_pairs, mode, allow_input_downcast, on_unused_input, name)


_EVAL_CACHE: "weakref.WeakKeyDictionary[Variable, dict]" = weakref.WeakKeyDictionary()


def eval_variable(var: Variable, inputs_to_values: dict, mode: str | None):
    """Implementation of ``var.eval({x: value})``: keys may be variables or their names."""
    roots = [v for v in graph_inputs([var]) if not isinstance(v, (Constant, SharedVariable))]
    by_name = {v.name: v for v in roots if v.name}
    keys, values = [], []
    for k, value in inputs_to_values.items():
        if isinstance(k, str):
            if k not in by_name:
                raise ValueError(f"eval: {k!r} is not the name of an input of this expression "
                                 f"(inputs: {sorted(by_name)})")
            k = by_name[k]
        keys.append(k)
        values.append(value)
    mode = mode or config.mode
    cache = _EVAL_CACHE.setdefault(var, {})
    key = (tuple(id(k) for k in keys), mode)
    fn = cache.get(key)
    if fn is None:
        fn = function(keys, var, mode=mode, on_unused_input="ignore")
        cache[key] = fn
    return fn(*values)
