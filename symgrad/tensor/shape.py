"""Structural shape ops: Shape, Shape_i (one entry of a shape), DimShuffle (transpose / add or drop broadcastable dims),
Reshape, MakeVector, ARange, Join, Alloc (a value broadcast to a symbolic shape: ``alloc``, ``zeros``,
``ones``), SpecifyShape (a run-time shape check), Assert (a run-time check).

>>> import symgrad.tensor as T
>>> X = T.dmatrix("X")
>>> X.T.broadcastable, X.dimshuffle(0, 'x', 1).broadcastable
((False, False), (False, True, False))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import config
from ..graph import Apply, Constant, Op, TensorType, Variable
from .elemwise import cast
from .indexing import getitem
from .variable import as_tensor_variable


def _as_int_scalar(v, what: str) -> Variable:
    v = as_tensor_variable(v)
    if v.ndim != 0 or v.dtype[0] not in "iub":
        raise TypeError(f"{what} must be an integer scalar, got {v.type.describe()}")
    return v


@dataclass(frozen=True)
class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (False,))])

    def __str__(self):
        return "Shape"


@dataclass(frozen=True)
class DimShuffle(Op):
    """Reorder dims; ``'x'`` inserts a broadcastable dim; dims left out are dropped (must be broadcastable)."""

    input_ndim: int
    new_order: tuple

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise TypeError(f"{self}: expected a {self.input_ndim}-d input, got {x.type.describe()}")
        bc = tuple(True if d == "x" else x.broadcastable[d] for d in self.new_order)
        return Apply(self, [x], [TensorType(x.dtype, bc)])

    @property
    def dropped(self) -> tuple:
        return tuple(i for i in range(self.input_ndim) if i not in self.new_order)

    def __str__(self):
        return f"DimShuffle{{{','.join(map(str, self.new_order))}}}"


def dimshuffle(x, pattern) -> Variable:
    """Theano's dimshuffle: ``x.dimshuffle(1, 0)`` transposes, ``'x'`` adds a broadcastable dim."""
    x = as_tensor_variable(x)
    pattern = tuple(pattern)
    for d in pattern:
        if d != "x" and not (isinstance(d, (int, np.integer)) and 0 <= d < x.ndim):
            raise ValueError(f"dimshuffle of {x.label()} ({x.type.describe()}): invalid entry {d!r} in {pattern}")
    pattern = tuple(d if d == "x" else int(d) for d in pattern)
    kept = [d for d in pattern if d != "x"]
    if len(set(kept)) != len(kept):
        raise ValueError(f"dimshuffle of {x.label()}: repeated dimension in {pattern}")
    for d in range(x.ndim):
        if d not in kept and not x.broadcastable[d]:
            raise ValueError(f"dimshuffle of {x.label()} ({x.type.describe()}) cannot drop dimension {d}: "
                             "it is not broadcastable")
    if pattern == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.ndim, pattern)(x)


def transpose(x, axes=None) -> Variable:
    """Reverse (or permute by ``axes``) the dimensions, like numpy.transpose."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(a + x.ndim if isinstance(a, (int, np.integer)) and a < 0 else a for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose of {x.label()} ({x.type.describe()}): axes {axes} are not a permutation")
    return dimshuffle(x, axes)


def shape(x) -> Variable:
    """Symbolic shape (int64 vector); ``x.shape[0]`` is an int64 scalar."""
    return Shape()(as_tensor_variable(x))


@dataclass(frozen=True)
class Shape_i(Op):
    """The length of axis ``i`` of a tensor, an int64 scalar: what the optimizer makes of
    ``x.shape[i]`` for a constant ``i`` (Theano's ``Shape_i``; rewrite/shape_of.py), so a backend
    reads one length instead of building the whole shape vector and indexing it.

    >>> import numpy as np, symgrad.tensor as T
    >>> X = T.dmatrix("X")
    >>> n = Shape_i(1)(X)
    >>> str(n.owner.op), int(n.eval({X: np.zeros((2, 3))}))
    ('Shape_i{1}', 3)
    """

    i: int

    def make_node(self, x) -> Apply:
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise TypeError(f"Shape_i{{{self.i}}}: {x.label()} ({x.type.describe()}) has no axis {self.i}")
        return Apply(self, [x], [TensorType("int64", ())])

    def __str__(self):
        return f"Shape_i{{{self.i}}}"


def shape_i(x, i: int) -> Variable:
    """``x.shape[i]`` (an int64 scalar; the optimizer turns it into ``Shape_i`` for a constant ``i``)."""
    return getitem(shape(x), i)


@dataclass(frozen=True)
class MakeVector(Op):
    """Stack scalars into a vector of ``dtype``."""

    dtype: str

    def make_node(self, *scalars) -> Apply:
        scalars = [as_tensor_variable(s) for s in scalars]
        for s in scalars:
            if s.ndim != 0:
                raise TypeError(f"MakeVector: expected scalars, got {s.type.describe()}")
        return Apply(self, scalars, [TensorType(self.dtype, (False,))])

    def __str__(self):
        return f"MakeVector{{{self.dtype}}}"


@dataclass(frozen=True)
class Reshape(Op):
    """Reshape to an ``ndim``-d array; the shape is an int64 vector input (one entry may be -1)."""

    ndim: int

    def make_node(self, x, shp) -> Apply:
        x, shp = as_tensor_variable(x), as_tensor_variable(shp)
        bc = [False] * self.ndim
        if shp.owner is not None and isinstance(shp.owner.op, MakeVector):
            bc = [isinstance(s, Constant) and s.data == 1 for s in shp.owner.inputs]
        elif isinstance(shp, Constant):
            bc = [int(s) == 1 for s in shp.data]
        return Apply(self, [x, shp], [TensorType(x.dtype, tuple(bc))])

    def __str__(self):
        return f"Reshape{{{self.ndim}}}"


def reshape(x, newshape, ndim: int | None = None) -> Variable:
    """numpy-style reshape; ``newshape`` may mix ints and symbolic scalars (``-1`` allowed once)."""
    x = as_tensor_variable(x)
    if isinstance(newshape, (int, np.integer)) or (isinstance(newshape, Variable) and newshape.ndim == 0):
        newshape = (newshape,)
    if isinstance(newshape, Variable):
        if newshape.ndim != 1 or newshape.dtype[0] not in "iu":
            raise TypeError(f"reshape of {x.label()}: shape must be an integer vector, got {newshape.type.describe()}")
        if ndim is None:
            raise ValueError(f"reshape of {x.label()} with a symbolic shape vector needs ndim=")
        shp = cast_int64(newshape)
    else:
        entries = list(newshape)
        if sum(1 for e in entries if isinstance(e, (int, np.integer)) and e == -1) > 1:
            raise ValueError(f"reshape of {x.label()}: only one dimension can be -1, got {tuple(newshape)}")
        ndim = len(entries)
        shp = MakeVector("int64")(*[cast_int64(_as_int_scalar(e, "reshape dimension")) for e in entries])
    return Reshape(ndim)(x, shp)


def cast_int64(v):
    return cast(v, "int64")


def flatten(x, ndim: int = 1) -> Variable:
    """Keep the first ``ndim - 1`` dimensions and flatten the rest into one."""
    x = as_tensor_variable(x)
    if not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten of {x.label()} ({x.type.describe()}): ndim must be in [1, {max(x.ndim, 1)}], got {ndim}")
    lead = [shape_i(x, i) for i in range(ndim - 1)]
    if x.ndim <= 1:
        return reshape(x, lead + [-1])
    # The product of the trailing sizes, not -1: numpy cannot infer -1 for an empty array
    # ((0, 2, 3) flattened to 2 dims is (0, 6)).
    rest = shape_i(x, ndim - 1)
    for i in range(ndim, x.ndim):
        rest = rest * shape_i(x, i)
    return reshape(x, lead + [rest])


@dataclass(frozen=True)
class ARange(Op):
    """numpy.arange(start, stop, step) with scalar inputs."""

    dtype: str

    def make_node(self, start, stop, step) -> Apply:
        ins = [_as_int_scalar(v, "arange bound") if self.dtype[0] in "iu" else as_tensor_variable(v)
               for v in (start, stop, step)]
        return Apply(self, ins, [TensorType(self.dtype, (False,))])

    def __str__(self):
        return f"ARange{{{self.dtype}}}"


def arange(start, stop=None, step=1, dtype: str | None = None) -> Variable:
    """Symbolic numpy.arange; ``T.arange(n)`` with ``n`` symbolic gives 0..n-1."""
    if stop is None:
        start, stop = 0, start
    ins = [as_tensor_variable(v) for v in (start, stop, step)]
    if dtype is None:
        dtype = np.result_type(*[np.empty((), v.dtype) for v in ins]).name
        if dtype[0] in "ub":
            dtype = "int64"
    return ARange(dtype)(*ins)


@dataclass(frozen=True)
class Alloc(Op):
    """A new array of the shape given by the scalar inputs after the first, filled with the first
    (broadcast along its leading and broadcastable dimensions); Theano's ``Alloc``.

    Dimensions whose size is the constant 1 are broadcastable, as in Theano; the value's other
    dimensions must have the sizes asked for (checked when the function runs).
    """

    def make_node(self, value, *shape) -> Apply:
        value = as_tensor_variable(value)
        shape = [_as_int_scalar(s, f"alloc: shape entry {i}") for i, s in enumerate(shape)]
        if value.ndim > len(shape):
            raise TypeError(f"alloc: the value {value.label()} ({value.type.describe()}) has more dimensions "
                            f"than the {len(shape)} requested")
        for i, s in enumerate(shape):
            if isinstance(s, Constant) and int(s.data) < 0:
                raise ValueError(f"alloc of {value.label()}: shape entry {i} is negative ({int(s.data)})")
        bc = tuple(isinstance(s, Constant) and int(s.data) == 1 for s in shape)
        return Apply(self, [value, *(cast_int64(s) for s in shape)], [TensorType(value.dtype, bc)])

    def __str__(self):
        return "Alloc"


def alloc(value, *shape) -> Variable:
    """Theano's ``T.alloc(value, *shape)``: ``value`` broadcast to ``shape`` in a new array.

    >>> import symgrad.tensor as T
    >>> n = T.lscalar("n")
    >>> T.alloc(0.5, n, 2).eval({n: 3}).tolist()
    [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]
    >>> T.alloc(T.dvector("v"), 2, 1, n).broadcastable
    (False, True, False)
    """
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    return Alloc()(value, *shape)


def _filled(value, shape, dtype: str | None, who: str) -> Variable:
    if isinstance(shape, (int, np.integer)) or (isinstance(shape, Variable) and shape.ndim == 0):
        shape = (shape,)
    if isinstance(shape, Variable):  # a symbolic shape vector of known length (x.shape)
        if shape.ndim != 1 or shape.dtype[0] not in "iu":
            raise TypeError(f"{who}: shape must be an integer vector or a sequence, got {shape.type.describe()}")
        length = _static_length(shape)
        if length is None:
            raise ValueError(f"{who}: the length of the shape vector {shape.label()} must be known; "
                             "pass a tuple (T.zeros((n, m)))")
        shape = [shape[i] for i in range(length)]
    return alloc(np.array(value, dtype=dtype or config.floatX), *shape)


def _static_length(v: Variable) -> int | None:
    if isinstance(v, Constant):
        return int(v.data.shape[0])
    if v.owner is not None and isinstance(v.owner.op, Shape):
        return v.owner.inputs[0].ndim
    if v.owner is not None and isinstance(v.owner.op, MakeVector):
        return len(v.owner.inputs)
    return None


def zeros(shape, dtype: str | None = None) -> Variable:
    """Theano's ``T.zeros(shape, dtype=floatX)``: a new array of zeros; ``shape`` may be symbolic.

    >>> import symgrad.tensor as T
    >>> x = T.dmatrix("x")
    >>> T.zeros(x.shape).eval({x: [[1.0, 2.0]]}).tolist()
    [[0.0, 0.0]]
    """
    return _filled(0, shape, dtype, "zeros")


def ones(shape, dtype: str | None = None) -> Variable:
    """Theano's ``T.ones(shape, dtype=floatX)``: a new array of ones; ``shape`` may be symbolic.

    >>> import symgrad.tensor as T
    >>> T.ones((2,), dtype="int64").eval().tolist()
    [1, 1]
    """
    return _filled(1, shape, dtype, "ones")


@dataclass(frozen=True)
class Join(Op):
    """Concatenate tensors of equal ndim along ``axis``."""

    axis: int

    def make_node(self, *tensors) -> Apply:
        tensors = [as_tensor_variable(t) for t in tensors]
        ndim = tensors[0].ndim
        for t in tensors:
            if t.ndim != ndim:
                raise TypeError(f"join: all inputs must have the same ndim, got {[t.type.describe() for t in tensors]}")
        dtype = np.result_type(*[np.empty((), t.dtype) for t in tensors]).name
        tensors = [cast(t, dtype) for t in tensors]
        bc = [all(t.broadcastable[d] for t in tensors) for d in range(ndim)]
        bc[self.axis] = False
        return Apply(self, tensors, [TensorType(dtype, tuple(bc))])

    def __str__(self):
        return f"Join{{axis={self.axis}}}"


def _norm_axis(axis: int, ndim: int, who: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{who}: axis {axis} is out of bounds for a {ndim}-d tensor")
    return axis % ndim


def concatenate(tensors, axis: int = 0) -> Variable:
    """Join along an existing axis (numpy.concatenate)."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    if tensors[0].ndim == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated; use stack")
    if len(tensors) == 1:
        return tensors[0]
    return Join(_norm_axis(axis, tensors[0].ndim, "concatenate"))(*tensors)


def join(axis: int, *tensors) -> Variable:
    """Theano's ``T.join(axis, a, b, ...)``."""
    return concatenate(tensors, axis=axis)


def stack(tensors, axis: int = 0) -> Variable:
    """Join along a new axis (numpy.stack)."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    ndim = tensors[0].ndim
    axis = _norm_axis(axis, ndim + 1, "stack")
    if ndim == 0 and all(t.ndim == 0 for t in tensors):
        dtype = np.result_type(*[np.empty((), t.dtype) for t in tensors]).name
        return MakeVector(dtype)(*[cast(t, dtype) for t in tensors])
    expanded = [dimshuffle(t, list(range(axis)) + ["x"] + list(range(axis, t.ndim))) for t in tensors]
    return Join(axis)(*expanded)


@dataclass(frozen=True)
class SpecifyShape(Op):
    """``x`` unchanged, after checking at run time that its shape is the given one.

    ``checked`` has one flag per dimension of ``x``; each checked dimension's expected size is an
    int64 scalar input after ``x``.
    """

    checked: tuple

    def make_node(self, x, *dims) -> Apply:
        x = as_tensor_variable(x)
        if len(self.checked) != x.ndim:
            raise TypeError(f"specify_shape: {x.label()} ({x.type.describe()}) has {x.ndim} dimension(s), "
                            f"the shape has {len(self.checked)}")
        if len(dims) != sum(self.checked):
            raise TypeError(f"SpecifyShape: expected {sum(self.checked)} dimension sizes, got {len(dims)}")
        dims = [cast_int64(_as_int_scalar(d, "specify_shape: a dimension size")) for d in dims]
        return Apply(self, [x, *dims], [x.type])

    def __str__(self):
        return "SpecifyShape"


def specify_shape(x, shape) -> Variable:
    """``x``, checked when the function runs to have ``shape`` (a ``ValueError`` naming ``x``, the
    expected and the actual shape otherwise). ``shape`` is a tuple of ints, symbolic integer
    scalars or ``None`` (any size), or a symbolic integer vector such as ``y.shape``. The gradient
    passes through unchanged.

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> x = T.dmatrix("x")
    >>> f = sg.function([x], specify_shape(x, (2, None)).sum(), mode="numpy")
    >>> float(f(np.ones((2, 3))))
    6.0
    """
    x = as_tensor_variable(x)
    if isinstance(shape, Variable) and shape.ndim == 1:
        if shape.dtype[0] not in "iu":
            raise TypeError(f"specify_shape of {x.label()}: the shape must be an integer vector, "
                            f"got {shape.label()} ({shape.type.describe()})")
        shape = [getitem(shape, i) for i in range(x.ndim)]
    elif isinstance(shape, (int, np.integer)) or (isinstance(shape, Variable) and shape.ndim == 0):
        shape = (shape,)
    entries = list(shape)
    if len(entries) != x.ndim:
        raise ValueError(f"specify_shape of {x.label()} ({x.type.describe()}): the shape {tuple(entries)} has "
                         f"{len(entries)} entries, expected {x.ndim}")
    for d, e in enumerate(entries):
        if e is None:
            continue
        if isinstance(e, (int, np.integer)) and not isinstance(e, bool):
            if e < 0 or (x.broadcastable[d] and e != 1):
                raise ValueError(f"specify_shape of {x.label()} ({x.type.describe()}): size {e} is not possible "
                                 f"for dimension {d}")
        elif not (isinstance(e, Variable) and e.ndim == 0 and e.dtype[0] in "iu"):
            raise TypeError(f"specify_shape of {x.label()}: shape entries must be ints, integer scalars or None, "
                            f"got {e!r} for dimension {d}")
    checked = tuple(e is not None for e in entries)
    if not any(checked):
        return x
    return SpecifyShape(checked)(x, *[e for e in entries if e is not None])


@dataclass(frozen=True)
class Assert(Op):
    """``x`` unchanged, after checking at run time that the scalar ``cond`` is true (else a
    ``ValueError`` with ``message``). Theano's ``Assert``; the gradient passes through ``x``."""

    message: str

    def make_node(self, x, cond) -> Apply:
        x, cond = as_tensor_variable(x), as_tensor_variable(cond)
        if cond.ndim != 0:
            raise TypeError(f"Assert: the condition must be a scalar, got {cond.label()} ({cond.type.describe()})")
        return Apply(self, [x, cond], [x.type])

    def __str__(self):
        return "Assert"


def assert_op(x, cond, message: str = "assertion failed") -> Variable:
    """``x``, checked when the function runs: a ``ValueError(message)`` if ``cond`` is false.

    >>> import symgrad as sg, symgrad.tensor as T
    >>> x = T.dvector("x")
    >>> f = sg.function([x], assert_op(x, x.shape[0] > 1, "x is too short").sum(), mode="numpy")
    >>> float(f([1.0, 2.0]))
    3.0
    """
    return Assert(message)(x, cond)
