"""``Dataset``: elements made one at a time by a chain of small steps, like ``tf.data.Dataset``.

A dataset is a recipe: iterating over it runs the recipe from the start, so
every epoch of ``fit`` sees the data again (shuffled again, unless a seed
and ``reshuffle_each_iteration=False`` say otherwise). An element is a NumPy
array, or a tuple or dict of them (``(image, label)``). Every method returns
a new dataset and leaves this one as it is.
"""

from __future__ import annotations

import itertools

import numpy as np

from .. import _rng

#: Accepted wherever tf.data takes ``tf.data.AUTOTUNE`` (``prefetch``, ``num_parallel_calls``).
AUTOTUNE = -1

UNKNOWN = -2          # cardinality() of a dataset whose length is not known before it is read
INFINITE = -1         # cardinality() of a dataset that repeats forever


def _structure_map(fn, element):
    """``fn`` applied to every array of an element (a tuple, a dict, or one array)."""
    if isinstance(element, tuple):
        return tuple(_structure_map(fn, e) for e in element)
    if isinstance(element, dict):
        return {k: _structure_map(fn, v) for k, v in element.items()}
    return fn(element)


def _stack(elements):
    """One batch from a list of elements of the same structure."""
    first = elements[0]
    if isinstance(first, tuple):
        return tuple(_stack([e[i] for e in elements]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements]) for k in first}
    return np.stack([np.asarray(e) for e in elements])


def _rows(element):
    """The number of rows of a batched element (the length of its first axis)."""
    while isinstance(element, (tuple, dict)):
        element = element[0] if isinstance(element, tuple) else next(iter(element.values()))
    return len(element)


def _row(element, i):
    return _structure_map(lambda a: a[i], element)


def _positive(value, name, owner, allow_none=False):
    if allow_none and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Dataset.{owner}: `{name}` must be a positive integer. Received: {name}={value!r}.")
    return int(value)


class Dataset:
    """Elements made by ``make()`` (a function returning a fresh iterator), of ``cardinality`` elements.

    Build one with :meth:`from_tensor_slices`, :meth:`from_generator` or
    :meth:`range`, then chain :meth:`map`, :meth:`shuffle`, :meth:`batch`, ...
    """

    def __init__(self, make, cardinality=UNKNOWN):
        self._make = make
        self._cardinality = cardinality

    # ------------------------------------------------------------------
    # Sources
    # ------------------------------------------------------------------

    @classmethod
    def from_tensor_slices(cls, tensors):
        """One element per row of ``tensors`` (an array, or a tuple or dict of arrays of equal length).

        Raises
        ------
        ValueError
            If the arrays have different numbers of rows, or are scalars.
        """
        tensors = _structure_map(np.asarray, tensors if not isinstance(tensors, list) else tuple(tensors))
        lengths = []
        _structure_map(lambda a: lengths.append(a.shape[0] if a.ndim else None), tensors)
        if None in lengths or len(set(lengths)) != 1:
            raise ValueError(
                "Dataset.from_tensor_slices needs arrays with the same number of rows (the first axis); got "
                f"lengths {lengths}. Check that x and y have one row per sample."
            )
        n = lengths[0]
        return cls(lambda: (_row(tensors, i) for i in range(n)), n)

    @classmethod
    def from_generator(cls, generator, output_signature=None, output_types=None, output_shapes=None, args=None):
        """Elements from ``generator()`` (a function returning an iterator), called again each time."""
        if not callable(generator):
            raise TypeError("Dataset.from_generator expects a function that returns a generator, e.g. "
                            f"from_generator(lambda: gen()); got {type(generator).__name__}.")
        arguments = tuple(args or ())
        return cls(lambda: iter(generator(*arguments)))

    @classmethod
    def range(cls, *args):
        """The integers of ``range(*args)``, as int64 arrays."""
        r = range(*args)
        return cls(lambda: (np.int64(v) for v in r), len(r))

    # ------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------

    def __iter__(self):
        return iter(self._make())

    def as_numpy_iterator(self):
        """An iterator over the elements (they already are NumPy arrays)."""
        return iter(self)

    def cardinality(self):
        """The number of elements, or -1 (infinite) or -2 (unknown), like tf.data."""
        return self._cardinality

    def __len__(self):
        if self._cardinality < 0:
            kind = "infinite" if self._cardinality == INFINITE else "unknown"
            raise TypeError(f"The length of this dataset is {kind}; iterate over it, or use take(n).")
        return self._cardinality

    def __repr__(self):
        n = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(self._cardinality, self._cardinality)
        return f"<Dataset of {n} elements>"

    # ------------------------------------------------------------------
    # Steps
    # ------------------------------------------------------------------

    def map(self, map_func, num_parallel_calls=None, deterministic=None):
        """``map_func`` applied to every element (a tuple element is passed as separate arguments)."""
        if not callable(map_func):
            raise TypeError(f"Dataset.map expects a function; got {type(map_func).__name__}.")

        def make():
            for element in self:
                yield map_func(*element) if isinstance(element, tuple) else map_func(element)
        return Dataset(make, self._cardinality)

    def filter(self, predicate):
        """Only the elements for which ``predicate(element)`` is true."""
        def make():
            for element in self:
                keep = predicate(*element) if isinstance(element, tuple) else predicate(element)
                if bool(np.asarray(keep)):
                    yield element
        return Dataset(make, UNKNOWN)

    def batch(self, batch_size, drop_remainder=False, num_parallel_calls=None, deterministic=None):
        """Consecutive elements stacked into batches of ``batch_size`` (the last may be smaller)."""
        batch_size = _positive(batch_size, "batch_size", "batch")

        def make():
            iterator = iter(self)
            while True:
                chunk = list(itertools.islice(iterator, batch_size))
                if not chunk or (drop_remainder and len(chunk) < batch_size):
                    return
                yield _stack(chunk)
        n = self._cardinality
        if n >= 0:
            n = n // batch_size if drop_remainder else -(-n // batch_size)
        return Dataset(make, n)

    def unbatch(self):
        """Every row of every batch as an element of its own."""
        def make():
            for element in self:
                for i in range(_rows(element)):
                    yield _row(element, i)
        return Dataset(make, UNKNOWN if self._cardinality != INFINITE else INFINITE)

    def take(self, count):
        """The first ``count`` elements (all of them for -1)."""
        if count == -1:
            return self
        count = _positive(count, "count", "take") if count != 0 else 0
        if self._cardinality >= 0:
            n = min(count, self._cardinality)
        else:
            n = count if self._cardinality == INFINITE else UNKNOWN
        return Dataset(lambda: itertools.islice(iter(self), count), n)

    def skip(self, count):
        """All but the first ``count`` elements."""
        count = 0 if count == 0 else _positive(count, "count", "skip")
        n = max(0, self._cardinality - count) if self._cardinality >= 0 else self._cardinality
        return Dataset(lambda: itertools.islice(iter(self), count, None), n)

    def repeat(self, count=None):
        """The elements ``count`` times over (forever for None or -1)."""
        forever = count is None or count == -1
        if not forever:
            count = _positive(count, "count", "repeat")

        def make():
            for _ in (itertools.count() if forever else range(count)):
                yield from self
        n = INFINITE if forever else (self._cardinality * count if self._cardinality >= 0 else self._cardinality)
        return Dataset(make, n)

    def shuffle(self, buffer_size, seed=None, reshuffle_each_iteration=True):
        """The elements in random order, drawn from a buffer of ``buffer_size`` of them (tf.data's algorithm:
        a buffer as large as the dataset gives a uniform shuffle).

        With a ``seed`` the order is reproducible; with ``reshuffle_each_iteration=False``
        every pass gives the same order.
        """
        buffer_size = _positive(buffer_size, "buffer_size", "shuffle")
        seed = _rng.check_seed(seed, "Dataset.shuffle(seed)")
        base = _rng.generator_for(seed)
        first_pass = {"seed": int(base.integers(2**63 - 1))}
        passes = itertools.count()

        def make():
            k = next(passes)
            if reshuffle_each_iteration:
                rng = np.random.default_rng((first_pass["seed"], k))
            else:
                rng = np.random.default_rng(first_pass["seed"])
            buffer = []
            for element in self:
                if len(buffer) < buffer_size:
                    buffer.append(element)
                    continue
                i = int(rng.integers(len(buffer)))
                yield buffer[i]
                buffer[i] = element
            while buffer:
                i = int(rng.integers(len(buffer)))
                yield buffer[i]
                buffer[i] = buffer[-1]
                buffer.pop()
        return Dataset(make, self._cardinality)

    def cache(self, filename=""):
        """The elements read once, then kept in memory for the next passes (``filename`` is not supported)."""
        if filename:
            raise ValueError("Dataset.cache: caching to a file is not supported by convlearn; use cache() to keep "
                             f"the elements in memory. Received: filename={filename!r}.")
        store = {"elements": None}

        def make():
            if store["elements"] is not None:
                yield from store["elements"]
                return
            elements = []
            for element in self:
                elements.append(element)
                yield element
            store["elements"] = elements             # only a complete pass is kept
        return Dataset(make, self._cardinality)

    def prefetch(self, buffer_size):
        """The same elements (convlearn reads the next batch when it needs it; kept for tf.data code)."""
        if buffer_size is not None and buffer_size != AUTOTUNE:
            _positive(buffer_size, "buffer_size", "prefetch")
        return self

    def concatenate(self, dataset):
        """This dataset's elements, then ``dataset``'s."""
        n = self._cardinality + dataset._cardinality if min(self._cardinality, dataset._cardinality) >= 0 \
            else UNKNOWN
        return Dataset(lambda: itertools.chain(iter(self), iter(dataset)), n)

    @staticmethod
    def zip(*datasets):
        """Tuples of the elements of several datasets, side by side."""
        if len(datasets) == 1 and isinstance(datasets[0], tuple):
            datasets = datasets[0]
        known = [d._cardinality for d in datasets if d._cardinality >= 0]
        n = min(known) if known else UNKNOWN
        return Dataset(lambda: zip(*(iter(d) for d in datasets)), n)
