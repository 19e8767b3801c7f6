"""The detector registry, the data every detector reads, and the settings they share.

A detector is a function ``(data: PoisonData, config: ScanConfig) -> DetectorResult`` registered
with :func:`detector`. It declares whether it needs a trained model's penultimate activations
(``needs_features``): without them it is skipped with that reason, never silently dropped.

    @detector("my-detector", needs_features=False)
    def my_detector(data: PoisonData, config: ScanConfig) -> DetectorResult: ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pipeshield.data.poisoning.results import DetectorResult
from pipeshield.errors import CheckError, DatasetError

__all__ = ["DETECTORS", "DetectorSpec", "PoisonData", "ScanConfig", "detector", "encode_labels", "run_detectors"]


class ScanConfig(BaseModel):
    """Settings of every detector; the audit check's ``Settings`` and the CLI options map onto it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    folds: int = Field(default=5, ge=2, le=20, description="cross-validation folds for out-of-fold probabilities")
    cl_model: Literal["auto", "svm", "logistic", "gradient-boosting", "mlp"] = Field(
        default="auto", description="model for out-of-fold probabilities (auto: SVM up to 10,000 rows, else logistic)")
    cl_rounds: int = Field(default=2, ge=1, le=5, description="confident learning: re-score without the issues found")
    cl_ranked_by: Literal["self_confidence", "normalized_margin"] = "self_confidence"
    spectral_z: float = Field(
        default=4.5, gt=0, description="spectral signatures: flag rows this many robust SDs out along the top direction")
    ac_max_relative_size: float = Field(default=0.35, gt=0, lt=0.5, description="activation clustering: largest poison cluster")
    ac_min_silhouette: float = Field(default=0.40, ge=-1, le=1, description="activation clustering: smallest silhouette")
    ac_dims: int = Field(default=10, ge=2, le=64, description="activation clustering: dimensions after PCA")
    outlier_z: float = Field(default=6.0, gt=0, description="outliers: robust z-score of the k-NN distance")
    duplicate_min_cluster: int = Field(default=3, ge=2, description="near-duplicates: smallest cluster reported")
    duplicate_radius: float = Field(default=0.01, ge=0, description="near-duplicates: max RMS distance in standard deviations")
    max_rows: int = Field(default=200_000, ge=10, description="refuse datasets larger than this")
    seed: int = 0


@dataclass(frozen=True)
class PoisonData:
    """A labelled dataset as detectors see it.

    ``y`` holds class indices ``0..K-1`` into ``classes`` (the original label values);
    ``image_shape`` is set for image data (rows are flattened pixels); ``features`` holds a trained
    model's penultimate activations, one row per example, when a model was given.
    """

    x: np.ndarray
    y: np.ndarray
    classes: np.ndarray
    image_shape: tuple[int, ...] | None = None
    features: np.ndarray | None = None
    source: str = "dataset"

    def __post_init__(self) -> None:
        if self.x.ndim != 2:
            raise DatasetError(f"{self.source}: expected one row of features per example (got shape {self.x.shape})")
        if len(self.y) != len(self.x):
            raise DatasetError(f"{self.source}: {len(self.x)} rows of features but {len(self.y)} labels")
        if len(self.x) == 0:
            raise DatasetError(f"{self.source}: the dataset has no rows")
        if self.features is not None and len(self.features) != len(self.x):
            raise DatasetError(f"{self.source}: {len(self.features)} activation rows for {len(self.x)} examples")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.x)


def encode_labels(labels: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels as indices into their sorted unique values (which are returned too)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise DatasetError(f"{where}: labels must be one value per row (got shape {labels.shape})")
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise DatasetError(f"{where}: the label has missing values")
    if labels.dtype.kind == "O":
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in labels):
            raise DatasetError(f"{where}: the label has missing values")
        labels = labels.astype(str)
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise DatasetError(f"{where}: the label has a single class; poisoning detection needs two or more")
    return y.astype(np.int64), classes


DetectorFn = Callable[[PoisonData, ScanConfig], DetectorResult]


@dataclass(frozen=True)
class DetectorSpec:
    name: str
    fn: DetectorFn
    needs_features: bool
    summary: str


DETECTORS: dict[str, DetectorSpec] = {}


def detector(name: str, *, needs_features: bool, summary: str) -> Callable[[DetectorFn], DetectorFn]:
    """Register a detector under ``name``."""

    def deco(fn: DetectorFn) -> DetectorFn:
        DETECTORS[name] = DetectorSpec(name, fn, needs_features, summary)
        return fn

    return deco


def _load_all() -> None:
    from pipeshield.data.poisoning import clustering, confident, duplicates, outliers, spectral  # noqa: F401


_NO_MODEL = "needs a torch model's penultimate activations (no model given)"


def run_detectors(
    data: PoisonData, config: ScanConfig, names: list[str] | None = None, *, no_features_reason: str = _NO_MODEL
) -> dict[str, DetectorResult]:
    """Run the named detectors (default: all), skipping, with the reason, those that cannot run."""
    _load_all()
    if len(data) > config.max_rows:
        raise DatasetError(
            f"{data.source}: {len(data)} rows is more than max_rows={config.max_rows}",
            hint="raise max_rows, or scan a sample of the rows",
        )
    chosen = list(DETECTORS) if names is None else names
    unknown = [n for n in chosen if n not in DETECTORS]
    if unknown:
        raise CheckError(f"unknown detector {unknown[0]!r} (known: {', '.join(DETECTORS)})")
    from threadpoolctl import threadpool_limits

    results: dict[str, DetectorResult] = {}
    # One BLAS/OpenMP thread: these are many small fits, where thread hand-offs cost ~30-100x
    # the arithmetic (measured: PCA + 2-means of 150 rows, 0.65 s threaded vs 0.015 s).
    with threadpool_limits(1):
        for name in chosen:
            spec = DETECTORS[name]
            if spec.needs_features and data.features is None:
                results[name] = DetectorResult.skip(name, len(data), no_features_reason)
            else:
                results[name] = spec.fn(data, config)
    return results

