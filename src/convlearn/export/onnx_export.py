"""ONNX export: a model's program, one layer call at a time, as ONNX operators.

The exporter walks ``model.program(training=False)``, the same list of layer
calls ``predict`` runs (nested models and subclassed ``call`` already opened
up), and asks one small function per layer type to write that call's
operators. Those functions are the table :data:`CONVERTERS`; a new layer gets
one with::

    @converter("UpSampling2D")
    def _upsampling2d(g, layer, call):
        ...                                   # g.add(...) operators reading call.inputs, writing call.output

Layout: tensors stay NHWC, as in convlearn, between operators. ONNX's ``Conv``,
``MaxPool`` and ``AveragePool`` want NCHW, so their converters transpose in
and out (:meth:`OnnxGraph.nchw` and :meth:`OnnxGraph.from_nchw`); two
convolutions in a row share one transpose pair, since the NCHW twin of a
tensor is remembered.

The file uses opset 13 and IR version 7 by default, which every ONNX Runtime
since 1.8 reads; the batch axis is free (``"batch"``).
"""

from __future__ import annotations

import numpy as np

from .._io import as_path, atomic_write_bytes
from ..ops.shapes import (
    conv_transpose_crop,
    conv_transpose_output_length,
    padding_amounts,
)

DEFAULT_OPSET = 13
#: Opsets whose operators (as written here) are the same as opset 13's: 18 moved ReduceMean's axes to an input.
SUPPORTED_OPSETS = range(13, 18)
IR_VERSION = 7

#: Layer class name -> ``function(g, layer, call)`` writing that layer's operators.
CONVERTERS = {}
#: Activation name -> ``function(g, activation, x, out)`` writing ``out = activation(x)``.
ACTIVATIONS = {}


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            "Model.export(format='onnx') needs the onnx package, which writes the file format: "
            'pip install "convlearn[onnx]" (or pip install onnx). To run the file, also install onnxruntime.'
        ) from exc
    return onnx


def converter(*class_names):
    """Register a function as the ONNX converter of the layers named ``class_names``.

    The function is called as ``function(g, layer, call)`` with the
    :class:`OnnxGraph` ``g``, the layer, and the :class:`Call` (input and output
    tensor names, shapes); it adds operators that write ``call.output``.
    """

    def register(function):
        for name in class_names:
            CONVERTERS[name] = function
        return function

    return register


def activation_converter(*names):
    """Register ``function(g, activation, x, out)`` for the activations called ``names``."""

    def register(function):
        for name in names:
            ACTIVATIONS[name] = function
        return function

    return register


class Call:
    """One layer call of the program, as tensor names: what a converter reads and writes.

    Attributes
    ----------
    inputs : list of str
        The ONNX names of the call's inputs (NHWC for images).
    output : str
        The name the converter must write.
    input_shapes : list of tuple
        Each input's shape, ``None`` for the batch axis (and unknown sizes).
    output_shape : tuple
    training : bool
        The mode the call runs in (False unless the model called the layer with ``training=True``).
    """

    __slots__ = ("input_shapes", "inputs", "output", "output_shape", "training")

    def __init__(self, inputs, output, input_shapes, output_shape, training):
        self.inputs = list(inputs)
        self.output = output
        self.input_shapes = [tuple(s) for s in input_shapes]
        self.output_shape = tuple(output_shape)
        self.training = training


class OnnxGraph:
    """The operators, constants and names of the graph being written.

    Parameters
    ----------
    dtype : numpy dtype
        The model's float type; float constants are stored in it.
    """

    def __init__(self, onnx, dtype):
        self.onnx = onnx
        self.helper = onnx.helper
        self.dtype = np.dtype(dtype)
        self.nodes = []
        self.initializers = []
        self._used = set()
        self._constants = {}            # (id of the source array, tag) -> name: a shared layer's weights once
        self._nchw = {}                 # NHWC tensor name -> the name of its NCHW twin

    def fresh(self, hint):
        """A tensor (or node) name not used yet, made from ``hint``."""
        base = "".join(c if c.isalnum() or c in "_/.:-" else "_" for c in str(hint)) or "t"
        name, k = base, 1
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def reserve(self, name):
        """Claim ``name`` exactly (a graph input or output)."""
        if name in self._used:
            raise ValueError(f"ONNX export: the tensor name {name!r} is used twice; give the layers unique names.")
        self._used.add(name)
        return name

    def add(self, op, inputs, output=None, name=None, **attributes):
        """Append the operator ``op`` reading ``inputs``; return the name of its output."""
        output = output or self.fresh(f"{name or op}_out")
        self.nodes.append(self.helper.make_node(op, list(inputs), [output], name=self.fresh(name or op),
                                                **attributes))
        return output

    def const(self, array, hint, source=None, tag="", dtype=None):
        """A constant tensor (an initializer) holding ``array`` in the model's dtype (or ``dtype``).

        ``source`` and ``tag`` identify it: the same weight array converted the
        same way twice (a layer called twice) is stored once.
        """
        key = None if source is None else (id(source), tag)
        if key is not None and key in self._constants:
            return self._constants[key]
        value = np.ascontiguousarray(np.asarray(array, dtype=dtype or self.dtype))
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(value, name))
        if key is not None:
            self._constants[key] = name
        return name

    def scalar(self, value, hint):
        return self.const(np.asarray(value), hint)

    def nchw(self, x):
        """The NCHW version of the NHWC tensor ``x`` (one Transpose, made once)."""
        if x not in self._nchw:
            self._nchw[x] = self.add("Transpose", [x], self.fresh(f"{x}_nchw"), name="to_nchw", perm=[0, 3, 1, 2])
        return self._nchw[x]

    def from_nchw(self, y, out):
        """Write the NCHW tensor ``y`` as the NHWC tensor ``out``, remembering ``y`` as its twin."""
        self.add("Transpose", [y], out, name="to_nhwc", perm=[0, 2, 3, 1])
        self._nchw[out] = y
        return out

    def activation(self, activation, x, out, owner):
        """Write ``out = activation(x)`` for one of convlearn's activations."""
        function = ACTIVATIONS.get(activation.name)
        if function is None:
            raise ValueError(
                f"ONNX export: {owner} uses the activation {activation.name!r}, which has no ONNX converter. "
                f"Converted activations: {', '.join(sorted(ACTIVATIONS))}."
            )
        return function(self, activation, x, out)


# ----------------------------------------------------------------------------
# Activations
# ----------------------------------------------------------------------------

@activation_converter("linear")
def _linear(g, act, x, out):
    return g.add("Identity", [x], out)


@activation_converter("relu", "sigmoid", "tanh", "softplus")
def _plain(g, act, x, out):
    op = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus"}[act.name]
    return g.add(op, [x], out)


@activation_converter("softmax")
def _softmax(g, act, x, out):
    return g.add("Softmax", [x], out, axis=int(act.axis))


@activation_converter("leaky_relu")
def _leaky_relu(g, act, x, out):
    return g.add("LeakyRelu", [x], out, alpha=float(act.negative_slope))


@activation_converter("elu")
def _elu(g, act, x, out):
    return g.add("Elu", [x], out, alpha=float(act.alpha))


@activation_converter("swish", "silu")
def _swish(g, act, x, out):
    return g.add("Mul", [x, g.add("Sigmoid", [x])], out)


# ----------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------

def _spatial_pads(call, kernel, strides, padding, dilation=(1, 1)):
    """ONNX's ``pads`` (top, left, bottom, right) for Keras's padding, or None when H, W are unknown.

    Keras's ``"same"`` puts the odd row or column at the bottom and right (ONNX's ``SAME_UPPER``).
    """
    _, H, W, _ = call.input_shapes[0]
    if padding == "valid":
        return [0, 0, 0, 0]
    if H is None or W is None:
        return None
    kh, kw = ((k - 1) * d + 1 for k, d in zip(kernel, dilation))       # the window a dilated kernel spans
    top, bottom = padding_amounts(H, kh, strides[0], padding)
    left, right = padding_amounts(W, kw, strides[1], padding)
    return [top, left, bottom, right]


def _pad_attributes(call, kernel, strides, padding, dilation=(1, 1)):
    pads = _spatial_pads(call, kernel, strides, padding, dilation)
    return {"auto_pad": "SAME_UPPER"} if pads is None else {"pads": pads}


@converter("Conv2D")
def _conv2d(g, layer, call):
    dilation = tuple(getattr(layer, "dilation_rate", (1, 1)))
    groups = int(getattr(layer, "groups", 1))
    kernel = layer.params["kernel"]                                       # (kh, kw, C / groups, F)
    inputs = [g.nchw(call.inputs[0]),
              g.const(kernel.transpose(3, 2, 0, 1), f"{layer.name}/kernel", kernel, "oihw")]  # (F, C/groups, kh, kw)
    if layer.params.get("bias") is not None:
        inputs.append(g.const(layer.params["bias"], f"{layer.name}/bias", layer.params["bias"]))    # (F,)
    y = g.add("Conv", inputs, name=layer.name, kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
              dilations=list(dilation), group=groups,
              **_pad_attributes(call, layer.kernel_size, layer.strides, layer.padding, dilation))    # (N, F, Ho, Wo)
    _finish_conv(g, layer, y, call)


def _finish_conv(g, layer, y, call):
    """NCHW convolution output ``y`` -> NHWC ``call.output``, through the layer's activation."""
    if layer.activation.name == "linear":
        g.from_nchw(y, call.output)                                       # (N, Ho, Wo, F)
    else:
        g.activation(layer.activation, g.from_nchw(y, g.fresh(f"{layer.name}_logits")), call.output, layer.name)


@converter("DepthwiseConv2D", "SeparableConv2D")
def _depthwise_conv2d(g, layer, call):
    separable = "pointwise_kernel" in layer.params
    depthwise = layer.params[layer.depthwise_weight]                     # (kh, kw, C, dm)
    kh, kw, C, dm = depthwise.shape
    weight = depthwise.reshape(kh, kw, 1, C * dm).transpose(3, 2, 0, 1)  # (C*dm, 1, kh, kw): one group a channel
    inputs = [g.nchw(call.inputs[0]), g.const(weight, f"{layer.name}/{layer.depthwise_weight}", depthwise, "oihw")]
    bias = layer.params.get("bias")
    if bias is not None and not separable:
        inputs.append(g.const(bias, f"{layer.name}/bias", bias))
    dilation = tuple(layer.dilation_rate)
    y = g.add("Conv", inputs, name=layer.name, kernel_shape=[kh, kw], strides=list(layer.strides),
              dilations=list(dilation), group=C,
              **_pad_attributes(call, layer.kernel_size, layer.strides, layer.padding, dilation))  # (N, C*dm, Ho, Wo)
    if separable:
        point = layer.params["pointwise_kernel"]                          # (1, 1, C*dm, F)
        inputs = [y, g.const(point.transpose(3, 2, 0, 1), f"{layer.name}/pointwise_kernel", point, "oihw")]
        if bias is not None:
            inputs.append(g.const(bias, f"{layer.name}/bias", bias))
        y = g.add("Conv", inputs, name=f"{layer.name}/pointwise", kernel_shape=[1, 1])   # (N, F, Ho, Wo)
    _finish_conv(g, layer, y, call)


@converter("Conv2DTranspose")
def _conv2d_transpose(g, layer, call):
    _, H, W, _ = call.input_shapes[0]
    if H is None or W is None:
        raise ValueError(
            f"ONNX export: Conv2DTranspose '{layer.name}' needs the image size to be known to export its output "
            f"size; its input shape is {call.input_shapes[0]}. Give keras.Input a height and width."
        )
    kernel = layer.params["kernel"]                                       # (kh, kw, F, C)
    pads, extra = [0, 0, 0, 0], [0, 0]
    for i, n in enumerate((H, W)):
        k, s, d = layer.kernel_size[i], layer.strides[i], layer.dilation_rate[i]
        op = None if layer.output_padding is None else layer.output_padding[i]
        out = conv_transpose_output_length(n, k, s, layer.padding, op, d)
        begin = conv_transpose_crop(n, k, s, layer.padding, op, d)
        end = (n - 1) * s + (k - 1) * d + 1 - out - begin                 # cells dropped at the end
        pads[i], pads[i + 2] = begin, max(end, 0)
        extra[i] = max(-end, 0)                                           # cells added past the full output
    inputs = [g.nchw(call.inputs[0]),
              g.const(kernel.transpose(3, 2, 0, 1), f"{layer.name}/kernel", kernel, "iohw")]  # (C, F, kh, kw)
    if layer.params.get("bias") is not None:
        inputs.append(g.const(layer.params["bias"], f"{layer.name}/bias", layer.params["bias"]))
    y = g.add("ConvTranspose", inputs, name=layer.name, kernel_shape=list(layer.kernel_size),
              strides=list(layer.strides), dilations=list(layer.dilation_rate), pads=pads, output_padding=extra)
    _finish_conv(g, layer, y, call)


@converter("ZeroPadding2D")
def _zero_padding(g, layer, call):
    (t, b), (l, r) = layer.padding
    pads = g.const([0, t, l, 0, 0, b, r, 0], f"{layer.name}/pads", dtype=np.int64)
    g.add("Pad", [call.inputs[0], pads], call.output, name=layer.name, mode="constant")


@converter("Cropping2D")
def _cropping(g, layer, call):
    (t, b), (l, r) = layer.cropping
    last = np.iinfo(np.int64).max
    starts = g.const([t, l], f"{layer.name}/starts", dtype=np.int64)
    ends = g.const([-b if b else last, -r if r else last], f"{layer.name}/ends", dtype=np.int64)
    axes = g.const([1, 2], f"{layer.name}/axes", dtype=np.int64)
    g.add("Slice", [call.inputs[0], starts, ends, axes], call.output, name=layer.name)


@converter("UpSampling2D")
def _upsampling(g, layer, call):
    scales = g.const([1, 1, *layer.size], f"{layer.name}/scales", dtype=np.float32)     # N, C, H, W
    roi = g.const(np.zeros(0), f"{layer.name}/roi", dtype=np.float32)
    if layer.interpolation == "bilinear":
        options = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    else:
        options = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    y = g.add("Resize", [g.nchw(call.inputs[0]), roi, scales], name=layer.name, **options)
    g.from_nchw(y, call.output)                                           # (N, H*sh, W*sw, C)


def _crop_pad_resize(g, layer, call, box, pads, size, interpolation, fill_value=0.0):
    """Keep ``box`` (top, left, rows, cols) of the NHWC input, pad ``pads`` (rows, cols) of ``fill_value``
    on each side, then resize to ``size`` with half-pixel centres: the layers' inference path."""
    x = call.inputs[0]
    _, H, W, _ = call.input_shapes[0]
    top, left, rows, cols = box
    if (top, left, rows, cols) != (0, 0, H, W):
        starts = g.const([top, left], f"{layer.name}/starts", dtype=np.int64)
        ends = g.const([top + rows, left + cols], f"{layer.name}/ends", dtype=np.int64)
        axes = g.const([1, 2], f"{layer.name}/axes", dtype=np.int64)
        x = g.add("Slice", [x, starts, ends, axes], name=f"{layer.name}/crop")        # (N, rows, cols, C)
    p, q = pads
    if (p, q) != (0, 0):
        amounts = g.const([0, p, q, 0, 0, p, q, 0], f"{layer.name}/pads", dtype=np.int64)
        x = g.add("Pad", [x, amounts, g.scalar(fill_value, f"{layer.name}/fill")], name=f"{layer.name}/pad",
                  mode="constant")                                                  # (N, rows+2p, cols+2q, C)
    if (rows + 2 * p, cols + 2 * q) == tuple(size):
        g.add("Identity", [x], call.output, name=layer.name)
        return
    if interpolation == "bilinear":
        options = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    else:                      # nearest with half-pixel centres: floor((o + 0.5) * n_in / n_out)
        options = {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                   "nearest_mode": "round_prefer_ceil"}
    xc = g.nchw(x)                                                                  # (N, C, rows, cols)
    batch_channels = g.add("Slice", [g.add("Shape", [xc], name=f"{layer.name}/shape"),
                                     g.const([0], f"{layer.name}/s0", dtype=np.int64),
                                     g.const([2], f"{layer.name}/s2", dtype=np.int64)], name=f"{layer.name}/nc")
    sizes = g.add("Concat", [batch_channels, g.const(list(size), f"{layer.name}/hw", dtype=np.int64)],
                  name=f"{layer.name}/sizes", axis=0)
    roi = g.const(np.zeros(0), f"{layer.name}/roi", dtype=np.float32)
    scales = g.const(np.zeros(0), f"{layer.name}/scales", dtype=np.float32)
    y = g.add("Resize", [xc, roi, scales, sizes], name=layer.name, **options)     # (N, C, height, width)
    g.from_nchw(y, call.output)                                                     # (N, height, width, C)


def _image_size(layer, call):
    _, H, W, _ = call.input_shapes[0]
    if H is None or W is None:
        raise ValueError(f"ONNX export: '{layer.name}' ({type(layer).__name__}) needs images of a known height "
                         f"and width; the model gives it shape {call.input_shapes[0]}. Give the model's Input "
                         "a full shape, e.g. keras.Input((28, 28, 1)).")
    return H, W


@converter("Resizing")
def _resizing(g, layer, call):
    from ..layers.resizing import aspect_crop_box, aspect_pad_amounts

    H, W = _image_size(layer, call)
    box, pads = (0, 0, H, W), (0, 0)
    if layer.crop_to_aspect_ratio:
        box = aspect_crop_box(H, W, layer.height, layer.width)
    elif layer.pad_to_aspect_ratio:
        pads = aspect_pad_amounts(H, W, layer.height, layer.width)
    _crop_pad_resize(g, layer, call, box, pads, (layer.height, layer.width), layer.interpolation,
                     layer.fill_value)


@converter("CenterCrop")
def _center_crop(g, layer, call):
    from ..layers.resizing import aspect_crop_box

    H, W = _image_size(layer, call)
    h, w = layer.height, layer.width
    box = ((H - h) // 2, (W - w) // 2, h, w) if H >= h and W >= w else aspect_crop_box(H, W, h, w)
    _crop_pad_resize(g, layer, call, box, (0, 0), (h, w), "bilinear")


@converter("RandomCrop")
def _random_crop(g, layer, call):
    if call.training:
        _identity(g, layer, call)          # raises: random inside predict
    H, W = _image_size(layer, call)
    h, w = layer.height, layer.width       # at inference: the centre at the aspect ratio h / w, resized
    rows, cols = max(min(H, int(W * h / w)), 1), max(min(W, int(H * w / h)), 1)
    _crop_pad_resize(g, layer, call, (int((H - rows) / 2), int((W - cols) / 2), rows, cols), (0, 0), (h, w),
                     "bilinear")


@converter("Dense")
def _dense(g, layer, call):
    kernel, bias = layer.params["kernel"], layer.params.get("bias")      # (D, U), (U,)
    z = g.add("MatMul", [call.inputs[0], g.const(kernel, f"{layer.name}/kernel", kernel)], name=layer.name)  # (..., U)
    if bias is not None:
        z = g.add("Add", [z, g.const(bias, f"{layer.name}/bias", bias)], name=f"{layer.name}/bias_add")
    g.activation(layer.activation, z, call.output, layer.name)


@converter("Activation", "Softmax", "LeakyReLU")
def _activation_layer(g, layer, call):
    g.activation(layer.activation, call.inputs[0], call.output, layer.name)


@converter("ReLU")
def _relu_layer(g, layer, call):
    x = call.inputs[0]
    if layer.threshold == 0.0 and layer.negative_slope == 0.0 and layer.max_value is None:
        g.add("Relu", [x], call.output, name=layer.name)
        return
    # as convlearn computes it: slope * (x - threshold) at or below the threshold, x above, then the cap
    t = g.scalar(layer.threshold, f"{layer.name}/threshold")
    below = g.add("LessOrEqual", [x, t], name=f"{layer.name}/below")
    leak = g.add("Mul", [g.add("Sub", [x, t]), g.scalar(layer.negative_slope, f"{layer.name}/slope")])
    if layer.max_value is None:
        g.add("Where", [below, leak, x], call.output, name=layer.name)
        return
    y = g.add("Where", [below, leak, x], name=layer.name)
    cap = g.scalar(layer.max_value, f"{layer.name}/max_value")
    g.add("Where", [g.add("GreaterOrEqual", [x, cap]), cap, y], call.output, name=f"{layer.name}/cap")


def _identity(g, layer, call):
    if call.training:
        raise ValueError(
            f"ONNX export: '{layer.name}' ({type(layer).__name__}) is called with training=True inside the "
            "model, so it is random even when predicting; an ONNX file cannot hold that. Call it without "
            "training=True to export the model."
        )
    g.add("Identity", [call.inputs[0]], call.output, name=layer.name)


# Layers that change nothing at inference: dropout, and random augmentation (identity when not training).
for _name in ("Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
              "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast",
              "RandomBrightness"):      # (not RandomCrop: at inference it crops the centre, converted below)
    converter(_name)(_identity)


@converter("Flatten")
def _flatten(g, layer, call):
    g.add("Flatten", [call.inputs[0]], call.output, name=layer.name, axis=1)   # (N, H*W*C) in NHWC order


@converter("Reshape")
def _reshape(g, layer, call):
    shape = g.const([0, *layer.target_shape], f"{layer.name}/shape", dtype=np.int64)  # 0: keep the batch size
    g.add("Reshape", [call.inputs[0], shape], call.output, name=layer.name)


@converter("Rescaling")
def _rescaling(g, layer, call):
    y = g.add("Mul", [call.inputs[0], g.scalar(layer.scale, f"{layer.name}/scale")], name=layer.name)
    g.add("Add", [y, g.scalar(layer.offset, f"{layer.name}/offset")], call.output, name=f"{layer.name}/offset")


def _pooling(op):
    def convert(g, layer, call):
        attributes = {"count_include_pad": 0} if op == "AveragePool" else {}   # Keras: padding is not averaged
        y = g.add(op, [g.nchw(call.inputs[0])], name=layer.name, kernel_shape=list(layer.pool_size),
                  strides=list(layer.strides),
                  **_pad_attributes(call, layer.pool_size, layer.strides, layer.padding), **attributes)
        g.from_nchw(y, call.output)                                       # (N, Ho, Wo, C)

    return convert


converter("MaxPooling2D", "MaxPool2D")(_pooling("MaxPool"))
converter("AveragePooling2D", "AvgPool2D")(_pooling("AveragePool"))


def _global_pooling(op):
    def convert(g, layer, call):
        g.add(op, [call.inputs[0]], call.output, name=layer.name, axes=[1, 2], keepdims=int(layer.keepdims))

    return convert


converter("GlobalAveragePooling2D", "GlobalAvgPool2D")(_global_pooling("ReduceMean"))
converter("GlobalMaxPooling2D", "GlobalMaxPool2D")(_global_pooling("ReduceMax"))


def _channel_shape(rank, axis, size):
    """The shape a per-channel vector broadcasts to along ``axis`` of a rank-``rank`` tensor."""
    return (size,) + (1,) * (rank - 1 - axis % rank)


@converter("BatchNormalization")
def _batch_norm(g, layer, call):
    if call.training and layer.trainable:
        raise ValueError(
            f"ONNX export: BatchNormalization '{layer.name}' is called with training=True inside the model, "
            "so it normalises with each batch's own statistics; the ONNX file uses the moving averages. "
            "Call it without training=True to export the model."
        )
    scale, shift = layer.inference_scale_shift()                          # (C,) each, as predict uses them
    shape = _channel_shape(len(call.input_shapes[0]), layer.axis, scale.shape[0])
    y = g.add("Mul", [call.inputs[0], g.const(scale.reshape(shape), f"{layer.name}/scale", layer.moving_variance,
                                              "scale")], name=layer.name)
    g.add("Add", [y, g.const(shift.reshape(shape), f"{layer.name}/shift", layer.moving_mean, "shift")],
          call.output, name=f"{layer.name}/shift")


@converter("LayerNormalization")
def _layer_norm(g, layer, call):
    rank = len(call.input_shapes[0])
    axes = sorted(a % rank for a in (layer.axis if isinstance(layer.axis, list) else [layer.axis]))
    x = call.inputs[0]
    mean = g.add("ReduceMean", [x], name=f"{layer.name}/mean", axes=axes, keepdims=1)
    centred = g.add("Sub", [x, mean])
    variance = g.add("ReduceMean", [g.add("Mul", [centred, centred])], name=f"{layer.name}/variance", axes=axes,
                     keepdims=1)
    std = g.add("Sqrt", [g.add("Add", [variance, g.scalar(layer.epsilon, f"{layer.name}/epsilon")])])
    y = g.add("Div", [centred, std], name=layer.name)
    full = [call.input_shapes[0][a] if a in axes else 1 for a in range(rank)]   # 1 on the axes not normalised
    for weight, op in (("gamma", "Mul"), ("beta", "Add")):
        value = layer.params.get(weight)
        if value is not None:
            y = g.add(op, [y, g.const(value.reshape(full), f"{layer.name}/{weight}", value, "full")],
                      name=f"{layer.name}/{weight}")
    g.add("Identity", [y], call.output)


def _variadic(op):
    def convert(g, layer, call):
        g.add(op, call.inputs, call.output, name=layer.name)

    return convert


converter("Add")(_variadic("Sum"))
converter("Average")(_variadic("Mean"))
converter("Maximum")(_variadic("Max"))
converter("Minimum")(_variadic("Min"))


@converter("Subtract")
def _subtract(g, layer, call):
    g.add("Sub", call.inputs, call.output, name=layer.name)


@converter("Multiply")
def _multiply(g, layer, call):
    product = call.inputs[0]
    for k, other in enumerate(call.inputs[1:], start=2):
        product = g.add("Mul", [product, other], call.output if k == len(call.inputs) else None, name=layer.name)
    if len(call.inputs) == 1:
        g.add("Identity", [product], call.output, name=layer.name)


@converter("Concatenate")
def _concatenate(g, layer, call):
    g.add("Concat", call.inputs, call.output, name=layer.name, axis=int(layer.axis))


# ----------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------

def find_converter(layer):
    """The converter of ``layer``: its class's, or that of the nearest registered base class
    whose ``forward`` it inherits unchanged. None when there is none."""
    for cls in type(layer).__mro__:
        if cls.__name__ in CONVERTERS:
            return CONVERTERS[cls.__name__]
        if "forward" in vars(cls) or "call" in vars(cls):   # its own computation: a base's converter would lie
            return None
    return None


def _no_converter(layer):
    from ..engine.graph import OpaqueCall

    if isinstance(layer, OpaqueCall):
        return ValueError(
            f"ONNX export: layer '{layer.name}' ({type(layer.layer).__name__}) computes with NumPy in call(), "
            "which has no ONNX form. Build call() from convlearn layers to export the model."
        )
    return ValueError(
        f"ONNX export: layer '{layer.name}' ({type(layer).__name__}) has no ONNX converter. Layers with one: "
        f"{', '.join(sorted(CONVERTERS))}. Write one with "
        f"@convlearn.export.onnx_export.converter({type(layer).__name__!r}), or export a model without it."
    )


def _value_info(helper, name, elem_type, shape):
    dims = [d if d is not None else ("batch" if i == 0 else f"{name}_dim{i}") for i, d in enumerate(shape)]
    return helper.make_tensor_value_info(name, elem_type, dims)


def to_onnx(model, opset_version=None):
    """The ONNX ``ModelProto`` of ``model`` (inference: dropout off, BatchNormalization's moving averages).

    Parameters
    ----------
    model : convlearn.Model
        A built model (Sequential, functional, nested or subclassed).
    opset_version : int, optional
        13 (default) to 17.

    Raises
    ------
    ValueError
        If the model is not built, a layer has no converter, or the opset is not supported.
    ImportError
        If the ``onnx`` package is missing.
    """
    from .. import __version__

    onnx = _import_onnx()
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    if isinstance(opset, bool) or not isinstance(opset, int) or opset not in SUPPORTED_OPSETS:
        raise ValueError(
            f"Model.export: opset_version must be an integer from {SUPPORTED_OPSETS.start} to "
            f"{SUPPORTED_OPSETS.stop - 1}. Received: opset_version={opset_version!r}. Leave it out for 13, "
            "which ONNX Runtime 1.8 and later read."
        )
    if not getattr(model, "built", False) or not hasattr(model, "program"):
        raise ValueError(
            f"Model.export: the model {getattr(model, 'name', model)!r} is not built yet, so its layers and "
            "input shape are unknown. Call it, build() it or fit() it on data first."
        )
    g = OnnxGraph(onnx, model.dtype)
    elem = onnx.helper.np_dtype_to_tensor_dtype(g.dtype)
    program = model.program(training=False)
    names = {}
    graph_inputs, graph_outputs = [], []
    for slot, tensor, name in zip(program.inputs, model.inputs, model.input_names):
        names[slot] = g.reserve(name)
        graph_inputs.append(_value_info(onnx.helper, name, elem, tensor.shape))
    output_names = [g.reserve(n) for n in model.output_names]
    for step in program.steps:
        function = find_converter(step.layer)
        if function is None:
            raise _no_converter(step.layer)
        node = step.node
        names[step.output] = g.fresh(f"{step.layer.name}_out")
        function(g, step.layer, Call([names[s] for s in step.inputs], names[step.output],
                                     [t.shape for t in node.inputs], node.output.shape, step.training))
    for slot, tensor, name in zip(program.outputs, model.outputs, output_names):
        g.add("Identity", [names[slot]], name, name=f"{name}_identity")
        graph_outputs.append(_value_info(onnx.helper, name, elem, tensor.shape))
    graph = onnx.helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs, initializer=g.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)],
                                   producer_name="convlearn", producer_version=__version__)
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, filepath, opset_version=None):
    """Write ``model`` to ``filepath`` as ONNX (see :func:`to_onnx`); the file appears whole or not at all."""
    path = as_path(filepath, "Model.export")
    proto = to_onnx(model, opset_version)
    atomic_write_bytes(path, proto.SerializeToString())
    return path


__all__ = ["ACTIVATIONS", "CONVERTERS", "Call", "OnnxGraph", "activation_converter", "converter", "export_onnx",
           "find_converter", "to_onnx"]
