"""An offline OSV database: a folder of OSV JSON files, or a zip of them as OSV publishes per
ecosystem (``https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip``).

The whole export is read once and indexed by canonical package name; only PyPI entries are kept.
Any file that is not valid JSON or not an OSV record stops the audit with its name: an audit that
silently drops part of its database would under-report.

    >>> OfflineOSV("osv/PyPI-all.zip").query([dep])          # doctest: +SKIP
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipeshield.errors import ArtifactError
from pipeshield.supplychain.deps.model import Dependency
from pipeshield.supplychain.deps.osv import Match, check_record, match, pypi_names

__all__ = ["OfflineOSV"]

_MAX_RECORD = 16 << 20  # bytes; a real OSV record is a few KB


def _load(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{where}: not valid JSON ({err})") from None


def _records_in_folder(root: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(root.rglob("*.json")):
        if path.is_file():
            try:
                yield str(path), path.read_bytes()
            except OSError as err:
                raise ArtifactError(f"{path}: cannot read the OSV record ({err.strerror})") from None


def _records_in_zip(path: Path) -> Iterator[tuple[str, bytes]]:
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                if info.file_size > _MAX_RECORD:
                    raise ArtifactError(f"{path}!{info.filename}: {info.file_size} bytes, too large for an OSV record")
                yield f"{path}!{info.filename}", archive.read(info)
    except (zipfile.BadZipFile, OSError) as err:
        raise ArtifactError(f"{path}: not a readable OSV zip export ({err})") from None


class OfflineOSV:
    """An OSV export on disk (folder of ``*.json`` or a ``.zip``); loaded on first query."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise ArtifactError(f"OSV database not found: {self.path}",
                                hint="give a folder of OSV JSON files or OSV's PyPI/all.zip")
        self._index: dict[str, list[dict[str, Any]]] | None = None

    @property
    def name(self) -> str:
        return f"osv-offline:{self.path}"

    def _records(self) -> Iterator[tuple[str, bytes]]:
        if self.path.is_dir():
            return _records_in_folder(self.path)
        return _records_in_zip(self.path)

    def index(self) -> dict[str, list[dict[str, Any]]]:
        """Records by canonical PyPI name (built once)."""
        if self._index is None:
            index: dict[str, list[dict[str, Any]]] = {}
            count = 0
            for where, data in self._records():
                raw = _load(data, where)
                for record in raw if isinstance(raw, list) else [raw]:
                    checked = check_record(record, where)
                    count += 1
                    for name in pypi_names(checked):
                        index.setdefault(name, []).append(checked)
            if count == 0:
                raise ArtifactError(f"{self.path}: no OSV records found (expected *.json files)")
            self._index = index
        return self._index

    def query(self, dependencies: Sequence[Dependency]) -> dict[Dependency, list[Match]]:
        index = self.index()
        out: dict[Dependency, list[Match]] = {}
        for dep in dependencies:
            if dep.version is None:
                continue
            out[dep] = [m for r in index.get(dep.key, []) if (m := match(r, dep.name, dep.version))]
        return out
