"""Normalisation layers: BatchNormalization and LayerNormalization.

Both subtract a mean, divide by a standard deviation ``sqrt(var + epsilon)``,
then scale by ``gamma`` and shift by ``beta`` (the maths is in
:mod:`convlearn.ops`). They differ in which values share the statistics: one
channel over the whole batch (BatchNormalization, which keeps moving averages
for inference), or one sample (LayerNormalization, the same in training and
inference).
"""

from __future__ import annotations

import math
import numbers
import threading

from .. import initializers, ops
from .._checks import float_in_range
from .base import Layer, shape_str
from .conv import check_unsupported

# moving averages are updated by one training call at a time (a module lock: layers stay deep-copyable)
_MOVING_AVERAGES = threading.Lock()


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def resolve_axes(axes, input_shape, owner, name, given):
    """``axes`` of ``input_shape`` as a sorted tuple of non-negative ints.

    Raises
    ------
    ValueError
        For an axis the input does not have, the batch axis, an axis named
        twice, or an axis whose size is unknown.
    """
    ndim = len(input_shape)
    where = f"{owner} '{name}': axis={given!r}"
    if ndim < 2:
        raise ValueError(f"{where} needs input with a feature axis, (batch, features) or more; "
                         f"got shape {shape_str(input_shape)}.")
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{where} is out of range for input of shape {shape_str(input_shape)}, which has {ndim} axes. "
                f"Use an axis from 1 to {ndim - 1} (or from -{ndim - 1} to -1; -1 is the channels of "
                "(batch, height, width, channels) images)."
            )
    resolved = [a % ndim for a in axes]
    if 0 in resolved:
        raise ValueError(
            f"{where} is the batch axis of input of shape {shape_str(input_shape)}. "
            f"Normalise a feature axis: from 1 to {ndim - 1}, e.g. -1 for the channels of NHWC images."
        )
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{where} names the same axis twice (input shape {shape_str(input_shape)}); "
                         "give each axis once.")
    unknown = [a for a in resolved if input_shape[a] is None]
    if unknown:
        raise ValueError(f"{where}: the size of axis {unknown[0]} must be known; got input shape "
                         f"{shape_str(input_shape)}.")
    return tuple(sorted(resolved))


def _gamma_beta_grads(layer, dgamma, dbeta):
    """The gradients of the weights ``layer`` has: ``gamma`` when ``scale``, ``beta`` when ``center``."""
    grads = {}
    if layer.scale:
        grads["gamma"] = dgamma
    if layer.center:
        grads["beta"] = dbeta
    return grads


def _check_built(layer, method):
    if not layer.built:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' has no weights yet, so {method}() has nothing to "
            "compute from: build it first (call it on data, or put it in a model)."
        )


class BatchNormalization(Layer):
    """Normalise each channel: batch statistics while training, moving averages at inference.

    ``out = gamma * (x - mean) / sqrt(variance + epsilon) + beta`` for every
    channel, the entries along ``axis``.

    - Training (``training=True`` on a trainable layer): the mean and biased
      variance of the channel's values in this batch, over every axis but
      ``axis``. The moving averages then move towards them, in place:
      ``moving = moving * momentum + batch_statistic * (1 - momentum)``.
    - Inference (``training=False``): ``moving_mean`` and ``moving_variance``.
      As in Keras 3, a layer with ``trainable=False`` runs in inference mode
      even when called with ``training=True`` (fine-tuning a frozen model).

    Parameters
    ----------
    axis : int, default -1
        The channel axis: -1 for NHWC images and (batch, features), 1 for
        channels-first data.
    momentum : float in [0, 1], default 0.99
    epsilon : float > 0, default 1e-3
    center : bool, default True
        Learn an offset ``beta``.
    scale : bool, default True
        Learn a factor ``gamma``.
    beta_initializer : default "zeros"
    gamma_initializer : default "ones"
    moving_mean_initializer : default "zeros"
    moving_variance_initializer : default "ones"

    Notes
    -----
    Keras's regularizers, constraints, ``renorm`` and ``synchronized`` are not
    supported: only their defaults are accepted.

    Weights, in Keras's order: ``gamma`` (C,) and ``beta`` (C,), trainable
    (absent when ``scale`` or ``center`` is False); ``moving_mean`` (C,) and
    ``moving_variance`` (C,), non-trainable.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        owner = "BatchNormalization"
        if isinstance(axis, (list, tuple)) and len(axis) == 1:   # tf.keras 2 configs write axis=[3]
            axis = axis[0]
        if not _is_int(axis):
            raise ValueError(f"{owner}: `axis` must be one integer, the channel axis (e.g. -1). "
                             f"Received: axis={axis!r}.")
        self.axis = int(axis)
        self.momentum = float_in_range(momentum, "momentum", owner, 0.0, 1.0, True, True)
        self.epsilon = float_in_range(epsilon, "epsilon", owner, 0.0, math.inf, False, False)
        check_unsupported(owner, beta_regularizer=(beta_regularizer, None),
                          gamma_regularizer=(gamma_regularizer, None), beta_constraint=(beta_constraint, None),
                          gamma_constraint=(gamma_constraint, None), renorm=(renorm, False),
                          renorm_clipping=(renorm_clipping, None), renorm_momentum=(renorm_momentum, 0.99),
                          synchronized=(synchronized, False))
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        (axis,) = resolve_axes((self.axis,), input_shape, "BatchNormalization", self.name, self.axis)
        C = input_shape[axis]
        if self.scale:
            self.add_weight(shape=(C,), initializer=self.gamma_initializer, name="gamma")           # (C,)
        if self.center:
            self.add_weight(shape=(C,), initializer=self.beta_initializer, name="beta")             # (C,)
        self.add_weight(shape=(C,), initializer=self.moving_mean_initializer, trainable=False,
                        name="moving_mean")                                                        # (C,)
        self.add_weight(shape=(C,), initializer=self.moving_variance_initializer, trainable=False,
                        name="moving_variance")                                                    # (C,)

    def compute_output_shape(self, input_shape):
        resolve_axes((self.axis,), input_shape, "BatchNormalization", self.name, self.axis)
        return tuple(input_shape)

    gamma = property(lambda self: self.params.get("gamma"))
    beta = property(lambda self: self.params.get("beta"))
    moving_mean = property(lambda self: self.state.get("moving_mean"))
    moving_variance = property(lambda self: self.state.get("moving_variance"))

    def forward(self, x, training=False):
        training = bool(training) and self.trainable          # Keras 3: a frozen layer runs in inference mode
        out, cache = ops.batch_norm_forward(x, self.gamma, self.beta, self.moving_mean, self.moving_variance,
                                            self.axis, self.epsilon, training)
        if training:
            m = self.momentum
            with _MOVING_AVERAGES:
                for moving, batch_value in ((self.moving_mean, cache.mean), (self.moving_variance, cache.variance)):
                    moving[...] = moving * m + batch_value * (1.0 - m)                             # in place
        return out, cache

    def backward(self, dout, cache):
        dx, dgamma, dbeta = ops.batch_norm_backward(dout, cache)
        return dx, _gamma_beta_grads(self, dgamma, dbeta)                                           # (C,) each

    def folds_into_last_axis(self):
        """Whether the normalised axis is the input's last one (the channels of NHWC images).

        Then the inference map can be folded into a layer before it whose outputs
        lie along the last axis (Conv2D's filters, Dense's units).
        """
        if self.built and isinstance(self.input_shape, tuple):
            return self.axis % len(self.input_shape) == len(self.input_shape) - 1
        return self.axis == -1

    def inference_scale_shift(self):
        """The inference pass as one affine map per channel: ``out = x * scale + shift``.

        ``scale = gamma / sqrt(moving_variance + epsilon)`` and
        ``shift = beta - moving_mean * scale`` (``gamma = 1``, ``beta = 0`` when
        absent), computed in float64 and rounded once to the layer's dtype: the
        very numbers the fast inference pass multiplies and adds
        (:func:`convlearn.ops.batch_norm_scale_shift`).

        Returns
        -------
        scale, shift : ndarray, shape (C,)

        Raises
        ------
        ValueError
            If the layer has not been built.
        """
        _check_built(self, "inference_scale_shift")
        return ops.batch_norm_scale_shift(self.gamma, self.beta, self.moving_mean, self.moving_variance,
                                          self.epsilon)

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, momentum=self.momentum, epsilon=self.epsilon, center=self.center, scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
            moving_variance_initializer=initializers.serialize(self.moving_variance_initializer),
            beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
            synchronized=False, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
        )
        return config


class LayerNormalization(Layer):
    """Normalise each sample over ``axis``: the same in training and inference.

    For every sample (and every index of the axes not normalised), the values
    along ``axis`` are shifted to mean 0 and scaled to variance 1 (biased), then
    multiplied by ``gamma`` and shifted by ``beta`` value by value.

    Parameters
    ----------
    axis : int or list of int, default -1
        The axes normalised together, e.g. ``[1, 2, 3]`` for whole NHWC images.
    epsilon, center, scale, beta_initializer, gamma_initializer
        As in :class:`BatchNormalization` (defaults 1e-3, True, True, "zeros", "ones").
    rms_scaling : False
        Keras's deprecated RMS scaling is not supported, nor are regularizers
        and constraints.

    Notes
    -----
    Weights: ``gamma`` and ``beta``, both trainable, of the shape of the
    normalised axes (``(C,)`` for ``axis=-1``).
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, rms_scaling=False, **kwargs):
        super().__init__(**kwargs)
        owner = "LayerNormalization"
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if not axes or not all(_is_int(a) for a in axes):
            raise ValueError(f"{owner}: `axis` must be an integer or a non-empty list of integers "
                             f"(e.g. -1, or [1, 2, 3]). Received: axis={axis!r}.")
        self.axis = [int(a) for a in axes] if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float_in_range(epsilon, "epsilon", owner, 0.0, math.inf, False, False)
        check_unsupported(owner, rms_scaling=(rms_scaling, False), beta_regularizer=(beta_regularizer, None),
                          gamma_regularizer=(gamma_regularizer, None), beta_constraint=(beta_constraint, None),
                          gamma_constraint=(gamma_constraint, None))
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _axes(self, input_shape):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        return resolve_axes(axes, input_shape, "LayerNormalization", self.name, self.axis)

    def build(self, input_shape):
        shape = tuple(input_shape[a] for a in self._axes(input_shape))              # the normalised axes' sizes
        if self.scale:
            self.add_weight(shape=shape, initializer=self.gamma_initializer, name="gamma")
        if self.center:
            self.add_weight(shape=shape, initializer=self.beta_initializer, name="beta")

    def compute_output_shape(self, input_shape):
        self._axes(input_shape)
        return tuple(input_shape)

    gamma = property(lambda self: self.params.get("gamma"))
    beta = property(lambda self: self.params.get("beta"))

    def forward(self, x, training=False):
        return ops.layer_norm_forward(x, self.gamma, self.beta, self._axes(x.shape), self.epsilon)

    def backward(self, dout, cache):
        dx, dgamma, dbeta = ops.layer_norm_backward(dout, cache)
        return dx, _gamma_beta_grads(self, dgamma, dbeta)

    def get_config(self):
        config = super().get_config()
        config.update(
            axis=self.axis, epsilon=self.epsilon, center=self.center, scale=self.scale, rms_scaling=False,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=None, gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
        )
        return config
