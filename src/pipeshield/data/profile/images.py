"""Per-image summary features, so image arrays are profiled without one column per pixel.

A 224x224x3 image has 150,528 pixels; a column per pixel would make the profile huge and the
per-column tests meaningless. Instead each image becomes a handful of derived columns: its global
``pixel.min``, ``pixel.max``, ``pixel.mean``, ``pixel.std`` and, for colour images, each channel's
mean and standard deviation. Range checks on ``pixel.min``/``pixel.max`` find images with pixels
outside the trusted range (a stamped trigger, a wrong scale), and drift tests on the channel
statistics find batches from another camera or preprocessing.

Channels are taken from the last axis for ``(H, W, C)`` and the first for ``(C, H, W)`` when
``C`` is 1, 3 or 4; anything else is one channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeshield.data.reading import ImageLayout

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["image_summary"]


def _channel_axis(shape: tuple[int, ...]) -> int | None:
    if len(shape) == 3 and shape[-1] in (1, 3, 4):
        return 3
    if len(shape) == 3 and shape[0] in (1, 3, 4):
        return 1
    return None


def image_summary(arrays: np.ndarray, layout: ImageLayout) -> pd.DataFrame:
    """One row of summary features per image (``arrays`` has the row axis first)."""
    import pandas as pd

    rows = arrays.shape[0]
    flat = arrays.reshape(rows, -1).astype(np.float64, copy=False)
    columns = {
        "pixel.min": flat.min(axis=1),
        "pixel.max": flat.max(axis=1),
        "pixel.mean": flat.mean(axis=1),
        "pixel.std": flat.std(axis=1),
    }
    axis = _channel_axis(layout.shape)
    if axis is not None:
        channels = arrays.shape[axis]
        if channels > 1:
            moved = np.moveaxis(arrays, axis, 1).reshape(rows, channels, -1).astype(np.float64, copy=False)
            for c in range(channels):
                columns[f"channel{c}.mean"] = moved[:, c].mean(axis=1)
                columns[f"channel{c}.std"] = moved[:, c].std(axis=1)
    return pd.DataFrame(columns)
