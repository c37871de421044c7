"""Tuned kernels for the convolution and pooling layers: the same numbers, faster.

Read ``backprop_kit.layers.conv`` and ``backprop_kit.layers.pooling`` to learn how these layers
work (``backprop_kit.layers.naive`` to start from: one window at a time). This package holds
what makes :class:`~backprop_kit.layers.Conv2D`, :class:`~backprop_kit.layers.MaxPool2D` and
:class:`~backprop_kit.layers.AvgPool2D` fast enough to train with: scratch buffers reused
from call to call, products arranged to suit the BLAS, cache-sized blocks, boolean algebra
written into preallocated arrays. The layers call these kernels by default (``fast=True``).

The kernels are proven equal to the readable layers and to the naive loops by
``tests/kit/test_fast_kernels.py`` (float64, hypothesis-drawn shapes, strides, paddings,
tied maxima, and one layer object reused across changing input shapes). They check no input:
the layers do that before calling them.

Modules: ``conv`` (im2col with a row of ones for the bias, per-sample products) and
``pooling`` (separable max/average pooling, a 2x2/2 max-pooling path of its own).
"""
