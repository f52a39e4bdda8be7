"""The ``convlearn`` command line: train, evaluate, predict, help, version and every error message.

The commands run in-process through ``convlearn.cli.main([...])``; two checks run a
real ``python -m convlearn`` subprocess. Training uses a few hundred MNIST images
for one epoch so the whole file stays fast.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convlearn
from convlearn import zoo
from convlearn.callbacks import Callback
from convlearn.cli import main
from convlearn.datasets import fashion_mnist, load_digit_image, mnist

SRC = str(Path(convlearn.__file__).resolve().parent.parent)
TRAIN_LIMIT = 1000  # enough for the shared model to classify clear digits
TEST_LIMIT = 200


def run(capsys, *argv):
    """Run the command in-process; return (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_usage_error(code, err, pattern):
    """Exit code 2, one ``convlearn: error:`` line matching ``pattern``, no traceback."""
    assert code == 2
    assert err.startswith("convlearn: error: "), err
    assert re.search(pattern, err), err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err


def run_subprocess(*argv, cwd=None):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


@pytest.fixture(scope="module")
def mnist_test():
    (_, _), (x_test, y_test) = mnist.load_data()
    return x_test, y_test


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The guide's model trained by ``convlearn train`` (default output name), and what it printed."""
    folder = tmp_path_factory.mktemp("train")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        import io
        from contextlib import redirect_stderr, redirect_stdout

        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["train", "--limit", str(TRAIN_LIMIT), "--epochs", "1", "--test-limit", str(TEST_LIMIT),
                         "--seed", "0", "--verbose", "2"])
    finally:
        os.chdir(cwd)
    assert code == 0, err.getvalue()
    return folder / "mnist_cnn.keras", out.getvalue()


# ---------------------------------------------------------------------------
# help and version
# ---------------------------------------------------------------------------

def test_version_in_a_subprocess():
    proc = run_subprocess("-m", "convlearn", "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"convlearn {convlearn.__version__}"


def test_help_lists_the_commands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("train", "evaluate", "predict"):
        assert re.search(rf"^\s+{command}\s", out, re.M), out


def test_help_lists_explain_when_it_is_installed(capsys):
    if not (Path(convlearn.__file__).parent / "explain" / "cli.py").is_file():
        pytest.skip("convlearn.explain.cli is not part of this installation")
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert re.search(r"^\s+explain\s", out, re.M), out


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_command_help(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: convlearn {command}")


def test_train_help_names_every_option(capsys):
    _, out, _ = run(capsys, "train", "--help")
    for option in ("--epochs", "--batch-size", "--model", "--dataset", "--output", "--seed",
                   "--validation-split", "--verbose", "--limit", "--kernels"):
        assert option in out


def test_importing_the_cli_is_cheap_and_train_skips_explain(tmp_path):
    code = (
        "import sys\n"
        "import convlearn.cli\n"
        "heavy = [m for m in ('convlearn.zoo', 'convlearn.explain', 'PIL', 'matplotlib') if m in sys.modules]\n"
        "print('after import:', heavy)\n"
        "convlearn.cli.main(['train', '--limit', '10', '--epochs', '1', '--test-limit', '10', '--verbose', '0',\n"
        "                    '--output', 'm.keras', '--no-plots'])\n"
        "print('after train:', 'convlearn.explain' in sys.modules)\n"
    )
    proc = run_subprocess("-c", code, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "after import: []" in proc.stdout
    assert "after train: False" in proc.stdout


# ---------------------------------------------------------------------------
# train
# ---------------------------------------------------------------------------

def test_train_prints_header_results_and_saves_a_loadable_model(trained, mnist_test):
    path, out = trained
    assert f"Data: {TRAIN_LIMIT:,} of 60,000 training images, {TEST_LIMIT} of 10,000 test images" in out
    assert 'Model: "guide"' in out and "Total params: 542,230" in out  # the summary
    assert "Training: 1 epoch, batch size 32, loss sparse_categorical_crossentropy, optimizer Adam" in out
    assert "accuracy:" in out  # fit's per-epoch line
    assert "Model saved to mnist_cnn.keras" in out
    assert re.search(r"Training time: \d+(\.\d)? s", out)
    accuracy = float(re.search(r"Test accuracy: (\d\.\d{4})", out).group(1))
    loss = float(re.search(r"test loss: (\d+\.\d{4})", out).group(1))

    model = convlearn.models.load_model(path)
    x_test, y_test = mnist_test
    x = (x_test[:TEST_LIMIT].reshape(-1, 28, 28, 1) / 255).astype(np.float32)
    result = model.evaluate(x, y_test[:TEST_LIMIT], verbose=0, return_dict=True)
    assert result["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert result["loss"] == pytest.approx(loss, abs=1e-4)
    assert accuracy > 0.5  # 1000 images, one epoch: far better than chance (0.1)


def test_train_builds_exactly_the_guides_model(trained):
    model = convlearn.models.load_model(trained[0])
    layers = [(type(layer).__name__, layer.get_config()) for layer in model.layers]
    assert [name for name, _ in layers] == ["Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]
    conv, pool, _, hidden, out = (config for _, config in layers)
    assert (conv["filters"], tuple(conv["kernel_size"]), conv["activation"]) == (32, (3, 3), "relu")
    assert tuple(pool["pool_size"]) == (2, 2) and tuple(pool["strides"]) == (2, 2)
    assert (hidden["units"], hidden["activation"]) == (100, "relu")
    assert (out["units"], out["activation"]) == (10, "softmax")
    assert model.loss.name == "sparse_categorical_crossentropy"
    assert type(model.optimizer).__name__ == "Adam"
    assert zoo.RECIPES["guide"].epochs == 10 and zoo.RECIPES["guide"].batch_size == 32


def test_train_with_the_same_seed_gives_the_same_model(capsys, tmp_path):
    paths = [tmp_path / "a.keras", tmp_path / "b.keras"]
    for path in paths:
        code, _, err = run(capsys, "train", "--limit", 64, "--epochs", 1, "--test-limit", 10, "--seed", 7,
                           "--verbose", 0, "--output", path)
        assert code == 0, err
    a, b = (convlearn.models.load_model(p).get_weights() for p in paths)
    assert all(np.array_equal(wa, wb) for wa, wb in zip(a, b))


def test_train_convnet_uses_one_hot_labels_and_its_default_name(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--model", "convnet", "--limit", 64, "--epochs", 1,
                         "--test-limit", 20, "--verbose", 0)
    assert code == 0, err
    assert "batch size 128, loss categorical_crossentropy" in out
    assert "Model saved to mnist_convnet.keras" in out
    model = convlearn.models.load_model(tmp_path / "mnist_convnet.keras")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    code, out, err = run(capsys, "evaluate", "mnist_convnet.keras", "--limit", 20, "--verbose", 0)
    assert code == 0, err
    assert "Test accuracy:" in out


def test_train_best_with_validation_split(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--model", "best", "--limit", 80, "--epochs", 1, "--test-limit", 20,
                         "--validation-split", 0.25, "--verbose", 2, "--output", tmp_path / "best.keras")
    assert code == 0, err
    assert "Validation: the last 20 training images (0.25) are held out; training on 60" in out
    assert "val_accuracy:" in out and "val_loss:" in out
    assert (tmp_path / "best.keras").is_file()


def test_train_fashion_mnist_default_name(capsys, tmp_path, monkeypatch):
    try:
        fashion_mnist.load_data()
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST files are not installed on this computer")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "train", "--dataset", "fashion_mnist", "--limit", 64, "--epochs", 1,
                         "--test-limit", 20, "--verbose", 0)
    assert code == 0, err
    assert "on Fashion-MNIST" in out
    assert (tmp_path / "fashion_mnist_guide.keras").is_file()


def test_train_with_reference_kernels(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--kernels", "reference", "--limit", 2, "--batch-size", 2, "--epochs", 1,
                         "--test-limit", 2, "--verbose", 0, "--output", tmp_path / "ref.keras")
    assert code == 0, err
    assert "kernels reference" in out
    assert convlearn.ops.get_kernels() == "fast"  # restored afterwards


class _InterruptAt(Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise KeyboardInterrupt


def test_ctrl_c_during_training_saves_nothing(capsys, tmp_path, monkeypatch):
    fit = convlearn.Sequential.fit

    def fit_then_ctrl_c(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=list(callbacks or []) + [_InterruptAt()], **kwargs)

    monkeypatch.setattr(convlearn.Sequential, "fit", fit_then_ctrl_c)
    code, _, err = run(capsys, "train", "--limit", 128, "--epochs", 2, "--verbose", 1,
                       "--output", tmp_path / "model.keras")
    assert code == 130
    assert err == (f"convlearn: training interrupted during epoch 1/2; no model was saved "
                   f"({str(tmp_path / 'model.keras')!r} was not written).\n")
    assert list(tmp_path.iterdir()) == []  # no model, no temporary file


def test_ctrl_c_before_training(capsys, tmp_path, monkeypatch):
    def ctrl_c():
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist, "load_data", ctrl_c)
    code, _, err = run(capsys, "train", "--output", tmp_path / "m.keras")
    assert (code, err) == (130, "convlearn: interrupted.\n")
    assert list(tmp_path.iterdir()) == []


def test_diverged_training_exits_1_without_a_model(capsys, tmp_path, monkeypatch):
    def diverge(self, *args, **kwargs):
        raise FloatingPointError("Training diverged: the loss became nan at epoch 1, step 3/4.")

    monkeypatch.setattr(convlearn.Sequential, "fit", diverge)
    code, _, err = run(capsys, "train", "--limit", 100, "--output", tmp_path / "m.keras")
    assert code == 1
    assert err == "convlearn: error: Training diverged: the loss became nan at epoch 1, step 3/4. No model was saved.\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, pattern", [
    (["--epochs", "0"], r"argument --epochs: expected a whole number >= 1; got '0'\. Run 'convlearn train --help'"),
    (["--epochs", "ten"], r"argument --epochs: expected a whole number >= 1; got 'ten'"),
    (["--batch-size", "-5"], r"argument --batch-size: expected a whole number >= 1; got '-5'"),
    (["--limit", "0"], r"argument --limit: expected a whole number >= 1"),
    (["--test-limit", "2.5"], r"argument --test-limit: expected a whole number >= 1; got '2.5'"),
    (["--seed", "-1"], r"argument --seed: expected a whole number >= 0; got '-1'"),
    (["--validation-split", "1"], r"argument --validation-split: expected a number in \[0, 1\), e\.g\. 0\.1; got '1'"),
    (["--validation-split", "nan"], r"argument --validation-split: expected a number in \[0, 1\)"),
    (["--validation-split", "a"], r"argument --validation-split: expected a number in \[0, 1\)"),
    (["--verbose", "3"], r"argument --verbose: invalid choice: 3 \(choose from 0, 1, 2\)"),
    (["--model", "resnet"], r"argument --model: invalid choice: 'resnet'"),
    (["--dataset", "cifar10"], r"argument --dataset: invalid choice: 'cifar10'"),
    (["--kernels", "gpu"], r"argument --kernels: invalid choice: 'gpu'"),
    (["--bogus"], r"unrecognized arguments: --bogus"),
])
def test_train_rejects_bad_options(capsys, argv, pattern):
    code, _, err = run(capsys, "train", *argv)
    assert_usage_error(code, err, pattern)


def test_train_rejects_bad_output_paths_before_training(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--output", tmp_path / "model.h5")
    assert_usage_error(code, err, r"--output must name a \.keras file, e\.g\. mnist_cnn\.keras; got '.*model\.h5'")
    code, _, err = run(capsys, "train", "--output", tmp_path / "missing" / "m.keras")
    assert_usage_error(code, err, r"cannot save to .*: the folder '.*missing' does not exist\. Create it first\.")
    (tmp_path / "dir.keras").mkdir()
    code, _, err = run(capsys, "train", "--output", tmp_path / "dir.keras")
    assert_usage_error(code, err, r"--output '.*dir\.keras' is a folder; give a file name such as")


def test_train_rejects_a_validation_split_that_leaves_nothing(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--limit", 1, "--validation-split", 0.5, "--output", tmp_path / "m.keras")
    assert_usage_error(code, err, r"--validation-split 0\.5 of 1 training images leaves an empty training or "
                                  r"validation set\. Use a split between 0\.05 and 0\.5, or more images")


@pytest.fixture
def no_fashion_mnist(tmp_path, monkeypatch):
    """Make every Fashion-MNIST search folder empty."""
    monkeypatch.setenv("CONVLEARN_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIR", tmp_path / "system")


def test_missing_fashion_mnist_says_how_to_get_it(capsys, tmp_path, no_fashion_mnist, trained):
    code, _, err = run(capsys, "train", "--dataset", "fashion_mnist", "--output", tmp_path / "m.keras")
    assert code == 2
    assert err.startswith("convlearn: error: Fashion-MNIST files not found. Folders searched:")
    assert "sudo apt-get install dataset-fashion-mnist" in err and "Traceback" not in err
    code, _, err = run(capsys, "evaluate", trained[0], "--dataset", "fashion_mnist")
    assert code == 2 and err.startswith("convlearn: error: Fashion-MNIST files not found.")


def test_no_command_and_unknown_command(capsys):
    code, _, err = run(capsys)
    assert_usage_error(code, err, r"the following arguments are required: COMMAND\. Run 'convlearn --help'")
    code, _, err = run(capsys, "trian")
    assert_usage_error(code, err, r"argument COMMAND: invalid choice: 'trian' \(choose from 'train', 'evaluate', "
                                  r"'predict'")


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------

def test_evaluate_agrees_with_train(capsys, trained):
    path, train_out = trained
    accuracy = re.search(r"Test accuracy: (\d\.\d{4})", train_out).group(1)
    loss = float(re.search(r"test loss: (\d+\.\d{4})", train_out).group(1))
    code, out, err = run(capsys, "evaluate", path, "--limit", TEST_LIMIT, "--batch-size", 64)
    assert code == 0, err
    assert float(re.search(r"Test loss: (\d+\.\d{4})\n", out).group(1)) == pytest.approx(loss, abs=2e-4)
    assert re.search(rf"Test accuracy: {accuracy} \(\d+ of {TEST_LIMIT} right\)", out)
    assert f"mnist test set ({TEST_LIMIT} images)" in out
    assert f"{-(-TEST_LIMIT // 64)}/{-(-TEST_LIMIT // 64)}" in out  # the progress bar, 4 steps of 64


def test_evaluate_missing_and_broken_model_files(capsys, tmp_path):
    code, _, err = run(capsys, "evaluate", tmp_path / "nope.keras")
    assert_usage_error(code, err, r"no model file at '.*nope\.keras'\. Check the path, or train one first: "
                                  r"convlearn train --output .*nope\.keras")
    (tmp_path / "junk.keras").write_bytes(b"this is not a zip file")
    code, _, err = run(capsys, "evaluate", tmp_path / "junk.keras")
    assert_usage_error(code, err, r"cannot load the model '.*junk\.keras': .*junk\.keras' is not a valid \.keras "
                                  r"file \(not a zip archive\), or it is damaged or truncated\.")
    (tmp_path / "folder.keras").mkdir()
    code, _, err = run(capsys, "evaluate", tmp_path / "folder.keras")
    assert_usage_error(code, err, r"cannot load the model '.*folder\.keras': .* is a folder, not a model file")


def test_evaluate_needs_a_compiled_model(capsys, tmp_path):
    zoo.guide(compile=False).save(tmp_path / "raw.keras")
    code, _, err = run(capsys, "evaluate", tmp_path / "raw.keras")
    assert_usage_error(code, err, r"was saved without a loss \(not compiled\), so its loss cannot be measured\. "
                                  r"Compile it before saving")


def test_evaluate_refuses_models_for_other_inputs_or_classes(capsys, tmp_path):
    model = convlearn.Sequential([convlearn.Input(shape=(8,)), convlearn.layers.Dense(10, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.save(tmp_path / "vector.keras")
    code, _, err = run(capsys, "evaluate", tmp_path / "vector.keras")
    assert_usage_error(code, err, r"expects inputs of shape \(None, 8\); this command feeds 28x28 grayscale images")
    five = zoo.guide(num_classes=5)
    five.save(tmp_path / "five.keras")
    code, _, err = run(capsys, "evaluate", tmp_path / "five.keras")
    assert_usage_error(code, err, r"has 5 outputs; mnist has 10 classes")
    maps = convlearn.Sequential([convlearn.Input(shape=(28, 28, 1)), convlearn.layers.Conv2D(2, 3)])
    maps.compile(loss="mse", optimizer="adam")
    maps.save(tmp_path / "maps.keras")
    code, _, err = run(capsys, "evaluate", tmp_path / "maps.keras")
    assert_usage_error(code, err, r"outputs shape \(None, 26, 26, 2\); a classifier outputs \(None, number of classes\)")


def test_evaluate_rejects_bad_options(capsys, trained):
    code, _, err = run(capsys, "evaluate")
    assert_usage_error(code, err, r"the following arguments are required: MODEL")
    code, _, err = run(capsys, "evaluate", trained[0], "--batch-size", 0)
    assert_usage_error(code, err, r"argument --batch-size: expected a whole number >= 1; got '0'")


# ---------------------------------------------------------------------------
# predict
# ---------------------------------------------------------------------------

def write_digit_png(path, digit):
    """An MNIST digit drawn as a photo would show it: dark ink on white, enlarged 6 times."""
    from PIL import Image

    page = 255 - np.kron(digit, np.ones((6, 6), dtype=np.uint8))  # (168, 168), dark on light
    Image.fromarray(page).save(path)


PREDICTION = re.compile(r"^(?P<name>.+): (?P<best>\d)   top 3: (?P<top>(\d \(\d+\.\d\d%\)(, )?){3})$")


def parse_predictions(out):
    rows = {}
    for line in out.splitlines():
        match = PREDICTION.match(line)
        if match:
            top = re.findall(r"(\d) \((\d+\.\d\d)%\)", match["top"])
            rows[match["name"]] = [(int(c), float(p)) for c, p in top]
    return rows


def test_predict_a_png_digit(capsys, tmp_path, trained, mnist_test):
    pytest.importorskip("PIL")
    x_test, y_test = mnist_test
    png = tmp_path / "digit.png"
    write_digit_png(png, x_test[0])
    code, out, err = run(capsys, "predict", trained[0], png)
    assert code == 0, err
    rows = parse_predictions(out)
    assert list(rows) == [str(png)]
    top = rows[str(png)]
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert int(y_test[0]) in [c for c, _ in top]  # a clear 7; the model was trained on 1000 images
    # the printed numbers are the model's own prediction for the prepared image
    model = convlearn.models.load_model(trained[0])
    probs = model.predict(load_digit_image(png)[None, ..., None], verbose=0)[0]
    assert top == [(int(c), round(100 * float(probs[c]), 2)) for c in np.argsort(-probs)[:3]]


def test_predict_npy_files(capsys, tmp_path, trained, mnist_test):
    x_test, _ = mnist_test
    np.save(tmp_path / "one.npy", x_test[3])  # (28, 28) uint8
    np.save(tmp_path / "many.npy", (x_test[:4] / 255).astype(np.float32))  # (4, 28, 28) in [0, 1]
    np.save(tmp_path / "chan.npy", x_test[:2, :, :, None])  # (2, 28, 28, 1)
    code, out, err = run(capsys, "predict", trained[0], tmp_path / "one.npy", tmp_path / "many.npy",
                         tmp_path / "chan.npy", "--top", 3)
    assert code == 0, err
    rows = parse_predictions(out)
    names = [str(tmp_path / "one.npy")] + [f"{tmp_path / 'many.npy'}[{i}]" for i in range(4)] + \
            [f"{tmp_path / 'chan.npy'}[{i}]" for i in range(2)]
    assert list(rows) == names
    model = convlearn.models.load_model(trained[0])
    probs = model.predict((x_test[:4, :, :, None] / 255).astype(np.float32), verbose=0)
    for i in range(4):
        expected = [(int(c), round(100 * float(probs[i, c]), 2)) for c in np.argsort(-probs[i])[:3]]
        assert rows[names[1 + i]] == expected
    assert rows[names[0]] == rows[names[4]]  # image 3 as uint8 and as float
    assert rows[names[5]] == rows[names[1]]


def test_predict_top_k(capsys, tmp_path, trained, mnist_test):
    np.save(tmp_path / "x.npy", mnist_test[0][0])
    code, out, err = run(capsys, "predict", trained[0], tmp_path / "x.npy", "--top", 12)
    assert code == 0, err
    assert "top 10:" in out and out.count("%") == 10


def test_predict_show_steps_writes_each_step(capsys, tmp_path, trained, mnist_test):
    Image = pytest.importorskip("PIL.Image")
    png = tmp_path / "seven.png"
    write_digit_png(png, mnist_test[0][0])
    steps = tmp_path / "steps" / "nested"
    code, out, err = run(capsys, "predict", trained[0], png, png, "--show-steps", steps)
    assert code == 0, err
    names = ["grayscale", "invert", "clean", "crop", "scale", "center"]
    expected = [f"seven_{k}_{n}.png" for k, n in enumerate(names, 1)] + \
               [f"seven-2_{k}_{n}.png" for k, n in enumerate(names, 1)]
    assert sorted(p.name for p in steps.iterdir()) == sorted(expected)
    assert f"Preprocessing steps written to {steps}: seven_1_grayscale.png" in out
    center = np.asarray(Image.open(steps / "seven_6_center.png"))
    assert center.shape == (280, 280)  # 28x28 enlarged 10 times
    prepared = load_digit_image(png)
    assert np.array_equal(center[::10, ::10], np.round(prepared * 255).astype(np.uint8))


def test_predict_show_steps_with_only_npy_inputs(capsys, tmp_path, trained, mnist_test):
    np.save(tmp_path / "x.npy", mnist_test[0][0])
    code, out, _ = run(capsys, "predict", trained[0], tmp_path / "x.npy", "--show-steps", tmp_path / "s")
    assert code == 0
    assert "No preprocessing steps to write: .npy inputs are used as they are." in out


def test_predict_image_errors(capsys, tmp_path, trained):
    pytest.importorskip("PIL")
    from PIL import Image

    code, _, err = run(capsys, "predict", trained[0], tmp_path / "nope.png")
    assert_usage_error(code, err, r"no image file at '.*nope\.png'\. Check the file name and folder\.")
    (tmp_path / "text.png").write_text("not an image")
    code, _, err = run(capsys, "predict", trained[0], tmp_path / "text.png")
    assert_usage_error(code, err, r"cannot use '.*text\.png': Cannot read .* as an image")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    code, _, err = run(capsys, "predict", trained[0], tmp_path / "blank.png")
    assert_usage_error(code, err, r"cannot use '.*blank\.png': The image looks blank")
    code, _, err = run(capsys, "predict", trained[0])
    assert_usage_error(code, err, r"the following arguments are required: IMAGE")
    code, _, err = run(capsys, "predict", trained[0], tmp_path / "x.npy", "--top", 0)
    assert_usage_error(code, err, r"argument --top: expected a whole number >= 1; got '0'")


def test_predict_without_pillow(capsys, tmp_path, trained, monkeypatch):
    png = tmp_path / "digit.png"
    png.write_bytes(b"\x89PNG")  # never opened: Pillow is missing
    monkeypatch.setitem(sys.modules, "PIL", None)
    code, _, err = run(capsys, "predict", trained[0], png)
    assert_usage_error(code, err, r"Reading image files needs Pillow\. Install it with: pip install pillow")
    np.save(tmp_path / "x.npy", np.zeros((28, 28)))
    code, _, err = run(capsys, "predict", trained[0], tmp_path / "x.npy", "--show-steps", tmp_path / "s")
    assert_usage_error(code, err, r"--show-steps writes PNG files, which needs Pillow\. Install it with: "
                                  r"pip install pillow")


def test_predict_npy_errors(capsys, tmp_path, trained):
    cases = {
        "shape.npy": (np.zeros((32, 32)), r"holds an array of shape \(32, 32\); expected one 28x28 image, shape "
                                          r"\(28, 28\), or several, shape \(N, 28, 28\)"),
        "range.npy": (np.full((28, 28), 300.0), r"has values from 300 to 300; expected pixels in 0\.\.255 or 0\.\.1"),
        "negative.npy": (np.full((28, 28), -1), r"has values from -1 to -1"),
        "nan.npy": (np.full((28, 28), np.nan), r"contains NaN or infinite values"),
        "text.npy": (np.array(["a", "b"]), r"must hold a numeric array; got <U1"),
        "empty.npy": (np.zeros((0, 28, 28)), r"holds an array of shape \(0, 28, 28\)"),
    }
    for name, (array, pattern) in cases.items():
        np.save(tmp_path / name, array)
        code, _, err = run(capsys, "predict", trained[0], tmp_path / name)
        assert_usage_error(code, err, pattern)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = run(capsys, "predict", trained[0], tmp_path / "objects.npy")
    assert_usage_error(code, err, r"cannot read '.*objects\.npy' as a \.npy array \(.*\)\. Save it with numpy\.save")
    (tmp_path / "junk.npy").write_bytes(b"garbage")
    code, _, err = run(capsys, "predict", trained[0], tmp_path / "junk.npy")
    assert_usage_error(code, err, r"cannot read '.*junk\.npy' as a \.npy array")
    code, _, err = run(capsys, "predict", trained[0], tmp_path / "missing.npy")
    assert_usage_error(code, err, r"no file at '.*missing\.npy'")


def test_predict_show_steps_must_be_a_folder(capsys, tmp_path, trained):
    (tmp_path / "file").write_text("x")
    code, _, err = run(capsys, "predict", trained[0], tmp_path / "x.npy", "--show-steps", tmp_path / "file")
    assert_usage_error(code, err, r"--show-steps '.*file' is a file; give a folder name\.")


def test_predict_with_a_missing_model(capsys, tmp_path):
    code, _, err = run(capsys, "predict", tmp_path / "none.keras", tmp_path / "x.npy")
    assert_usage_error(code, err, r"no model file at '.*none\.keras'")


# ---------------------------------------------------------------------------
# explain (written elsewhere; only the wiring is tested here)
# ---------------------------------------------------------------------------

def test_explain_is_dispatched_to_its_module(capsys, monkeypatch):
    import types

    calls = []

    def add_parser(subparsers):
        parser = subparsers.add_parser("explain", help="fake explain")
        parser.add_argument("topic")
        return parser

    def fake_run(args):
        calls.append(args.topic)
        return 3

    fake = types.ModuleType("convlearn.explain.cli")
    fake.add_parser, fake.run = add_parser, fake_run
    monkeypatch.setitem(sys.modules, "convlearn.explain.cli", fake)
    code, _, _ = run(capsys, "explain", "conv")
    assert (code, calls) == (3, ["conv"])
    code, out, _ = run(capsys, "--help")
    assert "fake explain" in out


def test_explain_module_without_run_is_reported(capsys, monkeypatch):
    import types

    monkeypatch.setitem(sys.modules, "convlearn.explain.cli", types.ModuleType("convlearn.explain.cli"))
    code, _, err = run(capsys, "explain")
    assert_usage_error(code, err, r"the explain command is not complete in this installation")


# ---------------------------------------------------------------------------
# Hostile but fair inputs: one line, exit code 2, bounded memory (risky ones in a child under a ceiling)
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def guide_file(tmp_path_factory):
    """An untrained guide model: enough for predict to get as far as reading the images."""
    path = tmp_path_factory.mktemp("guide") / "guide.keras"
    zoo.guide().save(path)
    return path


def predict_in_child(model, *images, case):
    """``convlearn predict`` in a child under the memory ceiling: (exit code, stderr, peak MiB)."""
    from hostile_helpers import report_peak, run_limited

    argv = ["predict", str(model), *map(str, images)]
    result = run_limited(f"from convlearn.cli import main\nraise SystemExit(main({argv!r}))", timeout=60)
    report_peak(case, result)
    assert result["error"] == "SystemExit", result
    return int(result["message"]), result["stderr"], result["peak_mb"]


def assert_one_line_in_bounds(code, err, pattern, peak_mb):
    assert_usage_error(code, err, pattern)
    assert peak_mb < 300


@pytest.mark.parametrize("width, height, pattern", [
    (12000, 12000, r"is 12000x12000 pixels \(144,000,000\), more than the 16,000,000 convlearn reads from one "
                   r"image\. Resize it to at most 4000x4000 first"),
    (20000, 20000, r"is too large to be read safely \(Image size \(400000000 pixels\) exceeds limit .*\)\. convlearn "
                   r"reads at most 16,000,000 pixels from one image: resize it to at most 4000x4000 first\."),
], ids=["1-bit 12000x12000", "20000x20000"])
def test_predict_refuses_huge_pngs_in_one_line(tmp_path, guide_file, width, height, pattern):
    pytest.importorskip("PIL")
    from hostile_helpers import blank_png

    png = blank_png(tmp_path / "big.png", width, height)
    code, err, peak = predict_in_child(guide_file, png, case=f"convlearn predict on a {width}x{height} PNG")
    assert_one_line_in_bounds(code, err, r"cannot use '.*big\.png': '.*big\.png' " + pattern, peak)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_predict_refuses_a_fifo_instead_of_hanging(tmp_path, guide_file):
    for name in ("pipe.png", "pipe.npy"):
        os.mkfifo(tmp_path / name)
        code, err, peak = predict_in_child(guide_file, tmp_path / name, case=f"convlearn predict on a FIFO ({name})")
        assert_one_line_in_bounds(code, err, rf"cannot use '.*{name}': .* is a FIFO \(named pipe\), not an? "
                                             r"(image )?file; convlearn reads only regular files\.", peak)
    os.mkfifo(tmp_path / "pipe.keras")
    code, err, peak = predict_in_child(tmp_path / "pipe.keras", tmp_path / "x.npy", case="convlearn predict, FIFO model")
    assert_one_line_in_bounds(code, err, r"cannot load the model '.*pipe\.keras': .* is a FIFO \(named pipe\), not a "
                                         r"model file", peak)


@pytest.mark.parametrize("data, pattern", [
    (b"\x93NUMPY\x02\x00" + (0xFFFF_FFF0).to_bytes(4, "little") + b"{'descr'",
     r"cannot read '.*x\.npy' as a \.npy array \('.*x\.npy': its \.npy header claims 4,294,967,280 bytes"),
    (None, r"'.*x\.npy' holds 1,000,000,000 images; predict takes at most 70,000 from one file\. Split it"),
], ids=["4 GiB header", "10^9 images declared"])
def test_predict_refuses_hostile_npy_headers_before_reading(tmp_path, guide_file, data, pattern):
    from hostile_helpers import npy_header

    (tmp_path / "x.npy").write_bytes(data if data is not None else npy_header((10**9, 28, 28), "|u1"))
    code, err, peak = predict_in_child(guide_file, tmp_path / "x.npy", case="convlearn predict on a hostile .npy")
    assert_one_line_in_bounds(code, err, pattern, peak)


def test_predict_refuses_a_truncated_npy(capsys, tmp_path, guide_file):
    from hostile_helpers import npy_header

    (tmp_path / "short.npy").write_bytes(npy_header((3, 28, 28), "|u1") + bytes(100))
    code, _, err = run(capsys, "predict", guide_file, tmp_path / "short.npy")
    assert_usage_error(code, err, r"'.*short\.npy' is truncated: its header declares 2,352 data bytes, the file "
                                  r"holds 100\. Save it again with numpy\.save\.")


def test_predict_refuses_a_folder_as_an_image(capsys, tmp_path, guide_file):
    (tmp_path / "photos.png").mkdir()
    code, _, err = run(capsys, "predict", guide_file, tmp_path / "photos.png")
    assert_usage_error(code, err, r"cannot use '.*photos\.png': .* is a folder, not an image file")


def test_predict_show_steps_folder_that_cannot_be_made(capsys, tmp_path, guide_file, mnist_test):
    pytest.importorskip("PIL")
    png = tmp_path / "digit.png"
    write_digit_png(png, mnist_test[0][0])
    (tmp_path / "file").write_text("x")
    code, _, err = run(capsys, "predict", guide_file, png, "--show-steps", tmp_path / "file" / "steps")
    assert_usage_error(code, err, r"--show-steps: cannot create the folder '.*file/steps': Not a directory\.")


@pytest.mark.parametrize("error", [OSError(5, "Input/output error"), RuntimeError("a worker stopped"),
                                   MemoryError(), TypeError("unexpected\ntwo lines")],
                         ids=["OSError", "RuntimeError", "MemoryError", "TypeError"])
def test_unexpected_errors_end_in_one_line_and_exit_code_2(capsys, tmp_path, guide_file, monkeypatch, error):
    import convlearn.datasets

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(convlearn.datasets, "load_digit_image", fail)
    code, _, err = run(capsys, "predict", guide_file, tmp_path / "digit.png")
    expected = {"OSError": r"\[Errno 5\] Input/output error", "RuntimeError": "a worker stopped",
                "MemoryError": r"not enough memory\.", "TypeError": "unexpected two lines"}[type(error).__name__]
    assert_usage_error(code, err, rf"^convlearn: error: {expected}$")


def test_a_model_that_cannot_be_saved_is_one_line(capsys, tmp_path, monkeypatch):
    def read_only(self, path, **kwargs):
        raise PermissionError(13, f"Cannot write {str(path)!r}: Read-only file system.")

    monkeypatch.setattr(convlearn.Sequential, "save", read_only)
    code, _, err = run(capsys, "train", "--limit", 16, "--epochs", 1, "--test-limit", 8, "--verbose", 0,
                       "--no-plots", "--output", tmp_path / "m.keras")
    assert_usage_error(code, err, r"cannot save the model to '.*m\.keras': \[Errno 13\] Cannot write '.*m\.keras': "
                                  r"Read-only file system\.")


@pytest.mark.parametrize("argv, pattern", [
    (["--dpi", "0"], r"argument --dpi: expected a whole number from 10 to 600; got '0'"),
    (["--dpi", "5000"], r"argument --dpi: expected a whole number from 10 to 600; got '5000'"),
    (["--padding", "3000"], r"argument --padding: expected valid, same or a number of zeros from 0 to 64; got "
                            r"'3000'"),
])
def test_explain_refuses_sizes_that_would_take_gigabytes(capsys, argv, pattern):
    code, _, err = run(capsys, "explain", "conv", *argv)
    assert_usage_error(code, err, pattern)


def test_explain_reports_unexpected_errors_in_one_line(capsys, monkeypatch):
    import convlearn.explain.cli as explain_cli

    def fail(*args, **kwargs):
        raise MemoryError("Unable to allocate 72 GiB")

    monkeypatch.setattr(explain_cli, "explain_conv", fail)
    code, _, err = run(capsys, "explain", "conv", "--lang", "en")
    assert code == 2 and err == "convlearn explain: error: not enough memory (Unable to allocate 72 GiB)\n"
