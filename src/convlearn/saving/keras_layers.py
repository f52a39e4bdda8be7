"""How each convlearn layer is written in Keras's files, and read back: one small table.

Keras 3 and convlearn use the same class names and the same constructor
arguments, so most of a layer's config passes unchanged. What differs is
listed per class in :data:`KERAS_LAYERS`:

- ``weights``: the layer's weights in the order Keras stores them
  (``layers/<name>/vars/0``, ``1``, ...: trainable ones first, in the order
  Keras's ``build`` creates them), by convlearn's weight names. A weight a
  layer does not have (``bias`` with ``use_bias=False``) is skipped, as Keras
  skips it.
- ``newer``: arguments that recent Keras versions write but Keras 3.0 does
  not accept, with their default values: omitted when at their default, so
  that every Keras 3 release reads convlearn's files.
- ``renamed``: Keras 2 argument names (legacy ``.h5`` files) and the Keras 3
  name they became.
- ``ignored``: Keras arguments convlearn has no parameter for, accepted at the
  value given (the only value convlearn implements); any other value is refused
  with a message naming the layer and the option.

A layer that is not in the table has no weights and no differences. Adding a
layer to convlearn adds a row here when it has weights
(``tests/test_keras_format.py`` fails for a layer with weights that has none).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from .._checks import accepted_arguments
from ..layers.base import BASE_KWARGS

_EMPTY = MappingProxyType({})


class KerasLayer(NamedTuple):
    """One row of :data:`KERAS_LAYERS`."""

    weights: tuple = ()
    newer: Mapping = _EMPTY
    renamed: Mapping = _EMPTY
    ignored: Mapping = _EMPTY


_DENSE_NEWER = {"lora_rank": None, "lora_alpha": None, "quantization_config": None}

#: class name -> what differs between its convlearn and its Keras form.
KERAS_LAYERS = {
    "Conv2D": KerasLayer(weights=("kernel", "bias")),
    "Conv2DTranspose": KerasLayer(weights=("kernel", "bias")),
    "DepthwiseConv2D": KerasLayer(weights=("kernel", "bias")),
    "SeparableConv2D": KerasLayer(weights=("depthwise_kernel", "pointwise_kernel", "bias")),
    "Dense": KerasLayer(weights=("kernel", "bias"), newer=_DENSE_NEWER, ignored=_DENSE_NEWER),
    "BatchNormalization": KerasLayer(
        weights=("gamma", "beta", "moving_mean", "moving_variance"),
        newer={"renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99}),
    "LayerNormalization": KerasLayer(weights=("gamma", "beta")),
    "LeakyReLU": KerasLayer(renamed={"alpha": "negative_slope"}),
    "Softmax": KerasLayer(),
    "Dropout": KerasLayer(),
}

#: Keras arguments of every layer that convlearn takes at one value only (images are channels-last).
_IGNORED_EVERYWHERE = {"data_format": "channels_last", "autocast": True}
#: The Keras 3 dtype policies convlearn computes in.
_DTYPES = ("float32", "float64")


def row(class_name):
    """The table row of ``class_name`` (an empty row for a layer without differences)."""
    return KERAS_LAYERS.get(class_name, KerasLayer())


def keras_weights(layer):
    """The layer's own weight arrays in Keras's order (``vars/0``, ``vars/1``, ...).

    Raises
    ------
    ValueError
        If the layer has weights the table does not place.
    """
    own = dict(layer.params) | dict(layer.state)
    names = row(type(layer).__name__).weights
    if not names:
        names = tuple(layer.params) + tuple(layer.state)     # trainable first, in creation order, as Keras
    missing = [n for n in own if n not in names]
    if missing:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' has weight(s) {missing} that the Keras layout of convlearn "
            "does not place; add them to convlearn.saving.keras_layers.KERAS_LAYERS."
        )
    return [own[n] for n in names if n in own]


# ---------------------------------------------------------------------------
# convlearn -> Keras
# ---------------------------------------------------------------------------

def _keras_object(value):
    """A convlearn ``{"class_name", "config"}`` (initializer, ...) as Keras serialises it."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        return {"module": "keras.initializers", "class_name": value["class_name"], "config": value["config"],
                "registered_name": None}
    return value


def to_keras_config(layer):
    """The ``config`` of a (non-model) convlearn layer as Keras 3.0 and later read it."""
    config = dict(layer.get_config())
    config.pop("input_shape", None)        # an InputLayer (or build_config) carries the shape
    for key, default in row(type(layer).__name__).newer.items():
        if key in config and config[key] == default:
            del config[key]
    return {key: _keras_object(value) for key, value in config.items()}


# ---------------------------------------------------------------------------
# Keras -> convlearn
# ---------------------------------------------------------------------------

def dtype_name(value, where):
    """The dtype of a Keras config (a name, or a DTypePolicy dict) as convlearn's dtype name.

    Raises
    ------
    ValueError
        For a policy convlearn does not compute in (mixed precision, ...).
    """
    if value is None:
        return None
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name") if isinstance(value.get("config"), dict) else None
    if value not in _DTYPES:
        raise ValueError(f"{where}: dtype {value!r} is not supported by convlearn, which computes in float32 "
                         "(or float64). Save the model with a float32 policy.")
    return value


def _initializer(value):
    """A Keras initializer config as convlearn's registry reads it (unset Keras-only options dropped)."""
    if isinstance(value, dict) and isinstance(value.get("config"), dict):
        inner = {k: v for k, v in value["config"].items() if v is not None or k == "seed"}
        return {"class_name": value.get("class_name"), "config": inner}
    return value


def from_keras_config(cls, class_name, config):
    """The convlearn arguments of a Keras layer config.

    Keras arguments convlearn also has pass unchanged (the layer checks their
    values); arguments convlearn does not have are dropped when unset (None)
    or at the one value convlearn implements, and refused otherwise.

    Raises
    ------
    ValueError
        For a Keras option convlearn does not implement, naming it.
    """
    spec = row(class_name)
    accepted = set(accepted_arguments(cls, BASE_KWARGS))
    out = {}
    for key, value in config.items():
        key = spec.renamed.get(key, key)
        if key == "dtype":
            out[key] = dtype_name(value, f"{class_name} '{config.get('name')}'")
        elif key in accepted:
            out[key] = _initializer(value) if key.endswith("_initializer") else value
        elif value is None or any(key in table and table[key] == value
                                  for table in (spec.ignored, _IGNORED_EVERYWHERE, spec.newer)):
            continue                       # unset, or at the one value convlearn implements
        else:
            raise ValueError(
                f"{class_name} '{config.get('name')}': the Keras option {key}={value!r} is not supported by "
                f"convlearn. Save the model without it (convlearn's {class_name} takes: "
                f"{', '.join(sorted(a for a in accepted if a not in BASE_KWARGS))})."
            )
    return out
