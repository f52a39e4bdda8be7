"""What a file may make convlearn allocate: a budget of weights, and readers that stop in time.

A model file is small; what it asks for need not be. Two guards, both checked
*before* anything large is allocated, keep a small hostile file from making
convlearn allocate without bound. Any reader of a model format uses them
(convlearn's own ``.keras`` zip in :mod:`convlearn.saving`; Keras's formats
would do the same):

**A budget of weights.** While a model is rebuilt from a file, inside
``with weight_budget(max_weights, source):``, ``Layer.add_weight`` calls
:func:`charge_weight` with each weight's shape before allocating it. Past
``max_weights`` numbers in all, the load is refused with a :class:`LimitError`;
within the budget the weight is allocated as zeros instead of drawing initial
values (the file's weights overwrite them, and untouched zero pages cost no
memory). This holds for every layer that makes its weights with
``add_weight``, custom layers included. The budget lives in a context
variable, so two threads loading at once each have their own, and code that
runs outside a load is never charged.

**Readers that stop in time.**

- :func:`open_zip` refuses an archive that repeats a member name (readers
  disagree on which copy counts);
- :func:`read_member` and :func:`spool_member` inflate a member in chunks and
  stop as soon as it passes the size the caller expects, whatever the zip
  headers claim;
- :func:`read_npy_header` reads a ``.npy`` header, of at most
  :data:`MAX_NPY_HEADER` bytes, before any data, so the caller can check the
  shape and dtype it declares; :func:`read_npy_data` then reads exactly the
  declared bytes, in chunks;
- :class:`NpzArrays` gives the arrays of an ``.npz`` laid out as convlearn
  writes it (``0000.npy``, ``0001.npy``, ...) one at a time, each checked
  from its header by a function of the caller before its data are read.

Every refusal is a :class:`FileError` (a ``ValueError``) whose message names
the file; :class:`LimitError` is the kind for a size or a count past a limit.
Nothing here unpickles: arrays of Python objects are refused from their header.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import math
import struct
import tempfile
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

#: The most weights (numbers) a model file may ask for unless ``load_model(..., max_weights=...)``
#: says otherwise: 80 MB in float32 (with Adam's state, three times that). The largest CNN of a
#: learner's tutorial (a ResNet-18, 11 million) fits; pass more for a bigger model you trust.
DEFAULT_MAX_WEIGHTS = 20_000_000
#: The largest ``.npy`` header read (a real one takes about a hundred bytes).
MAX_NPY_HEADER = 65_536
CHUNK_BYTES = 2**20                    # read and inflate 1 MiB at a time
_SPOOL_IN_MEMORY = 32 * 2**20          # members larger than this are inflated into a temporary file
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, ValueError, struct.error,
               OverflowError, IndexError, KeyError, TypeError)


class FileError(ValueError):
    """A file convlearn refuses to read: damaged, not what it should be, or hostile. The message names it."""


class LimitError(FileError):
    """A file asks for more than convlearn allows: a size or a number of weights past a limit."""


# ---------------------------------------------------------------------------
# The budget of weights
# ---------------------------------------------------------------------------

class _Budget:
    """Numbers counted so far against ``limit`` while the model of ``source`` is rebuilt."""

    def __init__(self, limit, source):
        self.limit = limit
        self.source = source
        self.used = 0


_BUDGET: contextvars.ContextVar = contextvars.ContextVar("convlearn_weight_budget", default=None)


def check_max_weights(max_weights, owner="load_model"):
    """``max_weights`` as a positive int (:data:`DEFAULT_MAX_WEIGHTS` for None).

    Raises
    ------
    ValueError
        If it is not a positive whole number.
    """
    if max_weights is None:
        return DEFAULT_MAX_WEIGHTS
    if isinstance(max_weights, bool) or not isinstance(max_weights, (int, np.integer)) or max_weights <= 0:
        raise ValueError(f"{owner}: `max_weights` must be a positive whole number, the most weights a file may "
                         f"ask for (default {DEFAULT_MAX_WEIGHTS:,}). Received: max_weights={max_weights!r:.100}.")
    return int(max_weights)


@contextlib.contextmanager
def weight_budget(max_weights, source):
    """Count, and cap at ``max_weights``, the weights that layers create inside this block.

    Parameters
    ----------
    max_weights : int or None
        The most numbers all weights together may hold (None: :data:`DEFAULT_MAX_WEIGHTS`).
    source : str
        The file being loaded, as messages name it (e.g. ``repr(path)``).

    Yields
    ------
    object
        The budget; its ``used`` attribute counts the weights so far.
    """
    budget = _Budget(check_max_weights(max_weights), source)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


def charge_weight(shape, owner):
    """Count a weight of ``shape`` against the budget of the load in progress, if there is one.

    Parameters
    ----------
    shape : tuple of int
    owner : str
        The layer making the weight, for the message (``"Dense 'dense'"``).

    Returns
    -------
    bool
        True while a model is rebuilt from a file (allocate the weight as zeros:
        the file's values replace them), False otherwise (nothing is counted).

    Raises
    ------
    LimitError
        If the weights of the model being loaded pass the budget.
    """
    budget = _BUDGET.get()
    if budget is None:
        return False
    count = math.prod(shape)              # Python ints: no overflow for absurd shapes
    budget.used += count
    if budget.used > budget.limit:
        raise LimitError(
            f"{budget.source}: the model asks for at least {budget.used:,} weights ({owner} alone asks for "
            f"{count:,}, shape {tuple(shape)}), more than the limit of {budget.limit:,}. Refusing to build it. "
            "If you trust this file and have the memory (4 bytes per weight in float32), pass a larger "
            "max_weights to load_model."
        )
    return True


# ---------------------------------------------------------------------------
# Zip archives and their members
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def _zip_errors(label, what):
    """Turn the errors of zipfile and zlib on a damaged archive into a FileError naming ``label``."""
    try:
        yield
    except FileError:
        raise
    except _ZIP_ERRORS as exc:
        raise FileError(f"{label} is corrupted: cannot read {what} ({exc}).") from None


def open_zip(file, label, invalid):
    """Open a zip archive for reading, refusing one whose member names repeat.

    Parameters
    ----------
    file : str or binary file object
    label : str
        The archive as messages name it.
    invalid : str
        The message when ``file`` is not a zip archive at all.

    Returns
    -------
    zipfile.ZipFile

    Raises
    ------
    FileError
        If ``file`` is not a valid zip archive, or two members have one name.
    """
    try:
        zf = zipfile.ZipFile(file)
    # RuntimeError (NotImplementedError): a damaged header claiming an unknown zip version
    except _ZIP_ERRORS:
        raise FileError(invalid) from None
    repeated = sorted(name for name, n in Counter(info.filename for info in zf.infolist()).items() if n > 1)
    if repeated:
        zf.close()
        raise FileError(
            f"{label} holds several members named {repeated[0]!r}: such an archive is damaged or made to "
            "mislead (zip readers disagree on which copy counts). Refusing to load it."
        )
    return zf


def _member_info(zf, name, limit, label):
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise FileError(f"{label} has no member '{name}'.") from None
    if info.file_size > limit:
        raise LimitError(f"{label}: member '{name}' would inflate to {info.file_size} bytes, more than the "
                         f"{limit}-byte limit; refusing to load it.")
    return info


def _copy_member(zf, name, limit, label, out):
    """Inflate member ``name`` into ``out`` in chunks, refusing it once it passes ``limit`` bytes."""
    info = _member_info(zf, name, limit, label)
    total = 0
    with _zip_errors(label, f"'{name}'"):
        member = zf.open(info)
    with member:
        while True:
            with _zip_errors(label, f"'{name}'"):      # not around out.write: a full disk is no damaged file
                chunk = member.read(CHUNK_BYTES)
            if not chunk:
                if total != info.file_size:
                    raise FileError(f"{label} is corrupted: member '{name}' holds {total} bytes; the zip "
                                    f"header says {info.file_size}.")
                return out
            total += len(chunk)
            if total > limit:   # zipfile stops at the size it read in the header; never rely on that alone
                raise LimitError(f"{label}: member '{name}' inflates to more than the {limit}-byte limit; "
                                 "refusing to load it.")
            out.write(chunk)


def read_member(zf, name, limit, label):
    """The bytes of member ``name``, inflated in chunks; refused past ``limit`` bytes.

    Raises
    ------
    FileError
        If the member is missing or damaged; :class:`LimitError` if it inflates past ``limit``.
    """
    return _copy_member(zf, name, limit, label, io.BytesIO()).getvalue()


def spool_member(zf, name, limit, label):
    """Member ``name`` inflated into a temporary file object (in memory up to 32 MiB, on disk beyond),
    positioned at its start; refused past ``limit`` bytes. The caller closes it."""
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)
    try:
        _copy_member(zf, name, limit, label, out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


# ---------------------------------------------------------------------------
# .npy arrays: the header first, then exactly the data it declares
# ---------------------------------------------------------------------------

class NpyHeader(NamedTuple):
    """What a ``.npy`` header declares."""

    shape: tuple
    fortran_order: bool
    dtype: np.dtype

    @property
    def nbytes(self):
        return math.prod(self.shape) * self.dtype.itemsize


def _read_exact(fp, n, label, what):
    data = fp.read(n)
    if len(data) != n:
        raise FileError(f"{label} is truncated: it ends inside {what}.")
    return data


def read_npy_header(fp, label):
    """Read the header of the ``.npy`` array at the position of ``fp`` (nothing past it).

    Raises
    ------
    FileError
        If it is not a ``.npy`` header, is longer than :data:`MAX_NPY_HEADER`
        (:class:`LimitError`) or declares an array of Python objects.
    """
    with _zip_errors(label, "its .npy header"):
        magic = _read_exact(fp, np.lib.format.MAGIC_LEN, label, "the .npy magic string")
        try:
            version = np.lib.format.read_magic(io.BytesIO(magic))
        except ValueError as exc:
            raise FileError(f"{label} is not a .npy array ({exc}).") from None
        if version not in ((1, 0), (2, 0)):
            raise FileError(f"{label}: .npy format version {version[0]}.{version[1]} is not read by convlearn "
                            "(versions 1.0 and 2.0 are; numpy.save writes them).")
        size_field = _read_exact(fp, 2 if version == (1, 0) else 4, label, "the .npy header")
        length = int.from_bytes(size_field, "little")
        if length > MAX_NPY_HEADER:
            raise LimitError(f"{label}: its .npy header claims {length:,} bytes; a real one takes about a hundred "
                             f"(at most {MAX_NPY_HEADER:,} are read). The file is damaged or hostile.")
        header = io.BytesIO(size_field + _read_exact(fp, length, label, "the .npy header"))
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    try:
        shape, fortran_order, dtype = read(header, max_header_size=MAX_NPY_HEADER)
    except (ValueError, SyntaxError, TypeError, RecursionError) as exc:
        raise FileError(f"{label}: invalid .npy header ({exc}).") from None
    if dtype.hasobject:
        raise FileError(f"{label} holds an array of Python objects (dtype {dtype}). Object arrays (pickle) are "
                        "never loaded.")
    if dtype.names is not None or dtype.subdtype is not None:
        raise FileError(f"{label} holds a structured array (dtype {dtype}); convlearn reads plain numeric arrays.")
    return NpyHeader(tuple(int(d) for d in shape), bool(fortran_order), dtype)


def read_npy_data(fp, header, label):
    """Read exactly the data ``header`` declares, in chunks, into a new array.

    The array is allocated before its data are read: check ``header`` against
    what you expect first (its shape, its dtype, ``header.nbytes``).

    Raises
    ------
    FileError
        If the data are shorter, or longer, than the header declares, or damaged.
    """
    out = np.empty(math.prod(header.shape), dtype=header.dtype)
    buf = memoryview(out.view(np.uint8))
    nbytes, pos = out.nbytes, 0
    with _zip_errors(label, "its data"):
        while pos < nbytes:
            chunk = fp.read(min(CHUNK_BYTES, nbytes - pos))
            if not chunk:
                raise FileError(f"{label} is truncated: its .npy header declares {nbytes:,} data bytes, "
                                f"it holds {pos:,}.")
            buf[pos:pos + len(chunk)] = chunk
            pos += len(chunk)
        if fp.read(1):
            raise FileError(f"{label} is longer than its .npy header says ({nbytes:,} data bytes).")
    return out.reshape(header.shape, order="F" if header.fortran_order else "C")


def read_npz_member(zf, name, label, check):
    """Read member ``name`` (a ``.npy``) of the ``.npz`` ``zf``: header, ``check(header)``, then the data.

    ``check`` raises a :class:`FileError` naming the file when the declared
    array is not one the caller expects; it must refuse anything larger. (Other
    exceptions from it are reported as a damaged member.)
    """
    with _zip_errors(label, f"'{name}'"), zf.open(name) as member:
        header = read_npy_header(member, f"{label} (array '{name}')")
        check(header)
        return read_npy_data(member, header, f"{label} (array '{name}')")


class NpzArrays(Sequence):
    """The arrays of an ``.npz`` laid out as convlearn writes it, read one at a time when indexed.

    The archive must hold exactly the members ``0000.npy``, ``0001.npy``, ... (any
    other layout is refused, naming ``layout``). ``arrays[i]`` reads member ``i``:
    its header first, then ``check(i, header)``, which raises a :class:`FileError`
    when the declared array is not the one expected (and must refuse anything larger), then its
    data. Slices are lazy too, so a consumer that takes one array at a time
    (``Optimizer.set_state``) never holds more than one extra array.

    Parameters
    ----------
    zf : zipfile.ZipFile
        From :func:`open_zip` (names unique).
    label : str
        The archive as messages name it.
    check : callable(int, NpyHeader)
    layout : str
        What the archive should be, for the message when its names are not
        ``0000.npy``, ``0001.npy``, ...
    """

    def __init__(self, zf, label, check, layout, _indexes=None):
        self.zf, self.label, self.check, self.layout = zf, label, check, layout
        if _indexes is None:
            names = sorted(info.filename for info in zf.infolist())
            expected = sorted(member_name(i) for i in range(len(names)))
            if names != expected:
                raise FileError(
                    f"{label} is not laid out {layout}: expected arrays named {_preview(expected)} (one per array, "
                    f"in order); found {_preview(names)}."
                )
            _indexes = range(len(names))
        self._indexes = _indexes

    def __len__(self):
        return len(self._indexes)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return NpzArrays(self.zf, self.label, self.check, self.layout, self._indexes[index])
        i = self._indexes[index]
        return read_npz_member(self.zf, member_name(i), self.label, lambda header: self.check(i, header))


def member_name(i):
    """The name of array ``i`` in an ``.npz`` written by convlearn (``0000.npy``)."""
    return f"{i:04d}.npy"


def _preview(names, first=3):
    shown = [n[:-4] if n.endswith(".npy") else n for n in names[:first]]
    more = f", ... ({len(names)} in all)" if len(names) > first else ""
    return ", ".join(shown) + more if names else "none"
