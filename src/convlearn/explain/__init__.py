"""The guide's walk-throughs: every layer of the beginner's CNN guide, worked out with numbers.

>>> from convlearn import explain
>>> walk = explain.explain_conv()            # the guide's 6x6 image and 3x3 filter
>>> walk.output.shape
(4, 4)
>>> print(walk.steps[0].total)               # the first cell of the feature map
1.0

Every walk-through object renders itself: ``walk.to_text(lang="zh")`` for the terminal,
``walk.to_figure("conv.png")`` and ``walk.to_gif("conv.gif")`` for pictures (matplotlib and
Pillow: ``pip install "convlearn[plot]"``).  See :mod:`convlearn.explain.walkthrough`.

For a model of your own:

* ``model.summary(explain=True)`` shows how each layer's output shape and parameter count
  follow from its numbers (:func:`explain_layer`);
* ``model.check_gradients()`` compares every layer's ``backward`` with numerical derivatives
  (:func:`check_gradients`), also for your own ``Layer`` subclasses;
* :func:`plot_history`, :func:`plot_filters`, :func:`plot_feature_maps`,
  :func:`plot_confusion_matrix` and :func:`plot_misclassified` draw a trained model
  (:mod:`convlearn.explain.model_figures`);
* :func:`explain_cell` takes one number of one layer apart (window, filter, products, sum,
  bias, activation) and :func:`network_steps` lists the layer calls as a graph
  (:mod:`convlearn.explain.network`);
* :func:`explain_backward` walks through backpropagation for one image: softmax with
  cross-entropy (``p - y``), a dense layer, a pooling window, a convolution
  (:mod:`convlearn.explain.backward`); without a model, on the guide's example.
"""

from .backward import BackwardWalkthrough, GradientFlow, explain_backward, gradient_flow
from .gradcheck import GradientCheck, check_gradients
from .i18n import LANGS, resolve_lang, tr
from .model_figures import (
    confusion_matrix,
    feature_maps,
    misclassified,
    plot_confusion_matrix,
    plot_feature_maps,
    plot_filters,
    plot_history,
    plot_misclassified,
)
from .network import CellArithmetic, LayerStep, explain_cell, network_steps
from .summary import explain_layer
from .walkthrough import (
    DEFAULT_CLASS_NAMES,
    DEFAULT_DENSE_BIAS,
    DEFAULT_DENSE_WEIGHTS,
    DEFAULT_GRAY_PIXELS,
    DEFAULT_IMAGE,
    DEFAULT_KERNEL,
    DEFAULT_RGB_PIXELS,
    ConvStep,
    ConvWalkthrough,
    DenseWalkthrough,
    ExplainError,
    FlattenWalkthrough,
    GuideWalkthrough,
    InputWalkthrough,
    OutputSize,
    PoolStep,
    PoolWalkthrough,
    ReLUWalkthrough,
    SoftmaxWalkthrough,
    explain_conv,
    explain_dense,
    explain_flatten,
    explain_guide,
    explain_input,
    explain_pool,
    explain_relu,
    explain_softmax,
    load_array,
    output_size,
    parse_array,
)

__all__ = [
    "LANGS",
    "resolve_lang",
    "tr",
    "GradientCheck",
    "check_gradients",
    "explain_layer",
    "BackwardWalkthrough",
    "GradientFlow",
    "explain_backward",
    "gradient_flow",
    "CellArithmetic",
    "LayerStep",
    "explain_cell",
    "network_steps",
    "confusion_matrix",
    "feature_maps",
    "misclassified",
    "plot_confusion_matrix",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_misclassified",
    "DEFAULT_CLASS_NAMES",
    "DEFAULT_DENSE_BIAS",
    "DEFAULT_DENSE_WEIGHTS",
    "DEFAULT_GRAY_PIXELS",
    "DEFAULT_IMAGE",
    "DEFAULT_KERNEL",
    "DEFAULT_RGB_PIXELS",
    "ConvStep",
    "ConvWalkthrough",
    "DenseWalkthrough",
    "ExplainError",
    "FlattenWalkthrough",
    "GuideWalkthrough",
    "InputWalkthrough",
    "OutputSize",
    "PoolStep",
    "PoolWalkthrough",
    "ReLUWalkthrough",
    "SoftmaxWalkthrough",
    "explain_conv",
    "explain_dense",
    "explain_flatten",
    "explain_guide",
    "explain_input",
    "explain_pool",
    "explain_relu",
    "explain_softmax",
    "load_array",
    "output_size",
    "parse_array",
]
