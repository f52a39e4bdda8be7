"""Small hostile files, built by the tests themselves, and a child process under a memory ceiling.

Every builder here writes a file of at most about a megabyte without ever holding
the large thing it describes in memory: a gigabyte of zeros is deflated chunk by
chunk, a 20000x20000 PNG is compressed row by row.

:func:`run_limited` runs a piece of Python in a subprocess whose address space is
capped with ``RLIMIT_AS`` (Linux), so that a regression ends in a ``MemoryError``
there instead of eating the machine, and reports the child's peak resident memory.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

import convlearn

SRC = str(Path(convlearn.__file__).resolve().parent.parent)
GiB = 2**30
MEMORY_CEILING = 1536 * 2**20         # 1.5 GiB of address space for each child
_CHUNK = 2**20

# ---------------------------------------------------------------------------
# A child process under a memory ceiling
# ---------------------------------------------------------------------------

_CHILD = r"""
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
result = {"error": None, "message": None}
try:
    exec(compile(sys.argv[2], "<case>", "exec"), {"__name__": "__case__"})
except SystemExit as exc:
    result = {"error": "SystemExit", "message": str(exc.code)}
except BaseException as exc:
    result = {"error": type(exc).__name__, "message": str(exc)[:4000]}
# VmHWM is this process image's own peak: ru_maxrss would also count the parent's memory, which a
# child started with vfork + exec inherits as its starting high-water mark
try:
    with open("/proc/self/status") as status:
        hwm = [line for line in status if line.startswith("VmHWM:")]
    result["peak_mb"] = int(hwm[0].split()[1]) / 1024
except (OSError, IndexError):
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
sys.stdout.flush()
print("\nRESULT " + json.dumps(result))
"""


def limited_env():
    """The environment of a child: convlearn from this checkout, one BLAS thread, few malloc arenas."""
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
                OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2")


def run_limited(code, ceiling=MEMORY_CEILING, timeout=120):
    """Run ``code`` in a fresh Python under an address-space ceiling.

    Returns
    -------
    dict
        ``error`` (the exception's class name, or None), ``message``, ``peak_mb``
        (the child's peak resident memory in MiB: ``VmHWM``, which unlike
        ``ru_maxrss`` does not start from the parent's) and ``stdout``/``stderr``.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("the memory ceiling (RLIMIT_AS) and peak RSS figures are measured on Linux only")
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(int(ceiling)), code], capture_output=True,
                          text=True, env=limited_env(), timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the child died (exit code {proc.returncode}): {proc.stderr[-3000:]}"
    result = json.loads(lines[-1][len("RESULT "):])
    result["stdout"] = proc.stdout
    result["stderr"] = proc.stderr
    return result


def report_peak(case, result):
    """Print a case's peak memory (shown by ``pytest -rP``)."""
    print(f"peak RSS {result['peak_mb']:7.1f} MiB  {case}: {result['error']}: {str(result['message'])[:160]}")


# ---------------------------------------------------------------------------
# Zip files, taken apart and put together again
# ---------------------------------------------------------------------------

def read_members(path):
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def write_members(path, members, compression=zipfile.ZIP_DEFLATED):
    """Write ``members`` (a dict, or a list of (name, bytes) pairs, which may repeat a name)."""
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w", compression=compression) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)                   # "Duplicate name": wanted here
        for name, data in items:
            zf.writestr(name, data)
    return path


def npz_bytes(*arrays, names=None, compressed=False, allow_pickle=False):
    """An .npz as convlearn writes it (members 0000, 0001, ...) or with the given ``names``."""
    names = names or [f"{i:04d}" for i in range(len(arrays))]
    buf = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, **dict(zip(names, arrays)), allow_pickle=allow_pickle)
    return buf.getvalue()


def npy_header(shape, descr="<f4", version=(1, 0)):
    """The bytes of a .npy header for an array of ``shape`` (the data are not included)."""
    buf = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": tuple(shape)}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue()


def zero_npz(*shapes, names=None, descr="<f4", first=()):
    """An .npz of float32 zero arrays of ``shapes``, each deflated chunk by chunk (a zip bomb:
    1 GiB of zeros takes about 1 MB), named 0000.npy, 0001.npy, ... or ``names``, after the
    members ``first`` ((name, .npy bytes) pairs)."""
    names = names or [f"{i:04d}.npy" for i in range(len(first), len(first) + len(shapes))]
    buf = io.BytesIO()
    zeros = bytes(_CHUNK)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in first:
            zf.writestr(name, data)
        for name, shape in zip(names, shapes):
            with zf.open(name, "w", force_zip64=True) as f:
                f.write(npy_header(shape, descr))
                left = int(np.prod(shape, dtype=object)) * np.dtype(descr).itemsize
                while left:
                    f.write(zeros[:min(left, _CHUNK)])
                    left -= min(left, _CHUNK)
    return buf.getvalue()


def deflated_zeros_member(path, name, nbytes, others):
    """A zip with ``others`` and a member ``name`` that inflates to ``nbytes`` zero bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for other, data in others.items():
            zf.writestr(other, data)
        with zf.open(name, "w", force_zip64=True) as f:
            zeros = bytes(_CHUNK)
            for _ in range(nbytes // _CHUNK):
                f.write(zeros)
    return path


def claim_size(path, member, size):
    """Rewrite the zip's central directory so that ``member`` claims ``size`` bytes once inflated."""
    data = bytearray(Path(path).read_bytes())
    with zipfile.ZipFile(path) as zf:
        pos = zf.start_dir
    while data[pos:pos + 4] == b"PK\x01\x02":                          # central directory headers
        name_len, extra_len, comment_len = (int.from_bytes(data[pos + k:pos + k + 2], "little") for k in (28, 30, 32))
        name = data[pos + 46:pos + 46 + name_len].decode()
        if name == member:
            if data[pos + 24:pos + 28] == b"\xff\xff\xff\xff":            # zip64: the size is in the extra field
                extra = pos + 46 + name_len
                assert data[extra:extra + 2] == b"\x01\x00", "expected the zip64 extra field first"
                data[extra + 4:extra + 12] = size.to_bytes(8, "little")   # uncompressed size comes first
            else:
                data[pos + 24:pos + 28] = size.to_bytes(4, "little")       # uncompressed size
            Path(path).write_bytes(bytes(data))
            return path
        pos += 46 + name_len + extra_len + comment_len
    raise AssertionError(f"{member} not found")


# ---------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------

def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(path, width, height, bit_depth=1, ink=None):
    """A white grayscale PNG of ``width`` x ``height``, compressed row by row (a few kB for millions
    of pixels), without ever holding the image in memory. ``ink``: (top, bottom, left, right), a black
    box (8-bit images only)."""
    white = b"\xff" * ((width * bit_depth + 7) // 8)
    inked = white
    if ink is not None:
        top, bottom, left, right = ink
        assert bit_depth == 8
        inked = white[:left] + bytes(right - left) + white[right:]
    pack = zlib.compressobj(9)
    parts = []
    for y in range(height):
        black = ink is not None and ink[0] <= y < ink[1]
        parts.append(pack.compress(b"\x00" + (inked if black else white)))   # filter byte 0, then the pixels
    parts.append(pack.flush())
    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)   # grayscale, no interlace
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                           + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b""))
    return path


# ---------------------------------------------------------------------------
# Fuzzing the loaders
# ---------------------------------------------------------------------------

_FUZZ_CHILD = r"""
import json, os, warnings
import convlearn
warnings.simplefilter("ignore")
folder = {folder!r}
bad, outcomes = [], {{}}
for name in sorted(os.listdir(folder)):
    path = os.path.join(folder, name)
    try:
        if name.endswith((".weights.npz", ".weights.h5")):
            m = convlearn.Sequential([convlearn.Input(shape=(8,)), convlearn.layers.Dense(4),
                                      convlearn.layers.Dense(2)])
            m.load_weights(path)
        else:
            convlearn.models.load_model(path)
        outcomes["loaded"] = outcomes.get("loaded", 0) + 1
    except (ValueError, FileNotFoundError) as exc:
        outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
        if path not in str(exc):
            bad.append((name, type(exc).__name__, str(exc)[:300]))
    except BaseException as exc:
        bad.append((name, type(exc).__name__, str(exc)[:300]))
print("FUZZ " + json.dumps(bad))
print("OUTCOMES " + json.dumps(outcomes))
"""


def load_fuzz_cases(folder, case, timeout):
    """Load every file of ``folder`` in a child under the memory ceiling (``*.weights.*`` files into
    Input(8) -> Dense(4) -> Dense(2)); return ``(result, bad, outcomes)``: the child's result, the
    files that gave anything but a clear error naming them, and a count per outcome (printed)."""
    result = run_limited(_FUZZ_CHILD.format(folder=str(folder)), timeout=timeout)
    report_peak(case, result)
    lines = result["stdout"].splitlines()
    bad = json.loads([x for x in lines if x.startswith("FUZZ ")][-1][len("FUZZ "):]) if result["error"] is None else None
    outcomes = json.loads([x for x in lines if x.startswith("OUTCOMES ")][-1][len("OUTCOMES "):]) \
        if result["error"] is None else {}
    return result, bad, outcomes


def mutate_json(config, rng):
    """One random change deep in a config: a number made huge, negative or a string, a key dropped, ..."""
    def nodes(value, path=()):
        yield path, value
        if isinstance(value, dict):
            for k, v in value.items():
                yield from nodes(v, path + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from nodes(v, path + (i,))

    paths = [p for p, _ in nodes(config) if p]
    path = paths[rng.integers(len(paths))]
    parent = config
    for key in path[:-1]:
        parent = parent[key]
    choices = [10**12, -1, 0, 2**63, 1e308, "x" * 5, None, [], {}, [10**6] * 3, True, "relu", "Dense", "../../etc/passwd"]
    if rng.random() < 0.15 and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = choices[rng.integers(len(choices))]
    return config
