"""The audit's provenance check: each model's training run is attested, and the chain holds.

A model with an attestation is verified end to end (its signature, the attestation's, the model
being the one attested, every input signed and unchanged); a model without one cannot be traced
back to its data, which is a warning, not a failure, until policy says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import VerificationError
from pipeshield.integrity.provenance import default_attestation_path, verify_provenance

__all__ = ["ProvenanceCheck"]


class ProvenanceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    missing_severity: Severity = Field(Severity.MEDIUM, description="severity of a model without provenance")


class ProvenanceCheck(Check):
    id = "integrity.provenance"
    title = "Training provenance"
    stage = Stage.TRAINING
    threat = Threat.SUPPLY_CHAIN
    cost = "cheap"
    description = "Each model carries a signed SLSA provenance whose inputs are signed and unchanged."
    remediation = "Attest every training run: `pipeshield attest MODEL --key KEY --dataset DATA ...`."
    Settings = ProvenanceSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        if not pipeline.keys.trusted:
            return "no trusted keys under [keys] trusted: provenance cannot be verified"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        settings: ProvenanceSettings = ctx.settings
        pipeline = ctx.pipeline
        spec = pipeline.models[subject]
        model = pipeline.resolve(spec.path)
        att = pipeline.resolve(spec.provenance) if spec.provenance else default_attestation_path(model)
        sig = pipeline.resolve(spec.signature) if spec.signature else None
        common = {"subject": subject, "locations": (pipeline.display(model),)}
        if not att.exists():
            yield self.finding(
                Status.WARN,
                severity=settings.missing_severity,
                message=f"models.{subject} has no training provenance ({pipeline.display(att)}): "
                "its data and training run cannot be traced",
                metrics={"attested": False},
                **common,
            )
            return
        keys = [pipeline.resolve(k) for k in pipeline.keys.trusted]
        try:
            result = verify_provenance(model, att, keys, model_signature=sig)
        except VerificationError as err:
            yield self.finding(
                Status.FAIL,
                severity=Severity.CRITICAL,
                message=err.problems[0] if err.problems else err.message,
                metrics={"attested": True, "verified": False, "problems": len(err.problems)},
                evidence=(Evidence("text", "broken links in the chain of custody", text="\n".join(err.problems)),),
                remediation="Do not deploy this model: retrain from signed data and attest the run again.",
                **common,
            )
            return
        yield self.finding(
            Status.PASS,
            message=f"models.{subject}: chain of custody verified ({len(result.dependencies)} signed input(s))",
            metrics={"attested": True, "verified": True, "inputs": len(result.dependencies)},
            settings={"attestation": pipeline.display(att), "inputs": list(result.dependencies)},
            **common,
        )
