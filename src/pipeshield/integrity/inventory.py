"""Artifact inventory: every file the pipeline names, with its SHA-256, size and real format.

The format is read from the bytes (:mod:`pipeshield.core.formats`), so a pickle named
``.safetensors`` is caught here. Files whose loading can execute code (pickle, torch zip) are
flagged; what their code would do is the model-file scanner's job.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.files import sha256_file
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.formats import detect_format
from pipeshield.core.pipeline import DATASET_FORMATS, MODEL_FORMATS, Pipeline

__all__ = ["ArtifactInventory", "EXPECTED_FORMATS"]

#: What a declared format must look like on disk.
EXPECTED_FORMATS: dict[str, set[str]] = {
    "safetensors": {"safetensors"},
    "torch": {"torch-zip", "pickle"},
    "torchscript": {"torchscript"},
    "skops": {"skops"},
    "onnx": {"onnx", "binary"},
    "csv": {"csv", "text"},
    "parquet": {"parquet"},
    "npz": {"npz"},
    "key": {"public-key", "pem"},
}


class ArtifactInventory(Check):
    id = "integrity.artifact-inventory"
    title = "Artifact inventory"
    stage = Stage.TRAINING
    threat = Threat.SUPPLY_CHAIN
    stages = (Stage.COLLECTION, Stage.TRAINING)
    cost = "cheap"
    description = "SHA-256, size and real format of every file the pipeline names."
    remediation = "Store models as safetensors, ONNX or skops; sign every artifact and verify before use."

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return [key.removesuffix(".path") for key, _, _ in pipeline.referenced_files()]

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        pipeline = ctx.pipeline
        key, kind, path = _lookup(pipeline, subject)
        digest, size = sha256_file(path)
        detected = detect_format(path)
        declared = _declared_format(pipeline, key)
        stage = Stage.COLLECTION if kind == "dataset" else Stage.TRAINING
        shown = pipeline.display(path)
        metrics = {
            "sha256": digest,
            "size_bytes": size,
            "declared_format": declared,
            "detected_format": detected.name,
            "can_execute_code": detected.can_execute_code,
        }
        common = {
            "subject": subject,
            "stage": stage,
            "metrics": metrics,
            "locations": (shown,),
            "evidence": (Evidence("file", f"{kind} {shown}", path=shown, sha256=digest, text=detected.detail or None),),
        }
        expected = EXPECTED_FORMATS.get(declared or "", set())
        if declared and expected and detected.name not in expected:
            severity = Severity.CRITICAL if detected.can_execute_code else Severity.HIGH
            yield self.finding(
                Status.FAIL,
                severity=severity,
                message=f"{shown} is declared {declared} but its bytes are {detected.name}"
                + (" (loading it can execute code)" if detected.can_execute_code else ""),
                remediation="Treat the file as untrusted: do not load it; rebuild it from a trusted source.",
                **common,
            )
            return
        if detected.can_execute_code:
            loaded = kind == "model" and key.startswith("models.")
            yield self.finding(
                Status.WARN if loaded else Status.FAIL,
                severity=Severity.MEDIUM if loaded else Severity.HIGH,
                message=(
                    f"{shown} is a {detected.name} file: unpickling it can execute arbitrary code"
                    + (" (pipeshield loads it with weights_only=True only)" if loaded else "")
                ),
                remediation="Convert to safetensors (torch) or skops (scikit-learn); scan it before anyone loads it.",
                caveat="The inventory reads the format only; it does not analyse what the pickle would run.",
                **common,
            )
            return
        yield self.finding(Status.PASS, message=f"{shown}: {detected.name}, {size} bytes", **common)


def _lookup(pipeline: Pipeline, subject: str | None) -> tuple[str, str, Path]:
    for key, kind, path in pipeline.referenced_files():
        if key.removesuffix(".path") == subject:
            return key, kind, path
    raise KeyError(subject)


def _declared_format(pipeline: Pipeline, key: str) -> str | None:
    section, _, rest = key.partition(".")
    name = rest.removesuffix(".path")
    if section == "datasets":
        return pipeline.datasets[name].format
    if section == "models":
        return pipeline.models[name].format
    if section == "keys":
        return "key"
    if section == "artifacts":  # no declared format: the extension is the claim
        suffix = pipeline.artifacts[name].path.suffix.lower()
        return MODEL_FORMATS.get(suffix) or DATASET_FORMATS.get(suffix)
    return None
