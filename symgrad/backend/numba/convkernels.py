"""Convolution and pooling kernels: jitted functions the generated code calls, one per op (like
``helpers.blas_dot``: compiled once per installation into numba's disk cache, not in every kernel).
The semantics are tensor/nnet/abstract_conv.py's and tensor/signal/pool.py's; the generated code
has checked the shapes before a call (emitters in conv.py), so these functions index only inside
the arrays they were given.

Convolution: per image, the padded input's windows are laid out as the columns of a matrix
(im2col: ``C * kh * kw`` rows, one column per output position; padding is written as zeros) and
the filters as rows, so the image's output is one matrix product (BLAS). The input gradient is
the transposed product followed by the columns added back into their windows (col2im); the filter
gradient sums one product per image.

>>> import numpy as np
>>> x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))
>>> out = np.empty((1, 1, 2, 2))
>>> conv2d_forward(x, w, 0, 0, 1, 1, 1, 1, True, out)
>>> out[0, 0]
array([[4., 4.],
       [4., 4.]])
"""
from __future__ import annotations

import numba
import numpy as np

from .diskcache import attach_all as _attach_all
from .helpers import JIT, blas_dot_to, contiguous


@numba.njit(**JIT)
def filter_rows(w, flip):
    """The filters as a ``(K, C * kh * kw)`` C-ordered matrix, flipped in both spatial axes when ``flip``."""
    k, c, kh, kw = w.shape
    m = np.empty((k, c * kh * kw), dtype=w.dtype)
    for a in range(k):
        for b in range(c):
            for u in range(kh):
                for v in range(kw):
                    m[a, (b * kh + u) * kw + v] = w[a, b, kh - 1 - u, kw - 1 - v] if flip else w[a, b, u, v]
    return m


@numba.njit(**JIT)
def _im2col(x, n, cols, kh, kw, ph, pw, sh, sw, dh, dw, oh, ow):
    """``cols[(c * kh + u) * kw + v, i * ow + j]`` = the padded image ``x[n]`` at the window of
    output ``(i, j)``, offset ``(u, v)`` (zero in the padding)."""
    c_in, h, w = x.shape[1], x.shape[2], x.shape[3]
    if sh == 1 and sw == 1 and dh == 1 and dw == 1 and ph == 0 and pw == 0:
        # the common case (stride 1, no padding): plain copies of rows; numba types the geometry as
        # run-time integers (conv.py), so without this branch every index is computed in full
        # (conv2's three kernels of the lecture's CNN: 3.5 ms, 2.8 ms with constants)
        for c in range(c_in):
            for u in range(kh):
                for v in range(kw):
                    row = (c * kh + u) * kw + v
                    for i in range(oh):
                        base = i * ow
                        for j in range(ow):
                            cols[row, base + j] = x[n, c, i + u, j + v]
        return
    for c in range(c_in):
        for u in range(kh):
            for v in range(kw):
                row = (c * kh + u) * kw + v
                for i in range(oh):
                    r = i * sh + u * dh - ph
                    base = i * ow
                    if r < 0 or r >= h:
                        for j in range(ow):
                            cols[row, base + j] = 0
                        continue
                    for j in range(ow):
                        q = j * sw + v * dw - pw
                        cols[row, base + j] = x[n, c, r, q] if 0 <= q < w else 0


@numba.njit(**JIT)
def _col2im(cols, gx, n, kh, kw, ph, pw, sh, sw, dh, dw, oh, ow):
    """``_im2col`` transposed: each column entry added back into its position of the image
    ``gx[n]`` (entries that read padding are dropped)."""
    c_in, h, w = gx.shape[1], gx.shape[2], gx.shape[3]
    if sh == 1 and sw == 1 and dh == 1 and dw == 1 and ph == 0 and pw == 0:  # (see _im2col)
        for c in range(c_in):
            for u in range(kh):
                for v in range(kw):
                    row = (c * kh + u) * kw + v
                    for i in range(oh):
                        for j in range(ow):
                            gx[n, c, i + u, j + v] += cols[row, i * ow + j]
        return
    for c in range(c_in):
        for u in range(kh):
            for v in range(kw):
                row = (c * kh + u) * kw + v
                for i in range(oh):
                    r = i * sh + u * dh - ph
                    if r < 0 or r >= h:
                        continue
                    for j in range(ow):
                        q = j * sw + v * dw - pw
                        if 0 <= q < w:
                            gx[n, c, r, q] += cols[row, i * ow + j]


@numba.njit(**JIT)
def conv2d_forward_images(x, rows, kh, kw, ph, pw, sh, sw, dh, dw, out, lo, hi):
    """``out[lo:hi]`` = the convolution of the images ``x[lo:hi]`` by the filters whose
    ``filter_rows`` are ``rows`` (``out``: ``(B, K, oh, ow)``, C-ordered)."""
    k, oh, ow = out.shape[1], out.shape[2], out.shape[3]
    cols = np.empty((rows.shape[1], oh * ow), dtype=out.dtype)
    for n in range(lo, hi):
        _im2col(x, n, cols, kh, kw, ph, pw, sh, sw, dh, dw, oh, ow)
        blas_dot_to(rows, cols, out[n].reshape((k, oh * ow)))


@numba.njit(**JIT)
def conv2d_forward(x, w, ph, pw, sh, sw, dh, dw, flip, out):
    """``out[b, k]`` (``(B, K, oh, ow)``, C-ordered) = the convolution of ``x`` by ``w``."""
    conv2d_forward_images(x, filter_rows(w, flip), w.shape[2], w.shape[3], ph, pw, sh, sw, dh, dw, out,
                          0, x.shape[0])


@numba.njit(**JIT)
def conv2d_grad_inputs_images(rows_t, gz, kh, kw, ph, pw, sh, sw, dh, dw, gx, lo, hi):
    """``gx[lo:hi]`` = the input gradient of the images ``lo:hi`` of a convolution whose output
    gradient is ``gz``, by the filters whose ``filter_rows`` are ``rows_t`` transposed."""
    k, oh, ow = gz.shape[1], gz.shape[2], gz.shape[3]
    cols = np.empty((rows_t.shape[0], oh * ow), dtype=gx.dtype)
    gx[lo:hi] = 0
    for n in range(lo, hi):
        blas_dot_to(rows_t, gz[n].reshape((k, oh * ow)), cols)
        _col2im(cols, gx, n, kh, kw, ph, pw, sh, sw, dh, dw, oh, ow)


@numba.njit(**JIT)
def conv2d_grad_inputs(w, gz, ph, pw, sh, sw, dh, dw, flip, gx):
    """``gx`` (``(B, C, H, W)``, C-ordered) = the gradient of the input of a convolution by ``w``
    whose output gradient is ``gz``."""
    rows_t = np.ascontiguousarray(filter_rows(w, flip).T)  # (C * kh * kw, K)
    conv2d_grad_inputs_images(rows_t, contiguous(gz), w.shape[2], w.shape[3], ph, pw, sh, sw, dh, dw, gx,
                              0, gz.shape[0])


@numba.njit(**JIT)
def conv2d_grad_weights_images(x, gz, kh, kw, ph, pw, sh, sw, dh, dw, total, lo, hi):
    """``total`` (``(K, C * kh * kw)``, the layout of ``filter_rows``) += the filter gradient of the
    images ``lo:hi`` (one product per image, added in image order)."""
    k, oh, ow = gz.shape[1], gz.shape[2], gz.shape[3]
    cols = np.empty((total.shape[1], oh * ow), dtype=total.dtype)
    part = np.empty(total.shape, dtype=total.dtype)
    for n in range(lo, hi):
        _im2col(x, n, cols, kh, kw, ph, pw, sh, sw, dh, dw, oh, ow)
        blas_dot_to(gz[n].reshape((k, oh * ow)), cols.T, part)
        total += part


@numba.njit(**JIT)
def filters_from_rows(totals, flip, gw):
    """``gw`` (``(K, C, kh, kw)``) = the sum of the filter-row matrices ``totals[0], totals[1], ...``
    (``filter_rows``' layout; per-chunk partial sums, added in chunk order) laid out as filters,
    flipped back when ``flip``."""
    k, c_in, kh, kw = gw.shape
    for a in range(k):
        for b in range(c_in):
            for u in range(kh):
                for v in range(kw):
                    value = totals[0, a, (b * kh + u) * kw + v]
                    for c in range(1, totals.shape[0]):
                        value += totals[c, a, (b * kh + u) * kw + v]
                    if flip:
                        gw[a, b, kh - 1 - u, kw - 1 - v] = value
                    else:
                        gw[a, b, u, v] = value


@numba.njit(**JIT)
def conv2d_grad_weights(x, gz, ph, pw, sh, sw, dh, dw, flip, gw):
    """``gw`` (``(K, C, kh, kw)``, C-ordered) = the gradient of the filters of a convolution of
    ``x`` whose output gradient is ``gz``."""
    k, c_in, kh, kw = gw.shape
    totals = np.zeros((1, k, c_in * kh * kw), dtype=gw.dtype)
    conv2d_grad_weights_images(x, contiguous(gz), kh, kw, ph, pw, sh, sw, dh, dw, totals[0], 0, x.shape[0])
    filters_from_rows(totals, flip, gw)


@numba.njit(**JIT)
def conv2d_images(x, g, rows, out, totals, kh, kw, geometry, c, lo, hi):
    """The images ``lo:hi`` of one of the three convolutions, for chunk ``c``: ``geometry`` holds
    the padding, strides, dilation and the kind (0 forward: ``x`` by ``rows`` into ``out``; 1 input
    gradient: ``g`` by ``rows`` (transposed filter rows) into ``out``; 2 filter gradient of ``x``
    and ``g`` into ``totals[c]``). One signature for all three: the generated code calls it from
    one parallel function per kernel (conv.py)."""
    ph, pw, sh, sw, dh, dw, kind = geometry[0], geometry[1], geometry[2], geometry[3], geometry[4], geometry[5], \
        geometry[6]
    if kind == 0:
        conv2d_forward_images(x, rows, kh, kw, ph, pw, sh, sw, dh, dw, out, lo, hi)
    elif kind == 1:
        conv2d_grad_inputs_images(rows, g, kh, kw, ph, pw, sh, sw, dh, dw, out, lo, hi)
    else:
        conv2d_grad_weights_images(x, g, kh, kw, ph, pw, sh, sw, dh, dw, totals[c], lo, hi)


@numba.njit(**JIT)
def conv2d_chunk(c, st):
    """Chunk ``c`` of ``nt`` of a convolution's images (``conv2d_images``), for ``run_chunks``:
    ``st`` is ``(x, g, rows, out, totals, kh, kw, geometry, nt)``; the batch size is ``g``'s."""
    x, g, rows, out, totals, kh, kw, geometry, nt = st
    n = g.shape[0]
    conv2d_images(x, g, rows, out, totals, kh, kw, geometry, c, c * n // nt, (c + 1) * n // nt)
    return 0


@numba.njit(**JIT)
def image_chunks(n, work, most):
    """Chunks of images (one per thread) for a convolution of ``work`` multiply-adds over ``n``
    images: ``most`` for large ones, one below ~2**20 (a few hundred microseconds: waking the
    threads would cost more than it saves)."""
    if work < 1 << 20:
        return 1
    return max(1, min(most, n))


@numba.njit(**JIT)
def _windows(n, k, s, p, count, inc_pad):
    """The pooling windows along one axis (tensor/reference.py ``pool_windows``): per output index,
    the start and stop in the input (clipped to it) and the count an average divides by."""
    out = np.empty((count, 3), dtype=np.int64)
    for r in range(count):
        start = r * s
        stop = min(start + k, n + 2 * p)
        lo = max(start, p)
        hi = min(stop, n + p)
        out[r, 0] = lo - p
        out[r, 1] = hi - p
        out[r, 2] = (stop - start) if inc_pad else (hi - lo)
    return out


@numba.njit(**JIT)
def _halves(x, kh, kw, sh, sw, ph, pw, out):
    """Whether the pooling is the common 2x2 one: windows 2x2, stride 2, no padding, every window
    whole (the kernels below unroll it; 7x faster than the general loops on 22x22 maps)."""
    return (kh == 2 and kw == 2 and sh == 2 and sw == 2 and ph == 0 and pw == 0
            and out.shape[1] == x.shape[1] // 2 and out.shape[2] == x.shape[2] // 2)


@numba.njit(**JIT)
def _max_pool_2x2(x, out):
    """``pool_forward`` for ``_halves``: four loads and three selects per output, no branch (a
    NaN in a window is tested apart so that the selects stay vectorizable)."""
    for m in range(x.shape[0]):
        for i in range(out.shape[1]):
            a, b, o = x[m, 2 * i], x[m, 2 * i + 1], out[m, i]
            for j in range(out.shape[2]):
                p, q, r, s = a[2 * j], a[2 * j + 1], b[2 * j], b[2 * j + 1]
                u = p if p > q else q
                v = r if r > s else s
                best = u if u > v else v
                o[j] = np.nan if (p != p) | (q != q) | (r != r) | (s != s) else best


@numba.njit(**JIT)
def _max_pool_2x2_grad(x, z, gz, gx):
    """``pool_backward`` for ``_halves``: every position of a window equal to its maximum gets its
    gradient, the others zero (the windows cover the rows and columns they touch once)."""
    zero = gx.dtype.type(0)
    for m in range(x.shape[0]):
        for i in range(gz.shape[1]):
            top, g = z[m, i], gz[m, i]
            for d in range(2):
                xr, gr = x[m, 2 * i + d], gx[m, 2 * i + d]
                for j in range(gz.shape[2]):
                    t, h = top[j], g[j]
                    gr[2 * j] = h if xr[2 * j] == t else zero
                    gr[2 * j + 1] = h if xr[2 * j + 1] == t else zero
        if 2 * gz.shape[1] < x.shape[1]:  # an odd last row that no window reads
            gx[m, 2 * gz.shape[1]:] = zero
        if 2 * gz.shape[2] < x.shape[2]:
            gx[m, :, 2 * gz.shape[2]:] = zero


@numba.njit(**JIT)
def pool_forward(x, kh, kw, sh, sw, ph, pw, mode, out):
    """``out[m]`` = the pooled ``x[m]`` for the images ``x`` (``(M, H, W)``); ``mode`` 0 max, 1 sum,
    2 average including the padding, 3 average excluding it."""
    if mode == 0 and _halves(x, kh, kw, sh, sw, ph, pw, out):
        _max_pool_2x2(x, out)
        return
    rows = _windows(x.shape[1], kh, sh, ph, out.shape[1], mode == 2)
    cols = _windows(x.shape[2], kw, sw, pw, out.shape[2], mode == 2)
    for m in range(x.shape[0]):
        for i in range(out.shape[1]):
            r0, r1 = rows[i, 0], rows[i, 1]
            for j in range(out.shape[2]):
                c0, c1 = cols[j, 0], cols[j, 1]
                if mode == 0:
                    best = x[m, r0, c0]
                    for r in range(r0, r1):
                        for q in range(c0, c1):
                            value = x[m, r, q]
                            # numpy's max: a NaN wins and stays
                            best = value if (value > best or value != value) and best == best else best
                    out[m, i, j] = best
                else:
                    total = 0.0
                    for r in range(r0, r1):
                        for q in range(c0, c1):
                            total += x[m, r, q]
                    out[m, i, j] = total if mode == 1 else total / (rows[i, 2] * cols[j, 2])


@numba.njit(**JIT)
def pool_backward(x, z, gz, kh, kw, sh, sw, ph, pw, mode, gx):
    """``gx`` = the gradient of ``x`` (``(M, H, W)``) through the pooling that gave ``z`` whose
    gradient is ``gz``: every position holding its window's maximum gets the window's gradient
    (ties included), or each position its share (sum, averages). Windows that do not overlap
    (stride >= window) write their positions instead of adding to them."""
    if mode == 0 and _halves(x, kh, kw, sh, sw, ph, pw, gz):
        _max_pool_2x2_grad(x, z, gz, gx)
        return
    rows = _windows(x.shape[1], kh, sh, ph, gz.shape[1], mode == 2)
    cols = _windows(x.shape[2], kw, sw, pw, gz.shape[2], mode == 2)
    apart = sh >= kh and sw >= kw
    gx[...] = 0
    for m in range(x.shape[0]):
        for i in range(gz.shape[1]):
            r0, r1 = rows[i, 0], rows[i, 1]
            for j in range(gz.shape[2]):
                c0, c1 = cols[j, 0], cols[j, 1]
                g = gz[m, i, j]
                if mode == 0:
                    top = z[m, i, j]
                    if apart:
                        for r in range(r0, r1):
                            for q in range(c0, c1):
                                gx[m, r, q] = g if x[m, r, q] == top else 0
                    else:
                        for r in range(r0, r1):
                            for q in range(c0, c1):
                                gx[m, r, q] += g if x[m, r, q] == top else 0
                else:
                    share = g if mode == 1 else g / (rows[i, 2] * cols[j, 2])
                    if apart:
                        for r in range(r0, r1):
                            for q in range(c0, c1):
                                gx[m, r, q] = share
                    else:
                        for r in range(r0, r1):
                            for q in range(c0, c1):
                                gx[m, r, q] += share


# Every kernel above: a damaged cache entry is compiled again, not raised (as the helpers' are).
_attach_all(globals())
