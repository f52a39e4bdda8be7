"""Run the two TensorFlow tutorials of ``examples/`` on convlearn and on Keras 3, on the same data, side by side.

    python tools/tutorial_parity.py                        # both tutorials, seeds 0 1 2
    python tools/tutorial_parity.py --which cifar --seeds 0 --epochs 2 --samples 2000    # a quick look

CIFAR-10 and the flower photos cannot always be downloaded, so both runs use
stand-ins made of real images, written once under ``benchmarks/.cache/tutorials``:

- **cifar**: Fashion-MNIST resized to 32x32 (Pillow, bilinear) and tinted with
  a random colour per image (not per class), written as CIFAR-10's extracted
  folder ``cifar-10-batches-py`` in the real Python format (five pickled
  training batches of 10,000 images, a test batch of 10,000, ``batches.meta``).
  convlearn's ``datasets.cifar10.load_data()`` reads it unchanged through
  ``$CONVLEARN_DATA``; Keras's ``load_data`` only accepts the checksummed
  download, so on the Keras side it is replaced by Keras's own
  ``load_batch`` over the same files.
- **images**: four of Fashion-MNIST's hardest classes to tell apart
  (T-shirt/top, Pullover, Coat, Shirt), ``--per-class`` images each, tinted
  the same way and written as 28x28 RGB PNG files in one folder per class.
  Both frameworks read that folder with their own ``image_dataset_from_directory``.

Each script runs unchanged on convlearn; for Keras the tool rewrites its
import prefix back (``convlearn`` -> ``keras``, ``convlearn.data.AUTOTUNE`` ->
``tf.data.AUTOTUNE``) and runs it with the interpreter of
``benchmarks/.venv-peers`` (TensorFlow's Keras 3). Same data, epochs and batch
size; the seeds seed each framework's own generator, so initial weights
differ. The table goes to stdout and to ``benchmarks/results/tutorial_parity.md``.
"""

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache" / "tutorials"
PEERS = ROOT / "benchmarks" / ".venv-peers" / "bin" / "python"
IMAGE_CLASSES = {0: "tshirt_top", 2: "pullover", 4: "coat", 6: "shirt"}

# Runs a convlearn example under Keras: the import prefix rewritten, CIFAR-10 read from the stand-in folder.
KERAS_RUNNER = r"""
import os, re, sys
import numpy as np
import keras
from keras.src.datasets.cifar import load_batch

def standin_cifar10():
    folder = os.environ["PARITY_CIFAR_FOLDER"]
    parts = [load_batch(os.path.join(folder, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([x for x, _ in parts]).transpose(0, 2, 3, 1)      # (N, 32, 32, 3)
    y_train = np.concatenate([y for _, y in parts]).astype("uint8").reshape(-1, 1)
    x_test, y_test = load_batch(os.path.join(folder, "test_batch"))
    return (x_train, y_train), (x_test.transpose(0, 2, 3, 1), np.asarray(y_test, "uint8").reshape(-1, 1))

keras.datasets.cifar10.load_data = standin_cifar10
script = sys.argv[1]
source = open(script, encoding="utf-8").read()
source = source.replace("convlearn.data.AUTOTUNE", "tf.data.AUTOTUNE")
source = re.sub(r"^import convlearn$", "import keras\nimport tensorflow as tf", source, flags=re.M)
source = re.sub(r"\bconvlearn\b", "keras", source)
sys.argv = sys.argv[1:]
exec(compile(source, script, "exec"), {"__name__": "__main__", "__file__": script})
"""


def tint(gray, rng):
    """Grayscale uint8 (N, h, w) -> RGB uint8 (N, h, w, 3), each image multiplied by its own random colour."""
    colours = rng.uniform(0.45, 1.0, size=(len(gray), 1, 1, 3))                # (N, 1, 1, 3)
    return np.round(gray[..., None] * colours).astype(np.uint8)                # (N, h, w, 3)


def resize32(gray):
    """(N, 28, 28) uint8 -> (N, 32, 32) uint8 with Pillow's bilinear resize."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(g).resize((32, 32), Image.BILINEAR)) for g in gray])


def fashion():
    from convlearn.datasets import fashion_mnist

    return fashion_mnist.load_data()


def make_cifar_standin():
    """The CIFAR-shaped stand-in folder (written once); returns the folder holding ``cifar-10-batches-py``."""
    base = CACHE / "cifar"
    folder = base / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    if all((folder / n).is_file() for n in names):
        return base
    print("writing the CIFAR-format stand-in (Fashion-MNIST at 32x32x3) ...", flush=True)
    (x_train, y_train), (x_test, y_test) = fashion()
    rng = np.random.default_rng(2024)
    folder.mkdir(parents=True, exist_ok=True)
    splits = [(f"data_batch_{i}", x_train[(i - 1) * 10000:i * 10000], y_train[(i - 1) * 10000:i * 10000])
              for i in range(1, 6)] + [("test_batch", x_test, y_test)]
    for name, x, y in splits:
        rgb = tint(resize32(x), rng)                                           # (10000, 32, 32, 3)
        rows = rgb.transpose(0, 3, 1, 2).reshape(len(rgb), 3072)               # (10000, 3072): R, G, B planes
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in y], b"data": rows,
                 b"filenames": [f"fashion_{name}_{i}.png".encode() for i in range(len(y))]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))   # raw bytes, like the real files
    meta = {b"num_cases_per_batch": 10000, b"label_names": [n.encode() for n in
                                                           ("tshirt", "trouser", "pullover", "dress", "coat",
                                                            "sandal", "shirt", "sneaker", "bag", "boot")],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return base


def make_image_folder(per_class):
    """Class folders of RGB PNG files from Fashion-MNIST (written once per size); returns the folder."""
    from PIL import Image

    folder = CACHE / f"fashion_folder_{per_class}"
    done = folder / ".complete"
    if done.is_file():
        return folder
    print(f"writing {per_class} PNG files per class into {folder} ...", flush=True)
    (x_train, y_train), _ = fashion()
    rng = np.random.default_rng(7)
    for label, name in IMAGE_CLASSES.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        picks = np.flatnonzero(y_train == label)[:per_class]
        for i, image in enumerate(tint(x_train[picks], rng)):
            Image.fromarray(image).save(folder / name / f"{i:05d}.png")
    done.write_text("ok\n")
    return folder


def run(framework, script, args, env_extra, peers):
    """Run one example; returns the numbers of its last result line and the wall time."""
    env = dict(os.environ, **env_extra)
    if framework == "convlearn":
        command = [sys.executable, str(ROOT / "examples" / script), *args]
    else:
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        command = [str(peers), "-c", KERAS_RUNNER, str(ROOT / "examples" / script), *args]
    start = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{framework} {script} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-3000:]}")
    result = [line for line in done.stdout.splitlines() if re.search(r"\b(test_)?accuracy \d", line)][-1]
    numbers = dict(re.findall(r"(\w+) (\d+\.\d+)", result))
    numbers = {k: float(v) for k, v in numbers.items()}
    numbers["wall_seconds"] = wall
    return numbers


def summarise(rows, keys):
    """Mean and spread over seeds per framework: {framework: {key: (mean, min, max)}}."""
    out = {}
    for framework in ("convlearn", "keras"):
        mine = [r for r in rows if r["framework"] == framework]
        out[framework] = {k: (float(np.mean([r[k] for r in mine])), min(r[k] for r in mine),
                              max(r[k] for r in mine)) for k in keys}
    return out


def table(title, setup, rows, keys):
    lines = [f"### {title}", "", setup, "", "| seed | framework | " + " | ".join(keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['framework']} | " + " | ".join(f"{r[k]:.4f}" if "seconds" not in k
                                                                        else f"{r[k]:.0f}" for k in keys) + " |")
    stats = summarise(rows, keys)
    for framework, values in stats.items():
        lines.append(f"| mean | {framework} | " + " | ".join(
            f"{values[k][0]:.4f}" if "seconds" not in k else f"{values[k][0]:.0f}" for k in keys) + " |")
    acc = [k for k in keys if k.endswith("accuracy")]
    for k in acc:
        gap = 100 * (stats["convlearn"][k][0] - stats["keras"][k][0])
        lines.append("")
        lines.append(f"Mean {k}: convlearn - Keras = {gap:+.2f} points.")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--which", default="cifar,images", help="cifar, images or both (comma-separated)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=10000, help="cifar: training images used")
    parser.add_argument("--test-samples", type=int, default=2000, help="cifar: test images used")
    parser.add_argument("--per-class", type=int, default=500, help="images: PNG files per class")
    parser.add_argument("--size", type=int, default=32, help="images: image_size of the tutorial")
    parser.add_argument("--peers-python", default=str(PEERS))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "tutorial_parity.md"))
    args = parser.parse_args(argv)
    which = args.which.split(",")
    if not Path(args.peers_python).exists():
        sys.exit(f"Keras's interpreter {args.peers_python} is missing: run bash benchmarks/setup_peers.sh, "
                 "or pass --peers-python.")
    sections, records = [], {}
    if "cifar" in which:
        base = make_cifar_standin()
        env = {"CONVLEARN_DATA": str(base), "PARITY_CIFAR_FOLDER": str(base / "cifar-10-batches-py")}
        rows = []
        for seed in args.seeds:
            for framework in ("convlearn", "keras"):
                r = run(framework, "cifar10_cnn.py", ["--epochs", str(args.epochs), "--samples", str(args.samples),
                                                      "--test-samples", str(args.test_samples), "--seed",
                                                      str(seed)], env, args.peers_python)
                rows.append({"seed": seed, "framework": framework, **r})
                print(framework, seed, r, flush=True)
        keys = ["test_accuracy", "test_loss", "train_seconds"]
        setup = (f"examples/cifar10_cnn.py on the CIFAR-format stand-in (Fashion-MNIST, 32x32x3): first "
                 f"{args.samples} training images, first {args.test_samples} test images, {args.epochs} epochs, "
                 "batch 32, Adam.")
        sections.append(table("CNN tutorial (CIFAR-10 format)", setup, rows, keys))
        records["cifar"] = rows
    if "images" in which:
        folder = make_image_folder(args.per_class)
        rows = []
        for seed in args.seeds:
            for framework in ("convlearn", "keras"):
                r = run(framework, "image_classification.py", [str(folder), "--epochs", str(args.epochs),
                                                               "--size", str(args.size), "--seed", str(seed)],
                        {}, args.peers_python)
                rows.append({"seed": seed, "framework": framework, **r})
                print(framework, seed, r, flush=True)
        keys = ["accuracy", "loss", "val_accuracy", "val_loss", "train_seconds"]
        setup = (f"examples/image_classification.py on a folder of {4 * args.per_class} RGB PNG files "
                 f"(Fashion-MNIST classes {', '.join(IMAGE_CLASSES.values())}), validation_split 0.2, seed 123, "
                 f"image_size ({args.size}, {args.size}), batch 32, {args.epochs} epochs, augmentation on.")
        sections.append(table("Image classification tutorial (image folder)", setup, rows, keys))
        records["images"] = rows
    report = ("## The tutorials on convlearn and on Keras 3\n\n"
              f"`python tools/tutorial_parity.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
              " (Keras: TensorFlow backend, benchmarks/.venv-peers). Final figures of each run; seeds seed each "
              "framework's own generator.\n\n" + "\n".join(sections))
    print(report)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    Path(args.out).with_suffix(".json").write_text(json.dumps(records, indent=1))


if __name__ == "__main__":
    main()
