"""The TensorBoard callback: event files read back with TensorBoard's own reader."""

from __future__ import annotations

import io
import json
import sys

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers

pytest.importorskip("tensorboardX", reason="the callback writes event files with tensorboardX (tensorboard extra)")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator",
                                        reason="TensorBoard's own reader is the oracle of these tests")


def read(folder):
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0,
                                                                          "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 6, 1)).astype(np.float32)
    return x, (x.mean(axis=(1, 2, 3)) > 0).astype(np.int64)


def model():
    m = keras.Sequential([keras.Input((6, 6, 1)), layers.Conv2D(3, 3, activation="relu", name="conv2d"),
                          layers.Flatten(name="flatten"), layers.Dense(2, activation="softmax", name="dense")])
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def fit(tmp_path, epochs=3, **options):
    x, y = data()
    m = model()
    tb = keras.callbacks.TensorBoard(log_dir=tmp_path / "logs", **options)
    history = m.fit(x, y, epochs=epochs, batch_size=8, validation_split=0.25, callbacks=[tb], verbose=0)
    return m, history.history


def test_epoch_scalars_are_the_history(tmp_path):
    _, history = fit(tmp_path)
    train, validation = read(tmp_path / "logs" / "train"), read(tmp_path / "logs" / "validation")
    for name in ("loss", "accuracy"):
        got = scalars(train, f"epoch_{name}")
        assert [s for s, _ in got] == [0, 1, 2]
        np.testing.assert_allclose([v for _, v in got], history[name], rtol=1e-6)
        got = scalars(validation, f"epoch_{name}")
        np.testing.assert_allclose([v for _, v in got], history[f"val_{name}"], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in scalars(train, "epoch_learning_rate")], [0.01] * 3, rtol=1e-6)
    assert not any(t.startswith("batch_") for t in train.Tags()["scalars"])     # update_freq="epoch"
    assert "epoch_val_loss" not in validation.Tags()["scalars"]


def test_learning_rate_follows_a_schedule(tmp_path):
    x, y = data()
    m = model()
    schedule = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    m.fit(x, y, epochs=3, batch_size=16, verbose=0,
          callbacks=[schedule, keras.callbacks.TensorBoard(log_dir=tmp_path / "logs")])
    got = [v for _, v in scalars(read(tmp_path / "logs" / "train"), "epoch_learning_rate")]
    np.testing.assert_allclose(got, [0.1, 0.05, 0.1 / 3], rtol=1e-6)


@pytest.mark.parametrize("update_freq, steps", [("batch", list(range(1, 16))), (1, list(range(1, 16))),
                                                (4, [4, 8, 12])])
def test_batch_scalars(tmp_path, update_freq, steps):
    """36 training samples in batches of 8: 5 batches an epoch, 15 in all; a batch's step is the number of
    batches trained so far."""
    x, y = data(n=48)
    m = model()
    seen = []
    probe = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(dict(logs)))
    m.fit(x, y, epochs=3, batch_size=8, validation_split=0.25, verbose=0,
          callbacks=[probe, keras.callbacks.TensorBoard(log_dir=tmp_path / "logs", update_freq=update_freq)])
    train = read(tmp_path / "logs" / "train")
    got = scalars(train, "batch_loss")
    assert len(seen) == 15
    expected = steps
    assert [s for s, _ in got] == expected
    np.testing.assert_allclose([v for _, v in got], [seen[s - 1]["loss"] for s in expected], rtol=1e-6)
    assert [s for s, _ in scalars(train, "batch_accuracy")] == expected


def test_steps_per_second(tmp_path):
    fit(tmp_path, epochs=2, write_steps_per_second=True, update_freq="batch")
    train = read(tmp_path / "logs" / "train")
    per_epoch = scalars(train, "epoch_steps_per_second")
    assert [s for s, _ in per_epoch] == [0, 1] and all(v > 0 for _, v in per_epoch)
    assert len(scalars(train, "batch_steps_per_second")) == 10 and all(v > 0 for _, v in
                                                                      scalars(train, "batch_steps_per_second"))


def test_histograms_of_every_weight(tmp_path):
    m, _ = fit(tmp_path, epochs=3, histogram_freq=2)
    train = read(tmp_path / "logs" / "train")
    assert sorted(train.Tags()["histograms"]) == ["conv2d/bias/histogram", "conv2d/kernel/histogram",
                                                  "dense/bias/histogram", "dense/kernel/histogram"]
    events = train.Histograms("dense/kernel/histogram")
    assert [e.step for e in events] == [0, 2]                 # epochs 0 and 2: every histogram_freq epochs
    last = events[-1].histogram_value                         # written at the end of the last epoch
    kernel = m.get_layer("dense").kernel
    assert last.num == kernel.size
    np.testing.assert_allclose([last.min, last.max, last.sum], [kernel.min(), kernel.max(), kernel.sum()],
                               rtol=1e-5)
    assert sum(last.bucket) == kernel.size
    assert train.Tags()["images"] == []                        # write_images is off


def test_kernel_images(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    m, _ = fit(tmp_path, epochs=1, histogram_freq=1, write_images=True)
    train = read(tmp_path / "logs" / "train")
    assert sorted(train.Tags()["images"]) == ["conv2d/bias/image", "conv2d/kernel/image", "dense/bias/image",
                                              "dense/kernel/image"]
    conv = train.Images("conv2d/kernel/image")[0]
    assert (conv.width, conv.height) == (3 * 3, 3)            # the 3 filters, 3x3 each, side by side
    dense = train.Images("dense/kernel/image")[0]
    assert (dense.width, dense.height) == (48, 2)             # (48, 2) kernel, the longer side across
    bias = train.Images("dense/bias/image")[0]
    pixels = np.asarray(Image.open(io.BytesIO(bias.encoded_image_string)).convert("L"))[0]
    expected = np.round(np.clip(m.get_layer("dense").bias, 0, 1) * 255)
    np.testing.assert_allclose(pixels, expected, atol=1)


def test_images_need_histograms_as_in_keras(tmp_path):
    fit(tmp_path, epochs=1, write_images=True)
    assert read(tmp_path / "logs" / "train").Tags()["images"] == []


def test_write_graph_writes_the_model_config(tmp_path):
    fit(tmp_path, epochs=1)
    train = read(tmp_path / "logs" / "train")
    assert train.PluginTagToContent("graph_keras_model") == {"keras": b"1"}
    config = json.loads(train.Tensors("keras")[0].tensor_proto.string_val[0])
    assert config["class_name"] == "Sequential"
    assert [layer["config"]["name"] for layer in config["config"]["layers"]][-2:] == ["flatten", "dense"]


def test_write_graph_off(tmp_path):
    fit(tmp_path, epochs=1, write_graph=False)
    assert read(tmp_path / "logs" / "train").Tags()["tensors"] == []


def test_evaluate_writes_vs_iterations(tmp_path):
    x, y = data()
    m = model()
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)             # 3 steps an epoch
    results = m.evaluate(x, y, verbose=0, return_dict=True,
                         callbacks=[keras.callbacks.TensorBoard(log_dir=tmp_path / "logs", write_graph=False)])
    validation = read(tmp_path / "logs" / "validation")
    got = scalars(validation, "evaluation_loss_vs_iterations")
    assert got[0][0] == m.optimizer.iterations == 6
    np.testing.assert_allclose(got[0][1], results["loss"], rtol=1e-6)


# ----------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs, message", [
    ({"histogram_freq": -1}, r"`histogram_freq` must be a whole number, 0 \(off\) or more. Received: histogram_freq=-1"),
    ({"histogram_freq": 1.5}, "Received: histogram_freq=1.5"),
    ({"histogram_freq": True}, "Received: histogram_freq=True"),
    ({"update_freq": "sometimes"}, r"`update_freq` must be a whole number, 1 or more, \"batch\" or \"epoch\""),
    ({"update_freq": 0}, "Received: update_freq=0"),
    ({"profile_batch": 5}, r"`profile_batch` is not supported by convlearn \(profiling"),
    ({"embeddings_freq": 1}, "`embeddings_freq` is not supported"),
    ({"log_dir": ""}, "`log_dir` must not be empty"),
    ({"log_dir": 3}, "`log_dir` must be a folder name"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras.callbacks.TensorBoard(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"write_images": "yes"}, "`write_images` must be True or False. Received: write_images='yes'"),
    ({"write_graph": 1}, "`write_graph` must be True or False"),
    ({"write_steps_per_second": None}, "`write_steps_per_second` must be True or False"),
])
def test_flags_must_be_booleans(kwargs, message):
    with pytest.raises(TypeError, match=message):
        keras.callbacks.TensorBoard(**kwargs)


def test_missing_writer_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r'pip install "convlearn\[tensorboard\]"'):
        keras.callbacks.TensorBoard()


def test_log_dir_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    x, y = data()
    with pytest.raises(OSError, match="cannot make the log folder"):
        model().fit(x, y, epochs=1, verbose=0, callbacks=[keras.callbacks.TensorBoard(log_dir=tmp_path / "file")])
