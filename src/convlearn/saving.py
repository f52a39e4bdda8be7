"""Saving and loading models: a zip of JSON and NumPy arrays, never pickle.

A ``.keras`` file written by convlearn holds:

- ``metadata.json``: format name and version;
- ``config.json``: the layers and their hyperparameters, the input shape and the
  compile settings (optimizer, loss, metrics);
- ``model.weights.npz``: the weights, in :meth:`Sequential.get_weights` order;
- ``optimizer.npz``: the optimizer's state (step count, momenta), to resume training.

Arrays are read with ``allow_pickle=False`` and every part is checked, so a
corrupted, truncated or hostile file gives a clear error and executes nothing.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
import zlib

import numpy as np

from . import __version__
from ._io import atomic_write_bytes
from .layers import LAYERS, Layer

FORMAT = "convlearn-model"
FORMAT_VERSION = 1
_MAX_JSON_BYTES = 16 * 2**20          # a config is a few kB; refuse absurd sizes
_MAX_ARRAY_BYTES = 4 * 2**30          # refuse zip members that would inflate past this
_NPZ_SLACK = 2**20                    # room for the npz and .npy headers around the raw arrays
_MEMBERS = ("metadata.json", "config.json", "model.weights.npz")


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def _npz_bytes(arrays):
    buf = io.BytesIO()
    # np.asarray, not np.ascontiguousarray: the latter turns a 0-d array (the step count) into shape (1,)
    np.savez(buf, **{f"{i:04d}": np.asarray(a) for i, a in enumerate(arrays)})
    return buf.getvalue()


def _check_target(filepath, suffixes, what, example, overwrite):
    path = os.fspath(filepath)
    if not isinstance(path, str) or not path:
        raise ValueError(f"{what}: `filepath` must be a file name such as {example!r}; got {filepath!r}.")
    if not path.endswith(suffixes):
        raise ValueError(
            f"{what}: the file name must end with {' or '.join(suffixes)}; got {path!r}. Use e.g. {example!r}."
        )
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{what}: {path!r} exists and overwrite=False. Choose another name or pass overwrite=True.")
    return path


def save_model(model, filepath, overwrite=True, zipped=None, include_optimizer=True):
    """Write ``model`` to ``filepath`` (see the module docstring for the layout)."""
    path = _check_target(filepath, (".keras", ".h5"), "save", "model.keras", overwrite)
    if path.endswith(".h5"):
        warnings.warn(
            f"{path!r}: convlearn writes its own .keras format (a zip of JSON and NumPy arrays), not HDF5. "
            "convlearn.models.load_model reads it back; TensorFlow cannot. Prefer the .keras suffix.",
            stacklevel=3,
        )
    if not model.built:
        raise ValueError(
            f"save: model '{model.name}' is not built, so it has no weights to save. "
            "Give the first layer an input_shape or fit the model first."
        )
    config = {
        "class_name": type(model).__name__,
        "config": model.get_config(),
        "input_shape": _shape_to_json(model.input_shape),
        "weights": [{"path": path, "shape": list(w.shape), "dtype": str(w.dtype)}
                    for path, w in model.named_weights()],
    }
    members = {
        "metadata.json": json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                     "convlearn_version": __version__}).encode(),
        "model.weights.npz": _npz_bytes(model.get_weights()),
    }
    if model.compiled:
        config["compile_config"] = model.get_compile_config()
        if include_optimizer and model.optimizer.slots is not None:
            members["optimizer.npz"] = _npz_bytes(model.optimizer.get_state())
    members["config.json"] = json.dumps(config, indent=1).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    atomic_write_bytes(path, buf.getvalue())


def save_weights(model, filepath, overwrite=True):
    """Write only the weights, as an ``.npz`` archive (``.weights.npz``; ``.weights.h5`` accepted)."""
    path = _check_target(filepath, (".weights.npz", ".weights.h5"), "save_weights", "model.weights.npz", overwrite)
    atomic_write_bytes(path, _npz_bytes(model.get_weights()))


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

class _Archive:
    """Checked access to the members of a model file."""

    def __init__(self, path):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path)
        # RuntimeError (NotImplementedError): a damaged header claiming an unknown zip version
        except (zipfile.BadZipFile, RuntimeError, EOFError, ValueError):
            raise ValueError(
                f"{path!r} is not a convlearn model file, or it is corrupted or truncated "
                "(not a valid zip archive). Save it again with model.save('model.keras')."
            ) from None
        self.names = set(self.zf.namelist())

    def read(self, name, limit):
        if name not in self.names:
            raise ValueError(f"{self.path!r} is not a complete convlearn model file: '{name}' is missing.")
        info = self.zf.getinfo(name)
        if info.file_size > limit:
            raise ValueError(
                f"{self.path!r}: member '{name}' would inflate to {info.file_size} bytes, more than the "
                f"{limit}-byte limit; refusing to load it."
            )
        try:
            return self.zf.read(name)
        # zlib.error: damaged compressed data; RuntimeError (NotImplementedError included):
        # flipped flag bits that claim encryption or an unknown compression method
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, zlib.error) as exc:
            raise ValueError(f"{self.path!r} is corrupted: cannot read '{name}' ({exc}).") from None

    def json(self, name):
        try:
            return json.loads(self.read(name, _MAX_JSON_BYTES).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"{self.path!r} is corrupted: '{name}' is not valid JSON ({exc}).") from None

    def arrays(self, name, limit=_MAX_ARRAY_BYTES):
        data = self.read(name, limit)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                keys = sorted(npz.files)
                if keys != [f"{i:04d}" for i in range(len(keys))]:
                    raise ValueError("unexpected array names")
                return [npz[k] for k in keys]
        except ValueError as exc:
            raise ValueError(
                f"{self.path!r}: '{name}' is not a valid array archive ({exc}). Object arrays (pickle) are "
                "never loaded."
            ) from None
        except (OSError, EOFError, RuntimeError, MemoryError, zipfile.BadZipFile, zlib.error) as exc:
            raise ValueError(f"{self.path!r} is corrupted: cannot read the arrays in '{name}' ({exc}).") from None


def layer_from_config(item, custom_objects=None):
    """Rebuild one layer (or nested model) from ``{"class_name": ..., "config": {...}}``.

    Only classes of convlearn's registry, or given in ``custom_objects``, are built.
    """
    if not isinstance(item, dict) or not isinstance(item.get("class_name"), str) or not isinstance(item.get("config"), dict):
        raise ValueError(f"Invalid layer entry in the model config: {str(item)[:200]}")
    name = item["class_name"]
    cls = (custom_objects or {}).get(name) or LAYERS.get_class(name)
    if cls is None or cls is Layer:  # the abstract base computes nothing
        valid = [n for n in LAYERS.class_names() if n not in ("Layer", "Model")]
        raise ValueError(
            f"Unknown layer class {name!r} in the model config; this convlearn cannot build it. "
            f"Valid layer classes: {', '.join(valid)}. For a class of your own, pass "
            f"custom_objects={{{name!r}: {name}}} to load_model."
        )
    try:
        if custom_objects and "custom_objects" in _parameters(cls.from_config):
            return cls.from_config(dict(item["config"]), custom_objects=custom_objects)
        return cls.from_config(dict(item["config"]))
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"Invalid configuration for layer {name!r}: {exc}") from None


def _parameters(function):
    import inspect

    return inspect.signature(function).parameters


def _open(filepath):
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No model file at {path!r}. Check the path; models are saved with model.save('model.keras').")
    return _Archive(path)


def check_custom_objects(custom_objects):
    """``custom_objects`` as a dict of class name -> Layer or Model class.

    Raises
    ------
    ValueError
        If it is not such a dict.
    """
    if not custom_objects:
        return {}
    if not isinstance(custom_objects, dict):
        raise ValueError(f"load_model: `custom_objects` must be a dict mapping class names to classes, e.g. "
                         f"{{'MyModel': MyModel}}. Received: custom_objects={custom_objects!r:.200}.")
    for name, cls in custom_objects.items():
        if not isinstance(name, str) or not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise ValueError(
                f"load_model: `custom_objects` must map class names to your Layer or Model classes; "
                f"{name!r} maps to {cls!r:.100}. convlearn builds only layers and models from a file."
            )
    return dict(custom_objects)


def load_model(filepath, compile=True, custom_objects=None):
    """Read a model written by :func:`save_model`."""
    custom_objects = check_custom_objects(custom_objects)
    archive = _open(filepath)
    with archive.zf:
        meta = archive.json("metadata.json")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{archive.path!r} is not a convlearn model file (unknown format {meta!r:.100}).")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{archive.path!r} uses format version {meta.get('format_version')!r}; this convlearn reads "
                f"version {FORMAT_VERSION}. Upgrade convlearn."
            )
        unexpected = archive.names - set(_MEMBERS) - {"optimizer.npz"}
        if unexpected:
            # e.g. a damaged member name: loading on would silently drop that part
            raise ValueError(
                f"{archive.path!r} is corrupted or not written by convlearn: unexpected member(s) "
                f"{sorted(unexpected)!r:.200}."
            )
        config = archive.json("config.json")
        if not isinstance(config, dict):
            raise ValueError(f"{archive.path!r} is corrupted: config.json is not an object.")
        model = layer_from_config({"class_name": config.get("class_name"), "config": config.get("config")},
                                  custom_objects)
        if not model.built and isinstance(config.get("input_shape"), list):
            model.build_for(_shape_from_json(config["input_shape"]))
        if not model.built:
            raise ValueError(f"{archive.path!r}: the saved model has no input shape, so it cannot be rebuilt.")
        # The weights cannot be larger than the model that holds them (plus the npz headers):
        # a member claiming more is damaged or hostile and is not inflated.
        weight_bytes = sum(w.nbytes for w in model.weights)
        _assign_weights(model, archive.arrays("model.weights.npz", weight_bytes + _NPZ_SLACK), archive.path)
        compile_config = config.get("compile_config")
        if compile and isinstance(compile_config, dict):
            try:
                model.compile_from_config(compile_config)
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"{archive.path!r}: invalid compile settings ({exc}).") from None
            if "optimizer.npz" in archive.names:
                params = model.compiled_trainable_weights
                try:
                    limit = (1 + len(model.optimizer.slot_names)) * weight_bytes + _NPZ_SLACK
                    model.optimizer.set_state(archive.arrays("optimizer.npz", limit), params)
                except ValueError as exc:
                    raise ValueError(f"{archive.path!r}: optimizer state does not match the model ({exc}).") from None
    return model


def _shape_to_json(shape):
    return [list(s) for s in shape] if isinstance(shape, list) else list(shape)


def _shape_from_json(shape):
    if shape and isinstance(shape[0], list):
        return [tuple(s) for s in shape]
    return tuple(shape)


def _assign_weights(model, arrays, path):
    expected = model.weights
    if len(arrays) != len(expected):
        raise ValueError(f"{path!r} holds {len(arrays)} weight arrays; the model needs {len(expected)}.")
    for i, (saved, current) in enumerate(zip(arrays, expected)):
        if saved.shape != current.shape or saved.dtype.kind != "f":
            raise ValueError(
                f"{path!r}: weight array {i} has shape {saved.shape} and dtype {saved.dtype}; "
                f"the model needs shape {current.shape} ({current.dtype})."
            )
        if not np.isfinite(saved).all():
            raise ValueError(f"{path!r}: weight array {i} contains NaN or infinite values.")
    model.set_weights(arrays)


def load_weights(model, filepath):
    """Load weights into ``model`` from a ``save_weights`` file or a full model file."""
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights file at {path!r}.")
    if path.endswith((".keras", ".h5")) and not path.endswith(".weights.h5"):
        archive = _open(path)
        with archive.zf:
            arrays = archive.arrays("model.weights.npz")
    else:
        try:
            with np.load(path, allow_pickle=False) as npz:
                keys = sorted(npz.files)
                arrays = [npz[k] for k in keys]
        except (ValueError, OSError, EOFError, RuntimeError, MemoryError, zipfile.BadZipFile, zlib.error) as exc:
            raise ValueError(f"{path!r} is not a valid weights file, or it is corrupted ({exc}).") from None
    if not model.built:
        raise ValueError("load_weights: build the model first (input_shape on the first layer, or Input(...)).")
    _assign_weights(model, arrays, path)
