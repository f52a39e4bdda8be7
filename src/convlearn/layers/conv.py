"""Convolution layers: filters sliding over NHWC images (plain, dilated, grouped, depthwise,
separable, transposed)."""

from __future__ import annotations

import numbers

from .. import activations, initializers, ops
from .._checks import choice, int_tuple, positive_int
from ..ops.shapes import (
    conv_output_length,
    conv_transpose_crop,
    conv_transpose_output_length,
    dilated_size,
)
from .base import Layer, shape_str


def check_channels_last(data_format, owner):
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{owner}: only data_format='channels_last' (NHWC, Keras's default) is supported. "
            f"Received: data_format={data_format!r}. Transpose your data with x.transpose(0, 2, 3, 1)."
        )


def check_unsupported(owner, **options):
    """Reject Keras options convlearn does not implement, instead of ignoring them."""
    for name, (value, default) in options.items():
        if value != default and value is not None:
            raise ValueError(
                f"{owner}: `{name}` is not supported by convlearn; leave it at its default ({default!r}). "
                f"Received: {name}={value!r}."
            )


def check_image_input(input_shape, owner, name):
    """Raise unless input_shape is (batch, height, width, channels)."""
    if len(input_shape) != 4:
        hint = ""
        if len(input_shape) == 3:
            hint = " Add a channel axis: x = x[..., None] (or x.reshape(-1, height, width, 1))."
        raise ValueError(
            f"{owner} '{name}' expects 4-D input (batch, height, width, channels); "
            f"got shape {shape_str(input_shape)}.{hint}"
        )
    if input_shape[-1] is None:
        raise ValueError(f"{owner} '{name}': the number of input channels must be known; got shape {shape_str(input_shape)}.")


def check_strides_with_dilation(strides, dilation_rate, owner):
    """Keras refuses a stride above 1 together with a dilation above 1; so does convlearn."""
    if max(strides) > 1 and max(dilation_rate) > 1:
        raise ValueError(
            f"{owner}: `strides` above 1 cannot be combined with `dilation_rate` above 1 (as in Keras). "
            f"Received: strides={strides}, dilation_rate={dilation_rate}. Use one or the other, "
            "e.g. a dilated convolution followed by a pooling layer."
        )


def dilated_output_shape(input_shape, kernel_size, strides, padding, dilation_rate, channels):
    """``(N, Ho, Wo, channels)`` of a convolution whose filter taps are ``dilation_rate`` apart."""
    N, H, W, _ = input_shape
    dims = []
    for n, k, s, d in zip((H, W), kernel_size, strides, dilation_rate):
        dims.append(None if n is None else conv_output_length(n, dilated_size(k, d), s, padding))
    return (N, dims[0], dims[1], channels)


def check_kernel_fits(input_shape, kernel_size, dilation_rate, padding, owner, name):
    """With ``padding="valid"`` the (dilated) filter must fit inside the input."""
    _, H, W, _ = input_shape
    span = tuple(dilated_size(k, d) for k, d in zip(kernel_size, dilation_rate))
    if padding == "valid" and ((H is not None and span[0] > H) or (W is not None and span[1] > W)):
        reach = "" if span == tuple(kernel_size) else f" (spanning {span[0]}x{span[1]} with dilation_rate {dilation_rate})"
        raise ValueError(
            f"{owner} '{name}': kernel_size {tuple(kernel_size)}{reach} is larger than its input "
            f"{H}x{W} (input shape {shape_str(input_shape)}). Use a smaller kernel, padding='same', "
            "or remove a pooling layer before it."
        )


class _Convolution(Layer):
    """What the convolution layers share: the window arguments, and an activation after
    ``forward_logits`` (each subclass writes that pair, the maths without the activation)."""

    def _window_arguments(self, owner, kernel_size, strides, padding, data_format, dilation_rate):
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", owner)
        self.strides = int_tuple(strides, 2, "strides", owner)
        self.padding = choice(padding, ("valid", "same"), "padding", owner)
        check_channels_last(data_format, owner)
        self.dilation_rate = int_tuple(dilation_rate, 2, "dilation_rate", owner)
        check_strides_with_dilation(self.strides, self.dilation_rate, owner)

    def forward(self, x, training=False):
        z, conv_cache = self.forward_logits(x, training)                   # (N, Ho, Wo, F)
        out, act_cache = self.activation.forward(z)                         # (N, Ho, Wo, F)
        return out, (conv_cache, act_cache)

    def backward(self, dout, cache, need_dx=True):
        conv_cache, act_cache = cache
        return self.backward_from_logits(self.activation.backward(dout, act_cache), conv_cache, need_dx)


class Conv2D(_Convolution):
    """2-D convolution: ``filters`` kernels of size ``kernel_size`` slide over the image.

    Parameters
    ----------
    filters : int
        Number of filters, i.e. output channels ``F``.
    kernel_size : int or (int, int)
        Filter height and width ``(kh, kw)``; an int means a square filter.
    strides : int or (int, int), default 1
        How far the filter moves at each step.
    padding : {"valid", "same"}, default "valid"
        ``valid``: no padding, the output shrinks to ``(n - k) // s + 1``;
        ``same``: zero padding so the output is ``ceil(n / s)``.
    dilation_rate : int or (int, int), default 1
        Gap between two taps of the filter: with 2, a 3x3 filter reads every
        other pixel of a 5x5 window (its reach is ``(k - 1) * d + 1``). Cannot
        be combined with ``strides`` above 1.
    groups : int, default 1
        Split the channels into ``groups`` groups; each filter reads the
        channels of one group only (``filters`` and the input channels must be
        multiples of ``groups``).
    activation : str or None
        Applied to the feature maps (``"relu"``, ...); None means linear.
    use_bias : bool, default True
    kernel_initializer : default "glorot_uniform"
    bias_initializer : default "zeros"

    Notes
    -----
    Weights: ``kernel`` (kh, kw, C // groups, F) like Keras, and ``bias`` (F,).

    Raises
    ------
    ValueError
        On an invalid argument, ``strides`` and ``dilation_rate`` both above 1, ``filters``
        or the input channels not a multiple of ``groups``, or a filter larger than a
        ``valid`` input.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = "Conv2D"
        self.filters = positive_int(filters, "filters", owner)
        self._window_arguments(owner, kernel_size, strides, padding, data_format, dilation_rate)
        self.groups = positive_int(groups, "groups", owner)
        if self.filters % self.groups:
            raise ValueError(
                f"Conv2D: `filters` must be a multiple of `groups` (each group gets filters // groups filters). "
                f"Received: filters={self.filters}, groups={self.groups}."
            )
        check_unsupported(owner, kernel_regularizer=(kernel_regularizer, None),
                          bias_regularizer=(bias_regularizer, None),
                          activity_regularizer=(activity_regularizer, None),
                          kernel_constraint=(kernel_constraint, None), bias_constraint=(bias_constraint, None))
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    @property
    def plain(self):
        """Whether this is a plain convolution (no dilation, one group): the case the fast
        paths of :mod:`convlearn.engine.plan` handle."""
        return self.dilation_rate == (1, 1) and self.groups == 1

    def build(self, input_shape):
        check_image_input(input_shape, "Conv2D", self.name)
        C = input_shape[-1]
        if C % self.groups:
            raise ValueError(
                f"Conv2D '{self.name}': the input channels must be a multiple of `groups`; got {C} channels "
                f"(input shape {shape_str(input_shape)}) and groups={self.groups}. Choose groups dividing {C}."
            )
        check_kernel_fits(input_shape, self.kernel_size, self.dilation_rate, self.padding, "Conv2D", self.name)
        kh, kw = self.kernel_size
        self.add_weight("kernel", (kh, kw, C // self.groups, self.filters), self.kernel_initializer)  # (kh, kw, Cg, F)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)              # (F,)

    def compute_output_shape(self, input_shape):
        return dilated_output_shape(input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                                    self.filters)

    @property
    def kernel(self):
        return self.params.get("kernel")

    @property
    def bias(self):
        return self.params.get("bias")

    def forward_logits(self, x, training=False):
        """The forward pass without the activation (see ``Dense.forward_logits``)."""
        if self.plain:
            return ops.conv2d_forward(x, self.params["kernel"], self.params.get("bias"),
                                      self.strides, self.padding)           # (N, Ho, Wo, F)
        return ops.grouped_conv2d_forward(x, self.params["kernel"], self.params.get("bias"), self.strides,
                                          self.padding, self.dilation_rate, self.groups)    # (N, Ho, Wo, F)

    def backward_from_logits(self, dz, cache, need_dx=True):
        """Backward pass starting from the gradient of the pre-activation output."""
        if self.plain:
            dx, dkernel, dbias = ops.conv2d_backward(dz, cache, need_dx)
        else:
            dx, dkernel, dbias = ops.grouped_conv2d_backward(dz, cache, need_dx)
        grads = {"kernel": dkernel}                                         # (kh, kw, Cg, F)
        if self.use_bias:
            grads["bias"] = dbias                                           # (F,)
        return dx, grads                                                    # dx: (N, H, W, C) or None

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
            padding=self.padding, dilation_rate=list(self.dilation_rate), groups=self.groups,
            activation=self.activation.name, use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
        )
        return config


class DepthwiseConv2D(_Convolution):
    """Depthwise convolution: each input channel is convolved with its own ``depth_multiplier`` filters.

    Output channel ``c * depth_multiplier + m`` is channel ``c`` convolved with
    filter ``m`` of that channel, as in Keras (a grouped convolution with one
    group per channel). Nothing mixes the channels; a 1x1 convolution after it
    does (see :class:`SeparableConv2D`).

    Parameters
    ----------
    kernel_size : int or (int, int)
    strides : int or (int, int), default 1
    padding : {"valid", "same"}, default "valid"
    depth_multiplier : int, default 1
        Filters per input channel.
    dilation_rate : int or (int, int), default 1
    activation : str or None
    use_bias : bool, default True
    depthwise_initializer : default "glorot_uniform"
    bias_initializer : default "zeros"

    Notes
    -----
    Weights: ``kernel`` (kh, kw, C, depth_multiplier) and ``bias`` (C * depth_multiplier,), named as
    Keras 3 names them (Keras 2 called the kernel ``depthwise_kernel``, as SeparableConv2D still does).
    """

    owner = "DepthwiseConv2D"
    depthwise_weight = "kernel"       # the depthwise kernel's name in ``params``

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = self.owner
        self._window_arguments(owner, kernel_size, strides, padding, data_format, dilation_rate)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", owner)
        check_unsupported(owner, depthwise_regularizer=(depthwise_regularizer, None),
                          bias_regularizer=(bias_regularizer, None),
                          activity_regularizer=(activity_regularizer, None),
                          depthwise_constraint=(depthwise_constraint, None), bias_constraint=(bias_constraint, None))
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        check_image_input(input_shape, self.owner, self.name)
        check_kernel_fits(input_shape, self.kernel_size, self.dilation_rate, self.padding, self.owner, self.name)
        kh, kw = self.kernel_size
        C = input_shape[-1]
        self.add_weight(self.depthwise_weight, (kh, kw, C, self.depth_multiplier),
                        self.depthwise_initializer)                                   # (kh, kw, C, dm)
        if self.use_bias:
            self.add_weight("bias", (C * self.depth_multiplier,), self.bias_initializer)  # (C*dm,)

    def compute_output_shape(self, input_shape):
        return dilated_output_shape(input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                                    input_shape[-1] * self.depth_multiplier)

    def _depthwise(self, x, bias):
        """The depthwise convolution as a grouped one: kernel (kh, kw, 1, C*dm), one group per channel."""
        k = self.params[self.depthwise_weight]                              # (kh, kw, C, dm)
        kh, kw, C, dm = k.shape
        return ops.grouped_conv2d_forward(x, k.reshape(kh, kw, 1, C * dm), bias, self.strides, self.padding,
                                          self.dilation_rate, C)            # (N, Ho, Wo, C*dm)

    def _depthwise_backward(self, dz, cache, need_dx):
        dx, dkernel, dbias = ops.grouped_conv2d_backward(dz, cache, need_dx)
        return dx, dkernel.reshape(self.params[self.depthwise_weight].shape), dbias   # (kh, kw, C, dm)

    def forward_logits(self, x, training=False):
        """The forward pass without the activation."""
        return self._depthwise(x, self.params.get("bias"))

    def backward_from_logits(self, dz, cache, need_dx=True):
        dx, dkernel, dbias = self._depthwise_backward(dz, cache, need_dx)
        grads = {self.depthwise_weight: dkernel}
        if self.use_bias:
            grads["bias"] = dbias                                           # (C*dm,)
        return dx, grads

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=list(self.kernel_size), strides=list(self.strides), padding=self.padding,
            depth_multiplier=self.depth_multiplier, dilation_rate=list(self.dilation_rate),
            activation=self.activation.name, use_bias=self.use_bias,
            depthwise_initializer=initializers.serialize(self.depthwise_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
        )
        return config


class SeparableConv2D(DepthwiseConv2D):
    """Depthwise separable convolution: a :class:`DepthwiseConv2D` (no bias), then a 1x1
    convolution to ``filters`` channels, then the bias and the activation.

    Far fewer weights than a ``Conv2D`` of the same size: ``kh*kw*C*dm + C*dm*F``
    instead of ``kh*kw*C*F``.

    Parameters
    ----------
    filters : int
    kernel_size, strides, padding, dilation_rate, depth_multiplier, activation, use_bias
        As in :class:`DepthwiseConv2D`.
    depthwise_initializer, pointwise_initializer : default "glorot_uniform"
    bias_initializer : default "zeros"

    Notes
    -----
    Weights: ``depthwise_kernel`` (kh, kw, C, dm), ``pointwise_kernel`` (1, 1, C*dm, F), ``bias`` (F,).
    """

    owner = "SeparableConv2D"
    depthwise_weight = "depthwise_kernel"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint, **kwargs)
        self.filters = positive_int(filters, "filters", self.owner)
        check_unsupported(self.owner, pointwise_regularizer=(pointwise_regularizer, None),
                          pointwise_constraint=(pointwise_constraint, None))
        self.pointwise_initializer = initializers.get(pointwise_initializer)

    def build(self, input_shape):
        check_image_input(input_shape, self.owner, self.name)
        check_kernel_fits(input_shape, self.kernel_size, self.dilation_rate, self.padding, self.owner, self.name)
        kh, kw = self.kernel_size
        C, dm = input_shape[-1], self.depth_multiplier
        self.add_weight("depthwise_kernel", (kh, kw, C, dm), self.depthwise_initializer)         # (kh, kw, C, dm)
        self.add_weight("pointwise_kernel", (1, 1, C * dm, self.filters), self.pointwise_initializer)  # (1, 1, C*dm, F)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)                       # (F,)

    def compute_output_shape(self, input_shape):
        return dilated_output_shape(input_shape, self.kernel_size, self.strides, self.padding, self.dilation_rate,
                                    self.filters)

    def forward_logits(self, x, training=False):
        y, depth_cache = self._depthwise(x, None)                           # (N, Ho, Wo, C*dm)
        z, point_cache = ops.conv2d_forward(y, self.params["pointwise_kernel"], self.params.get("bias"))  # (N, Ho, Wo, F)
        return z, (depth_cache, point_cache)

    def backward_from_logits(self, dz, cache, need_dx=True):
        depth_cache, point_cache = cache
        dy, dpoint, dbias = ops.conv2d_backward(dz, point_cache)           # dy: (N, Ho, Wo, C*dm)
        dx, ddepth, _ = self._depthwise_backward(dy, depth_cache, need_dx)
        grads = {"depthwise_kernel": ddepth, "pointwise_kernel": dpoint}
        if self.use_bias:
            grads["bias"] = dbias                                           # (F,)
        return dx, grads

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters,
                      pointwise_initializer=initializers.serialize(self.pointwise_initializer))
        return config


def _output_padding(value, strides, owner):
    """Keras's ``output_padding``: None, or a non-negative int (or pair) below the stride."""
    if value is None:
        return None
    items = (value, value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        items = ()
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0 for v in items):
        raise ValueError(
            f"{owner}: `output_padding` must be None, a non-negative integer or a tuple of 2 of them. "
            f"Received: output_padding={value!r}."
        )
    items = tuple(int(v) for v in items)
    if any(p >= s for p, s in zip(items, strides)):
        raise ValueError(
            f"{owner}: each `output_padding` must be smaller than the stride along its axis (as in Keras). "
            f"Received: output_padding={items}, strides={strides}. Use output_padding below the stride, or None."
        )
    return items


class Conv2DTranspose(_Convolution):
    """Transposed convolution (sometimes called deconvolution): a learned upsampling.

    Each input pixel adds a copy of its filters, scaled by its value, to the
    output, ``strides`` pixels apart; with ``strides=2`` the image doubles in
    size. It is the backward pass of a ``Conv2D`` used as a forward pass.

    Parameters
    ----------
    filters : int
        Output channels ``F``.
    kernel_size : int or (int, int)
    strides : int or (int, int), default 1
    padding : {"valid", "same"}, default "valid"
        The output size is Keras's: ``valid``: ``(n - 1) * s + max(k, s)``;
        ``same``: ``n * s`` (``k`` the dilated filter's reach).
    output_padding : int or (int, int), optional
        Cells added at the bottom/right, each below the stride; with it the size
        is ``(n - 1) * s + k + output_padding`` (valid) or
        ``(n - 1) * s + k % 2 + output_padding`` (same).
    dilation_rate : int or (int, int), default 1
    activation, use_bias, kernel_initializer, bias_initializer
        As in :class:`Conv2D`.

    Notes
    -----
    Weights: ``kernel`` (kh, kw, F, C) like Keras (output channels first), and ``bias`` (F,).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        owner = "Conv2DTranspose"
        self.filters = positive_int(filters, "filters", owner)
        self._window_arguments(owner, kernel_size, strides, padding, data_format, dilation_rate)
        self.output_padding = _output_padding(output_padding, self.strides, owner)
        check_unsupported(owner, kernel_regularizer=(kernel_regularizer, None),
                          bias_regularizer=(bias_regularizer, None),
                          activity_regularizer=(activity_regularizer, None),
                          kernel_constraint=(kernel_constraint, None), bias_constraint=(bias_constraint, None))
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        check_image_input(input_shape, "Conv2DTranspose", self.name)
        kh, kw = self.kernel_size
        self.add_weight("kernel", (kh, kw, self.filters, input_shape[-1]), self.kernel_initializer)  # (kh, kw, F, C)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)                       # (F,)

    def _axis(self, i, fn, n):
        pad = None if self.output_padding is None else self.output_padding[i]
        return fn(n, self.kernel_size[i], self.strides[i], self.padding, pad, self.dilation_rate[i])

    def compute_output_shape(self, input_shape):
        N, H, W, _ = input_shape
        Ho = None if H is None else self._axis(0, conv_transpose_output_length, H)
        Wo = None if W is None else self._axis(1, conv_transpose_output_length, W)
        return (N, Ho, Wo, self.filters)

    def forward_logits(self, x, training=False):
        """The forward pass without the activation."""
        _, H, W, _ = x.shape
        size = (self._axis(0, conv_transpose_output_length, H), self._axis(1, conv_transpose_output_length, W))
        crops = (self._axis(0, conv_transpose_crop, H), self._axis(1, conv_transpose_crop, W))
        return ops.conv2d_transpose_forward(x, self.params["kernel"], self.params.get("bias"), self.strides, size,
                                            crops, self.dilation_rate)     # (N, Ho, Wo, F)

    def backward_from_logits(self, dz, cache, need_dx=True):
        dx, dkernel, dbias = ops.conv2d_transpose_backward(dz, cache, need_dx)
        grads = {"kernel": dkernel}                                         # (kh, kw, F, C)
        if self.use_bias:
            grads["bias"] = dbias                                           # (F,)
        return dx, grads

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
            padding=self.padding,
            output_padding=None if self.output_padding is None else list(self.output_padding),
            dilation_rate=list(self.dilation_rate), activation=self.activation.name, use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
        )
        return config
