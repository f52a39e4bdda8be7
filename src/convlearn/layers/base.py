"""The layer interface every convlearn layer follows.

A layer stores its hyperparameters in ``__init__``, creates its weights in
``build(input_shape)``, computes in ``forward(x, training)`` while keeping what
the backward pass needs, and in ``backward(dout)`` sets ``self.grads`` (same keys
and shapes as ``self.params``) and returns the gradient with respect to its
input. Shapes include the batch axis as ``None``: ``(None, 28, 28, 1)``.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from .. import initializers
from .._checks import accepted_arguments, reject_unknown_kwargs

_name_counts: defaultdict = defaultdict(int)

BASE_KWARGS = ("name", "trainable", "dtype", "input_shape", "input_dim", "batch_size", "batch_input_shape")
_DTYPES = ("float32", "float64")


def clear_session():
    """Reset automatic layer names (``dense``, ``dense_1``, ...) like ``keras.backend.clear_session``."""
    _name_counts.clear()


def _snake_case(name):
    # "MaxPooling2D" -> "max_pooling2d", "Conv2D" -> "conv2d", like Keras's automatic names
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """``conv2d``, then ``conv2d_1``, ``conv2d_2``, ... within a session."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def normalize_dtype(dtype, owner):
    if dtype is None:
        return "float32"
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in _DTYPES:
        raise ValueError(f"{owner}: `dtype` must be one of {list(_DTYPES)}. Received: dtype={dtype!r}.")
    return name


class Layer:
    """Base class of all layers.

    Parameters
    ----------
    name : str, optional
        Unique name; made from the class name when omitted (``conv2d_1``).
    trainable : bool
        Whether the optimizer updates this layer's weights.
    dtype : {"float32", "float64"}
        Dtype of weights and computation (float64 is for gradient checks).
    input_shape : tuple of int, optional
        Shape of one sample (no batch axis), for the first layer of a model.
    """

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None,
                 batch_size=None, batch_input_shape=None, **kwargs):
        owner = type(self).__name__
        if kwargs:
            reject_unknown_kwargs(kwargs, accepted_arguments(type(self), BASE_KWARGS), owner)
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{owner}: `name` must be a non-empty string. Received: name={name!r}.")
        self.name = name or unique_name(_snake_case(owner))
        self.trainable = bool(trainable)
        self.dtype = normalize_dtype(dtype, owner)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._declared_input_shape = None
        if input_shape is not None:
            self._declared_input_shape = _check_sample_shape(input_shape, owner, "input_shape")
        self.params = {}
        self.grads = {}
        self.built = False
        self.input_shape = None
        self.output_shape = None
        # Set to False by the model for its first layer: no gradient is needed
        # with respect to the input images, which saves a whole matrix product.
        self.need_input_grad = True

    # -- building --------------------------------------------------------------

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""

    def compute_output_shape(self, input_shape):
        """Output shape for a given input shape (batch axis included)."""
        return tuple(input_shape)

    def build_for(self, input_shape):
        """Build once for ``input_shape`` and record input and output shapes."""
        input_shape = tuple(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
            self.input_shape = input_shape
            self.output_shape = tuple(self.compute_output_shape(input_shape))
        return self.output_shape

    def add_weight(self, name, shape, initializer):
        """Create ``self.params[name]`` with values from ``initializer``."""
        init = initializers.get(initializer)
        self.params[name] = init(shape, dtype=self.dtype)
        return self.params[name]

    # -- computing ------------------------------------------------------------

    def forward(self, x, training=False):
        """Compute the output and keep what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dout):
        """Set ``self.grads`` and return the gradient with respect to the input."""
        raise NotImplementedError

    def __call__(self, x, training=False):
        if isinstance(x, SymbolicTensor):  # functional API: record the layer, compute nothing
            return x.then(self)
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim == 0:
            raise ValueError(f"{type(self).__name__} '{self.name}' expects a batch of inputs; got a scalar.")
        shape = (None,) + x.shape[1:]
        if not self.built:
            self.build_for(shape)
        else:
            self.check_input_shape(shape)
        return self.forward(x, training=training)

    def check_input_shape(self, shape):
        """Raise a clear error when ``shape`` does not match what the layer was built for."""
        expected = self.input_shape
        if expected is None:
            return
        ok = len(shape) == len(expected) and all(
            e is None or s is None or e == s for e, s in zip(expected[1:], shape[1:]))
        if not ok:
            hint = ""
            if len(shape) == len(expected) - 1 and expected[-1] == 1:
                hint = " Add a channel axis: x = x[..., None]."
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects input of shape {shape_str(expected)}; "
                f"got {shape_str(shape)}.{hint}"
            )

    # -- weights ----------------------------------------------------------------

    @property
    def weights(self):
        """The layer's weight arrays, in creation order (kernel, then bias)."""
        return list(self.params.values())

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [] if self.trainable else self.weights

    def get_weights(self):
        """Copies of the weight arrays, like ``keras.layers.Layer.get_weights``."""
        return [w.copy() for w in self.params.values()]

    def set_weights(self, weights):
        """Replace the weights; shapes must match ``get_weights()``.

        Raises
        ------
        ValueError
            On a wrong number of arrays or a wrong shape.
        """
        weights = list(weights)
        if len(weights) != len(self.params):
            raise ValueError(
                f"Layer '{self.name}' has {len(self.params)} weight array(s) "
                f"({', '.join(self.params) or 'none'}); set_weights received {len(weights)}. "
                "Pass a list like the one get_weights() returns."
            )
        for (key, current), new in zip(self.params.items(), weights):
            new = np.asarray(new)
            if new.shape != current.shape:
                raise ValueError(
                    f"Layer '{self.name}': weight '{key}' has shape {current.shape}; "
                    f"set_weights received shape {new.shape}."
                )
            if new.dtype.kind not in "biuf" or not np.isfinite(new).all():
                raise ValueError(
                    f"Layer '{self.name}': weight '{key}' must be finite numbers; "
                    f"received dtype {new.dtype} with non-finite or non-numeric values."
                )
            current[...] = new

    def count_params(self):
        """Number of scalars in the layer's weights."""
        return int(sum(w.size for w in self.params.values()))

    # -- configuration --------------------------------------------------------

    def get_config(self):
        """Every ``__init__`` argument, JSON-serialisable."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}
        if self._declared_input_shape is not None:
            config["input_shape"] = list(self._declared_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"


def _check_sample_shape(shape, owner, argname):
    """Validate a per-sample shape such as (28, 28, 1)."""
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if isinstance(shape, (int, np.integer)):
        dims = (int(shape),)
    if dims is None or not dims or any(
            d is not None and (isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d <= 0)
            for d in dims):
        raise ValueError(
            f"{owner}: `{argname}` must be a tuple of positive integers giving the shape of one sample "
            f"(no batch axis), e.g. (28, 28, 1). Received: {argname}={shape!r}."
        )
    return tuple(None if d is None else int(d) for d in dims)


class InputLayer(Layer):
    """Declares the shape of one input sample; computes nothing.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample, without the batch axis, e.g. ``(28, 28, 1)``.
    """

    def __init__(self, shape=None, batch_size=None, name=None, input_shape=None, dtype=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("InputLayer needs `shape`, the shape of one sample, e.g. InputLayer(shape=(28, 28, 1)).")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.shape = _check_sample_shape(shape, "InputLayer", "shape")
        self.build_for((None,) + self.shape)

    def forward(self, x, training=False):
        return x

    def backward(self, dout):
        return dout

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


class SymbolicTensor:
    """What :func:`Input` returns: a placeholder that remembers the layers applied to it.

    ``x = Input(shape=(28, 28, 1)); y = Dense(10)(Flatten()(x))`` records the
    chain, and ``Model(inputs=x, outputs=y)`` turns it into a model.
    """

    def __init__(self, shape, dtype, input_layer, layers=()):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.input_layer = input_layer
        self.layers = tuple(layers)

    def then(self, layer):
        """Apply ``layer``: build it for this shape and return the new placeholder."""
        if layer.built:
            layer.check_input_shape(self.shape)
            out_shape = layer.output_shape
        else:
            out_shape = layer.build_for(self.shape)
        return SymbolicTensor(out_shape, self.dtype, self.input_layer, self.layers + (layer,))

    def __repr__(self):
        return f"<SymbolicTensor shape={shape_str(self.shape)}, dtype={self.dtype}>"


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """Declare the model's input: the shape of one sample, without the batch axis.

    Use it as the first item of ``Sequential([...])`` or to start a chain of
    layers for ``Model(inputs, outputs)``.

    Parameters
    ----------
    shape : tuple of int
        e.g. ``(28, 28, 1)`` for MNIST images.

    Returns
    -------
    SymbolicTensor
    """
    if shape is None and batch_shape is not None:
        shape = tuple(batch_shape)[1:]
    layer = InputLayer(shape=shape, name=name, dtype=dtype)
    return SymbolicTensor((None,) + layer.shape, layer.dtype, layer)
