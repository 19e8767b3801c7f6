"""Sanitize-then-train: run the data defences on the training set, drop or relabel what they flag,
then train on what is left.

The detectors are :mod:`pipeshield.data.poisoning`'s, called the same way ``pipeshield data
poison-scan`` calls them (:func:`~pipeshield.data.poisoning.scan_data`), so a row removed here is a
row the scan lists. The backdoor detectors read a model's penultimate activations; when no
``features`` are given and the trainer returns a torch module, a *probe* model is first trained on
the raw (possibly poisoned) data and read -- it is also the undefended model, the baseline the
defence is measured against. Without features (a scikit-learn trainer) they are skipped, with the
reason in the result.

``action="relabel"`` gives a row confident learning's suggested label when only label detectors
flagged it (:func:`~pipeshield.data.poisoning.sanitize.relabel_allowed`, the rule ``pipeshield data
sanitize --relabel`` follows); rows a backdoor detector flagged are always removed.

    >>> model, result = sanitize_then_train(x, y, lambda x, y: train(x, y, seed=0),
    ...                                     input_shape=(1, 8, 8), action="drop")   # doctest: +SKIP
    >>> result.cleaning.removed.size, result.cleaning.metrics      # metrics: with mask=...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pipeshield.data.poisoning.registry import DETECTORS, PoisonData, ScanConfig, encode_labels
from pipeshield.data.poisoning.results import DetectionMetrics, detection_metrics
from pipeshield.data.poisoning.sanitize import relabel_allowed
from pipeshield.data.poisoning.scan import scan_data
from pipeshield.errors import ConfigError

__all__ = ["Action", "Cleaning", "SanitizeResult", "check_detectors", "clean", "sanitize_then_train", "torch_features"]

Action = Literal["drop", "relabel"]
ACTIONS = ("drop", "relabel")
TrainFn = Callable[[np.ndarray, np.ndarray], Any]


def check_detectors(names: Sequence[str] | None, *, option: str = "detectors") -> tuple[str, ...] | None:
    """Known detector names (``None``: all of them); an unknown one is a usage error listing the known."""
    from pipeshield.data.poisoning.registry import _load_all  # registers every detector

    _load_all()
    if names is None:
        return None
    chosen = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not chosen:
        raise ConfigError(f"{option}: name at least one detector (known: {', '.join(DETECTORS)})")
    unknown = [n for n in chosen if n not in DETECTORS]
    if unknown:
        raise ConfigError(f"{option}: unknown detector {unknown[0]!r} (known: {', '.join(DETECTORS)})")
    return chosen


def _check_action(action: str) -> Action:
    if action not in ACTIONS:
        raise ConfigError(f"action: expected drop or relabel (got {action!r})")
    return "drop" if action == "drop" else "relabel"


@dataclass(frozen=True)
class Cleaning:
    """What sanitizing changed: 0-based rows of the input removed or relabelled, and why."""

    action: str
    n_rows: int
    removed: np.ndarray
    relabelled: np.ndarray
    new_labels: np.ndarray
    flagged_by: dict[str, int]
    skipped: dict[str, str]
    unresolved_classes: tuple[Any, ...] = ()
    metrics: DetectionMetrics | None = None

    @property
    def keep(self) -> np.ndarray:
        keep = np.ones(self.n_rows, dtype=bool)
        keep[self.removed] = False
        return keep

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": self.action,
            "n_rows": self.n_rows,
            "removed": int(len(self.removed)),
            "relabelled": int(len(self.relabelled)),
            "kept": int(self.n_rows - len(self.removed)),
            "flagged_by": dict(self.flagged_by),
            "skipped": dict(self.skipped),
            "unresolved_classes": [_plain(c) for c in self.unresolved_classes],
            "removed_rows": [int(i) for i in self.removed],
            "relabelled_rows": {str(int(i)): _plain(v) for i, v in zip(self.relabelled, self.new_labels)},
        }
        if self.metrics is not None:
            out["metrics"] = self.metrics.to_dict()
        return out


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def clean(
    x: np.ndarray, y: np.ndarray, *, detectors: Sequence[str] | None = None, action: str = "drop",
    features: np.ndarray | None = None, image_shape: tuple[int, ...] | None = None, config: ScanConfig | None = None,
    mask: np.ndarray | None = None, no_features_reason: str | None = None,
) -> tuple[np.ndarray, np.ndarray, Cleaning]:
    """Scan ``(x, y)`` with the detectors and return the cleaned rows and labels, and what changed.

    ``metrics`` (with ``mask``, ``True`` = poisoned) scores every row the defence touched -- removed
    or relabelled -- as a detection: precision, recall and FPR.
    """
    act = _check_action(action)
    names = check_detectors(detectors)
    rows = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    labels = np.asarray(y)
    if mask is not None and len(mask) != len(rows):
        raise ConfigError(f"mask: has {len(mask)} entries but the data has {len(rows)} rows")
    y_idx, classes = encode_labels(labels, "labels")
    data = PoisonData(rows, y_idx, classes, image_shape, features, "training data")
    report = scan_data(data, config or ScanConfig(), detectors=list(names) if names else None,
                       no_features_reason=no_features_reason)
    removed, relabelled, new_labels = [], [], []
    for s in report.suspicious:
        if act == "relabel" and s.suggested_label is not None and relabel_allowed(s.detectors):
            relabelled.append(s.row)
            new_labels.append(s.suggested_label)
        else:
            removed.append(s.row)
    order = np.argsort(relabelled, kind="stable")
    rel = np.asarray(relabelled, dtype=np.int64)[order]
    new = np.asarray(new_labels, dtype=labels.dtype)[order] if new_labels else np.asarray([], dtype=labels.dtype)
    unresolved: list[Any] = []
    for res in report.results.values():
        unresolved.extend(res.details.get("unresolved_classes", []) or [])
    touched = np.zeros(len(rows), dtype=bool)
    touched[[s.row for s in report.suspicious]] = True
    cleaning = Cleaning(
        action=act, n_rows=len(rows), removed=np.sort(np.asarray(removed, dtype=np.int64)), relabelled=rel,
        new_labels=new,
        flagged_by={n: int(r.flagged.sum()) for n, r in report.results.items() if not r.skipped},
        skipped={n: r.skipped for n, r in report.results.items() if r.skipped},
        unresolved_classes=tuple(dict.fromkeys(unresolved)),
        metrics=detection_metrics(touched, np.asarray(mask, dtype=bool)) if mask is not None else None,
    )
    out_labels = labels.copy()
    out_labels[rel] = new
    keep = cleaning.keep
    return np.asarray(x)[keep], out_labels[keep], cleaning


def torch_features(model: Any, x: np.ndarray, input_shape: Sequence[int] | None) -> np.ndarray | None:
    """Penultimate activations of a trained torch module (``None`` for anything else)."""
    if not hasattr(model, "forward") or not hasattr(model, "parameters"):
        return None
    import copy

    from pipeshield.core.targets.torch import TorchTarget
    from pipeshield.data.poisoning.activations import penultimate_activations

    # TorchTarget freezes the parameters of the module it wraps: read a copy, leave the model as it was
    target = TorchTarget("probe", copy.deepcopy(model), input_shape=list(input_shape) if input_shape else None)
    return penultimate_activations(target, np.asarray(x, dtype=np.float32))


@dataclass(frozen=True)
class SanitizeResult:
    """The cleaning, and the probe (the model trained on the raw data, i.e. undefended) if one was trained."""

    cleaning: Cleaning
    probe: Any = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"cleaning": self.cleaning.to_dict(), "probe_trained": self.probe is not None}


_BACKDOOR_DETECTORS = ("spectral-signatures", "activation-clustering")


def sanitize_then_train(
    x: np.ndarray, y: np.ndarray, train_fn: TrainFn, *, detectors: Sequence[str] | None = None, action: str = "drop",
    features: np.ndarray | None = None, input_shape: Sequence[int] | None = None,
    image_shape: tuple[int, ...] | None = None, config: ScanConfig | None = None, mask: np.ndarray | None = None,
    final_train_fn: TrainFn | None = None,
) -> tuple[Any, SanitizeResult]:
    """Clean ``(x, y)`` with the data defences, then ``train_fn(x_clean, y_clean)``; returns the model.

    ``train_fn(x, y) -> model`` trains a fresh model (labels as given). When a backdoor detector is
    asked for (the default runs all of them) and no ``features`` are given, ``train_fn`` first trains
    the probe on the raw data; a torch module's activations at its classifier head are read (rows
    reshaped to ``input_shape``). ``final_train_fn`` (default ``train_fn``) trains the returned model,
    e.g. with loss trimming on top.
    """
    _check_action(action)
    names = check_detectors(detectors)
    if mask is not None and len(mask) != len(x):
        raise ConfigError(f"mask: has {len(mask)} entries but the data has {len(x)} rows")
    wants_features = names is None or any(n in _BACKDOOR_DETECTORS for n in names)
    probe = None
    reason = None
    if features is None and wants_features:
        probe = train_fn(x, y)
        features = torch_features(probe, x, input_shape)
        if features is None:
            reason = f"the trained model is a {type(probe).__name__}, not a torch module: no activations to read"
    x_clean, y_clean, cleaning = clean(x, y, detectors=names, action=action, features=features,
                                       image_shape=image_shape, config=config, mask=mask, no_features_reason=reason)
    model = (final_train_fn or train_fn)(x_clean, y_clean)
    return model, SanitizeResult(cleaning, probe)
