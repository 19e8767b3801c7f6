"""Sanitize: write a cleaned copy of a dataset from a poison-scan, with a manifest of every change.

Each row the scan flagged is removed, or -- with ``relabel`` -- given confident learning's
suggested label when confident learning flagged it (a mislabelled row is still a useful example).
Rows flagged only by the backdoor or outlier detectors are always removed: relabelling a triggered
image leaves the trigger in the training set.

The scan must be of this very file: its SHA-256 is compared, so a scan of yesterday's data cannot
prune today's. The dataset and the manifest are both written atomically; the manifest
(``CHANGES.json``) lists, per changed row, its 0-based row in the input, the action (``removed`` or
``relabelled``), the old and new label, the detectors and the score that caused it.

    >>> summary = sanitize("train.csv", label="y", scan="scan.json", out="clean.csv",
    ...                    manifest="changes.json", relabel=True)      # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.core.files import atomic_write_text, sha256_file
from pipeshield.data.poisoning.files import read_labelled, write_changed
from pipeshield.errors import DatasetError

__all__ = ["SanitizeSummary", "relabel_allowed", "sanitize"]


@dataclass(frozen=True)
class SanitizeSummary:
    n_rows: int
    removed: int
    relabelled: int
    kept: int


def relabel_allowed(detectors: Iterable[str]) -> bool:
    """A flagged row may be relabelled (not removed) only when confident learning flagged it and no
    backdoor detector did: relabelling a triggered image leaves the trigger in the training set."""
    found = set(detectors)
    return "confident-learning" in found and found <= {"confident-learning", "near-duplicates", "outliers"}


def _read_scan(path: Path) -> dict[str, Any]:
    try:
        scan = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: scan file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{path}: not a poison-scan JSON file: {err}") from None
    if not isinstance(scan, dict) or not isinstance(scan.get("suspicious"), list):
        raise DatasetError(f"{path}: not a poison-scan JSON file (no 'suspicious' list)")
    return scan


def _same_label(value: Any, labels: np.ndarray) -> Any:
    """The suggested label (from JSON) in the dtype of the label column."""
    for existing in np.unique(labels):
        if str(existing) == str(value):
            return existing
    return value


def sanitize(
    data: Path | str,
    *,
    label: str,
    scan: Path | str,
    out: Path | str,
    manifest: Path | str,
    relabel: bool = False,
) -> SanitizeSummary:
    data, scan, out, manifest = Path(data), Path(scan), Path(out), Path(manifest)
    source = read_labelled(data, label)
    report = _read_scan(scan)
    digest, _ = sha256_file(data)
    if report.get("sha256") not in (None, digest):
        raise DatasetError(f"{scan}: was made on a different file than {data} (SHA-256 differs)",
                           hint="run poison-scan on this file again")
    if report.get("n_rows") not in (None, len(source)):
        raise DatasetError(f"{scan}: is for {report['n_rows']} rows but {data} has {len(source)}")
    n = len(source)
    keep = np.ones(n, dtype=bool)
    labels = source.labels.copy()
    changes = []
    for i, entry in enumerate(report["suspicious"]):
        row = entry.get("row") if isinstance(entry, dict) else None
        if not isinstance(row, int) or isinstance(row, bool) or not 0 <= row < n:
            raise DatasetError(f"{scan}: suspicious[{i}].row {row!r} is not a row of {data} (0..{n - 1})")
        detectors = list(entry.get("detectors", []))
        suggested = entry.get("suggested_label")
        change: dict[str, Any] = {
            "row": row,
            "old_label": _plain(source.labels[row]),
            "detectors": detectors,
            "score": entry.get("score"),
        }
        if relabel and suggested is not None and relabel_allowed(detectors):
            new = _same_label(suggested, source.labels)
            labels[row] = new
            change.update(action="relabelled", new_label=_plain(new),
                          reason="confident learning: the given label disagrees with out-of-fold predictions")
        else:
            keep[row] = False
            change.update(action="removed", new_label=None, reason=_reason(detectors))
        changes.append(change)
    changes.sort(key=lambda c: c["row"])
    write_changed(source, out, keep=keep, labels=labels)
    removed = int((~keep).sum())
    relabelled = len(changes) - removed
    record = {
        "input": str(data),
        "input_sha256": digest,
        "scan": str(scan),
        "output": str(out),
        "output_sha256": sha256_file(out)[0],
        "n_rows_in": n,
        "n_rows_out": int(keep.sum()),
        "removed": removed,
        "relabelled": relabelled,
        "note": "rows are 0-based rows of the input; the output keeps the input's order without the removed rows",
        "changes": changes,
    }
    atomic_write_text(manifest, json.dumps(record, indent=2) + "\n")
    return SanitizeSummary(n, removed, relabelled, int(keep.sum()))


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _reason(detectors: list[str]) -> str:
    why = {
        "confident-learning": "label disagrees with out-of-fold predictions",
        "spectral-signatures": "far out along the class's top activation direction (backdoor signature)",
        "activation-clustering": "in a small, well-separated activation cluster of its class (backdoor)",
        "outliers": "far from every other row",
        "near-duplicates": "near-duplicate of other rows (copies or conflicting labels)",
    }
    return "; ".join(why.get(d, d) for d in detectors) or "flagged by the scan"
