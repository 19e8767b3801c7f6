"""Learning a profile from trusted data, one chunk at a time.

Every statistic is updated chunk by chunk and merged (see :mod:`.sketches`), so peak memory is
about one chunk plus the sketches (a 100-bin histogram per numeric column, up to
``max_tracked`` category counts per text column, the row sample) plus 8 bytes per row for the
duplicate count: a row hash, not the row (8 MB per million rows).

    >>> profile = learn_profile("train.csv", label="diagnosis")          # doctest: +SKIP
    >>> save_profile(profile, "profile.json")                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.core.files import atomic_write_text, sha256_file
from pipeshield.data.profile.images import image_summary
from pipeshield.data.profile.model import ColumnProfile, Profile, SourceInfo
from pipeshield.data.profile.sketches import CategorySketch, NumericSketch, Reservoir
from pipeshield.data.profile.types import classify, is_text_dtype, numeric_values, widen
from pipeshield.data.reading import (
    DEFAULT_CHUNK_ROWS,
    Chunk,
    detect_format,
    iter_chunks,
    layout_is_flat,
)
from pipeshield.errors import DatasetError

__all__ = ["ProfileSettings", "chunk_frame", "learn_profile", "row_hashes", "save_profile"]

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


class ProfileSettings(BaseModel):
    """How a profile is learned; the defaults suit tables up to hundreds of millions of rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_rows: int = Field(default=DEFAULT_CHUNK_ROWS, ge=1, description="rows read at a time (bounds memory)")
    bins: int = Field(default=100, ge=4, le=10_000, description="histogram bins per numeric column")
    reservoir_rows: int = Field(default=2000, ge=10, le=1_000_000, description="rows kept as a sample for KS and MMD")
    max_categories: int = Field(default=50, ge=1, description="at most this many distinct values make a category")
    max_tracked: int = Field(default=1000, ge=1, description="distinct text values counted before freezing")
    seed: int = 0
    x_key: str = Field(default="x", description="NPZ array holding the features")


@dataclass
class _Column:
    name: str
    bins: int
    max_tracked: int
    type: str | None = None
    numbers: NumericSketch = field(init=False)
    text: CategorySketch = field(init=False)
    empty_nulls: int = 0
    dt_min: Any = None
    dt_max: Any = None
    dt_count: int = 0
    dt_nulls: int = 0

    def __post_init__(self) -> None:
        self.numbers = NumericSketch(bins=self.bins)
        self.text = CategorySketch(max_tracked=self.max_tracked)


def chunk_frame(chunk: Chunk) -> Any:
    """The columns a chunk is profiled and validated by: the table, or image summaries + label."""
    if chunk.layout is not None and chunk.arrays is not None and not layout_is_flat(chunk.layout):
        summary = image_summary(chunk.arrays, chunk.layout)
        for name in chunk.frame.columns:
            summary[name] = chunk.frame[name].to_numpy()
        return summary
    return chunk.frame


def row_hashes(frame: Any, numeric: set[str], chunk: Chunk | None = None) -> np.ndarray:
    """A 64-bit hash per row, stable across chunks (numbers hashed as float64, the rest as text)."""
    import pandas as pd

    if chunk is not None and chunk.arrays is not None and chunk.layout is not None and not layout_is_flat(chunk.layout):
        rows = chunk.arrays.reshape(len(chunk.arrays), -1)
        return np.asarray(
            [int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest(), "little") for r in rows],
            dtype=np.uint64,
        )
    normal = {}
    for name in frame.columns:
        series = frame[name]
        if name in numeric:
            normal[str(name)] = numeric_values(series)
        else:
            normal[str(name)] = series.astype(object).where(series.notna(), "\x00").astype(str).to_numpy()
    return np.asarray(pd.util.hash_pandas_object(pd.DataFrame(normal), index=False).to_numpy(), dtype=np.uint64)


class _Builder:
    def __init__(self, settings: ProfileSettings) -> None:
        self.s = settings
        self.columns: dict[str, _Column] = {}
        self.order: list[str] = []
        self.rows = 0
        self.hashes: list[np.ndarray] = []
        self.reservoir: Reservoir | None = None
        self.sample_columns: list[str] = []
        self.layout: dict[str, Any] | None = None
        self.kind = "table"

    def add(self, chunk: Chunk, where: str) -> None:
        frame = chunk_frame(chunk)
        if chunk.layout is not None:
            layout = {"shape": list(chunk.layout.shape), "dtype": chunk.layout.dtype}
            if self.layout is not None and self.layout != layout:
                raise DatasetError(f"{where}: examples of shape {layout['shape']} differ from the other sources' {self.layout['shape']}")
            self.layout = layout
            self.kind = "table" if layout_is_flat(chunk.layout) else "images"
        if not self.order:
            self.order = [str(c) for c in frame.columns]
            for name in self.order:
                self.columns[name] = _Column(name, self.s.bins, self.s.max_tracked)
        elif [str(c) for c in frame.columns] != self.order:
            raise DatasetError(f"{where}: columns differ from the first source's ({', '.join(self.order[:8])})")
        for name in self.order:
            self._add_column(self.columns[name], frame[name], chunk.start, where)
        numeric = {n for n in self.order if self.columns[n].type in ("int", "float")}
        if self.reservoir is None:
            self.sample_columns = [n for n in self.order if n in numeric]
            self.reservoir = Reservoir(self.s.reservoir_rows, len(self.sample_columns), self.s.seed)
        block = np.column_stack([numeric_values(frame[n]) for n in self.sample_columns]) if self.sample_columns else np.zeros((len(frame), 0))
        self.reservoir.add(block, self.rows)
        self.hashes.append(row_hashes(frame, numeric, chunk))
        self.rows += len(frame)

    def _add_column(self, col: _Column, series: Any, start: int, where: str) -> None:
        import pandas as pd

        if col.type == "float" and series.dtype.kind == "f":  # fast path: nothing can narrow a float column
            col.numbers.update(series.to_numpy(dtype=np.float64, na_value=np.nan))
            return
        ct = classify(series)
        if ct.kind == "mixed":
            raise DatasetError(
                f"{where}: column {col.name!r} has mixed types: row {start + (ct.bad_row or 0)} holds "
                f"{ct.bad_value!r} where most values are numbers",
                hint="fix or drop the bad values before profiling trusted data",
            )
        new = widen(col.type, ct.kind)
        if new is None:
            raise DatasetError(
                f"{where}: column {col.name!r} has mixed types: {col.type} values before row {start}, "
                f"{ct.kind} values from row {start}"
            )
        col.type = new
        if new in ("int", "float"):
            col.numbers.update(numeric_values(series))
        elif new in ("text", "bool"):
            col.text.update(series)
        elif new == "datetime":
            dates = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True) if is_text_dtype(series) else series
            ok = dates.dropna()
            col.dt_nulls += int(len(series) - len(ok))
            col.dt_count += len(ok)
            if len(ok):
                lo, hi = ok.min(), ok.max()
                col.dt_min = lo if col.dt_min is None else min(col.dt_min, lo)
                col.dt_max = hi if col.dt_max is None else max(col.dt_max, hi)
        else:  # a chunk with only nulls, before the type is known
            col.empty_nulls += len(series)

    def finish(self, sources: list[SourceInfo], label: str | None) -> Profile:
        columns = tuple(self._column_profile(self.columns[n]) for n in self.order)
        hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, dtype=np.uint64)
        assert self.reservoir is not None
        values, rows = self.reservoir.sample()
        return Profile(
            kind=self.kind,
            sources=tuple(sources),
            label=label,
            rows=self.rows,
            duplicate_rows=_duplicates(hashes),
            columns=columns,
            sample_columns=tuple(self.sample_columns),
            sample_rows=tuple(int(r) for r in rows),
            sample_values=values,
            layout=self.layout,
            settings=self.s.model_dump(),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def _column_profile(self, col: _Column) -> ColumnProfile:
        kind = col.type or "text"
        if kind in ("int", "float"):
            s = col.numbers
            kind = "int" if s.integral else "float"
            return ColumnProfile(
                name=col.name, type=kind, count=s.count, nulls=s.nulls + col.empty_nulls,
                min=s.min if s.count else None, max=s.max if s.count else None,
                mean=s.mean if s.count else None, std=s.std if s.count else None,
                quantiles={str(q): s.quantile(q) for q in QUANTILES} if s.count else None,
                histogram=s.to_histogram() if s.count else None,
            )
        if kind == "datetime":
            return ColumnProfile(
                name=col.name, type="datetime", count=col.dt_count, nulls=col.dt_nulls + col.empty_nulls,
                min=None if col.dt_min is None else col.dt_min.isoformat(),
                max=None if col.dt_max is None else col.dt_max.isoformat(),
            )
        t = col.text
        distinct = len(t.counts)
        is_category = kind == "bool" or (
            not t.overflow and distinct <= self.s.max_categories and distinct <= max(2, t.count // 2)
        )
        length = None
        if t.count:
            length = {"min": float(t.min_length or 0), "max": float(t.max_length), "mean": t.total_length / t.count}
        return ColumnProfile(
            name=col.name, type="bool" if kind == "bool" else ("category" if is_category else "text"),
            count=t.count, nulls=t.nulls + col.empty_nulls,
            # Free text keeps no values: a profile is shared and reviewed, and text holds PII.
            categories=t.top(self.s.max_categories) if is_category else None,
            categories_complete=is_category and not t.overflow,
            length=length,
        )


def _duplicates(hashes: np.ndarray) -> int:
    """Rows whose hash an earlier row already has (sorting 8-byte hashes, not rows)."""
    if len(hashes) < 2:
        return 0
    ordered = np.sort(hashes)
    return int((ordered[1:] == ordered[:-1]).sum())


def learn_profile(
    paths: Path | str | Sequence[Path | str],
    *,
    label: str | None = None,
    settings: ProfileSettings | None = None,
    fmt: str | None = None,
) -> Profile:
    """Profile one file (or several with the same columns, as one dataset) read in chunks."""
    settings = settings or ProfileSettings()
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not files:
        raise DatasetError("no file to profile")
    builder = _Builder(settings)
    sources = []
    for path in files:
        kind = detect_format(path, fmt)
        before = builder.rows
        first = True
        for chunk in iter_chunks(path, fmt=kind, chunk_rows=settings.chunk_rows, x_key=settings.x_key,
                                 label_key=label if kind == "npz" else None):
            if first and label is not None and label not in chunk.frame.columns:
                shown = ", ".join(map(str, list(chunk.frame.columns)[:12]))
                raise DatasetError(f"{path}: label column {label!r} not found (columns: {shown})")
            first = False
            builder.add(chunk, str(path))
        digest, _ = sha256_file(path)
        sources.append(SourceInfo(path.name, digest, kind, builder.rows - before))
    return builder.finish(sources, label)


def save_profile(profile: Profile, path: Path | str) -> None:
    """Write the profile atomically: a reader never sees half a profile."""
    atomic_write_text(path, profile.to_json())
