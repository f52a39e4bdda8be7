"""``convlearn.callbacks.TensorBoard``: training curves, weight histograms and kernels for TensorBoard.

Keras 3's callback, with its arguments, folders and tags, writing event files
through tensorboardX (a small writer of TensorBoard's file format that needs
neither TensorFlow nor PyTorch: ``pip install "convlearn[tensorboard]"``)::

    model.fit(x, y, validation_split=0.1, epochs=5,
              callbacks=[keras.callbacks.TensorBoard(log_dir="logs", histogram_freq=1)])
    # then: tensorboard --logdir logs

What is written, as in Keras 3:

- ``LOG_DIR/train``: ``epoch_loss``, ``epoch_accuracy`` (every metric of the
  epoch's logs as ``epoch_<name>``), ``epoch_learning_rate`` and, with
  ``write_steps_per_second``, ``epoch_steps_per_second``, at step ``epoch``
  (0, 1, ...). With ``update_freq="batch"`` or an integer ``n``, also
  ``batch_<name>`` (the running means ``fit`` reports) every ``n`` training
  batches, at step = batches trained so far (1, 2, ...), and
  ``batch_steps_per_second`` with ``write_steps_per_second``.
- ``LOG_DIR/validation``: the ``val_`` entries of the epoch's logs, without
  the prefix (``epoch_loss``, ``epoch_accuracy``); after ``model.evaluate(...,
  callbacks=[tb])``, ``evaluation_<name>_vs_iterations`` at step
  ``optimizer.iterations``.
- ``histogram_freq=k``: every ``k`` epochs, one histogram per weight of
  ``model.layers``, tagged ``<weight path>/histogram`` (``conv2d/kernel/histogram``);
  with ``write_images``, the weight as a picture, ``<weight path>/image`` (a
  convolution kernel with one input channel: one tile per filter).
- ``write_graph``: the model's configuration as JSON under the tag ``keras``
  (TensorBoard's ``graph_keras_model`` plugin draws it in the Graphs tab), for
  Sequential and functional models as Keras does.

Profiling (``profile_batch``) and embeddings need TensorFlow and are refused
unless left at their defaults.
"""

from __future__ import annotations

import json
import numbers
import os
import time

import numpy as np

from .callbacks import Callback

_EXTRA = 'pip install "convlearn[tensorboard]" (or pip install tensorboardX)'


def _writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as exc:
        raise ImportError(
            f"convlearn.callbacks.TensorBoard writes its event files with the tensorboardX package, which is "
            f"not installed: {_EXTRA}. To view the logs, also install tensorboard (pip install tensorboard)."
        ) from exc
    return SummaryWriter


def _check_flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"TensorBoard: `{name}` must be True or False. Received: {name}={value!r}.")
    return bool(value)


def _check_freq(name, value, allow_zero=True, extra=""):
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= (0 if allow_zero else 1)
    if not ok:
        least = "0 (off) or more" if allow_zero else "1 or more"
        raise ValueError(f"TensorBoard: `{name}` must be a whole number, {least}{extra}. Received: {name}={value!r}.")
    return int(value)


def weight_image(weight):
    """A weight as a batch of pictures ``(N, H, W, 1)``, float, the way Keras 3's callback lays it out.

    A bias (C,) becomes one 1 x C picture; a Dense kernel (D, U) one picture with
    the longer side across; a kernel of 3 axes after dropping the axes of size 1
    (a Conv2D kernel with one input channel, (kh, kw, F)) one kh x kw picture
    per filter. Returns None for other shapes (Keras writes no image for them either).
    """
    w = np.squeeze(np.asarray(weight, dtype=np.float64))
    if w.ndim == 1:                                          # a bias: (C,) -> (1, 1, C, 1)
        return w.reshape(1, 1, w.shape[0], 1)
    if w.ndim == 2:                                          # a Dense kernel: (D, U) -> (1, min, max, 1)
        if w.shape[0] > w.shape[1]:
            w = w.T
        return w.reshape(1, w.shape[0], w.shape[1], 1)
    if w.ndim == 3:                                          # (kh, kw, F) -> (F, kh, kw, 1)
        return w.transpose(2, 0, 1)[..., None]
    return None


class TensorBoard(Callback):
    """Write logs that TensorBoard shows: curves of the loss and metrics, weight histograms, kernels.

    Parameters
    ----------
    log_dir : str or os.PathLike, default "logs"
        The folder of this run; ``train`` and ``validation`` are made inside it.
    histogram_freq : int, default 0
        Every how many epochs to write weight histograms (0: never).
    write_graph : bool, default True
        Write the model's configuration for TensorBoard's Graphs tab.
    write_images : bool, default False
        With ``histogram_freq``, also write each weight as a picture.
    write_steps_per_second : bool, default False
        Log training steps per second (per epoch, and per batch with ``update_freq``).
    update_freq : "epoch", "batch" or int, default "epoch"
        ``"batch"`` (= 1) or ``n``: also write the batch logs every ``n`` training batches.
    profile_batch, embeddings_freq, embeddings_metadata
        Keras's profiling and embedding projector, which need TensorFlow: only their defaults.

    Raises
    ------
    ValueError
        For a bad argument.
    TypeError
        For a flag that is not True or False.
    ImportError
        If tensorboardX is not installed (``pip install "convlearn[tensorboard]"``).
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        try:
            self.log_dir = os.fsdecode(os.fspath(log_dir))
        except TypeError:
            raise ValueError(f"TensorBoard: `log_dir` must be a folder name (str or os.PathLike). "
                             f"Received: log_dir={log_dir!r:.100}.") from None
        if not self.log_dir:
            raise ValueError("TensorBoard: `log_dir` must not be empty; e.g. log_dir='logs'.")
        self.histogram_freq = _check_freq("histogram_freq", histogram_freq)
        self.write_graph = _check_flag("write_graph", write_graph)
        self.write_images = _check_flag("write_images", write_images)
        self.write_steps_per_second = _check_flag("write_steps_per_second", write_steps_per_second)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch":
            update_freq = _check_freq("update_freq", update_freq, allow_zero=False, extra=', "batch" or "epoch"')
        self.update_freq = update_freq
        for name, value, default in (("profile_batch", profile_batch, 0), ("embeddings_freq", embeddings_freq, 0),
                                     ("embeddings_metadata", embeddings_metadata, None)):
            if value != default:
                raise ValueError(
                    f"TensorBoard: `{name}` is not supported by convlearn (profiling and the embedding "
                    f"projector need TensorFlow); leave it at its default ({default!r}). Received: {name}={value!r}."
                )
        self._writer_class = _writer_class()
        self._writers = {}
        self._training = False
        self._global_train_batch = 0
        self._batch_start = 0.0
        self._epoch_start = 0.0
        self._epoch_batches = 0

    # ------------------------------------------------------------------ writers

    def _writer(self, run):
        """The event-file writer of ``run`` (``"train"`` or ``"validation"``), opened on first use."""
        if run not in self._writers:
            folder = os.path.join(self.log_dir, run)
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise OSError(f"TensorBoard: cannot make the log folder {folder!r}: {exc.strerror or exc}. "
                              "Pass a log_dir you can write to.") from exc
            self._writers[run] = self._writer_class(logdir=folder, flush_secs=30)
        return self._writers[run]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _scalar(self, run, tag, value, step):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return                                     # not a number: TensorBoard has no curve for it
        self._writer(run).add_scalar(tag, value, global_step=int(step))

    # ------------------------------------------------------------------ hooks

    def set_model(self, model):
        super().set_model(model)
        self._close_writers()
        if self.write_graph:
            self._write_model_config()

    def on_train_begin(self, logs=None):
        self._training = True
        self._global_train_batch = 0

    def on_train_end(self, logs=None):
        self._training = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_batches = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._epoch_batches += 1
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq:
            return
        step = self._global_train_batch
        if self.write_steps_per_second:
            seconds = time.perf_counter() - self._batch_start
            self._scalar("train", "batch_steps_per_second", 1.0 / max(seconds, 1e-9), step)
        for name, value in (logs or {}).items():
            self._scalar("train", f"batch_{name}", value, step)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        validation = {k[len("val_"):]: v for k, v in logs.items() if k.startswith("val_")}
        rate = getattr(getattr(self.model, "optimizer", None), "learning_rate", None)
        if rate is not None:
            train["learning_rate"] = rate
        if self.write_steps_per_second:
            train["steps_per_second"] = self._epoch_batches / max(time.perf_counter() - self._epoch_start, 1e-9)
        for name, value in train.items():
            self._scalar("train", f"epoch_{name}", value, epoch)
        for name, value in validation.items():
            self._scalar("validation", f"epoch_{name}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "iterations"):
            for name, value in (logs or {}).items():
                self._scalar("validation", f"evaluation_{name}_vs_iterations", value, optimizer.iterations)
        if not self._training:                          # model.evaluate on its own: nothing else will close them
            self._close_writers()

    # ------------------------------------------------------------------ what is written

    def _weights(self):
        """``(path, array)`` for every weight of ``model.layers``: ``"conv2d/kernel"``."""
        for layer in self.model.layers:
            for path, weight in layer.named_weights():
                yield f"{layer.name}/{path}".replace(":", "_"), weight

    def _write_weights(self, epoch):
        writer = self._writer("train")
        for path, weight in self._weights():
            writer.add_histogram(f"{path}/histogram", np.asarray(weight, dtype=np.float64), global_step=epoch)
            if self.write_images:
                picture = weight_image(weight)
                if picture is not None:
                    # like tf.summary.image: values clipped to [0, 1], then 0..255
                    pixels = np.round(np.clip(picture, 0.0, 1.0) * 255).astype(np.uint8)   # (N, H, W, 1)
                    writer.add_images(f"{path}/image", pixels, global_step=epoch, dataformats="NHWC")

    def _write_model_config(self):
        """The model's configuration under the tag ``keras``, for the graph_keras_model plugin (Keras's
        ``keras_model_summary``)."""
        if type(self.model).__name__ not in ("Sequential", "Functional") or not getattr(self.model, "built", False):
            return
        try:
            text = json.dumps({"class_name": type(self.model).__name__, "config": self.model.get_config()})
        except (TypeError, ValueError):
            return                                      # Keras also skips a model that is not JSON
        from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
        from tensorboardX.proto.tensor_pb2 import TensorProto
        from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto

        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="graph_keras_model",
                                                                          content=b"1"))
        tensor = TensorProto(dtype=7, string_val=[text.encode()], tensor_shape=TensorShapeProto())  # 7: DT_STRING
        summary = Summary(value=[Summary.Value(tag="keras", metadata=metadata, tensor=tensor)])
        self._writer("train").file_writer.add_summary(summary, global_step=0)
        self._writer("train").flush()


__all__ = ["TensorBoard", "weight_image"]
