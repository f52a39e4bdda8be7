"""Ready-made models for 28x28 grayscale images (MNIST, Fashion-MNIST), used by ``convlearn train``.

Each model comes as a function that builds it, plus a :class:`Recipe` that says
how it is meant to be trained (epochs, batch size, label format):

- :func:`guide` -- the beginner's guide's model, exactly as the guide writes it;
- :func:`convnet` -- the classic small convnet of Keras's "Simple MNIST convnet" example;
- :func:`best` -- a stronger model that reaches 99.2 % on MNIST in a few minutes on a CPU.

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

from . import callbacks, optimizers
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
    """A stronger model for ``convlearn train --model best``: 99.2 % or more on MNIST in minutes.

    ``Conv2D(32, 3, relu) -> MaxPool -> Conv2D(64, 3, relu) -> MaxPool -> Flatten
    -> Dropout(0.4) -> Dense(256, relu) -> Dropout(0.4) -> Dense(10, softmax)``, with
    ``loss="sparse_categorical_crossentropy"`` and ``Adam(learning_rate=0.001)``.
    Its recipe (:data:`RECIPES` ``["best"]``) trains it for 10 epochs with batch
    size 64 and a learning rate multiplied by 0.8 after every epoch
    (:func:`best_schedule`). Both convolutions are followed by max pooling, so
    both run as convlearn's fused convolution + ReLU + pooling kernel. The README
    gives the measured accuracy and time and the command that measures them.

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
    model.add(Conv2D(32, 3, activation="relu"))  # (N, 26, 26, 32)
    model.add(MaxPooling2D(2))  # (N, 13, 13, 32)
    model.add(Conv2D(64, 3, activation="relu"))  # (N, 11, 11, 64)
    model.add(MaxPooling2D(2))  # (N, 5, 5, 64)
    model.add(Flatten())  # (N, 1600)
    model.add(Dropout(0.4))
    model.add(Dense(256, activation="relu"))  # (N, 256)
    model.add(Dropout(0.4))
    model.add(Dense(num_classes, activation="softmax"))  # (N, 10)
    if compile:
        model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizers.Adam(learning_rate=0.001),
                      metrics=["accuracy"])
    return model


def best_schedule(epoch, learning_rate=None):
    """Learning rate of epoch ``epoch`` (from 0) in the "best" recipe: 0.001 * 0.8 ** epoch."""
    return 0.001 * 0.8 ** epoch


def _no_callbacks():
    return []


def _best_callbacks():
    return [callbacks.LearningRateScheduler(best_schedule)]


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
    callbacks : callable
        Returns fresh callbacks for ``fit`` (a learning-rate schedule, say).
    """

    name: str
    build: Callable
    epochs: int
    batch_size: int
    one_hot: bool
    description: str
    callbacks: Callable = _no_callbacks


RECIPES = {
    "guide": Recipe("guide", guide, epochs=10, batch_size=32, one_hot=False,
                    description="the guide's model: Conv2D(32) -> MaxPool -> Dense(100) -> Dense(10)"),
    "convnet": Recipe("convnet", convnet, epochs=15, batch_size=128, one_hot=True,
                      description="Keras's simple MNIST convnet: two Conv2D/MaxPool blocks, Dropout, Dense(10)"),
    "best": Recipe("best", best, epochs=10, batch_size=64, one_hot=False,
                   description="two Conv2D/MaxPool blocks, Dropout, Dense(256), decaying learning rate",
                   callbacks=_best_callbacks),
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
