"""Draw docs/images/engine.png: a residual block as a graph of layer calls, and the program it becomes.

The picture is made from the real engine: the model below is built with
convlearn, and the right half lists the steps of ``model.program()`` with the
slots each step reads and writes. Run it again when the engine changes::

    pip install matplotlib
    python tools/engine_figure.py            # writes docs/images/engine.png
"""

from __future__ import annotations

import io
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

import convlearn as keras  # noqa: E402
from convlearn import layers  # noqa: E402
from convlearn.explain.render_figures import write_atomic  # noqa: E402

OUT = os.path.join(ROOT, "docs", "images", "engine.png")
FORWARD, BACKWARD, BOX, TEXT, MUTED = "#1f6fb2", "#c0392b", "#eef3f8", "#222222", "#666666"


def residual_model():
    inputs = keras.Input((28, 28, 1), name="image")
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_a")(inputs)
    y = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_b")(x)
    y = layers.Conv2D(16, 3, padding="same", name="conv_c")(y)
    x = layers.add([x, y], name="add")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(10, activation="softmax", name="dense")(x)
    return keras.Model(inputs, outputs)


def box(ax, x, y, text, width=2.6, height=0.62, face=BOX):
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.12", fc=face, ec="#9fb3c8", lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=10, color=TEXT, family="monospace")


def arrow(ax, start, end, color, rad=0.0, width=1.6):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color, lw=width,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=16, shrinkB=16))


def draw():
    model = residual_model()
    program = model.program()
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 7.2), gridspec_kw={"width_ratios": [1, 1.25]})
    for ax in (left, right):
        ax.set_xlim(0, 10)
        ax.set_ylim(-0.6, 8.2)
        ax.axis("off")

    # left: the graph of layer calls, as written with the functional API
    left.set_title("1. The model: a graph of layer calls", fontsize=13, loc="left", color=TEXT)
    rows = {"image": 7.3, "conv_a": 6.1, "conv_b": 4.9, "conv_c": 3.7, "add": 2.5, "pool": 1.3, "dense": 0.1}
    xs = {"image": 4.6, "conv_a": 4.6, "conv_b": 7.4, "conv_c": 7.4, "add": 4.6, "pool": 4.6, "dense": 4.6}
    for name, y in rows.items():
        kind = type(model.get_layer(name)).__name__
        box(left, xs[name], y, f"{name} ({kind})", width=5.0 if name == "pool" else 3.2)
    edges = [("image", "conv_a"), ("conv_a", "conv_b"), ("conv_b", "conv_c"), ("conv_c", "add"),
             ("conv_a", "add"), ("add", "pool"), ("pool", "dense")]
    for a, b in edges:
        rad = 0.35 if (a, b) == ("conv_a", "add") else 0.0
        arrow(left, (xs[a], rows[a]), (xs[b], rows[b]), FORWARD, rad=rad)
    left.text(0.0, 4.3, "conv_a's output\nfeeds two layers:\nbackward adds\ntheir two\ngradients", fontsize=9.5,
              color=BACKWARD, va="center")

    # right: the program the engine runs
    right.set_title("2. model.program(): steps over numbered slots", fontsize=13, loc="left", color=TEXT)
    n = len(program.steps)
    top, gap = 7.3, 7.2 / max(1, n)
    for i, step in enumerate(program.steps):
        reads = ", ".join(str(s) for s in step.inputs)
        text = f"{i}  {step.layer.name:<7} slots {reads:>4} -> {step.output}"
        box(right, 3.5, top - i * gap, text, width=5.6, height=0.58)
    right.text(3.5, top + 0.62, "slot 0: the image", fontsize=9.5, color=MUTED, ha="center")
    arrow(right, (6.8, top + 0.1), (6.8, top - (n - 1) * gap - 0.1), FORWARD, width=2.4)
    arrow(right, (7.3, top - (n - 1) * gap - 0.1), (7.3, top + 0.1), BACKWARD, width=2.4)
    right.text(7.7, top - (n - 1) * gap / 2 + 1.0, "forward:\nin order, each\ncall's cache kept", fontsize=10,
               color=FORWARD, va="center")
    right.text(7.7, top - (n - 1) * gap / 2 - 1.0, "backward:\nin reverse,\ngradients add up", fontsize=10,
               color=BACKWARD, va="center")
    right.text(0.3, -0.45, "Speed tricks replace steps by faster equal ones (engine/plan.py); "
                           "the loop itself is engine/run.py.", fontsize=9.5, color=MUTED)
    fig.tight_layout()
    return fig


def main():
    fig = draw()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    write_atomic(OUT, buffer.getvalue())
    plt.close(fig)
    print(f"wrote {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
