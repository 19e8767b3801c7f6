"""``poison-scan``: run every applicable detector on a labelled file and rank the suspicious rows.

The JSON written by ``pipeshield data poison-scan FILE --label COLUMN --format json`` is a stable
interface (keys are only ever added)::

    {
      "file": "train.csv", "sha256": "...", "n_rows": 1203, "label": "label",
      "suspicious": [                       # only rows flagged at calibrated thresholds,
        {"row": 17,                         #   0-based row in FILE (header excluded)
         "score": 0.9993,                   #   in [0, 1]; most suspicious first
         "detectors": ["confident-learning", "spectral-signatures"],
         "label": 1, "suggested_label": 7}  #   suggested_label: from confident learning, or null
      ],
      "detectors": {"confident-learning": {"flagged": 52, "threshold": 0.61, "skipped": null,
                                            "suspicious_classes": [1], "metrics": {...}}, ...},
      "settings": {...}
    }

``score`` combines the detectors that flagged the row: each detector's raw score becomes its
percentile among the rows it scored, and the percentiles combine as a noisy-OR
(``1 - prod(1 - p)``), so a row two detectors agree on outranks a row only one flags. Ties are
broken by row number. ``metrics`` (precision, recall, F1, FPR) appear when ``--mask`` gives the
ground truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.core.files import sha256_file
from pipeshield.data.poisoning.files import LabelledFile, read_labelled
from pipeshield.data.poisoning.registry import PoisonData, ScanConfig, encode_labels, run_detectors
from pipeshield.data.poisoning.results import DetectionMetrics, DetectorResult, detection_metrics
from pipeshield.errors import DatasetError

__all__ = ["ScanReport", "SuspiciousRow", "combine", "load_mask", "scan_data", "scan_file"]


@dataclass(frozen=True)
class SuspiciousRow:
    row: int
    score: float
    detectors: tuple[str, ...]
    label: Any = None
    suggested_label: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "score": self.score,
            "detectors": list(self.detectors),
            "label": _plain(self.label),
            "suggested_label": _plain(self.suggested_label),
        }


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _percentiles(scores: np.ndarray) -> np.ndarray:
    """Each scored row's percentile (fraction of scored rows at or below it); nan stays nan."""
    out = np.full(len(scores), np.nan)
    ok = ~np.isnan(scores)
    if ok.any():
        vals = scores[ok]
        out[ok] = np.searchsorted(np.sort(vals), vals, side="right") / len(vals)
    return out


def combine(results: dict[str, DetectorResult], data: PoisonData) -> list[SuspiciousRow]:
    """Rows flagged by any detector, most suspicious first (see the module docstring)."""
    n = len(data)
    keep = np.ones(n)
    hits: dict[int, list[str]] = {}
    for name, res in results.items():
        if res.skipped or not res.flagged.any():
            continue
        pct = _percentiles(res.scores)
        for flagged_row in np.flatnonzero(res.flagged):
            hits.setdefault(int(flagged_row), []).append(name)
            keep[flagged_row] *= 1.0 - (0.0 if np.isnan(pct[flagged_row]) else pct[flagged_row])
    suggested = results.get("confident-learning")
    rows = []
    for row, names in hits.items():
        sug: Any = None
        if suggested is not None and suggested.suggested is not None and suggested.flagged[row]:
            sug = data.classes[suggested.suggested[row]]
        rows.append(SuspiciousRow(row, round(float(1.0 - keep[row]), 6), tuple(names), data.classes[data.y[row]], sug))
    rows.sort(key=lambda r: (-r.score, r.row))
    return rows


@dataclass(frozen=True)
class ScanReport:
    source: str
    n_rows: int
    results: dict[str, DetectorResult]
    suspicious: list[SuspiciousRow]
    config: ScanConfig
    metrics: dict[str, DetectionMetrics] = field(default_factory=dict)
    sha256: str | None = None
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        detectors = {}
        for name, res in self.results.items():
            entry: dict[str, Any] = {
                "flagged": int(res.flagged.sum()),
                "threshold": None if not np.isfinite(res.threshold) else round(float(res.threshold), 6),
                "skipped": res.skipped,
                "suspicious_classes": [_plain(c) for c in res.suspicious_classes],
                "details": res.details,
            }
            if name in self.metrics:
                entry["metrics"] = self.metrics[name].to_dict()
            detectors[name] = entry
        out: dict[str, Any] = {
            "file": self.source,
            "sha256": self.sha256,
            "n_rows": self.n_rows,
            "label": self.label,
            "suspicious": [r.to_dict() for r in self.suspicious],
            "detectors": detectors,
            "settings": self.config.model_dump(),
        }
        if "all" in self.metrics:
            out["metrics"] = self.metrics["all"].to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_plain) + "\n"


def scan_data(
    data: PoisonData,
    config: ScanConfig | None = None,
    *,
    detectors: list[str] | None = None,
    mask: np.ndarray | None = None,
    no_features_reason: str | None = None,
) -> ScanReport:
    """Run the detectors on arrays; with ``mask``, score each detector and the union."""
    config = config or ScanConfig()
    kwargs = {"no_features_reason": no_features_reason} if no_features_reason else {}
    results = run_detectors(data, config, detectors, **kwargs)
    suspicious = combine(results, data)
    metrics: dict[str, DetectionMetrics] = {}
    if mask is not None:
        for name, res in results.items():
            if not res.skipped:
                metrics[name] = res.metrics(mask)
        union = np.zeros(len(data), dtype=bool)
        union[[r.row for r in suspicious]] = True
        metrics["all"] = detection_metrics(union, mask)
    return ScanReport(data.source, len(data), results, suspicious, config, metrics)


def load_mask(path: Path | str, n_rows: int) -> np.ndarray:
    """A ground-truth mask from JSON: ``{"indices": [...]}`` (what ``attack poison --mask`` writes,
    and each entry of a demo's planted.json), ``{"mask": [true, false, ...]}`` or a bare list of
    booleans. Its length (or ``n_rows``) must match the dataset."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: mask file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: not a JSON mask: {err}") from None
    if isinstance(raw, dict) and "mask" in raw:
        raw = raw["mask"]
    if isinstance(raw, list):
        if len(raw) != n_rows:
            raise DatasetError(f"{path}: the mask has {len(raw)} entries but the dataset has {n_rows} rows")
        if not all(isinstance(v, bool) or v in (0, 1) for v in raw):
            raise DatasetError(f"{path}: mask entries must be true/false")
        return np.asarray(raw, dtype=bool)
    if not isinstance(raw, dict) or not isinstance(raw.get("indices"), list):
        raise DatasetError(f"{path}: expected {{\"indices\": [...]}}, {{\"mask\": [...]}} or a list of booleans")
    if "n_rows" in raw and raw["n_rows"] != n_rows:
        raise DatasetError(f"{path}: the mask is for {raw['n_rows']} rows but the dataset has {n_rows} rows")
    idx = raw["indices"]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in idx):
        raise DatasetError(f"{path}: indices must be whole numbers")
    bad = [i for i in idx if not 0 <= i < n_rows]
    if bad:
        raise DatasetError(f"{path}: index {bad[0]} is outside the dataset's {n_rows} rows")
    mask = np.zeros(n_rows, dtype=bool)
    mask[idx] = True
    return mask


def _model_features(
    model: Path, builder: str | None, input_shape: tuple[int, ...] | None, x: np.ndarray, trusted_types: list[str]
) -> tuple[np.ndarray | None, str | None]:
    """Penultimate activations of a model file, or why there are none."""
    from pipeshield.core.pipeline import parse_pipeline
    from pipeshield.core.targets import load_target
    from pipeshield.data.poisoning.activations import penultimate_activations

    spec: dict[str, Any] = {"path": str(Path(model).absolute())}
    if builder:
        spec["builder"] = builder
    if input_shape:
        spec["input_shape"] = list(input_shape)
    if trusted_types:
        spec["trusted_types"] = list(trusted_types)
    pipeline = parse_pipeline({"models": {"model": spec}}, Path.cwd() / "pipeshield.toml")
    target = load_target(pipeline, "model")
    if getattr(target, "module", None) is None:
        return None, f"{model}: not a torch model; backdoor detectors need penultimate activations"
    return penultimate_activations(target, x), None


def scan_file(
    path: Path | str,
    label: str,
    *,
    config: ScanConfig | None = None,
    model: Path | str | None = None,
    builder: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    mask: Path | str | None = None,
    detectors: list[str] | None = None,
    trusted_types: list[str] | None = None,
) -> ScanReport:
    """Scan a CSV, Parquet or NPZ file (see the module docstring for the JSON it renders to)."""
    source: LabelledFile = read_labelled(path, label)
    y, classes = encode_labels(source.labels, f"{path}: label {label!r}")
    truth = load_mask(mask, len(source)) if mask is not None else None
    features, reason = (None, None)
    if model is not None:
        features, reason = _model_features(Path(model), builder, input_shape or source.image_shape, source.x,
                                            trusted_types or [])
    data = PoisonData(source.x, y, classes, source.image_shape, features, str(path))
    report = scan_data(data, config, detectors=detectors, mask=truth, no_features_reason=reason)
    digest, _ = sha256_file(path)
    return ScanReport(str(path), report.n_rows, report.results, report.suspicious, report.config,
                      report.metrics, sha256=digest, label=label)
