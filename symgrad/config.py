"""Configuration read from the environment (``SYMGRAD_*``) and settable at run time.

Config is read when a function is compiled, never while it runs, so a compiled function's
behaviour cannot change behind the user's back.

>>> import symgrad
>>> symgrad.config.floatX, symgrad.config.mode in ("numba", "numpy")
('float64', True)
"""
from __future__ import annotations

import os

_MODES = ("numpy", "numba")
# Theano's mode names, so its scripts run: FAST_RUN compiles (numba); FAST_COMPILE and the debug
# modes run the reference interpreter (numpy), which checks every op as it goes.
THEANO_MODES = {"FAST_RUN": "numba", "FAST_COMPILE": "numpy", "DebugMode": "numpy", "DEBUG_MODE": "numpy"}


def _number(variable: str, default: float) -> float:
    text = os.environ.get(variable, "")
    try:
        return float(text) if text else default
    except ValueError:
        raise ValueError(f"environment variable {variable} must be a number, got {text!r}") from None


class _Config:
    """Settings object; attribute names follow Theano (``floatX``, ``mode``)."""

    def __init__(self) -> None:
        self.floatX = os.environ.get("SYMGRAD_FLOATX", "float64")
        # numba compiles the whole graph into one kernel; "numpy" is the reference interpreter.
        self.mode = os.environ.get("SYMGRAD_MODE", "numba")
        self.cache_dir = os.environ.get("SYMGRAD_CACHE_DIR", "")
        # kernel-cache entries unused for this many days are removed (see backend/numba/cachedir.py)
        self.cache_max_age_days = _number("SYMGRAD_CACHE_MAX_AGE_DAYS", 30.0)
        # Row passes over large matrices use numba's threads; False keeps every kernel on one
        # thread (numba.set_num_threads(1) does the same at run time).
        self.parallel = os.environ.get("SYMGRAD_PARALLEL", "1") not in ("0", "false", "False", "")

    def __setattr__(self, name: str, value) -> None:
        if name == "mode" and isinstance(value, str):
            value = THEANO_MODES.get(value, value)  # config.mode = "FAST_RUN" stores "numba"
        if name == "floatX" and value not in ("float64", "float32"):
            raise ValueError(f"config.floatX must be 'float64' or 'float32', got {value!r}")
        if name == "mode" and value not in _MODES:
            raise ValueError(f"config.mode must be one of {_MODES} (or Theano's {tuple(THEANO_MODES)}), got {value!r}")
        if name == "cache_max_age_days" and not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"config.cache_max_age_days must be a number >= 0, got {value!r}")
        object.__setattr__(self, name, value)


config = _Config()
