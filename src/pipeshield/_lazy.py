"""Lazy package attributes: a package names what it exports, and each name is imported on first use.

Importing ``pipeshield`` or an attack package must stay cheap (the CLI starts in milliseconds and
the audit registers every check without importing torch), so packages export through a table of
``name -> module`` instead of importing their modules up front:

    >>> __getattr__ = lazy_getattr(__name__, {"evaluate": "api"})  # doctest: +SKIP

A module is relative to the package unless it starts with ``pipeshield.``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``table[name]`` and caches the value."""

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        path = module if module.startswith("pipeshield.") or module == "pipeshield" else f"{package}.{module}"
        value = getattr(importlib.import_module(path), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
