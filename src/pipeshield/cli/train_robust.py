"""``pipeshield train robust``: retrain a pipeline model resistant to poisoning, measured.

Exit codes: 0 the model and its signed provenance are written; 2 a usage error (trim outside
(0, 0.5), an unknown detector, a mask of another length, no signing key), with one line on stderr
and no model left behind. ``--format json`` prints :meth:`RobustRun.to_dict` on stdout.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

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


class _Method(enum.StrEnum):
    sanitize = "sanitize"
    trim = "trim"
    both = "both"


class _Action(enum.StrEnum):
    drop = "drop"
    relabel = "relabel"


@train_app.command("robust")
def robust_command(
    model: ModelOption,
    key: KeyOption = None,
    pipeline: PipelineOption = Path("pipeshield.toml"),
    method: Annotated[_Method, typer.Option("--method", help="sanitize (scan, drop/relabel, train), trim (loss trimming) or both.")] = _Method.sanitize,
    action: Annotated[_Action, typer.Option("--action", help="What sanitize does to flagged rows: drop, or relabel label issues.")] = _Action.drop,
    detectors: Annotated[str | None, typer.Option("--detectors", help="Comma-separated poisoning detectors (default: all).")] = None,
    trim: Annotated[float, typer.Option("--trim", help="Share of highest-loss rows left out each epoch, in (0, 0.5).")] = 0.1,
    warmup: Annotated[int, typer.Option("--warmup", help="Plain epochs before trimming starts.")] = 5,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs (torch models).")] = 40,
    loss: Annotated[str, typer.Option("--loss", help="cross-entropy, generalized-cross-entropy or symmetric-cross-entropy.")] = "cross-entropy",
    poison_mask: Annotated[Path | None, typer.Option("--poison-mask", help="Ground truth (`attack poison --mask`): scores the cleaning, measures the backdoor.")] = None,
    out: OutOption = None,
    passphrase: PassphraseOption = None,
    seed: SeedOption = 0,
    format: FormatOption = OutputFormat.text,
) -> None:
    """Retrain a model with sanitize-then-train and/or loss trimming; write it with signed provenance."""
    from pipeshield.training.robust import RobustConfig, train_robust

    names = tuple(d for d in detectors.split(",")) if detectors is not None else None
    config = RobustConfig(method=method.value, action=action.value, detectors=names, trim=trim, warmup=warmup,
                          epochs=epochs, loss=loss, seed=seed)
    with _progress(format is OutputFormat.text) as update:
        run = train_robust(pipeline, model, config, key=key, out=out, passphrase=passphrase, poison_mask=poison_mask,
                           progress=update)
    result = run.to_dict()
    if format is OutputFormat.json:
        typer.echo(json.dumps(result))
    else:
        _print(result)


_STAGES = {"probe": "training the undefended probe", "scan": "scanning the training data", "train": "training"}


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from pipeshield.cli.render import console

    if not enabled:
        yield lambda stage, done, total: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def update(stage: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=_STAGES.get(stage, stage))

        yield update


def _print(result: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pipeshield.cli.render import console

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{v:.1%}"

    table = Table("model", "clean accuracy", "attack success rate", title=f"pipeshield train robust "
                  f"{escape(result['model'])} ({result['recipe']})", title_justify="left")
    if result["undefended"] is not None:
        u = result["undefended"]
        table.add_row("undefended (raw rows)", pct(u["clean_accuracy"]), pct(u["attack_success_rate"]))
    d = result["defended"]
    table.add_row(f"defended ({result['method']})", pct(d["clean_accuracy"]), pct(d["attack_success_rate"]))
    console.print(table)
    c = result["cleaning"]
    if c is not None:
        line = f"sanitize: {c['removed']} of {c['n_rows']} rows removed, {c['relabelled']} relabelled"
        if "metrics" in c:
            m = c["metrics"]
            line += f" (against the mask: precision {m['precision']:.3f}, recall {m['recall']:.3f}, FPR {m['fpr']:.4f})"
        console.print(line, soft_wrap=True, highlight=False)
    t = result["trimming"]
    if t is not None:
        line = f"loss trimming: {t['trimmed_last_epoch']} of {t['n_rows']} rows left out in the last epoch (trim {t['trim']})"
        if "metrics" in t:
            m = t["metrics"]
            line += f" (against the mask: precision {m['precision']:.3f}, recall {m['recall']:.3f})"
        console.print(line, soft_wrap=True, highlight=False)
    for w in result["warnings"]:
        console.print(f"[yellow]warning[/]: {escape(w)}", soft_wrap=True, highlight=False)
    console.print(f"wrote [bold]{escape(result['output'])}[/] and its signed provenance {escape(result['provenance'])}",
                  soft_wrap=True, highlight=False)
