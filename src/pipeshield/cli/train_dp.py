"""``pipeshield train dp``: retrain a pipeline model with differential privacy and sign what it claims.

Exit codes: 0 the model and its signed provenance were written; 2 a usage error (unsupported layers,
an unreachable epsilon, a delta not below 1/N, a bad key...), in which case nothing is written.
``--format json`` prints one object on stdout (keys: see
:meth:`pipeshield.training.dp.recipe.DPTrainingResult.to_dict`); the text format prints a summary
on stderr. The work is :func:`pipeshield.training.dp.train_dp`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli._attack import OutputFormat
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


class _Accountant(enum.StrEnum):
    prv = "prv"
    rdp = "rdp"
    gdp = "gdp"


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int, str], None] | None]:
    """A transient rich bar on stderr, fed ``(done, total, label)`` after each epoch."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeshield.cli.render import console

    with Progress(TextColumn("[bold]training (DP)"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}", style="dim"), console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        yield update


@train_app.command("dp")
def dp_command(
    model: ModelOption,
    key: KeyOption = None,
    pipeline: PipelineOption = Path("pipeshield.toml"),
    epsilon: Annotated[
        float | None, typer.Option("--epsilon", help="Target epsilon: the noise is calibrated to it.")
    ] = None,
    noise_multiplier: Annotated[
        float | None, typer.Option("--noise-multiplier", help="Noise multiplier instead of a target epsilon.")
    ] = None,
    delta: Annotated[float, typer.Option("--delta", help="Target delta (below 1 / training-set size).")] = 1e-5,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the data.")] = 20,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Expected batch size (Poisson sampling: sample rate ~ B / N).")
    ] = 128,
    lr: Annotated[
        float | None, typer.Option("--lr", help="Learning rate (default 0.01 Adam; 0.5 SGD for tabular).")
    ] = None,
    max_grad_norm: Annotated[float, typer.Option("--max-grad-norm", help="Per-sample gradient clip norm C.")] = 1.0,
    accountant: Annotated[_Accountant, typer.Option("--accountant", help="prv, rdp or gdp.")] = _Accountant.prv,
    fix_layers: Annotated[
        bool,
        typer.Option("--fix-layers", help="Swap unsupported layers (BatchNorm -> GroupNorm); changes the architecture."),
    ] = False,
    ema: Annotated[
        float | None,
        typer.Option("--ema", help="Average the weights over the steps (decay, e.g. 0.9); costs no privacy."),
    ] = None,
    out: OutOption = None,
    passphrase: PassphraseOption = None,
    seed: SeedOption = 0,
    format: FormatOption = OutputFormat.text,
) -> None:
    """Retrain MODEL with DP-SGD (or DP logistic regression) and write it with signed provenance."""
    from pipeshield.training.dp.recipe import DPSettings, train_dp

    settings = DPSettings(
        epsilon=epsilon, noise_multiplier=noise_multiplier, delta=delta, epochs=epochs, batch_size=batch_size,
        lr=lr, max_grad_norm=max_grad_norm, accountant=accountant.value, fix_layers=fix_layers, seed=seed,
        ema_decay=ema,
    )
    with _progress(format is OutputFormat.text) as progress:
        result = train_dp(pipeline, model, settings, key=key, out=out, passphrase=passphrase, progress=progress)
    if format is OutputFormat.json:
        typer.echo(json.dumps(result.to_dict()))
        return
    from pipeshield.cli.render import console

    r = result.report
    check = r.cross_check
    acc = "n/a (no test_data)" if result.test_accuracy is None else f"{result.test_accuracy:.1%}"
    console.print(f"{result.model}: {result.recipe}, test accuracy {acc}", highlight=False)
    console.print(f"  privacy: epsilon {r.epsilon:.3f} at delta {r.delta:g} ({r.accountant} accountant); noise "
                  f"multiplier {r.noise_multiplier:.3f}, sample rate {r.sample_rate:.4f}, {r.steps} steps, clip "
                  f"{r.max_grad_norm:g}", highlight=False, soft_wrap=True)
    ref = "" if check.reference_epsilon is None else f" {check.reference}: {check.reference_epsilon:.3f}"
    console.print(f"  cross-check: {check.status}{ref}" + (f" ({check.note})" if check.note else ""),
                  highlight=False, soft_wrap=True)
    console.print(f"  time per epoch: {result.seconds_per_epoch:.2f} s", highlight=False)
    for line in (*r.layer_changes, *r.warnings, *result.notes):
        console.print(f"  note: {line}", highlight=False, soft_wrap=True)
    console.print(f"wrote {result.out} and its signed provenance {result.attestation}", highlight=False, soft_wrap=True)
