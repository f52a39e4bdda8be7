"""Hostile Keras files: HDF5 links, external and virtual datasets, huge declared sizes, zip members
outside the archive or repeated: each refused with a clear error, nothing followed or read."""

import io
import warnings
import zipfile

import h5py
import numpy as np
import pytest

import convlearn as cl
from convlearn import layers as L


def small_model():
    return cl.Sequential([cl.Input((4,)), L.Dense(3)])


@pytest.fixture
def good(tmp_path):
    """A .keras file written by convlearn, and its members."""
    path = tmp_path / "good.keras"
    small_model().save(path)
    with zipfile.ZipFile(path) as zf:
        return path, {n: zf.read(n) for n in zf.namelist()}


def rewrite_h5(members, edit):
    """The members with model.weights.h5 changed by ``edit(h5py.File)``."""
    buf = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buf, "a") as f:
        edit(f)
    return dict(members, **{"model.weights.h5": buf.getvalue()})


def write_zip(path, members):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                                # zipfile warns on a repeated name
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in (members.items() if isinstance(members, dict) else members):
                zf.writestr(name, data)
    return path


def test_the_good_file_loads(good):
    assert cl.models.load_model(good[0]).count_params() == 15


def replace_kernel(f, make):
    del f["layers/dense/vars/0"]
    make(f["layers/dense/vars"], "0")


@pytest.mark.parametrize("kind, make, message", [
    ("soft link", lambda g, n: g.__setitem__(n, h5py.SoftLink("/layers/dense/vars/1")), r"is a soft link"),
    ("external link", lambda g, n: g.__setitem__(n, h5py.ExternalLink("/etc/passwd", "/x")),
     r"is an external link to '/etc/passwd'"),
    ("external dataset", lambda g, n: g.create_dataset(n, (4, 3), "f4", external=[("/etc/hostname", 0, 48)]),
     r"keeps its data in external files"),
])
def test_links_and_external_data_are_refused(good, tmp_path, kind, make, message):
    path = write_zip(tmp_path / "bad.keras", rewrite_h5(good[1], lambda f: replace_kernel(f, make)))
    with pytest.raises(ValueError, match=message):
        cl.models.load_model(path)


def test_a_virtual_dataset_is_refused(good, tmp_path):
    def make(group, name):
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
        layout[:] = h5py.VirtualSource("other.h5", "data", shape=(4, 3))
        group.create_virtual_dataset(name, layout)

    path = write_zip(tmp_path / "bad.keras", rewrite_h5(good[1], lambda f: replace_kernel(f, make)))
    with pytest.raises(ValueError, match=r"is a virtual dataset"):
        cl.models.load_model(path)


def test_a_huge_declared_dataset_is_refused_before_reading(good, tmp_path):
    def make(group, name):
        group.create_dataset(name, (100_000, 100_000), "f8", chunks=(1000, 1000), compression="gzip")

    path = write_zip(tmp_path / "bad.keras", rewrite_h5(good[1], lambda f: replace_kernel(f, make)))
    assert path.stat().st_size < 100_000                                # an 80 GB array declared in a small file
    with pytest.raises(ValueError, match=r"has shape \(100000, 100000\); the model needs \(4, 3\)"):
        cl.models.load_model(path)


def test_a_config_asking_for_too_many_weights_is_refused(good, tmp_path):
    members = dict(good[1])
    members["config.json"] = members["config.json"].replace(b'"units": 3', b'"units": 3000000000')
    with pytest.raises(ValueError, match=r"max_weights"):
        cl.models.load_model(write_zip(tmp_path / "bad.keras", members))


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/evil", "assets/../../evil"])
def test_a_member_outside_the_archive_is_refused(good, tmp_path, name):
    path = write_zip(tmp_path / "bad.keras", dict(good[1], **{name: b"x"}))
    with pytest.raises(ValueError, match=r"a path outside the archive"):
        cl.models.load_model(path)


def test_a_repeated_member_is_refused(good, tmp_path):
    members = list(good[1].items()) + [("model.weights.h5", good[1]["model.weights.h5"])]
    with pytest.raises(ValueError, match=r"several members named 'model.weights.h5'"):
        cl.models.load_model(write_zip(tmp_path / "bad.keras", members))


def test_a_class_the_file_names_is_never_imported(good, tmp_path):
    members = dict(good[1])
    members["config.json"] = members["config.json"].replace(b'"class_name": "Dense"', b'"class_name": "Popen"') \
        .replace(b'"module": "keras.layers", "class_name": "Popen"', b'"module": "subprocess", "class_name": "Popen"')
    with pytest.raises(ValueError, match=r"Unknown layer class 'Popen' .*module 'subprocess'.*never imports what a "
                                         r"file names.*custom_objects=\{'Popen': Popen\}"):
        cl.models.load_model(write_zip(tmp_path / "bad.keras", members))


def test_a_hostile_legacy_h5_is_refused(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        small_model().save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "a") as f:
        f["model_weights"]["extra"] = h5py.ExternalLink("/etc/passwd", "/x")
    with pytest.raises(ValueError, match=r"is an external link"):
        cl.models.load_model(tmp_path / "m.h5")


def test_a_damaged_weights_file_is_a_clear_error(good, tmp_path):
    members = dict(good[1], **{"model.weights.h5": good[1]["model.weights.h5"][:200]})
    with pytest.raises(ValueError, match=r"is not a valid HDF5 file, or it is damaged or truncated"):
        cl.models.load_model(write_zip(tmp_path / "bad.keras", members))
    np.testing.assert_equal(cl.models.load_model(good[0]).count_params(), 15)
