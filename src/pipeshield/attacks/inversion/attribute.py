"""Attribute inference: recover a record's sensitive column from the model's answers.

The attacker knows a person's other columns and their label (a published outcome, a diagnosis) and
may query the model. For each candidate value ``v`` of the sensitive column it queries the record
with that value filled in and picks the value that best explains the known label: the MAP guess
``argmax_v p_model(y | x_others, v) * prior(v)`` of Fredrikson et al. (2014), with the marginal
prior estimated from population data. A numeric column is binned into quantile bins first (the
candidate for a bin is its median); a column with at most ``max_categories`` values is categorical.

What leaks is what model access adds, so the attack is measured against a baseline that has the
same knowledge *without* the model (Jayaraman & Evans 2022 call it imputation): a classifier
trained on population data to predict the sensitive value from the other columns and the label,
and the marginal majority. ``advantage`` is the attack's accuracy minus the better baseline's; it
is reported on training members and on non-members, because a model that memorised its members
leaks more about them than about anyone else.

    >>> r = attribute_inference(model, x_train, y_train, x_test, y_test, sensitive=3)  # doctest: +SKIP
    >>> r.members.advantage, r.nonmembers.advantage  # doctest: +SKIP
    (0.21, 0.02)

An advantage near zero says this attack learns nothing beyond the population; it does not prove
that no attack can (a stronger one may use more outputs, or other records).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from pipeshield.core.labels import class_columns, declared_classes

__all__ = ["AttributeInferenceResult", "AttributeScores", "attribute_inference"]


@dataclass(frozen=True)
class AttributeScores:
    """Accuracy of the attack and the baselines on one group of records."""

    n: int
    attack_accuracy: float
    imputation_accuracy: float
    majority_accuracy: float

    @property
    def baseline_accuracy(self) -> float:
        """The better of the two baselines that have no model access."""
        return max(self.imputation_accuracy, self.majority_accuracy)

    @property
    def advantage(self) -> float:
        """What model access adds: attack accuracy minus the baseline's (the leak)."""
        return self.attack_accuracy - self.baseline_accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "attack_accuracy": round(self.attack_accuracy, 6),
            "imputation_accuracy": round(self.imputation_accuracy, 6),
            "majority_accuracy": round(self.majority_accuracy, 6),
            "baseline_accuracy": round(self.baseline_accuracy, 6),
            "advantage": round(self.advantage, 6),
        }


@dataclass(frozen=True)
class AttributeInferenceResult:
    """The attack on members and on non-members; ``candidates`` are the values tried (bin
    medians for a binned column), ``prior`` their population frequencies."""

    sensitive: int
    kind: Literal["categorical", "binned"]
    candidates: tuple[float, ...]
    prior: tuple[float, ...]
    members: AttributeScores
    nonmembers: AttributeScores
    queries: int
    guesses_members: NDArray[np.int64] = field(repr=False)
    guesses_nonmembers: NDArray[np.int64] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sensitive": self.sensitive,
            "kind": self.kind,
            "candidates": [round(c, 6) for c in self.candidates],
            "prior": [round(p, 6) for p in self.prior],
            "members": self.members.to_dict(),
            "nonmembers": self.nonmembers.to_dict(),
            "queries": self.queries,
        }


def _as_rows(x: Any, what: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or not len(a):
        raise ValueError(f"{what} must be a non-empty 2-D array of rows, got shape {a.shape}")
    return a


def _label_columns(model: Any, y: Any, n: int, what: str) -> NDArray[np.int64]:
    """Labels as output-column indices, through the model's ``classes`` (or ``classes_``)."""
    ya = np.asarray(y)
    if ya.shape != (n,):
        raise ValueError(f"{what} must hold one label per row ({n}), got shape {ya.shape}")
    try:
        return class_columns(declared_classes(model), ya)
    except ValueError as err:
        raise ValueError(f"{what}: {err}") from None


def _candidates(values: NDArray[np.float64], max_categories: int, bins: int
                ) -> tuple[Literal["categorical", "binned"], NDArray[np.float64], NDArray[np.float64]]:
    """The kind, the candidate values and the bin edges (empty for a categorical column)."""
    distinct = np.unique(values)
    if len(distinct) <= max_categories:
        return "categorical", distinct, np.empty(0)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    which = np.searchsorted(edges, values, side="right")
    medians = np.asarray([np.median(values[which == b]) for b in range(len(edges) + 1)])
    return "binned", medians, edges


def _encode(values: NDArray[np.float64], kind: str, candidates: NDArray[np.float64], edges: NDArray[np.float64]
            ) -> NDArray[np.int64]:
    """Each value's candidate index (nearest category for an unseen category value)."""
    if kind == "binned":
        return np.searchsorted(edges, values, side="right").astype(np.int64)
    nearest: NDArray[np.int64] = np.abs(values[:, None] - candidates[None, :]).argmin(axis=1).astype(np.int64)
    return nearest


def _attack(model: Any, x: NDArray[np.float64], y: NDArray[np.int64], column: int,
            candidates: NDArray[np.float64], prior: NDArray[np.float64]) -> tuple[NDArray[np.int64], int]:
    """MAP guesses: one query per record and candidate, batched by candidate."""
    scores = np.empty((len(x), len(candidates)))
    for j, v in enumerate(candidates):
        filled = x.copy()
        filled[:, column] = v
        p = np.asarray(model.predict_proba(filled.astype(np.float32)), dtype=np.float64)
        # A tiny floor keeps the prior as the tie-break when no candidate explains the label
        # (label-only output that disagrees with the known label for every value).
        scores[:, j] = (p[np.arange(len(x)), y] + 1e-12) * prior[j]
    return scores.argmax(axis=1).astype(np.int64), len(x) * len(candidates)


def _imputer(seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, min_samples_leaf=3, random_state=seed, n_jobs=1)


def attribute_inference(
    model: Any,
    x_members: Any,
    y_members: Any,
    x_nonmembers: Any,
    y_nonmembers: Any,
    *,
    sensitive: int,
    x_population: Any = None,
    y_population: Any = None,
    max_categories: int = 10,
    bins: int = 5,
    seed: int = 0,
) -> AttributeInferenceResult:
    """Attack column ``sensitive`` of members and non-members through ``model.predict_proba``.

    ``model``: anything with ``predict_proba`` on flat rows (a fitted scikit-learn classifier, a
    Target, a :class:`~pipeshield.gateway.output_policy.HardenedTarget`); labels are mapped to its
    output columns through ``classes`` / ``classes_`` when it has them. The population (prior,
    bins and the imputation baseline) defaults to the non-members, whose own baseline is then
    measured by 5-fold cross-validation so that no record is predicted by a model that saw it.
    """
    from sklearn.model_selection import KFold, cross_val_predict

    xm, xn = _as_rows(x_members, "x_members"), _as_rows(x_nonmembers, "x_nonmembers")
    if xm.shape[1] != xn.shape[1]:
        raise ValueError(f"members have {xm.shape[1]} columns, non-members {xn.shape[1]}")
    if not 0 <= sensitive < xm.shape[1]:
        raise ValueError(f"sensitive must be a column index below {xm.shape[1]}, got {sensitive}")
    if max_categories < 2 or bins < 2:
        raise ValueError("max_categories and bins must be at least 2")
    ym = _label_columns(model, y_members, len(xm), "y_members")
    yn = _label_columns(model, y_nonmembers, len(xn), "y_nonmembers")
    own_population = x_population is None
    xp = xn if own_population else _as_rows(x_population, "x_population")
    yp = yn if own_population else _label_columns(model, y_population, len(xp), "y_population")
    if xp.shape[1] != xm.shape[1]:
        raise ValueError(f"the population has {xp.shape[1]} columns, the members {xm.shape[1]}")

    kind, candidates, edges = _candidates(xp[:, sensitive], max_categories, bins)
    truth_p = _encode(xp[:, sensitive], kind, candidates, edges)
    counts = np.bincount(truth_p, minlength=len(candidates)).astype(np.float64)
    prior = (counts + 1.0) / (counts.sum() + len(candidates))  # Laplace: no value is impossible
    majority = int(counts.argmax())

    def features(x: NDArray[np.float64], y: NDArray[np.int64]) -> NDArray[np.float64]:
        return np.column_stack([np.delete(x, sensitive, axis=1), y])

    imputer = _imputer(seed).fit(features(xp, yp), truth_p) if len(np.unique(truth_p)) > 1 else None

    def score(x: NDArray[np.float64], y: NDArray[np.int64], guesses: NDArray[np.int64],
              imputed: NDArray[np.int64]) -> AttributeScores:
        truth = _encode(x[:, sensitive], kind, candidates, edges)
        return AttributeScores(len(x), float(np.mean(guesses == truth)), float(np.mean(imputed == truth)),
                               float(np.mean(truth == majority)))

    def impute(x: NDArray[np.float64], y: NDArray[np.int64], cross: bool) -> NDArray[np.int64]:
        if imputer is None:
            return np.full(len(x), majority, dtype=np.int64)
        if cross:
            # Stratified folds need each value at least ``folds`` times; a rarer one gets plain folds.
            smallest = int(np.bincount(truth_p)[np.unique(truth_p)].min())
            folds: Any = 5 if smallest >= 5 else KFold(min(5, len(x)), shuffle=True, random_state=seed)
            return np.asarray(cross_val_predict(_imputer(seed), features(x, y), truth_p, cv=folds), np.int64)
        return np.asarray(imputer.predict(features(x, y)), dtype=np.int64)

    gm, qm = _attack(model, xm, ym, sensitive, candidates, prior)
    gn, qn = _attack(model, xn, yn, sensitive, candidates, prior)
    return AttributeInferenceResult(
        sensitive=sensitive, kind=kind, candidates=tuple(float(c) for c in candidates),
        prior=tuple(float(p) for p in prior),
        members=score(xm, ym, gm, impute(xm, ym, cross=False)),
        nonmembers=score(xn, yn, gn, impute(xn, yn, cross=own_population)),
        queries=qm + qn, guesses_members=gm, guesses_nonmembers=gn,
    )


def column_index(names: Sequence[str], name: str) -> int:
    """The index of feature ``name``; ``ValueError`` listing the known names otherwise."""
    try:
        return list(names).index(name)
    except ValueError:
        raise ValueError(f"no feature named {name!r} (features: {', '.join(names)})") from None
