"""Audit checks ``training.tradeoff`` and ``training.federated``: what each hardened-training recipe
buys and costs, for the models the policy names.

``training.tradeoff`` retrains the model from its builder four ways -- plain, DP-SGD at two
epsilons, PGD adversarial training -- and measures each with pipeshield's attacks
(:mod:`pipeshield.training.tradeoff`). ``training.federated`` (Flower) runs every aggregation rule
honest and with 20% malicious clients sending scaled updates, then a backdoor. Both are
measurements, not verdicts: informational findings with tables and plots. Each costs a minute or
more per model, so they run only for models listed in their ``models`` setting; as two checks, an
audit's workers run them side by side.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.checks import Check, CheckContext
from pipeshield.core.findings import Evidence, Finding, Severity, Stage, Status, Threat
from pipeshield.core.pipeline import Pipeline

if TYPE_CHECKING:
    from pipeshield.training._common import ModelData
    from pipeshield.training.tradeoff import RecipeOutcome

__all__ = ["FederatedCheck", "FederatedSettings", "TradeoffCheck", "TradeoffSettings"]


class TradeoffSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] = Field([], description="models to measure (each costs a minute or more: opt-in)")
    dp_epsilons: list[float] = Field([8.0, 3.0], min_length=1, max_length=4, description="DP-SGD targets")
    delta: float = Field(1e-5, gt=0, lt=1, description="DP delta")
    epochs: int = Field(20, ge=1, le=500, description="epochs of every recipe")
    max_inputs: int = Field(300, ge=10, description="test inputs attacked for robust accuracy")


class FederatedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] = Field([], description="models to measure (each costs a minute or more: opt-in)")
    clients: int = Field(11, ge=5, le=100, description="federated clients (Bulyan needs 4f+3: 11 for f=2)")
    rounds: int = Field(8, ge=1, le=200, description="federated rounds")
    local_epochs: int = Field(2, ge=1, le=50, description="each federated client's local epochs per round")
    local_lr: float = Field(0.1, gt=0, le=10, description="the clients' SGD learning rate")
    attacks: list[Literal["scaled", "backdoor", "label-flip"]] = Field(
        ["scaled", "backdoor"], min_length=1, description="federated attacks compared (each costs 12 runs; scaled beside another: 6)")
    malicious: float = Field(0.2, gt=0, lt=0.5, description="fraction of malicious federated clients")


class _OptIn(Check):
    """Shared by the two checks: opt-in per model, and the model must be retrainable from its builder."""

    def subjects(self, pipeline: Pipeline) -> list[str | None]:
        return list(pipeline.models)

    def skip_reason(self, pipeline: Pipeline, subject: str | None) -> str | None:
        from pipeshield.core.checks import check_settings

        assert subject is not None
        s = check_settings(self, pipeline)
        assert isinstance(s, TradeoffSettings | FederatedSettings)
        spec = pipeline.models[subject]
        if subject not in s.models:
            return f"not requested: list it in [policy.checks.\"{self.id}\"] models ({self.retrains})"
        if spec.builder is None:
            return f"models.{subject} has no builder: {self.id} retrains a torch module from it"
        if spec.train_data is None or spec.test_data is None:
            return f"models.{subject} needs train_data and test_data"
        return None

    retrains = ""


class TradeoffCheck(_OptIn):
    id = "training.tradeoff"
    title = "Hardened training: accuracy vs privacy vs robustness, measured"
    expected_seconds = 45.0
    stage = Stage.TRAINING
    threat = Threat.GOVERNANCE
    cost = "heavy"
    description = (
        "Retrains the model plain, with DP-SGD at two epsilons and with PGD adversarial training, and "
        "measures clean accuracy, membership-inference AUC and robust accuracy of each."
    )
    remediation = (
        "Pick the recipe whose row meets your needs and train it with `pipeshield train dp|adversarial`; "
        "every recipe writes a signed provenance naming the guarantee it claims."
    )
    Settings = TradeoffSettings
    retrains = "it retrains the model four times"

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        from pipeshield.attacks.evasion.check import EvasionSettings, load_domain
        from pipeshield.core.checks import check_settings, get_check
        from pipeshield.training._common import build_module, model_data
        from pipeshield.training.tradeoff import measure_tradeoff, tradeoff_plot, tradeoff_table

        assert subject is not None
        s: TradeoffSettings = ctx.settings
        evasion = check_settings(get_check("attacks.evasion"), ctx.pipeline)
        assert isinstance(evasion, EvasionSettings)
        domain = load_domain(ctx, subject, evasion.clip)
        clip = domain.scalar_clip()
        data = model_data(ctx.pipeline, subject)
        outcomes = measure_tradeoff(
            lambda: build_module(ctx.pipeline, subject), data, eps=evasion.eps, norm=evasion.norm, clip=clip,
            dp_epsilons=s.dp_epsilons, delta=s.delta, epochs=s.epochs, dp_epochs=s.epochs,
            max_inputs=s.max_inputs, seed=ctx.seed,
        )
        evidence = [
            Evidence("table", f"Recipes on {subject}: clean accuracy, membership AUC, robust accuracy at "
                              f"{evasion.norm} eps {evasion.eps:g}", data=tradeoff_table(outcomes)),
            Evidence("plot", "Accuracy vs privacy vs robustness per recipe", data=tradeoff_plot(outcomes)),
        ]
        caveats = [
            "membership AUC is the stronger of the loss and confidence attacks (no reference models); "
            "LiRA (`pipeshield attack membership`) is stronger, and only the DP rows' epsilon bounds every attack",
            f"robust accuracy is the worst case of PGD and APGD-CE (quick budget) on {s.max_inputs} test inputs at most",
        ]
        metrics: dict[str, float | int | str | bool | None] = {}
        for o in outcomes:
            key = o.recipe.lower().replace(" ", "_").replace("(", "").replace(")", "")
            metrics[f"{key}.clean_accuracy"] = o.clean_accuracy
            metrics[f"{key}.membership_auc"] = o.membership_auc
            metrics[f"{key}.robust_accuracy"] = o.robust_accuracy
        yield self.finding(
            Status.PASS, severity=Severity.INFO, subject=subject,
            message=_summary(outcomes), metrics=metrics, evidence=tuple(evidence),
            settings={**s.model_dump(mode="json"), "eps": evasion.eps, "norm": evasion.norm, "seed": ctx.seed},
            locations=(ctx.pipeline.display(ctx.pipeline.models[subject].path),),
            caveat="; ".join(caveats) + ".",
        )


def _summary(outcomes: Sequence[RecipeOutcome]) -> str:
    parts = [f"{o.recipe}: accuracy {o.clean_accuracy:.3f}, membership AUC {o.membership_auc:.3f}, "
             f"robust accuracy {o.robust_accuracy:.3f}" for o in outcomes]
    return "measured " + "; ".join(parts)


class FederatedCheck(_OptIn):
    id = "training.federated"
    title = "Federated training: accuracy and attack success per aggregation rule, measured"
    expected_seconds = 90.0
    stage = Stage.TRAINING
    threat = Threat.DATA_POISONING
    cost = "heavy"
    description = (
        "Simulates federated training of the model with Flower, every aggregation rule honest and with "
        "malicious clients (scaled updates, a backdoor): global accuracy and attack success per rule."
    )
    remediation = (
        "Train with a robust rule that keeps accuracy and stops the backdoor here (`pipeshield train "
        "federated --strategy ...`); robust aggregation and secure aggregation exclude each other (see the "
        "training guide)."
    )
    Settings = FederatedSettings
    retrains = "it runs 12 federated simulations per attack (6 for scaled updates beside another attack)"

    def run(self, ctx: CheckContext, subject: str | None) -> Iterator[Finding]:
        from pipeshield.training._common import model_data

        assert subject is not None
        s: FederatedSettings = ctx.settings
        evidence = _federated(ctx, subject, s, model_data(ctx.pipeline, subject))
        if isinstance(evidence, str):
            yield self.skipped(subject, evidence)
            return
        tables = [e for e in evidence if e.kind == "table"]
        yield self.finding(
            Status.PASS, severity=Severity.INFO, subject=subject,
            message="measured " + "; ".join(_federated_summary(t) for t in tables),
            evidence=tuple(evidence),
            settings={**s.model_dump(mode="json"), "seed": ctx.seed},
            locations=(ctx.pipeline.display(ctx.pipeline.models[subject].path),),
            caveat=("IID clients; the malicious clients follow fixed attacks (no adaptive attacker that stays "
                    "inside the honest spread); one seed."),
        )


def _federated_summary(table: Evidence) -> str:
    rows = (table.data or {}).get("rows", [])
    what = table.label.split(" sending ")[-1].split(" (")[0]
    parts = [f"{r[0]} {r[2]:.2f}" + (f" (attack success {r[4]:.2f})" if isinstance(r[4], float) else "")
             for r in rows if isinstance(r[2], float)]
    return f"accuracy under {what}: " + ", ".join(parts)


def _federated(ctx: CheckContext, subject: str, s: FederatedSettings, data: ModelData) -> list[Evidence] | str:
    """The federated comparison's evidence (scaled updates, then a backdoor), or why it was not measured."""
    import importlib.util

    import numpy as np

    from pipeshield.attacks.triggers import PatchTrigger
    from pipeshield.training._common import build_module
    from pipeshield.training.federated import LocalTraining, compare

    if importlib.util.find_spec("flwr") is None:
        return "federated comparison not measured: Flower is not installed (pip install 'pipeshield[train]')"
    assert data.x_test is not None and data.y_test is not None
    x = data.shaped(data.x)
    # The attackers' backdoor: a 2x2 patch in the top-left corner, so that it is not confused with a
    # backdoor already planted in the data (the demo's sits bottom-right); tables get a value pattern.
    trigger = (PatchTrigger(image_shape=tuple(int(d) for d in x.shape[1:]), size=2, position="top-left",
                            value=float(np.max(x))) if x.ndim in (3, 4) else None)
    columns = ["aggregation rule", "accuracy, all honest", "accuracy under attack", "accuracy drop",
               "attack success", "attack success if honest"]
    evidence: list[Evidence] = []
    # Honest clients ignore the attack plan, so every comparison's honest runs are the same model:
    # the scaled-updates comparison reuses another's (6 of 24 simulations saved in the demo).
    results = {}
    honest: dict[str, Any] = {}
    for attack in sorted(s.attacks, key=lambda a: a == "scaled"):
        results[attack] = compare(
            lambda: build_module(ctx.pipeline, subject), x, data.y, data.shaped(data.x_test),
            data.y_test, trigger=trigger, clients=s.clients, rounds=s.rounds, malicious=s.malicious, attack=attack,
            local=LocalTraining(epochs=s.local_epochs, lr=s.local_lr), engine="inprocess", seed=ctx.seed,
            honest_runs=honest if attack == "scaled" else None,
        )
        honest = honest or {r.strategy: r.honest for r in results[attack].rows if r.honest is not None}
    for attack in s.attacks:
        result = results[attack]
        rows = []
        for row in result.rows:
            d = row.to_dict()
            rows.append([d["strategy"], *(d[k] if d[k] is not None else (d["skipped"] or "-")
                                          for k in ("honest_accuracy", "attacked_accuracy", "accuracy_drop",
                                                    "attack_success", "attack_success_if_honest"))])
        what = {"scaled": "scaled updates (model replacement)",
                "backdoor": "a backdoor (2x2 top-left patch -> class 0)" if trigger else "a backdoor trigger",
                "label-flip": "flipped labels"}[attack]
        evidence.append(Evidence("table", f"Federated: {s.clients} clients, {s.rounds} rounds, "
                                          f"{s.malicious:.0%} malicious sending {what}",
                                 data={"columns": columns, "rows": rows}))
        drawn = [r for r in result.rows if r.attacked is not None and r.honest is not None]
        if attack == "scaled" and drawn:
            evidence.append(Evidence("plot", "Federated accuracy per aggregation rule: honest vs under attack", data={
                "type": "bar", "x": [r.strategy for r in drawn], "max": 1.0,
                "series": [{"name": "all honest", "values": [round(r.honest.accuracy, 4) for r in drawn if r.honest]},
                           {"name": "under scaled updates",
                            "values": [round(r.attacked.accuracy, 4) for r in drawn if r.attacked]}],
            }))
    return evidence
