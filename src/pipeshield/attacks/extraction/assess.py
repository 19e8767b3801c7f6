"""One model's extraction assessment: every method at one query budget, re-run behind each output
control, and the transferability of adversarials crafted on the best stolen copy.

This is what the ``attacks.extraction`` audit check and ``pipeshield attack extraction`` both run;
it knows nothing of pipelines (the check turns a pipeline model into the arguments here).

    >>> a = assess_extraction(target, pool=x_public, x_eval=x_test, y_eval=y_test,
    ...                       budget=2000, methods=["knockoff"])  # doctest: +SKIP
    >>> a.fidelity, a.best_method, a.control_fidelity("label-only")  # doctest: +SKIP
    (0.96, 'knockoff', 0.95)

Every method is a separate attacker with the whole budget; the headline fidelity is the best of
them (the attacker picks the method that works). Controls are measured at the budget only (one
substitute per method and control), with the same seed, so a difference is the control's doing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.attacks.extraction.api import METHODS, extract, label_inputs
from pipeshield.attacks.extraction.budgets import BUDGETS
from pipeshield.attacks.extraction.results import ExtractionResult, Transferability
from pipeshield.gateway.output_policy import STANDARD_POLICIES, HardenedTarget, OutputPolicy

__all__ = ["BUDGETS", "ControlResult", "ExtractionAssessment", "assess_extraction", "default_methods"]


@dataclass(frozen=True)
class ControlResult:
    """Fidelity per method at the budget when the victim answers through ``policy``."""

    policy: OutputPolicy
    fidelity: dict[str, float]
    queries: dict[str, int]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def best(self) -> float:
        return max(self.fidelity.values(), default=float("nan"))

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.to_dict(), "description": self.policy.describe(),
                "fidelity": self.fidelity, "queries": self.queries, "best": _num(self.best),
                "skipped": self.skipped}


@dataclass(frozen=True)
class ExtractionAssessment:
    """Results per method (full output, or labels only when ``labels_only``), per control, the
    transferability of the best copy and the chance level (``baseline_fidelity``: agreement of a
    copy that always answers the victim's most common label on the evaluation inputs).

    ``evaluation_queries``: victim calls spent labelling the evaluation inputs, once for every
    method and control (no policy changes a label); they are the auditor's, not the attacker's,
    and come on top of each method's ``queries`` and the transferability's."""

    budget: int
    labels_only: bool
    results: dict[str, ExtractionResult]
    skipped: dict[str, str]
    controls: tuple[ControlResult, ...]
    transfer: Transferability | None
    transfer_note: str
    baseline_fidelity: float
    victim_accuracy: float | None
    n_eval: int
    pool_size: int
    seconds: float
    evaluation_queries: int = 0

    @property
    def best_method(self) -> str | None:
        if not self.results:
            return None
        return max(self.results, key=lambda m: self.results[m].final_fidelity)

    @property
    def fidelity(self) -> float:
        best = self.best_method
        return float("nan") if best is None else self.results[best].final_fidelity

    def control_fidelity(self, name: str) -> float:
        return next((c.best for c in self.controls if c.policy.name == name), float("nan"))

    def curve(self) -> tuple[list[int], dict[str, list[float | None]]]:
        """Fidelity vs queries: the union of every method's checkpoints, gaps as None."""
        xs = sorted({q for r in self.results.values() for q in r.fidelity})
        return xs, {m: [_num(r.fidelity[q]) if q in r.fidelity else None for q in xs]
                    for m, r in self.results.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "labels_only": self.labels_only,
            "fidelity": _num(self.fidelity),
            "best_method": self.best_method,
            "baseline_fidelity": _num(self.baseline_fidelity),
            "victim_accuracy": None if self.victim_accuracy is None else _num(self.victim_accuracy),
            "n_eval": self.n_eval,
            "evaluation_queries": self.evaluation_queries,
            "pool_size": self.pool_size,
            "methods": {m: r.to_dict() for m, r in self.results.items()},
            "skipped": self.skipped,
            "controls": [c.to_dict() for c in self.controls],
            "transferability": None if self.transfer is None else self.transfer.to_dict(),
            "transfer_note": self.transfer_note,
            "seconds": round(self.seconds, 3),
        }


def default_methods(budget: int, linear: bool | None) -> list[str]:
    """Equation solving when the victim is (or may be: ``None``) a logistic model, knockoff
    always, Jacobian augmentation from the standard budget (2,000 queries) up."""
    methods = [] if linear is False else ["equation_solving"]
    methods.append("knockoff")
    if budget >= BUDGETS["standard"]:
        methods.append("jacobian")
    return methods


def _num(v: float) -> float | None:
    return round(float(v), 6) if np.isfinite(v) else None


def assess_extraction(
    victim: Any,
    *,
    pool: NDArray[np.float64] | None,
    x_eval: NDArray[np.float64],
    y_eval: NDArray[Any] | None,
    budget: int,
    methods: Sequence[str],
    bounds: tuple[NDArray[np.float64], NDArray[np.float64]],
    controls: Sequence[OutputPolicy] = STANDARD_POLICIES,
    labels_only: bool = False,
    transfer_eps: float | None = 0.1,
    feature_range_units: bool = False,
    transfer_inputs: int = 200,
    seed: int = 0,
) -> ExtractionAssessment:
    """Run ``methods`` against ``victim`` (a Target or anything :func:`extract` takes) and, for
    each of ``controls``, against the victim behind that output policy. ``pool``: the attacker's
    unlabelled inputs; ``x_eval``/``y_eval``: held-out inputs the fidelity is measured on;
    ``bounds``: the input domain. ``transfer_eps`` (None: skip) is in input units, or a fraction
    of each feature's range with ``feature_range_units``."""
    start = time.perf_counter()
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown extraction methods {unknown}; choose from {sorted(METHODS)}")
    d = x_eval.shape[1]
    # The victim's labels on the evaluation inputs, asked once: every method and control is
    # measured against them (an output policy never changes the label).
    classes, victim_labels = label_inputs(victim, x_eval, n_features=d)
    common: dict[str, Any] = {"n_features": d, "pool": pool, "x_test": x_eval, "bounds": bounds, "seed": seed,
                              "classes": classes, "victim_labels": victim_labels}
    results: dict[str, ExtractionResult] = {}
    skipped: dict[str, str] = {}
    for m in methods:
        reason = _cannot(m, d, budget, labels_only)
        if reason:
            skipped[m] = reason
            continue
        results[m] = extract(victim, method=m, budget=budget, labels_only=labels_only, y_test=y_eval, **common)
    measured = []
    for policy in controls:
        fid: dict[str, float] = {}
        spent: dict[str, int] = {}
        why: dict[str, str] = {}
        hardened = HardenedTarget(victim, policy)
        for m in results:
            reason = _cannot(m, d, budget, labels_only or policy.label_only)
            if reason:
                why[m] = reason
                continue
            r = extract(hardened, method=m, budget=budget, labels_only=labels_only or policy.label_only,
                        checkpoints=[budget], **common)
            fid[m], spent[m] = r.final_fidelity, r.queries
        measured.append(ControlResult(policy, fid, spent, why))
    victim_accuracy = None if y_eval is None else float(np.mean(victim_labels == np.asarray(y_eval).reshape(-1)))
    counts = np.unique(victim_labels, return_counts=True)[1] if len(victim_labels) else np.array([0])
    baseline = float(counts.max() / max(len(victim_labels), 1))
    transfer, note = None, "not measured (transfer_eps unset)"
    best = max(results, key=lambda m: results[m].final_fidelity) if results else None
    if transfer_eps is not None and best is not None and y_eval is not None:
        transfer, note = _transfer(results[best], victim, x_eval[:transfer_inputs], y_eval[:transfer_inputs],
                                   victim_labels[:transfer_inputs], transfer_eps, bounds, feature_range_units, seed)
    elif y_eval is None:
        note = "not measured: the evaluation inputs have no labels"
    return ExtractionAssessment(
        budget=budget, labels_only=labels_only, results=results, skipped=skipped, controls=tuple(measured),
        transfer=transfer, transfer_note=note, baseline_fidelity=baseline, victim_accuracy=victim_accuracy,
        n_eval=len(x_eval), pool_size=0 if pool is None else len(pool), seconds=time.perf_counter() - start,
        evaluation_queries=len(x_eval),
    )


def _cannot(method: str, d: int, budget: int, labels_only: bool) -> str | None:
    spec = METHODS[method]
    if labels_only and spec.needs_probabilities:
        return "needs the victim's probabilities (the output is labels only)"
    if budget < spec.min_queries(d):
        return f"needs at least {spec.min_queries(d)} queries; the budget is {budget}"
    return None


class _ScaledSubstitute:
    """A substitute seen in feature-range units: ``x_raw = lo + x * scale``."""

    def __init__(self, inner: Any, lo: NDArray[np.float64], scale: NDArray[np.float64]) -> None:
        self.inner, self.lo, self.scale = inner, lo, scale
        self.classes = inner.classes

    def predict_proba(self, x: Any) -> NDArray[np.float64]:
        out: NDArray[np.float64] = self.inner.predict_proba(self.lo + np.asarray(x) * self.scale)
        return out

    def predict(self, x: Any) -> NDArray[Any]:
        out: NDArray[Any] = self.inner.predict(self.lo + np.asarray(x) * self.scale)
        return out

    def to_module(self) -> Any:
        import torch

        lo = torch.as_tensor(self.lo, dtype=torch.float32)
        scale = torch.as_tensor(self.scale, dtype=torch.float32)
        inner = self.inner.to_module()

        class Unscale(torch.nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return lo + x * scale

        return torch.nn.Sequential(Unscale(), inner)


def _transfer(
    result: ExtractionResult, victim: Any, x: NDArray[np.float64], y: NDArray[Any], labels: NDArray[Any], eps: float,
    bounds: tuple[NDArray[np.float64], NDArray[np.float64]], feature_range: bool, seed: int,
) -> tuple[Transferability | None, str]:
    from pipeshield.attacks.extraction.transfer import transferability

    lo, hi = bounds
    if feature_range:
        scale = np.where(hi > lo, hi - lo, 1.0)
        ask = victim.predict_proba if hasattr(victim, "predict_proba") else victim

        def scaled_victim(z: NDArray[np.float64]) -> Any:
            return ask(lo + z * scale)

        victim_fn: Callable[[NDArray[np.float64]], Any] | Any = scaled_victim
        result = dataclasses.replace(result, substitute=_ScaledSubstitute(result.substitute, lo, scale),
                                     domain=(np.zeros_like(lo), np.ones_like(hi)))
        x = (x - lo) / scale
        clip: tuple[Any, Any] = (np.zeros_like(lo), np.ones_like(hi))
        units = f"{eps:.0%} of each feature's range"
    else:
        victim_fn, clip, units = victim, (lo, hi), f"{eps:g} per input value"
    try:
        t = transferability(result, victim_fn, x, y, eps, clip=clip, seed=seed, victim_labels=labels)
    except ValueError as err:
        return None, f"not measured: {err}"
    return t, f"PGD (linf, {units}) on the {result.method} copy, replayed on the model"
