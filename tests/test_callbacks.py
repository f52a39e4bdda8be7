"""Tests of convlearn.callbacks, driven by a small fake model that follows the model's contract."""

import csv
import math
import os
import re
import warnings

import numpy as np
import pytest

from convlearn import progbar
from convlearn.callbacks import (
    CSVLogger,
    Callback,
    CallbackList,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BAR = "\u2501"


# ------------------------------------------------------------------ a fake model and a fit loop

class FakeOptimizer:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate


class FakeModel:
    """Follows the contract: stop_training, get/set_weights, save, save_weights, optimizer."""

    def __init__(self):
        self.stop_training = False
        self.optimizer = FakeOptimizer()
        self.weights = [np.zeros((2, 2), dtype=np.float32), np.zeros(2, dtype=np.float32)]
        self.saved = []

    def get_weights(self):
        return self.weights  # the live arrays, as a careless model might return them

    def set_weights(self, weights):
        for target, source in zip(self.weights, weights):
            target[...] = source

    def _write(self, filepath, kind):
        temporary = f"{filepath}.part"
        with open(temporary, "w") as file:
            file.write(f"{kind} {self.weights[0][0, 0]:g}\n")
        os.replace(temporary, filepath)
        self.saved.append((kind, os.path.basename(filepath)))

    def save(self, filepath):
        self._write(filepath, "model")

    def save_weights(self, filepath):
        self._write(filepath, "weights")


def fit(model, callbacks, epoch_logs, steps=2, verbose=0, batch_logs=None):
    """Drive callbacks as the model's fit does: epoch ``e`` sets every weight to ``e + 1``
    (in place) and ends with ``epoch_logs[e]``; returns the History."""
    callback_list = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                                 epochs=len(epoch_logs), steps=steps, verbose=verbose)
    model.stop_training = False
    callback_list.on_train_begin()
    logs = None
    for epoch, logs in enumerate(epoch_logs):
        logs = dict(logs)
        callback_list.on_epoch_begin(epoch)
        for batch in range(steps):
            callback_list.on_train_batch_begin(batch)
            for w in model.weights:
                w[...] = epoch + 1
            batch_values = batch_logs(epoch, batch) if batch_logs else {"accuracy": 0.5, "loss": 1.0}
            callback_list.on_train_batch_end(batch, batch_values)
            if model.stop_training:
                break
        callback_list.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    callback_list.on_train_end(logs)
    return callback_list.history


def val_losses(*values):
    return [{"loss": v + 0.1, "val_loss": v} for v in values]


def val_accuracies(*values):
    return [{"accuracy": v, "val_accuracy": v} for v in values]


class Recorder(Callback):
    """Records every hook call as (hook name, arguments)."""

    def __init__(self, calls, tag=""):
        super().__init__()
        self.calls, self.tag = calls, tag

    def __getattribute__(self, name):
        if name.startswith("on_"):
            calls, tag = object.__getattribute__(self, "calls"), object.__getattribute__(self, "tag")
            return lambda *args, **kwargs: calls.append((tag + name, args, kwargs))
        return object.__getattribute__(self, name)


@pytest.fixture(autouse=True)
def plain_output(monkeypatch):
    # Progress output in these tests is the non-interactive kind (final lines only).
    monkeypatch.setattr(progbar, "FORCE_INTERACTIVE", False)


# ------------------------------------------------------------------ Callback and CallbackList

def test_base_callback_hooks_do_nothing_and_batch_hooks_call_the_old_names():
    seen = []

    class OldStyle(Callback):
        def on_batch_begin(self, batch, logs=None):
            seen.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            seen.append(("end", batch, logs))

    callback = OldStyle()
    assert callback.model is None and callback.params is None
    callback.on_train_batch_begin(3)
    callback.on_train_batch_end(3, {"loss": 1.0})
    assert seen == [("begin", 3), ("end", 3, {"loss": 1.0})]
    for hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                 "on_predict_end"):
        assert getattr(Callback(), hook)({}) is None


def test_callback_list_forwards_every_hook_to_every_callback_in_order():
    calls = []
    callback_list = CallbackList([Recorder(calls, "a."), Recorder(calls, "b.")])
    logs = {"loss": 1.0}
    callback_list.on_train_begin(logs)
    callback_list.on_epoch_begin(0, logs)
    callback_list.on_train_batch_begin(0, logs)
    callback_list.on_train_batch_end(0, logs)
    callback_list.on_epoch_end(0, logs)
    callback_list.on_train_end(logs)
    callback_list.on_test_begin(logs)
    callback_list.on_test_batch_begin(1, logs)
    callback_list.on_test_batch_end(1, logs)
    callback_list.on_test_end(logs)
    callback_list.on_predict_begin(logs)
    callback_list.on_predict_batch_begin(2, logs)
    callback_list.on_predict_batch_end(2, logs)
    callback_list.on_predict_end(logs)
    names = [name for name, _, _ in calls]
    hooks = ["on_train_begin", "on_epoch_begin", "on_train_batch_begin", "on_train_batch_end", "on_epoch_end",
             "on_train_end", "on_test_begin", "on_test_batch_begin", "on_test_batch_end", "on_test_end",
             "on_predict_begin", "on_predict_batch_begin", "on_predict_batch_end", "on_predict_end"]
    assert names == [f"{who}.{hook}" for hook in hooks for who in "ab"]
    assert calls[0] == ("a.on_train_begin", (logs,), {})
    assert calls[2] == ("a.on_epoch_begin", (0, logs), {})
    assert calls[4] == ("a.on_train_batch_begin", (0,), {"logs": logs})  # batch hooks: logs by keyword


def test_callback_list_passes_one_logs_dict_so_additions_reach_later_callbacks():
    seen = []
    first = LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update(extra=1.0))
    second = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(dict(logs)))
    CallbackList([first, second]).on_epoch_end(0, {"loss": 2.0})
    assert seen == [{"loss": 2.0, "extra": 1.0}]


def test_callback_list_gives_none_logs_as_an_empty_dict():
    seen = []
    CallbackList([LambdaCallback(on_train_begin=seen.append)]).on_train_begin()
    assert seen == [{}]


def test_callback_list_adds_history_and_progbar_and_sets_model_and_params():
    model = FakeModel()
    user = EarlyStopping(monitor="loss")
    callback_list = CallbackList([user], add_history=True, add_progbar=True, model=model, epochs=3, steps=5,
                                 verbose=1)
    assert [type(cb) for cb in callback_list] == [EarlyStopping, History, ProgbarLogger]
    assert len(callback_list) == 3
    assert callback_list.history is callback_list.callbacks[1]
    assert model.history is callback_list.history
    for callback in callback_list:
        assert callback.model is model
        assert callback.params == {"epochs": 3, "steps": 5, "verbose": 1}


def test_callback_list_reuses_the_users_history_and_progbar():
    history, logger = History(), ProgbarLogger()
    callback_list = CallbackList([history, logger], add_history=True, add_progbar=True)
    assert callback_list.callbacks == [history, logger]
    assert callback_list.history is history and callback_list.progbar is logger


def test_callback_list_accepts_a_single_callback_none_or_a_tuple():
    stop = EarlyStopping()
    assert CallbackList(stop).callbacks == [stop]
    assert CallbackList((stop,)).callbacks == [stop]
    assert CallbackList(None).callbacks == []
    assert CallbackList(CallbackList([stop])).callbacks == [stop]


def test_callback_list_append_gives_the_new_callback_model_and_params():
    model = FakeModel()
    callback_list = CallbackList([], model=model, epochs=2, steps=None, verbose=0)
    late = History()
    callback_list.append(late)
    assert late.model is model and late.params == {"epochs": 2, "steps": None, "verbose": 0}
    with pytest.raises(TypeError, match=r"received the class History itself. Did you forget the parentheses\?"):
        callback_list.append(History)


def test_a_class_instead_of_an_instance_is_rejected():
    with pytest.raises(TypeError, match=r"the class EarlyStopping itself. Did you forget the parentheses\? "
                                        r"Write EarlyStopping\(\.\.\.\) instead of EarlyStopping"):
        CallbackList([EarlyStopping])
    with pytest.raises(TypeError, match=r"the class TerminateOnNaN itself"):
        CallbackList(TerminateOnNaN)


def test_a_function_is_rejected_with_a_pointer_to_lambda_callback():
    def on_epoch_end(epoch, logs):
        pass

    with pytest.raises(TypeError, match=r"of type function\. To run a function as a callback, wrap it: "
                                        r"LambdaCallback\(on_epoch_end=your_function\)"):
        CallbackList([on_epoch_end])


def test_other_objects_are_rejected_saying_what_was_received():
    with pytest.raises(TypeError, match=r"instances of convlearn.callbacks.Callback .*received 'stop' of type str"):
        CallbackList(["stop"])
    with pytest.raises(TypeError, match=r"callbacks must be a list of Callback instances, e.g\. .*received 3 of type int"):
        CallbackList(3)


# ------------------------------------------------------------------ History

def test_history_records_every_epoch():
    model = FakeModel()
    logs = [{"accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.6, "val_loss": 0.9},
            {"accuracy": 0.7, "loss": 0.6, "val_accuracy": 0.65, "val_loss": 0.8}]
    history = fit(model, [], logs)
    assert isinstance(history, History)
    assert history.epoch == [0, 1]
    assert history.history == {"accuracy": [0.5, 0.7], "loss": [1.0, 0.6], "val_accuracy": [0.6, 0.65],
                               "val_loss": [0.9, 0.8]}
    assert history.model is model and model.history is history
    assert history.params == {"epochs": 2, "steps": 2, "verbose": 0}


# ------------------------------------------------------------------ EarlyStopping

def test_early_stopping_min_mode_stops_after_patience_epochs():
    model = FakeModel()
    stop = EarlyStopping(patience=2)  # val_loss, "auto" -> min
    history = fit(model, [stop], val_losses(1.0, 0.8, 0.9, 0.85, 0.7, 0.6))
    assert history.epoch == [0, 1, 2, 3]  # best at epoch 1, then two epochs without improvement
    assert stop.stopped_epoch == 3 and stop.best == 0.8 and stop.best_epoch == 1


def test_early_stopping_max_mode_on_accuracy():
    model = FakeModel()
    stop = EarlyStopping(monitor="val_accuracy", patience=1)
    history = fit(model, [stop], val_accuracies(0.5, 0.6, 0.6, 0.7))
    assert history.epoch == [0, 1, 2]  # an equal value is not an improvement
    assert stop.stopped_epoch == 2 and stop.best == 0.6


def test_early_stopping_explicit_mode_overrides_the_name():
    model = FakeModel()
    stop = EarlyStopping(monitor="val_loss", mode="max", patience=0)
    history = fit(model, [stop], val_losses(0.5, 0.6, 0.4, 0.3))
    assert history.epoch == [0, 1, 2]


def test_early_stopping_patience_zero_stops_at_the_first_epoch_without_improvement():
    model = FakeModel()
    history = fit(model, [EarlyStopping(patience=0)], val_losses(1.0, 0.9, 0.95, 0.5))
    assert history.epoch == [0, 1, 2]


def test_early_stopping_runs_to_the_end_while_improving():
    model = FakeModel()
    stop = EarlyStopping(patience=0)
    history = fit(model, [stop], val_losses(1.0, 0.9, 0.8, 0.7))
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 0 and not model.stop_training


def test_early_stopping_min_delta_ignores_small_changes():
    model = FakeModel()
    losses = val_losses(1.0, 0.95, 0.92, 0.90)
    assert fit(model, [EarlyStopping(patience=1, min_delta=0.1)], losses).epoch == [0, 1]
    assert fit(model, [EarlyStopping(patience=1, min_delta=-0.1)], losses).epoch == [0, 1]  # sign is ignored
    assert fit(model, [EarlyStopping(patience=1, min_delta=0)], losses).epoch == [0, 1, 2, 3]


def test_early_stopping_min_delta_in_max_mode():
    model = FakeModel()
    accuracies = val_accuracies(0.5, 0.52, 0.53, 0.7)
    assert fit(model, [EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05)], accuracies).epoch == [0, 1]
    assert fit(model, [EarlyStopping(monitor="val_accuracy", patience=1)], accuracies).epoch == [0, 1, 2, 3]


def test_early_stopping_baseline_not_beaten_counts_patience_from_the_start():
    model = FakeModel()
    flat = val_losses(0.9, 0.9, 0.9, 0.9, 0.9)
    assert fit(model, [EarlyStopping(patience=2, baseline=0.5)], flat).epoch == [0, 1]
    assert fit(model, [EarlyStopping(patience=2)], flat).epoch == [0, 1, 2]


def test_early_stopping_baseline_beaten_behaves_like_no_baseline():
    model = FakeModel()
    flat = val_losses(0.4, 0.4, 0.4, 0.4)
    assert fit(model, [EarlyStopping(patience=2, baseline=0.5)], flat).epoch == [0, 1, 2]


def test_early_stopping_baseline_in_max_mode():
    model = FakeModel()
    below = val_accuracies(0.6, 0.6, 0.6, 0.6)
    above = val_accuracies(0.95, 0.95, 0.95, 0.95)
    assert fit(model, [EarlyStopping(monitor="val_accuracy", patience=2, baseline=0.9)], below).epoch == [0, 1]
    assert fit(model, [EarlyStopping(monitor="val_accuracy", patience=2, baseline=0.9)], above).epoch == [0, 1, 2]


def test_early_stopping_start_from_epoch_skips_warm_up_epochs():
    model = FakeModel()
    rising = val_losses(1, 2, 3, 4, 5, 6)
    assert fit(model, [EarlyStopping(patience=1)], rising).epoch == [0, 1]
    stop = EarlyStopping(patience=1, start_from_epoch=3)
    assert fit(model, [stop], rising).epoch == [0, 1, 2, 3, 4]
    assert stop.best == 4 and stop.best_epoch == 3


def test_early_stopping_restores_the_best_epochs_weights_when_it_stops():
    model = FakeModel()
    stop = EarlyStopping(patience=2, restore_best_weights=True)
    fit(model, [stop], val_losses(1.0, 0.5, 0.7, 0.8, 0.1))
    assert stop.stopped_epoch == 3
    # Epoch e leaves every weight at e + 1: the best epoch (1) had weights 2.
    assert all(np.all(w == 2.0) for w in model.weights)


def test_early_stopping_restores_best_weights_also_when_training_runs_to_the_end():
    model = FakeModel()
    stop = EarlyStopping(patience=5, restore_best_weights=True)
    fit(model, [stop], val_losses(1.0, 0.3, 0.7, 0.8))
    assert stop.stopped_epoch == 0
    assert all(np.all(w == 2.0) for w in model.weights)


def test_early_stopping_keeps_the_last_weights_without_restore():
    model = FakeModel()
    fit(model, [EarlyStopping(patience=2)], val_losses(1.0, 0.5, 0.7, 0.8))
    assert all(np.all(w == 4.0) for w in model.weights)


def test_early_stopping_restores_the_best_of_the_epochs_below_the_baseline():
    model = FakeModel()
    stop = EarlyStopping(patience=3, baseline=0.1, restore_best_weights=True)
    fit(model, [stop], val_losses(0.9, 0.5, 0.6, 0.7, 0.8))
    assert stop.stopped_epoch == 2
    assert all(np.all(w == 2.0) for w in model.weights)


def test_early_stopping_verbose_messages(capsys):
    model = FakeModel()
    fit(model, [EarlyStopping(patience=1, verbose=1, restore_best_weights=True)], val_losses(1.0, 0.5, 0.7, 0.1))
    out = capsys.readouterr().out
    assert out == "Epoch 3: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"


def test_early_stopping_is_silent_by_default(capsys):
    fit(FakeModel(), [EarlyStopping(patience=1, restore_best_weights=True)], val_losses(1.0, 0.5, 0.7, 0.1))
    assert capsys.readouterr().out == ""


def test_early_stopping_can_be_reused_for_a_second_fit():
    model = FakeModel()
    stop = EarlyStopping(patience=1)
    assert fit(model, [stop], val_losses(1.0, 2.0, 3.0)).epoch == [0, 1]
    assert fit(model, [stop], val_losses(5.0, 4.0, 3.0)).epoch == [0, 1, 2]
    assert stop.stopped_epoch == 0 and stop.best == 3.0


def test_early_stopping_warns_about_a_missing_metric_and_goes_on():
    model = FakeModel()
    stop = EarlyStopping(patience=0)
    with pytest.warns(UserWarning, match=r"EarlyStopping is conditioned on metric `val_loss`, which is not available\. "
                                         r"Available metrics are: accuracy, loss\. Validation metrics \(val_\.\.\.\) "
                                         r"exist only when fit\(\) is given validation_data or validation_split"):
        history = fit(model, [stop], [{"accuracy": 0.5, "loss": 1.0}, {"accuracy": 0.4, "loss": 2.0}])
    assert history.epoch == [0, 1]


def test_early_stopping_missing_training_metric_warning_has_no_validation_hint():
    with pytest.warns(UserWarning, match=r"metric `accuracy`, which is not available\. Available metrics are: loss\.$"):
        fit(FakeModel(), [EarlyStopping(monitor="accuracy")], [{"loss": 1.0}])


@pytest.mark.parametrize(
    "monitor, direction",
    [("loss", "min"), ("val_loss", "min"), ("mae", "min"), ("val_mean_squared_error", "min"),
     ("categorical_crossentropy", "min"), ("accuracy", "max"), ("val_accuracy", "max"), ("acc", "max"),
     ("val_acc", "max"), ("sparse_categorical_accuracy", "max"), ("auc", "max"), ("val_precision", "max")],
)
def test_auto_mode_reads_the_direction_from_the_name(monitor, direction):
    assert EarlyStopping(monitor=monitor).direction == direction
    assert ReduceLROnPlateau(monitor=monitor).direction == direction


def test_auto_mode_refuses_a_name_it_cannot_read():
    with pytest.raises(ValueError, match=r"EarlyStopping cannot tell from the name whether monitor='val_dice' should "
                                         r"decrease or increase\. Pass mode='min' .* or mode='max'"):
        EarlyStopping(monitor="val_dice")
    assert EarlyStopping(monitor="val_dice", mode="max").direction == "max"


@pytest.mark.parametrize("mode", ["maximum", "MIN", None])
def test_early_stopping_rejects_an_unknown_mode(mode):
    with pytest.raises(ValueError, match=r"EarlyStopping expects mode to be 'auto', 'min' or 'max'; received mode="):
        EarlyStopping(mode=mode)


@pytest.mark.parametrize("name", ["patience", "start_from_epoch"])
@pytest.mark.parametrize("value", [-1, 1.5, "2"])
def test_early_stopping_rejects_bad_counts(name, value):
    with pytest.raises(ValueError, match=rf"EarlyStopping expects {name} to be an integer >= 0; received {name}="):
        EarlyStopping(**{name: value})


def test_early_stopping_rejects_bad_numbers_and_monitor():
    with pytest.raises(ValueError, match=r"EarlyStopping expects baseline to be a number or None; received baseline='x'"):
        EarlyStopping(baseline="x")
    with pytest.raises(ValueError, match=r"EarlyStopping expects min_delta to be a number; received min_delta=None"):
        EarlyStopping(min_delta=None)
    with pytest.raises(ValueError, match=r"EarlyStopping expects monitor to be the name of a value in the logs"):
        EarlyStopping(monitor="")


# ------------------------------------------------------------------ ModelCheckpoint

def test_checkpoint_saves_every_epoch_with_a_formatted_name(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.keras")
    fit(model, [ModelCheckpoint(pattern)], val_losses(0.9, 0.456, 1.2))
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01-0.90.keras", "ckpt-02-0.46.keras", "ckpt-03-1.20.keras"]
    assert (tmp_path / "ckpt-02-0.46.keras").read_text() == "model 2\n"
    assert [kind for kind, _ in model.saved] == ["model"] * 3


def test_checkpoint_save_best_only_saves_on_improvement_only(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "best-{epoch}.keras")
    fit(model, [ModelCheckpoint(pattern, save_best_only=True)], val_losses(0.9, 1.0, 0.5, 0.5, 0.2))
    assert [name for _, name in model.saved] == ["best-1.keras", "best-3.keras", "best-5.keras"]


def test_checkpoint_save_best_only_with_one_name_keeps_the_best(tmp_path):
    model = FakeModel()
    path = tmp_path / "best.keras"
    fit(model, [ModelCheckpoint(path, save_best_only=True)], val_losses(0.9, 0.3, 0.5, 0.8))
    assert path.read_text() == "model 2\n"  # written at epoch 2 (weights 2), never after
    assert os.listdir(tmp_path) == ["best.keras"]


def test_checkpoint_save_best_only_in_max_mode(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "{epoch}-{val_accuracy:.3f}.keras")
    fit(model, [ModelCheckpoint(pattern, monitor="val_accuracy", save_best_only=True)],
        val_accuracies(0.5, 0.4, 0.75, 0.7))
    assert [name for _, name in model.saved] == ["1-0.500.keras", "3-0.750.keras"]


def test_checkpoint_initial_value_threshold_must_be_beaten_first(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(tmp_path / "{epoch}.keras", save_best_only=True, initial_value_threshold=0.6)
    fit(model, [checkpoint], val_losses(0.9, 0.7, 0.5, 0.55))
    assert [name for _, name in model.saved] == ["3.keras"]


def test_checkpoint_save_weights_only_calls_save_weights(tmp_path):
    model = FakeModel()
    fit(model, [ModelCheckpoint(tmp_path / "w-{epoch}.weights.h5", save_weights_only=True)], val_losses(0.9, 0.8))
    assert model.saved == [("weights", "w-1.weights.h5"), ("weights", "w-2.weights.h5")]
    assert (tmp_path / "w-2.weights.h5").read_text() == "weights 2\n"


def test_checkpoint_creates_missing_folders(tmp_path):
    model = FakeModel()
    fit(model, [ModelCheckpoint(tmp_path / "runs" / "a" / "{epoch}.keras")], val_losses(0.9))
    assert (tmp_path / "runs" / "a" / "1.keras").is_file()


def test_checkpoint_save_freq_counts_batches_across_epochs(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(tmp_path / "e{epoch}-b{batch}-{loss:.1f}.keras", monitor="loss", save_freq=3)
    fit(model, [checkpoint], val_losses(0.9, 0.8, 0.7), steps=2,
        batch_logs=lambda epoch, batch: {"loss": 1.0 + batch})
    # 6 batches in all, a save after the 3rd (epoch 2, batch 1) and the 6th (epoch 3, batch 2)
    assert [name for _, name in model.saved] == ["e2-b1-1.0.keras", "e3-b2-2.0.keras"]


def test_checkpoint_verbose_messages(tmp_path, capsys):
    model = FakeModel()
    path = str(tmp_path / "m.keras")
    fit(model, [ModelCheckpoint(path, save_best_only=True, verbose=1)], val_losses(0.9, 1.0, 0.5))
    assert capsys.readouterr().out == (
        f"Epoch 1: val_loss improved from None to 0.90000, saving model to {path}\n"
        f"Epoch 2: val_loss did not improve from 0.90000\n"
        f"Epoch 3: val_loss improved from 0.90000 to 0.50000, saving model to {path}\n"
    )
    fit(model, [ModelCheckpoint(path, verbose=1)], val_losses(0.9))
    assert capsys.readouterr().out == f"Epoch 1: saving model to {path}\n"


def test_checkpoint_missing_monitor_warns_and_saves(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match=r"ModelCheckpoint is conditioned on metric `val_loss`, which is not "
                                         r"available\. Available metrics are: loss"):
        fit(model, [ModelCheckpoint(tmp_path / "{epoch}.keras", save_best_only=True)], [{"loss": 1.0}])
    assert [name for _, name in model.saved] == ["1.keras"]


def test_checkpoint_non_scalar_monitor_warns_and_saves(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match=r"ModelCheckpoint can compare only a single number"):
        fit(model, [ModelCheckpoint(tmp_path / "m.keras", monitor="loss", save_best_only=True)],
            [{"loss": np.array([1.0, 2.0])}])
    assert len(model.saved) == 1


def test_checkpoint_unknown_monitor_name_is_fine_without_save_best_only(tmp_path):
    ModelCheckpoint(tmp_path / "m.keras", monitor="val_dice")
    with pytest.raises(ValueError, match=r"ModelCheckpoint cannot tell from the name whether monitor='val_dice'"):
        ModelCheckpoint(tmp_path / "m.keras", monitor="val_dice", save_best_only=True)


@pytest.mark.parametrize("name", ["model", "model.npz", "model.weights.h5x", "model.pt"])
def test_checkpoint_rejects_a_model_file_without_a_supported_ending(name):
    with pytest.raises(ValueError, match=r"filepath of a whole-model checkpoint must end with one of \.keras, \.h5; "
                                         rf"received filepath='{re.escape(name)}'\. For example: 'best\.keras'"):
        ModelCheckpoint(name)


@pytest.mark.parametrize("name", ["model.keras", "model.h5", "weights.npz"])
def test_checkpoint_rejects_a_weights_file_without_a_supported_ending(name):
    with pytest.raises(ValueError, match=r"With save_weights_only=True the filepath must end with one of "
                                         r"\.weights\.h5, \.weights\.npz; received filepath="):
        ModelCheckpoint(name, save_weights_only=True)


@pytest.mark.parametrize("save_freq", ["batch", 0, -2, 1.5, True])
def test_checkpoint_rejects_a_bad_save_freq(save_freq):
    with pytest.raises(ValueError, match=r"save_freq to be 'epoch' or a positive number of batches; received save_freq="):
        ModelCheckpoint("m.keras", save_freq=save_freq)


def test_checkpoint_rejects_bad_fields_mode_threshold_and_path():
    with pytest.raises(ValueError, match=r"ModelCheckpoint could not read the fields of filepath='m-\{epoch\.keras'"):
        ModelCheckpoint("m-{epoch.keras")
    with pytest.raises(ValueError, match=r"needs named fields in filepath, like '\{epoch:02d\}'"):
        ModelCheckpoint("m-{}.keras")
    with pytest.raises(ValueError, match=r"ModelCheckpoint expects mode to be 'auto', 'min' or 'max'"):
        ModelCheckpoint("m.keras", mode="best")
    with pytest.raises(ValueError, match=r"initial_value_threshold to be a number or None"):
        ModelCheckpoint("m.keras", initial_value_threshold="low")
    with pytest.raises(ValueError, match=r"ModelCheckpoint expects filepath to be a str or a path; received 42"):
        ModelCheckpoint(42)


def test_checkpoint_field_missing_from_the_logs_raises_key_error(tmp_path):
    with pytest.raises(KeyError, match=r"could not fill the field 'val_auc' .* Available fields are: loss, val_loss, epoch"):
        fit(FakeModel(), [ModelCheckpoint(tmp_path / "{val_auc:.2f}.keras")], val_losses(0.5))


def test_checkpoint_field_with_a_wrong_format_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"could not format filepath=.*Unknown format code 'd'.*'\{val_loss:\.2f\}'"):
        fit(FakeModel(), [ModelCheckpoint(tmp_path / "{val_loss:02d}.keras")], val_losses(0.5))


def test_checkpoint_to_an_existing_directory_is_refused(tmp_path):
    (tmp_path / "out.keras").mkdir()
    with pytest.raises(IsADirectoryError, match=r"it is an existing directory\. Give a file name"):
        fit(FakeModel(), [ModelCheckpoint(tmp_path / "out.keras")], val_losses(0.5))


# ------------------------------------------------------------------ LearningRateScheduler

def test_scheduler_sets_the_learning_rate_at_every_epoch_start():
    model = FakeModel()
    used = []
    schedule = LearningRateScheduler(lambda epoch, lr: lr if epoch < 2 else lr / 2)
    record = LambdaCallback(on_epoch_begin=lambda epoch, logs: used.append(model.optimizer.learning_rate))
    history = fit(model, [schedule, record], val_losses(1, 1, 1, 1))
    assert used == [0.01, 0.01, 0.005, 0.0025]
    assert history.history["learning_rate"] == [0.01, 0.01, 0.005, 0.0025]


def test_scheduler_accepts_a_function_of_the_epoch_alone():
    model = FakeModel()
    fit(model, [LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** epoch)], val_losses(1, 1, 1))
    assert model.optimizer.learning_rate == pytest.approx(0.025)


def test_scheduler_accepts_numpy_floats_and_prints_when_verbose(capsys):
    model = FakeModel()
    fit(model, [LearningRateScheduler(lambda epoch, lr: np.float32(0.5), verbose=1)], val_losses(1))
    assert model.optimizer.learning_rate == 0.5 and type(model.optimizer.learning_rate) is float
    assert capsys.readouterr().out == "Epoch 1: LearningRateScheduler setting learning rate to 0.5.\n"


def test_scheduler_rejects_a_non_callable():
    with pytest.raises(TypeError, match=r"schedule to be a function schedule\(epoch, lr\) -> new_lr; received 0\.1"):
        LearningRateScheduler(0.1)


@pytest.mark.parametrize("bad", ["0.1", None, math.nan, math.inf, -0.01, True])
def test_scheduler_rejects_a_bad_learning_rate_from_the_schedule(bad):
    with pytest.raises(ValueError, match=r"must return the learning rate as a finite number >= 0; for epoch=0 and "
                                         r"lr=0\.01 it returned"):
        fit(FakeModel(), [LearningRateScheduler(lambda epoch, lr: bad)], val_losses(1))


def test_scheduler_needs_an_optimizer_with_a_learning_rate():
    model = FakeModel()
    model.optimizer = None
    with pytest.raises(ValueError, match=r"LearningRateScheduler needs model\.optimizer\.learning_rate, but the model "
                                         r"has no optimizer\. Call model\.compile\(optimizer=\.\.\.\)"):
        fit(model, [LearningRateScheduler(lambda epoch, lr: lr)], val_losses(1))
    model.optimizer = object()
    with pytest.raises(ValueError, match=r"an optimizer without a learning_rate attribute"):
        fit(model, [LearningRateScheduler(lambda epoch, lr: lr)], val_losses(1))


# ------------------------------------------------------------------ ReduceLROnPlateau

def test_reduce_lr_after_patience_epochs_without_improvement():
    model = FakeModel()
    reduce = ReduceLROnPlateau(factor=0.5, patience=2)
    history = fit(model, [reduce], val_losses(1.0, 0.9, 0.9, 0.9, 0.9, 0.9))
    # no improvement at epochs 2 and 3 -> halved after epoch 3; epochs 4 and 5 -> halved again
    assert history.history["learning_rate"] == [0.01, 0.01, 0.01, 0.01, 0.005, 0.005]
    assert model.optimizer.learning_rate == pytest.approx(0.0025)


def test_reduce_lr_min_delta_and_max_mode():
    model = FakeModel()
    reduce = ReduceLROnPlateau(monitor="val_accuracy", factor=0.1, patience=1, min_delta=0.01)
    fit(model, [reduce], val_accuracies(0.5, 0.505, 0.6))
    # 0.505 is not 0.01 better than 0.5 -> reduced after epoch 1; 0.6 is an improvement
    assert model.optimizer.learning_rate == pytest.approx(0.001)


def test_reduce_lr_cooldown_waits_before_counting_again():
    model = FakeModel()
    reduce = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    history = fit(model, [reduce], val_losses(1.0, 1.0, 1.0, 1.0, 1.0, 1.0))
    # Reduced after epoch 1. The cooldown counter then drops at epochs 2 and 3 (wait held at 0);
    # at epoch 3 it reaches 0, so that epoch counts again and reduces (as in Keras). Same at 4, 5.
    assert history.history["learning_rate"] == [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025]
    assert model.optimizer.learning_rate == pytest.approx(0.00125)
    no_cooldown = FakeModel()
    fit(no_cooldown, [ReduceLROnPlateau(factor=0.5, patience=1)], val_losses(1.0, 1.0, 1.0, 1.0, 1.0, 1.0))
    assert no_cooldown.optimizer.learning_rate == pytest.approx(0.01 * 0.5 ** 5)


def test_reduce_lr_never_goes_below_min_lr():
    model = FakeModel()
    fit(model, [ReduceLROnPlateau(factor=0.1, patience=0, min_lr=0.004)], val_losses(1.0, 1.0, 1.0, 1.0))
    assert model.optimizer.learning_rate == 0.004


def test_reduce_lr_verbose_message(capsys):
    model = FakeModel()
    fit(model, [ReduceLROnPlateau(factor=0.5, patience=0, verbose=1)], val_losses(1.0, 1.0))
    assert capsys.readouterr().out == "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.005.\n"


def test_reduce_lr_missing_metric_warns():
    with pytest.warns(UserWarning, match=r"ReduceLROnPlateau is conditioned on metric `val_loss`, which is not "
                                         r"available\. Available metrics are: loss, learning_rate"):
        fit(FakeModel(), [ReduceLROnPlateau()], [{"loss": 1.0}])


@pytest.mark.parametrize("factor", [1.0, 1.5, 0.0, -0.1])
def test_reduce_lr_rejects_a_factor_outside_0_1(factor):
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau expects 0 < factor < 1 \(the new rate is lr \* factor\); "
                                         r"received factor=.*To divide the rate by 10, use factor=0\.1"):
        ReduceLROnPlateau(factor=factor)


def test_reduce_lr_rejects_bad_counts_min_lr_and_mode():
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau expects patience to be an integer >= 0; received patience=-1"):
        ReduceLROnPlateau(patience=-1)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau expects cooldown to be an integer >= 0"):
        ReduceLROnPlateau(cooldown=-1)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau expects min_lr >= 0; received min_lr=-0\.1"):
        ReduceLROnPlateau(min_lr=-0.1)
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau expects factor to be a number; received factor='half'"):
        ReduceLROnPlateau(factor="half")
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau expects mode to be 'auto', 'min' or 'max'"):
        ReduceLROnPlateau(mode="down")


# ------------------------------------------------------------------ TerminateOnNaN

@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_terminate_on_nan_stops_at_the_bad_batch(bad, capsys):
    model = FakeModel()
    batches = []
    history = fit(model, [TerminateOnNaN(), LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))],
                  val_losses(1, 1, 1), steps=4,
                  batch_logs=lambda epoch, batch: {"loss": bad if (epoch, batch) == (1, 2) else 1.0})
    assert model.stop_training is True
    assert history.epoch == [0, 1]
    assert batches == [0, 1, 2, 3, 0, 1, 2]
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"


def test_terminate_on_nan_ignores_finite_and_missing_losses():
    model = FakeModel()
    history = fit(model, [TerminateOnNaN()], val_losses(1, 1), batch_logs=lambda e, b: {} if b else {"loss": 3.0})
    assert history.epoch == [0, 1] and model.stop_training is False


def test_terminate_on_nan_can_raise_at_once():
    with pytest.raises(RuntimeError, match=r"The loss became nan at batch 0; training stopped\. A smaller learning rate"):
        fit(FakeModel(), [TerminateOnNaN(raise_error=True)], val_losses(1), batch_logs=lambda e, b: {"loss": math.nan})


# ------------------------------------------------------------------ CSVLogger

def read_rows(path, delimiter=","):
    with open(path, newline="") as file:
        return list(csv.reader(file, delimiter=delimiter))


def test_csv_logger_writes_a_header_and_one_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    logs = [{"loss": 1.5, "accuracy": 0.25, "val_loss": 1.25, "val_accuracy": 0.5},
            {"loss": 0.75, "accuracy": 0.5, "val_loss": 0.625, "val_accuracy": 0.75}]
    fit(FakeModel(), [CSVLogger(path)], logs)
    assert path.read_text() == (
        "epoch,accuracy,loss,val_accuracy,val_loss\n"
        "0,0.25,1.5,0.5,1.25\n"
        "1,0.5,0.75,0.75,0.625\n"
    )


def test_csv_logger_separator_and_values_of_other_kinds(tmp_path):
    path = tmp_path / "log.tsv"
    fit(FakeModel(), [CSVLogger(path, separator="\t")],
        [{"loss": np.float32(0.5), "val_loss": np.array(0.25), "note": "a\tb", "sizes": [1, 2]}])
    assert read_rows(path, "\t") == [["epoch", "loss", "note", "sizes", "val_loss"],
                                     ["0", "0.5", "a\tb", "[1, 2]", "0.25"]]


def test_csv_logger_without_validation_keeps_empty_validation_columns(tmp_path):
    path = tmp_path / "log.csv"
    fit(FakeModel(), [CSVLogger(path)], [{"loss": 1.0}, {"loss": 0.5}])
    assert read_rows(path) == [["epoch", "loss", "val_loss"], ["0", "1.0", "NA"], ["1", "0.5", "NA"]]


def test_csv_logger_append_adds_rows_without_a_second_header(tmp_path):
    path = tmp_path / "log.csv"
    fit(FakeModel(), [CSVLogger(path)], val_losses(1.0))
    fit(FakeModel(), [CSVLogger(path, append=True)], val_losses(0.5, 0.25))
    rows = read_rows(path)
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [row[0] for row in rows[1:]] == ["0", "0", "1"]
    assert rows[3] == ["1", "0.35", "0.25"]


def test_csv_logger_append_to_a_missing_file_writes_the_header(tmp_path):
    path = tmp_path / "new.csv"
    fit(FakeModel(), [CSVLogger(path, append=True)], val_losses(1.0))
    assert read_rows(path)[0] == ["epoch", "loss", "val_loss"]


def test_csv_logger_without_append_starts_afresh(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("old,content\n1,2\n")
    fit(FakeModel(), [CSVLogger(path)], val_losses(1.0))
    assert read_rows(path) == [["epoch", "loss", "val_loss"], ["0", "1.1", "1.0"]]


def test_csv_logger_file_is_complete_after_a_crash(tmp_path):
    path = tmp_path / "log.csv"

    def crash(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(FakeModel(), [CSVLogger(path), LambdaCallback(on_epoch_end=crash)], val_losses(1.0, 0.5, 0.25, 0.1))
    rows = read_rows(path)
    assert [row[0] for row in rows] == ["epoch", "0", "1", "2"]
    assert all(len(row) == 3 for row in rows)
    assert os.listdir(tmp_path) == ["log.csv"]


def test_csv_logger_keeps_the_old_file_when_a_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "log.csv"
    logger = CSVLogger(path)
    logger.on_train_begin()
    logger.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.5})
    before = path.read_text()

    def failing_replace(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        logger.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.25})
    assert path.read_text() == before
    assert os.listdir(tmp_path) == ["log.csv"]  # the temporary file is removed


def test_csv_logger_new_file_gets_the_usual_permissions(tmp_path):
    path = tmp_path / "log.csv"
    fit(FakeModel(), [CSVLogger(path)], val_losses(1.0))
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("separator", ["", ";;", None])
def test_csv_logger_rejects_a_bad_separator(separator):
    with pytest.raises(ValueError, match=r"CSVLogger expects separator to be a single character such as ','"):
        CSVLogger("log.csv", separator=separator)


def test_csv_logger_rejects_a_bad_filename():
    with pytest.raises(ValueError, match=r"CSVLogger expects filename to be a str or a path; received None"):
        CSVLogger(None)


# ------------------------------------------------------------------ LambdaCallback

def test_lambda_callback_calls_the_given_functions():
    calls = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(f"epoch_begin {epoch}"),
        on_train_batch_end=lambda batch, logs: calls.append(f"batch_end {batch} {logs['loss']}"),
        on_epoch_end=lambda epoch, logs: calls.append(f"epoch_end {epoch} {logs['val_loss']}"),
        on_train_end=lambda logs: calls.append("train_end"),
        on_test_end=lambda logs: calls.append("test_end"),
    )
    fit(FakeModel(), [callback], val_losses(0.5), steps=1)
    CallbackList([callback]).on_test_end()
    assert calls == ["train_begin", "epoch_begin 0", "batch_end 0 1.0", "epoch_end 0 0.5", "train_end", "test_end"]


def test_lambda_callback_rejects_unknown_hooks_and_non_functions():
    with pytest.raises(ValueError, match=r"LambdaCallback got an unknown hook 'on_epoch_finish'\. Known hooks are: "
                                         r"on_train_begin, "):
        LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match=r"LambdaCallback expects on_epoch_end to be a function; received 'print'"):
        LambdaCallback(on_epoch_end="print")


# ------------------------------------------------------------------ ProgbarLogger

def plain(text):
    return ANSI.sub("", text)


def test_progbar_logger_verbose_1_prints_epoch_lines_and_final_bars(capsys):
    logs = [{"accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.6, "val_loss": 0.9},
            {"accuracy": 0.7, "loss": 0.6, "val_accuracy": 0.65, "val_loss": 0.8}]
    fit(FakeModel(), [], logs, steps=3, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2"
    assert re.fullmatch(rf"3/3 {BAR * 20} \d+s \d+(us|ms|s)/step - accuracy: 0\.5000 - loss: 1\.0000 - "
                        r"val_accuracy: 0\.6000 - val_loss: 0\.9000", lines[1])
    assert lines[2] == "Epoch 2/2"
    assert lines[3].endswith("- accuracy: 0.7000 - loss: 0.6000 - val_accuracy: 0.6500 - val_loss: 0.8000")
    assert len(lines) == 4


def test_progbar_logger_verbose_2_prints_one_line_per_epoch(capsys):
    fit(FakeModel(), [], [{"loss": 1.0, "val_loss": 0.9}] * 2, steps=5, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(r"5/5 - \d+s - \d+(us|ms|s)/step - loss: 1\.0000 - val_loss: 0\.9000", lines[1])
    assert len(lines) == 4


def test_progbar_logger_shows_the_models_values_as_given(capsys):
    # Running means from the model must not be averaged a second time.
    fit(FakeModel(), [], [{"loss": 0.25}], steps=4, verbose=1,
        batch_logs=lambda epoch, batch: {"loss": [4.0, 3.0, 2.0, 1.0][batch]})
    assert capsys.readouterr().out.rstrip("\n").endswith(" - loss: 0.2500")


def test_progbar_logger_single_epoch_has_no_epoch_line(capsys):
    fit(FakeModel(), [], [{"loss": 1.0}], steps=2, verbose=1)
    out = capsys.readouterr().out
    assert not out.startswith("Epoch") and out.startswith("2/2 ")


def test_progbar_logger_verbose_0_is_silent(capsys):
    callback_list = CallbackList([ProgbarLogger()], epochs=2, steps=2, verbose=0)
    callback_list.on_epoch_begin(0)
    callback_list.on_train_batch_end(0, {"loss": 1.0})
    callback_list.on_epoch_end(0, {"loss": 1.0})
    assert capsys.readouterr().out == ""


def test_progbar_logger_puts_the_learning_rate_after_validation_metrics(capsys):
    model = FakeModel()
    fit(model, [ReduceLROnPlateau(patience=5)], [{"accuracy": 0.5, "loss": 1.0, "val_accuracy": 0.5,
                                                  "val_loss": 1.0}], verbose=2)
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.endswith("- accuracy: 0.5000 - loss: 1.0000 - val_accuracy: 0.5000 - val_loss: 1.0000 - "
                         "learning_rate: 0.0100")


def test_progbar_logger_unknown_steps_takes_the_length_of_the_first_epoch(capsys):
    fit(FakeModel(), [], [{"loss": 1.0}, {"loss": 0.5}], steps=3, verbose=1)
    capsys.readouterr()
    callback_list = CallbackList([], add_progbar=True, epochs=2, steps=None, verbose=1)
    for epoch in range(2):
        callback_list.on_epoch_begin(epoch)
        for batch in range(3):
            callback_list.on_train_batch_end(batch, {"loss": 1.0})
        callback_list.on_epoch_end(epoch, {"loss": 1.0})
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"3/3 {BAR * 20} ") and lines[3].startswith(f"3/3 {BAR * 20} ")


def test_progbar_logger_shows_evaluate_but_not_validation_inside_fit(capsys):
    callback_list = CallbackList([], add_progbar=True, epochs=1, steps=2, verbose=1)
    callback_list.on_test_begin()
    callback_list.on_test_batch_end(0, {"loss": 0.4, "accuracy": 1.0})
    callback_list.on_test_batch_end(1, {"loss": 0.3, "accuracy": 0.9})
    callback_list.on_test_end({"loss": 0.3, "accuracy": 0.9})
    assert re.fullmatch(rf"2/2 {BAR * 20} \d+s \S+/step - accuracy: 0\.9000 - loss: 0\.3000\n",
                        capsys.readouterr().out)

    callback_list.on_train_begin()
    callback_list.on_epoch_begin(0)
    callback_list.on_train_batch_end(0, {"loss": 1.0})
    callback_list.on_test_begin()  # validation pass inside fit: no bar of its own
    callback_list.on_test_batch_end(0, {"loss": 0.5})
    callback_list.on_test_end({"loss": 0.5})
    assert capsys.readouterr().out == ""
    callback_list.on_train_batch_end(1, {"loss": 1.0})
    callback_list.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.5})
    callback_list.on_train_end()
    assert capsys.readouterr().out.endswith("- loss: 1.0000 - val_loss: 0.5000\n")


def test_progbar_logger_predict_shows_a_bar_without_values(capsys):
    callback_list = CallbackList([], add_progbar=True, epochs=1, steps=3, verbose=1)
    callback_list.on_predict_begin()
    for batch in range(3):
        callback_list.on_predict_batch_end(batch, {"outputs": np.zeros((2, 10))})
    callback_list.on_predict_end()
    assert re.fullmatch(rf"3/3 {BAR * 20} \d+s \S+/step\n", capsys.readouterr().out)


def test_progbar_logger_interactive_redraws_and_messages_start_on_a_new_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(progbar, "FORCE_INTERACTIVE", True)
    path = str(tmp_path / "m.keras")
    fit(FakeModel(), [ModelCheckpoint(path, verbose=1)], [{"loss": 1.0, "val_loss": 0.5}] * 2, steps=2, verbose=1)
    out = plain(capsys.readouterr().out)
    assert out.startswith("Epoch 1/2\n\r1/2 ")
    # The checkpoint message comes while the bar's line is open: it is ended first.
    assert re.search(r"\r1/2 [^\n]*\nEpoch 1: saving model to .*m\.keras\n\r2/2 ", out)
    assert out.endswith("- loss: 1.0000 - val_loss: 0.5000\n")


@pytest.mark.parametrize("verbose", [3, "yes", True])
def test_progbar_logger_rejects_a_bad_verbose(verbose):
    with pytest.raises(ValueError, match=r"verbose must be 0 \(silent\), 1 \(progress bar\) or 2 \(one line per "
                                         r"epoch\); received verbose="):
        CallbackList([], add_progbar=True, epochs=1, steps=1, verbose=verbose)


def test_progbar_logger_accepts_verbose_auto(capsys):
    callback_list = CallbackList([], add_progbar=True, epochs=1, steps=1, verbose="auto")
    assert callback_list.progbar.verbose == 1


def test_no_warnings_in_an_ordinary_fit(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(FakeModel(), [EarlyStopping(patience=1), ModelCheckpoint(tmp_path / "m.keras", save_best_only=True),
                          ReduceLROnPlateau(), CSVLogger(tmp_path / "log.csv"), TerminateOnNaN()],
            val_losses(1.0, 0.5), verbose=0)
