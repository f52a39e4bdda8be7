"""``convlearn explain`` on the command line: topics, languages, colours, user input, errors."""

import argparse
import io
import os
import subprocess
import sys

import numpy as np
import pytest

from convlearn.explain import cli
from convlearn.explain.i18n import latin_words

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


class _Tty(io.StringIO):
    def isatty(self):
        return True


def run_cli(argv, stdout=None, env=None, monkeypatch=None):
    out = io.StringIO() if stdout is None else stdout
    err = io.StringIO()
    args = cli.build_parser(lang="en").parse_args(argv)
    if monkeypatch is not None:
        for key in ("NO_COLOR", "TERM", "LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES"):
            monkeypatch.delenv(key, raising=False)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
    rc = cli.run(args, stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("topic", cli.TOPICS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_topic_runs(topic, lang):
    rc, out, err = run_cli([topic, "--lang", lang])
    assert rc == 0 and err == ""
    assert len(out.splitlines()) > 5
    if lang == "zh":
        assert latin_words(out) == []


def test_language_follows_the_locale(monkeypatch):
    _, out, _ = run_cli(["relu"], env={"LANG": "zh_CN.UTF-8"}, monkeypatch=monkeypatch)
    assert "激活函数" in out
    _, out, _ = run_cli(["relu"], env={"LANG": "en_US.UTF-8"}, monkeypatch=monkeypatch)
    assert "Activation function" in out
    _, out, _ = run_cli(["relu", "--lang", "en"], env={"LC_ALL": "zh_CN.UTF-8"}, monkeypatch=monkeypatch)
    assert "Activation function" in out


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    assert "\x1b[" not in run_cli(["conv"], monkeypatch=monkeypatch)[1]  # not a terminal
    assert "\x1b[" in run_cli(["conv"], stdout=_Tty(), monkeypatch=monkeypatch)[1]
    assert "\x1b[" not in run_cli(["conv"], stdout=_Tty(), env={"NO_COLOR": "1"}, monkeypatch=monkeypatch)[1]
    assert "\x1b[" not in run_cli(["conv"], stdout=_Tty(), env={"TERM": "dumb"}, monkeypatch=monkeypatch)[1]
    assert "\x1b[" in run_cli(["conv", "--color", "always"], env={"NO_COLOR": "1"}, monkeypatch=monkeypatch)[1]
    assert "\x1b[" not in run_cli(["conv", "--color", "never"], stdout=_Tty(), monkeypatch=monkeypatch)[1]
    plain = run_cli(["conv"], monkeypatch=monkeypatch)[1]
    assert "[0][0][0]" in plain.replace(" ", "") and "<1>" in plain.replace(" ", "")


def test_own_matrices_stride_and_padding():
    rc, out, _ = run_cli(["conv", "--image", "1,2,3,4;5,6,7,8;9,10,11,12", "--kernel", "1,0;0,-1", "--stride", "2",
                          "--padding", "same", "--steps", "all"])
    assert rc == 0
    assert "out = ceil(3 / 2) = 2" in out and "out = ceil(4 / 2) = 2" in out
    assert "Step 4 of 4" in out
    # first window: (1, 2; 5, 6) with filter (1, 0; 0, -1) -> 1 - 6 = -5
    assert "1×1 + 2×0 + 5×0 + 6×(-1) = -5" in out


def test_matrices_from_files(tmp_path):
    np.save(tmp_path / "kernel.npy", np.array([[0.0, 1.0], [1.0, 0.0]]))
    (tmp_path / "image.csv").write_text("# a 3x3 image\n1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "values.txt").write_text("1 -2\n-3 4\n")
    rc, out, _ = run_cli(["conv", "--image", str(tmp_path / "image.csv"), "--kernel", str(tmp_path / "kernel.npy")])
    assert rc == 0 and "1×0 + 2×1 + 4×1 + 5×0 = 6" in out
    rc, out, _ = run_cli(["relu", "--values", str(tmp_path / "values.txt")])
    assert rc == 0 and "2 of the 4 values were negative" in out


def test_pool_dense_softmax_options():
    rc, out, _ = run_cli(["pool", "--values", "1,3,2,4;5,6,7,8;9,2,1,0;3,4,5,6", "--pool", "avg"])
    assert rc == 0 and "(1 + 3 + 5 + 6) / 4 = 3.75" in out
    rc, out, _ = run_cli(["pool", "--values", "1,3,2;5,6,7;9,2,1", "--pool-size", "2", "--pool-stride", "1"])
    assert rc == 0 and "max(1, 3, 5, 6) = 6" in out and "max(6, 7, 2, 1) = 7" in out
    rc, out, _ = run_cli(["dense", "--inputs", "1,2", "--weights", "0.5,-1;0.25,2", "--bias", "0.1,0",
                          "--classes", "cat,dog"])
    assert rc == 0 and "class cat: z = 1×0.5 + 2×0.25 + 0.1 = 1.1" in out
    rc, out, _ = run_cli(["softmax", "--scores", "2.0,1.0,0.1", "--classes", "猫,狗,鸟", "--lang", "zh"])
    assert rc == 0 and "预测类别：猫（概率 65.9%）" in out


@pytest.mark.parametrize(
    "argv,en,zh",
    [
        (["conv", "--stride", "0"], "stride must be at least 1; got '0'", "至少为 1"),
        (["conv", "--stride", "two"], "stride must be a whole number", "必须是一个整数"),
        (["conv", "--padding", "full"], "padding must be", "填充必须是"),
        (["conv", "--image", "1,0;1"], "every row needs the same number of values", "每一行的值个数必须相同"),
        (["conv", "--kernel", "1,x"], "row 0, column 1 is 'x', which is not a number", "不是数字"),
        (["conv", "--image", "1,0;0,1", "--kernel", "1,1,1;1,1,1;1,1,1"], "the 3×3 filter does not fit", "放不进"),
        (["pool", "--pool", "min"], "pool must be", "池化类型必须是"),
        (["pool", "--pool-size", "9"], "pooling window does not fit", "池化窗口放不进"),
        (["input", "--pixels", "0,256"], "raw pixels must lie between 0 and 255", "0 到 255 之间"),
        (["conv", "--steps", "x"], "--steps must be a whole number (0 or more) or `'all'`; got 'x'", "必须是整数"),
        (["dense", "--weights", "1,2,3"], "weights need one row per input", "每个输入一行"),
        (["softmax", "--scores", "1,2", "--classes", "a"], "2 class names are needed", "需要 2 个类别名称"),
        (["conv", "--image", "missing.npy"], "does not exist", "不存在"),
    ],
)
def test_argument_errors(argv, en, zh):
    rc, out, err = run_cli(argv + ["--lang", "en"])
    assert rc == 2 and out == ""
    assert err.startswith("convlearn explain: error: ") and en in err
    rc, out, err = run_cli(argv + ["--lang", "zh"])
    assert rc == 2 and err.startswith("convlearn explain: 错误：") and zh in err


def test_unknown_language(monkeypatch):
    rc, _, err = run_cli(["conv", "--lang", "fr"], monkeypatch=monkeypatch)
    assert rc == 2 and "unknown language 'fr'" in err


def test_unknown_topic_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(["backprop"])
    assert info.value.code == 2
    assert "invalid choice: 'backprop'" in capsys.readouterr().err


def test_figures_folder_that_is_a_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc, _, err = run_cli(["relu", "--figures", str(blocker / "sub")])
    assert rc == 1 and "cannot write figures into" in err


def test_missing_matplotlib_is_explained(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc, out, err = run_cli(["relu", "--figures", str(tmp_path)])
    assert rc == 1 and 'pip install "convlearn[plot]"' in err
    assert "Activation function" in out  # the text came out before the figures were tried


def test_figures_are_written(tmp_path):
    rc, out, _ = run_cli(["pool", "--figures", str(tmp_path), "--dpi", "40"])
    assert rc == 0
    assert sorted(os.listdir(tmp_path)) == ["pool.png", "pool_sliding_window.gif"]
    assert f"wrote {tmp_path / 'pool.png'}" in out


def test_add_parser_registers_explain_on_the_main_command():
    parser = argparse.ArgumentParser(prog="convlearn")
    sub = parser.add_subparsers(dest="command")
    explain = cli.add_parser(sub, lang="zh")
    assert isinstance(explain, argparse.ArgumentParser)
    args = parser.parse_args(["explain", "conv", "--stride", "2", "--padding", "same"])
    assert args.func is cli.run and args.topic == "conv" and args.stride == "2"
    out, err = io.StringIO(), io.StringIO()
    assert args.func(args, stdout=out, stderr=err) == 0
    assert "out = ceil(6 / 2) = 3" in out.getvalue()
    assert "过滤器" in explain.format_help()  # help in the requested language


def test_python_dash_m_runs_and_import_stays_light():
    env = dict(os.environ, PYTHONPATH=SRC, LANG="C")
    done = subprocess.run([sys.executable, "-m", "convlearn.explain", "softmax", "--scores", "1,2"], env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Predicted class: 1" in done.stdout
    probe = "import sys, convlearn.explain.cli; print('matplotlib' in sys.modules, 'PIL' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr
