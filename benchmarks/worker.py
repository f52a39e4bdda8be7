"""One benchmark measurement, run in a fresh process by ``run.py``.

Two subcommands:

``measure``
    Import one framework (convlearn, Keras or PyTorch), load a workload's arrays
    (MNIST or Fashion-MNIST) from the harness's ``.npz`` cache, build the workload's
    model, and time a training epoch, ``predict`` on the test images (batch 32 and one
    batch of all images) and ``predict`` on a single image. Prints one JSON object on
    the last line of stdout.
``export``
    Write the arrays that one of convlearn's loaders returns (or seeded random data
    of the same shapes) to an ``.npz`` file, so that every framework trains on the
    same arrays and the peers' environment never downloads anything.

This file imports NumPy and the one framework being measured, nothing else, so it
runs under the project's interpreter (convlearn) and the peers' interpreter alike.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

NUM_CLASSES = 10
WORKLOADS = ("guide", "convnet", "residual", "cifar")
DATASETS = ("mnist", "fashion_mnist", "cifar10")  # modules of convlearn.datasets
RESIDUAL_FILTERS = (32, 64)  # the residual workload's blocks, one per entry


# ----------------------------------------------------------------------------- data

# The arrays of each data set: (train images, test images) shapes; labels are (N,).
SHAPES = {"mnist": ((60000, 28, 28), (10000, 28, 28)),
          "fashion_mnist": ((60000, 28, 28), (10000, 28, 28)),
          "cifar10": ((50000, 32, 32, 3), (10000, 32, 32, 3))}


def random_source(dataset):
    """The name under which :func:`export_data` makes random arrays of ``dataset``'s shapes."""
    return "random" if SHAPES[dataset] == SHAPES["mnist"] else f"random_{dataset}"


def export_data(out_path, source):
    """Write a data set's uint8 arrays to ``out_path`` (an uncompressed ``.npz``).

    Parameters
    ----------
    out_path : str
        Destination file; written atomically (temporary file, then ``os.replace``).
    source : {"mnist", "fashion_mnist", "cifar10", "random", "random_cifar10"}
        A name in :data:`DATASETS` takes the arrays from that module's ``load_data()``
        in ``convlearn.datasets`` (CIFAR-10's labels, (N, 1) there, are flattened);
        ``"random"`` makes seeded random images and labels of MNIST's shapes,
        ``"random_cifar10"`` of CIFAR-10's.

    Raises
    ------
    ValueError
        If the loader returns arrays of unexpected shape or dtype.
    """
    dataset = source[len("random_"):] if source.startswith("random_") else source
    dataset = "mnist" if dataset == "random" else dataset
    train_shape, test_shape = SHAPES[dataset]
    if source in DATASETS:
        from convlearn import datasets

        (x_train, y_train), (x_test, y_test) = getattr(datasets, source).load_data()
        y_train, y_test = np.asarray(y_train).reshape(-1), np.asarray(y_test).reshape(-1)
    else:
        rng = np.random.default_rng(0)
        x_train = rng.integers(0, 256, size=train_shape, dtype=np.uint8)
        y_train = rng.integers(0, NUM_CLASSES, size=train_shape[0], dtype=np.uint8)
        x_test = rng.integers(0, 256, size=test_shape, dtype=np.uint8)
        y_test = rng.integers(0, NUM_CLASSES, size=test_shape[0], dtype=np.uint8)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    expected = {"x_train": train_shape, "y_train": train_shape[:1],
                "x_test": test_shape, "y_test": test_shape[:1]}
    for name, shape in expected.items():
        array = np.asarray(arrays[name])
        if array.shape != shape or array.dtype.kind not in "ui" or (name[0] == "x" and array.dtype != np.uint8):
            raise ValueError(
                f"the benchmark expects {name} of shape {shape} and dtype uint8; the "
                f"{source} source gave shape {array.shape} and dtype {array.dtype}. "
                f"Check convlearn.datasets.{source}.load_data().")
        arrays[name] = array
    directory = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(directory, exist_ok=True)
    tmp_path = out_path + f".{os.getpid()}.tmp.npz"
    np.savez(tmp_path, **arrays)
    os.replace(tmp_path, out_path)


def numpy_blas():
    """Name and version of the BLAS library NumPy was built with, e.g. "scipy-openblas 0.3.31"."""
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return f"{blas['name']} {blas.get('version', '')}".strip()


def load_data(path, train_samples, test_samples):
    """Load the cached arrays, scaled to [0, 1] float32 with a channel axis.

    Returns
    -------
    x_train : ndarray, shape (train_samples, H, W, C), float32
        (28, 28, 1) for MNIST's shapes (a channel axis is added), (32, 32, 3) for CIFAR-10's.
    y_train : ndarray, shape (train_samples,), int64
    x_test : ndarray, shape (test_samples, H, W, C), float32
    """
    with np.load(path, allow_pickle=False) as data:
        x_train = data["x_train"][:train_samples]
        y_train = data["y_train"][:train_samples].astype(np.int64)
        x_test = data["x_test"][:test_samples]
    # Scaled in place, so that no float64 copy inflates every framework's peak memory.
    x_train = x_train.astype(np.float32)
    x_train /= 255
    x_test = x_test.astype(np.float32)
    x_test /= 255
    if x_train.ndim == 3:  # grey images: a channel axis
        x_train, x_test = x_train[..., None], x_test[..., None]  # (N, 28, 28, 1)
    return x_train, y_train, x_test


# ----------------------------------------------------------------------------- timing

def time_once(fn):
    """Return the wall time of one call of ``fn`` in seconds."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_median(fn, calls):
    """Return the median wall time of ``calls`` calls of ``fn`` in seconds."""
    return statistics.median(time_once(fn) for _ in range(calls))


def peak_rss_mib():
    """Return this process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def count_scalars(arrays):
    """Total number of scalars in a list of arrays or tensors (anything with a ``shape``)."""
    return int(sum(np.prod(a.shape) for a in arrays))


def warmup_size(steps, batch_size, n_samples):
    """Number of samples for a warm-up of ``steps`` full batches plus the last, partial one.

    The epoch ends with a partial batch when ``n_samples % batch_size`` is not zero; the
    warm-up includes a batch of that size too, so that no framework meets a new input
    shape (and compiles or allocates for it) inside the timed epoch.
    """
    return min(steps * batch_size + n_samples % batch_size, n_samples)


# ----------------------------------------------------------------------------- Keras API

def keras_like_model(keras, layers, workload):
    """Build a workload's model with a Keras-style API (Keras itself or convlearn).

    Returns
    -------
    model, loss, batch_size
    """
    if workload == "guide":
        model = keras.Sequential([
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, (3, 3), activation="relu"),  # (N, 26, 26, 32)
            layers.MaxPool2D(2),  # (N, 13, 13, 32)
            layers.Flatten(),  # (N, 5408)
            layers.Dense(100, activation="relu"),  # (N, 100)
            layers.Dense(NUM_CLASSES, activation="softmax"),  # (N, 10)
        ])
        return model, "sparse_categorical_crossentropy", 32
    if workload == "residual":
        return keras_like_residual(keras, layers), "sparse_categorical_crossentropy", 64
    if workload == "cifar":
        # TensorFlow's "Convolutional Neural Network (CNN)" tutorial on CIFAR-10, as written there
        model = keras.Sequential([
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, (3, 3), activation="relu"),  # (N, 30, 30, 32)
            layers.MaxPooling2D((2, 2)),  # (N, 15, 15, 32)
            layers.Conv2D(64, (3, 3), activation="relu"),  # (N, 13, 13, 64)
            layers.MaxPooling2D((2, 2)),  # (N, 6, 6, 64)
            layers.Conv2D(64, (3, 3), activation="relu"),  # (N, 4, 4, 64)
            layers.Flatten(),  # (N, 1024)
            layers.Dense(64, activation="relu"),  # (N, 64)
            layers.Dense(NUM_CLASSES),  # (N, 10) logits
        ])
        return model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), 32
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),  # (N, 26, 26, 32)
        layers.MaxPool2D(2),  # (N, 13, 13, 32)
        layers.Conv2D(64, (3, 3), activation="relu"),  # (N, 11, 11, 64)
        layers.MaxPool2D(2),  # (N, 5, 5, 64)
        layers.Flatten(),  # (N, 1600)
        layers.Dropout(0.5),
        layers.Dense(NUM_CLASSES, activation="softmax"),  # (N, 10)
    ])
    return model, "categorical_crossentropy", 128


def keras_like_residual(keras, layers):
    """The residual workload's model, built with the functional API.

    A residual CNN with batch normalisation in the shape of Keras's "image
    classification from scratch" example, narrowed for 28x28 images: a strided stem,
    one block per entry of :data:`RESIDUAL_FILTERS` (two 3x3 convolutions, a strided
    3x3 max-pool, plus a strided 1x1 convolution of the block's input as the
    shortcut), a last 3x3 convolution, global average pooling and dropout.
    """
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(16, 3, strides=2, padding="same")(inputs)  # (N, 14, 14, 16)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous = x  # the block's input, which its shortcut starts from
    for filters in RESIDUAL_FILTERS:  # (N, 14, 14, 16) -> (N, 7, 7, 32) -> (N, 4, 4, 64)
        x = layers.Activation("relu")(x)
        x = layers.Conv2D(filters, 3, padding="same")(x)  # (N, H, W, F), F = filters
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)  # (N, H/2, W/2, F), rounded up
        shortcut = layers.Conv2D(filters, 1, strides=2, padding="same")(previous)  # the same shape
        x = layers.add([x, shortcut])
        previous = x
    x = layers.Conv2D(128, 3, padding="same")(x)  # (N, 4, 4, 128)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)  # (N, 128)
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(x)  # (N, 10)
    return keras.Model(inputs, outputs)


def measure_keras_like(keras, layers, workload, x_train, y_train, x_test, settings,
                       time_direct_call):
    """Time training and prediction through the Keras API.

    Parameters
    ----------
    keras, layers : module
        ``keras`` and ``keras.layers``, or ``convlearn`` and ``convlearn.layers``.
    time_direct_call : bool
        Also time ``model(x1)`` on one image (Keras only).

    Returns
    -------
    result : dict
        The timings, peak memory and the timed epoch's loss and accuracy.
    model
        The trained model.
    """
    keras.utils.set_random_seed(settings["seed"])
    model, loss, batch_size = keras_like_model(keras, layers, workload)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    if loss == "categorical_crossentropy":
        y_train = keras.utils.to_categorical(y_train, NUM_CLASSES)  # (N, 10)

    n_warm = warmup_size(settings["warmup_steps"], batch_size, len(x_train))
    model.fit(x_train[:n_warm], y_train[:n_warm], batch_size=batch_size, epochs=1, verbose=0)
    history = {}

    def train_epoch():
        history.update(model.fit(x_train, y_train, batch_size=batch_size, epochs=1,
                                 verbose=0).history)

    result = {"train_epoch_s": time_once(train_epoch), "peak_rss_mib": peak_rss_mib(),
              "train_loss": float(history["loss"][-1]),
              "train_accuracy": float(history["accuracy"][-1]),
              "batch_size": batch_size, "warmup_samples": n_warm,
              "trainable_params": count_scalars(model.trainable_weights),
              "non_trainable_params": count_scalars(model.non_trainable_weights)}

    n_warm_predict = warmup_size(1, 32, len(x_test))
    model.predict(x_test[:n_warm_predict], verbose=0)
    result["predict_batch32_s"] = time_once(lambda: model.predict(x_test, verbose=0))
    model.predict(x_test, batch_size=len(x_test), verbose=0)
    result["predict_onebatch_s"] = time_once(
        lambda: model.predict(x_test, batch_size=len(x_test), verbose=0))

    x1 = x_test[:1]  # (1, 28, 28, 1)
    for _ in range(settings["predict1_warmup"]):
        model.predict(x1, verbose=0)
    result["predict1_ms"] = 1000 * time_median(lambda: model.predict(x1, verbose=0),
                                               settings["predict1_calls"])
    if time_direct_call:
        for _ in range(settings["predict1_warmup"]):
            model(x1)
        result["call1_ms"] = 1000 * time_median(lambda: model(x1), settings["predict1_calls"])
    return result, model


def measure_keras(workload, x_train, y_train, x_test, settings):
    """Measure Keras 3 on the TensorFlow backend, with its default compile options."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import tensorflow as tf
    from keras import layers

    result, model = measure_keras_like(keras, layers, workload, x_train, y_train, x_test,
                                       settings, time_direct_call=True)
    result["versions"] = {"keras": keras.__version__, "tensorflow": tf.__version__}
    result["jit_compile"] = model.jit_compile  # Keras 3's "auto" resolves to False on a CPU-only machine
    return result


def measure_convlearn(workload, x_train, y_train, x_test, settings):
    """Measure convlearn through its public, Keras-like API."""
    import convlearn
    from convlearn import layers

    result, _ = measure_keras_like(convlearn, layers, workload, x_train, y_train, x_test,
                                   settings, time_direct_call=False)
    result["versions"] = {"convlearn": getattr(convlearn, "__version__", "unknown")}
    return result


# ----------------------------------------------------------------------------- PyTorch

def torch_model(nn, workload):
    """Build a workload's network in PyTorch (NCHW), returning logits.

    Returns
    -------
    net, batch_size, one_hot
        ``one_hot``: whether the loss takes one-hot targets (categorical cross-entropy)
        rather than class indices.
    """
    if workload == "guide":
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(),  # (N, 32, 26, 26)
            nn.MaxPool2d(2),  # (N, 32, 13, 13)
            nn.Flatten(),  # (N, 5408)
            nn.Linear(32 * 13 * 13, 100), nn.ReLU(),  # (N, 100)
            nn.Linear(100, NUM_CLASSES),  # (N, 10)
        )
        return net, 32, False
    if workload == "residual":
        return torch_residual(nn), 64, False
    if workload == "cifar":
        net = nn.Sequential(
            nn.Conv2d(3, 32, 3), nn.ReLU(),  # (N, 32, 30, 30)
            nn.MaxPool2d(2),  # (N, 32, 15, 15)
            nn.Conv2d(32, 64, 3), nn.ReLU(),  # (N, 64, 13, 13)
            nn.MaxPool2d(2),  # (N, 64, 6, 6)
            nn.Conv2d(64, 64, 3), nn.ReLU(),  # (N, 64, 4, 4)
            nn.Flatten(),  # (N, 1024)
            nn.Linear(64 * 4 * 4, 64), nn.ReLU(),  # (N, 64)
            nn.Linear(64, NUM_CLASSES),  # (N, 10) logits
        )
        return net, 32, False
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(),  # (N, 32, 26, 26)
        nn.MaxPool2d(2),  # (N, 32, 13, 13)
        nn.Conv2d(32, 64, 3), nn.ReLU(),  # (N, 64, 11, 11)
        nn.MaxPool2d(2),  # (N, 64, 5, 5)
        nn.Flatten(),  # (N, 1600)
        nn.Dropout(0.5),
        nn.Linear(64 * 5 * 5, NUM_CLASSES),  # (N, 10)
    )
    return net, 128, True


def torch_residual(nn):
    """The residual workload's network (see :func:`keras_like_residual`) in PyTorch.

    TensorFlow's ``padding="same"`` puts the odd row and column of padding at the
    bottom and right when a strided window does not fit evenly; PyTorch's own padding
    is symmetric. So the strided convolutions and max-pools pad explicitly, as
    TensorFlow does (max-pools with -inf), and the models compute the same function.
    Batch normalisation uses Keras's defaults: epsilon 1e-3 and a moving-average
    momentum of 0.99, which PyTorch writes as ``momentum=0.01``.
    """
    functional = nn.functional

    def pad_same(x, kernel, stride, value=0.0):
        """Pad NCHW ``x`` as TensorFlow's ``padding="same"`` does for this window."""
        pads = []
        for size in (x.shape[3], x.shape[2]):  # F.pad lists the last axis first: W, then H
            out = -(-size // stride)  # ceil(size / stride)
            total = max((out - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]  # the odd one after
        return functional.pad(x, pads, value=value) if any(pads) else x

    def batch_norm(channels):
        return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)

    class Block(nn.Module):
        """Two 3x3 convolutions and a strided max-pool, plus a strided 1x1 shortcut."""

        def __init__(self, channels, filters):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(channels, filters, 3, padding=1), batch_norm(filters)
            self.conv2, self.bn2 = nn.Conv2d(filters, filters, 3, padding=1), batch_norm(filters)
            self.shortcut = nn.Conv2d(channels, filters, 1, stride=2)

        def forward(self, x):  # (N, C, H, W)
            out = functional.relu(self.bn1(self.conv1(functional.relu(x))))  # (N, F, H, W)
            out = self.bn2(self.conv2(out))
            out = pad_same(out, 3, 2, value=-float("inf"))
            out = functional.max_pool2d(out, 3, 2)  # (N, F, H/2, W/2), rounded up
            return out + self.shortcut(pad_same(x, 1, 2))

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem, self.stem_bn = nn.Conv2d(1, 16, 3, stride=2), batch_norm(16)
            channels = (16, *RESIDUAL_FILTERS)
            self.blocks = nn.Sequential(*[Block(c, f) for c, f in zip(channels, RESIDUAL_FILTERS)])
            self.head, self.head_bn = nn.Conv2d(channels[-1], 128, 3, padding=1), batch_norm(128)
            self.dropout = nn.Dropout(0.25)
            self.dense = nn.Linear(128, NUM_CLASSES)

        def forward(self, x):  # (N, 1, 28, 28)
            x = functional.relu(self.stem_bn(self.stem(pad_same(x, 3, 2))))  # (N, 16, 14, 14)
            x = self.blocks(x)  # (N, 64, 4, 4)
            x = functional.relu(self.head_bn(self.head(x)))  # (N, 128, 4, 4)
            x = self.dropout(x.mean(dim=(2, 3)))  # (N, 128)
            return self.dense(x)  # (N, 10)

    return Residual()


def measure_torch(workload, x_train, y_train, x_test, settings):
    """Measure PyTorch with the same models, written as a plain training loop.

    Images are viewed in PyTorch's NCHW layout (no copy, as there is one channel). The network
    returns logits and is trained with ``CrossEntropyLoss`` (softmax fused into the
    loss); prediction applies the softmax so that every framework returns probabilities.
    Adam uses Keras's defaults (learning rate 1e-3, epsilon 1e-7); weights use
    Glorot-uniform and zero biases as in Keras (batch normalisation starts, as in
    Keras, at scale 1 and offset 0). Parameters are counted as Keras counts them: the
    trainable ones, and the floating-point buffers (batch normalisation's moving mean
    and variance) as non-trainable.
    """
    import torch
    from torch import nn

    torch.manual_seed(settings["seed"])
    torch.set_num_threads(settings["threads"])
    net, batch_size, one_hot = torch_model(nn, workload)
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()

    x = torch.from_numpy(np.ascontiguousarray(x_train.transpose(0, 3, 1, 2)))  # (N, 1, 28, 28)
    labels = torch.from_numpy(y_train)  # (N,)
    targets = nn.functional.one_hot(labels, NUM_CLASSES).float() if one_hot else labels
    xt = torch.from_numpy(np.ascontiguousarray(x_test.transpose(0, 3, 1, 2)))  # (N_test, 1, 28, 28)

    def train(n_samples):
        """One epoch over the first ``n_samples``, shuffled; returns (mean loss, accuracy)."""
        net.train()
        order = torch.randperm(n_samples)
        loss_sum = torch.zeros(())
        correct = torch.zeros((), dtype=torch.int64)
        for start in range(0, n_samples, batch_size):
            idx = order[start:start + batch_size]
            xb, tb, yb = x[idx], targets[idx], labels[idx]  # (B, 1, 28, 28), (B, ...), (B,)
            logits = net(xb)  # (B, 10)
            loss = loss_fn(logits, tb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.detach().argmax(dim=1) == yb).sum()
        return loss_sum.item() / n_samples, correct.item() / n_samples

    def predict(images, batch):
        """Softmax probabilities as a NumPy array, in eval mode without autograd."""
        net.eval()
        with torch.no_grad():
            outputs = [torch.softmax(net(images[i:i + batch]), dim=1)
                       for i in range(0, len(images), batch)]
        return torch.cat(outputs).numpy()  # (N_images, 10)

    n_warm = warmup_size(settings["warmup_steps"], batch_size, len(x))
    train(n_warm)
    epoch = {}
    result = {"train_epoch_s": time_once(lambda: epoch.update(stats=train(len(x)))),
              "peak_rss_mib": peak_rss_mib(), "batch_size": batch_size,
              "warmup_samples": n_warm,
              "trainable_params": count_scalars(p for p in net.parameters() if p.requires_grad),
              "non_trainable_params": count_scalars(
                  b for b in net.buffers() if b.is_floating_point())}
    result["train_loss"], result["train_accuracy"] = epoch["stats"]

    predict(xt[:warmup_size(1, 32, len(xt))], 32)
    result["predict_batch32_s"] = time_once(lambda: predict(xt, 32))
    predict(xt, len(xt))
    result["predict_onebatch_s"] = time_once(lambda: predict(xt, len(xt)))

    x1 = xt[:1]  # (1, 1, 28, 28)
    for _ in range(settings["predict1_warmup"]):
        predict(x1, 1)
    result["predict1_ms"] = 1000 * time_median(lambda: predict(x1, 1),
                                               settings["predict1_calls"])
    result["versions"] = {"torch": torch.__version__}
    return result


MEASURE = {"convlearn": measure_convlearn, "keras": measure_keras, "torch": measure_torch}


# ----------------------------------------------------------------------------- command line

def main(argv=None):
    """Parse the command line, run one subcommand and print its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write a data set's arrays to an .npz cache")
    export.add_argument("--out", required=True)
    export.add_argument("--source", choices=[*DATASETS, "random", "random_cifar10"], default="mnist")
    measure = sub.add_parser("measure", help="time one framework on one workload")
    measure.add_argument("--framework", choices=sorted(MEASURE), required=True)
    measure.add_argument("--workload", choices=WORKLOADS, required=True)
    measure.add_argument("--data", required=True, help="the .npz written by 'export'")
    measure.add_argument("--train-samples", type=int, default=60000)
    measure.add_argument("--test-samples", type=int, default=10000)
    measure.add_argument("--warmup-steps", type=int, default=200)
    measure.add_argument("--predict1-warmup", type=int, default=10)
    measure.add_argument("--predict1-calls", type=int, default=200)
    measure.add_argument("--threads", type=int, default=os.cpu_count())
    measure.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command == "export":
        export_data(args.out, args.source)
        print(json.dumps({"exported": args.out, "source": args.source}))
        return
    settings = {"warmup_steps": args.warmup_steps, "predict1_warmup": args.predict1_warmup,
                "predict1_calls": args.predict1_calls, "threads": args.threads,
                "seed": args.seed}
    x_train, y_train, x_test = load_data(args.data, args.train_samples, args.test_samples)
    result = MEASURE[args.framework](args.workload, x_train, y_train, x_test, settings)
    result.update(framework=args.framework, workload=args.workload,
                  train_samples=len(x_train), test_samples=len(x_test),
                  python=sys.version.split()[0], numpy=np.__version__, blas=numpy_blas())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
