"""The audit: pipeline -> checks -> findings -> report.

    >>> result = audit("pipeshield.toml")                 # doctest: +SKIP
    >>> result.report.passed_gate, result.written["html"]
    (False, PosixPath('pipeshield-report/report.html'))

Work items (one check on one subject) run through an executor. A check that raises a
:class:`~pipeshield.errors.PipeshieldError` (a dataset that does not parse, a model that does not
load) aborts the audit with that error: a misconfigured pipeline must not produce a report that
looks complete. Any other exception is a bug in the check; it becomes an ``error`` finding with
the traceback as evidence, and the rest of the audit goes on.
"""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeshield import __version__
from pipeshield.core.checks import (
    Check,
    CheckContext,
    all_checks,
    check_settings,
    iter_checks,
    validate_policy,
)
from pipeshield.core.executor import SerialExecutor, get_executor
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status
from pipeshield.core.frameworks import framework_sources, references_for
from pipeshield.core.pipeline import Pipeline, load_pipeline
from pipeshield.errors import CheckError, ConfigError, PipeshieldError
from pipeshield.report import Report, resolve_formats, write_reports

__all__ = ["AuditResult", "WorkItem", "audit", "default_out_dir", "run_checks"]

ProgressFn = Callable[[int, int, str], None]


@dataclass(frozen=True)
class WorkItem:
    """One check on one subject. The check travels as its class (pickled by reference), so a
    worker imports the module that defines it, plug-ins included."""

    pipeline: Pipeline
    check: type[Check]
    subject: str | None
    seed: int

    @property
    def label(self) -> str:
        return self.check.id if self.subject is None else f"{self.check.id} [{self.subject}]"


@dataclass(frozen=True)
class WorkOutcome:
    item_label: str
    findings: list[Finding] = field(default_factory=list)
    abort: PipeshieldError | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class AuditResult:
    report: Report
    written: dict[str, Path]


def _run_item(item: WorkItem) -> WorkOutcome:
    """Run one check on one subject (in a worker process)."""
    start = time.perf_counter()
    check = item.check()
    try:
        ctx = CheckContext(item.pipeline, check_settings(check, item.pipeline), seed=item.seed)
        findings = list(check.run(ctx, item.subject))
    except PipeshieldError as err:
        return WorkOutcome(item.label, abort=err, seconds=time.perf_counter() - start)
    except Exception as err:  # a bug in a check must not hide the other results
        findings = [
            check.finding(
                Status.ERROR,
                severity=Severity.HIGH,
                subject=item.subject,
                message=f"the check crashed: {type(err).__name__}: {err}",
                evidence=(Evidence("text", "traceback", text=traceback.format_exc()),),
                remediation="This is a pipeshield bug; please report it with the traceback.",
            )
        ]
    return WorkOutcome(item.label, findings, seconds=time.perf_counter() - start)


def _lost(item: WorkItem, err: BaseException) -> Finding:
    """An item whose worker process died: say so instead of losing the whole audit."""
    return item.check().finding(
        Status.ERROR,
        severity=Severity.HIGH,
        subject=item.subject,
        message=f"the check could not run in a worker process ({type(err).__name__}: {err}); "
        "if the worker died it may have run out of memory: rerun with --executor serial or fewer --jobs",
        remediation="Rerun the audit; if it happens again, report it with the pipeline's sizes.",
    )


def _plan(pipeline: Pipeline, stages: Iterable[Stage] | None,
          checks: set[str] | None = None) -> tuple[list[WorkItem], list[Finding]]:
    items: list[WorkItem] = []
    skipped: list[Finding] = []
    for check in iter_checks(stages):
        if checks is not None and check.id not in checks:
            continue
        for subject in check.subjects(pipeline):
            reason = check.skip_reason(pipeline, subject)
            if reason:
                skipped.append(check.skipped(subject, reason))
            else:
                items.append(WorkItem(pipeline, type(check), subject, pipeline.policy.seed))
    return items, skipped


def run_checks(
    pipeline: Pipeline,
    *,
    stages: Iterable[Stage] | None = None,
    executor: str = "local",
    jobs: int | None = None,
    progress: ProgressFn | None = None,
    checks: Iterable[str] | None = None,
) -> list[Finding]:
    """Run every applicable check (of ``stages``, and only the check ids in ``checks`` when given)
    and return findings with framework references filled in. An unknown check id is a CheckError."""
    validate_policy(pipeline)
    wanted = set(stages) if stages else None
    only = None
    if checks is not None:
        only = set(checks)
        unknown = sorted(only - set(all_checks()))
        if unknown:
            raise CheckError(f"no check named {', '.join(map(repr, unknown))} (known: {', '.join(all_checks())})")
    items, findings = _plan(pipeline, wanted, only)
    total = len(items)
    if progress:
        progress(0, total, "starting")
    cheap = [i for i in items if i.check.cost == "cheap"]
    # Longest first (stable): the classic greedy schedule; a long check submitted last would run
    # alone after the others (the demo's federated comparison: 127 s -> see docs/benchmarks.md).
    heavy = sorted((i for i in items if i.check.cost != "cheap"), key=lambda i: -i.check.expected_seconds)
    done = 0
    # Cheap items (hashing, parsing the config) run here: a process hop costs more than they do.
    streams = [SerialExecutor().map_unordered(_run_item, cheap), get_executor(executor, jobs).map_unordered(_run_item, heavy)]
    try:
        for stream in streams:
            for item, outcome in stream:
                if isinstance(outcome, BaseException):
                    findings.append(_lost(item, outcome))
                elif outcome.abort is not None:
                    raise outcome.abort
                else:
                    findings.extend(outcome.findings)
                done += 1
                if progress:
                    progress(done, total, item.label)
    finally:
        # On an abort the traceback keeps this frame, and so the streams, alive: close them now, so
        # that the pool stops its workers at once instead of when the interpreter exits (a user
        # mistake found in one check waited for every other running check: 27 s on the demo).
        for stream in streams:
            close = getattr(stream, "close", None)  # generators; a plug-in executor may return any iterator
            if callable(close):
                close()
    if wanted:
        findings = [f for f in findings if f.stage in wanted]
    return [f.with_references(references_for(f.threat)) for f in _unique_ids(findings)]


def _unique_ids(findings: list[Finding]) -> list[Finding]:
    """Finding ids key SARIF fingerprints and HTML anchors: a repeated id gets ``#2``, ``#3``..."""
    seen: dict[str, int] = {}
    out = []
    for f in findings:
        n = seen[f.id] = seen.get(f.id, 0) + 1
        out.append(f if n == 1 else replace(f, subject=f"{f.subject or 'pipeline'}#{n}"))
    return out


def default_out_dir(pipeline: Pipeline) -> Path:
    return pipeline.base_dir / "pipeshield-report"


def audit(
    pipeline: Pipeline | Path | str = "pipeshield.toml",
    *,
    stages: Iterable[Stage] | None = None,
    out_dir: Path | str | None = None,
    formats: Iterable[str] | None = None,
    executor: str = "local",
    jobs: int | None = None,
    fail_on: Severity | None = None,
    progress: ProgressFn | None = None,
    checks: Iterable[str] | None = None,
) -> AuditResult:
    """Audit a pipeline and write its reports; raises PipeshieldError for configuration errors.
    ``checks``: only these check ids (a partial audit; the report's options say so)."""
    if not isinstance(pipeline, Pipeline):
        pipeline = load_pipeline(pipeline)
    if not (pipeline.datasets or pipeline.models or pipeline.artifacts or pipeline.endpoint):
        raise ConfigError(
            f"{pipeline.source}: the pipeline names no datasets, models, artifacts or endpoint: nothing to audit",
            hint="`pipeshield init DIR` writes a starter file from what DIR holds",
        )
    formats = resolve_formats(formats)  # before the checks: a bad --format must not cost a whole audit
    stages = list(stages) if stages else None
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    checks = sorted(checks) if checks is not None else None
    findings = run_checks(pipeline, stages=stages, executor=executor, jobs=jobs, progress=progress, checks=checks)
    duration = time.perf_counter() - t0
    options: dict[str, Any] = {
        "stages": [s.value for s in stages] if stages else [s.value for s in Stage],
        "checks": checks,
        "executor": executor,
        "jobs": jobs,
        "seed": pipeline.policy.seed,
    }
    report = Report(
        pipeline={
            "name": pipeline.name,
            "description": pipeline.pipeline.description,
            "source": str(pipeline.source),
            "datasets": sorted(pipeline.datasets),
            "models": sorted(pipeline.models),
            "endpoint": pipeline.endpoint.redacted_url if pipeline.endpoint else None,
        },
        findings=tuple(findings),
        fail_on=fail_on or pipeline.policy.fail_on,
        tool={"name": "pipeshield", "version": __version__},
        started_at=started.isoformat(timespec="seconds"),
        finished_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        duration_s=duration,
        options=options,
        frameworks=framework_sources(),
    )
    out = Path(out_dir) if out_dir is not None else default_out_dir(pipeline)
    return AuditResult(report, write_reports(report, out, formats))
