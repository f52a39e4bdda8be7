"""Keras's convolutional denoising autoencoder (keras.io/examples/vision/autoencoder), on convlearn.

    python examples/denoising_autoencoder.py                  # 1 epoch on 10,000 images of each stage
    python examples/denoising_autoencoder.py --samples 60000 --epochs 50 --noisy-epochs 100   # Keras's run

The model is written as in the Keras example; from Keras only the import
prefix changes (``from keras import layers`` -> ``from convlearn import layers``).
An encoder of two 3x3 convolutions, each followed by 2x2 max pooling (28x28 ->
7x7), and a decoder of two transposed convolutions of stride 2 (7x7 -> 28x28)
and a last 3x3 convolution with a sigmoid, trained with binary cross-entropy.
It is first trained to copy clean digits, then to turn digits with Gaussian
noise (noise_factor 0.4) back into the clean ones. The script prints the loss
and the time of each epoch, and with matplotlib writes a figure of noisy
digits and the model's reconstructions.
"""

import argparse
import time

import numpy as np

from convlearn import callbacks, layers, utils
from convlearn.datasets import mnist
from convlearn.models import Model


def preprocess(array):
    """Pixels in [0, 1], with a channel axis: (n, 28, 28, 1)."""
    array = array.astype("float32") / 255.0
    return np.reshape(array, (len(array), 28, 28, 1))


def noise(array, noise_factor=0.4, seed=0):
    """The images plus Gaussian noise of standard deviation ``noise_factor``, clipped to [0, 1]."""
    rng = np.random.default_rng(seed)
    noisy = array + noise_factor * rng.normal(loc=0.0, scale=1.0, size=array.shape)
    return np.clip(noisy, 0.0, 1.0).astype("float32")


def display(array1, array2, path, n=10):
    """Write ``n`` random pairs of images, one row from each array, to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure")
        return
    picks = np.random.default_rng(1).choice(len(array1), size=n, replace=False)
    plt.figure(figsize=(20, 4))
    for i, k in enumerate(picks):
        for row, images in enumerate((array1, array2)):
            ax = plt.subplot(2, n, i + 1 + row * n)
            ax.imshow(images[k].reshape(28, 28), cmap="gray")
            ax.axis("off")
    plt.savefig(path, bbox_inches="tight")
    plt.close()
    print(f"figure: {path}")


class EpochTimer(callbacks.Callback):
    """Prints each epoch's loss and wall time."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.start
        val = f", val_loss {logs['val_loss']:.4f}" if "val_loss" in logs else ""
        print(f"epoch {epoch + 1}: loss {logs['loss']:.4f}{val}, {seconds:.1f} s")


def build():
    input = layers.Input(shape=(28, 28, 1))
    # Encoder
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
    x = layers.MaxPooling2D((2, 2), padding="same")(x)
    # Decoder
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)
    autoencoder = Model(input, x)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000, help="training images (Keras: 60000)")
    parser.add_argument("--test-samples", type=int, default=1_000, help="validation images (Keras: 10000)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs on clean digits (Keras: 50)")
    parser.add_argument("--noisy-epochs", type=int, default=1, help="epochs on noisy digits (Keras: 100)")
    parser.add_argument("--figure", default=None, help="write noisy digits and their reconstructions here (.png)")
    args = parser.parse_args()

    utils.set_random_seed(0)
    (train_data, _), (test_data, _) = mnist.load_data()
    train_data = preprocess(train_data[:args.samples])
    test_data = preprocess(test_data[:args.test_samples])
    noisy_train_data = noise(train_data, seed=0)
    noisy_test_data = noise(test_data, seed=1)

    autoencoder = build()
    autoencoder.summary()

    if args.epochs:
        print(f"copying clean digits: {len(train_data)} images")
        autoencoder.fit(x=train_data, y=train_data, epochs=args.epochs, batch_size=128, shuffle=True,
                        validation_data=(test_data, test_data), verbose=0, callbacks=[EpochTimer()])
    if args.noisy_epochs:
        print(f"denoising: {len(noisy_train_data)} noisy images")
        autoencoder.fit(x=noisy_train_data, y=train_data, epochs=args.noisy_epochs, batch_size=128, shuffle=True,
                        validation_data=(noisy_test_data, test_data), verbose=0, callbacks=[EpochTimer()])
    predictions = autoencoder.predict(noisy_test_data, verbose=0)
    print(f"test loss on noisy digits: {autoencoder.evaluate(noisy_test_data, test_data, verbose=0):.4f}")
    if args.figure:
        display(noisy_test_data, predictions, args.figure)


if __name__ == "__main__":
    main()
