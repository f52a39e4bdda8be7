"""Reproducibility: the same seed gives bit-identical weights and history; seeds given to
initializers and Dropout make their numbers repeat whatever the global seed is."""

import numpy as np
import pytest

import convlearn as keras
from convlearn import initializers, layers
from model_helpers import bars_dataset, compiled_cnn, same_weights


def train_once(global_seed=None, *, kernel_initializer="glorot_uniform", dropout_seed=None, shuffle=True, epochs=2):
    """Build and train a small CNN with Dropout; return (weights, history dict)."""
    if global_seed is not None:
        keras.utils.set_random_seed(global_seed)
    x, y = bars_dataset(48)
    model = compiled_cnn(dropout=0.5, dropout_seed=dropout_seed, kernel_initializer=kernel_initializer)
    history = model.fit(x, y, epochs=epochs, batch_size=8, validation_split=0.25, shuffle=shuffle, verbose=0)
    return model.get_weights(), history.history


def test_same_seed_gives_bit_identical_training():
    w1, h1 = train_once(7)
    w2, h2 = train_once(7)
    assert same_weights(w1, w2)
    assert h1 == h2                                     # every loss and accuracy, exactly


def test_different_seeds_give_different_weights():
    w1, h1 = train_once(7)
    w2, h2 = train_once(8)
    assert all(not np.array_equal(a, b) for a, b in zip(w1, w2))
    assert h1["loss"] != h2["loss"]


def test_the_seed_covers_initial_weights_dropout_and_shuffling():
    """Each source of randomness on its own changes the result, and the global seed fixes all three."""
    base_w, _ = train_once(11)
    # the same initial weights (seeded initializer) and dropout masks, different shuffling
    w_init1, _ = train_once(11, kernel_initializer=initializers.GlorotUniform(seed=1), dropout_seed=2)
    w_init2, _ = train_once(12, kernel_initializer=initializers.GlorotUniform(seed=1), dropout_seed=2)
    assert not same_weights(w_init1, w_init2)           # shuffling follows the global seed
    # no shuffling either: nothing is left to the global seed
    w_fixed1, h_fixed1 = train_once(11, kernel_initializer=initializers.GlorotUniform(seed=1), dropout_seed=2,
                                    shuffle=False)
    w_fixed2, h_fixed2 = train_once(12, kernel_initializer=initializers.GlorotUniform(seed=1), dropout_seed=2,
                                    shuffle=False)
    assert same_weights(w_fixed1, w_fixed2) and h_fixed1 == h_fixed2
    assert not same_weights(base_w, w_fixed1)


def test_dropout_seed_alone_decides_the_masks():
    """Same seeded initializer and no shuffling: only the Dropout seed differs, and it shows."""
    init = initializers.GlorotUniform(seed=1)
    w_a, _ = train_once(5, kernel_initializer=init, dropout_seed=2, shuffle=False)
    w_b, _ = train_once(5, kernel_initializer=init, dropout_seed=3, shuffle=False)
    assert not same_weights(w_a, w_b)


@pytest.mark.parametrize("name", ["GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform", "LecunNormal",
                                  "RandomNormal", "RandomUniform", "TruncatedNormal"])
def test_seeded_initializers_ignore_the_global_seed(name):
    cls = getattr(initializers, name)
    keras.utils.set_random_seed(1)
    a = cls(seed=42)((3, 3, 2, 4))
    keras.utils.set_random_seed(2)
    b = cls(seed=42)((3, 3, 2, 4))
    c = cls(seed=43)((3, 3, 2, 4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unseeded_initializers_follow_the_global_seed():
    keras.utils.set_random_seed(1)
    a = initializers.GlorotUniform()((5, 5))
    keras.utils.set_random_seed(1)
    b = initializers.GlorotUniform()((5, 5))
    c = initializers.GlorotUniform()((5, 5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)                     # the next draw is a new one


def test_layers_built_with_a_seeded_initializer_repeat():
    keras.utils.set_random_seed(1)
    a = layers.Conv2D(4, 3, kernel_initializer=initializers.HeNormal(seed=9))
    keras.utils.set_random_seed(2)
    b = layers.Conv2D(4, 3, kernel_initializer=initializers.HeNormal(seed=9))
    for layer in (a, b):
        keras.Sequential([keras.Input(shape=(6, 6, 2)), layer])
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


def test_seeded_dropout_masks_repeat_independently_of_the_global_seed():
    x = np.ones((4, 10), dtype=np.float32)
    masks = []
    for global_seed in (1, 2):
        keras.utils.set_random_seed(global_seed)
        drop = layers.Dropout(0.5, seed=3)
        masks.append([drop(x, training=True) for _ in range(3)])
    for first, second in zip(*masks):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(masks[0][0], masks[0][1])  # a new mask at every step
    assert set(np.unique(masks[0][0])) <= {0.0, 2.0}      # kept values scaled by 1 / (1 - rate)


def test_unseeded_dropout_follows_the_global_seed():
    x = np.ones((4, 10), dtype=np.float32)
    outs = []
    for _ in range(2):
        keras.utils.set_random_seed(4)
        outs.append(layers.Dropout(0.5)(x, training=True))
    np.testing.assert_array_equal(*outs)
    keras.utils.set_random_seed(5)
    assert not np.array_equal(outs[0], layers.Dropout(0.5)(x, training=True))


def test_set_random_seed_rejects_bad_seeds():
    with pytest.raises(ValueError, match="set_random_seed.* must be None or a non-negative integer; got -1"):
        keras.utils.set_random_seed(-1)
    with pytest.raises(ValueError, match="set_random_seed expects a non-negative integer seed; got None"):
        keras.utils.set_random_seed(None)
    with pytest.raises(ValueError, match=r"Dropout\(seed\) must be None or a non-negative integer; got 1.5"):
        layers.Dropout(0.5, seed=1.5)


def test_set_random_seed_also_seeds_python_and_numpy_legacy_generators():
    """Like keras.utils.set_random_seed: user code that calls random or np.random repeats too."""
    import random

    keras.utils.set_random_seed(3)
    a = (random.random(), np.random.rand())
    keras.utils.set_random_seed(3)
    assert (random.random(), np.random.rand()) == a
