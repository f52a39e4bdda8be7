"""Datasets and image input for convlearn.

- :mod:`~convlearn.datasets.mnist` -- MNIST digits, shipped with convlearn (offline);
- :mod:`~convlearn.datasets.fashion_mnist` -- Fashion-MNIST, from local files or downloaded;
- :mod:`~convlearn.datasets.cifar10`, :mod:`~convlearn.datasets.cifar100` -- CIFAR, from local or Keras's
  cached archives, or downloaded (checked against Keras's checksums, read without unpickling code);
- :func:`load_digit_image` -- your own photo or drawing of a digit, prepared like MNIST;
- :func:`load_img`, :func:`img_to_array` -- Keras-style image file helpers;
- :mod:`~convlearn.datasets.idx` -- reading and writing IDX files (the MNIST file format).

Importing this package reads no data; ``load_data()`` does.

>>> from convlearn.datasets import mnist
>>> (x_train, y_train), (x_test, y_test) = mnist.load_data()
"""

from convlearn.datasets import cifar10, cifar100, fashion_mnist, idx, mnist
from convlearn.datasets.digits import load_digit_image
from convlearn.datasets.images import img_to_array, load_img

__all__ = ["mnist", "fashion_mnist", "cifar10", "cifar100", "idx", "load_digit_image", "load_img", "img_to_array"]
