"""Data that is not one array: datasets, generators, iterators and ``PyDataset``, batch by batch.

``fit``, ``evaluate`` and ``predict`` take arrays (the model cuts them into
batches) or a source of ready-made batches, as Keras does:

- an object that can be iterated over again every epoch (a dataset, a list of
  batches): each epoch starts from its beginning;
- a generator or iterator, which can be read only once: the epochs go on where
  the last one stopped (give ``steps_per_epoch``);
- a :class:`PyDataset`: ``len(dataset)`` batches, ``dataset[i]`` the i-th.

Each batch is ``(x, y)``, ``(x, y, sample_weight)``, or for ``predict`` ``x``
alone (or ``(x,)``).
"""

from __future__ import annotations

import warnings

import numpy as np


class PyDataset:
    """Batches made by Python code, like ``keras.utils.PyDataset``.

    Subclass it and define ``__len__`` (the number of batches) and
    ``__getitem__(index)`` (the batch at ``index``: ``(x, y)`` or
    ``(x, y, sample_weight)``). ``on_epoch_end()`` runs after each epoch.

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are Keras's;
    convlearn reads the batches in the training thread, one at a time.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(self, index), returning a batch.")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__(self), the number of batches.")

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_end(self):
        """Called after each epoch (e.g. to shuffle the samples)."""


def is_batch_source(x):
    """Whether ``x`` gives ready-made batches (not arrays for the model to cut into batches)."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or np.isscalar(x):
        return False
    return isinstance(x, PyDataset) or hasattr(x, "__iter__") or hasattr(x, "__next__")


def split_batch(batch, owner, need_y):
    """``(x, y, sample_weight)`` of one batch; ``y`` and ``sample_weight`` may be None.

    Raises
    ------
    ValueError
        For a batch of another form, or without labels where they are needed.
    """
    if isinstance(batch, tuple):
        if not 1 <= len(batch) <= 3:
            raise ValueError(
                f"{owner}: each batch must be (x, y) or (x, y, sample_weight); got a tuple of {len(batch)} items."
            )
        x, y, w = (tuple(batch) + (None, None))[:3]
    else:
        x, y, w = batch, None, None
    if need_y and y is None:
        raise ValueError(
            f"{owner}: the batches must hold labels, (x, y) or (x, y, sample_weight); got batches of inputs only "
            f"({type(batch).__name__}). Yield (x, y) pairs."
        )
    return x, y, w


class BatchSource:
    """Epochs of batches from a dataset, generator, iterator or :class:`PyDataset`.

    Parameters
    ----------
    data : the source
    steps : int or None
        Batches per epoch (``steps_per_epoch``); None: all of them.
    owner : str
        For messages (``"fit"``).
    """

    def __init__(self, data, steps, owner):
        self.data = data
        self.owner = owner
        self.indexed = isinstance(data, PyDataset)
        self.once = not self.indexed and (hasattr(data, "__next__") or iter(data) is data)
        self._iterator = None
        self.exhausted = False
        known = None
        if self.indexed:
            known = len(data)
        elif not self.once and hasattr(data, "__len__"):
            try:
                known = len(data)
            except TypeError:
                known = None
        self.steps = steps if steps is not None else known

    def epoch(self, rng=None):
        """The batches of one epoch (shuffled batch order for a :class:`PyDataset` when ``rng`` is given)."""
        if self.indexed:
            order = range(len(self.data)) if rng is None else rng.permutation(len(self.data))
            for k, index in enumerate(order):
                if self.steps is not None and k >= self.steps:
                    break
                yield self.data[int(index)]
            self.data.on_epoch_end()
            return
        if self.once:
            iterator = self._iterator if self._iterator is not None else iter(self.data)
            self._iterator = iterator
        else:
            iterator = iter(self.data)
        count = 0
        while self.steps is None or count < self.steps:
            try:
                batch = next(iterator)
            except StopIteration:
                if self.once:
                    self.exhausted = True
                    if count == 0 or self.steps is not None:
                        warnings.warn(
                            f"{self.owner}: the input ran out of data after {count} batch(es) of this epoch. Make "
                            "sure the dataset or generator can give at least steps_per_epoch * epochs batches "
                            "(or pass an object that can be iterated over again, like a dataset).",
                            stacklevel=4,
                        )
                return
            count += 1
            yield batch
