"""Arrays whose data start on a cache line.

numpy aligns allocations to 16 bytes only, so a large array usually starts 16 or 48 bytes past a
64-byte boundary, and a row pass streaming such an array is slower: the 400x784 logistic-regression
step inside ``loop`` measured 34.7 us per step with its data 16 bytes off a line, 30.7 us with it on
one (two threads; 33.6 at 48 bytes, 31.6 at 32). (Not only because vector loads span two lines:
starting the kernel's main loops on a line did not recover it; see docs/ARCHITECTURE.md.)
A copy costs about one pass over the data, so ``loop`` copies a large misaligned input once when it
runs enough steps for the copy to pay (see ``backend/numba``).

>>> import numpy as np
>>> a = aligned_copy(np.arange(6.0).reshape(2, 3))
>>> is_aligned(a), a.tolist()
(True, [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
"""
from __future__ import annotations

import numpy as np

ALIGNMENT = 64  # bytes: a cache line, one AVX-512 vector


def is_aligned(a: np.ndarray) -> bool:
    """Whether ``a``'s data start on an ``ALIGNMENT``-byte boundary."""
    return a.ctypes.data % ALIGNMENT == 0


def aligned_copy(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` starting on an ``ALIGNMENT``-byte boundary, read-only when
    ``a`` is (a kernel compiled for a read-only array keeps being used for the copy)."""
    buf = np.empty(a.nbytes + ALIGNMENT, dtype=np.uint8)
    start = -buf.ctypes.data % ALIGNMENT
    out = buf[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    np.copyto(out, a)
    out.flags.writeable = a.flags.writeable
    return out
