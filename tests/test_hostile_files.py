"""Hostile but fair model files: small files that ask for a lot must be refused before anything large
is allocated, with a clear error that names the file.

Each hostile file is made here, small (at most about a megabyte), and loaded in a child process under
a 1.5 GiB address-space ceiling (Linux; see ``hostile_helpers.run_limited``), so that a regression ends
in a MemoryError there instead of eating the machine. Each case prints its peak memory (``pytest -rP``).
"""

import errno
import io
import json
import os
import sys
import threading
import zipfile

import numpy as np
import pytest

import convlearn
from convlearn import layers
from convlearn.models import Sequential, load_model
from convlearn.saving import v01
from hostile_helpers import (
    GiB,
    claim_size,
    deflated_zeros_member,
    load_fuzz_cases,
    mutate_json,
    npy_header,
    npz_bytes,
    read_members,
    report_peak,
    run_limited,
    write_members,
    zero_npz,
)

LINUX = sys.platform.startswith("linux")


def tiny_model():
    """Input(8) -> Dense(4) -> Dense(2), Adam, one step trained: 4 weight arrays and an optimizer state."""
    convlearn.utils.set_random_seed(0)
    model = Sequential([convlearn.Input(shape=(8,)), layers.Dense(4), layers.Dense(2)])
    model.compile(loss="mse", optimizer="adam")
    model.fit(np.zeros((4, 8), "float32"), np.zeros((4, 2), "float32"), verbose=0)
    return model


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def good(folder):
    """A valid model file and its members."""
    path = folder / "good.keras"
    v01.save_model(tiny_model(), path)                             # convlearn 0.1's format, still read
    return path, read_members(path)


@pytest.fixture(scope="module")
def weights(good):
    """The four weight arrays of the good file, in order."""
    with np.load(io.BytesIO(good[1]["model.weights.npz"]), allow_pickle=False) as npz:
        return [npz[f"{i:04d}"] for i in range(4)]


def load_in_child(path, case, call="convlearn.models.load_model({path!r})"):
    """Load ``path`` in a child under the memory ceiling; return its result (and print its peak)."""
    result = run_limited("import convlearn\n" + call.format(path=str(path)))
    report_peak(case, result)
    return result


def assert_refused(result, pattern, path, error="ValueError|FileError|LimitError"):
    import re

    assert result["error"] is not None and re.fullmatch(error, result["error"]), result
    assert re.search(pattern, result["message"]), result["message"]
    assert str(path) in result["message"]
    assert result["peak_mb"] < 400, result            # nothing large was allocated


def config_asking_for(units, inputs):
    """A model config (well under 1 KB) of Input(inputs) -> Dense(units): inputs * units weights."""
    config = {"class_name": "Sequential", "input_shape": [None, inputs], "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "i", "shape": [inputs]}},
        {"class_name": "Dense", "config": {"name": "d", "units": units}}]}}
    text = json.dumps(config)
    assert len(text) < 1024
    return text


# ---------------------------------------------------------------------------
# Zip bombs and members that lie about their size
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bomb_npz(weights):
    """An .npz (about 1 MB) whose first array is 1 GiB of zeros, deflated, followed by the real ones."""
    bomb = zero_npz((GiB // 4,))
    buf = io.BytesIO(bomb)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, w in enumerate(weights[1:], start=1):
            zf.writestr(f"{i:04d}.npy", npz_member_bytes(w))
    return buf.getvalue()


def npz_member_bytes(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def test_a_compressed_gigabyte_of_zeros_in_the_weights_is_refused_from_its_header(good, bomb_npz, folder):
    path = write_members(folder / "bomb.keras", dict(good[1], **{"model.weights.npz": bomb_npz}))
    assert path.stat().st_size < 1.1e6
    result = load_in_child(path, "1 MB .keras holding a deflated 1 GiB array")
    assert_refused(result, r"weight array 0 has shape \(268435456,\) and dtype float32; the model needs shape "
                           r"\(8, 4\)", path)


def load_weights_file_in_child(folder, name, data, case):
    """Write ``data`` as the weights file ``name`` and load it into the tiny model in a child."""
    path = folder / name
    path.write_bytes(data)
    return path, load_in_child(path, case, TINY_MODEL + "\nm.load_weights({path!r})")


TINY_MODEL = ("m = convlearn.Sequential([convlearn.Input(shape=(8,)), convlearn.layers.Dense(4), "
              "convlearn.layers.Dense(2)])")


def test_a_compressed_gigabyte_of_zeros_in_a_weights_file_is_refused(bomb_npz, folder):
    path, result = load_weights_file_in_child(folder, "bomb.weights.npz", bomb_npz,
                                              "1 MB .weights.npz holding a deflated 1 GiB array")
    assert_refused(result, r"weight array 0 has shape \(268435456,\)", path)


def test_a_member_whose_header_understates_its_size_is_not_inflated(good, folder):
    """The central directory says 1000 bytes; the data inflate to 1 GiB: reading stops at 1000 bytes
    (in chunks) and the CRC check refuses the member."""
    members = {k: v for k, v in good[1].items() if k != "model.weights.npz"}
    path = deflated_zeros_member(folder / "liar.keras", "model.weights.npz", GiB, members)
    claim_size(path, "model.weights.npz", 1000)
    result = load_in_child(path, "member claiming 1000 bytes, inflating to 1 GiB")
    assert_refused(result, r"is corrupted: cannot read 'model\.weights\.npz' \(Bad CRC-32", path)


def test_a_member_whose_header_overstates_its_size_is_refused(good, folder):
    path = write_members(folder / "over.keras", good[1])
    claim_size(path, "model.weights.npz", len(good[1]["model.weights.npz"]) + 10)
    with pytest.raises(ValueError, match=r"over\.keras' is corrupted: member 'model\.weights\.npz' holds \d+ "
                                         r"bytes; the zip header says \d+\."):
        load_model(path)


# ---------------------------------------------------------------------------
# Configs that ask for too many weights
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("units, inputs, asked", [(50_000_000, 10, "500,000,000"),
                                                  (10**6, 10**7, "10,000,000,000,000")],
                         ids=["Dense(50 million units)", "10^13 weights"])
def test_a_1_kb_config_asking_for_too_many_weights_is_refused_before_allocating(good, folder, units, inputs,
                                                                                 asked):
    members = {k: v for k, v in good[1].items() if k != "optimizer.npz"}
    path = write_members(folder / f"asks_{units}.keras", dict(members, **{"config.json": config_asking_for(units, inputs)}))
    result = load_in_child(path, f"1 KB config asking for {asked} weights")
    assert_refused(result, rf"the model asks for at least {asked} weights \(Dense 'd' alone asks for {asked}, "
                           rf"shape \({inputs}, {units}\)\), more than the limit of 20,000,000\. Refusing to build "
                           r"it\. If you trust this file .* pass a larger max_weights to load_model", path)


def test_max_weights_lets_a_trusted_larger_model_load_and_allocates_zeros(good, folder):
    """55 million weights: refused by default, built with max_weights=60 million (as zeros, which take no
    memory until written), then refused because the file's weights do not fit."""
    members = {k: v for k, v in good[1].items() if k != "optimizer.npz"}
    path = write_members(folder / "asks_55m.keras", dict(members, **{"config.json": config_asking_for(5_000_000, 10)}))
    with pytest.raises(ValueError, match=r"at least 50,000,000 weights \(Dense .d. alone"):
        load_model(path)
    call = "from convlearn.saving import load_model\nload_model({path!r}, max_weights=60_000_000)"
    result = load_in_child(path, "55 million weights with max_weights=60 million", call)
    assert_refused(result, r"asks_55m\.keras' holds 4 weight arrays; the model needs 2\.", path)


@pytest.mark.parametrize("value", [0, -5, 2.5, "many", True])
def test_max_weights_must_be_a_positive_whole_number(good, value):
    from convlearn.saving import load_model as load       # convlearn.models.load_model does not pass it yet

    with pytest.raises(ValueError, match=r"load_model: `max_weights` must be a positive whole number, the most "
                                         r"weights a file may ask for \(default 20,000,000\)\. Received: max_weights="):
        load(good[0], max_weights=value)


class _SlowDense(layers.Dense):
    """A Dense layer whose build waits for an event: keeps a load in progress while another thread works."""

    started = threading.Event()
    release = threading.Event()

    def build(self, input_shape):
        _SlowDense.started.set()
        assert _SlowDense.release.wait(30)
        super().build(input_shape)


def test_the_budget_of_one_load_does_not_touch_another_thread(tmp_path):
    """While one thread loads a file with max_weights=100, another builds a 10,000-weight layer: it is
    neither refused nor given zeros (the budget is per thread)."""
    from convlearn.saving import load_model as load

    _SlowDense.release.set()
    model = Sequential([convlearn.Input(shape=(4,)), _SlowDense(3)])
    model.save(tmp_path / "slow.keras")
    _SlowDense.started.clear()
    _SlowDense.release.clear()
    outcome = {}

    def loader():
        outcome["model"] = load(tmp_path / "slow.keras", custom_objects={"_SlowDense": _SlowDense}, max_weights=100)

    thread = threading.Thread(target=loader)
    thread.start()
    try:
        assert _SlowDense.started.wait(30)
        other = layers.Dense(100)
        other.build((None, 100))                                       # 10,100 weights, drawn, in this thread
        assert np.count_nonzero(other.get_weights()[0]) > 9000
    finally:
        _SlowDense.release.set()
        thread.join(30)
    np.testing.assert_array_equal(outcome["model"].get_weights()[0], model.get_weights()[0])


# ---------------------------------------------------------------------------
# .npy headers, duplicate members, layouts
# ---------------------------------------------------------------------------

HUGE_HEADER = b"\x93NUMPY\x02\x00" + (0xFFFF_FFF0).to_bytes(4, "little") + b"{'descr': '<f4', "


def npz_of(members):
    """An .npz (stored, as np.savez writes) of (name, .npy bytes) pairs, names possibly repeated."""
    return write_members(io.BytesIO(), members, compression=zipfile.ZIP_STORED).getvalue()


@pytest.fixture(scope="module")
def huge_header_npz(weights):
    return npz_of([("0000.npy", HUGE_HEADER)] + [(f"{i:04d}.npy", npz_member_bytes(w))
                                                 for i, w in enumerate(weights[1:], start=1)])


def test_a_huge_npy_header_in_a_model_file_is_refused(good, huge_header_npz, folder):
    path = write_members(folder / "header.keras", dict(good[1], **{"model.weights.npz": huge_header_npz}))
    result = load_in_child(path, ".npy header claiming 4 GiB in a .keras")
    assert_refused(result, r"\(array '0000\.npy'\): its \.npy header claims 4,294,967,280 bytes; a real one takes "
                           r"about a hundred \(at most 65,536 are read\)\. The file is damaged or hostile", path)


def test_a_huge_npy_header_in_a_weights_file_is_refused(huge_header_npz, folder):
    path, result = load_weights_file_in_child(folder, "header.weights.npz", huge_header_npz,
                                              ".npy header claiming 4 GiB in a .weights.npz")
    assert_refused(result, r"its \.npy header claims 4,294,967,280 bytes", path)


@pytest.mark.parametrize("data, pattern", [
    (b"\x93NUMPY\x03\x00" + b"\x00" * 8, r"\.npy format version 3\.0 is not read by convlearn"),
    (b"not a numpy file", r"is not a \.npy array"),
    (b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'", r"is truncated: it ends inside the \.npy header"),
    (npy_header((8, 4)) + b"\x00" * 10, r"is truncated: its \.npy header declares 128 data bytes, it holds 10"),
    (npy_header((8, 4)) + b"\x00" * 129, r"is longer than its \.npy header says \(128 data bytes\)"),
    (npy_header((8, 4), descr=[("a", "<f4")]), r"holds a structured array"),
    (b"\x93NUMPY\x01\x00\x08\x00garbage!", r"invalid \.npy header"),
], ids=["version 3", "not npy", "short header", "short data", "long data", "structured", "bad header"])
def test_damaged_npy_members(good, weights, folder, data, pattern):
    npz = npz_of([("0000.npy", data)] + [(f"{i:04d}.npy", npz_member_bytes(w)) for i, w in enumerate(weights[1:], 1)])
    path = write_members(folder / "damaged.keras", dict(good[1], **{"model.weights.npz": npz}))
    with pytest.raises(ValueError, match=pattern):
        load_model(path)


def test_duplicate_members_are_refused(good, folder):
    """Two config.json members: zipfile would silently use the last one (here: relu instead of none)."""
    other = json.loads(good[1]["config.json"])
    other["config"]["layers"][1]["config"]["activation"] = "relu"
    path = write_members(folder / "twice.keras", list(good[1].items()) + [("config.json", json.dumps(other))])
    result = load_in_child(path, "two config.json members")
    assert_refused(result, r"twice\.keras' holds several members named 'config\.json': such an archive is damaged "
                           r"or made to mislead \(zip readers disagree on which copy counts\)\. Refusing to load it",
                   path)


def test_duplicate_arrays_in_the_weights_are_refused(good, weights, folder):
    npz = npz_of([(f"{i:04d}.npy", npz_member_bytes(w)) for i, w in enumerate(weights)]
                 + [("0000.npy", npz_member_bytes(weights[0] + 1))])
    path = write_members(folder / "twice_w.keras", dict(good[1], **{"model.weights.npz": npz}))
    with pytest.raises(ValueError, match=r"'model\.weights\.npz' holds several members named '0000\.npy'"):
        load_model(path)


def eleven_kernels():
    return Sequential([convlearn.Input(shape=(4,))] + [layers.Dense(4, use_bias=False) for _ in range(11)])


def test_savez_of_eleven_arrays_is_refused_not_loaded_in_text_order(folder):
    """np.savez(*weights) names arrays arr_0 ... arr_10; read in text order, arr_10 would land in the third
    weight. Such files are refused, naming the layout save_weights writes; the model is left as it was."""
    path = folder / "eleven.weights.npz"
    np.savez(path, *[np.full((4, 4), i, np.float32) for i in range(11)])
    model = eleven_kernels()
    before = model.get_weights()
    result = load_in_child(path, "np.savez(*weights) with 11 arrays",
                           "m = convlearn.Sequential([convlearn.Input(shape=(4,))] + "
                           "[convlearn.layers.Dense(4, use_bias=False) for _ in range(11)])\nm.load_weights({path!r})")
    assert_refused(result, r"is not laid out the way save_weights writes weights \(one array per weight, in "
                           r"model\.get_weights\(\) order; write it with model\.save_weights\('model\.weights\.npz'\), "
                           r"or load the arrays yourself and call model\.set_weights\(\[\.\.\.\]\)\): expected arrays "
                           r"named 0000, 0001, 0002, \.\.\. \(11 in all\) \(one per array, in order\); found arr_0, "
                           r"arr_1, arr_10, \.\.\. \(11 in all\)", path)
    with pytest.raises(ValueError, match="is not laid out the way save_weights writes weights"):
        model.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_save_weights_files_of_eleven_arrays_round_trip(folder):
    a, b = eleven_kernels(), eleven_kernels()
    a.save_weights(folder / "eleven_ok.weights.npz")
    b.load_weights(folder / "eleven_ok.weights.npz")
    assert all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


def test_a_weights_file_that_is_not_a_zip(folder):
    (folder / "junk.weights.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"junk\.weights\.npz' is not a valid weights file, or it is corrupted "
                                         r"\(not a zip of arrays\)\. Write one with model\.save_weights"):
        tiny_model().load_weights(folder / "junk.weights.npz")


def test_an_optimizer_state_of_the_wrong_shape_is_refused_from_its_header(good, folder):
    with np.load(io.BytesIO(good[1]["optimizer.npz"]), allow_pickle=False) as npz:
        state = [npz[k] for k in sorted(npz.files)]
    wrong = list(state)
    wrong[2] = np.zeros((4, 8), np.float32)
    path = write_members(folder / "opt.keras", dict(good[1], **{"optimizer.npz": npz_bytes(*wrong)}))
    with pytest.raises(ValueError, match=r"'optimizer\.npz': array 2 has shape \(4, 8\) and dtype float32; the "
                                         r"optimizer state of weight 0 has shape \(8, 4\)"):
        load_model(path)
    wrong = list(state)
    wrong[0] = np.zeros(3, np.int64)
    path = write_members(folder / "opt.keras", dict(good[1], **{"optimizer.npz": npz_bytes(*wrong)}))
    with pytest.raises(ValueError, match=r"the step count must be one integer; array 0 has shape \(3,\)"):
        load_model(path)


def test_a_config_that_cannot_be_rebuilt_names_the_file(good, folder):
    config = json.loads(good[1]["config.json"])
    config["config"]["layers"][1]["config"]["units"] = "four"
    path = write_members(folder / "units.keras", dict(good[1], **{"config.json": json.dumps(config)}))
    with pytest.raises(ValueError, match=r"units\.keras': the model config cannot be rebuilt \(Invalid "
                                         r"configuration for layer 'Sequential': Invalid configuration for layer "
                                         r"'Dense': Dense: `units` must be a positive integer\. Received: "
                                         r"units='four'\.\)\."):
        load_model(path)


# ---------------------------------------------------------------------------
# Paths: bytes and PathLike like open(), special files refused without opening them
# ---------------------------------------------------------------------------

def test_bytes_and_pathlike_paths_work_like_open(tmp_path):
    model = tiny_model()
    for path in (os.fsencode(tmp_path / "b.keras"), tmp_path / "p.keras"):
        model.save(path)
        assert all(np.array_equal(a, b) for a, b in zip(load_model(path).get_weights(), model.get_weights()))
    fresh = tiny_model()
    model.save_weights(os.fsencode(tmp_path / "b.weights.npz"))
    fresh.load_weights(os.fsencode(tmp_path / "b.weights.npz"))
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), model.get_weights()))


@pytest.mark.parametrize("call", ["load_model", "save", "load_weights"])
def test_a_path_that_is_not_a_file_name(call):
    model = tiny_model()
    run = {"load_model": lambda p: load_model(p), "save": model.save, "load_weights": model.load_weights}[call]
    with pytest.raises(TypeError, match=rf"{call}: expected a file name \(str, bytes or "
                                        r"os\.PathLike\); got int 123"):
        run(123)
    with pytest.raises(ValueError, match=r"expected a file name; got ''"):
        run("")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_a_fifo_is_refused_without_being_opened(tmp_path):
    """Opening a FIFO for reading blocks until someone writes: it must be refused from os.stat."""
    fifo = tmp_path / "pipe.keras"
    os.mkfifo(fifo)
    result = load_in_child(fifo, "a FIFO as the model file")
    assert_refused(result, r"pipe\.keras' is a FIFO \(named pipe\), not a model file; convlearn reads only "
                           r"regular files", fifo)
    weights_fifo = tmp_path / "pipe.weights.npz"
    os.mkfifo(weights_fifo)
    result = load_in_child(weights_fifo, "a FIFO as the weights file",
                           "convlearn.Sequential([convlearn.Input(shape=(2,)), convlearn.layers.Dense(1)])"
                           ".load_weights({path!r})")
    assert_refused(result, r"is a FIFO \(named pipe\), not a weights file", weights_fifo)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused():
    with pytest.raises(ValueError, match=r"'/dev/zero' is a character device, not a model file"):
        load_model("/dev/zero")


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "dir.keras").mkdir()
    with pytest.raises(ValueError, match=r"dir\.keras' is a folder, not a model file"):
        load_model(tmp_path / "dir.keras")


# ---------------------------------------------------------------------------
# Saving: a failure names the target, leaves no temporary file and no open file descriptor
# ---------------------------------------------------------------------------

def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_saving_onto_a_folder_names_the_folder(tmp_path):
    (tmp_path / "dir.keras").mkdir()
    with pytest.raises(IsADirectoryError, match=r"save: '.*dir\.keras' is a folder\. Give a file name such as"):
        tiny_model().save(tmp_path / "dir.keras")
    assert os.listdir(tmp_path) == ["dir.keras"]


def test_a_failed_rename_names_the_target_not_the_temporary_file(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), src, dst)

    model = tiny_model()
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError, match=r"Cannot write '.*m\.keras': Permission denied\.") as info:
        model.save(tmp_path / "m.keras")
    assert ".tmp" not in str(info.value)
    assert os.listdir(tmp_path) == []


def test_a_temporary_file_that_cannot_be_made_names_the_target(tmp_path, monkeypatch):
    import tempfile

    def refuse(prefix, suffix, dir):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.path.join(dir, prefix + "x" + suffix))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"Cannot write '.*w\.weights\.npz': Permission denied\.") as info:
        tiny_model().save_weights(tmp_path / "w.weights.npz")
    assert ".tmp" not in str(info.value)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts file descriptors in /proc")
def test_a_failed_save_leaks_no_file_descriptor(tmp_path, monkeypatch):
    def refuse(path, mode):
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), path)

    model = tiny_model()
    before = open_fds()
    monkeypatch.setattr(os, "chmod", refuse)
    for _ in range(5):
        with pytest.raises(PermissionError, match=r"Cannot write '.*m\.keras': Operation not permitted\."):
            model.save(tmp_path / "m.keras")
    monkeypatch.undo()
    assert open_fds() == before
    assert os.listdir(tmp_path) == []


# ---------------------------------------------------------------------------
# Fuzzing: random changes to a valid file give a model or a clear error naming the file, nothing else
# ---------------------------------------------------------------------------

FUZZ_CASES = 200



@pytest.mark.skipif(not LINUX, reason="the fuzz cases run under RLIMIT_AS (Linux)")
def test_fuzzed_model_files_give_a_model_or_a_clear_error(good, tmp_path):
    rng = np.random.default_rng(20240601)
    path, members = good
    data = path.read_bytes()
    cases = tmp_path / "cases"
    cases.mkdir()
    config = json.loads(members["config.json"])
    for i in range(FUZZ_CASES):
        kind = i % 4
        if kind == 0:                                                   # random bytes changed
            damaged = bytearray(data)
            for _ in range(rng.integers(1, 4)):
                damaged[rng.integers(len(damaged))] = rng.integers(256)
            (cases / f"{i:03d}-bytes.keras").write_bytes(bytes(damaged))
        elif kind == 1:                                                 # the config changed
            changed = mutate_json(json.loads(json.dumps(config)), rng)
            write_members(cases / f"{i:03d}-json.keras", dict(members, **{"config.json": json.dumps(changed)}))
        elif kind == 2:                                                 # the metadata or a weight's header changed
            npz = bytearray(members["model.weights.npz"])
            at = rng.integers(len(npz))
            npz[at:at + 2] = rng.integers(0, 256, 2, dtype=np.uint8).tobytes()
            write_members(cases / f"{i:03d}-npz.keras", dict(members, **{"model.weights.npz": bytes(npz)}))
        else:                                                           # a weights file's bytes changed
            npz = bytearray(members["model.weights.npz"])
            npz[rng.integers(len(npz))] ^= 1 << rng.integers(8)
            (cases / f"{i:03d}-file.weights.npz").write_bytes(bytes(npz))
    result, bad, outcomes = load_fuzz_cases(cases, f"{FUZZ_CASES} fuzzed model files", timeout=300)
    assert result["error"] is None, result
    assert bad == [], bad
    print("outcomes:", outcomes)
    assert sum(outcomes.values()) == FUZZ_CASES and outcomes.get("loaded", 0) < FUZZ_CASES


# ---------------------------------------------------------------------------
# The worst a file within the limits can do
# ---------------------------------------------------------------------------

def test_the_largest_model_a_small_file_may_describe_loads_in_bounded_memory(good, folder):
    """A file of under 1 MB describing 19.8 million weights (just under the limit), all zeros, with Adam's
    state. It loads: the weights take 79 MB, read one array at a time into the model; Adam's two slots
    take twice that. The figure is printed."""
    units = 1_800_000
    config = json.loads(config_asking_for(units, 10))
    config["compile_config"] = json.loads(good[1]["config.json"])["compile_config"]
    shapes = [(10, units), (units,)]
    path = write_members(folder / "largest.keras", {
        "metadata.json": good[1]["metadata.json"], "config.json": json.dumps(config),
        "model.weights.npz": zero_npz(*shapes),
        "optimizer.npz": zero_npz(*[s for s in shapes for _ in ("m", "v")],
                                  first=[("0000.npy", npz_member_bytes(np.array(1, np.int64)))])})
    assert path.stat().st_size < 1e6
    result = load_in_child(path, "a <1 MB file of 19.8 million weights (zeros) with Adam's state",
                           "m = convlearn.models.load_model({path!r})\nassert m.count_params() == 19_800_000")
    assert result["error"] is None, result
    assert result["peak_mb"] < 450
    result = load_in_child(path, "the same, compile=False", "m = convlearn.models.load_model({path!r}, "
                                                            "compile=False)\nassert m.count_params() == 19_800_000")
    assert result["error"] is None, result
    assert result["peak_mb"] < 250
