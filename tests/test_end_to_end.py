"""End to end on real data: MNIST as shipped with convlearn, and the guide's own script.

The workloads are slices (a few thousand images, a few epochs) so that the
tests take seconds; the full 60,000-image run is what ``examples/guide_mnist.py`` does.
"""

import pathlib
import warnings

import numpy as np
import pytest

import convlearn as keras
from convlearn.datasets import mnist
from convlearn.models import Sequential

# The script of the beginner's CNN guide, exactly as it is written for TensorFlow
# (its two code blocks, training and evaluation, one after the other).
GUIDE_SCRIPT = """\
#importing the required libraries
from tensorflow.keras.datasets import mnist
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Conv2D
from tensorflow.keras.layers import MaxPool2D
from tensorflow.keras.layers import Flatten
from tensorflow.keras.layers import Dropout
from tensorflow.keras.layers import Dense

#loading data
(X_train,y_train) , (X_test,y_test)=mnist.load_data()
#reshaping data
X_train = X_train.reshape((X_train.shape[0], X_train.shape[1], X_train.shape[2], 1))
X_test = X_test.reshape((X_test.shape[0],X_test.shape[1],X_test.shape[2],1)) 
#checking the shape after reshaping
print(X_train.shape)
print(X_test.shape)
#normalizing the pixel values
X_train=X_train/255
X_test=X_test/255

#defining model
model=Sequential()
#adding convolution layer
model.add(Conv2D(32,(3,3),activation='relu',input_shape=(28,28,1)))
#adding pooling layer
model.add(MaxPool2D(2,2))
#adding fully connected layer
model.add(Flatten())
model.add(Dense(100,activation='relu'))
#adding output layer
model.add(Dense(10,activation='softmax'))
#compiling the model
model.compile(loss='sparse_categorical_crossentropy',optimizer='adam',metrics=['accuracy'])
#fitting the model
model.fit(X_train,y_train,epochs=10)

#evaluting the model
model.evaluate(X_test,y_test)
"""

CONVLEARN_SCRIPT = GUIDE_SCRIPT.replace("from tensorflow.keras.", "from convlearn.")
EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "guide_mnist.py"


@pytest.fixture(scope="module")
def mnist_data():
    return mnist.load_data()


def test_mnist_ships_with_the_package(mnist_data):
    (x_train, y_train), (x_test, y_test) = mnist_data
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.shape == (60000,) and y_test.shape == (10000,)
    assert set(np.unique(y_test)) == set(range(10))


def test_a_small_cnn_learns_mnist(mnist_data):
    """3,000 training images, 5 epochs: well above 90% on 1,000 unseen test images (about 95% seen)."""
    (x_train, y_train), (x_test, y_test) = mnist_data
    x_train = x_train[:3000, ..., None] / 255                  # (3000, 28, 28, 1)
    x_test = x_test[:1000, ..., None] / 255
    keras.utils.set_random_seed(0)
    model = Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(16, 5, strides=2, activation="relu"),   # (12, 12, 16)
        keras.layers.MaxPooling2D(2),                                # (6, 6, 16)
        keras.layers.Flatten(),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x_train, y_train[:3000], epochs=5, batch_size=16, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test[:1000], verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy >= 0.92, f"test accuracy {accuracy:.3f}"
    assert loss < 0.3
    predicted = model.predict(x_test[:20], verbose=0).argmax(axis=1)
    assert np.mean(predicted == y_test[:20]) >= 0.8


def test_the_guide_script_differs_only_in_the_import_prefix():
    changed = [(a, b) for a, b in zip(GUIDE_SCRIPT.splitlines(), CONVLEARN_SCRIPT.splitlines()) if a != b]
    assert len(changed) == 7
    assert all(a.startswith("from tensorflow.keras.") and b == a.replace("tensorflow.keras", "convlearn")
               for a, b in changed)


def test_the_shipped_example_is_the_guide_script():
    """examples/guide_mnist.py holds the same code (its own header comment aside)."""
    if not EXAMPLE.exists():
        pytest.skip("examples/ is not part of this installation")

    def code(text):
        return [line.rstrip() for line in text.splitlines() if line.strip() and not line.startswith("# ")]

    assert code(EXAMPLE.read_text(encoding="utf-8")) == code(CONVLEARN_SCRIPT)


def test_the_guide_script_runs_unchanged(monkeypatch, capsys, mnist_data):
    """Run the guide's text as it is, on 512 training and 200 test images and 2 of its 10 epochs.

    ``mnist.load_data`` is patched to return the slices and ``fit`` to cut the
    epochs; nothing in the script itself is touched.
    """
    (x_train, y_train), (x_test, y_test) = mnist_data
    monkeypatch.setattr(mnist, "load_data", lambda: ((x_train[:512], y_train[:512]), (x_test[:200], y_test[:200])))
    real_fit = Sequential.fit
    requested = []

    def shorter_fit(self, *args, **kwargs):
        requested.append(kwargs.get("epochs"))
        kwargs["epochs"] = 2
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(Sequential, "fit", shorter_fit)
    keras.utils.set_random_seed(0)
    namespace = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(CONVLEARN_SCRIPT, "guide_mnist.py", "exec"), namespace)
    assert not caught, [str(w.message) for w in caught]
    assert requested == [10]                                    # the script asked for its 10 epochs

    out = capsys.readouterr().out
    assert "(512, 28, 28, 1)\n(200, 28, 28, 1)\n" in out        # the script's two print() calls
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert out.count("16/16") >= 2                              # 512 images in batches of 32
    assert "7/7" in out                                         # evaluate: 200 images in batches of 32

    model = namespace["model"]
    assert model.count_params() == 542_230
    history = model.history.history
    assert history["loss"][1] < history["loss"][0]
    loss, accuracy = model.evaluate(namespace["X_test"], namespace["y_test"], verbose=0)
    assert accuracy > 0.6, f"accuracy {accuracy:.3f} after 2 short epochs"
