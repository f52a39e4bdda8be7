"""Models: a chain of layers that can be trained, evaluated, used to predict and saved.

``Sequential`` is the model of the guide::

    model = Sequential()
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    ...
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=10)

``Model(inputs, outputs)`` accepts the same chain written in Keras's
functional style. One training step is: forward through every layer, loss,
backward through every layer in reverse, optimizer update. With two or more
cores, the update of a big late layer (the guide's Dense(100), 540,900
weights) starts on a second core as soon as its gradients are known, while
this core goes on with the earlier layers; the numbers are the same.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np

from . import _rng, ops
from .ops import parallel
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._checks import as_float_array, reject_unknown_kwargs
from ._plan import FusedConvPool, build_plan
from .callbacks import Callback, CallbackList, History, ProgbarLogger, TerminateOnNaN
from .layers.base import InputLayer, Layer, SymbolicTensor, shape_str, unique_name

_VERBOSE_VALUES = ("auto", 0, 1, 2)
# Update the late layers' weights in the background only when they hold at least this
# many numbers (the guide's Dense(100) after 5,408 inputs holds 540,900).
_BACKGROUND_UPDATE_MIN_WEIGHTS = 100_000


def _using_all_cores(method):
    """Run the method with convlearn's threads on (see :mod:`convlearn.ops.parallel`)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with parallel.active():
            return method(self, *args, **kwargs)
    return wrapper


class Sequential(Layer):
    """A linear stack of layers.

    Parameters
    ----------
    layers : list of Layer, optional
        The layers in order. The first may be ``Input(shape=...)`` or have
        ``input_shape=...``; otherwise the model is built on its first input.
    name : str, optional
    """

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        reject_unknown_kwargs(kwargs, (), "Sequential")
        super().__init__(name=name, trainable=trainable)
        self._layers = []
        self._plan = None
        self._plan_kernels = None
        self._pending = None        # (plan step, wait function) of a weight update still running
        self._weights_read = None   # the Event of the split backward pass (made once, reused)
        self._leaves = []
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self._metric_specs = []
        self.metrics = []
        self.history = None
        self.stop_training = False
        if layers is not None:
            if isinstance(layers, (Layer, SymbolicTensor)):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # ------------------------------------------------------------------
    # Building
    # ------------------------------------------------------------------

    def add(self, layer):
        """Append a layer (or ``Input(...)``) to the end of the stack.

        Raises
        ------
        TypeError
            If ``layer`` is not a layer instance.
        ValueError
            If its name is already used in this model, or it does not fit the
            output of the previous layer.
        """
        if isinstance(layer, SymbolicTensor):
            if layer.layers:
                raise ValueError(
                    "Sequential.add received the output of other layers; pass Input(shape=...) itself, "
                    "or build the chain with Model(inputs, outputs)."
                )
            layer = layer.input_layer
        if isinstance(layer, type) and issubclass(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a layer instance; got the class {layer.__name__}. "
                f"Did you forget the parentheses, e.g. {layer.__name__}(...)?"
            )
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add expects a layer instance such as Dense(10); got {type(layer).__name__} {layer!r}."
            )
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Input(...) can only be the first item of a Sequential model.")
        elif not self._layers and layer._declared_input_shape is not None:
            self._layers.append(InputLayer(shape=layer._declared_input_shape, dtype=layer.dtype))
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(
                f"All layers in a Sequential model need unique names; '{layer.name}' is already used. "
                "Pass a different name=..., or create a new layer instead of adding the same one twice."
            )
        self._layers.append(layer)
        if self._layers and isinstance(self._layers[0], InputLayer):
            self._build_chain()

    def pop(self):
        """Remove the last layer."""
        if not self.layers:
            raise ValueError("Sequential.pop: the model has no layers to remove.")
        self._layers.pop()
        self._invalidate()

    def _invalidate(self):
        self.output_shape = self._layers[-1].output_shape if self._layers else None
        self._plan = None

    def _build_chain(self):
        shape = self._layers[0].output_shape
        for layer in self._layers[1:]:
            if layer.built:
                layer.check_input_shape(shape)
                shape = layer.output_shape
            else:
                shape = layer.build_for(shape)
        self.built = True
        self.input_shape = self._layers[0].input_shape
        self.output_shape = shape
        self._plan = None

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (batch axis included, e.g. (None, 28, 28, 1))."""
        if self._layers and isinstance(self._layers[0], InputLayer):
            self._build_chain()
            return
        if input_shape is None:
            raise ValueError(
                f"Model '{self.name}' cannot be built without an input shape. Pass input_shape=(28, 28, 1) "
                "to the first layer, start with Input(shape=...), call build((None, 28, 28, 1)), or fit it on data."
            )
        input_shape = tuple(input_shape)
        self._layers.insert(0, InputLayer(shape=input_shape[1:], dtype=self._first_dtype()))
        self._build_chain()

    def build_for(self, input_shape):
        if not self.built:
            self.build(input_shape)
        return self.output_shape

    def compute_output_shape(self, input_shape):
        self.build_for(input_shape)
        return self.output_shape

    def _first_dtype(self):
        leaves = [layer for layer in self._layers if not isinstance(layer, InputLayer)]
        return leaves[0].dtype if leaves else "float32"

    @property
    def layers(self):
        """The model's layers, without the input placeholder (like Keras)."""
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def get_layer(self, name=None, index=None):
        """Find a layer by name or by position in :attr:`layers`."""
        if index is not None:
            layers = self.layers
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: index {index} is out of range; the model has {len(layers)} layers.")
            return layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No layer named {name!r}. Layers: {', '.join(layer.name for layer in self.layers)}."
        )

    def leaf_layers(self):
        """All computing layers in order, with nested Sequential models expanded."""
        leaves = []
        for layer in self.layers:
            if isinstance(layer, Sequential):
                leaves.extend(layer.leaf_layers())
            else:
                leaves.append(layer)
        return leaves

    def _ensure_built(self, x_shape, owner):
        """Build on the first data seen; check later data against the built input shape."""
        shape = (None,) + tuple(x_shape[1:])
        if not self.layers:
            raise ValueError(f"{owner}: the model has no layers. Add some with model.add(...).")
        if not self.built:
            self.build(shape)
        expected = self.input_shape
        if len(shape) != len(expected) or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
            hint = ""
            if len(shape) == len(expected) - 1 and expected[-1] == 1 and tuple(expected[1:-1]) == tuple(shape[1:]):
                hint = (f" Add a channel axis: x = x[..., None] "
                        f"(or x.reshape(-1, {', '.join(str(d) for d in expected[1:])})).")
            elif len(shape) > 2 and len(expected) == 2 and math.prod(shape[1:]) == expected[1]:
                hint = f" Flatten the samples: x = x.reshape(len(x), {expected[1]})."
            raise ValueError(
                f"{owner}: model '{self.name}' expects input of shape {shape_str(expected)}; "
                f"got {shape_str((x_shape[0],) + tuple(x_shape[1:]))}.{hint}"
            )
        if self._plan is None or self._plan_kernels != ops.get_kernels():
            leaves = self.leaf_layers()
            for i, layer in enumerate(leaves):
                # the images themselves need no gradient: skip that product
                layer.need_input_grad = i > 0
            self._leaves = leaves
            self._plan = build_plan(leaves)
            self._plan_kernels = ops.get_kernels()

    # ------------------------------------------------------------------
    # Forward and backward
    # ------------------------------------------------------------------

    def forward(self, x, training=False):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    @_using_all_cores
    def __call__(self, x, training=False):
        if isinstance(x, SymbolicTensor):
            return x.then(self)
        x = as_float_array(x, "x", f"Model '{self.name}'", dtype=self._first_dtype())
        self._ensure_built(x.shape, f"Model '{self.name}'")
        return self._forward_plan(x, training)

    _INFERENCE_CHUNK = 512  # samples per forward pass when nothing needs to be kept for backward

    def _forward_plan(self, x, training, logits_last=False):
        """Run the plan's steps; with ``logits_last`` the last one stops before its activation."""
        if not training and len(x) > self._INFERENCE_CHUNK:
            # Inference is row by row independent: big batches run in chunks so the
            # intermediate arrays stay small (10,000 images at once would need GBs).
            out = None
            for start in range(0, len(x), self._INFERENCE_CHUNK):
                part = self._forward_plan(x[start:start + self._INFERENCE_CHUNK], False, logits_last)
                if out is None:
                    out = np.empty((len(x),) + part.shape[1:], dtype=part.dtype)
                out[start:start + len(part)] = part
            return out
        pending = self._pending
        last = len(self._plan) - 1
        for i, layer in enumerate(self._plan):
            if pending is not None and i == pending[0]:
                self._finish_update()           # these weights may still be updating
                pending = None
            if i == last and logits_last:
                return layer.forward_logits(x, training=training)
            x = layer.forward(x, training=training)
        return x

    # ------------------------------------------------------------------
    # Weights
    # ------------------------------------------------------------------

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self.layers for w in layer.trainable_weights] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def get_weights(self):
        """Copies of all weight arrays, layer by layer (kernel, bias, ...)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set all weights from a list shaped like :meth:`get_weights`.

        Raises
        ------
        ValueError
            On a wrong number of arrays or a wrong shape.
        """
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(
                f"Model '{self.name}' has {expected} weight arrays; set_weights received {len(weights)}. "
                "Pass a list like the one get_weights() returns."
            )
        i = 0
        for layer in self.layers:
            n = len(layer.weights)
            layer.set_weights(weights[i:i + n])
            i += n

    def count_params(self):
        """Total number of scalars in all weights."""
        if not self.built:
            raise ValueError(
                f"Model '{self.name}' is not built yet, so it has no weights. Give the first layer an "
                "input_shape, start with Input(shape=...), or call build()/fit() first."
            )
        return sum(layer.count_params() for layer in self.layers)

    def _trainable_leaves(self):
        if not self.trainable:
            return []
        return [layer for layer in self._leaves if layer.trainable and layer.params]

    # ------------------------------------------------------------------
    # Training configuration
    # ------------------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer, the loss and the metrics for training.

        Parameters
        ----------
        optimizer : str or Optimizer, default "rmsprop"
        loss : str or Loss
            e.g. ``"sparse_categorical_crossentropy"``.
        metrics : list of str or Metric, optional
            e.g. ``["accuracy"]``.

        ``run_eagerly``, ``steps_per_execution``, ``jit_compile`` and
        ``auto_scale_loss`` are accepted for compatibility; NumPy always runs eagerly.
        """
        if loss_weights is not None or weighted_metrics is not None:
            raise ValueError("compile: loss_weights and weighted_metrics are not supported (single-output models).")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = None if loss is None else losses_module.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_module.Metric)):
            metrics = [metrics]
        if not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile: `metrics` must be a list such as ['accuracy']; got {metrics!r}.")
        for m in metrics:
            metrics_module.get(m, (1,), (1,))  # validate names now, resolve "accuracy" when data is seen
        self._metric_specs = list(metrics)
        self.metrics = []
        self.compiled = True

    @property
    def metrics_names(self):
        return ["loss"] + [m.name for m in self.metrics]

    def _resolve_metrics(self, y_shape):
        self.metrics = [metrics_module.get(m, y_shape, self.output_shape) for m in self._metric_specs]

    def _require_compiled(self, owner):
        if not self.compiled:
            raise RuntimeError(
                f"You must call compile() before {owner}(), e.g. "
                "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])."
            )
        if self.loss is None:
            raise ValueError(f"{owner}() needs a loss: call model.compile(..., loss='sparse_categorical_crossentropy').")

    def _fused_output(self):
        """The output layer whose activation the loss can fuse with, or None."""
        last = self._plan[-1]
        act = getattr(last, "activation", None)
        if (self.loss.fuses_with and not getattr(self.loss, "from_logits", True) and act is not None
                and act.name == self.loss.fuses_with and getattr(act, "axis", -1) in (-1, len(self.output_shape) - 1)
                and hasattr(last, "backward_from_logits")):
            return last
        return None

    # ------------------------------------------------------------------
    # Data checks
    # ------------------------------------------------------------------

    def _prepare_xy(self, x, y, owner):
        if x is None:
            raise ValueError(f"{owner}: `x` is required, e.g. model.{owner}(x_train, y_train).")
        x = as_float_array(x, "x", owner, dtype=self._first_dtype())
        if x.ndim < 2:
            raise ValueError(f"{owner}: `x` must have a batch axis first; got shape {x.shape}.")
        self._ensure_built(x.shape, owner)
        if y is None:
            raise ValueError(f"{owner}: `y` (the labels) is required, e.g. model.{owner}(x_train, y_train).")
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{owner}: `y` must be numeric labels; got dtype {y.dtype}.")
        if y.ndim == 0 or len(y) != len(x):
            raise ValueError(
                f"{owner}: x and y must have the same number of samples; got {len(x)} inputs and "
                f"{'a scalar' if y.ndim == 0 else len(y)} labels."
            )
        if y.dtype.kind == "f" and not np.isfinite(y).all():
            raise ValueError(f"{owner}: `y` contains NaN or infinite values. Clean the labels first.")
        y = self.loss.prepare_targets(y, (len(y),) + tuple(self.output_shape[1:]))
        return x, y

    # ------------------------------------------------------------------
    # fit / evaluate / predict
    # ------------------------------------------------------------------

    def _train_step(self, xb, yb, overlap=False):
        """One optimizer step on one batch; returns the batch's loss.

        The optimizer updates each group of weights as soon as the backward pass
        has their gradients: the big late layers (a wide Dense) in a worker
        thread while this thread computes the earlier layers' gradients. With
        ``overlap`` the worker may still be busy when this returns; the next
        forward pass waits for it (:meth:`_finish_update`) just before it uses
        those weights, so the next batch's first layers overlap with it too.
        """
        fused = self._fused
        if fused is None:
            out = self._forward_plan(xb, training=True)
            loss = self.loss.forward(yb, out)
        else:
            # the loss works from the output layer's logits; the layer's activation is
            # computed once, by the loss if it can (softmax), else here for the metrics
            logits = self._forward_plan(xb, training=True, logits_last=True)
            loss = self.loss.forward(yb, None, logits=logits)
            out = self.loss.predictions()
            if out is None:
                out, fused._act_cache = fused.activation.forward(logits)
        for m in self.metrics:
            m.update(yb, out)
        dout = self.loss.backward()
        plan = self._plan
        start = len(plan) - 1
        params, owners, split = self._update_groups
        opt = self.optimizer
        if fused is not None:
            dout = fused.backward_from_logits(dout.astype(out.dtype, copy=False))
            start -= 1
        if split is None or not opt.applies_in_parts:
            for i in range(start, -1, -1):
                if dout is None:
                    break
                dout = plan[i].backward(dout.astype(plan[i].dtype, copy=False))
            opt.apply(params, self._gradients(range(len(params))))
            return loss
        opt.begin_step(params)
        late = [j for j, owner in enumerate(owners) if owner >= split]
        launched = False
        for i in range(start + 1, -1, -1):
            if i <= start:
                if dout is None:
                    break
                step = plan[i]
                if i == split and parallel.threaded() and hasattr(step, "backward_input_first"):
                    dout = self._backward_with_update(step, dout.astype(step.dtype, copy=False), late, params)
                    launched = True
                    continue
                dout = step.backward(dout.astype(step.dtype, copy=False))
            if i == split:
                # every weight of steps split.. has its gradient now
                self._pending = (split, parallel.in_background(opt.apply_some, late, params, self._gradients(late)))
                launched = True
        if not launched:  # the backward pass stopped before reaching the split
            opt.apply_some(late, params, self._gradients(late))
        early = [j for j, owner in enumerate(owners) if owner < split]
        opt.apply_some(early, params, self._gradients(early))
        if not overlap:
            self._finish_update()
        return loss

    def _backward_with_update(self, step, dout, late, params):
        """Backward pass of the split step, its weight update started in the background.

        The worker computes the step's weight gradients while this thread computes
        its input gradient; then the worker updates the late group of weights
        while this thread goes on with the earlier layers. The update waits until
        the input gradient has read the weights it changes.
        """
        input_gradient, weight_gradients = step.backward_input_first(dout)
        # one Event, cleared each step (a new one costs ~3.5 us, once per batch)
        read = self._weights_read
        if read is None:
            read = self._weights_read = threading.Event()
        read.clear()
        opt = self.optimizer

        def update():
            weight_gradients()
            read.wait()
            opt.apply_some(late, params, self._gradients(late))

        self._pending = (self._update_groups[2], parallel.in_background(update))
        try:
            return input_gradient()
        finally:
            read.set()

    def _finish_update(self):
        """Wait for weight updates still running in the background (no-op when none)."""
        if self._pending is not None:
            wait = self._pending[1]
            self._pending = None
            wait()

    def _prepare_updates(self, batch_size):
        """Work out, once per fit/train_on_batch, how the optimizer splits its work.

        ``_update_groups`` is ``(params, owners, split)``: the trainable weights in
        optimizer order, the plan step of each, and the first plan step of the
        late group updated in the background (None: all at once, at the end).
        The late group starts at the step holding the largest weight array, if
        steps with weights come before it and the group is big enough to be worth
        a worker thread (``_BACKGROUND_UPDATE_MIN_WEIGHTS``, and big next to the
        earlier layers' work for batches of ``batch_size``).
        """
        self._pending = None
        step_of = {}
        for i, step in enumerate(self._plan):
            for layer in (step.conv,) if isinstance(step, FusedConvPool) else (step,):
                step_of[id(layer)] = i
        leaves = self._trainable_leaves()
        params, owners, self._grad_keys = [], [], []
        for layer in leaves:
            for key, p in layer.params.items():
                params.append(p)
                owners.append(step_of[id(layer)])
                self._grad_keys.append((layer, key))
        split = None
        if params:
            biggest = owners[max(range(len(params)), key=lambda j: params[j].size)]
            late_size = sum(p.size for p, owner in zip(params, owners) if owner >= biggest)
            # While the update runs in the background the earlier layers' kernels get one
            # core, not two: worth it for a big late layer after cheap early layers (the
            # guide), not after heavy convolutions. Adam costs about 100 times more per
            # weight than a multiply-add, and a step is about 3 forward passes of work.
            early_work = 3 * batch_size * sum(_forward_multiply_adds(layer) for layer in leaves
                                              if step_of[id(layer)] < biggest)
            if (late_size >= _BACKGROUND_UPDATE_MIN_WEIGHTS and late_size >= early_work / 100
                    and any(owner < biggest for owner in owners)):
                split = biggest
        self._update_groups = (params, owners, split)

    def _gradients(self, indices):
        """The gradients of the weights at ``indices`` of ``_update_groups``, as a
        list as long as all the weights (None elsewhere)."""
        grads = [None] * len(self._grad_keys)
        for j in indices:
            layer, key = self._grad_keys[j]
            grads[j] = layer.grads[key]
        return grads

    @_using_all_cores
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None, sample_weight=None,
            initial_epoch=0, steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1):
        """Train the model for ``epochs`` passes over the data.

        Parameters
        ----------
        x : array, shape (N, ...)
        y : array of labels, shape (N,) or (N, C)
        batch_size : int, default 32
        epochs : int, default 1
        verbose : "auto", 0, 1 or 2
            1 (and "auto"): a progress bar; 2: one line per epoch; 0: silent.
        callbacks : list of Callback, optional
        validation_split : float in [0, 1)
            Fraction of the data, taken from the end before shuffling, held out for validation.
        validation_data : tuple (x_val, y_val), optional
        shuffle : bool, default True
        initial_epoch : int, default 0

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
        unsupported = {"class_weight": class_weight, "sample_weight": sample_weight,
                       "steps_per_epoch": steps_per_epoch, "validation_steps": validation_steps}
        for key, value in unsupported.items():
            if value is not None:
                raise ValueError(f"fit: `{key}` is not supported by convlearn; leave it as None. Received: {key}={value!r}.")
        batch_size = _check_batch_size(batch_size, "fit")
        verbose = _check_verbose(verbose, "fit")
        epochs = _check_count(epochs, "epochs", "fit", minimum=1)
        initial_epoch = _check_count(initial_epoch, "initial_epoch", "fit", minimum=0)
        if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
            raise ValueError(f"fit: `validation_split` must be a number in [0, 1). Received: validation_split={validation_split!r}.")
        x, y = self._prepare_xy(x, y, "fit")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: `validation_data` must be a tuple (x_val, y_val).")
            x_val, y_val = self._prepare_xy(validation_data[0], validation_data[1], "fit(validation_data)")
        elif validation_split:
            split = int(len(x) * (1 - validation_split))
            if split == 0 or split == len(x):
                raise ValueError(
                    f"fit: validation_split={validation_split} of {len(x)} samples leaves an empty "
                    "training or validation set. Use more data or a different split."
                )
            x, x_val = x[:split], x[split:]
            y, y_val = y[:split], y[split:]
        else:
            x_val = y_val = None
        self._resolve_metrics(y.shape)
        self._fused = self._fused_output()
        self._warn_if_not_probabilities()

        n = len(x)
        steps = math.ceil(n / batch_size)
        cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                           verbose=verbose, epochs=epochs, steps=steps)
        rng = _rng.generator_for(None)
        batch_buffer = np.empty((min(batch_size, n),) + x.shape[1:], dtype=x.dtype)
        self.stop_training = False
        self._prepare_updates(min(batch_size, n))
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            # a diverging run raises one clear FloatingPointError below, not a stream of warnings
            try:
                return self._fit_epochs(cbs, x, y, x_val, y_val, rng, batch_buffer, batch_size, epochs,
                                        initial_epoch, shuffle, steps, validation_freq, validation_batch_size)
            finally:
                self._finish_update()

    def _fit_epochs(self, cbs, x, y, x_val, y_val, rng, batch_buffer, batch_size, epochs, initial_epoch,
                    shuffle, steps, validation_freq, validation_batch_size):
        """The epoch loop of :meth:`fit` (arguments already checked)."""
        n = len(x)
        # The next batch may start while the last update finishes, unless a callback
        # could look at the weights between batches.
        overlap = not any(_may_read_weights_between_batches(cb) for cb in cbs)
        cbs.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            order = rng.permutation(n) if shuffle else None
            loss_sum = 0.0
            for m in self.metrics:
                m.reset()
            for step in range(steps):
                cbs.on_train_batch_begin(step)
                sl = slice(step * batch_size, min(n, (step + 1) * batch_size))
                if order is None:
                    xb, yb = x[sl], y[sl]
                else:
                    idx = order[sl]
                    # gather into the same buffer every step: no fresh allocation, and the
                    # kernels can keep views of it from step to step
                    xb = np.take(x, idx, axis=0, out=batch_buffer[:len(idx)] if len(idx) < batch_size else batch_buffer)
                    yb = y[idx]
                batch_loss = self._train_step(xb, yb, overlap=overlap)
                loss_sum += batch_loss * len(xb)
                seen = min(n, (step + 1) * batch_size)
                logs = {"loss": loss_sum / seen}
                logs.update((m.name, m.result()) for m in self.metrics)
                cbs.on_train_batch_end(step, logs)
                if not math.isfinite(batch_loss):
                    if self.stop_training:  # a TerminateOnNaN callback asked for a clean stop
                        break
                    raise FloatingPointError(
                        f"Training diverged: the loss became {batch_loss} at epoch {epoch + 1}, step "
                        f"{step + 1}/{steps}. Try a smaller learning rate (now {self.optimizer.learning_rate:g}), "
                        "check that the inputs are normalised (e.g. x / 255), or use gradient clipping "
                        "(clipnorm=1.0 in the optimizer)."
                    )
                if self.stop_training:
                    break
            self._finish_update()
            if x_val is not None and (epoch + 1) % validation_freq == 0:
                val = self._evaluate_arrays(x_val, y_val, validation_batch_size or batch_size)
                logs.update(("val_" + k, v) for k, v in val.items())
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return self.history

    def _warn_if_not_probabilities(self):
        """A common slip: softmax missing on the last layer while the loss expects probabilities."""
        if (self._fused is None and getattr(self.loss, "fuses_with", None)
                and not getattr(self.loss, "from_logits", True)):
            import warnings
            last = self._plan[-1]
            act = getattr(getattr(last, "activation", None), "name", "linear")
            warnings.warn(
                f"The loss {self.loss.name} expects probabilities, but the last layer '{last.name}' has "
                f"activation '{act}'. Add activation='{self.loss.fuses_with}' to it, or pass from_logits=True "
                "to the loss.",
                stacklevel=3,
            )

    def _evaluate_arrays(self, x, y, batch_size, callbacks=None):
        """Mean loss and metrics over (x, y) in batches; no weight changes."""
        fused = self._fused_output()
        for m in self.metrics:
            m.reset()
        total = 0.0
        n = len(x)
        for step, start in enumerate(range(0, n, batch_size)):
            if callbacks is not None:
                callbacks.on_test_batch_begin(step)
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            out = self._forward_plan(xb, training=False)
            total += self.loss.forward(yb, out, logits=fused.logits if fused is not None else None) * len(xb)
            for m in self.metrics:
                m.update(yb, out)
            if callbacks is not None:
                seen = min(n, start + batch_size)
                logs = {"loss": total / seen}
                logs.update((m.name, m.result()) for m in self.metrics)
                callbacks.on_test_batch_end(step, logs)
        results = {"loss": total / n}
        results.update((m.name, m.result()) for m in self.metrics)
        return results

    @_using_all_cores
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss (and metrics) on test data.

        Returns
        -------
        float or list or dict
            The loss alone when the model has no metrics, else ``[loss, metric, ...]``
            (``{"loss": ..., "accuracy": ...}`` with ``return_dict=True``).
        """
        self._require_compiled("evaluate")
        if sample_weight is not None or steps is not None:
            raise ValueError("evaluate: `sample_weight` and `steps` are not supported by convlearn; leave them as None.")
        batch_size = _check_batch_size(batch_size, "evaluate")
        verbose = _check_verbose(verbose, "evaluate")
        x, y = self._prepare_xy(x, y, "evaluate")
        self._resolve_metrics(y.shape)
        steps = math.ceil(len(x) / batch_size)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=steps)
        cbs.on_test_begin()
        results = self._evaluate_arrays(x, y, batch_size, cbs)
        cbs.on_test_end(results)
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    @_using_all_cores
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs of the model for ``x`` (class probabilities for the guide's model).

        Each sample's output depends on that sample only, so convlearn runs
        several batches of ``batch_size`` through the layers together (up to
        256 samples at a time): fewer, larger matrix products, the same
        outputs. The progress bar and the batch callbacks still count batches
        of ``batch_size``.

        Returns
        -------
        ndarray, float32
            Shape ``(N,) + output_shape[1:]``, e.g. (N, 10).
        """
        if steps is not None:
            raise ValueError("predict: `steps` is not supported by convlearn; leave it as None.")
        batch_size = _check_batch_size(batch_size, "predict")
        verbose = _check_verbose(verbose, "predict")
        x = as_float_array(x, "x", "predict", dtype=self._first_dtype())
        self._ensure_built(x.shape, "predict")
        n = len(x)
        steps = math.ceil(n / batch_size)
        cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose, epochs=1, steps=steps)
        cbs.on_predict_begin()
        outputs = np.empty((n,) + tuple(self.output_shape[1:]), dtype=self._first_dtype())
        group = batch_size * max(1, 256 // batch_size)            # whole batches per forward pass
        step = 0
        for start in range(0, n, group):
            stop = min(n, start + group)
            first_step = step
            for b in range(start, stop, batch_size):
                cbs.on_predict_batch_begin(step)
                step += 1
            outputs[start:stop] = self._forward_plan(x[start:stop], training=False)
            for s in range(first_step, step):
                cbs.on_predict_batch_end(s, {})
        cbs.on_predict_end()
        return outputs

    @_using_all_cores
    def predict_on_batch(self, x):
        """Outputs for one batch, without progress bar or batching."""
        return self.predict(x, batch_size=max(1, len(np.asarray(x))), verbose=0)

    @_using_all_cores
    def train_on_batch(self, x, y, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch")
        x, y = self._prepare_xy(x, y, "train_on_batch")
        self._resolve_metrics(y.shape)
        self._fused = self._fused_output()
        for m in self.metrics:
            m.reset()
        self._prepare_updates(len(x))
        try:
            loss = self._train_step(x, y)
        finally:
            self._finish_update()
        results = {"loss": loss}
        results.update((m.name, m.result()) for m in self.metrics)
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    @_using_all_cores
    def test_on_batch(self, x, y, return_dict=False):
        """Loss (and metrics) on one batch."""
        return self.evaluate(x, y, batch_size=max(1, len(np.asarray(x))), verbose=0, return_dict=return_dict)

    # ------------------------------------------------------------------
    # Description
    # ------------------------------------------------------------------

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None, explain=False, lang=None):
        """Print a table of the layers: name (type), output shape, number of weights.

        Parameters
        ----------
        print_fn : callable, optional
            Called with the whole text instead of ``print``.
        explain : bool, default False
            Also show, per layer, how its output shape and parameter count follow
            from its hyperparameters.
        lang : {"en", "zh"}, optional
            Language of the explanations (default: from the locale).
        """
        from .summary import model_summary

        text = model_summary(self, explain=explain, lang=lang, expand_nested=expand_nested,
                             line_length=line_length)
        (print_fn or print)(text)

    def check_gradients(self, x=None, y=None, layers=None, epsilon=1e-5, lang=None, print_fn=print, **options):
        """Compare every layer's ``backward`` with numerical derivatives of the loss.

        Runs on a float64 copy (this model is not changed) and prints a table: layer,
        weight, shape, max abs diff, relative error, OK/FAIL. Use it to test your own
        ``Layer`` subclasses. See :func:`convlearn.explain.gradcheck.check_gradients`
        for every option (``max_entries``, ``batch_size``, ``tolerance``, ``seed``).

        Returns
        -------
        convlearn.explain.gradcheck.GradientCheck
            A list of dicts, one per array checked, with ``.ok`` and ``.failures``.
        """
        from .explain.gradcheck import check_gradients

        return check_gradients(self, x=x, y=y, layers=layers, epsilon=epsilon, lang=lang, print_fn=print_fn,
                               **options)

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable,
                  "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()}
                             for layer in self._layers]}
        return config

    @classmethod
    def from_config(cls, config):
        from .saving import layer_from_config

        layers = [layer_from_config(item) for item in config.get("layers", [])]
        model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
        for layer in layers:
            model.add(layer)
        if cls is not Sequential:
            model.__class__ = cls
        return model

    def save(self, filepath, overwrite=True, **kwargs):
        """Save architecture, weights and optimizer state to a ``.keras`` file (a zip, no pickle).

        The file is written to a temporary name and renamed into place, so an
        interrupted save never leaves a broken file behind.
        """
        from .saving import save_model

        save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        """Save only the weights, to a ``.weights.npz`` (or ``.weights.h5`` named) file."""
        from .saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath):
        """Load weights saved by :meth:`save_weights` or :meth:`save`."""
        from .saving import load_weights

        load_weights(self, filepath)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}, layers={len(self.layers)}, built={self.built}>"


class Model(Sequential):
    """A model made from a chain of layers in Keras's functional style.

    ::

        inputs = Input(shape=(28, 28, 1))
        x = Conv2D(32, 3, activation="relu")(inputs)
        x = Flatten()(MaxPooling2D()(x))
        outputs = Dense(10, activation="softmax")(x)
        model = Model(inputs=inputs, outputs=outputs)

    Only chains (one input, one output, each layer feeding the next) are
    supported, which covers the CNNs of the guide.
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if inputs is None or outputs is None:
            raise TypeError(
                "Model(inputs, outputs) needs both: the Input(...) placeholder and the output of the last layer. "
                "Subclassing Model with a custom call() is not supported because convlearn has no automatic "
                "differentiation; write a Layer subclass with forward and backward, or use Sequential([...])."
            )
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            outputs = outputs[0]
        if not isinstance(inputs, SymbolicTensor) or not isinstance(outputs, SymbolicTensor):
            raise TypeError(
                "Model expects inputs=Input(shape=...) and outputs=<result of calling layers on it>; "
                f"got {type(inputs).__name__} and {type(outputs).__name__} (multiple inputs or outputs are not supported)."
            )
        if inputs.layers or outputs.input_layer is not inputs.input_layer:
            raise ValueError("Model: `outputs` must be computed from `inputs` by a chain of layers.")
        super().__init__([inputs.input_layer, *outputs.layers], name=name or unique_name("functional"),
                         trainable=trainable, **kwargs)


def _forward_multiply_adds(layer):
    """Multiply-adds of ``layer``'s forward pass for one sample: kernel size times output
    positions (Conv2D: Ho * Wo; Dense: 1), or 0 without a kernel."""
    kernel = layer.params.get("kernel")
    if kernel is None or layer.output_shape is None:
        return 0
    return kernel.size * math.prod(d or 1 for d in layer.output_shape[1:-1])


def _may_read_weights_between_batches(callback):
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


def _check_batch_size(batch_size, owner):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"{owner}: `batch_size` must be a positive integer. Received: batch_size={batch_size!r}.")
    return int(batch_size)


def _check_verbose(verbose, owner):
    if verbose not in _VERBOSE_VALUES or isinstance(verbose, bool):
        raise ValueError(f"{owner}: `verbose` must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}.")
    return 1 if verbose == "auto" else verbose


def _check_count(value, name, owner, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: `{name}` must be an integer >= {minimum}. Received: {name}={value!r}.")
    return int(value)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a model saved with ``model.save(...)``.

    ``custom_objects`` and ``safe_mode`` are Keras's arguments: convlearn rebuilds
    only its own layers, and loading never runs code, so it is always safe.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a convlearn model, or is corrupted or truncated, or
        ``custom_objects`` is not empty.
    """
    from .saving import load_model as _load

    if custom_objects:
        raise ValueError(
            "load_model: convlearn rebuilds only its own layers, losses and optimizers, so `custom_objects` "
            f"must be None or empty. Received: custom_objects={custom_objects!r:.200}."
        )
    return _load(filepath, compile=compile)
