"""convlearn.data.Dataset: the tf.data methods tutorials call, on NumPy arrays."""

from __future__ import annotations

import numpy as np
import pytest

import convlearn as keras
from convlearn import data, layers


def test_slices_batches_and_lengths():
    x, y = np.arange(10 * 3).reshape(10, 3), np.arange(10)
    ds = data.Dataset.from_tensor_slices((x, y))
    assert len(ds) == 10
    first = next(iter(ds))
    np.testing.assert_array_equal(first[0], x[0])
    assert first[1] == 0
    batches = list(ds.batch(4))
    assert [len(b[1]) for b in batches] == [4, 4, 2] and len(ds.batch(4)) == 3
    assert len(ds.batch(4, drop_remainder=True)) == 2 and len(list(ds.batch(4, drop_remainder=True))) == 2
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), x)
    unbatched = list(ds.batch(3).unbatch())
    assert len(unbatched) == 10 and all(np.array_equal(a[0], b) for a, b in zip(unbatched, x))
    assert [int(v) for v in data.Dataset.range(5).skip(2).take(2)] == [2, 3]
    assert len(data.Dataset.range(5).take(10)) == 5 and len(data.Dataset.range(5).skip(10)) == 0
    dicts = list(data.Dataset.from_tensor_slices({"a": x, "b": y}).batch(5))
    assert set(dicts[0]) == {"a", "b"} and dicts[0]["a"].shape == (5, 3)


def test_map_filter_repeat_concatenate_zip():
    ds = data.Dataset.range(6)
    assert [int(v) for v in ds.map(lambda v: v * 2)] == [0, 2, 4, 6, 8, 10]
    pairs = data.Dataset.from_tensor_slices((np.arange(3), np.arange(3) * 10))
    assert [int(b) for b in pairs.map(lambda a, b: a + b)] == [0, 11, 22]      # tuples are unpacked
    assert [int(v) for v in ds.filter(lambda v: v % 2 == 0)] == [0, 2, 4]
    assert len(ds.repeat(3)) == 18 and ds.repeat().cardinality() == data.dataset.INFINITE
    assert [int(v) for v in ds.repeat().take(8)] == [0, 1, 2, 3, 4, 5, 0, 1]
    assert len(ds.concatenate(ds)) == 12
    assert [(int(a), int(b)) for a, b in data.Dataset.zip((ds, ds.skip(1)))] == [(0, 1), (1, 2), (2, 3), (3, 4),
                                                                                  (4, 5)]


def test_shuffle_is_a_permutation_reproducible_with_a_seed():
    ds = data.Dataset.range(100)
    one = [int(v) for v in ds.shuffle(100, seed=3)]
    assert sorted(one) == list(range(100)) and one != list(range(100))
    assert one == [int(v) for v in ds.shuffle(100, seed=3)]
    shuffled = ds.shuffle(100, seed=4)
    first, second = [int(v) for v in shuffled], [int(v) for v in shuffled]
    assert first != second and sorted(second) == list(range(100))          # reshuffled every pass
    fixed = ds.shuffle(100, seed=4, reshuffle_each_iteration=False)
    assert [int(v) for v in fixed] == [int(v) for v in fixed]
    small = [int(v) for v in ds.shuffle(2, seed=0)]                           # a small buffer: nearly in order
    assert sorted(small) == list(range(100)) and max(abs(a - b) for a, b in zip(small, range(100))) < 100


def test_cache_reads_once():
    reads = []

    def gen():
        for v in range(4):
            reads.append(v)
            yield np.float32(v)

    ds = data.Dataset.from_generator(gen).cache()
    assert [float(v) for v in ds] == [0, 1, 2, 3] and [float(v) for v in ds] == [0, 1, 2, 3]
    assert reads == [0, 1, 2, 3]
    assert ds.prefetch(data.AUTOTUNE) is ds and list(ds.as_numpy_iterator())[2] == 2


def test_fit_on_a_dataset_like_a_tutorial(rng):
    x = rng.random((96, 6), dtype=np.float32)
    y = (x.sum(axis=1) > 3).astype(np.int64)
    train = data.Dataset.from_tensor_slices((x, y)).shuffle(96, seed=1).batch(16).prefetch(data.AUTOTUNE)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(8, activation="relu"),
                              layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train, epochs=8, validation_data=train.take(2), verbose=0).history
    assert history["loss"][-1] < history["loss"][0] and len(history["val_loss"]) == 8
    assert model.predict(train.map(lambda a, b: a), verbose=0).shape == (96, 2)
    assert model.evaluate(train, verbose=0)[1] > 0.8


def test_errors():
    with pytest.raises(ValueError, match=r"needs arrays with the same number of rows.*lengths \[3, 2\]"):
        data.Dataset.from_tensor_slices((np.zeros(3), np.zeros(2)))
    with pytest.raises(ValueError, match=r"Dataset.batch: `batch_size` must be a positive integer. Received: "
                                         r"batch_size=0"):
        data.Dataset.range(3).batch(0)
    with pytest.raises(TypeError, match=r"The length of this dataset is unknown; iterate over it"):
        len(data.Dataset.range(3).filter(lambda v: v > 0))
    with pytest.raises(TypeError, match=r"from_generator expects a function that returns a generator"):
        data.Dataset.from_generator(iter([1, 2]))
    with pytest.raises(ValueError, match=r"caching to a file is not supported"):
        data.Dataset.range(3).cache("x.cache")
    with pytest.raises(TypeError, match=r"Dataset.map expects a function"):
        data.Dataset.range(3).map(3)
