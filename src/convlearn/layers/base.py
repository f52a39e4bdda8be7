"""The layer interface every convlearn layer follows.

A layer stores its hyperparameters in ``__init__``, creates its weights in
``build(input_shape)`` and computes in a pair of methods side by side::

    out, cache = layer.forward(x, training=False)   # cache: what backward needs
    dx, grads = layer.backward(dout, cache)         # grads: {"kernel": dK, "bias": db}

The cache belongs to the *call*, not to the layer: a layer used twice in one
model (shared weights), or by two threads at once, keeps one cache per call,
and the engine adds up the weight gradients of every call. ``grads`` has a
gradient for every trainable parameter (the keys of ``layer.params``).

Weights come in two kinds, like Keras's: ``params`` are trained by the
optimizer; ``state`` holds non-trainable numbers such as
BatchNormalization's moving averages (``add_weight(..., trainable=False)``).
Saving sees both.

A layer can also be written the Keras way, by composing other layers in
``call(self, x, training=False)``; the engine records the layers ``call`` uses
(see :mod:`convlearn.engine.graph`) and runs their forward and backward passes.

Shapes include the batch axis as ``None``: ``(None, 28, 28, 1)``.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict

import numpy as np

from .. import initializers
from .._checks import accepted_arguments, reject_unknown_kwargs
from .._registry import Registry
from ..engine.tensors import Node, SymbolicTensor, flatten_structure, is_symbolic

_name_counts: defaultdict = defaultdict(int)
#: Held while a layer or model is built or its call() recorded: two threads that call an unbuilt
#: model at once build it once (rare work, so one lock for all of them is enough).
BUILD_LOCK = threading.RLock()

BASE_KWARGS = ("name", "trainable", "dtype", "input_shape", "input_dim", "batch_size", "batch_input_shape")
_DTYPES = ("float32", "float64")


def clear_session():
    """Reset automatic layer names (``dense``, ``dense_1``, ...) like ``keras.backend.clear_session``."""
    _name_counts.clear()


def snake_case(name):
    """``"MaxPooling2D"`` -> ``"max_pooling2d"``, ``"Conv2D"`` -> ``"conv2d"``, like Keras's automatic names."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """``conv2d``, then ``conv2d_1``, ``conv2d_2``, ... within a session."""
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def shape_str(shape):
    """``(None, 28, 28, 1)`` as text; a list of shapes (a merge layer's input) as a list."""
    if isinstance(shape, list):
        return "[" + ", ".join(shape_str(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def normalize_dtype(dtype, owner):
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):  # Keras 3 writes {"class_name": "DTypePolicy", "config": {"name": ...}}
        dtype = dtype.get("config", {}).get("name")
    try:
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    except TypeError:
        name = repr(dtype)
    if name not in _DTYPES:
        raise ValueError(f"{owner}: `dtype` must be one of {list(_DTYPES)}. Received: dtype={dtype!r}.")
    return name


def _rebuilding_from_file(layer, shape):
    """Whether ``layer`` makes a weight of ``shape`` while a model is rebuilt from a file.

    Then the weight is counted against the load's budget (a file asking for too
    many weights is refused here, before anything is allocated) and
    :meth:`Layer.add_weight` allocates zeros, which the file's weights replace.
    """
    from .._limits import charge_weight

    return charge_weight(shape, f"{type(layer).__name__} '{layer.name}'")


def _overrides(layer, method):
    """Whether ``type(layer)`` defines ``method`` itself rather than inheriting Layer's."""
    return getattr(type(layer), method) is not getattr(Layer, method)


class Layer:
    """Base class of all layers.

    Parameters
    ----------
    name : str, optional
        Unique name; made from the class name when omitted (``conv2d_1``).
    trainable : bool
        Whether the optimizer updates this layer's weights (set it to False to
        freeze a layer, or a whole nested model, before ``compile``).
    dtype : {"float32", "float64"}
        Dtype of weights and computation (float64 is for gradient checks).
    input_shape : tuple of int, optional
        Shape of one sample (no batch axis), for the first layer of a model.
    """

    #: True only for :class:`InputLayer`, the placeholder a model's input comes from.
    is_input_layer = False

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None, input_dim=None,
                 batch_size=None, batch_input_shape=None, **kwargs):
        owner = type(self).__name__
        if kwargs:
            reject_unknown_kwargs(kwargs, accepted_arguments(type(self), BASE_KWARGS), owner)
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"{owner}: `name` must be a non-empty string without '/'. Received: name={name!r}.")
        self.name = name or unique_name(snake_case(owner))
        self._trainable = bool(trainable)
        self.dtype = normalize_dtype(dtype, owner)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._declared_input_shape = None
        if input_shape is not None:
            self._declared_input_shape = check_sample_shape(input_shape, owner, "input_shape")
        self.params = {}     # trainable parameters: name -> array (what the optimizer updates)
        self.state = {}      # non-trainable weights: name -> array (moving averages, ...)
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._inbound_nodes = []   # one Node per call on symbolic tensors
        self._traces = {}          # layers written with call(): training mode -> traced Graph

    # -- building --------------------------------------------------------------

    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (batch axis included)."""

    def compute_output_shape(self, input_shape):
        """Output shape for a given input shape (batch axis included)."""
        if self.is_composite:
            return self.traced_graph(input_shape, False).output_shape()
        return tuple(input_shape)

    def build_for(self, input_shape):
        """Build once for ``input_shape`` and record input and output shapes; return the output shape."""
        input_shape = as_shape(input_shape)
        if not self.built:
            with BUILD_LOCK:
                if not self.built:
                    if not (self.params or self.state):   # (a build() the user called made them already)
                        self.build(input_shape)
                    self.input_shape = input_shape
                    self.output_shape = as_shape(self.compute_output_shape(input_shape))
                    self.built = True
        return self.output_shape

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, name=None, **kwargs):
        """Create a weight, like Keras's ``add_weight``, and return its array.

        Trainable weights go to ``self.params`` (the optimizer updates them and
        ``backward`` returns their gradients), the others to ``self.state``.
        ``add_weight("kernel", shape, initializer)``, the positional order of
        convlearn 0.1, works too.
        """
        if isinstance(shape, str):  # convlearn 0.1: add_weight(name, shape, initializer)
            name, shape, initializer = shape, initializer, dtype
            dtype = None
        unsupported = {k: v for k, v in kwargs.items() if v is not None and k not in ("autocast", "aggregation")}
        if unsupported:
            key = sorted(unsupported)[0]
            raise ValueError(f"{type(self).__name__}.add_weight: `{key}` is not supported by convlearn. "
                             f"Received: {key}={unsupported[key]!r}.")
        if shape is None:
            shape = ()
        shape = tuple(int(d) for d in ((shape,) if isinstance(shape, (int, np.integer)) else shape))
        if initializer is None:
            initializer = "glorot_uniform" if len(shape) >= 2 else "zeros"
        if name is None:
            name = "variable"
            while name in self.params or name in self.state:
                name = f"variable_{len(self.params) + len(self.state)}"
        if name in self.params or name in self.state:
            raise ValueError(f"{type(self).__name__} '{self.name}' already has a weight named {name!r}.")
        dtype = normalize_dtype(dtype, type(self).__name__) if dtype is not None else self.dtype
        initialize = initializers.get(initializer)
        if _rebuilding_from_file(self, shape):
            value = np.zeros(shape, dtype=dtype)     # the file's weights replace these
        else:
            value = initialize(shape, dtype=dtype)
        (self.params if trainable else self.state)[name] = value
        return value

    # -- computing ------------------------------------------------------------

    @property
    def is_composite(self):
        """Whether the layer is written with ``call()`` composing other layers (no ``forward`` of its own)."""
        return _overrides(self, "call") and not _overrides(self, "forward")

    def call(self, inputs, training=False):
        """Compose other layers, the Keras way (override this *or* forward and backward)."""
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self).__name__}) computes nothing: write "
            "forward(self, x, training=False) returning (out, cache) and backward(self, dout, cache) "
            "returning (dx, grads), or call(self, x, training=False) composing convlearn layers."
        )

    def forward(self, x, training=False):
        """Compute the output; return ``(out, cache)`` where cache holds what ``backward`` needs."""
        if not self.is_composite:
            self.call(x, training)  # raises the message above
        from ..engine import run

        program = self.traced_graph(_shape_of(x), training).program()
        outs, caches = run.forward(program, [x], training)
        return outs[0], (program, caches)

    def backward(self, dout, cache):
        """Return ``(dx, grads)``: the gradient of the input and of every trainable parameter."""
        if not self.is_composite:
            raise NotImplementedError(f"Layer '{self.name}' ({type(self).__name__}) has no backward().")
        from ..engine import run

        program, caches = cache
        dxs, by_id = run.backward(program, caches, [dout])
        return dxs[0], {path: by_id[id(w)] for path, w in self.named_weights() if id(w) in by_id}

    def traced_graph(self, input_shape, training):
        """The graph of layers that ``call`` composes, recorded once per training mode."""
        from ..engine.graph import trace_call

        key = (bool(training), repr(input_shape))
        if key not in self._traces:
            with BUILD_LOCK:
                if key not in self._traces:
                    self._traces[key] = trace_call(self, input_shape, bool(training))
        return self._traces[key]

    def __call__(self, inputs, training=None, **kwargs):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__} '{self.name}' was called with unsupported argument(s) "
                f"{sorted(kwargs)}; convlearn layers take the input and `training` only."
            )
        if is_symbolic(inputs):  # functional API: record the call, compute nothing
            return self._call_symbolic(inputs, training)
        x = as_input_arrays(inputs, self.dtype, f"{type(self).__name__} '{self.name}'")
        shape = _shape_of(x)
        if not self.built:
            self.build_for(shape)
        else:
            self.check_input_shape(shape)
        from ..ops import parallel

        with parallel.active():        # the same threads and BLAS setting as inside a model's call
            out, _ = self.forward(x, training=bool(training))
        return out

    def _call_symbolic(self, inputs, training):
        items, _ = flatten_structure(inputs)
        if not all(isinstance(t, SymbolicTensor) for t in items):
            kinds = ", ".join(type(t).__name__ for t in items)
            raise TypeError(
                f"{type(self).__name__} '{self.name}' was called on a mix of symbolic tensors and other "
                f"values ({kinds}). In a functional model every input of a layer must come from "
                "keras.Input(...) or from another layer."
            )
        as_list = isinstance(inputs, (list, tuple, dict))
        shape = [t.shape for t in items] if as_list else items[0].shape
        if not self.built:
            out_shape = self.build_for(shape)
        else:
            self.check_input_shape(shape)
            out_shape = as_shape(self.compute_output_shape(as_shape(shape)))
        return Node(self, items, as_list, training, out_shape, self.dtype).output

    def check_input_shape(self, shape):
        """Raise a clear error when ``shape`` does not match what the layer was built for."""
        expected = self.input_shape
        if expected is None:
            return
        if _shapes_compatible(expected, shape):
            return
        hint = ""
        if isinstance(shape, tuple) and isinstance(expected, tuple) and len(shape) == len(expected) - 1 \
                and expected[-1] == 1:
            hint = " Add a channel axis: x = x[..., None]."
        raise ValueError(
            f"Layer '{self.name}' ({type(self).__name__}) expects input of shape {shape_str(expected)}; "
            f"got {shape_str(shape)}.{hint}"
        )

    # -- the graph around the layer --------------------------------------------

    @property
    def inbound_nodes(self):
        """The layer's calls on symbolic tensors (:class:`~convlearn.engine.tensors.Node`), oldest first."""
        return self._inbound_nodes

    @property
    def input(self):
        """The symbolic input of the layer's one call in a graph (like Keras's ``layer.input``)."""
        return self._only_node("input").inputs[0] if not self._only_node("input").as_list \
            else list(self._only_node("input").inputs)

    @property
    def output(self):
        """The symbolic output of the layer's one call in a graph (like Keras's ``layer.output``)."""
        return self._only_node("output").output

    def _only_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called on a symbolic tensor, so it has no {what}. "
                "Call it in a functional model first: y = layer(keras.Input(shape=...))."
            )
        return self._inbound_nodes[0]

    # -- weights ----------------------------------------------------------------

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        # like Keras: freezing (or unfreezing) a layer does the same to every layer inside it;
        # the change takes effect at the next compile()
        self._trainable = bool(value)
        for layer in self._sublayers():
            layer.trainable = value

    def _sublayers(self):
        """Layers held in this layer's attributes (directly, or in lists, tuples and dicts), in order."""
        found, seen = [], {id(self)}

        def visit(value, depth=0):
            if isinstance(value, Layer):
                if id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
            elif isinstance(value, (list, tuple)) and depth < 8:
                for item in value:
                    visit(item, depth + 1)
            elif isinstance(value, dict) and depth < 8:
                for item in value.values():
                    visit(item, depth + 1)

        for key, value in vars(self).items():
            if key not in ("_inbound_nodes", "_traces"):
                visit(value)
        return found

    def named_weights(self):
        """``[(path, array)]`` of every weight: own ones (``"kernel"``), then the sublayers'
        (``"conv2d/kernel"``), each array once."""
        out, seen = [], set()
        for key, value in list(self.params.items()) + list(self.state.items()):
            seen.add(id(value))
            out.append((key, value))
        for layer in self._sublayers():
            for path, value in layer.named_weights():
                if id(value) not in seen:
                    seen.add(id(value))
                    out.append((f"{layer.name}/{path}", value))
        return out

    @property
    def weights(self):
        """Every weight array: this layer's trainable, then non-trainable ones, then its sublayers'."""
        return [w for _, w in self.named_weights()]

    @property
    def trainable_weights(self):
        """The weights the optimizer updates (none when the layer is frozen)."""
        if not self.trainable:
            return []
        out, seen = list(self.params.values()), {id(w) for w in self.params.values()}
        for layer in self._sublayers():
            for w in layer.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def variables(self):
        return self.weights

    def get_weights(self):
        """Copies of the weight arrays, like ``keras.layers.Layer.get_weights``."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Replace the weights, in place; shapes must match ``get_weights()``.

        Raises
        ------
        ValueError
            On a wrong number of arrays or a wrong shape.
        """
        weights = list(weights)
        named = self.named_weights()
        owner = "Model" if self.is_composite and hasattr(self, "fit") else "Layer"
        if len(weights) != len(named):
            raise ValueError(
                f"{owner} '{self.name}' has {len(named)} weight array(s) "
                f"({', '.join(p for p, _ in named) or 'none'}); set_weights received {len(weights)}. "
                "Pass a list like the one get_weights() returns."
            )
        checked = []
        for (path, current), new in zip(named, weights):
            new = np.asarray(new)
            if new.shape != current.shape:
                raise ValueError(
                    f"{owner} '{self.name}': weight '{path}' has shape {current.shape}; "
                    f"set_weights received shape {new.shape}."
                )
            if new.dtype.kind not in "biuf" or not np.isfinite(new).all():
                raise ValueError(
                    f"{owner} '{self.name}': weight '{path}' must be finite numbers; "
                    f"received dtype {new.dtype} with non-finite or non-numeric values."
                )
            checked.append(new)
        for (_, current), new in zip(named, checked):   # all checked first: nothing half-set
            current[...] = new

    def count_params(self):
        """Number of scalars in the layer's weights."""
        return int(sum(w.size for w in self.weights))

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


def as_shape(shape):
    """A shape as a tuple, or a list of shapes as a list of tuples."""
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape and isinstance(shape[0], (list, tuple))):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _shape_of(x):
    """``(None, ...)`` of an array, or a list of those for a list of arrays."""
    if isinstance(x, (list, tuple)):
        return [(None,) + tuple(a.shape[1:]) for a in x]
    return (None,) + tuple(x.shape[1:])


def _shapes_compatible(expected, shape):
    if isinstance(expected, list) or isinstance(shape, list):
        return (isinstance(expected, list) and isinstance(shape, list) and len(expected) == len(shape)
                and all(_shapes_compatible(e, s) for e, s in zip(expected, shape)))
    return len(shape) == len(expected) and all(
        e is None or s is None or e == s for e, s in zip(expected[1:], shape[1:]))


def as_input_arrays(inputs, dtype, owner):
    """Arrays of ``dtype`` from what a layer was called on: one array, or a list of arrays
    (a list whose items are all arrays is several inputs, as in Keras: ``Add()([a, b])``)."""
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(a, np.ndarray) for a in inputs):
        return [_one_array(a, dtype, owner) for a in inputs]
    return _one_array(inputs, dtype, owner)


def _one_array(x, dtype, owner):
    try:
        arr = np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{owner} expects a numeric array; could not convert {type(x).__name__} ({exc}).") from None
    if arr.ndim == 0:
        raise ValueError(f"{owner} expects a batch of inputs; got a scalar.")
    return arr


def check_sample_shape(shape, owner, argname):
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

    is_input_layer = True

    def __init__(self, shape=None, batch_size=None, name=None, input_shape=None, dtype=None,
                 batch_shape=None, sparse=None, ragged=None, optional=None, **kwargs):
        if shape is None and batch_shape is not None:
            shape = tuple(batch_shape)[1:]
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("InputLayer needs `shape`, the shape of one sample, e.g. InputLayer(shape=(28, 28, 1)).")
        if sparse or ragged or optional:
            raise ValueError("InputLayer: sparse, ragged and optional inputs are not supported by convlearn.")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.shape = check_sample_shape(shape, "InputLayer", "shape")
        self.build_for((None,) + self.shape)
        Node(self, [], False, None, (None,) + self.shape, self.dtype)   # the placeholder Input() returns

    def forward(self, x, training=False):
        return x, None

    def backward(self, dout, cache):
        return dout, {}

    def get_config(self):
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None, sparse=None, tensor=None,
          optional=False):
    """Declare a model input: the shape of one sample, without the batch axis.

    Use it as the first item of ``Sequential([...])``, or start a graph of
    layer calls for ``Model(inputs, outputs)``.

    Parameters
    ----------
    shape : tuple of int
        e.g. ``(28, 28, 1)`` for MNIST images.
    name : str, optional
        The input's name (the key of this input when ``fit`` gets a dict).

    Returns
    -------
    SymbolicTensor
    """
    if tensor is not None:
        raise ValueError("Input: `tensor` is not supported by convlearn; leave it as None.")
    if shape is None and batch_shape is not None:
        shape = tuple(batch_shape)[1:]
    layer = InputLayer(shape=shape, name=name, dtype=dtype, sparse=sparse, optional=optional)
    return layer.inbound_nodes[0].output


#: Every layer and model class convlearn can rebuild from a saved config, by class name.
#: Loading a file only ever builds classes found here (or given in ``custom_objects``).
LAYERS = Registry("layer", Layer, advice=". Pass a layer class name such as 'Conv2D'.")
