"""convlearn: convolutional neural networks from scratch on NumPy, with Keras's API.

``import convlearn as keras`` gives ``keras.Sequential``, ``keras.Input``,
``keras.layers``, ``keras.datasets``, ``keras.utils``, ``keras.optimizers``,
``keras.losses``, ``keras.callbacks`` and ``keras.activations``; scripts written
for ``tensorflow.keras`` run with only the import prefix changed.
"""

__version__ = "0.1.0"

from . import (  # noqa: E402  (the version must exist before submodules import it)
    activations,
    backend,
    callbacks,
    initializers,
    layers,
    losses,
    metrics,
    models,
    ops,
    optimizers,
    utils,
)
from .layers import Input  # noqa: E402
from .models import Model, Sequential, load_model  # noqa: E402

__all__ = [
    "Input", "Model", "Sequential", "load_model", "activations", "backend", "callbacks", "data", "datasets",
    "initializers", "layers", "losses", "metrics", "models", "ops", "optimizers", "utils", "__version__",
]


def __getattr__(name):
    # ``convlearn.datasets`` loads on first use: it brings file, path and archive
    # modules that a script training on its own arrays never needs (about 15 ms
    # of the import time).
    if name in ("datasets", "data"):
        import importlib
        return importlib.import_module("." + name, __name__)
    raise AttributeError(f"module 'convlearn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
