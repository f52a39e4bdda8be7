"""Keras's ``backend`` helpers that beginner scripts call."""

from __future__ import annotations

from .layers.base import clear_session


def floatx():
    """Default float type of weights and computations."""
    return "float32"


def image_data_format():
    """Images are (batch, height, width, channels), like Keras's default."""
    return "channels_last"


def epsilon():
    """The fuzz factor used to clip probabilities in cross-entropy."""
    return 1e-7


__all__ = ["clear_session", "epsilon", "floatx", "image_data_format"]
