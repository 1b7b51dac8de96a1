"""``RandomStreams`` at Theano's path (``theano.tensor.shared_randomstreams``): random draws with
numpy's ``RandomState`` semantics.

Each draw has its own state, a shared ``RandomState`` seeded from the streams' master generator
(``rv.rng``; ``rv.rng.get_value()`` is a ``numpy.random.RandomState``, ``set_value`` takes one).
The draw's new state is the state's ``default_update``, so a function reading the sample advances
it (``no_default_updates=True`` repeats the draws). Uniform and normal samples are numpy's own
bits (``RandomState.uniform``/``normal`` in the same state) on every backend: the compiled kernel
runs MT19937 on the state packed into an integer vector (``tensor/random.py``). Binomial,
random_integers, permutation, choice and multinomial are defined on the same generator's doubles,
identically on every backend (their bits are not ``RandomState``'s own methods').

The tutorial's "Using Random Numbers":

>>> import numpy as np, symgrad as sg
>>> srng = RandomStreams(seed=234)
>>> rv_u = srng.uniform((2, 2))
>>> f = sg.function([], rv_u, mode="numpy")
>>> g = sg.function([], rv_u, mode="numpy", no_default_updates=True)
>>> a, b = f(), f()
>>> bool((a != b).all()), bool((g() == g()).all())
(True, True)
>>> seed = np.random.RandomState(234).randint(2 ** 30)
>>> bool((a == np.random.RandomState(seed).uniform(size=(2, 2))).all())
True
"""
from __future__ import annotations

import numpy as np

from ..compile.shared import RandomStateSharedVariable, shared
from ..config import config
from ..graph import Constant, Variable
from . import elemwise as E
from .random import (RandomStateChoice, RandomStateDraw, RandomStateMultinomial, RandomStatePermutation,
                     as_random_variable, as_size)
from .shape import arange, shape_i
from .variable import as_tensor_variable

__all__ = ["RandomStreams", "RandomStateSharedVariable"]


def _is_python_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _float_dtype(who: str, dtype, *params) -> str:
    """Theano's rule: ``dtype`` if given, else floatX upcast with the symbolic parameters' dtypes."""
    if dtype is None:
        dtypes = [config.floatX] + [as_tensor_variable(p).dtype for p in params if not _is_python_number(p)]
        dtype = np.result_type(*dtypes).name
    dtype = dtype if isinstance(dtype, str) else np.dtype(dtype).name
    if dtype not in ("float32", "float64"):
        raise TypeError(f"RandomStreams.{who}: dtype must be float32 or float64, got {dtype!r}")
    return dtype


def _size_from_params(who: str, size, ndim, params):
    """``size``, or when it is None the broadcast shape of the parameters (as Theano infers it)."""
    if size is not None:
        return size, ndim
    params = [as_tensor_variable(p) for p in params]
    rank = max((p.ndim for p in params), default=0)
    if ndim is not None and ndim != rank:
        raise ValueError(f"RandomStreams.{who}: ndim={ndim} but the parameters have {rank} dimensions; give size")
    dims = []
    for d in range(rank):
        sizes = [shape_i(p, p.ndim - rank + d) for p in params if p.ndim - rank + d >= 0
                 and not p.broadcastable[p.ndim - rank + d]]
        if not sizes:
            dims.append(1)
            continue
        dim = sizes[0]
        for other in sizes[1:]:  # equal unless one is 1 (checked when the sample is drawn)
            dim = E.maximum(dim, other)
        dims.append(dim)
    return tuple(dims), rank


def _check_range(value, name: str, who: str, low=None, high=None) -> None:
    """A parameter known when the graph is built must lie in [low, high]."""
    data = value.data if isinstance(value, Constant) else (None if isinstance(value, Variable) else value)
    if data is None:
        return
    data = np.asarray(data)
    if (low is not None and (data < low).any()) or (high is not None and (data > high).any()):
        bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"RandomStreams.{who}: {name} must be {bounds if high is None else 'in ' + bounds}, "
                         f"got {data.tolist()!r}")


class RandomStreams:
    """Theano's ``RandomStreams(seed=None)``: a master ``numpy.random.RandomState(seed)`` seeds each
    new draw's state (``randint(2**30)``); ``seed(n)`` re-seeds every draw from a new master
    generator seeded with ``n``, in creation order.

    >>> import symgrad as sg, symgrad.tensor as T
    >>> srng = RandomStreams(seed=1)
    >>> x = T.dvector("x")
    >>> noisy = x + srng.normal(size=x.shape, std=0.1)
    >>> sg.function([x], noisy, mode="numpy")([0.0, 0.0, 0.0]).shape
    (3,)
    """

    def __init__(self, seed: int | None = None):
        self.state_updates: list[tuple[RandomStateSharedVariable, Variable]] = []  # (state, new state) per draw
        self.default_instance_seed = seed
        self.gen_seedgen = np.random.RandomState(seed)

    def updates(self) -> list[tuple[RandomStateSharedVariable, Variable]]:
        """The ``(state, new state)`` pairs of all draws (also each state's default update)."""
        return list(self.state_updates)

    def seed(self, seed: int | None = None) -> None:
        """Re-seed every draw: draw ``k``'s state becomes ``RandomState(seeds[k])`` where ``seeds``
        come from ``RandomState(seed).randint(2**30)`` (default: the seed given at construction)."""
        if seed is None:
            seed = self.default_instance_seed
        seedgen = np.random.RandomState(seed)
        for state, _ in self.state_updates:
            state.set_value(np.random.RandomState(int(seedgen.randint(2 ** 30))), borrow=True)

    def __getitem__(self, item) -> np.random.RandomState:
        """The ``RandomState`` of a draw's state: ``srng[rv]`` is ``rv.rng.get_value()``."""
        return item.rng.get_value(borrow=True)

    def __setitem__(self, item, value: np.random.RandomState) -> None:
        item.rng.set_value(value, borrow=True)

    def _draw(self, op, size_vec, *params):
        state = shared(np.random.RandomState(int(self.gen_seedgen.randint(2 ** 30))))
        new_state, sample = op(state, size_vec, *params)
        rv = as_random_variable(sample, state, (state, new_state))
        state.default_update = new_state
        self.state_updates.append((state, new_state))
        return rv

    # --- distributions (Theano's signatures) --------------------------------------------------
    def uniform(self, size=None, low=0.0, high=1.0, ndim: int | None = None, dtype=None):
        """Samples uniform in [low, high): numpy's ``RandomState.uniform``, cast to ``dtype``."""
        dtype = _float_dtype("uniform", dtype, low, high)
        size, ndim = _size_from_params("uniform", size, ndim, [low, high])
        vec, ndim, _ = as_size(size, ndim, "RandomStreams.uniform")
        return self._draw(RandomStateDraw("uniform", dtype, ndim), vec, low, high)

    def normal(self, size=None, avg=0.0, std=1.0, ndim: int | None = None, dtype=None):
        """Normal samples: numpy's ``RandomState.normal(avg, std)``, cast to ``dtype``."""
        dtype = _float_dtype("normal", dtype, avg, std)
        _check_range(std, "std", "normal", low=0)
        size, ndim = _size_from_params("normal", size, ndim, [avg, std])
        vec, ndim, _ = as_size(size, ndim, "RandomStreams.normal")
        return self._draw(RandomStateDraw("normal", dtype, ndim), vec, avg, std)

    def binomial(self, size=None, n=1, p=0.5, ndim: int | None = None, dtype="int64", prob=None):
        """The number of successes in ``n`` trials of probability ``p`` (``prob=`` is Theano's
        older name of ``p``)."""
        if prob is not None:
            p = prob
        _check_range(p, "p", "binomial", low=0, high=1)
        _check_range(n, "n", "binomial", low=0)
        size, ndim = _size_from_params("binomial", size, ndim, [n, p])
        vec, ndim, _ = as_size(size, ndim, "RandomStreams.binomial")
        return self._draw(RandomStateDraw("binomial", dtype, ndim), vec, n, p)

    def random_integers(self, size=None, low=0, high=1, ndim: int | None = None, dtype="int64"):
        """Integers uniform in [low, high], both included."""
        size, ndim = _size_from_params("random_integers", size, ndim, [low, high])
        vec, ndim, _ = as_size(size, ndim, "RandomStreams.random_integers")
        return self._draw(RandomStateDraw("random_integers", dtype, ndim), vec, low, high)

    def permutation(self, size=None, n=1, ndim: int | None = None, dtype="int64"):
        """A permutation of ``0..n-1`` for each element of ``size`` (shape ``size + (n,)``)."""
        _check_range(n, "n", "permutation", low=0)
        vec, ndim, _ = as_size(() if size is None else size, ndim, "RandomStreams.permutation")
        return self._draw(RandomStatePermutation(dtype, ndim), vec, n)

    def choice(self, size=None, a=2, replace: bool = True, p=None, ndim: int | None = None, dtype="int64"):
        """Elements of ``a`` (an int n stands for ``arange(n)``), with probabilities ``p`` (uniform
        if None), with or without replacement."""
        if isinstance(a, (int, np.integer)) and not isinstance(a, bool):
            if a < 0:
                raise ValueError(f"RandomStreams.choice: a must be >= 0, got {a}")
            pool = as_tensor_variable(np.arange(int(a), dtype=np.int64))
        else:
            pool = as_tensor_variable(a)
            if pool.ndim == 0:
                pool = arange(pool)
        if p is None:
            p = as_tensor_variable(np.zeros(0))
        else:
            _check_range(p, "p", "choice", low=0)
        vec, ndim, _ = as_size(() if size is None else size, ndim, "RandomStreams.choice")
        return self._draw(RandomStateChoice(dtype, ndim, bool(replace)), vec, pool, p)

    def multinomial(self, size=None, n=1, pvals=None, ndim: int | None = None, dtype="int64"):
        """Counts of ``n`` draws from the probabilities ``pvals`` (a vector) for each element of
        ``size``: shape ``size + (len(pvals),)``."""
        if pvals is None:
            pvals = [0.5, 0.5]
        _check_range(pvals, "pvals", "multinomial", low=0, high=1)
        _check_range(n, "n", "multinomial", low=0)
        pvals = as_tensor_variable(pvals)
        if pvals.ndim != 1:
            raise NotImplementedError(f"RandomStreams.multinomial: pvals must be a vector, got {pvals.type.describe()}")
        if pvals.dtype[0] != "f":
            pvals = E.cast(pvals, "float64")
        vec, ndim, _ = as_size(() if size is None else size, ndim, "RandomStreams.multinomial")
        return self._draw(RandomStateMultinomial(dtype, ndim), vec, n, pvals)
