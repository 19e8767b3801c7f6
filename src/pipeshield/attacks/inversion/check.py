"""Audit check ``attacks.inversion``: what an attacker reconstructs from the model's answers.

Image models (``input_shape`` set): MI-Face (Fredrikson et al. 2015) reconstructs a representative
of every class, white-box through the gradients of torch models and black-box by finite
differences over the scores of every other model. An independent model (k-nearest neighbours on
the training images, never the attacked model) judges whether each reconstruction looks like its
class; the check fails when it recognises more than ``max_recognition_rate`` of them. Evidence:
the reconstructions as pictures, each captioned with that verdict.

Tabular models: attribute inference on each column the policy declares ``sensitive``: the attacker
knows a training record's other columns and label, queries the model with every candidate value
and keeps the one that best explains the label. The check fails when the attack beats a baseline
without model access by more than ``max_advantage`` (high above ``high_advantage``). Without a
``sensitive`` list there is nothing to protect that pipeshield could know of, and the check skips.

Controls measured: both attacks re-run black-box through each standard output policy (scores
rounded to 2 decimals, top-1, label only), so the finding can say what each one buys.

    [policy.checks."attacks.inversion"]
    sensitive = ["age", "smoker"]   # tabular: columns an attacker must not recover
    budget = "quick"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline
from pipeshield.core.targets.base import WHITE_BOX_FORMATS

if TYPE_CHECKING:
    from pipeshield.attacks.inversion.assess import AttributeReport, ImageReport

__all__ = ["InversionCheck", "InversionSettings"]

_CAVEAT_IMAGES = (
    "MI-Face reconstructs what the model associates with a class, not a training record: it "
    "exposes a person only when a class is one person (faces) or a class itself is sensitive. "
    "The verdict comes from an independent {evaluator} model trained on the training data; a low "
    "recognition rate does not prove that stronger inversions (with a generative image prior, or "
    "more queries) fail. Not measured: reconstruction of individual training records."
)
_CAVEAT_TABULAR = (
    "The attacker is assumed to know the record's other columns and its label. Accuracy is "
    "compared with a baseline that has the same knowledge and population data but no model (the "
    "better of an imputation model and the majority value): the advantage is what the model "
    "leaks. An advantage near zero does not prove that no attack can do better; only differential "
    "privacy bounds every attack."
)


class InversionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    budget: Literal["quick", "standard"] = Field("quick", description="MI-Face iterations and queries per class")
    evaluator: Literal["knn", "logistic"] = Field("knn", description="the independent judge of reconstructions")
    max_recognition_rate: float = Field(0.5, ge=0, le=1, description="images: fail above this fraction recognised")
    severity: Literal["low", "medium", "high"] = Field(
        "medium", description="images: severity of a failure (raise it when a class is a person)"
    )
    clip: tuple[float, float] | None = Field(None, description="valid input range; default: the dataset's domain clip")
    sensitive: list[str] = Field([], description="tabular: feature names an attacker must not recover")
    max_advantage: float = Field(0.05, ge=0, le=1, description="tabular: fail (medium) above this advantage")
    high_advantage: float = Field(0.15, ge=0, le=1, description="tabular: high severity above this advantage")
    max_categories: int = Field(10, ge=2, description="a column with more values is binned")
    bins: int = Field(5, ge=2, description="quantile bins of a numeric sensitive column")
    max_records: int = Field(1000, ge=10, description="members and non-members attacked (seeded samples)")
    controls: bool = Field(True, description="re-run through each standard output policy")


class InversionCheck(Check):
    id = "attacks.inversion"
    title = "Model inversion and attribute inference"
    stage = Stage.INFERENCE
    threat = Threat.MODEL_INVERSION
    cost = "heavy"
    description = (
        "MI-Face class reconstruction (white-box gradients or black-box finite differences) judged by "
        "an independent model; attribute inference on declared sensitive columns against a no-access baseline."
    )
    remediation = (
        "Serve labels only or coarse scores (the controls below say what each bought); train with "
        "differential privacy (DP-SGD) to bound what any attack learns about a record; drop sensitive "
        "columns the model does not need; limit and monitor query volume per client."
    )
    Settings = InversionSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        spec = pipeline.models[subject]
        if spec.train_data is None:
            return f"models.{subject} has no train_data (the attacks are judged against it)"
        if pipeline.datasets[spec.train_data].label is None:
            return f"datasets.{spec.train_data} has no label column"
        if spec.input_shape is not None:
            return None
        sensitive = pipeline.check_settings(self.id).get("sensitive") or []
        if not sensitive:
            return (f'models.{subject} is tabular and no column is declared sensitive: set '
                    f'policy.checks."{self.id}".sensitive = ["COLUMN", ...] to test attribute inference')
        if spec.test_data is None:
            return f"models.{subject} has no test_data (non-members and the baseline's population)"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        s: InversionSettings = ctx.settings
        spec = ctx.pipeline.models[subject]
        location = ctx.pipeline.display(spec.path)
        if spec.input_shape is not None:
            report = _images(ctx, subject, s)
            yield _image_finding(self, subject, report, s, location)
            return
        train = ctx.dataset(spec.train_data) if spec.train_data else None
        assert train is not None
        wanted = [c for c in s.sensitive if c in train.feature_names]
        if not wanted:
            yield self.skipped(subject, f"none of the sensitive columns ({', '.join(s.sensitive)}) is a "
                                        f"feature of models.{subject}")
            return
        for column in wanted:
            yield _attribute_finding(self, subject, _attribute(ctx, subject, column, s), s, location)


def _class_indices(target: Any, y: np.ndarray, where: str) -> np.ndarray:
    from pipeshield.core.labels import class_columns
    from pipeshield.errors import DatasetError

    try:
        return class_columns(getattr(target, "classes", None), y)
    except ValueError as err:
        raise DatasetError(f"{where}: {err}") from None


def _sample(n: int, k: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).permutation(n)[:k])


def _images(ctx: CheckContext, model: str, s: InversionSettings) -> ImageReport:
    from pipeshield.attacks.inversion.assess import assess_images
    from pipeshield.errors import DatasetError
    from pipeshield.gateway.output_policy import STANDARD_POLICIES

    spec = ctx.pipeline.models[model]
    assert spec.train_data is not None and spec.input_shape is not None
    train = ctx.dataset(spec.train_data)
    assert train.y is not None
    target = ctx.target(model)
    target.predict_proba(np.asarray(train.x[:1], dtype=np.float32).reshape(1, -1))  # sets classes
    y = _class_indices(target, train.y, f"datasets.{spec.train_data}")
    clip = s.clip
    if clip is None:
        for name in (spec.test_data, spec.train_data):
            declared = ctx.pipeline.datasets[name].domain if name else None
            if declared is not None and declared.clip is not None:
                clip = declared.clip
                break
    if clip is None:
        clip = (float(np.min(train.x)), float(np.max(train.x)))
    white = spec.format in WHITE_BOX_FORMATS
    try:
        return assess_images(target, train.x.reshape(len(train), -1), y, input_shape=spec.input_shape, clip=clip,
                             budget=s.budget, white_box=white, evaluator=s.evaluator,
                             policies=STANDARD_POLICIES if s.controls else (), seed=ctx.seed)
    except ValueError as err:  # an empty clip range, an input shape the rows do not fill
        raise DatasetError(
            f"models.{model} with datasets.{spec.train_data} (clip {tuple(clip)}): MI-Face cannot run: "
            f"{_first_line(err)}",
            hint=f'set policy.checks."{InversionCheck.id}".clip = [LOW, HIGH] to the valid input range',
        ) from None


def _attribute(ctx: CheckContext, model: str, column: str, s: InversionSettings) -> AttributeReport:
    from pipeshield.attacks.inversion.assess import assess_attribute
    from pipeshield.errors import DatasetError
    from pipeshield.gateway.output_policy import STANDARD_POLICIES

    spec = ctx.pipeline.models[model]
    assert spec.train_data is not None and spec.test_data is not None
    train, test = ctx.dataset(spec.train_data), ctx.dataset(spec.test_data)
    assert train.y is not None and test.y is not None
    m, n = _sample(len(train), s.max_records, ctx.seed), _sample(len(test), s.max_records, ctx.seed + 1)
    target = ctx.target(model)
    try:
        return assess_attribute(target, column, train.feature_names, train.x[m], train.y[m], test.x[n],
                                test.y[n], max_categories=s.max_categories, bins=s.bins,
                                policies=STANDARD_POLICIES if s.controls else (), seed=ctx.seed)
    except ValueError as err:  # a label the model does not answer in, a column it cannot take
        raise DatasetError(
            f'models.{model} with datasets.{spec.train_data} and datasets.{spec.test_data}: attribute inference on '
            f'policy.checks."{InversionCheck.id}".sensitive column {column!r} cannot run: {_first_line(err)}',
            hint=f"the datasets' labels must be classes of models.{model}, and {column!r} one of its input features",
        ) from None


def _first_line(err: Exception) -> str:
    return next((ln.strip() for ln in str(err).splitlines() if ln.strip()), type(err).__name__)


def _image_finding(check: Check, subject: str, r: ImageReport, s: InversionSettings, location: str) -> Finding:
    from pipeshield.attacks.inversion.quality import reconstruction_images

    q = r.quality
    n, hits = len(q.recognised), sum(q.recognised)
    metrics: dict[str, float | int | str | bool | None] = {
        "recognition_rate": round(q.recognition_rate, 6),
        "chance": round(q.chance, 6),
        "mean_distance_to_class_mean": round(q.mean_distance_to_class_mean, 6),
        "closer_to_own_mean": round(q.closer_to_own_mean, 6),
        "mean_confidence": round(float(np.mean([x.confidence for x in r.results])), 6),
        "n_classes": n,
        "access": r.access,
        "queries": r.queries,
        "median_iterations": float(np.median([x.iterations for x in r.results])),
    }
    for name, cq in r.controls.items():
        metrics[f"recognition_rate_black_box_{name}"] = round(cq.recognition_rate, 6)
        metrics[f"queries_black_box_{name}"] = r.control_queries.get(name, 0)
    lo, hi = r.settings["clip"]
    images = reconstruction_images(r.results, q, input_shape=r.settings["input_shape"], clip=(lo, hi),
                                   classes=r.classes,
                                   label=f"MI-Face reconstructions ({r.access}), judged by an independent {q.evaluator}")
    evidence: list[Evidence] = [images] if images is not None else []
    if r.controls:
        evidence.append(Evidence("plot", "Black-box recognition rate per output policy", data={
            "type": "bar", "x": list(r.controls), "max": 1.0,
            "values": [round(c.recognition_rate, 4) for c in r.controls.values()],
        }))
    bought = _controls_sentence(r)
    message = (
        f"a {r.access} MI-Face attacker reconstructs class representatives that an independent "
        f"{q.evaluator} model recognises for {hits} of {n} classes ({q.recognition_rate:.0%}; chance "
        f"{q.chance:.0%}, policy maximum {s.max_recognition_rate:.0%})" + (f"; {bought}" if bought else "")
    )
    failed = q.recognition_rate > s.max_recognition_rate
    return check.finding(
        Status.FAIL if failed else Status.PASS, severity=Severity(s.severity) if failed else Severity.INFO,
        subject=subject, message=message, metrics=metrics, evidence=tuple(evidence), locations=(location,),
        settings={**s.model_dump(mode="json"), **r.settings},
        caveat=_CAVEAT_IMAGES.format(evaluator=q.evaluator),
    )


def _controls_sentence(r: ImageReport) -> str:
    if not r.controls or "full" not in r.controls:
        return ""
    base = r.controls["full"].recognition_rate
    parts = [f"{name} {q.recognition_rate:.0%}" for name, q in r.controls.items() if name != "full"]
    return f"black-box with full scores {base:.0%}, with " + ", ".join(parts)


def _attribute_finding(check: Check, subject: str, r: AttributeReport, s: InversionSettings,
                       location: str) -> Finding:
    res = r.result
    m, n = res.members, res.nonmembers
    metrics: dict[str, float | int | str | bool | None] = {"kind": res.kind, "n_candidates": len(res.candidates),
                                                             "queries": res.queries}
    for group, sc in (("members", m), ("nonmembers", n)):
        for key, value in sc.to_dict().items():
            metrics[f"{key}_{group}"] = value
    for name, c in r.controls.items():
        metrics[f"advantage_members_{name}"] = round(c.members.advantage, 6)
        metrics[f"attack_accuracy_members_{name}"] = round(c.members.attack_accuracy, 6)
    worst = max(m.advantage, n.advantage)
    rows = [["full", round(m.attack_accuracy, 4), round(m.baseline_accuracy, 4), round(m.advantage, 4),
             round(n.attack_accuracy, 4), round(n.advantage, 4)]]
    rows += [[k, round(c.members.attack_accuracy, 4), round(c.members.baseline_accuracy, 4),
              round(c.members.advantage, 4), round(c.nonmembers.attack_accuracy, 4), round(c.nonmembers.advantage, 4)]
             for k, c in r.controls.items()]
    table = Evidence("table", f"Attribute inference on {r.column!r} per output policy", data={
        "columns": ["output", "attack acc. (members)", "baseline acc. (members)", "advantage (members)",
                    "attack acc. (non-members)", "advantage (non-members)"],
        "rows": rows,
    })
    kind = "value" if res.kind == "categorical" else f"bin (of {len(res.candidates)})"
    bought = ", ".join(f"{k} {c.members.advantage:+.0%}" for k, c in r.controls.items())
    message = (
        f"an attacker who knows a record's other columns and label recovers its {r.column!r} {kind} "
        f"for {m.attack_accuracy:.0%} of training members against {m.baseline_accuracy:.0%} without the "
        f"model (advantage {m.advantage:+.0%}; non-members {n.advantage:+.0%}; policy maximum "
        f"{s.max_advantage:.0%})" + (f"; advantage on members with {bought}" if bought else "")
    )
    if worst > s.high_advantage:
        status, severity = Status.FAIL, Severity.HIGH
    elif worst > s.max_advantage:
        status, severity = Status.FAIL, Severity.MEDIUM
    else:
        status, severity = Status.PASS, Severity.INFO
    return check.finding(status, severity=severity, subject=f"{subject}/{r.column}", message=message,
                         metrics=metrics, evidence=(table,), locations=(location,),
                         settings=s.model_dump(mode="json"), caveat=_CAVEAT_TABULAR)
