"""The audit's signature check: every dataset and model verifies against a trusted key.

An artifact without a signature is a finding (unsigned data is how poisoned data slips in);
one whose signature does not verify is critical, with the file that changed named.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import VerificationError
from pipeshield.integrity.signing import default_signature_path, verify

__all__ = ["SignatureCheck"]

Section = Literal["datasets", "models", "artifacts"]
DEFAULT_REQUIRED: tuple[Section, ...] = ("datasets", "models")


class SignatureSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    require: list[Section] = Field(default_factory=lambda: list(DEFAULT_REQUIRED), description="what must be signed")
    unsigned_severity: Severity = Field(Severity.HIGH, description="severity of an unsigned artifact")


class SignatureCheck(Check):
    id = "integrity.signatures"
    title = "Signatures of data and models"
    stage = Stage.TRAINING
    threat = Threat.SUPPLY_CHAIN
    stages = (Stage.COLLECTION, Stage.TRAINING)
    cost = "cheap"
    description = "Every dataset and model carries an OMS signature that verifies against a trusted key."
    remediation = "Sign with `pipeshield sign PATH --key KEY` at the source; verify before every use."
    Settings = SignatureSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        wanted = set(pipeline.check_settings(self.id).get("require", DEFAULT_REQUIRED))
        out: list[str | None] = []
        for section in ("datasets", "models", "artifacts"):
            if section in wanted:
                out += [f"{section}.{name}" for name in getattr(pipeline, section)]
        return out

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        if not pipeline.keys.trusted:
            return "no trusted keys under [keys] trusted: signatures cannot be verified"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        settings: SignatureSettings = ctx.settings
        pipeline = ctx.pipeline
        section, _, name = subject.partition(".")
        spec = getattr(pipeline, section)[name]
        path = pipeline.resolve(spec.path)
        sig = pipeline.resolve(spec.signature) if spec.signature else default_signature_path(path)
        stage = Stage.COLLECTION if section == "datasets" else Stage.TRAINING
        threat = Threat.DATA_POISONING if section == "datasets" else Threat.SUPPLY_CHAIN
        common = {"subject": subject, "stage": stage, "threat": threat, "locations": (pipeline.display(path),)}
        keys = [pipeline.resolve(k) for k in pipeline.keys.trusted]
        if not sig.exists():
            yield self.finding(
                Status.FAIL,
                severity=settings.unsigned_severity,
                message=f"{pipeline.display(path)} is not signed (no {pipeline.display(sig)})",
                metrics={"signed": False},
                **common,
            )
            return
        try:
            result = verify(path, keys, signature=sig)
        except VerificationError as err:
            yield self.finding(
                Status.FAIL,
                severity=Severity.CRITICAL,
                message=err.problems[0] if err.problems else err.message,
                metrics={"signed": True, "verified": False, "problems": len(err.problems)},
                evidence=(Evidence("text", "verification problems", text="\n".join(err.problems)),),
                remediation="Treat it as tampered: do not use it; restore it from a trusted copy and find out who changed it.",
                **common,
            )
            return
        yield self.finding(
            Status.PASS,
            message=f"{pipeline.display(path)} verifies ({len(result.manifest.resources)} resource(s))",
            metrics={"signed": True, "verified": True, "resources": len(result.manifest.resources)},
            settings={"signature": pipeline.display(sig), "key": pipeline.display(result.key_path or ""),
                      "hash_type": result.manifest.serialization.hash_type},
            **common,
        )
