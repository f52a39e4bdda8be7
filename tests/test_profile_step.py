"""benchmarks/profile_step.py: the per-kernel breakdown of a training step (its structure, never its timings)."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import profile_step  # noqa: E402  (benchmarks/ is not a package)

from convlearn.ops import parallel  # noqa: E402


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
