"""Loss functions, each with its forward and backward pass, Keras's names and defaults.

Use them by name in ``compile(loss="sparse_categorical_crossentropy")``, as
objects (``SparseCategoricalCrossentropy(from_logits=True)``), or call them on
arrays: ``loss(y_true, y_pred)`` returns the mean loss over the batch.

Cross-entropy after a softmax (or sigmoid) output is computed from the
layer's scores (logits) with ``logsumexp``, like Keras does on TensorFlow: no
``log(0)``, no NaN for large scores, and the gradient is the well-known
``(probabilities - one_hot) / N``.
"""

from __future__ import annotations

import numpy as np

from ._checks import float_in_range
from ._registry import Registry
from .activations import _sigmoid

EPSILON = 1e-7  # Keras's fuzz factor for clipping probabilities
#: Keras's reductions: the mean over the batch ("sum_over_batch_size", also "mean"), the sum, or
#: none (per-sample values; in training, like Keras's compile, these are averaged over the batch).
REDUCTIONS = ("sum_over_batch_size", "mean", "mean_with_sample_weight", "sum", "none", None)


def _float_targets(y_true):
    """Targets as floats: float64 targets keep their precision, any other dtype becomes float32.

    :meth:`Loss.forward` casts them to the prediction's dtype, so a float32
    model computes in float32 (like Keras) and a float64 model loses nothing.
    """
    return y_true.astype(np.float64 if y_true.dtype == np.float64 else np.float32, copy=False)


class LossCache:
    """What a loss's backward pass needs: fused (from logits) or not, the divisor of the sum
    of per-sample losses (the batch size, or 1 for a sum), and the loss's own arrays."""

    __slots__ = ("fused", "divisor", "inner", "probabilities", "weights")

    def __init__(self, fused, divisor, inner):
        self.fused = fused
        self.divisor = divisor
        self.inner = inner
        self.probabilities = None     # sparse cross-entropy's softmax, made once when asked for
        self.weights = None           # sample weights, (N, 1, ...), or None


def _weighted(grad, weights):
    """Each sample's rows of the gradient times its weight (each sample's loss reads only its own rows)."""
    if weights is None:
        return grad
    return grad * weights.reshape(weights.shape + (1,) * (grad.ndim - weights.ndim)).astype(grad.dtype, copy=False)


def _logsumexp(z, axis=-1):
    m = np.max(z, axis=axis, keepdims=True)
    return (m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True)))[..., 0]


class Loss:
    """Base class.

    Like a layer, a loss returns what its backward pass needs instead of keeping
    it, so one loss object can serve several threads::

        value, cache = loss.forward(y_true, y_pred)      # the batch's loss, a float
        dpred = loss.backward(cache)                     # d value / d y_pred

    Subclasses implement ``_forward(y_true, y_pred) -> (per-sample losses, inner cache)``
    and ``_backward(inner, divisor) -> d(sum of losses / divisor)/d(y_pred)``. When
    ``fuses_with`` names the model's output activation ("softmax" or "sigmoid") and
    ``from_logits`` is False, the model uses ``_forward_logits`` / ``_backward_logits``
    on the activation's input instead.
    """

    name = "loss"
    fuses_with = None

    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"{type(self).__name__}: `reduction` must be one of {list(REDUCTIONS)}. "
                f"Received: reduction={reduction!r}."
            )
        self.reduction = reduction
        if name is not None:
            self.name = name

    # -- public, Keras-like ---------------------------------------------------
    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true = self.prepare_targets(np.asarray(y_true), y_pred.shape)
        per_sample, _ = self._forward(y_true, y_pred)
        if sample_weight is not None:
            per_sample = per_sample * np.asarray(sample_weight, dtype=np.float64)
        if self.reduction in ("none", None):
            return per_sample.astype(np.float32)
        total = float(np.sum(per_sample))
        return total if self.reduction == "sum" else total / per_sample.size

    # -- used by the model ----------------------------------------------------
    def forward(self, y_true, y_pred, logits=None, sample_weight=None):
        """The loss of the batch and what :meth:`backward` needs: ``(value, cache)``.

        ``value`` is the mean over the batch (the sum with ``reduction="sum"``).
        ``logits`` (the output layer's scores before its activation) are used
        when this loss fuses with that activation. ``sample_weight`` (N,)
        multiplies each sample's loss; the mean still divides by the number of
        samples, as in Keras.
        """
        fused = logits is not None
        pred = logits if fused else y_pred
        if y_true.dtype.kind == "f" and y_true.dtype != pred.dtype:
            y_true = y_true.astype(pred.dtype)               # compute in the prediction's dtype, like Keras
        per_sample, inner = self._forward_logits(y_true, logits) if fused else self._forward(y_true, y_pred)
        divisor = 1 if self.reduction == "sum" else per_sample.size
        cache = LossCache(fused, divisor, inner)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=per_sample.dtype).reshape(
                per_sample.shape[:1] + (1,) * (per_sample.ndim - 1))                # (N, 1, ...)
            per_sample = per_sample * w
            cache.weights = w
        # the mean as np.mean computes it (a sum in the array's dtype, then one division),
        # without np.mean's Python layers: 1 against 4.5 us, once per training batch
        return float(per_sample.sum() / divisor), cache

    def backward(self, cache):
        """Gradient of the batch's loss with respect to ``y_pred`` (or the logits when fused)."""
        if cache.fused:
            grad = self._backward_logits(cache.inner, cache.divisor)
        else:
            grad = self._backward(cache.inner, cache.divisor)
        return _weighted(grad, cache.weights)

    def predictions(self, cache):
        """After :meth:`forward` from logits: the fused activation's output, if this loss
        has it at hand (bit for bit what the activation computes), else None."""
        return None

    def prepare_targets(self, y_true, output_shape):
        """Check labels against the model's output shape; return them ready for ``forward``."""
        return _float_targets(y_true)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


REGISTRY = Registry("loss", Loss, functions=True, advice=(
    ". Pass a name such as 'sparse_categorical_crossentropy' (valid: {valid}) or a convlearn.losses object; "
    "a custom Python function has no backward pass convlearn can use."))


# ---------------------------------------------------------------------------
# Cross-entropy
# ---------------------------------------------------------------------------

@REGISTRY.register("categorical_crossentropy")
class CategoricalCrossentropy(Loss):
    """Cross-entropy between one-hot labels (N, C) and predicted probabilities (N, C).

    ``loss = -sum_c y_c * log(p_c)``, averaged over the batch.

    Parameters
    ----------
    from_logits : bool, default False
        True when the model outputs raw scores (no softmax on the last layer).
    label_smoothing : float in [0, 1], default 0
        Replaces one-hot 1/0 by ``1 - ls + ls/C`` and ``ls/C``.
    """

    name = "categorical_crossentropy"
    fuses_with = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float_in_range(label_smoothing, "label_smoothing", type(self).__name__, 0, 1, True, True)
        if axis != -1:
            raise ValueError(f"{type(self).__name__}: only axis=-1 is supported. Received: axis={axis!r}.")

    def prepare_targets(self, y_true, output_shape):
        C = output_shape[-1]
        if y_true.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: labels must be numbers; got dtype {y_true.dtype}.")
        if y_true.shape != tuple(output_shape):
            if y_true.ndim == len(output_shape) - 1 or (y_true.ndim == len(output_shape) and y_true.shape[-1] == 1 and C > 1):
                raise ValueError(
                    f"{self.name} expects one-hot labels of shape (N, {C}); got integer labels of shape "
                    f"{y_true.shape}. Use loss='sparse_categorical_crossentropy', or one-hot encode them: "
                    f"y = convlearn.utils.to_categorical(y, {C})."
                )
            raise ValueError(
                f"{self.name}: labels of shape {y_true.shape} do not match the model's output of shape "
                f"{tuple(output_shape)}. The last layer needs as many units as there are classes."
            )
        y = _float_targets(y_true)
        if self.label_smoothing:
            y = y.astype(np.float64) * (1 - self.label_smoothing) + self.label_smoothing / C
        return y

    def _forward_logits(self, y, z):
        log_p = z - _logsumexp(z)[..., None]                 # log softmax, (N, C)
        return -np.sum(y * log_p, axis=-1), (y, np.exp(log_p))    # (N,)

    def _backward_logits(self, inner, divisor):
        y, p = inner
        # d/dz of -sum(y log softmax(z)) = p * sum(y) - y  (sum(y) = 1 for one-hot labels)
        return (p * np.sum(y, axis=-1, keepdims=True) - y) / divisor

    def _forward(self, y, q):
        if self.from_logits:
            return self._forward_logits(y, q)
        S = np.sum(q, axis=-1, keepdims=True)                # Keras renormalises the probabilities
        p = q / S
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        return -np.sum(y * np.log(pc), axis=-1), (y, S, p, pc)    # (N,)

    def _backward(self, inner, divisor):
        if self.from_logits:
            return self._backward_logits(inner, divisor)
        y, S, p, pc = inner
        inside = (p > EPSILON) & (p < 1 - EPSILON)
        dp = np.where(inside, -y / pc, 0.0) / divisor        # through the clip
        return (dp - np.sum(dp * p, axis=-1, keepdims=True)) / S   # through p = q / sum(q)

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing)
        return config


@REGISTRY.register("sparse_categorical_crossentropy")
class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy with integer class labels (N,) and predicted probabilities (N, C).

    ``loss = -log(p[label])``, averaged over the batch.

    Parameters
    ----------
    from_logits : bool, default False
        True when the model outputs raw scores (no softmax on the last layer).
    """

    name = "sparse_categorical_crossentropy"
    fuses_with = "softmax"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        if ignore_class is not None:
            raise ValueError(
                "SparseCategoricalCrossentropy: `ignore_class` is not supported by convlearn. "
                f"Received: ignore_class={ignore_class!r}."
            )

    def prepare_targets(self, y_true, output_shape):
        C = output_shape[-1]
        if y_true.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: labels must be integers; got dtype {y_true.dtype}.")
        expected = tuple(output_shape[:-1])
        if y_true.shape == expected + (1,) and C != 1:
            y_true = y_true.reshape(expected)
        if y_true.shape != expected:
            if y_true.shape == tuple(output_shape) and C > 1:
                raise ValueError(
                    f"{self.name} expects integer class labels of shape {expected}; got one-hot labels of "
                    f"shape {y_true.shape}. Use loss='categorical_crossentropy', or convert them with "
                    "y = y.argmax(axis=-1)."
                )
            raise ValueError(
                f"{self.name}: labels of shape {y_true.shape} do not match the model's output of shape "
                f"{tuple(output_shape)}; expected labels of shape {expected}."
            )
        if y_true.dtype.kind == "f" and not np.all(np.isfinite(y_true)):
            raise ValueError(f"{self.name}: labels contain NaN or infinity.")
        if y_true.dtype.kind == "f" and np.any(y_true != np.round(y_true)):
            raise ValueError(
                f"{self.name} expects whole-number class labels 0..{C - 1}; got fractional values "
                f"(e.g. {y_true[y_true != np.round(y_true)].flat[0]!r})."
            )
        lo, hi = (y_true.min(), y_true.max()) if y_true.size else (0, 0)
        if lo < 0 or hi >= C:
            raise ValueError(
                f"{self.name}: labels must be in the range 0..{C - 1} because the model has {C} outputs; "
                f"got labels from {lo:g} to {hi:g}. Give the last layer as many units as there are classes "
                f"(Dense({int(hi) + 1}) for labels up to {hi:g})."
            )
        return y_true.astype(np.intp, copy=False)

    def _forward_logits(self, y, z):
        z2 = z.reshape(-1, z.shape[-1])                                       # (N, C)
        rows = np.arange(len(z2))
        y2 = y.reshape(-1)
        shifted = z2 - z2.max(axis=-1, keepdims=True)                         # largest score becomes 0
        e = np.exp(shifted)
        total = e.sum(axis=-1)                                                # (N,)
        # -log softmax(z)[y] = log(sum(exp(z))) - z[y], computed with the shifted scores
        return (np.log(total) - shifted[rows, y2]).reshape(z.shape[:-1]), (y2, rows, e, total, z.shape)

    def predictions(self, cache):
        """The softmax of the logits, from the exponentials the loss computed (the
        training step's metrics use it: the output layer need not compute it again)."""
        if not cache.fused:
            return None
        y2, rows, e, total, shape = cache.inner
        if cache.probabilities is None:
            cache.probabilities = e / total[:, None]                          # softmax, (N, C)
        return cache.probabilities.reshape(shape)

    def _backward_logits(self, inner, divisor, probabilities=None):
        y2, rows, e, total, shape = inner
        # softmax, (N, C); a copy of predictions() when the step asked for them
        d = e / total[:, None] if probabilities is None else probabilities.copy()
        d[rows, y2] -= 1                                                      # minus the one-hot label
        d /= divisor
        return d.reshape(shape)

    def backward(self, cache):
        if cache.fused:
            grad = self._backward_logits(cache.inner, cache.divisor, cache.probabilities)
        else:
            grad = self._backward(cache.inner, cache.divisor)
        return _weighted(grad, cache.weights)

    def _forward(self, y, q):
        if self.from_logits:
            return self._forward_logits(y, q)
        # Keras (TensorFlow) clips probabilities and uses their log as scores.
        pc = np.clip(q, EPSILON, 1 - EPSILON)
        S = np.sum(pc, axis=-1, keepdims=True)
        picked = np.take_along_axis(pc, y[..., None], axis=-1)
        return (np.log(S) - np.log(picked))[..., 0], (y, q, pc, S, picked)

    def _backward(self, inner, divisor):
        if self.from_logits:
            return self._backward_logits(inner, divisor)
        y, q, pc, S, picked = inner
        d = np.broadcast_to(1.0 / S, q.shape).copy()                        # d log(sum) / d pc
        np.put_along_axis(d, y[..., None], np.take_along_axis(d, y[..., None], axis=-1) - 1.0 / picked, axis=-1)
        inside = (q > EPSILON) & (q < 1 - EPSILON)
        return np.where(inside, d, 0.0) / divisor

    def get_config(self):
        config = super().get_config()
        config["from_logits"] = self.from_logits
        return config


@REGISTRY.register("binary_crossentropy")
class BinaryCrossentropy(Loss):
    """Cross-entropy for yes/no labels: ``-(y log p + (1 - y) log(1 - p))``, averaged.

    Parameters
    ----------
    from_logits : bool, default False
    label_smoothing : float in [0, 1], default 0
    """

    name = "binary_crossentropy"
    fuses_with = "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size", name=None):
        super().__init__(reduction, name)
        self.from_logits = bool(from_logits)
        self.label_smoothing = float_in_range(label_smoothing, "label_smoothing", type(self).__name__, 0, 1, True, True)

    def prepare_targets(self, y_true, output_shape):
        y_true = _match_rank(y_true, output_shape, self.name)
        if y_true.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: labels must be numbers in [0, 1]; got dtype {y_true.dtype}.")
        if y_true.size and (y_true.min() < 0 or y_true.max() > 1):
            raise ValueError(
                f"{self.name} expects labels in [0, 1]; got values from {y_true.min():g} to {y_true.max():g}. "
                "For more than two classes use a softmax output with "
                "loss='sparse_categorical_crossentropy'."
            )
        y = _float_targets(y_true)
        if self.label_smoothing:
            y = y.astype(np.float64) * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return y

    def _forward_logits(self, y, z):
        # max(z, 0) - z*y + log(1 + exp(-|z|)): stable for any z
        return np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), axis=-1), (y, z)

    def _backward_logits(self, inner, divisor):
        y, z = inner
        return (_sigmoid(z) - y) / (divisor * y.shape[-1])

    def _forward(self, y, p):
        if self.from_logits:
            return self._forward_logits(y, p)
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        return np.mean(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)), axis=-1), (y, p, pc)

    def _backward(self, inner, divisor):
        if self.from_logits:
            return self._backward_logits(inner, divisor)
        y, p, pc = inner
        inside = (p > EPSILON) & (p < 1 - EPSILON)
        d = (-y / pc + (1 - y) / (1 - pc)) / (divisor * y.shape[-1])
        return np.where(inside, d, 0.0)

    def get_config(self):
        config = super().get_config()
        config.update(from_logits=self.from_logits, label_smoothing=self.label_smoothing)
        return config


# ---------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------

@REGISTRY.register("mean_squared_error", "mse")
class MeanSquaredError(Loss):
    """``mean((y_pred - y_true)^2)`` over the last axis, then over the batch."""

    name = "mean_squared_error"

    def prepare_targets(self, y_true, output_shape):
        y_true = _match_rank(y_true, output_shape, self.name)
        if y_true.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: targets must be numbers; got dtype {y_true.dtype}.")
        return _float_targets(y_true)

    def _forward(self, y, p):
        diff = p - y
        return np.mean(diff ** 2, axis=-1), diff

    def _backward(self, diff, divisor):
        return 2 * diff / (divisor * diff.shape[-1])


@REGISTRY.register("mean_absolute_error", "mae")
class MeanAbsoluteError(MeanSquaredError):
    """``mean(|y_pred - y_true|)`` over the last axis, then over the batch."""

    name = "mean_absolute_error"

    def _forward(self, y, p):
        diff = p - y
        return np.mean(np.abs(diff), axis=-1), diff

    def _backward(self, diff, divisor):
        return np.sign(diff) / (divisor * diff.shape[-1])


def _match_rank(y_true, output_shape, name):
    """Accept (N,) labels for an (N, 1) output, like Keras; reject other mismatches."""
    output_shape = tuple(output_shape)
    if y_true.shape != output_shape and y_true.ndim == len(output_shape) - 1 and output_shape[-1] == 1:
        y_true = y_true.reshape(output_shape)
    if y_true.shape != output_shape:
        raise ValueError(
            f"{name}: targets of shape {y_true.shape} do not match the model's output of shape {output_shape}."
        )
    return y_true


def get(identifier):
    """Turn a name, class, config, convlearn loss function or instance into a :class:`Loss`.

    Raises
    ------
    ValueError
        For an unknown name (lists the valid ones).
    TypeError
        For a custom Python function (convlearn cannot differentiate it).
    """
    return REGISTRY.get(identifier)


def serialize(loss):
    """``{"class_name": ..., "config": ...}``, readable back by :func:`get` and :func:`deserialize`."""
    return REGISTRY.serialize(loss)


def deserialize(config):
    """The loss a :func:`serialize` config (or a name) describes."""
    return REGISTRY.deserialize(config)


# ---------------------------------------------------------------------------
# Keras-style functions returning per-sample losses
# ---------------------------------------------------------------------------

def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample categorical cross-entropy, shape (N,)."""
    return CategoricalCrossentropy(from_logits, label_smoothing, reduction="none")(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Per-sample sparse categorical cross-entropy, shape (N,)."""
    return SparseCategoricalCrossentropy(from_logits, reduction="none")(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample binary cross-entropy (mean over the last axis), shape (N,)."""
    return BinaryCrossentropy(from_logits, label_smoothing, reduction="none")(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean squared error, shape (N,)."""
    return MeanSquaredError(reduction="none")(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    """Per-sample mean absolute error, shape (N,)."""
    return MeanAbsoluteError(reduction="none")(y_true, y_pred)


mse = mean_squared_error
mae = mean_absolute_error
