"""Scanning a dataset for PII and secrets: its text columns, its column names and its file name.

A dataset that holds e-mail addresses or API keys leaks them to everyone who can read the data,
the model (memorisation) or the report. The scan streams the file in chunks and keeps, per column
and detector, the count, the first few rows and a few *masked* examples; raw values never leave
this module.

    >>> hits = scan_pii("incoming.csv")                          # doctest: +SKIP
    >>> [(h.column, h.detector, h.count, h.examples) for h in hits]  # doctest: +SKIP
    [('contact_email', 'email', 86, ('pa******@example.org', ...))]

Numeric columns are not scanned (a float is not an e-mail), which also means a card number stored
as an integer column is missed; text-typed ID columns are scanned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.data.leakage.detectors import DETECTORS, scan_text
from pipeshield.data.profile.types import is_text_dtype
from pipeshield.data.reading import DEFAULT_CHUNK_ROWS, detect_format, iter_chunks

__all__ = ["PiiHit", "scan_pii"]

FILE_NAME = "(file name)"
COLUMN_NAMES = "(column names)"


@dataclass
class PiiHit:
    column: str
    detector: str
    kind: str
    count: int = 0
    rows: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "detector": self.detector, "kind": self.kind, "count": self.count,
                "rows": list(self.rows), "examples": list(self.examples)}


class _Hits:
    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.by_key: dict[tuple[str, str], PiiHit] = {}

    def add(self, column: str, row: int | None, text: str) -> None:
        for match in scan_text(text):
            hit = self.by_key.setdefault((column, match.detector), PiiHit(column, match.detector, match.kind))
            hit.count += 1
            if row is not None and len(hit.rows) < self.keep and (not hit.rows or hit.rows[-1] != row):
                hit.rows.append(row)
            if len(hit.examples) < 3 and match.masked not in hit.examples:
                hit.examples.append(match.masked)


def scan_pii(path: Path | str, *, fmt: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
             keep_rows: int = 5, x_key: str = "x") -> list[PiiHit]:
    """PII and secrets in ``path``; NPZ arrays are numbers, so only their names are scanned."""
    path = Path(path)
    hits = _Hits(keep_rows)
    hits.add(FILE_NAME, None, path.name)
    kind = detect_format(path, fmt)
    if kind == "npz":
        import zipfile

        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                hits.add(COLUMN_NAMES, None, name.removesuffix(".npy"))
        return _ordered(hits)
    named = False
    for chunk in iter_chunks(path, fmt=kind, chunk_rows=chunk_rows, x_key=x_key):
        frame = chunk.frame
        if not named:
            for column in frame.columns:
                hits.add(COLUMN_NAMES, None, str(column))
            named = True
        for column in frame.columns:
            series = frame[column]
            if not is_text_dtype(series):
                continue
            values = series.dropna().astype(str)
            # Cheap prefilter: only cells with a character some detector needs go to the regexes.
            candidate = values[values.str.contains(r"[@\d]|-----BEGIN|xox|gh[pousr]_|github_pat_", regex=True)]
            positions = np.asarray([series.index.get_loc(i) for i in candidate.index], dtype=np.int64)
            for pos, text in zip(positions, candidate.to_numpy()):
                hits.add(str(column), chunk.start + int(pos), text)
    return _ordered(hits)


def _ordered(hits: _Hits) -> list[PiiHit]:
    order = list(DETECTORS)
    return sorted(hits.by_key.values(), key=lambda h: (h.kind != "secret", h.column, order.index(h.detector)))
