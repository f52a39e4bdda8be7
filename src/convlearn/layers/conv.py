"""Convolution layer: filters sliding over NHWC images."""

from __future__ import annotations

from .. import activations, initializers, ops
from .._checks import choice, int_tuple, positive_int
from ..ops.shapes import conv_output_length
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


class Conv2D(Layer):
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
    activation : str or None
        Applied to the feature maps (``"relu"``, ...); None means linear.
    use_bias : bool, default True
    kernel_initializer : default "glorot_uniform"
    bias_initializer : default "zeros"

    Weights: ``kernel`` (kh, kw, C, F) like Keras, and ``bias`` (F,).
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        owner = "Conv2D"
        self.filters = positive_int(filters, "filters", owner)
        self.kernel_size = int_tuple(kernel_size, 2, "kernel_size", owner)
        self.strides = int_tuple(strides, 2, "strides", owner)
        self.padding = choice(padding, ("valid", "same"), "padding", owner)
        check_channels_last(data_format, owner)
        check_unsupported(owner, dilation_rate=(int_tuple(dilation_rate, 2, "dilation_rate", owner), (1, 1)),
                          groups=(groups, 1), kernel_regularizer=(kernel_regularizer, None),
                          bias_regularizer=(bias_regularizer, None),
                          activity_regularizer=(activity_regularizer, None),
                          kernel_constraint=(kernel_constraint, None), bias_constraint=(bias_constraint, None))
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, input_shape):
        check_image_input(input_shape, "Conv2D", self.name)
        _, H, W, C = input_shape
        kh, kw = self.kernel_size
        if self.padding == "valid" and ((H is not None and kh > H) or (W is not None and kw > W)):
            raise ValueError(
                f"Conv2D '{self.name}': kernel_size {self.kernel_size} is larger than its input "
                f"{H}x{W} (input shape {shape_str(input_shape)}). Use a smaller kernel, padding='same', "
                "or remove a pooling layer before it."
            )
        self.add_weight("kernel", (kh, kw, C, self.filters), self.kernel_initializer)  # (kh, kw, C, F)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer)              # (F,)

    def compute_output_shape(self, input_shape):
        N, H, W, _ = input_shape
        Ho = None if H is None else conv_output_length(H, self.kernel_size[0], self.strides[0], self.padding)
        Wo = None if W is None else conv_output_length(W, self.kernel_size[1], self.strides[1], self.padding)
        return (N, Ho, Wo, self.filters)

    @property
    def kernel(self):
        return self.params.get("kernel")

    @property
    def bias(self):
        return self.params.get("bias")

    def forward(self, x, training=False):
        z, conv_cache = self.forward_logits(x, training)                   # (N, Ho, Wo, F)
        out, act_cache = self.activation.forward(z)                         # (N, Ho, Wo, F)
        return out, (conv_cache, act_cache)

    def backward(self, dout, cache, need_dx=True):
        conv_cache, act_cache = cache
        return self.backward_from_logits(self.activation.backward(dout, act_cache), conv_cache, need_dx)

    def forward_logits(self, x, training=False):
        """The forward pass without the activation (see ``Dense.forward_logits``)."""
        return ops.conv2d_forward(x, self.params["kernel"], self.params.get("bias"),
                                  self.strides, self.padding)               # (N, Ho, Wo, F)

    def backward_from_logits(self, dz, cache, need_dx=True):
        """Backward pass starting from the gradient of the pre-activation output."""
        dx, dkernel, dbias = ops.conv2d_backward(dz, cache, need_dx)
        grads = {"kernel": dkernel}                                         # (kh, kw, C, F)
        if self.use_bias:
            grads["bias"] = dbias                                           # (F,)
        return dx, grads                                                    # dx: (N, H, W, C) or None

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
            padding=self.padding, activation=self.activation.name, use_bias=self.use_bias,
            kernel_initializer=initializers.serialize(self.kernel_initializer),
            bias_initializer=initializers.serialize(self.bias_initializer),
        )
        return config
