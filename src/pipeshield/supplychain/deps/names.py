"""Package names as PyPI compares them, and the ML frameworks that get special attention.

PEP 503 folds case and runs of ``-``, ``_`` and ``.``: ``Scikit_Learn`` and ``scikit-learn`` are
one project, so an advisory for one must match a requirement spelled the other way.

    >>> canonical("Scikit_Learn")
    'scikit-learn'
    >>> is_ml_framework("PyTorch") , is_ml_framework("torch")
    (False, True)
"""

from __future__ import annotations

from packaging.utils import canonicalize_name

__all__ = ["ML_FRAMEWORKS", "canonical", "is_ml_framework"]

#: Frameworks that load models, run training or serve them. A vulnerability here is usually code
#: execution on model load or an exposed training cluster, so their advisories get a severity floor.
ML_FRAMEWORKS: frozenset[str] = frozenset({
    "torch", "tensorflow", "tensorflow-cpu", "tensorflow-gpu", "keras", "transformers", "onnx",
    "onnxruntime", "onnxruntime-gpu", "mlflow", "ray", "numpy", "scikit-learn", "safetensors",
    "llama-cpp-python",
})


def canonical(name: str) -> str:
    """The PEP 503 normalised name (lower case, one ``-`` for every run of separators)."""
    return str(canonicalize_name(name))


def is_ml_framework(name: str) -> bool:
    return canonical(name) in ML_FRAMEWORKS
