"""A text progress bar with the look of Keras 3's ``keras.utils.Progbar``.

While an epoch runs in a terminal (or a Jupyter notebook) the line is redrawn in place::

      12/1875 ━━━━━━━━━━━━━━━━━━━━ 8s 5ms/step - accuracy: 0.5312 - loss: 1.5021

and when it ends the line shows the elapsed time instead of the time left::

    1875/1875 ━━━━━━━━━━━━━━━━━━━━ 5s 2ms/step - accuracy: 0.9193 - loss: 0.2769

With ``verbose=2`` only the final line is printed, in a compact form::

    1875/1875 - 5s - 2ms/step - accuracy: 0.9193 - loss: 0.2769

When standard output is not interactive (a file, a pipe, a CI log), a redrawn line would pile up
as thousands of lines, so only the final line of each bar is printed.

Two module-level hooks let a program (or a test) take control:

``FORCE_INTERACTIVE``
    ``None`` (default) detects the kind of output; ``True`` or ``False`` forces it for every new bar.
``clock``
    The function that gives the current time in seconds (default :func:`time.monotonic`).
"""

import os
import sys
import time

import numpy as np

#: ``None`` detects whether stdout is interactive; ``True``/``False`` forces it for new bars.
FORCE_INTERACTIVE = None

#: The time source, in seconds. Replace it to get reproducible times.
clock = time.monotonic

_BAR_GLYPH = "\u2501"  # '━', the heavy horizontal line Keras 3 draws its bar with
_BOLD, _GREEN, _WHITE, _RESET = "\x1b[1m", "\x1b[32m", "\x1b[37m", "\x1b[0m"

# True while an interactive bar has drawn a line that has not ended yet; print_message() ends
# it first so that messages from callbacks start on a line of their own.
_line_open = False


def print_message(message):
    """Print one line of text, first ending a progress line that is still being redrawn.

    Parameters
    ----------
    message : str
        The text to print; a newline is added.
    """
    global _line_open
    out = sys.stdout
    if _line_open:
        out.write("\n")
        _line_open = False
    out.write(f"{message}\n")
    out.flush()


def format_eta(seconds):
    """Format the time left as Keras does: ``8s``, ``2:05`` or ``1:02:05``.

    Parameters
    ----------
    seconds : float
        Estimated seconds left.

    Returns
    -------
    str
    """
    if seconds > 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds > 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{int(seconds)}s"


def format_time_per_unit(seconds, unit_name="step"):
    """Format the time one step takes, in the largest unit that keeps the number at least 1.

    Parameters
    ----------
    seconds : float
        Duration of one step, in seconds.
    unit_name : str, default "step"
        Name of the unit counted by the bar.

    Returns
    -------
    str
        For example ``"2s/step"``, ``"5ms/step"`` or ``"80us/step"`` (``"0s/step"`` before any step).
    """
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def format_value(value):
    """Format a metric value as Keras does: 4 decimals, or scientific notation when tiny.

    Parameters
    ----------
    value : float or str
        A number, or text that is shown unchanged.

    Returns
    -------
    str
    """
    if isinstance(value, str):
        return value
    if abs(value) > 1e-3:
        return f"{value:.4f}"
    return f"{value:.4e}"


def _as_number(value):
    """Return ``value`` as a Python float (the mean of an array), or as text if it is not numeric."""
    if isinstance(value, str):
        return value
    try:
        return float(np.mean(np.asarray(value, dtype=np.float64)))
    except (TypeError, ValueError):
        return str(value)


def _stdout_is_interactive():
    """Whether stdout redraws a line on ``\\r``: a terminal, a Jupyter kernel or PyCharm's console."""
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        tty = bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        tty = False
    # In a Jupyter kernel, stdout is ipykernel's OutStream, which the notebook redraws on "\r"
    # (ipykernel merely imported, as a test runner may do, does not make stdout a notebook's)
    kernel = type(sys.stdout).__module__.startswith("ipykernel")
    return tty or kernel or "PYCHARM_HOSTED" in os.environ


def _stdout_can_draw_glyph():
    """Whether stdout's encoding can encode the bar glyph (old Windows consoles cannot)."""
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    try:
        _BAR_GLYPH.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _stdout_supports_color():
    """Whether ANSI colour codes are likely to be understood by the interactive stdout."""
    if "NO_COLOR" in os.environ:
        return False
    if os.name == "nt":
        return any(name in os.environ for name in ("WT_SESSION", "ANSICON", "TERM", "TERM_PROGRAM"))
    return True


class Progbar:
    """Display a progress bar.

    Parameters
    ----------
    target : int or None
        Total number of steps expected, or None if unknown.
    width : int, default 20
        Width of the bar, in characters.
    verbose : {0, 1, 2}, default 1
        0 is silent, 1 draws the bar, 2 prints one line when the bar finishes.
    interval : float, default 0.05
        Minimum time between two redraws, in seconds.
    stateful_metrics : iterable of str, optional
        Names of values shown as given. All other values are averaged over the steps
        (each update's value weighted by the number of steps it covers).
    unit_name : str, default "step"
        Name of what is counted, shown in the time per unit (``5ms/step``).
    interactive : bool, optional
        Keyword only. Whether to redraw one line in place (True) or print only the final
        line (False). None (default) uses ``FORCE_INTERACTIVE`` if set, else detects
        whether stdout is a terminal or a Jupyter kernel.

    Raises
    ------
    ValueError
        If an argument is out of range (negative target, width < 1, verbose not 0/1/2,
        negative interval).
    """

    def __init__(
        self,
        target,
        width=20,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        unit_name="step",
        *,
        interactive=None,
    ):
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, np.integer)) or target < 0):
            raise ValueError(
                f"Progbar expects `target` to be a non-negative integer (the number of steps) or None "
                f"when unknown; received target={target!r}."
            )
        if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
            raise ValueError(f"Progbar expects `width` to be a positive integer; received width={width!r}.")
        if verbose not in (0, 1, 2) or isinstance(verbose, bool):
            raise ValueError(
                f"Progbar expects `verbose` to be 0 (silent), 1 (progress bar) or 2 (one line at the end); "
                f"received verbose={verbose!r}."
            )
        if not isinstance(interval, (int, float)) or isinstance(interval, bool) or interval < 0:
            raise ValueError(
                f"Progbar expects `interval` to be a number of seconds >= 0; received interval={interval!r}."
            )
        self.target = None if target is None else int(target)
        self.width = int(width)
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        self.stateful_metrics = set(stateful_metrics) if stateful_metrics else set()

        if interactive is None:
            interactive = FORCE_INTERACTIVE if FORCE_INTERACTIVE is not None else _stdout_is_interactive()
        self._dynamic_display = bool(interactive)
        self._ascii = not _stdout_can_draw_glyph()
        self._color = self._dynamic_display and not self._ascii and _stdout_supports_color()

        self._seen_so_far = 0
        self._values = {}  # name -> [weighted sum, total weight]
        self._values_order = []  # names in the order they were first given
        self._start = clock()
        self._last_update = None
        self._time_after_first_step = None
        self._prev_total_width = 0

    def update(self, current, values=None, finalize=None):
        """Update the progress bar.

        Parameters
        ----------
        current : int
            Number of steps done so far.
        values : list of (str, value) tuples, optional
            Values for the steps since the last update. A value whose name is in
            ``stateful_metrics`` is shown as given; other values are averaged over time.
            Arrays and lists are reduced to their mean.
        finalize : bool, optional
            Whether this is the last update. Defaults to ``current >= target``
            (and to False when the target is unknown).
        """
        global _line_open
        if finalize is None:
            finalize = self.target is not None and current >= self.target

        for name, raw in values or []:
            value = _as_number(raw)
            if name not in self._values_order:
                self._values_order.append(name)
            if name in self.stateful_metrics or isinstance(value, str):
                self._values[name] = [value, 1]
            else:
                weight = max(current - self._seen_so_far, 1)
                total, count = self._values.get(name, [0.0, 0])
                self._values[name] = [total + value * weight, count + weight]
        self._seen_so_far = current

        now = clock()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if not finalize:
                if not self._dynamic_display:
                    return  # a non-interactive output only gets the final line
                if self._last_update is not None and now - self._last_update < self.interval:
                    return
            line, visible_width = self._verbose1_line(current, now, time_per_unit, finalize)
            if self._dynamic_display:
                padding = " " * max(self._prev_total_width - visible_width, 0)
                text = f"\r{line}{padding}"
            else:
                text = line
            self._prev_total_width = visible_width
            if finalize:
                text += "\n"
            sys.stdout.write(text)
            sys.stdout.flush()
            _line_open = self._dynamic_display and not finalize
            self._last_update = now
        elif self.verbose == 2 and finalize:
            if self.target is None:
                count = f"{current}/Unknown"
            else:
                count = f"{current:{len(str(self.target))}d}/{self.target}"
            line = f"{count} - {now - self._start:.0f}s - {format_time_per_unit(time_per_unit, self.unit_name)}"
            line += self._metrics_text()
            print_message(line)
            self._last_update = now

    def add(self, n, values=None):
        """Advance the bar by ``n`` steps; see :meth:`update` for ``values``."""
        self.update(self._seen_so_far + n, values)

    def _verbose1_line(self, current, now, time_per_unit, finalize):
        """Build the verbose-1 line; returns it and its width on screen (without colour codes)."""
        if self.target is None:
            count = f"{current:7d}/Unknown"
            bar_done = bar_rest = ""
        else:
            count = f"{current:{len(str(self.target))}d}/{self.target}"
            progress = current / self.target if self.target else 1.0
            done = min(int(self.width * progress), self.width)
            if self._ascii:
                if done > 0:
                    bar_done = "[" + "=" * (done - 1) + (">" if current < self.target else "=")
                else:
                    bar_done = "["
                bar_rest = "." * (self.width - done) + "]"
            else:
                bar_done = _BAR_GLYPH * done
                bar_rest = _BAR_GLYPH * (self.width - done)

        if self.target is not None and not finalize:
            clock_text = format_eta(time_per_unit * (self.target - current))  # time left
        else:
            clock_text = f"{now - self._start:.0f}s"  # time elapsed
        tail = f" {format_time_per_unit(time_per_unit, self.unit_name)}{self._metrics_text()}"

        bar = f" {bar_done}{bar_rest}" if self.target is not None else ""
        visible_width = len(count) + len(bar) + 1 + len(clock_text) + len(tail)
        if self._color:
            count = f"{_BOLD}{count}{_RESET}"
            if self.target is not None:
                bar = " "
                bar += f"{_GREEN}{bar_done}{_RESET}" if bar_done else ""
                bar += f"{_WHITE}{bar_rest}{_RESET}" if bar_rest else ""
            clock_text = f"{_BOLD}{clock_text}{_RESET}"
        return f"{count}{bar} {clock_text}{tail}", visible_width

    def _metrics_text(self):
        """The `` - name: value`` part of a line, in the order the names were first given."""
        parts = []
        for name in self._values_order:
            total, count = self._values[name]
            shown = total if isinstance(total, str) else total / max(count, 1)
            parts.append(f" - {name}: {format_value(shown)}")
        return "".join(parts)

    def _estimate_step_duration(self, current, now):
        """Seconds per step; the first step (often slow: warm-up, allocation) is left out once
        later steps are available."""
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


__all__ = [
    "FORCE_INTERACTIVE",
    "Progbar",
    "clock",
    "format_eta",
    "format_time_per_unit",
    "format_value",
    "print_message",
]
