"""scikit-learn targets, loaded with ``skops.io`` and its trusted-types check, never pickle.

A skops file lists the types it will construct; any type outside skops' defaults and the model's
``trusted_types`` is refused with the list, so a user reviews them before trusting them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.core.targets.base import model_errors, register_loader
from pipeshield.errors import TargetError

if TYPE_CHECKING:
    from pipeshield.core.pipeline import Pipeline

__all__ = ["SklearnTarget"]


class SklearnTarget:
    """A fitted estimator. Without ``predict_proba`` it answers one-hot labels (``label_only``)."""

    white_box = False

    def __init__(self, name: str, estimator: Any) -> None:
        if not hasattr(estimator, "predict"):
            raise TargetError(f"models.{name}: {type(estimator).__name__} has no predict()")
        self.name = name
        self.estimator = estimator
        self.classes = np.asarray(getattr(estimator, "classes_", [])) if hasattr(estimator, "classes_") else None
        self.label_only = not hasattr(estimator, "predict_proba")
        self._forest = _is_plain_forest(estimator)  # predict_proba summed here, without joblib

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if not self.label_only:
            with model_errors(self.name, x):
                # A forest the user gave n_jobs keeps joblib's threads for big batches.
                fast = self._forest and (self.estimator.n_jobs in (None, 1) or len(x) <= 256)
                probs: np.ndarray = (forest_proba(self.estimator, x) if fast
                                     else np.asarray(self.estimator.predict_proba(x), dtype=np.float64))
            return probs
        with model_errors(self.name, x):
            labels = np.asarray(self.estimator.predict(x))
        classes = self.classes if self.classes is not None and len(self.classes) else np.unique(labels)
        one_hot: np.ndarray = (labels[:, None] == classes[None, :]).astype(np.float64)
        return one_hot


def _is_plain_forest(estimator: Any) -> bool:
    try:
        from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    except ImportError:  # pragma: no cover - skops needs scikit-learn
        return False
    return (type(estimator) in (RandomForestClassifier, ExtraTreesClassifier)  # not subclasses: they may override
            and getattr(estimator, "n_outputs_", None) == 1 and hasattr(estimator, "_validate_X_predict"))


def forest_proba(forest: Any, x: np.ndarray) -> np.ndarray:
    """``forest.predict_proba(x)`` for a single-output random forest or extra-trees classifier, bit
    for bit, without joblib: scikit-learn dispatches one joblib task per tree per call and copies
    its config into each, which costs ~0.2 ms a tree -- 30 of the 45 s a black-box evasion attack
    spent querying the demo's 100-tree forest a few rows at a time. The same validation, the same
    trees in the same order, the same float64 sum, the same division."""
    x = forest._validate_X_predict(x)
    out = np.zeros((x.shape[0], int(forest.n_classes_)), dtype=np.float64)
    for tree in forest.estimators_:
        out += tree.predict_proba(x, check_input=False)
    out /= len(forest.estimators_)
    return out


@register_loader("skops")
def _load_skops(pipeline: Pipeline, name: str, data: bytes) -> SklearnTarget:
    import skops.io as sio

    spec = pipeline.models[name]
    where = f"{pipeline.display(spec.path)} (models.{name})"
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as err:  # skops raises assorted errors on a corrupt archive
        raise TargetError(f"{where}: not a skops file: {type(err).__name__}: {err}") from None
    refused = sorted(set(untrusted) - set(spec.trusted_types))
    if refused:
        raise TargetError(
            f"{where}: refuses to load types skops does not trust: {', '.join(refused)}",
            hint=f"review them, then list them in models.{name}.trusted_types",
        )
    try:
        estimator = sio.loads(data, trusted=list(untrusted))
    except Exception as err:
        raise TargetError(f"{where}: skops could not load it: {type(err).__name__}: {err}") from None
    return SklearnTarget(name, estimator)
