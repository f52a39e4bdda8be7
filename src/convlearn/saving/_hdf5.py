"""Reading HDF5 files that may be hostile: plain groups, attributes and datasets only, sizes checked first.

Keras keeps weights in HDF5 (``model.weights.h5`` inside a ``.keras`` zip,
``.weights.h5`` files, legacy ``.h5`` models). HDF5 can do far more than hold
arrays: a link may point into another file (external link) or to another path
(soft link), a dataset may keep its data in other files (external storage) or
be stitched from other datasets (virtual dataset), and a header may declare an
array of any size. :class:`SafeH5` opens a file with h5py and, before anything
is read,

- walks every link of the file (without following any) and refuses soft and
  external links, more than :data:`MAX_OBJECTS` objects or a nesting deeper than
  :data:`MAX_DEPTH`;
- refuses every dataset whose data live outside the file or come from other
  datasets, and every dataset that is not a plain numeric array;

and then gives access by path, one component at a time (no ``/`` at the start,
no ``.`` or ``..``), and reads a dataset only after its caller has checked the
shape and dtype it declares (:meth:`SafeH5.dataset` then :meth:`SafeH5.read`).
Nothing in a file is ever imported or run: the file holds numbers and text.
"""

from __future__ import annotations

import math

import numpy as np

from .._limits import FileError, LimitError

#: The most objects (groups and datasets) a weights file may hold; a real one has a few per layer.
MAX_OBJECTS = 100_000
#: The deepest nesting of groups read (Keras nests a group or two per model level).
MAX_DEPTH = 64
#: The largest attribute read (a legacy model config is a few kB).
MAX_ATTRIBUTE_BYTES = 4 * 2**20
_MAX_ITEMSIZE = 8
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def h5py_module():
    """h5py, imported on first use (a dependency of convlearn), with a clear message if it is missing."""
    try:
        import h5py
    except ImportError:     # pragma: no cover - h5py is a dependency
        raise ImportError("Reading and writing Keras files needs h5py: pip install h5py.") from None
    return h5py


def is_hdf5(head):
    """Whether the bytes ``head`` (the first eight or more of a file) start an HDF5 file."""
    return head[:8] == HDF5_SIGNATURE


class SafeH5:
    """A checked, read-only view of an HDF5 file; a context manager that closes it.

    Parameters
    ----------
    file : str or binary file object
    label : str
        The file as messages name it (``"'model.keras': 'model.weights.h5'"``).
    """

    def __init__(self, file, label):
        h5py = h5py_module()
        self.label = label
        try:
            self.f = h5py.File(file, "r")
        except (OSError, ValueError) as exc:
            raise FileError(f"{label} is not a valid HDF5 file, or it is damaged or truncated ({exc}).") from None
        try:
            self._check_tree()
        except BaseException:
            self.f.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.f.close()

    # -- the walk of the whole file, before anything is read --------------------

    def _check_tree(self):
        h5py = h5py_module()
        count = 0
        stack = [(self.f, "", 0)]
        while stack:
            group, path, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise LimitError(f"{self.label}: groups nest deeper than {MAX_DEPTH} levels at '{path}'; a weights "
                                 "file nests a few. The file is damaged or hostile.")
            try:
                names = list(group.keys())
            except (OSError, RuntimeError, ValueError) as exc:
                raise FileError(f"{self.label} is damaged: cannot list the group '/{path}' ({exc}).") from None
            for name in names:
                count += 1
                if count > MAX_OBJECTS:
                    raise LimitError(f"{self.label} holds more than {MAX_OBJECTS:,} objects; a weights file holds a "
                                     "few per layer. Refusing to read it.")
                where = f"{path}/{name}" if path else name
                try:
                    link = group.get(name, getlink=True)
                except (OSError, RuntimeError, ValueError, KeyError) as exc:
                    raise FileError(f"{self.label} is damaged: cannot read the link '/{where}' ({exc}).") from None
                if isinstance(link, h5py.ExternalLink):
                    raise FileError(
                        f"{self.label}: '/{where}' is an external link to {link.filename!r}:{link.path!r}. Weights "
                        "files hold their arrays themselves; a link to another file is refused (it could read any "
                        "file of this computer)."
                    )
                if isinstance(link, h5py.SoftLink):
                    raise FileError(f"{self.label}: '/{where}' is a soft link to {link.path!r}. Weights files hold "
                                    "no links; refusing to follow it.")
                if not isinstance(link, h5py.HardLink):
                    raise FileError(f"{self.label}: '/{where}' is a link of an unknown kind; refusing it.")
                try:
                    obj = group[name]
                except (OSError, RuntimeError, ValueError, KeyError) as exc:
                    raise FileError(f"{self.label} is damaged: cannot open '/{where}' ({exc}).") from None
                if isinstance(obj, h5py.Group):
                    stack.append((obj, where, depth + 1))
                elif isinstance(obj, h5py.Dataset):
                    self._check_dataset(obj, where)
                else:
                    raise FileError(f"{self.label}: '/{where}' is a {type(obj).__name__}, not a group or an array.")

    def _check_dataset(self, ds, where):
        try:
            virtual, external = ds.is_virtual, ds.id.get_create_plist().get_external_count()
        except (OSError, RuntimeError, TypeError, ValueError) as exc:
            raise FileError(f"{self.label} is damaged: cannot read the header of '/{where}' ({exc}).") from None
        if virtual:
            raise FileError(f"{self.label}: '/{where}' is a virtual dataset (its data come from other datasets or "
                            "files). Weights files hold plain arrays; refusing it.")
        if external > 0:
            raise FileError(f"{self.label}: '/{where}' keeps its data in external files. Weights files hold "
                            "their arrays themselves; refusing it.")

    # -- access by path ----------------------------------------------------------

    def _split(self, path):
        parts = path.split("/") if path else []
        if path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise FileError(f"{self.label}: the path {path!r} is not a plain path inside the file.")
        return parts

    def get(self, path, default=None):
        """The group or dataset at ``path`` (relative, ``a/b/c``), or ``default`` when there is none."""
        obj = self.f
        for part in self._split(path):
            h5py = h5py_module()
            try:
                if not isinstance(obj, h5py.Group) or part not in obj:
                    return default
                obj = obj[part]
            except (OSError, RuntimeError, KeyError, ValueError) as exc:
                raise FileError(f"{self.label} is damaged: cannot read {path!r} ({exc}).") from None
        return obj

    def group(self, path):
        """The group at ``path``, or None."""
        obj = self.get(path)
        return obj if isinstance(obj, h5py_module().Group) else None

    def attribute(self, obj, name, default=None):
        """Attribute ``name`` of ``obj`` (bytes decoded to str, arrays of them to lists), read after its size."""
        try:
            if name not in obj.attrs:
                return default
            attr = obj.attrs.get_id(name)
        except (OSError, RuntimeError, KeyError) as exc:
            raise FileError(f"{self.label} is damaged: cannot read the attribute {name!r} ({exc}).") from None
        try:
            size = attr.get_storage_size()
        except (OSError, RuntimeError):        # HDF5 reports an empty attribute's size as an error
            size = 0
        try:
            size = max(size, math.prod(attr.shape or ()) * attr.dtype.itemsize)
        except (OSError, RuntimeError, TypeError, ValueError) as exc:
            raise FileError(f"{self.label} is damaged: cannot read the attribute {name!r} ({exc}).") from None
        if size > MAX_ATTRIBUTE_BYTES:
            raise LimitError(f"{self.label}: the attribute {name!r} declares {size:,} bytes, more than the "
                             f"{MAX_ATTRIBUTE_BYTES:,} read. The file is damaged or hostile.")
        try:
            value = obj.attrs[name]
        except (OSError, RuntimeError, TypeError, ValueError) as exc:
            raise FileError(f"{self.label} is damaged: cannot read the attribute {name!r} ({exc}).") from None
        return _plain(value)

    def dataset(self, group, name):
        """The dataset ``name`` of ``group`` (its header only), or None when there is none."""
        obj = self.get(f"{group.name.strip('/')}/{name}".strip("/")) if group is not None else None
        return obj if isinstance(obj, h5py_module().Dataset) else None

    def read(self, ds, expected_shape, what):
        """The array of ``ds``, after checking that it declares ``expected_shape`` and a real dtype.

        Raises
        ------
        FileError
            If the declared shape or dtype is not the expected one (nothing is read then).
        """
        if ds is None:
            raise FileError(f"{self.label} is damaged: it names {what}, but holds no such dataset.")
        try:
            shape, dtype = tuple(ds.shape or ()), ds.dtype
        except (OSError, RuntimeError, TypeError, ValueError) as exc:   # a damaged type or space message
            raise FileError(f"{self.label} is damaged: cannot read the header of {what} ({exc}).") from None
        if expected_shape is not None and shape != tuple(expected_shape):
            raise FileError(f"{self.label}: {what} has shape {shape}; the model needs {tuple(expected_shape)}.")
        if dtype.kind not in "fiu" or dtype.itemsize > _MAX_ITEMSIZE:
            raise FileError(f"{self.label}: {what} has dtype {dtype}; convlearn reads real numbers (float or int).")
        try:
            out = np.empty(shape, dtype=dtype)
            if out.size:
                ds.read_direct(out)
            elif shape == ():
                out[()] = ds[()]
        except (OSError, RuntimeError, TypeError, ValueError) as exc:
            raise FileError(f"{self.label} is damaged: cannot read {what} ({exc}).") from None
        if out.dtype.kind == "f" and not np.isfinite(out).all():
            raise FileError(f"{self.label}: {what} contains NaN or infinite values.")
        return out


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSU":
            return [_plain(v) for v in value.tolist()]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_dataset(group, name, array):
    """Write ``array`` as dataset ``name`` of ``group`` (a 0-d array as a scalar dataset)."""
    array = np.asarray(array)
    group.create_dataset(name, data=array)
