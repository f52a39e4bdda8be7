"""How a training step and a prediction use the cores: the one place with threads.

A training step is ``run.forward``, the loss, ``run.backward`` and the
optimizer's update. With two or more cores, :class:`TrainingSchedule` starts
the update of a big late layer (the guide's ``Dense(100)``, 540,900 weights)
on a second core as soon as its gradients are known, while this core goes on
with the earlier layers' gradients and, unless a callback might look at the
weights between batches, the next batch's first layers. The numbers are the
same as without it: the update starts changing those weights only after the
backward pass has read them, and the next forward pass waits for it before it
reads them.

Predictions run in chunks of samples (:func:`forward_in_chunks`), so that
10,000 images never need all their intermediate arrays at once.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..ops import parallel
from . import run
from .graph import Program, Step
from .plan import base_layer

# Update the late layers' weights in the background only when they hold at least this
# many numbers (the guide's Dense(100) after 5,408 inputs holds 540,900).
BACKGROUND_UPDATE_MIN_WEIGHTS = 100_000
INFERENCE_CHUNK = 512   # samples per forward pass when nothing is kept for a backward pass


def forward_in_chunks(program, inputs, chunk=INFERENCE_CHUNK):
    """``run.forward(program, inputs)[0]`` computed ``chunk`` samples at a time (inference only)."""
    n = len(inputs[0])
    if n <= chunk:
        return run.forward(program, inputs)[0]
    outputs = None
    for start in range(0, n, chunk):
        part = run.forward(program, [x[start:start + chunk] for x in inputs])[0]
        if outputs is None:
            outputs = [np.empty((n,) + p.shape[1:], dtype=p.dtype) for p in part]
        for out, p in zip(outputs, part):
            out[start:start + len(p)] = p
    return outputs


def _multiply_adds(step):
    """Multiply-adds of one sample's forward pass through ``step``: kernel size times output
    positions (Conv2D: Ho * Wo; Dense: 1), or 0 without a kernel."""
    layer = base_layer(step.layer)
    kernel = layer.params.get("kernel")
    shape = getattr(layer, "output_shape", None)
    if kernel is None or not isinstance(shape, tuple):
        return 0
    return kernel.size * math.prod(d or 1 for d in shape[1:-1])


class TrainingSchedule:
    """The training steps of one ``fit`` (or ``train_on_batch``): backward pass and updates.

    Parameters
    ----------
    program : Program
        The training plan.
    params : list of arrays
        The trainable weights, in the optimizer's order.
    optimizer : Optimizer
    batch_size : int
        Decides whether a background update pays off.

    The late group of weights, updated in the background, starts at the step
    holding the largest weight array, if steps with weights come before it and
    the group is big enough to be worth a worker thread: at least
    ``BACKGROUND_UPDATE_MIN_WEIGHTS`` numbers, and big next to the earlier
    layers' work for batches of ``batch_size``.
    """

    def __init__(self, program, params, optimizer, batch_size):
        self.params = list(params)
        self.optimizer = optimizer
        self._pending = None                 # waits for an update still running, or None
        self._read = threading.Event()       # set once the split step's backward has read its weights
        self._grads = None
        self._launched = False
        index = {id(p): j for j, p in enumerate(self.params)}
        owner = {}                            # weight index -> first step using it
        for i, step in enumerate(program.steps):
            for p in step.layer.params.values():
                if id(p) in index:
                    owner.setdefault(index[id(p)], i)
        self.split = None
        if owner and optimizer.applies_in_parts:
            biggest = owner[max(owner, key=lambda j: self.params[j].size)]
            late_size = sum(self.params[j].size for j, i in owner.items() if i >= biggest)
            # While the update runs in the background the earlier layers' kernels get one
            # core, not two: worth it for a big late layer after cheap early layers (the
            # guide), not after heavy convolutions. Adam costs about 100 times more per
            # weight than a multiply-add, and a step is about 3 forward passes of work.
            early_work = 3 * batch_size * sum(_multiply_adds(s) for s in program.steps[:biggest])
            if (late_size >= BACKGROUND_UPDATE_MIN_WEIGHTS and late_size >= early_work / 100
                    and any(i < biggest for i in owner.values())):
                self.split = biggest
        self.late = [j for j, i in sorted(owner.items()) if self.split is not None and i >= self.split]
        self.early = [j for j in sorted(owner) if j not in set(self.late)]
        self.unused = [j for j in range(len(self.params)) if j not in owner]
        steps = list(program.steps)
        if self.split is not None:
            s = steps[self.split]
            steps[self.split] = Step(_SplitStep(s.layer, self), s.inputs, s.output, s.as_list, s.training, s.node)
        self.program = Program(steps, program.inputs, program.outputs, program.needs_grad)

    def gradients(self, indices):
        """The gradients of the weights at ``indices``, as a list as long as all the weights."""
        grads = [None] * len(self.params)
        for j in indices:
            grads[j] = self._grads.get(id(self.params[j]))
        return grads

    def _apply(self, indices, grads):
        """Update the weights at ``indices`` that have a gradient."""
        self.optimizer.apply_some([j for j in indices if grads[j] is not None], self.params, grads)

    def backward_and_update(self, caches, output_grads, overlap=False):
        """The backward pass of one step and the optimizer's update.

        With ``overlap`` the background update may still run when this returns;
        the next forward pass waits for it before reading those weights, and
        :meth:`finish` waits for it.
        """
        opt = self.optimizer
        self._grads = {}
        if self.split is None:
            run.backward(self.program, caches, output_grads, self._grads)
            grads = self.gradients(range(len(self.params)))
            if opt.global_clipnorm is not None:
                present = [j for j, g in enumerate(grads) if g is not None]
                clipped = opt.clip_global([grads[j] for j in present])
                for j, g in zip(present, clipped):
                    grads[j] = g
            opt.begin_step(self.params)
            self._apply(range(len(self.params)), grads)
            return
        opt.begin_step(self.params)
        self._launched = False

        def after_step(i):
            if i == self.split and not self._launched:   # every late weight has its gradient now
                grads = self.gradients(self.late)
                self._pending = parallel.in_background(self._apply, self.late, grads)
                self._launched = True

        run.backward(self.program, caches, output_grads, self._grads, after_step)
        self._apply(self.early, self.gradients(self.early))
        if not overlap:
            self.finish()

    def backward_split(self, layer, dout, cache):
        """The split step's backward pass, its weight update started in the background.

        The worker computes the step's weight gradients while this thread
        computes its input gradient; then the worker updates the late group of
        weights while this thread goes on with the earlier layers. The update
        waits until the input gradient has read the weights it changes.
        """
        input_gradient, weight_gradients = layer.backward_input_first(dout, cache)
        read = self._read
        read.clear()
        grads = self.gradients(self.late)            # the later steps' gradients, complete by now
        index = {id(p): j for j, p in enumerate(self.params)}

        def update():
            for name, g in weight_gradients().items():
                j = index.get(id(layer.params[name]))
                if j is not None:
                    grads[j] = g if grads[j] is None else grads[j] + g
            read.wait()
            self._apply(self.late, grads)

        self._pending = parallel.in_background(update)
        self._launched = True
        try:
            return input_gradient(), {}
        finally:
            read.set()

    def finish(self):
        """Wait for a weight update still running in the background (no-op when none)."""
        if self._pending is not None:
            wait, self._pending = self._pending, None
            wait()


class _SplitStep:
    """The step where the late group of weights starts.

    Forward: waits for the last update of those weights. Backward: with threads,
    the split backward pass of :meth:`TrainingSchedule.backward_split`.
    """

    def __init__(self, layer, schedule):
        self.layer = layer
        self.schedule = schedule
        self.base_layer = base_layer(layer)
        self.params = layer.params
        self.dtype = layer.dtype
        self.name = layer.name

    def forward(self, x, training=False):
        self.schedule.finish()                      # these weights may still be updating
        return self.layer.forward(x, training)

    def backward(self, dout, cache):
        splits = getattr(self.layer, "splits_backward", hasattr(self.layer, "backward_input_first"))
        if parallel.threaded() and splits:
            return self.schedule.backward_split(self.layer, dout, cache)
        return self.layer.backward(dout, cache)
