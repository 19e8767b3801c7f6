"""Isolation forest (Liu, Ting and Zhou, 2008): an input that random splits isolate quickly is unusual.

scikit-learn's ``IsolationForest`` fitted on clean training rows; the score is the negated
``score_samples`` (higher: more anomalous). Needs no labels and no model, is insensitive to each
feature's scale, but sees joint structure less sharply than a Mahalanobis distance.

Scoring walks all trees at once in numpy (one step per tree level) instead of calling
``score_samples``, whose per-tree Python loop costs ~30 ms for a single input with 200 trees: too
slow for a request path. The scores are the same (a test compares them).

    >>> det = fit_detector("isolation-forest", x_train, n_estimators=200)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pipeshield.gateway.detectors._base import Array, register

__all__ = ["IsolationForestDetector"]


@register("isolation-forest")
class IsolationForestDetector:
    method = "isolation-forest"

    def __init__(self, *, n_estimators: int = 200, seed: int = 0) -> None:
        self.n_estimators, self.seed = n_estimators, seed

    def fit(self, x: Array, y: NDArray[Any] | None, model: Any) -> IsolationForestDetector:
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=self.n_estimators, random_state=self.seed).fit(x)
        self.forest_ = forest
        trees = [est.tree_ for est in forest.estimators_]
        width = max(t.node_count for t in trees)
        self.left_ = np.full((len(trees), width), -1, dtype=np.intp)
        self.right_ = np.full((len(trees), width), -1, dtype=np.intp)
        self.feature_ = np.zeros((len(trees), width), dtype=np.intp)
        self.threshold_ = np.zeros((len(trees), width))
        self.leaf_ = np.zeros((len(trees), width))  # path length credited to an input ending here
        for i, t in enumerate(trees):
            n = t.node_count
            self.left_[i, :n], self.right_[i, :n] = t.children_left, t.children_right
            self.feature_[i, :n] = np.maximum(t.feature, 0)
            self.threshold_[i, :n] = t.threshold
            self.leaf_[i, :n] = _depths(t.children_left, t.children_right) + _average_path(t.n_node_samples)
        self.levels_ = max(est.get_depth() for est in forest.estimators_)
        self.norm_ = len(trees) * float(_average_path(np.array([forest.max_samples_]))[0])
        return self

    def score(self, x: Array, probs: Array | None = None) -> Array:
        # the trees compare float32 inputs (sklearn's DTYPE) with float64 thresholds
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        n_trees, width = self.left_.shape
        base = (np.arange(n_trees) * width)[:, None]  # flat index of each tree's root
        cells = (np.arange(len(x32)) * x32.shape[1])[None, :]  # flat index of each input's first value
        left, right = self.left_.ravel(), self.right_.ravel()
        feature, threshold, values = self.feature_.ravel(), self.threshold_.ravel(), x32.ravel()
        node = np.repeat(base, len(x32), axis=1)
        for _ in range(self.levels_):
            child = left.take(node)
            go_left = values.take(cells + feature.take(node)) <= threshold.take(node)
            node = np.where(child < 0, node, base + np.where(go_left, child, right.take(node)))
        depth = self.leaf_.ravel().take(node).sum(axis=0)
        return np.asarray(2.0 ** (-depth / self.norm_), dtype=np.float64)  # = -score_samples(x)


def _depths(left: NDArray[np.intp], right: NDArray[np.intp]) -> Array:
    """Edges from the root to each node (children always come after their parent)."""
    depth = np.zeros(len(left))
    for node in range(len(left)):
        for child in (left[node], right[node]):
            if child >= 0:
                depth[child] = depth[node] + 1
    return depth


def _average_path(n: NDArray[Any]) -> Array:
    """c(n): the average path length of an unsuccessful search in a binary search tree of n items."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out
