"""Audit check ``attacks.extraction``: how good a copy of each model an attacker steals with a
query budget, and what each output control buys.

For every model with a test set the check plays the thief (see :mod:`.assess`): the attacker's
*pool* (unlabelled inputs it queries) is a seeded sample of the model's ``train_data`` features
(setting ``pool``: they stand for public data of the same kind, which a real attacker has), or a
seeded half of ``test_data``; fidelity is measured on the test rows the attacker never holds.
Methods: equation solving when the model is a linear/logistic model (told from the loaded
estimator's type; tried and reported when the type cannot be told), knockoff always, and
Jacobian augmentation from the ``standard`` budget up. The finding fails (high) when the best
copy agrees with the model on more than ``max_fidelity`` of the held-out inputs; the metrics add
substitute accuracy, queries spent, the transferability of adversarials crafted on the copy (vs a
random-noise baseline), and the fidelity behind each output control (rounding, top-1, labels
only), with the fidelity-vs-queries curve and a table of controls as evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.attacks._format import percent
from pipeshield.attacks.extraction.budgets import BUDGETS
from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.errors import PipeshieldError

if TYPE_CHECKING:
    from pipeshield.attacks.extraction.assess import ExtractionAssessment

__all__ = ["ExtractionCheck", "ExtractionReport", "ExtractionSettings", "assess_endpoint", "assess_model",
           "is_linear"]


class ExtractionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: Literal["quick", "standard", "thorough"] = Field(
        "quick", description="queries per method: quick 500, standard 2,000 (adds jacobian), thorough 10,000")
    queries: int | None = Field(None, ge=1, description="an exact query budget; overrides budget's number")
    max_fidelity: float = Field(0.9, ge=0, le=1, description="fail when the best copy agrees on more than this")
    methods: list[Literal["equation_solving", "knockoff", "jacobian"]] | None = Field(
        None, description="default: equation_solving for linear models, knockoff, jacobian from standard")
    pool: Literal["train_data", "test_data"] = Field(
        "train_data", description="where the attacker's unlabelled inputs come from (test_data: a seeded half)")
    pool_size: int = Field(5000, ge=1, description="most rows in the attacker's pool (a seeded sample)")
    max_eval: int = Field(1000, ge=1, description="held-out test rows fidelity is measured on")
    labels_only: bool = Field(False, description="the model answers labels only (no scores)")
    controls: bool = Field(True, description="re-run behind each standard output control")
    transfer_eps: float | None = Field(
        0.1, ge=0, description="PGD budget for transferability (input units, or feature-range fraction "
        "for tabular data); unset to skip")

    @property
    def query_budget(self) -> int:
        return self.queries if self.queries is not None else BUDGETS[self.budget]


class ExtractionCheck(Check):
    id = "attacks.extraction"
    title = "Model extraction (theft through the prediction API)"
    expected_seconds = 5.0
    stage = Stage.DEPLOYMENT
    threat = Threat.MODEL_THEFT
    cost = "heavy"
    description = (
        "Equation solving (logistic models), knockoff sampling and Jacobian augmentation within a query "
        "budget; fidelity of the stolen copy vs queries, transferability, and each output control's effect."
    )
    remediation = (
        "Query budgets and rate limits per client, extraction monitoring (PRADA-style query-distribution "
        "checks), label-only or top-1 outputs where the use allows, and watermarking to prove theft; "
        "re-run this check to measure what each control buys."
    )
    Settings = ExtractionSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        if pipeline.models[subject].test_data is None:
            return f"models.{subject} has no test_data (fidelity is measured on held-out inputs)"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        s: ExtractionSettings = ctx.settings
        report = assess_model(ctx, subject, s)
        yield findings_for(self, subject, report, s, ctx.pipeline.display(ctx.pipeline.models[subject].path))


@dataclass(frozen=True)
class ExtractionReport:
    """What the check and the CLI render: the assessment, where the pool and evaluation inputs
    came from, whether the victim is linear (None: unknown) and the transfer units."""

    assessment: ExtractionAssessment
    pool_source: str
    eval_source: str
    linear: bool | None
    access: str  # "local" or the endpoint's URL (redacted)

    def to_dict(self) -> dict[str, Any]:
        return {"pool": self.pool_source, "evaluation": self.eval_source, "linear": self.linear,
                "access": self.access, **self.assessment.to_dict()}


def is_linear(target: Any) -> bool | None:
    """True for a logistic/linear scikit-learn classifier (or a pipeline of affine scalers ending in
    one) or a torch ``Linear``; False for another known type; None when the type cannot be told
    (an HTTP endpoint), so equation solving is tried."""
    estimator = getattr(target, "estimator", None)
    if estimator is not None:
        steps = [s for _, s in getattr(estimator, "steps", [])] or [estimator]
        affine = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler")
        head_ok = all(type(s).__name__ in affine and type(s).__module__.startswith("sklearn.preprocessing")
                      for s in steps[:-1])
        last = steps[-1]
        linear = type(last).__module__.startswith("sklearn.linear_model") and hasattr(last, "predict_proba")
        return bool(head_ok and linear)
    module = getattr(target, "module", None)
    if module is not None:
        inner = list(module.children()) if type(module).__name__ == "Sequential" else [module]
        return len(inner) == 1 and type(inner[0]).__name__ == "Linear"
    return None


def _pool_and_eval(ctx: CheckContext, model: str, s: ExtractionSettings, seed: int) -> tuple[
    np.ndarray, np.ndarray, np.ndarray | None, str, str
]:
    spec = ctx.pipeline.models[model]
    assert spec.test_data is not None
    test = ctx.dataset(spec.test_data)
    x_test = _finite_rows(test.x, spec.test_data, model)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_test))
    if s.pool == "train_data" and spec.train_data is not None:
        train = ctx.dataset(spec.train_data)
        x_train = _finite_rows(train.x, spec.train_data, model)
        pool = x_train[rng.permutation(len(x_train))[: s.pool_size]]
        pool_src = f"{len(pool)} unlabelled rows of datasets.{spec.train_data} (standing for public data of the same kind)"
        held = order
    else:
        half = len(order) // 2
        pool, held = x_test[order[:half][: s.pool_size]], order[half:]
        pool_src = f"{len(pool)} unlabelled rows of datasets.{spec.test_data}, a seeded half"
    held = held[: s.max_eval]
    y = None if test.y is None else np.asarray(test.y)[held]
    return pool, x_test[held], y, pool_src, f"{len(held)} held-out rows of datasets.{spec.test_data}"


def _finite_rows(x: np.ndarray, dataset: str, model: str) -> np.ndarray:
    """Flat float rows; the attacker's queries and the evaluation need finite values."""
    from pipeshield.errors import DatasetError

    rows = np.asarray(x).reshape(len(x), -1).astype(np.float64)
    if len(rows) < 2:
        raise DatasetError(f"datasets.{dataset} (models.{model}): model extraction needs at least 2 rows, "
                           f"got {len(rows)}")
    bad = int((~np.isfinite(rows)).any(axis=1).sum())
    if bad:
        raise DatasetError(f"datasets.{dataset} (models.{model}): {bad} of {len(rows)} rows hold NaN or infinite values; "
                           "model extraction queries the model with finite inputs only",
                           hint="impute or drop those rows before the audit")
    return rows


def _bounds(ctx: CheckContext, model: str, pool: np.ndarray, x_eval: np.ndarray) -> tuple[
    tuple[np.ndarray, np.ndarray], bool
]:
    """The input domain (declared, else seen) and whether eps is in feature-range units."""
    from pipeshield.attacks.evasion.check import load_domain

    dom = load_domain(ctx, model, None)
    seen = np.concatenate([pool, x_eval])
    lo = np.where(np.isfinite(dom.lo), dom.lo, seen.min(axis=0)).astype(np.float64)
    hi = np.where(np.isfinite(dom.hi), dom.hi, seen.max(axis=0)).astype(np.float64)
    shared = bool(np.all(lo == lo[0]) and np.all(hi == hi[0]))
    return (lo, hi), not shared


def _run(ctx: CheckContext, model: str, s: ExtractionSettings, victim: Any, linear: bool | None,
         access: str) -> ExtractionReport:
    from pipeshield._threads import one_torch_thread
    from pipeshield.attacks.extraction.assess import assess_extraction, default_methods
    from pipeshield.gateway.output_policy import STANDARD_POLICIES

    pool, x_eval, y_eval, pool_src, eval_src = _pool_and_eval(ctx, model, s, ctx.seed)
    bounds, feature_range = _bounds(ctx, model, pool, x_eval)
    budget = s.query_budget
    methods = list(s.methods) if s.methods is not None else default_methods(budget, linear)
    classes = getattr(victim, "classes", None)
    if y_eval is not None and classes is not None and len(classes):
        known = {c.item() if hasattr(c, "item") else c for c in np.asarray(classes)}
        if not {v.item() if hasattr(v, "item") else v for v in y_eval} <= known:
            y_eval = None  # labels the model does not answer in: accuracy and transfer not measured
    try:
        with one_torch_thread():
            a = assess_extraction(victim, pool=pool, x_eval=x_eval, y_eval=y_eval, budget=budget, methods=methods,
                                  bounds=bounds, controls=STANDARD_POLICIES if s.controls else (),
                                  labels_only=s.labels_only, transfer_eps=s.transfer_eps,
                                  feature_range_units=feature_range, seed=ctx.seed)
    except ValueError as err:
        # extract() names what does not fit (a width, a column count, a label); the pipeline names where
        raise _user_error(ctx, model, access, err) from None
    return ExtractionReport(a, pool_src, eval_src, linear, access)


def _user_error(ctx: CheckContext, model: str, access: str, err: ValueError) -> PipeshieldError:
    """A ValueError of the extraction library, as the one-line error of the model (or endpoint) and
    the datasets it was given."""
    from pipeshield.errors import TargetError

    spec = ctx.pipeline.models[model]
    data = ", ".join(f"datasets.{d}" for d in dict.fromkeys(x for x in (spec.test_data, spec.train_data) if x))
    who = f"models.{model}" if access == "local" else f"the endpoint {access} (serving models.{model})"
    first = next((ln.strip() for ln in str(err).splitlines() if ln.strip()), type(err).__name__)
    return TargetError(f"{who} with {data}: model extraction cannot run: {first}",
                       hint=f"check that {data} hold the features models.{model} expects, and the classes it answers")


def assess_model(ctx: CheckContext, model: str, s: ExtractionSettings) -> ExtractionReport:
    """The whole assessment of one pipeline model, queried in process."""
    target = ctx.target(model)
    return _run(ctx, model, s, target, is_linear(target), "local")


def assess_endpoint(ctx: CheckContext, s: ExtractionSettings) -> ExtractionReport:
    """The pipeline's ``[endpoint]``, queried over HTTP; its ``model`` supplies the pool and the
    held-out evaluation inputs. Equation solving is tried (the type behind a URL is unknown)."""
    from pipeshield.core.targets import load_endpoint_target
    from pipeshield.errors import ConfigError

    pipe = ctx.pipeline
    target = load_endpoint_target(pipe)
    if pipe.endpoint is None or not pipe.endpoint.model or pipe.models[pipe.endpoint.model].test_data is None:
        raise ConfigError(f"{pipe.source}: endpoint.model must name the model it serves, one with test_data",
                          hint="its test_data are the held-out inputs fidelity is measured on")
    try:
        return _run(ctx, pipe.endpoint.model, s, target, None, pipe.endpoint.redacted_url)
    finally:
        close = getattr(target, "close", None)
        if callable(close):
            close()


def findings_for(check: Check, subject: str, report: ExtractionReport, s: ExtractionSettings,
                 location: str) -> Finding:
    """The one finding for a model's :class:`ExtractionReport`."""
    a = report.assessment
    best = a.best_method
    settings = {**s.model_dump(mode="json"), "query_budget": a.budget}
    caveat = _caveat(report)
    if best is None:
        return check.finding(Status.WARN, subject=subject, message="no extraction method could run: "
                             + "; ".join(f"{m}: {r}" for m, r in a.skipped.items()),
                             settings=settings, locations=(location,), caveat=caveat)
    r = a.results[best]
    metrics: dict[str, float | int | str | bool | None] = {
        "fidelity": round(a.fidelity, 6), "method": best, "queries": r.queries, "budget": a.budget,
        "baseline_fidelity": round(a.baseline_fidelity, 6), "n_eval": a.n_eval, "pool_size": a.pool_size,
        "evaluation_queries": a.evaluation_queries,
        "labels_only": a.labels_only, "victim_accuracy": a.victim_accuracy,
    }
    for m, res in a.results.items():
        metrics[f"fidelity_{m}"] = round(res.final_fidelity, 6)
        metrics[f"queries_{m}"] = res.queries
        if res.accuracy:
            metrics[f"accuracy_{m}"] = round(res.accuracy[max(res.accuracy)], 6)
    if r.accuracy:
        metrics["substitute_accuracy"] = round(r.accuracy[max(r.accuracy)], 6)
    if a.transfer is not None:
        metrics.update(transfer_rate=round(a.transfer.rate, 6), transfer_baseline_rate=round(a.transfer.baseline_rate, 6),
                       transfer_eps=a.transfer.eps, transfer_n=a.transfer.n)
    for c in a.controls:
        metrics[f"fidelity_control_{c.policy.name}"] = None if not c.fidelity else round(c.best, 6)
    xs, curve = a.curve()
    evidence = [Evidence("plot", "Fidelity of the stolen copy vs queries spent", data={
        "type": "line", "x": xs, "x_scale": "log", "x_label": "queries", "y_label": "fidelity (agreement)",
        "series": [{"name": m, "values": v} for m, v in curve.items()],
    })]
    if a.controls:
        methods = list(a.results)
        rows: list[list[Any]] = [["none (" + ("labels only" if a.labels_only else "full scores") + ")",
                                  round(a.fidelity, 4), *(round(a.results[m].final_fidelity, 4) for m in methods)]]
        for c in a.controls:
            rows.append([f"{c.policy.name}: {c.policy.describe()}", None if not c.fidelity else round(c.best, 4),
                         *(round(c.fidelity[m], 4) if m in c.fidelity else None for m in methods)])
        evidence.append(Evidence("table", f"Output controls: fidelity at {a.budget:,} queries", data={
            "columns": ["output control", "fidelity (best method)", *methods], "rows": rows}))
    copy = "label-only " if a.labels_only else ""
    message = (
        f"with {r.queries:,} queries an attacker builds a {copy}copy ({best}) that agrees with the model on "
        f"{a.fidelity:.0%} of held-out inputs (policy maximum {s.max_fidelity:.0%}; always answering the most "
        f"common label agrees on {a.baseline_fidelity:.0%})"
    )
    if r.queries < a.budget:
        message += f"; it stopped short of the {a.budget:,}-query budget because its pool held {a.pool_size:,} inputs"
    if a.transfer is not None:
        message += (f"; adversarials crafted on the copy fool the model {a.transfer.rate:.0%} of the time "
                    f"(random noise of the same size: {a.transfer.baseline_rate:.0%})")
    if a.controls:
        message += "; behind output controls: " + ", ".join(f"{c.policy.name} {percent(c.best if c.fidelity else None)}"
                                                            for c in a.controls)
    status = Status.FAIL if a.fidelity > s.max_fidelity else Status.PASS
    return check.finding(status, severity=Severity.HIGH if status is Status.FAIL else Severity.INFO,
                         subject=subject, message=message, metrics=metrics, evidence=tuple(evidence),
                         settings=settings, locations=(location,), caveat=caveat)


def _caveat(report: ExtractionReport) -> str:
    a = report.assessment
    ran = ", ".join(a.results) or "none"
    skipped = "".join(f"; {m} not run: {why}" for m, why in a.skipped.items())
    tried = ("; equation solving was tried because the model's type is unknown (fidelity near 1.0 means it is "
             "logistic)" if report.linear is None and "equation_solving" in a.results else "")
    return (
        f"Methods run at {a.budget:,} queries each: {ran}{skipped}{tried}. Attacker's pool: {report.pool_source}; "
        f"fidelity measured on {report.eval_source}. Transferability: {a.transfer_note}. A low fidelity is not "
        "protection: more queries, a better pool or adaptive strategies do better; query budgets and "
        "monitoring were not part of this measurement."
    )
