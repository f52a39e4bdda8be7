"""Normalization layers (placeholder, being written)."""
from .base import Layer


class BatchNormalization(Layer):
    pass


LayerNormalization = BatchNormalization
