"""ONNX targets, run with onnxruntime on the CPU.

Classifier graphs from skl2onnx answer probabilities (possibly as a list of ``{class: p}`` maps);
graphs exported from torch answer logits, which are turned into probabilities with a softmax.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.core.targets.base import model_errors, register_loader, reshape_input, softmax
from pipeshield.errors import TargetError

if TYPE_CHECKING:
    from pipeshield.core.pipeline import Pipeline

__all__ = ["OnnxTarget"]

_BATCH = 1024


class OnnxTarget:
    white_box = False

    def __init__(self, name: str, session: Any, *, input_shape: list[int] | None = None) -> None:
        self.name = name
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.input_shape = input_shape
        self.classes: np.ndarray | None = None
        self.outputs_logits: bool | None = None

    def _run(self, x: np.ndarray) -> np.ndarray:
        with model_errors(self.name, x):
            outputs = self.session.run(None, {self.input_name: x})
        for out in outputs:
            if isinstance(out, list) and out and isinstance(out[0], dict):
                keys = sorted(out[0])
                self.classes = np.asarray(keys)
                return np.asarray([[row[k] for k in keys] for row in out], dtype=np.float64)
        for out in outputs:
            arr = np.asarray(out)
            if arr.ndim == 2 and arr.dtype.kind == "f":
                return arr.astype(np.float64)
        raise TargetError(f"models.{self.name}: the ONNX graph has no 2-D float output to read scores from")

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = reshape_input(x, self.input_shape, self.name)
        parts = [self._run(np.ascontiguousarray(x[i : i + _BATCH])) for i in range(0, len(x), _BATCH)]
        scores = np.concatenate(parts) if parts else np.zeros((0, 0))
        is_prob = bool(scores.size == 0 or (scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1, atol=1e-3)))
        self.outputs_logits = not is_prob
        if self.classes is None:
            self.classes = np.arange(scores.shape[1])
        return scores if is_prob else softmax(scores)


@register_loader("onnx")
def _load_onnx(pipeline: Pipeline, name: str, data: bytes) -> OnnxTarget:
    import onnxruntime as ort

    spec = pipeline.models[name]
    where = f"{pipeline.display(spec.path)} (models.{name})"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own untyped errors
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise TargetError(f"{where}: onnxruntime cannot load it: {first}") from None
    return OnnxTarget(name, session, input_shape=spec.input_shape)
