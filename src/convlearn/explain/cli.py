"""``convlearn explain``: the guide's walk-throughs on the command line.

Examples::

    convlearn explain                          # the whole guide, step by step
    convlearn explain conv --lang zh           # convolution, in Chinese
    convlearn explain conv --image "0,1,1;1,0,1;1,1,0;0,0,1" --kernel "1,0;0,-1" --stride 1 --padding same
    convlearn explain pool --values "1,3,2,4;5,6,7,8;9,2,1,0;3,4,5,6" --pool avg
    convlearn explain softmax --scores "2.0,1.0,0.1" --classes "cat,dog,bird"
    convlearn explain all --figures figures/  # also write PNG figures and GIFs
    convlearn explain backward                # backpropagation through the guide's example
    convlearn explain backward --model mnist_cnn.keras --image digit.png --target 3   # ... through your model

The same runs as ``python -m convlearn.explain ...``.  The main ``convlearn`` command adds
this one with :func:`add_parser` and calls :func:`run` with the parsed arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Sequence

from .i18n import resolve_lang, tr
from .walkthrough import (
    DEFAULT_RGB_PIXELS,
    ExplainError,
    explain_conv,
    explain_dense,
    explain_flatten,
    explain_guide,
    explain_input,
    explain_pool,
    explain_relu,
    explain_softmax,
    load_array,
)

__all__ = ["TOPICS", "add_parser", "build_parser", "configure_parser", "run", "main"]

#: What ``convlearn explain TOPIC`` can explain.
TOPICS = ("all", "input", "conv", "relu", "pool", "flatten", "dense", "softmax", "backward")
#: ``--dpi`` range: beyond 600 dpi one figure takes hundreds of MB and shows nothing more.
DPI_RANGE = (10, 600)
#: The most zeros ``--padding`` adds on each side (the walk-through grows with its square).
MAX_PADDING = 64
# Errors a walk-through may raise on odd input (a path, the memory): one line, exit code 2
_INPUT_ERRORS = (ValueError, TypeError, OSError, MemoryError, RuntimeError)


def _dpi(text: str) -> int:
    """An argparse ``type``: a whole number of dots per inch in :data:`DPI_RANGE`."""
    low, high = DPI_RANGE
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}; got {text!r}")
    return value


def _padding(text: str) -> str:
    """An argparse ``type``: a number of zeros at most :data:`MAX_PADDING` (words are checked later)."""
    if text.strip().isdigit() and int(text) > MAX_PADDING:
        raise argparse.ArgumentTypeError(f"expected valid, same or a number of zeros from 0 to {MAX_PADDING}; "
                                         f"got {text!r}")
    return text


def _help(key: str, lang: str, **fmt: Any) -> str:
    """A help text of the catalogue, without code marks, safe for argparse's % formatting."""
    return tr(key, lang, **fmt).replace("`", "").replace("%", "%%")


def configure_parser(parser: argparse.ArgumentParser, lang: str | None = None) -> argparse.ArgumentParser:
    """Add the options of ``explain`` to ``parser`` (help texts in ``lang``, default: the locale)."""
    lang = resolve_lang(lang)
    hint = tr("cli_matrix_hint", lang).replace("`", "")
    parser.add_argument("topic", nargs="?", default="all", choices=TOPICS, help=_help("cli_topic", lang))
    parser.add_argument("--image", metavar="MATRIX", help=_help("cli_image", lang, hint=hint))
    parser.add_argument("--kernel", metavar="MATRIX", help=_help("cli_kernel", lang, hint=hint))
    parser.add_argument("--stride", default="1", metavar="S", help=_help("cli_stride", lang))
    parser.add_argument("--padding", default="valid", type=_padding, metavar="valid|same|P",
                        help=_help("cli_padding", lang))
    parser.add_argument("--pool", default="max", metavar="max|avg", help=_help("cli_pool", lang))
    parser.add_argument("--pool-size", default="2", metavar="N", help=_help("cli_pool_size", lang))
    parser.add_argument("--pool-stride", default=None, metavar="N", help=_help("cli_pool_stride", lang))
    parser.add_argument("--pixels", metavar="MATRIX", help=_help("cli_pixels", lang, hint=hint))
    parser.add_argument("--values", metavar="MATRIX", help=_help("cli_values", lang, hint=hint))
    parser.add_argument("--inputs", metavar="VECTOR", help=_help("cli_inputs", lang))
    parser.add_argument("--weights", metavar="MATRIX", help=_help("cli_weights", lang, hint=hint))
    parser.add_argument("--bias", metavar="VECTOR", help=_help("cli_bias", lang))
    parser.add_argument("--scores", metavar="VECTOR", help=_help("cli_scores", lang))
    parser.add_argument("--classes", metavar="NAMES", help=_help("cli_classes", lang))
    parser.add_argument("--seed", type=int, default=0, help=_help("cli_seed", lang))
    parser.add_argument("--steps", default="2", metavar="N|all", help=_help("cli_steps", lang))
    parser.add_argument("--lang", default=None, metavar="en|zh", help=_help("cli_lang", lang))
    parser.add_argument("--color", "--colour", default="auto", choices=("auto", "always", "never"),
                        help=_help("cli_color", lang))
    parser.add_argument("--figures", metavar="DIR", default=None, help=_help("cli_figures", lang))
    parser.add_argument("--model", metavar="FILE", default=None, help=_help("cli_model", lang))
    parser.add_argument("--target", metavar="CLASS", default=None, help=_help("cli_target", lang))
    parser.add_argument("--dpi", type=_dpi, default=100, help=_help("cli_dpi", lang))
    return parser


def add_parser(subparsers: Any, lang: str | None = None) -> argparse.ArgumentParser:
    """Register ``explain`` on the sub-commands of the ``convlearn`` command.

    Parameters
    ----------
    subparsers
        What ``ArgumentParser.add_subparsers()`` returned.
    lang : {"en", "zh"}, optional
        Language of the help texts; default: from the locale.

    Returns
    -------
    argparse.ArgumentParser
        The ``explain`` parser; its defaults hold ``func=run``.
    """
    lang = resolve_lang(lang)
    parser = subparsers.add_parser("explain", help=_help("cli_help", lang), description=_help("cli_description", lang))
    configure_parser(parser, lang)
    parser.set_defaults(func=run)
    return parser


def build_parser(prog: str = "convlearn explain", lang: str | None = None) -> argparse.ArgumentParser:
    """A stand-alone parser for ``explain`` (used by ``python -m convlearn.explain``)."""
    lang = resolve_lang(lang)
    parser = argparse.ArgumentParser(prog=prog, description=_help("cli_description", lang))
    configure_parser(parser, lang)
    parser.set_defaults(func=run)
    return parser


# --------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------
def _use_color(choice: str, stream: Any, environ: Any = None) -> bool:
    """``auto``: colours on a terminal, unless ``NO_COLOR`` is set (to anything) or TERM is dumb."""
    env = os.environ if environ is None else environ
    if choice == "always":
        return True
    if choice == "never":
        return False
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


def _steps(value: str) -> int | None:
    text = str(value).strip().lower()
    if text == "all":
        return None
    if not text.isdigit():
        raise ExplainError("err_steps", value=value)
    return int(text)


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [part.strip() for part in value.split(",")]


class _Chain:
    """The guide's stages computed on demand, each from the options or the previous stage."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._cache: dict[str, Any] = {}

    def _get(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self._cache:
            self._cache[name] = make()
        return self._cache[name]

    def conv(self) -> Any:
        a = self.args
        image = a.image
        if image is None and a.pixels is not None:
            image = explain_input(a.pixels).normalized
        return self._get("conv", lambda: explain_conv(image, a.kernel, a.stride, a.padding))

    def relu(self) -> Any:
        a = self.args
        if a.topic == "relu" and a.values is not None:
            return self._get("relu", lambda: explain_relu(a.values))
        return self._get("relu", lambda: explain_relu(self.conv().output))

    def pool(self) -> Any:
        a = self.args
        values = a.values if a.topic == "pool" and a.values is not None else None
        return self._get(
            "pool",
            lambda: explain_pool(self.relu().output if values is None else values, a.pool_size, a.pool_stride, a.pool),
        )

    def flatten(self) -> Any:
        a = self.args
        if a.topic == "flatten" and a.values is not None:
            return self._get("flatten", lambda: explain_flatten(a.values))
        return self._get("flatten", lambda: explain_flatten(self.pool().output))

    def dense(self) -> Any:
        a = self.args
        inputs = a.inputs if a.inputs is not None else None
        return self._get(
            "dense",
            lambda: explain_dense(self.flatten().output if inputs is None else inputs, a.weights, a.bias,
                                  _names(a.classes), a.seed),
        )

    def softmax(self) -> Any:
        a = self.args
        if a.scores is not None:
            return self._get("softmax", lambda: explain_softmax(a.scores, _names(a.classes)))
        dense = self.dense()
        return self._get("softmax", lambda: explain_softmax(dense.outputs, dense.names))


def _text_and_figures(
    args: argparse.Namespace, lang: str, color: bool, steps: int | None
) -> tuple[str, Callable[[str], list[str]]]:
    """The explanation of ``args.topic`` and a function that writes its figures into a folder."""
    from . import render_text

    topic = args.topic
    chain = _Chain(args)
    if topic == "all":
        guide = explain_guide(
            args.pixels, args.image, args.kernel, args.stride, args.padding, args.pool, args.pool_size,
            args.pool_stride, args.weights, args.bias, _names(args.classes), args.seed,
        )

        def figures(folder: str) -> list[str]:
            return guide.save_figures(folder, lang, dpi=args.dpi)

        return render_text.guide_text(guide, lang, color=color, steps_in_full=steps), figures
    if topic == "input":
        if args.pixels is not None:
            walks = [explain_input(args.pixels)]
        else:
            walks = [explain_input(), explain_input(DEFAULT_RGB_PIXELS)]
        text = "\n".join(render_text.input_text(w, lang, color, heading=(i == 0)) for i, w in enumerate(walks))

        def figures(folder: str) -> list[str]:
            return [w.to_figure(os.path.join(folder, f"input_{w.kind}.png"), lang, dpi=args.dpi) for w in walks]

        return text, figures
    if topic == "backward":
        from .backward import explain_backward

        model, x = _backward_model_and_image(args, topic)
        back = explain_backward(model, x, _target(args.target), _names(args.classes))

        def figures(folder: str) -> list[str]:
            return [back.to_figure(os.path.join(folder, "backward.png"), lang, dpi=args.dpi)]

        return back.to_text(lang, color), figures
    if topic == "conv":
        walk = chain.conv()

        def figures(folder: str) -> list[str]:
            out = [walk.to_figure(os.path.join(folder, "conv.png"), lang, dpi=args.dpi)]
            n = len(walk.steps) if steps is None else min(max(steps, 1), len(walk.steps))
            for t in range(n):
                path = os.path.join(folder, f"conv_step_{t + 1:02d}.png")
                out.append(walk.to_figure(path, lang, dpi=args.dpi, step=t))
            out.append(walk.to_gif(os.path.join(folder, "conv_sliding_window.gif"), lang))
            return out

        return walk.to_text(lang, color, steps_in_full=steps), figures
    walk = getattr(chain, topic)()

    def figures(folder: str) -> list[str]:
        out = [walk.to_figure(os.path.join(folder, f"{topic}.png"), lang, dpi=args.dpi)]
        if topic == "pool":
            out.append(walk.to_gif(os.path.join(folder, "pool_sliding_window.gif"), lang))
        return out

    return walk.to_text(lang, color), figures


#: Picture files that ``--image`` reads as a photo or drawing of a digit (with ``--model``).
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _target(value: str | None) -> int | str | None:
    """``--target``: a class index (``3``) or a class name of ``--classes`` (``cat``)."""
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else value


def _backward_model_and_image(args: argparse.Namespace, topic: str) -> tuple[Any, Any]:
    """``(model, image)`` for ``explain backward --model FILE --image IMAGE``; ``(None, None)``
    for the guide's example.

    The image is a picture of a digit (PNG, JPEG, BMP, GIF: prepared as ``convlearn predict``
    prepares it, for models of 28x28 one-channel input), or an array as text or a
    ``.npy``/``.txt``/``.csv`` file in the model's input shape.
    """
    if args.model is None:
        if args.image is not None:
            raise ExplainError("err_back_image_without_model")
        return None, None
    if args.image is None:
        raise ExplainError("err_back_model_without_image")
    from ..saving import load_model

    model = load_model(args.model, compile=False)
    if args.image.lower().endswith(PICTURE_SUFFIXES):
        from ..datasets import load_digit_image

        image = load_digit_image(args.image)                    # (28, 28) float32 in [0, 1]
        want = tuple(model.input_shape[1:]) if isinstance(model.input_shape, tuple) else None
        if want not in ((28, 28, 1), (28, 28)):
            raise ExplainError("err_back_picture_shape", path=args.image, shape=want)
        return model, image.reshape(want)
    return model, load_array(args.image, "--image")


def _write(stream: Any, text: str) -> None:
    try:
        stream.write(text)
    except UnicodeEncodeError:  # a terminal that cannot show box characters or Chinese
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, errors="replace").decode(encoding))
    stream.flush()


def run(args: argparse.Namespace, stdout: Any = None, stderr: Any = None) -> int:
    """Run ``convlearn explain`` with parsed arguments; returns the exit status.

    Parameters
    ----------
    args : argparse.Namespace
        From a parser made by :func:`add_parser` or :func:`build_parser`.
    stdout, stderr : file-like, optional
        Where to write (default: ``sys.stdout`` / ``sys.stderr``).

    Returns
    -------
    int
        0 on success, 2 for a bad argument (or any other input the walk-through
        cannot use, printed as one line), 1 when figures could not be drawn.
    """
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    try:
        return _run(args, stdout, stderr)
    except _INPUT_ERRORS as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, MemoryError):
            text = f"not enough memory ({text})"
        try:
            lang = resolve_lang(getattr(args, "lang", None))
        except ValueError:
            lang = resolve_lang()
        _write(stderr, "convlearn explain: " + tr("cli_error", lang, message=text) + "\n")
        return 2


def _run(args: argparse.Namespace, stdout: Any, stderr: Any) -> int:
    """:func:`run` without its last line of defence."""
    try:
        lang = resolve_lang(args.lang)
    except ValueError:
        fallback = resolve_lang()
        message = tr("err_lang", fallback, value=args.lang)
        _write(stderr, "convlearn explain: " + tr("cli_error", fallback, message=message) + "\n")
        return 2
    try:
        steps = _steps(args.steps)
        text, figures = _text_and_figures(args, lang, _use_color(args.color, stdout), steps)
    except ExplainError as exc:
        _write(stderr, "convlearn explain: " + tr("cli_error", lang, message=exc.message(lang)) + "\n")
        return 2
    _write(stdout, text)
    if args.figures:
        try:
            paths = figures(args.figures)
        except ImportError as exc:
            _write(stderr, "convlearn explain: " + tr("cli_error", lang, message=str(exc)) + "\n")
            return 1
        except OSError as exc:
            message = tr("err_figures_dir", lang, path=args.figures, reason=exc.strerror or str(exc))
            _write(stderr, "convlearn explain: " + tr("cli_error", lang, message=message) + "\n")
            return 1
        _write(stdout, "\n" + "\n".join(tr("fig_wrote", lang, path=p) for p in paths) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run(args)
