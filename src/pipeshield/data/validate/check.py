"""Audit check ``data.validation``: every incoming batch against a profile of trusted data.

The trusted data is the pipeline's ``reference`` dataset(s) sharing the batch's columns or, when
there is none, its ``train`` dataset(s) that do (the label column is profiled but not required of
the batch). The profile is learned at audit time, so it always matches the trusted files the audit
also verifies the signatures of.
"""

from __future__ import annotations

from collections.abc import Iterator

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.data.profile.learn import ProfileSettings, chunk_frame, learn_profile
from pipeshield.data.reading import iter_chunks
from pipeshield.data.validate.results import ValidationResult
from pipeshield.data.validate.run import ValidationSettings, validate
from pipeshield.errors import DatasetError

__all__ = ["DataValidation", "trusted_sources"]


def _columns(pipeline: Pipeline, name: str) -> set[str]:
    spec = pipeline.datasets[name]
    label = spec.label if spec.format == "npz" else None
    try:
        first = next(iter(iter_chunks(pipeline.resolve(spec.path), fmt=spec.format, chunk_rows=1,
                                      x_key=spec.x_key, label_key=label)))
    except (DatasetError, StopIteration):
        return set()
    return {str(c) for c in chunk_frame(first).columns}


def trusted_sources(pipeline: Pipeline, name: str) -> list[str]:
    """The datasets the profile for ``name`` is learned from (reference first, else train), the
    ones sharing the most columns with it, all with the same columns as each other."""
    wanted = _columns(pipeline, name)
    for role in ("reference", "train"):
        candidates = []
        for other, spec in pipeline.datasets.items():
            if other == name or spec.role != role:
                continue
            cols = _columns(pipeline, other) - ({spec.label} if spec.label else set())
            shared = len(cols & wanted)
            if shared:
                candidates.append((shared, other, frozenset(cols)))
        if candidates:
            best = max(candidates, key=lambda c: c[0])
            return [other for shared, other, cols in candidates if cols == best[2]]
    return []


class DataValidation(Check):
    id = "data.validation"
    title = "Incoming data validated against a profile"
    stage = Stage.PREPROCESSING
    threat = Threat.FEATURE_INJECTION
    description = ("Schema, types, ranges, categories, null spikes and drift (KS/chi-squared with PSI, MMD) of "
                   "each incoming dataset against a profile of the reference or training data.")
    remediation = ("Quarantine the batch; drop or investigate the columns and rows named; gate ingestion on "
                   "`pipeshield data validate` with a reviewed profile.")
    Settings = ValidationSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return [f"datasets.{n}" for n, s in pipeline.datasets.items() if s.role == "incoming"]

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        if not trusted_sources(pipeline, subject.removeprefix("datasets.")):
            return "no reference or train dataset shares a column with it to learn a profile from"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        settings: ValidationSettings = ctx.settings
        pipeline = ctx.pipeline
        name = subject.removeprefix("datasets.")
        sources = trusted_sources(pipeline, name)
        first = pipeline.datasets[sources[0]]
        profile = learn_profile(
            [pipeline.resolve(pipeline.datasets[s].path) for s in sources], label=first.label,
            settings=ProfileSettings(seed=ctx.seed, x_key=first.x_key, chunk_rows=settings.chunk_rows),
            fmt=first.format,
        )
        spec = pipeline.datasets[name]
        result = validate(pipeline.resolve(spec.path), profile, settings, fmt=spec.format,
                          profile_name=f"the profile of {', '.join('datasets.' + s for s in sources)}")
        yield self._finding(result, subject, sources, pipeline.display(spec.path), settings)

    def _finding(self, result: ValidationResult, subject: str, sources: list[str], shown: str,
                 settings: ValidationSettings) -> Finding:
        drifted = [d for d in result.drift if d.drifted]
        metrics: dict[str, float | int | str | bool | None] = {
            "rows": result.rows,
            "violations": len(result.violations),
            "unexpected_columns": len(result.columns_with("unexpected_column")),
            "missing_columns": len(result.columns_with("missing_column")),
            "range_violations": sum(v.count for v in result.violations if v.kind == "range_violation"),
            "drifted_columns": len(drifted),
            "max_psi": round(max((d.psi for d in result.drift), default=0.0), 6),
            "mmd_p_value": None if result.multivariate is None else result.multivariate["p_value"],
        }
        used = {k: getattr(settings, k) for k in ("alpha", "psi_minor", "psi_major", "range_tolerance", "null_tolerance")}
        used["profile_from"] = [f"datasets.{s}" for s in sources]
        common = {"subject": subject, "metrics": metrics, "settings": used, "evidence": _evidence(result),
                  "locations": (shown,)}
        caveat = ("A conforming batch can still be poisoned: label flips and clean-label backdoors keep every "
                  "column in range and in distribution.")
        if result.conforms:
            return self.finding(Status.PASS, message=f"{result.rows} rows conform to the profile of "
                                f"{', '.join(sources)}", caveat=caveat, **common)
        parts = [v.message for v in result.violations[:6]]
        more = len(result.violations) - len(parts)
        message = "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
        status = Status.FAIL if result.worst >= Severity.HIGH else Status.WARN
        return self.finding(status, severity=result.worst, message=message, caveat=caveat, **common)


def _evidence(result: ValidationResult) -> tuple[Evidence, ...]:
    evidence = []
    if result.violations:
        evidence.append(Evidence("table", "Violations (rows are 0-based data rows of the batch)", data={
            "columns": ["kind", "column", "severity", "count", "first rows", "statistic", "value", "threshold"],
            "rows": [[v.kind, v.column, v.severity.value, v.count, ", ".join(map(str, v.rows)), v.statistic or "",
                      "" if v.value is None else str(v.value), "" if v.threshold is None else str(v.threshold)]
                     for v in result.violations[:100]],
        }))
    if result.drift:
        ranked = sorted(result.drift, key=lambda d: -d.psi)[:40]
        evidence.append(Evidence("plot", "PSI per column (< 0.1 stable, > 0.25 major shift)", data={
            "type": "bar", "x": [d.column for d in ranked], "values": [round(d.psi, 4) for d in ranked]}))
        worst = ranked[0]
        if worst.bin_labels:
            evidence.append(Evidence("plot", f"Distribution of {worst.column!r}: trusted data vs batch (share of rows per bin)", data={
                "type": "bar", "x": list(worst.bin_labels),
                "series": [{"name": "trusted", "values": [round(v, 4) for v in worst.reference_histogram]},
                           {"name": "batch", "values": [round(v, 4) for v in worst.batch_histogram]}]}))
    return tuple(evidence)
