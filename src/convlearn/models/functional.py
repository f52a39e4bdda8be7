"""Functional models: ``Model(inputs, outputs)`` over any graph of layer calls.

::

    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    y = layers.Conv2D(16, 3, padding="same")(x)
    x = layers.add([x, y])                       # a residual connection
    outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    model = keras.Model(inputs, outputs)

Inputs and outputs may be one tensor, a list, or a dict (``fit`` then takes
the arrays in the same structure, or by name).
"""

from __future__ import annotations

from ..engine.graph import Graph
from ..engine.tensors import SymbolicTensor, flatten_structure
from ..layers.base import LAYERS
from .model import Model


@LAYERS.register()
class Functional(Model):
    """A model made of layers called on ``keras.Input`` tensors. Build it with ``keras.Model(inputs, outputs)``.

    Raises
    ------
    TypeError
        If ``inputs`` or ``outputs`` are not symbolic tensors.
    ValueError
        If the outputs depend on an input not in ``inputs`` (a tensor of another
        model, or a forgotten ``Input``), or two layers have the same name.
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise TypeError(
                "Model(inputs, outputs) needs both: the keras.Input(...) tensor(s) and the output(s) of the "
                "layers called on them."
            )
        Model.__init__(self, name=name, trainable=trainable, **kwargs)
        self._input_structure = inputs
        flat_inputs, _ = flatten_structure(inputs)
        flat_outputs, _ = flatten_structure(outputs)
        self._graph = Graph(flat_inputs, flat_outputs, owner=f"Model '{self.name}'")
        self._graph.structure = outputs
        self._layers = list(self._graph.layers)
        self.built = True
        shapes = [t.shape for t in flat_inputs]
        self.input_shape = shapes[0] if len(shapes) == 1 else shapes
        self.output_shape = self._graph.output_shape()
        self.dtype = flat_inputs[0].dtype

    @property
    def layers(self):
        """Every layer of the graph, the inputs' ``InputLayer`` included, in Keras's order."""
        return list(self._layers)

    def traced_graph(self, input_shape, training):
        return self._graph

    def _named_outputs(self):
        return True

    @property
    def input_names(self):
        if isinstance(self._input_structure, dict):
            return list(self._input_structure)
        return [t.node.layer.name for t in self._graph.inputs]

    # ------------------------------------------------------------------
    # Config: Keras's layout (layers with their inbound nodes, inputs, outputs)
    # ------------------------------------------------------------------

    def get_config(self):
        """The graph as Keras writes it: every layer's config and the calls it makes."""
        nodes = {id(n) for n in self._graph.nodes} | {id(t.node) for t in self._graph.inputs}
        index = {}                                      # id(node) -> its index among this model's calls of its layer
        for layer in self._layers:
            mine = [n for n in layer.inbound_nodes if id(n) in nodes]
            for k, n in enumerate(mine):
                index[id(n)] = k

        def ref(tensor):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(tensor.shape), "dtype": tensor.dtype,
                               "keras_history": [tensor.node.layer.name, index[id(tensor.node)], 0]}}

        layer_configs = []
        for layer in self._layers:
            inbound = []
            for n in layer.inbound_nodes:
                if id(n) not in nodes or n.is_input:
                    continue
                args = [[ref(t) for t in n.inputs]] if n.as_list else [ref(n.inputs[0])]
                inbound.append({"args": args, "kwargs": {} if n.training is None else {"training": n.training}})
            layer_configs.append({"module": _module_of(layer), "class_name": type(layer).__name__,
                                  "config": layer.get_config(), "registered_name": None,
                                  "name": layer.name, "inbound_nodes": inbound})

        def io(structure):
            def one(t):
                return [t.node.layer.name, index[id(t.node)], 0]
            if isinstance(structure, dict):
                return {k: one(t) for k, t in structure.items()}
            if isinstance(structure, (list, tuple)):
                return [one(t) for t in structure]
            return [one(structure)]

        return {"name": self.name, "trainable": self.trainable, "layers": layer_configs,
                "input_layers": io(self._input_structure), "output_layers": io(self._graph.structure),
                "single_output": isinstance(self._graph.structure, SymbolicTensor)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild the graph: make every layer, then replay its calls in an order that works.

        Raises
        ------
        ValueError
            If the config is malformed, names an unknown layer class, or its calls cannot all be made.
        """
        from ..saving import layer_from_config

        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"Invalid functional model config: expected a dict with a 'layers' list; got {str(config)[:200]}.")
        made, calls = {}, []
        for entry in config["layers"]:
            if not isinstance(entry, dict) or not isinstance(entry.get("inbound_nodes", []), list):
                raise ValueError(f"Invalid layer entry in the model config: {str(entry)[:200]}")
            layer = layer_from_config(entry, custom_objects)
            name = entry.get("name", layer.name)
            if name in made:
                raise ValueError(f"The model config lists the layer name {name!r} twice.")
            made[name] = layer
            calls.extend((name, node) for node in entry.get("inbound_nodes", []))
        outputs_of = {}                               # (layer name, node index) -> tensor
        for name, layer in made.items():
            if layer.is_input_layer:
                outputs_of[(name, 0)] = layer.inbound_nodes[0].output
        made_calls = {}
        pending = list(calls)
        while pending:
            progress, left = False, []
            for name, node in pending:
                args = _resolve_args(node, outputs_of)
                if args is None:
                    left.append((name, node))
                    continue
                k = made_calls.get(name, 0)
                kwargs = node.get("kwargs") or {}
                training = kwargs.get("training") if isinstance(kwargs, dict) else None
                outputs_of[(name, k)] = made[name](args, training=training)
                made_calls[name] = k + 1
                progress = True
            if not progress:
                raise ValueError(
                    "The model config's calls cannot all be made: the inputs of layer(s) "
                    f"{sorted({n for n, _ in left})} are never produced. The file is damaged or not a model."
                )
            pending = left

        def io(spec):
            def one(item):
                if not (isinstance(item, list) and len(item) == 3 and (item[0], item[1]) in outputs_of):
                    raise ValueError(f"The model config names an input or output {item!r} that is not in its graph.")
                return outputs_of[(item[0], item[1])]
            if isinstance(spec, dict):
                return {k: one(v) for k, v in spec.items()}
            if isinstance(spec, list) and spec and not isinstance(spec[0], list):
                return one(spec)
            if not isinstance(spec, list) or not spec:
                raise ValueError(f"The model config's inputs/outputs {spec!r:.100} are not a list.")
            return [one(item) for item in spec]

        inputs = io(config.get("input_layers"))
        outputs = io(config.get("output_layers"))
        if isinstance(inputs, list) and len(inputs) == 1:
            inputs = inputs[0]
        if isinstance(outputs, list) and len(outputs) == 1 and config.get("single_output", True):
            outputs = outputs[0]
        return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


def _resolve_args(node, outputs_of):
    """The tensors a saved call reads, or None if one of them is not made yet."""
    if not isinstance(node, dict) or not isinstance(node.get("args"), list) or not node["args"]:
        raise ValueError(f"Invalid call in the model config: {str(node)[:200]}")
    first = node["args"][0]

    def one(ref):
        try:
            name, k, _ = ref["config"]["keras_history"]
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"Invalid tensor reference in the model config: {str(ref)[:200]}") from None
        return outputs_of.get((name, k))

    if isinstance(first, list):
        tensors = [one(r) for r in first]
        return None if any(t is None for t in tensors) else tensors
    return one(first)


def _module_of(layer):
    from ..layers.base import Layer

    if type(layer).__module__.startswith("convlearn.models"):
        return "keras.src.models.functional" if isinstance(layer, Functional) else "keras"
    return "keras.layers" if isinstance(layer, Layer) else None
