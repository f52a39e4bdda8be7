"""Live training for the app: one training at a time, in a thread, watched through events.

The trainer runs ``model.fit`` in a background thread, one slice of the epoch at a time
(:data:`SLICES_PER_EPOCH` slices, each a whole number of batches of a shuffled order of the
images, the same batches as one ``fit`` of the epoch).  Between two slices nothing trains, so
the trainer may read the model there:

* it records the loss and accuracy so far in the epoch (a ``progress`` event: the curves),
* it pauses while asked to, and stops when asked to,
* every :data:`SNAPSHOT_EVERY` seconds it makes a snapshot: the first convolution's filters and
  the layer outputs of one sample image, computed from the model being trained.

Calling ``fit`` per slice rather than watching every batch with a callback keeps ``fit``'s fast
path: a callback after each batch makes ``fit`` wait for every weight update to finish before
the next batch starts (it might read the weights), which costs about 15 % on the guide's model;
slices cost about 3 % (``benchmarks/app_latency.py --training`` measures it).

Request handlers never touch the model while it trains: they read the event log and the
latest snapshot, which are plain data behind a lock.  The event log outlives any browser tab,
so a tab that is closed and opened again, or a second tab, sees the whole curve.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TrainConfig", "Trainer", "TrainerBusy", "SLICES_PER_EPOCH", "SNAPSHOT_EVERY", "MODEL_CHOICES"]

#: Slices of an epoch, each trained by one ``fit``: a progress event after each.
SLICES_PER_EPOCH = 20
#: Seconds between two snapshots (filters and feature maps).
SNAPSHOT_EVERY = 1.0
#: What the page can train: the zoo's models, or the architecture of the opened model.
MODEL_CHOICES = ("guide", "convnet", "best", "current")
DATASETS = ("mnist", "fashion_mnist")
#: Test images evaluated after training.
TEST_IMAGES = 2000


class TrainerBusy(RuntimeError):
    """A training is already running (one at a time)."""


@dataclass(frozen=True)
class TrainConfig:
    """What to train, checked by the server before it gets here."""

    model: str = "guide"
    dataset: str = "mnist"
    epochs: int = 1
    learning_rate: float = 0.001
    batch_size: int = 32
    images: int = 60000


class _Stop(Exception):
    pass


class Trainer:
    """Runs one training at a time and keeps its events for every listener.

    Parameters
    ----------
    save_dir : str
        Where trained models are written (``<dataset>_<model>_<time>.keras``).
    """

    def __init__(self, save_dir: str) -> None:
        self.save_dir = save_dir
        self._lock = threading.Lock()
        self._resume = threading.Event()
        self._resume.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.run_id = 0
        self.state = "idle"  # idle, loading, running, paused, done, stopped, failed
        self.events: list[dict[str, Any]] = []
        self.snapshot: dict[str, Any] | None = None
        self.snapshot_version = 0
        self.result: dict[str, Any] | None = None
        self.model: Any = None
        self.config: TrainConfig | None = None

    # ------------------------------------------------------------------ control
    @property
    def active(self) -> bool:
        return self.state in ("loading", "running", "paused")

    def start(self, config: TrainConfig, current: Any = None, sample: np.ndarray | None = None) -> int:
        """Start training in a background thread; returns the run's number.

        Raises
        ------
        TrainerBusy
            If a training is running.
        """
        with self._lock:
            if self.active:
                raise TrainerBusy("a training is already running")
            self.run_id += 1
            self.state = "loading"
            self.events = []
            self.snapshot, self.result, self.model, self.config = None, None, None, config
            self._stop.clear()
            self._resume.set()
            self._emit_locked("start", {"config": config.__dict__})
            run_id = self.run_id
        self._thread = threading.Thread(target=self._run, args=(config, current, sample), daemon=True,
                                        name="convlearn-app-training")
        self._thread.start()
        return run_id

    def pause(self) -> bool:
        with self._lock:
            if self.state != "running":
                return False
            self._resume.clear()
            self.state = "paused"
            self._emit_locked("state", {})
            return True

    def resume(self) -> bool:
        with self._lock:
            if self.state != "paused":
                return False
            self.state = "running"
            self._resume.set()
            self._emit_locked("state", {})
            return True

    def stop(self) -> bool:
        with self._lock:
            if not self.active:
                return False
            self._stop.set()
            self._resume.set()
            return True

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # ------------------------------------------------------------------ reading
    def events_since(self, seq: int) -> list[dict[str, Any]]:
        """Events with a sequence number above ``seq`` (of the current run)."""
        with self._lock:
            return [e for e in self.events if e["seq"] > seq]

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"run": self.run_id, "state": self.state, "result": self.result,
                    "config": None if self.config is None else self.config.__dict__,
                    "events": len(self.events)}

    def _emit_locked(self, kind: str, data: dict[str, Any]) -> None:
        event = {"seq": len(self.events) + 1, "run": self.run_id, "type": kind, "state": self.state, **data}
        self.events.append(event)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._emit_locked(kind, data)

    def _set_snapshot(self, snap: dict[str, Any]) -> None:
        with self._lock:
            self.snapshot_version += 1
            self.snapshot = dict(snap, version=self.snapshot_version, run=self.run_id)

    # ------------------------------------------------------------------ the training thread
    def _run(self, config: TrainConfig, current: Any, sample: np.ndarray | None) -> None:
        try:
            model, (x, y), (x_test, y_test) = _prepare(config, current)
            if sample is None:
                sample = x_test[0]
            with self._lock:
                self.model = model
                if self._stop.is_set():
                    raise _Stop()
                self.state = "running"
                self._emit_locked("state", {})
            seconds, images = self._train(model, x, y, config, np.asarray(sample, dtype=np.float32)[None])
            stopped = self._stop.is_set()
            results = model.evaluate(x_test, y_test, batch_size=256, verbose=0, return_dict=True)
            path = self._save(model, config)
            result = {"path": path, "file": os.path.basename(path), "seconds": seconds, "stopped": stopped,
                      "images_per_second": images / seconds if seconds > 0 else None,
                      "test_loss": float(results["loss"]), "test_accuracy": float(results.get("accuracy", float("nan"))),
                      "test_images": int(len(x_test))}
            with self._lock:
                self.result = result
                self.state = "stopped" if stopped else "done"
                self._emit_locked("done", {"result": result})
        except _Stop:
            with self._lock:
                self.state = "stopped"
                self._emit_locked("done", {"result": None})
        except Exception as exc:  # noqa: BLE001 - a training that fails is reported on the page, never lost
            with self._lock:
                self.state = "failed"
                self._emit_locked("failed", {"error": f"{type(exc).__name__}: {exc}"[:600]})

    def _train(self, model: Any, x: np.ndarray, y: np.ndarray, config: TrainConfig,
               sample: np.ndarray) -> tuple[float, int]:
        """Train ``config.epochs`` epochs, slice by slice; returns (seconds, images) of training, pauses excluded."""
        n, batch = len(x), config.batch_size
        steps = -(-n // batch)  # batches per epoch
        per = -(-steps // min(SLICES_PER_EPOCH, steps)) * batch  # images per slice, whole batches
        rng = np.random.default_rng()
        start = time.perf_counter()
        paused = 0.0
        images = 0
        last_snapshot = -SNAPSHOT_EVERY
        self._snapshot(model, sample, 0, final=False)
        for epoch in range(config.epochs):
            order = rng.permutation(n)  # shuffled each epoch, as fit shuffles
            seen, loss_sum, acc_sum = 0, 0.0, 0.0
            for first in range(0, n, per):
                if not self._resume.is_set():
                    began = time.perf_counter()
                    while not self._resume.wait(0.2):
                        pass
                    paused += time.perf_counter() - began
                if self._stop.is_set():
                    break
                idx = order[first:first + per]
                logs = model.fit(x[idx], y[idx], batch_size=batch, epochs=1, shuffle=False, verbose=0).history
                count = len(idx)
                seen += count
                images += count
                loss_sum += logs["loss"][-1] * count
                acc_sum += logs.get("accuracy", [float("nan")])[-1] * count
                self._emit("progress", {"epoch": epoch, "batch": -(-seen // batch), "steps": steps,
                                        "epochs": config.epochs, "loss": _num(loss_sum / seen),
                                        "accuracy": _num(acc_sum / seen),
                                        "elapsed": time.perf_counter() - start - paused})
                if time.perf_counter() - last_snapshot >= SNAPSHOT_EVERY:
                    last_snapshot = time.perf_counter()
                    self._snapshot(model, sample, epoch, final=False)
            if seen:
                self._emit("epoch", {"epoch": epoch, "loss": _num(loss_sum / seen), "accuracy": _num(acc_sum / seen)})
            if self._stop.is_set():
                break
        seconds = time.perf_counter() - start - paused
        self._snapshot(model, sample, config.epochs - 1, final=True)
        return seconds, images

    def _snapshot(self, model: Any, sample: np.ndarray, epoch: int, final: bool) -> None:
        """The first convolution's filters and every layer's output for the sample image, now."""
        from .views import layer_views

        outs = [out for _, out in model.layer_outputs(sample)]
        probs = np.asarray(outs[-1][0], dtype=np.float64).reshape(-1)
        self._set_snapshot({"filters": _first_conv_filters(model), "layers": layer_views(outs),
                            "probabilities": [float(p) for p in probs], "final": final, "epoch": epoch})

    def _save(self, model: Any, config: TrainConfig) -> str:
        os.makedirs(self.save_dir, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = os.path.join(self.save_dir, f"{config.dataset}_{config.model}_{stamp}")
        path, k = base + ".keras", 1
        while os.path.exists(path):
            k += 1
            path = f"{base}-{k}.keras"
        model.save(path)
        return os.path.abspath(path)


def _load(dataset: str) -> tuple:
    from .. import datasets

    module = {"mnist": datasets.mnist, "fashion_mnist": datasets.fashion_mnist}[dataset]
    return module.load_data()


def _prepare(config: TrainConfig, current: Any) -> tuple:
    """The compiled model to train and its data: ``model, (x, y), (x_test, y_test)``."""
    from .. import optimizers, zoo
    from ..utils import to_categorical

    (x, y), (x_test, y_test) = _load(config.dataset)
    x = (x[:config.images, ..., None] / 255).astype(np.float32)  # (N, 28, 28, 1)
    y = y[:config.images]
    x_test = (x_test[:TEST_IMAGES, ..., None] / 255).astype(np.float32)  # (N_test, 28, 28, 1)
    y_test = y_test[:TEST_IMAGES]
    if config.model == "current":
        if current is None:
            raise ValueError("no model is open, so there is no architecture to train; choose guide, convnet or best")
        model = type(current).from_config(current.get_config())
        if not model.built:
            model.build_for(current.input_shape)
        loss = getattr(getattr(current, "loss", None), "name", None) or "sparse_categorical_crossentropy"
    else:
        recipe = zoo.get(config.model)
        model = recipe.build(input_shape=(28, 28, 1), num_classes=10)
        loss = "categorical_crossentropy" if recipe.one_hot else "sparse_categorical_crossentropy"
    one_hot = loss == "categorical_crossentropy"
    model.compile(optimizer=optimizers.Adam(learning_rate=config.learning_rate), loss=loss, metrics=["accuracy"])
    if one_hot:
        y, y_test = to_categorical(y, 10), to_categorical(y_test, 10)
    return model, (x, y), (x_test, y_test)


def _first_conv_filters(model: Any) -> dict[str, Any] | None:
    from .views import encode_u8

    for layer in model.leaf_layers():
        if type(layer).__name__ == "Conv2D":
            kernel = np.asarray(layer.params["kernel"], dtype=np.float64)  # (kh, kw, C, F)
            filters = np.transpose(kernel[:, :, 0, :], (2, 0, 1))  # (F, kh, kw): input channel 0
            return dict(encode_u8(filters, symmetric=True), layer=layer.name, shape=list(filters.shape))
    return None


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None

