"""Layers: the building blocks of a model, each with a forward and a backward pass."""

from .activation import Activation, LeakyReLU, ReLU, Softmax
from .base import Input, InputLayer, Layer, SymbolicTensor
from .conv import Conv2D
from .core import Dense, Dropout, Flatten, Rescaling, Reshape
from .pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D

Convolution2D = Conv2D

__all__ = [
    "Activation", "AveragePooling2D", "AvgPool2D", "Conv2D", "Convolution2D", "Dense", "Dropout",
    "Flatten", "Input", "InputLayer", "Layer", "LeakyReLU", "MaxPool2D", "MaxPooling2D", "ReLU",
    "Rescaling", "Reshape", "Softmax", "SymbolicTensor",
]


def get_layer_class(class_name):
    """The layer class for a name stored in a saved model's config."""
    classes = {name: obj for name, obj in globals().items() if isinstance(obj, type) and issubclass(obj, Layer)}
    return classes.get(class_name)


def __getattr__(name):
    """A missing layer (``layers.Conv3D``) gets a message listing the layers there are."""
    if name.startswith("__"):
        raise AttributeError(name)
    available = ", ".join(n for n in __all__ if n not in ("Layer", "SymbolicTensor"))
    raise AttributeError(
        f"convlearn.layers has no {name!r}. convlearn implements the layers of 2-D image CNNs: {available}. "
        "To add your own, subclass convlearn.layers.Layer and write forward and backward."
    )
