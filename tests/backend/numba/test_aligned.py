"""Copies on a cache line (backend/numba/aligned.py)."""
import numpy as np
import pytest

from symgrad.backend.numba.aligned import ALIGNMENT, aligned_copy, is_aligned


def off_line(shape, dtype, offset):
    """An array of ``shape`` whose data start ``offset`` bytes past a cache line."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = np.empty(size + 2 * ALIGNMENT, dtype=np.uint8)
    start = -buf.ctypes.data % ALIGNMENT + offset
    a = buf[start:start + size].view(dtype).reshape(shape)
    a[...] = np.arange(a.size).reshape(shape) % 7
    return a


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "bool"])
@pytest.mark.parametrize("shape", [(5, 3), (7,), (0, 4), ()])
def test_the_copy_is_aligned_and_equal(dtype, shape):
    a = off_line(shape, dtype, 16)
    assert not is_aligned(a) or a.nbytes == 0
    c = aligned_copy(a)
    assert is_aligned(c) or c.size == 0  # (an empty array has no data to align)
    assert c.flags.c_contiguous and c.dtype == a.dtype and c.shape == a.shape
    np.testing.assert_array_equal(c, a)
    assert not np.shares_memory(c, a)


def test_a_read_only_array_gives_a_read_only_copy():
    a = off_line((4, 4), "float64", 8)
    a.flags.writeable = False
    assert not aligned_copy(a).flags.writeable
    assert aligned_copy(np.ones(3)).flags.writeable
