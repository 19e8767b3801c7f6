"""Audit check ``attacks.evasion``: robustness of each model to adversarial examples.

Torch models are attacked white-box (FGSM, PGD, APGD; with the standard budget also APGD-DLR and
targeted APGD); every other model (scikit-learn, ONNX) black-box through its Target: the Square
attack on its scores, HopSkipJump on its labels only, and PGD transferred from a surrogate that
pipeshield distils from the model on its training inputs. One finding per model says whether an
attacker who may change each input value by the policy epsilon flips too many correct predictions
(fail, high, when the worst case over the attacks is under ``min_robust_accuracy``), with the
robust-accuracy curve and verified adversarial samples as evidence. For white-box models the
gradient-masking checks run on the same inputs: each that flags becomes a ``testing_bypass``
finding of its own, because a robust-looking number from a masked gradient is a false assurance.

Inputs stay inside the data domain the test dataset declares (``[datasets.NAME.domain]``: clip
range, per-feature bounds, integer and categorical features); without a declaration, inside the
range of values its rows show (or the policy's ``clip``). Epsilon is in input units when every
feature shares one range (pixels); for tabular data, whose features live on different scales, it
is a fraction of each feature's range (``eps_units``).
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
from pipeshield.core.targets.base import WHITE_BOX_FORMATS

if TYPE_CHECKING:
    from pipeshield.attacks.evasion.assess import EvasionAssessment
    from pipeshield.attacks.evasion.domain import Domain
    from pipeshield.attacks.evasion.masking import MaskingResult

__all__ = [
    "EvasionCheck",
    "EvasionReport",
    "EvasionSettings",
    "attack_domain",
    "load_domain",
    "load_inputs",
    "run_assessment",
]

_NOT_MEASURED_WHITE = (
    "Not measured: black-box decision-only and transfer attacks against this model, other norms, "
    "and physical-world perturbations."
)
_NOT_MEASURED_BLACK = (
    "Not measured: white-box gradient attacks (the model is not differentiable here), so the "
    "gradient-masking checks do not apply; other norms; physical-world perturbations."
)


class EvasionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    norm: Literal["linf", "l2"] = Field("linf", description="threat model")
    eps: float = Field(0.1, ge=0, description="policy epsilon: the perturbation an attacker may make, in input units")
    eps_grid: list[float] = Field([0.0, 0.05, 0.1, 0.2, 0.3], description="epsilons of the curve")
    min_robust_accuracy: float = Field(0.5, ge=0, le=1, description="fail below this at eps")
    budget: Literal["quick", "standard", "thorough"] = Field("quick", description="attack iterations and queries")
    max_inputs: int = Field(500, ge=1, description="test inputs attacked white-box (a seeded sample)")
    max_inputs_black_box: int = Field(100, ge=1, description="test inputs attacked black-box (each costs queries)")
    clip: tuple[float, float] | None = Field(None, description="valid input range; overrides the dataset's domain clip")
    eps_units: Literal["auto", "absolute", "feature-range"] = Field(
        "auto", description="eps in input units, or as a fraction of each feature's range (auto: "
        "absolute when every feature shares one range, as pixels do, else feature-range)"
    )
    transfer: bool = Field(True, description="black-box: also transfer PGD from a surrogate distilled on train_data")
    surrogate_inputs: int = Field(2000, ge=10, description="train_data rows queried to distil the surrogate")
    samples: int = Field(3, ge=0, le=12, description="adversarial examples shown in the report")


class EvasionCheck(Check):
    id = "attacks.evasion"
    title = "Robustness to adversarial examples (evasion)"
    expected_seconds = 10.0
    stage = Stage.VALIDATION
    threat = Threat.EVASION
    cost = "heavy"
    description = (
        "White-box FGSM, PGD and APGD on torch models, black-box Square, HopSkipJump and transfer "
        "attacks on the others, at several epsilons; the per-input worst case, and gradient-masking checks."
    )
    remediation = (
        "Adversarial training (PGD/TRADES) at the policy epsilon; input sanitization or "
        "preprocessing only together with an adaptive re-evaluation; for served models, label-only "
        "outputs and query budgets slow black-box attackers; monitor inputs near the boundary."
    )
    Settings = EvasionSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        spec = pipeline.models[subject]
        if spec.test_data is None:
            return f"models.{subject} has no test_data"
        if pipeline.datasets[spec.test_data].label is None:
            return f"datasets.{spec.test_data} has no label column"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        assert subject is not None
        s: EvasionSettings = ctx.settings
        report = assess_model(ctx, subject, s)
        yield from findings_for(self, subject, report, s, ctx.pipeline.display(ctx.pipeline.models[subject].path))


def _caveat(report: EvasionReport) -> str:
    a = report.assessment
    attacks = ", ".join(a.settings.get("attacks", []))
    budget = a.settings.get("budget", "?")
    ran = f"{report.access} attacks run ({a.norm}, {budget} budget): {attacks}; domain: {report.domain}."
    missing = _NOT_MEASURED_WHITE if report.access == "white-box" else _NOT_MEASURED_BLACK
    return f"{ran} {missing} A high robust accuracy is an upper bound, not proof of robustness."


def _threat_model(eps: float, norm: str, units: str) -> str:
    if units == "feature-range":
        if norm == "linf":
            return f"may change each feature by up to {eps:.0%} of its range"
        return f"may perturb each input by an L2 distance of {eps:g} (features scaled to their range)"
    if norm == "linf":
        return f"may change each input value by up to {eps:g}"
    return f"may perturb each input by an L2 distance of up to {eps:g}"


def findings_for(check: Check, subject: str, report: EvasionReport, s: EvasionSettings, location: str) -> Iterator[Finding]:
    """The main finding and the masking findings for one model's :class:`EvasionReport`."""
    a = report.assessment
    j = a.eps_grid.index(min(a.eps_grid, key=lambda e: abs(e - s.eps)))
    robust, asr = a.ensemble_at(s.eps), a.success_rate_at(s.eps)
    size = a.median_perturbation[j]
    metrics: dict[str, float | int | str | bool | None] = {
        "clean_accuracy": round(a.clean_accuracy, 6),
        "robust_accuracy": round(robust, 6),
        "attack_success_rate": None if np.isnan(asr) else round(asr, 6),
        "median_perturbation": None if np.isnan(size) else round(size, 6),
        "eps": s.eps,
        "n_inputs": a.n_inputs,
        "access": report.access,
        "eps_units": str(a.settings.get("domain", {}).get("units", "absolute")),
    }
    for name, values in a.robust_accuracy.items():
        metrics[f"robust_accuracy_{name}"] = round(values[j], 6)
    for name, q in a.settings.get("queries", {}).items():
        metrics[f"queries_{name}_median"] = q["median_per_input"]
    plot = Evidence("plot", f"Robust accuracy vs eps ({a.norm}) per attack", data={
        "type": "line", "x": list(a.eps_grid),
        "series": [{"name": k, "values": [round(v, 4) for v in vs]} for k, vs in a.robust_accuracy.items()]
        + [{"name": "ensemble (worst case)", "values": [round(v, 4) for v in a.ensemble]}],
        "x_label": f"eps ({a.norm})", "y_label": "robust accuracy",
    })
    evidence = (plot,) if report.samples is None else (plot, report.samples)
    common = {"subject": subject, "settings": {**s.model_dump(mode="json"), **a.settings},
              "locations": (location,), "caveat": _caveat(report)}
    rate = "no" if np.isnan(asr) else f"{asr:.0%} of"
    units = str(a.settings.get("domain", {}).get("units", "absolute"))
    queries = a.settings.get("queries", {})
    spent = (
        "; median queries per input: " + ", ".join(f"{k} {v['median_per_input']:g}" for k, v in queries.items())
        if queries else ""
    )
    message = (
        f"a {report.access} attacker who {_threat_model(s.eps, a.norm, units)} flips {rate} correct "
        f"predictions: robust accuracy {robust:.1%} (clean {a.clean_accuracy:.1%}, policy minimum "
        f"{s.min_robust_accuracy:.0%})"
        + ("" if np.isnan(size) else f"; median successful perturbation {size:.3g}")
        + spent
    )
    status = Status.FAIL if robust < s.min_robust_accuracy else Status.PASS
    yield check.finding(status, severity=Severity.HIGH if status is Status.FAIL else Severity.INFO,
                        message=message, metrics=metrics, evidence=evidence, **common)
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
    """What the check and the CLI both render: the assessment, the masking results (white-box
    only), the access level, the domain the attacks kept to, and sample adversarial inputs."""

    assessment: EvasionAssessment
    masking: tuple[MaskingResult, ...]
    access: str = "white-box"
    domain: str = "unbounded inputs"
    samples: Evidence | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "access": self.access,
            "domain": self.domain,
            "assessment": self.assessment.to_dict(),
            "masking": [{"name": r.name, "flagged": r.flagged, "message": r.message, "evidence": r.evidence}
                        for r in self.masking],
        }


def load_domain(ctx: CheckContext, model: str, clip: tuple[float, float] | None) -> Domain:
    """The test dataset's declared domain; ``clip`` (the policy's) overrides its clip range;
    with neither, every feature keeps to the range its test and training rows show."""
    from pipeshield.attacks.evasion.domain import Domain

    spec = ctx.pipeline.models[model]
    assert spec.test_data is not None
    test = ctx.dataset(spec.test_data)
    declared = ctx.pipeline.datasets[spec.test_data].domain
    where = f"datasets.{spec.test_data}.domain"
    if declared is not None and clip is not None:
        declared = declared.model_copy(update={"clip": clip})
    if declared is None and clip is None:
        rows = [test.x.reshape(len(test), -1)]
        if spec.train_data is not None:
            rows.append(ctx.dataset(spec.train_data).x.reshape(len(ctx.dataset(spec.train_data)), -1))
        seen = np.concatenate(rows)
        dom = Domain.box(seen.shape[1], None)
        return Domain(seen.min(axis=0).astype(np.float64), seen.max(axis=0).astype(np.float64),
                      dom.integer, dom.frozen, test.feature_names)
    return Domain.from_spec(declared, test.feature_names, where, default_clip=clip)


def load_inputs(ctx: CheckContext, model: str, max_inputs: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of the model's test set, reshaped to its input, labels as class indices."""
    from pipeshield.core.labels import UnknownLabelError, class_columns
    from pipeshield.core.targets.base import reshape_input
    from pipeshield.errors import DatasetError

    spec = ctx.pipeline.models[model]
    assert spec.test_data is not None
    test = ctx.dataset(spec.test_data)
    assert test.y is not None
    order = np.random.default_rng(ctx.seed).permutation(len(test))[:max_inputs]
    x = reshape_input(test.x[order], spec.input_shape, model)
    try:
        y = class_columns(getattr(ctx.target(model), "classes", None), test.y[order])
    except UnknownLabelError as err:
        raise DatasetError(f"datasets.{spec.test_data}: label {err.label!r} is not a class of models.{model}") from None
    except ValueError as err:
        raise DatasetError(f"datasets.{spec.test_data}: {err} (models.{model})") from None
    return x, y


def attack_domain(ctx: CheckContext, model: str, s: EvasionSettings, x: np.ndarray | None = None) -> Domain:
    """The domain the attacks keep to, in the units epsilon is measured in (normalized to each
    feature's range for tabular data); ``x``, if given, is checked against the declaration.
    Adversarial training uses it too, so a model is trained for the threat model it is tested on."""
    from pipeshield.errors import ConfigError

    spec = ctx.pipeline.models[model]
    where = f"datasets.{spec.test_data}"
    raw_domain = load_domain(ctx, model, s.clip)
    if x is not None:
        raw_domain.check(x, where)
    units = s.eps_units
    if units == "auto":
        bounded = bool(np.all(np.isfinite(raw_domain.lo) & np.isfinite(raw_domain.hi)))
        units = "absolute" if raw_domain.scalar_clip() is not None or not bounded else "feature-range"
    if units != "feature-range":
        return raw_domain
    try:
        return raw_domain.normalized(f"{where}.domain")
    except ValueError as err:
        raise ConfigError(str(err), hint="declare bounds for every feature, or set eps_units = 'absolute'") from None


def assess_model(ctx: CheckContext, model: str, s: EvasionSettings) -> EvasionReport:
    """The whole assessment of one pipeline model: white-box for torch, black-box otherwise."""
    spec = ctx.pipeline.models[model]
    assert spec.test_data is not None
    white = spec.format in WHITE_BOX_FORMATS
    x, y = load_inputs(ctx, model, s.max_inputs if white else s.max_inputs_black_box)
    from pipeshield.attacks.evasion.domain import scaled_module, scaled_target

    domain = attack_domain(ctx, model, s, x)
    raw_target = ctx.target(model)
    xu = domain.to_units(x)
    if white:
        from pipeshield.attacks.evasion._engine import as_module

        target: Any = scaled_module(as_module(raw_target), domain)
        report = run_assessment(target, xu, y, s, seed=ctx.seed, domain=domain)
    else:
        target = scaled_target(raw_target, domain)
        surrogate = None
        if s.transfer and spec.train_data is not None:
            from pipeshield.attacks.evasion.transfer import train_surrogate

            pool = ctx.dataset(spec.train_data).x
            pick = np.random.default_rng(ctx.seed).permutation(len(pool))[: s.surrogate_inputs]
            trained = train_surrogate(raw_target, pool[pick].reshape(len(pick), -1),
                                      input_shape=spec.input_shape, seed=ctx.seed)
            surrogate = scaled_module(trained, domain)
            setattr(surrogate, "queries", trained.queries)  # noqa: B010 - counted in the report
        report = run_black_box(target, xu, y, s, seed=ctx.seed, domain=domain, surrogate=surrogate,
                               input_shape=spec.input_shape)
    if s.samples:
        classes = getattr(raw_target, "classes", None)
        samples = adversarial_samples(target, xu, y, report, s, domain, white=white, classes=classes,
                                      input_shape=spec.input_shape, seed=ctx.seed)
        report = EvasionReport(report.assessment, report.masking, report.access, report.domain, samples)
    return report


def run_assessment(
    target: Any, x: Any, y: Any, s: EvasionSettings, seed: int = 0, domain: Domain | None = None
) -> EvasionReport:
    """White-box: assess at the grid plus the policy eps, then run the masking checks on the same
    inputs. Without ``domain`` the inputs keep to the policy's ``clip`` (if any)."""
    from pipeshield.attacks.evasion.assess import assess_evasion
    from pipeshield.attacks.evasion.domain import Domain
    from pipeshield.attacks.evasion.masking import run_masking_checks

    if domain is None:
        domain = Domain.box(int(np.prod(np.shape(x)[1:])), s.clip)
    grid = sorted({*s.eps_grid, s.eps})
    a = assess_evasion(target, x, y, norm=s.norm, eps_grid=grid, domain=domain, budget=s.budget, seed=seed)
    masking = run_masking_checks(target, x, y, a, eps=s.eps, clip=domain.scalar_clip(), seed=seed)
    return EvasionReport(a, tuple(masking), "white-box", domain.describe())


def run_black_box(
    target: Any, x: Any, y: Any, s: EvasionSettings, *, seed: int = 0, domain: Domain | None = None,
    surrogate: Any = None, input_shape: Any = None,
) -> EvasionReport:
    """Black-box: Square (scores), HopSkipJump (labels) and, with a surrogate, transferred PGD."""
    from pipeshield.attacks.evasion.assess_black_box import assess_black_box
    from pipeshield.attacks.evasion.masking import check_monotonic

    grid = sorted({*s.eps_grid, s.eps})
    a = assess_black_box(target, x, y, norm=s.norm, eps_grid=grid, domain=domain, budget=s.budget,
                         seed=seed, surrogate=surrogate, input_shape=input_shape)
    described = domain.describe() if domain is not None else "unbounded inputs"
    return EvasionReport(a, (check_monotonic(a),), "black-box", described)


def adversarial_samples(
    target: Any, x: np.ndarray, y: np.ndarray, report: EvasionReport, s: EvasionSettings,
    domain: Domain, *, white: bool, classes: Any, input_shape: Any, seed: int,
) -> Evidence | None:
    """Up to ``s.samples`` adversarial inputs at the policy eps, re-made on inputs the assessment
    flipped (PGD white-box, Square black-box), made legal for the domain and re-checked."""
    from pipeshield.attacks.evasion.samples import sample_evidence

    a = report.assessment
    j = a.eps_grid.index(min(a.eps_grid, key=lambda e: abs(e - s.eps)))
    pick = np.flatnonzero(a.flipped[j])[: 4 * s.samples]
    if not len(pick) or s.eps == 0:
        return None
    xs, ys = np.asarray(x[pick], dtype=np.float32), np.asarray(y[pick])
    lo, hi = domain.clip_for(xs)
    if white:
        import torch

        from pipeshield.attacks.evasion._engine import as_module
        from pipeshield.attacks.evasion.auto_pgd import apgd

        module = as_module(target)
        res = apgd(module, xs, ys, eps=s.eps, norm=s.norm, steps=50, clip=(torch.as_tensor(lo), torch.as_tensor(hi)),
                   seed=seed)
        x_adv = res.x_adv.cpu().numpy()
    else:
        from pipeshield.attacks.evasion.square_attack import square

        values = np.asarray(classes)[ys] if classes is not None and len(classes) else ys
        x_adv = square(target, xs, values, eps=s.eps, norm=s.norm, max_queries=1000, clip=(lo, hi),
                       input_shape=input_shape, seed=seed).x_adv
    x_adv = domain.finalize(xs, np.asarray(x_adv, dtype=np.float64).reshape(xs.shape), s.norm, s.eps)
    if white:
        import torch

        from pipeshield.attacks.evasion._engine import as_module, device_of

        module = as_module(target)
        with torch.no_grad():
            logits = module(torch.as_tensor(x_adv, dtype=torch.float32, device=device_of(module)))
        pred = logits.argmax(dim=1).cpu().numpy()
    else:
        pred = np.asarray(target.predict_proba(x_adv.reshape(len(x_adv), -1))).argmax(axis=1)
    raw_clip = domain.scalar_clip() if domain.scale is None else None
    return sample_evidence(domain.to_raw(xs), domain.to_raw(x_adv), ys, pred, eps=s.eps, norm=s.norm,
                           input_shape=input_shape, classes=classes, feature_names=domain.names,
                           clip=raw_clip, k=s.samples)
