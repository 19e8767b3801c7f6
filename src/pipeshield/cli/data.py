"""``pipeshield data profile|validate|leakage``: the data gate, as commands.

Exit codes: 0 the batch conforms (validate) or nothing leaks (leakage); 1 violations or leaks,
each naming its column; 2 a usage error (unreadable file, profile of another dataset, missing
label column). ``--format json`` prints on stdout the documented shapes of
:mod:`pipeshield.data.validate.results` and :mod:`pipeshield.data.leakage.report`; the text
format prints a summary on stderr.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from pipeshield.cli.groups import data_app


class _Format(enum.StrEnum):
    text = "text"
    json = "json"


@data_app.command("profile")
def profile(
    file: Annotated[Path, typer.Argument(help="Trusted data: CSV, Parquet or NPZ.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the profile (JSON).")],
    label: Annotated[str | None, typer.Option("--label", help="The label column (NPZ: label array).")] = None,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1, help="Rows read at a time (bounds memory).")] = 65_536,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the row sample.")] = 0,
) -> None:
    """Learn a profile (schema, types, ranges, categories, distributions) from trusted data."""
    from pipeshield.cli.render import console
    from pipeshield.data.profile import ProfileSettings, learn_profile, save_profile

    learned = learn_profile(file, label=label, settings=ProfileSettings(chunk_rows=chunk_rows, seed=seed))
    save_profile(learned, output)
    console.print(
        f"profiled {learned.rows:,} rows x {len(learned.columns)} columns of {file} "
        f"({learned.duplicate_rows:,} duplicate rows) -> [bold]{output}[/]", soft_wrap=True, highlight=False)


@data_app.command("validate")
def validate(
    file: Annotated[Path, typer.Argument(help="The batch to check: CSV, Parquet or NPZ.")],
    profile: Annotated[Path, typer.Option("--profile", "-p", help="A profile from `pipeshield data profile`.")],
    format: Annotated[_Format, typer.Option("--format", "-f", help="text or json.")] = _Format.text,
    alpha: Annotated[float, typer.Option("--alpha", min=1e-12, max=0.5, help="Family-wise significance of the drift tests.")] = 0.01,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=1, help="Rows read at a time (bounds memory).")] = 65_536,
) -> None:
    """Validate a batch against a profile: exit 0 conforms, 1 violations (naming each column), 2 usage error."""
    from pipeshield.data.profile import load_profile
    from pipeshield.data.validate import ValidationSettings
    from pipeshield.data.validate import validate as run_validation

    loaded = load_profile(profile)
    result = run_validation(file, loaded, ValidationSettings(alpha=alpha, chunk_rows=chunk_rows), profile_name=str(profile))
    if format is _Format.json:
        typer.echo(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        _print_validation(result)
    raise typer.Exit(0 if result.conforms else 1)


@data_app.command("leakage")
def leakage(
    file: Annotated[Path, typer.Argument(help="The dataset (the training set when --test is given).")],
    test: Annotated[Path | None, typer.Option("--test", help="A test set to compare rows with.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Label column: test whether one feature predicts it.")] = None,
    format: Annotated[_Format, typer.Option("--format", "-f", help="text or json.")] = _Format.text,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Find PII and secrets, train/test overlap and label leakage: exit 0 none, 1 found, 2 usage error."""
    from pipeshield.data.leakage import scan_leakage

    report = scan_leakage(file, test=test, label=label, seed=seed)
    if format is _Format.json:
        typer.echo(json.dumps(report.to_dict(), indent=2, allow_nan=False))
    else:
        _print_leakage(report)
    raise typer.Exit(1 if report.leaks else 0)


def _load_sibling_commands() -> None:
    """The data group is resolved lazily through this module; other modules that add commands to
    it (``poison-scan``, ``sanitize``) are loaded with it so ``pipeshield data --help`` is whole."""
    import importlib
    from importlib.util import find_spec

    for module in ("pipeshield.cli.poison",):
        if find_spec(module) is not None:
            importlib.import_module(module)


def _print_validation(result: Any) -> None:
    from rich.markup import escape

    from pipeshield.cli.render import console

    if result.conforms:
        console.print(f"[green]conforms[/]: {escape(result.file)} ({result.rows:,} rows)", soft_wrap=True)
        return
    console.print(f"[bold red]{len(result.violations)} violation(s)[/]: {escape(result.file)} ({result.rows:,} rows)",
                  soft_wrap=True)
    for v in result.violations:
        rows = f" rows {', '.join(map(str, v.rows))}" if v.rows else ""
        console.print(f"  [{v.severity.value}] {v.kind}: {escape(v.message)}{rows}", soft_wrap=True, highlight=False)


def _print_leakage(report: Any) -> None:
    from rich.markup import escape

    from pipeshield.cli.render import console

    for h in report.pii:
        console.print(f"  [{h.kind}] {h.detector} in {escape(h.column)}: {h.count} value(s), rows "
                      f"{', '.join(map(str, h.rows)) or '-'}, e.g. {escape(', '.join(h.examples))}", soft_wrap=True,
                      highlight=False)
    if report.overlap is not None:
        o = report.overlap
        console.print(f"  overlap: {o.exact_test_rows} exact and {o.near_test_rows} near-duplicate test row(s) of "
                      f"{o.test_rows} also in training data"
                      + (f" (test rows {', '.join(str(b) for _, b in o.exact_pairs[:10])})" if o.exact_pairs else ""),
                      soft_wrap=True, highlight=False)
    if report.label_leakage is not None:
        lab = report.label_leakage
        if lab.leaking:
            names = ", ".join(f"{escape(s.feature)} ({s.score:.3f})" for s in lab.leaking)
            console.print(f"  label leakage: {names} alone predict {escape(lab.label)} (baseline {lab.baseline:.3f})",
                          soft_wrap=True, highlight=False)
        else:
            console.print(f"  label leakage: none (best single feature {lab.top[0].score if lab.top else 0:.3f})",
                          highlight=False)
    verdict = "[bold red]leaks found[/]" if report.leaks else "[green]no leaks found[/] (not proof of none)"
    console.print(f"{verdict}: {escape(report.file)}", soft_wrap=True)


_load_sibling_commands()
