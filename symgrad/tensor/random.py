"""Random ops: pure graph ops ``(state, size, ...) -> (new_state, sample)``.

A random draw never hides state: its generator state is an ordinary input (a shared integer array)
and its new state an ordinary output, which the stream classes make the state variable's
``default_update``; ``function``, ``Function.loop`` and ``scan`` thread it like any other update.
The generators are integer arithmetic written once here, in a form that runs both on numpy arrays
(the reference, ``tensor/reference.py``, vectorized over streams) and on scalars inside numba
kernels (``backend/numba/random.py`` jits the same functions), so both backends give the same bits.

- ``MRGUniform``: L'Ecuyer's MRG31k3p as Theano's ``theano.sandbox.rng_mrg`` runs it: the state is an
  int32 ``(n_streams, 6)`` matrix, element ``i`` of a sample comes from stream ``i % n_streams``,
  with Theano's int32 arithmetic (wrapping sums and all) and its conversion to floats in (0, 1).
- ``MultinomialFromUniform``, ``ChoiceFromUniform``: categorical draws from given uniforms (Theano's
  ``theano.sandbox.multinomial`` ops).

Users draw through ``symgrad.sandbox.rng_mrg.MRG_RandomStreams``.

>>> import numpy as np, symgrad.tensor as T
>>> state = T.TensorType("int32", (False, False))("state")
>>> new_state, u = MRGUniform("float64", 1)(state, T.constant(np.array([3])))
>>> u.type.describe(), new_state.type is state.type
('float64 vector', True)
"""
from __future__ import annotations

import itertools
import weakref
from dataclasses import dataclass

import numpy as np

from ..graph import Apply, Constant, Op, TensorType, Variable
from .elemwise import Elemwise, cast
from .shape import MakeVector, Shape
from .variable import TensorVariable, as_tensor_variable

__all__ = ["MRGUniform", "MultinomialFromUniform", "ChoiceFromUniform", "mrg31k3p_step", "mrg_substreams", "mrg_jump",
           "as_size", "M1", "M2", "RandomStateDraw", "RandomStatePermutation", "RandomStateChoice",
           "RandomStateMultinomial", "pack_random_state", "unpack_random_state", "MT_STATE_SIZE", "RandomVariable",
           "as_random_variable", "RANDOM_OPS", "draw_serial", "made_before"]

# MRG31k3p (L'Ecuyer & Touzin 2000), with the constants Theano uses.
M1 = 2147483647  # 2**31 - 1: modulus of the first component
M2 = 2147462579  # 2**31 - 21069: modulus of the second
MASK12 = 511  # 2**9 - 1
MASK13 = 16777215  # 2**24 - 1
MASK2 = 65535  # 2**16 - 1
MULT2 = 21069
NORM64 = 4.656612873077392578125e-10  # 2**-31: k in [1, M1] maps into (0, 1) exactly
# Theano's float32 factor: the largest float32 with float32(M1) * NORM32 < 1, so float32 samples
# stay in (0, 1) too (float32(M1) rounds up to 2**31).
NORM32 = np.float32(4.6566126e-10)

# Jump-ahead matrices (A**(2**72) and A**(2**134) of each component): consecutive streams of a draw
# start 2**72 steps apart, consecutive draws 2**134 apart.
A1P72 = ((1516919229, 758510237, 499121365), (1884998244, 1516919229, 335398200),
         (601897748, 1884998244, 358115744))
A2P72 = ((1228857673, 1496414766, 954677935), (1133297478, 1407477216, 1496414766),
         (2002613992, 1639496704, 1407477216))
A1P134 = ((1702500920, 1849582496, 1656874625), (828554832, 1702500920, 1512419905),
          (1143731069, 828554832, 102237247))
A2P134 = ((796789021, 1464208080, 607337906), (1241679051, 1431130166, 1464208080),
          (1401213391, 1178684362, 1431130166))


def mrg31k3p_step(x11, x12, x13, x21, x22, x23):
    """One MRG31k3p step on int64 values (numpy arrays: one step of every stream; or scalars, inside
    numba kernels, which jit this very function): the new state and ``k`` in [1, M1], the sample's
    integer (``k * 2**-31`` is the float64 sample). Branch-free, so arrays and scalars share it; the
    sums wrap to int32 where Theano's C code does, so the bits are Theano's.

    >>> mrg31k3p_step(12345, 12345, 12345, 12345, 12345, 12345)[6]
    np.int64(1579097239)
    """
    def _wrap32(v):  # int64 to int32's range, as Theano's int32 sums wrap (inner: numba compiles it inline)
        return ((v + 2147483648) & 4294967295) - 2147483648

    x11, x12, x13 = np.int64(x11), np.int64(x12), np.int64(x13)
    x21, x22, x23 = np.int64(x21), np.int64(x22), np.int64(x23)
    y1 = _wrap32(((x12 & MASK12) << 22) + (x12 >> 9) + ((x13 & MASK13) << 7) + (x13 >> 24))
    y1 = _wrap32(y1 - M1 * ((y1 < 0) | (y1 >= M1)))
    y1 = _wrap32(y1 + x13)
    y1 = _wrap32(y1 - M1 * ((y1 < 0) | (y1 >= M1)))
    z1 = _wrap32(((x21 & MASK2) << 15) + MULT2 * (x21 >> 16))
    z1 = _wrap32(z1 - M2 * ((z1 < 0) | (z1 >= M2)))
    y2 = _wrap32(((x23 & MASK2) << 15) + MULT2 * (x23 >> 16))
    y2 = _wrap32(y2 - M2 * ((y2 < 0) | (y2 >= M2)))
    y2 = _wrap32(y2 + x23)
    y2 = _wrap32(y2 - M2 * ((y2 < 0) | (y2 >= M2)))
    y2 = _wrap32(y2 + z1)
    y2 = _wrap32(y2 - M2 * ((y2 < 0) | (y2 >= M2)))
    k = y1 - y2 + M1 * (y1 <= y2)
    return y1, x11, x12, y2, x21, x22, k


def mrg_jump(state, a1, a2) -> np.ndarray:
    """The 6-vector ``state`` advanced by the jump matrices ``a1`` (first component, mod M1) and
    ``a2`` (second, mod M2), as int32: Theano's ``multMatVect``.

    >>> mrg_jump([1, 0, 0, 1, 0, 0], A1P72, A2P72).tolist()
    [1516919229, 1884998244, 601897748, 1228857673, 1133297478, 2002613992]
    """
    s = [int(v) for v in state]
    first = [sum((a * v) % M1 for a, v in zip(row, s[:3])) % M1 for row in a1]
    second = [sum((a * v) % M2 for a, v in zip(row, s[3:])) % M2 for row in a2]
    return np.array(first + second, dtype="int32")


def _apply_mod(a: np.ndarray, rows: np.ndarray, m: int) -> np.ndarray:
    """``a @ row mod m`` for each row (int64; each product is reduced before the sum, so nothing
    overflows: entries are below 2**31)."""
    return ((rows[:, None, :] * a[None, :, :]) % m).sum(axis=2) % m


def mrg_substreams(rstate, n_streams: int) -> np.ndarray:
    """The ``(n_streams, 6)`` int32 start states of one draw: ``rstate`` and each next row 2**72
    steps further (Theano's ``get_substream_rstates``). Rows are filled by doubling (rows
    ``[k, 2k)`` are rows ``[0, k)`` jumped by ``A**k``), exact modular arithmetic like the
    row-by-row jumps, in a few numpy operations even for Theano's 15360 streams.

    >>> mrg_substreams(np.full(6, 12345), 2)[1].tolist() == mrg_jump(np.full(6, 12345), A1P72, A2P72).tolist()
    True
    """
    out = np.empty((n_streams, 6), dtype=np.int64)
    out[0] = np.asarray(rstate, dtype=np.int64)
    a1, a2 = np.array(A1P72, dtype=np.int64), np.array(A2P72, dtype=np.int64)
    k = 1
    while k < n_streams:
        m = min(k, n_streams - k)
        out[k:k + m, :3] = _apply_mod(a1, out[:m, :3], M1)
        out[k:k + m, 3:] = _apply_mod(a2, out[:m, 3:], M2)
        a1 = _apply_mod(a1, a1.T.copy(), M1).T  # a1 @ a1 (mod M1): jumps of 2k rows next
        a2 = _apply_mod(a2, a2.T.copy(), M2).T
        k *= 2
    return out.astype(np.int32)


# When each draw node was made (a serial number per node; weak keys): scan's front end tells a
# draw made before the step function ran (an outside value, drawn once per call) from one the
# step made (drawn every step), as Theano does.
_DRAW_SERIAL: "weakref.WeakKeyDictionary[Apply, int]" = weakref.WeakKeyDictionary()
_COUNTER = itertools.count()


def _record(node: Apply) -> Apply:
    _DRAW_SERIAL[node] = next(_COUNTER)
    return node


def draw_serial() -> int:
    """A number below the serial of every draw node made from now on (and above every earlier one).

    >>> draw_serial() < draw_serial()
    True
    """
    return next(_COUNTER)


def made_before(node: Apply, serial: int) -> bool:
    """Whether ``node`` is a draw made before ``draw_serial()`` returned ``serial``."""
    made = _DRAW_SERIAL.get(node)
    return made is not None and made < serial


def _static_length(v: Variable) -> int | None:
    """The length of an integer vector when the graph says it (a constant, MakeVector, Shape, or
    an elementwise cast of one of these)."""
    while True:
        if isinstance(v, Constant):
            return int(v.data.shape[0])
        node = v.owner
        if node is None:
            return None
        if isinstance(node.op, MakeVector):
            return len(node.inputs)
        if isinstance(node.op, Shape):
            return node.inputs[0].ndim
        if isinstance(node.op, Elemwise) and len(node.inputs) == 1 and node.inputs[0].ndim == 1:
            v = node.inputs[0]
            continue
        return None


def as_size(size, ndim: int | None, who: str) -> tuple[Variable, int, tuple | None]:
    """``size`` as ``(int64 vector, ndim, static shape or None)``.

    ``size`` is a tuple/list of ints and integer scalars (symbolic ones included), or an integer
    vector such as ``x.shape``; ``ndim`` is needed only when the vector's length is not known from
    the graph. Negative sizes, non-integers and an ``ndim`` that disagrees are errors naming ``who``.

    >>> as_size((2, 3), None, "uniform")[1:]
    (2, (2, 3))
    """
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size,)
    if isinstance(size, (tuple, list)):
        entries = []
        static = []
        for i, s in enumerate(size):
            if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
                if s < 0:
                    raise ValueError(f"{who}: size[{i}] is {int(s)}; sizes must be >= 0 (size={tuple(size)})")
                entries.append(as_tensor_variable(np.int64(s)))
                static.append(int(s))
                continue
            if not isinstance(s, Variable) or s.ndim != 0 or s.dtype[0] not in "iu":
                what = s.type.describe() if isinstance(s, Variable) else type(s).__name__
                raise TypeError(f"{who}: size[{i}] must be an int or an integer scalar variable, got {what}")
            entries.append(cast(s, "int64"))
            static = None if static is None else static + [None]
        if ndim is not None and ndim != len(entries):
            raise ValueError(f"{who}: ndim={ndim} but size has {len(entries)} entries")
        known = tuple(static) if static is not None and None not in static else None
        vec = MakeVector("int64")(*entries) if entries else as_tensor_variable(np.zeros(0, dtype="int64"))
        return vec, len(entries), known
    if isinstance(size, Variable):
        if size.ndim != 1 or size.dtype[0] not in "iu":
            raise TypeError(f"{who}: size must be a tuple of ints or an integer vector variable, "
                            f"got {size.label()} ({size.type.describe()})")
        length = _static_length(size)
        if ndim is None:
            if length is None:
                raise ValueError(f"{who}: the length of size {size.label()} is not known from the graph; pass ndim=")
            ndim = length
        elif length is not None and length != ndim:
            raise ValueError(f"{who}: ndim={ndim} but size {size.label()} has {length} entries")
        return cast(size, "int64"), ndim, None
    raise TypeError(f"{who}: size must be a tuple of ints or an integer vector variable, got {type(size).__name__}")


@dataclass(frozen=True)
class MRGUniform(Op):
    """``(rstate, size) -> (new_rstate, sample)``: uniform samples in (0, 1) of ``dtype`` (float32 or
    float64) and shape ``size``, element ``i`` from stream ``i % n_streams`` of the int32
    ``(n_streams, 6)`` MRG31k3p state. Not differentiable (no gradient flows to the state or size)."""

    dtype: str
    ndim: int

    def make_node(self, rstate, size) -> Apply:
        rstate, size = as_tensor_variable(rstate), as_tensor_variable(size)
        if self.dtype not in ("float32", "float64"):
            raise TypeError(f"MRGUniform: dtype must be float32 or float64, got {self.dtype}")
        if rstate.dtype != "int32" or rstate.ndim != 2:
            raise TypeError(f"MRGUniform: the state {rstate.label()} must be an int32 matrix (n_streams, 6), "
                            f"got {rstate.type.describe()}")
        if size.ndim != 1 or size.dtype[0] not in "iu":
            raise TypeError(f"MRGUniform: size {size.label()} must be an integer vector, got {size.type.describe()}")
        length = _static_length(size)
        if length is not None and length != self.ndim:
            raise ValueError(f"MRGUniform: size {size.label()} has {length} entries for a {self.ndim}-d sample")
        return _record(Apply(self, [rstate, size], [rstate.type, TensorType(self.dtype, (False,) * self.ndim)]))

    def __str__(self):
        return f"MRGUniform{{{self.dtype},{self.ndim}}}"


def _check_pvals(pvals, who: str) -> Variable:
    pvals = as_tensor_variable(pvals)
    if pvals.ndim != 2 or pvals.dtype[0] != "f":
        raise TypeError(f"{who}: pvals {pvals.label()} must be a float matrix (one row of probabilities per "
                        f"draw), got {pvals.type.describe()}")
    return pvals


def _check_unis(unis, who: str) -> Variable:
    unis = as_tensor_variable(unis)
    if unis.ndim != 1 or unis.dtype[0] != "f":
        raise TypeError(f"{who}: the uniforms {unis.label()} must be a float vector, got {unis.type.describe()}")
    return unis


def _check_count(n, who: str, what: str) -> Variable:
    n = as_tensor_variable(n)
    if n.ndim != 0 or n.dtype[0] not in "iu":
        raise TypeError(f"{who}: {what} {n.label()} must be an integer scalar, got {n.type.describe()}")
    if isinstance(n, Constant) and int(n.data) < 0:
        raise ValueError(f"{who}: {what} must be >= 0, got {int(n.data)}")
    return n


@dataclass(frozen=True)
class MultinomialFromUniform(Op):
    """``(pvals, unis, n) -> counts``: for each row ``r`` of ``pvals`` and each of ``n`` trials
    ``c``, the uniform ``unis[c * rows + r]`` picks the first outcome whose cumulative probability
    exceeds it, and that outcome's count goes up by one (Theano's op of the same name: no outcome is
    counted if the row sums to less than the uniform)."""

    dtype: str

    def make_node(self, pvals, unis, n) -> Apply:
        who = "MultinomialFromUniform"
        pvals, unis, n = _check_pvals(pvals, who), _check_unis(unis, who), _check_count(n, who, "n")
        return _record(Apply(self, [pvals, unis, n], [TensorType(self.dtype, (False, False))]))

    def __str__(self):
        return f"MultinomialFromUniform{{{self.dtype}}}"


@dataclass(frozen=True)
class ChoiceFromUniform(Op):
    """``(pvals, unis, size) -> indices`` of shape ``(rows, size)``: draw ``c`` of row ``r`` uses
    ``unis[c * rows + r]`` as ``MultinomialFromUniform`` does and, without replacement, removes the
    outcome drawn and renormalizes the row (sequential sums, so both backends agree bit for bit)."""

    dtype: str
    replace: bool

    def make_node(self, pvals, unis, size) -> Apply:
        who = "ChoiceFromUniform"
        pvals, unis, size = _check_pvals(pvals, who), _check_unis(unis, who), _check_count(size, who, "size")
        return _record(Apply(self, [pvals, unis, size], [TensorType(self.dtype, (False, False))]))

    def __str__(self):
        return f"ChoiceFromUniform{{{self.dtype},replace={self.replace}}}"


class RandomVariable(TensorVariable):
    """The sample of a random draw as the stream classes return it, with Theano's attributes:
    ``rng`` (``rstate`` for MRG streams): the state's shared variable; ``update``: the pair
    ``(state, new state)``."""

    __slots__ = ("rng", "update")

    @property
    def rstate(self):
        return self.rng


def as_random_variable(sample: Variable, rng, update) -> RandomVariable:
    """``sample`` (an output of a random op) replaced in its node by a ``RandomVariable`` carrying
    ``rng`` and ``update``."""
    node = sample.owner
    rv = RandomVariable(sample.type, owner=node, index=sample.index, name=sample.name)
    rv.rng, rv.update = rng, update
    node.outputs = tuple(rv if o is sample else o for o in node.outputs)
    return rv


# --- numpy RandomState streams (Theano's shared_randomstreams) ---------------------------------
# The graph-level value of a RandomState is its MT19937 state packed into an int64 vector, so a
# kernel can run it: 624 key words, the position, has_gauss and the cached gaussian's bits.
MT_STATE_SIZE = 627


def pack_random_state(rs: np.random.RandomState) -> np.ndarray:
    """A ``numpy.random.RandomState``'s legacy MT19937 state as an int64 vector of ``MT_STATE_SIZE``.

    >>> rs = np.random.RandomState(3)
    >>> bool(unpack_random_state(pack_random_state(rs)).random_sample() == rs.random_sample())
    True
    """
    if not isinstance(rs, np.random.RandomState):
        raise TypeError(f"expected a numpy.random.RandomState, got {type(rs).__name__}")
    name, key, pos, has_gauss, cached = rs.get_state(legacy=True)
    out = np.empty(MT_STATE_SIZE, dtype=np.int64)
    out[:624] = np.asarray(key, dtype=np.uint32).astype(np.int64)
    out[624], out[625] = int(pos), int(has_gauss)
    out[626] = np.float64(cached).view(np.int64)
    return out


def unpack_random_state(state: np.ndarray) -> np.random.RandomState:
    """The ``numpy.random.RandomState`` a packed state (``pack_random_state``) stands for."""
    state = np.asarray(state)
    if state.shape != (MT_STATE_SIZE,):
        raise ValueError(f"a packed RandomState is an int64 vector of {MT_STATE_SIZE} entries, got shape {state.shape}")
    rs = np.random.RandomState(0)
    rs.set_state(("MT19937", state[:624].astype(np.uint32), int(state[624]), int(state[625]),
                  float(state[626:627].view(np.float64)[0])))
    return rs


def _check_mt_state(state) -> Variable:
    state = as_tensor_variable(state)
    if state.dtype != "int64" or state.ndim != 1:
        raise TypeError(f"random draw: the state {state.label()} must be a packed RandomState (int64 vector), "
                        f"got {state.type.describe()}")
    return state


def _check_param(p, ndim: int, who: str, name: str) -> Variable:
    p = as_tensor_variable(p)
    if p.ndim > ndim:
        raise ValueError(f"{who}: {name} {p.label()} ({p.type.describe()}) has more dimensions than the "
                         f"{ndim}-d size; give a size with as many dimensions")
    return p


# The distributions of RandomStateDraw: the primitive each consumes (numpy's legacy double or
# legacy gaussian) and how an element is made from it and the two parameters (a, b).
MT_DISTRIBUTIONS = ("uniform", "normal", "binomial", "random_integers")


@dataclass(frozen=True)
class RandomStateDraw(Op):
    """``(state, size, a, b) -> (new_state, sample)`` from a packed numpy RandomState; ``a`` and
    ``b`` broadcast to ``size``:

    - ``uniform``: ``a + (b - a) * double`` (numpy's ``RandomState.uniform``, same bits);
    - ``normal``: ``a + b * gauss`` (``RandomState.normal``: the legacy polar method and its cache);
    - ``binomial``: the number of ``a`` doubles below ``b`` (n trials of probability p);
    - ``random_integers``: ``a + floor(double * (b - a + 1))``, in [a, b].

    Computed in float64 and cast to ``dtype``, as Theano's ``raw_random`` does. No gradient."""

    dist: str
    dtype: str
    ndim: int

    def make_node(self, state, size, a, b) -> Apply:
        if self.dist not in MT_DISTRIBUTIONS:
            raise ValueError(f"RandomStateDraw: unknown distribution {self.dist!r} (one of {MT_DISTRIBUTIONS})")
        state, size = _check_mt_state(state), as_tensor_variable(size)
        if size.ndim != 1 or size.dtype[0] not in "iu":
            raise TypeError(f"{self}: size {size.label()} must be an integer vector, got {size.type.describe()}")
        a, b = _check_param(a, self.ndim, str(self), "a"), _check_param(b, self.ndim, str(self), "b")
        return _record(Apply(self, [state, size, a, b], [state.type, TensorType(self.dtype, (False,) * self.ndim)]))

    def __str__(self):
        return f"RandomStateDraw{{{self.dist},{self.dtype},{self.ndim}}}"


@dataclass(frozen=True)
class RandomStatePermutation(Op):
    """``(state, size, n) -> (new_state, sample)``: for each element of ``size``, a permutation of
    ``0..n-1`` (the sample has shape ``size + (n,)``) by Fisher-Yates on legacy doubles: for
    ``i = n-1 .. 1`` swap ``i`` with ``floor(double * (i + 1))``."""

    dtype: str
    ndim: int

    def make_node(self, state, size, n) -> Apply:
        state, size = _check_mt_state(state), as_tensor_variable(size)
        n = _check_count(n, str(self), "n")
        return _record(Apply(self, [state, size, n], [state.type, TensorType(self.dtype, (False,) * (self.ndim + 1))]))

    def __str__(self):
        return f"RandomStatePermutation{{{self.dtype},{self.ndim}}}"


@dataclass(frozen=True)
class RandomStateChoice(Op):
    """``(state, size, a, p) -> (new_state, sample)``: elements of the vector ``a`` (shape
    ``size``). With replacement: ``floor(double * len(a))``, or with probabilities ``p`` (a vector;
    ``p`` of length 0 means uniform) the first index whose cumulative probability exceeds a double.
    Without replacement, over the whole sample: uniform, a partial Fisher-Yates shuffle; with ``p``,
    each draw compares the remaining outcomes' cumulative probabilities with a double times their
    total, and removes the outcome drawn."""

    dtype: str
    ndim: int
    replace: bool

    def make_node(self, state, size, a, p) -> Apply:
        state, size = _check_mt_state(state), as_tensor_variable(size)
        a, p = as_tensor_variable(a), as_tensor_variable(p)
        if a.ndim != 1:
            raise TypeError(f"{self}: a {a.label()} must be a vector (or an int), got {a.type.describe()}")
        if p.ndim != 1 or p.dtype[0] != "f":
            raise TypeError(f"{self}: p {p.label()} must be a float vector, got {p.type.describe()}")
        return _record(Apply(self, [state, size, a, p], [state.type, TensorType(self.dtype, (False,) * self.ndim)]))

    def __str__(self):
        return f"RandomStateChoice{{{self.dtype},{self.ndim},replace={self.replace}}}"


@dataclass(frozen=True)
class RandomStateMultinomial(Op):
    """``(state, size, n, pvals) -> (new_state, sample)``: for each element of ``size``, the
    counts of ``n`` categorical draws from the vector ``pvals`` (shape ``size + (len(pvals),)``):
    a draw is the first outcome whose cumulative probability exceeds a double (the last outcome
    when rounding leaves the sum below it)."""

    dtype: str
    ndim: int

    def make_node(self, state, size, n, pvals) -> Apply:
        state, size, pvals = _check_mt_state(state), as_tensor_variable(size), as_tensor_variable(pvals)
        n = _check_count(n, str(self), "n")
        if pvals.ndim != 1 or pvals.dtype[0] != "f":
            raise TypeError(f"{self}: pvals {pvals.label()} must be a float vector, got {pvals.type.describe()}")
        sample = TensorType(self.dtype, (False,) * (self.ndim + 1))
        return _record(Apply(self, [state, size, n, pvals], [state.type, sample]))

    def __str__(self):
        return f"RandomStateMultinomial{{{self.dtype},{self.ndim}}}"


# Ops whose outputs are draws: scan's front end treats a draw the step reads but does not make as
# an outside value (drawn once per call), never as a graph to repeat inside the loop.
RANDOM_OPS = (MRGUniform, MultinomialFromUniform, ChoiceFromUniform, RandomStateDraw, RandomStatePermutation,
              RandomStateChoice, RandomStateMultinomial)
