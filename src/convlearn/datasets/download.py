"""Downloading data files: ``get_file``, with Keras's arguments, a cache, checksums and safe extraction.

A download is written to a temporary file next to its target, checked against
``file_hash`` (when given) and only then renamed into place, so an interrupted or
corrupted download never leaves a file that looks complete. Archives are
extracted member by member into a temporary folder that is renamed when
complete; a member whose path leaves the folder (absolute, or with ``..``), a
link, or a device is refused, and nothing else is written.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

__all__ = ["DownloadError", "default_cache_dir", "get_file", "hash_file", "validate_file"]

CHUNK = 1 << 20                 # read, hash and write 1 MiB at a time


class DownloadError(OSError):
    """A file could not be downloaded (no network, an HTTP error, ...)."""


def default_cache_dir():
    """convlearn's data folder: ``~/.convlearn`` (files go to its ``datasets`` subfolder)."""
    return Path.home() / ".convlearn"


def _algorithm(file_hash, hash_algorithm):
    if hash_algorithm in ("sha256", "md5"):
        return hash_algorithm
    if hash_algorithm != "auto":
        raise ValueError(f"get_file: `hash_algorithm` must be 'auto', 'sha256' or 'md5'. "
                         f"Received: hash_algorithm={hash_algorithm!r}.")
    return "sha256" if len(file_hash) == 64 else "md5"     # Keras's rule


def hash_file(fpath, algorithm="sha256", chunk_size=CHUNK):
    """The hex digest of a file (``"sha256"`` or ``"md5"``), read in chunks."""
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"hash_file: `algorithm` must be 'sha256' or 'md5'. Received: algorithm={algorithm!r}.")
    hasher = hashlib.new(algorithm)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=CHUNK):
    """Whether the file's digest is ``file_hash`` (sha256 for 64 hex digits, else md5, with ``"auto"``)."""
    return hash_file(fpath, _algorithm(file_hash, algorithm), chunk_size) == str(file_hash).lower()


def _download(origin, target, file_hash, algorithm, verbose=1):
    """Fetch ``origin`` into ``target`` atomically; check the hash before the file is put in place."""
    from ..progbar import Progbar

    target = Path(target)
    fd, partial = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(origin, timeout=30)
            except urllib.error.HTTPError as exc:
                raise DownloadError(f"Downloading {origin} failed: HTTP {exc.code} {exc.reason}.") from None
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                raise DownloadError(f"Downloading {origin} failed: {reason}.") from None
            with response:
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                if verbose:
                    print(f"Downloading data from {origin}", file=sys.stdout)
                bar = Progbar(total, unit_name="byte", verbose=1 if verbose else 0)
                received = 0
                try:
                    for chunk in iter(lambda: response.read(CHUNK), b""):
                        out.write(chunk)
                        received += len(chunk)
                        bar.update(received)
                except OSError as exc:
                    raise DownloadError(f"Downloading {origin} failed after {received:,} bytes: {exc}.") from None
                if total is not None and received != total:
                    raise DownloadError(f"Downloading {origin} stopped after {received:,} of {total:,} bytes.")
        if file_hash is not None and not validate_file(partial, file_hash, algorithm):
            got = hash_file(partial, algorithm)
            raise ValueError(
                f"The file downloaded from {origin} is incomplete or corrupted: its {algorithm} is {got}, "
                f"expected {file_hash}. It was not kept. Try again, or download it yourself and put it at {target}."
            )
        os.replace(partial, target)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _safe_member_path(name, archive):
    """The relative path of an archive member, or a ValueError if it would leave the extraction folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ValueError(f"Refusing to extract {archive}: its member {name!r} would be written outside the "
                         "extraction folder. The archive is damaged or hostile; delete it.")
    return Path(*[p for p in path.parts if p not in ("", ".")])


def _extract_tar(archive, folder):
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            relative = _safe_member_path(member.name, archive)
            if member.issym() or member.islnk():
                raise ValueError(f"Refusing to extract {archive}: its member {member.name!r} is a link. "
                                 "convlearn extracts regular files and folders only.")
            if not (member.isfile() or member.isdir()):
                raise ValueError(f"Refusing to extract {archive}: its member {member.name!r} is not a regular "
                                 "file or folder (a device or a FIFO).")
            dest = folder / relative
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)


def _extract_zip(archive, folder):
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            relative = _safe_member_path(info.filename, archive)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise ValueError(f"Refusing to extract {archive}: its member {info.filename!r} is a link. "
                                 "convlearn extracts regular files and folders only.")
            dest = folder / relative
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)


def extract_archive(archive, folder, archive_format="auto"):
    """Extract a tar or zip archive into ``folder`` (made complete, then renamed); return whether it was one."""
    formats = {"auto": ("tar", "zip"), "tar": ("tar",), "zip": ("zip",), None: ()}
    if archive_format not in formats:
        raise ValueError(f"get_file: `archive_format` must be 'auto', 'tar', 'zip' or None. "
                         f"Received: archive_format={archive_format!r}.")
    folder = Path(folder)
    for kind in formats[archive_format]:
        is_kind = tarfile.is_tarfile(archive) if kind == "tar" else zipfile.is_zipfile(archive)
        if not is_kind:
            continue
        staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", suffix=".part", dir=folder.parent))
        try:
            (_extract_tar if kind == "tar" else _extract_zip)(archive, staging)
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False,
             verbose=1):
    """Download a file unless it is already in the cache, like ``keras.utils.get_file``; return its path.

    Parameters
    ----------
    fname : str, optional
        The file's name in the cache (no folders); defaults to the last part of ``origin``'s path.
    origin : str
        The URL to download from.
    file_hash : str, optional
        The expected sha256 (64 hex digits) or md5 of the file. A cached file that does not match
        is downloaded again; a download that does not match is deleted and refused.
    cache_subdir : str, default "datasets"
        The subfolder of ``cache_dir`` to use.
    hash_algorithm : {"auto", "sha256", "md5"}, default "auto"
    extract : bool, default False
        Extract a tar (``.tar``, ``.tar.gz``, ``.tar.bz2``, ...) or zip archive; the path of the
        extraction folder is returned. Members leaving the folder, links and devices are refused.
    archive_format : {"auto", "tar", "zip", None}, default "auto"
    cache_dir : str or os.PathLike, optional
        Defaults to ``~/.convlearn``.
    force_download : bool, default False
        Download even if the file is cached.
    untar, md5_hash
        Keras's older spellings of ``extract=True`` and ``file_hash=``.

    Returns
    -------
    str
        The path of the file, or of the extraction folder with ``extract``.

    Raises
    ------
    DownloadError
        (an ``OSError``) when the file is not cached and cannot be downloaded; the message says where to put it.
    ValueError
        For a bad argument, a checksum mismatch, or an archive with a hostile member.
    """
    if not origin or not isinstance(origin, str):
        raise ValueError(f"get_file needs `origin`, the URL of the file to download. Received: origin={origin!r}.")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    algorithm = None if file_hash is None else _algorithm(str(file_hash), hash_algorithm)
    provided = fname is not None and os.fspath(fname) != ""
    fname = os.fspath(fname) if provided else PurePosixPath(urllib.parse.urlsplit(origin).path).name
    if not fname or fname in (".", ".."):
        raise ValueError(f"get_file cannot take a file name from origin={origin!r}; pass fname='name.ext'.")
    if "/" in fname or "\\" in fname or fname in (".", ".."):
        raise ValueError(f"get_file: `fname` must be a file name without folders; use cache_dir and cache_subdir "
                         f"for the folder. Received: fname={fname!r}.")
    datadir = Path(os.path.expanduser(os.fspath(cache_dir))) if cache_dir is not None else default_cache_dir()
    datadir = datadir / cache_subdir
    datadir.mkdir(parents=True, exist_ok=True)
    extract = extract or untar
    if extract:                                       # Keras's layout: the archive beside its folder
        if provided and "." in fname:
            target = datadir / fname
            folder = datadir / f"{fname[:fname.find('.')]}_extracted"
        else:
            target, folder = datadir / f"{fname}_archive", datadir / fname
    else:
        target, folder = datadir / fname, None
    download = force_download or not target.is_file()
    if not download and file_hash is not None and not validate_file(target, file_hash, algorithm):
        print(f"A local file was found at {target}, but its {algorithm} does not match {file_hash}: "
              "downloading it again.", file=sys.stdout)
        download = True
    if download:
        try:
            _download(origin, target, file_hash, algorithm, verbose)
        except DownloadError as exc:
            raise DownloadError(f"{exc} To work offline, download {origin} yourself and put it at {target}.") \
                from None
        if folder is not None and folder.exists():
            shutil.rmtree(folder)                     # a new archive: extract it afresh
    if folder is not None:
        if not folder.is_dir() and not extract_archive(target, folder, "tar" if untar else archive_format):
            raise ValueError(f"get_file: {target} is not a tar or zip archive, so it cannot be extracted. "
                             "Pass extract=False to keep the file as it is.")
        return str(folder)
    return str(target)
