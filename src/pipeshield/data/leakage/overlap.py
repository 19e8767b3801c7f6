"""Train/test contamination: rows of the test set that also sit in the training set.

A test row copied into training data inflates test accuracy and hides overfitting; near-copies
(re-scaled, re-exported, jittered) do the same. Two passes at bounded cost:

* **exact**: a 64-bit hash of each row over the shared feature columns (the label excluded, numbers
  rounded to 7 significant digits so a float32 export or a CSV round trip still matches), train
  hashes sorted once and every test hash looked up (8 bytes per train row in memory);
* **near**: nearest neighbour (k-d tree) of each test row among the training rows, on numeric
  columns standardised by the training mean and standard deviation; a pair is a near-duplicate when
  the root-mean-square per-feature difference is at most ``near_distance`` standard deviations and
  the rows are not exact copies. Above ``max_rows`` training rows (or ``max_test_rows`` test rows) a
  seeded uniform sample is used, and the result says so.

    >>> result = find_overlap("train.csv", "test.parquet", label="diagnosis")   # doctest: +SKIP
    >>> result.exact_pairs[:3]                                                   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.data.profile.learn import chunk_frame
from pipeshield.data.profile.sketches import Reservoir
from pipeshield.data.profile.types import numeric_values
from pipeshield.data.reading import DEFAULT_CHUNK_ROWS, Chunk, iter_chunks
from pipeshield.errors import DatasetError

__all__ = ["OverlapResult", "find_overlap"]


@dataclass(frozen=True)
class OverlapResult:
    columns: tuple[str, ...]
    train_rows: int
    test_rows: int
    exact_pairs: tuple[tuple[int, int], ...]  # (train row, test row), at most max_pairs
    exact_test_rows: int                      # test rows with an exact copy in train
    near_pairs: tuple[tuple[int, int, float], ...] = ()
    near_test_rows: int = 0
    near_distance: float = 0.0
    sampled: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def contaminated_share(self) -> float:
        return (self.exact_test_rows + self.near_test_rows) / self.test_rows if self.test_rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": len(self.columns),
            "train_rows": self.train_rows,
            "test_rows": self.test_rows,
            "exact_test_rows": self.exact_test_rows,
            "exact_pairs": [{"train_row": a, "test_row": b} for a, b in self.exact_pairs],
            "near_test_rows": self.near_test_rows,
            "near_pairs": [{"train_row": a, "test_row": b, "distance": round(d, 6)} for a, b, d in self.near_pairs],
            "near_distance": self.near_distance,
            "sampled": self.sampled,
        }


def _round_sig(values: np.ndarray, digits: int = 7) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.floor(np.log10(np.abs(values)))
        mag = np.where(np.isfinite(mag), mag, 0.0)
        factor = 10.0 ** (digits - 1 - mag)
        return np.where(np.isfinite(values), np.round(values * factor) / factor, values)


def _hashes(frame: Any, columns: list[str], numeric: set[str]) -> np.ndarray:
    import pandas as pd

    normal = {}
    for c in columns:
        if c in numeric:
            normal[c] = _round_sig(numeric_values(frame[c]))
        else:
            s = frame[c]
            normal[c] = s.astype(object).where(s.notna(), "\x00").astype(str).to_numpy()
    return np.asarray(pd.util.hash_pandas_object(pd.DataFrame(normal), index=False).to_numpy(), dtype=np.uint64)


def _first(path: Path, chunk_rows: int, x_key: str, label: str | None) -> Chunk:
    return next(iter(iter_chunks(path, chunk_rows=chunk_rows, x_key=x_key, label_key=_npz_label(path, label))))


def _npz_label(path: Path, label: str | None) -> str | None:
    return label if path.suffix.lower() == ".npz" else None


def find_overlap(
    train: Path | str, test: Path | str, *, label: str | None = None, near_distance: float = 0.02,
    max_rows: int = 200_000, max_test_rows: int = 50_000, max_pairs: int = 1000, chunk_rows: int = DEFAULT_CHUNK_ROWS,
    seed: int = 0, x_key: str = "x", test_label: str | None = None,
) -> OverlapResult:
    """Exact and near-duplicate rows shared by ``train`` and ``test``."""
    train, test = Path(train), Path(test)
    test_label = test_label if test_label is not None else label
    head_train = chunk_frame(_first(train, chunk_rows, x_key, label))
    head_test = chunk_frame(_first(test, chunk_rows, x_key, test_label))
    drop = {label, test_label}
    columns = [str(c) for c in head_train.columns if c in head_test.columns and c not in drop]
    if not columns:
        raise DatasetError(f"{test}: shares no feature column with {train}: cannot compare their rows")
    numeric = {c for c in columns if head_train[c].dtype.kind in "biuf" and head_test[c].dtype.kind in "biuf"}
    num_cols = [c for c in columns if c in numeric]

    train_hashes: list[np.ndarray] = []
    train_sample = Reservoir(max_rows, len(num_cols), seed)
    n_train = 0
    for chunk in iter_chunks(train, chunk_rows=chunk_rows, x_key=x_key, label_key=_npz_label(train, label)):
        frame = chunk_frame(chunk)
        train_hashes.append(_hashes(frame, columns, numeric))
        if num_cols:
            train_sample.add(np.column_stack([numeric_values(frame[c]) for c in num_cols]), chunk.start)
        n_train += len(frame)
    hashes = np.concatenate(train_hashes)
    order = np.argsort(hashes, kind="stable")
    sorted_hashes = hashes[order]

    pairs: list[tuple[int, int]] = []
    exact_rows = 0
    exact_test: set[int] = set()
    test_sample = Reservoir(max_test_rows, len(num_cols), seed + 1)
    n_test = 0
    for chunk in iter_chunks(test, chunk_rows=chunk_rows, x_key=x_key, label_key=_npz_label(test, test_label)):
        frame = chunk_frame(chunk)
        h = _hashes(frame, columns, numeric)
        pos = np.searchsorted(sorted_hashes, h)
        pos = np.minimum(pos, len(sorted_hashes) - 1)
        hit = sorted_hashes[pos] == h
        exact_rows += int(hit.sum())
        for local in np.flatnonzero(hit):
            row = chunk.start + int(local)
            if len(exact_test) < max_test_rows:
                exact_test.add(row)
            if len(pairs) < max_pairs:
                pairs.append((int(order[pos[local]]), row))
        if num_cols:
            test_sample.add(np.column_stack([numeric_values(frame[c]) for c in num_cols]), chunk.start)
        n_test += len(frame)

    near: list[tuple[int, int, float]] = []
    sampled = n_train > max_rows or n_test > max_test_rows
    if num_cols:
        near = _near(train_sample, test_sample, exact_test, near_distance)
    return OverlapResult(
        columns=tuple(columns), train_rows=n_train, test_rows=n_test, exact_pairs=tuple(sorted(pairs, key=lambda p: p[1])),
        exact_test_rows=exact_rows, near_pairs=tuple(near[:max_pairs]), near_test_rows=len(near),
        near_distance=near_distance, sampled=sampled,
        settings={"near_distance": near_distance, "max_rows": max_rows, "max_test_rows": max_test_rows,
                  "significant_digits": 7, "seed": seed},
    )


def _near(train: Reservoir, test: Reservoir, exact: set[int], threshold: float) -> list[tuple[int, int, float]]:
    from sklearn.neighbors import NearestNeighbors

    x, x_rows = train.sample()
    y, y_rows = test.sample()
    if len(x) == 0 or len(y) == 0:
        return []
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std = np.where(std > 0, std, 1.0)
    xs = np.nan_to_num((x - mean) / std)
    ys = np.nan_to_num((y - mean) / std)
    nn = NearestNeighbors(n_neighbors=1, algorithm="kd_tree" if xs.shape[1] <= 30 else "auto").fit(xs)
    dist, idx = nn.kneighbors(ys)
    rms = dist[:, 0] / np.sqrt(xs.shape[1])
    out = []
    for j in np.flatnonzero(rms <= threshold):
        if int(y_rows[j]) in exact:
            continue
        out.append((int(x_rows[idx[j, 0]]), int(y_rows[j]), float(rms[j])))
    return out
