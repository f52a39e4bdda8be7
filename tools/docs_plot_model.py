"""Draw the figure of the "Draw your model" page with ``convlearn.utils.plot_model``::

    python tools/docs_plot_model.py                  # writes docs/images/plot_model_residual.png
    python tools/docs_plot_model.py --out model.png  # somewhere else (.png or .svg)

The model is the benchmarks' residual network (``keras_like_residual`` in
``benchmarks/worker.py``): a strided stem, two residual blocks with 1x1 strided
shortcuts, global average pooling.  Needs matplotlib for a PNG (``pip install -e ".[plot]"``).
"""

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images" / "plot_model_residual.png"


def residual_model():
    """The benchmarks' residual network, built with convlearn."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from worker import keras_like_residual
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    import convlearn
    from convlearn import layers

    return keras_like_residual(convlearn, layers)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw the residual network of the docs with plot_model.")
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help=f"file to write (default {OUT})")
    args = parser.parse_args(argv)
    import convlearn

    convlearn.utils.plot_model(residual_model(), to_file=str(args.out), show_shapes=True, show_layer_names=True,
                               show_layer_activations=True, dpi=100)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
