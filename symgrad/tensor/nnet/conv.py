"""Theano's older convolution path, ``theano.tensor.nnet.conv.conv2d``, which scripts written for
Theano before its abstract convolution import (LeNet's ``convolutional_mlp.py`` among them): the
same operation as :func:`symgrad.tensor.nnet.conv2d`, with ``image_shape`` as the input's shape
hint.

>>> import symgrad.tensor as T
>>> conv2d(T.tensor4("x"), T.tensor4("w"), image_shape=(None, 1, 28, 28), filter_shape=(4, 1, 5, 5)).ndim
4
"""
from __future__ import annotations

from ...graph import Variable
from .abstract_conv import conv2d as _conv2d


def conv2d(input, filters, image_shape=None, filter_shape=None, border_mode="valid", subsample=(1, 1),
           **kwargs) -> Variable:
    """``conv2d(input, filters, image_shape=None, filter_shape=None, border_mode='valid',
    subsample=(1, 1))`` as Theano's ``conv.conv2d`` (true convolution, 'valid' or 'full'); other
    keywords of that function (``imshp``, ``kshp``, ``nkern``, ``bsize``) are accepted and ignored."""
    return _conv2d(input, filters, input_shape=image_shape, filter_shape=filter_shape, border_mode=border_mode,
                   subsample=subsample)
