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
    datasets,
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
    "Input", "Model", "Sequential", "load_model", "activations", "backend", "callbacks", "datasets",
    "initializers", "layers", "losses", "metrics", "models", "ops", "optimizers", "utils", "__version__",
]
