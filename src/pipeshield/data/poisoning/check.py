"""Audit check ``data.poisoning``: label flips and backdoors in each model's training data.

For every model with labelled ``train_data``: confident learning on the dataset (label flips;
out-of-fold probabilities from pipeshield's own cross-validated models), and, when the model is a
torch model, spectral signatures and activation clustering on its penultimate activations
(backdoors). One finding per model, naming the suspicious classes, the counts and the top rows,
with two plots: suspicious rows per class and detector, and the histogram of label-issue scores.

Status: ``fail`` when a backdoor detector flags a class, or when label issues exceed
``max_label_issue_fraction`` of the rows; ``warn`` for fewer label issues (every real dataset has
some); ``pass`` otherwise -- which is not proof of clean data (see the caveat).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.data.poisoning.registry import PoisonData, ScanConfig, encode_labels, run_detectors
from pipeshield.data.poisoning.results import DetectorResult
from pipeshield.errors import TargetError

__all__ = ["PoisoningCheck", "PoisoningSettings"]

CAVEAT = (
    "Confident learning finds labels that disagree with the features; clean-label poisoning "
    "(correct labels, crafted or triggered inputs) and flips that a model learns as a consistent "
    "rule pass it. Spectral signatures and activation clustering find a backdoor whose poisoned "
    "rows form a separate direction or cluster in the model's activations; adaptive attacks that "
    "keep them inside the clean distribution (Tan & Shokri 2019), poison spread over several "
    "clusters, or poison at a third or more of the target class defeat them. No finding is not "
    "proof of clean data."
)
_DETECTORS = ["confident-learning", "spectral-signatures", "activation-clustering"]


class PoisoningSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    folds: int = Field(default=5, ge=2, le=20, description="cross-validation folds for confident learning")
    cl_model: str = Field(default="auto", pattern="^(auto|svm|logistic|gradient-boosting|mlp)$")
    cl_rounds: int = Field(default=2, ge=1, le=5)
    max_label_issue_fraction: float = Field(default=0.02, ge=0, le=1, description="fail above this share of label issues")
    spectral_z: float = Field(default=4.5, gt=0)
    ac_min_silhouette: float = Field(default=0.40, ge=-1, le=1)
    ac_max_relative_size: float = Field(default=0.35, gt=0, lt=0.5)
    max_rows: int = Field(default=50_000, ge=10, description="skip training sets larger than this")
    severity: Severity = Field(default=Severity.HIGH, description="severity of a failed finding")

    def scan_config(self, seed: int) -> ScanConfig:
        return ScanConfig(
            folds=self.folds, cl_model=self.cl_model, cl_rounds=self.cl_rounds,  # type: ignore[arg-type]
            spectral_z=self.spectral_z, ac_min_silhouette=self.ac_min_silhouette,
            ac_max_relative_size=self.ac_max_relative_size, max_rows=self.max_rows, seed=seed,
        )


class PoisoningCheck(Check):
    id = "data.poisoning"
    title = "Poisoned training data (label flips, backdoors)"
    stage = Stage.COLLECTION
    threat = Threat.DATA_POISONING
    cost = "heavy"
    description = (
        "Confident learning on each model's training data; spectral signatures and activation "
        "clustering on a torch model's penultimate activations."
    )
    remediation = (
        "Review the listed rows; `pipeshield data poison-scan` then `pipeshield data sanitize` "
        "writes a cleaned copy with a manifest; retrain on it. Sign trusted data sources so "
        "later tampering is caught."
    )
    Settings = PoisoningSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        spec = pipeline.models[subject]
        if spec.train_data is None:
            return f"models.{subject} has no train_data"
        if pipeline.datasets[spec.train_data].label is None:
            return f"datasets.{spec.train_data} has no label column"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        settings: PoisoningSettings = ctx.settings
        spec = ctx.pipeline.models[subject]
        assert spec.train_data is not None
        ds = ctx.dataset(spec.train_data)
        assert ds.y is not None
        where = f"datasets.{spec.train_data}"
        if len(ds) > settings.max_rows:
            yield self.skipped(subject, f"{where} has {len(ds)} rows, more than max_rows={settings.max_rows}")
            return
        y, classes = encode_labels(ds.y, where)
        x = ds.x.reshape(len(ds), -1)
        features, reason = None, f"models.{subject} is not a torch model; backdoor detectors need its activations"
        target = ctx.target(subject)
        if getattr(target, "module", None) is not None:
            from pipeshield.data.poisoning.activations import penultimate_activations

            try:
                features = penultimate_activations(target, x)
            except TargetError as err:
                reason = err.message
        data = PoisonData(x, y, classes, tuple(spec.input_shape) if spec.input_shape else None, features, where)
        results = run_detectors(data, settings.scan_config(ctx.seed), _DETECTORS, no_features_reason=reason)
        yield self._finding(subject, ctx, data, results, settings)

    def _finding(
        self, subject: str, ctx: CheckContext, data: PoisonData, results: dict[str, DetectorResult],
        settings: PoisoningSettings,
    ) -> Finding:
        cl = results["confident-learning"]
        backdoor = [r for r in (results["spectral-signatures"], results["activation-clustering"]) if not r.skipped]
        n = len(data)
        issue_fraction = float(cl.flagged.mean())
        backdoor_classes = sorted({c for r in backdoor for c in r.suspicious_classes})
        backdoor_rows = np.zeros(n, dtype=bool)
        for r in backdoor:
            backdoor_rows |= r.flagged
        names = [str(c) for c in data.classes]
        metrics: dict[str, float | int | str | bool | None] = {
            "n_rows": n,
            "label_issues": int(cl.flagged.sum()),
            "label_issue_fraction": round(issue_fraction, 4),
            "out_of_fold_accuracy": cl.details.get("out_of_fold_accuracy"),
            "backdoor_rows": int(backdoor_rows.sum()),
            "backdoor_classes": ", ".join(names[c] for c in backdoor_classes),
        }
        if not results["activation-clustering"].skipped:
            metrics["unresolved_split_classes"] = ", ".join(
                map(str, results["activation-clustering"].details.get("unresolved_classes", [])))
        for r in backdoor:
            metrics[f"{r.detector}_rows"] = int(r.flagged.sum())
        parts = []
        if backdoor_classes:
            per = ", ".join(f"class {names[c]}: {int((backdoor_rows & (data.y == c)).sum())} rows" for c in backdoor_classes)
            top = _top_rows(backdoor, 8)
            parts.append(f"backdoor suspected ({per}; top rows {', '.join(map(str, top))})")
        if cl.flagged.any():
            worst = np.bincount(data.y[cl.flagged], minlength=data.n_classes)
            flips = ", ".join(f"{names[c]}: {worst[c]}" for c in np.argsort(-worst)[:3] if worst[c])
            parts.append(
                f"{int(cl.flagged.sum())} label issues ({issue_fraction:.1%} of rows; by given label {flips}; "
                f"top rows {', '.join(map(str, cl.ranked[:8].tolist()))})"
            )
        ac = results["activation-clustering"]
        unresolved = [] if ac.skipped else list(ac.details.get("unresolved_classes", []))
        if unresolved:
            parts.append(
                f"activations of class {', '.join(map(str, unresolved))} split into two large, well-separated "
                "clusters: a backdoor poisoning a third or more of a class looks like this, and size cannot "
                "tell which half is the poison"
            )
        skipped = [r for r in (results["spectral-signatures"], results["activation-clustering"]) if r.skipped]
        if skipped:
            parts.append(f"backdoor detectors skipped: {skipped[0].skipped}")
        if backdoor_classes or issue_fraction > settings.max_label_issue_fraction:
            status, severity = Status.FAIL, settings.severity
        elif unresolved:
            status, severity = Status.WARN, Severity.MEDIUM
        elif cl.flagged.any():
            status, severity = Status.WARN, Severity.LOW
        else:
            status, severity = Status.PASS, Severity.INFO
        message = "; ".join(parts) if parts else f"no label issues or backdoor signatures in {n} rows"
        return self.finding(
            status,
            severity=severity,
            subject=subject,
            message=message,
            metrics=metrics,
            settings={**settings.model_dump(mode="json"), "seed": ctx.seed},
            evidence=_evidence(data, results),
            locations=(ctx.pipeline.display(ctx.pipeline.datasets[data.source.split(".", 1)[1]].path),),
            caveat=CAVEAT,
        )


def _top_rows(results: list[DetectorResult], k: int) -> list[int]:
    seen: list[int] = []
    for r in results:
        for row in r.ranked.tolist():
            if row not in seen:
                seen.append(row)
    return seen[:k]


def _evidence(data: PoisonData, results: dict[str, DetectorResult]) -> tuple[Evidence, ...]:
    names = [str(c) for c in data.classes]
    series = [
        {"name": name, "values": np.bincount(data.y[r.flagged], minlength=data.n_classes).tolist()}
        for name, r in results.items() if not r.skipped
    ]
    cl = results["confident-learning"]
    counts, edges = np.histogram(cl.scores, bins=10, range=(0.0, 1.0))
    bins = [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in range(len(counts))]
    rows = []
    for name, r in results.items():
        for row in r.ranked[:20].tolist():
            sug = names[int(r.suggested[row])] if r.suggested is not None else ""
            rows.append([row, name, names[int(data.y[row])], sug, round(float(r.scores[row]), 4)])
    evidence = [
        Evidence("plot", "Suspicious rows per class (by given label) and detector",
                 data={"type": "bar", "x": names, "series": series}),
        Evidence("plot", "Label-issue score (1 - out-of-fold probability of the given label): rows per bin",
                 data={"type": "bar", "x": bins, "values": counts.tolist()}),
    ]
    if rows:
        evidence.append(Evidence("table", "Top suspicious rows (0-based rows of the training data)", data={
            "columns": ["row", "detector", "given label", "suggested label", "score"], "rows": rows}))
    return tuple(evidence)
