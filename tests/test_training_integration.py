"""Training as a whole: the model learns, its gradients are right, callbacks act on the real model,
and one training step matches PyTorch and the reference kernels."""

import csv
import math
import os

import numpy as np
import pytest

import convlearn as keras
from convlearn import callbacks, layers, ops
from convlearn.models import Sequential, load_model
from helpers import numerical_gradient, rel_error
from model_helpers import bars_dataset, compiled_cnn, same_weights, small_cnn

# ---------------------------------------------------------------------------
# The model learns
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bars():
    """300 training and 150 validation images of bars."""
    return bars_dataset(300, seed=0), bars_dataset(150, seed=1)


def test_a_small_cnn_learns_the_bars(bars):
    (x, y), (xv, yv) = bars
    keras.utils.set_random_seed(0)
    model = compiled_cnn(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(x, y, epochs=8, batch_size=16, validation_data=(xv, yv), verbose=0)
    assert history.history["val_accuracy"][-1] >= 0.95
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


@pytest.mark.parametrize("optimizer", [
    lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
    lambda: keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
    lambda: keras.optimizers.Adam(learning_rate=0.01),
    lambda: keras.optimizers.RMSprop(learning_rate=0.005),
    lambda: keras.optimizers.Adam(learning_rate=0.01, clipnorm=1.0),
], ids=["sgd-momentum", "sgd-nesterov", "adam", "rmsprop", "adam-clipnorm"])
def test_every_optimizer_lowers_the_loss(bars, optimizer):
    (x, y), _ = bars
    keras.utils.set_random_seed(1)
    model = compiled_cnn(optimizer=optimizer())
    start = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=4, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < 0.6 * start


def test_one_hot_labels_with_categorical_crossentropy(bars):
    (x, y), (xv, yv) = bars
    keras.utils.set_random_seed(2)
    model = small_cnn()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, keras.utils.to_categorical(y), epochs=6, batch_size=16, verbose=0)
    assert model.evaluate(xv, keras.utils.to_categorical(yv, 3), verbose=0)[1] >= 0.9


def test_logits_output_with_from_logits_loss(bars):
    """No softmax on the last layer: the loss takes raw scores (from_logits=True)."""
    (x, y), (xv, yv) = bars
    keras.utils.set_random_seed(3)
    model = Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
                        layers.Flatten(), layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    scores = model.predict(xv, verbose=0)
    assert np.any(scores < 0) or np.any(scores > 1)            # raw scores, not probabilities
    assert model.evaluate(xv, yv, verbose=0)[1] >= 0.9


def test_binary_classification_with_a_sigmoid(bars):
    (x, y), (xv, yv) = bars
    keras.utils.set_random_seed(4)
    model = Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
                        layers.Flatten(), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, (y == 1).astype(np.float32), epochs=6, batch_size=16, verbose=0)
    assert model.evaluate(xv, (yv == 1).astype(np.float32), verbose=0)[1] >= 0.9


def test_regression_with_mean_squared_error():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32) + 0.25                 # (200,)
    model = Sequential([keras.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse", metrics=["mae"])
    history = model.fit(x, y, epochs=30, batch_size=20, verbose=0)
    assert history.history["loss"][-1] < 1e-3
    np.testing.assert_allclose(model.get_weights()[0][:, 0], [1.0, -2.0, 0.5, 3.0], atol=0.02)
    np.testing.assert_allclose(model.get_weights()[1], [0.25], atol=0.02)


# ---------------------------------------------------------------------------
# The gradients of the whole model are right (finite differences, float64)
# ---------------------------------------------------------------------------

def float64_model(last_units, last_activation):
    return Sequential([
        keras.Input(shape=(5, 5, 1), dtype="float64"),
        layers.Conv2D(2, 2, activation="tanh", dtype="float64"),       # (4, 4, 2)
        layers.MaxPooling2D(2, dtype="float64"),                       # (2, 2, 2)
        layers.Flatten(dtype="float64"),                               # (8,)
        layers.Dense(4, activation="relu", dtype="float64", bias_initializer="ones"),
        layers.Dense(last_units, activation=last_activation, dtype="float64"),
    ])


@pytest.mark.parametrize("last_units, last_activation, loss, labels", [
    (3, "softmax", "sparse_categorical_crossentropy", np.array([0, 2, 1, 2])),
    (3, "softmax", "categorical_crossentropy", np.eye(3)[[1, 0, 2, 2]]),
    (3, None, keras.losses.SparseCategoricalCrossentropy(from_logits=True), np.array([2, 1, 0, 1])),
    (1, "sigmoid", "binary_crossentropy", np.array([0.0, 1.0, 1.0, 0.0])),
    (2, "linear", "mse", np.array([[0.5, -1.0], [0.0, 2.0], [1.0, 1.0], [-0.5, 0.25]])),
], ids=["sparse-softmax", "categorical-softmax", "from-logits", "binary-sigmoid", "mse"])
def test_model_gradients_match_finite_differences(last_units, last_activation, loss, labels):
    """The gradient fit uses, for every weight of every layer, equals the slope of the evaluate loss."""
    keras.utils.set_random_seed(5)
    model = float64_model(last_units, last_activation)
    optimizer = GradientRecorder(learning_rate=0.0)                                # a step that changes nothing
    model.compile(optimizer=optimizer, loss=loss)
    x = np.random.default_rng(6).normal(size=(4, 5, 5, 1))
    model.train_on_batch(x, labels)                                                # records the gradients

    def loss_value():
        return model.evaluate(x, labels, batch_size=4, verbose=0)

    checked = 0
    for layer in model.layers:
        for name, w in layer.params.items():
            numeric = numerical_gradient(loss_value, w)          # perturbs the live weight array in place
            assert rel_error(optimizer.seen[id(w)], numeric) < 1e-6, f"{layer.name}.{name}"
            checked += 1
    assert checked == 6


class GradientRecorder(keras.optimizers.SGD):
    """SGD that keeps a copy of every gradient it is given: the gradients fit really uses."""

    def apply_some(self, indices, params, grads):
        self.seen = getattr(self, "seen", {})
        for j in indices:
            self.seen[id(params[j])] = np.array(grads[j], copy=True)
        super().apply_some(indices, params, grads)


# ---------------------------------------------------------------------------
# One training step against PyTorch, and against the reference kernels
# ---------------------------------------------------------------------------

def guide_like_model(dtype):
    return Sequential([
        keras.Input(shape=(10, 10, 1), dtype=dtype),
        layers.Conv2D(3, (3, 3), activation="relu", dtype=dtype),     # (8, 8, 3)
        layers.MaxPool2D(2, 2, dtype=dtype),                           # (4, 4, 3)
        layers.Flatten(dtype=dtype),                                   # (48,)
        layers.Dense(6, activation="relu", dtype=dtype),
        layers.Dense(4, activation="softmax", dtype=dtype),
    ])


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_three_training_steps_match_pytorch(name):
    torch = pytest.importorskip("torch")
    keras.utils.set_random_seed(7)
    model = guide_like_model("float64")
    rng = np.random.default_rng(8)
    x = rng.random((3, 12, 10, 10, 1))                                 # three batches of 12 images
    y = rng.integers(0, 4, size=(3, 12))
    if name == "sgd":
        ours = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
        theirs = lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9)  # noqa: E731
    else:
        # Keras adds epsilon to sqrt(v), PyTorch to sqrt(v / (1 - beta_2^t)): with a tiny epsilon they agree
        ours = keras.optimizers.Adam(learning_rate=0.01, epsilon=1e-12)
        theirs = lambda params: torch.optim.Adam(params, lr=0.01, eps=1e-12)  # noqa: E731
    model.compile(optimizer=ours, loss="sparse_categorical_crossentropy")

    kernel, *rest = model.get_weights()
    # Keras layout -> PyTorch layout: conv (kh, kw, C, F) -> (F, C, kh, kw); dense kernels (D, U) are used as x @ W
    conv_w = torch.tensor(np.transpose(kernel, (3, 2, 0, 1)).copy(), requires_grad=True)
    b, k1, b1, k2, b2 = (torch.tensor(w, requires_grad=True) for w in rest)
    params = [conv_w, b, k1, b1, k2, b2]
    opt = theirs(params)
    for step in range(3):
        model.train_on_batch(x[step], y[step])
        xt = torch.tensor(x[step]).permute(0, 3, 1, 2)                 # NHWC -> NCHW
        h = torch.relu(torch.nn.functional.conv2d(xt, conv_w, b))
        h = torch.nn.functional.max_pool2d(h, 2, 2)
        h = h.permute(0, 2, 3, 1).reshape(12, -1)                      # flatten in NHWC order, like Keras
        h = torch.relu(h @ k1 + b1)
        logits = h @ k2 + b2
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y[step]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    expected = [np.transpose(conv_w.detach().numpy(), (2, 3, 1, 0))] + [p.detach().numpy() for p in params[1:]]
    for got, want in zip(model.get_weights(), expected):
        # Adam divides by sqrt(v): weights with near-zero gradients amplify rounding, hence its looser atol
        # (still 10,000 times smaller than one step of 0.01)
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9 if name == "sgd" else 1e-6)


def test_two_conv_blocks_train_like_pytorch(monkeypatch):
    """Keras's MNIST convnet shape, small: its second convolution (16 input channels, 3x3,
    then 2x2 pooling) trains through Winograd's F(2x2, 3x3) on the fast path."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    winograd_steps = []
    fused_forward = ops.fast.conv2d_maxpool_forward

    def spy(x, kernel, *args, **kwargs):
        out, cache = fused_forward(x, kernel, *args, **kwargs)
        if kernel.shape[2] == 16 and cache is not None:       # the second convolution, in training
            winograd_steps.append(cache[-1] is not None)      # the cache ends with the Winograd tiles
        return out, cache

    monkeypatch.setattr(ops.fast, "conv2d_maxpool_forward", spy)
    keras.utils.set_random_seed(3)
    model = Sequential([
        keras.Input(shape=(12, 12, 1), dtype="float64"),
        layers.Conv2D(16, 3, activation="relu", dtype="float64"),       # (10, 10, 16)
        layers.MaxPooling2D(2, dtype="float64"),                        # (5, 5, 16)
        layers.Conv2D(8, 3, activation="relu", dtype="float64"),        # (3, 3, 8): Winograd
        layers.MaxPooling2D(2, dtype="float64"),                        # (1, 1, 8)
        layers.Flatten(dtype="float64"),
        layers.Dense(3, activation="softmax", dtype="float64"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(4)
    x = rng.random((3, 10, 12, 12, 1))
    y = rng.integers(0, 3, size=(3, 10))
    k1, b1, k2, b2, k3, b3 = model.get_weights()
    params = [torch.tensor(np.transpose(k1, (3, 2, 0, 1)).copy(), requires_grad=True),
              torch.tensor(b1, requires_grad=True),
              torch.tensor(np.transpose(k2, (3, 2, 0, 1)).copy(), requires_grad=True),
              torch.tensor(b2, requires_grad=True),
              torch.tensor(k3, requires_grad=True), torch.tensor(b3, requires_grad=True)]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    for step in range(3):
        model.train_on_batch(x[step], y[step])
        h = torch.tensor(x[step]).permute(0, 3, 1, 2)                   # NHWC -> NCHW
        h = F.max_pool2d(torch.relu(F.conv2d(h, params[0], params[1])), 2)
        h = F.max_pool2d(torch.relu(F.conv2d(h, params[2], params[3])), 2)
        logits = h.permute(0, 2, 3, 1).reshape(10, -1) @ params[4] + params[5]
        loss = F.cross_entropy(logits, torch.tensor(y[step]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert winograd_steps == [True] * 3                                 # the Winograd path was taken
    expected = [np.transpose(params[0].detach().numpy(), (2, 3, 1, 0)), params[1].detach().numpy(),
                np.transpose(params[2].detach().numpy(), (2, 3, 1, 0))] + [p.detach().numpy() for p in params[3:]]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


def test_training_with_reference_and_fast_kernels_agrees():
    """The readable loop kernels and the vectorised ones train the model to the same weights."""
    x, y = bars_dataset(16)
    results = []
    for kernels in ("reference", "fast"):
        keras.utils.set_random_seed(9)
        model = compiled_cnn(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.5))
        with ops.use_kernels(kernels):
            model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        results.append(model.get_weights())
    for ref, fast in zip(*results):
        np.testing.assert_allclose(fast, ref, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------------
# Callbacks acting on the real model
# ---------------------------------------------------------------------------

def overfitting_run(cbs, epochs=8):
    """Train on bars while validating on the same images with wrong labels: validation loss
    gets worse as the model learns. Returns (model, history, weights at the end of each epoch)."""
    keras.utils.set_random_seed(10)
    x, y = bars_dataset(90)
    snapshots = []
    recorder = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(model.get_weights()))
    model = compiled_cnn(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(x, y, epochs=epochs, batch_size=15, validation_data=(x, (y + 1) % 3),
                        callbacks=[recorder, *cbs], verbose=0)
    return model, history, snapshots


@pytest.mark.parametrize("patience", [0, 1, 3])
def test_early_stopping_counts_epochs_without_improvement(patience):
    """With nothing to learn (learning rate 0), training stops after 1 + max(patience, 1) epochs, as in Keras."""
    x, y = bars_dataset(30)
    model = compiled_cnn(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    stop = callbacks.EarlyStopping(monitor="loss", patience=patience)
    history = model.fit(x, y, epochs=10, shuffle=False, callbacks=[stop], verbose=0)
    assert len(history.history["loss"]) == 1 + max(patience, 1)
    assert stop.stopped_epoch == max(patience, 1)


def test_early_stopping_restores_the_best_weights():
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    model, history, snapshots = overfitting_run([stop])
    val = history.history["val_loss"]
    best = int(np.argmin(val))
    assert len(val) == best + 3 < 8                             # stopped 2 epochs after the best one
    assert stop.best_epoch == best
    assert same_weights(model.get_weights(), snapshots[best])
    assert not same_weights(model.get_weights(), snapshots[-1])
    x, y = bars_dataset(90)
    assert model.evaluate(x, (y + 1) % 3, batch_size=15, verbose=0)[0] == pytest.approx(val[best], rel=1e-9)


def test_early_stopping_without_restoring_keeps_the_last_weights():
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2)
    model, history, snapshots = overfitting_run([stop])
    assert len(history.history["val_loss"]) < 8
    assert same_weights(model.get_weights(), snapshots[-1])


def test_model_checkpoint_saves_only_improvements(tmp_path):
    pattern = str(tmp_path / "ckpt-{epoch:02d}.keras")
    checkpoint = callbacks.ModelCheckpoint(pattern, monitor="loss", save_best_only=True)
    model, history, snapshots = overfitting_run([checkpoint], epochs=4)
    losses = history.history["loss"]
    improved = [e for e in range(len(losses)) if losses[e] < min(losses[:e], default=math.inf)]
    assert sorted(os.listdir(tmp_path)) == [f"ckpt-{e + 1:02d}.keras" for e in improved]
    x, _ = bars_dataset(10)
    for e in improved:
        saved = load_model(pattern.format(epoch=e + 1))
        assert same_weights(saved.get_weights(), snapshots[e])
    # validation loss only gets worse here: with it as the monitor only the first epoch is kept
    val_checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), save_best_only=True)
    model, history, snapshots = overfitting_run([val_checkpoint], epochs=4)
    best = int(np.argmin(history.history["val_loss"]))
    assert same_weights(load_model(tmp_path / "best.keras").get_weights(), snapshots[best])


def test_model_checkpoint_of_weights_only(tmp_path):
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "last.weights.h5"), save_weights_only=True)
    model, _, _ = overfitting_run([checkpoint], epochs=2)
    fresh = small_cnn()
    fresh.load_weights(tmp_path / "last.weights.h5")
    assert same_weights(fresh.get_weights(), model.get_weights())


def test_history_callback_and_csv_logger(tmp_path):
    logger = callbacks.CSVLogger(str(tmp_path / "log.csv"))
    model, history, _ = overfitting_run([logger], epochs=3)
    assert model.history is history
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [float(r["val_loss"]) for r in rows] == pytest.approx(history.history["val_loss"])


def test_learning_rate_scheduler_changes_the_optimizer():
    x, y = bars_dataset(30)
    model = compiled_cnn(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    seen = []
    schedule = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    spy = callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    history = model.fit(x, y, epochs=3, callbacks=[schedule, spy], verbose=0)
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_a_callback_can_stop_training():
    x, y = bars_dataset(30)
    model = compiled_cnn()

    def stop_after_second(epoch, logs):
        if epoch == 1:
            model.stop_training = True

    history = model.fit(x, y, epochs=10, callbacks=[callbacks.LambdaCallback(on_epoch_end=stop_after_second)],
                        verbose=0)
    assert history.epoch == [0, 1]
