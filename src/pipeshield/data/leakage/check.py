"""Audit check ``data.leakage``: PII and secrets, train/test contamination, label leakage.

Subjects: ``datasets.NAME`` (PII and secrets in every dataset), ``models.NAME`` (rows shared by the
model's ``train_data`` and ``test_data``) and ``datasets.NAME.label`` (a feature of a labelled
training set that predicts its label almost perfectly).
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.data.leakage.labels import find_label_leakage
from pipeshield.data.leakage.overlap import find_overlap
from pipeshield.data.leakage.pii import scan_pii

__all__ = ["DataLeakage", "LeakageSettings"]

_NO_PROOF = ("No finding is not proof of no PII: names, postal addresses and identifiers without a known "
             "pattern are not detected.")


class LeakageSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    near_distance: float = Field(default=0.02, ge=0, description="RMS standardised distance of a near-duplicate")
    label_threshold: float = Field(default=0.99, gt=0, le=1, description="single-feature CV accuracy that means leakage")
    pii_severity: Severity = Field(default=Severity.HIGH, description="severity of PII found (secrets are critical)")


class DataLeakage(Check):
    id = "data.leakage"
    title = "Data leakage: PII, train/test overlap, label leakage"
    stage = Stage.COLLECTION
    threat = Threat.DATA_LEAKAGE
    description = ("PII and secrets (masked) in every dataset, exact and near-duplicate rows shared by each "
                   "model's train and test data, and features that alone predict the label.")
    remediation = ("Remove or tokenise PII and revoke leaked secrets; deduplicate train against test before "
                   "splitting; drop features derived from the label.")
    Settings = LeakageSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        out: list[str | None] = [f"datasets.{n}" for n in pipeline.datasets]
        out += [f"models.{n}" for n, m in pipeline.models.items() if m.train_data and m.test_data]
        out += [f"datasets.{n}.label" for n, s in pipeline.datasets.items() if s.role == "train" and s.label]
        return out

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        if subject.startswith("models."):
            yield self._overlap(ctx, subject)
        elif subject.endswith(".label"):
            yield self._labels(ctx, subject)
        else:
            yield self._pii(ctx, subject)

    def _pii(self, ctx: CheckContext, subject: str) -> Finding:
        settings: LeakageSettings = ctx.settings
        spec = ctx.pipeline.datasets[subject.removeprefix("datasets.")]
        hits = scan_pii(ctx.pipeline.resolve(spec.path), fmt=spec.format, x_key=spec.x_key)
        shown = ctx.pipeline.display(spec.path)
        metrics: dict[str, float | int | str | bool | None] = {
            "pii_values": sum(h.count for h in hits if h.kind == "pii"),
            "secrets": sum(h.count for h in hits if h.kind == "secret"),
            "columns_with_pii": len({h.column for h in hits}),
        }
        common = {"subject": subject, "metrics": metrics, "locations": (shown,), "caveat": _NO_PROOF}
        if not hits:
            return self.finding(Status.PASS, message="no PII or secrets found by the detectors", **common)
        table = Evidence("table", "PII and secrets found (values masked)", data={
            "columns": ["column", "detector", "kind", "count", "first rows", "examples (masked)"],
            "rows": [[h.column, h.detector, h.kind, h.count, ", ".join(map(str, h.rows)), ", ".join(h.examples)] for h in hits],
        })
        severity = Severity.CRITICAL if any(h.kind == "secret" for h in hits) else settings.pii_severity
        parts = [f"{h.count} {h.detector} in {h.column!r} (e.g. {h.examples[0]}, rows {', '.join(map(str, h.rows[:3]))})"
                 for h in hits[:4]]
        return self.finding(Status.FAIL, severity=severity, message="; ".join(parts), evidence=(table,),
                            settings={"detectors": sorted({h.detector for h in hits})}, **common)

    def _overlap(self, ctx: CheckContext, subject: str) -> Finding:
        settings: LeakageSettings = ctx.settings
        model = ctx.pipeline.models[subject.removeprefix("models.")]
        assert model.train_data and model.test_data
        train, test = ctx.pipeline.datasets[model.train_data], ctx.pipeline.datasets[model.test_data]
        result = find_overlap(ctx.pipeline.resolve(train.path), ctx.pipeline.resolve(test.path), label=train.label,
                              test_label=test.label, near_distance=settings.near_distance, seed=ctx.seed,
                              x_key=train.x_key)
        metrics: dict[str, float | int | str | bool | None] = {
            "train_rows": result.train_rows, "test_rows": result.test_rows,
            "exact_test_rows": result.exact_test_rows, "near_test_rows": result.near_test_rows,
            "contaminated_share": round(result.contaminated_share, 6), "sampled": result.sampled,
        }
        common = {"subject": subject, "metrics": metrics, "settings": result.settings,
                  "locations": (ctx.pipeline.display(train.path), ctx.pipeline.display(test.path))}
        if not result.exact_test_rows and not result.near_test_rows:
            return self.finding(Status.PASS, message=f"no test row of datasets.{model.test_data} is (nearly) "
                                f"a copy of a row of datasets.{model.train_data}", **common)
        rows = [["exact", a, b, 0.0] for a, b in result.exact_pairs[:50]]
        rows += [["near", a, b, round(d, 4)] for a, b, d in result.near_pairs[:50]]
        table = Evidence("table", f"Rows shared by datasets.{model.train_data} (train) and datasets.{model.test_data} (test)",
                         data={"columns": ["match", "train row", "test row", "RMS distance (std units)"], "rows": rows})
        first = ", ".join(str(b) for _, b in result.exact_pairs[:8])
        return self.finding(
            Status.FAIL, severity=Severity.HIGH, evidence=(table,),
            message=(f"{result.exact_test_rows} test row(s) are exact copies of training rows"
                     + (f" (test rows {first}{', ...' if result.exact_test_rows > 8 else ''})" if first else "")
                     + f" and {result.near_test_rows} near-duplicates: test accuracy is inflated"),
            **common)

    def _labels(self, ctx: CheckContext, subject: str) -> Finding:
        settings: LeakageSettings = ctx.settings
        name = subject.removeprefix("datasets.").removesuffix(".label")
        spec = ctx.pipeline.datasets[name]
        assert spec.label is not None
        result = find_label_leakage(ctx.pipeline.resolve(spec.path), spec.label, threshold=settings.label_threshold,
                                    seed=ctx.seed, x_key=spec.x_key)
        top = result.top[0] if result.top else None
        metrics: dict[str, float | int | str | bool | None] = {
            "leaking_features": len(result.leaking), "baseline": round(result.baseline, 6),
            "best_feature": None if top is None else top.feature, "best_score": None if top is None else round(top.score, 6),
            "rows_used": result.rows_used,
        }
        plot = Evidence("plot", f"Single-feature cross-validated {'R^2' if result.task == 'regression' else 'accuracy'} "
                        f"(top 5; baseline {result.baseline:.3f})", data={
                            "type": "bar", "x": [s.feature for s in result.top], "values": [round(s.score, 4) for s in result.top],
                            "max": 1.0})
        common = {"subject": subject, "metrics": metrics, "settings": result.settings, "evidence": (plot,),
                  "locations": (ctx.pipeline.display(spec.path),)}
        if not result.leaking:
            return self.finding(Status.PASS, message=f"no single feature predicts {spec.label!r} "
                                f"(best: {top.feature if top else '-'} at {top.score if top else 0:.3f})", **common)
        names = ", ".join(f"{s.feature!r} ({s.score:.3f})" for s in result.leaking[:5])
        return self.finding(Status.FAIL, severity=Severity.HIGH,
                            message=f"feature(s) {names} alone predict {spec.label!r} (baseline {result.baseline:.3f}): "
                                    "label leakage", **common)
