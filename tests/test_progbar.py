"""Tests of convlearn.progbar: layout, timing text, averaging, output modes, errors."""

import io
import re
import sys
import types

import numpy as np
import pytest

from convlearn import progbar
from convlearn.progbar import Progbar, format_eta, format_time_per_unit, format_value, print_message

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BAR = "\u2501"


def plain(text):
    """Text without colour codes."""
    return ANSI.sub("", text)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start=100.0):
        self.now = start

    def __call__(self):
        return self.now


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(progbar, "clock", clock)
    return clock


@pytest.fixture(autouse=True)
def detect_output_kind(monkeypatch):
    # Every test starts from automatic detection, whatever the environment running pytest.
    monkeypatch.setattr(progbar, "FORCE_INTERACTIVE", None)
    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def run_epoch(bar, clock, steps, seconds_per_step, values=None):
    """Drive ``bar`` through ``steps`` steps, ``seconds_per_step`` apart."""
    for step in range(1, steps + 1):
        clock.now += seconds_per_step
        bar.update(step, values(step) if values else None)


# ------------------------------------------------------------------ formatting helpers

@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0s/step"), (2.4, "2s/step"), (1.0, "1s/step"), (0.005, "5ms/step"), (0.0123, "12ms/step"),
     (0.001, "1ms/step"), (8e-5, "80us/step"), (9.99e-4, "999us/step")],
)
def test_format_time_per_unit_picks_seconds_milliseconds_or_microseconds(seconds, text):
    assert format_time_per_unit(seconds) == text


def test_format_time_per_unit_uses_the_unit_name():
    assert format_time_per_unit(0.004, "sample") == "4ms/sample"


@pytest.mark.parametrize(
    "seconds, text", [(0, "0s"), (8.7, "8s"), (60, "60s"), (125, "2:05"), (3599, "59:59"), (3725, "1:02:05")]
)
def test_format_eta(seconds, text):
    assert format_eta(seconds) == text


@pytest.mark.parametrize(
    "value, text",
    [(0.91934, "0.9193"), (1.5021, "1.5021"), (-0.25, "-0.2500"), (1e-4, "1.0000e-04"), (0.0, "0.0000e+00"),
     (-2e-5, "-2.0000e-05"), (12345.678, "12345.6780"), ("n/a", "n/a")],
)
def test_format_value_four_decimals_or_scientific_when_tiny(value, text):
    assert format_value(value) == text


# ------------------------------------------------------------------ verbose=1, non-interactive

def test_non_interactive_prints_only_the_final_line(fake_clock, capsys):
    bar = Progbar(1875, stateful_metrics=["accuracy", "loss"], interactive=False)
    run_epoch(bar, fake_clock, 1875, 0.002, lambda step: [("accuracy", 0.9193), ("loss", 0.2769)])
    out = capsys.readouterr().out
    assert out == f"1875/1875 {BAR * 20} 4s 2ms/step - accuracy: 0.9193 - loss: 0.2769\n"


def test_non_interactive_output_has_no_carriage_return_or_colour(fake_clock, capsys):
    bar = Progbar(10, interactive=False)
    run_epoch(bar, fake_clock, 10, 0.5, lambda step: [("loss", 1.0)])
    out = capsys.readouterr().out
    assert "\r" not in out and "\x1b" not in out
    assert out.count("\n") == 1


def test_final_line_shows_elapsed_time_not_eta(fake_clock, capsys):
    bar = Progbar(4, interactive=False)
    run_epoch(bar, fake_clock, 4, 30.0)  # 120 s in all: elapsed is printed in seconds, as Keras does
    assert capsys.readouterr().out == f"4/4 {BAR * 20} 120s 30s/step\n"


# ------------------------------------------------------------------ verbose=1, interactive

def test_interactive_redraws_in_place_with_eta(fake_clock, capsys):
    bar = Progbar(1875, interval=0.0, stateful_metrics=["accuracy", "loss"], interactive=True)
    run_epoch(bar, fake_clock, 12, 0.005, lambda step: [("accuracy", 0.5312), ("loss", 1.5021)])
    out = plain(capsys.readouterr().out)
    frames = out.split("\r")[1:]
    assert len(frames) == 12
    # 1863 steps left at 5 ms each: 9.3 s.
    assert frames[-1] == f"  12/1875 {BAR * 20} 9s 5ms/step - accuracy: 0.5312 - loss: 1.5021"
    assert "\n" not in out
    bar.update(1875, [("accuracy", 0.9193), ("loss", 0.2769)])  # ends the line for the next test
    assert plain(capsys.readouterr().out).endswith("- accuracy: 0.9193 - loss: 0.2769\n")


def test_interactive_bar_fills_in_proportion_and_is_coloured(fake_clock, capsys):
    bar = Progbar(1875, interval=0.0, interactive=True)
    fake_clock.now += 1.0
    bar.update(1000)
    out = capsys.readouterr().out
    # int(20 * 1000 / 1875) = 10 cells done, in green; the 10 left in white; counts in bold.
    assert f"\x1b[32m{BAR * 10}\x1b[0m\x1b[37m{BAR * 10}\x1b[0m" in out
    assert "\x1b[1m1000/1875\x1b[0m" in out
    bar.update(1875)
    final = capsys.readouterr().out
    assert f"\x1b[32m{BAR * 20}\x1b[0m " in final
    assert "\x1b[37m" not in final


def test_no_colour_when_no_color_is_set(fake_clock, capsys, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    bar = Progbar(5, interval=0.0, interactive=True)
    run_epoch(bar, fake_clock, 5, 0.1)
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert out.endswith(f"\r5/5 {BAR * 20} 0s 100ms/step\n")


def test_interactive_redraws_at_most_every_interval(fake_clock, capsys):
    bar = Progbar(100, interval=0.05, interactive=True)
    run_epoch(bar, fake_clock, 100, 0.01)  # a step every 10 ms: one redraw every 5 steps
    out = plain(capsys.readouterr().out)
    shown = [int(frame.split("/")[0]) for frame in out.split("\r")[1:]]
    assert shown[0] == 1 and shown[-1] == 100
    assert all(b - a >= 5 for a, b in zip(shown[:-2], shown[1:-1]))
    assert len(shown) == 21  # step 1, then 6, 11, ..., 96, then the final line


def test_shorter_redraw_is_padded_over_the_longer_one(fake_clock, capsys):
    bar = Progbar(3, interval=0.0, stateful_metrics=["loss"], interactive=True)
    fake_clock.now += 1
    bar.update(1, [("loss", 12345.678)])
    first = plain(capsys.readouterr().out)
    fake_clock.now += 1
    bar.update(2, [("loss", 0.5)])  # "0.5000" is 4 characters shorter than "12345.6780"
    second = plain(capsys.readouterr().out)
    assert first == f"\r1/3 {BAR * 6}{BAR * 14} 2s 1s/step - loss: 12345.6780"
    assert second == f"\r2/3 {BAR * 13}{BAR * 7} 1s 1s/step - loss: 0.5000    "
    bar.update(3)
    capsys.readouterr()


def test_line_is_ended_before_a_message(fake_clock, capsys):
    bar = Progbar(10, interval=0.0, interactive=True)
    fake_clock.now += 1
    bar.update(3)
    print_message("Epoch 1: saving model to model.keras")
    out = plain(capsys.readouterr().out)
    assert out.endswith("\nEpoch 1: saving model to model.keras\n")
    print_message("next")
    assert capsys.readouterr().out == "next\n"  # no blank line once the bar's line is ended


# ------------------------------------------------------------------ verbose=2 and verbose=0

def test_verbose_2_prints_one_compact_line(fake_clock, capsys):
    bar = Progbar(1875, verbose=2, stateful_metrics=["accuracy", "loss"], interactive=True)
    run_epoch(bar, fake_clock, 1875, 0.002, lambda step: [("accuracy", 0.9193), ("loss", 0.2769)])
    assert capsys.readouterr().out == "1875/1875 - 4s - 2ms/step - accuracy: 0.9193 - loss: 0.2769\n"


def test_verbose_0_prints_nothing(fake_clock, capsys):
    bar = Progbar(5, verbose=0, interactive=True)
    run_epoch(bar, fake_clock, 5, 0.1, lambda step: [("loss", 1.0)])
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ unknown target

def test_unknown_target_shows_count_and_elapsed_time(fake_clock, capsys):
    bar = Progbar(None, interval=0.0, interactive=True)
    run_epoch(bar, fake_clock, 12, 0.25, lambda step: [("loss", 0.5)])
    out = plain(capsys.readouterr().out)
    assert out.split("\r")[-1] == "     12/Unknown 3s 250ms/step - loss: 0.5000"
    assert BAR not in out
    bar.update(12, finalize=True)
    assert plain(capsys.readouterr().out).endswith("     12/Unknown 3s 250ms/step - loss: 0.5000\n")


def test_unknown_target_does_not_finalize_by_itself(fake_clock, capsys):
    bar = Progbar(None, interactive=False)
    run_epoch(bar, fake_clock, 50, 0.01)
    assert capsys.readouterr().out == ""
    bar.update(50, finalize=True)
    assert capsys.readouterr().out.startswith("     50/Unknown ")


def test_unknown_target_verbose_2(fake_clock, capsys):
    bar = Progbar(None, verbose=2)
    run_epoch(bar, fake_clock, 7, 1.0)
    bar.update(7, finalize=True)
    assert capsys.readouterr().out == "7/Unknown - 7s - 1s/step\n"


# ------------------------------------------------------------------ ASCII fallback

@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_ascii_bar_when_stdout_cannot_encode_the_glyph(fake_clock, monkeypatch, encoding):
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding=encoding)
    monkeypatch.setattr(sys, "stdout", stream)
    bar = Progbar(20, width=10, interval=0.0, interactive=True)
    fake_clock.now += 1
    bar.update(7)
    bar.update(20)
    stream.flush()
    out = raw.getvalue().decode(encoding)
    frames = out.split("\r")[1:]
    assert frames[0].startswith(" 7/20 [==>.......] ")  # int(10 * 7 / 20) = 3 cells: '==' then '>'
    assert frames[1].startswith("20/20 [==========] ")
    assert "\x1b" not in out  # consoles without the glyph are old consoles: no colour codes either


def test_ascii_bar_empty_and_non_interactive(fake_clock, monkeypatch):
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    monkeypatch.setattr(sys, "stdout", stream)
    bar = Progbar(100, width=5, interactive=False)
    bar.update(100)
    stream.flush()
    assert raw.getvalue().decode("ascii").startswith("100/100 [=====] ")
    progress = Progbar(100, width=5, interval=0.0, interactive=True)
    progress.update(10)  # int(5 * 0.1) = 0 cells
    progress.update(100)
    stream.flush()
    assert "\r 10/100 [.....] " in raw.getvalue().decode("ascii")


# ------------------------------------------------------------------ values

def test_values_are_averaged_weighted_by_steps(fake_clock, capsys):
    bar = Progbar(4, interactive=False)
    bar.update(1, [("loss", 1.0)])
    bar.update(3, [("loss", 4.0)])  # covers 2 steps
    bar.update(4, [("loss", 2.0)])
    # (1*1 + 4*2 + 2*1) / 4 = 2.75
    assert capsys.readouterr().out.endswith(" - loss: 2.7500\n")


def test_stateful_values_are_shown_as_given(fake_clock, capsys):
    bar = Progbar(3, stateful_metrics={"accuracy"}, interactive=False)
    bar.update(1, [("accuracy", 0.2), ("loss", 3.0)])
    bar.update(2, [("accuracy", 0.4), ("loss", 1.0)])
    bar.update(3, [("accuracy", 0.9), ("loss", 2.0)])
    assert capsys.readouterr().out.endswith(" - accuracy: 0.9000 - loss: 2.0000\n")


def test_names_keep_the_order_they_were_first_given(fake_clock, capsys):
    bar = Progbar(2, interactive=False)
    bar.update(1, [("loss", 1.0)])
    bar.update(2, [("accuracy", 0.5), ("loss", 1.0)])
    assert capsys.readouterr().out.endswith(" - loss: 1.0000 - accuracy: 0.5000\n")


def test_arrays_and_lists_are_reduced_to_their_mean_and_text_is_kept(fake_clock, capsys):
    bar = Progbar(1, stateful_metrics=["m"], interactive=False)
    bar.update(1, [("m", [0.0, 1.0, 2.0]), ("n", np.array(0.5, dtype=np.float32)), ("note", "warm-up")])
    assert capsys.readouterr().out.endswith(" - m: 1.0000 - n: 0.5000 - note: warm-up\n")


def test_add_advances_by_n(fake_clock, capsys):
    bar = Progbar(5, interactive=False)
    bar.add(2, [("loss", 1.0)])
    bar.add(3, [("loss", 2.0)])
    # weights 2 and 3: (2 + 6) / 5 = 1.6; the count reached the target, so the line is final
    assert capsys.readouterr().out.startswith(f"5/5 {BAR * 20} ")
    assert bar._seen_so_far == 5


def test_time_per_step_leaves_out_the_slow_first_step(fake_clock, capsys):
    bar = Progbar(11, interactive=False)
    fake_clock.now += 5.0  # first step: 5 s of warm-up
    bar.update(1)
    for step in range(2, 12):
        fake_clock.now += 0.01
        bar.update(step)
    assert capsys.readouterr().out == f"11/11 {BAR * 20} 5s 10ms/step\n"


def test_finalize_can_be_forced_before_the_target(fake_clock, capsys):
    bar = Progbar(10, interactive=False)
    fake_clock.now += 1
    bar.update(4, finalize=True)
    assert capsys.readouterr().out == f" 4/10 {BAR * 8}{BAR * 12} 1s 250ms/step\n"


# ------------------------------------------------------------------ output kind detection

def test_module_hook_forces_interactive_mode(fake_clock, capsys, monkeypatch):
    monkeypatch.setattr(progbar, "FORCE_INTERACTIVE", True)
    bar = Progbar(2, interval=0.0)
    bar.update(1)
    bar.update(2)
    assert capsys.readouterr().out.count("\r") == 2


def test_constructor_argument_wins_over_the_module_hook(fake_clock, capsys, monkeypatch):
    monkeypatch.setattr(progbar, "FORCE_INTERACTIVE", True)
    bar = Progbar(2, interval=0.0, interactive=False)
    bar.update(1)
    bar.update(2)
    assert "\r" not in capsys.readouterr().out


def test_captured_stdout_is_detected_as_not_interactive(fake_clock, capsys):
    bar = Progbar(2, interval=0.0)
    bar.update(1)
    assert capsys.readouterr().out == ""
    bar.update(2)
    assert capsys.readouterr().out.startswith("2/2 ")


def test_a_jupyter_kernel_is_detected_as_interactive(fake_clock, monkeypatch):
    class OutStream(io.StringIO):     # what a Jupyter kernel puts in sys.stdout
        pass

    OutStream.__module__ = "ipykernel.iostream"
    stream = OutStream()
    monkeypatch.setattr(sys, "stdout", stream)
    bar = Progbar(2, interval=0.0)
    bar.update(1)
    bar.update(2)
    assert stream.getvalue().count("\r") == 2


def test_ipykernel_imported_in_a_plain_process_is_not_a_notebook(fake_clock, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    bar = Progbar(2, interval=0.0)
    bar.update(1)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("target", [-1, 2.5, "10", True])
def test_bad_target_is_rejected(target):
    with pytest.raises(ValueError, match=r"`target` to be a non-negative integer .* or None"):
        Progbar(target)


@pytest.mark.parametrize("width", [0, -3, 1.5])
def test_bad_width_is_rejected(width):
    with pytest.raises(ValueError, match=r"`width` to be a positive integer; received width="):
        Progbar(10, width=width)


@pytest.mark.parametrize("verbose", [3, -1, "1", True])
def test_bad_verbose_is_rejected(verbose):
    with pytest.raises(ValueError, match=r"`verbose` to be 0 \(silent\), 1 \(progress bar\) or 2"):
        Progbar(10, verbose=verbose)


@pytest.mark.parametrize("interval", [-0.1, "fast"])
def test_bad_interval_is_rejected(interval):
    with pytest.raises(ValueError, match=r"`interval` to be a number of seconds >= 0"):
        Progbar(10, interval=interval)


def test_numpy_integer_target_is_accepted(fake_clock, capsys):
    bar = Progbar(np.int64(3), interactive=False)
    bar.update(3)
    assert capsys.readouterr().out.startswith("3/3 ")
