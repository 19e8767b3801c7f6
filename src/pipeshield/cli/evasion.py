"""``pipeshield attack evasion``: robustness of one pipeline model to adversarial examples
(white-box for torch models, black-box for scikit-learn and ONNX models).

Exit codes: 0 when the worst-case robust accuracy at ``--eps`` is at or above the policy minimum
(``policy.checks."attacks.evasion".min_robust_accuracy``), 1 when it is below, 2 for usage errors.
``--format json`` prints the assessment and the gradient-masking results on stdout; the text format
prints a summary and a table of robust accuracy per attack and epsilon on stderr. The work is
:func:`pipeshield.attacks.evasion.check.assess_model`, the same as the audit check's.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli._attack import AttackBudget, OutputFormat, attack_context
from pipeshield.cli.groups import attack_app


class _Norm(enum.StrEnum):
    linf = "linf"
    l2 = "l2"


@attack_app.command("evasion")
def evasion_command(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline file.")] = Path("pipeshield.toml"),
    model: Annotated[str, typer.Option("--model", help="The model to attack (one with test_data).")] = "",
    norm: Annotated[_Norm | None, typer.Option("--norm", help="linf or l2 (default: policy).")] = None,
    eps: Annotated[float | None, typer.Option("--eps", min=0.0, help="Policy epsilon (default: policy, 0.1).")] = None,
    budget: Annotated[AttackBudget | None, typer.Option("--budget", help="quick, standard or thorough (default: policy).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every randomised step.")] = 0,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json.")] = OutputFormat.text,
) -> None:
    """Attack MODEL (white-box or black-box): exit 0 robust enough at --eps, 1 not, 2 usage error."""
    from pipeshield.attacks.evasion.check import EvasionCheck, EvasionSettings, assess_model

    overrides = {k: v for k, v in {"norm": norm, "eps": eps, "budget": budget}.items() if v is not None}
    ctx = attack_context(pipeline, EvasionCheck(), model, overrides, seed)
    settings = ctx.settings
    assert isinstance(settings, EvasionSettings)
    report = assess_model(ctx, model, settings)
    robust = report.assessment.ensemble_at(settings.eps)
    ok = robust >= settings.min_robust_accuracy
    if format is OutputFormat.json:
        out = {"model": model, "eps": settings.eps, "min_robust_accuracy": settings.min_robust_accuracy,
               "robust_accuracy": round(robust, 6), "passed": ok, **report.to_dict()}
        typer.echo(json.dumps(out))
    else:
        from rich.table import Table

        from pipeshield.cli.render import console

        a = report.assessment
        console.print(f"{model} ({report.access}): clean accuracy {a.clean_accuracy:.1%}; at eps {settings.eps:g} "
                      f"({a.norm}) robust accuracy {robust:.1%}, attack success "
                      f"{a.success_rate_at(settings.eps):.0%} (minimum {settings.min_robust_accuracy:.0%}, "
                      f"budget {a.settings['budget']}, {a.n_inputs} inputs; domain: {report.domain})",
                      soft_wrap=True, highlight=False)
        table = Table("attack", *(f"eps {e:g}" for e in a.eps_grid), title="robust accuracy")
        for name, values in a.robust_accuracy.items():
            table.add_row(name, *(f"{v:.1%}" for v in values))
        table.add_row("[bold]worst case[/]", *(f"[bold]{v:.1%}[/]" for v in a.ensemble))
        console.print(table)
        for name, q in a.settings.get("queries", {}).items():
            console.print(f"  queries {name}: {q['total']:,} in all, median {q['median_per_input']:g} per input",
                          highlight=False)
        for r in report.masking:
            console.print(f"  masking {r.name}: {'FLAG' if r.flagged else 'ok'} - {r.message}", soft_wrap=True,
                          highlight=False)
        if report.access == "black-box":
            console.print("[dim]Black-box only: the model is not differentiable here, so white-box attacks and "
                          "most gradient-masking checks do not apply.[/]")
    raise typer.Exit(0 if ok else 1)
