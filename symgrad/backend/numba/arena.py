"""A kernel's arena: one byte buffer, kept between calls, from which the kernel carves the arrays
no caller sees (intermediate results, a scan's histories, gathered rows).

Why: a kernel that allocates tens of megabytes per call and frees them before it returns hands
that memory back to the system every call (glibc maps large blocks fresh and trims the heap), and
each call then pays a page fault per 4 KiB page it touches again: the LSTM training step of the
bench allocated 62 MB per call, took 15 000 page faults and ~30 ms of its ~65 ms there. With the
arena the memory stays mapped, and the kernel's own arrays cost nothing to allocate.

How: the code generator prints ``arena_array(ws, shape, dtype, itemsize)`` instead of
``np.empty`` for results that no output can see (not an output, nor a view, an ``IfElse`` value or
the in-place buffer of one: ``codegen._escaping``); the kernel takes ``ws`` as its last argument
and starts each call with ``arena_start(ws)``. Arrays are carved in order, each on a cache line;
one that does not fit is allocated as before, and the position moves on anyway, so after a call
the buffer's header holds the size it needed. :class:`Arena` passes the buffer and, after a call,
replaces it by one of that size (up to ``MAX_BYTES``): the first call allocates as before, and
every later call of the same shapes finds its arrays in place.

Memory: the arena holds every such array of one call side by side (no reuse between arrays whose
lifetimes do not overlap), so it can exceed the peak of a call that frees as it goes; it is capped
at ``MAX_BYTES`` and freed with the function. Two threads calling one function at once each get a
buffer (the second a new one); one buffer is kept.

>>> import numpy as np
>>> arena = Arena()
>>> def kernel(x, ws):  # what a kernel does with the buffer: record the size it needed
...     ws[:8].view(np.int64)[0] = HEADER + 1000
...     return x
>>> run = arena.wrap(kernel)
>>> run(1), arena.size() >= HEADER + 1000
(1, True)
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .aligned import ALIGNMENT
from .helpers import ARENA_HEADER as HEADER

MAX_BYTES = 512 * 1024 * 1024  # larger arenas are not kept: such a call's arrays are allocated as before


def _buffer(nbytes: int) -> tuple[np.ndarray, np.ndarray]:
    """A byte buffer starting on a cache line, and its header as an int64 view (read after a call)."""
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    ws = raw[start:start + nbytes]
    header = ws[:8].view(np.int64)
    header[0] = HEADER  # (a call that fails before the kernel starts needs nothing more)
    return ws, header


class Arena:
    """The buffer of one compiled function's kernel (module docstring)."""

    def __init__(self) -> None:
        self._kept: list[tuple[np.ndarray, np.ndarray]] = []

    def size(self) -> int:
        """Bytes of the buffer kept for the next call (0 if none)."""
        return self._kept[0][0].shape[0] if self._kept else 0

    def wrap(self, fn: Callable) -> Callable:
        """``fn(*args, ws)`` called as ``fn(*args)`` (a kernel or its loop)."""
        kept = self._kept

        def call(*args):
            try:
                ws, header = kept.pop()
            except IndexError:  # the first call, or another thread holds the buffer
                ws, header = _buffer(HEADER)
            try:
                return fn(*args, ws)
            finally:
                need = int(header[0])
                if ws.shape[0] < need <= MAX_BYTES:
                    ws, header = _buffer(need)
                if not kept:
                    kept.append((ws, header))

        return call
