"""``MRG_RandomStreams`` at Theano's path (``theano.sandbox.rng_mrg``): random draws from L'Ecuyer's
MRG31k3p generator, computed inside the compiled kernel, the same bits on every backend.

Each draw gets its own state: a shared int32 ``(n_streams, 6)`` matrix whose rows start 2**72
steps apart (substreams), the next draw's rows 2**134 further (Theano's layout, so the samples are
Theano's for the same seed). The draw's new state is the state variable's ``default_update``, so
every function reading the sample advances it (``no_default_updates`` opts out), ``Function.loop``
advances it every step, and a draw inside ``scan`` returns its final state in scan's updates.

>>> import symgrad as sg
>>> srng = MRG_RandomStreams(seed=234)
>>> u = srng.uniform((2, 3), dtype="float64")
>>> f = sg.function([], u, mode="numpy")
>>> a, b = f(), f()
>>> a.shape, bool((a != b).all()), bool(((0 < a) & (a < 1)).all())
((2, 3), True, True)
"""
from __future__ import annotations

import numpy as np

from ..compile.shared import SharedVariable, shared
from ..config import config
from ..graph import Constant, Variable
from ..tensor import elemwise as E
from ..tensor.random import (A1P134, A2P134, M1, M2, ChoiceFromUniform, MRGUniform, MultinomialFromUniform,
                             as_random_variable, as_size, mrg_jump, mrg_substreams)
from ..tensor.reduction import prod
from ..tensor.shape import join, reshape, shape_i
from ..tensor.variable import as_tensor_variable

__all__ = ["MRG_RandomStreams", "guess_n_streams"]

_MAX_STREAMS = 60 * 256  # Theano's guess when the size is symbolic


def guess_n_streams(size, warn: bool = False) -> int:
    """Theano's number of streams for a draw of ``size``: a sixth of the elements (at least the
    elements when there are at most 6, at most 15360), 15360 when the size is symbolic.

    >>> guess_n_streams((10, 20)), guess_n_streams((4,))
    (33, 4)
    """
    if isinstance(size, (tuple, list)) and all(isinstance(s, (int, np.integer)) for s in size):
        r = int(np.prod(size, dtype=np.int64))
        if r > 6:
            r = r // 6
        return max(1, min(r, _MAX_STREAMS))
    return _MAX_STREAMS


def _is_python_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _float_dtype(who: str, dtype, *params) -> str:
    """Theano's rule: ``dtype`` if given, else floatX upcast with the symbolic parameters' dtypes
    (Python numbers do not widen it, as Theano's autocast of literals)."""
    if dtype is None:
        dtypes = [config.floatX] + [as_tensor_variable(p).dtype for p in params if not _is_python_number(p)]
        dtype = np.result_type(*dtypes).name
    dtype = str(np.dtype(dtype)) if not isinstance(dtype, str) else dtype
    if dtype not in ("float32", "float64"):
        raise TypeError(f"MRG_RandomStreams.{who}: dtype must be float32 or float64, got {dtype!r}")
    return dtype


def _param(value, dtype: str):
    """A distribution parameter in the sample's dtype (Python numbers stay literals)."""
    return value if _is_python_number(value) else E.cast(as_tensor_variable(value), dtype)


def _check_probability(p, name: str, who: str) -> None:
    """Probabilities known when the graph is built must lie in [0, 1]."""
    data = p.data if isinstance(p, Constant) else (None if isinstance(p, Variable) else p)
    if data is not None and not ((np.asarray(data) >= 0) & (np.asarray(data) <= 1)).all():
        raise ValueError(f"MRG_RandomStreams.{who}: {name} must lie in [0, 1], got {np.asarray(data).tolist()!r}")


class MRG_RandomStreams:
    """Theano's ``MRG_RandomStreams(seed=12345)``: ``seed`` is an int in [1, M2) (used for all six
    components) or six ints (the first three below M1, the last three below M2, neither triple
    all zero).

    >>> import symgrad as sg, symgrad.tensor as T
    >>> srng = MRG_RandomStreams(seed=1)
    >>> x = T.dmatrix("x")
    >>> mask = srng.binomial(size=x.shape, n=1, p=0.5, dtype="float64")
    >>> sg.function([x], x * mask, mode="numpy")([[2.0, 2.0, 2.0]]).shape
    (1, 3)
    """

    def __init__(self, seed=12345):
        self.state_updates: list[tuple[SharedVariable, Variable]] = []  # (state, new state) per draw
        self._draws: list[tuple[SharedVariable, int]] = []  # (state, n_streams): what seed() rebuilds
        self.default_instance_seed = seed
        self.set_rstate(seed)

    # --- seeding ------------------------------------------------------------------------------
    def set_rstate(self, seed) -> None:
        """Set the generator's master state from ``seed`` (see the class docstring)."""
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seed = int(seed)
            if seed <= 0:
                raise ValueError(f"MRG_RandomStreams: seed must be a positive int, got {seed}")
            if seed >= M2:
                raise ValueError(f"MRG_RandomStreams: seed must be less than {M2}, got {seed}")
            self.rstate = np.full(6, seed, dtype="int32")
            return
        try:
            values = [int(v) for v in seed]
        except TypeError:
            raise TypeError(f"MRG_RandomStreams: seed must be 1 integer or 6 integers, got {seed!r}") from None
        if len(values) != 6:
            raise TypeError(f"MRG_RandomStreams: seed must be 1 integer or 6 integers, got {len(values)}")
        first, second = values[:3], values[3:]
        if not any(first):
            raise ValueError(f"MRG_RandomStreams: the first 3 values of seed must not all be 0, got {values}")
        if not any(second):
            raise ValueError(f"MRG_RandomStreams: the last 3 values of seed must not all be 0, got {values}")
        if any(v < 0 or v >= M1 for v in first) or any(v < 0 or v >= M2 for v in second):
            raise ValueError(f"MRG_RandomStreams: seed values must lie in [0, {M1}) (first 3) and "
                             f"[0, {M2}) (last 3), got {values}")
        self.rstate = np.array(values, dtype="int32")

    def seed(self, seed=None) -> None:
        """Re-seed: every existing draw's state is rebuilt from ``seed`` (default: the seed given
        at construction) in creation order, as a fresh stream object would make it."""
        if seed is None:
            seed = self.default_instance_seed
        self.set_rstate(seed)
        for state, n_streams in self._draws:
            state.set_value(self.get_substream_rstates(n_streams, "int32"), borrow=True)

    def inc_rstate(self) -> None:
        """Move the master state 2**134 steps on: the start of the next draw's streams."""
        self.rstate = mrg_jump(self.rstate, A1P134, A2P134)

    def get_substream_rstates(self, n_streams: int, dtype=None, inc_rstate: bool = True) -> np.ndarray:
        """The int32 ``(n_streams, 6)`` start states of a new draw (rows 2**72 steps apart); moves
        the master state to the next draw's unless ``inc_rstate`` is False."""
        n_streams = int(n_streams)
        if n_streams <= 0:
            raise ValueError(f"MRG_RandomStreams: nstreams must be positive, got {n_streams}")
        states = mrg_substreams(self.rstate, n_streams)
        if inc_rstate:
            self.inc_rstate()
        return states

    def n_streams(self, size) -> int:
        return guess_n_streams(size)

    def updates(self) -> list[tuple[SharedVariable, Variable]]:
        """The ``(state, new state)`` pairs of all draws made (also each state's default update)."""
        return list(self.state_updates)

    # --- draws --------------------------------------------------------------------------------
    def _uniform01(self, who: str, size, ndim, dtype: str, nstreams) -> Variable:
        vec, ndim, static = as_size(size, ndim, f"MRG_RandomStreams.{who}")
        if nstreams is None:
            nstreams = self.n_streams(static if static is not None else vec)
        state = shared(self.get_substream_rstates(nstreams, dtype))
        new_state, u = MRGUniform(dtype, ndim)(state, vec)
        u = as_random_variable(u, state, (state, new_state))
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        self._draws.append((state, int(nstreams)))
        return u

    def uniform(self, size, low=0.0, high=1.0, ndim: int | None = None, dtype=None, nstreams: int | None = None):
        """Samples uniform in (low, high) of shape ``size`` (a tuple of ints and integer scalars,
        or an integer vector such as ``x.shape``)."""
        dtype = _float_dtype("uniform", dtype, low, high)
        u = self._uniform01("uniform", size, ndim, dtype, nstreams)
        if _is_python_number(low) and _is_python_number(high) and float(low) == 0.0 and float(high) == 1.0:
            return u
        low, high = _param(low, dtype), _param(high, dtype)
        r = E.cast(u * (high - low) + low, dtype)
        if r.broadcastable != u.broadcastable:
            raise NotImplementedError("MRG_RandomStreams.uniform: low and high have more dimensions than size; "
                                      "increase the size to match them")
        return r

    def normal(self, size, avg=0.0, std=1.0, ndim: int | None = None, dtype=None, nstreams: int | None = None,
               truncate: bool = False):
        """Normal samples (Box-Muller on pairs of uniforms, as Theano) of mean ``avg`` and standard
        deviation ``std``."""
        if truncate:
            raise NotImplementedError("MRG_RandomStreams.normal: truncate=True is not implemented")
        dtype = _float_dtype("normal", dtype, avg, std)
        vec, ndim, static = as_size(size, ndim, "MRG_RandomStreams.normal")
        if static is not None:
            n_odd = int(np.prod(static, dtype=np.int64))
            n_even = n_odd + n_odd % 2
            uniform = self._uniform01("normal", (n_even,), 1, dtype, nstreams)
            half = n_even // 2
        else:
            n_odd = prod(vec)
            n_even = n_odd + n_odd % 2
            uniform = self._uniform01("normal", [n_even], 1, dtype, nstreams)
            half = n_even // 2
        u1, u2 = uniform[:half], uniform[half:]
        r = E.sqrt(-2.0 * E.log(u1))
        theta = np.asarray(2.0 * np.pi, dtype=dtype) * u2
        samples = join(0, r * E.cos(theta), r * E.sin(theta))[:n_odd]
        samples = reshape(samples, vec, ndim=ndim) if static is None else reshape(samples, static)
        if not (_is_python_number(std) and float(std) == 1.0):
            samples = samples * _param(std, dtype)
        if not (_is_python_number(avg) and float(avg) == 0.0):
            samples = samples + _param(avg, dtype)
        return E.cast(samples, dtype)

    def binomial(self, size=None, n=1, p=0.5, ndim: int | None = None, dtype="int64", nstreams: int | None = None):
        """0/1 samples, 1 with probability ``p`` (``n`` must be 1, as in Theano); ``size`` defaults
        to ``p``'s shape."""
        if not (isinstance(n, (int, np.integer)) and n == 1):
            raise NotImplementedError(f"MRG_RandomStreams.binomial: only n=1 is implemented, got n={n!r}")
        _check_probability(p, "p", "binomial")
        p_var = as_tensor_variable(p)
        if size is None:
            if p_var.ndim == 0:
                raise TypeError("MRG_RandomStreams.binomial: size is needed when p is a scalar")
            size = p_var.shape
            ndim = p_var.ndim if ndim is None else ndim
        x = self.uniform(size=size, ndim=ndim, nstreams=nstreams)
        return E.cast(E.lt(x, p_var if not _is_python_number(p) else p), dtype)

    def multinomial(self, size=None, n=1, pvals=None, ndim: int | None = None, dtype="int64",
                    nstreams: int | None = None):
        """Counts of ``n`` draws from each row of ``pvals`` (a matrix of probabilities): a matrix
        of ``pvals``'s shape. ``size`` and ``ndim`` are not used (Theano's signature)."""
        if pvals is None:
            raise TypeError("MRG_RandomStreams.multinomial: you have to specify pvals")
        _check_probability(pvals, "pvals", "multinomial")
        pvals = as_tensor_variable(pvals)
        if size is not None:
            raise ValueError("MRG_RandomStreams.multinomial does not use the size argument (pvals's rows give it)")
        if ndim is not None:
            raise ValueError("MRG_RandomStreams.multinomial does not use the ndim argument")
        if pvals.ndim != 2:
            raise NotImplementedError(f"MRG_RandomStreams.multinomial: pvals must be a matrix, got "
                                      f"{pvals.type.describe()}")
        n_var = as_tensor_variable(n)
        unis = self.uniform(size=[shape_i(pvals, 0) * n_var], ndim=1, nstreams=nstreams)
        return MultinomialFromUniform(dtype)(pvals, unis, n_var)

    def choice(self, size=1, a=None, replace: bool = True, p=None, ndim: int | None = None, dtype="int64",
               nstreams: int | None = None):
        """``size`` indices per row of ``p`` (a matrix of probabilities), drawn with or without
        replacement: a ``(p.shape[0], size)`` matrix. ``a`` must be None (values are indices)."""
        if a is not None:
            raise TypeError("MRG_RandomStreams.choice: a must be None; the values drawn are indices "
                            "between 0 and p.shape[1] - 1")
        if p is None:
            raise TypeError("MRG_RandomStreams.choice: you have to specify p")
        if ndim is not None:
            raise ValueError("MRG_RandomStreams.choice does not use the ndim argument")
        _check_probability(p, "p", "choice")
        p = as_tensor_variable(p)
        if p.ndim != 2:
            raise NotImplementedError(f"MRG_RandomStreams.choice: p must be a matrix, got {p.type.describe()}")
        if isinstance(size, (int, np.integer)) and size < 0:
            raise ValueError(f"MRG_RandomStreams.choice: size must be >= 0, got {size}")
        size_var = as_tensor_variable(size)
        unis = self.uniform(size=[shape_i(p, 0) * size_var], ndim=1, nstreams=nstreams)
        return ChoiceFromUniform(dtype, bool(replace))(p, unis, size_var)

    def multinomial_wo_replacement(self, size=None, n=1, pvals=None, ndim=None, dtype="int64", nstreams=None):
        """Theano's older spelling of ``choice(size=n, replace=False, p=pvals)``."""
        return self.choice(size=n, replace=False, p=pvals, ndim=ndim, dtype=dtype, nstreams=nstreams)
