"""``pipeshield attack extraction``: steal a copy of one pipeline model, in process (``--model``)
or through its served API (``--endpoint``: the pipeline's ``[endpoint]``, over HTTP).

Exit codes: 0 when the best copy's fidelity at the budget is at or under the policy maximum
(``policy.checks."attacks.extraction".max_fidelity``, 0.9), 1 when it is over, 2 for usage
errors. ``--format json`` prints the assessment on stdout; the text format prints a summary, the
fidelity per method and per output control on stderr. The work is
:func:`pipeshield.attacks.extraction.check.assess_model` (or ``assess_endpoint``), the same as the
audit check's.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli._attack import OutputFormat, attack_context
from pipeshield.cli.groups import attack_app


class _Method(enum.StrEnum):
    equation_solving = "equation_solving"
    knockoff = "knockoff"
    jacobian = "jacobian"


_LEVELS = ("quick", "standard", "thorough")


@attack_app.command("extraction")
def extraction_command(
    pipeline: Annotated[Path, typer.Argument(help="The pipeline file.")] = Path("pipeshield.toml"),
    model: Annotated[str, typer.Option("--model", help="The model to steal, queried in process.")] = "",
    endpoint: Annotated[bool, typer.Option("--endpoint", help="Steal through the pipeline's [endpoint] over HTTP.")] = False,
    method: Annotated[list[_Method] | None, typer.Option("--method", help="Repeatable (default: by model type and budget).")] = None,
    budget: Annotated[str | None, typer.Option("--budget", help="Queries per method: N, quick (500), standard (2000) or thorough (10000).")] = None,
    labels_only: Annotated[bool, typer.Option("--labels-only", help="The attacker sees labels only.")] = False,
    controls: Annotated[bool, typer.Option("--controls/--no-controls", help="Also measure each output control.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every randomised step.")] = 0,
    format: Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json.")] = OutputFormat.text,
) -> None:
    """Steal MODEL (or the endpoint): exit 0 fidelity at most the maximum, 1 over it, 2 usage error."""
    from pipeshield.attacks.extraction.check import (
        ExtractionCheck,
        ExtractionSettings,
        assess_endpoint,
        assess_model,
    )
    from pipeshield.errors import ConfigError

    if bool(model) == endpoint:
        raise ConfigError("give exactly one of --model NAME and --endpoint")
    check = ExtractionCheck()
    update: dict[str, object] = {"controls": controls}
    if labels_only:
        update["labels_only"] = True
    if method:
        update["methods"] = [m.value for m in method]
    if budget is not None:
        if budget in _LEVELS:
            update.update(budget=budget, queries=None)
        elif budget.isdigit() and int(budget) > 0:
            update["queries"] = int(budget)
        else:
            raise ConfigError(f"--budget: expected a positive number of queries or quick, standard, thorough; got {budget!r}")
    ctx = attack_context(pipeline, check, model or None, update, seed)
    pipe, settings = ctx.pipeline, ctx.settings
    assert isinstance(settings, ExtractionSettings)
    report = assess_endpoint(ctx, settings) if endpoint else assess_model(ctx, model, settings)
    a = report.assessment
    name = model or (pipe.endpoint.model if pipe.endpoint and pipe.endpoint.model else "endpoint")
    ok = not a.fidelity > settings.max_fidelity if a.best_method else True
    if format is OutputFormat.json:
        typer.echo(json.dumps({"model": name, "max_fidelity": settings.max_fidelity, "passed": ok,
                               **report.to_dict()}))
    else:
        _render(name, report, settings.max_fidelity)
    raise typer.Exit(0 if ok else 1)


def _render(name: str, report: object, max_fidelity: float) -> None:
    from rich.table import Table

    from pipeshield.attacks.extraction.check import ExtractionReport
    from pipeshield.cli.render import console

    assert isinstance(report, ExtractionReport)
    a = report.assessment
    if a.best_method is None:
        console.print(f"{name}: no extraction method could run: "
                      + "; ".join(f"{m}: {why}" for m, why in a.skipped.items()), soft_wrap=True, highlight=False)
        return
    best = a.results[a.best_method]
    console.print(f"{name} ({report.access}): with {best.queries:,} queries the best copy ({a.best_method}) agrees "
                  f"on {a.fidelity:.1%} of {a.n_eval} held-out inputs (maximum {max_fidelity:.0%}; most common "
                  f"label {a.baseline_fidelity:.1%})", soft_wrap=True, highlight=False)
    table = Table("method", "queries", "fidelity", "accuracy", *(c.policy.name for c in a.controls),
                  title=f"fidelity at {a.budget:,} queries")
    for m, r in a.results.items():
        acc = f"{r.accuracy[max(r.accuracy)]:.1%}" if r.accuracy else "-"
        cells = [f"{c.fidelity[m]:.1%}" if m in c.fidelity else "-" for c in a.controls]
        table.add_row(m, f"{r.queries:,}", f"{r.final_fidelity:.1%}", acc, *cells)
    console.print(table)
    for m, why in a.skipped.items():
        console.print(f"  {m} not run: {why}", soft_wrap=True, highlight=False)
    if a.transfer is not None:
        console.print(f"  transferability: {a.transfer.rate:.0%} of {a.transfer.n} adversarials crafted on the copy "
                      f"fool the model (random noise: {a.transfer.baseline_rate:.0%})", soft_wrap=True,
                      highlight=False)
    console.print(f"[dim]pool: {report.pool_source}; evaluation: {report.eval_source}[/]", soft_wrap=True,
                  highlight=False)
