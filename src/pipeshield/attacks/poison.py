"""Poisoned copies of a dataset, with the ground-truth mask a detector is scored against.

Four kinds, each poisoning ``rate`` x (number of rows) rows, capped by the rows it can use:

- ``random-flip``: chosen rows get a uniformly random *other* label;
- ``targeted-flip``: rows of class ``source`` are relabelled ``target`` (a targeted slice);
- ``backdoor``: BadNets (Gu et al. 2017): rows outside ``target`` get the trigger and label
  ``target``; a model trained on them answers ``target`` whenever the trigger is present;
- ``clean-label``: rows *of* class ``target`` get the trigger, labels unchanged, so every label
  stays correct and label-based defences (confident learning, review by eye) see nothing. This is
  the simple version: no adversarial perturbation or feature collision (Turner et al. 2019;
  Shafahi et al. 2018) to make the genuine features hard to learn, so the model leans on the
  trigger less and the attack succeeds less often than ``backdoor`` at the same rate.

    >>> result = poison(x, y, kind="backdoor", rate=0.05, target=0, trigger=trigger, seed=0)  # doctest: +SKIP
    >>> result.mask.sum() == round(0.05 * len(x))
    True
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeshield.attacks.triggers import Trigger
from pipeshield.errors import DatasetError

__all__ = ["PoisonKind", "PoisonResult", "poison"]


class PoisonKind(enum.StrEnum):
    RANDOM_FLIP = "random-flip"
    TARGETED_FLIP = "targeted-flip"
    BACKDOOR = "backdoor"
    CLEAN_LABEL = "clean-label"

    @property
    def needs_trigger(self) -> bool:
        return self in (PoisonKind.BACKDOOR, PoisonKind.CLEAN_LABEL)


@dataclass(frozen=True)
class PoisonResult:
    """The poisoned rows and labels, the mask (``True`` = poisoned) and a record of what was done."""

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def indices(self) -> np.ndarray:
        return np.flatnonzero(self.mask)


def _label(value: Any, classes: np.ndarray, option: str) -> Any:
    """A class given on the command line (as text) matched to the label values."""
    for c in classes:
        if str(c) == str(value):
            return c
    raise DatasetError(f"{option}: {value!r} is not a label in the data (labels: {', '.join(map(str, classes[:12]))})")


def poison(
    x: np.ndarray,
    y: np.ndarray,
    *,
    kind: PoisonKind | str,
    rate: float,
    source: Any = None,
    target: Any = None,
    trigger: Trigger | None = None,
    seed: int = 0,
) -> PoisonResult:
    """Poison ``rate`` of the rows of ``(x, y)`` (see the module docstring for each kind)."""
    kind = PoisonKind(kind)
    y = np.asarray(y)
    if not 0 < rate < 1:
        raise DatasetError(f"--rate: must be between 0 and 1, exclusive (got {rate})")
    classes = np.unique(y)
    if len(classes) < 2:
        raise DatasetError("the label has a single class; nothing to flip to")
    if kind is not PoisonKind.RANDOM_FLIP and target is None:
        raise DatasetError(f"--target: {kind} needs a target class")
    if kind is PoisonKind.TARGETED_FLIP and source is None:
        raise DatasetError("--source: targeted-flip needs a source class")
    if kind.needs_trigger and trigger is None:
        raise DatasetError(f"--trigger: {kind} needs a trigger")
    tgt = _label(target, classes, "--target") if target is not None else None
    src = _label(source, classes, "--source") if source is not None else None
    if src is not None and src == tgt:
        raise DatasetError("--source and --target are the same class")
    rng = np.random.default_rng(seed)
    wanted = round(rate * len(y))
    if kind is PoisonKind.RANDOM_FLIP:
        pool = np.arange(len(y))
    elif kind is PoisonKind.TARGETED_FLIP:
        pool = np.flatnonzero(y == src)
    elif kind is PoisonKind.BACKDOOR:
        pool = np.flatnonzero(y != tgt)
    else:
        pool = np.flatnonzero(y == tgt)
    count = min(wanted, len(pool))
    if count == 0:
        raise DatasetError(f"--rate: {rate} of {len(y)} rows poisons no row (or no row is eligible for {kind})")
    chosen = np.sort(rng.choice(pool, size=count, replace=False))
    x_out = np.array(x, copy=True)
    y_out = y.copy()
    if kind is PoisonKind.RANDOM_FLIP:
        for i in chosen:
            others = classes[classes != y[i]]
            y_out[i] = others[rng.integers(len(others))]
    elif kind in (PoisonKind.TARGETED_FLIP, PoisonKind.BACKDOOR):
        y_out[chosen] = tgt
    if kind.needs_trigger:
        assert trigger is not None
        x_out[chosen] = trigger.apply(x_out[chosen])
    mask = np.zeros(len(y), dtype=bool)
    mask[chosen] = True
    record: dict[str, Any] = {
        "kind": kind.value,
        "rate": rate,
        "requested_rows": wanted,
        "poisoned_rows": int(count),
        "seed": seed,
        "indices": chosen.tolist(),
    }
    if tgt is not None:
        record["target_class"] = tgt.item() if hasattr(tgt, "item") else tgt
    if src is not None:
        record["source_class"] = src.item() if hasattr(src, "item") else src
    if trigger is not None and kind.needs_trigger:
        record["trigger"] = trigger.to_dict()
    return PoisonResult(x_out, y_out, mask, record)
