"""Saving and loading models in Keras's formats; never pickle, never code from a file.

- ``model.save("model.keras")`` writes Keras 3's format (:mod:`.keras_format`):
  Keras opens it with ``keras.saving.load_model``, and convlearn opens the
  ``.keras`` files Keras writes.
- ``model.save("model.h5")`` writes the legacy HDF5 format (:mod:`.legacy_h5`)
  as Keras 3 does, with a warning that it is legacy; ``load_model`` reads the
  ``.h5`` files of Keras 2 / tf.keras and Keras 3.
- ``model.save_weights("model.weights.h5")`` writes Keras's weights file;
  ``.weights.npz`` (convlearn 0.1's arrays) is still written and read.
- Files in convlearn 0.1's own format (a zip with ``model.weights.npz``) still
  load (:mod:`.v01`).

Loading is bounded and guarded whatever the format: JSON and HDF5 are parsed,
classes come only from convlearn's registry or ``custom_objects``, the weights
the config asks for are counted against ``max_weights`` before they are
allocated, HDF5 links, external and virtual datasets are refused, and every
array's shape and dtype are checked before its data are read.
"""

from __future__ import annotations

import warnings

from .._io import as_path, atomic_write_bytes, check_regular_file
from .._limits import DEFAULT_MAX_WEIGHTS, FileError, check_max_weights
from . import keras_format, legacy_h5, v01
from ._hdf5 import is_hdf5
from .v01 import check_custom_objects, layer_from_config

__all__ = ["DEFAULT_MAX_WEIGHTS", "check_custom_objects", "convert", "layer_from_config", "load_model",
           "load_weights", "save_model", "save_weights"]

_H5_SUFFIXES = (".h5", ".hdf5")


def _check_target(filepath, suffixes, what, example, overwrite):
    return v01._check_target(filepath, suffixes, what, example, overwrite)


def _check_built(model, what):
    if not model.built:
        raise ValueError(
            f"{what}: model '{model.name}' is not built, so it has no weights to save. "
            "Give the first layer an input_shape or fit the model first."
        )


def save_model(model, filepath, overwrite=True, zipped=None, include_optimizer=True):
    """Write ``model`` to ``filepath``: Keras 3's ``.keras`` zip, or the legacy ``.h5`` (with a warning).

    The file is written to a temporary name and renamed into place, so an
    interrupted save never leaves a broken file behind.

    Raises
    ------
    ValueError
        For another suffix, an unbuilt model or a model Keras's format cannot hold (a subclassed model).
    FileExistsError
        If the file exists and ``overwrite`` is False.
    """
    if zipped is False:
        raise ValueError("save: zipped=False (a folder instead of a .keras zip) is not supported by convlearn; "
                         "leave `zipped` unset.")
    path = _check_target(filepath, (".keras",) + _H5_SUFFIXES, "save", "model.keras", overwrite)
    _check_built(model, "save")
    if path.endswith(_H5_SUFFIXES):
        warnings.warn(
            f"{path!r}: the HDF5 (.h5) format is legacy; Keras 3 and convlearn prefer the .keras format. Save "
            "with model.save('model.keras') unless an older program needs the .h5 file.",
            UserWarning, stacklevel=3,
        )
        data = legacy_h5.save_model(model, include_optimizer)
    else:
        data = keras_format.save_model(model, path, include_optimizer)
    atomic_write_bytes(path, data)


def save_weights(model, filepath, overwrite=True):
    """Write only the weights: Keras's ``.weights.h5`` (and the optimizer's state once compiled, as Keras),
    or convlearn 0.1's ``.weights.npz`` arrays."""
    path = _check_target(filepath, (".weights.h5", ".weights.npz"), "save_weights", "model.weights.h5", overwrite)
    _check_built(model, "save_weights")
    if path.endswith(".weights.npz"):
        v01.save_weights(model, path, overwrite=overwrite)
        return
    atomic_write_bytes(path, keras_format.write_weights_h5(model))


def _head(path):
    with open(path, "rb") as fp:
        return fp.read(8)


def load_model(filepath, compile=True, custom_objects=None, max_weights=None, safe_mode=True):
    """Read a model: Keras 3's ``.keras``, a legacy ``.h5``, or convlearn 0.1's ``.keras``.

    Parameters
    ----------
    filepath : str, bytes or os.PathLike
    compile : bool, default True
        Restore the compile settings and the optimizer's state (step count, slots).
    custom_objects : dict, optional
        Class name -> your own Layer or Model class, for classes in the file
        that are not convlearn's. Nothing else a file names is ever looked up.
    max_weights : int, optional
        The most weights (numbers) the file's model may have; default
        :data:`DEFAULT_MAX_WEIGHTS`, 20 million (80 MB in float32).
    safe_mode : bool, default True
        Accepted for Keras compatibility; convlearn never runs code from a file either way.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``filepath``.
    ValueError
        If the file is not a model file, is damaged or hostile, asks for more than
        ``max_weights`` weights, or names a layer, option or optimizer convlearn does not have.
    """
    custom_objects = check_custom_objects(custom_objects)
    max_weights = check_max_weights(max_weights)
    path = as_path(filepath, "load_model")
    check_regular_file(path, "model file")
    label = repr(path)
    if is_hdf5(_head(path)):
        return legacy_h5.load_model(path, label, compile, custom_objects, max_weights)
    with keras_format.open_keras_zip(path, label) as zf:
        meta = keras_format.read_metadata(zf, label)
        if meta.get("format") == v01.FORMAT:
            kind = "convlearn"
        elif isinstance(meta.get("keras_version"), str):
            kind = "keras"
        else:
            raise FileError(f"{label} is not a Keras or convlearn model file (its metadata.json is "
                            f"{str(meta)[:100]}).")
        if kind == "keras":
            return keras_format.load_model(path, zf, label, compile, custom_objects, max_weights)
    return v01.load_model(path, compile=compile, custom_objects=custom_objects, max_weights=max_weights)


def load_weights(model, filepath):
    """Load weights into the built ``model`` from a ``.weights.h5``, ``.weights.npz``, ``.keras`` or ``.h5`` file.

    Every array's shape is checked before its data are read, and nothing is set
    unless every array fits.

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
    label = repr(path)
    if is_hdf5(_head(path)):
        from ._hdf5 import SafeH5

        with open(path, "rb") as fp, SafeH5(fp, label) as h5:
            legacy = h5.group("model_weights")
            if legacy is not None:           # a legacy .h5 model file: its weights, all read before any is set
                for target, value in legacy_h5.read_weights(h5, legacy, model):
                    target[...] = value
                return
        keras_format.load_weights_h5(model, path, label)
        return
    if path.endswith(".keras"):
        with keras_format.open_keras_zip(path, label) as zf:
            if isinstance(keras_format.read_metadata(zf, label).get("keras_version"), str):
                keras_format.check_members(zf, label, {keras_format.METADATA, keras_format.CONFIG,
                                                       keras_format.WEIGHTS})
                from .._limits import spool_member
                from ._hdf5 import SafeH5

                with spool_member(zf, keras_format.WEIGHTS, keras_format.h5_limit(model, True), label) as spooled, \
                        SafeH5(spooled, f"{label}: '{keras_format.WEIGHTS}'") as h5:
                    for target, value in keras_format.read_layer_weights(h5, model):
                        target[...] = value
                return
    v01.read_weights(model, path)


def convert(source, target, overwrite=True, max_weights=None):
    """Convert a model file between ``.keras`` and ``.h5`` (either way; also convlearn 0.1 files).

    Returns
    -------
    Model
        The model read from ``source``.
    """
    model = load_model(source, max_weights=max_weights)
    target_path = as_path(target, "convert")
    if target_path.endswith(_H5_SUFFIXES):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)      # asked for on purpose
            save_model(model, target_path, overwrite=overwrite)
    else:
        save_model(model, target_path, overwrite=overwrite)
    return model

