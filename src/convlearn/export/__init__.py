"""Exporting a trained model for inference outside convlearn.

``model.export("model.onnx", format="onnx")`` writes an ONNX file that ONNX
Runtime (or any ONNX runtime) runs without convlearn; see
:mod:`convlearn.export.onnx_export` for how each layer becomes ONNX operators.
"""

from __future__ import annotations

#: The formats ``Model.export`` writes.
FORMATS = ("onnx",)
#: Keras 3's other formats, which need TensorFlow, OpenVINO, LiteRT or PyTorch's exporter.
_KERAS_ONLY = ("tf_saved_model", "openvino", "litert", "torch")


def export_model(model, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
    """Write ``model`` for inference in ``format``; what ``Model.export`` runs.

    Parameters
    ----------
    model : convlearn.Model
        A built model.
    filepath : str or os.PathLike
        The file to write (``"model.onnx"``).
    format : str
        ``"onnx"``; Keras's default ``"tf_saved_model"`` and its other formats are
        refused with a message saying what to use instead.
    verbose : bool, optional
        Print where the file was written.
    input_signature : None
        convlearn exports the model's own input shapes (batch axis free).
    **kwargs
        ``opset_version`` (int, default 13) for ONNX.

    Raises
    ------
    ValueError
        For an unknown format, a model that is not built, or a layer with no
        ONNX converter.
    ImportError
        If the ``onnx`` package is missing (``pip install "convlearn[onnx]"``).
    """
    if not isinstance(format, str) or format not in FORMATS:
        if format in _KERAS_ONLY:
            why = f"format={format!r} is one of Keras's formats that need TensorFlow or another framework"
        else:
            why = f"format={format!r} is not a format convlearn knows"
        raise ValueError(
            f"Model.export: {why}. convlearn exports format='onnx' only: "
            f"model.export('model.onnx', format='onnx'). To save the model to load it again in convlearn "
            f"or Keras, use model.save('model.keras'); for the weights alone, model.save_weights(...)."
        )
    if input_signature is not None:
        raise ValueError(
            "Model.export: `input_signature` is not supported by convlearn; the ONNX file takes the model's "
            f"own input shape with a free batch axis ({model.input_shape if model.built else 'not built'}). "
            f"Received: input_signature={input_signature!r:.100}. Leave it out."
        )
    from .onnx_export import export_onnx

    opset = kwargs.pop("opset_version", None)
    if kwargs:
        raise TypeError(
            f"Model.export: unexpected argument(s) {sorted(kwargs)}; for format='onnx' the options are "
            "verbose and opset_version."
        )
    export_onnx(model, filepath, opset_version=opset)
    if verbose:
        print(f"Saved the ONNX model at {filepath}")


__all__ = ["FORMATS", "export_model"]
