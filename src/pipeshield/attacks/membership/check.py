"""Audit check ``attacks.membership``: can an attacker with query access tell who was trained on?

For every model with ``train_data`` and ``test_data``, the members are a seeded sample of its
training rows and the non-members its test rows -- less any test row that also appears, exactly,
in the training data (a duplicate *is* a member; counting it as a non-member would blame the attack
for the leak). Reference models are trained with the model's own recipe: the pipeline's
``training = "module:function"`` when it names one, else a clone of a scikit-learn model (a torch
or ONNX model without ``training`` is skipped: its recipe is unknown). Then every attack of
:mod:`pipeshield.attacks.membership` runs (loss, confidence, correctness, LiRA online/offline,
RMIA) and the finding fails (high) when the best of them beats the policy: AUC above ``max_auc``
or TPR at 1% FPR above ``max_tpr_at_1pct_fpr``.

Controls measured: the same attacks, with the same reference models, re-run against the model
behind each standard output policy (scores rounded to 2 decimals, top-1 score, label only), so
the finding says what each control buys ("label-only output cuts membership AUC from 0.97 to
0.62"). ``controls = false`` turns that off.

    [policy.checks."attacks.membership"]
    budget = "standard"        # 16 reference models (quick: 4, thorough: 64)
    max_auc = 0.6

The CLI (``pipeshield attack membership``) runs the same :func:`assess_model`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.attacks._format import percent
from pipeshield.core.checks import Check, CheckContext, check_settings
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline

if TYPE_CHECKING:
    from pipeshield.attacks.membership.controls import ControlsResult
    from pipeshield.attacks.membership.results import AttackMetrics, MembershipResult

__all__ = [
    "BUDGET_REFERENCES",
    "MembershipCheck",
    "MembershipData",
    "MembershipReport",
    "MembershipSettings",
    "assess_model",
    "findings_for",
    "load_members",
]

#: Reference models per budget. Quick keeps the demo's forest to a few seconds; LiRA's authors
#: recommend the per-record variance only from ~64 models (below, read the fixed-variance rows).
BUDGET_REFERENCES: dict[str, int] = {"quick": 4, "standard": 16, "thorough": 64}
_ROC_POINTS = 40
_PLOTTED = ("loss", "lira", "lira_offline", "rmia")


class MembershipSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: Literal["quick", "standard", "thorough"] = Field(
        "quick", description="reference models trained: quick 4, standard 16, thorough 64"
    )
    references: int | None = Field(None, ge=2, le=1024, description="reference models; overrides the budget")
    max_auc: float = Field(0.6, ge=0.5, le=1, description="fail when the best attack's ROC AUC is above this")
    max_tpr_at_1pct_fpr: float = Field(
        0.05, ge=0, le=1, description="fail when the best attack finds more than this fraction of members at 1% FPR"
    )
    max_members: int = Field(2000, ge=10, description="training rows judged (a seeded sample)")
    max_nonmembers: int = Field(5000, ge=10, description="test rows judged (a seeded sample)")
    controls: bool = Field(True, description="re-run against round-2, top-1 and label-only outputs")
    exposed_records: int = Field(10, ge=0, le=100, description="most exposed records listed in the report")
    models: list[str] | None = Field(
        None, description="only these models (default: every model with train_data and test_data)"
    )
    executor: Literal["auto", "serial", "local"] = Field(
        "auto", description="where reference models train (auto: serial inside an audit worker, else local from 8)"
    )

    @property
    def n_reference(self) -> int:
        return self.references if self.references is not None else BUDGET_REFERENCES[self.budget]


class MembershipCheck(Check):
    id = "attacks.membership"
    title = "Membership inference (who was in the training set)"
    stage = Stage.INFERENCE
    threat = Threat.MEMBERSHIP_INFERENCE
    cost = "heavy"
    description = (
        "Loss, confidence and correctness baselines, LiRA (online/offline) and RMIA with reference "
        "models trained by the model's own recipe; AUC, TPR at 1% and 0.1% FPR, advantage and an "
        "empirical epsilon lower bound; re-measured behind round-2, top-1 and label-only outputs."
    )
    remediation = (
        "Train with differential privacy (DP-SGD; report and audit epsilon); regularise against "
        "overfitting (early stopping, weight decay, limiting tree depth, bagging); serve labels or "
        "rounded top-1 scores only, with query budgets; do not publish the model file itself."
    )
    Settings = MembershipSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        selected = getattr(check_settings(self, pipeline), "models", None)
        if selected is not None and subject not in selected:
            return f'models.{subject} is not in policy.checks."{self.id}".models {selected}'
        return skip_reason(pipeline, subject)

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        s: MembershipSettings = ctx.settings
        report = assess_model(ctx, subject, s)
        yield findings_for(self, subject, report, s, ctx.pipeline.display(ctx.pipeline.models[subject].path))


def skip_reason(pipeline: Pipeline, model: str) -> str | None:
    """Why membership cannot be measured for ``model`` (cheap: reads the pipeline only)."""
    spec = pipeline.models[model]
    for key in ("train_data", "test_data"):
        name = getattr(spec, key)
        if name is None:
            return f"models.{model} has no {key}: membership needs known members (train) and non-members (test)"
        if pipeline.datasets[name].label is None:
            return f"datasets.{name} has no label column"
    if spec.training is None and spec.format != "skops":
        return (
            f"models.{model} is a {spec.format} model without `training`: reference models need its "
            "recipe (set training = 'module:function(x, y, *, seed) -> model')"
        )
    return None


@dataclass(frozen=True)
class MembershipData:
    """Who is judged: members (rows of the train dataset) and non-members (rows of the test
    dataset), with the test rows left out because they also appear in the training data."""

    x_members: NDArray[Any] = field(repr=False)
    y_members: NDArray[Any] = field(repr=False)
    member_rows: NDArray[np.intp]
    x_nonmembers: NDArray[Any] = field(repr=False)
    y_nonmembers: NDArray[Any] = field(repr=False)
    nonmember_rows: NDArray[np.intp]
    excluded_duplicates: NDArray[np.intp]
    train_data: str
    test_data: str


def load_members(ctx: CheckContext, model: str, s: MembershipSettings) -> MembershipData:
    """Seeded samples of the model's training rows (members) and of its test rows that are not
    exact copies of a training row (non-members), shaped for the model."""
    from pipeshield.core.targets.base import reshape_input
    from pipeshield.errors import DatasetError

    spec = ctx.pipeline.models[model]
    assert spec.train_data is not None and spec.test_data is not None
    train, test = ctx.dataset(spec.train_data), ctx.dataset(spec.test_data)
    assert train.y is not None and test.y is not None
    flat_train = np.ascontiguousarray(train.x.reshape(len(train), -1))
    flat_test = np.ascontiguousarray(test.x.reshape(len(test), -1))
    if flat_train.shape[1] != flat_test.shape[1]:
        raise DatasetError(
            f"models.{model}: datasets.{spec.train_data} has {flat_train.shape[1]} features per row "
            f"but datasets.{spec.test_data} has {flat_test.shape[1]}"
        )
    # Exact duplicates compared on the feature bytes in a common dtype (CSV and parquet may load
    # as different float widths).
    common = np.result_type(flat_train.dtype, flat_test.dtype)
    seen = {row.tobytes() for row in flat_train.astype(common)}
    duplicate = np.fromiter((row.tobytes() in seen for row in flat_test.astype(common)), dtype=bool, count=len(test))
    rng = np.random.default_rng(np.random.SeedSequence([ctx.seed, 0x4D454D]))  # "MEM"
    members = np.sort(rng.permutation(len(train))[: s.max_members])
    candidates = np.flatnonzero(~duplicate)
    nonmembers = np.sort(rng.permutation(candidates)[: s.max_nonmembers])
    if len(members) == 0 or len(nonmembers) == 0:
        empty = spec.train_data if len(members) == 0 else spec.test_data
        raise DatasetError(f"models.{model}: datasets.{empty} leaves no records to judge (empty, or every test row is also a training row)")
    where = model
    return MembershipData(
        x_members=reshape_input(train.x[members], spec.input_shape, where),
        y_members=np.asarray(train.y[members]),
        member_rows=members,
        x_nonmembers=reshape_input(test.x[nonmembers], spec.input_shape, where),
        y_nonmembers=np.asarray(test.y[nonmembers]),
        nonmember_rows=nonmembers,
        excluded_duplicates=np.flatnonzero(duplicate),
        train_data=spec.train_data,
        test_data=spec.test_data,
    )


@dataclass(frozen=True)
class MembershipReport:
    """What the check and the CLI both render."""

    result: ControlsResult
    data: MembershipData
    recipe: str
    seconds: float

    @property
    def full(self) -> MembershipResult:
        return self.result.full

    def best(self, result: MembershipResult | None = None) -> tuple[AttackMetrics, AttackMetrics]:
        """The attacks with the highest AUC and the highest TPR at 1% FPR."""
        attacks = list((result or self.full).attacks.values())
        return max(attacks, key=lambda a: a.auc), max(attacks, key=lambda a: (a.tpr_at_fpr[0.01], a.auc))

    def exposed(self, s: MembershipSettings) -> bool:
        by_auc, by_tpr = self.best()
        return by_auc.auc > s.max_auc or by_tpr.tpr_at_fpr[0.01] > s.max_tpr_at_1pct_fpr

    def to_dict(self) -> dict[str, Any]:
        d = self.data
        return {
            "recipe": self.recipe,
            "seconds": round(self.seconds, 3),
            "train_data": d.train_data,
            "test_data": d.test_data,
            "member_rows": d.member_rows.tolist(),
            "nonmember_rows": d.nonmember_rows.tolist(),
            "excluded_duplicates": d.excluded_duplicates.tolist(),
            **self.result.to_dict(include_scores=False),
        }


def _executor(s: MembershipSettings) -> str | None:
    from pipeshield.core.executor import nested_executor

    return nested_executor() if s.executor == "auto" else s.executor


def assess_model(ctx: CheckContext, model: str, s: MembershipSettings) -> MembershipReport:
    """Every membership attack on one pipeline model, and again behind each output control."""
    import time

    from pipeshield.attacks.membership._reference import RecipeError
    from pipeshield.attacks.membership.controls import evaluate_controls
    from pipeshield.core.pipeline import resolve_callable
    from pipeshield.errors import ConfigError, DatasetError
    from pipeshield.gateway.output_policy import STANDARD_POLICIES

    reason = skip_reason(ctx.pipeline, model)
    if reason:
        raise ConfigError(reason)
    spec = ctx.pipeline.models[model]
    start = time.perf_counter()
    data = load_members(ctx, model, s)
    target = ctx.target(model)
    train_fn, template, recipe = None, None, ""
    if spec.training is not None:
        train_fn = resolve_callable(spec.training, ctx.pipeline, f"models.{model}.training")
        recipe = f"models.{model}.training ({spec.training})"
    else:
        template = getattr(target, "estimator", None)
        recipe = f"clones of the {type(template).__name__} in models.{model}"
    try:
        result = evaluate_controls(
            target, data.x_members, data.y_members, data.x_nonmembers, data.y_nonmembers,
            policies=STANDARD_POLICIES if s.controls else (), n_reference=s.n_reference,
            train_fn=train_fn, template=template, seed=ctx.seed, executor=_executor(s), top_k=s.exposed_records,
        )
    except RecipeError as err:  # no usable recipe: the pipeline file, not the data
        raise ConfigError(
            f"models.{model}.training: {err}",
            hint="set training = 'module:function' (fn(x, y, *, seed) -> model) for this model",
        ) from None
    except ValueError as err:
        raise DatasetError(f"models.{model}: membership attack: {err}") from None
    return MembershipReport(result, data, recipe, time.perf_counter() - start)


def roc_plot(result: MembershipResult) -> Evidence:
    """ROC curves on a log FPR axis (where membership attacks are judged), with chance."""
    from pipeshield.attacks.membership.metrics import tpr_at_fpr

    n = result.n_nonmembers
    low = 10.0 ** np.floor(np.log10(1.0 / max(n, 1)))
    grid = [float(f"{f:.4g}") for f in np.geomspace(low, 1.0, _ROC_POINTS)]
    best = max(result.attacks.values(), key=lambda a: a.auc).name
    shown = [name for name in result.attacks if name in _PLOTTED or name == best]
    series = []
    for name in shown:
        roc = result.attacks[name].roc()
        series.append({"name": f"{name} (AUC {result.attacks[name].auc:.2f})",
                       "values": [round(tpr_at_fpr(roc, fpr=min(f, 1.0)), 4) for f in grid]})
    series.append({"name": "chance", "values": grid})
    return Evidence("plot", "ROC per attack (log-scale false-positive rate)", data={
        "type": "line", "x": grid, "series": series, "x_scale": "log",
        "x_label": "false-positive rate (non-members flagged)", "y_label": "true-positive rate (members found)",
    })


def controls_rows(report: MembershipReport) -> list[list[Any]]:
    rows = []
    for name, r in [("full", report.full), *report.result.controlled.items()]:
        by_auc, by_tpr = report.best(r)
        rows.append([name, round(by_auc.auc, 4), by_auc.name, round(by_tpr.tpr_at_fpr[0.01], 4),
                     round(by_tpr.tpr_at_fpr[0.001], 4), round(r.test_accuracy, 4)])
    return rows


def control_sentences(report: MembershipReport) -> list[str]:
    """One sentence per control: what it did to the best attack's AUC."""
    full = report.best()[0].auc
    out = []
    for name, r in report.result.controlled.items():
        auc = report.best(r)[0].auc
        verb = "cuts" if auc < full - 0.005 else "leaves"
        change = f"from {full:.2f} to {auc:.2f}" if verb == "cuts" else f"at {auc:.2f}"
        out.append(f"{name} output {verb} membership AUC {change}")
    return out


def findings_for(check: Check, subject: str, report: MembershipReport, s: MembershipSettings, location: str) -> Finding:
    """The one finding for a model's :class:`MembershipReport`."""
    full, data = report.full, report.data
    by_auc, by_tpr = report.best()
    metrics: dict[str, float | int | str | bool | None] = {
        "best_auc": round(by_auc.auc, 6),
        "best_auc_attack": by_auc.name,
        "best_tpr_at_1pct_fpr": round(by_tpr.tpr_at_fpr[0.01], 6),
        "best_tpr_attack": by_tpr.name,
        "n_reference": full.n_reference,
        "n_members": full.n_members,
        "n_nonmembers": full.n_nonmembers,
        "excluded_duplicates": len(data.excluded_duplicates),
        "train_accuracy": round(full.train_accuracy, 6),
        "test_accuracy": round(full.test_accuracy, 6),
    }
    for name, a in full.attacks.items():
        metrics[f"auc_{name}"] = round(a.auc, 6)
        metrics[f"tpr_at_1pct_fpr_{name}"] = round(a.tpr_at_fpr[0.01], 6)
        metrics[f"tpr_at_0_1pct_fpr_{name}"] = round(a.tpr_at_fpr[0.001], 6)
        metrics[f"advantage_{name}"] = round(a.advantage, 6)
        metrics[f"epsilon_lower_bound_{name}"] = round(a.epsilon_lower_bound, 6)
    for name, r in report.result.controlled.items():
        c_auc, c_tpr = report.best(r)
        metrics[f"control_{name}_best_auc"] = round(c_auc.auc, 6)
        metrics[f"control_{name}_best_tpr_at_1pct_fpr"] = round(c_tpr.tpr_at_fpr[0.01], 6)

    exposed = by_auc.most_exposed
    evidence = [roc_plot(full)]
    if exposed:
        evidence.append(Evidence("table", f"Most exposed members ({by_auc.name}; row = 0-based row of datasets.{data.train_data})", data={
            "columns": ["row", "score", "non-members scoring as high"],
            "rows": [[int(data.member_rows[r.index]), round(r.score, 4) if np.isfinite(r.score) else None,
                      percent(r.fpr)] for r in exposed],
        }))
    if report.result.controlled:
        evidence.append(Evidence("table", "Controls measured: the same attacks behind output hardening", data={
            "columns": ["output", "best AUC", "attack", "TPR @ 1% FPR", "TPR @ 0.1% FPR", "accuracy (non-members)"],
            "rows": controls_rows(report),
        }))
    message = (
        f"an attacker with query access tells training members from non-members with AUC "
        f"{by_auc.auc:.2f} ({by_auc.name}); at 1% false positives it finds {percent(by_tpr.tpr_at_fpr[0.01])} "
        f"of members ({by_tpr.name}); policy: AUC <= {s.max_auc:g}, TPR at 1% FPR <= {percent(s.max_tpr_at_1pct_fpr)}"
        f"; train accuracy {full.train_accuracy:.1%}, non-member accuracy {full.test_accuracy:.1%}"
    )
    sentences = control_sentences(report)
    if sentences:
        message += ". Controls: " + "; ".join(sentences)
    excluded = len(data.excluded_duplicates)
    caveat = (
        f"{full.n_reference} reference models trained with {report.recipe}; {full.n_members} members "
        f"(rows of datasets.{data.train_data}) and {full.n_nonmembers} non-members (rows of "
        f"datasets.{data.test_data}"
        + (f", less {excluded} that also appear in the training data" if excluded else "")
        + "). TPR at 0.1% FPR needs thousands of non-members to mean anything"
        + (f" (with {full.n_nonmembers} it is the TPR at zero false positives)" if full.n_nonmembers < 1000 else "")
        + ". A low AUC is not privacy: a stronger attack, more reference models or the few records "
        "the attack singles out may tell a different story; only differential privacy bounds every attack."
    )
    status = Status.FAIL if report.exposed(s) else Status.PASS
    return check.finding(
        status, severity=Severity.HIGH if status is Status.FAIL else Severity.INFO, subject=subject,
        message=message, metrics=metrics, evidence=tuple(evidence), locations=(location,), caveat=caveat,
        settings={**s.model_dump(mode="json"), "n_reference": s.n_reference,
                  **dict(full.settings)},
    )
