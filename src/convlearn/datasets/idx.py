"""Read and write IDX files, the file format of MNIST and Fashion-MNIST.

An IDX file is a small header followed by the raw array bytes:

==========  ==========================================================
bytes 0-1   always zero
byte 2      element type code (``0x08`` means unsigned byte)
byte 3      number of dimensions ``ndim``
next        ``ndim`` sizes, each a big-endian unsigned 32-bit integer
rest        the array, C order, exactly ``prod(sizes)`` elements
==========  ==========================================================

So ``train-images-idx3-ubyte`` starts with ``00 00 08 03``, then 60000, 28, 28.
Files ending in ``.gz`` are read and written gzip-compressed. Reading checks
the declared shape before allocating (see :func:`read_idx`), so a small file
cannot make it allocate more than ``max_bytes``.

This module also defines :func:`array_sha256`, the checksum the dataset
loaders compare against after decoding, so a check does not depend on how a
file was compressed.
"""

import gzip
import hashlib
import io
import math
import zlib
from pathlib import Path

import numpy as np

from convlearn._io import as_path, atomic_write_bytes, check_regular_file

__all__ = ["read_idx", "write_idx", "array_sha256", "MAX_IDX_BYTES"]

#: The largest array :func:`read_idx` decodes unless told otherwise (``max_bytes``): 1 GiB.
#: MNIST's training images take 47 MB.
MAX_IDX_BYTES = 2**30
_CHUNK = 2**20
_MAX_EXTRA = 2**20                   # how much of what follows the data is counted for the message

# IDX type code -> NumPy dtype (multi-byte types are big-endian in the file).
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_UBYTE = 0x08


def read_idx(path, max_bytes=MAX_IDX_BYTES):
    """Read one IDX file (plain or ``.gz``) into a NumPy array.

    The header is read first and the array it declares is checked before
    anything is allocated: against the file's size for a plain file, and
    against ``max_bytes`` always (a ``.gz`` file of a few MB can inflate to
    gigabytes); a ``.gz`` file is then inflated in chunks, never past the
    declared size plus one byte.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The file, for example ``"t10k-labels-idx1-ubyte.gz"``.
    max_bytes : int, default :data:`MAX_IDX_BYTES` (1 GiB)
        The largest array (in bytes) to decode.

    Returns
    -------
    numpy.ndarray
        A new, writable array with the shape given in the header, in native
        byte order (``uint8`` for MNIST files).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not a regular file, the header is not an IDX header (wrong
        magic number, unknown type, zero dimensions), the data are shorter or
        longer than the header says, or the array is larger than ``max_bytes``.
    """
    path = Path(as_path(path, "read_idx"))
    file_size = check_regular_file(str(path), "IDX file").st_size
    with open(path, "rb") as raw:
        if path.suffix != ".gz":
            return _decode(raw, path, file_size, max_bytes)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                return _decode(f, path, None, max_bytes)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise ValueError(
                f"Cannot decompress {path}: {exc}. The file is damaged or was cut short "
                "(an interrupted download?). Delete it and get it again."
            ) from exc


def _decode(f, path, file_size, max_bytes):
    """Read an IDX stream: header, checks, then exactly the declared data (``file_size``: None for gzip)."""
    head = f.read(4)
    if len(head) < 4:
        raise ValueError(
            f"{path} is not an IDX file: it has only {len(head)} bytes, fewer than the "
            "4-byte magic number. The file is truncated; delete it and get it again."
        )
    zero, type_code, ndim = head[0:2], head[2], head[3]
    if zero != b"\x00\x00" or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{path} is not an IDX file: its magic number is 0x{head.hex()}, expected "
            "0x0000TTDD (two zero bytes, a type code such as 08 for unsigned bytes, and "
            "the number of dimensions, e.g. 0x00000803 for images, 0x00000801 for labels). "
            "Check that this is the right file and that it is not damaged."
        )
    header_len = 4 + 4 * ndim
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{path}: the header announces {ndim} dimensions ({header_len} header bytes) "
            f"but the file has only {4 + len(dims)} bytes. The file is truncated; delete it "
            "and get it again."
        )
    shape = tuple(int.from_bytes(dims[k:k + 4], "big") for k in range(0, len(dims), 4))
    dtype = _IDX_DTYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize          # Python ints: no overflow
    if file_size is not None and file_size - header_len != expected:
        _size_error(path, shape, dtype, expected, file_size - header_len)
    if expected > max_bytes:
        raise ValueError(
            f"{path}: the header says shape {shape} of {dtype.name} ({expected:,} data bytes), more than "
            f"the {max_bytes:,} bytes allowed (max_bytes). Not decoded: the file is damaged, or not the "
            "file it is named after."
        )
    out = np.empty(math.prod(shape), dtype=dtype)
    buf = memoryview(out.view(np.uint8))
    got = 0
    while got < expected:
        chunk = f.read(min(_CHUNK, expected - got))
        if not chunk:
            _size_error(path, shape, dtype, expected, got)
        buf[got:got + len(chunk)] = chunk
        got += len(chunk)
    extra = 0
    while extra <= _MAX_EXTRA:            # a longer .gz: count a little of the rest, then stop
        chunk = f.read(_CHUNK)
        if not chunk:
            break
        extra += len(chunk)
    if extra:
        _size_error(path, shape, dtype, expected, expected + extra, more=extra > _MAX_EXTRA)
    out = out.reshape(shape)
    return out if dtype.isnative else out.astype(dtype.newbyteorder("="))  # own, writable memory


def _size_error(path, shape, dtype, expected, got, more=False):
    what = "truncated" if got < expected else "longer than its header says"
    raise ValueError(
        f"{path}: the header says shape {shape} of {dtype.name} ({expected} data bytes) "
        f"but the file holds {'more than ' if more else ''}{got} data bytes: the file is {what}. Delete it and "
        "get it again."
    )


def write_idx(path, array):
    """Write ``array`` as an IDX file, atomically; gzip-compress if ``path`` ends in ``.gz``.

    The file is written to a temporary name in the same folder and then renamed,
    so a reader never sees half a file. Gzip output is reproducible (no time
    stamp, no file name in the gzip header).

    Parameters
    ----------
    path : str or os.PathLike
        Where to write, for example ``"train-images-idx3-ubyte.gz"``.
    array : numpy.ndarray
        A ``uint8`` array with 1 to 255 dimensions, each size below 2**32.

    Raises
    ------
    ValueError
        If ``array`` is not ``uint8``, has no dimensions, or a size does not fit
        in 32 bits.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(
            f"write_idx writes uint8 arrays only; got dtype {array.dtype}. "
            "Convert first, e.g. array.astype(np.uint8), after checking the values are 0..255."
        )
    if not 1 <= array.ndim <= 255 or any(s >= 2**32 for s in array.shape):
        raise ValueError(
            f"write_idx needs 1 to 255 dimensions, each smaller than 2**32; got shape {array.shape}."
        )
    header = bytes([0, 0, _UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        buffer = io.BytesIO()
        # mtime=0 and no file name: the same bytes on every run and every platform.
        with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
            gz.write(payload)
        payload = buffer.getvalue()
    atomic_write_bytes(path, payload)


def array_sha256(array):
    """Return the SHA-256 hex digest of an array's shape and bytes.

    The digest covers the shape (each size as a little-endian 64-bit integer)
    followed by the array bytes in C order, so two arrays with the same bytes
    but different shapes get different digests.

    Parameters
    ----------
    array : numpy.ndarray

    Returns
    -------
    str
        64 hexadecimal characters.
    """
    array = np.ascontiguousarray(array)
    h = hashlib.sha256()
    h.update(np.asarray(array.shape, dtype="<i8").tobytes())
    h.update(array.data)
    return h.hexdigest()
