"""Training, evaluating and predicting: ``compile``, ``fit``, ``evaluate``, ``predict``.

One training step, for any model::

    outputs, caches = run.forward(program, inputs)        # every layer call, in order
    loss = sum(weight_k * loss_k(y_k, outputs[k]))          # one loss per output
    grads = [weight_k * loss_k.backward()]                  # d loss / d output k
    schedule.backward_and_update(caches, grads)            # run.backward, then the optimizer

``program`` is the model's graph as a list of steps, with the faster steps of
:mod:`convlearn.engine.plan`; :mod:`convlearn.engine.schedule` decides which
weight updates run on a second core. Data may be one array, a list of arrays
(one per input or output, in order) or a dict keyed by input or output names.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import warnings

import numpy as np

from .. import _rng, ops
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .._checks import all_finite, as_float_array
from ..callbacks import Callback, CallbackList, History, ProgbarLogger, TerminateOnNaN
from ..engine import plan as planning
from ..engine import run
from ..engine.schedule import TrainingSchedule, forward_in_chunks
from .data import BatchSource, is_batch_source, split_batch
from ..layers.base import shape_str
from ..ops import parallel

_VERBOSE_VALUES = ("auto", 0, 1, 2)


def model_call(kind):
    """Decorate a public method: convlearn's threads on, and the model's rule for threads.

    ``kind`` is ``"read"`` (predict, evaluate, calling the model: any number of
    threads at once) or ``"train"`` (fit, train_on_batch: one thread, alone).
    """
    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with self._activity.enter(kind, method.__name__ if method.__name__ != "__call__" else "calling it",
                                      self.name), parallel.active():
                return method(self, *args, **kwargs)
        return wrapper
    return decorate


class _Activity:
    """Who uses a model right now: the thread that trains it (if one does) and the threads that read it.

    Reading (predict, evaluate, ``model(x)``) is safe from any number of threads:
    layers keep nothing of a call, and every call gets its own plan and caches.
    Training changes the weights, so while ``fit`` runs, other threads are refused
    at once with an error that names it (the training thread itself, in a
    callback, may predict: it runs between two updates); and ``fit`` is refused
    while another thread is still reading the model.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._trainer = None          # (thread id, "fit"), or None
        self._readers = {}            # thread id -> [number of calls running, first call's name]

    def __deepcopy__(self, memo):
        return _Activity()

    @contextlib.contextmanager
    def enter(self, kind, call, model_name):
        me = threading.get_ident()
        with self._lock:
            if self._trainer is not None and self._trainer[0] != me:
                raise RuntimeError(
                    f"{call}: model '{model_name}' is being trained by {self._trainer[1]}() in another thread, so "
                    "its weights change from step to step. Wait for it to return, or predict from a callback "
                    "of that fit (on_epoch_end, on_train_batch_end), which runs between two updates."
                )
            if kind == "train":
                if self._trainer is not None:
                    raise RuntimeError(
                        f"{call}: model '{model_name}' is already being trained by {self._trainer[1]}() in this "
                        "thread; a callback cannot train the model it is called from."
                    )
                others = [name for thread, (_, name) in self._readers.items() if thread != me]
                if others:
                    raise RuntimeError(
                        f"{call}: model '{model_name}' is running {others[0]}() in another thread; training now "
                        "would change the weights under it. Wait for it to return first."
                    )
                self._trainer = (me, call)
            else:
                entry = self._readers.setdefault(me, [0, call])
                entry[0] += 1
        try:
            yield
        finally:
            with self._lock:
                if kind == "train":
                    self._trainer = None
                else:
                    entry = self._readers[me]
                    entry[0] -= 1
                    if not entry[0]:
                        del self._readers[me]


class _PlanPool:
    """Plans of one model, by kind; each plan is used by one call at a time.

    A plan's fused steps keep buffers from call to call, so two threads must
    not run the same plan at once: :meth:`borrow` hands out a free plan, or
    builds another.
    """

    def __init__(self):
        self._free = {}
        self._lock = threading.Lock()

    def clear(self):
        with self._lock:
            self._free = {}

    def __deepcopy__(self, memo):
        return _PlanPool()          # a copy of a model starts without plans (they hold its layers)

    def borrow(self, key, build):
        with self._lock:
            free = self._free.setdefault(key, [])
            plan = free.pop() if free else None
        return plan if plan is not None else build()

    def give_back(self, key, plan):
        with self._lock:
            self._free.setdefault(key, []).append(plan)


class _Output:
    """What ``compile`` set up for one model output: its loss, weight and metric names or objects."""

    def __init__(self, name, loss, weight, metric_specs):
        self.name = name
        self.loss = loss
        self.weight = weight
        self.metric_specs = metric_specs


class Trainer:
    """The training half of :class:`~convlearn.models.Model` (a mixin; see the module docstring)."""

    def _init_trainer(self):
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self._outputs_setup = []
        self._last_metrics = []
        self.history = None
        self.stop_training = False
        self._plans = _PlanPool()
        self._activity = _Activity()
        self._schedule = None

    # ------------------------------------------------------------------
    # compile
    # ------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer, the loss(es) and the metrics for training.

        Parameters
        ----------
        optimizer : str or Optimizer, default "rmsprop"
        loss : str, Loss, list or dict
            One loss (for every output), or one per output: a list in output
            order or a dict keyed by output name (None: no loss for that output).
        loss_weights : list or dict of float, optional
            Factors of each output's loss in the total loss.
        metrics : list, or (several outputs) list of lists or dict
            e.g. ``["accuracy"]``.

        ``run_eagerly``, ``steps_per_execution``, ``jit_compile`` and
        ``auto_scale_loss`` are accepted for compatibility; NumPy always runs eagerly.
        Changes to ``layer.trainable`` take effect at the next ``compile``, as in Keras.
        """
        if weighted_metrics is not None:
            raise ValueError("compile: `weighted_metrics` is not supported by convlearn; leave it as None.")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        self._loss_spec = (loss, loss_weights, metrics)
        self._outputs_setup = []
        if metrics is not None and not isinstance(metrics, (list, tuple, dict, str, metrics_module.Metric)):
            raise TypeError(f"compile: `metrics` must be a list such as ['accuracy']; got {metrics!r}.")
        for spec in _all_metric_specs(metrics):
            metrics_module.get(spec, (1,), (1,))   # validate names now; "accuracy" is resolved on data
        if isinstance(loss, (str, losses_module.Loss)) or (loss is not None and not isinstance(loss, (list, tuple, dict))):
            losses_module.get(loss)               # a bad name fails here, not at fit
        self.compiled = True
        self._trainable_at_compile = None
        self._schedule = None
        if self.built:
            self._setup_outputs()

    def get_compile_config(self):
        """What ``compile`` received, JSON-serialisable (Keras's ``get_compile_config``), or None."""
        if not self.compiled:
            return None
        loss, loss_weights, metrics = self._loss_spec
        return {"optimizer": optimizers_module.serialize(self.optimizer),
                "loss": _serialize_structure(loss, losses_module.serialize),
                "loss_weights": loss_weights,
                "metrics": _serialize_structure(metrics, lambda m: m if isinstance(m, str) else m.name)}

    def compile_from_config(self, config):
        """``compile`` again from what :meth:`get_compile_config` returned (Keras's ``compile_from_config``).

        Raises
        ------
        ValueError
            If the config is not one ``get_compile_config`` writes.
        """
        if not isinstance(config, dict) or "optimizer" not in config:
            raise ValueError(f"compile_from_config expects what get_compile_config() returned; got {config!r:.200}.")
        self.compile(optimizer=optimizers_module.get(config["optimizer"]),
                     loss=_deserialize_structure(config.get("loss"), losses_module.get),
                     loss_weights=config.get("loss_weights"), metrics=config.get("metrics"))

    def _setup_outputs(self):
        """Per output: loss object, weight and metric specs, from what ``compile`` received."""
        loss, loss_weights, metrics = self._loss_spec
        names = self.output_names
        n = len(names)
        losses = _per_output(loss, names, "loss", broadcast=True)
        weights = _per_output(loss_weights, names, "loss_weights", broadcast=False)
        if n == 1 and metrics is not None and not isinstance(metrics, dict) and not _is_nested(metrics):
            metric_lists = [list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]]
        elif metrics is None:
            metric_lists = [[] for _ in names]
        else:
            if isinstance(metrics, (list, tuple)) and not _is_nested(metrics) and metrics:
                raise ValueError(
                    f"compile: this model has {n} outputs ({', '.join(names)}), so `metrics` must be a dict "
                    f"keyed by output name or a list of {n} lists, e.g. metrics={{{names[0]!r}: ['accuracy']}}. "
                    f"Received: metrics={metrics!r}."
                )
            metric_lists = [m if isinstance(m, (list, tuple)) else ([] if m is None else [m])
                            for m in _per_output(metrics, names, "metrics", broadcast=False)]
        self._outputs_setup = []
        for name, lo, w, ms in zip(names, losses, weights, metric_lists):
            loss_obj = None if lo is None else losses_module.get(lo)
            if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w)):
                raise ValueError(f"compile: `loss_weights` must be numbers, one per output. Received: "
                                 f"loss_weights={loss_weights!r}.")
            weight = 1.0 if w is None else float(w)
            self._outputs_setup.append(_Output(name, loss_obj, weight, list(ms)))
        if all(o.loss is None for o in self._outputs_setup) and loss is not None:
            raise ValueError("compile: every output's loss is None, so there is nothing to train.")
        if n == 1:
            self.loss = self._outputs_setup[0].loss

    @property
    def metrics(self):
        """The metric objects of the last fit, evaluate or train_on_batch."""
        return [m for ms in self._last_metrics for m in ms]

    @property
    def metrics_names(self):
        return ["loss"] + [name for name, _ in self._metric_entries(self._last_metrics)]

    def _metric_entries(self, metrics):
        """(log name, Metric) for every metric; outputs prefix their names when there are several."""
        many = len(self._outputs_setup) > 1
        return [(f"{o.name}_{m.name}" if many else m.name, m)
                for o, ms in zip(self._outputs_setup, metrics) for m in ms]

    def _resolve_metrics(self, ys):
        """Fresh metric objects for one call, per output (each call counts on its own: two threads
        evaluating one model never share a running total)."""
        metrics = []
        for o, y, shape in zip(self._outputs_setup, ys, self._output_shapes()):
            specs = o.metric_specs
            metrics.append([] if y is None else [metrics_module.get(m, y.shape, shape) for m in specs])
        self._last_metrics = metrics
        return metrics

    def _require_compiled(self, owner):
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {owner}(), e.g. "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])."
            )
        if self._loss_spec[0] is None:
            raise ValueError(f"{owner}() needs a loss: call model.compile(..., loss='sparse_categorical_crossentropy').")

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------

    def _output_shapes(self):
        return [tuple(t.shape) for t in self.outputs]

    def _prepare_x(self, x, owner):
        """The inputs as a list of float arrays in the model's input order, the model built for them."""
        if x is None:
            raise ValueError(f"{owner}: `x` is required, e.g. model.{owner}(x_train, y_train).")
        self._build_from_data(x, owner)
        names = self.input_names
        arrays = _structure_to_list(x, names, "x", owner, "input")
        out = []
        for k, (arr, tensor) in enumerate(zip(arrays, self.inputs)):
            label = "x" if len(names) == 1 else f"x[{names[k]!r}]"
            arr = as_float_array(arr, label, owner, dtype=tensor.dtype)
            _check_input_shape(arr.shape, tensor.shape, self.name, owner, label)
            out.append(arr)
        n = len(out[0])
        for k, arr in enumerate(out[1:], 1):
            if len(arr) != n:
                raise ValueError(f"{owner}: all inputs need the same number of samples; got {n} for "
                                 f"'{names[0]}' and {len(arr)} for '{names[k]}'.")
        return out

    def _prepare_xy(self, x, y, owner):
        xs = self._prepare_x(x, owner)
        if not self._outputs_setup:
            self._setup_outputs()
        if y is None:
            raise ValueError(f"{owner}: `y` (the labels) is required, e.g. model.{owner}(x_train, y_train).")
        names = self.output_names
        ys_given = _structure_to_list(y, names, "y", owner, "output", allow_missing=True)
        ys = []
        for k, (yk, setup, shape) in enumerate(zip(ys_given, self._outputs_setup, self._output_shapes())):
            if setup.loss is None:
                ys.append(None if yk is None else np.asarray(yk))
                continue
            label = "y" if len(names) == 1 else f"y[{names[k]!r}]"
            if yk is None:
                raise ValueError(f"{owner}: no labels for output '{names[k]}', which has a loss. Pass {label}.")
            yk = np.asarray(yk)
            if yk.dtype.kind not in "biuf":
                raise TypeError(f"{owner}: `{label}` must be numeric labels; got dtype {yk.dtype}.")
            if yk.ndim == 0 or len(yk) != len(xs[0]):
                raise ValueError(
                    f"{owner}: x and {label} must have the same number of samples; got {len(xs[0])} inputs and "
                    f"{'a scalar' if yk.ndim == 0 else len(yk)} labels."
                )
            if yk.dtype.kind == "f" and not all_finite(yk):
                raise ValueError(f"{owner}: `{label}` contains NaN or infinite values. Clean the labels first.")
            ys.append(setup.loss.prepare_targets(yk, (len(yk),) + tuple(shape[1:])))
        return xs, ys

    # ------------------------------------------------------------------
    # Plans
    # ------------------------------------------------------------------

    def _plain_program(self, training):
        return self._graph_for(training).program(training)

    def _inference_key(self):
        return ("inference", ops.get_kernels(), self._graph_version)

    def _borrow_inference_plan(self):
        key = self._inference_key()
        return key, self._plans.borrow(key, lambda: planning.inference_plan(self._plain_program(False)))

    def _fusable(self):
        """Per output, the activation its loss can take over (softmax before cross-entropy), or None."""
        return [o.loss.fuses_with if o.loss is not None and not getattr(o.loss, "from_logits", True)
                else None for o in self._outputs_setup]

    def _borrow_evaluation_plan(self):
        """The inference plan, with outputs stopping at their logits where the loss can fuse (as in training)."""
        fusable = self._fusable()
        key = self._inference_key() + ("evaluate", tuple(fusable))

        def build():
            program, logits = planning.logits_outputs(self._plain_program(False), fusable)
            program = planning.inference_plan(program)
            program.logits = logits
            return program

        return key, self._plans.borrow(key, build)

    @property
    def compiled_trainable_weights(self):
        """The weights the optimizer updates: those trainable at the last compile (Keras's rule).

        Raises
        ------
        ValueError
            If layers were added or removed since then.
        """
        if self._trainable_at_compile is None:
            self._trainable_at_compile = (list(self.trainable_weights), self._graph_version)
        params, version = self._trainable_at_compile
        if version != self._graph_version:
            raise ValueError(
                f"Model '{self.name}' changed since compile() (layers were added or removed), so the optimizer's "
                "weights are not the model's any more: call model.compile(...) again."
            )
        return params

    def _training_schedule(self, batch_size):
        params = self.compiled_trainable_weights
        program, logits = planning.training_plan(self._plain_program(True), self._fusable(), {id(p) for p in params})
        self._logits = logits
        self._warn_if_not_probabilities(program)
        return TrainingSchedule(program, params, self.optimizer, batch_size)

    def _warn_if_not_probabilities(self, program):
        """A common slip: softmax missing on the last layer while the loss expects probabilities."""
        for k, (o, act) in enumerate(zip(self._outputs_setup, self._logits)):
            loss = o.loss
            if act is not None or loss is None or not loss.fuses_with or getattr(loss, "from_logits", True):
                continue
            producer = {s.output: s for s in program.steps}.get(program.outputs[k])
            if producer is None:
                continue
            last = planning.base_layer(producer.layer)
            name = getattr(getattr(last, "activation", None), "name", "linear")
            if name in ("linear", "relu"):
                warnings.warn(
                    f"The loss {loss.name} expects probabilities, but the last layer '{last.name}' has "
                    f"activation '{name}'. Add activation='{loss.fuses_with}' to it, or pass from_logits=True "
                    "to the loss.",
                    stacklevel=4,
                )

    # ------------------------------------------------------------------
    # One step
    # ------------------------------------------------------------------

    def _losses(self, outs, ys, logits, metrics, weights=None, gradients=True):
        """Total loss, per-output losses and the gradients to start the backward pass with."""
        total, per_output, grads = 0.0, [], []
        weights = weights or [None] * len(outs)
        for o, out, y, act, ms, w in zip(self._outputs_setup, outs, ys, logits, metrics, weights):
            if o.loss is None:
                per_output.append(None)
                grads.append(None)
                continue
            if act is not None:
                # the output step stopped at its logits; the loss applies the activation once, and
                # hands the metrics its probabilities when it has them (softmax)
                value, cache = o.loss.forward(y, None, logits=out, sample_weight=w)
                preds = o.loss.predictions(cache) if ms else None
                if preds is None and ms:
                    preds = act.forward(out)[0]
            else:
                value, cache = o.loss.forward(y, out, sample_weight=w)
                preds = out
            for m in ms:
                m.update(y, preds)
            total += o.weight * value
            per_output.append(value)
            if not gradients:
                continue
            g = o.loss.backward(cache).astype(out.dtype, copy=False)
            grads.append(g if o.weight == 1.0 else g * out.dtype.type(o.weight))
        return total, per_output, grads

    def _train_step(self, xs, ys, metrics, weights=None, overlap=False):
        """One optimizer step on one batch; returns ``(loss, per-output losses)``."""
        schedule = self._schedule
        outs, caches = run.forward(schedule.program, xs)
        total, per_output, grads = self._losses(outs, ys, self._logits, metrics, weights)
        schedule.backward_and_update(caches, grads, overlap=overlap)
        return total, per_output

    def _finish_update(self):
        if self._schedule is not None:
            self._schedule.finish()

    def _logs(self, loss_sum, per_sums, seen, metrics):
        logs = {"loss": loss_sum / seen}
        if sum(o.loss is not None for o in self._outputs_setup) > 1:
            for o, s in zip(self._outputs_setup, per_sums):
                if o.loss is not None:
                    logs[f"{o.name}_loss"] = s / seen
        logs.update((name, m.result()) for name, m in self._metric_entries(metrics))
        return logs

    # ------------------------------------------------------------------
    # fit / evaluate / predict
    # ------------------------------------------------------------------

    @model_call("train")
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1):
        """Train the model for ``epochs`` passes over the data.

        Parameters
        ----------
        x : array, or list/dict of arrays (one per input), shape (N, ...); or a dataset,
            generator, iterator or :class:`~convlearn.utils.PyDataset` of batches
            ``(x, y)`` or ``(x, y, sample_weight)`` (then ``y`` is None)
        y : labels, or list/dict of them (one per output)
        batch_size : int, default 32
            For arrays; a source of batches makes its own.
        epochs : int, default 1
        verbose : "auto", 0, 1 or 2
            1 (and "auto"): a progress bar; 2: one line per epoch; 0: silent.
        callbacks : list of Callback, optional
        validation_split : float in [0, 1)
            Fraction of the data, taken from the end before shuffling, held out for validation.
        validation_data : tuple (x_val, y_val[, sample_weight]), or a source of batches
        shuffle : bool, default True
            Shuffle the samples (arrays) or the batch order (a PyDataset) each epoch.
        class_weight : dict, optional
            Class index -> weight of its samples' loss (one output).
        sample_weight : array (N,), optional
            Weight of each sample's loss (arrays).
        initial_epoch : int, default 0
        steps_per_epoch, validation_steps : int, optional
            Batches per epoch from a source of batches (default: all of them).

        Returns
        -------
        History
            ``history.history`` maps "loss", "accuracy", "val_loss", ... to per-epoch lists.

        Raises
        ------
        RuntimeError
            If the model was not compiled.
        FloatingPointError
            If the loss becomes NaN or infinite; the message names the epoch and step.
        """
        self._require_compiled("fit")
        batch_size = check_batch_size(batch_size, "fit")
        if validation_batch_size is not None:
            validation_batch_size = check_batch_size(validation_batch_size, "fit", "validation_batch_size")
        validation_freq = check_count(validation_freq, "validation_freq", "fit", minimum=1)
        verbose = check_verbose(verbose, "fit")
        epochs = check_count(epochs, "epochs", "fit", minimum=1)
        initial_epoch = check_count(initial_epoch, "initial_epoch", "fit", minimum=0)
        steps_per_epoch = None if steps_per_epoch is None else check_count(steps_per_epoch, "steps_per_epoch", "fit", 1)
        validation_steps = (None if validation_steps is None
                            else check_count(validation_steps, "validation_steps", "fit", 1))
        if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
            raise ValueError(f"fit: `validation_split` must be a number in [0, 1). Received: validation_split={validation_split!r}.")
        if is_batch_source(x):
            for key, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(f"fit: when `x` is a dataset or generator, its batches hold the labels and "
                                     f"weights, so `{key}` must be None. Received: {key} of type {type(value).__name__}.")
            if validation_split:
                raise ValueError("fit: `validation_split` needs arrays; with a dataset or generator, pass "
                                 "validation_data=<another dataset> instead.")
            source = BatchSource(x, steps_per_epoch, "fit")
            steps = source.steps

            def batches(epoch):
                order_rng = rng if shuffle and source.indexed else None
                for batch in source.epoch(order_rng):
                    bx, by, bw = split_batch(batch, "fit", need_y=True)
                    xs, ys = self._prepare_xy(bx, by, "fit")
                    yield xs, ys, self._sample_weights(bw, class_weight, ys, "fit")
        else:
            if steps_per_epoch is not None:
                raise ValueError(f"fit: `steps_per_epoch` is for datasets and generators; with arrays, the epoch is "
                                 f"all the samples in batches of batch_size. Received: steps_per_epoch={steps_per_epoch}.")
            xs, ys = self._prepare_xy(x, y, "fit")
            ws = self._sample_weights(sample_weight, class_weight, ys, "fit")
            n = len(xs[0])
            if validation_split:
                split = int(n * (1 - validation_split))
                if split == 0 or split == n:
                    raise ValueError(
                        f"fit: validation_split={validation_split} of {n} samples leaves an empty "
                        "training or validation set. Use more data or a different split."
                    )
                validation_data = ([a[split:] for a in xs], [None if b is None else b[split:] for b in ys],
                                   [None if w is None else w[split:] for w in ws], "prepared")
                xs, ys, ws = ([a[:split] for a in xs], [None if b is None else b[:split] for b in ys],
                              [None if w is None else w[:split] for w in ws])
                n = split
            steps = math.ceil(n / batch_size)
            buffers = [np.empty((min(batch_size, n),) + a.shape[1:], dtype=a.dtype) for a in xs]

            def batches(epoch):
                order = rng.permutation(n) if shuffle else None
                for step in range(steps):
                    sl = slice(step * batch_size, min(n, (step + 1) * batch_size))
                    if order is None:
                        yield ([a[sl] for a in xs], [None if b is None else b[sl] for b in ys],
                               [None if w is None else w[sl] for w in ws])
                        continue
                    idx = order[sl]
                    # gather into the same buffers every step: no fresh allocation, and the
                    # kernels can keep views of them from step to step
                    yield ([np.take(a, idx, axis=0, out=buf[:len(idx)] if len(idx) < batch_size else buf)
                            for a, buf in zip(xs, buffers)],
                           [None if b is None else b[idx] for b in ys], [None if w is None else w[idx] for w in ws])

        validation = self._validation_batches(validation_data, validation_steps,
                                              validation_batch_size or batch_size)
        rng = _rng.generator_for(None)                 # (drawn after building: the same initial weights)
        cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=epochs, steps=steps)
        self.stop_training = False
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # a diverging run raises one clear FloatingPointError below, not a stream of warnings
            try:
                return self._fit_epochs(cbs, batches, validation, epochs, initial_epoch, steps, validation_freq,
                                        batch_size)
            finally:
                self._finish_update()
                self._schedule = None

    def _fit_epochs(self, cbs, batches, validation, epochs, initial_epoch, steps, validation_freq, batch_size):
        """The epoch loop of :meth:`fit` (arguments already checked; ``batches(epoch)`` yields the prepared
        ``(inputs, labels, sample weights)`` of each step)."""
        # The next batch may start while the last update finishes, unless a callback
        # could look at the weights between batches.
        overlap = not any(may_read_weights_between_batches(cb) for cb in cbs)
        cbs.on_train_begin()
        logs, metrics = {}, None
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            loss_sum, per_sums, seen = 0.0, None, 0
            for m in (m for ms in metrics or [] for m in ms):
                m.reset()
            for step, (xb, yb, wb) in enumerate(batches(epoch)):
                if metrics is None:                      # the first batch: its shapes decide the metrics
                    metrics = self._resolve_metrics(yb)
                    self._schedule = self._training_schedule(len(xb[0]))
                per_sums = per_sums or [0.0] * len(yb)
                cbs.on_train_batch_begin(step)
                batch_loss, per_output = self._train_step(xb, yb, metrics, wb, overlap=overlap)
                count = len(xb[0])
                seen += count
                loss_sum += batch_loss * count
                per_sums = [s + (0.0 if v is None else v * count) for s, v in zip(per_sums, per_output)]
                logs = self._logs(loss_sum, per_sums, seen, metrics)
                cbs.on_train_batch_end(step, logs)
                if not math.isfinite(batch_loss):
                    if self.stop_training:  # a TerminateOnNaN callback asked for a clean stop
                        break
                    total = f"/{steps}" if steps is not None else ""
                    raise FloatingPointError(
                        f"Training diverged: the loss became {batch_loss} at epoch {epoch + 1}, step "
                        f"{step + 1}{total}. Try a smaller learning rate (now {self.optimizer.learning_rate:g}), "
                        "check that the inputs are normalised (e.g. x / 255), or use gradient clipping "
                        "(clipnorm=1.0 in the optimizer)."
                    )
                if self.stop_training:
                    break
            self._finish_update()
            if seen == 0:                                # a generator that ran out of data: Keras stops too
                break
            if validation is not None and (epoch + 1) % validation_freq == 0:
                results = self._evaluate_batches(validation())
                logs.update(("val_" + k, v) for k, v in results.items())
                self._last_metrics = metrics
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return self.history

    def _sample_weights(self, sample_weight, class_weight, ys, owner):
        """Per output, the weight of each sample's loss (None: all 1), from ``sample_weight`` and ``class_weight``.

        Raises
        ------
        ValueError
            On a weight array of the wrong length, negative or non-finite weights, or a class
            weight for a model of several outputs.
        """
        n = next(len(y) for y in ys if y is not None)
        weights = [None] * len(ys)
        if sample_weight is not None:
            given = sample_weight if isinstance(sample_weight, (list, tuple, dict)) and len(ys) > 1 else \
                [sample_weight] * len(ys)
            if isinstance(given, dict):
                given = [given.get(name) for name in self.output_names]
            for k, w in enumerate(given):
                if w is None:
                    continue
                w = np.asarray(w)
                if w.dtype.kind not in "biuf" or w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
                    raise ValueError(
                        f"{owner}: `sample_weight` must hold one finite weight >= 0 per sample, shape ({n},); "
                        f"got dtype {w.dtype} and shape {w.shape}."
                    )
                weights[k] = w.astype(np.float64, copy=False)
        if class_weight is not None:
            if len(ys) != 1 or not isinstance(class_weight, dict):
                raise ValueError(f"{owner}: `class_weight` must be a dict {{class index: weight}} for a model with "
                                 f"one output. Received: class_weight={class_weight!r:.100}.")
            y = ys[0]
            labels = y.argmax(axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y)).astype(np.int64)
            table = np.ones(int(max(list(class_weight) + [int(labels.max()) if labels.size else 0])) + 1)
            for cls, w in class_weight.items():
                table[int(cls)] = float(w)
            cw = table[labels]
            weights[0] = cw if weights[0] is None else weights[0] * cw
        return weights

    def _validation_batches(self, validation_data, steps, batch_size):
        """A function giving the validation batches of one pass, or None without validation data."""
        if validation_data is None:
            return None
        if is_batch_source(validation_data):
            source = BatchSource(validation_data, steps, "fit(validation_data)")

            def from_source():
                for batch in source.epoch():
                    bx, by, bw = split_batch(batch, "fit(validation_data)", need_y=True)
                    xs, ys = self._prepare_xy(bx, by, "fit(validation_data)")
                    yield xs, ys, self._sample_weights(bw, None, ys, "fit(validation_data)")
            return from_source
        if isinstance(validation_data, tuple) and len(validation_data) == 4 and validation_data[3] == "prepared":
            xs, ys, ws = validation_data[:3]
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: `validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 "sample_weight), or a dataset.")
            xs, ys = self._prepare_xy(validation_data[0], validation_data[1], "fit(validation_data)")
            ws = self._sample_weights(validation_data[2] if len(validation_data) == 3 else None, None, ys,
                                      "fit(validation_data)")
        return lambda: _array_batches(xs, ys, ws, batch_size)

    def _evaluate_batches(self, batches, callbacks=None):
        """Mean loss and metrics over prepared batches ``(inputs, labels, weights)``; no weight changes."""
        key, program = self._borrow_evaluation_plan()
        metrics = None
        try:
            loss_sum, per_sums, seen = 0.0, None, 0
            for step, (xb, yb, wb) in enumerate(batches):
                if metrics is None:
                    metrics = self._resolve_metrics(yb)
                    per_sums = [0.0] * len(yb)
                if callbacks is not None:
                    callbacks.on_test_batch_begin(step)
                outs = run.forward(program, xb)[0]
                total, per_output, _ = self._losses(outs, yb, program.logits, metrics, wb, gradients=False)
                count = len(xb[0])
                seen += count
                loss_sum += total * count
                per_sums = [s + (0.0 if v is None else v * count) for s, v in zip(per_sums, per_output)]
                if callbacks is not None:
                    callbacks.on_test_batch_end(step, self._logs(loss_sum, per_sums, seen, metrics))
            if metrics is None:
                raise ValueError("evaluate: the data gave no batch at all; nothing to evaluate.")
            return self._logs(loss_sum, per_sums, seen, metrics)
        finally:
            self._plans.give_back(key, program)

    @model_call("read")
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss (and metrics) on test data: arrays, or a dataset or generator of ``(x, y)`` batches.

        Returns
        -------
        float or list or dict
            The loss alone when the model has no metrics, else ``[loss, metric, ...]``
            (``{"loss": ..., "accuracy": ...}`` with ``return_dict=True``).
        """
        self._require_compiled("evaluate")
        batch_size = check_batch_size(batch_size, "evaluate")
        verbose = check_verbose(verbose, "evaluate")
        steps = None if steps is None else check_count(steps, "steps", "evaluate", 1)
        if is_batch_source(x):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate: when `x` is a dataset or generator, its batches hold the labels, so "
                                 "`y` and `sample_weight` must be None.")
            source = BatchSource(x, steps, "evaluate")
            total_steps = source.steps

            def batches():
                for batch in source.epoch():
                    bx, by, bw = split_batch(batch, "evaluate", need_y=True)
                    xs, ys = self._prepare_xy(bx, by, "evaluate")
                    yield xs, ys, self._sample_weights(bw, None, ys, "evaluate")
            data = batches()
        else:
            if steps is not None:
                raise ValueError("evaluate: `steps` is for datasets and generators; with arrays, every sample is "
                                 "evaluated in batches of batch_size.")
            xs, ys = self._prepare_xy(x, y, "evaluate")
            ws = self._sample_weights(sample_weight, None, ys, "evaluate")
            total_steps = math.ceil(len(xs[0]) / batch_size)
            data = _array_batches(xs, ys, ws, batch_size)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
                           steps=total_steps)
        cbs.on_test_begin()
        results = self._evaluate_batches(data, cbs)
        cbs.on_test_end(results)
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    @model_call("read")
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs of the model for ``x`` (class probabilities for the guide's model).

        ``x`` is arrays, or a dataset or generator of batches (``x``, or ``(x, ...)``
        whose first item is the inputs). Each sample's output depends on that sample
        only, so convlearn runs several batches of ``batch_size`` through the layers
        together (up to 256 samples at a time): fewer, larger matrix products, the
        same outputs. The progress bar and the batch callbacks still count batches
        of ``batch_size``.

        Returns
        -------
        ndarray, float32, or a list/dict of them for a model with several outputs
            Shape ``(N,) + output_shape[1:]``, e.g. (N, 10).
        """
        batch_size = check_batch_size(batch_size, "predict")
        verbose = check_verbose(verbose, "predict")
        steps = None if steps is None else check_count(steps, "steps", "predict", 1)
        if is_batch_source(x):
            return self._predict_source(BatchSource(x, steps, "predict"), verbose, callbacks)
        if steps is not None:
            raise ValueError("predict: `steps` is for datasets and generators; with arrays, every sample is "
                             "predicted.")
        xs = self._prepare_x(x, "predict")
        n = len(xs[0])
        steps = math.ceil(n / batch_size)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=steps)
        cbs.on_predict_begin()
        outputs = [np.empty((n,) + tuple(t.shape[1:]), dtype=t.dtype) for t in self.outputs]
        group = batch_size * max(1, 256 // batch_size)            # whole batches per forward pass
        step = 0
        key, program = self._borrow_inference_plan()
        try:
            for start in range(0, n, group):
                stop = min(n, start + group)
                first_step = step
                for _ in range(start, stop, batch_size):
                    cbs.on_predict_batch_begin(step)
                    step += 1
                for out, part in zip(outputs, forward_in_chunks(program, [a[start:stop] for a in xs])):
                    out[start:stop] = part
                for s in range(first_step, step):
                    cbs.on_predict_batch_end(s, {})
        finally:
            self._plans.give_back(key, program)
        cbs.on_predict_end()
        return self._output_structure(outputs)

    def _predict_source(self, source, verbose, callbacks):
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1,
                           steps=source.steps)
        cbs.on_predict_begin()
        parts = []
        key, program = None, None
        try:
            for step, batch in enumerate(source.epoch()):
                cbs.on_predict_batch_begin(step)
                bx = batch[0] if isinstance(batch, tuple) else batch
                xs = self._prepare_x(bx, "predict")
                if program is None:
                    key, program = self._borrow_inference_plan()
                parts.append(forward_in_chunks(program, xs))
                cbs.on_predict_batch_end(step, {})
        finally:
            if program is not None:
                self._plans.give_back(key, program)
        cbs.on_predict_end()
        if not parts:
            raise ValueError("predict: the data gave no batch at all; nothing to predict.")
        return self._output_structure([np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))])

    def _forward_arrays(self, x, owner):
        """Inference on arrays, as ``model(x)`` does: the output structure."""
        xs = self._prepare_x(x, owner)
        key, program = self._borrow_inference_plan()
        try:
            return self._output_structure(forward_in_chunks(program, xs))
        finally:
            self._plans.give_back(key, program)

    @model_call("read")
    def predict_on_batch(self, x):
        """Outputs for one batch, without progress bar or batching."""
        return self._forward_arrays(x, "predict_on_batch")

    @model_call("train")
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        xs, ys = self._prepare_xy(x, y, "train_on_batch")
        ws = self._sample_weights(sample_weight, class_weight, ys, "train_on_batch")
        metrics = self._resolve_metrics(ys)
        self._schedule = self._training_schedule(len(xs[0]))
        try:
            loss, per_output = self._train_step(xs, ys, metrics, ws)
        finally:
            self._finish_update()
            self._schedule = None
        results = self._logs(loss, [0.0 if v is None else v for v in per_output], 1, metrics)
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    @model_call("read")
    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss (and metrics) on one batch."""
        first = _structure_to_list(x, self.input_names, "x", "test_on_batch", "input")[0] if self.built else x
        n = len(np.asarray(first)) if np.ndim(first) else 1
        return self.evaluate(x, y, batch_size=max(1, n), sample_weight=sample_weight, verbose=0,
                             return_dict=return_dict)


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------

def _serialize_structure(value, one):
    """A loss or metric spec (one, a list, a list of lists or a dict) with ``one`` applied to each item."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _serialize_structure(v, one) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_serialize_structure(v, one) for v in value]
    return one(value)


def _deserialize_structure(value, one):
    if value is None:
        return None
    if isinstance(value, dict) and "class_name" not in value:
        return {k: _deserialize_structure(v, one) for k, v in value.items()}
    if isinstance(value, list):
        return [_deserialize_structure(v, one) for v in value]
    return one(value)


def _array_batches(xs, ys, ws, batch_size):
    """Prepared ``(inputs, labels, weights)`` batches of arrays, in order."""
    for start in range(0, len(xs[0]), batch_size):
        sl = slice(start, start + batch_size)
        yield [a[sl] for a in xs], [None if b is None else b[sl] for b in ys], [None if w is None else w[sl] for w in ws]


def _is_nested(metrics):
    return isinstance(metrics, (list, tuple)) and any(isinstance(m, (list, tuple)) or m is None for m in metrics)


def _all_metric_specs(metrics):
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        items = list(metrics.values())
    elif isinstance(metrics, (list, tuple)):
        items = list(metrics)
    else:
        items = [metrics]
    out = []
    for m in items:
        if isinstance(m, (list, tuple)):
            out.extend(m)
        elif m is not None:
            out.append(m)
    return out


def _per_output(value, names, argname, broadcast):
    """``value`` as one entry per output: a list in order, a dict by name, or one for all."""
    n = len(names)
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"compile: `{argname}` names output(s) {unknown} that the model does not have; its outputs "
                f"are {names}."
            )
        if argname == "loss":
            missing = [k for k in names if k not in value]
            if missing:
                raise ValueError(
                    f"compile: `loss` is a dict without an entry for output(s) {missing}; give every output "
                    f"a loss (or None). The outputs are {names}."
                )
        return [value.get(k) for k in names]
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(
                f"compile: `{argname}` has {len(value)} entries but the model has {n} output(s) "
                f"({', '.join(names)}). Give one per output, or a dict keyed by output name."
            )
        return list(value)
    if value is None or broadcast:
        return [value] * n
    if n != 1:
        raise ValueError(f"compile: this model has {n} outputs, so `{argname}` must be a list or a dict.")
    return [value]


def _structure_to_list(value, names, argname, owner, kind, allow_missing=False):
    """Arrays for each input or output, from one array, a list in order, or a dict by name."""
    n = len(names)
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(
                f"{owner}: `{argname}` has key(s) {unknown} that are not names of the model's {kind}s "
                f"({names}). Use those names as keys."
            )
        missing = [k for k in names if k not in value]
        if missing and not allow_missing:
            raise ValueError(f"{owner}: `{argname}` has no array for {kind}(s) {missing}.")
        return [value.get(k) for k in names]
    if isinstance(value, (list, tuple)) and n > 1:
        if len(value) != n:
            raise ValueError(
                f"{owner}: the model has {n} {kind}s ({', '.join(names)}); `{argname}` has {len(value)} "
                f"arrays. Pass one array per {kind}, in that order, or a dict keyed by {kind} name."
            )
        return list(value)
    if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(value[0], np.ndarray):
        return [value[0]]
    if n > 1:
        raise ValueError(
            f"{owner}: the model has {n} {kind}s ({', '.join(names)}); pass `{argname}` as a list of {n} "
            f"arrays or a dict keyed by {kind} name; got {type(value).__name__}."
        )
    return [value]


def _check_input_shape(shape, expected, model_name, owner, label):
    ok = len(shape) == len(expected) and all(e is None or e == s for e, s in zip(expected[1:], shape[1:]))
    if ok:
        return
    hint = ""
    if len(shape) == len(expected) - 1 and expected[-1] == 1 and tuple(expected[1:-1]) == tuple(shape[1:]):
        hint = (f" Add a channel axis: x = x[..., None] "
                f"(or x.reshape(-1, {', '.join(str(d) for d in expected[1:])})).")
    elif len(shape) > 2 and len(expected) == 2 and math.prod(shape[1:]) == expected[1]:
        hint = f" Flatten the samples: x = x.reshape(len(x), {expected[1]})."
    what = "input" if label == "x" else f"input {label[2:-1]}"
    raise ValueError(
        f"{owner}: model '{model_name}' expects {what} of shape {shape_str(expected)}; "
        f"got {shape_str(tuple(shape))}.{hint}"
    )


def may_read_weights_between_batches(callback):
    """Whether ``callback`` runs code of its own after a training batch (so it might
    read or change the weights then). convlearn's own History, progress bar and
    TerminateOnNaN only read the logs (subclasses may do more)."""
    if type(callback) in (History, ProgbarLogger, TerminateOnNaN):
        return False
    hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
    for hook in hooks:
        method = getattr(callback, hook)
        if getattr(method, "__func__", method) is not getattr(Callback, hook):  # overridden, or set per instance
            return True
    return False


def check_batch_size(batch_size, owner, name="batch_size"):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"{owner}: `{name}` must be a positive integer. Received: {name}={batch_size!r}.")
    return int(batch_size)


def check_verbose(verbose, owner):
    if verbose not in _VERBOSE_VALUES or isinstance(verbose, bool):
        raise ValueError(f"{owner}: `verbose` must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}.")
    return 1 if verbose == "auto" else verbose


def check_count(value, name, owner, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: `{name}` must be an integer >= {minimum}. Received: {name}={value!r}.")
    return int(value)
