"""Datasets: a chain of steps that yields NumPy arrays, with the methods tutorials call on ``tf.data``.

::

    from convlearn import data
    ds = data.Dataset.from_tensor_slices((x_train, y_train))
    ds = ds.shuffle(1000, seed=0).batch(32).prefetch(data.AUTOTUNE)
    model.fit(ds, epochs=3)

``keras.utils.image_dataset_from_directory`` returns one of these.
"""

from .dataset import AUTOTUNE, Dataset

__all__ = ["AUTOTUNE", "Dataset"]
