"""The legacy HDF5 model format (``model.save("model.h5")`` of Keras 2 / tf.keras and of Keras 3).

One HDF5 file holds:

- attributes ``model_config`` (the model's config as JSON), ``training_config``
  (loss, metrics and ``optimizer_config``), ``keras_version`` and ``backend``;
- a group ``model_weights`` whose attribute ``layer_names`` lists the model's
  layers in order; each layer's group lists its weights in the attribute
  ``weight_names`` (trainable weights first, then the others), each weight a
  dataset at that name inside the group;
- a group ``optimizer_weights`` (its ``weight_names`` and datasets), the
  optimizer's variables.

Weights are assigned as Keras assigns them: the saved layers that have
weights, in ``layer_names`` order, go to the model's layers that have weights,
in order, each layer's arrays in ``weight_names`` order. Keras 2 config names
(``batch_input_shape``, ``[[layer, node, tensor, kwargs]]`` calls, ``alpha`` of
``LeakyReLU``, ``Model`` for functional models) are translated. Reading is as
guarded as for ``.keras`` files (:mod:`convlearn.saving._hdf5`).
"""

from __future__ import annotations

import io
import json
import os
import warnings

import numpy as np

from .._limits import FileError, LimitError
from . import keras_format
from ._hdf5 import SafeH5, h5py_module

_BACKEND = "numpy"


def _legacy_order(layer):
    """A layer's (or nested model's) weights as the legacy format lists them: trainable, then the others."""
    arrays = keras_format.keras_variable_order(layer)
    trainable = {id(w) for w in layer.trainable_weights}
    return [w for w in arrays if id(w) in trainable] + [w for w in arrays if id(w) not in trainable]


def _weight_names(layer):
    """``"<layer>/<weight>"`` names of :func:`_legacy_order`, as Keras 3 writes them (the weights' paths)."""
    names = {}
    for path, owner, arrays in keras_format.weight_layout(layer):
        own = dict(owner.params) | dict(owner.state)
        for w in arrays:
            weight = next(n for n, a in own.items() if a is w)
            names[id(w)] = f"{owner.name}/{weight}" if owner is layer else f"{layer.name}/{owner.name}/{weight}"
    return [names[id(w)] for w in _legacy_order(layer)]


def _legacy_entry(entry):
    """Keras 3's legacy serialisation: the same dicts without ``module`` and ``registered_name``."""
    if isinstance(entry, dict):
        return {k: _legacy_entry(v) for k, v in entry.items() if k not in ("module", "registered_name")}
    if isinstance(entry, list):
        return [_legacy_entry(v) for v in entry]
    return entry


def _string_list(values):
    return np.array([v.encode("utf8") for v in values]) if values else np.array([])


def save_model(model, include_optimizer=True):
    """The bytes of the legacy ``.h5`` file of ``model``, laid out as Keras 3 writes it."""
    h5py = h5py_module()
    from .. import __version__

    if keras_format.model_kind(model) == "Model":
        raise ValueError(
            f"Model '{model.name}' is a subclassed model ({type(model).__name__}); the legacy .h5 format holds "
            "Sequential and functional models only, as in Keras. Save it as model.save('model.keras'), or save "
            "only its weights with model.save_weights('model.weights.h5')."
        )
    entry = keras_format.layer_entry(model)
    model_config = {"class_name": entry["class_name"], "config": _legacy_entry(entry["config"])}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["keras_version"] = keras_format.KERAS_VERSION
        f.attrs["backend"] = _BACKEND
        f.attrs["convlearn_version"] = __version__
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if include_optimizer and model.compiled:
            training = keras_format.compile_config(model)
            optimizer = training.pop("optimizer")
            training["optimizer_config"] = {"class_name": optimizer["class_name"], "config": optimizer["config"]}
            f.attrs["training_config"] = json.dumps(_legacy_entry(training)).encode("utf8")
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = _string_list([layer.name for layer in model.layers])
        group.attrs["backend"] = _BACKEND.encode("utf8")
        group.attrs["keras_version"] = keras_format.KERAS_VERSION.encode("utf8")
        for layer in sorted(model.layers, key=lambda layer: layer.name):
            layer_group = group.create_group(layer.name)
            names = _weight_names(layer)
            layer_group.attrs["weight_names"] = _string_list(names)
            for name, w in zip(names, _legacy_order(layer)):
                layer_group.create_dataset(name, data=w)
        group.create_group("top_level_model_weights").attrs["weight_names"] = _string_list([])
        if include_optimizer and model.compiled and type(model.optimizer).__name__ in keras_format.OPTIMIZER_SLOTS:
            opt = model.optimizer
            arrays = keras_format.optimizer_arrays(opt, keras_format.keras_trainable_order(model),
                                                   model.compiled_trainable_weights)
            names = [f"{opt.name}/iteration", f"{opt.name}/learning_rate"]
            names += [f"{opt.name}/variable_{i}" for i in range(2, len(arrays))]
            opt_group = f.create_group("optimizer_weights")
            opt_group.attrs["weight_names"] = _string_list(names)
            for name, a in zip(names, arrays):
                opt_group.create_dataset(name, data=a)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

def _names_attribute(h5, obj, name):
    """A list-of-names attribute, also when Keras split it into ``name0``, ``name1``, ... (large models)."""
    value = h5.attribute(obj, name)
    if value is None:
        value, k = [], 0
        while f"{name}{k}" in obj.attrs:
            part = h5.attribute(obj, f"{name}{k}")
            value.extend(part if isinstance(part, list) else [part])
            k += 1
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, float)) for v in value):
        raise FileError(f"{h5.label}: the attribute {name!r} is not a list of names.")
    return [v for v in value if isinstance(v, str)]


def _config_attribute(h5, name):
    value = h5.attribute(h5.f, name)
    if value is None:
        return None
    try:
        return json.loads(value) if isinstance(value, str) else None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise FileError(f"{h5.label} is corrupted: its {name} is not valid JSON ({exc}).") from None


def _keras2_config(config):
    """Normalise a Keras 2 model config: a bare list of layers (Keras 2.0's Sequential) becomes a dict."""
    if isinstance(config, dict) and isinstance(config.get("config"), list):
        return {**config, "config": {"layers": config["config"]}}
    return config


def _fix_keras2(entry):
    """Keras 2 spellings inside layer configs: ``axis=[3]`` of normalisation layers, ``reduction='auto'``."""
    if isinstance(entry, dict):
        out = {k: _fix_keras2(v) for k, v in entry.items()}
        if isinstance(out.get("axis"), list) and len(out["axis"]) == 1 and isinstance(out["axis"][0], int) \
                and out.get("name") is not None:
            out["axis"] = out["axis"][0]
        if out.get("reduction") == "auto":
            out["reduction"] = "sum_over_batch_size"
        return out
    if isinstance(entry, list):
        return [_fix_keras2(v) for v in entry]
    return entry


def _normalisation_axis(model):
    """Keras 2 wrote a channels axis as its index (3); convlearn's layers take -1 for the last axis."""
    for layer in model.layers:
        if hasattr(layer, "axis") and isinstance(layer.axis, int) and layer.axis > 0 and layer.input_shape:
            shape = layer.input_shape[0] if isinstance(layer.input_shape, list) else layer.input_shape
            if layer.axis == len(shape) - 1:
                layer.axis = -1


def load_model(path, label, compile, custom_objects, max_weights):
    """Read a legacy ``.h5`` model file."""
    size = os.stat(path).st_size
    with open(path, "rb") as fp, SafeH5(fp, label) as h5:
        config = _config_attribute(h5, "model_config")
        if not isinstance(config, dict):
            raise FileError(f"{label} is an HDF5 file without a model config: it holds weights only, or it is not "
                            "a Keras model. Build the model in code and call model.load_weights(...) instead.")
        config = _fix_keras2(_keras2_config(config))
        model = keras_format.rebuild(config, custom_objects, max_weights, label)
        limit = keras_format.h5_limit(model, True)
        if size > limit:
            raise LimitError(f"{label} is {size:,} bytes, more than the model it describes can need ({limit:,}). "
                             "Refusing to read it.")
        group = h5.group("model_weights")
        if group is None:
            raise FileError(f"{label} has no 'model_weights' group; it is not a complete Keras .h5 model.")
        for target, value in read_weights(h5, group, model):
            target[...] = value
        training = _config_attribute(h5, "training_config") if compile else None
        if isinstance(training, dict):
            compile_cfg = dict(training)
            compile_cfg["optimizer"] = compile_cfg.pop("optimizer_config", None)
            try:
                model.compile(**keras_format.convlearn_compile_config(_fix_keras2(compile_cfg)))
            except FileError:
                raise
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"{label}: invalid or unsupported compile settings ({exc})") from None
            _read_optimizer(h5, model)
    return model


def read_weights(h5, group, model):
    """``[(target, array)]`` for every weight of ``model`` from a legacy ``model_weights`` group."""
    saved = []
    for name in _names_attribute(h5, group, "layer_names"):
        layer_group = h5.get(f"{group.name.strip('/')}/{name}".strip("/"))
        if layer_group is None:
            raise FileError(f"{h5.label}: layer '{name}' is listed in layer_names but has no group.")
        names = _names_attribute(h5, layer_group, "weight_names")
        if names:
            saved.append((name, layer_group, names))
    layers = [layer for layer in model.layers if _legacy_order(layer)]
    if len(saved) != len(layers):
        raise FileError(f"{h5.label} holds weights for {len(saved)} layers ({', '.join(n for n, _, _ in saved[:6])}); "
                        f"the model has {len(layers)} layers with weights.")
    pairs = []
    for (name, layer_group, names), layer in zip(saved, layers):
        targets = _legacy_order(layer)
        if len(names) != len(targets):
            raise FileError(f"{h5.label}: layer '{name}' has {len(names)} weights; layer '{layer.name}' of the "
                            f"model needs {len(targets)}.")
        for weight_name, target in zip(names, targets):
            ds = h5.dataset(layer_group, weight_name)
            if ds is None:
                raise FileError(f"{h5.label}: layer '{name}' lists the weight {weight_name!r}, which it does not hold.")
            pairs.append((target, h5.read(ds, target.shape, f"weight {weight_name!r} of layer '{name}'")))
    return pairs


def _read_optimizer(h5, model):
    """The optimizer's state from ``optimizer_weights`` when it is laid out as Keras 3 writes it; otherwise
    (a Keras 2 optimizer) the optimizer starts afresh, with a warning, as Keras does."""
    group = h5.group("optimizer_weights")
    if group is None:
        return
    names = _names_attribute(h5, group, "weight_names")
    optimizer = model.optimizer
    order = keras_format.keras_trainable_order(model)
    groups = [[n for n in g if n in optimizer.slot_names]
              for g in keras_format.OPTIMIZER_SLOTS.get(type(optimizer).__name__, ())]
    expected = 2 + sum(len(g) for g in groups) * len(order)
    if len(names) not in (2, expected) or not names[0].endswith("iteration"):
        warnings.warn(f"{h5.label}: the optimizer state ({len(names)} arrays, written by Keras 2?) is not laid out "
                      f"as {type(optimizer).__name__}'s Keras 3 state ({expected} arrays); training continues with "
                      "a fresh optimizer state.", stacklevel=4)
        return
    # every array's shape is known before it is read: the step count and learning rate are
    # scalars, each slot has its weight's shape (a declared size beyond that is refused unread)
    shapes = [(), ()] + [p.shape for group_names in groups for p in order for _ in group_names]
    arrays = [h5.read(h5.dataset(group, n), shape, f"optimizer variable {n!r}")
              for n, shape in zip(names, shapes)]
    step, lr = arrays[0], arrays[1]
    if step.shape != () or step.dtype.kind not in "iu" or int(step) < 0:
        raise FileError(f"{h5.label}: the optimizer's step count must be one integer >= 0.")
    if len(arrays) > 2:
        slots, k = {}, 2
        for group_names in groups:
            for p in order:
                for n in group_names:
                    if arrays[k].shape != p.shape:
                        raise FileError(f"{h5.label}: optimizer variable {names[k]!r} has shape {arrays[k].shape}; "
                                        f"the weight it belongs to has {p.shape}.")
                    slots[(id(p), n)] = arrays[k]
                    k += 1
        params = model.compiled_trainable_weights
        state = [np.array(int(step), dtype=np.int64)] + [slots[(id(p), n)] for p in params
                                                         for n in optimizer.slot_names]
        optimizer.set_state(state, params)
    else:
        optimizer.iterations = int(step)
    keras_format.set_learning_rate(optimizer, lr)
