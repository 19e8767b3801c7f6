"""pipeshield: assess and defend machine-learning pipelines, stage by stage.

The public API is what ``__all__`` lists; everything else is internal and may change. Heavy
modules (torch, pandas, onnxruntime) load only when a function that needs them runs.

    >>> import pipeshield
    >>> result = pipeshield.audit("pipeshield.toml")      # doctest: +SKIP
    >>> result.report.passed_gate
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "AuditResult",
    "Check",
    "CheckContext",
    "CheckError",
    "ConfigError",
    "DatasetError",
    "EndpointError",
    "Evidence",
    "Finding",
    "Pipeline",
    "PipeshieldError",
    "Report",
    "ReportError",
    "Severity",
    "Stage",
    "Status",
    "Target",
    "TargetError",
    "Threat",
    "WhiteBoxTarget",
    "__version__",
    "audit",
    "build_demo",
    "load_dataset",
    "load_pipeline",
    "load_target",
]

_LAZY = {
    "ArtifactError": "pipeshield.errors",
    "CheckError": "pipeshield.errors",
    "ConfigError": "pipeshield.errors",
    "DatasetError": "pipeshield.errors",
    "EndpointError": "pipeshield.errors",
    "PipeshieldError": "pipeshield.errors",
    "ReportError": "pipeshield.errors",
    "TargetError": "pipeshield.errors",
    "Evidence": "pipeshield.core.findings",
    "Finding": "pipeshield.core.findings",
    "Severity": "pipeshield.core.findings",
    "Stage": "pipeshield.core.findings",
    "Status": "pipeshield.core.findings",
    "Threat": "pipeshield.core.findings",
    "Check": "pipeshield.core.checks",
    "CheckContext": "pipeshield.core.checks",
    "Pipeline": "pipeshield.core.pipeline",
    "load_pipeline": "pipeshield.core.pipeline",
    "load_dataset": "pipeshield.core.datasets",
    "Target": "pipeshield.core.targets",
    "WhiteBoxTarget": "pipeshield.core.targets",
    "load_target": "pipeshield.core.targets",
    "Report": "pipeshield.report",
    "AuditResult": "pipeshield.audit",
    "audit": "pipeshield.audit",
    "build_demo": "pipeshield.demo",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeshield' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from pipeshield.audit import AuditResult, audit
    from pipeshield.core.checks import Check, CheckContext
    from pipeshield.core.datasets import load_dataset
    from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
    from pipeshield.core.pipeline import Pipeline, load_pipeline
    from pipeshield.core.targets import Target, WhiteBoxTarget, load_target
    from pipeshield.demo import build_demo
    from pipeshield.errors import (
        ArtifactError,
        CheckError,
        ConfigError,
        DatasetError,
        EndpointError,
        PipeshieldError,
        ReportError,
        TargetError,
    )
    from pipeshield.report import Report
