"""Label leakage: a single feature that predicts the label almost perfectly.

A feature derived from the label (a diagnosis code next to the diagnosis, a "refund issued" flag
next to "fraud") makes a model look excellent in validation and fail in production, where the
feature does not exist yet. Each feature alone is scored by 3-fold cross-validation: a depth-2
decision tree for numbers (thresholds, so monotone and banded encodings are caught), a per-value
majority lookup for categories. A feature is flagged when its accuracy is at least ``threshold``
while the majority baseline is below it (for a numeric label with many values, R^2 instead of
accuracy). At most ``max_rows`` rows are used: a seeded uniform sample of larger files.

What it misses: leakage spread over several features (each weak alone), and identifiers that
leak through row order; a near-unique column (an ID) is skipped, since a lookup on it only memorises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.data.profile.learn import chunk_frame
from pipeshield.data.profile.types import is_text_dtype, numeric_values
from pipeshield.data.reading import DEFAULT_CHUNK_ROWS, iter_chunks
from pipeshield.errors import DatasetError

__all__ = ["FeatureScore", "LabelLeakResult", "find_label_leakage"]


@dataclass(frozen=True)
class FeatureScore:
    feature: str
    score: float
    method: str


@dataclass(frozen=True)
class LabelLeakResult:
    label: str
    task: str  # classification or regression
    baseline: float
    threshold: float
    rows_used: int
    leaking: tuple[FeatureScore, ...]
    top: tuple[FeatureScore, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def row(s: FeatureScore) -> dict[str, Any]:
            return {"feature": s.feature, "score": round(s.score, 6), "method": s.method}

        return {"label": self.label, "task": self.task, "baseline": round(self.baseline, 6), "threshold": self.threshold,
                "rows_used": self.rows_used, "leaking": [row(s) for s in self.leaking], "top": [row(s) for s in self.top]}


def _sample(path: Path, label: str, max_rows: int, seed: int, chunk_rows: int, x_key: str) -> Any:
    """A uniform sample of at most ``max_rows`` rows: keep each row with a rate halved whenever the
    kept rows overflow (and thin the kept ones by half), so the sample stays uniform and bounded."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rate, kept = 1.0, []
    total = 0
    label_key = label if path.suffix.lower() == ".npz" else None
    for chunk in iter_chunks(path, chunk_rows=chunk_rows, x_key=x_key, label_key=label_key):
        frame = chunk_frame(chunk)
        if total == 0 and label not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:12]))
            raise DatasetError(f"{path}: label column {label!r} not found (columns: {shown})")
        total += len(frame)
        part = frame if rate >= 1.0 else frame[rng.random(len(frame)) < rate]
        kept.append(part)
        while sum(len(k) for k in kept) > max_rows:
            rate /= 2
            kept = [k[rng.random(len(k)) < 0.5] for k in kept]
    return pd.concat(kept, ignore_index=True)


def find_label_leakage(
    path: Path | str, label: str, *, threshold: float = 0.99, max_rows: int = 20_000, seed: int = 0,
    chunk_rows: int = DEFAULT_CHUNK_ROWS, x_key: str = "x",
) -> LabelLeakResult:
    """Score every feature of ``path`` alone against ``label`` (see the module docstring)."""
    path = Path(path)
    frame = _sample(path, label, max_rows, seed, chunk_rows, x_key)
    y_raw = frame[label]
    frame = frame[y_raw.notna()]
    y_raw = y_raw[y_raw.notna()]
    if len(frame) < 6:
        raise DatasetError(f"{path}: too few labelled rows ({len(frame)}) to test for label leakage")
    regression = y_raw.dtype.kind == "f" and y_raw.nunique() > 20 and not np.all(np.mod(y_raw.to_numpy(), 1) == 0)
    y = y_raw.to_numpy(dtype=np.float64) if regression else y_raw.astype(str).to_numpy()
    if regression:
        baseline = 0.0
    else:
        _, counts = np.unique(y, return_counts=True)
        baseline = float(counts.max() / counts.sum())
    scores: list[FeatureScore] = []
    for column in frame.columns:
        if column == label:
            continue
        series = frame[column]
        if is_text_dtype(series):
            if series.nunique() > max(50, 0.5 * len(series)):
                continue  # an identifier: a lookup on it only memorises
            scores.append(FeatureScore(str(column), _lookup_cv(series.astype(str).to_numpy(), y, regression, seed), "category_lookup"))
        else:
            x = numeric_values(series).reshape(-1, 1)
            scores.append(FeatureScore(str(column), _tree_cv(x, y, regression, seed), "depth2_tree"))
    scores.sort(key=lambda s: -s.score)
    leaking = tuple(s for s in scores if s.score >= threshold and baseline < threshold)
    return LabelLeakResult(str(label), "regression" if regression else "classification", baseline, threshold,
                           len(frame), leaking, tuple(scores[:5]),
                           {"threshold": threshold, "max_rows": max_rows, "folds": 3, "seed": seed})


def _folds(y: np.ndarray, regression: bool, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if not regression:
        _, counts = np.unique(y, return_counts=True)
        if counts.min() >= 3:
            return list(StratifiedKFold(3, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return list(KFold(3, shuffle=True, random_state=seed).split(np.zeros(len(y))))


def _tree_cv(x: np.ndarray, y: np.ndarray, regression: bool, seed: int) -> float:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    scores = []
    for train, test in _folds(y, regression, seed):
        model = (DecisionTreeRegressor if regression else DecisionTreeClassifier)(max_depth=2, random_state=seed)
        model.fit(x[train], y[train])
        scores.append(float(model.score(x[test], y[test])))
    return float(np.mean(scores))


def _lookup_cv(x: np.ndarray, y: np.ndarray, regression: bool, seed: int) -> float:
    import pandas as pd

    scores = []
    for train, test in _folds(y, regression, seed):
        table = pd.DataFrame({"x": x[train], "y": y[train]})
        if regression:
            mapping = table.groupby("x")["y"].mean()
            fallback: Any = float(np.mean(y[train]))
            pred = pd.Series(x[test]).map(mapping).fillna(fallback).to_numpy(dtype=np.float64)
            resid = np.sum((y[test] - pred) ** 2)
            total = np.sum((y[test] - y[test].mean()) ** 2)
            scores.append(1 - resid / total if total > 0 else 0.0)
        else:
            mapping = table.groupby("x")["y"].agg(lambda s: s.value_counts().index[0])
            fallback = pd.Series(y[train]).value_counts().index[0]
            pred = pd.Series(x[test]).map(mapping).fillna(fallback).to_numpy()
            scores.append(float(np.mean(pred == y[test])))
    return float(np.mean(scores))
