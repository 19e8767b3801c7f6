"""Audit check ``supplychain.model-files``: scan every model and artifact the pipeline names.

One finding per file: malicious -> fail, critical (the message names the callable); inconclusive
-> warn, high; clean -> pass, with the caveat that no findings is not proof of safety.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.supplychain.results import CLEAN_CAVEAT, Verdict
from pipeshield.supplychain.scanner import scan_file

__all__ = ["ModelFileScan"]


def _files(pipeline: Pipeline) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, model in pipeline.models.items():
        out[f"models.{name}"] = pipeline.resolve(model.path)
    for name, art in pipeline.artifacts.items():
        out[f"artifacts.{name}"] = pipeline.resolve(art.path)
    return out


class ModelFileScan(Check):
    id = "supplychain.model-files"
    title = "Model-file scan"
    stage = Stage.TRAINING
    threat = Threat.SUPPLY_CHAIN
    description = "Emulates pickles and parses model formats for code execution, without loading them."
    remediation = "Do not load the file; replace it with safetensors, ONNX or skops from a trusted, signed source."

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(_files(pipeline))

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        path = _files(pipeline).get(subject or "")
        if path is None or not path.exists():
            return f"{subject}: file not found"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        pipeline = ctx.pipeline
        path = _files(pipeline)[subject or ""]
        shown = pipeline.display(path)
        result = scan_file(path)
        worst = result.findings[0] if result.findings else None
        common = {
            "subject": subject,
            "locations": (shown,),
            "metrics": {"verdict": result.verdict.value, "format": result.format,
                        "findings": len(result.findings),
                        "rule": worst.rule if worst else None,
                        "callable": worst.callable if worst else None},
            "evidence": tuple(Evidence("text", f"{f.rule} ({f.severity})", text=f.message)
                              for f in result.findings[:20]),
        }
        if result.verdict is Verdict.MALICIOUS:
            bad = next(f for f in result.findings if f.effect.value == "malicious")
            what = f" calls {bad.callable}" if bad.callable else ""
            yield self.finding(Status.FAIL, severity=Severity.CRITICAL,
                               message=f"{shown} ({result.format}){what}: {bad.message}", **common)
        elif result.verdict is Verdict.INCONCLUSIVE:
            why = next((f for f in result.findings if f.effect.value == "inconclusive"), worst)
            yield self.finding(Status.WARN, severity=Severity.HIGH,
                               message=f"{shown} ({result.format}) could not be fully analysed: "
                               f"{why.message if why else 'unknown reason'}", **common)
        else:
            yield self.finding(Status.PASS, message=f"{shown} ({result.format}): no findings",
                               caveat=CLEAN_CAVEAT, **common)
