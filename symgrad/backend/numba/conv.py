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
from .emit import Emitter, JitFunction, _label, _msg, emitter, joined
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
    return ", ".join([*pads, *map(str, p.subsample), *map(str, p.dilation)] + ([str(p.flip)] if flip else []))


# --- the batch on threads --------------------------------------------------------------------
# With ``config.parallel`` a convolution's images are split into fixed chunks, one per thread
# (``image_chunks``: the count is fixed when the kernel is generated, so a filter gradient, summed
# chunk by chunk, never depends on how many threads run). The function that runs the chunks on
# threads is generated into the kernel's module (one per kind of convolution and module), as a
# row pass's is: a kernel with one is ``threaded`` (threads.py chooses all threads or one per
# call, a forked child gets a serial build). Such a kernel runs with scipy's BLAS on one thread
# (``KernelInfo.one_blas_thread``, blas.py): OpenBLAS's own threads would compete with numba's.
_IMAGES = {  # kind: (the function over images lo:hi, its first two parameters, its result)
    "forward": ("conv2d_forward_images", "x, rows", "out"),
    "grad_inputs": ("conv2d_grad_inputs_images", "rows_t, gz", "gx"),
    "grad_weights": ("conv2d_grad_weights_images", "x, gz", "totals"),  # (one partial sum per chunk)
}


def _threaded(em: Emitter, kind: str) -> str:
    """The name of the module's function that runs ``kind``'s image chunks on threads (generated
    once per module): ``name(nt, ...)``, the chunk count first."""
    name = f"{em.global_prefix}conv_{kind}_par{em.suffix}"
    if any(f.name == name for group in em.extra for f in group):
        return name
    images, operands, result = _IMAGES[kind]
    params = f"{operands}, kh, kw, ph, pw, sh, sw, dh, dw, {result}"
    part = "[c]" if kind == "grad_weights" else ""
    source = "\n".join([
        f"def {name}(nt, {params}):",
        f"    n = {operands.split(', ')[1 if kind == 'grad_inputs' else 0]}.shape[0]",
        "    if nt == 1:",
        f"        {images}({params}{part.replace('c', '0')}, n - n, n)",
        "        return 0",
        "    for c in numba.prange(nt):",
        f"        {images}({params}{part}, c * n // nt, (c + 1) * n // nt)",
        "    return 0",
    ])
    em.extra.append((JitFunction(name, source, "JIT_PAR"),))
    return name


def _chunks(em: Emitter, images: str, work: str) -> str:
    nt = em.fresh("nt")
    em.emit(f"{nt} = image_chunks({images}, {work}, {ROW_THREADS})")
    return nt


@emitter(Conv2d)
def _conv2d(em: Emitter, node: Apply) -> None:
    x, w = node.inputs
    xn, wn = em.name(x), em.name(w)
    p = node.op.params
    o = em.bind(node.outputs[0], f"v{len(em.names)}")
    pads = _geometry(em, p, f"{wn}.shape[2]", f"{wn}.shape[3]")
    oh, ow = _out_sizes(em, p, f"{xn}.shape[2]", f"{xn}.shape[3]", f"{wn}.shape[2]", f"{wn}.shape[3]", pads)
    em.fail_if(f"{xn}.shape[1] != {wn}.shape[1]",
               f"ValueError({_msg(f'conv2d: the channels of {_label(x)} and of the filters {_label(w)} disagree')})")
    bad = f"conv2d: the filters {_label(w)} do not fit the input {_label(x)} (with its padding)"
    em.fail_if(joined([f"{oh} < 1", f"{ow} < 1"]), f"ValueError({_msg(bad)})")
    em.emit(f"{o} = {em.new_array(node.outputs[0], f'({xn}.shape[0], {wn}.shape[0], {oh}, {ow})')}")
    em.c_ordered.add(o)
    if not config.parallel:
        em.emit(f"conv2d_forward({xn}, {wn}, {_args(p, pads)}, {o})")
        return
    rows = em.fresh("rows")
    em.emit(f"{rows} = filter_rows({wn}, {p.flip})")
    work = f"{o}.size * {rows}.shape[1]"
    em.emit(f"{_threaded(em, 'forward')}({_chunks(em, f'{xn}.shape[0]', work)}, {xn}, {rows}, {wn}.shape[2], "
            f"{wn}.shape[3], {_args(p, pads, flip=False)}, {o})")


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
    em.fail_if(joined(checks + [f"{gn}.shape[2] != {oh}", f"{gn}.shape[3] != {ow}"]), f"ValueError({_msg(bad)})")
    em.emit(f"{o} = {em.new_array(node.outputs[0], shape)}")
    em.c_ordered.add(o)
    if not config.parallel:
        em.emit(f"{kernel}({an}, {gn}, {_args(p, pads)}, {o})")
        return
    g = em.fresh("g")
    em.emit(f"{g} = contiguous({gn})")
    if kernel == "conv2d_grad_inputs":
        rows = em.fresh("rows")
        em.emit(f"{rows} = np.ascontiguousarray(filter_rows({an}, {p.flip}).T)")
        em.emit(f"{_threaded(em, 'grad_inputs')}({_chunks(em, f'{g}.shape[0]', f'{g}.size * {rows}.shape[0]')}, "
                f"{rows}, {g}, {an}.shape[2], {an}.shape[3], {_args(p, pads, flip=False)}, {o})")
    else:
        per_filter = f"{o}.shape[1] * {o}.shape[2] * {o}.shape[3]"
        nt, totals = _chunks(em, f"{g}.shape[0]", f"{g}.size * {per_filter}"), em.fresh("totals")
        em.emit(f"{totals} = np.zeros(({nt}, {o}.shape[0], {per_filter}), dtype={o}.dtype)")
        em.emit(f"{_threaded(em, 'grad_weights')}({nt}, {an}, {g}, {o}.shape[2], {o}.shape[3], "
                f"{_args(p, pads, flip=False)}, {totals})")
        em.emit(f"for c in range(1, {nt}):")  # chunk order: the same bits for a given chunk count
        em.emit(f"    {totals}[0] += {totals}[c]")
        em.emit(f"filters_from_rows({totals}[0], {p.flip}, {o})")


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
    return ", ".join(map(str, [*p.ws, *p.stride, *p.pad, MODES.index(p.mode)]))


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
    em.fail_if(joined(checks), f"ValueError({_msg(bad)})")
    em.emit(f"{o} = {em.new_array(out, f'{xn}.shape')}")
    em.c_ordered.add(o)
    m = _images(xn, nd)
    em.emit(f"pool_backward(contiguous({xn}).reshape(({m}, {xn}.shape[{nd - 2}], {xn}.shape[{nd - 1}])), "
            f"contiguous({zn}).reshape(({m}, {oh}, {ow})), contiguous({gn}).reshape(({m}, {oh}, {ow})), "
            f"{_pool_args(p)}, {o}.reshape(({m}, {xn}.shape[{nd - 2}], {xn}.shape[{nd - 1}])))")
