"""How a model runs its layers: one step per layer, or fused steps on the fast path.

The layers stay the objects a learner sees and can call one by one. When a
model trains or predicts with the fast kernels, a ``Conv2D`` (ReLU or no
activation) followed by a non-overlapping ``MaxPooling2D`` runs as one fused
kernel (:func:`convlearn.ops.fast.conv2d_maxpool_forward`): same numbers, a
fraction of the work. With ``convlearn.ops.set_kernels("reference")`` every
layer runs on its own.
"""

from __future__ import annotations

from . import ops
from .ops import fast
from .layers.conv import Conv2D
from .layers.pooling import MaxPooling2D


class FusedConvPool:
    """One plan step running ``conv`` then ``pool`` with the fused fast kernel."""

    def __init__(self, conv, pool):
        self.conv = conv
        self.pool = pool
        self.dtype = conv.dtype
        self.name = f"{conv.name}+{pool.name}"
        self._workspace = {}

    def forward(self, x, training=False):
        conv = self.conv
        out, self._cache = fast.conv2d_maxpool_forward(
            x, conv.params["kernel"], conv.params.get("bias"), conv.strides, conv.padding,
            self.pool.pool_size, relu=conv.activation.name == "relu", training=training,
            workspace=self._workspace)
        return out                                                # (N, Ho2, Wo2, F)

    def backward(self, dout):
        dx, dkernel, dbias = fast.conv2d_maxpool_backward(dout, self._cache, self.conv.need_input_grad,
                                                             workspace=self._workspace)
        self.conv.grads["kernel"] = dkernel
        if self.conv.use_bias:
            self.conv.grads["bias"] = dbias
        return dx


def can_fuse(layer, following):
    """Whether ``layer`` and the next layer can run as one :class:`FusedConvPool` step."""
    if not (isinstance(layer, Conv2D) and isinstance(following, MaxPooling2D)):
        return False
    if layer.activation.name not in ("relu", "linear") or following.padding != "valid":
        return False
    if following.strides != following.pool_size:
        return False
    if following.pool_size[0] * following.pool_size[1] > fast.MAX_FUSED_POOL_CELLS:
        return False
    _, Ho, Wo, _ = layer.output_shape
    return Ho is not None and Wo is not None and Ho >= following.pool_size[0] and Wo >= following.pool_size[1]


def build_plan(leaves):
    """The steps a model runs for its leaf layers, fusing where the fast kernels allow."""
    if ops.get_kernels() != "fast":
        return list(leaves)
    steps, i = [], 0
    while i < len(leaves):
        if i + 1 < len(leaves) and can_fuse(leaves[i], leaves[i + 1]):
            steps.append(FusedConvPool(leaves[i], leaves[i + 1]))
            i += 2
        else:
            steps.append(leaves[i])
            i += 1
    return steps
