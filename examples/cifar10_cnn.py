"""TensorFlow's "Convolutional Neural Network (CNN)" tutorial (tensorflow.org/tutorials/images/cnn), on convlearn.

    python examples/cifar10_cnn.py                          # the tutorial: 10 epochs on all 50,000 images
    python examples/cifar10_cnn.py --samples 5000 --epochs 2 --figure accuracy.png   # a shorter run

The code below is the tutorial's, with one change: the import prefix
(``from tensorflow.keras import datasets, layers, models`` becomes
``from convlearn import datasets, layers, models``, ``tf.keras.losses`` becomes
``convlearn.losses``). Three 3x3 convolutions (32, 64 and 64 filters, the
first two followed by 2x2 max pooling) turn a 32x32 colour image into a
4x4x64 block of features; a dense layer of 64 units and a last one of 10
give one score (a logit) per class. It is trained with Adam on the
cross-entropy of the softmax of those scores, and evaluated on the 10,000
test images.

CIFAR-10 is read from ``cifar-10-python.tar.gz`` (or its extracted folder) in
``$CONVLEARN_DATA``, ``~/.convlearn/datasets`` or Keras's cache, and
downloaded when none is there. Without a copy and without a network the
script stops with convlearn's message saying which file to put where.
``--samples`` and ``--test-samples`` keep only the first images, for a run of
minutes on a small machine.
"""

import argparse
import sys
import time

import convlearn
from convlearn import datasets, layers, models


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (the tutorial's 10)")
    parser.add_argument("--samples", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--test-samples", type=int, default=None, help="use only the first N test images")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (fit's default, 32)")
    parser.add_argument("--seed", type=int, default=None, help="seed the weights and the shuffling")
    parser.add_argument("--figure", default=None, help="write the accuracy curves to this file (matplotlib)")
    return parser.parse_args(argv)


def plot_history(history, path):
    """The tutorial's figure: training and validation accuracy per epoch."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure")
        return
    plt.plot(history.history["accuracy"], label="accuracy")
    plt.plot(history.history["val_accuracy"], label="val_accuracy")
    plt.xlabel("Epoch")
    plt.ylabel("Accuracy")
    plt.ylim([0.5, 1])
    plt.legend(loc="lower right")
    plt.savefig(path, bbox_inches="tight")
    plt.close()
    print(f"figure: {path}")


def main(argv=None):
    args = parse_args(argv)
    if args.seed is not None:
        convlearn.utils.set_random_seed(args.seed)

    # The data: 50,000 training and 10,000 test images, 32x32x3 uint8, labels (N, 1).
    try:
        (train_images, train_labels), (test_images, test_labels) = datasets.cifar10.load_data()
    except FileNotFoundError as exc:
        sys.exit(f"{exc}")
    train_images, train_labels = train_images[:args.samples], train_labels[:args.samples]
    test_images, test_labels = test_images[:args.test_samples], test_labels[:args.test_samples]

    # Pixel values from 0..255 to 0..1.
    train_images, test_images = train_images / 255.0, test_images / 255.0
    print(f"train {train_images.shape}, test {test_images.shape}")

    # The convolutional base: 32x32x3 -> 30x30x32 -> 15x15x32 -> 13x13x64 -> 6x6x64 -> 4x4x64.
    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(32, 32, 3)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation="relu"))
    model.summary()

    # The classifier on top: 4x4x64 -> 1024 -> 64 -> 10 logits (no softmax: the loss applies it).
    model.add(layers.Flatten())
    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(10))
    model.summary()

    model.compile(optimizer="adam",
                  loss=convlearn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(train_images, train_labels, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=(test_images, test_labels))
    seconds = time.perf_counter() - start
    if args.figure:
        plot_history(history, args.figure)

    test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=2)
    print(test_acc)
    print(f"test_loss {test_loss:.4f} test_accuracy {test_acc:.4f} train_seconds {seconds:.1f}")
    return test_loss, test_acc


if __name__ == "__main__":
    main()
