"""Legacy .h5 models (Keras 2 / tf.keras and Keras 3's model.save("x.h5")), with Keras 3 as the oracle."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest
from test_keras_format import MODELS, close, compile_args, inputs_of, targets_of

import convlearn as cl

keras = pytest.importorskip("keras", reason="Keras 3 is the oracle of these tests (pip install keras)")


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    return rng.random((16, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 16)


@pytest.mark.parametrize("name", ["guide_cnn", "residual", "two_in_two_out"])
def test_h5_both_ways(name, data, tmp_path):
    x, y = inputs_of(name, data[0]), targets_of(name, data[1])
    ours = MODELS[name](cl)
    ours.compile(optimizer="adam", **compile_args(name))
    ours.fit(x, y, epochs=1, batch_size=8, verbose=0)
    with pytest.warns(UserWarning, match=r"the HDF5 \(.h5\) format is legacy"):
        ours.save(tmp_path / "ours.h5")
    theirs = keras.saving.load_model(tmp_path / "ours.h5")
    assert close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    # (Keras 3.15 cannot train a model it loaded from .h5: its optimizer is rebuilt for other variables)
    theirs.save(tmp_path / "theirs.h5")
    back = cl.models.load_model(tmp_path / "theirs.h5")
    assert close(back.predict(x, verbose=0), theirs.predict(x, verbose=0))
    assert back.optimizer.iterations == ours.optimizer.iterations == 2   # (Keras keeps no slots in its .h5)
    # training continues: full-batch steps without shuffling (nothing random) lower the training loss
    losses = back.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    # convlearn's own .h5 keeps Adam's whole state: one full-batch step on both models gives the same
    # weights only if the step count and every slot came back in its place
    mine = cl.models.load_model(tmp_path / "ours.h5")
    ours.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    mine.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert close(mine.predict(x, verbose=0), ours.predict(x, verbose=0), tol=1e-6)


def test_h5_weights_of_another_model_are_refused(data, tmp_path):
    keras_model = MODELS["guide_cnn"](keras)
    keras_model.save(tmp_path / "k.h5")
    with pytest.raises(ValueError, match=r"holds weights for 3 layers .* the model has 4 layers with weights"):
        MODELS["residual"](cl).load_weights(tmp_path / "k.h5")
    ours = MODELS["guide_cnn"](cl)
    ours.load_weights(tmp_path / "k.h5")
    assert close(ours.predict(data[0], verbose=0), keras_model.predict(data[0], verbose=0))
