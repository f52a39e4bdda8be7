"""fit, evaluate and predict on datasets, generators, iterators and PyDataset; sample and class weights."""

from __future__ import annotations

import numpy as np
import pytest

import convlearn as keras
from convlearn import layers
from model_helpers import bars_dataset, same_weights


def small_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def bars():
    return bars_dataset(96, seed=3)


class Repeatable:
    """A dataset-like object: iterated over again from its start every epoch, with a length."""

    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def batches_of(x, y, size=16, weights=None):
    out = []
    for start in range(0, len(x), size):
        sl = slice(start, start + size)
        out.append((x[sl], y[sl]) if weights is None else (x[sl], y[sl], weights[sl]))
    return Repeatable(out)


def test_a_list_of_batches_trains_exactly_like_the_arrays(bars):
    x, y = bars
    arrays = small_model()
    h1 = arrays.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    batches = small_model()
    h2 = batches.fit(batches_of(x, y), epochs=2, verbose=0).history
    assert h1 == h2
    assert same_weights(arrays.get_weights(), batches.get_weights())
    assert batches.evaluate(batches_of(x, y), verbose=0) == arrays.evaluate(x, y, batch_size=16, verbose=0)
    np.testing.assert_array_equal(batches.predict(batches_of(x, y), verbose=0), arrays.predict(x, verbose=0))
    np.testing.assert_array_equal(batches.predict(Repeatable([b[0] for b in batches_of(x, y)]), verbose=0),
                                  arrays.predict(x, verbose=0))


def test_a_generator_with_steps_per_epoch_goes_on_where_the_last_epoch_stopped(bars):
    x, y = bars
    served = []

    def forever():
        k = 0
        while True:
            served.append(k)
            sl = slice((k % 6) * 16, (k % 6) * 16 + 16)
            yield x[sl], y[sl]
            k += 1

    model = small_model()
    history = model.fit(forever(), steps_per_epoch=4, epochs=3, verbose=0).history
    assert len(history["loss"]) == 3
    assert served[:12] == list(range(12))                    # 12 different batches, not 4 three times


def test_a_generator_that_runs_out_stops_training_with_a_warning(bars):
    x, y = bars
    model = small_model()

    def once():
        yield from batches_of(x, y)

    with pytest.warns(UserWarning, match=r"the input ran out of data after 0 batch\(es\) of this epoch"):
        history = model.fit(once(), epochs=3, verbose=0).history
    assert len(history["loss"]) == 1                       # the first epoch read it all


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.size = x, y, size
        self.asked, self.epochs_ended = [], 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.size))

    def __getitem__(self, index):
        self.asked.append(index)
        sl = slice(index * self.size, (index + 1) * self.size)
        return self.x[sl], self.y[sl]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_a_pydataset_gives_its_batches_in_shuffled_order_each_epoch(bars, capsys):
    x, y = bars
    data = Batches(x, y, 16, workers=2)
    model = small_model()
    history = model.fit(data, epochs=2, verbose=1).history
    assert len(history["loss"]) == 2 and data.epochs_ended == 2
    assert sorted(data.asked[:6]) == list(range(6)) and sorted(data.asked[6:]) == list(range(6))
    assert data.asked[:6] != list(range(6)) or data.asked[6:] != list(range(6))    # shuffled
    assert "6/6" in capsys.readouterr().out                  # the progress bar knows the length
    data.asked.clear()
    model.fit(data, epochs=1, shuffle=False, verbose=0)
    assert data.asked == list(range(6))
    assert model.evaluate(data, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}


def test_validation_data_can_be_a_dataset(bars):
    x, y = bars
    model = small_model()
    history = model.fit(batches_of(x[:64], y[:64]), validation_data=batches_of(x[64:], y[64:]),
                        epochs=2, verbose=0).history
    assert len(history["val_loss"]) == 2
    assert history["val_loss"][-1] == pytest.approx(model.evaluate(x[64:], y[64:], batch_size=16, verbose=0)[0])


def test_sample_weights_weight_each_samples_loss(bars):
    x, y = bars
    w = np.random.default_rng(1).random(len(x))
    model = small_model()
    weighted = model.evaluate(x, y, sample_weight=w, verbose=0)[0]
    per_sample = keras.losses.sparse_categorical_crossentropy(y, model.predict(x, verbose=0))
    assert weighted == pytest.approx(float(np.sum(w * per_sample) / len(x)), rel=1e-5)
    # weights 0 and 1 train like dropping those samples' loss (scaled by the batch size)
    mask = (np.arange(len(x)) % 2).astype(float)
    a = small_model()
    a.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    a.fit(x, y, sample_weight=mask * 2, batch_size=len(x), shuffle=False, verbose=0)
    b = small_model()
    b.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    b.fit(x[mask == 1], y[mask == 1], batch_size=len(x), shuffle=False, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)
    # in a dataset: (x, y, sample_weight) batches
    c = small_model()
    c.fit(batches_of(x, y, weights=w), epochs=1, verbose=0)
    d = small_model()
    d.fit(x, y, sample_weight=w, batch_size=16, shuffle=False, verbose=0)
    assert same_weights(c.get_weights(), d.get_weights())


def test_class_weights_become_sample_weights(bars):
    x, y = bars
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    a, b = small_model(), small_model()
    a.fit(x, y, class_weight=weights, batch_size=16, shuffle=False, verbose=0)
    b.fit(x, y, sample_weight=np.array([weights[int(c)] for c in y]), batch_size=16, shuffle=False, verbose=0)
    assert same_weights(a.get_weights(), b.get_weights())


def test_errors_for_datasets(bars):
    x, y = bars
    model = small_model()
    with pytest.raises(ValueError, match=r"when `x` is a dataset or generator, its batches hold the labels and "
                                         r"weights, so `y` must be None"):
        model.fit(batches_of(x, y), y, verbose=0)
    with pytest.raises(ValueError, match=r"`validation_split` needs arrays"):
        model.fit(batches_of(x, y), validation_split=0.2, verbose=0)
    with pytest.raises(ValueError, match=r"each batch must be \(x, y\) or \(x, y, sample_weight\); got a tuple of 4"):
        model.fit(Repeatable([(x, y, None, None)]), verbose=0)
    with pytest.raises(ValueError, match=r"the batches must hold labels, \(x, y\)"):
        model.fit(iter([x[:8], x[8:16]]), verbose=0)
    with pytest.raises(ValueError, match=r"predict: `steps` is for datasets and generators"):
        model.predict(x, steps=2, verbose=0)
    with pytest.raises(ValueError, match=r"the data gave no batch at all"), pytest.warns(UserWarning, match="ran out"):
        model.predict(iter([]), verbose=0)

    class Broken(keras.utils.PyDataset):
        pass

    with pytest.raises(NotImplementedError, match=r"Broken must define __len__"):
        model.fit(Broken(), verbose=0)
