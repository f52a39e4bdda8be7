"""The ``convlearn`` command: train, evaluate and try CNNs from a terminal.

::

    convlearn train                          # the guide's model on MNIST, 10 epochs
    convlearn train --limit 1000 --epochs 1  # a quick try on 1000 images
    convlearn evaluate mnist_cnn.keras       # loss and accuracy on the test set
    convlearn predict mnist_cnn.keras digit.png
    convlearn export mnist_cnn.keras mnist_cnn.onnx   # for ONNX Runtime
    convlearn convert model.h5 model.keras   # between Keras's file formats
    convlearn --help                         # every command; convlearn train --help for its options

``python -m convlearn ...`` does the same. Every command uses only convlearn's
public API (``Sequential``, layers, ``datasets``, ``fit``, ``load_model``), so
the code below is also an example of using the library.

Exit codes: 0 success, 1 training failed (the loss diverged), 2 a usage or input
error (printed as ``convlearn: error: ...`` with what to do, never a traceback;
convlearn's own errors from a hostile or broken file, and operating-system errors
such as a folder that cannot be made, end the same way), 130 interrupted with Ctrl-C.

Importing this module is cheap: NumPy and the models are imported only when a
command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser", "CLIError"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

PROG = "convlearn"
MODELS = ("guide", "convnet", "best")  # the names in convlearn.zoo.RECIPES, kept here so --help imports nothing
DATASETS = ("mnist", "fashion_mnist")
KERNELS = ("fast", "reference")
IMAGE_SIDE = 28  # MNIST and Fashion-MNIST images are 28x28, one channel
_COMMANDS = ("train", "evaluate", "predict", "export", "convert")
_EXPLAIN_MODULE = "convlearn.explain.cli"
_APP_MODULE = "convlearn.app.cli"  # cheap to import: the web server packages load when the app runs
_STEP_IMAGE_SIDE = 280  # --show-steps enlarges smaller step images to about this size
MAX_NPY_IMAGES = 70_000  # all of MNIST; a .npy file declaring more is refused from its header
# What a command may raise on bad input (a file, a path, the memory); printed as one line, exit code 2
_INPUT_ERRORS = (ValueError, TypeError, OSError, MemoryError, RuntimeError)


class CLIError(Exception):
    """A mistake in the command line or its inputs: printed as one message, exit code 2."""


class _Interrupted(Exception):
    """Ctrl-C, with the message saying what was (not) written."""


# ---------------------------------------------------------------------------
# Argument parsing
# ---------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors become :class:`CLIError` (printed by :func:`main`)."""

    def error(self, message):
        raise CLIError(f"{message}. Run '{self.prog} --help' to see the options.")


def _int_at_least(minimum):
    """An argparse ``type`` accepting whole numbers >= ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}; got {text!r}")
        return value

    return parse


def _fraction(text):
    """An argparse ``type`` accepting a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), e.g. 0.1; got {text!r}") from None
    if not 0.0 <= value < 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), e.g. 0.1; got {text!r}")
    return value


def _add_train_parser(subparsers):
    p = subparsers.add_parser(
        "train",
        help="train a CNN (by default the guide's model on MNIST) and save it",
        description=(
            "Train a model on MNIST or Fashion-MNIST, print its test accuracy and save it as a .keras "
            "file. By default this is exactly the guide's script: pixels divided by 255, shape "
            "(N, 28, 28, 1), Conv2D(32, (3, 3), relu) -> MaxPool2D(2, 2) -> Flatten -> Dense(100, relu) "
            "-> Dense(10, softmax), loss sparse_categorical_crossentropy, optimizer adam, 10 epochs of "
            "batches of 32."
        ),
    )
    p.add_argument("--model", choices=MODELS, default="guide",
                   help="guide: the guide's model (default); convnet: Keras's simple MNIST convnet "
                        "(one-hot labels, batch 128, 15 epochs); best: a stronger candidate whose recipe "
                        "is not tuned yet")
    p.add_argument("--dataset", choices=DATASETS, default="mnist",
                   help="mnist (default, shipped with convlearn) or fashion_mnist (read from local files)")
    p.add_argument("--epochs", type=_int_at_least(1), metavar="N",
                   help="passes over the training data (default: the model's recipe, 10 for guide)")
    p.add_argument("--batch-size", type=_int_at_least(1), metavar="N",
                   help="images per training step (default: the model's recipe, 32 for guide)")
    p.add_argument("--validation-split", type=_fraction, default=0.0, metavar="F",
                   help="fraction of the training images, taken from the end, held out to report "
                        "val_loss and val_accuracy after each epoch (default 0: none)")
    p.add_argument("--seed", type=_int_at_least(0), metavar="N",
                   help="random seed for the initial weights, dropout and shuffling; the same seed "
                        "gives the same model (default: different every run)")
    p.add_argument("--limit", type=_int_at_least(1), metavar="N",
                   help="train on the first N training images only, for quick tries")
    p.add_argument("--test-limit", type=_int_at_least(1), metavar="N",
                   help="measure the test accuracy on the first N test images only (default: all)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="1: a progress bar (default); 2: one line per epoch; 0: nothing during training")
    p.add_argument("--kernels", choices=KERNELS, default="fast",
                   help="fast: vectorised NumPy (default); reference: the readable loops (much slower)")
    p.add_argument("--output", "-o", metavar="PATH",
                   help="where to save the trained model, a .keras file (default: mnist_cnn.keras "
                        "for the guide's model on MNIST, else <dataset>_<model>.keras)")
    p.add_argument("--no-plots", action="store_true",
                   help="do not draw the training curves (by default they are saved next to the model as "
                        "<output name>_curves.png, when matplotlib is installed)")
    p.add_argument("--lang", choices=("en", "zh"),
                   help="language of the labels in the training curves: en or zh (default: from the locale)")
    return p


def _add_evaluate_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate",
        help="print the loss and accuracy of a saved model on a test set",
        description=(
            "Load a model saved by 'convlearn train' or model.save(...) and print its loss and "
            "accuracy on the test images of --dataset (the file does not record which data set it was "
            "trained on)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="a .keras model file")
    p.add_argument("--dataset", choices=DATASETS, default="mnist",
                   help="the data set the model was trained on (default: mnist)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=32, metavar="N",
                   help="images per step (default 32); changes speed, not the result")
    p.add_argument("--limit", type=_int_at_least(1), metavar="N",
                   help="use the first N test images only (default: all)")
    p.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                   help="1: a progress bar (default); 2: one line at the end; 0: nothing")
    p.add_argument("--kernels", choices=KERNELS, default="fast",
                   help="fast (default) or reference")
    return p


def _add_predict_parser(subparsers):
    p = subparsers.add_parser(
        "predict",
        help="classify images of digits with a saved model",
        description=(
            "Print the most likely classes for each image. A PNG or JPEG file (a photo or a drawing "
            "of one digit, dark on light or light on dark) is prepared like an MNIST digit: grayscale, "
            "ink made light on black, cropped, scaled to 20 pixels and centred in 28x28. A .npy file "
            "must hold one image of shape (28, 28) or several, (N, 28, 28), already prepared like "
            "MNIST (light digit on black; values 0..255 or 0..1)."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="a .keras model file")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="PNG, JPEG, ... or .npy files")
    p.add_argument("--top", type=_int_at_least(1), default=3, metavar="K",
                   help="how many classes to print per image (default 3)")
    p.add_argument("--show-steps", metavar="DIR",
                   help="write each preprocessing step of every image file as a PNG into DIR "
                        "(created if needed; small steps are enlarged with square pixel blocks)")
    return p


def _add_export_parser(subparsers):
    p = subparsers.add_parser(
        "export",
        help="write a saved model as an ONNX file, for ONNX Runtime",
        description=(
            "Load a .keras model and write it as ONNX (model.export(OUT, format='onnx')): NHWC input of the "
            "model's own shape with a free batch axis, inference behaviour (dropout off, BatchNormalization's "
            "moving averages). Needs the onnx package: pip install \"convlearn[onnx]\"."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="a .keras model file")
    p.add_argument("output", metavar="OUT.onnx", help="the ONNX file to write")
    p.add_argument("--opset", type=_int_at_least(1), default=13, metavar="N",
                   help="ONNX opset version, 13 (default) to 17")
    return p


_CONVERT_SUFFIXES = (".keras", ".h5", ".hdf5", ".weights.h5")


def _add_convert_parser(subparsers):
    p = subparsers.add_parser(
        "convert",
        help="convert a model file between Keras's formats (.keras, legacy .h5, .weights.h5)",
        description=(
            "Load a model file (.keras of Keras 3 or convlearn, legacy .h5 of Keras 2 / tf.keras or Keras 3) "
            "and write it as OUT: a .keras file, a legacy .h5 file, or only its weights (.weights.h5). The "
            "architecture, the weights and the compile settings with the optimizer's state are kept. An "
            "existing OUT is replaced."
        ),
    )
    p.add_argument("model", metavar="MODEL", help="the model file to read (.keras, .h5)")
    p.add_argument("output", metavar="OUT", help="the file to write: .keras, .h5 or .weights.h5")
    return p


def _first_command(argv):
    """The first argument that is not an option: the command, or None."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg
    return None


def _explain_available():
    """Whether the ``explain`` command's module is installed (checked without importing it)."""
    if sys.modules.get(_EXPLAIN_MODULE) is not None:
        return True
    return (Path(__file__).resolve().parent / "explain" / "cli.py").is_file()


def _load_explain():
    """Import ``convlearn.explain.cli``; return it if it has ``add_parser`` and ``run``, else None."""
    import importlib

    module = sys.modules.get(_EXPLAIN_MODULE) or importlib.import_module(_EXPLAIN_MODULE)
    if callable(getattr(module, "add_parser", None)) and callable(getattr(module, "run", None)):
        return module
    return None


def build_parser(argv=()):
    """The ``convlearn`` argument parser.

    Parameters
    ----------
    argv : sequence of str
        The arguments about to be parsed. The ``explain`` command's own parser
        (from ``convlearn.explain.cli``) is imported only when they ask for
        ``explain`` or for the overall help, so that ``train``, ``evaluate`` and
        ``predict`` do not pay for it.

    Returns
    -------
    argparse.ArgumentParser
        Its ``parse_args`` raises :class:`CLIError` instead of exiting on a mistake.
    """
    from . import __version__

    parser = _Parser(
        prog=PROG,
        description="convlearn: convolutional neural networks from scratch on NumPy, with the Keras API.",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    subparsers.required = True
    _add_train_parser(subparsers)
    _add_evaluate_parser(subparsers)
    _add_predict_parser(subparsers)
    _add_export_parser(subparsers)
    _add_convert_parser(subparsers)
    command = _first_command(argv)
    if command not in _COMMANDS and _explain_available():
        try:
            module = _load_explain()
        except ImportError as exc:
            if command == "explain":
                raise CLIError(f"the explain command cannot be loaded: {exc}") from None
            module = None  # the overall help still works without it
        if module is not None:
            module.add_parser(subparsers)
        elif command == "explain":
            raise CLIError(
                f"the explain command is not complete in this installation ({_EXPLAIN_MODULE} lacks "
                "add_parser or run). Reinstall convlearn."
            )
    if command not in _COMMANDS:
        _load_app().add_parser(subparsers)
    return parser


def _load_app():
    """Import ``convlearn.app.cli`` (``add_parser`` and ``run`` of ``convlearn app``)."""
    import importlib

    return sys.modules.get(_APP_MODULE) or importlib.import_module(_APP_MODULE)


# ---------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------

def _say(text=""):
    print(text, flush=True)


def _format_seconds(seconds):
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min {sec} s"


def _load_dataset(name):
    """``(x_train, y_train), (x_test, y_test)`` of ``name``, raising CLIError if the files are missing or bad."""
    from convlearn import datasets

    module = {"mnist": datasets.mnist, "fashion_mnist": datasets.fashion_mnist}[name]
    try:
        return module.load_data()
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None


def _prepare_images(x):
    """uint8 images (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], as the guide does."""
    import numpy as np

    x = x.reshape((x.shape[0], x.shape[1], x.shape[2], 1))  # (N, 28, 28, 1)
    return (x / 255).astype(np.float32)


def _load_model(path):
    """Load a saved model, raising CLIError with what to do when the file is missing or unreadable."""
    import convlearn

    try:
        return convlearn.models.load_model(path)
    except FileNotFoundError:
        raise CLIError(
            f"no model file at {path!r}. Check the path, or train one first: {PROG} train --output {path}"
        ) from None
    except (ValueError, OSError) as exc:
        raise CLIError(f"cannot load the model {path!r}: {exc}") from None
    except MemoryError:
        raise CLIError(f"cannot load the model {path!r}: not enough memory for it.") from None


def _check_image_model(model, path):
    """Raise CLIError unless ``model`` takes 28x28x1 images and outputs one score per class."""
    expected = (None, IMAGE_SIDE, IMAGE_SIDE, 1)
    if tuple(model.input_shape) != expected:
        raise CLIError(
            f"the model in {path!r} expects inputs of shape {tuple(model.input_shape)}; this command "
            f"feeds {IMAGE_SIDE}x{IMAGE_SIDE} grayscale images, shape {expected}. Use a model trained on "
            "MNIST or Fashion-MNIST."
        )
    if len(model.output_shape) != 2:
        raise CLIError(
            f"the model in {path!r} outputs shape {tuple(model.output_shape)}; a classifier outputs "
            "(None, number of classes)."
        )


def _labels_for(model, y):
    """Labels as the model's loss wants them: integers for sparse losses, one-hot otherwise."""
    from convlearn.utils import to_categorical

    if model.loss.name == "sparse_categorical_crossentropy":
        return y
    return to_categorical(y, model.output_shape[-1])


def _write_png(path, image):
    """Write a 2-D float image in [0, 1] as an 8-bit grayscale PNG, atomically."""
    import io

    import numpy as np
    from PIL import Image

    from ._io import atomic_write_bytes

    longer = max(image.shape)
    if longer < _STEP_IMAGE_SIDE:
        factor = _STEP_IMAGE_SIDE // longer
        image = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)  # (h*factor, w*factor)
    pixels = np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")  # uint8 (h, w) arrays become mode "L"
    atomic_write_bytes(path, buf.getvalue())


# ---------------------------------------------------------------------------
# convlearn train
# ---------------------------------------------------------------------------

def _default_output(args):
    if args.model == "guide" and args.dataset == "mnist":
        return "mnist_cnn.keras"
    return f"{args.dataset}_{args.model}.keras"


def _check_output(path):
    """Refuse, before training, an output path the model could not be saved to."""
    if not path.endswith(".keras"):
        raise CLIError(f"--output must name a .keras file, e.g. mnist_cnn.keras; got {path!r}.")
    if os.path.isdir(path):
        example = os.path.join(path, "mnist_cnn.keras")
        raise CLIError(f"--output {path!r} is a folder; give a file name such as {example!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"cannot save to {path!r}: the folder {folder!r} does not exist. Create it first.")
    if not os.access(folder, os.W_OK):
        raise CLIError(f"cannot save to {path!r}: the folder {folder!r} is not writable. Choose another --output.")


def _curves_path(output):
    """Where ``convlearn train`` draws the training curves: ``<output stem>_curves.png`` beside the model."""
    folder, name = os.path.split(output)
    stem = name[:-len(".keras")] if name.endswith(".keras") else os.path.splitext(name)[0]
    return os.path.join(folder, stem + "_curves.png")


def _after_training(history, args):
    """Hook run after a successful ``convlearn train``, once the model is saved.

    Draws the training curves (loss and accuracy per epoch, from ``history.history``)
    into ``<output stem>_curves.png`` next to the model, unless ``--no-plots`` is given.
    Drawing must never turn a successful training into a failure: without matplotlib
    it prints one line saying how to install it, and any other problem with the
    figure is printed in one line too.

    Parameters
    ----------
    history : convlearn.callbacks.History
        What ``model.fit`` returned.
    args : argparse.Namespace
        The parsed ``train`` options.

    Returns
    -------
    list of str
        Paths of the files written.
    """
    if getattr(args, "no_plots", False):
        return []
    path = _curves_path(args.output or _default_output(args))
    try:
        from convlearn.explain import plot_history

        return [plot_history(history, path, lang=getattr(args, "lang", None))]
    except ImportError:
        _say('Training curves not drawn: they need matplotlib and Pillow, install them with: '
             'pip install "convlearn[plot]" (or pass --no-plots)')
    except Exception as exc:  # noqa: BLE001 - the model is saved; a figure must not turn that into a failure
        _say(f"Training curves not drawn ({type(exc).__name__}: {exc}); the model is saved.")
    return []


def _run_train(args):
    import numpy as np

    import convlearn
    from convlearn import zoo
    from convlearn.callbacks import Callback

    recipe = zoo.get(args.model)
    epochs = args.epochs or recipe.epochs
    batch_size = args.batch_size or recipe.batch_size
    output = args.output or _default_output(args)
    _check_output(output)

    (x_train, y_train), (x_test, y_test) = _load_dataset(args.dataset)
    n_train_all, n_test_all = len(x_train), len(x_test)
    x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    n_fit = int(len(x_train) * (1 - args.validation_split))
    if args.validation_split and (n_fit == 0 or n_fit == len(x_train)):
        raise CLIError(
            f"--validation-split {args.validation_split} of {len(x_train)} training images leaves an empty "
            "training or validation set. Use a split between 0.05 and 0.5, or more images (--limit)."
        )
    x_train = _prepare_images(x_train)  # (N, 28, 28, 1), float32 in [0, 1]
    x_test = _prepare_images(x_test)  # (N_test, 28, 28, 1)

    if args.seed is not None:
        convlearn.utils.set_random_seed(args.seed)
    model = recipe.build(input_shape=x_train.shape[1:], num_classes=10)
    y_fit = _labels_for(model, y_train)
    y_eval = _labels_for(model, y_test)

    title = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST"}[args.dataset]
    _say(f"{PROG} {convlearn.__version__}: training the '{recipe.name}' model on {title}")
    used = f"{len(x_train):,} of {n_train_all:,}" if len(x_train) < n_train_all else f"{n_train_all:,}"
    tested = f"{len(x_test):,} of {n_test_all:,}" if len(x_test) < n_test_all else f"{n_test_all:,}"
    _say(f"Data: {used} training images, {tested} test images, each 28x28x1, pixels scaled to [0, 1]")
    if args.validation_split:
        _say(f"Validation: the last {len(x_train) - n_fit:,} training images "
             f"({args.validation_split:g}) are held out; training on {n_fit:,}")
    model.summary()
    _say(f"Training: {epochs} epoch{'s' if epochs != 1 else ''}, batch size {batch_size}, "
         f"loss {model.loss.name}, optimizer {type(model.optimizer).__name__}, kernels {args.kernels}, "
         f"seed {args.seed if args.seed is not None else 'none'}")

    class _EpochTracker(Callback):
        epoch = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    tracker = _EpochTracker()
    try:
        with convlearn.ops.use_kernels(args.kernels):
            start = time.perf_counter()
            try:
                history = model.fit(x_train, y_fit, batch_size=batch_size, epochs=epochs, verbose=args.verbose,
                                    validation_split=args.validation_split,
                                    callbacks=[tracker, *recipe.callbacks()])
            except FloatingPointError as exc:
                print(f"{PROG}: error: {exc} No model was saved.", file=sys.stderr)
                return EXIT_FAILED
            seconds = time.perf_counter() - start
            results = model.evaluate(x_test, y_eval, batch_size=max(batch_size, 256), verbose=0, return_dict=True)
        try:
            model.save(output)  # written to a temporary file, then renamed: never half-written
        except OSError as exc:
            raise CLIError(f"cannot save the model to {output!r}: {exc}") from None
    except KeyboardInterrupt:
        if args.verbose == 1:
            _say()  # end the progress bar's line
        where = f" during epoch {tracker.epoch + 1}/{epochs}" if tracker.epoch is not None else ""
        raise _Interrupted(f"training interrupted{where}; no model was saved ({output!r} was not written).") from None

    correct = int(np.round(results["accuracy"] * len(x_test)))
    _say(f"Test accuracy: {results['accuracy']:.4f} ({correct:,} of {len(x_test):,} test images right), "
         f"test loss: {results['loss']:.4f}")
    _say(f"Training time: {_format_seconds(seconds)}")
    _say(f"Model saved to {output}")
    for path in _after_training(history, args):
        _say(f"Written: {path}")
    _say(f"Next: {PROG} evaluate {output}   or   {PROG} predict {output} digit.png")
    return EXIT_OK


# ---------------------------------------------------------------------------
# convlearn evaluate
# ---------------------------------------------------------------------------

def _run_evaluate(args):
    import convlearn

    model = _load_model(args.model)
    _check_image_model(model, args.model)
    if not model.compiled or model.loss is None:
        raise CLIError(
            f"the model in {args.model!r} was saved without a loss (not compiled), so its loss cannot be "
            "measured. Compile it before saving: model.compile(loss='sparse_categorical_crossentropy', "
            "optimizer='adam', metrics=['accuracy'])."
        )
    classes = model.output_shape[-1]
    if classes != 10:
        raise CLIError(
            f"the model in {args.model!r} has {classes} outputs; {args.dataset} has 10 classes. "
            "Use a model trained on it."
        )
    (_, _), (x_test, y_test) = _load_dataset(args.dataset)
    x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    x = _prepare_images(x_test)  # (N, 28, 28, 1)
    _say(f"Model: {args.model}, data: {args.dataset} test set ({len(x):,} images)")
    # the saved metrics may be anything: measure the loss and the accuracy, nothing else
    model.compile(optimizer=model.optimizer, loss=model.loss, metrics=["accuracy"])
    with convlearn.ops.use_kernels(args.kernels):
        results = model.evaluate(x, _labels_for(model, y_test), batch_size=args.batch_size,
                                 verbose=args.verbose, return_dict=True)
    correct = int(round(results["accuracy"] * len(x)))
    _say(f"Test loss: {results['loss']:.4f}")
    _say(f"Test accuracy: {results['accuracy']:.4f} ({correct:,} of {len(x):,} right)")
    return EXIT_OK


# ---------------------------------------------------------------------------
# convlearn predict
# ---------------------------------------------------------------------------

def _load_npy(path):
    """(name, image) pairs from a .npy file of shape (28, 28) or (N, 28, 28), an optional trailing 1 allowed.

    The header is read first: a file declaring another shape, a non-numeric dtype or more than
    MAX_NPY_IMAGES images is refused before its data are read.
    """
    import numpy as np

    from ._io import check_regular_file
    from ._limits import FileError, read_npy_data, read_npy_header

    try:
        size = check_regular_file(path, "file").st_size
    except FileNotFoundError:
        raise CLIError(f"no file at {path!r}. Check the file name and folder.") from None
    except ValueError as exc:
        raise CLIError(f"cannot use {path!r}: {exc}") from None
    try:
        with open(path, "rb") as f:
            header = read_npy_header(f, repr(path))
            shape = header.shape
            if header.dtype.kind not in "biuf":
                raise CLIError(f"{path!r} must hold a numeric array; got {header.dtype}.")
            images = shape[:-1] if len(shape) in (3, 4) and shape[-1] == 1 and shape[-2] == IMAGE_SIDE else shape
            images = (1,) + images if images == (IMAGE_SIDE, IMAGE_SIDE) else images
            if len(images) != 3 or images[1:] != (IMAGE_SIDE, IMAGE_SIDE) or images[0] == 0:
                raise CLIError(
                    f"{path!r} holds an array of shape {shape}; expected one 28x28 image, shape (28, 28), or "
                    "several, shape (N, 28, 28). For a photo or drawing of a digit, pass the PNG or JPEG file "
                    "instead."
                )
            if images[0] > MAX_NPY_IMAGES:
                raise CLIError(f"{path!r} holds {images[0]:,} images; predict takes at most {MAX_NPY_IMAGES:,} "
                               "from one file. Split it into smaller files.")
            if header.nbytes > size - f.tell():
                raise CLIError(f"{path!r} is truncated: its header declares {header.nbytes:,} data bytes, the "
                               f"file holds {size - f.tell():,}. Save it again with numpy.save.")
            arr = read_npy_data(f, header, repr(path)).reshape(images)  # (N, 28, 28)
    except FileError as exc:
        raise CLIError(f"cannot read {path!r} as a .npy array ({exc}). Save it with numpy.save.") from None
    values = arr.astype(np.float32)  # (N, 28, 28); float32 division gives the float64 result, rounded
    if not np.isfinite(values).all():
        raise CLIError(f"{path!r} contains NaN or infinite values.")
    low, high = values.min(), values.max()
    if low < 0 or high > 255:
        raise CLIError(f"{path!r} has values from {low:g} to {high:g}; expected pixels in 0..255 or 0..1.")
    if arr.dtype.kind != "f" or high > 1:
        values /= 255
    if len(arr) == 1:
        return [(path, values[0])]
    return [(f"{path}[{i}]", image) for i, image in enumerate(values)]


def _load_image_file(path):
    """The MNIST-like (28, 28) image of a digit picture and its preprocessing steps."""
    from convlearn.datasets import load_digit_image

    try:
        return load_digit_image(path, return_steps=True)
    except FileNotFoundError:
        raise CLIError(f"no image file at {path!r}. Check the file name and folder.") from None
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except ValueError as exc:
        raise CLIError(f"cannot use {path!r}: {exc}") from None


def _write_steps(folder, path, steps, used_stems):
    """Write the preprocessing steps of one image as PNG files; return their paths."""
    stem = Path(path).stem
    if stem in used_stems:
        used_stems[stem] += 1
        stem = f"{stem}-{used_stems[stem]}"
    else:
        used_stems[stem] = 1
    written = []
    for k, (name, image) in enumerate(steps, start=1):
        target = os.path.join(folder, f"{stem}_{k}_{name}.png")
        try:
            _write_png(target, image)
        except OSError as exc:
            raise CLIError(f"cannot write {target!r}: {exc}") from None
        written.append(target)
    return written


def _make_folder(folder):
    """Create the --show-steps folder (and its parents) if needed, raising CLIError if it cannot be made."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"--show-steps: cannot create the folder {folder!r}: {exc.strerror or exc}.") from None


def _percent(p):
    return f"{100 * p:.2f}%"


def _run_predict(args):
    import numpy as np

    if args.show_steps is not None:
        if os.path.exists(args.show_steps) and not os.path.isdir(args.show_steps):
            raise CLIError(f"--show-steps {args.show_steps!r} is a file; give a folder name.")
        try:
            from PIL import Image  # noqa: F401  (needed to write the PNGs)
        except ImportError:
            raise CLIError(
                "--show-steps writes PNG files, which needs Pillow. Install it with: pip install pillow"
            ) from None

    model = _load_model(args.model)
    _check_image_model(model, args.model)

    names, images, steps_written = [], [], []
    used_stems = {}
    for path in args.images:
        if path.lower().endswith(".npy"):
            for name, image in _load_npy(path):
                names.append(name)
                images.append(image)
            continue
        image, steps = _load_image_file(path)
        names.append(path)
        images.append(image)
        if args.show_steps is not None:
            _make_folder(args.show_steps)
            steps_written += _write_steps(args.show_steps, path, steps, used_stems)

    x = np.stack(images)[..., None].astype(np.float32)  # (N, 28, 28, 1)
    out = model.predict(x, verbose=0)  # (N, classes)
    classes = out.shape[-1]
    top = min(args.top, classes)
    probabilities = bool(np.all(out >= 0) and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3))
    if not probabilities:
        _say("(the model's outputs are not probabilities: showing its raw scores)")
    for name, row in zip(names, out):
        order = np.argsort(-row, kind="stable")[:top]
        best = ", ".join(
            f"{c} ({_percent(row[c]) if probabilities else f'{row[c]:.4g}'})" for c in order
        )
        _say(f"{name}: {order[0]}   top {top}: {best}")
    if steps_written:
        _say(f"Preprocessing steps written to {args.show_steps}: "
             + ", ".join(os.path.basename(p) for p in steps_written))
    elif args.show_steps is not None:
        _say("No preprocessing steps to write: .npy inputs are used as they are.")
    return EXIT_OK


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------

def _run_export(args):
    if not args.output.endswith(".onnx"):
        raise CLIError(f"the output file must end in .onnx; got {args.output!r}. For example: "
                       f"{PROG} export {args.model} model.onnx")
    model = _load_model(args.model)
    try:
        model.export(args.output, format="onnx", opset_version=args.opset)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    _say(f"Wrote {args.output} (ONNX opset {args.opset}, input {tuple(model.input_shape)}).")
    return EXIT_OK


def _run_convert(args):
    from convlearn.saving import convert

    if not args.output.endswith(_CONVERT_SUFFIXES):
        raise CLIError(f"the output file must end in .keras, .h5 or .weights.h5; got {args.output!r}. For example: "
                       f"{PROG} convert {args.model} model.keras")
    if os.path.exists(args.output) and os.path.exists(args.model) and os.path.samefile(args.output, args.model):
        raise CLIError(f"the output {args.output!r} is the model file itself; write to another file name.")
    if args.output.endswith(".weights.h5"):
        model = _load_model(args.model)
        model.save_weights(args.output)
        what = "its weights"
    else:
        if not os.path.lexists(args.model):
            _load_model(args.model)        # the other commands' message for a missing file
        try:
            model = convert(args.model, args.output)
        except (ValueError, OSError) as exc:
            raise CLIError(f"cannot convert {args.model!r} to {args.output!r}: {_one_line(exc)}") from None
        what = "the model" + (" (legacy HDF5 format)" if args.output.endswith((".h5", ".hdf5")) else "")
    _say(f"Wrote {args.output}: {what}, {model.count_params():,} weights, from {args.model}.")
    return EXIT_OK


_RUNNERS = {"train": _run_train, "evaluate": _run_evaluate, "predict": _run_predict, "export": _run_export,
            "convert": _run_convert}


def main(argv=None):
    """Run the ``convlearn`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after ``convlearn``; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code: 0 success, 1 training diverged, 2 usage or input error,
        130 interrupted (Ctrl-C).
    """
    import warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit as exc:  # --help and --version print and exit
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        with warnings.catch_warnings():
            # Pillow warns about images it finds large; convlearn refuses them with its own message
            warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
            if args.command == "app":
                return _load_app().run(args)
            if args.command == "explain":
                code = _load_explain().run(args)
                return EXIT_OK if code is None else int(code)
            return _RUNNERS[args.command](args)
    except CLIError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except _INPUT_ERRORS as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except _Interrupted as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


def _one_line(exc):
    """An exception as one line of text: its message with the line breaks folded, or what it means."""
    text = " ".join(str(exc).split())
    if isinstance(exc, MemoryError):
        return f"not enough memory{': ' + text if text else ''}."
    return text or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
