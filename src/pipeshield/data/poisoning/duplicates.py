"""Near-duplicate clusters: many near-identical rows, or identical rows with different labels.

Two poisoning tricks leave this trace. Copying a crafted row many times multiplies its weight in
training (a cheap way to move a decision boundary); and the same input under two labels is a
label flip by definition. Rows are standardised and joined when their RMS distance is at most
``duplicate_radius``; a connected group is reported when it has ``duplicate_min_cluster`` rows or
more, or when its labels disagree. Flagged: in a group with conflicting labels, the rows that
disagree with the group's majority (all of them on a tie); in a large group of one label, every
copy but the first.

Not a backdoor detector on its own: a BadNets trigger makes rows share a *region*, not the whole
input. Defeated by adding small noise to each copy (above the radius).
"""

from __future__ import annotations

import numpy as np

from pipeshield.data.poisoning.outliers import standardize
from pipeshield.data.poisoning.registry import PoisonData, ScanConfig, detector
from pipeshield.data.poisoning.results import DetectorResult

__all__ = ["duplicate_groups", "near_duplicates"]


def duplicate_groups(x: np.ndarray, radius: float) -> list[np.ndarray]:
    """Groups (of two or more rows) of the radius graph on standardised rows."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import radius_neighbors_graph

    xs = standardize(x)
    # RMS distance <= radius  <=>  Euclidean distance <= radius * sqrt(d)
    graph = radius_neighbors_graph(xs, radius * np.sqrt(xs.shape[1]) + 1e-9, mode="connectivity", include_self=False)
    _n, comp = connected_components(graph, directed=False)
    sizes = np.bincount(comp)
    return [np.flatnonzero(comp == c) for c in np.flatnonzero(sizes >= 2)]


@detector("near-duplicates", needs_features=False,
          summary="clusters of near-identical rows, and identical rows with different labels")
def near_duplicates(data: PoisonData, config: ScanConfig) -> DetectorResult:
    n = len(data)
    scores = np.zeros(n)
    flagged = np.zeros(n, dtype=bool)
    reported = []
    for rows in duplicate_groups(data.x, config.duplicate_radius):
        labels = data.y[rows]
        counts = np.bincount(labels, minlength=data.n_classes)
        conflict = np.count_nonzero(counts) > 1
        if not conflict and len(rows) < config.duplicate_min_cluster:
            continue
        if conflict:
            top = counts.max()
            majority = np.flatnonzero(counts == top)
            odd = rows[~np.isin(labels, majority)] if len(majority) == 1 else rows
            flagged[odd] = True
            scores[odd] = 1.0
        else:
            flagged[rows[1:]] = True
            scores[rows[1:]] = 1.0 - 1.0 / len(rows)
        reported.append({"rows": rows[:20].tolist(), "size": len(rows), "conflicting_labels": bool(conflict)})
    return DetectorResult(
        "near-duplicates", scores, flagged, 0.5,
        details={"groups": reported[:50], "n_groups": len(reported), "radius": config.duplicate_radius},
    )
