"""File names, safe opening and atomic writes, shared by saving, datasets and the CLI.

- :func:`as_path` accepts what ``open`` accepts (``str``, ``bytes``, ``os.PathLike``);
- :func:`check_regular_file` refuses, without opening them, the paths a reader
  must not open: folders, FIFOs (opening one blocks), devices (``/dev/zero``
  never ends) and sockets;
- :func:`atomic_write_bytes`: a crash mid-write never leaves a broken file in place.
"""

from __future__ import annotations

import os
import stat
import tempfile

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def as_path(filepath, what):
    """``filepath`` as a ``str`` path, accepting ``str``, ``bytes`` and ``os.PathLike`` like ``open`` does.

    Parameters
    ----------
    filepath : str, bytes or os.PathLike
    what : str
        Who asks, for the messages (e.g. ``"load_model"``).

    Raises
    ------
    TypeError
        If ``filepath`` is not a file name.
    ValueError
        If it is empty or contains a NUL character.
    """
    try:
        path = os.fspath(filepath)
    except TypeError:
        raise TypeError(f"{what}: expected a file name (str, bytes or os.PathLike); "
                        f"got {type(filepath).__name__} {filepath!r:.100}.") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)          # what open() does with a bytes path
    if not path or "\0" in path:
        raise ValueError(f"{what}: expected a file name; got {path!r:.100}.")
    return path


def check_regular_file(path, noun="file"):
    """Raise unless ``path`` is a regular file (checked with ``os.stat``, nothing is opened).

    Parameters
    ----------
    path : str
    noun : str
        What the file should be, for the messages (``"model file"``, ``"image file"``).

    Returns
    -------
    os.stat_result

    Raises
    ------
    FileNotFoundError
        If nothing is at ``path``.
    ValueError
        If ``path`` is a folder, a FIFO, a device or a socket.
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(f"No {noun} at {path!r}. Check the file name and folder.") from None
    except OSError as exc:
        raise OSError(exc.errno, f"Cannot read {path!r}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        article = "an" if noun[:1] in "aeiou" else "a"
        raise ValueError(f"{path!r} is {kind}, not {article} {noun}; convlearn reads only regular files.")
    return info


def _named_error(exc, path):
    """``exc`` (an OSError about a temporary file) said about ``path``, keeping its errno and class."""
    message = f"Cannot write {path!r}: {exc.strerror or exc}."
    if exc.errno is None:
        return type(exc)(message)
    return OSError(exc.errno, message)    # OSError(errno, ...) picks the subclass (PermissionError, ...)


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The rename (``os.replace``) is atomic on POSIX and Windows: readers see the
    old file or the complete new one, never a half-written one. A failure names
    ``path`` (not the temporary file), removes the temporary file and leaves no
    file descriptor open.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.
    OSError
        If the file cannot be written (its message names ``path``).
    """
    path = as_path(path, "write")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot write {path!r}: the folder {folder!r} does not exist. Create it first.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"Cannot write {path!r}: it is a folder. Choose a file name.")
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _named_error(exc, path) from None
    try:
        try:
            f = os.fdopen(fd, "wb")       # from here on the file object owns fd and closes it
        except BaseException:
            os.close(fd)
            raise
        with f:
            # mkstemp makes owner-only files; give the result the permissions a plain open() would
            umask = os.umask(0)
            os.umask(umask)
            mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o666 & ~umask
            os.chmod(tmp, mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _named_error(exc, path) from None
        raise


def atomic_write_text(path, text, encoding="utf-8"):
    """Text version of :func:`atomic_write_bytes` (no newline translation)."""
    atomic_write_bytes(path, text.encode(encoding))
