"""Ready-made models for 28x28 grayscale images (MNIST, Fashion-MNIST), used by ``convlearn train``.

Each model comes as a function that builds it, plus a :class:`Recipe` that says
how it is meant to be trained (epochs, batch size, label format):

- :func:`guide` -- the beginner's guide's model, exactly as the guide writes it;
- :func:`convnet` -- the classic small convnet of Keras's "Simple MNIST convnet" example;
- :func:`best` -- a stronger candidate whose recipe is still to be tuned.

>>> from convlearn import zoo
>>> model = zoo.guide()                       # compiled, ready for fit
>>> model.output_shape
(None, 10)
>>> zoo.RECIPES["guide"].epochs, zoo.RECIPES["guide"].batch_size
(10, 32)

Only the public API is used: these functions are also examples of writing a
model with convlearn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import optimizers
from .layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPool2D, MaxPooling2D
from .models import Sequential

__all__ = ["Recipe", "RECIPES", "guide", "convnet", "best", "get"]


def guide(input_shape=(28, 28, 1), num_classes=10, compile=True):
    """The guide's CNN: one convolution, one pooling, two dense layers.

    ``Conv2D(32, (3, 3), relu) -> MaxPool2D(2, 2) -> Flatten -> Dense(100, relu)
    -> Dense(10, softmax)``, compiled with ``loss="sparse_categorical_crossentropy"``,
    ``optimizer="adam"``, ``metrics=["accuracy"]``. The guide trains it with
    ``model.fit(X_train, y_train, epochs=10)`` (batch size 32, Keras's default)
    on ``X_train / 255`` of shape (N, 28, 28, 1).

    Parameters
    ----------
    input_shape : tuple of int, default (28, 28, 1)
        Shape of one image, (height, width, channels).
    num_classes : int, default 10
        Units of the output layer.
    compile : bool, default True
        Compile with the guide's loss, optimizer and metric.

    Returns
    -------
    Sequential
        Integer labels (0..9) are its targets.
    """
    model = Sequential(name="guide")
    model.add(Conv2D(32, (3, 3), activation="relu", input_shape=tuple(input_shape)))  # (N, 26, 26, 32)
    model.add(MaxPool2D(2, 2))  # (N, 13, 13, 32)
    model.add(Flatten())  # (N, 5408)
    model.add(Dense(100, activation="relu"))  # (N, 100)
    model.add(Dense(num_classes, activation="softmax"))  # (N, 10)
    if compile:
        model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def convnet(input_shape=(28, 28, 1), num_classes=10, compile=True):
    """The classic small convnet of Keras's example "Simple MNIST convnet".

    ``Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Conv2D(64, 3, relu) -> MaxPooling2D(2)
    -> Flatten -> Dropout(0.5) -> Dense(10, softmax)``, compiled with
    ``loss="categorical_crossentropy"`` (one-hot labels), ``optimizer="adam"``,
    ``metrics=["accuracy"]``. The example trains it with ``batch_size=128``,
    ``epochs=15`` and ``validation_split=0.1``.

    Parameters
    ----------
    input_shape, num_classes, compile
        As for :func:`guide`.

    Returns
    -------
    Sequential
        One-hot labels (``convlearn.utils.to_categorical(y, 10)``) are its targets.
    """
    model = Sequential(name="convnet")
    model.add(Input(shape=tuple(input_shape)))
    model.add(Conv2D(32, kernel_size=(3, 3), activation="relu"))  # (N, 26, 26, 32)
    model.add(MaxPooling2D(pool_size=(2, 2)))  # (N, 13, 13, 32)
    model.add(Conv2D(64, kernel_size=(3, 3), activation="relu"))  # (N, 11, 11, 64)
    model.add(MaxPooling2D(pool_size=(2, 2)))  # (N, 5, 5, 64)
    model.add(Flatten())  # (N, 1600)
    model.add(Dropout(0.5))
    model.add(Dense(num_classes, activation="softmax"))  # (N, 10)
    if compile:
        model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def best(input_shape=(28, 28, 1), num_classes=10, compile=True):
    """A stronger candidate model. ITS RECIPE IS NOT TUNED YET.

    This is a starting point for the model meant to reach 99.2 % test accuracy
    on MNIST within 3 minutes of training on a CPU. Neither figure has been
    measured for it: the layers, learning rate, batch size and epochs below are
    a reasonable first guess, to be tuned and then measured with a command
    anyone can rerun (``convlearn train --model best``).

    ``Conv2D(32, 3, relu, same) -> MaxPool -> Conv2D(64, 3, relu, same) -> MaxPool
    -> Flatten -> Dense(128, relu) -> Dropout(0.3) -> Dense(10, softmax)``, with
    ``loss="sparse_categorical_crossentropy"`` and ``Adam(learning_rate=0.001)``.

    Parameters
    ----------
    input_shape, num_classes, compile
        As for :func:`guide`.

    Returns
    -------
    Sequential
        Integer labels (0..9) are its targets.
    """
    model = Sequential(name="best")
    model.add(Input(shape=tuple(input_shape)))
    model.add(Conv2D(32, 3, padding="same", activation="relu"))  # (N, 28, 28, 32)
    model.add(MaxPooling2D(2))  # (N, 14, 14, 32)
    model.add(Conv2D(64, 3, padding="same", activation="relu"))  # (N, 14, 14, 64)
    model.add(MaxPooling2D(2))  # (N, 7, 7, 64)
    model.add(Flatten())  # (N, 3136)
    model.add(Dense(128, activation="relu"))  # (N, 128)
    model.add(Dropout(0.3))
    model.add(Dense(num_classes, activation="softmax"))  # (N, 10)
    if compile:
        model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizers.Adam(learning_rate=0.001),
                      metrics=["accuracy"])
    return model


@dataclass(frozen=True)
class Recipe:
    """How a zoo model is trained.

    Attributes
    ----------
    name : str
        The name ``convlearn train --model`` accepts.
    build : callable
        ``build(input_shape, num_classes)`` returns the compiled model.
    epochs : int
        Passes over the training data.
    batch_size : int
        Images per optimizer step.
    one_hot : bool
        True when the loss needs one-hot labels (``to_categorical``), False for
        integer labels.
    description : str
        One line for ``--help`` and the training header.
    """

    name: str
    build: Callable
    epochs: int
    batch_size: int
    one_hot: bool
    description: str


RECIPES = {
    "guide": Recipe("guide", guide, epochs=10, batch_size=32, one_hot=False,
                    description="the guide's model: Conv2D(32) -> MaxPool -> Dense(100) -> Dense(10)"),
    "convnet": Recipe("convnet", convnet, epochs=15, batch_size=128, one_hot=True,
                      description="Keras's simple MNIST convnet: two Conv2D/MaxPool blocks, Dropout, Dense(10)"),
    "best": Recipe("best", best, epochs=5, batch_size=64, one_hot=False,
                   description="a stronger candidate, recipe not tuned yet: two wider conv blocks, Dense(128)"),
}


def get(name):
    """The :class:`Recipe` called ``name``.

    Raises
    ------
    ValueError
        If there is no such model.
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown zoo model {name!r}. Expected one of: {', '.join(RECIPES)}.")
    return RECIPES[name]
