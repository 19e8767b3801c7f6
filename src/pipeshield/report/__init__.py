"""Report formats: JSON (the stable machine format), HTML, SARIF 2.1.0 and Markdown.

A format is one module that registers a writer; adding one touches nothing else.

    >>> write_reports(report, "pipeshield-report")        # doctest: +SKIP
    {'json': PosixPath('pipeshield-report/report.json'), ...}
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pipeshield.core.files import atomic_write_text
from pipeshield.errors import ReportError
from pipeshield.report.model import SCHEMA_VERSION, Report, gate_failures

__all__ = [
    "FORMATS",
    "SCHEMA_VERSION",
    "Report",
    "available_formats",
    "gate_failures",
    "register_format",
    "resolve_formats",
    "write_reports",
]


@dataclass(frozen=True)
class Format:
    name: str
    filename: str
    render: Callable[[Report], str]


FORMATS: dict[str, Format] = {}
#: Built-in formats and the module that registers each; imported only when asked for.
_BUILTIN = {
    "json": "pipeshield.report.json_format",
    "html": "pipeshield.report.html_format",
    "sarif": "pipeshield.report.sarif_format",
    "markdown": "pipeshield.report.markdown_format",
}


def register_format(name: str, filename: str) -> Callable[[Callable[[Report], str]], Callable[[Report], str]]:
    def deco(fn: Callable[[Report], str]) -> Callable[[Report], str]:
        FORMATS[name] = Format(name, filename, fn)
        return fn

    return deco


def _load(names: Iterable[str]) -> None:
    for name in names:
        if name not in FORMATS and name in _BUILTIN:
            importlib.import_module(_BUILTIN[name])


def available_formats() -> list[str]:
    return list(dict.fromkeys([*_BUILTIN, *FORMATS]))


def resolve_formats(formats: Iterable[str] | None = None) -> list[str]:
    """The format names to write (default: every built-in one); an unknown name is a ReportError.

    Called before an audit runs too, so that a typo costs nothing but the message."""
    names = list(formats) if formats is not None else list(_BUILTIN)
    names = ["markdown" if n == "md" else n for n in names]
    _load(names)
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise ReportError(f"--format: unknown format {unknown[0]!r} (known: {', '.join(available_formats())})")
    return names


def write_reports(report: Report, out_dir: Path | str, formats: Iterable[str] | None = None) -> dict[str, Path]:
    """Render each format fully in memory, then write each file atomically."""
    names = resolve_formats(formats)
    rendered = {n: FORMATS[n].render(report) for n in names}
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        for name, text in rendered.items():
            path = out / FORMATS[name].filename
            atomic_write_text(path, text)
            written[name] = path
    except OSError as err:
        raise ReportError(f"{out}: cannot write the report: {err.strerror or err}") from None
    return written
