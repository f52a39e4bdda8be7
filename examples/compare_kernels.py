"""Time the readable loop kernels against the vectorised ones on the guide's model.

    python examples/compare_kernels.py

Both compute the same numbers (the script checks it); the loops visit every sample,
every output position and every filter one at a time in Python, the fast kernels hand
whole matrices to NumPy and BLAS. Read src/convlearn/ops/reference.py and
src/convlearn/ops/fast.py side by side to see where the difference comes from.
"""

import time

import numpy as np

import convlearn
from convlearn import layers

convlearn.utils.set_random_seed(0)
(x_train, y_train), _ = convlearn.datasets.mnist.load_data()
x = (x_train[:8, ..., None] / 255).astype("float32")     # 8 images, (8, 28, 28, 1)
y = y_train[:8]

model = convlearn.Sequential([
    convlearn.Input(shape=(28, 28, 1)),
    layers.Conv2D(32, (3, 3), activation="relu"),
    layers.MaxPool2D(2, 2),
    layers.Flatten(),
    layers.Dense(100, activation="relu"),
    layers.Dense(10, activation="softmax"),
])
start_weights = model.get_weights()

results = {}
for kernels in ("reference", "fast"):
    model.set_weights(start_weights)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["accuracy"])  # fresh Adam
    with convlearn.ops.use_kernels(kernels):
        model.predict(x, verbose=0)                          # warm-up: nothing learned, nothing timed
        start = time.perf_counter()
        model.train_on_batch(x, y)                           # one training step on 8 images
        seconds = time.perf_counter() - start
    results[kernels] = (seconds, model.get_weights())
    print(f"{kernels:>9} kernels: one training step on 8 images took {seconds * 1000:9.1f} ms")

same = all(np.allclose(a, b, atol=1e-5) for a, b in zip(results["reference"][1], results["fast"][1]))
print(f"same weights after the step: {same}; "
      f"the fast kernels were {results['reference'][0] / results['fast'][0]:.0f}x faster")
