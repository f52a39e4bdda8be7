"""Layers: the building blocks of a model, each with a forward and a backward pass."""

from .activation import Activation, LeakyReLU, ReLU, Softmax
from .base import LAYERS, Input, InputLayer, Layer, SymbolicTensor
from .conv import Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .core import Dense, Dropout, Flatten, Rescaling, Reshape
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                      maximum, minimum, multiply, subtract)
from .normalization import BatchNormalization, LayerNormalization
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D,
                      GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .preprocessing import (RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                            RandomTranslation, RandomZoom)
from .resizing import CenterCrop, Cropping2D, Resizing, UpSampling2D, ZeroPadding2D

Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose
SeparableConvolution2D = SeparableConv2D

__all__ = [
    "Activation", "Add", "Average", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "CenterCrop",
    "Concatenate", "Conv2D", "Conv2DTranspose", "Convolution2D", "Convolution2DTranspose", "Cropping2D", "Dense",
    "DepthwiseConv2D", "Dropout", "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D",
    "GlobalMaxPool2D", "GlobalMaxPooling2D", "Input", "InputLayer", "Layer", "LayerNormalization", "LeakyReLU",
    "MaxPool2D", "MaxPooling2D", "Maximum", "Minimum", "Multiply", "RandomBrightness", "RandomContrast",
    "RandomCrop", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "ReLU", "Rescaling",
    "Reshape", "Resizing", "SeparableConv2D", "SeparableConvolution2D", "Softmax", "Subtract", "SymbolicTensor",
    "UpSampling2D", "ZeroPadding2D",
    "add", "average", "concatenate", "maximum", "minimum", "multiply", "subtract",
]

for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) and issubclass(_obj, Layer) and _obj is not Layer and _obj.__name__ == _name:
        LAYERS.register()(_obj)


def get_layer_class(class_name):
    """The layer (or model) class for a name stored in a saved model's config, or None."""
    return LAYERS.get_class(class_name)


def __getattr__(name):
    """A missing layer (``layers.Conv3D``) gets a message listing the layers there are."""
    if name.startswith("__"):
        raise AttributeError(name)
    available = ", ".join(n for n in __all__ if n not in ("Layer", "SymbolicTensor") and n[0].isupper())
    raise AttributeError(
        f"convlearn.layers has no {name!r}. convlearn implements the layers of 2-D image CNNs: {available}. "
        "To add your own, subclass convlearn.layers.Layer and write forward and backward."
    )
