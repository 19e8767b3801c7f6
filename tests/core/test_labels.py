"""Label values to output columns: one helper for every attack (pipeshield.core.labels)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeshield.core.labels import UnknownLabelError, class_columns, declared_classes


def test_numpy_python_and_string_labels_find_their_column() -> None:
    classes = np.array([3, 7, 11])
    assert class_columns(classes, [7, 3, 11]).tolist() == [1, 0, 2]
    assert class_columns(classes, np.array([11, 7], dtype=np.int32)).tolist() == [2, 1]
    assert class_columns(classes, np.int64(7)).tolist() == [1]  # a numpy scalar
    assert class_columns(classes.astype(float), [7, 3]).tolist() == [1, 0]  # 7 == 7.0
    assert class_columns(np.array(["cat", "dog"]), np.array(["dog", "cat"])).tolist() == [1, 0]
    out = class_columns(["b", "a"], ["a"])
    assert out.dtype == np.int64 and out.tolist() == [1]
    assert class_columns(classes, []).shape == (0,)


def test_unsorted_classes_are_not_binary_searched() -> None:
    # Regression: dp_audit used np.searchsorted, which assumes sorted classes and returns a column
    # for any value -- an unknown label silently got a wrong one.
    assert class_columns(np.array([2, 0, 1]), [0, 1, 2]).tolist() == [1, 2, 0]
    with pytest.raises(UnknownLabelError):
        class_columns(np.array([0, 1, 2]), [5])  # searchsorted said column 3


def test_unknown_label_is_named_with_a_few_classes() -> None:
    with pytest.raises(UnknownLabelError, match=r"label 42 is not one of the model's classes \[0, 1, 2, .*, 9, \.\.\.\]") as err:
        class_columns(np.arange(20), np.array([1, 42, 43]))
    assert err.value.label == 42 and isinstance(err.value, ValueError)
    with pytest.raises(ValueError, match="label 'zz'"):
        class_columns(np.array(["a", "b"]), ["a", "zz"])


def test_without_classes_labels_are_the_columns() -> None:
    assert class_columns(None, np.array([2, 0, 1])).tolist() == [2, 0, 1]
    assert class_columns([], np.array([1.0, 0.0])).tolist() == [1, 0]
    with pytest.raises(ValueError, match="not column indices"):
        class_columns(None, np.array(["cat"]))
    with pytest.raises(ValueError, match="not column indices"):
        class_columns(None, np.array([0.5]))


def test_declared_classes() -> None:
    class Fitted:
        classes_ = np.array([1, 2])

    class Target:
        classes = [0, 1]

    class Bare:
        classes: list[int] = []

    assert declared_classes(Fitted()).tolist() == [1, 2]  # type: ignore[union-attr]
    assert declared_classes(Target()).tolist() == [0, 1]  # type: ignore[union-attr]
    assert declared_classes(Bare()) is None and declared_classes(object()) is None
