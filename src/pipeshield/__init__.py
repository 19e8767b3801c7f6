"""pipeshield: assess and defend machine-learning pipelines, stage by stage.

The public API is what ``__all__`` lists; everything else is internal and may change. Heavy
modules (torch, pandas, onnxruntime) load only when a function that needs them runs.

    >>> import pipeshield
    >>> result = pipeshield.audit("pipeshield.toml")      # doctest: +SKIP
    >>> result.report.passed_gate
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeshield._lazy import lazy_getattr

__version__ = "0.1.0"

__all__ = [
    "ArtifactError",
    "AuditResult",
    "KeyFileError",
    "VerificationError",
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
    "gate_failures",
    "load_dataset",
    "load_pipeline",
    "load_target",
    "parse_pipeline",
    "register_executor",
    "register_format",
    "register_loader",
    "run_checks",
    "sign",
    "verify",
    "write_reports",
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
    "KeyFileError": "pipeshield.errors",
    "VerificationError": "pipeshield.errors",
    "gate_failures": "pipeshield.report",
    "write_reports": "pipeshield.report",
    "register_format": "pipeshield.report",
    "parse_pipeline": "pipeshield.core.pipeline",
    "register_executor": "pipeshield.core.executor",
    "register_loader": "pipeshield.core.targets",
    "run_checks": "pipeshield.audit",
    "sign": "pipeshield.integrity.signing",
    "verify": "pipeshield.integrity.signing",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from pipeshield.audit import AuditResult, audit, run_checks
    from pipeshield.core.checks import Check, CheckContext
    from pipeshield.core.datasets import load_dataset
    from pipeshield.core.executor import register_executor
    from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
    from pipeshield.core.pipeline import Pipeline, load_pipeline, parse_pipeline
    from pipeshield.core.targets import Target, WhiteBoxTarget, load_target, register_loader
    from pipeshield.demo import build_demo
    from pipeshield.errors import (
        ArtifactError,
        CheckError,
        ConfigError,
        DatasetError,
        EndpointError,
        KeyFileError,
        PipeshieldError,
        ReportError,
        TargetError,
        VerificationError,
    )
    from pipeshield.integrity.signing import sign, verify
    from pipeshield.report import Report, gate_failures, register_format, write_reports
