"""The graph IR: types, variables, Apply nodes, the Op base, and iterative graph walks.

A graph is immutable once built: rewrites build new nodes instead of editing old ones.
Variables compare by identity; ops compare by their parameters, so two structurally equal
subgraphs can be merged and a compiled kernel can be keyed by the graph's content.

>>> import symgrad.tensor as T
>>> x = T.dvector("x")
>>> y = T.exp(x) + 1
>>> [str(n.op) for n in toposort([y])]
['Elemwise{exp(x0)}', 'Elemwise{x0 + 1}']
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

_TYPE_NAMES = {0: "scalar", 1: "vector", 2: "matrix", 3: "tensor3", 4: "tensor4"}


class TensorType:
    """An array type: a dtype and a broadcastable pattern (one bool per dimension).

    Instances are interned, so ``T.dvector is T.TensorType('float64', (False,))`` and types can
    be compared with ``is``. Calling a type makes a fresh variable of that type.

    >>> TensorType("float64", (False,)) is TensorType("float64", [False])
    True
    """

    __slots__ = ("dtype", "broadcastable")
    _interned: dict = {}

    def __new__(cls, dtype, broadcastable: Sequence[bool]):
        try:
            dt = np.dtype(dtype)
        except TypeError as e:
            raise TypeError(f"TensorType: unknown dtype {dtype!r}") from e
        if dt.kind not in "biuf":
            raise TypeError(f"TensorType: dtype must be bool, integer or float, got {dt.name}")
        key = (dt.name, tuple(bool(b) for b in broadcastable))
        self = cls._interned.get(key)
        if self is None:
            self = object.__new__(cls)
            object.__setattr__(self, "dtype", key[0])
            object.__setattr__(self, "broadcastable", key[1])
            cls._interned[key] = self
        return self

    def __setattr__(self, name, value):
        raise AttributeError("TensorType is immutable")

    def __reduce__(self):
        return (TensorType, (self.dtype, self.broadcastable))

    @property
    def ndim(self) -> int:
        return len(self.broadcastable)

    def kind_name(self) -> str:
        """'vector', 'matrix', 'row', 'col', ... as a person would say it."""
        bc = self.broadcastable
        if bc == (True, False):
            return "row"
        if bc == (False, True):
            return "col"
        if any(bc) or self.ndim > 4:
            return f"{self.ndim}-d tensor with broadcastable={bc}"
        return _TYPE_NAMES[self.ndim]

    def describe(self) -> str:
        """e.g. 'float64 vector' (used in error messages)."""
        return f"{self.dtype} {self.kind_name()}"

    def __call__(self, name: str | None = None):
        return self.make_variable(name=name)

    def make_variable(self, owner=None, index=None, name=None):
        from .tensor.variable import TensorVariable

        return TensorVariable(self, owner=owner, index=index, name=name)

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, {self.kind_name()})"


class Variable:
    """A value in the graph: an input (``owner is None``) or output ``index`` of ``owner``.

    Variables compare by identity. ``name`` is the only field meant to be changed after creation.
    """

    __slots__ = ("type", "owner", "index", "name", "__weakref__")

    def __init__(self, type: TensorType, owner: "Apply | None" = None, index: int | None = None,
                 name: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def broadcastable(self) -> tuple:
        return self.type.broadcastable

    def label(self) -> str:
        """How error messages name this variable (the one label function: graph building, the
        reference implementations and compiled functions all use it).

        >>> import symgrad.tensor as T
        >>> T.dvector("x").label(), T.exp(T.dvector()).label(), T.constant(1.0).label(), T.dvector().label()
        ("'x'", 'the result of Elemwise{exp(x0)}', 'a constant', '<unnamed float64 vector>')
        """
        if self.name:
            return repr(self.name)
        if self.owner is not None:
            return f"the result of {self.owner.op}"
        if isinstance(self, Constant):
            return "a constant"
        return f"<unnamed {self.type.describe()}>"

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.owner is not None:
            return f"{self.owner.op}.{self.index}" if len(self.owner.outputs) > 1 else f"{self.owner.op}.out"
        return f"<{self.type.describe()}>"


class Constant(Variable):
    """A variable with a fixed value (``data``, a read-only numpy array of the type's dtype)."""

    __slots__ = ("data",)

    def __init__(self, type: TensorType, data, name: str | None = None):
        super().__init__(type, name=name)
        arr = np.array(data, dtype=type.dtype)
        arr.setflags(write=False)
        self.data = arr

    def signature(self):
        """Content key: two constants with equal signatures are interchangeable."""
        return (self.type, self.data.shape, self.data.tobytes())

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.data.size <= 6:
            return np.array2string(self.data, separator=", ") if self.data.ndim else repr(self.data.item())
        return f"Constant{{{self.type.describe()}, shape={self.data.shape}}}"


class Apply:
    """One application of an op to input variables, producing output variables."""

    __slots__ = ("op", "inputs", "outputs", "__weakref__")

    def __init__(self, op: "Op", inputs: Sequence[Variable], output_types: Sequence[TensorType]):
        self.op = op
        self.inputs = tuple(inputs)
        self.outputs = tuple(t.make_variable(owner=self, index=i) for i, t in enumerate(output_types))

    def __repr__(self) -> str:
        return f"{self.op}({', '.join(map(repr, self.inputs))})"


class Op:
    """Base class of operations. Subclasses are frozen dataclasses: their fields are their identity.

    A subclass implements ``make_node(*inputs) -> Apply`` (checking and converting inputs,
    computing output types). Evaluation, differentiation and printing live in tables keyed by op
    type (backends, ``gradient.VJP_RULES``, ``printing``), not in the op.
    """

    def make_node(self, *inputs) -> Apply:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *inputs):
        node = self.make_node(*inputs)
        return node.outputs[0] if len(node.outputs) == 1 else list(node.outputs)

    def log_of(self, node: Apply) -> "Variable | None":
        """A graph for ``log`` of ``node``'s output better than an elementwise log of it, or None.
        (``Softmax`` answers its stable log-softmax: ``T.log(softmax(z))`` is finite for any logits.)"""
        return None

    def shape_source(self, node: Apply) -> "Variable | None":
        """An input of ``node`` whose shape is always its output's, or None. (``Softmax`` answers
        its input: ``p.shape`` of ``p = softmax(z)`` then never computes ``p``.)"""
        return None


def toposort(outputs: Iterable[Variable]) -> list[Apply]:
    """Apply nodes needed to compute ``outputs``, every node after the nodes it depends on.

    Iterative depth-first post-order, so the order is deterministic (it follows input order)
    and deep graphs do not hit Python's recursion limit.
    """
    order: list[Apply] = []
    done: set[int] = set()
    for out in outputs:
        if out.owner is None or id(out.owner) in done:
            continue
        stack = [(out.owner, 0)]
        on_stack = {id(out.owner)}
        while stack:
            node, i = stack[-1]
            if i < len(node.inputs):
                stack[-1] = (node, i + 1)
                parent = node.inputs[i].owner
                if parent is not None and id(parent) not in done and id(parent) not in on_stack:
                    stack.append((parent, 0))
                    on_stack.add(id(parent))
            else:
                stack.pop()
                on_stack.discard(id(node))
                done.add(id(node))
                order.append(node)
    return order


def graph_inputs(outputs: Iterable[Variable]) -> list[Variable]:
    """The root variables (no owner) that ``outputs`` depend on, in first-seen order."""
    outputs = list(outputs)
    seen: dict[int, Variable] = {}
    for v in outputs:
        if v.owner is None:
            seen.setdefault(id(v), v)
    for node in toposort(outputs):
        for v in node.inputs:
            if v.owner is None:
                seen.setdefault(id(v), v)
    return list(seen.values())


def clients(outputs: Sequence[Variable]) -> dict[int, list[tuple[Apply, int]]]:
    """Map ``id(variable)`` to the (node, input position) pairs that consume it."""
    result: dict[int, list] = {}
    for node in toposort(outputs):
        for i, v in enumerate(node.inputs):
            result.setdefault(id(v), []).append((node, i))
    return result


def with_inputs(node: Apply, inputs: Sequence[Variable]) -> Apply:
    """``node`` itself when ``inputs`` are its inputs, else a new node of its op on ``inputs``.

    >>> import symgrad.tensor as T
    >>> x, y = T.dvector("x"), T.dvector("y")
    >>> node = T.exp(x).owner
    >>> with_inputs(node, [x]) is node, with_inputs(node, [y]).inputs == (y,)
    (True, True)
    """
    if len(inputs) == len(node.inputs) and all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    return node.op.make_node(*inputs)


RewriteNode = Callable[[Apply, list], "Apply | Sequence[Variable] | None"]


def rebuild_graph(outputs: Sequence[Variable], rewrite_node: RewriteNode | None = None,
                  memo: dict | None = None) -> list[Variable]:
    """Rebuild ``outputs`` node by node: the walk every rewrite pass shares.

    Nodes are visited in :func:`toposort` order. ``rewrite_node(node, inputs)`` gets each node with
    its inputs as already rebuilt and returns ``None`` (keep it: it is rebuilt on the new inputs if
    they changed), a node whose outputs replace the node's (they keep the old outputs' names), or
    a list of variables that replace them as they are (a folded constant stays unnamed).
    ``memo`` maps ``id(old variable)`` to its replacement: seed it to replace variables from the
    start (a node whose outputs are all replaced is skipped), read it from ``rewrite_node`` to
    find what an earlier node became. Unchanged parts of the graph are shared, not copied.

    >>> import symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> y = T.exp(x) + 1
    >>> y.name = "y"
    >>> exp = T.exp(x).owner.op  # ops compare by their parameters
    >>> def log_for_exp(node, inputs):
    ...     return T.log(*inputs).owner if node.op == exp else None
    >>> (z,) = rebuild_graph([y], log_for_exp)
    >>> z.name, str(z.owner.inputs[0].owner.op)
    ('y', 'Elemwise{log(x0)}')
    """
    memo = {} if memo is None else memo
    for node in toposort(outputs):
        if all(id(o) in memo for o in node.outputs):
            continue
        inputs = [memo.get(id(v), v) for v in node.inputs]
        new = rewrite_node(node, inputs) if rewrite_node is not None else None
        if new is None:
            new = with_inputs(node, inputs)
        keep_names = isinstance(new, Apply)
        for old, nw in zip(node.outputs, new.outputs if keep_names else new):
            if nw is old or id(old) in memo:
                continue
            if keep_names and not nw.name:
                nw.name = old.name
            memo[id(old)] = nw
    return [memo.get(id(v), v) for v in outputs]


def clone_replace(outputs: Sequence[Variable], replace: dict) -> list[Variable]:
    """Rebuild ``outputs`` with each key of ``replace`` (a Variable) swapped for its value.

    Nodes that depend on a replaced variable are rebuilt with ``op.make_node``; the rest are
    shared with the original graph (graphs are immutable, so sharing is safe).
    """
    return rebuild_graph(outputs, memo={id(k): v for k, v in replace.items()})


def flatten_graph(outputs: list[Variable], extra: list[Variable]) -> tuple:
    """The graph as flat lists: (leaves, nodes as (op, input ids, names), output ids, extra ids);
    what a compiled function pickles and what the plan cache hashes. ``extra`` are variables to
    number too (inputs, updated shared variables), leaves or not."""
    leaves = graph_inputs(outputs)
    ids = {id(v): i for i, v in enumerate(leaves)}
    for v in extra:
        if id(v) not in ids:
            ids[id(v)] = len(ids)
            leaves.append(v)
    nodes = []
    for node in toposort(outputs):
        nodes.append((node.op, [ids[id(v)] for v in node.inputs], [o.name for o in node.outputs]))
        for o in node.outputs:
            ids[id(o)] = len(ids)
    return leaves, nodes, [ids[id(v)] for v in outputs], [ids[id(v)] for v in extra]


def unflatten_graph(state: tuple) -> tuple[list[Variable], list[Variable]]:
    """The outputs and extra variables of a graph rebuilt from :func:`flatten_graph`'s lists."""
    leaves, nodes, out_ids, extra_ids = state
    table: list[Variable] = list(leaves)
    for op, in_ids, names in nodes:
        node: Apply = op.make_node(*[table[i] for i in in_ids])
        for o, nm in zip(node.outputs, names):
            o.name = nm
        table.extend(node.outputs)
    return [table[i] for i in out_ids], [table[i] for i in extra_ids]
