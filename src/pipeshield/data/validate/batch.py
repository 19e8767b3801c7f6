"""Streaming a batch against a profile: per-column counts, the rows that break a rule, histograms
on the profile's own bin edges, category counts and a row sample, one chunk at a time.

Only the first ``keep_rows`` offending row numbers (and values) are kept per rule, so memory stays
bounded however dirty the batch is; the counts are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeshield.data.profile.model import ColumnProfile, Profile
from pipeshield.data.profile.sketches import Reservoir, bin_values
from pipeshield.data.profile.types import is_text_dtype, numeric_values

__all__ = ["BatchColumn", "BatchStats", "Offenders"]


@dataclass
class Offenders:
    """How many rows broke a rule, and the first few (row number, value shown) of them."""

    keep: int
    count: int = 0
    rows: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def add(self, positions: np.ndarray, start: int, values: Any) -> None:
        self.count += len(positions)
        room = self.keep - len(self.rows)
        if room > 0 and len(positions):
            self.rows.extend(int(start + p) for p in positions[:room])
            self.values.extend(values[:room])


@dataclass
class BatchColumn:
    profile: ColumnProfile
    keep: int
    low: float | None = None
    high: float | None = None
    count: int = 0
    nulls: int = 0
    bad_type: Offenders = field(init=False)
    out_of_range: Offenders = field(init=False)
    unseen: Offenders = field(init=False)
    unseen_values: dict[str, int] = field(default_factory=dict)
    hist: np.ndarray | None = None
    below: int = 0
    above: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    seen_min: float = np.inf
    seen_max: float = -np.inf

    def __post_init__(self) -> None:
        self.bad_type, self.out_of_range, self.unseen = Offenders(self.keep), Offenders(self.keep), Offenders(self.keep)
        hist = self.profile.histogram
        if hist and hist["edges"]:
            self.hist = np.zeros(len(hist["counts"]), dtype=np.int64)

    def update(self, series: Any, start: int) -> None:
        kind = self.profile.type
        if kind in ("int", "float"):
            self._numeric(series, start)
        elif kind in ("category", "bool"):
            self._category(series, start)
        elif kind == "datetime":
            self._datetime(series, start)
        else:
            n = int(series.isna().sum())
            self.nulls += n
            self.count += len(series) - n

    def _numeric(self, series: Any, start: int) -> None:
        values = numeric_values(series)
        raw_null = series.isna().to_numpy()
        unparsed = np.isnan(values) & ~raw_null
        nonnull = ~np.isnan(values)
        bad = unparsed
        if self.profile.type == "int":
            bad = unparsed | (nonnull & (np.mod(np.where(nonnull, values, 0.0), 1) != 0))
        if bad.any():
            pos = np.flatnonzero(bad)[: self.keep]
            raw = series.iloc[pos]
            shown = [str(r)[:40] if u else float(v) for r, u, v in zip(raw, unparsed[pos], values[pos])]
            self.bad_type.add(np.flatnonzero(bad), start, shown)
        self.nulls += int(raw_null.sum())
        finite = values[nonnull]
        self.count += int(finite.size)
        if finite.size == 0:
            return
        self.seen_min, self.seen_max = min(self.seen_min, float(finite.min())), max(self.seen_max, float(finite.max()))
        if self.low is not None and self.high is not None:
            outside = nonnull & ((values < self.low) | (values > self.high))
            if outside.any():
                pos = np.flatnonzero(outside)
                self.out_of_range.add(pos, start, [float(v) for v in values[pos[: self.keep]]])
        hist = self.profile.histogram
        if self.hist is not None and hist:
            counts, below, above = bin_values(finite, hist["edges"][0], hist["edges"][-1], len(hist["counts"]))
            self.hist += counts
            self.below += below
            self.above += above

    def _category(self, series: Any, start: int) -> None:
        mask = series.isna().to_numpy()
        self.nulls += int(mask.sum())
        text = series.astype(object).where(~mask, None)
        nonnull = text[~mask].astype(str)
        self.count += len(nonnull)
        for value, n in nonnull.value_counts(sort=False).items():
            self.categories[str(value)] = self.categories.get(str(value), 0) + int(n)
        known = self.profile.categories or {}
        if self.profile.categories_complete and len(nonnull):
            new = ~nonnull.isin(list(known)).to_numpy()
            if new.any():
                positions = np.flatnonzero(~mask)[new]
                shown = [str(v)[:40] for v in nonnull.to_numpy()[new][: self.keep]]
                self.unseen.add(positions, start, shown)
                for v in nonnull.to_numpy()[new]:
                    if len(self.unseen_values) < 100 or str(v) in self.unseen_values:
                        self.unseen_values[str(v)] = self.unseen_values.get(str(v), 0) + 1

    def _datetime(self, series: Any, start: int) -> None:
        import pandas as pd

        mask = series.isna().to_numpy()
        self.nulls += int(mask.sum())
        if is_text_dtype(series):
            parsed = pd.to_datetime(series, errors="coerce", format="ISO8601", utc=True)
            bad = parsed.isna().to_numpy() & ~mask
            if bad.any():
                pos = np.flatnonzero(bad)
                self.bad_type.add(pos, start, [str(v)[:40] for v in series.iloc[pos[: self.keep]]])
            self.count += int((~mask & ~bad).sum())
        elif series.dtype.kind == "M":
            self.count += int((~mask).sum())
        else:
            pos = np.flatnonzero(~mask)
            self.bad_type.add(pos, start, [str(v)[:40] for v in series.iloc[pos[: self.keep]]])


class BatchStats:
    """Everything validation needs from a batch, accumulated chunk by chunk."""

    def __init__(self, profile: Profile, columns: list[str], *, keep: int, range_tolerance: float,
                 reservoir_rows: int, seed: int) -> None:
        self.profile = profile
        self.columns: dict[str, BatchColumn] = {}
        for name in columns:
            col = profile.column(name)
            bc = BatchColumn(col, keep)
            if col.numeric and isinstance(col.min, int | float) and isinstance(col.max, int | float):
                span = float(col.max) - float(col.min)
                bc.low, bc.high = float(col.min) - range_tolerance * span, float(col.max) + range_tolerance * span
            self.columns[name] = bc
        self.sample_columns = [c for c in profile.sample_columns if c in self.columns]
        self.reservoir = Reservoir(reservoir_rows, len(self.sample_columns), seed)
        self.rows = 0

    def update(self, frame: Any, start: int) -> None:
        for name, col in self.columns.items():
            col.update(frame[name], start)
        block = (np.column_stack([numeric_values(frame[n]) for n in self.sample_columns])
                 if self.sample_columns else np.zeros((len(frame), 0)))
        self.reservoir.add(block, start)
        self.rows += len(frame)
