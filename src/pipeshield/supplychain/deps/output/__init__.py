"""Machine-readable renderings of a :class:`~pipeshield.supplychain.deps.DepsReport`.

One module per format registers ``render(report, fail_on) -> str``; the CLI looks formats up by
name, so a new format is one new file (the text table lives in the CLI, it is for people).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from pipeshield.core.findings import Severity
from pipeshield.supplychain.deps.model import DepsReport

__all__ = ["FORMATS", "register", "render"]

Renderer = Callable[[DepsReport, Severity], str]
FORMATS: dict[str, Renderer] = {}
_MODULES = {"json": "json_output", "sarif": "sarif_output"}


def register(name: str) -> Callable[[Renderer], Renderer]:
    def add(fn: Renderer) -> Renderer:
        FORMATS[name] = fn
        return fn

    return add


def render(report: DepsReport, name: str, fail_on: Severity = Severity.HIGH) -> str:
    """Render with the named format; only that format's module is imported."""
    if name not in FORMATS and name in _MODULES:
        importlib.import_module(f"pipeshield.supplychain.deps.output.{_MODULES[name]}")
    return FORMATS[name](report, fail_on)
