"""Backdoor triggers: a BadNets patch for images, a value pattern for tables.

A trigger is a deterministic edit of the input that the poisoned model learns to map to the
target class. Both kinds are frozen dataclasses with ``apply(x) -> x'`` on rows of flattened
features, and ``to_dict()`` for the ground-truth record written beside the poisoned data.

    >>> t = PatchTrigger(image_shape=(8, 8), size=2, position="bottom-right", value=1.0)
    >>> t.apply(np.zeros((1, 64), dtype=np.float32)).reshape(8, 8)[7, 7]
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from pipeshield.errors import DatasetError

__all__ = ["PatchTrigger", "Trigger", "ValueTrigger", "value_trigger_for"]

_POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")


class Trigger(Protocol):
    def apply(self, x: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class PatchTrigger:
    """A ``size`` x ``size`` square of ``value`` in a corner of every channel (Gu et al., BadNets 2017).

    ``image_shape`` is ``(H, W)`` or ``(C, H, W)``; rows are flattened images in that order.
    """

    image_shape: tuple[int, ...]
    size: int = 2
    position: str = "bottom-right"
    value: float = 1.0

    def __post_init__(self) -> None:
        if len(self.image_shape) not in (2, 3) or any(d <= 0 for d in self.image_shape):
            raise DatasetError(f"trigger: image shape must be H,W or C,H,W (got {self.image_shape})")
        h, w = self.image_shape[-2:]
        if not 1 <= self.size <= min(h, w):
            raise DatasetError(f"trigger: patch size {self.size} does not fit a {h}x{w} image")
        if self.position not in _POSITIONS:
            raise DatasetError(f"trigger: position {self.position!r} (expected one of {', '.join(_POSITIONS)})")

    def _slices(self) -> tuple[slice, slice]:
        h, w = self.image_shape[-2:]
        rows = slice(h - self.size, h) if self.position.startswith("bottom") else slice(0, self.size)
        cols = slice(w - self.size, w) if self.position.endswith("right") else slice(0, self.size)
        return rows, cols

    def apply(self, x: np.ndarray) -> np.ndarray:
        per_row = int(np.prod(self.image_shape))
        flat = np.asarray(x).reshape(len(x), -1)
        if flat.shape[1] != per_row:
            raise DatasetError(f"trigger: rows have {flat.shape[1]} values, image shape {self.image_shape} needs {per_row}")
        img = flat.copy().reshape(len(x), *self.image_shape)
        rows, cols = self._slices()
        img[..., rows, cols] = self.value
        return img.reshape(np.shape(x))

    def to_dict(self) -> dict[str, Any]:
        rows, cols = self._slices()
        return {
            "kind": "patch",
            "image_shape": list(self.image_shape),
            "size": self.size,
            "position": self.position,
            "value": self.value,
            "pixels_row_col": [[r, c] for r in range(rows.start, rows.stop) for c in range(cols.start, cols.stop)],
        }


@dataclass(frozen=True)
class ValueTrigger:
    """Set a few feature columns to fixed values (the tabular analogue of a patch)."""

    columns: tuple[int, ...]
    values: tuple[float, ...]
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.columns or len(self.columns) != len(self.values):
            raise DatasetError("trigger: a value pattern needs one value per column, and at least one column")

    def apply(self, x: np.ndarray) -> np.ndarray:
        out = np.array(x, copy=True)
        if max(self.columns) >= out.shape[1]:
            raise DatasetError(f"trigger: column {max(self.columns)} is beyond the {out.shape[1]} features")
        out[:, list(self.columns)] = np.asarray(self.values, dtype=out.dtype)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "value", "columns": list(self.columns), "names": list(self.names), "values": list(self.values)}


def value_trigger_for(x: np.ndarray, *, n_columns: int = 3, names: tuple[str, ...] = (), seed: int = 0) -> ValueTrigger:
    """A value pattern on ``n_columns`` random columns, each set to its observed maximum plus
    one standard deviation: rare, so the model can learn it, but within a plausible range."""
    rng = np.random.default_rng(seed)
    d = x.shape[1]
    cols = tuple(int(c) for c in np.sort(rng.choice(d, size=min(n_columns, d), replace=False)))
    vals = tuple(float(x[:, c].max() + x[:, c].std()) for c in cols)
    return ValueTrigger(cols, vals, tuple(names[c] for c in cols) if names else ())
