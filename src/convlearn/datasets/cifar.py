"""Shared by the CIFAR-10 and CIFAR-100 loaders: find the archive, check it, read its pickled batches safely.

The CIFAR archives hold Python pickles. Unpickling can run any code a file
names, so convlearn reads them with :class:`RestrictedUnpickler`, which
rebuilds only what a CIFAR batch is made of (dicts, lists, bytes, str, ints
and NumPy arrays of numbers) and refuses every other global before anything
runs. Each batch is read with a size limit from the archive's members
directly (nothing is extracted), then checked: the pixel array's shape and
dtype, one label per image, labels in range.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np

from convlearn._io import check_regular_file
from convlearn.datasets.download import DownloadError, get_file, hash_file

__all__ = ["RestrictedUnpickler", "load_dataset", "restricted_loads"]

PIXELS = 32 * 32 * 3                          # one image: 3 channel planes of 32 x 32, channel first

# The only globals a CIFAR pickle needs: NumPy's array and dtype rebuilders (NumPy 1 and 2 spellings).
_ALLOWED = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),            # arrays in pickle protocol 5
    ("numpy._core.numeric", "_frombuffer"),
})


def _latin1_bytes(text, encoding="utf-8"):
    """How a protocol-2 pickle written by Python 3 spells bytes: ``_codecs.encode(text, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refusing _codecs.encode other than to rebuild bytes from latin-1 text")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds dicts, lists, tuples, bytes, str, numbers and NumPy arrays, and nothing else.

    The globals allowed are NumPy's array rebuilders and, for bytes in protocol-2 pickles written
    by Python 3, ``_codecs.encode`` restricted to latin-1 text.

    Any other global (``os.system``, ``builtins.eval``, a class) is refused with a
    ``pickle.UnpicklingError`` before it is looked up, so a hostile file cannot run code.
    """

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return _latin1_bytes
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load the global {module}.{name}: a data file may only hold dicts, lists, bytes, "
            "str, numbers and NumPy arrays"
        )

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id: a data file may not reference outside objects")


def restricted_loads(data, source):
    """Unpickle ``data`` (bytes) with :class:`RestrictedUnpickler`; errors name ``source``.

    Raises
    ------
    ValueError
        If the pickle names a forbidden global, is truncated, or is not a pickle; or if it holds
        a NumPy array of Python objects.
    """
    try:
        value = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{source} is not a CIFAR data file convlearn will read: {exc}. "
                         "Delete it and get the original archive again.") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError,
            MemoryError) as exc:
        raise ValueError(f"{source} is damaged: cannot unpickle it ({type(exc).__name__}: {exc}). "
                         "Delete it and get the original archive again.") from None
    _refuse_objects(value, source)
    return value


def _refuse_objects(value, source, depth=0):
    """Walk what was unpickled: only plain containers, scalars and numeric arrays."""
    if depth > 20:
        raise ValueError(f"{source} nests its data more than 20 levels deep; a CIFAR batch does not.")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{source} holds a NumPy array of dtype {value.dtype}; a CIFAR batch holds numbers.")
    elif isinstance(value, dict):
        for k, v in value.items():
            _refuse_objects(k, source, depth + 1)
            _refuse_objects(v, source, depth + 1)
    elif isinstance(value, (list, tuple)):
        if value and all(type(v) in (int, bytes, str) for v in value):
            return                                     # a list of labels or file names: nothing nested
        for v in value:
            _refuse_objects(v, source, depth + 1)
    elif not isinstance(value, (bytes, str, int, float, bool, type(None))):
        raise ValueError(f"{source} holds a {type(value).__name__}; a CIFAR batch holds dicts, lists and "  # noqa: TRY004
                         "arrays.")


def _limit(rows):
    """The most bytes a pickled batch of ``rows`` images may take: the pixels, plus labels and file names."""
    return rows * (PIXELS + 256) + (1 << 20)


def parse_batch(data, source, label_key, rows, classes):
    """A pickled batch -> (images (rows, 32, 32, 3) uint8, labels (rows,) int64), checked."""
    batch = restricted_loads(data, source)
    if not isinstance(batch, dict):
        raise ValueError(f"{source} holds a {type(batch).__name__}, not a CIFAR batch (a dict).")  # noqa: TRY004
    keys = {k.decode("utf8", "replace") if isinstance(k, bytes) else str(k): v for k, v in batch.items()}
    if "data" not in keys or label_key not in keys:
        raise ValueError(f"{source} is not a CIFAR batch: it lacks the key 'data' or '{label_key}' "
                         f"(it has {sorted(keys)}).")
    pixels, labels = keys["data"], keys[label_key]
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.shape != (rows, PIXELS):
        got = f"shape {pixels.shape}, dtype {pixels.dtype}" if isinstance(pixels, np.ndarray) else type(pixels)
        raise ValueError(f"{source}: 'data' must be uint8 of shape ({rows}, {PIXELS}); got {got}.")
    labels = np.asarray(labels)
    if labels.shape != (rows,) or labels.dtype.kind not in "iu" or (rows and (labels.min() < 0
                                                                               or labels.max() >= classes)):
        raise ValueError(f"{source}: '{label_key}' must be {rows} integer labels in 0..{classes - 1}; got "
                         f"shape {labels.shape}, dtype {labels.dtype}.")
    images = pixels.reshape(rows, 3, 32, 32).transpose(0, 2, 3, 1)          # (rows, 32, 32, 3)
    return np.ascontiguousarray(images), labels.astype(np.int64)


class Spec:
    """What one CIFAR dataset looks like on disk and where it comes from."""

    def __init__(self, title, archive, folder, origin, sha256, members, keras_names):
        self.title = title              # "CIFAR-10"
        self.archive = archive          # "cifar-10-python.tar.gz"
        self.folder = folder            # "cifar-10-batches-py": the folder inside the archive
        self.origin = origin
        self.sha256 = sha256
        self.members = members          # {"train": [(name, rows), ...], "test": [(name, rows)]}
        self.keras_names = keras_names  # Keras's names for the archive and its extraction folder


def search_folders():
    """The folders searched for the archives, in order: $CONVLEARN_DATA, ~/.convlearn/datasets, Keras's cache."""
    folders = []
    env = os.environ.get("CONVLEARN_DATA")
    if env:
        folders.append(Path(env).expanduser())
    folders.append(Path.home() / ".convlearn" / "datasets")
    keras_home = os.environ.get("KERAS_HOME")
    folders.append((Path(keras_home).expanduser() if keras_home else Path.home() / ".keras") / "datasets")
    return folders


def _candidates(spec, base):
    """(kind, path) of every place a copy may be in ``base``: archives first, then extracted folders."""
    archive_3, folder_3 = spec.keras_names
    return [("archive", base / spec.archive), ("archive", base / archive_3),
            ("archive", base / (spec.folder + ".tar.gz")),
            ("folder", base / spec.folder), ("folder", base / folder_3 / spec.folder)]


def _read_archive(spec, path, label_key, classes):
    digest = hash_file(path, "sha256")
    if digest != spec.sha256:
        raise ValueError(
            f"{path} is not the {spec.title} archive convlearn expects: its SHA-256 is {digest}, expected "
            f"{spec.sha256} (the digest Keras publishes). It may be damaged or incomplete: delete it and "
            f"download {spec.origin} again."
        )
    parts = {}
    with tarfile.open(path, "r:gz") as tar:
        for split, members in spec.members.items():
            chunks = []
            for name, rows in members:
                member_name = f"{spec.folder}/{name}"
                try:
                    member = tar.getmember(member_name)
                except KeyError:
                    raise ValueError(f"{path} lacks {member_name}; it is not the {spec.title} archive.") from None
                if not member.isfile() or member.size > _limit(rows):
                    raise ValueError(f"{path}: {member_name} is not a regular file of at most {_limit(rows):,} "
                                     f"bytes (it is {member.size:,}).")
                data = tar.extractfile(member).read(_limit(rows) + 1)
                chunks.append(parse_batch(data, f"{path}:{member_name}", label_key, rows, classes))
            parts[split] = chunks
    return parts


def _read_folder(spec, folder, label_key, classes):
    parts = {}
    for split, members in spec.members.items():
        chunks = []
        for name, rows in members:
            file = folder / name
            if not file.exists():
                raise FileNotFoundError(f"{folder} lacks {name}")
            check_regular_file(str(file), f"{spec.title} batch")
            size = file.stat().st_size
            if size > _limit(rows):
                raise ValueError(f"{file} is {size:,} bytes, more than a {spec.title} batch of {rows} images "
                                 f"takes ({_limit(rows):,}).")
            chunks.append(parse_batch(file.read_bytes(), str(file), label_key, rows, classes))
        parts[split] = chunks
    return parts


def _complete_folder(spec, folder):
    return folder.is_dir() and all((folder / name).is_file() for ms in spec.members.values() for name, _ in ms)


def load_dataset(spec, label_key, classes, label_dtype, path=None, download=True):
    """Find (or download) the archive, read it, and return Keras-style ``(x_train, y_train), (x_test, y_test)``."""
    places = []
    if path is not None:
        path = Path(os.fspath(path)).expanduser()
        if path.is_file():
            places = [("archive", path)]
        else:
            places = [("folder", path)] + _candidates(spec, path)
    else:
        for base in search_folders():
            places += _candidates(spec, base)
    found = None
    for kind, place in places:
        if kind == "archive" and place.is_file():
            found = (kind, place)
            break
        if kind == "folder" and _complete_folder(spec, place):
            found = (kind, place)
            break
    target = Path.home() / ".convlearn" / "datasets" / spec.archive
    if found is None and path is None and download:
        try:
            found = ("archive", Path(get_file(spec.archive, spec.origin, file_hash=spec.sha256,
                                              cache_dir=Path.home() / ".convlearn")))
        except DownloadError as exc:
            failure = f"\nThe download failed: {exc}"
        else:
            failure = ""
    else:
        failure = ""
    if found is None:
        searched = "\n".join(f"  {p}" for _, p in places)
        raise FileNotFoundError(
            f"{spec.title} not found. Places searched:\n{searched}{failure}\n"
            f"To use it offline, download {spec.origin}\n"
            f"(SHA-256 {spec.sha256}) and put it at {target}\n"
            "(or in $CONVLEARN_DATA, or pass its path as load_data(path=...)); Keras's cached copy in "
            "~/.keras/datasets is used too."
        )
    kind, place = found
    reader = _read_archive if kind == "archive" else _read_folder
    parts = reader(spec, place, label_key, classes)
    out = []
    for split in ("train", "test"):
        images = np.concatenate([x for x, _ in parts[split]])                 # (N, 32, 32, 3) uint8
        labels = np.concatenate([y for _, y in parts[split]]).astype(label_dtype).reshape(-1, 1)   # (N, 1)
        out.append((images, labels))
    return tuple(out)
