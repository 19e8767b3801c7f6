"""Sample adversarial examples as report evidence: what the attacker's change looks like.

A robust-accuracy number says how often; a sample says how little. Images become an ``images``
plot (clean input, adversarial input, and the perturbation on its own symmetric scale, so a change
of 0.1 is visible); tabular rows become a table of the features the attack changed most.
Only real, verified adversarial examples are shown: the caller passes the model's prediction on
each adversarial input, and inputs it did not flip are dropped here.

    >>> ev = sample_evidence(x, x_adv, y, pred, input_shape=(1, 8, 8), eps=0.1, norm="linf")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeshield.core.findings import Evidence

__all__ = ["sample_evidence"]

_TOP_FEATURES = 5


def _name(classes: Sequence[Any] | None, index: int) -> str:
    if classes is not None and 0 <= index < len(classes):
        v = classes[index]
        return str(v.item() if hasattr(v, "item") else v)
    return str(index)


def _picture(flat: np.ndarray, input_shape: Sequence[int] | None) -> np.ndarray | None:
    """A 2-D grayscale picture of one input, or ``None`` when it is not an image."""
    if input_shape is None:
        return None
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        h, w = shape
        return flat.reshape(h, w)
    if len(shape) == 3 and shape[0] <= 4:  # (c, h, w): channels averaged
        return np.asarray(flat.reshape(shape).mean(axis=0))
    if len(shape) == 3 and shape[2] <= 4:  # (h, w, c)
        return np.asarray(flat.reshape(shape).mean(axis=2))
    return None


def sample_evidence(
    x: np.ndarray,
    x_adv: np.ndarray,
    y: np.ndarray,
    pred_adv: np.ndarray,
    *,
    eps: float,
    norm: str,
    input_shape: Sequence[int] | None = None,
    classes: Sequence[Any] | None = None,
    feature_names: Sequence[str] | None = None,
    clip: tuple[float, float] | None = None,
    k: int = 3,
) -> Evidence | None:
    """Evidence for up to ``k`` verified adversarial examples (``y``, ``pred_adv``: class indices)."""
    flat, adv = np.asarray(x, np.float64).reshape(len(x), -1), np.asarray(x_adv, np.float64).reshape(len(x), -1)
    keep = [i for i in range(len(flat)) if int(pred_adv[i]) != int(y[i])][:k]
    if not keep:
        return None
    label = f"Adversarial examples at eps {eps:g} ({norm})"
    pictures = [_picture(flat[i], input_shape) for i in keep]
    if all(p is not None for p in pictures):
        lo, hi = clip if clip is not None else (float(flat[keep].min()), float(flat[keep].max()))
        images: list[dict[str, Any]] = []
        for i in keep:
            clean_img, adv_img = _picture(flat[i], input_shape), _picture(adv[i], input_shape)
            assert clean_img is not None and adv_img is not None
            delta = adv_img - clean_img
            span = float(np.abs(delta).max()) or 1.0
            images += [
                {"label": f"clean: {_name(classes, int(y[i]))}", "pixels": np.round(clean_img, 4).tolist()},
                {"label": f"adversarial: {_name(classes, int(pred_adv[i]))}", "pixels": np.round(adv_img, 4).tolist()},
                {"label": "perturbation", "caption": f"\u00b1{span:.3g}", "pixels": np.round(delta, 4).tolist(),
                 "min": -span, "max": span},
            ]
        return Evidence("plot", label, data={"type": "images", "columns": 3, "min": lo, "max": hi, "images": images})
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(flat.shape[1])]
    rows = []
    for i in keep:
        change = adv[i] - flat[i]
        for j in np.argsort(-np.abs(change))[:_TOP_FEATURES]:
            if change[j] == 0:
                break
            rows.append([
                f"{_name(classes, int(y[i]))} \u2192 {_name(classes, int(pred_adv[i]))}",
                names[j], round(float(flat[i, j]), 6), round(float(adv[i, j]), 6), round(float(change[j]), 6),
            ])
    return Evidence("table", label, data={
        "columns": ["prediction (clean \u2192 adversarial)", "feature", "clean", "adversarial", "change"],
        "rows": rows,
    })
