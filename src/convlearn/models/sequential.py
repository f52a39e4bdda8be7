"""``Sequential``: a model that is a chain of layers, each feeding the next.

``Sequential`` is the model of the guide::

    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    ...
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=10)

Like in Keras 3 it is a functional model of a chain: once the input shape is
known, its layers are called one after the other on an ``Input`` and the
resulting graph runs on the same engine as every other model.
"""

from __future__ import annotations

from ..engine.graph import Graph
from ..engine.tensors import SymbolicTensor
from ..layers.base import BUILD_LOCK, LAYERS, InputLayer, Layer, as_shape
from .model import Model


@LAYERS.register()
class Sequential(Model):
    """A linear stack of layers.

    Parameters
    ----------
    layers : list of Layer, optional
        The layers in order. The first may be ``Input(shape=...)`` or have
        ``input_shape=...``; otherwise the model is built on its first input.
    name : str, optional
    """

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        Model.__init__(self, name=name, trainable=trainable, **kwargs)
        self._layers = []
        self._graph = None
        if layers is not None:
            if isinstance(layers, (Layer, SymbolicTensor)):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # ------------------------------------------------------------------
    # Building
    # ------------------------------------------------------------------

    def add(self, layer):
        """Append a layer (or ``Input(...)``) to the end of the stack.

        Raises
        ------
        TypeError
            If ``layer`` is not a layer instance.
        ValueError
            If its name is already used in this model, or it does not fit the
            output of the previous layer.
        """
        if isinstance(layer, SymbolicTensor):
            if layer.node is None or not layer.node.is_input:
                raise ValueError(
                    "Sequential.add received the output of other layers; pass Input(shape=...) itself, "
                    "or build the graph with Model(inputs, outputs)."
                )
            layer = layer.node.layer
        if isinstance(layer, type) and issubclass(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a layer instance; got the class {layer.__name__}. "
                f"Did you forget the parentheses, e.g. {layer.__name__}(...)?"
            )
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a layer instance such as Dense(10); got {type(layer).__name__} {layer!r}."
            )
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Input(...) can only be the first item of a Sequential model.")
        elif not self._layers and layer._declared_input_shape is not None:
            self._layers.append(InputLayer(shape=layer._declared_input_shape, dtype=layer.dtype))
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(
                f"All layers in a Sequential model need unique names; '{layer.name}' is already used. "
                "Pass a different name=..., or create a new layer instead of adding the same one twice."
            )
        self._layers.append(layer)
        self._changed()
        if isinstance(self._layers[0], InputLayer):
            self._check_chain()

    def pop(self):
        """Remove the last layer.

        Raises
        ------
        ValueError
            If the model has no layers.
        """
        if not self.layers:
            raise ValueError("Sequential.pop: the model has no layers to remove.")
        self._layers.pop()
        self._changed()
        if self.layers:
            self._check_chain()
        else:
            self.built = False

    def _changed(self):
        """The chain changed: its graph is made again when next needed."""
        if self._graph is not None:
            for node in self._graph.nodes:       # forget the old graph's calls
                if node in node.layer.inbound_nodes:
                    node.layer.inbound_nodes.remove(node)
        self._graph = None
        self._traces = {}
        self._graph_version += 1
        self._plans.clear()

    def _check_chain(self):
        """Build every layer for the shape the one before it gives (the errors come here, at add)."""
        shape = self._layers[0].output_shape
        for layer in self._layers[1:]:
            if layer.built:
                layer.check_input_shape(shape)
                shape = as_shape(layer.compute_output_shape(shape)) if isinstance(layer, Model) else layer.output_shape
            else:
                shape = layer.build_for(shape)
        self.built = True
        self.input_shape = self._layers[0].input_shape
        self.output_shape = shape
        self.dtype = self._layers[0].dtype

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (batch axis included, e.g. (None, 28, 28, 1))."""
        if self._layers and isinstance(self._layers[0], InputLayer):
            self._check_chain()
            return
        if input_shape is None:
            raise ValueError(
                f"Model '{self.name}' cannot be built without an input shape. Pass input_shape=(28, 28, 1) "
                "to the first layer, start with Input(shape=...), call build((None, 28, 28, 1)), or fit it on data."
            )
        if not self.layers:
            raise ValueError(f"Model '{self.name}' has no layers to build. Add some with model.add(...).")
        input_shape = tuple(input_shape)
        self._layers.insert(0, InputLayer(shape=input_shape[1:], dtype=self._layers[0].dtype))
        self._changed()
        self._check_chain()

    def build_for(self, input_shape):
        if not self.built:
            self.build(as_shape(input_shape))
        return self.output_shape

    def traced_graph(self, input_shape, training):
        if self._graph is None:
            with BUILD_LOCK:
                return self._make_graph()
        return self._graph

    def _make_graph(self):
        if self._graph is None:
            if not self.built:
                raise ValueError(f"Model '{self.name}' is not built yet: give it an input shape or fit it on data.")
            x = inputs = self._layers[0].inbound_nodes[0].output
            for layer in self._layers[1:]:
                x = layer(x)
            self._graph = Graph([inputs], [x], owner=f"Model '{self.name}'")
        return self._graph

    def _named_outputs(self):
        return True

    @property
    def layers(self):
        """The model's layers, without the input placeholder (like Keras)."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    # ------------------------------------------------------------------
    # Config
    # ------------------------------------------------------------------

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                           for layer in self._layers]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving import layer_from_config

        layers = [layer_from_config(item, custom_objects) for item in config.get("layers", [])]
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer in layers:
            model.add(layer)
        return model
