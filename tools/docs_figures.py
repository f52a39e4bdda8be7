"""Draw the figures of the documentation site with convlearn's own explain module.

Every picture in ``docs/images/learn/`` comes from this script, in English and in Chinese
(``NAME_en.png`` and ``NAME_zh.png``)::

    python tools/docs_figures.py                 # all of them, into docs/images/learn/
    python tools/docs_figures.py --only conv pool --out /some/folder

The walk-through figures use the guide's examples (``convlearn.explain``); the MNIST figures
train the guide's model on 12,000 images for 4 epochs with seed 0, so they are the same at every
run with the same thread count.  Needs matplotlib (``pip install -e ".[plot]"``).
"""

import argparse
import pathlib
import sys

OUT = pathlib.Path(__file__).resolve().parent.parent / "docs" / "images" / "learn"
LANGS = ("en", "zh")


def _walks():
    from convlearn import explain

    return {
        "input": lambda: explain.explain_input(),
        "conv": lambda: explain.explain_conv(),
        "conv_stride2": lambda: explain.explain_conv(stride=2, padding="same"),
        "relu": lambda: explain.explain_relu(),
        "pool_max": lambda: explain.explain_pool(mode="max"),
        "pool_avg": lambda: explain.explain_pool(mode="avg"),
        "flatten": lambda: explain.explain_flatten(),
        "dense": lambda: explain.explain_dense(),
        "softmax": lambda: explain.explain_softmax(),
        "backward": lambda: explain.explain_backward(),
    }


def _trained_guide_model():
    """The guide's model after 4 epochs on 12,000 MNIST images (seed 0), and the test arrays."""
    import convlearn as keras
    from convlearn import layers
    from convlearn.datasets import mnist

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x_train = x_train[:12000, ..., None] / 255.0  # (12000, 28, 28, 1)
    x_test = x_test[:2000, ..., None] / 255.0  # (2000, 28, 28, 1)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPool2D(2, 2),
        layers.Flatten(),
        layers.Dense(100, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train[:12000], epochs=4, validation_split=0.1, verbose=0)
    return model, history, x_test, y_test[:2000]


#: Figures drawn from the trained model: name -> function(model, history, x_test, y_test, path, lang).
MODEL_FIGURES = {
    "mnist_curves": lambda m, h, x, y, path, lang: _explain().plot_history(h, path, lang=lang),
    "mnist_filters": lambda m, h, x, y, path, lang: _explain().plot_filters(m, path, lang=lang),
    "mnist_feature_maps": lambda m, h, x, y, path, lang: _explain().plot_feature_maps(m, x[0], path, lang=lang),
    "mnist_confusion": lambda m, h, x, y, path, lang: _explain().plot_confusion_matrix(m, x, y, path, lang=lang),
}


def _explain():
    from convlearn import explain

    return explain


def figure_names():
    """Every figure this script draws (without the language suffix)."""
    return list(_walks()) + list(MODEL_FIGURES)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Draw the documentation's figures.")
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help=f"folder (default {OUT})")
    parser.add_argument("--only", nargs="+", choices=figure_names(), help="draw only these figures")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = args.only or figure_names()
    walks = _walks()
    for name in wanted:
        if name in walks:
            walk = walks[name]()
            for lang in LANGS:
                print(walk.to_figure(args.out / f"{name}_{lang}.png", lang=lang))
    model_figures = [n for n in wanted if n in MODEL_FIGURES]
    if model_figures:
        model, history, x_test, y_test = _trained_guide_model()
        for name in model_figures:
            for lang in LANGS:
                path = args.out / f"{name}_{lang}.png"
                MODEL_FIGURES[name](model, history, x_test, y_test, path, lang)
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
