"""Label values to output columns: the one place a label becomes the index of its probability.

A classifier's ``predict_proba`` columns follow its classes (scikit-learn's ``classes_``, a
pipeshield Target's ``classes``); a dataset's labels are class *values* (``"cat"``, ``7``,
``np.int64(7)``). Every attack that reads "the probability of the true label" needs the column of
each label, and a wrong column is a silent wrong answer -- so an unknown label raises, naming it.

    >>> import numpy as np
    >>> class_columns(np.array(["cat", "dog"]), ["dog", "cat", "dog"]).tolist()
    [1, 0, 1]
    >>> class_columns(None, np.array([2, 0])).tolist()  # no declared classes: labels are columns
    [2, 0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["UnknownLabelError", "class_columns", "declared_classes"]

_SHOWN = 10  # classes listed in the error


class UnknownLabelError(ValueError):
    """A label that is not one of the classes; ``label`` is the first such value."""

    def __init__(self, label: Any, classes: list[Any]) -> None:
        shown = ", ".join(map(repr, classes[:_SHOWN])) + (", ..." if len(classes) > _SHOWN else "")
        super().__init__(f"label {label!r} is not one of the model's classes [{shown}]")
        self.label = label
        self.classes = classes


def _key(value: Any) -> Any:
    """A numpy scalar as its Python value, so ``np.int64(7)``, ``7`` and ``7.0`` find one column."""
    return value.item() if isinstance(value, np.generic) else value


def declared_classes(model: Any) -> NDArray[Any] | None:
    """``classes_`` (scikit-learn) or ``classes`` (a pipeshield Target), when non-empty; else None."""
    for attr in ("classes_", "classes"):
        classes = getattr(model, attr, None)
        if classes is not None and not callable(classes) and len(classes):
            return np.asarray(classes)
    return None


def class_columns(classes: ArrayLike | None, labels: ArrayLike) -> NDArray[np.int64]:
    """The output column of each label: its position in ``classes``.

    ``classes=None`` (or empty) means the model declares none and its columns are the labels
    themselves (class ``k`` is output ``k``), so the labels must be whole numbers. Raises
    :class:`UnknownLabelError` (a ValueError) naming the first label that is not a class, and
    ValueError for non-integral labels without classes.
    """
    values = np.asarray(labels).reshape(-1)
    if not len(values):
        return np.empty(0, dtype=np.int64)
    if classes is None or not len(np.asarray(classes)):
        if values.dtype.kind in "iub" or (
            values.dtype.kind == "f" and bool(np.all(np.isfinite(values) & (values == np.round(values))))
        ):
            return values.astype(np.int64)
        raise ValueError(
            f"labels such as {_key(values[0])!r} are not column indices, and the model declares no classes"
        )
    known = [_key(c) for c in np.asarray(classes).reshape(-1)]
    position = {c: j for j, c in enumerate(known)}
    try:
        return np.fromiter((position[_key(v)] for v in values), dtype=np.int64, count=len(values))
    except KeyError as err:
        raise UnknownLabelError(err.args[0], known) from None
