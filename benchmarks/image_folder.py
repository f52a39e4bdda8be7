"""Training speed over a folder of image files: convlearn's image_dataset_from_directory next to Keras's.

    python benchmarks/image_folder.py                 # 3 rounds; writes benchmarks/results/image_folder.md
    python benchmarks/image_folder.py --rounds 1 --out quick.md        # a quick look

The first run writes 10,000 PNG files (Fashion-MNIST's training images, 28x28,
each tinted with a random colour so they are RGB; 1,000 per class in ten class
folders) into ``benchmarks/.cache/image_folder/``. Every measurement then runs
in a fresh process: convlearn with this interpreter, Keras 3 (TensorFlow
backend) with ``benchmarks/.venv-peers/bin/python``, rounds interleaved
(convlearn, Keras, convlearn, ...). Each process

1. builds the dataset with ``image_dataset_from_directory(folder, image_size=(32, 32), batch_size=32,
   seed=1)`` (the files are resized from 28x28 to 32x32);
2. reads it once without training (``read``: listing, decoding, resizing, batching);
3. trains the same model on it for two epochs: ``Rescaling(1/255)``, ``Conv2D(16, 3, relu)``,
   ``MaxPooling2D``, ``Flatten``, ``Dense(10)``; Adam; sparse cross-entropy from logits; every
   epoch decodes the files again (no ``cache()``).

It reports the wall time of each step; "epoch 2" is the steady state (Keras
traces its graph in epoch 1). Ratios are convlearn / Keras: below 1 means
convlearn is faster. It is not a test: nothing under ``tests/`` depends on it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "benchmarks" / ".cache" / "image_folder"
PEERS = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
RESULTS = ROOT / "benchmarks" / "results" / "image_folder.md"
IMAGES = 10_000
BATCH = 32
SIZE = (32, 32)


def write_folder(folder=FOLDER, count=IMAGES):
    """The PNG files, written once (a marker file says the folder is complete)."""
    done = folder / ".complete"
    if done.is_file():
        return folder
    import numpy as np
    from PIL import Image

    from convlearn.datasets import fashion_mnist

    print(f"writing {count} PNG files into {folder} ...", flush=True)
    (x_train, y_train), _ = fashion_mnist.load_data()
    rng = np.random.default_rng(0)
    per_class = count // 10
    for label in range(10):
        (folder / f"class_{label}").mkdir(parents=True, exist_ok=True)
        picks = np.flatnonzero(y_train == label)[:per_class]
        colours = rng.uniform(0.45, 1.0, size=(len(picks), 1, 1, 3))                 # (n, 1, 1, 3)
        rgb = np.round(x_train[picks][..., None] * colours).astype(np.uint8)        # (n, 28, 28, 3)
        for i, image in enumerate(rgb):
            Image.fromarray(image).save(folder / f"class_{label}" / f"{i:04d}.png")
    done.write_text("ok\n")
    return folder


def worker(framework, folder, epochs):
    """One measurement in this process; prints a JSON line of seconds."""
    if framework == "keras":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import keras as lib
        from keras import layers
        dataset_from_directory = lib.utils.image_dataset_from_directory
    else:
        import convlearn as lib
        from convlearn import layers
        dataset_from_directory = lib.utils.image_dataset_from_directory
    lib.utils.set_random_seed(0)
    times = {}
    start = time.perf_counter()
    ds = dataset_from_directory(folder, image_size=SIZE, batch_size=BATCH, seed=1, verbose=False)
    times["list"] = time.perf_counter() - start
    start = time.perf_counter()
    n = 0
    for images, _ in ds:
        n += len(images)
    times["read"] = time.perf_counter() - start
    assert n == IMAGES, n

    model = lib.Sequential([
        layers.Input((*SIZE, 3)),
        layers.Rescaling(1.0 / 255),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(10),
    ])
    model.compile(optimizer="adam", loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])

    class Clock(lib.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times[f"epoch {epoch + 1}"] = time.perf_counter() - self.start
            times[f"accuracy {epoch + 1}"] = float(logs["accuracy"])

    model.fit(ds, epochs=epochs, verbose=0, callbacks=[Clock()])
    print("RESULT " + json.dumps(times), flush=True)


def measure(framework, folder, epochs, peers):
    python = sys.executable if framework == "convlearn" else str(peers)
    command = [python, str(Path(__file__).resolve()), "--worker", framework, "--folder", str(folder),
               "--epochs", str(epochs)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{framework} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def report(rows, rounds, epochs, argv):
    steps = ["read"] + [f"epoch {e}" for e in range(1, epochs + 1)]
    med = {fw: {s: statistics.median(r[s] for r in rows[fw]) for s in steps} for fw in rows}
    acc = {fw: statistics.median(r[f"accuracy {epochs}"] for r in rows[fw]) for fw in rows}
    try:
        import numpy as np

        blas = "NumPy " + np.__version__
    except ImportError:
        blas = ""
    lines = [
        "# Image-folder training speed: convlearn and Keras 3",
        "",
        f"`python benchmarks/image_folder.py {' '.join(argv)}`".replace("  ", " "),
        "",
        (f"{IMAGES:,} PNG files (28x28 RGB, ten class folders) read by `image_dataset_from_directory` with "
        f"`image_size={SIZE}` and batch {BATCH}; `read` is one pass over the dataset without training; each "
        "epoch trains Rescaling, Conv2D(16, 3), MaxPooling2D, Flatten, Dense(10) with Adam and decodes every "
        f"file again. Median of {rounds} rounds, each framework in a fresh process, rounds interleaved. "
        "Ratio = convlearn / Keras (below 1: convlearn is faster)."),
        "",
        "| step | convlearn (s) | Keras (s) | ratio |",
        "|---|---|---|---|",
    ]
    for s in steps:
        lines.append(f"| {s} | {med['convlearn'][s]:.2f} | {med['keras'][s]:.2f} | "
                     f"{med['convlearn'][s] / med['keras'][s]:.2f} |")
    lines += ["", (f"Training accuracy after epoch {epochs} (median): convlearn {acc['convlearn']:.3f}, "
              f"Keras {acc['keras']:.3f}."), "",
              "Every round (seconds):", "", "| round | framework | " + " | ".join(steps) + " |",
              "|---|---|" + "---|" * len(steps)]
    for i in range(rounds):
        for fw in ("convlearn", "keras"):
            lines.append(f"| {i + 1} | {fw} | " + " | ".join(f"{rows[fw][i][s]:.2f}" for s in steps) + " |")
    lines += ["", (f"Machine: {platform.machine()}, {os.cpu_count()} logical cores, Python "
              f"{platform.python_version()}, {blas}; Keras from benchmarks/.venv-peers (TensorFlow backend).")]
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--frameworks", default="convlearn,keras")
    parser.add_argument("--peers-python", default=str(PEERS))
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--worker", choices=["convlearn", "keras"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=str(FOLDER), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.folder, args.epochs)
        return
    frameworks = args.frameworks.split(",")
    if "keras" in frameworks and not Path(args.peers_python).exists():
        sys.exit(f"Keras's interpreter {args.peers_python} is missing: run bash benchmarks/setup_peers.sh.")
    folder = write_folder()
    rows = {fw: [] for fw in frameworks}
    for r in range(args.rounds):
        for fw in frameworks:
            times = measure(fw, folder, args.epochs, args.peers_python)
            rows[fw].append(times)
            print(f"round {r + 1} {fw}: " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()), flush=True)
    if set(frameworks) == {"convlearn", "keras"}:
        text = report(rows, args.rounds, args.epochs, argv)
        print(text)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
