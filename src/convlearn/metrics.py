"""Metrics reported during training: running means over the samples seen.

``metrics=["accuracy"]`` picks binary, sparse or one-hot accuracy from the
shapes of the labels and the model's output, the way Keras 3 decides.
"""

from __future__ import annotations

import numpy as np

from ._checks import unknown_name
from ._registry import Registry


class Metric:
    """A running mean: ``update(y_true, y_pred)``, ``result()``, ``reset()``."""

    def __init__(self, name=None):
        self.name = name or self.default_name
        self.reset()

    default_name = "metric"

    def reset(self):
        self._total = 0.0
        self._count = 0

    def values(self, y_true, y_pred):
        """Per-sample values, shape (N,)."""
        raise NotImplementedError

    def update(self, y_true, y_pred):
        v = self.values(y_true, y_pred)
        self._total += float(np.sum(v))
        self._count += v.size

    def result(self):
        return self._total / self._count if self._count else 0.0

    def __call__(self, y_true, y_pred):
        """Mean of the metric over the given batch (does not touch the running state)."""
        return float(np.mean(self.values(np.asarray(y_true), np.asarray(y_pred))))

    def get_config(self):
        """The constructor's arguments, for :func:`serialize`."""
        return {"name": self.name}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


_AUTO = ("accuracy", "acc")     # resolved by get() from the shapes of labels and outputs

REGISTRY = Registry("metric", Metric, advice=(
    ". Pass a name such as 'accuracy' (valid: acc, accuracy, {valid}) or a convlearn.metrics object."))


@REGISTRY.register("sparse_categorical_accuracy")
class SparseCategoricalAccuracy(Metric):
    """Share of samples whose highest-scoring class equals the integer label."""

    default_name = "sparse_categorical_accuracy"

    def values(self, y_true, y_pred):
        y = y_true.reshape(y_pred.shape[:-1])
        return (np.argmax(y_pred, axis=-1) == y).astype(np.float32)

    def update(self, y_true, y_pred):
        # the same as the base class's sum of values(), counted in fewer array passes
        # (it runs after every training batch)
        hits = np.argmax(y_pred, axis=-1) == y_true.reshape(y_pred.shape[:-1])
        self._total += int(np.count_nonzero(hits))
        self._count += hits.size


@REGISTRY.register("categorical_accuracy")
class CategoricalAccuracy(Metric):
    """Share of samples whose highest-scoring class is the one-hot label's class."""

    default_name = "categorical_accuracy"

    def values(self, y_true, y_pred):
        return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float32)


@REGISTRY.register("binary_accuracy")
class BinaryAccuracy(Metric):
    """Share of outputs on the right side of ``threshold`` (default 0.5)."""

    default_name = "binary_accuracy"

    def __init__(self, name=None, threshold=0.5):
        self.threshold = threshold
        super().__init__(name)

    def values(self, y_true, y_pred):
        y = y_true.reshape(y_pred.shape)
        return np.mean((y_pred > self.threshold) == (y > 0.5), axis=-1).astype(np.float32)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


@REGISTRY.register()         # by class name only: the name "accuracy" picks one of the three above
class Accuracy(Metric):
    """Share of predictions exactly equal to the labels."""

    default_name = "accuracy"

    def values(self, y_true, y_pred):
        return np.mean((y_true.reshape(y_pred.shape) == y_pred).reshape(len(y_pred), -1), axis=-1)


@REGISTRY.register("mean_squared_error", "mse")
class MeanSquaredError(Metric):
    default_name = "mean_squared_error"

    def values(self, y_true, y_pred):
        return np.mean((y_pred - y_true.reshape(y_pred.shape)) ** 2, axis=-1)


@REGISTRY.register("mean_absolute_error", "mae")
class MeanAbsoluteError(Metric):
    default_name = "mean_absolute_error"

    def values(self, y_true, y_pred):
        return np.mean(np.abs(y_pred - y_true.reshape(y_pred.shape)), axis=-1)


def auto_accuracy(y_true_shape, y_pred_shape):
    """The accuracy Keras 3 picks for ``"accuracy"`` from the shapes of labels and outputs."""
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return SparseCategoricalAccuracy
    return CategoricalAccuracy


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """Resolve a metric name or object. ``"accuracy"`` needs the label and output shapes.

    The metric keeps the name the user wrote (``"accuracy"`` or ``"acc"``), which
    becomes its key in ``history.history``; without shapes, ``"accuracy"`` gives
    None (decided when the data is seen).
    """
    if not isinstance(identifier, str):
        return REGISTRY.get(identifier)
    key = identifier.lower()
    if key in _AUTO:
        return None if y_true_shape is None else auto_accuracy(y_true_shape, y_pred_shape)(name=identifier)
    cls = REGISTRY.get_class(key)
    if cls is None:
        raise unknown_name("metric", identifier, REGISTRY.names() + list(_AUTO))
    return cls(name=identifier)


def serialize(metric):
    """``{"class_name": ..., "config": ...}``, readable back by :func:`get` and :func:`deserialize`."""
    return REGISTRY.serialize(metric)


def deserialize(config):
    """The metric a :func:`serialize` config describes."""
    return REGISTRY.deserialize(config)
