"""Activation clustering (Chen et al., 2018): backdoored rows as a separate cluster of a class.

Per class, the penultimate activations are reduced to ``ac_dims`` dimensions (PCA: deterministic
and fast; Chen et al. use ICA, which on the demo splits the poison less cleanly) and split by
2-means. A clean class has one mode, or a few natural ones; a poisoned class has a second,
well-separated mode made of the triggered rows.

Judging the split is where naive implementations go wrong: "flag the smaller cluster" (ART's
default) flags a cluster in every class. Here a class is flagged only when its smaller cluster is
small (relative size < ``ac_max_relative_size``, Chen et al.'s 0.35) AND the split is real
(silhouette >= ``ac_min_silhouette``). The default 0.40 is calibrated on digits CNNs: clean
classes reach at most 0.35 (a second writing style of a 9), poisoned target classes 0.42-0.50
(measured in ``tests/data/poisoning`` and ``bench/poison_detection.py``).

We tried exclusionary reclassification (Chen et al.'s section 4.2: retrain without the cluster and
see whether it is still recognised) to judge large clusters too; with a fast linear model it
disowned clean sub-modes as often as poison, so it is not used.

Defeated by: adaptive attacks that make poisoned activations cluster with clean ones (Tan &
Shokri 2019) or spread over several clusters; clean-label attacks (the poisoned rows genuinely
belong to their class, so reclassification vouches for them); and poison at a third or more of the target class
(e.g. 10% BadNets poison on digits, half of the target class): the poison cluster is then not
the small one, and no row is flagged. Such a class -- a well-separated split into two large
halves -- is still reported in ``details["unresolved_classes"]`` (a clean digits CNN has none), and
the audit check warns about it.
"""

from __future__ import annotations

import numpy as np

from pipeshield.data.poisoning.registry import PoisonData, ScanConfig, detector
from pipeshield.data.poisoning.results import DetectorResult

__all__ = ["ClassSplit", "activation_clustering", "split_class"]


def _plain(v: object) -> object:
    return v.item() if hasattr(v, "item") else v

_MIN_ROWS = 10


class ClassSplit:
    """The 2-means split of one class and the verdict on it."""

    def __init__(self, rows: np.ndarray, labels: np.ndarray, silhouette: float, distance: np.ndarray) -> None:
        self.rows = rows
        self.labels = labels
        self.silhouette = silhouette
        self.distance = distance  # distance of each row to the other cluster's centre minus its own
        self.sizes = np.bincount(labels, minlength=2)
        self.poison_cluster: int | None = None

    @property
    def relative_size(self) -> float:
        return float(self.sizes.min() / self.sizes.sum())


def split_class(features: np.ndarray, rows: np.ndarray, *, dims: int, seed: int) -> ClassSplit:
    """Reduce, split in two, and measure how separate the two halves are."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score

    f = features[rows]
    k = max(1, min(dims, f.shape[0] - 1, f.shape[1]))
    reduced = PCA(n_components=k, random_state=seed).fit_transform(f)
    km = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(reduced)
    labels = km.labels_.astype(np.int64)
    if len(np.unique(labels)) < 2:
        return ClassSplit(rows, labels, -1.0, np.zeros(len(rows)))
    sil = float(silhouette_score(reduced, labels))
    d = np.linalg.norm(reduced[:, None, :] - km.cluster_centers_[None, :, :], axis=2)
    own = d[np.arange(len(rows)), labels]
    other = d[np.arange(len(rows)), 1 - labels]
    return ClassSplit(rows, labels, sil, other - own)


def _judge(split: ClassSplit, config: ScanConfig) -> None:
    if split.silhouette >= config.ac_min_silhouette and split.relative_size < config.ac_max_relative_size:
        split.poison_cluster = int(np.argmin(split.sizes))


@detector("activation-clustering", needs_features=True,
          summary="per-class 2-means of penultimate activations, judged by size and silhouette "
          "(Chen et al. 2018)")
def activation_clustering(data: PoisonData, config: ScanConfig) -> DetectorResult:
    assert data.features is not None
    features = np.asarray(data.features, dtype=np.float64)
    n = len(data)
    scores = np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    per_class: dict[str, dict[str, float | int | None]] = {}
    suspicious = []
    unresolved = []
    for c in range(data.n_classes):
        rows = np.flatnonzero(data.y == c)
        if len(rows) < _MIN_ROWS:
            continue
        split = split_class(features, rows, dims=config.ac_dims, seed=config.seed)
        _judge(split, config)
        scores[rows] = 0.0
        info: dict[str, float | int | None] = {
            "rows": len(rows),
            "silhouette": round(split.silhouette, 4),
            "relative_size": round(split.relative_size, 4),
            "flagged": 0,
        }
        if split.poison_cluster is not None:
            members = split.labels == split.poison_cluster
            flagged[rows[members]] = True
            # score: the split's silhouette, higher for rows deeper inside the poison cluster
            depth = np.clip(split.distance[members] / (np.abs(split.distance).max() or 1.0), 0, 1)
            scores[rows[members]] = 0.5 + 0.5 * depth
            info["flagged"] = int(members.sum())
            suspicious.append(c)
        elif split.silhouette >= config.ac_min_silhouette:
            unresolved.append(_plain(data.classes[c]))
        per_class[str(data.classes[c])] = info
    return DetectorResult(
        "activation-clustering", scores, flagged, config.ac_min_silhouette,
        suspicious_classes=tuple(suspicious),
        details={"per_class": per_class, "unresolved_classes": unresolved},
    )
