"""Mergeable summaries of a column, updated one chunk at a time in memory bounded by the chunk.

* :class:`NumericSketch`: count, nulls, exact min/max, mean and variance (Chan et al.'s parallel
  update), and a fixed-bin histogram whose range is set from the first chunk (padded by 5% of its
  span) with two open tail bins for values outside it. Quantiles are read off the histogram by
  linear interpolation inside a bin (the tails interpolate between the exact min/max and the range
  edge). Accuracy: inside the range a quantile is off by at most one bin width (span/``bins``, about
  1% of the first chunk's range with the default 100 bins); in the tails it is only as good as a
  linear guess, which is why the histogram's ``below``/``above`` counts are kept and shown.
* :class:`CategorySketch`: exact value counts up to ``max_tracked`` distinct values, then frozen
  (``overflow``): new values are counted together, so memory stays bounded on free text.
* :class:`Reservoir`: a seeded uniform sample of rows (Vitter's algorithm R, vectorised per chunk),
  used for the two-sample tests (KS, MMD) that need raw values.

    >>> s = NumericSketch(bins=10)
    >>> s.update(np.arange(100.0)); round(s.quantile(0.5))
    50
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CategorySketch", "NumericSketch", "Reservoir"]


@dataclass
class NumericSketch:
    bins: int = 100
    count: int = 0
    nulls: int = 0
    min: float = math.inf
    max: float = -math.inf
    mean: float = 0.0
    m2: float = 0.0
    integral: bool = True
    lo: float | None = None
    hi: float | None = None
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    below: int = 0
    above: int = 0

    def update(self, values: np.ndarray) -> None:
        """Add a chunk of values (NaN counts as null)."""
        values = np.asarray(values, dtype=np.float64)
        finite = values[~np.isnan(values)]
        self.nulls += int(values.size - finite.size)
        if finite.size == 0:
            return
        # A probe of the first values settles most float columns without a pass over the chunk.
        if self.integral and (not np.all(np.mod(finite[:256], 1) == 0) or not np.all(np.mod(finite, 1) == 0)):
            self.integral = False
        n, mean = finite.size, float(finite.mean())
        m2 = float(((finite - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.min, self.max = min(self.min, float(finite.min())), max(self.max, float(finite.max()))
        if self.lo is None:
            lo, hi = float(finite.min()), float(finite.max())
            pad = 0.05 * (hi - lo) if hi > lo else max(abs(lo), 1.0) * 0.5
            self.lo, self.hi = lo - pad, hi + pad
            self.counts = np.zeros(self.bins, dtype=np.int64)
        self.add_to_histogram(finite)

    def add_to_histogram(self, finite: np.ndarray) -> None:
        assert self.lo is not None and self.hi is not None
        counts, below, above = bin_values(finite, self.lo, self.hi, self.bins)
        self.counts += counts
        self.below += below
        self.above += above

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0

    def edges(self) -> np.ndarray:
        assert self.lo is not None and self.hi is not None
        return np.linspace(self.lo, self.hi, self.bins + 1)

    def quantile(self, q: float) -> float:
        """The q-quantile from the histogram (see the module docstring for its accuracy)."""
        if self.count == 0:
            return math.nan
        return float(quantile_from_histogram(self.to_histogram(), self.min, self.max, q))

    def to_histogram(self) -> dict[str, Any]:
        edges = self.edges() if self.lo is not None else np.zeros(0)
        return {"edges": [float(e) for e in edges], "counts": self.counts.tolist(), "below": self.below, "above": self.above}


def bin_values(finite: np.ndarray, lo: float, hi: float, bins: int) -> tuple[np.ndarray, int, int]:
    """Counts of ``finite`` in ``bins`` equal bins over [lo, hi], and the counts below and above."""
    below = int((finite < lo).sum())
    above = int((finite > hi).sum())
    inside = finite[(finite >= lo) & (finite <= hi)]
    idx = np.floor((inside - lo) * (bins / (hi - lo))).astype(np.int64)
    np.clip(idx, 0, bins - 1, out=idx)
    return np.bincount(idx, minlength=bins), below, above


def quantile_from_histogram(hist: dict[str, Any], vmin: float, vmax: float, q: float) -> float:
    """Interpolate the q-quantile from a profile histogram (with its below/above tails)."""
    edges = np.asarray(hist["edges"], dtype=np.float64)
    counts = np.asarray([hist["below"], *hist["counts"], hist["above"]], dtype=np.float64)
    lows = np.concatenate([[min(vmin, edges[0])], edges])
    highs = np.concatenate([edges, [max(vmax, edges[-1])]])
    total = counts.sum()
    if total == 0:
        return math.nan
    target = q * total
    cum = np.cumsum(counts)
    i = int(np.searchsorted(cum, target, side="left"))
    i = min(i, len(counts) - 1)
    before = cum[i] - counts[i]
    frac = 0.0 if counts[i] == 0 else (target - before) / counts[i]
    value = lows[i] + frac * (highs[i] - lows[i])
    return float(min(max(value, vmin), vmax))


@dataclass
class CategorySketch:
    max_tracked: int = 1000
    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0
    overflow: bool = False
    nulls: int = 0
    count: int = 0
    min_length: int | None = None
    max_length: int = 0
    total_length: int = 0

    def update(self, values: Any) -> None:
        """Add a chunk (a pandas Series of strings; nulls counted apart)."""
        nonnull = values.dropna().astype(str)
        self.nulls += int(len(values) - len(nonnull))
        self.count += len(nonnull)
        if len(nonnull) == 0:
            return
        lengths = nonnull.str.len()
        self.max_length = max(self.max_length, int(lengths.max()))
        low = int(lengths.min())
        self.min_length = low if self.min_length is None else min(self.min_length, low)
        self.total_length += int(lengths.sum())
        for value, n in nonnull.value_counts(sort=False).items():
            key = str(value)
            if key in self.counts:
                self.counts[key] += int(n)
            elif not self.overflow and len(self.counts) < self.max_tracked:
                self.counts[key] = int(n)
            else:
                self.overflow = True
                self.other += int(n)

    def top(self, k: int) -> dict[str, int]:
        items = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return dict(items[:k])


class Reservoir:
    """A uniform random sample of at most ``size`` rows of a float matrix, reproducible by seed."""

    def __init__(self, size: int, columns: int, seed: int) -> None:
        self.size = size
        self.data = np.empty((size, columns), dtype=np.float64)
        self.rows = np.empty(size, dtype=np.int64)
        self.seen = 0
        self._rng = np.random.default_rng(seed)

    @property
    def filled(self) -> int:
        return min(self.seen, self.size)

    def add(self, block: np.ndarray, start_row: int) -> None:
        m = len(block)
        take = min(max(self.size - self.seen, 0), m)
        if take:
            self.data[self.seen : self.seen + take] = block[:take]
            self.rows[self.seen : self.seen + take] = np.arange(start_row, start_row + take)
        if take < m:
            j = np.arange(self.seen + take, self.seen + m)
            slots = (self._rng.random(len(j)) * (j + 1)).astype(np.int64)
            accepted = np.flatnonzero(slots < self.size)
            if accepted.size:
                # Algorithm R replaces in order: for a slot hit twice, the later row wins.
                rev = accepted[::-1]
                uniq, first = np.unique(slots[rev], return_index=True)
                local = rev[first] + take
                self.data[uniq] = block[local]
                self.rows[uniq] = start_row + local
        self.seen += m

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """The sampled rows (values, row numbers), in row order."""
        n = self.filled
        order = np.argsort(self.rows[:n], kind="stable")
        return self.data[:n][order], self.rows[:n][order]
