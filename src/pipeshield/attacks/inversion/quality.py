"""How good are the reconstructions? Ask a model that was not attacked.

The attacked model is the worst judge of an MI-Face reconstruction: the descent maximised its
confidence, so an adversarial smear scores as well as a recognisable picture. :func:`judge` asks
an *independent* model instead, trained separately and of a different family (by default a
k-nearest-neighbour vote over the training images, :func:`train_evaluator`), and reports the
fraction of reconstructions it assigns to their target class (chance is ``1 / n_classes``), with
the distance of each reconstruction to its class's mean training image (root mean squared, in
input units) beside the distance to the nearest *other* class mean.

    >>> evaluator = train_evaluator(x_train, y_train)  # doctest: +SKIP
    >>> q = judge(results, evaluator, x_train, y_train)  # doctest: +SKIP
    >>> q.recognition_rate, q.chance  # doctest: +SKIP
    (0.9, 0.1)

:func:`reconstruction_images` turns the results into an ``images`` plot for the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from pipeshield.attacks.inversion.mi_face import InversionResult
from pipeshield.core.findings import Evidence

__all__ = ["EVALUATORS", "InversionQuality", "judge", "reconstruction_images", "train_evaluator"]

EVALUATORS = ("knn", "logistic")


@dataclass(frozen=True)
class InversionQuality:
    """The independent verdict: ``predicted[i]`` is the evaluator's class (column index) for the
    ``i``-th reconstruction, ``recognised[i]`` whether that is its target class."""

    target_classes: tuple[int, ...]
    predicted: tuple[int, ...]
    recognised: tuple[bool, ...]
    recognition_rate: float
    chance: float
    distance_to_class_mean: tuple[float, ...]
    distance_to_other_means: tuple[float, ...]
    evaluator: str

    @property
    def mean_distance_to_class_mean(self) -> float:
        return float(np.mean(self.distance_to_class_mean)) if self.distance_to_class_mean else float("nan")

    @property
    def closer_to_own_mean(self) -> float:
        """Fraction of reconstructions nearer their own class mean than to any other class mean."""
        pairs = zip(self.distance_to_class_mean, self.distance_to_other_means, strict=True)
        return float(np.mean([a < b for a, b in pairs])) if self.target_classes else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "evaluator": self.evaluator,
            "recognition_rate": round(self.recognition_rate, 6),
            "chance": round(self.chance, 6),
            "mean_distance_to_class_mean": round(self.mean_distance_to_class_mean, 6),
            "closer_to_own_mean": round(self.closer_to_own_mean, 6),
            "per_class": [
                {"target_class": t, "predicted": p, "recognised": r, "distance_to_class_mean": round(d, 6),
                 "distance_to_other_means": round(o, 6)}
                for t, p, r, d, o in zip(self.target_classes, self.predicted, self.recognised,
                                         self.distance_to_class_mean, self.distance_to_other_means, strict=True)
            ],
        }


def train_evaluator(x: Any, y: Any, kind: Literal["knn", "logistic"] = "knn", *, neighbours: int = 5) -> Any:
    """An independent judge trained on flat rows ``x`` and class indices ``y``: a k-nearest-
    neighbour vote (no gradients, so not fooled by the same perturbations as the attacked model),
    or a logistic regression."""
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if kind == "knn":
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(n_neighbors=min(neighbours, len(flat))).fit(flat, np.asarray(y))
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000).fit(flat, np.asarray(y))
    raise ValueError(f"evaluator must be one of {', '.join(EVALUATORS)}, got {kind!r}")


def judge(
    results: Sequence[InversionResult], evaluator: Any, x: Any, y: Any, *, name: str | None = None
) -> InversionQuality:
    """The independent evaluator's verdict on ``results``; ``x``, ``y`` (flat rows, class
    indices) give the class means. ``evaluator`` needs ``predict`` on flat rows -> class indices."""
    if not results:
        raise ValueError("no reconstructions to judge")
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    labels = np.asarray(y)
    recon = np.stack([np.asarray(r.reconstruction, dtype=np.float64).reshape(-1) for r in results])
    if recon.shape[1] != flat.shape[1]:
        raise ValueError(f"reconstructions have {recon.shape[1]} values, the data rows {flat.shape[1]}")
    targets = tuple(r.target_class for r in results)
    predicted = tuple(int(p) for p in np.asarray(evaluator.predict(recon)).reshape(-1))
    classes = sorted({int(c) for c in np.unique(labels)} | set(targets))
    means = {c: flat[labels == c].mean(axis=0) for c in classes if np.any(labels == c)}
    own, other = [], []
    for t, row in zip(targets, recon, strict=True):
        d = {c: float(np.sqrt(np.mean((row - m) ** 2))) for c, m in means.items()}
        own.append(d.get(t, float("nan")))
        rest = [v for c, v in d.items() if c != t]
        other.append(min(rest) if rest else float("nan"))
    recognised = tuple(p == t for p, t in zip(predicted, targets, strict=True))
    return InversionQuality(
        target_classes=targets, predicted=predicted, recognised=recognised,
        recognition_rate=float(np.mean(recognised)), chance=1.0 / max(len(classes), 1),
        distance_to_class_mean=tuple(own), distance_to_other_means=tuple(other),
        evaluator=name or type(evaluator).__name__,
    )


def _picture(flat: NDArray[np.float64], input_shape: Sequence[int]) -> NDArray[np.float64] | None:
    """A 2-D grayscale picture of one input (channels averaged), or ``None`` for other shapes."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        return flat.reshape(shape)
    if len(shape) == 3 and shape[0] <= 4:
        return np.asarray(flat.reshape(shape).mean(axis=0))
    if len(shape) == 3 and shape[2] <= 4:
        return np.asarray(flat.reshape(shape).mean(axis=2))
    return None


def reconstruction_images(
    results: Sequence[InversionResult], quality: InversionQuality, *, input_shape: Sequence[int],
    clip: tuple[float, float], classes: Sequence[Any] | None = None, label: str = "MI-Face reconstructions",
) -> Evidence | None:
    """An ``images`` plot: one picture per class, captioned with the independent verdict."""

    def name(i: int) -> str:
        if classes is not None and 0 <= i < len(classes):
            v = classes[i]
            return str(v.item() if hasattr(v, "item") else v)
        return str(i)

    images = []
    for r, pred, ok in zip(results, quality.predicted, quality.recognised, strict=True):
        pic = _picture(np.asarray(r.reconstruction, dtype=np.float64).reshape(-1), input_shape)
        if pic is None:
            return None
        verdict = "recognised" if ok else f"seen as {name(pred)}"
        images.append({
            "label": f"class {name(r.target_class)}",
            "caption": f"{verdict}; p={r.confidence:.2f}",
            "pixels": np.round(pic, 4).tolist(),
        })
    return Evidence("plot", label, data={
        "type": "images", "columns": min(len(images), 5), "min": float(clip[0]), "max": float(clip[1]),
        "images": images,
    })
