"""The emitters of the convolution and pooling ops: the shape checks of the node (static messages
naming the variables; the reference backend gives the precise one), the padding resolved from
the filters' shape, a fresh C-ordered result, and one call of the kernel in convkernels.py.

Pooling runs over the last two axes: the leading axes are seen as one (a C-ordered reshape).
"""
from __future__ import annotations

from ...graph import Apply
from ...tensor.nnet.abstract_conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights, ConvParams
from ...tensor.signal.pool import MODES, Pool, PoolGrad, PoolParams
from .emit import Emitter, _label, _msg, emitter, joined


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


def _args(p: ConvParams, pads: list[str]) -> str:
    return ", ".join([*pads, *map(str, p.subsample), *map(str, p.dilation), str(p.flip)])


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
    em.emit(f"conv2d_forward({xn}, {wn}, {_args(p, pads)}, {o})")


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
    em.emit(f"{kernel}({an}, {gn}, {_args(p, pads)}, {o})")


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
    m = _images(xn, nd)
    em.emit(f"pool_backward(contiguous({xn}).reshape(({m}, {xn}.shape[{nd - 2}], {xn}.shape[{nd - 1}])), "
            f"contiguous({zn}).reshape(({m}, {oh}, {ow})), contiguous({gn}).reshape(({m}, {oh}, {ow})), "
            f"{_pool_args(p)}, {o}.reshape(({m}, {xn}.shape[{nd - 2}], {xn}.shape[{nd - 1}])))")
