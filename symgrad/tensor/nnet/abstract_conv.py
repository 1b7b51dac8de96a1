"""2-D convolution as in Theano (``theano.tensor.nnet.conv2d``, Theano's abstract_conv): NCHW
images, filters ``(out channels, in channels, rows, cols)``, and its two gradients as ops.

With ``xp`` the input zero-padded by ``(ph, pw)`` on each side and ``w'`` the filters flipped in
both spatial axes when ``filter_flip`` (true convolution, Theano's default) or as given::

    out[b, k, i, j] = sum_{c, u, v} xp[b, c, i*sh + u*dh, j*sw + v*dw] * w'[k, c, u, v]

``border_mode``: ``'valid'`` (no padding), ``'full'`` (``(k - 1) * d`` on each side), ``'half'``
(``((k - 1) * d + 1) // 2``: the same size for odd filters and stride 1), an int or a pair of
ints. The padding of ``'full'``/``'half'`` is resolved from the filters' shape when the kernel
runs, so filters of any size fit. The gradients are ops of their own (``Conv2dGradInputs``,
``Conv2dGradWeights``) whose own gradients are the three ops again: the product is linear in
each operand.

>>> import symgrad.tensor as T
>>> conv2d(T.tensor4("x"), T.tensor4("w"), border_mode="half").type
TensorType(float64, tensor4)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...graph import Apply, Op, TensorType, Variable
from ..elemwise import cast
from ..shape import specify_shape
from ..variable import as_tensor_variable


def _pair(value, what: str, minimum: int) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"conv2d: {what} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"conv2d: {what} must be >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


@dataclass(frozen=True)
class ConvParams:
    """What a convolution does besides its operands: ``border`` per spatial axis (an int >= 0, or
    ``"full"``/``"half"``, resolved from the filter size), ``subsample`` (strides), ``dilation``,
    ``flip`` (filters flipped: true convolution).

    >>> ConvParams.of("half", (1, 1), (2, 2), True).pads(3, 3)
    (2, 2)
    """

    border: tuple
    subsample: tuple[int, int]
    dilation: tuple[int, int]
    flip: bool

    @staticmethod
    def of(border_mode, subsample, filter_dilation, filter_flip) -> "ConvParams":
        if isinstance(border_mode, str):
            if border_mode not in ("valid", "full", "half"):
                raise ValueError(f"conv2d: border_mode must be 'valid', 'full', 'half', an int or a pair of ints, "
                                 f"got {border_mode!r}")
            border = (0, 0) if border_mode == "valid" else (border_mode, border_mode)
        else:
            border = _pair(border_mode, "border_mode", 0)
        return ConvParams(border, _pair(subsample, "subsample", 1), _pair(filter_dilation, "filter_dilation", 1),
                          bool(filter_flip))

    def pads(self, kh: int, kw: int) -> tuple[int, int]:
        """The zero padding on each side of each spatial axis for filters of ``kh x kw``."""
        out = []
        for b, k, d in zip(self.border, (kh, kw), self.dilation):
            span = (k - 1) * d + 1
            out.append(span - 1 if b == "full" else span // 2 if b == "half" else b)
        return out[0], out[1]

    def out_size(self, h: int, w: int, kh: int, kw: int) -> tuple[int, int]:
        """The output's spatial size (negative when the filters do not fit the padded input)."""
        (ph, pw), (sh, sw), (dh, dw) = self.pads(kh, kw), self.subsample, self.dilation
        return ((h + 2 * ph - (kh - 1) * dh - 1) // sh + 1, (w + 2 * pw - (kw - 1) * dw - 1) // sw + 1)

    def __str__(self):
        return (f"border={self.border}, subsample={self.subsample}, dilation={self.dilation}, "
                f"flip={self.flip}")


def _float4(v: Variable, what: str, who: str) -> None:
    if v.ndim != 4:
        raise TypeError(f"{who}: {what} must be a 4-D tensor, got {v.label()} ({v.type.describe()})")
    if v.dtype[0] != "f":
        raise TypeError(f"{who}: {what} must be a float tensor, got {v.label()} ({v.type.describe()})")


def _common(a: Variable, b: Variable) -> tuple[Variable, Variable, str]:
    dtype = np.result_type(a.dtype, b.dtype).name
    return (a if a.dtype == dtype else cast(a, dtype)), (b if b.dtype == dtype else cast(b, dtype)), dtype


def _int_scalar(v, what: str, who: str) -> Variable:
    v = as_tensor_variable(v)
    if v.ndim != 0 or v.dtype[0] not in "iu":
        raise TypeError(f"{who}: {what} must be an integer scalar, got {v.label()} ({v.type.describe()})")
    return v


@dataclass(frozen=True)
class Conv2d(Op):
    """``conv2d(input, filters)`` (module docstring): ``(B, C, H, W)`` and ``(K, C, kh, kw)`` give
    ``(B, K, OH, OW)``."""

    params: ConvParams

    def make_node(self, x, w) -> Apply:
        x, w = as_tensor_variable(x), as_tensor_variable(w)
        _float4(x, "the input", "conv2d")
        _float4(w, "the filters", "conv2d")
        x, w, dtype = _common(x, w)
        return Apply(self, [x, w], [TensorType(dtype, (x.broadcastable[0], w.broadcastable[0], False, False))])

    def __str__(self):
        return f"Conv2d{{{self.params}}}"


def _gradient_node(op: Op, a, what: str, gz, sizes, size_names, broadcastable) -> Apply:
    """The node of a convolution gradient: a 4-D float operand ``a`` (``what``), the output
    gradient ``gz`` (one dtype for both), and two integer sizes the result's shape needs."""
    who = "conv2d gradient"
    a, gz = as_tensor_variable(a), as_tensor_variable(gz)
    _float4(a, what, who)
    _float4(gz, "the output gradient", who)
    a, gz, dtype = _common(a, gz)
    sizes = [_int_scalar(v, name, who) for v, name in zip(sizes, size_names)]
    return Apply(op, [a, gz, *sizes], [TensorType(dtype, broadcastable(a, gz))])


@dataclass(frozen=True)
class Conv2dGradInputs(Op):
    """The gradient of ``Conv2d`` with respect to its input: ``(filters, output gradient, H, W)``
    -> ``(B, C, H, W)`` (H and W: the input's size, which strides leave ambiguous)."""

    params: ConvParams

    def make_node(self, w, gz, h, wd) -> Apply:
        return _gradient_node(self, w, "the filters", gz, (h, wd), ("the input height", "the input width"),
                              lambda w, gz: (gz.broadcastable[0], w.broadcastable[1], False, False))

    def __str__(self):
        return f"Conv2dGradInputs{{{self.params}}}"


@dataclass(frozen=True)
class Conv2dGradWeights(Op):
    """The gradient of ``Conv2d`` with respect to its filters: ``(input, output gradient, kh, kw)``
    -> ``(K, C, kh, kw)``."""

    params: ConvParams

    def make_node(self, x, gz, kh, kw) -> Apply:
        return _gradient_node(self, x, "the input", gz, (kh, kw), ("the filter height", "the filter width"),
                              lambda x, gz: (gz.broadcastable[1], x.broadcastable[1], False, False))

    def __str__(self):
        return f"Conv2dGradWeights{{{self.params}}}"


def _check_shapes(input, filters, input_shape, filter_shape) -> None:
    """What the declared shapes (Theano's hints; None entries unknown) already tell is wrong."""
    for name, shape in (("input_shape", input_shape), ("filter_shape", filter_shape)):
        if shape is not None and len(shape) != 4:
            raise ValueError(f"conv2d: {name} must have 4 entries (None for unknown), got {shape!r}")
    if input_shape is not None and filter_shape is not None:
        c_in, c_f = input_shape[1], filter_shape[1]
        if c_in is not None and c_f is not None and c_in != c_f:
            raise ValueError(f"conv2d: {input.label()} has {c_in} channels (input_shape {tuple(input_shape)}) but "
                             f"{filters.label()} expects {c_f} (filter_shape {tuple(filter_shape)})")


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1),
           filter_flip: bool = True, image_shape=None, filter_dilation=(1, 1), **kwargs) -> Variable:
    """Theano's ``conv2d``: a 4-D ``input`` (batch, channels, rows, cols) convolved with 4-D
    ``filters`` (output channels, input channels, rows, cols); see the module docstring.
    ``input_shape``/``filter_shape`` (``image_shape`` is the old name) are optional hints: entries
    that are known are checked against each other here and against the arrays when the function
    runs. Other Theano keywords (``imshp``, ``kshp``, ...) are accepted and ignored.

    >>> import numpy as np, symgrad as sg, symgrad.tensor as T
    >>> x, w = T.tensor4("x"), T.tensor4("w")
    >>> f = sg.function([x, w], conv2d(x, w), mode="numpy")
    >>> f(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)))[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    if input_shape is None:
        input_shape = image_shape
    x, w = as_tensor_variable(input), as_tensor_variable(filters)
    params = ConvParams.of(border_mode, subsample, filter_dilation, filter_flip)
    _check_shapes(x, w, input_shape, filter_shape)
    if input_shape is not None:
        x = specify_shape(x, [e if isinstance(e, (int, np.integer)) else None for e in input_shape])
    if filter_shape is not None:
        w = specify_shape(w, [e if isinstance(e, (int, np.integer)) else None for e in filter_shape])
    return Conv2d(params)(x, w)
