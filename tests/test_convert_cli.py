"""``convlearn convert MODEL OUT``: between .keras, legacy .h5 and .weights.h5, with Keras 3 as the oracle."""

import os
import re

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
from test_cli import assert_usage_error, run

import convlearn as cl

keras = pytest.importorskip("keras", reason="Keras 3 writes and reads the files here (pip install keras)")
if keras.backend.backend() != "torch":      # pragma: no cover - another test imported keras first
    pytest.skip("these tests run Keras on its PyTorch backend (KERAS_BACKEND=torch)", allow_module_level=True)


def keras_cnn():
    kl = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1)), kl.Conv2D(3, 3, activation="relu"), kl.MaxPooling2D(),
                              kl.BatchNormalization(), kl.Flatten(), kl.Dense(4, activation="softmax")])
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def x():
    return np.random.default_rng(1).random((5, 8, 8, 1)).astype("float32")


def test_help_lists_convert(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and re.search(r"^\s+convert\s", out, re.MULTILINE), out


def test_a_keras_file_converts_to_h5_and_back(capsys, tmp_path, x):
    theirs = keras_cnn()
    theirs.save(tmp_path / "k.keras")
    code, out, err = run(capsys, "convert", tmp_path / "k.keras", tmp_path / "k.h5")
    assert code == 0, err
    assert re.search(r"Wrote .*k\.h5: the model \(legacy HDF5 format\), [0-9,]+ weights, from .*k\.keras", out)
    expected = theirs.predict(x, verbose=0)
    for model in (cl.models.load_model(tmp_path / "k.h5"), keras.saving.load_model(tmp_path / "k.h5")):
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    code, _, err = run(capsys, "convert", tmp_path / "k.h5", tmp_path / "back.keras")
    assert code == 0, err
    back = keras.saving.load_model(tmp_path / "back.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert type(back.optimizer).__name__ == "Adam"                     # the compile settings came along


def test_a_model_converts_to_its_weights_only(capsys, tmp_path, x):
    theirs = keras_cnn()
    theirs.save(tmp_path / "k.keras")
    code, out, err = run(capsys, "convert", tmp_path / "k.keras", tmp_path / "k.weights.h5")
    assert code == 0, err
    assert "k.weights.h5: its weights" in out
    fresh = keras_cnn()
    fresh.set_weights([w * 0 for w in fresh.get_weights()])
    fresh.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_convert_errors_are_one_line(capsys, tmp_path):
    keras_cnn().save(tmp_path / "k.keras")
    code, _, err = run(capsys, "convert", tmp_path / "k.keras", tmp_path / "k.onnx")
    assert_usage_error(code, err, r"the output file must end in \.keras, \.h5 or \.weights\.h5; got '.*k\.onnx'\. "
                                  r"For example: convlearn convert .*k\.keras model\.keras")
    code, _, err = run(capsys, "convert", tmp_path / "nope.keras", tmp_path / "out.h5")
    assert_usage_error(code, err, r"no model file at '.*nope\.keras'")
    code, _, err = run(capsys, "convert", tmp_path / "k.keras", tmp_path / "k.keras")
    assert_usage_error(code, err, r"the output '.*k\.keras' is the model file itself; write to another file name")
    (tmp_path / "junk.h5").write_bytes(b"not a model")
    code, _, err = run(capsys, "convert", tmp_path / "junk.h5", tmp_path / "out.keras")
    assert_usage_error(code, err, r"cannot convert '.*junk\.h5' to '.*out\.keras': .*not a valid \.keras file")
    keras_cnn().save_weights(tmp_path / "only.weights.h5")
    code, _, err = run(capsys, "convert", tmp_path / "only.weights.h5", tmp_path / "out.keras")
    assert_usage_error(code, err, r"cannot convert .*: .*an HDF5 file without a model config: it holds weights only")
    assert not (tmp_path / "out.keras").exists()
