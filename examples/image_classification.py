"""TensorFlow's "Image classification" tutorial (tensorflow.org/tutorials/images/classification), on convlearn.

    python examples/image_classification.py --download        # the tutorial's flowers (needs a network)
    python examples/image_classification.py PHOTOS --epochs 3 --size 64    # any folder, one subfolder per class

The code is the tutorial's with the import prefix changed: ``tf.keras.utils``
becomes ``convlearn.utils``, ``tf.data.AUTOTUNE`` becomes
``convlearn.data.AUTOTUNE``, ``from tensorflow.keras import layers`` becomes
``from convlearn import layers``; ``tf.nn.softmax`` becomes
``convlearn.activations.softmax`` and ``tf.expand_dims`` NumPy's.

The images are read from a folder holding one subfolder per class, split
80/20 into training and validation with the tutorial's seed (123), resized to
``--size`` pixels (the tutorial's 180), and kept in memory after the first
epoch. The model is the tutorial's second one: random flips, rotations and
zooms (active only while training), pixels scaled to 0..1, three blocks of a
3x3 convolution and 2x2 max pooling (16, 32, 64 filters), dropout, and two
dense layers giving one logit per class. After training it prints its guess,
with the softmax confidence, for one image: ``--image``, or the first
validation file when none is given.
"""

import argparse
import pathlib
import time

import numpy as np

import convlearn
from convlearn import layers
from convlearn.models import Sequential

DATASET_URL = "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=None, help="a folder of images, one subfolder per class")
    parser.add_argument("--download", action="store_true", help="download the tutorial's flower photos")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (the tutorial's 15)")
    parser.add_argument("--size", type=int, default=180, help="image height and width (the tutorial's 180)")
    parser.add_argument("--color-mode", default="rgb", choices=["rgb", "grayscale"], help="channels to read")
    parser.add_argument("--image", default=None, help="the image to classify at the end")
    parser.add_argument("--seed", type=int, default=None, help="seed the weights and the augmentation")
    args = parser.parse_args(argv)
    if (args.data_dir is None) == (not args.download):
        parser.error("give a folder of images (one subfolder per class), or --download for the flowers")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.seed is not None:
        convlearn.utils.set_random_seed(args.seed)

    if args.download:
        # The tutorial's 3,670 flower photos in 5 classes (a 218 MB download).
        data_dir = convlearn.utils.get_file("flower_photos.tar", origin=DATASET_URL, extract=True)
        data_dir = pathlib.Path(data_dir).with_suffix("")
        if (data_dir / "flower_photos").is_dir():
            data_dir = data_dir / "flower_photos"
    else:
        data_dir = pathlib.Path(args.data_dir)

    batch_size = 32
    img_height = args.size
    img_width = args.size
    channels = 3 if args.color_mode == "rgb" else 1

    train_ds = convlearn.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="training",
        seed=123,
        color_mode=args.color_mode,
        image_size=(img_height, img_width),
        batch_size=batch_size)
    val_ds = convlearn.utils.image_dataset_from_directory(
        data_dir,
        validation_split=0.2,
        subset="validation",
        seed=123,
        color_mode=args.color_mode,
        image_size=(img_height, img_width),
        batch_size=batch_size)
    class_names = train_ds.class_names
    print(class_names)
    first_file = val_ds.file_paths[0]

    for image_batch, labels_batch in train_ds:
        print(image_batch.shape)            # (32, img_height, img_width, channels)
        print(labels_batch.shape)           # (32,)
        break

    # Decode once, keep the images in memory, shuffle them each epoch.
    AUTOTUNE = convlearn.data.AUTOTUNE
    train_ds = train_ds.cache().shuffle(1000).prefetch(buffer_size=AUTOTUNE)
    val_ds = val_ds.cache().prefetch(buffer_size=AUTOTUNE)

    num_classes = len(class_names)

    # Augmentation: new variants of the training images, only while training.
    data_augmentation = Sequential(
        [
            layers.RandomFlip("horizontal", input_shape=(img_height, img_width, channels)),
            layers.RandomRotation(0.1),
            layers.RandomZoom(0.1),
        ]
    )

    # Each block halves the height and width: size -> size/2 -> size/4 -> size/8.
    model = Sequential([
        data_augmentation,
        layers.Rescaling(1. / 255),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Dropout(0.2),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(num_classes, name="outputs")
    ])

    model.compile(optimizer="adam",
                  loss=convlearn.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.summary()

    start = time.perf_counter()
    history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs)
    seconds = time.perf_counter() - start
    logs = {name: values[-1] for name, values in history.history.items()}
    print(f"accuracy {logs['accuracy']:.4f} loss {logs['loss']:.4f} val_accuracy {logs['val_accuracy']:.4f} "
          f"val_loss {logs['val_loss']:.4f} train_seconds {seconds:.1f}")

    # One new image: the predicted class and how confident the model is.
    image_path = args.image or first_file
    img = convlearn.utils.load_img(image_path, color_mode=args.color_mode, target_size=(img_height, img_width))
    img_array = convlearn.utils.img_to_array(img)           # (img_height, img_width, channels)
    img_array = np.expand_dims(img_array, 0)                 # (1, img_height, img_width, channels): a batch

    predictions = model.predict(img_array)                   # (1, num_classes) logits
    score = convlearn.activations.softmax(predictions[0])    # (num_classes,) probabilities

    print(
        "This image most likely belongs to {} with a {:.2f} percent confidence.".format(  # noqa: UP032
            class_names[np.argmax(score)], 100 * np.max(score))  # (the tutorial's line)
    )
    return logs


if __name__ == "__main__":
    main()
