"""Keras 3's ``.keras`` format, written and read: a zip of ``metadata.json``, ``config.json``, ``model.weights.h5``.

- ``config.json`` is Keras's serialisation of the model: ``module``,
  ``class_name``, ``config`` (the layers, and for a functional model the calls
  between them), ``registered_name``, ``build_config`` and, once compiled,
  ``compile_config`` (optimizer, loss, metrics).
- ``model.weights.h5`` holds every layer's weights at
  ``layers/<snake_case class name>[_n]/vars/<i>`` (the ``_n`` counts earlier
  layers of the same class in the same model; a nested model nests its own
  ``layers/...``), and the optimizer's variables at ``optimizer/vars/<i>``:
  the step count, the learning rate, then its slots in Keras's order.

convlearn writes the subset of it that every Keras 3 release reads (3.0 on:
arguments added since are left out when at their defaults, see
:mod:`convlearn.saving.keras_layers`), and reads what Keras writes for the
layers, models and optimizers it has. Reading never imports anything a file
names: classes come from convlearn's registry or ``custom_objects``, and the
HDF5 file is checked first (:mod:`convlearn.saving._hdf5`).
"""

from __future__ import annotations

import datetime
import io
import json
import math
import zipfile

import numpy as np

from .. import __version__
from .._limits import (
    FileError,
    LimitError,
    open_zip,
    read_member,
    spool_member,
    weight_budget,
)
from ..layers import LAYERS, InputLayer, Layer
from ..layers.base import snake_case
from . import keras_layers
from ._hdf5 import SafeH5, h5py_module

METADATA, CONFIG, WEIGHTS = "metadata.json", "config.json", "model.weights.h5"
#: The Keras version convlearn's files say they were written as (the oldest whose reader they fit).
KERAS_VERSION = "3.0.0"
_MAX_METADATA_BYTES = 2**16
_MAX_CONFIG_BYTES = 4 * 2**20
_PER_DATASET_SLACK = 4096            # an HDF5 dataset's header and its group's entry
_H5_SLACK = 2**20

#: Keras's order of an optimizer's slots: groups in order; within a group the slots of one weight side
#: by side (Adam: m0 v0 m1 v1 ..., then the AMSGrad maxima), by convlearn's slot names.
OPTIMIZER_SLOTS = {
    "SGD": (("momentum",),),
    "Adam": (("m", "v"), ("v_hat",)),
    "RMSprop": (("v",), ("momentum",), ("mean_g",)),
}
#: Keras optimizer options convlearn does not implement, accepted at these values.
_OPTIMIZER_IGNORED = {"use_ema": False, "ema_momentum": None, "ema_overwrite_frequency": None,
                      "loss_scale_factor": None, "gradient_accumulation_steps": None, "jit_compile": None,
                      "is_legacy_optimizer": False, "decay": 0.0}
#: Keras optimizer options accepted at any value: how Keras compiles its step (Keras 2.11+ wrote
#: jit_compile=True), and the EMA momentum, which matters only with use_ema (refused above unless False).
_ANY_VALUE = ("jit_compile", "ema_momentum")
#: Keras loss options convlearn's losses take at one value only.
_LOSS_IGNORED = {"axis": -1, "ignore_class": None, "dtype": None}


def _is_model(layer):
    from ..models import Model

    return isinstance(layer, Model)


def model_kind(layer):
    """``"Sequential"``, ``"Functional"``, ``"Model"`` (subclassed) or ``"Layer"``."""
    from ..models import Sequential
    from ..models.functional import Functional

    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Functional):
        return "Functional"
    if _is_model(layer):
        return "Model"
    return "Layer"


# ---------------------------------------------------------------------------
# The model's weights, in Keras's layout
# ---------------------------------------------------------------------------

def unique_names(items, used=None):
    """``[(name, item)]``: each layer named by its snake_case class name, the second ``conv2d_1`` and so on,
    as Keras names the groups of a list of layers; a nested list or dict is a ``container``."""
    used, out = {} if used is None else used, []
    for item in items:
        base = snake_case(type(item).__name__) if isinstance(item, Layer) else "container"
        if base in used:
            used[base] += 1
            out.append((f"{base}_{used[base]}", item))
        else:
            used[base] = 0
            out.append((base, item))
    return out


def children(model):
    """``[(group name, layer)]`` of a model's layers as Keras names their groups (``conv2d``, ``conv2d_1``)."""
    return unique_names(model.layers)


def _holds_layers(value, depth=0):
    if isinstance(value, Layer):
        return True
    if depth < 8 and isinstance(value, (list, tuple)):
        return any(_holds_layers(v, depth + 1) for v in value)
    if depth < 8 and isinstance(value, dict):
        return any(_holds_layers(v, depth + 1) for v in value.values())
    return False


#: Attributes of convlearn's own layers and models that hold layers for the engine, not as parts.
_ENGINE_ATTRIBUTES = ("_inbound_nodes", "_traces", "_layers", "_graph")


def tracked_attributes(obj):
    """``[(attribute, value)]``: what Keras's saving walks in a subclassed model or a composed layer.

    Keras visits the attributes in sorted order, private ones (``_x``) last, and
    a subclassed model also has its ``layers`` list, which takes the layers
    that no attribute sorted before ``layers`` reached.
    """
    found = {key: value for key, value in vars(obj).items()
             if key not in _ENGINE_ATTRIBUTES and not key.startswith("__") and _holds_layers(value)}
    if model_kind(obj) == "Model":
        found["layers"] = obj.layers
    return sorted(found.items(), key=lambda item: f"~{item[0]}" if item[0].startswith("_") else item[0])


def weight_layout(model):
    """``[(group path, layer, arrays)]``: where each layer's weights go (``layers/dense_1``), in Keras's order.

    Sequential and functional models keep their layers under ``layers/``; a
    subclassed model and a layer composed of other layers keep them where
    Keras's object tracking puts them: at the attribute's name (``stem``), a
    list's or dict's layers under it by class name (``blocks/residual_block_1``),
    each layer at the first place the walk reaches it.
    """
    out, visited = [], set()

    def visit(layer, path):
        if id(layer) in visited:
            return
        visited.add(id(layer))
        kind = model_kind(layer)
        out.append((path, layer, [] if kind in ("Sequential", "Functional") else keras_layers.keras_weights(layer)))
        if kind in ("Sequential", "Functional"):
            walk("layers", layer.layers, path)
        elif not isinstance(layer, InputLayer):
            for attribute, value in tracked_attributes(layer):
                walk(attribute, value, path)

    def walk(name, value, path, seen_containers=None):
        here = f"{path}/{name}" if path else name
        if isinstance(value, Layer):
            visit(value, here)
            return
        seen_containers = set() if seen_containers is None else seen_containers
        if id(value) in seen_containers:
            return
        seen_containers.add(id(value))
        items = list(value.values()) if isinstance(value, dict) else list(value)
        items = [v for v in items if isinstance(v, (Layer, list, tuple, dict))]
        for child_name, child in unique_names(items):
            if isinstance(child, Layer):
                visit(child, f"{here}/{child_name}")
            else:
                walk(child_name, child, here, seen_containers)

    visit(model, "")
    return out


def keras_variable_order(layer):
    """Every weight of ``layer`` in the order of Keras's ``layer.variables``: its own, then each tracked
    layer's in the order the layers were set (the order of the optimizer's slots)."""
    out, seen = [], set()

    def visit(item):
        if id(item) in seen:
            return
        seen.add(id(item))
        kind = model_kind(item)
        if kind not in ("Sequential", "Functional"):
            out.extend(keras_layers.keras_weights(item))
        for child in item.layers if kind != "Layer" else item._sublayers():
            visit(child)

    visit(layer)
    return out


def keras_trainable_order(model):
    """The model's trainable weights (those its optimizer updates) in Keras's order."""
    trainable = {id(w) for w in model.compiled_trainable_weights}
    return [w for w in keras_variable_order(model) if id(w) in trainable]


def optimizer_arrays(optimizer, params_keras, params_convlearn):
    """The optimizer's variables as Keras stores them: step count, learning rate, slots in Keras's order."""
    index = {id(p): i for i, p in enumerate(params_convlearn)}
    slots = optimizer.slots
    if slots is None:                      # compiled, never trained: Keras's fresh state
        slots = [{n: np.zeros_like(p) for n in optimizer.slot_names} for p in params_convlearn]
    arrays = [np.array(optimizer.iterations, dtype=np.int64), np.array(optimizer.learning_rate, dtype=np.float32)]
    for group in OPTIMIZER_SLOTS.get(type(optimizer).__name__, (tuple(optimizer.slot_names),)):
        names = [n for n in group if n in optimizer.slot_names]
        for p in params_keras:
            arrays.extend(slots[index[id(p)]][n] for n in names)
    return arrays


def write_weights_h5(model, include_optimizer=True):
    """The bytes of ``model.weights.h5`` (also a ``.weights.h5`` file) for ``model``."""
    h5py = h5py_module()
    layout = weight_layout(model)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        for path, layer, arrays in layout:
            group = f.create_group(f"{path}/vars" if path else "vars")
            group.attrs["name"] = layer.name
            for i, w in enumerate(arrays):
                group.create_dataset(str(i), data=w)
        if include_optimizer and model.compiled and type(model.optimizer).__name__ in OPTIMIZER_SLOTS:
            params = model.compiled_trainable_weights
            group = f.create_group("optimizer/vars")
            group.attrs["name"] = model.optimizer.name
            for i, a in enumerate(optimizer_arrays(model.optimizer, keras_trainable_order(model), params)):
                group.create_dataset(str(i), data=a)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# The config, in Keras's serialisation
# ---------------------------------------------------------------------------

def _build_config(layer):
    if not layer.built or layer.input_shape is None:
        return None
    shape = layer.input_shape
    return {"input_shape": [list(s) for s in shape] if isinstance(shape, list) else list(shape)}


def layer_entry(layer):
    """``serialize_keras_object(layer)`` for a convlearn layer or model."""
    kind = model_kind(layer)
    if isinstance(layer, InputLayer):
        return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                "config": {"batch_shape": [None, *layer.shape], "dtype": layer.dtype, "sparse": False,
                           "name": layer.name}}
    if kind == "Sequential":
        config = {"name": layer.name, "trainable": layer.trainable, "dtype": layer.dtype,
                  "layers": [layer_entry(child) for child in layer._layers]}
        entry = {"module": "keras", "class_name": "Sequential", "config": config, "registered_name": None}
        if layer.built:
            config["build_input_shape"] = list(layer.input_shape)
    elif kind == "Functional":
        config = layer.get_config()
        by_name = {child.name: child for child in layer.layers}
        entries = []
        for item in config["layers"]:
            entries.append({**layer_entry(by_name[item["name"]]), "name": item["name"],
                            "inbound_nodes": item["inbound_nodes"]})

        def io_spec(spec):
            # one input (or output) is written as a list of one [name, node, tensor] triple, as Keras 3.0
            # writes it and every later release reads it (a bare triple, which later releases write,
            # breaks Keras 3.0's reader); a one-element list predicts a plain array in Keras as here
            if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
                return [spec]
            return spec

        config = {"name": config["name"], "trainable": config["trainable"], "layers": entries,
                  "input_layers": io_spec(config["input_layers"]),
                  "output_layers": io_spec(config["output_layers"])}
        entry = {"module": "keras.src.models.functional", "class_name": "Functional", "config": config,
                 "registered_name": "Functional"}
    elif kind == "Model":
        entry = _custom_entry(layer, subclassed_model_config(layer))
    else:
        cls = type(layer)
        if LAYERS.get_class(cls.__name__) is cls:
            entry = {"module": "keras.layers", "class_name": cls.__name__,
                     "config": keras_layers.to_keras_config(layer), "registered_name": None}
        else:
            entry = _custom_entry(layer, keras_layers.to_keras_config(layer))
    build = _build_config(layer)
    if build is not None:
        entry["build_config"] = build
    return entry


def _custom_entry(layer, config):
    """A class of the user's own as Keras serialises an unregistered class: its module, its name (also as
    ``registered_name``, the key Keras looks up in ``custom_objects``) and its ``get_config()``."""
    cls = type(layer)
    try:
        json.dumps(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{cls.__name__} '{layer.name}': its get_config() must return plain JSON values (numbers, strings, "
            f"lists, dicts) for the .keras format; got {str(config)[:120]} ({exc}). Return the constructor "
            "arguments from get_config(), or save only the weights with model.save_weights('model.weights.h5')."
        ) from None
    return {"module": None if cls.__module__ == "__main__" else cls.__module__, "class_name": cls.__name__,
            "config": config, "registered_name": cls.__name__}


def subclassed_model_config(model):
    """The ``config`` of a subclassed model: its ``get_config()``, which must give back its constructor's
    arguments (a class that overrides it, or one made with keyword arguments only, as Keras asks).

    Raises
    ------
    ValueError
        If convlearn cannot know the constructor's arguments.
    """
    from ..models import Model

    cls = type(model)
    if cls.get_config is Model.get_config and model._init_arguments is None:
        raise ValueError(
            f"Model '{model.name}' ({cls.__name__}) is a subclassed model made with positional (or not "
            f"JSON-serialisable) constructor arguments, so its config cannot be saved. Pass its arguments by "
            f"keyword ({cls.__name__}(classes=3)), or define get_config() returning them, as Keras asks; or save "
            "only its weights with model.save_weights('model.weights.h5')."
        )
    config = dict(model.get_config())
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = keras_layers.dtype_name(config["dtype"], f"Model '{model.name}'")
    return config


def _keras_optimizer(optimizer):
    config = dict(optimizer.get_config())
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__, "config": config,
            "registered_name": None}


def _keras_loss(item):
    if isinstance(item, dict) and "class_name" in item:
        return {"module": "keras.losses", "class_name": item["class_name"], "config": item.get("config", {}),
                "registered_name": None}
    return item


def _map_structure(value, one):
    if value is None:
        return None
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _map_structure(v, one) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_map_structure(v, one) for v in value]
    return one(value)


def compile_config(model):
    """Keras's ``compile_config`` for a compiled convlearn model."""
    config = model.get_compile_config()
    return {"optimizer": _keras_optimizer(model.optimizer), "loss": _map_structure(config["loss"], _keras_loss),
            "loss_weights": config["loss_weights"], "metrics": config["metrics"], "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def model_config(model):
    """The whole ``config.json`` of ``model``."""
    entry = layer_entry(model)
    if model.compiled:
        entry["compile_config"] = compile_config(model)
    return entry


def save_model(model, path, include_optimizer=True):
    """The bytes of the ``.keras`` zip of ``model``."""
    members = {
        METADATA: json.dumps({"keras_version": KERAS_VERSION, "date_saved":
                              datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                              "convlearn_version": __version__}).encode(),
        CONFIG: json.dumps(model_config(model)).encode(),
        WEIGHTS: write_weights_h5(model, include_optimizer),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:          # stored, as Keras writes it: h5py reads the member in place
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# Reading: Keras's config -> convlearn's
# ---------------------------------------------------------------------------

def _custom_class(entry, custom_objects):
    for key in (entry.get("registered_name"), entry.get("class_name")):
        if isinstance(key, str) and key in custom_objects:
            return custom_objects[key]
    return None


def convlearn_entry(entry, custom_objects, where="the model config"):
    """A Keras ``serialize_keras_object`` dict of a layer or model as convlearn's ``{"class_name", "config"}``.

    Raises
    ------
    ValueError
        For a class convlearn does not have (named, with the ones it has), or a Keras option it does not implement.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str) \
            or not isinstance(entry.get("config"), dict):
        raise ValueError(f"Invalid layer entry in {where}: {str(entry)[:200]}")  # noqa: TRY004 (file contents: ValueError)
    class_name, config = entry["class_name"], entry["config"]
    out = {k: entry[k] for k in ("name", "inbound_nodes") if k in entry}
    if class_name == "InputLayer":
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        if shape is None and config.get("shape") is not None:
            shape = [None, *config["shape"]]
        if not isinstance(shape, list) or not shape:
            raise ValueError(f"InputLayer {config.get('name')!r} in {where} has no shape.")
        for option in ("sparse", "ragged", "optional"):
            if config.get(option):
                raise ValueError(f"InputLayer {config.get('name')!r}: {option} inputs are not supported by "
                                 "convlearn.")
        return {**out, "class_name": "InputLayer",
                "config": {"name": config.get("name"), "shape": shape[1:],
                           "dtype": keras_layers.dtype_name(config.get("dtype", "float32"), "InputLayer")}}
    if class_name == "Sequential":
        layers = [convlearn_entry(item, custom_objects, where) for item in config.get("layers", [])]
        shape = config.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
        if layers and layers[0]["class_name"] != "InputLayer" and isinstance(shape, list) and shape:
            layers.insert(0, {"class_name": "InputLayer", "config": {"shape": shape[1:]}})
        return {**out, "class_name": "Sequential",
                "config": {"name": config.get("name"), "trainable": config.get("trainable", True), "layers": layers}}
    if class_name in ("Functional", "Model") and "layers" in config and "input_layers" in config:
        layers = [convlearn_entry(item, custom_objects, where) for item in config["layers"]]
        for item in layers:
            item["inbound_nodes"] = [_keras3_node(node) for node in item.get("inbound_nodes", [])]
        outputs = config.get("output_layers")
        single = isinstance(outputs, list) and ((len(outputs) == 3 and isinstance(outputs[0], str)) or (
            len(outputs) == 1 and isinstance(outputs[0], list)))     # [name, 0, 0], or Keras 3.0's [[name, 0, 0]]
        return {**out, "class_name": "Functional",
                "config": {"name": config.get("name"), "trainable": config.get("trainable", True), "layers": layers,
                           "input_layers": config["input_layers"], "output_layers": outputs,
                           "single_output": single}}
    custom = _custom_class(entry, custom_objects)
    if custom is not None:
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras_layers.dtype_name(config["dtype"], f"{class_name} '{config.get('name')}'")
        out = {**out, "class_name": class_name, "config": config}
        if isinstance(entry.get("build_config"), dict):
            out["build_config"] = entry["build_config"]
        return out
    cls = LAYERS.get_class(class_name)
    if cls is None or cls is Layer or _is_model_class(cls) and cls.__name__ not in ("Sequential", "Functional"):
        module = entry.get("module")
        if isinstance(module, str) and module.split(".")[0] == "keras" or cls is not None:
            valid = [n for n in LAYERS.class_names() if n not in ("Layer", "Model", "Functional")]
            raise ValueError(
                f"The Keras layer {class_name!r} (in {where}) is not one convlearn has, so this model cannot be "
                f"loaded. convlearn's layers: {', '.join(valid)}. For a class of your own, pass "
                f"custom_objects={{{class_name!r}: YourClass}}."
            )
        raise ValueError(
            f"Unknown layer class {class_name!r} in {where} (module {module!r}): it is a class of your own, not "
            f"one of convlearn's or Keras's, and convlearn never imports what a file names. Pass the class: "
            f"load_model(..., custom_objects={{{class_name!r}: {class_name}}})."
        )
    return {**out, "class_name": cls.__name__, "config": keras_layers.from_keras_config(cls, class_name, config)}


def _is_model_class(cls):
    from ..models import Model

    return isinstance(cls, type) and issubclass(cls, Model)


def without_call_training(entry, depth=0):
    """The config with the ``training`` argument of every recorded layer call removed, for a file Keras wrote.

    Keras records ``training=True`` for the calls of its augmentation layers
    (their ``call`` defaults to it), and ``fit``, ``evaluate`` and ``predict``
    override it with their own mode; convlearn's graph keeps a call's
    ``training`` fixed, so it is dropped to behave as Keras does.
    """
    if depth > 64:
        raise ValueError("the model config is nested too deeply")
    if isinstance(entry, list):
        return [without_call_training(v, depth + 1) for v in entry]
    if not isinstance(entry, dict):
        return entry
    out = {k: without_call_training(v, depth + 1) for k, v in entry.items() if k != "inbound_nodes"}
    if isinstance(entry.get("inbound_nodes"), list):
        out["inbound_nodes"] = [
            {**node, "kwargs": {k: v for k, v in node["kwargs"].items() if k != "training"}}
            if isinstance(node, dict) and isinstance(node.get("kwargs"), dict) else node
            for node in entry["inbound_nodes"]]
    return out


def _keras3_node(node):
    """A call of a functional config in Keras 3's form (``{"args": [...], "kwargs": {...}}``); Keras 2 wrote
    ``[[layer, node index, tensor index, kwargs], ...]``."""
    if isinstance(node, dict):
        kwargs = node.get("kwargs") or {}
        if isinstance(kwargs, dict):
            kwargs = {k: v for k, v in kwargs.items() if k == "training" or v is not None}
            unknown = sorted(k for k in kwargs if k != "training")
            if unknown:
                raise ValueError(f"A layer call of the model config passes {unknown[0]}={kwargs[unknown[0]]!r}, "
                                 "which convlearn does not support.")
        return {**node, "kwargs": kwargs}
    if not isinstance(node, list) or not node:
        raise ValueError(f"Invalid call in the model config: {str(node)[:200]}")

    def ref(item):
        if not isinstance(item, list) or len(item) < 3:
            raise ValueError(f"Invalid tensor reference in the model config: {str(item)[:200]}")
        return {"class_name": "__keras_tensor__", "config": {"keras_history": [item[0], item[1], item[2]]}}

    refs = [ref(item) for item in node]
    kwargs = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}
    return {"args": [refs] if len(refs) > 1 else [refs[0]],
            "kwargs": {k: v for k, v in kwargs.items() if k == "training"}}


def _from_keras_object(value, registry_get, kind, ignored, supported=None):
    """A Keras loss/optimizer config (string or dict) as the convlearn object."""
    if isinstance(value, str):
        return registry_get(value)
    if not isinstance(value, dict) or not isinstance(value.get("class_name"), str):
        raise ValueError(f"Invalid {kind} in the compile config: {str(value)[:200]}")  # noqa: TRY004
    class_name = value["class_name"].split(">")[-1]          # Keras 2.11+ wrote "Custom>Adam"
    if supported is not None and class_name not in supported:
        raise ValueError(f"The {kind} {class_name!r} is not one convlearn has (it has {', '.join(supported)}). "
                         "Load with compile=False and compile the model yourself.")
    config = dict(value.get("config") or {})
    if isinstance(config.get("learning_rate"), dict):
        raise ValueError(  # noqa: TRY004 (file contents: ValueError)f"The {kind} {class_name!r} uses a learning-rate schedule "
                         f"({config['learning_rate'].get('class_name')!r}), which convlearn does not support. "
                         "Load with compile=False and compile with a fixed learning rate.")
    probe = registry_get({"class_name": class_name, "config": {}}) if kind == "loss" else None
    accepted = set(probe.get_config()) if probe is not None else None
    for key, default in ignored.items():
        if key in config and (accepted is None or key not in accepted):
            v = config.pop(key)
            if v is not None and v != default and key not in _ANY_VALUE:
                raise ValueError(f"The {kind} {class_name!r}: the Keras option {key}={v!r} is not supported by "
                                 "convlearn. Load with compile=False and compile the model yourself.")
    return registry_get({"class_name": class_name, "config": config})


def _metric_name(item):
    if isinstance(item, dict):
        config = item.get("config") if isinstance(item.get("config"), dict) else {}
        return config.get("name") or item.get("class_name")
    return item


def convlearn_compile_config(config):
    """Keras's ``compile_config`` as convlearn's ``compile`` arguments."""
    from .. import losses, optimizers

    if not isinstance(config, dict) or "optimizer" not in config:
        raise ValueError(f"Invalid compile config: {str(config)[:200]}")
    for key in ("weighted_metrics",):
        if config.get(key):
            raise ValueError(f"compile option {key}={config[key]!r} is not supported by convlearn. Load with "
                             "compile=False and compile the model yourself.")
    optimizer = _from_keras_object(config["optimizer"], optimizers.get, "optimizer", _OPTIMIZER_IGNORED,
                                   tuple(OPTIMIZER_SLOTS))
    loss = _map_structure(config.get("loss"), lambda v: _from_keras_object(v, losses.get, "loss", _LOSS_IGNORED))
    metrics = _map_structure(config.get("metrics"), _metric_name)
    return {"optimizer": optimizer, "loss": loss, "loss_weights": config.get("loss_weights"), "metrics": metrics}


def rebuild(entry, custom_objects, max_weights, label):
    """The convlearn model of a Keras config entry, built, its weights charged to ``max_weights``."""
    from .v01 import layer_from_config

    try:
        with weight_budget(max_weights, label):
            item = convlearn_entry(entry, custom_objects)
            model = layer_from_config(item, custom_objects)
            if _is_model(model) and not model.built and item.get("build_config"):
                model.build_for(_free_batch(item["build_config"].get("input_shape")))
    except FileError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        raise ValueError(f"{label}: the model config cannot be rebuilt ({exc})") from None
    if not _is_model(model):
        raise ValueError(f"{label}: config.json describes a {type(model).__name__} layer, not a model.")
    if not model.built:
        raise ValueError(f"{label}: the saved model has no input shape, so it cannot be rebuilt.")
    return model


def _free_batch(shape):
    """A ``build_config`` input shape with a free batch axis (Keras records the first batch's size)."""
    if isinstance(shape, list) and shape and all(isinstance(s, list) for s in shape):
        return [_free_batch(s) for s in shape]
    if not isinstance(shape, list) or not shape:
        raise ValueError(f"the build_config's input_shape must be a list like [None, 28, 28, 1]; got {shape!r:.80}")
    return (None, *shape[1:])


# ---------------------------------------------------------------------------
# Reading the weights
# ---------------------------------------------------------------------------

def h5_limit(model, with_optimizer):
    """The most bytes a ``model.weights.h5`` for ``model`` may take (float64 data, headers, slack)."""
    arrays = [w for _, _, ws in weight_layout(model) for w in ws]
    n = sum(w.size for w in arrays)
    count = len(arrays) + len(model.layers) * 2 + 8
    if with_optimizer and model.compiled:
        k = 1 + len(model.optimizer.slot_names)
        n += k * sum(w.size for w in model.compiled_trainable_weights)
        count += k * len(model.compiled_trainable_weights)
    return 8 * n + _PER_DATASET_SLACK * count + _H5_SLACK


def _vars(h5, path):
    return h5.group(f"{path}/vars" if path else "vars")


def read_layer_weights(h5, model):
    """Every weight of ``model`` from the checked file ``h5`` (a :class:`SafeH5`), as ``[(target, array)]``."""
    pairs = []
    for path, layer, arrays in weight_layout(model):
        group = _vars(h5, path)
        where = f"'{path or '/'}' (layer '{layer.name}')"
        if group is None:
            if arrays:
                raise FileError(f"{h5.label} has no weights for {where}; the model needs {len(arrays)} arrays there.")
            continue
        keys = sorted(group.keys())
        if keys != sorted(str(i) for i in range(len(arrays))):
            raise FileError(f"{h5.label}: {where} holds {len(keys)} arrays ({', '.join(keys[:5])}); the model needs "
                            f"{len(arrays)} (0 to {len(arrays) - 1}).")
        for i, target in enumerate(arrays):
            value = h5.read(h5.dataset(group, str(i)), target.shape, f"weight {i} of {where}")
            pairs.append((target, value))
    return pairs


def read_optimizer_state(h5, model, required=True):
    """Set the optimizer's step count, learning rate and slots from ``optimizer/vars``, if the file has them."""
    group = h5.group("optimizer/vars")
    if group is None or not model.compiled:
        return False
    optimizer = model.optimizer
    params = model.compiled_trainable_weights
    order = keras_trainable_order(model)
    groups = [[n for n in g if n in optimizer.slot_names]
              for g in OPTIMIZER_SLOTS.get(type(optimizer).__name__, (tuple(optimizer.slot_names),))]
    expected = 2 + sum(len(g) for g in groups) * len(order)
    keys = list(group.keys())
    if len(keys) == 2 and expected > 2:          # saved before its first step: no slots yet
        expected = 2
    if sorted(keys) != sorted(str(i) for i in range(expected)):
        if not required:
            return False
        raise FileError(f"{h5.label}: the optimizer state holds {len(keys)} arrays; {type(optimizer).__name__} "
                        f"with these settings needs {expected} for this model.")
    step = h5.read(h5.dataset(group, "0"), (), "the optimizer's step count")
    lr = h5.read(h5.dataset(group, "1"), (), "the optimizer's learning rate")
    if step.dtype.kind not in "iu" or int(step) < 0:
        raise FileError(f"{h5.label}: the optimizer's step count must be an integer >= 0; got {step!r:.60}.")
    slots = {}
    k = 2
    if expected > 2:
        for names in groups:
            for p in order:
                for n in names:
                    slots[(id(p), n)] = h5.read(h5.dataset(group, str(k)), p.shape,
                                                f"optimizer variable {k}")
                    k += 1
        state = [np.array(int(step), dtype=np.int64)]
        state += [slots[(id(p), n)] for p in params for n in optimizer.slot_names]
        optimizer.set_state(state, params)
    else:
        optimizer.iterations = int(step)
    set_learning_rate(optimizer, lr)
    return True


def set_learning_rate(optimizer, lr):
    """Take the saved learning rate (a callback may have changed it) unless it is the configured one
    rounded to float32, as Keras stores it."""
    if lr.shape == () and math.isfinite(float(lr)) and float(lr) >= 0 \
            and np.float32(lr) != np.float32(optimizer.learning_rate):
        optimizer.learning_rate = float(lr)


def check_members(zf, label, allowed):
    """Refuse a zip member whose name leaves the archive (``../x``, ``/etc/x``) or is not one of ``allowed``."""
    for info in zf.infolist():
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise FileError(f"{label} holds a member named {name!r}, a path outside the archive. Such a file is "
                            "made to overwrite other files when unpacked; refusing to load it.")
        if name not in allowed and not (name.startswith("assets/") and name.endswith("/")):
            raise FileError(f"{label} holds an unexpected member {name!r:.100}; a Keras model file holds "
                            f"{', '.join(sorted(allowed))}. convlearn reads no other parts (assets, shards).")


def load_model(path, zf, label, compile, custom_objects, max_weights):
    """Read the Keras 3 ``.keras`` archive ``zf`` (opened by the caller, member names unique)."""
    check_members(zf, label, {METADATA, CONFIG, WEIGHTS})
    for name in (CONFIG, WEIGHTS):
        if name not in zf.namelist():
            raise FileError(f"{label} is not a complete Keras model file: '{name}' is missing.")
    config = _json(zf, CONFIG, _MAX_CONFIG_BYTES, label)
    if not isinstance(config, dict):
        raise FileError(f"{label} is corrupted: config.json is not an object.")
    if not read_metadata(zf, label).get("convlearn_version"):
        config = without_call_training(config)
    model = rebuild(config, custom_objects, max_weights, label)
    compile_cfg = config.get("compile_config") if compile else None
    if isinstance(compile_cfg, dict) and compile_cfg:
        try:
            model.compile(**convlearn_compile_config(compile_cfg))
        except FileError:
            raise
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{label}: invalid or unsupported compile settings ({exc})") from None
    with spool_member(zf, WEIGHTS, h5_limit(model, True), label) as spooled, \
            SafeH5(spooled, f"{label}: '{WEIGHTS}'") as h5:
        for target, value in read_layer_weights(h5, model):
            target[...] = value
        if model.compiled:
            read_optimizer_state(h5, model)
    return model


def _json(zf, name, limit, label):
    try:
        return json.loads(read_member(zf, name, limit, label).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise FileError(f"{label} is corrupted: '{name}' is not valid JSON ({exc}).") from None


def read_metadata(zf, label):
    """``metadata.json`` of a model zip as a dict (``{}`` when it is not an object)."""
    if METADATA not in zf.namelist():
        raise FileError(f"{label} is not a complete model file: '{METADATA}' is missing.")
    meta = _json(zf, METADATA, _MAX_METADATA_BYTES, label)
    return meta if isinstance(meta, dict) else {}


def load_weights_h5(model, path, label):
    """Load a Keras ``.weights.h5`` (``save_weights``) into the built ``model``; nothing is set unless all fit."""
    import os

    limit = h5_limit(model, True)
    if os.stat(path).st_size > limit:
        raise LimitError(f"{label} is {os.stat(path).st_size:,} bytes, more than weights of this model can take "
                         f"({limit:,}); it is not this model's weights file.")
    with open(path, "rb") as fp, SafeH5(fp, label) as h5:
        pairs = read_layer_weights(h5, model)
        for target, value in pairs:
            target[...] = value
        read_optimizer_state(h5, model, required=False)


def open_keras_zip(path, label):
    return open_zip(path, label, f"{label} is not a valid .keras file (not a zip archive), or it is damaged or "
                                 "truncated.")
