"""``pipeshield train adversarial``: retrain a pipeline model with PGD (Madry et al.) or TRADES,
measure it with the ``attacks.evasion`` check's own white-box assessment and gradient-masking
checks on its test data, and write it with its signed provenance.

Exit codes: 0 the model and its provenance are written (whatever the robust accuracy: the numbers
are the result); 2 a usage error (eps <= 0 or beyond the domain, steps < 1, an unknown model, a
model without builder, no signing key), with one line on stderr and no model written. ``--format
json`` prints :meth:`PipelineTraining.to_dict` on stdout; text prints a summary on stderr.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeshield.cli._attack import AttackBudget, OutputFormat
from pipeshield.cli.train import (
    FormatOption,
    KeyOption,
    ModelOption,
    OutOption,
    PassphraseOption,
    PipelineOption,
    SeedOption,
    train_app,
)

if TYPE_CHECKING:
    from pipeshield.training.adversarial import EpochStats, PipelineTraining


class _Method(enum.StrEnum):
    pgd = "pgd"
    trades = "trades"


class _Norm(enum.StrEnum):
    linf = "linf"
    l2 = "l2"


@train_app.command("adversarial")
def adversarial_command(
    model: ModelOption,
    key: KeyOption = None,
    pipeline: PipelineOption = Path("pipeshield.toml"),
    method: Annotated[_Method, typer.Option("--method", help="pgd (Madry et al.) or trades (Zhang et al.).")] = _Method.pgd,
    norm: Annotated[_Norm | None, typer.Option("--norm", help="linf or l2 (default: the policy's attacks.evasion norm).")] = None,
    eps: Annotated[float | None, typer.Option("--eps", help="Attack radius trained for and evaluated at (default: the policy's attacks.evasion eps).")] = None,
    steps: Annotated[int, typer.Option("--steps", help="PGD steps of the inner attack.")] = 10,
    step_size: Annotated[float | None, typer.Option("--step-size", help="Inner attack step (default 2.5 * eps / steps).")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 20,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Minibatch size.")] = 64,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 2e-3,
    beta: Annotated[float, typer.Option("--beta", help="TRADES: weight of the robustness (KL) term.")] = 6.0,
    budget: Annotated[AttackBudget, typer.Option("--budget", help="Evaluation attack budget: quick, standard or thorough.")] = AttackBudget.quick,
    evaluate: Annotated[bool, typer.Option("--evaluate/--no-evaluate", help="Run the evasion assessment on test_data.")] = True,
    out: OutOption = None,
    passphrase: PassphraseOption = None,
    seed: SeedOption = 0,
    format: FormatOption = OutputFormat.text,
) -> None:
    """Adversarially train MODEL (PGD or TRADES), evaluate it, write it with signed provenance."""
    from pipeshield.training.adversarial import train_pipeline_model

    with _progress(format is OutputFormat.text, epochs) as update:
        run = train_pipeline_model(
            pipeline, model, key=key, passphrase=passphrase, method=method.value,
            norm=None if norm is None else norm.value, eps=eps, steps=steps, step_size=step_size, epochs=epochs,
            batch_size=batch_size, lr=lr, beta=beta, seed=seed, out=out, evaluate=evaluate, budget=budget.value,
            on_epoch=update,
        )
    if format is OutputFormat.json:
        typer.echo(json.dumps(run.to_dict()))
    else:
        _print(run)


@contextmanager
def _progress(enabled: bool, epochs: int) -> Iterator[Callable[[str, EpochStats], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeshield.cli.render import console

    if not enabled:
        yield lambda phase, e: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("timing plain training", total=None)

        def update(phase: str, e: EpochStats) -> None:
            if phase == "adversarial":
                bar.update(task, completed=e.epoch, total=epochs,
                           description=f"adversarial training (loss {e.loss:.3f})")

        yield update


def _print(run: PipelineTraining) -> None:
    from rich.markup import escape

    from pipeshield.cli.render import console

    g, h = run.guarantee, run.history
    console.print(f"pipeshield train adversarial {escape(run.model)} ({h.config.recipe}, {g['norm']} eps {g['eps']:g}, "
                  f"{h.config.epochs} epochs, {h.config.steps} attack steps)", highlight=False, soft_wrap=True)
    console.print(f"  time per epoch: {h.seconds_per_epoch:.2f} s adversarial vs {run.plain_seconds_per_epoch:.2f} s "
                  f"plain ({run.overhead:.1f}x, medians)", highlight=False)
    if run.report is None:
        console.print("  [yellow]not evaluated[/] (--no-evaluate): the provenance records no robust accuracy",
                      highlight=False)
    else:
        a = run.report.assessment
        console.print(f"  on {escape(str(g['evaluated_on']))} ({a.n_inputs} inputs, {g['budget']} budget, "
                      f"{', '.join(g['attacks'])}): clean accuracy {a.clean_accuracy:.1%}, robust accuracy at eps "
                      f"{g['eps']:g} [bold]{g['robust_accuracy']:.1%}[/] (policy minimum {g['min_robust_accuracy']:.0%})",
                      highlight=False, soft_wrap=True)
        curve = ", ".join(f"{e:g}: {v:.1%}" for e, v in zip(a.eps_grid, a.ensemble, strict=True))
        console.print(f"  worst case by eps: {curve}", highlight=False, soft_wrap=True)
        for r in run.report.masking:
            console.print(f"  masking {r.name}: {'[bold red]FLAG[/]' if r.flagged else 'ok'} - {escape(r.message)}",
                          soft_wrap=True, highlight=False)
        if g["masking"] != "clean":
            console.print("  [yellow]warning[/]: a gradient-masking check flagged: the robust accuracy may be a "
                          "false assurance", highlight=False, soft_wrap=True)
    console.print(f"wrote [bold]{escape(str(run.out))}[/] and its signed provenance {escape(str(run.provenance))}",
                  soft_wrap=True, highlight=False)
