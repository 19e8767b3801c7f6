"""``pipeshield attack membership``: can an attacker tell who was in one model's training set?

Exit codes: 0 when the best attack stays within the policy (``policy.checks."attacks.membership"``:
``max_auc``, ``max_tpr_at_1pct_fpr``), 1 when membership is exposed, 2 for usage errors (an unknown
model, a model without train_data/test_data, a torch model without a training recipe) with one
line on stderr. ``--format json`` prints the measurement on stdout (every attack's metrics, with
and without each output control, and which rows were members and non-members); the text format
prints a table per output (full, round-2, top-1, label-only). The work is
:func:`pipeshield.attacks.membership.check.assess_model`, the same as the audit check's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli._attack import AttackBudget, OutputFormat, attack_context
from pipeshield.cli.groups import attack_app


@attack_app.command("membership")
def membership_command(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline file.")] = Path("pipeshield.toml"),
    model: Annotated[str, typer.Option("--model", help="The model to attack (one with train_data and test_data).")] = "",
    budget: Annotated[AttackBudget | None, typer.Option("--budget", help="quick (4 reference models), standard (16) or thorough (64).")] = None,
    references: Annotated[int | None, typer.Option("--references", min=2, help="Reference models; overrides --budget.")] = None,
    controls: Annotated[bool | None, typer.Option("--controls/--no-controls", help="Also measure round-2, top-1 and label-only outputs (default: policy, on).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the member sample and the reference models.")] = 0,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json.")] = OutputFormat.text,
) -> None:
    """Attack MODEL's membership privacy: exit 0 within the policy, 1 exposed, 2 usage error."""
    from pipeshield.attacks.membership.check import (
        MembershipCheck,
        MembershipSettings,
        assess_model,
    )

    update: dict[str, object] = {}
    if budget is not None:
        update.update(budget=budget, references=None)
    if references is not None:
        update["references"] = references
    if controls is not None:
        update["controls"] = controls
    ctx = attack_context(pipeline, MembershipCheck(), model, update, seed)
    settings = ctx.settings
    assert isinstance(settings, MembershipSettings)
    report = assess_model(ctx, model, settings)
    exposed = report.exposed(settings)
    by_auc, by_tpr = report.best()
    if format is OutputFormat.json:
        out = {
            "model": model,
            "passed": not exposed,
            "max_auc": settings.max_auc,
            "max_tpr_at_1pct_fpr": settings.max_tpr_at_1pct_fpr,
            "best_auc": by_auc.auc,
            "best_auc_attack": by_auc.name,
            "best_tpr_at_1pct_fpr": by_tpr.tpr_at_fpr[0.01],
            "best_tpr_attack": by_tpr.name,
            "seed": seed,
            **report.to_dict(),
        }
        typer.echo(json.dumps(out))
    else:
        from rich.table import Table

        from pipeshield.attacks.membership.check import control_sentences
        from pipeshield.cli.render import console

        full = report.full
        verdict = "[bold red]EXPOSED[/]" if exposed else "[green]within policy[/]"
        console.print(
            f"{model}: {verdict} - best AUC {by_auc.auc:.3f} ({by_auc.name}), TPR at 1% FPR "
            f"{by_tpr.tpr_at_fpr[0.01]:.1%} ({by_tpr.name}); policy AUC <= {settings.max_auc:g}, TPR at 1% FPR <= "
            f"{settings.max_tpr_at_1pct_fpr:.1%}. {full.n_reference} reference models ({report.recipe}), "
            f"{full.n_members} members, {full.n_nonmembers} non-members"
            + (f" ({len(report.data.excluded_duplicates)} duplicated test rows excluded)" if len(report.data.excluded_duplicates) else "")
            + f"; {report.seconds:.1f} s",
            soft_wrap=True, highlight=False,
        )
        for name, result in [("full", full), *report.result.controlled.items()]:
            table = Table(title=f"{name} output")
            table.add_column("attack", no_wrap=True)
            for header in ("AUC", "TPR@1%FPR", "TPR@0.1%FPR", "TPR@0FPR", "advantage", "epsilon>="):
                table.add_column(header, justify="right")
            for a in result.attacks.values():
                table.add_row(a.name, f"{a.auc:.3f}", f"{a.tpr_at_fpr[0.01]:.1%}", f"{a.tpr_at_fpr[0.001]:.1%}",
                              f"{a.tpr_at_fpr[0.0]:.1%}", f"{a.advantage:.3f}", f"{a.epsilon_lower_bound:.2f}")
            console.print(table)
        for sentence in control_sentences(report):
            console.print(f"  {sentence}", highlight=False)
        console.print("[dim]TPR at 0.1% FPR needs thousands of non-members to mean anything; a low AUC is not "
                      "privacy (only differential privacy bounds every attack).[/]")
    raise typer.Exit(1 if exposed else 0)
