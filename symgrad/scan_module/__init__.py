"""``scan`` and its relatives (``map``, ``reduce``, ``foldl``, ``foldr``, ``until``): Theano's loops,
at Theano's module path (``theano.scan_module``; ``symgrad.scan`` is the same function).

``scan`` is a front end: it calls the step function once on placeholder variables, reads what it
built, and rewrites Theano's interface into the small normal form of ``symgrad.tensor.scan.Scan``
(carries, sequences, invariants):

- a sequence with taps ``[-2, 0, 1]`` becomes three shifted slices of it;
- a recurrent output with taps ``[-1, -2]`` becomes two carries, ``h[t-1]`` and ``h[t-2]``, the
  step's result shifting into the first (the initial value's last rows are ``h[-1]``, ``h[-2]``);
- an output with ``None`` in ``outputs_info`` is a per-step output, not fed back;
- every outside variable the step reads (shared variables included) is a loop invariant, unless
  the step updates it (its ``updates``, or a shared variable's ``default_update``, as random
  streams' states have): it is then a carry, and its final value comes back in ``updates``.

>>> import numpy as np, symgrad as sg, symgrad.tensor as T
>>> x = T.dvector("x")
>>> cumsum, _ = scan(lambda v, acc: acc + v, sequences=x, outputs_info=T.constant(0.0))
>>> sg.function([x], cumsum, mode="numpy")([1.0, 2.0, 3.0])
array([1., 3., 6.])
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from ..graph import Constant, TensorType, Variable, clone_replace, toposort
from ..tensor.random import RANDOM_OPS, draw_serial, made_before
from ..tensor import elemwise as E
from ..tensor.scan import Scan, ScanInner, assignable
from ..tensor.shape import assert_op, shape_i
from ..tensor.variable import as_tensor_variable

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr"]


class until:
    """Returned by a step function (alone or beside its outputs/updates) to stop the loop after the
    first step where ``condition`` is true; the outputs then hold only the steps run.

    >>> import symgrad as sg, symgrad.tensor as T
    >>> out, _ = scan(lambda p: (p * 2, until(p * 2 > 50)), outputs_info=T.constant(1.0), n_steps=100)
    >>> sg.function([], out, mode="numpy")()
    array([ 2.,  4.,  8., 16., 32., 64.])
    """

    def __init__(self, condition):
        self.condition = as_tensor_variable(condition)
        if self.condition.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {self.condition.label()} "
                            f"({self.condition.type.describe()})")


def _as_list(x) -> list:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _parse_sequences(sequences) -> list[tuple[Variable, list[int]]]:
    out = []
    for i, entry in enumerate(_as_list(sequences)):
        if isinstance(entry, dict):
            if "input" not in entry:
                raise ValueError(f"scan: sequences[{i}] is a dict without 'input'")
            var, taps = entry["input"], entry.get("taps", [0])
        else:
            var, taps = entry, [0]
        var = as_tensor_variable(var)
        taps = [0] if taps is None else [int(t) for t in _as_list(taps)]
        if var.ndim == 0:
            raise TypeError(f"scan: sequences[{i}] {var.label()} is a scalar; a sequence needs a first axis "
                            "to iterate over")
        if not taps:
            raise ValueError(f"scan: sequences[{i}] {var.label()} has no taps")
        out.append((var, taps))
    return out


def _parse_outputs_info(outputs_info) -> list[tuple[Variable | None, list[int]]]:
    """(initial value or None, taps) per output; taps are negative (Theano: outputs see the past)."""
    if outputs_info is None:
        return []
    out = []
    for i, entry in enumerate(_as_list(outputs_info)):
        if entry is None:
            out.append((None, []))
            continue
        if isinstance(entry, dict):
            init = entry.get("initial")
            if init is None:
                if entry.get("taps"):
                    raise ValueError(f"scan: outputs_info[{i}] gives taps but no 'initial' value")
                out.append((None, []))
                continue
            taps = entry.get("taps", [-1])
            taps = [-1] if taps is None else [int(t) for t in _as_list(taps)]
        else:
            init, taps = entry, [-1]
        if not taps or any(t >= 0 for t in taps):
            raise ValueError(f"scan: outputs_info[{i}] taps must be negative (a recurrent output reads earlier "
                             f"steps), got {taps}")
        if len(set(taps)) != len(taps):
            raise ValueError(f"scan: outputs_info[{i}] lists a tap twice: {taps}")
        init = as_tensor_variable(init)
        if taps != [-1] and init.ndim == 0:
            raise TypeError(f"scan: outputs_info[{i}] {init.label()} is a scalar, but taps {taps} need an initial "
                            "value with one row per earlier step")
        out.append((init, taps))
    return out


def _parse_step_result(result) -> tuple[list, list, Variable | None]:
    """Theano's forms: outputs, (outputs, updates), (outputs, until), (outputs, updates, until),
    updates alone, or until alone; returns (outputs, update pairs, stop condition)."""
    items = list(result) if isinstance(result, tuple) else [result]
    outputs: list = []
    updates: list = []
    stop = None
    rest = []
    for item in items:
        if isinstance(item, until):
            stop = item.condition
        elif isinstance(item, dict):
            updates.extend(item.items())
        else:
            rest.append(item)
    if isinstance(result, tuple) and len(rest) == 2 and _looks_like_updates(rest[1]):
        outputs, updates = _as_list(rest[0]), updates + [tuple(p) for p in rest[1]]
    elif isinstance(result, tuple) and len(items) > 1 and len(rest) == 1:
        outputs = _as_list(rest[0])
    elif isinstance(result, list) and _looks_like_updates(result) and result:
        updates = [tuple(p) for p in result]
    else:
        outputs = rest if isinstance(result, tuple) else _as_list(result) if rest else []
    return outputs, updates, stop


def _looks_like_updates(x) -> bool:
    return isinstance(x, (list, tuple)) and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and hasattr(p[0], "get_value") for p in x) and len(x) > 0


def _named(v: Variable, name: str | None) -> Variable:
    v.name = name
    return v


def _placeholder(t: TensorType, name: str | None) -> Variable:
    return t(name)


def _loosened(t: TensorType, other: TensorType) -> TensorType:
    """``t`` made broadcastable only where ``other`` is too (so values of either type fit)."""
    return TensorType(t.dtype, tuple(a and b for a, b in zip(t.broadcastable, other.broadcastable)))


def scan(fn: Callable, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient: int = -1, go_backwards: bool = False, mode=None, name: str | None = None,
         profile=False, allow_gc=None, strict: bool = False, return_list: bool = False):
    """Theano's ``scan``: apply ``fn`` over ``sequences`` with recurrent ``outputs_info``.

    ``fn`` gets, in order, one argument per sequence tap (sequences in order, taps in the order
    given), one per recurrent output tap, then the ``non_sequences``. It returns its outputs (one
    variable or a list), optionally with an updates dict/list of pairs and/or an ``until``.
    ``outputs_info``: one entry per output: ``None`` (not fed back), an initial value (tap -1),
    or ``dict(initial=x0, taps=[-1, -2])`` (``x0``'s last rows are the values at steps -1, -2).
    ``n_steps``: the number of steps (int or symbolic); by default the shortest sequence's length.
    ``go_backwards``: iterate the sequences from the end. ``truncate_gradient``: backpropagate
    through at most that many steps (-1: all). ``strict``: every outside variable the step reads
    must be in ``non_sequences``. ``mode``, ``profile``, ``allow_gc`` are accepted and ignored
    (the function's mode compiles the loop).

    Returns ``(outputs, updates)``: each output stacked over the steps (one variable, or a list when
    there are several or ``return_list``), and an ordered dict of shared-variable updates made in
    the loop (pass it to ``function(..., updates=...)``).

    >>> import symgrad as sg, symgrad.tensor as T
    >>> k, A = T.iscalar("k"), T.dvector("A")
    >>> powers, updates = scan(lambda prior, A: prior * A, outputs_info=T.ones_like(A),
    ...                        non_sequences=A, n_steps=k)
    >>> sg.function([A, k], powers[-1], mode="numpy")([1.0, 2.0, 3.0], 3)
    array([ 1.,  8., 27.])
    """
    who = f"scan {name!r}" if name else "scan"
    seqs = _parse_sequences(sequences)
    outs_info = _parse_outputs_info(outputs_info)
    non_seqs = [v if isinstance(v, Variable) else as_tensor_variable(v) for v in _as_list(non_sequences)]
    if isinstance(truncate_gradient, bool) or not isinstance(truncate_gradient, (int, np.integer)):
        raise TypeError(f"{who}: truncate_gradient must be an int, got {truncate_gradient!r}")

    # the number of steps
    if go_backwards:
        seqs = [(_named(v[::-1], f"{v.name}[::-1]" if v.name else None), taps) for v, taps in seqs]
    lengths = []
    for i, (v, taps) in enumerate(seqs):
        span = max(taps) - min(taps)
        if span and n_steps is None:  # (else the step count would come out negative)
            v = _named(assert_op(v, E.ge(shape_i(v, 0), span),
                                 f"{who}: sequences[{i}] {v.label()} is too short for its taps {taps}: it needs at "
                                 f"least {span} entries"), v.name)
            seqs[i] = (v, taps)
        lengths.append(shape_i(v, 0) - span if span else shape_i(v, 0))
    if n_steps is None:
        if not seqs:
            raise ValueError(f"{who}: n_steps is required when there are no sequences")
        n = lengths[0]
        for other in lengths[1:]:
            n = E.minimum(n, other)
    else:
        if isinstance(n_steps, (int, np.integer)) and not isinstance(n_steps, bool) and n_steps < 0:
            raise ValueError(f"{who}: n_steps must be >= 0, got {n_steps}")
        n = as_tensor_variable(n_steps)
        if n.ndim != 0 or n.dtype[0] not in "iu":
            raise TypeError(f"{who}: n_steps must be an integer scalar, got {n.label()} ({n.type.describe()})")
    given = n
    n = E.cast(n, "int64")
    if n is not given:  # (the cast is named after n_steps, so a run-time error names it)
        n.name = given.name
    n_var = n

    # sequences: one shifted slice per tap
    seq_outer, seq_types, seq_names = [], [], []
    for v, taps in seqs:
        lo = min(taps)
        for tap in taps:
            start = tap - lo
            # named after the sequence, so a run-time error (too few entries) names it
            seq_outer.append(_named(v[start:start + n_var] if start else v[:n_var],
                                    (f"{v.name}[{start}:]" if start else v.name) if v.name else None))
            seq_types.append(TensorType(v.dtype, v.broadcastable[1:]))
            seq_names.append(f"{v.name}[t{tap:+d}]" if v.name and tap else v.name)

    # recurrent outputs: carries h[t-1] .. h[t-m]
    state_types: list[TensorType | None] = []
    for init, taps in outs_info:
        if init is None:
            state_types.append(None)
        elif taps == [-1]:
            state_types.append(init.type)
        else:
            state_types.append(TensorType(init.dtype, init.broadcastable[1:]))

    for _attempt in range(3):
        built = _trace(fn, who, seqs, seq_types, seq_names, outs_info, state_types, non_seqs, strict)
        loosen = built.pop("loosen")
        if not loosen:
            break
        for i, t in loosen.items():
            state_types[i] = _loosened(state_types[i], t)
    else:  # pragma: no cover - loosening converges in two rounds
        raise TypeError(f"{who}: the recurrent outputs' types do not settle")

    # initial carries from outputs_info
    inits = []
    for i, (init, taps) in enumerate(outs_info):
        if init is None:
            continue
        m = max(-t for t in taps)
        if taps == [-1]:
            inits.append(init)
            continue
        rows = shape_i(init, 0)
        checked = assert_op(init, E.ge(rows, m),
                            f"{who}: outputs_info[{i}] {init.label()} needs at least {m} rows for taps {taps} "
                            "(a tap reaches before the initial state)")
        for lag in range(1, m + 1):
            inits.append(checked[rows - lag])
    inits += [v for v in built["carried_shared_init"]]

    inner = ScanInner(built["inner_inputs"], built["inner_outputs"])
    n_carry = len(inits)
    history = tuple(built["history"])
    op = Scan(inner, n_carry=n_carry, n_seq=len(seq_outer), n_ys=built["n_ys"], history=history,
              until=built["stop"] is not None, truncate=int(truncate_gradient), name=name)
    node = op.make_node(n, *inits, *seq_outer, *built["invariants"])

    results = []
    carry_index = 0
    y_index = 0
    for init, taps in outs_info_or_nitsot(outs_info, built["n_outputs"]):
        if init is None:
            results.append(op.y_output(node, y_index))
            y_index += 1
        else:
            results.append(op.history_output(node, carry_index))
            carry_index += max(-t for t in taps)
    for r, o in zip(results, built["outputs"]):
        if o.name and name:
            r.name = f"{name}.{o.name}"
    updates = OrderedDict()
    for k, var in enumerate(built["carried_shared"]):
        updates[var] = node.outputs[built["first_shared_carry"] + k]
    if len(results) == 1 and not return_list:
        return results[0], updates
    return results, updates


def outs_info_or_nitsot(outs_info, n_outputs):
    """``outs_info`` extended with ``None`` (per-step outputs) when ``outputs_info`` was not given."""
    return list(outs_info) + [(None, [])] * (n_outputs - len(outs_info))


def _trace(fn, who, seqs, seq_types, seq_names, outs_info, state_types, non_seqs, strict) -> dict[str, Any]:
    """Call ``fn`` on placeholders and build the step graph's inputs and outputs."""
    seq_ph = [_placeholder(t, nm) for t, nm in zip(seq_types, seq_names)]
    args = list(seq_ph)
    carry_ph: list[Variable] = []
    lag_ph: list[list[Variable]] = []  # per recurrent output: placeholders of h[t-1] .. h[t-m]
    for (init, taps), t in zip(outs_info, state_types):
        if init is None:
            lag_ph.append([])
            continue
        m = max(-tap for tap in taps)
        base = init.name or "state"
        lags = [_placeholder(t, f"{base}[t-{j}]" if m > 1 else base) for j in range(1, m + 1)]
        lag_ph.append(lags)
        carry_ph.extend(lags)
        args.extend(lags[-tap - 1] for tap in taps)
    nonseq_ph = [_placeholder(v.type, v.name) if not isinstance(v, Constant) else v for v in non_seqs]
    # as in Theano, the step gets the non-sequences themselves, so it may differentiate through them
    # (the tutorial's jacobian: ``grad(y[i], x)`` with y and x non-sequences); they are swapped for
    # the step's inputs once it has returned
    args.extend(non_seqs)

    since = draw_serial()  # random draws made from here on are the step's own (drawn every step)
    result = fn(*args)
    outputs, update_pairs, stop = _parse_step_result(result)
    outputs = [as_tensor_variable(o) for o in outputs]
    update_pairs = [(var, as_tensor_variable(expr)) for var, expr in update_pairs]
    updated = {id(var) for var, _ in update_pairs}  # (a shared variable the step updates is a carry)
    swap = {v: p for v, p in zip(non_seqs, nonseq_ph) if not isinstance(v, Constant) and id(v) not in updated}
    if swap:
        read = clone_replace(outputs + [expr for _, expr in update_pairs] + ([stop] if stop is not None else []),
                             swap)
        outputs, rest = read[:len(outputs)], read[len(outputs):]
        update_pairs = [(var, expr) for (var, _), expr in zip(update_pairs, rest)]
        stop = rest[-1] if stop is not None else None
    if outs_info and len(outputs) != len(outs_info):
        raise ValueError(f"{who}: the step function returned {len(outputs)} output(s) but outputs_info has "
                         f"{len(outs_info)} entries (use None in outputs_info for outputs not fed back)")
    plan = outs_info_or_nitsot(outs_info, len(outputs))
    state_types = list(state_types) + [None] * (len(plan) - len(state_types))
    loosen: dict[int, TensorType] = {}
    for i, ((init, taps), out) in enumerate(zip(plan, outputs)):
        if init is None:
            continue
        slot = state_types[i]
        if out.dtype != slot.dtype or out.ndim != slot.ndim:
            raise TypeError(f"{who}: output {i} ({out.label()}) of the step function is a {out.type.describe()}, but "
                            f"its initial value in outputs_info ({init.label()}) gives a {slot.describe()}: a "
                            "recurrent output must keep its dtype and rank (cast the initial value or the output)")
        if not assignable(out.type, slot):
            loosen[i] = out.type
    if loosen:
        return {"loosen": loosen}

    # outside values the step reads: invariants, or carries when the step updates them
    updates = OrderedDict()
    for var, expr in update_pairs:
        if not hasattr(var, "get_value"):
            raise TypeError(f"{who}: the step function's updates must update shared variables, got {var!r}")
        updates[var] = as_tensor_variable(expr)
    roots = outputs + list(updates.values()) + ([stop] if stop is not None else [])
    own = {id(v) for v in seq_ph + carry_ph + nonseq_ph}
    free = [v for v in _outside_roots(roots, own, since) if id(v) not in own and not isinstance(v, Constant)]
    # random streams: a state read in the step advances through its default update
    pending = list(free)
    while pending:
        v = pending.pop()
        default = getattr(v, "default_update", None)
        if default is not None and v not in updates:
            if swap:  # a draw the step made reads the non-sequences themselves: their step inputs instead
                default = clone_replace([default], swap)[0]
            updates[v] = default
            new = [u for u in _outside_roots([default], own, since) if id(u) not in own and not isinstance(u, Constant)
                   and all(u is not f for f in free)]
            free.extend(new)
            pending.extend(new)
    declared = {id(v) for v in non_seqs}
    if strict:
        extra = [v for v in free if id(v) not in declared and v not in updates]
        if extra:
            raise ValueError(f"{who}: strict=True, but the step function reads {', '.join(v.label() for v in extra)} "
                             "without it being in non_sequences")
    shared_carried = [v for v in updates]
    for var in shared_carried:
        expr = updates[var]
        if not assignable(expr.type, var.type):
            raise TypeError(f"{who}: the update of {var.label()} inside the step is a {expr.type.describe()}, "
                            f"the variable is a {var.type.describe()}")
    shared_ph = [_placeholder(v.type, v.name) for v in shared_carried]
    replace = dict(zip(shared_carried, shared_ph))
    carried_ids = {id(v) for v in shared_carried}
    invariants_outer, invariant_ph = [], []
    placeholder_of: dict[int, Variable] = {}
    for v, p in zip(non_seqs, nonseq_ph):
        if isinstance(v, Constant) or id(v) in placeholder_of:
            continue
        placeholder_of[id(v)] = p
        invariants_outer.append(v)
        invariant_ph.append(p)
    for v in free:
        if id(v) in carried_ids:
            continue
        if id(v) not in placeholder_of:  # read from the enclosing scope: an implicit invariant
            placeholder_of[id(v)] = _placeholder(v.type, v.name)
            invariants_outer.append(v)
            invariant_ph.append(placeholder_of[id(v)])
        replace[v] = placeholder_of[id(v)]
    new_carries = []
    history = []
    n_ys = 0
    ys = []
    for i, ((init, taps), out) in enumerate(zip(plan, outputs)):
        if init is None:
            ys.append(out)
            n_ys += 1
            continue
        lags = lag_ph[i]
        new_carries.append(out)
        history.append(True)
        for j in range(1, len(lags)):
            new_carries.append(lags[j - 1])
            history.append(False)
    first_shared = len(new_carries)
    new_carries += [updates[v] for v in shared_carried]
    history += [False] * len(shared_carried)
    closed = clone_replace(new_carries + ys + ([stop] if stop is not None else []), replace)
    # a carry whose new value has a narrower broadcastable pattern is still the same slot type
    return {
        "loosen": None,
        "inner_inputs": carry_ph + shared_ph + seq_ph + invariant_ph,
        "inner_outputs": closed,
        "history": history,
        "n_ys": n_ys,
        "stop": stop,
        "outputs": outputs,
        "n_outputs": len(outputs),
        "invariants": invariants_outer,
        "carried_shared": shared_carried,
        "carried_shared_init": shared_carried,
        "first_shared_carry": first_shared,
    }


def _outside_roots(roots: list[Variable], own: set[int], since: int) -> list[Variable]:
    """The outside values ``roots`` read, in ``graph_inputs``'s order: the graph's leaves, except that
    a random draw made before the step function ran (``since``: ``draw_serial()`` then) that depends
    on none of the step's placeholders ``own`` is itself an outside value, drawn once per call as in
    Theano; walking past it would draw again each step (and advance its state in the loop). A draw the
    step made is the step's own: drawn every step, its state a carry."""
    order = toposort(roots)
    depends: dict[int, bool] = {}
    for node in order:
        inner = any(id(i) in own or depends.get(id(i), False) for i in node.inputs)
        depends.update((id(o), inner) for o in node.outputs)

    def outside(v: Variable) -> bool:
        return v.owner is None or (isinstance(v.owner.op, RANDOM_OPS) and not depends[id(v)]
                                   and made_before(v.owner, since))

    # the nodes reached from the roots without passing an outside value
    reached, stack = set(), [v.owner for v in roots if not outside(v)]
    while stack:
        node = stack.pop()
        if id(node) in reached:
            continue
        reached.add(id(node))
        stack.extend(i.owner for i in node.inputs if not outside(i))
    found: dict[int, Variable] = {id(v): v for v in roots if outside(v)}
    for node in order:
        if id(node) in reached:
            for v in node.inputs:
                if outside(v):
                    found.setdefault(id(v), v)
    return list(found.values())


def map(fn: Callable, sequences, non_sequences=None, truncate_gradient: int = -1, go_backwards: bool = False,
        mode=None, name: str | None = None):
    """``fn`` applied to each element of ``sequences`` (Theano's ``map``): ``(outputs, updates)``.

    >>> import symgrad as sg, symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> sq, _ = map(lambda v: v ** 2, x)
    >>> sg.function([x], sq, mode="numpy")([1.0, 2.0])
    array([1., 4.])
    """
    return scan(fn, sequences=sequences, outputs_info=None, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode, name=name)


def reduce(fn: Callable, sequences, outputs_info, non_sequences=None, go_backwards: bool = False, mode=None,
           name: str | None = None):
    """Theano's ``reduce``: ``scan``, keeping only the last step of each output: ``(results, updates)``.

    >>> import symgrad as sg, symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> total, _ = reduce(lambda v, acc: acc + v, x, T.constant(0.0))
    >>> float(sg.function([x], total, mode="numpy")([1.0, 2.0, 3.0]))
    6.0
    """
    outs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info, non_sequences=non_sequences,
                         go_backwards=go_backwards, mode=mode, name=name, return_list=True)
    last = [o[-1] for o in outs]
    return (last[0] if len(last) == 1 else last), updates


def foldl(fn: Callable, sequences, outputs_info, non_sequences=None, mode=None, name: str | None = None):
    """``reduce`` from the first element to the last (Theano's ``foldl``)."""
    return reduce(fn, sequences, outputs_info, non_sequences=non_sequences, go_backwards=False, mode=mode, name=name)


def foldr(fn: Callable, sequences, outputs_info, non_sequences=None, mode=None, name: str | None = None):
    """``reduce`` from the last element to the first (Theano's ``foldr``)."""
    return reduce(fn, sequences, outputs_info, non_sequences=non_sequences, go_backwards=True, mode=mode, name=name)
