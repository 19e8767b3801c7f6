"""Machine-readable renderings of a :class:`~pipeshield.supplychain.ScanResult`.

One module per format, each registering a ``render(result) -> str`` function; the CLI looks them
up by name, so a new format is one new file.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeshield.supplychain.results import ScanResult

__all__ = ["FORMATS", "register", "render"]

FORMATS: dict[str, Callable[[ScanResult], str]] = {}


def register(name: str) -> Callable[[Callable[[ScanResult], str]], Callable[[ScanResult], str]]:
    def add(fn: Callable[[ScanResult], str]) -> Callable[[ScanResult], str]:
        FORMATS[name] = fn
        return fn

    return add


_MODULES = {"json": "json_output", "sarif": "sarif_output"}


def render(result: ScanResult, name: str) -> str:
    """Render with the named format; only that format's module is imported (CLI start-up)."""
    import importlib

    if name not in FORMATS and name in _MODULES:
        importlib.import_module(f"pipeshield.supplychain.output.{_MODULES[name]}")
    return FORMATS[name](result)
