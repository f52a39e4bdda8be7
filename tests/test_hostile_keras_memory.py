"""Hostile Keras-format files (.keras and legacy .h5) loaded in a child under a memory ceiling.

The refusals themselves are tested in test_hostile_hdf5.py; here each small file is loaded in a
fresh process whose address space is capped (see ``hostile_helpers.run_limited``), and the child's
peak memory must stay small: no file under 1 MB makes a load allocate more than a few hundred MB.
Each case prints its peak (``pytest -rP``).
"""

import io
import json
import re
import warnings
import zipfile

import h5py
import numpy as np
import pytest
from hostile_helpers import deflated_zeros_member, load_fuzz_cases, mutate_json, report_peak, run_limited

import convlearn as cl
from convlearn import layers as L

MB = 2**20
SMALL_PEAK_MB = 400        # what a refused load may peak at (the interpreter, NumPy, h5py, convlearn)


def load_in_child(path, case):
    result = run_limited(f"import convlearn\nconvlearn.models.load_model({str(path)!r})")
    report_peak(case, result)
    return result


def assert_refused(result, pattern):
    assert result["error"] is not None and result["error"].endswith("Error"), result
    assert result["error"] != "MemoryError", result                  # refused, not run out of memory
    assert re.search(pattern, result["message"]), result["message"]
    assert result["peak_mb"] < SMALL_PEAK_MB, result


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    """The members of a small .keras file written by convlearn: Input(4) -> Dense(3)."""
    path = tmp_path_factory.mktemp("keras_memory") / "good.keras"
    cl.Sequential([cl.Input((4,)), L.Dense(3)]).save(path)
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def zip_of(path, members):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def weights_h5(edit, base):
    buf = io.BytesIO(base)
    with h5py.File(buf, "a") as f:
        edit(f)
    return buf.getvalue()


def test_a_huge_declared_dataset_in_a_keras_file(members, tmp_path):
    def edit(f):
        del f["layers/dense/vars/0"]
        f["layers/dense/vars"].create_dataset("0", (100_000, 100_000), "f8", chunks=(1000, 1000),
                                              compression="gzip")
    path = zip_of(tmp_path / "huge.keras", dict(members, **{"model.weights.h5": weights_h5(edit, members["model.weights.h5"])}))
    assert path.stat().st_size < MB
    assert_refused(load_in_child(path, ".keras declaring an 80 GB dataset"), r"has shape \(100000, 100000\)")


def test_a_weights_member_that_inflates_to_a_gigabyte(members, tmp_path):
    others = {k: v for k, v in members.items() if k != "model.weights.h5"}
    path = deflated_zeros_member(tmp_path / "bomb.keras", "model.weights.h5", 2**30, others)
    assert path.stat().st_size < 2 * MB
    result = load_in_child(path, ".keras whose weights member inflates to 1 GiB")
    assert result["error"] is not None and result["error"] != "MemoryError", result
    assert result["peak_mb"] < SMALL_PEAK_MB, result


def test_a_config_asking_for_billions_of_weights(members, tmp_path):
    config = members["config.json"].replace(b'"units": 3', b'"units": 3000000000')
    path = zip_of(tmp_path / "big.keras", dict(members, **{"config.json": config}))
    assert_refused(load_in_child(path, ".keras config asking for 12 billion weights"), r"max_weights")


def test_the_largest_model_a_small_keras_file_may_describe_loads_in_bounded_memory(tmp_path):
    """Within the default budget (20 million weights), a file of compressed zeros under 1 MB
    describing the biggest model allowed loads, and the load stays within a few hundred MB."""
    inputs, units = 4, 4_000_000                                   # 4 x 4,000,000 + 4,000,000 = 20,000,000
    small = cl.Sequential([cl.Input((inputs,)), L.Dense(3)])
    path = tmp_path / "small.keras"
    small.save(path)
    with zipfile.ZipFile(path) as zf:
        found = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(found["config.json"])
    config["config"]["layers"][-1]["config"]["units"] = units
    found["config.json"] = json.dumps(config).encode()

    def edit(f):
        for name, shape in (("0", (inputs, units)), ("1", (units,))):
            del f[f"layers/dense/vars/{name}"]
            f["layers/dense/vars"].create_dataset(name, shape, "f4", chunks=True, compression="gzip",
                                                  data=np.zeros(shape, np.float32))
    found["model.weights.h5"] = weights_h5(edit, found["model.weights.h5"])
    big = zip_of(tmp_path / "largest.keras", found)
    assert big.stat().st_size < MB
    result = run_limited(f"import convlearn\nm = convlearn.models.load_model({str(big)!r})\n"
                         "print('PARAMS', m.count_params())")
    report_peak(".keras of 20 million zero weights (the default limit)", result)
    assert result["error"] is None, result
    assert f"PARAMS {inputs * units + units}" in result["stdout"]
    assert result["peak_mb"] < 600, result                          # 80 MB of weights, read once


def test_a_legacy_h5_declaring_a_huge_dataset(tmp_path):
    path = tmp_path / "m.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cl.Sequential([cl.Input((4,)), L.Dense(3)]).save(path)
    with h5py.File(path, "a") as f:
        group = f["model_weights"]
        names = []
        group.visit(lambda n: names.append(n) if isinstance(group[n], h5py.Dataset) else None)
        kernel = next(n for n in names if group[n].shape == (4, 3))
        del group[kernel]
        group.create_dataset(kernel, (100_000, 100_000), "f8", chunks=(1000, 1000), compression="gzip")
    assert path.stat().st_size < MB
    assert_refused(load_in_child(path, "legacy .h5 declaring an 80 GB dataset"), r"100000")


def test_a_legacy_h5_config_asking_for_billions_of_weights(tmp_path):
    path = tmp_path / "m.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cl.Sequential([cl.Input((4,)), L.Dense(3)]).save(path)
    with h5py.File(path, "a") as f:
        config = f.attrs["model_config"]
        config = config.decode() if isinstance(config, bytes) else config
        f.attrs["model_config"] = config.replace('"units": 3', '"units": 3000000000')
    assert_refused(load_in_child(path, "legacy .h5 config asking for 12 billion weights"), r"max_weights")


# ---------------------------------------------------------------------------
# Fuzzing Keras's formats: random byte changes and JSON mutations
# ---------------------------------------------------------------------------

KERAS_FUZZ_CASES = 160



def _flip_bytes(data, rng, count):
    damaged = bytearray(data)
    for _ in range(count):
        damaged[rng.integers(len(damaged))] = rng.integers(256)
    return bytes(damaged)


def test_fuzzed_keras_files_give_a_model_or_a_clear_error(tmp_path):
    cl.utils.set_random_seed(0)
    model = cl.Sequential([cl.Input(shape=(8,)), L.Dense(4), L.Dense(2)])
    model.compile(loss="mse", optimizer="adam")
    model.fit(np.zeros((4, 8), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    model.save(tmp_path / "good.keras")
    model.save_weights(tmp_path / "good.weights.h5")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.save(tmp_path / "good.h5")
    keras_bytes = (tmp_path / "good.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "good.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    h5_bytes, weights_bytes = (tmp_path / "good.h5").read_bytes(), (tmp_path / "good.weights.h5").read_bytes()
    config = json.loads(members["config.json"])
    rng = np.random.default_rng(20261203)
    cases = tmp_path / "cases"
    cases.mkdir()
    for i in range(KERAS_FUZZ_CASES):
        kind = i % 5
        if kind == 0:                                                   # the zip's bytes
            (cases / f"{i:03d}-zip.keras").write_bytes(_flip_bytes(keras_bytes, rng, rng.integers(1, 4)))
        elif kind == 1:                                                 # config.json
            changed = mutate_json(json.loads(json.dumps(config)), rng)
            zip_of(cases / f"{i:03d}-json.keras", dict(members, **{"config.json": json.dumps(changed).encode()}))
        elif kind == 2:                                                 # the HDF5 weights member's bytes
            h5 = _flip_bytes(members["model.weights.h5"], rng, rng.integers(1, 4))
            zip_of(cases / f"{i:03d}-h5member.keras", dict(members, **{"model.weights.h5": h5}))
        elif kind == 3:                                                 # a legacy .h5 file's bytes
            (cases / f"{i:03d}-legacy.h5").write_bytes(_flip_bytes(h5_bytes, rng, rng.integers(1, 4)))
        else:                                                           # a .weights.h5 file's bytes
            (cases / f"{i:03d}-file.weights.h5").write_bytes(_flip_bytes(weights_bytes, rng, rng.integers(1, 4)))
    result, bad, outcomes = load_fuzz_cases(cases, f"{KERAS_FUZZ_CASES} fuzzed Keras-format files", timeout=600)
    assert result["error"] is None, result
    assert bad == [], bad
    print("outcomes:", outcomes)
    assert sum(outcomes.values()) == KERAS_FUZZ_CASES and outcomes.get("loaded", 0) < KERAS_FUZZ_CASES
    assert result["peak_mb"] < SMALL_PEAK_MB, result


def test_a_legacy_h5_optimizer_slot_declaring_a_huge_dataset(tmp_path):
    cl.utils.set_random_seed(0)
    model = cl.Sequential([cl.Input((4,)), L.Dense(3)])
    model.compile(loss="mse", optimizer="adam")
    model.fit(np.zeros((2, 4), "float32"), np.zeros((2, 3), "float32"), verbose=0)
    path = tmp_path / "m.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.save(path)
    with h5py.File(path, "a") as f:
        group = f["optimizer_weights"]
        names = []
        group.visit(lambda n: names.append(n) if isinstance(group[n], h5py.Dataset) else None)
        slot = next(n for n in names if group[n].shape == (4, 3))
        del group[slot]
        group.create_dataset(slot, (100_000, 100_000), "f8", chunks=(1000, 1000), compression="gzip")
    assert path.stat().st_size < MB
    assert_refused(load_in_child(path, "legacy .h5 optimizer slot declaring 80 GB"), r"100000")
