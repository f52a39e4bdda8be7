"""Plans: the same program with faster steps, chosen by pattern.

The layers stay the objects a learner sees and can call one by one; a plan
only changes how a model *runs* them. Each pass below takes a
:class:`~convlearn.engine.graph.Program` and returns one that computes the
same numbers (tests hold every pass equal to the plain program):

- :func:`fold_batch_norm` (inference): a ``Conv2D`` or ``Dense`` followed by
  ``BatchNormalization`` (and an activation layer) becomes one convolution
  with adjusted weights: ``gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta``
  is a convolution with kernel ``k * s`` and bias ``(b - mean) * s + beta``,
  ``s = gamma / sqrt(var + eps)``.
- :func:`fuse_conv_pool` (fast kernels): a ``Conv2D`` (ReLU or no activation)
  followed by non-overlapping ``MaxPooling2D`` runs as one fused kernel
  (:func:`convlearn.ops.fast.conv2d_maxpool_forward`): pooling commutes with
  the bias and the ReLU, so the cells it drops are never computed.
- :func:`logits_outputs` (training): an output layer whose activation the
  loss can fuse with (softmax before cross-entropy) stops at its logits.
- :func:`prune_gradients` (training): no gradient is computed for the input
  images, nor for anything that only frozen layers depend on.
- :func:`fuse_norm_relu` (fast kernels, training): ``BatchNormalization``
  followed by a ReLU ``Activation`` layer is one step, the ReLU in place on
  the normalisation's fresh output.
- :func:`reuse_buffers` (fast kernels, training): every other ``Conv2D`` and
  ``MaxPooling2D`` step keeps its padded input and im2col buffers from one
  training step to the next instead of allocating them again; a ReLU
  ``Activation`` layer just before such a ``Conv2D`` runs as its input is copied.

Every pass that rewrites a convolution takes only a plain one (:func:`plain_conv`):
a ``Conv2D`` itself, not a subclass, without dilation or groups. The other
convolution layers (dilated or grouped ``Conv2D``, ``DepthwiseConv2D``,
``SeparableConv2D``, ``Conv2DTranspose``) run as they are.

With ``convlearn.ops.set_kernels("reference")`` no pass runs: every layer
runs on its own, with the loop kernels.
"""

from __future__ import annotations

import inspect

from .. import ops
from ..ops import fast
from .graph import Program, Step


def _readers(program):
    """slot -> number of steps that read it (model outputs count as one more reader)."""
    count = {}
    for step in program.steps:
        for s in step.inputs:
            count[s] = count.get(s, 0) + 1
    for s in program.outputs:
        count[s] = count.get(s, 0) + 1
    return count


def _producer(program):
    return {step.output: i for i, step in enumerate(program.steps)}


def _replace(program, steps):
    return Program(steps, program.inputs, program.outputs, program.needs_grad)


def _output_shape(step):
    return step.node.output.shape if step.node is not None else base_layer(step.layer).output_shape


def base_layer(layer):
    """The user's layer behind a plan step (the layer itself for a plain step)."""
    return getattr(layer, "base_layer", layer)


# ----------------------------------------------------------------------------
# Conv2D / Dense + BatchNormalization at inference
# ----------------------------------------------------------------------------

class FoldedConv:
    """``Conv2D`` or ``Dense`` + ``BatchNormalization`` (+ activation) as one step, for inference.

    The folded weights are computed from the layers' current weights at every
    call (a few microseconds), so they never go stale.
    """

    def __init__(self, layer, norm, activation):
        self.base_layer = layer
        self.norm = norm
        self.activation = activation if activation is not None else layer.activation
        self.name = f"{layer.name}+{norm.name}"
        self.dtype = layer.dtype
        self.params = {}
        self.strides = getattr(layer, "strides", None)
        self.padding = getattr(layer, "padding", None)

    def kernel_and_bias(self):
        k = self.base_layer.params["kernel"]                         # (kh, kw, C, F) or (D, U)
        b = self.base_layer.params.get("bias")
        scale, shift = self.norm.inference_scale_shift()             # (F,), (F,)
        kernel = k * scale.astype(k.dtype)
        bias = shift.astype(k.dtype) if b is None else (b * scale + shift).astype(k.dtype)
        return kernel, bias

    def forward(self, x, training=False):
        kernel, bias = self.kernel_and_bias()
        if len(kernel.shape) == 4:
            z, _ = ops.conv2d_forward(x, kernel, bias, self.strides, self.padding)  # (N, Ho, Wo, F)
        else:
            x2 = x.reshape(-1, x.shape[-1])                                           # (N, D)
            z, _ = ops.dense_forward(x2, kernel, bias)
            z = z.reshape(x.shape[:-1] + (kernel.shape[1],))
        return self.activation.forward(z)[0], None

    def backward(self, dout, cache):
        raise RuntimeError("A folded Conv2D + BatchNormalization step runs at inference only.")


def plain_conv(layer):
    """Whether ``layer`` is a ``Conv2D`` itself (not a subclass) without dilation or groups:
    the only convolution the fused and folded steps below compute."""
    from ..layers.conv import Conv2D

    return type(layer) is Conv2D and layer.plain


def _linear(layer):
    act = getattr(layer, "activation", None)
    return act is not None and act.name == "linear"


def fold_batch_norm(program):
    """Fold each BatchNormalization that directly follows a linear Conv2D or Dense (inference)."""
    from ..layers.activation import Activation
    from ..layers.core import Dense
    from ..layers.normalization import BatchNormalization

    readers, steps, i = _readers(program), [], 0
    old = program.steps
    while i < len(old):
        step = old[i]
        nxt = old[i + 1] if i + 1 < len(old) else None
        if (nxt is not None and (plain_conv(step.layer) or type(step.layer) is Dense) and _linear(step.layer)
                and type(nxt.layer) is BatchNormalization and nxt.layer.folds_into_last_axis()
                and nxt.inputs == (step.output,) and readers.get(step.output) == 1):
            act, last = None, nxt
            after = old[i + 2] if i + 2 < len(old) else None
            if (after is not None and type(after.layer) is Activation and after.inputs == (nxt.output,)
                    and readers.get(nxt.output) == 1):
                act, last = after.layer.activation, after
            steps.append(Step(FoldedConv(step.layer, nxt.layer, act), step.inputs, last.output, False,
                              False))
            i += 2 if act is None else 3
            continue
        steps.append(step)
        i += 1
    return _replace(program, steps)


# ----------------------------------------------------------------------------
# Conv2D + MaxPooling2D
# ----------------------------------------------------------------------------

class FusedConvPool:
    """One step running a convolution then max pooling with the fused fast kernel.

    ``conv`` is a ``Conv2D`` or a :class:`FoldedConv`. The step keeps a
    workspace of buffers reused from call to call, so one plan is used by one
    thread at a time (models keep a pool of plans).
    """

    def __init__(self, conv, pool, need_dx=True):
        # (need_dx: whether to compute the input gradient; prune_gradients turns it off for the first layer)
        self.conv = conv
        self.pool = pool
        self.base_layer = base_layer(conv)
        self.params = conv.params
        self.dtype = conv.dtype
        self.name = f"{conv.name}+{pool.name}"
        self.need_dx = need_dx
        self._workspace = {}

    def forward(self, x, training=False):
        conv = self.conv
        if isinstance(conv, FoldedConv):
            kernel, bias = conv.kernel_and_bias()
        else:
            kernel, bias = conv.params["kernel"], conv.params.get("bias")
        return fast.conv2d_maxpool_forward(
            x, kernel, bias, conv.strides, conv.padding, self.pool.pool_size,
            relu=conv.activation.name == "relu", training=training, workspace=self._workspace)  # (N, Ho2, Wo2, F)

    def backward(self, dout, cache):
        dx, dkernel, dbias = fast.conv2d_maxpool_backward(dout, cache, self.need_dx, workspace=self._workspace)
        grads = {"kernel": dkernel}
        if self.conv.use_bias:
            grads["bias"] = dbias
        return dx, grads


def can_fuse(conv, pool, conv_output_shape):
    """Whether ``conv`` and ``pool`` can run as one :class:`FusedConvPool` step."""
    from ..layers.pooling import MaxPooling2D

    if not (plain_conv(conv) or isinstance(conv, FoldedConv)) or type(pool) is not MaxPooling2D:
        return False
    if isinstance(conv, FoldedConv) and conv.strides is None:   # a folded Dense
        return False
    if conv.activation.name not in ("relu", "linear") or pool.padding != "valid":
        return False
    if pool.strides != pool.pool_size or pool.pool_size[0] * pool.pool_size[1] > fast.MAX_FUSED_POOL_CELLS:
        return False
    _, Ho, Wo, _ = conv_output_shape
    return Ho is not None and Wo is not None and Ho >= pool.pool_size[0] and Wo >= pool.pool_size[1]


def _fuse_pairs(program, fuse):
    """Replace each step whose output only the next step reads, together with that step,
    by ``fuse(step, next_step)`` where that gives a step (None keeps both)."""
    readers, steps, i = _readers(program), [], 0
    old = program.steps
    while i < len(old):
        step = old[i]
        nxt = old[i + 1] if i + 1 < len(old) else None
        fused = None
        if nxt is not None and nxt.inputs == (step.output,) and readers.get(step.output) == 1:
            fused = fuse(step, nxt)
        steps.append(step if fused is None else fused)
        i += 1 if fused is None else 2
    return _replace(program, steps)


def fuse_conv_pool(program):
    """Run each Conv2D directly followed by a non-overlapping MaxPooling2D as one fused step."""
    def fuse(step, nxt):
        if step.as_list or not can_fuse(step.layer, nxt.layer, _output_shape(step)):
            return None
        return Step(FusedConvPool(step.layer, nxt.layer), step.inputs, nxt.output, False, step.training, step.node)

    return _fuse_pairs(program, fuse)


# ----------------------------------------------------------------------------
# Output logits, and which gradients are needed
# ----------------------------------------------------------------------------

class Call:
    """A layer's step with plan choices: stop at the logits, or skip the input gradient."""

    def __init__(self, layer, logits=False, need_dx=True):
        self.base_layer = layer
        self.params = layer.params
        self.name = layer.name
        self.dtype = layer.dtype
        self.logits = logits
        self.need_dx = need_dx
        self._pass_need_dx = "need_dx" in inspect.signature(
            layer.backward_from_logits if logits else layer.backward).parameters
        self.activation = getattr(layer, "activation", None)

    def forward(self, x, training=False):
        if self.logits:
            return self.base_layer.forward_logits(x, training)
        return self.base_layer.forward(x, training)

    def backward(self, dout, cache):
        backward = self.base_layer.backward_from_logits if self.logits else self.base_layer.backward
        if self._pass_need_dx:
            return backward(dout, cache, need_dx=self.need_dx)
        return backward(dout, cache)

    def backward_input_first(self, dout, cache):
        return self.base_layer.backward_input_first(dout, cache, need_dx=self.need_dx)

    @property
    def splits_backward(self):
        return not self.logits and hasattr(self.base_layer, "backward_input_first")


def logits_outputs(program, fusable):
    """Let output ``k`` stop at its logits where ``fusable[k]`` names the activation its loss fuses with.

    Returns ``(program, logits)``: ``logits[k]`` is the activation function whose
    input output ``k`` now is, or None.
    """
    producer = _producer(program)
    readers = _readers(program)
    steps = list(program.steps)
    logits = [None] * len(program.outputs)
    for k, (slot, act_name) in enumerate(zip(program.outputs, fusable)):
        i = producer.get(slot)
        if act_name is None or i is None or readers.get(slot) != 1:
            continue
        layer = steps[i].layer
        act = getattr(layer, "activation", None)
        if (act is not None and act.name == act_name and getattr(act, "axis", -1) in (-1, len(steps[i].node.output.shape) - 1)
                and hasattr(layer, "forward_logits") and not isinstance(layer, Call)):
            steps[i] = Step(Call(layer, logits=True), steps[i].inputs, slot, False, steps[i].training, steps[i].node)
            logits[k] = act
    return _replace(program, steps), logits


def prune_gradients(program, trainable_ids, input_grads=False):
    """Compute only the gradients the weight updates need.

    A slot needs a gradient when a step with trainable weights (ids in
    ``trainable_ids``) comes before it, or it is a model input and
    ``input_grads``. Steps whose inputs need none skip their input gradient
    (``need_dx=False``): for the first convolution, its largest matrix product.
    """
    needs = set(program.inputs) if input_grads else set()
    for step in program.steps:
        trainable = any(id(w) in trainable_ids for w in step.layer.params.values())
        if trainable or any(s in needs for s in step.inputs):
            needs.add(step.output)
    steps = []
    for step in program.steps:
        if not any(s in needs for s in step.inputs) and not step.as_list:
            if isinstance(step.layer, (Call, FusedConvPool)):
                step.layer.need_dx = False
            elif hasattr(step.layer, "forward_logits"):
                step = Step(Call(step.layer, need_dx=False), step.inputs, step.output, False, step.training,
                            step.node)
        steps.append(step)
    return Program(steps, program.inputs, program.outputs, needs)


# ----------------------------------------------------------------------------
# BatchNormalization + ReLU, and buffers reused from step to step (training)
# ----------------------------------------------------------------------------

class NormReLU:
    """``BatchNormalization`` then a ReLU ``Activation`` layer as one step (training).

    The ReLU works in place on the normalisation's output, an array the step
    has just made and nothing else holds: one array fewer per call, and the
    same array gates the gradient on the way back. The normalisation layer
    itself runs as usual (its moving averages included).
    """

    def __init__(self, norm, relu):
        self.norm = norm
        self.relu = relu
        self.base_layer = norm
        self.params = norm.params
        self.dtype = norm.dtype
        self.name = f"{norm.name}+{relu.name}"

    def forward(self, x, training=False):
        out, cache = self.norm.forward(x, training)
        fast.relu_in_place(out)
        return out, (cache, out)

    def backward(self, dout, cache):
        norm_cache, out = cache
        return self.norm.backward(self.relu.activation.backward(dout, out), norm_cache)


def fuse_norm_relu(program):
    """Run each BatchNormalization directly followed by a ReLU Activation layer as one step."""
    from ..layers.activation import Activation
    from ..layers.normalization import BatchNormalization

    def fuse(step, nxt):
        if (type(step.layer) is not BatchNormalization or type(nxt.layer) is not Activation
                or nxt.layer.activation.name != "relu" or nxt.training != step.training):
            return None
        return Step(NormReLU(step.layer, nxt.layer), step.inputs, nxt.output, False, step.training, step.node)

    return _fuse_pairs(program, fuse)


class ConvCall:
    """A ``Conv2D`` step on the fast kernels, with buffers (the padded input, the
    im2col matrices) reused from call to call: one plan is used by one thread at a
    time, like :class:`FusedConvPool`.

    ``relu``: a ReLU ``Activation`` layer just before the convolution, applied as the
    input is copied into the padded buffer (one array and one pass fewer each way).
    """

    def __init__(self, layer, need_dx=True, relu=None):
        self.base_layer = layer
        self.params = layer.params
        self.dtype = layer.dtype
        self.name = layer.name if relu is None else f"{relu.name}+{layer.name}"
        self.activation = layer.activation
        self.need_dx = need_dx
        self.relu = relu
        self._workspace = {}

    def forward(self, x, training=False):
        layer = self.base_layer
        z, conv_cache = fast.conv2d_forward(x, layer.params["kernel"], layer.params.get("bias"), layer.strides,
                                            layer.padding, workspace=self._workspace,
                                            relu_input=self.relu is not None)           # (N, Ho, Wo, F)
        out, act_cache = layer.activation.forward(z)
        return out, (conv_cache, act_cache)

    def backward(self, dout, cache):
        conv_cache, act_cache = cache
        dz = self.base_layer.activation.backward(dout, act_cache)
        dx, dkernel, dbias = fast.conv2d_backward(dz, conv_cache, self.need_dx, workspace=self._workspace)
        grads = {"kernel": dkernel}
        if self.base_layer.use_bias:
            grads["bias"] = dbias
        return dx, grads


class MaxPoolCall:
    """A ``MaxPooling2D`` step on the fast kernels, with its buffers reused from call to call."""

    def __init__(self, layer):
        self.base_layer = layer
        self.params = layer.params
        self.dtype = layer.dtype
        self.name = layer.name
        self._workspace = {}

    def forward(self, x, training=False):
        layer = self.base_layer
        return fast.pool2d_forward(x, layer.pool_size, layer.strides, layer.padding, "max",
                                   workspace=self._workspace)                              # (N, Ho, Wo, C)

    def backward(self, dout, cache):
        return fast.pool2d_backward(dout, cache, workspace=self._workspace), {}


def _plain(layer):
    """``(layer, need_dx)`` of a step's layer, seen through a :class:`Call` that keeps its activation."""
    if isinstance(layer, Call) and not layer.logits:
        return layer.base_layer, layer.need_dx
    return layer, True


def reuse_buffers(program):
    """Give each plain Conv2D and MaxPooling2D step buffers of its own, reused from call to call;
    a ReLU Activation layer read only by the Conv2D after it runs inside that step."""
    from ..layers.activation import Activation
    from ..layers.pooling import MaxPooling2D

    def fuse(step, nxt):
        (act, need_dx), (conv, _) = _plain(step.layer), _plain(nxt.layer)
        if (type(act) is not Activation or act.activation.name != "relu" or not plain_conv(conv)
                or step.as_list or nxt.training != step.training):
            return None
        return Step(ConvCall(conv, need_dx, relu=act), step.inputs, nxt.output, False, nxt.training, nxt.node)

    steps = []
    for step in _fuse_pairs(program, fuse).steps:
        layer = step.layer
        inner, need_dx = _plain(layer)
        if plain_conv(inner) and not step.as_list:
            step = Step(ConvCall(inner, need_dx), step.inputs, step.output, False, step.training, step.node)
        elif type(layer) is MaxPooling2D and not step.as_list:
            step = Step(MaxPoolCall(layer), step.inputs, step.output, False, step.training, step.node)
        steps.append(step)
    return Program(steps, program.inputs, program.outputs, program.needs_grad)


def inference_plan(program):
    """The passes for predict/evaluate: BatchNormalization folded, conv + pool fused."""
    if ops.get_kernels() != "fast":
        return program
    return fuse_conv_pool(fold_batch_norm(program))


def training_plan(program, fusable, trainable_ids):
    """The passes for fit: logits outputs, conv + pool and BatchNormalization + ReLU fused,
    only the gradients needed, buffers reused.

    Returns ``(program, logits)`` (see :func:`logits_outputs`).
    """
    program, logits = logits_outputs(program, fusable)
    if ops.get_kernels() != "fast":
        return prune_gradients(program, trainable_ids), logits
    program = prune_gradients(fuse_norm_relu(fuse_conv_pool(program)), trainable_ids)
    return reuse_buffers(program), logits


__all__ = ["inference_plan", "training_plan", "fold_batch_norm", "fuse_conv_pool", "fuse_norm_relu", "logits_outputs",
           "prune_gradients", "reuse_buffers", "FusedConvPool", "FoldedConv", "Call", "NormReLU", "ConvCall",
           "MaxPoolCall", "base_layer", "plain_conv"]
