"""From layer calls to a program: the graph of a model, in an order that can run.

A model is a graph of layer calls (:class:`~convlearn.engine.tensors.Node`).
:class:`Graph` collects the nodes between the model's inputs and outputs and
puts them in an order where every node comes after the nodes it reads.
:meth:`Graph.program` then flattens it into a :class:`Program`: a list of
:class:`Step` (one layer call each) reading and writing numbered slots, with
models and composed layers inside it expanded into their own steps. That
list is what :mod:`convlearn.engine.run` executes.

Subclassed models and layers written with ``call()`` become graphs the same
way: :func:`trace_call` runs ``call`` once on symbolic inputs (one trace for
training, one for inference, since ``call`` may branch on ``training``), and
the layer calls it makes are the graph.
"""

from __future__ import annotations

import inspect

import numpy as np

from .tensors import ArrayMathOnSymbolic, SymbolicTensor, flatten_structure, undo_nodes_on_error


class Step:
    """One layer call of a program: ``slots[output] = layer.forward(slots[inputs])``.

    ``as_list``: the layer takes a list of arrays (``Add``, ``Concatenate``).
    ``training``: the mode this call runs in. ``node``: the graph node it came
    from (None for steps a plan made).
    """

    __slots__ = ("layer", "inputs", "output", "as_list", "training", "node")

    def __init__(self, layer, inputs, output, as_list, training, node=None):
        self.layer = layer
        self.inputs = tuple(inputs)
        self.output = output
        self.as_list = as_list
        self.training = training
        self.node = node

    def __repr__(self):
        return f"<Step {getattr(self.layer, 'name', self.layer)}: {list(self.inputs)} -> {self.output}>"


class Program:
    """Steps over numbered slots: the model's inputs are the first slots.

    Attributes
    ----------
    steps : list of Step
    inputs, outputs : list of int
        The slots of the model's inputs and outputs.
    release : list of tuple of int
        ``release[i]``: slots that no later step reads, freed after step ``i``.
    needs_grad : set of int
        Slots whose gradient the backward pass computes.
    """

    def __init__(self, steps, inputs, outputs, needs_grad=None):
        self.steps = list(steps)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        last_read = {}
        for i, step in enumerate(self.steps):
            for slot in step.inputs:
                last_read[slot] = i
        keep = set(self.outputs)
        self.release = [[] for _ in self.steps]
        for slot, i in last_read.items():
            if slot not in keep:
                self.release[i].append(slot)
        self.release = [tuple(r) for r in self.release]
        self.needs_grad = set(needs_grad) if needs_grad is not None else self._all_slots()

    def _all_slots(self):
        return set(self.inputs) | {s.output for s in self.steps}

    def __repr__(self):
        lines = [f"Program: inputs in slots {self.inputs}, outputs in slots {self.outputs}"]
        for i, step in enumerate(self.steps):
            reads = ", ".join(str(s) for s in step.inputs)
            layer = getattr(step.layer, "name", type(step.layer).__name__)
            kind = type(getattr(step.layer, "base_layer", step.layer)).__name__
            lines.append(f"  {i:3d}  {layer} ({kind}): slot{'s' if len(step.inputs) > 1 else ''} {reads} -> {step.output}")
        return "\n".join(lines)


def _ordered_nodes(inputs, outputs, owner):
    """The nodes between ``inputs`` and ``outputs``: execution order, and Keras's layer order.

    Execution order is depth-first from the outputs (every node after its
    inputs). The layer order is Keras's: by depth (distance to the outputs),
    deepest first, ties in the order the search met them; it is the order of
    ``model.layers`` and of ``get_weights()``.
    """
    given = {id(t) for t in inputs}
    post, seen, met = [], set(), {}
    for out in outputs:
        stack = [(out, False)]
        while stack:
            tensor, expanded = stack.pop()
            node = tensor.node
            if id(node) in seen:
                continue
            if id(tensor) in given:
                seen.add(id(node))
                post.append(node)
                continue
            if node is None or node.is_input:
                name = node.layer.name if node is not None else "?"
                raise ValueError(
                    f"{owner}: the outputs depend on the input '{name}' (shape "
                    f"{_shape_text(tensor.shape)}), which is not among this model's inputs "
                    f"[{', '.join(repr(t.name) for t in inputs)}]. Add it to inputs=[...]; if it belongs to "
                    "another model, call that model as a layer (other_model(x)) instead of using its tensors."
                )
            met.setdefault(id(node.layer), len(met))
            if expanded:
                seen.add(id(node))
                post.append(node)
                continue
            stack.append((tensor, True))
            for inp in reversed(node.inputs):
                if id(inp.node) not in seen:
                    stack.append((inp, False))
    # Keras's depth: outputs 0; a node's inputs at least one more than the node
    depth = {}
    layer_depth = {}
    for node in reversed(post):
        d = max(depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        depth[id(node)] = layer_depth[id(node.layer)] = d
        for inp in node.inputs:
            depth[id(inp.node)] = max(depth.get(id(inp.node), 0), d + 1)
    for t in inputs:  # inputs no output uses still belong to the model
        if id(t.node) not in depth:
            depth[id(t.node)] = layer_depth[id(t.node.layer)] = 0
            post.insert(0, t.node)
    layers, listed = [], set()
    order = {id(n.layer): i for i, n in reversed(list(enumerate(post)))}
    for node in sorted(post, key=lambda n: (-layer_depth[id(n.layer)], order[id(n.layer)])):
        if id(node.layer) not in listed:
            listed.add(id(node.layer))
            layers.append(node.layer)
    return post, layers


def _shape_text(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


class Graph:
    """The layer calls between a model's input tensors and its output tensors.

    Raises
    ------
    TypeError
        If an input or output is not a symbolic tensor.
    ValueError
        If the outputs need an input that is not given, or two layers share a name.
    """

    def __init__(self, inputs, outputs, owner="Model"):
        for kind, items in (("inputs", inputs), ("outputs", outputs)):
            for t in items:
                if not isinstance(t, SymbolicTensor):
                    raise TypeError(
                        f"{owner}: every item of `{kind}` must be a symbolic tensor (from keras.Input(...) or "
                        f"from calling a layer on one); got {type(t).__name__} {t!r:.80}."
                    )
        for t in inputs:
            if t.node is None or not t.node.is_input:
                raise ValueError(
                    f"{owner}: `inputs` must be tensors made by keras.Input(...); got {t!r}, the output of "
                    f"layer '{t.name}'. Start the graph with x = keras.Input(shape=...)."
                )
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        nodes, self.layers = _ordered_nodes(self.inputs, self.outputs, owner)
        self.nodes = [n for n in nodes if not n.is_input]
        names = {}
        for layer in self.layers:
            if layer.name in names and names[layer.name] is not layer:
                raise ValueError(
                    f"{owner}: two different layers are named '{layer.name}'. Layer names must be unique "
                    "within a model: pass name=... to one of them."
                )
            names[layer.name] = layer
        self._programs = {}

    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def program(self, training):
        """The plain :class:`Program` of this graph (composed layers expanded), cached per mode."""
        training = bool(training)
        if training not in self._programs:
            steps, slots = [], {}
            for t in self.inputs:
                slots[id(t)] = len(slots)
            counter = [len(slots)]
            _emit(self, slots, training, steps, counter)
            self._programs[training] = Program(steps, [slots[id(t)] for t in self.inputs],
                                               [slots[id(t)] for t in self.outputs])
        return self._programs[training]


def _emit(graph, slots, training, steps, counter):
    """Append the steps of ``graph`` to ``steps``; ``slots`` maps tensors to slot numbers."""
    for node in graph.nodes:
        mode = training if node.training is None else bool(node.training)
        ins = [slots[id(t)] for t in node.inputs]
        layer = node.layer
        if layer.is_composite:
            inner = layer.traced_graph([t.shape for t in node.inputs] if node.as_list else node.inputs[0].shape, mode)
            if len(inner.outputs) != 1:
                raise ValueError(
                    f"'{layer.name}' returns {len(inner.outputs)} outputs; a layer or model used inside "
                    "another model must return one tensor."
                )
            inner_slots = {id(t): s for t, s in zip(inner.inputs, ins)}
            _emit(inner, inner_slots, mode, steps, counter)
            slots[id(node.output)] = inner_slots[id(inner.outputs[0])]
        else:
            slots[id(node.output)] = counter[0]
            steps.append(Step(layer, ins, counter[0], node.as_list, mode, node))
            counter[0] += 1


# ----------------------------------------------------------------------------
# Tracing call()
# ----------------------------------------------------------------------------

def accepts_training(call):
    """Whether a ``call`` method takes a ``training`` argument (Keras passes it only then)."""
    params = inspect.signature(call).parameters
    return "training" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def trace_call(layer, input_shape, training):
    """Record the layer calls that ``layer.call`` makes on symbolic inputs of ``input_shape``.

    Returns a :class:`Graph`. If ``call`` computes with NumPy instead of layers,
    the graph is one opaque step (:class:`OpaqueCall`): it runs, but has no
    backward pass.
    """
    from ..layers.base import InputLayer

    owner = f"{type(layer).__name__} '{layer.name}'"
    shapes = input_shape if isinstance(input_shape, list) else [input_shape]
    inputs = [InputLayer(shape=tuple(s[1:]), name=f"{layer.name}_input_{i}", dtype=layer.dtype).inbound_nodes[0].output
              for i, s in enumerate(shapes)]
    structure = inputs if isinstance(input_shape, list) else inputs[0]
    kwargs = {"training": training} if accepts_training(layer.call) else {}
    try:
        with undo_nodes_on_error():
            result = layer.call(structure, **kwargs)
    except ArrayMathOnSymbolic:
        opaque = OpaqueCall(layer, input_shape)
        return Graph(inputs, [opaque(structure)], owner)
    items, _ = flatten_structure(result)
    if not items or not all(isinstance(t, SymbolicTensor) for t in items):
        raise TypeError(
            f"{owner}: call() must return the output of convlearn layers (a tensor, or a list or dict of "
            f"them); it returned {type(result).__name__} {result!r:.80}."
        )
    graph = Graph(inputs, items, owner)
    graph.structure = result
    return graph


class OpaqueCall:
    """A layer whose ``call`` computes with NumPy: it runs forward, but cannot be differentiated.

    Its backward pass raises a clear error, at the first training step that
    needs it.
    """

    is_input_layer = False
    is_composite = False

    def __init__(self, layer, input_shape):
        self.layer = layer
        self.name = layer.name
        self.dtype = layer.dtype
        self.params = layer.params
        self.inbound_nodes = []
        self._inbound_nodes = self.inbound_nodes
        self.kwargs = lambda training: {"training": training} if accepts_training(layer.call) else {}
        self.output_shape = self._output_shape(input_shape)

    def _output_shape(self, input_shape):
        from ..layers.base import Layer

        if type(self.layer).compute_output_shape is not Layer.compute_output_shape:
            return tuple(self.layer.compute_output_shape(input_shape))
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if any(d is None for s in shapes for d in s[1:]):
            raise ValueError(
                f"Layer '{self.name}' computes with NumPy in call(); to know its output shape for inputs "
                f"{input_shape}, convlearn needs compute_output_shape(self, input_shape). Define it."
            )
        probe = [np.zeros((1,) + tuple(s[1:]), dtype=self.dtype) for s in shapes]
        out = np.asarray(self.layer.call(probe if isinstance(input_shape, list) else probe[0], **self.kwargs(False)))
        return (None,) + out.shape[1:]

    def __call__(self, structure):
        from .tensors import Node

        items, _ = flatten_structure(structure)
        return Node(self, items, isinstance(structure, list), None, self.output_shape, self.dtype).output

    def forward(self, x, training=False):
        return np.asarray(self.layer.call(x, **self.kwargs(training)), dtype=self.dtype), None

    def backward(self, dout, cache):
        raise NotImplementedError(
            f"Layer '{self.name}' ({type(self.layer).__name__}) computes its output with NumPy in call(), so "
            "convlearn cannot work out its gradient and cannot train through it. Write "
            "forward(self, x, training=False) returning (out, cache) and backward(self, dout, cache) returning "
            "(dx, grads) for it, or build call() from convlearn layers only."
        )
