"""Converting user values to a variable's type: safe upcasts accepted, lossy downcasts refused
(unless allowed), wrong rank or shape refused, always with a message that names the input.

>>> from symgrad.graph import TensorType
>>> convert = make_converter(TensorType("float64", (False,)), "input 'x'")
>>> convert([1, 2]).dtype
dtype('float64')
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..graph import TensorType


def describe_value(value) -> str:
    """'int64 matrix of shape (3, 4)' for an array, the type name for anything else."""
    if isinstance(value, (np.ndarray, np.generic)):
        kind = TensorType(value.dtype, (False,) * value.ndim).kind_name() if value.dtype.kind in "biuf" else f"{value.ndim}-d array"
        return f"{value.dtype} {kind} of shape {value.shape}"
    return f"{type(value).__name__} {value!r}" if isinstance(value, (int, float, bool, complex, str)) else type(value).__name__


def make_converter(type_: TensorType, label: str, allow_downcast: bool | None = None) -> Callable:
    """A function turning a user value into an array of exactly ``type_`` (or raising).

    ``allow_downcast``: True accepts any cast; None accepts Python scalars and lists cast to a
    narrower type when no value changes (e.g. a Python float into a float32 input); False accepts
    only safe casts.
    """
    dtype = np.dtype(type_.dtype)
    ndim = type_.ndim
    bc = type_.broadcastable
    expected = type_.describe()

    plain = not any(bc)

    def convert(value):
        # fast path: already an array of exactly this type (the common case in a training loop)
        if type(value) is np.ndarray and value.dtype == dtype and value.ndim == ndim and plain:
            return value
        if value is None:
            raise TypeError(f"{label}: expected {expected}, got None")
        python_value = not isinstance(value, (np.ndarray, np.generic))
        if python_value:
            try:
                arr = np.asarray(value)
            except ValueError:
                raise TypeError(f"{label}: expected {expected}, got a ragged nested sequence "
                                "(rows of different lengths)") from None
        else:
            arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{label}: expected {expected}, got {describe_value(arr)}")
        if arr.ndim != ndim:
            raise TypeError(f"{label}: expected {expected}, got {describe_value(arr)}")
        if arr.dtype != dtype:
            if np.can_cast(arr.dtype, dtype, "safe") or allow_downcast:
                arr = arr.astype(dtype)
            elif allow_downcast is None and python_value and _lossless(arr, dtype):
                arr = arr.astype(dtype)
            else:
                raise TypeError(
                    f"{label}: expected {expected}, got {describe_value(arr)}; converting {arr.dtype} to "
                    f"{dtype} could lose information. Convert it yourself (.astype('{dtype}')) or pass "
                    "allow_input_downcast=True")
        for d, (b, n) in enumerate(zip(bc, arr.shape)):
            if b and n != 1:
                raise ValueError(f"{label}: expected {expected} with size 1 in dimension {d} "
                                 f"(broadcastable), got shape {arr.shape}")
        return arr

    return convert


def _lossless(arr: np.ndarray, dtype: np.dtype) -> bool:
    """Python floats into float32 are accepted (Theano's rule); ints only if every value fits."""
    if dtype.kind == "f" and arr.dtype.kind in "fiub":
        return True
    if dtype.kind in "iu" and arr.dtype.kind in "iub":
        info = np.iinfo(dtype)
        return arr.size == 0 or (arr.min() >= info.min and arr.max() <= info.max)
    return False
