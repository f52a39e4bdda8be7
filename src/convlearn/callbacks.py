"""Callbacks: code that runs at set points of ``fit``, ``evaluate`` and ``predict``.

The API follows Keras 3 (``keras.callbacks``): the same class names, argument names and defaults.

How the model drives callbacks
------------------------------
The model wraps the user's callbacks in a :class:`CallbackList` and calls its hooks::

    callbacks = CallbackList(user_callbacks, add_history=True, add_progbar=verbose != 0,
                             model=model, epochs=epochs, steps=steps_per_epoch, verbose=verbose)
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        for batch in range(steps_per_epoch):
            callbacks.on_train_batch_begin(batch)
            ...                                          # one optimisation step
            callbacks.on_train_batch_end(batch, {"accuracy": ..., "loss": ...})  # running means
            if model.stop_training: break
        callbacks.on_epoch_end(epoch, {"accuracy": ..., "loss": ..., "val_accuracy": ..., "val_loss": ...})
        if model.stop_training: break
    callbacks.on_train_end(last_epoch_logs)
    return callbacks.history

One ``logs`` dict is handed to every callback in turn, so a callback may add an entry
(``LearningRateScheduler`` and ``ReduceLROnPlateau`` add ``learning_rate``) that the
callbacks after it (``History``, then the progress bar) see.
"""

import io
import math
import numbers
import os
import string
import warnings

import numpy as np

from ._io import atomic_write_text
from .progbar import Progbar, print_message

#: File name endings ``ModelCheckpoint`` accepts for a whole model (``model.save``).
MODEL_SUFFIXES = (".keras", ".h5")
#: File name endings ``ModelCheckpoint`` accepts with ``save_weights_only=True`` (``model.save_weights``).
WEIGHTS_SUFFIXES = (".weights.h5", ".weights.npz")

_HOOK_NAMES = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
)


class Callback:
    """Base class of callbacks. Subclass it and override the hooks you need.

    Attributes
    ----------
    model : object
        The model being trained, set by :meth:`set_model`.
    params : dict or None
        Training parameters set by :meth:`set_params`: ``epochs``, ``steps`` (steps per
        epoch, or None if unknown) and ``verbose``.

    Notes
    -----
    Batch hooks receive ``logs`` with the running means of the epoch so far
    (``{"loss": ..., "accuracy": ...}``); ``on_epoch_end`` receives the epoch's values and,
    when there is validation data, the ``val_`` ones.
    """

    def __init__(self):
        self.model = None
        self.params = None

    def set_model(self, model):
        """Attach the model the callback works on."""
        self.model = model

    def set_params(self, params):
        """Store the training parameters (a dict)."""
        self.params = params

    def on_train_begin(self, logs=None):
        """Called once when ``fit`` starts."""

    def on_train_end(self, logs=None):
        """Called once when ``fit`` ends; ``logs`` are those of the last epoch."""

    def on_epoch_begin(self, epoch, logs=None):
        """Called when epoch ``epoch`` (counted from 0) starts."""

    def on_epoch_end(self, epoch, logs=None):
        """Called when epoch ``epoch`` ends, with the epoch's metrics (and ``val_`` ones)."""

    def on_batch_begin(self, batch, logs=None):
        """Older name of :meth:`on_train_batch_begin`, still called by it."""

    def on_batch_end(self, batch, logs=None):
        """Older name of :meth:`on_train_batch_end`, still called by it."""

    def on_train_batch_begin(self, batch, logs=None):
        """Called before training batch ``batch`` (counted from 0 in each epoch)."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after training batch ``batch``, with the running means of the epoch."""
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        """Called when ``evaluate`` (or the validation part of an epoch) starts."""

    def on_test_end(self, logs=None):
        """Called when ``evaluate`` (or validation) ends, with its metrics."""

    def on_test_batch_begin(self, batch, logs=None):
        """Called before evaluation batch ``batch``."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after evaluation batch ``batch``, with the running means so far."""

    def on_predict_begin(self, logs=None):
        """Called when ``predict`` starts."""

    def on_predict_end(self, logs=None):
        """Called when ``predict`` ends."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before prediction batch ``batch``."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after prediction batch ``batch``."""


def _check_callback(obj):
    """Raise a TypeError that says how to fix ``obj`` unless it is a Callback instance."""
    if isinstance(obj, Callback):
        return
    if isinstance(obj, type) and issubclass(obj, Callback):
        name = obj.__name__
        raise TypeError(
            f"Callbacks must be Callback instances; received the class {name} itself. "
            f"Did you forget the parentheses? Write {name}(...) instead of {name}."
        )
    hint = " To run a function as a callback, wrap it: LambdaCallback(on_epoch_end=your_function)." if callable(obj) else ""
    raise TypeError(
        f"Callbacks must be instances of convlearn.callbacks.Callback (for example EarlyStopping(patience=2)); "
        f"received {obj!r} of type {type(obj).__name__}.{hint}"
    )


class CallbackList(Callback):
    """A list of callbacks that is called as one: each hook is forwarded to every callback in order.

    Parameters
    ----------
    callbacks : Callback or list of Callback, optional
        The user's callbacks.
    add_history : bool, default False
        Append a :class:`History` unless ``callbacks`` already holds one.
    add_progbar : bool, default False
        Append a :class:`ProgbarLogger` unless ``callbacks`` already holds one.
    model : object, optional
        Passed to every callback's ``set_model``.
    **params
        Passed to every callback's ``set_params`` as a dict (``epochs``, ``steps``, ``verbose``).

    Attributes
    ----------
    callbacks : list of Callback
    history : History or None
        The History callback of the list (the value ``fit`` returns).
    progbar : ProgbarLogger or None

    Raises
    ------
    TypeError
        If ``callbacks`` is not a Callback or a list/tuple of Callback instances.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        if callbacks is None:
            items = []
        elif isinstance(callbacks, CallbackList):
            items = list(callbacks.callbacks)
        elif isinstance(callbacks, Callback):
            items = [callbacks]
        elif isinstance(callbacks, (list, tuple)):
            items = list(callbacks)
        elif isinstance(callbacks, type) or callable(callbacks):
            _check_callback(callbacks)  # says how to fix a class or a function
        else:
            raise TypeError(
                f"callbacks must be a list of Callback instances, e.g. callbacks=[EarlyStopping(patience=2)]; "
                f"received {callbacks!r} of type {type(callbacks).__name__}."
            )
        for item in items:
            _check_callback(item)
        self.callbacks = items

        self.history = next((cb for cb in items if isinstance(cb, History)), None)
        self.progbar = next((cb for cb in items if isinstance(cb, ProgbarLogger)), None)
        if self.history is None and add_history:
            self.history = History()
            self.callbacks.append(self.history)
        if self.progbar is None and add_progbar:
            self.progbar = ProgbarLogger()
            self.callbacks.append(self.progbar)

        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def append(self, callback):
        """Add a callback at the end, giving it the list's model and params if they are set."""
        _check_callback(callback)
        self.callbacks.append(callback)
        if self.model is not None:
            callback.set_model(self.model)
        if self.params is not None:
            callback.set_params(self.params)

    def set_model(self, model):
        super().set_model(model)
        if self.history is not None and model is not None:
            model.history = self.history
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def _call(self, hook, *args, **kwargs):
        for callback in self.callbacks:
            getattr(callback, hook)(*args, **kwargs)

    # Batch hooks pass ``logs`` by keyword, the others by position, as Keras does
    # (it matters for LambdaCallback functions).
    def on_train_begin(self, logs=None):
        self._call("on_train_begin", {} if logs is None else logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", {} if logs is None else logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, {} if logs is None else logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, {} if logs is None else logs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs={} if logs is None else logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs={} if logs is None else logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs={} if logs is None else logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs={} if logs is None else logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", {} if logs is None else logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", {} if logs is None else logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs={} if logs is None else logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs={} if logs is None else logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", {} if logs is None else logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", {} if logs is None else logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs={} if logs is None else logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs={} if logs is None else logs)


class History(Callback):
    """Record the logs of every epoch; ``fit`` returns this object.

    Attributes
    ----------
    history : dict of str to list
        One list per metric, one value per epoch: ``history.history["val_loss"][-1]``.
    epoch : list of int
        The epochs recorded (counted from 0).
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)
        if self.model is not None:
            self.model.history = self


def _display_order(name):
    """Sort key for the progress bar: training metrics, then ``val_`` ones, then the learning
    rate that LR callbacks add, each group by name (the order Keras 3 shows)."""
    return (name.startswith("learning_rate"), name.startswith("val_"), name)


class ProgbarLogger(Callback):
    """Print a progress bar (and ``Epoch i/n``) to stdout while a model trains, evaluates or predicts.

    ``CallbackList(add_progbar=True)`` adds one; it reads ``epochs``, ``steps`` and ``verbose``
    from the params. Every value in the logs is shown as given (the model already averages).
    During ``fit`` the validation pass draws no bar of its own; its ``val_`` results appear
    on the epoch's final line.

    Raises
    ------
    ValueError
        If ``params["verbose"]`` is not 0, 1, 2 or "auto".
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(
                f"verbose must be 0 (silent), 1 (progress bar) or 2 (one line per epoch); received verbose={verbose!r}."
            )
        self.verbose = verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        if self.verbose and self.epochs > 1:
            print_message(f"Epoch {epoch + 1}/{self.epochs}")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_begin(self, logs=None):
        self._reset_progbar()

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # predictions are not metrics: show none

    def on_predict_end(self, logs=None):
        self._finalize_progbar(None)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = Progbar(target=self.target, verbose=self.verbose, unit_name="step")

    def _items(self, logs):
        items = sorted((logs or {}).items(), key=lambda item: _display_order(item[0]))
        self.progbar.stateful_metrics.update(name for name, _ in items)
        return items

    def _update_progbar(self, batch, logs):
        if self.progbar is None:
            self._reset_progbar()
        self.seen = batch + 1  # batches are counted from 0
        if self.verbose == 1:
            self.progbar.update(self.seen, self._items(logs), finalize=False)

    def _finalize_progbar(self, logs):
        if self.progbar is None:
            self._reset_progbar()
        if self.target is None:  # unknown length: from now on it is the length of this pass
            self.target = self.seen
            self.progbar.target = self.seen
        self.progbar.update(self.progbar.target, self._items(logs), finalize=True)


# ---------------------------------------------------------------- monitored quantities

_LOWER_IS_BETTER = {"loss", "error", "crossentropy", "mse", "mae", "mape", "msle", "rmse",
                    "hinge", "kl", "kld", "divergence", "poisson", "logcosh", "huber"}
_HIGHER_IS_BETTER = {"auc", "precision", "recall", "fmeasure", "f1", "iou", "r2"}


def _check_mode(owner, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(
            f"{owner} expects mode to be 'auto', 'min' or 'max'; received mode={mode!r}. "
            f"Use 'min' when lower is better (a loss), 'max' when higher is better (an accuracy)."
        )


def _infer_direction(owner, monitor, mode):
    """'min' or 'max' for ``monitor``; in 'auto' mode it is read from the metric's name."""
    if mode != "auto":
        return mode
    name = monitor[len("val_"):] if monitor.startswith("val_") else monitor
    words = set(name.lower().split("_"))
    if words & _LOWER_IS_BETTER:
        return "min"
    if words & _HIGHER_IS_BETTER or any(word.startswith("acc") for word in words):
        return "max"
    raise ValueError(
        f"{owner} cannot tell from the name whether monitor={monitor!r} should decrease or increase. "
        f"Pass mode='min' if lower is better (a loss or an error) or mode='max' if higher is better (an accuracy)."
    )


def _check_count(owner, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{owner} expects {name} to be an integer >= 0; received {name}={value!r}.")


def _check_number(owner, name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        expected = "a number or None" if allow_none else "a number"
        raise ValueError(f"{owner} expects {name} to be {expected}; received {name}={value!r}.")


class _MonitorCallback(Callback):
    """Shared parts of the callbacks that watch one value of the logs (``monitor``)."""

    def __init__(self, monitor, mode, min_delta, infer=True):
        super().__init__()
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(
                f"{owner} expects monitor to be the name of a value in the logs, such as 'val_loss' "
                f"or 'accuracy'; received monitor={monitor!r}."
            )
        _check_mode(owner, mode)
        _check_number(owner, "min_delta", min_delta)
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.direction = _infer_direction(owner, monitor, mode) if infer else None

    def _is_improvement(self, current, reference):
        """Whether ``current`` beats ``reference`` by more than ``min_delta``."""
        if reference is None:
            return True
        if self.direction == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _monitor_value(self, logs):
        """The monitored value, or None (with a warning that lists what is available)."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            available = ", ".join(logs) or "(none)"
            hint = (" Validation metrics (val_...) exist only when fit() is given validation_data or "
                    "validation_split." if self.monitor.startswith("val_") else "")
            warnings.warn(
                f"{type(self).__name__} is conditioned on metric `{self.monitor}`, which is not available. "
                f"Available metrics are: {available}.{hint}",
                stacklevel=3,
            )
        return value


class EarlyStopping(_MonitorCallback):
    """Stop training when a monitored metric has stopped improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        Name of the value in the logs to watch.
    min_delta : float, default 0
        A change smaller than this (in absolute value) does not count as an improvement.
    patience : int, default 0
        Number of epochs without improvement after which training stops.
    verbose : int, default 0
        1 prints a message when training stops and when weights are restored.
    mode : {"auto", "min", "max"}, default "auto"
        Whether the value should decrease or increase; "auto" reads it from the name
        (losses and errors decrease, accuracies and AUC increase).
    baseline : float, optional
        A value the metric must beat: patience counts from the first epoch until
        an epoch beats both the baseline and the best value so far.
    restore_best_weights : bool, default False
        At the end of training (stopped early or not), set the weights of the best epoch.
    start_from_epoch : int, default 0
        Number of warm-up epochs that are not watched.

    Attributes
    ----------
    stopped_epoch : int
        Epoch (from 0) at which training was stopped, 0 if it was not.
    best : float or None
        Best value seen. ``best_epoch`` is its epoch.

    Raises
    ------
    ValueError
        For a mode not in auto/min/max, a monitor whose direction "auto" cannot tell,
        a negative patience or start_from_epoch, a non-numeric min_delta or baseline.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        _check_count("EarlyStopping", "patience", patience)
        _check_count("EarlyStopping", "start_from_epoch", start_from_epoch)
        _check_number("EarlyStopping", "baseline", baseline, allow_none=True)
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = int(start_from_epoch)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self._reset()  # the same instance may serve several fit() calls

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # The first watched epoch is the best so far, even if it does not beat the baseline.
            self.best_weights = self._copy_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self._copy_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0  # patience restarts only past the best value and the baseline
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_message(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_message(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def _copy_weights(self):
        # Copies, so that later in-place updates of the model do not change the saved ones.
        return [np.array(w, copy=True) for w in self.model.get_weights()]


class ModelCheckpoint(_MonitorCallback):
    """Save the model (or its weights) during training.

    Parameters
    ----------
    filepath : str or os.PathLike
        Where to save. It may hold fields filled from ``epoch`` (counted from 1), ``batch``
        (with an integer ``save_freq``) and the logs: ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``.
        It must end with one of ``MODEL_SUFFIXES`` (".keras", ".h5"), or, with
        ``save_weights_only=True``, one of ``WEIGHTS_SUFFIXES`` (".weights.h5", ".weights.npz").
    monitor : str, default "val_loss"
        Value of the logs that ``save_best_only`` compares.
    verbose : int, default 0
        1 prints a message at each save decision.
    save_best_only : bool, default False
        Save only when the monitored value improves on the best so far.
    save_weights_only : bool, default False
        Call ``model.save_weights(path)`` instead of ``model.save(path)``.
    mode : {"auto", "min", "max"}, default "auto"
        Whether the monitored value should decrease or increase ("auto" reads the name).
    save_freq : "epoch" or int, default "epoch"
        Save at the end of every epoch, or after every this many training batches.
    initial_value_threshold : float, optional
        Initial "best" value: with ``save_best_only`` nothing is saved until it is beaten.

    Raises
    ------
    ValueError
        For a file name without a supported ending, a malformed ``{...}`` field, a
        save_freq that is not "epoch" or a positive integer, an unknown mode, or (with
        save_best_only) a monitor whose direction "auto" cannot tell.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, 0, infer=save_best_only)
        try:
            filepath = os.fspath(filepath)
        except TypeError:
            raise ValueError(
                f"ModelCheckpoint expects filepath to be a str or a path; received {filepath!r}."
            ) from None
        if save_weights_only and not filepath.endswith(WEIGHTS_SUFFIXES):
            raise ValueError(
                f"With save_weights_only=True the filepath must end with one of {', '.join(WEIGHTS_SUFFIXES)}; "
                f"received filepath={filepath!r}. For example: 'best.weights.h5'."
            )
        if not save_weights_only and not filepath.endswith(MODEL_SUFFIXES):
            raise ValueError(
                f"The filepath of a whole-model checkpoint must end with one of {', '.join(MODEL_SUFFIXES)}; "
                f"received filepath={filepath!r}. For example: 'best.keras' (or pass save_weights_only=True "
                f"and a name ending with '.weights.h5')."
            )
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(filepath) if field is not None]
        except ValueError as error:
            raise ValueError(
                f"ModelCheckpoint could not read the fields of filepath={filepath!r}: {error}. "
                f"Fields look like '{{epoch:02d}}' or '{{val_loss:.2f}}'; write '{{{{' and '}}}}' for literal braces."
            ) from None
        if any(field == "" or field.isdigit() for field in fields):
            raise ValueError(
                f"ModelCheckpoint needs named fields in filepath, like '{{epoch:02d}}'; received filepath={filepath!r} "
                f"with a positional field '{{}}'."
            )
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, numbers.Integral)
                                     or save_freq < 1):
            raise ValueError(
                f"ModelCheckpoint expects save_freq to be 'epoch' or a positive number of batches; "
                f"received save_freq={save_freq!r}."
            )
        _check_number("ModelCheckpoint", "initial_value_threshold", initial_value_threshold, allow_none=True)
        self.filepath = filepath
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._current_epoch = 0
        self._batches_since_save = 0
        self._last_batch = -1

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # Count the batches done since the last save; batch numbers restart at 0 each epoch.
        self._batches_since_save += batch + 1 if batch <= self._last_batch else batch - self._last_batch
        self._last_batch = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _format_path(self, epoch, batch, logs):
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as error:
            raise KeyError(
                f"ModelCheckpoint could not fill the field {error} of filepath={self.filepath!r}: it is not in the "
                f"logs. Available fields are: {', '.join(fields)}."
            ) from None
        except ValueError as error:
            raise ValueError(
                f"ModelCheckpoint could not format filepath={self.filepath!r} with {fields}: {error}. "
                f"Use a format that suits the value, e.g. '{{epoch:02d}}' for the epoch and '{{val_loss:.2f}}' for a loss."
            ) from None

    def _should_save(self, epoch, logs, path):
        if not self.save_best_only:
            if self.verbose > 0:
                print_message(f"Epoch {epoch + 1}: saving model to {path}")
            return True
        current = self._monitor_value(logs)
        if current is None:
            return True  # as Keras does: keep the checkpoint rather than lose it (the warning says why)
        if np.ndim(current) > 0:
            warnings.warn(
                f"ModelCheckpoint can compare only a single number; `{self.monitor}` is {current!r}. "
                f"Saving without comparing.",
                stacklevel=3,
            )
            return True
        best_text = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print_message(f"Epoch {epoch + 1}: {self.monitor} improved from {best_text} to {current:.5f}, "
                              f"saving model to {path}")
            self.best = current
            return True
        if self.verbose > 0:
            print_message(f"Epoch {epoch + 1}: {self.monitor} did not improve from {best_text}")
        return False

    def _save(self, epoch, batch, logs):
        path = self._format_path(epoch, batch, logs)
        if os.path.isdir(path):
            raise IsADirectoryError(
                f"ModelCheckpoint cannot save to {path!r}: it is an existing directory. Give a file name, "
                f"e.g. {os.path.join(path, 'model.keras')!r}."
            )
        if not self._should_save(epoch, logs, path):
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


# ---------------------------------------------------------------- learning rate

def _optimizer_of(owner, model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(
            f"{owner} needs model.optimizer.learning_rate, but the model has "
            f"{'no optimizer' if optimizer is None else 'an optimizer without a learning_rate attribute'}. "
            f"Call model.compile(optimizer=...) before fit()."
        )
    return optimizer


def _takes_two_arguments(function):
    """Whether ``function`` can be called as f(epoch, lr); older schedules take only f(epoch)."""
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # some built-ins have no signature
        return True
    positional = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate at the start of every epoch from a function.

    Parameters
    ----------
    schedule : callable
        ``schedule(epoch, lr) -> new_lr`` with ``epoch`` counted from 0 and ``lr`` the current
        rate (a function of the epoch alone, ``schedule(epoch)``, is accepted too).
    verbose : int, default 0
        1 prints the new rate at every epoch.

    Raises
    ------
    TypeError
        If ``schedule`` is not callable.
    ValueError
        During training: if the model has no ``optimizer.learning_rate``, or the schedule returns
        something that is not a finite number >= 0.
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"LearningRateScheduler expects schedule to be a function schedule(epoch, lr) -> new_lr; "
                f"received {schedule!r} of type {type(schedule).__name__}."
            )
        self.schedule = schedule
        self.verbose = verbose
        self._two_arguments = _takes_two_arguments(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer_of("LearningRateScheduler", self.model)
        current = float(optimizer.learning_rate)
        new = self.schedule(epoch, current) if self._two_arguments else self.schedule(epoch)
        if isinstance(new, (bool, np.bool_)) or not isinstance(new, numbers.Real) or not math.isfinite(new) or new < 0:
            raise ValueError(
                f"The schedule function must return the learning rate as a finite number >= 0; for epoch={epoch} "
                f"and lr={current} it returned {new!r}."
            )
        optimizer.learning_rate = float(new)
        if self.verbose > 0:
            print_message(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(_optimizer_of("LearningRateScheduler", self.model).learning_rate)


class ReduceLROnPlateau(_MonitorCallback):
    """Reduce the learning rate when a metric has stopped improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        Value of the logs to watch.
    factor : float, default 0.1
        The rate is multiplied by this (``0 < factor < 1``).
    patience : int, default 10
        Number of epochs without improvement after which the rate is reduced.
    verbose : int, default 0
        1 prints a message at each reduction.
    mode : {"auto", "min", "max"}, default "auto"
        Whether the value should decrease or increase ("auto" reads the name).
    min_delta : float, default 1e-4
        A change smaller than this does not count as an improvement.
    cooldown : int, default 0
        Number of epochs to wait after a reduction before counting again.
    min_lr : float, default 0.0
        Lower bound of the learning rate.

    Raises
    ------
    ValueError
        For a factor outside (0, 1), a negative patience, cooldown or min_lr, an unknown mode,
        or a monitor whose direction "auto" cannot tell.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        _check_number("ReduceLROnPlateau", "factor", factor)
        if not 0 < factor < 1:
            raise ValueError(
                f"ReduceLROnPlateau expects 0 < factor < 1 (the new rate is lr * factor); received factor={factor!r}. "
                f"To divide the rate by 10, use factor=0.1."
            )
        _check_count("ReduceLROnPlateau", "patience", patience)
        _check_count("ReduceLROnPlateau", "cooldown", cooldown)
        _check_number("ReduceLROnPlateau", "min_lr", min_lr)
        if min_lr < 0:
            raise ValueError(f"ReduceLROnPlateau expects min_lr >= 0; received min_lr={min_lr!r}.")
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)
        self._reset()

    def _reset(self):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = math.inf if self.direction == "min" else -math.inf

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        """Whether the callback is still waiting after a reduction."""
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        optimizer = _optimizer_of("ReduceLROnPlateau", self.model)
        logs["learning_rate"] = float(optimizer.learning_rate)  # the rate this epoch used
        current = self._monitor_value(logs)
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print_message(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


# ---------------------------------------------------------------- other callbacks

class TerminateOnNaN(Callback):
    """Stop training as soon as the loss becomes NaN or infinite.

    Parameters
    ----------
    raise_error : bool, default False
        False sets ``model.stop_training`` (the other callbacks still run ``on_train_end``);
        True raises a RuntimeError at once.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(
                f"The loss became {loss} at batch {batch}; training stopped. A smaller learning rate, "
                f"inputs scaled to [0, 1], or labels that match the loss usually fix this."
            )
        print_message(f"Batch {batch}: Invalid loss, terminating training")
        self.model.stop_training = True


def _csv_cell(value):
    """A log value as CSV text: numbers as Python prints them, sequences as ``[a, b]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(str(item) for item in np.ravel(value).tolist()) + "]"
    return value


class CSVLogger(Callback):
    """Write the logs of every epoch as a row of a CSV file.

    The first row names the columns: ``epoch`` (counted from 0), then the metrics sorted by
    name. After every epoch the whole file is written to a temporary file that then replaces
    the old one, so a crash never leaves a half-written row.

    Parameters
    ----------
    filename : str or os.PathLike
        The CSV file, e.g. ``"training.csv"``.
    separator : str, default ","
        The one character that separates the columns.
    append : bool, default False
        Keep the rows of an existing file and add to them (useful to resume training);
        False starts the file afresh.

    Raises
    ------
    ValueError
        If ``separator`` is not a single character, or ``filename`` is not a path.
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        try:
            self.filename = os.fspath(filename)
        except TypeError:
            raise ValueError(f"CSVLogger expects filename to be a str or a path; received {filename!r}.") from None
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                f"CSVLogger expects separator to be a single character such as ',' or '\\t'; "
                f"received separator={separator!r}."
            )
        self.sep = separator
        self.append = append
        self.keys = None
        self._previous = ""
        self._write_header = True
        self._rows = []

    def on_train_begin(self, logs=None):
        self._previous = ""
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8", newline="") as file:
                self._previous = file.read()
            if self._previous and not self._previous.endswith("\n"):
                self._previous += "\n"
        self._write_header = not self._previous
        self.keys = None
        self._rows = []
        atomic_write_text(self.filename, self._previous)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                # Keras keeps room for validation columns even when there is no validation yet.
                self.keys += ["val_" + key for key in self.keys]
        self._rows.append([epoch] + [_csv_cell(logs.get(key, "NA")) for key in self.keys])

        import csv

        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.sep, lineterminator="\n")
        if self._write_header:
            writer.writerow(["epoch"] + self.keys)
        writer.writerows(self._rows)
        atomic_write_text(self.filename, self._previous + buffer.getvalue())


class LambdaCallback(Callback):
    """Make a callback from functions, without writing a class.

    Parameters
    ----------
    on_epoch_begin, on_epoch_end : callable, optional
        Called as ``f(epoch, logs)``.
    on_train_begin, on_train_end : callable, optional
        Called as ``f(logs)``.
    on_train_batch_begin, on_train_batch_end : callable, optional
        Called as ``f(batch, logs=logs)``.
    **kwargs : callable
        Any other hook by name, e.g. ``on_test_end=f`` or ``on_predict_batch_end=f``.

    Raises
    ------
    ValueError
        If a keyword is not the name of a hook.
    TypeError
        If a given hook is not callable.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        hooks = dict(kwargs)
        hooks.update(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, function in hooks.items():
            if name not in _HOOK_NAMES:
                raise ValueError(
                    f"LambdaCallback got an unknown hook {name!r}. Known hooks are: {', '.join(_HOOK_NAMES)}."
                )
            if function is None:
                continue
            if not callable(function):
                raise TypeError(
                    f"LambdaCallback expects {name} to be a function; received {function!r} "
                    f"of type {type(function).__name__}."
                )
            setattr(self, name, function)


__all__ = [
    "MODEL_SUFFIXES",
    "WEIGHTS_SUFFIXES",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]

# Keras's TensorBoard callback lives in its own module (it writes event files through tensorboardX).
from .tensorboard import TensorBoard
