"""Assemble and write the CycloneDX 1.6 JSON document.

The pipeline is ``metadata.component`` (an ``application``); its models, datasets and artifacts
are components, linked in ``dependencies``: the pipeline depends on each of them, and each model
on the datasets it was trained and tested on. Every ``ref`` names a ``bom-ref`` in the document.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from pipeshield import __version__
from pipeshield.core.files import atomic_write_text
from pipeshield.core.pipeline import Pipeline, load_pipeline
from pipeshield.errors import ReportError
from pipeshield.supplychain.sbom.environment import library_components
from pipeshield.supplychain.sbom.ml import (
    artifact_components,
    dataset_components,
    dataset_ref,
    model_components,
    model_ref,
)

__all__ = ["SPEC_VERSION", "build_sbom", "write_sbom"]

SPEC_VERSION = "1.6"


def _pipeline_ref(pipeline: Pipeline) -> str:
    return f"pipeline:{pipeline.name}"


def build_sbom(pipeline: Pipeline | Path | str = "pipeshield.toml", *, environment: bool = True,
               now: dt.datetime | None = None) -> dict[str, Any]:
    """The SBOM as a JSON-ready dict (a pipeline file path is loaded and its files checked)."""
    if not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline)
    models, datasets, artifacts = model_components(pipeline), dataset_components(pipeline), artifact_components(pipeline)
    libraries = library_components() if environment else []
    root: dict[str, Any] = {"type": "application", "bom-ref": _pipeline_ref(pipeline), "name": pipeline.name}
    if pipeline.pipeline.description:
        root["description"] = pipeline.pipeline.description
    dependencies = [{"ref": root["bom-ref"], "dependsOn": [c["bom-ref"] for c in (*models, *datasets, *artifacts)]}]
    for name, spec in pipeline.models.items():
        used = [dataset_ref(d) for d in dict.fromkeys((spec.train_data, spec.test_data)) if d]
        dependencies.append({"ref": model_ref(name), "dependsOn": used})
    timestamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
            "tools": {"components": [{"type": "application", "name": "pipeshield", "version": __version__}]},
            "component": root,
        },
        "components": [*models, *datasets, *artifacts, *libraries],
        "dependencies": dependencies,
    }


def write_sbom(pipeline: Pipeline | Path | str = "pipeshield.toml", out: Path | str | None = None,
               *, environment: bool = True) -> str:
    """Build the SBOM and, when ``out`` is given, write it atomically; returns the JSON text."""
    text = json.dumps(build_sbom(pipeline, environment=environment), indent=2, ensure_ascii=False) + "\n"
    if out is not None:
        try:
            atomic_write_text(out, text)
        except OSError as err:
            raise ReportError(f"{out}: cannot write the SBOM ({err.strerror or err})") from None
    return text
