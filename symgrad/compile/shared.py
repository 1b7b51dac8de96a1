"""Shared variables: named state that compiled functions read and update in place of globals.

>>> import numpy as np
>>> w = shared(np.zeros(3), name="w")
>>> w.type, w.get_value()
(TensorType(float64, vector), array([0., 0., 0.]))
"""
from __future__ import annotations

import os
import threading

import numpy as np

from ..graph import TensorType, Variable
from ..tensor.random import MT_STATE_SIZE, pack_random_state, unpack_random_state
from ..tensor.variable import _TensorOperators
from .convert import describe_value, make_converter


# Calls that update shared variables run one at a time in a process: each reads the state the
# previous one wrote, so calls from several threads never lose an update or mix two calls' writes.
# Calls that only read shared variables run concurrently (kernels release the GIL), except that a
# variable some kernel updates in place (``_inplace``) is read under this lock too, never half-written.
STATE_LOCK = threading.RLock()
if hasattr(os, "register_at_fork"):  # a child forked while another thread held it must not hang
    os.register_at_fork(after_in_child=STATE_LOCK._at_fork_reinit)


class SharedVariable(_TensorOperators, Variable):
    """A graph input whose value lives with the variable and persists across calls.

    A compiled (numba) function may write an update into the variable's own buffer instead of
    replacing it (see ``backend/numba/inplace.py``): an array obtained with ``get_value(borrow=True)``
    or given with ``borrow=True`` may then change with later calls, as in Theano.

    ``default_update`` (Theano's attribute, None unless set): an expression that ``function`` uses as
    this variable's update whenever a compiled function reads the variable and gives it no update of
    its own (random streams set it to the new state of each draw; ``no_default_updates`` opts out).
    """

    __slots__ = ("_value", "_convert", "_inplace", "default_update")

    def __init__(self, type_: TensorType, value: np.ndarray, name: str | None = None):
        super().__init__(type_, name=name)
        self._convert = make_converter(type_, f"shared variable {self.label()}")
        self._value = value
        self._inplace = False  # set once a compiled function writes an update into the buffer
        self.default_update: Variable | None = None

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """The current value (a copy unless ``borrow=True``)."""
        if borrow:
            return self._value
        if not self._inplace:
            return self._value.copy()
        with STATE_LOCK:  # not while another thread's call writes the buffer
            return self._value.copy()

    def set_value(self, value, borrow: bool = False) -> None:
        """Replace the value; it must convert safely to this variable's type (same rules as inputs)."""
        arr = self._convert(value)
        if not borrow and (arr is value or (isinstance(value, np.ndarray) and np.may_share_memory(arr, value))):
            arr = arr.copy()  # (an ndarray subclass converts to a view of the caller's memory)
        with STATE_LOCK:  # between calls, never in the middle of one
            self._value = arr

    @property
    def value(self):
        return self._value

    def __getstate__(self):
        with STATE_LOCK:  # never a buffer half-written by another thread's call
            value = self._value.copy() if self._inplace else self._value
        return {"type": self.type, "name": self.name, "value": value, "default_update": self.default_update}

    def __setstate__(self, state):
        Variable.__init__(self, state["type"], name=state["name"])
        self._convert = make_converter(self.type, f"shared variable {self.label()}")
        self._value = state["value"]
        self._inplace = False
        self.default_update = state.get("default_update")

    def __reduce__(self):
        return (_new_shared, (), self.__getstate__())

    def __repr__(self):
        return self.name or f"<shared {self.type.describe()}>"


def _new_shared():
    return SharedVariable.__new__(SharedVariable)


class RandomStateSharedVariable(SharedVariable):
    """A shared ``numpy.random.RandomState`` (Theano's, made by ``shared(RandomState(...))``): graphs
    see its MT19937 state packed into an int64 vector (``tensor/random.py``) that random draws
    advance; ``get_value`` returns a ``RandomState`` in that state and ``set_value`` takes one.

    >>> import numpy as np
    >>> r = shared(np.random.RandomState(5))
    >>> bool(r.get_value().random_sample() == np.random.RandomState(5).random_sample())
    True
    """

    __slots__ = ()

    def __init__(self, value: np.random.RandomState, name: str | None = None):
        super().__init__(TensorType("int64", (False,)), pack_random_state(value), name=name)

    def get_value(self, borrow: bool = False, return_internal_type: bool = False):
        """A ``RandomState`` in the current state (always a new object: drawing from it changes
        nothing here until it is given back with ``set_value``); the packed vector with
        ``return_internal_type=True``."""
        packed = super().get_value(borrow=borrow)
        return packed if return_internal_type else unpack_random_state(packed)

    def set_value(self, value, borrow: bool = False) -> None:
        """Take a ``RandomState``'s state (or a packed state vector)."""
        if isinstance(value, np.random.RandomState):
            value = pack_random_state(value)
            borrow = True
        elif np.shape(value) != (MT_STATE_SIZE,):
            raise TypeError(f"shared variable {self.label()}: expected a numpy.random.RandomState, "
                            f"got {describe_value(value) if isinstance(value, np.ndarray) else type(value).__name__}")
        super().set_value(value, borrow=borrow)

    def __reduce__(self):
        return (_new_random_state_shared, (), self.__getstate__())

    def __repr__(self):
        return self.name or "<shared RandomState>"


def _new_random_state_shared():
    return RandomStateSharedVariable.__new__(RandomStateSharedVariable)


def shared(value, name: str | None = None, borrow: bool = False, broadcastable=None,
           strict: bool = False, allow_downcast=None) -> SharedVariable:
    """Create a shared variable holding a copy of ``value`` (no copy with ``borrow=True``).

    Python ``int`` becomes int64, ``float`` float64 (0-d); arrays keep their dtype.

    >>> b = shared(0.0, name="b")
    >>> b.type
    TensorType(float64, scalar)
    """
    if isinstance(value, Variable):
        raise TypeError(f"shared() needs a value (numpy array or number), got the symbolic variable {value!r}")
    if isinstance(value, np.random.RandomState):  # Theano's shared RandomState (its state is copied)
        return RandomStateSharedVariable(value, name=name)
    if isinstance(value, bool):
        arr = np.asarray(value, dtype=bool)
    elif isinstance(value, int):
        arr = np.asarray(value, dtype="int64")
    elif isinstance(value, float):
        arr = np.asarray(value, dtype="float64")
    else:
        try:
            arr = np.asarray(value)
        except ValueError:
            raise TypeError(f"shared {name!r}: cannot make an array from a ragged nested sequence") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"shared {name!r}: value must be a bool, integer or float array, got {describe_value(arr)}")
    if not (borrow and isinstance(value, np.ndarray)) or arr is not value:
        arr = np.array(arr, copy=True)
    bc = tuple(broadcastable) if broadcastable is not None else (False,) * arr.ndim
    if len(bc) != arr.ndim:
        raise ValueError(f"shared {name!r}: broadcastable has {len(bc)} entries for a {arr.ndim}-d value")
    var = SharedVariable(TensorType(arr.dtype, bc), arr, name=name)
    var.set_value(arr, borrow=True)
    return var


def float_shared_list(values, who: str, arg: str) -> list[SharedVariable]:
    """``values`` (one shared variable or a list) as a list of distinct float shared variables,
    else a TypeError/ValueError naming ``who``'s argument ``arg``, the entry and what came.

    >>> import numpy as np
    >>> w = shared(np.zeros(2), name="w")
    >>> [v.name for v in float_shared_list(w, "sgd", "params")]
    ['w']
    """
    items = [values] if isinstance(values, Variable) else values
    try:
        items = list(items)
    except TypeError:
        raise TypeError(f"{who}: {arg} must be a shared variable or a list of them, "
                        f"got {type(values).__name__}") from None
    if not items:
        raise ValueError(f"{who}: {arg} is empty; pass the shared variables to train")
    seen = set()
    for i, v in enumerate(items):
        if not isinstance(v, SharedVariable):
            what = f"{v.label()} ({v.type.describe()})" if isinstance(v, Variable) else type(v).__name__
            raise TypeError(f"{who}: {arg}[{i}] must be a shared variable (symgrad.shared), got {what}")
        if v.dtype[0] != "f":
            raise TypeError(f"{who}: {arg}[{i}] ({v.label()}) must be a float shared variable, "
                            f"got {v.type.describe()}")
        if id(v) in seen:
            raise ValueError(f"{who}: {arg}[{i}] ({v.label()}) is listed twice")
        seen.add(id(v))
    return items
