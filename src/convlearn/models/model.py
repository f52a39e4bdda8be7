"""``Model``: a graph of layer calls that can be trained, evaluated, used to predict and saved.

Three ways to write one, all running on the same engine:

- ``Sequential([...])``: a chain (:mod:`convlearn.models.sequential`);
- ``Model(inputs, outputs)``: layers called on ``keras.Input`` tensors, any
  graph (:mod:`convlearn.models.functional`);
- a subclass of ``Model`` that makes layers in ``__init__`` and composes them
  in ``call(self, x, training=False)``. Its ``call`` is recorded on symbolic
  inputs (once for training, once for inference) into the same graph of
  layer calls, the first time the model sees data.
"""

from __future__ import annotations

import json

from ..engine.tensors import SymbolicTensor, flatten_structure, is_symbolic
from ..layers.base import BUILD_LOCK, LAYERS, Layer, as_shape, unique_name
from .trainer import Trainer, model_call


def _json_safe(value):
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


@LAYERS.register()
class Model(Trainer, Layer):
    """A model: ``Model(inputs, outputs)``, or a subclass with ``__init__`` and ``call``.

    ::

        inputs = keras.Input(shape=(28, 28, 1))
        x = layers.Conv2D(32, 3, activation="relu")(inputs)
        outputs = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
        model = keras.Model(inputs=inputs, outputs=outputs)

        class MyModel(keras.Model):
            def __init__(self):
                super().__init__()
                self.conv = layers.Conv2D(32, 3, activation="relu")
                self.flatten = layers.Flatten()
                self.out = layers.Dense(10, activation="softmax")

            def call(self, x, training=False):
                return self.out(self.flatten(self.conv(x)))

    Layers held in attributes (directly, or in lists and dicts) are the
    model's layers: their weights are the model's weights.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional

            return super().__new__(Functional)
        instance = super().__new__(cls)
        # like Keras: a subclass's simple constructor arguments become its config, for saving
        instance._init_arguments = dict(kwargs) if not args and _json_safe(kwargs) else None
        return instance

    def __init__(self, *args, name=None, trainable=True, dtype=None, **kwargs):
        if type(self) is Model:
            raise TypeError(
                "Model(inputs, outputs) needs both: the keras.Input(...) tensor(s) and the output(s) of the "
                "layers called on them. To write a model in Python instead, subclass keras.Model and define "
                "__init__ and call(self, x, training=False)."
            )
        Layer.__init__(self, name=name or unique_name(_model_name(type(self))), trainable=trainable, dtype=dtype,
                       **kwargs)
        self._init_trainer()
        self._graph_version = 0
        self._in_user_build = False

    # ------------------------------------------------------------------
    # Structure
    # ------------------------------------------------------------------

    @property
    def is_composite(self):
        return True

    @property
    def layers(self):
        """The model's layers: those held in its attributes, in the order they were set."""
        return self._sublayers()

    def get_layer(self, name=None, index=None):
        """Find a layer by name or by position in :attr:`layers`.

        Raises
        ------
        ValueError
            If no layer has that name, or the index is out of range.
        """
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int) or not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index!r} is out of range; the model has {len(layers)} layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r}. Layers: {', '.join(layer.name for layer in layers)}.")

    def build(self, input_shape=None):
        """Build the model for inputs of ``input_shape`` (batch axis included, e.g. ``(None, 28, 28, 1)``).

        A subclassed model records its ``call`` then.
        """
        if input_shape is None:
            raise ValueError(
                f"Model '{self.name}' cannot be built without an input shape: call build((None, 28, 28, 1)), "
                "or call the model (or fit it) on data."
            )
        self.build_for(input_shape)

    def build_for(self, input_shape):
        if self.built:
            return self.output_shape
        with BUILD_LOCK:
            return self._build_once(as_shape(input_shape))

    def _build_once(self, input_shape):
        if self.built:
            return self.output_shape
        if type(self).build is not Model.build and not self._in_user_build:
            self._in_user_build = True   # the subclass's own build(), which may call super().build()
            try:
                self.build(input_shape)
            finally:
                self._in_user_build = False
            if self.built:
                return self.output_shape
        try:
            graph = self.traced_graph(input_shape, False)
        except (TypeError, ValueError) as exc:
            raise type(exc)(
                f"Model '{self.name}' ({type(self).__name__}) cannot be built for inputs of shape {input_shape}: "
                f"recording its call() failed: {exc}"
            ) from exc
        self.traced_graph(input_shape, True)
        self.built = True
        self.input_shape = input_shape
        self.output_shape = graph.output_shape()
        self._graph_version += 1
        return self.output_shape

    def graph(self, training=False):
        """The model's :class:`~convlearn.engine.graph.Graph`: its layer calls between inputs and outputs."""
        return self._graph_for(training)

    def _graph_for(self, training):
        if not self.built:
            raise ValueError(f"Model '{self.name}' is not built yet: call it, build() it or fit() it on data.")
        return self.traced_graph(self.input_shape, training)

    def _build_from_data(self, x, owner):
        """Build on the first data seen (a subclassed model, or a Sequential without an input shape)."""
        if self.built:
            return
        items, _ = flatten_structure(x)
        shapes = []
        for item in items:
            shape = getattr(item, "shape", None)
            if shape is None:
                import numpy as np

                shape = np.shape(item)
            if len(shape) < 1:
                raise ValueError(f"{owner}: `x` must have a batch axis first; got shape {tuple(shape)}.")
            shapes.append((None,) + tuple(shape[1:]))
        if hasattr(self, "add") and not self.layers:          # an empty Sequential
            raise ValueError(f"{owner}: the model has no layers. Add some with model.add(...).")
        self.build_for(shapes if isinstance(x, (list, tuple)) and len(shapes) > 1 else shapes[0])

    @property
    def inputs(self):
        return list(self._graph_for(False).inputs)

    @property
    def outputs(self):
        return list(self._graph_for(False).outputs)

    @property
    def input(self):
        """The model's input tensor (a list when it has several), like Keras's ``model.input``."""
        inputs = self.inputs
        return inputs[0] if len(inputs) == 1 else inputs

    @property
    def output(self):
        """The model's output tensor (a list when it has several), like Keras's ``model.output``."""
        outputs = self.outputs
        return outputs[0] if len(outputs) == 1 else outputs

    @property
    def input_names(self):
        return [t.node.layer.name for t in self.inputs]

    @property
    def output_names(self):
        graph = self._graph_for(False)
        structure = getattr(graph, "structure", None)
        if isinstance(structure, dict):
            return list(structure)
        outs = graph.outputs
        if len(outs) == 1:
            return ["output_0"] if not self._named_outputs() else [outs[0].node.layer.name]
        return [f"output_{k}" for k in range(len(outs))] if not self._named_outputs() else \
            [t.node.layer.name for t in outs]

    def _named_outputs(self):
        """Whether outputs are named after the layers that make them (functional models) or numbered."""
        return False

    def _output_structure(self, arrays):
        structure = getattr(self._graph_for(False), "structure", None)
        if isinstance(structure, dict):
            return dict(zip(structure, arrays))
        if isinstance(structure, (list, tuple)) or len(arrays) > 1:
            return list(arrays)
        return arrays[0]

    # ------------------------------------------------------------------
    # Calling
    # ------------------------------------------------------------------

    def call(self, inputs, training=False):
        raise NotImplementedError(
            f"Model '{self.name}' ({type(self).__name__}) has no call(): define "
            "call(self, x, training=False) composing the layers made in __init__."
        )

    @model_call("read")
    def __call__(self, inputs, training=None, **kwargs):
        if kwargs:
            raise TypeError(f"Model '{self.name}' was called with unsupported argument(s) {sorted(kwargs)}.")
        if is_symbolic(inputs):
            return self._call_symbolic(inputs, training)
        if training:
            from ..engine import run

            xs = self._prepare_x(inputs, f"Model '{self.name}'")
            return self._output_structure(run.forward(self._plain_program(True), xs)[0])
        return self._forward_arrays(inputs, f"Model '{self.name}'")

    def _call_symbolic(self, inputs, training):
        items, _ = flatten_structure(inputs)
        if not self.built:
            shapes = [t.shape for t in items]
            self.build_for(shapes if len(shapes) > 1 else shapes[0])
        return Layer._call_symbolic(self, items if len(items) > 1 else items[0], training)

    def program(self, training=False):
        """The list of steps this model runs: one per layer call, nested models opened up.

        ``print(model.program())`` shows them; :func:`convlearn.engine.run.forward`
        and :func:`~convlearn.engine.run.backward` run them. This is the plain
        program; ``fit`` and ``predict`` run a faster equivalent one
        (:mod:`convlearn.engine.plan`).
        """
        return self._plain_program(bool(training))

    def leaf_layers(self):
        """Every computing layer, nested models and composed layers opened up, in the order they run."""
        from ..engine.graph import OpaqueCall

        seen, out = set(), []
        for step in self._plain_program(False).steps:
            layer = step.layer.layer if isinstance(step.layer, OpaqueCall) else step.layer
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
        return out

    @model_call("read")
    def layer_outputs(self, x, training=False):
        """Run the model on ``x`` and keep every layer call's output: ``[(layer, output), ...]``.

        One entry per call, in the order the calls run (nested models opened
        up), with the plain engine (no fused steps), so each output is exactly
        what that layer computed. For feature maps::

            for layer, out in model.layer_outputs(x_test[:1]):
                print(layer.name, out.shape)
        """
        from ..engine import run
        from ..engine.graph import OpaqueCall

        xs = self._prepare_x(x, "layer_outputs")
        program = self._plain_program(bool(training))
        return [(step.layer.layer if isinstance(step.layer, OpaqueCall) else step.layer, out)
                for step, out in zip(program.steps, run.forward_all(program, xs))]

    # ------------------------------------------------------------------
    # Weights
    # ------------------------------------------------------------------

    def count_params(self):
        """Total number of scalars in all weights.

        Raises
        ------
        ValueError
            If the model is not built yet.
        """
        if not self.built:
            raise ValueError(
                f"Model '{self.name}' is not built yet, so it has no weights. Give the first layer an "
                "input_shape, start with Input(shape=...), or call build()/fit() first."
            )
        return super().count_params()

    def set_weights(self, weights):
        """Set all weights from a list shaped like :meth:`get_weights`.

        Raises
        ------
        ValueError
            On a wrong number of arrays or a wrong shape.
        """
        weights = list(weights)
        expected = len(self.weights)
        if len(weights) != expected:
            raise ValueError(
                f"Model '{self.name}' has {expected} weight arrays; set_weights received {len(weights)}. "
                "Pass a list like the one get_weights() returns."
            )
        super().set_weights(weights)

    # ------------------------------------------------------------------
    # Description, saving
    # ------------------------------------------------------------------

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None, explain=False, lang=None):
        """Print a table of the layers: name (type), output shape, number of weights
        (and, for a graph, which layers feed each one: Keras's "Connected to").

        Parameters
        ----------
        print_fn : callable, optional
            Called with the whole text instead of ``print``.
        explain : bool, default False
            Also show, per layer, how its output shape and parameter count follow
            from its hyperparameters.
        lang : {"en", "zh"}, optional
            Language of the explanations (default: from the locale).
        """
        from ..summary import model_summary

        text = model_summary(self, explain=explain, lang=lang, expand_nested=expand_nested,
                             line_length=line_length, show_trainable=show_trainable)
        (print_fn or print)(text)

    def check_gradients(self, x=None, y=None, layers=None, epsilon=1e-5, lang=None, print_fn=print, **options):
        """Compare every layer's ``backward`` with numerical derivatives of the loss.

        Runs on a float64 copy (this model is not changed) and prints a table: layer,
        weight, shape, elements checked, max abs diff, relative error, result (OK/FAIL). Use it to test your own
        ``Layer`` subclasses. See :func:`convlearn.explain.gradcheck.check_gradients`
        for every option (``max_entries``, ``batch_size``, ``tolerance``, ``seed``).
        """
        from ..explain.gradcheck import check_gradients

        return check_gradients(self, x=x, y=y, layers=layers, epsilon=epsilon, lang=lang, print_fn=print_fn,
                               **options)

    def get_config(self):
        """The constructor arguments of a subclassed model (when they are plain JSON values)."""
        config = {"name": self.name, "trainable": self.trainable}
        if self._init_arguments:
            config.update(self._init_arguments)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A model from :meth:`get_config`: a functional config (layers and their calls) gives a
        functional model, as ``keras.Model.from_config`` does; else ``cls(**config)``."""
        if cls is Model and isinstance(config, dict) and "input_layers" in config and "layers" in config:
            from .functional import Functional

            return Functional.from_config(config, custom_objects=custom_objects)
        return cls(**config)

    def save(self, filepath, overwrite=True, **kwargs):
        """Save architecture, weights and optimizer state to a ``.keras`` file (a zip, no pickle).

        The file is written to a temporary name and renamed into place, so an
        interrupted save never leaves a broken file behind.
        """
        from ..saving import save_model

        save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        """Save only the weights, to a ``.weights.npz`` (or ``.weights.h5`` named) file."""
        from ..saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """Export the model for inference elsewhere: ``model.export("model.onnx", format="onnx")``.

        Keras 3's method. convlearn writes ONNX (opset 13 by default; ``opset_version=``
        up to 17), the model's own NHWC inputs with a free batch axis, inference
        behaviour (dropout off, BatchNormalization's moving averages). Needs the
        ``onnx`` package (``pip install "convlearn[onnx]"``). See
        :mod:`convlearn.export`.
        """
        from ..export import export_model

        export_model(self, filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs)

    def load_weights(self, filepath):
        """Load weights saved by :meth:`save_weights` or :meth:`save`."""
        from ..saving import load_weights

        load_weights(self, filepath)

    def __repr__(self):
        n = len(self.layers)
        return f"<{type(self).__name__} name={self.name!r}, layers={n}, built={self.built}>"


def _model_name(cls):
    from ..layers.base import snake_case

    return "functional" if cls.__name__ == "Functional" else snake_case(cls.__name__)


__all__ = ["Model", "SymbolicTensor"]
