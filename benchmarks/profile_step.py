"""Where a training step's time goes: convlearn's kernels, one line each, with one thread or several.

Usage (from the repository root)::

    python benchmarks/profile_step.py cifar              # the benchmark's CIFAR-10 model, all cores
    python benchmarks/profile_step.py residual --threads 1
    python benchmarks/profile_step.py guide --steps 400
    python benchmarks/profile_step.py residual --layers  # per layer call, with its arithmetic rate

It trains the benchmark workload's model (``benchmarks/worker.py``) on seeded random arrays and
times every call of ``convlearn.ops.parallel.run``, the place where the fast kernels hand their
parts to the threads. For each kernel it prints the calls per step, the wall time per step, and the
time the parts took in this thread and in the worker threads. With perfect threading, wall time
would equal the longest of the two. The rest of the step (the loss, the optimizer, the engine) is
the difference between the step time and the sum of the walls. Like the benchmark, it is not a
test: the figures depend on the machine and on what else runs on it.

With ``--layers`` it times each layer call of the training plan instead (forward and
backward, in the thread that runs the step), the weight update, and the rest. For the
convolutions and dense layers it prints the floating-point operations of the matrix
products (a multiply-add counts two) and the rate they ran at, next to the rate of one
core on a large float32 matrix product: how far a step is from what the cores can do.
"""

from __future__ import annotations

import argparse
import collections
import math
import os
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import worker  # the benchmark's models

import convlearn
from convlearn import layers
from convlearn.engine import plan, schedule
from convlearn.ops import parallel

SHAPES = {"guide": (28, 28, 1), "convnet": (28, 28, 1), "residual": (28, 28, 1), "cifar": (32, 32, 3)}


def _workload(workload, steps, seed):
    """The workload's compiled model, trained 20 steps to warm up, and ``steps`` batches of
    seeded random data: ``(model, x, y, batch_size)``."""
    rng = np.random.default_rng(seed)
    model, loss, batch_size = worker.keras_like_model(convlearn, layers, workload)
    model.compile(optimizer="adam", loss=loss)
    n = steps * batch_size
    x = rng.random((n, *SHAPES[workload]), dtype=np.float32)      # (n, H, W, C)
    labels = rng.integers(0, worker.NUM_CLASSES, n)
    y = convlearn.utils.to_categorical(labels, worker.NUM_CLASSES) if loss == "categorical_crossentropy" else labels
    warm = min(n, 20 * batch_size)
    model.fit(x[:warm], y[:warm], batch_size=batch_size, epochs=1, verbose=0)   # buffers, caches
    return model, x, y, batch_size


def profile(workload, threads, steps, seed=0):
    """``(seconds per step, {kernel: [calls, wall, this thread, workers]})``, times in seconds."""
    parallel.set_num_threads(threads)
    model, x, y, batch_size = _workload(workload, steps, seed)
    table = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    lock = threading.Lock()
    original = parallel.run

    def timed_run(fn, parts):
        caller = threading.get_ident()
        mine = [0.0, 0.0]                                           # this thread, the workers

        def timed_part(*args):
            start = time.perf_counter()
            fn(*args)
            took = time.perf_counter() - start
            with lock:
                mine[threading.get_ident() != caller] += took

        start = time.perf_counter()
        original(timed_part, list(parts))
        row = table[fn.__qualname__.replace(".<locals>", "")]
        row[0] += 1
        row[1] += time.perf_counter() - start
        row[2] += mine[0]
        row[3] += mine[1]

    parallel.run = timed_run
    try:
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        per_step = (time.perf_counter() - start) / steps
    finally:
        parallel.run = original
    return per_step, {k: [v[0] / steps, v[1] / steps, v[2] / steps, v[3] / steps] for k, v in table.items()}


def _products(step, program, batch_size):
    """Multiply-adds per training step of ``step``'s matrix products, ``(forward, backward)``.

    Counted for ``Conv2D`` and ``Dense`` (kernel size times output positions, times the
    batch), dense-equivalent: the backward pass is the kernel gradient plus, where the
    input needs one, the input gradient, each as many multiply-adds as the forward pass
    (the fused convolution + pooling kernel skips the cells pooling dropped, so it
    does fewer).
    """
    if type(plan.base_layer(step.layer)).__name__ not in ("Conv2D", "Dense"):
        return 0, 0
    forward = batch_size * schedule._multiply_adds(step)            # the schedule's own count, per sample
    backward = forward * (1 + (step.inputs[0] in program.needs_grad))
    return forward, backward


def profile_layers(workload, threads, steps, seed=0):
    """Per layer call of the training plan: ``(seconds per step, rows, update, batch size)``.

    ``rows``: ``[name, forward s, backward s, forward multiply-adds, backward multiply-adds]``
    per step of the plan, times per training step, measured in the thread that runs it.
    ``update``: the optimizer's update per training step, ``(this thread, other threads)``.
    """
    parallel.set_num_threads(threads)
    model, x, y, batch_size = _workload(workload, steps, seed)
    rows, update, patched = [], [0.0, 0.0], []
    caller = threading.get_ident()
    lock = threading.Lock()

    def timed(obj, attr, add):
        method = getattr(obj, attr)

        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                with lock:
                    add(time.perf_counter() - start, threading.get_ident() == caller)

        setattr(obj, attr, call)                       # on the instance: removed again below
        patched.append((obj, attr))

    def row_adder(row, column):
        def add(seconds, here):
            if here:
                row[column] += seconds
        return add

    def update_adder(seconds, here):
        update[0 if here else 1] += seconds

    original_init = schedule.TrainingSchedule.__init__

    def init(self, program, params, optimizer, batch_size_):
        original_init(self, program, params, optimizer, batch_size_)
        if rows:                                       # the warm-up's schedule was timed already
            return
        for step in self.program.steps:
            row = [step.layer.name, 0.0, 0.0, *_products(step, self.program, batch_size_)]
            rows.append(row)
            timed(step.layer, "forward", row_adder(row, 1))
            timed(step.layer, "backward", row_adder(row, 2))
        timed(self.optimizer, "apply_some", update_adder)

    schedule.TrainingSchedule.__init__ = init
    try:
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)
        per_step = (time.perf_counter() - start) / steps
    finally:
        schedule.TrainingSchedule.__init__ = original_init
        for obj, attr in patched:
            delattr(obj, attr)
    for row in rows:
        row[1] /= steps
        row[2] /= steps
    return per_step, rows, (update[0] / steps, update[1] / steps), batch_size


def core_peak(size=1024, repeats=5):
    """One core's float32 matrix-product rate, GFLOP/s: the best of ``repeats`` (size x size) products."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    out = np.empty_like(a)
    best = math.inf
    with parallel.blas_single_threaded():
        for _ in range(repeats):
            start = time.perf_counter()
            np.matmul(a, a, out=out)
            best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def print_layers(workload, threads, steps):
    per_step, rows, (update_here, update_elsewhere), batch_size = profile_layers(workload, threads, steps)
    print(f"{workload}, {threads} thread(s), batch {batch_size}: {1000 * per_step:.2f} ms per step")
    print(f"{'layer call (training plan)':44s} {'fwd ms':>7s} {'bwd ms':>7s} {'GFLOP':>7s} {'GFLOP/s':>8s}")
    timed_total = flops_total = product_time = 0.0
    for name, forward, backward, macs_forward, macs_backward in rows:
        timed_total += forward + backward
        line = f"{name[:44]:44s} {1000 * forward:7.3f} {1000 * backward:7.3f}"
        flops = 2 * (macs_forward + macs_backward) / 1e9
        if flops and forward + backward > 0:
            flops_total += flops
            product_time += forward + backward
            line += f" {flops:7.3f} {flops / (forward + backward):8.1f}"
        print(line)
    print(f"{'weight update (this thread; other threads)':44s} {1000 * update_here:7.3f} "
          f"({1000 * update_elsewhere:.3f} beside)")
    print(f"{'the rest (loss, engine, batches)':44s} {1000 * (per_step - timed_total - update_here):7.3f}")
    if flops_total:
        peak = core_peak()
        cores = parallel.get_num_threads()
        print(f"Convolutions and dense layers: {flops_total:.3f} GFLOP per step (dense-equivalent), "
              f"{1000 * product_time:.2f} ms, {flops_total / product_time:.1f} GFLOP/s.")
        print(f"One core's large float32 matrix product here: {peak:.1f} GFLOP/s; at {cores} x that rate "
              f"these products alone would take {1000 * flops_total / (cores * peak):.2f} ms per step.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(SHAPES))
    parser.add_argument("--threads", type=int, default=parallel.get_num_threads(),
                        help="convlearn's threads (default: all cores)")
    parser.add_argument("--steps", type=int, default=100, help="timed training steps (default 100)")
    parser.add_argument("--layers", action="store_true",
                        help="time each layer call of the training plan, with its arithmetic rate")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.steps < 1:
        parser.error(f"--threads and --steps must be at least 1; got {args.threads} and {args.steps}")
    if args.layers:
        print_layers(args.workload, args.threads, args.steps)
        return 0
    per_step, table = profile(args.workload, args.threads, args.steps)
    print(f"{args.workload}, {args.threads} thread(s): {1000 * per_step:.2f} ms per step")
    print(f"{'kernel':48s} {'calls':>6s} {'wall ms':>8s} {'this ms':>8s} {'workers':>8s}")
    total = 0.0
    for name, (calls, wall, here, workers) in sorted(table.items(), key=lambda kv: -kv[1][1]):
        total += wall
        print(f"{name:48s} {calls:6.1f} {1000 * wall:8.3f} {1000 * here:8.3f} {1000 * workers:8.3f}")
    print(f"{'outside the kernels (loss, optimizer, engine, ...)':48s} {'':6s} {1000 * (per_step - total):8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
