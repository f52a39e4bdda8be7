"""The maths of every layer as pure forward/backward functions.

Two interchangeable sets of kernels compute the same numbers:

- ``"fast"`` (default): vectorised NumPy (:mod:`convlearn.ops.fast`);
- ``"reference"``: plain loops a learner can read (:mod:`convlearn.ops.reference`).

Layers call the functions of this module, which forward to the selected set::

    import convlearn
    convlearn.ops.set_kernels("reference")   # every layer now runs the loops
    with convlearn.ops.use_kernels("fast"):  # temporarily back to the fast ones
        ...
"""

from __future__ import annotations

import contextlib

from . import fast, reference
# one function for both sets: BatchNormalization's inference map x * scale + shift, with the
# numbers the fast inference pass uses (a model that folds it gives that pass's results)
from .fast import batch_norm_scale_shift
from .shapes import conv_output_length, padding_amounts, same_padding

KERNELS = {"fast": fast, "reference": reference}
_active = {"name": "fast", "module": fast}


def set_kernels(name):
    """Choose which kernels every layer uses: ``"fast"`` or ``"reference"``.

    Raises
    ------
    ValueError
        If ``name`` is not one of the two.
    """
    if name not in KERNELS:
        raise ValueError(
            f"Unknown kernels {name!r}. Expected one of {sorted(KERNELS)}: "
            "'fast' (vectorised, the default) or 'reference' (readable loops)."
        )
    _active["name"] = name
    _active["module"] = KERNELS[name]


def get_kernels():
    """Name of the kernels in use: ``"fast"`` or ``"reference"``."""
    return _active["name"]


@contextlib.contextmanager
def use_kernels(name):
    """Context manager: use kernels ``name`` inside the ``with`` block only."""
    previous = get_kernels()
    set_kernels(name)
    try:
        yield
    finally:
        set_kernels(previous)


def conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid"):
    """See :func:`convlearn.ops.reference.conv2d_forward`."""
    return _active["module"].conv2d_forward(x, kernel, bias, strides, padding)


def conv2d_backward(dout, cache, need_dx=True):
    """See :func:`convlearn.ops.reference.conv2d_backward`."""
    return _active["module"].conv2d_backward(dout, cache, need_dx)


def pool2d_forward(x, pool_size=(2, 2), strides=(2, 2), padding="valid", mode="max"):
    """See :func:`convlearn.ops.reference.pool2d_forward`."""
    return _active["module"].pool2d_forward(x, pool_size, strides, padding, mode)


def pool2d_backward(dout, cache):
    """See :func:`convlearn.ops.reference.pool2d_backward`."""
    return _active["module"].pool2d_backward(dout, cache)


def dense_forward(x, kernel, bias):
    """See :func:`convlearn.ops.reference.dense_forward`."""
    return _active["module"].dense_forward(x, kernel, bias)


def dense_backward(dout, cache, need_dx=True, need_weights=True):
    """See :func:`convlearn.ops.reference.dense_backward`."""
    return _active["module"].dense_backward(dout, cache, need_dx, need_weights)


def batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, axis=-1, epsilon=1e-3, training=False):
    """See :func:`convlearn.ops.reference.batch_norm_forward`."""
    return _active["module"].batch_norm_forward(x, gamma, beta, moving_mean, moving_variance, axis, epsilon,
                                                training)


def batch_norm_backward(dout, cache):
    """See :func:`convlearn.ops.reference.batch_norm_backward`."""
    return _active["module"].batch_norm_backward(dout, cache)


def layer_norm_forward(x, gamma, beta, axes, epsilon=1e-3):
    """See :func:`convlearn.ops.reference.layer_norm_forward`."""
    return _active["module"].layer_norm_forward(x, gamma, beta, axes, epsilon)


def layer_norm_backward(dout, cache):
    """See :func:`convlearn.ops.reference.layer_norm_backward`."""
    return _active["module"].layer_norm_backward(dout, cache)


def grouped_conv2d_forward(x, kernel, bias, strides=(1, 1), padding="valid", dilation=(1, 1), groups=1):
    """See :func:`convlearn.ops.reference.grouped_conv2d_forward`."""
    return _active["module"].grouped_conv2d_forward(x, kernel, bias, strides, padding, dilation, groups)


def grouped_conv2d_backward(dout, cache, need_dx=True):
    """See :func:`convlearn.ops.reference.grouped_conv2d_backward`."""
    return _active["module"].grouped_conv2d_backward(dout, cache, need_dx)


def conv2d_transpose_forward(x, kernel, bias, strides, out_size, crops, dilation=(1, 1)):
    """See :func:`convlearn.ops.reference.conv2d_transpose_forward`."""
    return _active["module"].conv2d_transpose_forward(x, kernel, bias, strides, out_size, crops, dilation)


def conv2d_transpose_backward(dout, cache, need_dx=True):
    """See :func:`convlearn.ops.reference.conv2d_transpose_backward`."""
    return _active["module"].conv2d_transpose_backward(dout, cache, need_dx)


def resize_forward(x, size, interpolation="bilinear"):
    """See :func:`convlearn.ops.reference.resize_forward`."""
    return _active["module"].resize_forward(x, size, interpolation)


def resize_backward(dout, cache):
    """See :func:`convlearn.ops.reference.resize_backward`."""
    return _active["module"].resize_backward(dout, cache)


__all__ = [
    "set_kernels", "get_kernels", "use_kernels", "KERNELS",
    "conv2d_forward", "conv2d_backward", "pool2d_forward", "pool2d_backward",
    "dense_forward", "dense_backward", "batch_norm_forward", "batch_norm_backward", "batch_norm_scale_shift",
    "layer_norm_forward", "layer_norm_backward",
    "grouped_conv2d_forward", "grouped_conv2d_backward", "conv2d_transpose_forward", "conv2d_transpose_backward",
    "resize_forward", "resize_backward",
    "conv_output_length", "padding_amounts", "same_padding",
]
