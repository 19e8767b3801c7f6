"""The pipeline's models and datasets as CycloneDX 1.6 ML-BOM components.

- a model is a ``machine-learning-model`` with its SHA-256 and a ``modelCard``:
  ``modelParameters.task`` is ``classification`` (every pipeshield target answers
  ``predict_proba``), ``approach`` is ``supervised`` when its training data is labelled,
  ``architectureFamily`` follows the file format, ``modelArchitecture`` names the builder, and
  ``datasets`` holds ``ref``s to the data components it was trained and tested on;
- a dataset is a ``data`` component with its SHA-256 and ``data: [{type: dataset, name,
  contents: {url: path}}]``; its role (train, test, ...) is a property;
- other artifacts (legacy checkpoints, code) are ``file`` components with their SHA-256: pipeshield
  never loads them, so it does not describe them as models.

Paths are relative to the pipeline file, as written there. Performance metrics are left out: the
SBOM records what the pipeline is made of, the audit report what it measured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipeshield.core.pipeline import Pipeline
from pipeshield.integrity.digests import digest_file

__all__ = ["ARCHITECTURE_FAMILY", "artifact_components", "dataset_components", "dataset_ref", "model_components", "model_ref"]

ARCHITECTURE_FAMILY = {
    "safetensors": "neural network (PyTorch)",
    "torch": "neural network (PyTorch)",
    "torchscript": "neural network (TorchScript)",
    "skops": "scikit-learn estimator",
    "onnx": "ONNX graph",
}


def model_ref(name: str) -> str:
    return f"model:{name}"


def dataset_ref(name: str) -> str:
    return f"dataset:{name}"


def _hashes(path: Path) -> list[dict[str, str]]:
    return [{"alg": "SHA-256", "content": digest_file(path, "sha256")}]


def _props(**values: str | None) -> list[dict[str, str]]:
    return [{"name": f"pipeshield:{k}", "value": v} for k, v in values.items() if v]


def _url(pipeline: Pipeline, path: Path) -> str:
    return quote(pipeline.display(path), safe="/:")


def model_components(pipeline: Pipeline) -> list[dict[str, Any]]:
    out = []
    for name, spec in pipeline.models.items():
        path = pipeline.resolve(spec.path)
        params: dict[str, Any] = {}
        train = pipeline.datasets.get(spec.train_data or "")
        if train is not None:
            params["approach"] = {"type": "supervised" if train.label else "unsupervised"}
        params["task"] = "classification"
        params["architectureFamily"] = ARCHITECTURE_FAMILY[spec.format or ""]
        if spec.builder:
            params["modelArchitecture"] = spec.builder
        refs = [dataset_ref(d) for d in dict.fromkeys((spec.train_data, spec.test_data)) if d]
        if refs:
            params["datasets"] = [{"ref": r} for r in refs]
        component: dict[str, Any] = {
            "type": "machine-learning-model",
            "bom-ref": model_ref(name),
            "name": name,
            "hashes": _hashes(path),
            "modelCard": {"bom-ref": f"model-card:{name}", "modelParameters": params},
            "properties": _props(path=pipeline.display(path), format=spec.format),
        }
        if spec.description:
            component["description"] = spec.description
        out.append(component)
    return out


def dataset_components(pipeline: Pipeline) -> list[dict[str, Any]]:
    out = []
    for name, spec in pipeline.datasets.items():
        path = pipeline.resolve(spec.path)
        data: dict[str, Any] = {"type": "dataset", "name": name, "contents": {"url": _url(pipeline, path)}}
        if spec.description:
            data["description"] = spec.description
        component: dict[str, Any] = {
            "type": "data",
            "bom-ref": dataset_ref(name),
            "name": name,
            "hashes": _hashes(path),
            "data": [data],
            "properties": _props(role=spec.role, format=spec.format, label=spec.label),
        }
        out.append(component)
    return out


def artifact_components(pipeline: Pipeline) -> list[dict[str, Any]]:
    out = []
    for name, spec in pipeline.artifacts.items():
        path = pipeline.resolve(spec.path)
        component: dict[str, Any] = {
            "type": "file",
            "bom-ref": f"artifact:{name}",
            "name": name,
            "hashes": _hashes(path),
            "properties": _props(path=pipeline.display(path), kind=spec.kind),
        }
        if spec.description:
            component["description"] = spec.description
        out.append(component)
    return out
