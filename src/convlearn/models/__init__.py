"""Models: ``Sequential``, ``Model`` (functional or subclassed) and ``load_model``.

Every model is a graph of layer calls run by one engine
(:mod:`convlearn.engine`): :mod:`.model` holds what all models share,
:mod:`.functional` and :mod:`.sequential` the two ways of writing a graph
down, :mod:`.trainer` compile, fit, evaluate and predict.
"""

from .functional import Functional
from .model import Model
from .sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True, max_weights=None):
    """Load a model saved with ``model.save(...)``.

    ``custom_objects`` maps class names in the file to your own classes (a
    subclassed model, a layer of your own); loading builds only those and
    convlearn's own classes, and never runs code from the file, so
    ``safe_mode`` makes no difference. ``max_weights`` caps how many weights the
    file may ask for (default 20 million): a small hostile file cannot make loading
    allocate without bound.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not a convlearn model, or is corrupted or truncated.
    """
    from ..saving import load_model as _load

    return _load(filepath, compile=compile, custom_objects=custom_objects, max_weights=max_weights)


__all__ = ["Functional", "Model", "Sequential", "load_model"]
