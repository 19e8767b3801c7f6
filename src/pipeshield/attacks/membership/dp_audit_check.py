"""Audit check ``attacks.dp-audit``: test each model's differential-privacy claim with canaries.

A model whose pipeline entry claims a guarantee::

    [models.tabular_forest.privacy]
    epsilon = 3.0
    delta = 1e-5
    accountant = "rdp"

and names its ``training`` callable and ``train_data`` is retrained by that recipe with canaries
planted in its training data (:func:`pipeshield.attacks.membership.dp_audit.audit_dp`, one-run
audit of Steinke, Nasr & Jagielski 2023 by default). The finding fails (high) when the measured
epsilon lower bound exceeds the claim: at the policy's confidence the recipe, as run, is not
(epsilon, delta)-DP. Otherwise it passes with the measured bound -- which does *not* prove the
claim, only that this audit could not refute it. Models without a claim, a training callable or
labelled training data are skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline

__all__ = ["DPAuditCheck", "DPAuditSettings"]


class DPAuditSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["one_run", "multi_run"] = Field(
        "one_run", description="one training with many canaries, or many trainings with one canary"
    )
    n_canaries: int = Field(200, ge=2, description="canaries planted (one_run)")
    canary: Literal["random", "mislabeled"] = Field(
        "random", description="random points in the features' range, or held-out rows with a wrong label"
    )
    runs: int = Field(32, ge=4, description="training runs (multi_run)")
    confidence: float = Field(0.95, gt=0, lt=1, description="confidence of the lower bound")


class DPAuditCheck(Check):
    id = "attacks.dp-audit"
    title = "Differential-privacy claim audited with canaries"
    stage = Stage.TRAINING
    threat = Threat.MEMBERSHIP_INFERENCE
    cost = "heavy"
    description = (
        "Retrains each model that claims (epsilon, delta)-DP with canaries planted in its data and "
        "measures an empirical epsilon lower bound (one-run audit, or multi-run Clopper-Pearson); "
        "fails when the bound contradicts the claim."
    )
    remediation = (
        "Fix the training or its accounting: clip per-example gradients and add noise on every step "
        "(e.g. Opacus make_private), make the accountant's sampling rate, noise multiplier and step "
        "count match the run (Poisson sampling, the real dataset size), keep delta below 1/n; then re-audit."
    )
    Settings = DPAuditSettings

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        assert subject is not None
        spec = pipeline.models[subject]
        if spec.privacy is None:
            return f"models.{subject} claims no differential privacy (no [models.{subject}.privacy]): nothing to audit"
        claim = f"models.{subject}.privacy claims epsilon={spec.privacy.epsilon:g}"
        if spec.training is None:
            return f"{claim}, but models.{subject} has no training callable: the audit must retrain with canaries"
        if spec.train_data is None:
            return f"{claim}, but models.{subject} has no train_data to plant canaries in"
        if pipeline.datasets[spec.train_data].label is None:
            return f"{claim}, but datasets.{spec.train_data} has no label column"
        return None

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        from pipeshield.attacks.membership.dp_audit import audit_dp
        from pipeshield.core.executor import nested_executor
        from pipeshield.core.pipeline import resolve_callable
        from pipeshield.core.targets.base import reshape_input
        from pipeshield.errors import DatasetError

        assert subject is not None
        s: DPAuditSettings = ctx.settings
        spec = ctx.pipeline.models[subject]
        assert spec.privacy is not None and spec.training is not None and spec.train_data is not None
        claim = spec.privacy
        train_fn = resolve_callable(spec.training, ctx.pipeline, f"models.{subject}.training")
        data = ctx.dataset(spec.train_data)
        assert data.y is not None
        # The recipe gets rows shaped as in every other check that calls it (membership's
        # reference models): the model's input_shape when it has one.
        x = reshape_input(data.x, spec.input_shape, subject)
        try:
            result = audit_dp(
                train_fn, x, data.y, claimed_epsilon=claim.epsilon, delta=claim.delta,
                n_canaries=s.n_canaries, method=s.method, runs=s.runs, confidence=s.confidence,
                seed=ctx.seed, canary=s.canary, executor=nested_executor(),
            )
        except ValueError as err:
            raise DatasetError(f"models.{subject}: DP audit on datasets.{spec.train_data}: {err}") from None
        accountant = f", accountant {claim.accountant}" if claim.accountant else ""
        claimed = f"epsilon={claim.epsilon:g} (delta={claim.delta:g}{accountant})"
        measured = (
            f"measured epsilon >= {result.epsilon_lower_bound:.3f} at {s.confidence:.0%} confidence "
            f"({result.correct} of {result.guesses} membership guesses right, "
            + (f"{result.n_canaries} {s.canary} canaries, one training run)" if result.method == "one_run"
               else f"one {s.canary} canary, {result.runs} training runs)")
        )
        if result.contradicted:
            status, severity = Status.FAIL, Severity.HIGH
            message = f"the training recipe's claim {claimed} is contradicted: {measured}"
        else:
            status, severity = Status.PASS, Severity.INFO
            message = (
                f"no contradiction of the claim {claimed}: {measured}; a lower bound below the claim is "
                "not proof that the claim holds"
            )
        metrics: dict[str, float | int | str | bool | None] = {
            "epsilon_lower_bound": round(result.epsilon_lower_bound, 6),
            "claimed_epsilon": claim.epsilon,
            "delta": claim.delta,
            "contradicted": result.contradicted,
            "method": result.method,
            "guesses": result.guesses,
            "correct": result.correct,
            "n_canaries": result.n_canaries,
            "runs": result.runs,
            "confidence": s.confidence,
        }
        if result.rules:
            evidence = Evidence("table", "One-run audit: guessing rules (Bonferroni-corrected)", data={
                "columns": ["guessed IN (top k+)", "guessed OUT (bottom k-)", "correct", "epsilon lower bound"],
                "rows": [[g.k_plus, g.k_minus, g.correct, round(g.epsilon, 4)] for g in result.rules],
            })
        else:
            assert result.rates is not None
            r = result.rates
            evidence = Evidence("table", "Multi-run audit: threshold chosen on held-out runs (Clopper-Pearson)", data={
                "columns": ["runs choosing the threshold", "runs IN", "runs OUT", "TPR", "TPR interval", "FPR", "FPR interval"],
                "rows": [[r.selection_runs, r.runs_in, r.runs_out, round(r.tpr, 4), "{:.3f} to {:.3f}".format(*r.tpr_interval),
                          round(r.fpr, 4), "{:.3f} to {:.3f}".format(*r.fpr_interval)]],
            })
        yield self.finding(
            status, severity=severity, subject=subject, message=message, metrics=metrics,
            evidence=(evidence,),
            settings={**s.model_dump(mode="json"), "claim": claim.model_dump(mode="json"), "seed": ctx.seed},
            locations=(ctx.pipeline.display(spec.path),),
            caveat="; ".join(result.notes) + ".",
        )
