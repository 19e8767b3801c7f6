"""scikit-learn targets through skops: real estimators saved with ``skops.io.dump`` and loaded back.

Ground truth is the fitted estimator in memory; the trusted-types gate is checked with a type skops
itself does not trust (the random forest's ``sklearn.tree._tree.Tree``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

sio = pytest.importorskip("skops.io")

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from pipeshield.core.targets import load_target
from pipeshield.errors import TargetError

TREE = "sklearn.tree._tree.Tree"
IRIS_NAMES = np.array(["setosa", "versicolor", "virginica"])


@pytest.fixture
def load_skops(tmp_path: Path, make_pipeline):
    """``load_skops(estimator_or_bytes, **model_keys)``: save to model.skops, load via the pipeline."""

    def _load(estimator, **extra: object):
        path = tmp_path / "model.skops"
        if isinstance(estimator, bytes):
            path.write_bytes(estimator)
        else:
            sio.dump(estimator, path)
        pipeline = make_pipeline(tmp_path, models={"clf": {"path": "model.skops", **extra}})
        return load_target(pipeline, "clf")

    return _load


def test_logistic_regression_round_trip(iris, load_skops) -> None:
    est = LogisticRegression(max_iter=1000).fit(iris.x_train, iris.y_train)

    target = load_skops(est)
    proba = target.predict_proba(iris.x_test)

    assert target.white_box is False and target.label_only is False
    np.testing.assert_allclose(proba, est.predict_proba(iris.x_test), rtol=1e-12, atol=0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(target.classes, [0, 1, 2])
    assert (proba.argmax(axis=1) == iris.y_test).mean() > 0.9
    # The loaded estimator is a fresh object with the same learned state, not the original.
    assert target.estimator is not est
    np.testing.assert_array_equal(target.estimator.coef_, est.coef_)


def test_random_forest_is_refused_until_tree_type_is_trusted(breast_cancer, load_skops) -> None:
    est = RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0)
    est.fit(breast_cancer.x_train, breast_cancer.y_train)

    with pytest.raises(TargetError) as info:
        load_skops(est)
    assert TREE in str(info.value)
    assert "models.clf.trusted_types" in (info.value.hint or "")

    target = load_skops(est, trusted_types=[TREE])
    proba = target.predict_proba(breast_cancer.x_test)

    np.testing.assert_allclose(proba, est.predict_proba(breast_cancer.x_test), rtol=1e-12, atol=0)
    assert (proba.argmax(axis=1) == breast_cancer.y_test).mean() > 0.9
    assert len(target.estimator.estimators_) == 15


def test_trusting_an_unrelated_type_does_not_unlock_the_tree(breast_cancer, load_skops) -> None:
    est = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        breast_cancer.x_train, breast_cancer.y_train
    )
    with pytest.raises(TargetError, match=TREE.replace(".", r"\.")):
        load_skops(est, trusted_types=["sklearn.tree._tree.NotTree"])


def test_string_labels_keep_their_classes(iris, load_skops) -> None:
    y_train = IRIS_NAMES[iris.y_train]
    est = LogisticRegression(max_iter=1000).fit(iris.x_train, y_train)

    target = load_skops(est)
    proba = target.predict_proba(iris.x_test)

    np.testing.assert_array_equal(target.classes, IRIS_NAMES)
    np.testing.assert_allclose(proba, est.predict_proba(iris.x_test), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(target.classes[proba.argmax(axis=1)], est.predict(iris.x_test))


@pytest.mark.parametrize("labels", ["int", "str"])
def test_estimator_without_predict_proba_answers_one_hot_labels(
    breast_cancer, load_skops, labels: str
) -> None:
    names = np.array(["benign", "malignant"])
    y_train = breast_cancer.y_train if labels == "int" else names[breast_cancer.y_train]
    est = LinearSVC(C=0.1, random_state=0).fit(breast_cancer.x_train, y_train)
    assert not hasattr(est, "predict_proba")

    target = load_skops(est)
    proba = target.predict_proba(breast_cancer.x_test)

    assert target.label_only is True
    assert proba.shape == (len(breast_cancer.x_test), 2)
    assert set(np.unique(proba)) == {0.0, 1.0}
    np.testing.assert_array_equal(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(
        target.classes[proba.argmax(axis=1)], est.predict(breast_cancer.x_test)
    )
    expected_y = breast_cancer.y_test if labels == "int" else names[breast_cancer.y_test]
    assert (target.classes[proba.argmax(axis=1)] == expected_y).mean() > 0.9


def test_corrupt_skops_file_is_refused(iris, load_skops) -> None:
    with pytest.raises(TargetError) as info:
        load_skops(np.random.default_rng(0).bytes(300))
    assert "not a skops file" in str(info.value)
    assert "model.skops" in str(info.value) and "models.clf" in str(info.value)


def test_truncated_skops_file_is_refused(iris, load_skops) -> None:
    est = LogisticRegression(max_iter=1000).fit(iris.x_train, iris.y_train)
    data = sio.dumps(est)
    with pytest.raises(TargetError, match="not a skops file"):
        load_skops(data[: len(data) // 2])


@pytest.mark.parametrize("kind", ["random-forest", "extra-trees", "n_jobs"])
def test_forest_probabilities_are_scikit_learns_bit_for_bit(kind: str) -> None:
    """The forest fast path (no joblib per tree) answers exactly what predict_proba answers,
    including on inputs far outside the training data; a forest with n_jobs keeps joblib on big
    batches."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import ExtraTreesClassifier

    from pipeshield.core.targets.sklearn import SklearnTarget

    x, y = load_breast_cancer(return_X_y=True)
    cls = ExtraTreesClassifier if kind == "extra-trees" else RandomForestClassifier
    forest = cls(n_estimators=30, random_state=0, n_jobs=2 if kind == "n_jobs" else None).fit(x, y)
    target = SklearnTarget("forest", forest)
    assert target._forest
    rng = np.random.default_rng(0)
    for rows in (x[:3], x[:300] * rng.uniform(0.5, 1.5, x[:300].shape), np.full((2, x.shape[1]), 1e6)):
        expected = forest.predict_proba(np.asarray(rows, dtype=np.float32))
        got = target.predict_proba(rows)
        assert got.dtype == np.float64 and np.array_equal(got, expected)


def test_a_forest_subclass_keeps_its_own_predict_proba() -> None:
    from pipeshield.core.targets.sklearn import SklearnTarget

    class Calibrated(RandomForestClassifier):
        def predict_proba(self, x):  # type: ignore[no-untyped-def]
            return np.full((len(x), 2), 0.5)

    x = np.random.default_rng(0).normal(size=(40, 3))
    target = SklearnTarget("forest", Calibrated(n_estimators=5, random_state=0).fit(x, x[:, 0] > 0))
    assert not target._forest and np.array_equal(target.predict_proba(x[:2]), np.full((2, 2), 0.5))
