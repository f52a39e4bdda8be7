"""Pictures of a trained model: training curves, filters, feature maps, confusion matrix, mistakes.

>>> history = model.fit(x_train, y_train, epochs=5, validation_split=0.1)   # doctest: +SKIP
>>> plot_history(history, "curves.png")                                      # doctest: +SKIP
>>> plot_filters(model, "filters.png")                                       # doctest: +SKIP
>>> plot_feature_maps(model, x_test[0], "feature_maps.png")                  # doctest: +SKIP
>>> plot_confusion_matrix(model, x_test, y_test, "confusion.png")            # doctest: +SKIP
>>> plot_misclassified(model, x_test, y_test, "mistakes.png")                # doctest: +SKIP

Every function returns the path it wrote (a PNG, written atomically) or, without a path, the
:class:`matplotlib.figure.Figure` to show or save yourself.  Labels are in English or Chinese
(``lang="en"`` / ``"zh"``, default from the locale); Chinese uses the font shipped in ``fonts/``.
Figures are drawn on the Agg canvas without pyplot, so the matplotlib backend you use is left
alone.  matplotlib and Pillow are needed (``pip install "convlearn[plot]"``); they are imported
when a figure is drawn, never when convlearn is imported.

The numbers behind the pictures come from plain functions that need no matplotlib:
:func:`feature_maps`, :func:`confusion_matrix` and :func:`misclassified`.

Sizes in inches (``dpi`` pixels per inch): :data:`FIGURE_SIZES`, and for the feature maps
``(14, 1.1 + 1.35 * rows)`` with one row for the input and one per layer
(:func:`feature_map_figure_size`).
"""

from __future__ import annotations

import math
import os
import textwrap
from typing import Any

import numpy as np

from .i18n import resolve_lang, tr

__all__ = [
    "FIGURE_SIZES",
    "plot_history",
    "plot_filters",
    "plot_feature_maps",
    "plot_confusion_matrix",
    "plot_misclassified",
    "feature_maps",
    "feature_map_figure_size",
    "confusion_matrix",
    "misclassified",
]

#: Size in inches (width, height) of each figure (the feature maps grow with the model).
FIGURE_SIZES = {
    "history": (13.0, 5.0),
    "filters": (12.0, 8.0),
    "confusion": (9.0, 8.5),
    "misclassified": (10.0, 11.0),
}

_TRAIN = "#0571b0"
_VAL = "#e66101"
_RIGHT = "#1a9641"
_WRONG = "#d7191c"
_MUTED = "#555555"
_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")


# --------------------------------------------------------------------------------------
# plumbing
# --------------------------------------------------------------------------------------
def _figure(size: tuple[float, float], lang: str) -> Any:
    """A blank Agg figure (no pyplot) of ``size`` inches whose text uses the fonts of ``lang``."""
    from .render_figures import _new_figure

    fig = _new_figure("guide", lang)  # the walk-throughs' figure: Agg canvas, fonts registered
    fig.set_size_inches(size)
    return fig


def _fonts(fig: Any) -> Any:
    from .render_figures import _Fonts

    return _Fonts(fig)


def _finish(fig: Any, path: Any, dpi: int) -> Any:
    """Write ``fig`` to ``path`` (a PNG, atomically) and return the path, or return the figure."""
    if path is None:
        return fig
    from .render_figures import save_png

    return save_png(fig, path, dpi=dpi)


def _check_path(path: Any, owner: str) -> None:
    if path is None:
        return
    text = os.fspath(path)
    if not str(text).lower().endswith(".png"):
        raise ValueError(f"{owner}: `path` must name a .png file, e.g. '{owner.replace('plot_', '')}.png'; got {text!r}.")


def _check_dpi(dpi: Any, owner: str) -> int:
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 10 <= dpi <= 600:
        raise ValueError(f"{owner}: `dpi` must be a whole number from 10 to 600, e.g. 100. Received: dpi={dpi!r}.")
    return int(dpi)


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def _is_model(obj: Any) -> bool:
    """Whether ``obj`` is a convlearn model (Sequential, functional or subclassed), not a History or a layer."""
    from ..models import Model

    return isinstance(obj, Model)


# --------------------------------------------------------------------------------------
# training curves
# --------------------------------------------------------------------------------------
def _history_dict(history: Any) -> tuple[dict, list]:
    logs = history
    if _is_model(history):
        logs = history.history
    epochs = getattr(logs, "epoch", None)
    if hasattr(logs, "history"):
        logs = logs.history
    if not isinstance(logs, dict) or not logs.get("loss"):
        raise ValueError(
            "plot_history expects what model.fit returned (a History) or its .history dict with a 'loss' list; "
            f"got {type(history).__name__}. Use: history = model.fit(...); plot_history(history)."
        )
    n = len(logs["loss"])
    values = {}
    for name, series in logs.items():
        series = np.asarray(series, dtype=float).reshape(-1)
        if series.size == n:
            values[name] = series
    if not epochs or len(epochs) != n:
        epochs = list(range(n))
    return values, [e + 1 for e in epochs]


def _metric_label(name: str, lang: str) -> str:
    return tr("mf_acc_title", lang) if name in _ACCURACY_NAMES else tr("mf_metric_title", lang, name=name)


def _curve(ax: Any, epochs: list, logs: dict, name: str, lang: str, digits: int = 4) -> None:
    marker = "o" if len(epochs) <= 30 else None
    train = logs[name]
    ax.plot(epochs, train, color=_TRAIN, marker=marker, linewidth=2,
            label=tr("mf_train", lang, value=f"{train[-1]:.{digits}f}"))
    if "val_" + name in logs:
        val = logs["val_" + name]
        ax.plot(epochs, val, color=_VAL, marker=marker, linewidth=2, linestyle="--",
                label=tr("mf_val", lang, value=f"{val[-1]:.{digits}f}"))
    ax.set_xlabel(tr("mf_epoch", lang))
    ax.grid(True, color="#dddddd")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="best", frameon=False)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs) == 1:
        ax.set_xlim(0.5, 1.5)


def _overfit_epoch(logs: dict, epochs: list) -> int | None:
    """The epoch of the lowest validation loss, when it rose clearly after it while training loss fell."""
    val = logs.get("val_loss")
    if val is None or len(val) < 3 or not np.all(np.isfinite(val)):
        return None
    best = int(np.argmin(val))
    if best >= len(val) - 1 or val[-1] <= val[best] * 1.02 or logs["loss"][-1] >= logs["loss"][best]:
        return None
    return epochs[best]


def plot_history(history: Any, path: Any = None, lang: str | None = None, dpi: int = 100) -> Any:
    """Loss and accuracy per epoch, training data (solid) and validation data (dashed).

    Parameters
    ----------
    history : History, dict or model
        What ``model.fit`` returned, its ``.history`` dict, or the model (its last history).
    path : str or os.PathLike, optional
        A ``.png`` file to write; without it the figure is returned.
    lang : {"en", "zh"}, optional
        Language of the labels (default: from the locale).
    dpi : int, default 100
        Pixels per inch: the PNG is :data:`FIGURE_SIZES` ``["history"]`` times ``dpi``.

    Returns
    -------
    str or matplotlib.figure.Figure
        The path written, or the figure when ``path`` is None.

    Raises
    ------
    ValueError
        If ``history`` has no loss values, or ``path``/``dpi`` are not valid.
    ImportError
        If matplotlib or Pillow is missing (the message says how to install them).
    """
    lang = resolve_lang(lang)
    _check_path(path, "plot_history")
    dpi = _check_dpi(dpi, "plot_history")
    logs, epochs = _history_dict(history)
    metrics = [m for m in logs if m != "loss" and not m.startswith("val_") and m != "learning_rate"]
    metric = next((m for m in metrics if m in _ACCURACY_NAMES), metrics[0] if metrics else None)

    fig = _figure(FIGURE_SIZES["history"], lang)
    with _fonts(fig):
        ax_loss = fig.add_axes((0.06, 0.2, 0.41, 0.62))
        _curve(ax_loss, epochs, logs, "loss", lang)
        ax_loss.set_title(tr("mf_loss_title", lang), fontsize=13)
        ax_acc = fig.add_axes((0.56, 0.2, 0.41, 0.62))
        if metric is not None:
            _curve(ax_acc, epochs, logs, metric, lang)
            ax_acc.set_title(_metric_label(metric, lang), fontsize=13)
        else:
            ax_acc.axis("off")
            ax_acc.text(0.5, 0.5, tr("mf_no_metric", lang), ha="center", va="center", fontsize=13, color=_MUTED)
        fig.text(0.5, 0.96, tr("mf_history_title", lang), ha="center", va="top", fontsize=16,
                 fontweight="bold")
        over = _overfit_epoch(logs, epochs)
        note = tr("mf_overfit", lang, epoch=over) if over is not None else (
            tr("mf_history_note_val", lang) if "val_loss" in logs else tr("mf_history_note", lang))
        fig.text(0.06, 0.06, note, ha="left", va="center", fontsize=11, color=_WRONG if over else _MUTED)
    return _finish(fig, path, dpi)


# --------------------------------------------------------------------------------------
# filters
# --------------------------------------------------------------------------------------
def _find_conv(model_or_layer: Any, layer: Any) -> Any:
    from ..layers import Conv2D

    if isinstance(model_or_layer, Conv2D) and layer is None:
        conv = model_or_layer
    elif _is_model(model_or_layer):
        leaves = model_or_layer.leaf_layers()
        if layer is None:
            conv = next((lay for lay in leaves if isinstance(lay, Conv2D)), None)
            if conv is None:
                raise ValueError(
                    f"plot_filters: model '{model_or_layer.name}' has no Conv2D layer, so it has no filters to show. "
                    f"Its layers: {', '.join(lay.name for lay in leaves)}."
                )
        elif isinstance(layer, str):
            conv = next((lay for lay in leaves if lay.name == layer), None)
        elif isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            conv = leaves[layer] if -len(leaves) <= layer < len(leaves) else None
        else:
            conv = layer if any(layer is lay for lay in leaves) else None
        if conv is None:
            raise ValueError(
                f"plot_filters: no layer {layer!r} in model '{model_or_layer.name}'. "
                f"Its layers: {', '.join(lay.name for lay in leaves)}."
            )
    else:
        raise TypeError(
            "plot_filters expects a model or a Conv2D layer, e.g. plot_filters(model, 'filters.png'); "
            f"got {type(model_or_layer).__name__}."
        )
    if not isinstance(conv, Conv2D):
        raise ValueError(f"plot_filters: layer '{conv.name}' is a {type(conv).__name__}, not a Conv2D; it has no filters.")
    if not conv.built:
        raise ValueError(
            f"plot_filters: layer '{conv.name}' is not built yet, so it has no weights. Give the model an input shape "
            "or train it first."
        )
    return conv


def _tile(ax: Any, values: np.ndarray, cmap: str, vmin: float, vmax: float, numbers: float = 0) -> Any:
    """Draw a matrix as a picture; with ``numbers`` (points per cell), write each value in its cell too."""
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#999999")
    if numbers:
        size = float(np.clip(numbers * 0.3, 6, 11))
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:.2f}".replace("-0.00", "0.00"), ha="center", va="center", fontsize=size,
                    color="white" if abs(v) > 0.6 * max(abs(vmin), abs(vmax)) else "black")
    return image


def plot_filters(model_or_layer: Any, path: Any = None, lang: str | None = None, layer: Any = None,
                 max_filters: int = 64, dpi: int = 100) -> Any:
    """The learned filters (kernels) of a Conv2D layer as small pictures, one per filter.

    For a layer with at most 4 input channels (the first layer of an image model) every input
    channel of every filter gets its own picture; deeper layers show each filter's mean over
    its input channels.  All pictures share one colour scale: red for positive weights, blue
    for negative ones, white for 0.

    Parameters
    ----------
    model_or_layer : Sequential, Model or Conv2D
    path : str or os.PathLike, optional
        A ``.png`` file to write; without it the figure is returned.
    lang : {"en", "zh"}, optional
    layer : str, int or Layer, optional
        Which Conv2D of the model (default: the first one).
    max_filters : int, default 64
        Show at most this many filters (the first ones).
    dpi : int, default 100

    Returns
    -------
    str or matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If there is no (built) Conv2D layer to show.
    TypeError
        If ``model_or_layer`` is neither a model nor a Conv2D layer.
    ImportError
        If matplotlib or Pillow is missing.
    """
    lang = resolve_lang(lang)
    _check_path(path, "plot_filters")
    dpi = _check_dpi(dpi, "plot_filters")
    if isinstance(max_filters, bool) or not isinstance(max_filters, (int, np.integer)) or max_filters < 1:
        raise ValueError(f"plot_filters: `max_filters` must be a positive integer. Received: max_filters={max_filters!r}.")
    conv = _find_conv(model_or_layer, layer)
    kernel = np.asarray(conv.params["kernel"], dtype=np.float64)       # (kh, kw, C, F)
    kh, kw, C, F = kernel.shape
    shown = min(F, int(max_filters))
    per_channel = C <= 4
    if per_channel:
        tiles = [[kernel[:, :, c, f] for c in range(C)] for f in range(shown)]   # shown x C of (kh, kw)
    else:
        tiles = [[kernel[:, :, :, f].mean(axis=2)] for f in range(shown)]       # shown x 1 of (kh, kw)
    vmax = max(float(np.max(np.abs([t for group in tiles for t in group]))), 1e-12)
    group = len(tiles[0])

    fig = _figure(FIGURE_SIZES["filters"], lang)
    W, H = FIGURE_SIZES["filters"]
    with _fonts(fig):
        fig.text(0.5, 0.965, tr("mf_filters_title", lang, layer=conv.name, filters=F, kh=kh, kw=kw, channels=C),
                 ha="center", va="top", fontsize=15, fontweight="bold")
        notes = [tr("mf_filters_colours", lang)]
        if not per_channel:
            notes.append(tr("mf_filters_mean", lang, channels=C))
        if shown < F:
            notes.append(tr("mf_filters_shown", lang, shown=shown, filters=F))
        fig.text(0.5, 0.915, tr("list_sep", lang).join(notes), ha="center", va="top", fontsize=11, color=_MUTED)
        # the grid: groups of `group` tiles side by side, as square as the area allows
        left, right, bottom, top = 0.4, 1.3, 0.3, 1.05                           # margins in inches
        area_w, area_h = W - left - right, H - bottom - top
        best = None
        for cols in range(1, shown + 1):
            rows = math.ceil(shown / cols)
            size = min(area_w / (cols * (group + 0.35)), area_h / (rows * 1.35))
            if best is None or size > best[0]:
                best = (size, cols, rows)
        size, cols, rows = best
        left += (area_w - cols * size * (group + 0.35) + 0.35 * size) / 2                # centre the grid
        top += (area_h - rows * size * 1.35) / 2
        cell_pt = 0.94 * size / max(kh, kw) * 72                          # one weight's square, in points
        numbers = cell_pt >= 30                                            # room for "-0.12"
        label_size = float(np.clip(size * 11, 6, 11))
        image = None
        for f in range(shown):
            r, c = divmod(f, cols)
            x0 = left + c * size * (group + 0.35)
            y0 = H - top - (r + 1) * size * 1.35
            for j, values in enumerate(tiles[f]):
                ax = fig.add_axes(((x0 + j * size) / W, (y0 + 0.05 * size) / H, 0.94 * size / W, 0.94 * size / H))
                ax.set_label(f"filter:{f}:{j}")
                image = _tile(ax, values, "RdBu_r", -vmax, vmax, cell_pt if numbers else 0)
                if per_channel and C > 1:
                    ax.set_xlabel(tr("mf_channel", lang, index=j), fontsize=label_size * 0.85, labelpad=1)
            fig.text((x0 + group * size / 2) / W, (y0 + 1.04 * size) / H, tr("mf_filter", lang, index=f),
                     ha="center", va="bottom", fontsize=label_size)
        cax = fig.add_axes(((W - 0.95) / W, 0.15, 0.22 / W, 0.6))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label(tr("mf_weight", lang))
    return _finish(fig, path, dpi)


# --------------------------------------------------------------------------------------
# feature maps
# --------------------------------------------------------------------------------------
def _as_batch(model: Any, image: Any) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype.kind not in "biuf":
        raise ValueError(f"plot_feature_maps: `image` must be numbers; got dtype {image.dtype}.")
    if not model.built:
        raise ValueError(
            f"plot_feature_maps: model '{model.name}' is not built; give its first layer an input shape or train it first."
        )
    if isinstance(model.input_shape, list):
        raise ValueError(
            f"plot_feature_maps: model '{model.name}' has {len(model.input_shape)} inputs; feature maps follow one "
            "image through a model with one input."
        )
    sample = tuple(model.input_shape[1:])                                 # e.g. (28, 28, 1)

    def fits(shape):
        return len(shape) == len(sample) and all(s is None or s == d for s, d in zip(sample, shape))

    if fits(image.shape):
        return image[None]                                                 # (1, H, W, C)
    if image.ndim == len(sample) + 1 and image.shape[0] == 1 and fits(image.shape[1:]):
        return image
    if sample and sample[-1] == 1 and fits(image.shape + (1,)):
        return image[None, ..., None]                                      # (1, H, W, 1)
    raise ValueError(
        f"plot_feature_maps: model '{model.name}' takes samples of shape {sample}; got an image of shape "
        f"{image.shape}. Pass one sample, e.g. x_test[0]."
    )


def feature_maps(model: Any, image: Any) -> list:
    """Run one image through the model layer by layer.

    Parameters
    ----------
    model : Sequential or Model
    image : array
        One sample, such as ``x_test[0]`` of shape (28, 28, 1) (a (28, 28) image or a batch
        of one are accepted too).

    Returns
    -------
    list of (Layer, ndarray)
        Each layer call, in the order the calls run (nested models expanded, a shared layer
        once per call), with its output for the image, batch axis included:
        ``(1, 26, 26, 32)`` after the guide's Conv2D.

    Raises
    ------
    ValueError
        If the image does not fit the model's input.
    """
    if not _is_model(model):
        raise TypeError(f"feature_maps expects a model, e.g. feature_maps(model, x_test[0]); got {type(model).__name__}.")
    return model.layer_outputs(_as_batch(model, image))                 # [(layer, (1, ...) output)], one per call


def feature_map_figure_size(n_layers: int) -> tuple[float, float]:
    """Size in inches of :func:`plot_feature_maps` for a model of ``n_layers`` computing layers."""
    return (14.0, 1.1 + 1.35 * (n_layers + 1))


def _map_row(fig: Any, y0: float, H: float, W: float, values: np.ndarray, max_channels: int, label: str,
             lang: str, cmap: str) -> None:
    """A row of channel pictures (2-D or 3-D sample), or bars (1-D sample), whose bottom is at y0 (inches)."""
    tile_h = 0.85
    if values.ndim == 3:                                                   # (H, W, C)
        channels = values.shape[-1]
        shown = min(channels, max_channels)
        vmin, vmax = float(values[..., :shown].min()), float(values[..., :shown].max())
        if vmax <= vmin:
            vmax = vmin + 1e-12
        pitch = min(0.82, (W - 1.0) / shown)
        for c in range(shown):
            ax = fig.add_axes(((0.5 + c * pitch) / W, y0 / H, 0.9 * pitch / W, tile_h / H))
            ax.set_label(f"fmap:{label}:{c}")
            _tile(ax, values[..., c], cmap, vmin, vmax)
            if channels > 1:
                ax.set_xlabel(str(c), fontsize=7, labelpad=1)
        return
    if values.ndim == 2:                                                   # (H, W): one picture
        ax = fig.add_axes((0.5 / W, y0 / H, 0.74 * values.shape[1] / max(values.shape) / W, tile_h / H))
        ax.set_label(f"fmap:{label}:0")
        _tile(ax, values, cmap, float(values.min()), float(values.max()) + 1e-12)
        return
    flat = values.reshape(-1)                                              # (D,)
    ax = fig.add_axes((0.5 / W, (y0 + 0.12) / H, (W - 1.0) / W, (tile_h - 0.12) / H))  # room for the ticks
    ax.set_label(f"fmap:{label}:bars")
    D = flat.size
    colours = np.where(flat >= 0, _TRAIN, _VAL)
    if D <= 200:
        ax.bar(np.arange(D), flat, color=colours, width=0.8)
        if D <= 30:
            ax.set_xticks(np.arange(D))
    else:
        ax.vlines(np.arange(D), 0, flat, colors=colours, linewidth=0.6)
    ax.set_xlim(-0.8, D - 0.2)
    ax.axhline(0, color="#999999", linewidth=0.6)
    ax.tick_params(axis="both", labelsize=7, pad=1)
    ax.spines[["top", "right"]].set_visible(False)
    total = float(flat.sum())
    if 2 <= D <= 20 and flat.min() >= 0 and abs(total - 1) < 1e-3:      # probabilities: name the winner
        best = int(np.argmax(flat))
        ax.patches[best].set_color(_RIGHT)
        ax.set_ylim(0, 1.15)
        ax.text(best, flat[best] + 0.03, tr("mf_prediction", lang, label=best, percent=_percent(flat[best])),
                ha="center", va="bottom", fontsize=9, color=_RIGHT, fontweight="bold")


def plot_feature_maps(model: Any, image: Any, path: Any = None, lang: str | None = None, max_channels: int = 16,
                      dpi: int = 100) -> Any:
    """What each layer makes of one image: its feature maps, channel by channel.

    The model runs on the image, keeping every layer call's output (``model.layer_outputs``).
    A layer with image-like output (batch, height, width, channels) gets a row of pictures,
    one per channel (the first ``max_channels``), on one colour scale per layer (dark: low,
    yellow: high); a layer with a vector output (Flatten, Dense) gets bars, blue for positive
    values and orange for negative ones; for a softmax output the predicted class is named.

    Parameters
    ----------
    model : Sequential or Model
    image : array
        One sample such as ``x_test[0]``.
    path : str or os.PathLike, optional
    lang : {"en", "zh"}, optional
    max_channels : int, default 16
    dpi : int, default 100
        The PNG is :func:`feature_map_figure_size` (number of layers) times ``dpi`` pixels.

    Returns
    -------
    str or matplotlib.figure.Figure

    Raises
    ------
    ValueError
        If the image does not fit the model's input.
    ImportError
        If matplotlib or Pillow is missing.
    """
    lang = resolve_lang(lang)
    _check_path(path, "plot_feature_maps")
    dpi = _check_dpi(dpi, "plot_feature_maps")
    if isinstance(max_channels, bool) or not isinstance(max_channels, (int, np.integer)) or not 1 <= max_channels <= 16:
        raise ValueError(
            f"plot_feature_maps: `max_channels` must be a whole number from 1 to 16. Received: max_channels={max_channels!r}."
        )
    batch = _as_batch(model, image)
    outputs = feature_maps(model, batch)
    W, H = feature_map_figure_size(len(outputs))
    fig = _figure((W, H), lang)
    with _fonts(fig):
        fig.text(0.5, 1 - 0.15 / H, tr("mf_fmaps_title", lang), ha="center", va="top", fontsize=15,
                 fontweight="bold")
        fig.text(0.5, 1 - 0.55 / H, tr("mf_fmaps_note", lang), ha="center", va="top", fontsize=10, color=_MUTED)
        rows = [(tr("mf_fmaps_input", lang, shape=tuple(batch.shape[1:])), batch[0], "input", "gray")]
        for i, (layer, out) in enumerate(outputs, start=1):
            shape = tuple(out.shape[1:])
            rows.append((tr("mf_fmaps_row", lang, index=i, layer=layer.name, type=type(layer).__name__, shape=shape),
                         out[0], str(i), "viridis"))
        for r, (title, values, label, cmap) in enumerate(rows):
            top = H - 0.95 - r * 1.35                                       # inches from the bottom
            heading = fig.text(0.5 / W, top / H, title, ha="left", va="top", fontsize=10, fontweight="bold")
            channels = values.shape[-1] if values.ndim == 3 else 0
            if channels > max_channels:  # say which channels the row shows, right after its title
                extent = heading.get_window_extent(renderer=fig.canvas.get_renderer())
                fig.text(extent.x1 / fig.bbox.width + 0.2 / W, top / H,
                         tr("mf_fmaps_channels", lang, last=max_channels - 1, channels=channels),
                         ha="left", va="top", fontsize=10, color=_MUTED)
            shown = values
            if label == "input" and values.ndim == 3 and values.shape[-1] == 1:
                shown = values[..., 0]                                     # (H, W): the picture itself
            _map_row(fig, top - 1.15, H, W, np.asarray(shown, dtype=np.float64), max_channels, label, lang, cmap)
    return _finish(fig, path, dpi)


# --------------------------------------------------------------------------------------
# confusion matrix and mistakes
# --------------------------------------------------------------------------------------
def _labels(y: Any, owner: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf" or y.ndim not in (1, 2) or len(y) == 0:
        raise ValueError(
            f"{owner}: `y` must be class labels, shape (N,), or one-hot rows, shape (N, classes); got an array of "
            f"shape {y.shape} and dtype {y.dtype}."
        )
    if y.ndim == 2:
        return y.argmax(axis=1) if y.shape[1] > 1 else (y[:, 0] > 0.5).astype(np.intp)
    if y.dtype.kind == "f" and np.any(y != np.round(y)):
        raise ValueError(f"{owner}: `y` must be whole-number class labels; got fractional values.")
    if y.min() < 0:
        raise ValueError(f"{owner}: class labels must be 0 or more; got {y.min():g}.")
    return y.astype(np.intp)


def _predictions(model_or_predictions: Any, x: Any, owner: str, batch_size: int = 256) -> tuple:
    """(predicted labels (N,), probabilities of the predicted class (N,) or None, number of outputs)."""
    if _is_model(model_or_predictions):
        if x is None:
            raise ValueError(f"{owner}: give the inputs x with the model, e.g. {owner}(model, x_test, y_test).")
        if len(model_or_predictions.outputs) != 1:
            raise ValueError(
                f"{owner}: model '{model_or_predictions.name}' has {len(model_or_predictions.outputs)} outputs; give "
                f"the predictions of the one to show instead, e.g. {owner}(model.predict(x_test)[0], y_test)."
            )
        out = np.asarray(model_or_predictions.predict(x, batch_size=batch_size, verbose=0))
    else:
        out = np.asarray(model_or_predictions)
        if out.dtype.kind not in "biuf" or out.ndim not in (1, 2):
            raise ValueError(
                f"{owner}: predictions must be scores of shape (N, classes) or labels of shape (N,); got shape "
                f"{out.shape} and dtype {out.dtype}."
            )
    if out.ndim == 1:
        return _labels(out, owner), None, int(out.max()) + 1 if out.size else 0
    if out.shape[1] == 1:                                                  # one sigmoid output: class 1 if > 0.5
        p = out[:, 0].astype(np.float64)
        labels = (p > 0.5).astype(np.intp)
        return labels, np.where(labels == 1, p, 1 - p), 2
    labels = out.argmax(axis=1)
    return labels, out[np.arange(len(out)), labels].astype(np.float64), out.shape[1]


def _true_and_predicted(model_or_predictions: Any, x: Any, y: Any, owner: str) -> tuple:
    """(true labels, predicted labels, confidence or None, number of model outputs), checked to match."""
    if y is None:
        raise ValueError(
            f"{owner}: give the true labels as y, e.g. {owner}(model, x_test, y_test) or {owner}(predictions, y=y_test)."
        )
    pred, confidence, outputs = _predictions(model_or_predictions, x, owner)
    true = _labels(y, owner)
    if len(true) != len(pred):
        raise ValueError(f"{owner}: {len(pred)} predictions but {len(true)} labels; give one label per sample.")
    return true, pred, confidence, outputs


def confusion_matrix(model_or_predictions: Any, x: Any = None, y: Any = None, num_classes: int | None = None,
                     normalize: bool = False) -> np.ndarray:
    """Count how often each true class is predicted as each class.

    Parameters
    ----------
    model_or_predictions : model, or array
        A model (then ``x`` is predicted), or its predictions: scores (N, classes) or labels (N,).
    x : array, optional
        The inputs, with a model.
    y : array
        True labels (N,) or one-hot (N, classes).
    num_classes : int, optional
        Default: the number of model outputs, or the largest label + 1.
    normalize : bool, default False
        Divide each row by its total: the share of each true class.

    Returns
    -------
    ndarray, shape (classes, classes)
        ``m[t, p]``: samples of true class ``t`` predicted as ``p`` (int), or the share (float).

    Raises
    ------
    ValueError
        If ``y`` is missing or does not match the predictions.
    """
    owner = "confusion_matrix"
    true, pred, _, outputs = _true_and_predicted(model_or_predictions, x, y, owner)
    classes = num_classes or max(outputs, int(true.max()) + 1, int(pred.max()) + 1)
    if true.max() >= classes or pred.max() >= classes:
        raise ValueError(f"{owner}: labels go up to {max(true.max(), pred.max())}, but num_classes={classes}.")
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (true, pred), 1)                                     # (classes, classes)
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        return np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    return matrix


def _class_names(class_names: Any, classes: int, owner: str) -> list:
    if class_names is None:
        return [str(i) for i in range(classes)]
    names = [str(n) for n in class_names]
    if len(names) < classes:
        raise ValueError(f"{owner}: {classes} classes but only {len(names)} class_names; give one name per class.")
    return names


def plot_confusion_matrix(model_or_predictions: Any, x: Any = None, y: Any = None, path: Any = None,
                          lang: str | None = None, normalize: bool = False, class_names: Any = None,
                          dpi: int = 100) -> Any:
    """The confusion matrix as a coloured table: rows are true classes, columns predictions.

    Each cell shows how many samples of its row's class were predicted as its column's class
    (with ``normalize=True``: which share of the row's class); the diagonal holds the right
    answers.  Colours follow the share of the row, so small classes read like big ones.

    Parameters
    ----------
    model_or_predictions : model, or array
        A model (then ``x`` is predicted), or predictions: scores (N, classes) or labels (N,).
    x : array, optional
    y : array
        True labels (N,) or one-hot (N, classes).
    path : str or os.PathLike, optional
    lang : {"en", "zh"}, optional
    normalize : bool, default False
    class_names : list of str, optional
    dpi : int, default 100

    Returns
    -------
    str or matplotlib.figure.Figure
        The cell texts carry the ids ``cell-<true>-<predicted>`` (``Text.get_gid()``).

    Raises
    ------
    ValueError
        If the labels are missing or do not match.
    ImportError
        If matplotlib or Pillow is missing.
    """
    lang = resolve_lang(lang)
    owner = "plot_confusion_matrix"
    _check_path(path, owner)
    dpi = _check_dpi(dpi, owner)
    counts = confusion_matrix(model_or_predictions, x, y)
    classes = counts.shape[0]
    names = _class_names(class_names, classes, owner)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)  # (classes, classes)
    right, total = int(np.trace(counts)), int(counts.sum())

    fig = _figure(FIGURE_SIZES["confusion"], lang)
    with _fonts(fig):
        ax = fig.add_axes((0.1, 0.14, 0.8, 0.68))
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        size = float(np.clip(120 / classes, 5, 14))
        for (t, p), n in np.ndenumerate(counts):
            text = _percent(share[t, p]) if normalize else f"{n:,}"
            colour = "white" if share[t, p] > 0.55 else ("#222222" if t == p or n == 0 else _WRONG)
            if n == 0 and not normalize:
                colour = "#bbbbbb"
            label = ax.text(p, t, text, ha="center", va="center", fontsize=size * (0.8 if normalize else 1),
                            color=colour, fontweight="bold" if t == p else "normal")
            label.set_gid(f"cell-{t}-{p}")
        ax.set_xticks(range(classes))
        ax.set_yticks(range(classes))
        ax.set_xticklabels(names, fontsize=min(11, size))
        ax.set_yticklabels(names, fontsize=min(11, size))
        ax.set_xlabel(tr("mf_cm_pred", lang), fontsize=12)
        ax.set_ylabel(tr("mf_cm_true", lang), fontsize=12)
        ax.xaxis.set_label_position("top")
        ax.xaxis.tick_top()
        for k in range(classes):  # frame the diagonal: the right answers
            ax.add_patch(_rectangle(k, _RIGHT))
        fig.text(0.5, 0.975, tr("mf_cm_title", lang, right=f"{right:,}", total=f"{total:,}",
                                percent=_percent(right / total) if total else "-"),
                 ha="center", va="top", fontsize=15, fontweight="bold")
        note = tr("mf_cm_note_norm" if normalize else "mf_cm_note_counts", lang)
        fig.text(0.5, 0.06, "\n".join(textwrap.wrap(note, 95 if lang == "en" else 50)), ha="center", va="center",
                 fontsize=10.5, color=_MUTED, linespacing=1.5)
    return _finish(fig, path, dpi)


def _rectangle(k: int, colour: str) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((k - 0.5, k - 0.5), 1, 1, fill=False, edgecolor=colour, linewidth=1.5)


def misclassified(model_or_predictions: Any, x: Any = None, y: Any = None) -> dict:
    """The samples the model gets wrong.

    Parameters
    ----------
    model_or_predictions : model, or array
        A model (then ``x`` is predicted), or predictions: scores (N, classes) or labels (N,).
    x : array, optional
    y : array
        True labels (N,) or one-hot (N, classes).

    Returns
    -------
    dict
        ``index`` (positions of the wrong samples, in order), ``true`` and ``predicted``
        (their labels), ``confidence`` (the predicted class's score, or None for labels) and
        ``total`` (number of samples).
    """
    true, pred, confidence, _ = _true_and_predicted(model_or_predictions, x, y, "misclassified")
    wrong = np.flatnonzero(pred != true)
    return {"index": wrong, "true": true[wrong], "predicted": pred[wrong],
            "confidence": None if confidence is None else confidence[wrong], "total": len(true)}


def _picture(sample: np.ndarray, owner: str) -> tuple[np.ndarray, str | None]:
    """An image to draw for one sample, and the colour map (None for RGB)."""
    s = np.asarray(sample, dtype=np.float64)
    if s.ndim == 3 and s.shape[-1] == 1:
        s = s[..., 0]
    if s.ndim == 1 and math.isqrt(s.size) ** 2 == s.size:
        side = math.isqrt(s.size)
        s = s.reshape(side, side)                                          # (side, side)
    if s.ndim == 2:
        return s, "gray"
    if s.ndim == 3 and s.shape[-1] in (3, 4):
        if s.max() > 1.0:
            s = s / 255.0
        return np.clip(s, 0, 1), None
    raise ValueError(
        f"{owner}: cannot draw samples of shape {np.shape(sample)} as pictures; give images (H, W), (H, W, 1) or "
        "(H, W, 3), or flat square images."
    )


def plot_misclassified(model_or_predictions: Any, x: Any, y: Any, path: Any = None, lang: str | None = None,
                       n: int = 25, class_names: Any = None, dpi: int = 100) -> Any:
    """A grid of the first ``n`` images the model gets wrong, with true and predicted labels.

    Parameters
    ----------
    model_or_predictions : model, or array
        A model (then ``x`` is predicted), or its predictions for ``x``.
    x : array
        The images (N, H, W, 1), (N, H, W), (N, H, W, 3), or flat square images (N, H*W).
    y : array
        True labels (N,) or one-hot (N, classes).
    path : str or os.PathLike, optional
    lang : {"en", "zh"}, optional
    n : int, default 25
        At most this many pictures, in a grid of ``ceil(sqrt(n))`` columns.
    class_names : list of str, optional
    dpi : int, default 100

    Returns
    -------
    str or matplotlib.figure.Figure
        Each picture's axes carries the label ``mis-<index of the sample>``.

    Raises
    ------
    ValueError
        If the labels do not match or the samples cannot be drawn.
    ImportError
        If matplotlib or Pillow is missing.
    """
    lang = resolve_lang(lang)
    owner = "plot_misclassified"
    _check_path(path, owner)
    dpi = _check_dpi(dpi, owner)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 100:
        raise ValueError(f"{owner}: `n` must be a whole number from 1 to 100. Received: n={n!r}.")
    if x is None:
        raise ValueError(f"{owner}: give the images x, e.g. {owner}(model, x_test, y_test).")
    wrong = misclassified(model_or_predictions, x, y)
    x = np.asarray(x)
    if len(x) != wrong["total"]:
        raise ValueError(f"{owner}: {len(x)} images but {wrong['total']} labels; give one label per image.")
    shown = min(int(n), len(wrong["index"]))
    classes = max(int(np.max(wrong["true"], initial=0)), int(np.max(wrong["predicted"], initial=0))) + 1
    names = _class_names(class_names, classes, owner) if class_names is not None else None

    def name(label):
        return names[label] if names is not None else str(label)

    fig = _figure(FIGURE_SIZES["misclassified"], lang)
    W, H = FIGURE_SIZES["misclassified"]
    total = wrong["total"]
    with _fonts(fig):
        fig.text(0.5, 0.975, tr("mf_mis_title", lang, wrong=f"{len(wrong['index']):,}", total=f"{total:,}",
                                percent=_percent(len(wrong["index"]) / total), shown=shown),
                 ha="center", va="top", fontsize=15, fontweight="bold")
        fig.text(0.5, 0.945, tr("mf_mis_note", lang), ha="center", va="top", fontsize=10.5, color=_MUTED)
        if shown == 0:
            fig.text(0.5, 0.5, tr("mf_mis_none", lang, total=f"{total:,}"), ha="center", va="center", fontsize=14,
                     color=_RIGHT)
        cols = math.ceil(math.sqrt(n))
        rows = math.ceil(n / cols)
        cell_w, cell_h = (W - 0.6) / cols, (H - 1.0 - 0.2) / rows
        for k in range(shown):
            i = int(wrong["index"][k])
            r, c = divmod(k, cols)
            box = (0.3 + c * cell_w + 0.08 * cell_w, 0.2 + (rows - 1 - r) * cell_h + 0.02 * cell_h,
                   0.84 * cell_w, 0.7 * cell_h)
            ax = fig.add_axes((box[0] / W, box[1] / H, box[2] / W, box[3] / H))
            ax.set_label(f"mis-{i}")
            picture, cmap = _picture(x[i], owner)
            ax.imshow(picture, cmap=cmap, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(_WRONG)
            true, pred = int(wrong["true"][k]), int(wrong["predicted"][k])
            if wrong["confidence"] is None:
                title = tr("mf_mis_tile_labels", lang, true=name(true), pred=name(pred))
            else:
                title = tr("mf_mis_tile", lang, true=name(true), pred=name(pred),
                           percent=_percent(float(wrong["confidence"][k])))
            ax.set_title(title, fontsize=float(np.clip(cell_w * 5, 7, 10)), color="#222222", pad=3)
            ax.text(0.02, 0.98, f"#{i}", transform=ax.transAxes, ha="left", va="top", fontsize=7, color="#ffcc00")
    return _finish(fig, path, dpi)
