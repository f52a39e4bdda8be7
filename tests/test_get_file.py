"""convlearn.utils.get_file: Keras's cache layout, checksums, atomic downloads and safe extraction.

Downloads are served by a local HTTP server on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile
from functools import partial
from pathlib import Path

import pytest

from convlearn.utils import get_file


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """(folder served, base URL, list of requested paths)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests = []

    class Handler(_Quiet):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


def closed_port_url(name="file.bin"):
    """A URL on 127.0.0.1 where nothing listens: the download fails at once, as offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def test_download_then_cache(server, tmp_path, capsys):
    folder, url, requests = server
    data = os.urandom(3 * 2**20 + 17)                      # several chunks
    (folder / "blob.bin").write_bytes(data)
    path = get_file("blob.bin", f"{url}/blob.bin", file_hash=sha256(data), cache_dir=tmp_path / "cache")
    assert path == str(tmp_path / "cache" / "datasets" / "blob.bin")
    assert Path(path).read_bytes() == data
    assert "Downloading data from" in capsys.readouterr().out
    again = get_file("blob.bin", f"{url}/blob.bin", file_hash=sha256(data), cache_dir=tmp_path / "cache")
    assert again == path and requests == ["/blob.bin"]      # the second call reads the cache
    assert os.listdir(tmp_path / "cache" / "datasets") == ["blob.bin"]   # no partial file left
    get_file("blob.bin", f"{url}/blob.bin", cache_dir=tmp_path / "cache", force_download=True, verbose=0)
    assert len(requests) == 2


def test_name_from_origin_subdir_and_md5(server, tmp_path):
    folder, url, _ = server
    (folder / "w.txt").write_bytes(b"weights")
    path = get_file(origin=f"{url}/w.txt", cache_subdir="models", cache_dir=tmp_path,
                    file_hash=hashlib.md5(b"weights").hexdigest(), verbose=0)
    assert path == str(tmp_path / "models" / "w.txt")
    assert get_file(origin=f"{url}/w.txt", cache_subdir="models", cache_dir=tmp_path,
                    md5_hash=hashlib.md5(b"weights").hexdigest()) == path


def test_checksum_mismatch_keeps_nothing(server, tmp_path):
    folder, url, _ = server
    (folder / "x.bin").write_bytes(b"tampered")
    with pytest.raises(ValueError, match=r"incomplete or corrupted: its sha256 is [0-9a-f]{64}, expected 0{64}\. "
                                         r"It was not kept"):
        get_file("x.bin", f"{url}/x.bin", file_hash="0" * 64, cache_dir=tmp_path / "c", verbose=0)
    assert os.listdir(tmp_path / "c" / "datasets") == []


def test_cached_file_with_wrong_hash_is_downloaded_again(server, tmp_path, capsys):
    folder, url, requests = server
    (folder / "d.bin").write_bytes(b"good data")
    cached = tmp_path / "datasets" / "d.bin"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"stale")
    get_file("d.bin", f"{url}/d.bin", file_hash=sha256(b"good data"), cache_dir=tmp_path, verbose=0)
    assert cached.read_bytes() == b"good data" and requests == ["/d.bin"]
    assert "does not match" in capsys.readouterr().out


def test_offline_message_says_where_to_put_the_file(tmp_path):
    origin = closed_port_url("data.bin")
    with pytest.raises(OSError, match=rf"Downloading {origin} failed: .* To work offline, download {origin} "
                                      rf"yourself and put it at {tmp_path / 'datasets' / 'data.bin'}"):
        get_file("data.bin", origin, cache_dir=tmp_path, verbose=0)
    assert os.listdir(tmp_path / "datasets") == []


def test_http_error(server, tmp_path):
    _, url, _ = server
    with pytest.raises(OSError, match=r"failed: HTTP 404"):
        get_file("missing.bin", f"{url}/missing.bin", cache_dir=tmp_path, verbose=0)


def make_tar(path, members, mode="w:gz"):
    """A tar archive of (name, bytes) files; a value of ('symlink', target) makes a link."""
    with tarfile.open(path, mode) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))


def test_extract_tar_and_zip(server, tmp_path):
    folder, url, _ = server
    make_tar(folder / "pack.tar.gz", [("pack/a.txt", b"A"), ("pack/sub/b.txt", b"B")])
    with zipfile.ZipFile(folder / "z.zip", "w") as zf:
        zf.writestr("top/c.txt", "C")
    out = get_file("pack.tar.gz", f"{url}/pack.tar.gz", extract=True, cache_dir=tmp_path, verbose=0)
    assert out == str(tmp_path / "datasets" / "pack_extracted")              # Keras's layout
    assert (Path(out) / "pack" / "sub" / "b.txt").read_text() == "B"
    assert (tmp_path / "datasets" / "pack.tar.gz").is_file()
    z = get_file("z", f"{url}/z.zip", extract=True, cache_dir=tmp_path, verbose=0)
    assert z == str(tmp_path / "datasets" / "z") and (tmp_path / "datasets" / "z_archive").is_file()
    assert (Path(z) / "top" / "c.txt").read_text() == "C"


@pytest.mark.parametrize("members, match", [
    ([("../evil.txt", b"x")], r"member '../evil.txt' would be written outside the extraction folder"),
    ([("/etc/evil.txt", b"x")], r"member '/etc/evil.txt' would be written outside"),
    ([("ok.txt", b"x"), ("link", ("symlink", "/etc/passwd"))], r"member 'link' is a link"),
])
def test_hostile_tar_is_refused(server, tmp_path, members, match):
    folder, url, _ = server
    make_tar(folder / "bad.tar.gz", members)
    with pytest.raises(ValueError, match=match):
        get_file("bad.tar.gz", f"{url}/bad.tar.gz", extract=True, cache_dir=tmp_path / "c", verbose=0)
    assert not (tmp_path / "evil.txt").exists()
    leftovers = sorted(os.listdir(tmp_path / "c" / "datasets"))
    assert leftovers == ["bad.tar.gz"]                                      # no half-extracted folder


def test_hostile_zip_is_refused(server, tmp_path):
    folder, url, _ = server
    with zipfile.ZipFile(folder / "bad.zip", "w") as zf:
        zf.writestr("../../escape.txt", "x")
    with pytest.raises(ValueError, match=r"member '../../escape.txt' would be written outside"):
        get_file("bad.zip", f"{url}/bad.zip", extract=True, cache_dir=tmp_path / "c", verbose=0)
    assert not (tmp_path / "escape.txt").exists()


def test_not_an_archive(server, tmp_path):
    folder, url, _ = server
    (folder / "plain.txt").write_bytes(b"just text")
    with pytest.raises(ValueError, match=r"is not a tar or zip archive, so it cannot be extracted"):
        get_file("plain.txt", f"{url}/plain.txt", extract=True, cache_dir=tmp_path, verbose=0)


@pytest.mark.parametrize("kwargs, match", [
    ({"fname": "a.bin"}, r"get_file needs `origin`"),
    ({"fname": "sub/a.bin", "origin": "http://127.0.0.1/a.bin"}, r"`fname` must be a file name without folders"),
    ({"origin": "http://127.0.0.1/"}, r"cannot take a file name from origin"),
    ({"fname": "a", "origin": "http://127.0.0.1/a", "file_hash": "ab", "hash_algorithm": "sha1"},
     r"`hash_algorithm` must be 'auto', 'sha256' or 'md5'"),
    ({"fname": "a", "origin": "http://127.0.0.1/a", "extract": True, "archive_format": "rar"},
     r"`archive_format` must be 'auto', 'tar', 'zip' or None"),
])
def test_argument_errors(tmp_path, kwargs, match):
    if "archive_format" in kwargs:                                          # needs a cached file to extract
        (tmp_path / "datasets").mkdir()
        (tmp_path / "datasets" / "a_archive").write_bytes(b"x")
    with pytest.raises(ValueError, match=match):
        get_file(cache_dir=tmp_path, verbose=0, **kwargs)


def test_fashion_mnist_downloads_when_missing(server, tmp_path, monkeypatch):
    """The four files served locally (Debian's copies) are downloaded, checked and loaded."""
    from convlearn.datasets import fashion_mnist

    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    if not all((fashion_mnist.SYSTEM_DIR / (s + ".gz")).is_file() for s in stems):
        pytest.skip(f"Fashion-MNIST not in {fashion_mnist.SYSTEM_DIR} (apt-get install dataset-fashion-mnist)")
    folder, url, requests = server
    for stem in stems:
        (folder / (stem + ".gz")).write_bytes((fashion_mnist.SYSTEM_DIR / (stem + ".gz")).read_bytes())
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CONVLEARN_DATA", raising=False)
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "no-system-copy")
    monkeypatch.setattr(fashion_mnist, "ORIGIN", url + "/")
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert sorted(requests) == sorted(f"/{s}.gz" for s in stems)
    assert sorted(os.listdir(home / ".convlearn" / "datasets" / "fashion-mnist")) == sorted(s + ".gz" for s in stems)
    fashion_mnist.load_data()                                   # found in the cache now
    assert len(requests) == 4
