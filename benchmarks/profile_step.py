"""Where a training step's time goes: convlearn's kernels, one line each, with one thread or several.

Usage (from the repository root)::

    python benchmarks/profile_step.py cifar              # the benchmark's CIFAR-10 model, all cores
    python benchmarks/profile_step.py residual --threads 1
    python benchmarks/profile_step.py guide --steps 400

It trains the benchmark workload's model (``benchmarks/worker.py``) on seeded random arrays and
times every call of ``convlearn.ops.parallel.run``, the place where the fast kernels hand their
parts to the threads. For each kernel it prints the calls per step, the wall time per step, and the
time the parts took in this thread and in the worker threads. With perfect threading, wall time
would equal the longest of the two. The rest of the step (the loss, the optimizer, the engine) is
the difference between the step time and the sum of the walls. Like the benchmark, it is not a
test: the figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import worker  # the benchmark's models

import convlearn
from convlearn import layers
from convlearn.ops import parallel

SHAPES = {"guide": (28, 28, 1), "convnet": (28, 28, 1), "residual": (28, 28, 1), "cifar": (32, 32, 3)}


def profile(workload, threads, steps, seed=0):
    """``(seconds per step, {kernel: [calls, wall, this thread, workers]})``, times in seconds."""
    parallel.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    model, loss, batch_size = worker.keras_like_model(convlearn, layers, workload)
    model.compile(optimizer="adam", loss=loss)
    n = steps * batch_size
    x = rng.random((n, *SHAPES[workload]), dtype=np.float32)      # (n, H, W, C)
    labels = rng.integers(0, worker.NUM_CLASSES, n)
    y = convlearn.utils.to_categorical(labels, worker.NUM_CLASSES) if loss == "categorical_crossentropy" else labels
    warm = min(n, 20 * batch_size)
    model.fit(x[:warm], y[:warm], batch_size=batch_size, epochs=1, verbose=0)   # buffers, caches

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=sorted(SHAPES))
    parser.add_argument("--threads", type=int, default=parallel.get_num_threads(),
                        help="convlearn's threads (default: all cores)")
    parser.add_argument("--steps", type=int, default=100, help="timed training steps (default 100)")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.steps < 1:
        parser.error(f"--threads and --steps must be at least 1; got {args.threads} and {args.steps}")
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
