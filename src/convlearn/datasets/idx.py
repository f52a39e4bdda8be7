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
Files ending in ``.gz`` are read and written gzip-compressed.

This module also defines :func:`array_sha256`, the checksum the dataset
loaders compare against after decoding, so a check does not depend on how a
file was compressed.
"""

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np

from convlearn._io import atomic_write_bytes

__all__ = ["read_idx", "write_idx", "array_sha256"]

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


def _read_bytes(path):
    """Return the (decompressed) bytes of ``path``; ``.gz`` files are gunzipped."""
    path = Path(path)
    if path.suffix == ".gz":
        with open(path, "rb") as raw:  # a missing file raises FileNotFoundError here
            try:
                with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                    return f.read()
            except (OSError, EOFError) as exc:  # BadGzipFile is an OSError
                raise ValueError(
                    f"Cannot decompress {path}: {exc}. The file is damaged or was cut short "
                    "(an interrupted download?). Delete it and get it again."
                ) from exc
    return path.read_bytes()


def read_idx(path):
    """Read one IDX file (plain or ``.gz``) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file, for example ``"t10k-labels-idx1-ubyte.gz"``.

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
        If the header is not an IDX header (wrong magic number, unknown type,
        zero dimensions) or the data are shorter or longer than the header says.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"{path} is not an IDX file: it has only {len(data)} bytes, fewer than the "
            "4-byte magic number. The file is truncated; delete it and get it again."
        )
    zero, type_code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00" or type_code not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"{path} is not an IDX file: its magic number is 0x{data[:4].hex()}, expected "
            "0x0000TTDD (two zero bytes, a type code such as 08 for unsigned bytes, and "
            "the number of dimensions, e.g. 0x00000803 for images, 0x00000801 for labels). "
            "Check that this is the right file and that it is not damaged."
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: the header announces {ndim} dimensions ({header_len} header bytes) "
            f"but the file has only {len(data)} bytes. The file is truncated; delete it "
            "and get it again."
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_len
    if got != expected:
        what = "truncated" if got < expected else "longer than its header says"
        raise ValueError(
            f"{path}: the header says shape {shape} of {dtype.name} ({expected} data bytes) "
            f"but the file holds {got} data bytes: the file is {what}. Delete it and get "
            "it again."
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # own, writable memory


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
