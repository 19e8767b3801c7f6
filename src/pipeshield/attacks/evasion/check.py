"""Audit check ``attacks.evasion``: white-box robustness of each torch model on its test set.

One finding per model says whether an attacker who may change each input value by the policy
epsilon flips too many correct predictions (fail, high, when the ensemble's robust accuracy is
under ``min_robust_accuracy``), with the robust-accuracy curve as a line plot. The gradient-masking
checks run on the same inputs: each one that flags becomes a ``testing_bypass`` finding of its own,
because a robust-looking number from a masked gradient is a false assurance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline

if TYPE_CHECKING:
    from pipeshield.attacks.evasion.assess import EvasionAssessment
    from pipeshield.attacks.evasion.masking import MaskingResult

__all__ = ["EvasionCheck", "EvasionReport", "EvasionSettings", "load_inputs", "run_assessment"]

WHITE_BOX_FORMATS = ("safetensors", "torch", "torchscript")
CAVEAT = (
    "Only white-box gradient attacks ({norm}) were run. Not measured: black-box (score or "
    "decision-only) attacks, transfer attacks from a surrogate, other norms, and physical-world "
    "perturbations. A high robust accuracy is an upper bound, not proof of robustness."
)


class EvasionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    norm: Literal["linf", "l2"] = Field("linf", description="threat model")
    eps: float = Field(0.1, ge=0, description="policy epsilon: the perturbation an attacker may make")
    eps_grid: list[float] = Field([0.0, 0.05, 0.1, 0.2, 0.3], description="epsilons of the curve")
    min_robust_accuracy: float = Field(0.5, ge=0, le=1, description="fail below this at eps")
    budget: Literal["quick", "standard"] = Field("quick", description="attack iterations")
    max_inputs: int = Field(500, ge=1, description="test inputs attacked (a seeded sample)")
    clip: tuple[float, float] = Field((0.0, 1.0), description="valid input range")


class EvasionCheck(Check):
    id = "attacks.evasion"
    title = "Robustness to adversarial examples (white-box evasion)"
    stage = Stage.VALIDATION
    threat = Threat.EVASION
    cost = "heavy"
    description = "FGSM, PGD and APGD at several epsilons; the per-input worst case, and gradient-masking checks."
    remediation = (
        "Adversarial training (PGD/TRADES) at the policy epsilon; input sanitization or "
        "preprocessing only together with an adaptive re-evaluation; monitor inputs near the boundary."
    )
    Settings = EvasionSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        spec = pipeline.models[subject]
        if spec.format not in WHITE_BOX_FORMATS:
            return "white-box evasion needs a torch model; black-box attacks are not built yet"
        if spec.test_data is None:
            return f"models.{subject} has no test_data"
        if pipeline.datasets[spec.test_data].label is None:
            return f"datasets.{spec.test_data} has no label column"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        s: EvasionSettings = ctx.settings
        x, y = load_inputs(ctx, subject, s.max_inputs)
        report = run_assessment(ctx.target(subject), x, y, s, seed=ctx.seed)
        yield from findings_for(self, subject, report, s, ctx.pipeline.display(ctx.pipeline.models[subject].path))


def findings_for(check: Check, subject: str, report: EvasionReport, s: EvasionSettings, location: str) -> Iterator[Finding]:
    """The main finding and the masking findings for one model's :class:`EvasionReport`."""
    a = report.assessment
    robust, asr = a.ensemble_at(s.eps), a.success_rate_at(s.eps)
    metrics: dict[str, float | int | str | bool | None] = {
        "clean_accuracy": round(a.clean_accuracy, 6),
        "robust_accuracy": round(robust, 6),
        "attack_success_rate": None if np.isnan(asr) else round(asr, 6),
        "eps": s.eps,
        "n_inputs": a.n_inputs,
    }
    for name, values in a.robust_accuracy.items():
        metrics[f"robust_accuracy_{name}"] = round(values[a.eps_grid.index(s.eps)], 6)
    plot = Evidence("plot", f"Robust accuracy vs eps ({a.norm}) per attack", data={
        "type": "line", "x": list(a.eps_grid),
        "series": [{"name": k, "values": [round(v, 4) for v in vs]} for k, vs in a.robust_accuracy.items()]
        + [{"name": "ensemble (worst case)", "values": [round(v, 4) for v in a.ensemble]}],
        "x_label": f"eps ({a.norm})", "y_label": "robust accuracy",
    })
    common = {"subject": subject, "settings": {**s.model_dump(mode="json"), **a.settings},
              "locations": (location,), "caveat": CAVEAT.format(norm=a.norm)}
    message = (
        f"an attacker who may change each input value by {s.eps:g} ({a.norm}) flips {asr:.0%} of "
        f"correct predictions: robust accuracy {robust:.1%} (clean {a.clean_accuracy:.1%}, "
        f"policy minimum {s.min_robust_accuracy:.0%})"
    )
    status = Status.FAIL if robust < s.min_robust_accuracy else Status.PASS
    yield check.finding(status, severity=Severity.HIGH if status is Status.FAIL else Severity.INFO,
                        message=message, metrics=metrics, evidence=(plot,), **common)
    passed = []
    for r in report.masking:
        if not r.flagged:
            passed.append(r.name)
            continue
        yield check.finding(
            Status.FAIL, severity=Severity.HIGH, threat=Threat.TESTING_BYPASS,
            subject=f"{subject}/masking.{r.name}", title="Gradient masking: the evaluation may be fooled",
            message=f"{r.message}; the robust accuracy above may be a false assurance",
            metrics=dict(r.evidence), settings=common["settings"], locations=common["locations"],
            remediation="Re-evaluate with adaptive attacks (BPDA through non-differentiable layers, EOT "
            "for randomness, black-box attacks); remove the gradient-obfuscating component.",
            caveat=common["caveat"],
        )
    if passed:
        yield check.finding(
            Status.PASS, subject=f"{subject}/masking", threat=Threat.TESTING_BYPASS,
            title="Gradient masking: no signs found",
            message=f"gradient-masking checks passed: {', '.join(passed)}",
            settings=common["settings"], locations=common["locations"], caveat=common["caveat"],
        )



@dataclass(frozen=True)
class EvasionReport:
    """What the check and the CLI both render: the assessment and the masking results."""

    assessment: EvasionAssessment
    masking: tuple[MaskingResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "assessment": self.assessment.to_dict(),
            "masking": [{"name": r.name, "flagged": r.flagged, "message": r.message, "evidence": r.evidence}
                        for r in self.masking],
        }


def load_inputs(ctx: CheckContext, model: str, max_inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of the model's test set, reshaped to its input, labels as class indices."""
    from pipeshield.core.targets.base import reshape_input
    from pipeshield.errors import DatasetError

    spec = ctx.pipeline.models[model]
    assert spec.test_data is not None
    test = ctx.dataset(spec.test_data)
    assert test.y is not None
    order = np.random.default_rng(ctx.seed).permutation(len(test))[:max_inputs]
    x = reshape_input(test.x[order], spec.input_shape, model)
    classes = getattr(ctx.target(model), "classes", None)
    y = test.y[order]
    if classes is not None and len(classes):
        index = {c.item() if hasattr(c, "item") else c: i for i, c in enumerate(classes)}
        try:
            y = np.asarray([index[v.item() if hasattr(v, "item") else v] for v in y])
        except KeyError as err:
            raise DatasetError(f"datasets.{spec.test_data}: label {err} is not a class of models.{model}") from None
    return x, np.asarray(y).astype(np.int64)


def run_assessment(target: Any, x: Any, y: Any, s: EvasionSettings, seed: int = 0) -> EvasionReport:
    """Assess at the grid plus the policy eps, then run the masking checks on the same inputs."""
    from pipeshield.attacks.evasion.assess import assess_evasion
    from pipeshield.attacks.evasion.masking import run_masking_checks

    grid = sorted({*s.eps_grid, s.eps})
    a = assess_evasion(target, x, y, norm=s.norm, eps_grid=grid, clip=s.clip, budget=s.budget, seed=seed)
    masking = run_masking_checks(target, x, y, a, eps=s.eps, clip=s.clip, seed=seed)
    return EvasionReport(a, tuple(masking))
