"""Atomic file writes: a crash mid-write never leaves a broken file in place."""

from __future__ import annotations

import os
import tempfile


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The rename (``os.replace``) is atomic on POSIX and Windows: readers see the
    old file or the complete new one, never a half-written one.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {path!r}: the folder {folder!r} does not exist. Create it first.")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes owner-only files; give the result the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~umask
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path, text, encoding="utf-8"):
    """Text version of :func:`atomic_write_bytes` (no newline translation)."""
    atomic_write_bytes(path, text.encode(encoding))
