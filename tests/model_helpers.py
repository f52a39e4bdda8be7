"""Small models and data sets shared by the model-level tests.

Everything here is tiny on purpose (8x8 images, a few filters) so that a
whole training run takes milliseconds; the tests check behaviour, not speed.
Only convlearn's public API is used.
"""

from __future__ import annotations

import numpy as np

import convlearn as keras
from convlearn import layers

BAR_CLASSES = ("horizontal bar", "vertical bar", "diagonal")


def bars_dataset(n, seed=0, size=8, noise=0.1):
    """Images of a horizontal bar, a vertical bar or a diagonal, at a random place.

    A data set a small CNN learns in a few epochs: the class depends on the
    shape of the stroke, not on where it is, which is what convolution is for.

    Returns
    -------
    x : float32, shape (n, size, size, 1)
    y : int64 labels 0, 1, 2, shape (n,)
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 3)                               # balanced classes, (n,)
    x = rng.normal(0.0, noise, size=(n, size, size, 1)).astype(np.float32)
    pos = rng.integers(1, size - 1, size=n)
    idx = np.arange(size)
    for i in range(n):
        if y[i] == 0:
            x[i, pos[i], :, 0] += 1.0
        elif y[i] == 1:
            x[i, :, pos[i], 0] += 1.0
        else:
            x[i, idx, (idx + pos[i]) % size, 0] += 1.0                  # a wrapped diagonal
    return x, y.astype(np.int64)


def small_cnn(num_classes=3, input_shape=(8, 8, 1), filters=4, dropout=None, dropout_seed=None,
              kernel_initializer="glorot_uniform", name=None):
    """Input -> Conv2D(relu) -> MaxPooling2D -> Flatten -> [Dropout] -> Dense(softmax)."""
    stack = [
        keras.Input(shape=input_shape),
        layers.Conv2D(filters, 3, activation="relu", kernel_initializer=kernel_initializer),
        layers.MaxPooling2D(2),
        layers.Flatten(),
    ]
    if dropout is not None:
        stack.append(layers.Dropout(dropout, seed=dropout_seed))
    stack.append(layers.Dense(num_classes, activation="softmax", kernel_initializer=kernel_initializer))
    return keras.Sequential(stack, name=name)


def compiled_cnn(optimizer="adam", metrics=("accuracy",), **kwargs):
    """:func:`small_cnn` compiled with sparse categorical cross-entropy."""
    model = small_cnn(**kwargs)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


def same_weights(a, b):
    """True when two weight lists have the same shapes, dtypes and bits."""
    return len(a) == len(b) and all(
        x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(a, b))
