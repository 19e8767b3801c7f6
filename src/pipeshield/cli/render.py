"""Terminal rendering shared by commands: the progress bar and the summary table."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from pipeshield.report import Report

__all__ = ["audit_progress", "console", "print_summary"]

console = Console(stderr=True)

_STATUS_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "error": "bold magenta", "skipped": "dim"}
_SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim"}


@contextmanager
def audit_progress(enabled: bool = True) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar fed by the audit's ``progress(done, total, label)`` callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not enabled:
        yield lambda done, total, label: None
        return
    with Progress(
        TextColumn("[bold]auditing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim"),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def update(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=label)

        yield update


def print_summary(report: Report, written: Mapping[str, object] | None = None) -> None:
    """A table by stage (status counts, worst severity), the worst problems, and the verdict."""
    summary = report.summary()
    table = Table(title=f"pipeshield audit: {report.pipeline.get('name', '')}", title_justify="left")
    table.add_column("stage")
    for status in ("pass", "fail", "warn", "error", "skipped"):
        table.add_column(status, justify="right", style=_STATUS_STYLE[status])
    table.add_column("worst", justify="left")
    for stage, counts in summary["by_stage"].items():
        problems = [f for f in report.findings if f.stage.value == stage and f.status.is_problem]
        worst = max((f.severity for f in problems), default=None)
        worst_cell = f"[{_SEVERITY_STYLE[worst.value]}]{worst.value}[/]" if worst else ""
        table.add_row(stage, *(str(counts[s]) or "" for s in ("pass", "fail", "warn", "error", "skipped")), worst_cell)
    console.print(table)
    top = [f for f in report.findings if f.status.is_problem]
    top.sort(key=lambda f: -f.severity.rank)
    if top:
        worst_table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=True)
        worst_table.add_column("severity", no_wrap=True)
        worst_table.add_column("status", no_wrap=True)
        worst_table.add_column("check / subject", no_wrap=True, max_width=40, overflow="ellipsis")
        worst_table.add_column("what", overflow="fold", ratio=1)
        for f in top[:10]:
            worst_table.add_row(
                f"[{_SEVERITY_STYLE[f.severity.value]}]{f.severity.value}[/]",
                f"[{_STATUS_STYLE[f.status.value]}]{f.status.value}[/]",
                f"{f.check}\n[dim]{f.subject or ''}[/]",
                f.message,
            )
        console.print(worst_table)
        if len(top) > 10:
            console.print(f"[dim]... and {len(top) - 10} more problems in the report[/]")
    gate = summary["gate"]
    if gate["passed"]:
        console.print(f"[green]gate passed[/]: nothing at or above [bold]{gate['fail_on']}[/]")
    else:
        console.print(
            f"[bold red]gate failed[/]: {len(gate['failing_findings'])} finding(s) at or above [bold]{gate['fail_on']}[/]"
        )
    if written:
        for name, path in written.items():
            console.print(f"  {name:8} {path}")
