"""The format-handler registry: each format says how to recognise its bytes and how to scan them.

Handlers register themselves with :func:`register` and are tried in priority order; the first
whose ``sniff`` accepts the bytes scans them. Nothing here looks at file names: a pickle named
``.safetensors`` is a pickle. Containers call :meth:`Context.scan_member` for each member, which
detects the member's format the same way, one level deeper (bounded by the depth limit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pipeshield.supplychain.limits import ScanLimits
from pipeshield.supplychain.results import ScanFinding

__all__ = ["Context", "Handler", "Scanned", "handlers", "register", "scan_buffer"]


@dataclass
class Scanned:
    """What one handler made of one buffer."""

    format: str
    findings: list[ScanFinding] = field(default_factory=list)


class Handler(Protocol):
    name: str

    def sniff(self, data: memoryview) -> bool: ...

    def scan(self, data: memoryview, ctx: Context) -> Scanned: ...


@dataclass
class Context:
    """Shared by every buffer of one file: limits, the deadline, depth and a decompression budget."""

    limits: ScanLimits
    path: Path | None = None
    depth: int = 0
    deadline: float = 0.0
    inflated: list[int] = field(default_factory=lambda: [0])

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.limits.max_seconds

    def deeper(self) -> Context:
        return Context(self.limits, self.path, self.depth + 1, self.deadline, self.inflated)

    def scan_member(self, name: str, data: bytes | memoryview) -> Scanned:
        """Scan an archive member; its findings come back located in ``name``."""
        if self.depth + 1 > self.limits.max_archive_depth:
            return Scanned("archive", [ScanFinding(
                "PS-ARCHIVE-DEPTH", f"archives nested more than {self.limits.max_archive_depth} deep",
                member=name)])
        scanned = scan_buffer(memoryview(data), self.deeper())
        return Scanned(scanned.format, [f.in_member(name) for f in scanned.findings])


_REGISTRY: list[tuple[int, Handler]] = []


def register(priority: int) -> Callable[[type], type]:
    """Class decorator: instantiate the handler and try it at ``priority`` (lower first)."""

    def add(cls: type) -> type:
        _REGISTRY.append((priority, cls()))
        _REGISTRY.sort(key=lambda item: item[0])
        return cls

    return add


def handlers() -> list[Handler]:
    return [h for _, h in _REGISTRY]


def scan_buffer(data: memoryview, ctx: Context) -> Scanned:
    """Detect the format of ``data`` from its content and scan it with that format's handler."""
    for handler in handlers():
        if handler.sniff(data):
            return handler.scan(data, ctx)
    return Scanned("unknown", [ScanFinding(
        "PS-FMT-UNKNOWN", "the content matches no known format; it was not analysed")])
