"""The emitters of the convolution and pooling ops: the shape checks of the node (static messages
naming the variables; the reference backend gives the precise one), the padding resolved from
the filters' shape, a fresh C-ordered result, and one call of the kernel in convkernels.py.

Pooling runs over the last two axes: the leading axes are seen as one (a C-ordered reshape).
"""
from __future__ import annotations

from ...config import config
from ...graph import Apply
from ...tensor.nnet.abstract_conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights, ConvParams
from ...tensor.signal.pool import MODES, Pool, PoolGrad, PoolParams
from .emit import Emitter, _label, emitter, joined
from .rowpass import ROW_THREADS


def _geometry(em: Emitter, p: ConvParams, kh: str, kw: str) -> list[str]:
    """Names holding the padding (``ph``, ``pw``) for filters of ``kh x kw``, emitted."""
    names = []
    for border, k, d in zip(p.border, (kh, kw), p.dilation):
        name = em.fresh("pad")
        span = f"(({k}) - 1) * {d} + 1"
        em.emit(f"{name} = {span} - 1" if border == "full" else f"{name} = ({span}) // 2" if border == "half"
                else f"{name} = {border}")
        names.append(name)
    return names


def _out_sizes(em: Emitter, p: ConvParams, h: str, w: str, kh: str, kw: str, pads: list[str]) -> list[str]:
    names = []
    for n, k, pad, s, d in zip((h, w), (kh, kw), pads, p.subsample, p.dilation):
        name = em.fresh("o")
        em.emit(f"{name} = ({n} + 2 * {pad} - (({k}) - 1) * {d} - 1) // {s} + 1")
        names.append(name)
    return names


def _args(p: ConvParams, pads: list[str], flip: bool = True) -> str:
    """The padding, strides, dilation (and the flip) as the arguments of a kernel of convkernels.py.
    Integers go as ``np.int64(...)``: numba types a constant argument as a literal and compiles
    the callee again for every other value (a pooling table of 24 geometries: 24 compilations
    of each kernel, ~1.4 s each)."""
    ints = [f"np.int64({v})" for v in [*pads, *p.subsample, *p.dilation]]
    return ", ".join(ints + ([str(p.flip)] if flip else []))


# --- the batch on threads --------------------------------------------------------------------
# With ``config.parallel`` a convolution's images are split into fixed chunks, one per thread
# (``image_chunks``: the count is fixed when the kernel is generated, so a filter gradient, summed
# chunk by chunk, never depends on how many threads run). ``run_chunks`` (chunks.py) hands the
# chunks to numba's threads, each running ``convkernels.conv2d_chunk``: one cached function for
# all three kinds and every kernel (a ``prange`` in the kernel's module made numba compile a
# parallel function per kernel, 1-2 s each). A kernel with it is ``threaded`` (threads.py chooses
# all threads or one per call) and runs with BLAS on one thread (``KernelInfo.one_blas_thread``,
# blas.py): OpenBLAS's own threads would compete with numba's.
FORWARD, GRAD_INPUTS, GRAD_WEIGHTS = 0, 1, 2  # (convkernels.conv2d_images)


def _run_images(em: Emitter, kind: int, x: str, g: str, rows: str, out: str, totals: str, kh: str, kw: str,
                p: ConvParams, pads: list[str], work: str) -> None:
    """Emit the call that runs a convolution's images in chunks (``convkernels.conv2d_images``;
    ``g`` gives the batch size, the forward pass passes its result as ``g``) through ``run_chunks``:
    on threads, or in one chunk on this thread when the work is small (``image_chunks``: a parallel
    region would cost more than it saves)."""
    em.threaded = True
    nt, geometry = em.fresh("nt"), em.fresh("geometry")
    em.emit(f"{nt} = image_chunks({g}.shape[0], {work}, {ROW_THREADS})")
    # the padding, strides, dilation and the kind in an int64 array: numba types integer constants
    # passed to a function as literals and compiles it again for every other value (1-2 s each)
    em.emit(f"{geometry} = np.array(({', '.join([*pads, *map(str, p.subsample), *map(str, p.dilation)])}, {kind}), "
            "dtype=np.int64)")
    args = f"{x}, {g}, {rows}, {out}, {totals}, {kh}, {kw}, {geometry}"
    em.emit(f"run_chunks({nt}, conv2d_chunk, ({args}, {nt}))")  # (one chunk: on this thread)


@emitter(Conv2d)
def _conv2d(em: Emitter, node: Apply) -> None:
    x, w = node.inputs
    xn, wn = em.name(x), em.name(w)
    p = node.op.params
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    pads = _geometry(em, p, f"{wn}.shape[2]", f"{wn}.shape[3]")
    oh, ow = _out_sizes(em, p, f"{xn}.shape[2]", f"{xn}.shape[3]", f"{wn}.shape[2]", f"{wn}.shape[3]", pads)
    em.fail_if(f"{xn}.shape[1] != {wn}.shape[1]",
               ValueError, f'conv2d: the channels of {_label(x)} and of the filters {_label(w)} disagree')
    bad = f"conv2d: the filters {_label(w)} do not fit the input {_label(x)} (with its padding)"
    em.fail_if(joined([f"{oh} < 1", f"{ow} < 1"]), ValueError, bad)
    em.emit(f"{o} = {em.new_array(node.outputs[0], f'({xn}.shape[0], {wn}.shape[0], {oh}, {ow})')}")
    em.c_ordered.add(o)
    if not config.parallel:
        em.emit(f"conv2d_forward({xn}, {wn}, {_args(p, pads)}, {o})")
        return
    rows, none = em.fresh("rows"), em.fresh("none")
    em.emit(f"{rows} = filter_rows({wn}, {p.flip})")
    em.emit(f"{none} = new_empty((np.int64(0), np.int64(0), np.int64(0)), {o}.dtype)")
    _run_images(em, FORWARD, xn, o, rows, o, none, f"{wn}.shape[2]", f"{wn}.shape[3]", p, pads,
                f"{o}.size * {rows}.shape[1]")


def _gradient(em: Emitter, node: Apply, spatial: tuple[str, str], sizes: tuple[str, str], kernel: str,
              checks: list[str], against: str, shape: str) -> None:
    """A convolution gradient: the padding (from the filter size ``sizes``), the output size that
    the gradient ``node.inputs[1]`` must have (from the input size ``spatial``), ``checks`` on top,
    the result of ``shape``, one call."""
    a, gz = node.inputs[:2]
    an, gn = em.name(a), em.name(gz)
    p = node.op.params
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    pads = _geometry(em, p, *sizes)
    oh, ow = _out_sizes(em, p, *spatial, *sizes, pads)
    bad = f"conv2d gradient: {_label(gz)} does not match {against} {_label(a)}"
    em.fail_if(joined(checks + [f"{gn}.shape[2] != {oh}", f"{gn}.shape[3] != {ow}"]), ValueError, bad)
    em.emit(f"{o} = {em.new_array(node.outputs[0], shape)}")
    em.c_ordered.add(o)
    if not config.parallel:
        em.emit(f"{kernel}({an}, {gn}, {_args(p, pads)}, {o})")
        return
    g, rows, none = em.fresh("g"), em.fresh("rows"), em.fresh("none")
    em.emit(f"{g} = contiguous({gn})")
    if isinstance(node.op, Conv2dGradInputs):
        em.emit(f"{rows} = np.ascontiguousarray(filter_rows({an}, {p.flip}).T)")
        em.emit(f"{none} = new_empty((np.int64(0), np.int64(0), np.int64(0)), {o}.dtype)")
        _run_images(em, GRAD_INPUTS, o, g, rows, o, none, f"{an}.shape[2]", f"{an}.shape[3]", p, pads,
                    f"{g}.size * {rows}.shape[0]")
    else:
        per_filter, totals = f"{o}.shape[1] * {o}.shape[2] * {o}.shape[3]", em.fresh("totals")
        em.emit(f"{rows} = new_empty((np.int64(0), np.int64(0)), {o}.dtype)")
        em.emit(f"{totals} = new_zeros((np.int64({ROW_THREADS}), {o}.shape[0], {per_filter}), {o}.dtype)")
        _run_images(em, GRAD_WEIGHTS, an, g, rows, o, totals, f"{o}.shape[2]", f"{o}.shape[3]", p, pads,
                    f"{g}.size * {per_filter}")
        em.emit(f"filters_from_rows({totals}, {p.flip}, {o})")  # (the chunks' sums added in chunk order)


@emitter(Conv2dGradInputs)
def _conv2d_grad_inputs(em: Emitter, node: Apply) -> None:
    wn, gn, hn, wdn = (em.name(v) for v in node.inputs)
    _gradient(em, node, (hn, wdn), (f"{wn}.shape[2]", f"{wn}.shape[3]"), "conv2d_grad_inputs",
              [f"{hn} < 0", f"{wdn} < 0", f"{gn}.shape[1] != {wn}.shape[0]"], "the filters",
              f"({gn}.shape[0], {wn}.shape[1], {hn}, {wdn})")


@emitter(Conv2dGradWeights)
def _conv2d_grad_weights(em: Emitter, node: Apply) -> None:
    xn, gn, khn, kwn = (em.name(v) for v in node.inputs)
    _gradient(em, node, (f"{xn}.shape[2]", f"{xn}.shape[3]"), (khn, kwn), "conv2d_grad_weights",
              [f"{khn} < 1", f"{kwn} < 1", f"{gn}.shape[0] != {xn}.shape[0]"], "the input",
              f"({gn}.shape[1], {xn}.shape[1], {khn}, {kwn})")


def _pool_sizes(em: Emitter, p: PoolParams, xn: str, nd: int) -> list[str]:
    names = []
    for axis in (0, 1):
        n, k, s, pad = f"{xn}.shape[{nd - 2 + axis}]", p.ws[axis], p.stride[axis], p.pad[axis]
        name = em.fresh("o")
        if p.ignore_border:
            em.emit(f"{name} = max(({n} + {2 * pad} - {k}) // {s} + 1, 0)")
        elif s >= k:
            em.emit(f"{name} = ({n} - 1) // {s} + 1 if {n} > 0 else 0")
        else:
            em.emit(f"{name} = max(0, ({n} - 1 - {k} + {s}) // {s}) + 1 if {n} > 0 else 0")
        names.append(name)
    return names


def _images(xn: str, nd: int) -> str:
    """The number of images: the product of the leading axes (1 for a matrix)."""
    return " * ".join(f"{xn}.shape[{d}]" for d in range(nd - 2)) or "1"


def _pool_args(p: PoolParams) -> str:
    """Window, stride, padding and mode as plain int64 arguments (see ``_args``)."""
    return ", ".join(f"np.int64({v})" for v in [*p.ws, *p.stride, *p.pad, MODES.index(p.mode)])


@emitter(Pool)
def _pool(em: Emitter, node: Apply) -> None:
    (x,), out = node.inputs, node.outputs[0]
    xn, nd = em.name(x), x.ndim
    p = node.op.params
    o = em.bind(out, f"v{len(em.names)}")
    oh, ow = _pool_sizes(em, p, xn, nd)
    lead = "".join(f"{xn}.shape[{d}], " for d in range(nd - 2))
    em.emit(f"{o} = {em.new_array(out, f'({lead}{oh}, {ow},)')}")
    em.c_ordered.add(o)
    m = _images(xn, nd)
    em.emit(f"pool_forward(contiguous({xn}).reshape(({m}, {xn}.shape[{nd - 2}], {xn}.shape[{nd - 1}])), "
            f"{_pool_args(p)}, {o}.reshape(({m}, {oh}, {ow})))")


@emitter(PoolGrad)
def _pool_grad(em: Emitter, node: Apply) -> None:
    x, z, gz = node.inputs
    xn, zn, gn = (em.name(v) for v in node.inputs)
    nd, p, out = x.ndim, node.op.params, node.outputs[0]
    o = em.bind(out, f"v{len(em.names)}")
    oh, ow = _pool_sizes(em, p, xn, nd)
    checks = [f"{v}.shape[{d}] != {xn}.shape[{d}]" for v in (zn, gn) for d in range(nd - 2)]
    checks += [f"{v}.shape[{nd - 2}] != {oh}" for v in (zn, gn)] + [f"{v}.shape[{nd - 1}] != {ow}" for v in (zn, gn)]
    bad = f"pool_2d gradient: {_label(gz)} does not match the input {_label(x)}"
    em.fail_if(joined(checks), ValueError, bad)
    em.emit(f"{o} = {em.new_array(out, f'{xn}.shape')}")
    em.c_ordered.add(o)
    m = _images(xn, nd)
    em.emit(f"pool_backward(contiguous({xn}).reshape(({m}, {xn}.shape[{nd - 2}], {xn}.shape[{nd - 1}])), "
            f"contiguous({zn}).reshape(({m}, {oh}, {ow})), contiguous({gn}).reshape(({m}, {oh}, {ow})), "
            f"{_pool_args(p)}, {o}.reshape(({m}, {xn}.shape[{nd - 2}], {xn}.shape[{nd - 1}])))")
