"""Symbolic tensors and nodes: how a model's graph is written down.

``Input(shape=(28, 28, 1))`` gives a :class:`SymbolicTensor`: a placeholder
with a shape and no values. Calling a layer on it computes nothing; it records
a :class:`Node` (this layer, called on these tensors) and returns a new
placeholder for the output. Following ``tensor.node.inputs`` backwards from a
model's outputs finds every layer call the model makes: its graph.
"""

from __future__ import annotations

import contextlib
import threading

_recording = threading.local()   # the nodes made while a trace runs (to undo a failed one)


class ArrayMathOnSymbolic(TypeError):
    """Raised when NumPy is asked to compute with a placeholder, which has no values.

    Tracing a ``call`` catches it: that layer computes with arrays of its own
    and runs as one opaque step (see :mod:`convlearn.engine.graph`).
    """


class Node:
    """One call of a layer: the tensors that went in and the tensor that came out.

    Attributes
    ----------
    layer : Layer
    inputs : list of SymbolicTensor
        In the order the layer received them.
    as_list : bool
        True when the layer was called on a list (``Add()([a, b])``): its
        ``forward`` receives a list of arrays, else a single array.
    training : bool or None
        An explicit ``training=`` given to this call (None: the model's mode).
    output : SymbolicTensor
    """

    __slots__ = ("layer", "inputs", "as_list", "training", "output")

    def __init__(self, layer, inputs, as_list, training, output_shape, dtype):
        self.layer = layer
        self.inputs = list(inputs)
        self.as_list = as_list
        self.training = training
        self.output = SymbolicTensor(output_shape, dtype, node=self)
        layer.inbound_nodes.append(self)
        made = getattr(_recording, "nodes", None)
        if made is not None:
            made.append(self)

    @property
    def is_input(self):
        """Whether this node is a model input (an ``Input(...)``, no inputs of its own)."""
        return not self.inputs and self.layer.is_input_layer

    def __repr__(self):
        return f"<Node {self.layer.name} of {len(self.inputs)} input(s)>"


class SymbolicTensor:
    """A placeholder for an array in a graph: its shape (batch axis ``None``) and dtype.

    ``x + y``, ``x - y`` and ``x * y`` of two placeholders record ``Add``,
    ``Subtract`` and ``Multiply`` layers; with a number, a ``Rescaling`` layer.
    Anything else NumPy would compute raises a clear error, because there are no
    values yet.
    """

    __slots__ = ("shape", "dtype", "node", "__weakref__")

    def __init__(self, shape, dtype, node=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.node = node

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def name(self):
        return self.node.layer.name if self.node is not None else "tensor"

    # -- arithmetic records layers --------------------------------------------------
    def _binary(self, other, merge, scalar, reverse=False):
        from ..layers import merging, core

        if isinstance(other, SymbolicTensor):
            pair = [other, self] if reverse else [self, other]
            return getattr(merging, merge)()(pair)
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return core.Rescaling(*scalar(float(other)))(self)
        return NotImplemented

    def __add__(self, other):
        return self._binary(other, "Add", lambda c: (1.0, c))

    def __radd__(self, other):
        return self._binary(other, "Add", lambda c: (1.0, c), reverse=True)

    def __sub__(self, other):
        return self._binary(other, "Subtract", lambda c: (1.0, -c))

    def __rsub__(self, other):
        return self._binary(other, "Subtract", lambda c: (-1.0, c), reverse=True)

    def __mul__(self, other):
        return self._binary(other, "Multiply", lambda c: (c, 0.0))

    def __rmul__(self, other):
        return self._binary(other, "Multiply", lambda c: (c, 0.0), reverse=True)

    def __truediv__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool) and other != 0:
            from ..layers import core

            return core.Rescaling(1.0 / float(other))(self)
        return NotImplemented

    def __neg__(self):
        from ..layers import core

        return core.Rescaling(-1.0)(self)

    # -- no values: refuse what needs them ------------------------------------------
    def _no_values(self, what):
        raise ArrayMathOnSymbolic(
            f"{what} needs the values of {self!r}, and a symbolic tensor has none: it only "
            "describes the arrays the model will compute. Compute with layers (convlearn.layers) "
            "inside call(), or write forward() and backward() for a layer of your own."
        )

    def __array__(self, *args, **kwargs):
        self._no_values("Converting it to a NumPy array")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        self._no_values(f"np.{ufunc.__name__}")

    def __array_function__(self, func, types, args, kwargs):
        self._no_values(f"np.{func.__name__}")

    def __bool__(self):
        raise TypeError(
            f"The truth value of {self!r} is unknown while the model's graph is recorded: call() must "
            "not branch on the values of its inputs (branching on `training` is fine)."
        )

    def __len__(self):
        raise TypeError(f"len() of {self!r}: the batch size of a symbolic tensor is unknown (None).")

    def __iter__(self):
        raise TypeError(f"{self!r} cannot be iterated over: it has no values.")

    def __getitem__(self, key):
        self._no_values("Indexing")

    def __repr__(self):
        from ..layers.base import shape_str

        made_by = f", made by '{self.node.layer.name}'" if self.node is not None else ""
        return f"<SymbolicTensor shape={shape_str(self.shape)}, dtype={self.dtype}{made_by}>"


def flatten_structure(value):
    """The tensors or arrays in ``value`` (one, or a list/tuple/dict of them), in order.

    Dicts are read in their own key order. Returns ``(items, rebuild)``, where
    ``rebuild(new_items)`` puts new items back into the same structure.
    """
    if isinstance(value, dict):
        keys = list(value)
        return [value[k] for k in keys], lambda items: dict(zip(keys, items))
    if isinstance(value, (list, tuple)):
        kind = type(value) if isinstance(value, list) else tuple
        return list(value), lambda items: kind(items)
    return [value], lambda items: items[0]


def is_symbolic(value):
    """Whether ``value`` is a symbolic tensor, or a list/tuple/dict holding one."""
    items, _ = flatten_structure(value)
    return any(isinstance(item, SymbolicTensor) for item in items)


@contextlib.contextmanager
def undo_nodes_on_error():
    """Inside the block, new nodes are noted; if the block raises, they are removed from their layers."""
    outer = getattr(_recording, "nodes", None)
    _recording.nodes = made = []
    try:
        yield
    except BaseException:
        for node in made:
            if node in node.layer.inbound_nodes:
                node.layer.inbound_nodes.remove(node)
        raise
    finally:
        _recording.nodes = outer
        if outer is not None:
            outer.extend(made)
