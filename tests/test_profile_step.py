"""benchmarks/profile_step.py: the per-kernel breakdown of a training step (its structure, never its timings)."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import profile_step  # noqa: E402  (benchmarks/ is not a package)

from convlearn.ops import blas, parallel  # noqa: E402


@pytest.fixture
def threads_restored():
    before = parallel.get_num_threads()
    yield
    parallel.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
def test_the_profile_names_the_kernels_of_the_guide_step(threads, threads_restored):
    per_step, table = profile_step.profile("guide", threads, steps=3)
    assert per_step > 0
    assert "conv2d_maxpool_forward.part" in table and "conv2d_maxpool_backward.part" in table
    for calls, wall, here, workers in table.values():
        assert calls > 0 and wall >= here >= 0 and workers >= 0
        if threads == 1:
            assert workers == 0                              # one thread: every part ran in the caller


def test_the_profile_puts_the_kernels_back(threads_restored):
    run = parallel.run
    profile_step.profile("guide", 1, steps=1)
    assert parallel.run is run


def test_the_command_refuses_zero_steps(capsys):
    with pytest.raises(SystemExit):
        profile_step.main(["guide", "--steps", "0"])
    assert "--threads and --steps must be at least 1" in capsys.readouterr().err


# --layers: the per-layer-call table

@pytest.mark.parametrize("threads", [1, 2])
def test_the_layer_profile_counts_the_guide_products(threads, threads_restored):
    per_step, rows, (here, elsewhere), batch_size = profile_step.profile_layers("guide", threads, steps=3)
    assert per_step > 0 and batch_size == 32
    # the guide's plan: the fused Conv2D + MaxPool2D, Flatten, Dense(100), Dense(10)
    # (names carry a number when other models were built first)
    assert len(rows) == 4
    names = [r[0] for r in rows]
    assert names[0].startswith("conv2d") and "max_pooling2d" in names[0]
    assert names[1].startswith("flatten") and names[2].startswith("dense") and names[3].startswith("dense")
    conv, flatten, dense, dense_1 = (tuple(r[1:]) for r in rows)
    # Conv2D(32, 3x3) on 28x28x1: 3*3*1*32 weights at 26*26 positions, per sample of 32
    assert conv[2] == 32 * 288 * 26 * 26
    assert conv[3] == conv[2]                      # the first layer computes no input gradient
    assert dense[2] == 32 * 5408 * 100 and dense[3] == 2 * dense[2]
    assert dense_1[2] == 32 * 100 * 10 and dense_1[3] == 2 * dense_1[2]
    assert flatten[2:] == (0, 0)                    # no matrix product
    for fwd, bwd, _, _ in (conv, flatten, dense, dense_1):
        assert fwd > 0 and bwd >= 0
    assert here >= 0
    if threads == 1:
        assert elsewhere == 0                       # every update ran in the step's thread
    else:
        assert elsewhere > 0                        # Dense(100)'s update runs beside the step


def test_the_layer_profile_puts_the_schedule_back(threads_restored):
    init = profile_step.schedule.TrainingSchedule.__init__
    profile_step.profile_layers("guide", 1, steps=1)
    assert profile_step.schedule.TrainingSchedule.__init__ is init


def test_the_core_peak_leaves_blas_threads_as_they_were():
    controls = blas.thread_controls()
    before = controls[0]() if controls else None
    assert profile_step.core_peak(size=128, repeats=2) > 0
    if controls:
        assert controls[0]() == before


def test_the_command_prints_the_layer_table(capsys, threads_restored):
    assert profile_step.main(["guide", "--steps", "2", "--threads", "1", "--layers"]) == 0
    out = capsys.readouterr().out
    assert "guide, 1 thread(s), batch 32:" in out
    assert "weight update" in out and "GFLOP per step (dense-equivalent)" in out
    assert "One core's large float32 matrix product here:" in out
