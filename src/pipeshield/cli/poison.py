"""``pipeshield data poison-scan|sanitize`` and ``pipeshield attack poison``.

Exit codes: ``poison-scan`` 0 nothing flagged, 1 rows flagged; ``sanitize`` and ``attack poison``
0 when written; 2 for usage errors everywhere (a missing label column, an empty file, wrong
shapes, a mask of another length) with one line on stderr. ``poison-scan --format json`` prints
the stable JSON documented in :mod:`pipeshield.data.poisoning.scan` on stdout; the text format
prints a summary on stderr.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated

import typer

from pipeshield.cli.groups import attack_app, data_app


class _Format(enum.StrEnum):
    text = "text"
    json = "json"


class _Kind(enum.StrEnum):
    random_flip = "random-flip"
    targeted_flip = "targeted-flip"
    backdoor = "backdoor"
    clean_label = "clean-label"


class _TriggerKind(enum.StrEnum):
    patch = "patch"
    value = "value"


def _shape(value: str | None, option: str) -> tuple[int, ...] | None:
    from pipeshield.errors import DatasetError

    if value is None:
        return None
    try:
        dims = tuple(int(v) for v in value.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise DatasetError(f"{option}: expected whole numbers like 1,8,8 (got {value!r})") from None
    if not dims or any(d <= 0 for d in dims):
        raise DatasetError(f"{option}: every dimension must be positive (got {value!r})")
    return dims


@data_app.command("poison-scan")
def poison_scan(
    file: Annotated[Path, typer.Argument(help="Labelled data: CSV, Parquet or NPZ.")],
    label: Annotated[str, typer.Option("--label", help="The label column (NPZ: label array).")],
    model: Annotated[Path | None, typer.Option("--model", help="A trained model file, for the backdoor detectors.")] = None,
    builder: Annotated[str | None, typer.Option("--builder", help="module:function returning the nn.Module (state_dicts).")] = None,
    input_shape: Annotated[str | None, typer.Option("--input-shape", help="Model input shape, e.g. 1,8,8.")] = None,
    trusted_type: Annotated[list[str] | None, typer.Option("--trusted-type", help="Extra type a skops model may load (repeatable).")] = None,
    mask: Annotated[Path | None, typer.Option("--mask", help="Ground-truth mask JSON: adds precision/recall/FPR.")] = None,
    detectors: Annotated[str | None, typer.Option("--detectors", help="Comma-separated detectors (default: all).")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, max=20, help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every randomised step.")] = 0,
    format: Annotated[_Format, typer.Option("--format", "-f", help="text or json.")] = _Format.text,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the JSON here (atomically).")] = None,
) -> None:
    """Find poisoned rows (label flips, backdoors, outliers, copies): exit 0 none flagged, 1 rows flagged, 2 usage error."""
    from pipeshield.core.files import atomic_write_text
    from pipeshield.data.poisoning import ScanConfig, scan_file

    names = [d.strip() for d in detectors.split(",") if d.strip()] if detectors else None
    report = scan_file(
        file, label, config=ScanConfig(folds=folds, seed=seed), model=model, builder=builder,
        input_shape=_shape(input_shape, "--input-shape"), mask=mask, detectors=names,
        trusted_types=trusted_type or [],
    )
    text = report.to_json()
    if output is not None:
        atomic_write_text(output, text)
    if format is _Format.json:
        typer.echo(text, nl=False)
    else:
        _print_summary(report)
    raise typer.Exit(1 if report.suspicious else 0)


def _print_summary(report: object) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pipeshield.cli.render import console
    from pipeshield.data.poisoning import ScanReport

    assert isinstance(report, ScanReport)
    table = Table("detector", "flagged", "classes", "note", title=f"pipeshield poison-scan {escape(report.source)}",
                  title_justify="left")
    for name, res in report.results.items():
        note = res.skipped or ""
        if name in report.metrics:
            m = report.metrics[name]
            note = f"precision {m.precision:.3f} recall {m.recall:.3f} FPR {m.fpr:.4f}"
        classes = ", ".join(str(report_class) for report_class in res.suspicious_classes)
        table.add_row(name, str(int(res.flagged.sum())), escape(classes), escape(note))
    console.print(table)
    top = ", ".join(f"{r.row} ({'+'.join(r.detectors)})" for r in report.suspicious[:10])
    console.print(f"{len(report.suspicious)} of {report.n_rows} rows flagged" + (f"; most suspicious: {top}" if top else ""),
                  soft_wrap=True, highlight=False)
    console.print("[dim]No flagged rows is not proof of clean data: see `docs/guide.md` for what defeats each detector.[/]")


@data_app.command("sanitize")
def sanitize_command(
    file: Annotated[Path, typer.Argument(help="The data that was scanned.")],
    label: Annotated[str, typer.Option("--label", help="The label column (NPZ: label array).")],
    from_scan: Annotated[Path, typer.Option("--from-scan", help="JSON from `pipeshield data poison-scan --format json`.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the cleaned data (same format).")],
    manifest: Annotated[Path, typer.Option("--manifest", help="Where to write the list of changes (JSON).")],
    relabel: Annotated[bool, typer.Option("--relabel", help="Relabel label issues instead of removing them.")] = False,
) -> None:
    """Write a cleaned copy without (or relabelling) the rows a poison-scan flagged, with a manifest."""
    from pipeshield.cli.render import console
    from pipeshield.data.poisoning import sanitize

    s = sanitize(file, label=label, scan=from_scan, out=out, manifest=manifest, relabel=relabel)
    console.print(f"{s.n_rows} rows in, {s.kept} out: {s.removed} removed, {s.relabelled} relabelled -> "
                  f"[bold]{out}[/] (changes: {manifest})", soft_wrap=True, highlight=False)


@attack_app.command("poison")
def poison_command(
    dataset: Annotated[Path, typer.Argument(help="Labelled data: CSV, Parquet or NPZ.")],
    label: Annotated[str, typer.Option("--label", help="The label column (NPZ: label array).")],
    kind: Annotated[_Kind, typer.Option("--kind", help="random-flip, targeted-flip, backdoor or clean-label.")],
    rate: Annotated[float, typer.Option("--rate", help="Share of all rows to poison (0-1).")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the poisoned copy (same format).")],
    mask: Annotated[Path, typer.Option("--mask", help="Where to write the ground truth (JSON).")],
    source: Annotated[str | None, typer.Option("--source", help="Class to flip from (targeted-flip).")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Target class (all but random-flip).")] = None,
    trigger: Annotated[_TriggerKind | None, typer.Option("--trigger", help="patch (images) or value (tables); default by data.")] = None,
    trigger_size: Annotated[int, typer.Option("--trigger-size", min=1, help="Patch side in pixels.")] = 2,
    trigger_position: Annotated[str, typer.Option("--trigger-position", help="bottom-right, bottom-left, top-right, top-left.")] = "bottom-right",
    trigger_value: Annotated[float | None, typer.Option("--trigger-value", help="Patch value (default: the data's maximum).")] = None,
    image_shape: Annotated[str | None, typer.Option("--image-shape", help="H,W or C,H,W of flattened rows.")] = None,
    test: Annotated[Path | None, typer.Option("--test", help="Clean test data for the attack success rate.")] = None,
    training: Annotated[str | None, typer.Option("--training", help="module:function(x, y, *, seed) -> model.")] = None,
    measure: Annotated[bool, typer.Option("--measure/--no-measure", help="Train a model and report the attack success rate.")] = True,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every randomised step.")] = 0,
) -> None:
    """Write a poisoned copy of DATASET and its ground-truth mask; for backdoors, report the attack success rate."""
    from pipeshield.attacks.poison_run import PoisonRequest, run_poison
    from pipeshield.cli.render import console

    summary = run_poison(PoisonRequest(
        dataset=dataset, label=label, kind=kind.value, rate=rate, out=out, mask=mask, source=source,
        target=target, trigger=trigger.value if trigger else None, trigger_size=trigger_size,
        trigger_position=trigger_position, trigger_value=trigger_value,
        image_shape=_shape(image_shape, "--image-shape"), test=test, training=training, measure=measure, seed=seed,
    ))
    console.print(f"poisoned {summary['poisoned_rows']} of {summary['n_rows']} rows ({kind.value}) -> [bold]{out}[/]; "
                  f"ground truth -> {mask}", soft_wrap=True, highlight=False)
    if "attack_success_rate" in summary:
        console.print(f"attack success rate {summary['attack_success_rate']:.3f} on {summary['n_triggered_test_rows']} "
                      f"triggered test rows (clean accuracy {summary['clean_accuracy']:.3f}, {summary['trainer']})",
                      soft_wrap=True, highlight=False)
    typer.echo(json.dumps(summary))


import pipeshield.cli.evasion  # noqa: E402,F401  (`pipeshield attack evasion` shares the attack group)
import pipeshield.cli.extraction  # noqa: E402,F401  (`pipeshield attack extraction`)
import pipeshield.cli.membership  # noqa: E402,F401  (`pipeshield attack membership`)
