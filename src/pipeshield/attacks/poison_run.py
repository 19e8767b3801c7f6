"""``pipeshield attack poison`` as a library call: read, poison, write, measure.

The poisoned copy is written in the input's format (every other column or array kept), and the
ground truth beside it as JSON::

    {"kind": "backdoor", "n_rows": 1203, "indices": [3, 17, ...], "target_class": 0,
     "trigger": {...}, "attack_success_rate": 0.99, ...}

which ``poison-scan --mask`` reads back. For backdoors the attack success rate is measured by
training a model on the poisoned rows (the ``--training`` callable, or the default model) and
triggering clean test rows: ``--test`` when given; otherwise a stratified quarter of the input is
held out, and the model trains on the poisoned copy of the other three quarters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.attacks.poison import PoisonKind, PoisonResult, poison
from pipeshield.attacks.success import measure_backdoor
from pipeshield.attacks.triggers import PatchTrigger, Trigger, value_trigger_for
from pipeshield.core.files import atomic_write_text
from pipeshield.data.poisoning.files import LabelledFile, read_labelled, write_changed
from pipeshield.errors import ConfigError, DatasetError

__all__ = ["PoisonRequest", "run_poison"]

_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True)
class PoisonRequest:
    dataset: Path
    label: str
    kind: str
    rate: float
    out: Path
    mask: Path
    source: str | None = None
    target: str | None = None
    trigger: str | None = None
    trigger_size: int = 2
    trigger_position: str = "bottom-right"
    trigger_value: float | None = None
    image_shape: tuple[int, ...] | None = None
    test: Path | None = None
    training: str | None = None
    measure: bool = True
    seed: int = 0


def _trigger(req: PoisonRequest, data: LabelledFile) -> Trigger | None:
    if not PoisonKind(req.kind).needs_trigger:
        return None
    kind = req.trigger or ("patch" if data.image_shape is not None else "value")
    if kind == "patch":
        if data.image_shape is None:
            raise DatasetError(f"{req.dataset}: a patch trigger needs images: give --image-shape H,W (or C,H,W)")
        value = float(data.x.max()) if req.trigger_value is None else req.trigger_value
        return PatchTrigger(tuple(data.image_shape), req.trigger_size, req.trigger_position, value)
    return value_trigger_for(data.x, names=data.feature_names, seed=req.seed)


def _training(ref: str | None) -> Any:
    if ref is None:
        return None
    if not _CALLABLE.match(ref):
        raise ConfigError(f"--training: expected 'module:function' (got {ref!r})")
    from pipeshield.core.pipeline import parse_pipeline, resolve_callable

    return resolve_callable(ref, parse_pipeline({}, Path.cwd() / "pipeshield.toml"), "--training")


def _held_out(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.unique(y, return_counts=True)[1]
    strat = y if counts.min() >= 2 else None
    train, test = train_test_split(idx, test_size=0.25, random_state=seed, stratify=strat)
    return np.sort(train), np.sort(test)


def run_poison(req: PoisonRequest) -> dict[str, Any]:
    """Poison ``req.dataset``, write the copy and the mask; return the summary (also in the mask)."""
    data = read_labelled(req.dataset, req.label, image_shape=req.image_shape)
    trigger = _trigger(req, data)
    training = _training(req.training)
    result = poison(data.x, data.labels, kind=req.kind, rate=req.rate, source=req.source, target=req.target,
                    trigger=trigger, seed=req.seed)
    summary: dict[str, Any] = {"dataset": str(req.dataset), "output": str(req.out), "n_rows": len(data), **result.record}
    if trigger is not None and req.measure:
        if req.test is not None:
            test = read_labelled(req.test, req.label, image_shape=data.image_shape)
            if test.x.shape[1] != data.x.shape[1]:
                raise DatasetError(f"{req.test}: rows have {test.x.shape[1]} features, {req.dataset} has {data.x.shape[1]}")
            train_part, x_test, y_test = result, test.x, test.labels
        else:
            tr, te = _held_out(data.labels, req.seed)
            train_part = PoisonResult(result.x[tr], result.y[tr], result.mask[tr])
            x_test, y_test = data.x[te], data.labels[te]
        measured = measure_backdoor(train_part, x_test, y_test, trigger=trigger, target=req.target,
                                    image_shape=data.image_shape, training=training, seed=req.seed)
        summary.update(measured.to_dict())
        summary["test"] = str(req.test) if req.test else "a stratified 25% of the input, held out before training"
    write_changed(data, req.out, keep=np.ones(len(data), dtype=bool), labels=result.y, x=result.x)
    atomic_write_text(req.mask, json.dumps(summary, indent=2, default=_plain) + "\n")
    return summary


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else str(v)
