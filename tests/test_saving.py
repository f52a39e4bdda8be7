"""Saving and loading: nothing is lost, nothing is executed, a damaged file gives a clear ValueError.

Most tests here are about files in convlearn 0.1's own format, which still load:
a zip of ``metadata.json``, ``config.json``, ``model.weights.npz`` and (after
training) ``optimizer.npz``, written by ``convlearn.saving.v01.save_model``.
``model.save`` itself now writes Keras's format (tests/test_keras_format.py).
"""

import ast
import io
import json
import os
import pathlib
import zipfile

import numpy as np
import pytest

import convlearn
import convlearn as keras
from convlearn import layers
from convlearn.models import Model, Sequential, load_model
from convlearn.saving import v01
from model_helpers import bars_dataset, compiled_cnn, same_weights, small_cnn

# ---------------------------------------------------------------------------
# Helpers: a saved model, and ways to take its file apart and put it together again
# ---------------------------------------------------------------------------


@pytest.fixture
def trained(tmp_path):
    """A small CNN trained for one epoch with Adam, saved to model.keras; returns (model, path, x)."""
    keras.utils.set_random_seed(0)
    x, y = bars_dataset(32)
    model = compiled_cnn()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = tmp_path / "model.keras"
    v01.save_model(model, path)
    return model, path, x


def read_members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_members(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def with_members(src, dst, **changes):
    """Copy the model file ``src`` to ``dst`` with members replaced (bytes/str) or dropped (None)."""
    members = read_members(src)
    for key, value in changes.items():
        name = key.replace("__", ".")              # model__weights__npz -> model.weights.npz
        if value is None:
            members.pop(name)
        else:
            members[name] = value.encode() if isinstance(value, str) else value
    write_members(dst, members)
    return dst


def npz_bytes(*arrays, allow_pickle=False):
    buf = io.BytesIO()
    np.savez(buf, **{f"{i:04d}": a for i, a in enumerate(arrays)}, allow_pickle=allow_pickle)
    return buf.getvalue()


def edited_config(src, dst, edit):
    config = json.loads(read_members(src)["config.json"])
    edit(config)
    return with_members(src, dst, config__json=json.dumps(config))


def claim_size(path, member, size):
    """Rewrite the zip's central directory so that ``member`` claims ``size`` bytes once inflated."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        start = zf.start_dir
    pos = start
    while data[pos:pos + 4] == b"PK\x01\x02":                          # central directory headers
        name_len, extra_len, comment_len = (int.from_bytes(data[pos + k:pos + k + 2], "little") for k in (28, 30, 32))
        name = data[pos + 46:pos + 46 + name_len].decode()
        if name == member:
            data[pos + 24:pos + 28] = size.to_bytes(4, "little")       # uncompressed size
            path.write_bytes(bytes(data))
            return
        pos += 46 + name_len + extra_len + comment_len
    raise AssertionError(f"{member} not found")


# ---------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------

def test_round_trip_is_exact(trained):
    model, path, x = trained
    restored = load_model(path)
    assert type(restored) is Sequential
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert same_weights(restored.get_weights(), model.get_weights())
    assert restored.get_config() == model.get_config()
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]


def test_compile_settings_and_optimizer_state_are_restored(trained):
    model, path, _ = trained
    restored = load_model(path)
    assert restored.compiled
    assert type(restored.optimizer) is type(model.optimizer)
    assert restored.optimizer.get_config() == model.optimizer.get_config()
    assert restored.loss.get_config() == model.loss.get_config()
    assert restored.evaluate(*bars_dataset(8), verbose=0, return_dict=True).keys() == {"loss", "accuracy"}
    assert restored.optimizer.iterations == model.optimizer.iterations == 2
    assert same_weights(restored.optimizer.get_state(), model.optimizer.get_state())


@pytest.mark.parametrize("optimizer", [
    lambda: keras.optimizers.Adam(learning_rate=0.01, amsgrad=True),
    lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    lambda: keras.optimizers.RMSprop(learning_rate=0.01, momentum=0.5, centered=True),
], ids=["adam", "sgd", "rmsprop"])
def test_training_continues_identically_after_loading(tmp_path, optimizer):
    """Train 2 steps, save, load, then 2 more steps on both: the weights stay bit-identical."""
    keras.utils.set_random_seed(3)
    x, y = bars_dataset(64)
    model = compiled_cnn(optimizer=optimizer())
    model.fit(x[:32], y[:32], batch_size=16, shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    restored = load_model(tmp_path / "m.keras")
    for m in (model, restored):
        m.fit(x[32:], y[32:], batch_size=16, shuffle=False, verbose=0)
    assert restored.optimizer.iterations == model.optimizer.iterations == 4
    assert same_weights(restored.get_weights(), model.get_weights())


def test_load_without_compiling(trained):
    model, path, x = trained
    restored = load_model(path, compile=False)
    assert not restored.compiled
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_an_uncompiled_model_round_trips(tmp_path):
    model = small_cnn()
    v01.save_model(model, tmp_path / "m.keras")
    assert set(read_members(tmp_path / "m.keras")) == {"metadata.json", "config.json", "model.weights.npz"}
    restored = load_model(tmp_path / "m.keras")
    assert not restored.compiled and same_weights(restored.get_weights(), model.get_weights())


def test_every_layer_type_round_trips(tmp_path):
    model = Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Rescaling(1 / 255, offset=0.5),
        layers.Conv2D(3, (3, 2), strides=(2, 1), padding="same", use_bias=False,
                      kernel_initializer=keras.initializers.HeNormal(seed=1)),
        layers.LeakyReLU(),
        layers.AveragePooling2D(pool_size=2, padding="same"),
        layers.Activation("tanh"),
        layers.MaxPooling2D(pool_size=(1, 2), strides=1),
        layers.Reshape((-1,)),
        layers.Dropout(0.25, seed=4),
        layers.Dense(5, activation="elu", bias_initializer="ones"),
        layers.ReLU(),
        layers.Dense(3),
        layers.Softmax(),
    ])
    model.save(tmp_path / "all.keras")
    restored = load_model(tmp_path / "all.keras")
    assert restored.get_config() == model.get_config()
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_nested_and_functional_models_round_trip(tmp_path):
    features = Sequential([layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D()], name="features")
    nested = Sequential([keras.Input(shape=(8, 8, 1)), features, layers.Flatten(), layers.Dense(3)])
    inputs = keras.Input(shape=(8, 8, 1))
    outputs = layers.Dense(3)(layers.Flatten()(layers.Conv2D(2, 3)(inputs)))
    functional = Model(inputs, outputs)
    x, _ = bars_dataset(5)
    for model, cls in ((nested, Sequential), (functional, keras.models.Functional)):
        model.save(tmp_path / "m.keras")
        restored = load_model(tmp_path / "m.keras")
        assert type(restored) is cls
        np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_float64_model_round_trips(tmp_path):
    model = Sequential([keras.Input(shape=(3,), dtype="float64"), layers.Dense(2, dtype="float64")])
    model.save(tmp_path / "m.keras")
    restored = load_model(tmp_path / "m.keras")
    assert restored.get_weights()[0].dtype == np.float64
    assert same_weights(restored.get_weights(), model.get_weights())


def test_a_convlearn_0_1_zip_named_h5_still_loads(tmp_path):
    model = small_cnn()
    with pytest.warns(UserWarning, match="convlearn writes its own .keras format .* not HDF5"):
        v01.save_model(model, tmp_path / "old_style.h5")
    assert zipfile.is_zipfile(tmp_path / "old_style.h5")
    assert same_weights(load_model(tmp_path / "old_style.h5").get_weights(), model.get_weights())


@pytest.mark.parametrize("name", ["w.weights.npz", "w.weights.h5"])
def test_save_weights_and_load_weights(tmp_path, name):
    a, b = small_cnn(), small_cnn()
    a.save_weights(tmp_path / name)
    assert not same_weights(a.get_weights(), b.get_weights())
    b.load_weights(tmp_path / name)
    assert same_weights(a.get_weights(), b.get_weights())


def test_load_weights_from_a_whole_model_file(trained):
    model, path, _ = trained
    fresh = small_cnn()
    fresh.load_weights(path)
    assert same_weights(fresh.get_weights(), model.get_weights())


def test_load_weights_into_a_different_model(tmp_path):
    small_cnn().save_weights(tmp_path / "w.weights.npz")
    other = small_cnn(filters=5)
    with pytest.raises(ValueError, match=r"weight array 0 has shape \(3, 3, 1, 4\) "
                                         r".* the model needs shape \(3, 3, 1, 5\)"):
        other.load_weights(tmp_path / "w.weights.npz")


# ---------------------------------------------------------------------------
# Writing safely
# ---------------------------------------------------------------------------

def test_a_save_leaves_no_temporary_file(trained):
    _, path, _ = trained
    assert sorted(os.listdir(path.parent)) == ["model.keras"]


@pytest.mark.parametrize("step", ["fsync", "replace"])
def test_crash_while_writing_or_renaming_keeps_the_old_file(trained, monkeypatch, step):
    """The new file is written to a temporary name, flushed to disk, then renamed over the old one:
    a crash at any point leaves the old file whole and no temporary file behind."""
    model, path, _ = trained
    before = path.read_bytes()
    model.fit(*bars_dataset(16), verbose=0)                     # new weights to save

    def crash(*args):
        raise OSError(f"simulated crash in os.{step}")

    monkeypatch.setattr(os, step, crash)
    with pytest.raises(OSError, match="simulated crash"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["model.keras"]
    load_model(path)


def test_crash_while_writing_the_zip_keeps_the_old_file(trained, monkeypatch):
    model, path, _ = trained
    before = path.read_bytes()
    real_writestr = zipfile.ZipFile.writestr
    calls = []

    def crash_on_second_member(self, name, data, *args, **kwargs):
        calls.append(name)
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated interruption")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash_on_second_member)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    monkeypatch.undo()
    assert len(calls) == 2
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["model.keras"]


def test_save_errors(tmp_path):
    model = small_cnn()
    with pytest.raises(ValueError, match=r"the file name must end with .keras or .h5 or .hdf5; got '.*model\.pkl'"):
        model.save(tmp_path / "model.pkl")
    with pytest.raises(FileNotFoundError, match="does not exist. Create it first"):
        model.save(tmp_path / "missing" / "model.keras")
    model.save(tmp_path / "model.keras")
    with pytest.raises(FileExistsError, match="exists and overwrite=False"):
        model.save(tmp_path / "model.keras", overwrite=False)
    with pytest.raises(ValueError, match="is not built, so it has no weights to save"):
        Sequential([layers.Dense(2)]).save(tmp_path / "unbuilt.keras")
    with pytest.raises(ValueError, match=r"must end with .weights.h5 or .weights.npz"):
        model.save_weights(tmp_path / "w.npz")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No model file at"):
        load_model(tmp_path / "nothing.keras")
    with pytest.raises(FileNotFoundError, match="No weights file at"):
        small_cnn().load_weights(tmp_path / "nothing.weights.npz")


# ---------------------------------------------------------------------------
# No pickle, anywhere
# ---------------------------------------------------------------------------

SOURCE_FILES = sorted(pathlib.Path(convlearn.__file__).parent.rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}


def test_the_source_tree_is_found():
    names = {p.name for p in SOURCE_FILES}
    assert {"v01.py", "keras_format.py", "legacy_h5.py", "model.py", "functional.py", "idx.py"} <= names


# CIFAR's archives hold Python pickles: the one module allowed to import pickle reads them with
# a subclass of pickle.Unpickler that refuses every global but NumPy's array builders (its own
# tests, in test_cifar.py, feed it a pickle that would run os.system).
RESTRICTED_UNPICKLER = "cifar.py"


def test_the_restricted_unpickler_refuses_every_global_it_does_not_name():
    from convlearn.datasets import cifar

    source = (pathlib.Path(cifar.__file__)).read_text(encoding="utf-8")
    tree = ast.parse(source)
    loaders = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in ("load", "loads")
               and getattr(n.value, "id", None) == "pickle"]
    assert loaders == [], "cifar.py may unpickle only through RestrictedUnpickler"
    assert issubclass(cifar.RestrictedUnpickler, __import__("pickle").Unpickler)
    assert "find_class" in vars(cifar.RestrictedUnpickler)


@pytest.mark.parametrize("path", SOURCE_FILES, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_no_pickle_in_the_source(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            allowed = {"pickle"} if path.name == RESTRICTED_UNPICKLER else set()
            assert not ({a.name.split(".")[0] for a in node.names} - allowed) & UNSAFE_MODULES, ast.dump(node)
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in UNSAFE_MODULES, ast.dump(node)
        elif isinstance(node, ast.Call):
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "load"
                    and getattr(func.value, "id", None) in ("np", "numpy")):
                flags = [k for k in node.keywords if k.arg == "allow_pickle"]
                assert flags and isinstance(flags[0].value, ast.Constant) and flags[0].value.value is False, (
                    f"{path.name}:{node.lineno}: np.load without allow_pickle=False")
            for k in node.keywords:
                if k.arg == "allow_pickle":
                    assert isinstance(k.value, ast.Constant) and k.value.value is False, (
                        f"{path.name}:{node.lineno}: allow_pickle must be False")


class _CreatesAFile:
    """An object whose unpickling creates a file: the harmless stand-in for an attack."""

    def __init__(self, path):
        self.path = pathlib.Path(path)

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def malicious_npz(marker, count=1):
    """``count`` arrays, the first an object array whose unpickling creates ``marker``."""
    payload = np.array([_CreatesAFile(marker)], dtype=object)
    return npz_bytes(payload, *[np.zeros(1)] * (count - 1), allow_pickle=True)


def test_the_malicious_payload_is_live(tmp_path):
    """Control: unpickling the payload does create the file, so the next tests mean something."""
    marker = tmp_path / "pwned"
    with np.load(io.BytesIO(malicious_npz(marker)), allow_pickle=True) as npz:
        npz["0000"]
    assert marker.exists()


@pytest.mark.parametrize("member", ["model.weights.npz", "optimizer.npz"])
def test_pickled_object_array_in_a_model_file_is_refused(trained, tmp_path, member):
    _, path, _ = trained
    marker = tmp_path / "pwned"
    with zipfile.ZipFile(io.BytesIO(read_members(path)[member])) as npz:
        count = len(npz.namelist())                                    # as many arrays as the real member
    bad = with_members(path, tmp_path / "bad.keras", **{member.replace(".", "__"): malicious_npz(marker, count)})
    with pytest.raises(ValueError, match="Object arrays .pickle. are never loaded"):
        load_model(bad)
    assert not marker.exists()


def test_pickled_object_array_in_a_weights_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "bad.weights.npz").write_bytes(malicious_npz(marker, count=4))
    with pytest.raises(ValueError, match=r"bad\.weights\.npz.* \(array '0000\.npy'\) holds an array of Python "
                                         r"objects \(dtype object\)\. Object arrays \(pickle\) are never loaded"):
        small_cnn().load_weights(tmp_path / "bad.weights.npz")
    assert not marker.exists()


def test_config_cannot_name_arbitrary_code(trained, tmp_path):
    _, path, _ = trained
    for class_name in ("__import__", "os.system", "Layer"):
        bad = edited_config(path, tmp_path / "bad.keras",
                            lambda c: c["config"]["layers"][1].__setitem__("class_name", class_name))
        with pytest.raises(ValueError, match=rf"Unknown layer class '{class_name}'"):
            load_model(bad)
    bad = edited_config(path, tmp_path / "bad.keras",
                        lambda c: c["config"]["layers"][1]["config"].__setitem__("activation", "__import__('os')"))
    with pytest.raises(ValueError, match=r"Invalid configuration for layer 'Conv2D': Unknown activation"):
        load_model(bad)


# ---------------------------------------------------------------------------
# Damaged and hostile files
# ---------------------------------------------------------------------------

def test_flipped_bytes_never_give_a_wrong_model_or_a_strange_error(trained, tmp_path):
    """Flip bytes all over the file: loading fails with ValueError, or (for a byte zip does not
    use, such as a timestamp) gives back exactly the saved model. Never anything else."""
    model, path, x = trained
    data = path.read_bytes()
    expected = model.predict(x, verbose=0)
    bad = tmp_path / "flipped.keras"
    outcomes = {"ValueError": 0, "identical": 0}
    for offset in range(0, len(data), 9):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        bad.write_bytes(bytes(damaged))
        try:
            restored = load_model(bad)
        except ValueError:
            outcomes["ValueError"] += 1
            continue
        np.testing.assert_array_equal(restored.predict(x, verbose=0), expected, err_msg=f"offset {offset}")
        assert restored.optimizer.iterations == model.optimizer.iterations, f"offset {offset}"
        outcomes["identical"] += 1
    assert outcomes["ValueError"] > 0.8 * sum(outcomes.values())


def test_flipped_byte_in_the_weights_is_detected(trained, tmp_path):
    _, path, _ = trained
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("model.weights.npz")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)   # compressed data of the member
    data[start + info.compress_size // 2] ^= 0x01
    (tmp_path / "bad.keras").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is corrupted: cannot read 'model.weights.npz'"):
        load_model(tmp_path / "bad.keras")


def test_truncated_files(trained, tmp_path):
    _, path, _ = trained
    data = path.read_bytes()
    bad = tmp_path / "short.keras"
    lengths = {0, 1, 4, 22, 100, len(data) // 2, len(data) - 23, len(data) - 1} | set(range(0, len(data), 97))
    for length in sorted(lengths):
        bad.write_bytes(data[:length])
        with pytest.raises(ValueError, match="corrupted|truncated|not a convlearn model|missing"):
            load_model(bad)


def test_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "notes.keras").write_text("these are my notes, not a model")
    with pytest.raises(ValueError, match=r"is not a valid .keras file \(not a zip archive\), or it is damaged or "
                                         r"truncated"):
        load_model(tmp_path / "notes.keras")


@pytest.mark.parametrize("member", ["metadata.json", "config.json", "model.weights.npz"])
def test_a_zip_missing_a_member(trained, tmp_path, member):
    _, path, _ = trained
    bad = with_members(path, tmp_path / "bad.keras", **{member.replace(".", "__"): None})
    with pytest.raises(ValueError, match=rf"is not a complete (convlearn )?model file: '{member}' is missing"):
        load_model(bad)


def test_an_unexpected_member(trained, tmp_path):
    _, path, _ = trained
    members = read_members(path)
    members["optimizer.npy"] = members.pop("optimizer.npz")            # e.g. a damaged name
    write_members(tmp_path / "bad.keras", members)
    with pytest.raises(ValueError, match=r"unexpected member\(s\) \['optimizer.npy'\]"):
        load_model(tmp_path / "bad.keras")


def test_another_programs_zip(tmp_path):
    write_members(tmp_path / "other.keras", {"metadata.json": '{"keras_version": "3.0.0"}',
                                             "config.json": "{}", "model.weights.npz": b""})
    with pytest.raises(ValueError, match="holds an unexpected member 'model.weights.npz'; a Keras model file holds "
                                         "config.json, metadata.json, model.weights.h5"):
        load_model(tmp_path / "other.keras")
    write_members(tmp_path / "other.keras", {"metadata.json": '{"program": "other"}'})
    with pytest.raises(ValueError, match=r"is not a Keras or convlearn model file \(its metadata.json is"):
        load_model(tmp_path / "other.keras")


def test_a_newer_format_version(trained, tmp_path):
    _, path, _ = trained
    meta = json.loads(read_members(path)["metadata.json"])
    meta["format_version"] = 99
    bad = with_members(path, tmp_path / "bad.keras", metadata__json=json.dumps(meta))
    with pytest.raises(ValueError, match="uses format version 99; this convlearn reads version 1. Upgrade convlearn"):
        load_model(bad)


def test_invalid_json(trained, tmp_path):
    _, path, _ = trained
    bad = with_members(path, tmp_path / "bad.keras", config__json="{not json")
    with pytest.raises(ValueError, match="'config.json' is not valid JSON"):
        load_model(bad)
    deep = with_members(path, tmp_path / "deep.keras", config__json="[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="'config.json' is not valid JSON"):
        load_model(deep)


def test_unknown_layer_class(trained, tmp_path):
    _, path, _ = trained
    bad = edited_config(path, tmp_path / "bad.keras",
                        lambda c: c["config"]["layers"][1].__setitem__("class_name", "Conv3D"))
    with pytest.raises(ValueError, match=r"Unknown layer class 'Conv3D' in the model config; .*Valid layer classes: "):
        load_model(bad)


def test_weights_of_the_wrong_shape(trained, tmp_path):
    _, path, _ = trained
    bad = edited_config(path, tmp_path / "bad.keras",
                        lambda c: c["config"]["layers"][1]["config"].__setitem__("filters", 5))
    with pytest.raises(ValueError, match=r"weight array 0 has shape \(3, 3, 1, 4\) and dtype float32; "
                                         r"the model needs shape \(3, 3, 1, 5\)"):
        load_model(bad)


def test_the_wrong_number_of_weight_arrays(trained, tmp_path):
    model, path, _ = trained
    bad = with_members(path, tmp_path / "bad.keras", model__weights__npz=npz_bytes(*model.get_weights()[:3]))
    with pytest.raises(ValueError, match="holds 3 weight arrays; the model needs 4"):
        load_model(bad)


def test_non_finite_or_non_float_weights(trained, tmp_path):
    model, path, _ = trained
    weights = model.get_weights()
    weights[3] = np.full_like(weights[3], np.inf)
    bad = with_members(path, tmp_path / "bad.keras", model__weights__npz=npz_bytes(*weights))
    with pytest.raises(ValueError, match="weight array 3 contains NaN or infinite values"):
        load_model(bad)
    weights[3] = np.zeros(weights[3].shape, dtype="<U3")
    bad = with_members(path, tmp_path / "bad.keras", model__weights__npz=npz_bytes(*weights))
    with pytest.raises(ValueError, match="weight array 3 has shape .* and dtype <U3"):
        load_model(bad)


def test_optimizer_state_that_does_not_match(trained, tmp_path):
    _, path, _ = trained
    bad = with_members(path, tmp_path / "bad.keras", optimizer__npz=npz_bytes(np.array(2), np.zeros(3)))
    with pytest.raises(ValueError, match="optimizer state does not match the model"):
        load_model(bad)
    state = read_members(path)["optimizer.npz"]
    with np.load(io.BytesIO(state), allow_pickle=False) as npz:
        arrays = [npz[k] for k in sorted(npz.files)]
    arrays[0] = np.array([1.5, 2.5])                                   # a step count that is not one integer
    bad = with_members(path, tmp_path / "bad.keras", optimizer__npz=npz_bytes(*arrays))
    with pytest.raises(ValueError, match="the step count must be one integer"):
        load_model(bad)


@pytest.mark.parametrize("member", ["config.json", "metadata.json", "model.weights.npz", "optimizer.npz"])
def test_a_member_claiming_a_huge_size_is_not_inflated(trained, tmp_path, member):
    _, path, _ = trained
    bad = tmp_path / "bomb.keras"
    bad.write_bytes(path.read_bytes())
    claim_size(bad, member, 0xFFFF_FFF0)                               # about 4 GB
    with pytest.raises(ValueError, match=rf"member '{member}' would inflate to 4294967280 bytes, more than the "
                                         r"\d+-byte limit; refusing to load it"):
        load_model(bad)


def test_load_model_takes_max_weights(tmp_path):
    model = small_cnn()
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"max_weights"):
        load_model(tmp_path / "m.keras", max_weights=10)
    assert load_model(tmp_path / "m.keras", max_weights=model.count_params()).count_params() == model.count_params()
