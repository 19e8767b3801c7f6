"""Out-of-fold predicted probabilities: the input confident learning needs.

Each row's probabilities come from a model that never saw that row, so a mislabelled row cannot
vouch for its own label (in-sample probabilities would memorise the flip and hide it).
The default model (``auto``) is an RBF support-vector machine on standardised features (pixels as
features for images) up to 10,000 rows, and logistic regression beyond (an SVM's training time
grows with the square of the rows). Measured on digits, breast cancer and the demo's targeted
flips, the SVM's probabilities gave confident learning the best F1 of logistic regression,
k-NN, an MLP and gradient boosting (``bench/poison_detection.py``). ``logistic``, ``svm``,
``gradient-boosting`` and ``mlp`` can be chosen explicitly.

    >>> probs = out_of_fold_probabilities(x, y, n_classes=10, folds=5, model="auto", seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from pipeshield.errors import DatasetError

__all__ = ["default_model", "out_of_fold_probabilities"]


_SVM_MAX_ROWS = 10_000


def default_model(kind: str, *, seed: int, n_rows: int = 0) -> Any:
    """A scikit-learn classifier for ``kind`` (``auto``: SVM up to 10,000 rows, else logistic)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "auto":
        kind = "svm" if n_rows <= _SVM_MAX_ROWS else "logistic"
    if kind == "svm":
        from sklearn.svm import SVC

        return make_pipeline(StandardScaler(), SVC(probability=True, random_state=seed))
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression

        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    if kind == "gradient-boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(max_iter=100, random_state=seed)
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        return make_pipeline(StandardScaler(), MLPClassifier((128,), max_iter=200, early_stopping=True, random_state=seed))
    raise ValueError(f"unknown model {kind!r}")


def out_of_fold_probabilities(
    x: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    model: str,
    seed: int,
    where: str = "dataset",
    train_rows: np.ndarray | None = None,
) -> np.ndarray:
    """``(n, n_classes)`` probabilities, each row predicted by a model that never trained on it.

    With ``train_rows``, only those rows are cross-validated; every other row is predicted by a
    model trained on all of ``train_rows`` (used to re-score after dropping suspected issues).
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    rows = np.arange(len(y)) if train_rows is None else np.asarray(train_rows)
    counts = np.bincount(y[rows], minlength=n_classes)
    smallest = int(counts[counts > 0].min())
    if smallest < 2:
        raise DatasetError(
            f"{where}: a class has a single row; cross-validation needs at least 2 per class",
            hint="drop or merge the classes with one example",
        )
    k = min(folds, smallest)
    x = np.nan_to_num(np.asarray(x, dtype=np.float64).reshape(len(x), -1))
    probs = np.zeros((len(x), n_classes))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    base = default_model(model, seed=seed, n_rows=len(rows))
    rest = np.setdiff1d(np.arange(len(y)), rows)
    # One BLAS thread: these fits are small, and a multi-threaded BLAS spends ~50x longer on
    # thread hand-offs than on the arithmetic (measured: 1.0 s vs 0.015 s for digits).
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings: the probabilities are still usable
        for train, test in splitter.split(x[rows], y[rows]):
            train, test = rows[train], rows[test]
            est = clone(base).fit(x[train], y[train])
            probs[np.ix_(test, est.classes_)] = est.predict_proba(x[test])
        if len(rest):
            est = clone(base).fit(x[rows], y[rows])
            probs[np.ix_(rest, est.classes_)] = est.predict_proba(x[rest])
    return probs
