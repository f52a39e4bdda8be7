"""Saving and loading models: a zip of JSON and NumPy arrays, never pickle.

A ``.keras`` file written by convlearn holds:

- ``metadata.json``: format name and version;
- ``config.json``: the layers and their hyperparameters, the input shape and the
  compile settings (optimizer, loss, metrics);
- ``model.weights.npz``: the weights, in :meth:`Sequential.get_weights` order;
- ``optimizer.npz``: the optimizer's state (step count, momenta), to resume training.

Nothing is unpickled and every part is checked, so a corrupted, truncated or
hostile file gives a clear error and executes nothing. Reading is bounded before
anything large is allocated (see :mod:`convlearn._limits`): zip members are
inflated in chunks and refused past the size the model needs, every array's
``.npy`` header (shape, dtype) is checked against the model's weights before
its data are read, member names must be unique, and the weights that the config
asks for are counted as the layers are built, refused past ``max_weights``
(20 million by default: 80 MB in float32). So a file of a few kB, or a
megabyte of compressed zeros, cannot make loading allocate more than the model
it describes needs: its weights, one of the file's arrays at a time, and (when
compiled) the optimizer's state.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import warnings
import zipfile

import numpy as np

from .. import __version__
from .._io import as_path, atomic_write_bytes, check_regular_file
from .._checks import all_finite
from .._limits import (
    DEFAULT_MAX_WEIGHTS,
    FileError,
    NpzArrays,
    check_max_weights,
    member_name,
    open_zip,
    read_member,
    spool_member,
    weight_budget,
)
from ..layers import LAYERS, Layer

__all__ = ["DEFAULT_MAX_WEIGHTS", "load_model", "load_weights", "save_model", "save_weights"]

FORMAT = "convlearn-model"
FORMAT_VERSION = 1
_MAX_METADATA_BYTES = 2**16           # metadata.json is a line
_MAX_CONFIG_BYTES = 4 * 2**20         # a config is a few kB; refuse absurd sizes (JSON takes ~20x in Python)
_NPZ_SLACK = 2**20                    # room for the zip and .npy headers around the raw arrays
_PER_ARRAY_SLACK = 1024               # one member's zip and .npy headers
_MAX_ITEMSIZE = 8                     # arrays are read as float16, float32 or float64 (int64 step count)
_MEMBERS = ("metadata.json", "config.json", "model.weights.npz")
_WEIGHTS_LAYOUT = ("the way save_weights writes weights (one array per weight, in model.get_weights() order; "
                   "write it with model.save_weights('model.weights.npz'), or load the arrays yourself and "
                   "call model.set_weights([...]))")


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def _npz_bytes(arrays):
    buf = io.BytesIO()
    # np.asarray, not np.ascontiguousarray: the latter turns a 0-d array (the step count) into shape (1,)
    np.savez(buf, **{member_name(i).removesuffix(".npy"): np.asarray(a) for i, a in enumerate(arrays)})
    return buf.getvalue()


def _check_target(filepath, suffixes, what, example, overwrite):
    path = as_path(filepath, what)
    if not path.endswith(suffixes):
        raise ValueError(
            f"{what}: the file name must end with {' or '.join(suffixes)}; got {path!r}. Use e.g. {example!r}."
        )
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what}: {path!r} is a folder. Give a file name such as {example!r}.")
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
    """Checked, bounded access to the members of a model file; a context manager that closes it all."""

    def __init__(self, path):
        self.path = path
        self.label = repr(path)
        self.zf = open_zip(path, self.label, (
            f"{path!r} is not a convlearn model file, or it is corrupted or truncated (not a valid zip "
            "archive). Save it again with model.save('model.keras')."))
        self.names = set(self.zf.namelist())
        self._open = contextlib.ExitStack()
        self._open.callback(self.zf.close)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._open.close()

    def read(self, name, limit):
        if name not in self.names:
            raise FileError(f"{self.label} is not a complete convlearn model file: '{name}' is missing.")
        return read_member(self.zf, name, limit, self.label)

    def json(self, name, limit):
        try:
            return json.loads(self.read(name, limit).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise FileError(f"{self.label} is corrupted: '{name}' is not valid JSON ({exc}).") from None

    def arrays(self, name, limit, check, layout):
        """The arrays of the ``.npz`` member ``name`` (at most ``limit`` bytes), read lazily and checked."""
        if name not in self.names:
            raise FileError(f"{self.label} is not a complete convlearn model file: '{name}' is missing.")
        spooled = self._open.enter_context(spool_member(self.zf, name, limit, self.label))
        label = f"{self.label}: '{name}'"
        npz = self._open.enter_context(open_zip(spooled, label, f"{label} is not a valid array archive "
                                                               "(not a zip of .npy arrays)."))
        return NpzArrays(npz, label, check, layout)


def _npz_limit(shapes):
    """The most bytes an .npz of arrays of ``shapes`` may take (float64 data, headers, slack)."""
    return sum(_MAX_ITEMSIZE * math.prod(s) + _PER_ARRAY_SLACK for s in shapes) + _NPZ_SLACK


def _weights_check(expected, label):
    """The check of :class:`NpzArrays` for the weights ``expected`` (a list of arrays)."""
    def check(i, header):
        want = expected[i]
        if header.shape != want.shape or header.dtype.kind != "f" or header.dtype.itemsize > _MAX_ITEMSIZE:
            raise FileError(f"{label}: weight array {i} has shape {header.shape} and dtype {header.dtype}; "
                            f"the model needs shape {want.shape} ({want.dtype}).")
    return check


def _weight_arrays(npz, expected, path):
    """The weight arrays of ``npz`` (an NpzArrays) one at a time, checked: count, shapes, dtypes, finite values."""
    if len(npz) != len(expected):
        raise FileError(f"{path!r} holds {len(npz)} weight arrays; the model needs {len(expected)}.")
    for i, saved in enumerate(npz):
        if not all_finite(saved):
            raise FileError(f"{path!r}: weight array {i} contains NaN or infinite values.")
        yield saved


def _optimizer_check(params, slot_names, label):
    """The check of :class:`NpzArrays` for what ``Optimizer.get_state`` writes: the step count, then
    one array per slot name per trainable weight."""
    def check(i, header):
        kind, itemsize = header.dtype.kind, header.dtype.itemsize
        if i == 0:
            if math.prod(header.shape) != 1 or kind not in "iu" or itemsize > _MAX_ITEMSIZE:
                raise FileError(f"{label}: the step count must be one integer; array 0 has shape {header.shape} "
                                f"and dtype {header.dtype}.")
            return
        k = (i - 1) // len(slot_names) if slot_names else len(params)
        if k >= len(params):
            raise FileError(f"{label} holds more arrays than the optimizer's state has.")
        if header.shape != params[k].shape or kind != "f" or itemsize > _MAX_ITEMSIZE:
            raise FileError(f"{label}: array {i} has shape {header.shape} and dtype {header.dtype}; the "
                            f"optimizer state of weight {k} has shape {params[k].shape} ({params[k].dtype}).")
    return check


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
    except FileError:   # the weight budget: its message is the one to show, not wrapped in each layer's
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"Invalid configuration for layer {name!r}: {exc}") from None


def _parameters(function):
    import inspect

    return inspect.signature(function).parameters


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


def _open_model_file(filepath, what):
    path = as_path(filepath, what)
    check_regular_file(path, "model file")
    return _Archive(path)


def load_model(filepath, compile=True, custom_objects=None, max_weights=None):
    """Read a model written by :func:`save_model`.

    Parameters
    ----------
    filepath : str, bytes or os.PathLike
        A ``.keras`` file.
    compile : bool, default True
        Restore the compile settings and the optimizer's state.
    custom_objects : dict, optional
        Class name -> your own Layer or Model class, for the classes in the file
        that are not convlearn's.
    max_weights : int, optional
        The most weights (numbers) the file's model may have; default
        :data:`DEFAULT_MAX_WEIGHTS`, 20 million (80 MB in float32). Pass a larger
        number for a larger model from a file you trust.

    Loading allocates the model's weights and one of the file's arrays at a
    time, plus the optimizer's state with ``compile=True`` (Adam: two copies of
    the trainable weights); the weights are counted as the layers are built and
    the load is refused past ``max_weights``, before they are allocated.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``filepath``.
    ValueError
        If it is not a regular file, not a convlearn model, is corrupted or
        truncated, or asks for more than ``max_weights`` weights.
    """
    custom_objects = check_custom_objects(custom_objects)
    max_weights = check_max_weights(max_weights)
    with _open_model_file(filepath, "load_model") as archive:
        path = archive.path
        meta = archive.json("metadata.json", _MAX_METADATA_BYTES)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{path!r} is not a convlearn model file (unknown format {meta!r:.100}).")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path!r} uses format version {meta.get('format_version')!r}; this convlearn reads "
                f"version {FORMAT_VERSION}. Upgrade convlearn."
            )
        unexpected = archive.names - set(_MEMBERS) - {"optimizer.npz"}
        if unexpected:
            # e.g. a damaged member name: loading on would silently drop that part
            raise ValueError(
                f"{path!r} is corrupted or not written by convlearn: unexpected member(s) "
                f"{sorted(unexpected)!r:.200}."
            )
        config = archive.json("config.json", _MAX_CONFIG_BYTES)
        if not isinstance(config, dict):
            raise ValueError(f"{path!r} is corrupted: config.json is not an object.")
        model = _rebuild(config, custom_objects, max_weights, path)
        if not model.built:
            raise ValueError(f"{path!r}: the saved model has no input shape, so it cannot be rebuilt.")
        expected = model.weights
        npz = archive.arrays("model.weights.npz", _npz_limit([w.shape for w in expected]),
                             _weights_check(expected, repr(path)), "as convlearn writes a model's weights")
        for target, saved in zip(expected, _weight_arrays(npz, expected, path)):
            target[...] = saved     # a fresh model, thrown away on failure: no copy of all the weights is kept
        compile_config = config.get("compile_config")
        if compile and isinstance(compile_config, dict):
            try:
                model.compile_from_config(compile_config)
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"{path!r}: invalid compile settings ({exc}).") from None
            if "optimizer.npz" in archive.names:
                _load_optimizer_state(model, archive)
    return model


def _rebuild(config, custom_objects, max_weights, path):
    """The model of ``config``, built, its weights counted against ``max_weights`` (and allocated as zeros)."""
    try:
        with weight_budget(max_weights, repr(path)):
            model = layer_from_config({"class_name": config.get("class_name"), "config": config.get("config")},
                                      custom_objects)
            if not model.built and isinstance(config.get("input_shape"), list):
                model.build_for(_shape_from_json(config["input_shape"]))
    except FileError:
        raise
    # the config is data from the file: whatever a layer raises on it, say which file it came from
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        raise ValueError(f"{path!r}: the model config cannot be rebuilt ({exc}).") from None
    return model


def _load_optimizer_state(model, archive):
    """Restore the optimizer's state from ``optimizer.npz``, one array at a time."""
    params = model.compiled_trainable_weights
    slot_names = model.optimizer.slot_names
    shapes = [()] + [p.shape for p in params for _ in slot_names]
    label = f"{archive.label}: 'optimizer.npz'"
    state = archive.arrays("optimizer.npz", _npz_limit(shapes), _optimizer_check(params, slot_names, label),
                           "as convlearn writes an optimizer's state")
    try:
        model.optimizer.set_state(state, params)
    except FileError:
        raise
    except ValueError as exc:
        raise ValueError(f"{archive.label}: optimizer state does not match the model ({exc}).") from None


def _shape_to_json(shape):
    return [list(s) for s in shape] if isinstance(shape, list) else list(shape)


def _shape_from_json(shape):
    if shape and isinstance(shape[0], list):
        return [tuple(s) for s in shape]
    return tuple(shape)


def load_weights(model, filepath):
    """Load weights into ``model`` from a ``save_weights`` file or a full model file.

    The file must be laid out as :func:`save_weights` writes it (arrays named
    ``0000``, ``0001``, ... in ``model.get_weights()`` order); every array's
    shape and dtype are checked from its header before its data are read, and
    nothing is set unless every array is right.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``filepath``.
    ValueError
        If the model is not built, or the file is not such a file, is damaged,
        or its arrays do not fit the model.
    """
    path = as_path(filepath, "load_weights")
    check_regular_file(path, "weights file")
    if not model.built:
        raise ValueError("load_weights: build the model first (input_shape on the first layer, or Input(...)).")
    read_weights(model, path)


def read_weights(model, path):
    """:func:`load_weights` once ``path`` is known to be a regular file and ``model`` built."""
    expected = model.weights
    check = _weights_check(expected, repr(path))
    if path.endswith((".keras", ".h5")) and not path.endswith(".weights.h5"):
        with _Archive(path) as archive:
            npz = archive.arrays("model.weights.npz", _npz_limit([w.shape for w in expected]), check,
                                 "as convlearn writes a model's weights")
            arrays = list(_weight_arrays(npz, expected, path))
    else:
        with open_zip(path, repr(path), f"{path!r} is not a valid weights file, or it is corrupted (not a zip "
                                        "of arrays). Write one with model.save_weights('model.weights.npz').") as zf:
            arrays = list(_weight_arrays(NpzArrays(zf, repr(path), check, _WEIGHTS_LAYOUT), expected, path))
    model.set_weights(arrays)       # all read and checked first: nothing is half-set
