"""``extract``: steal a copy of a model through its prediction API and measure the copy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

# the method modules register themselves on import
from pipeshield.attacks.extraction import equation_solving as _equation_solving  # noqa: F401
from pipeshield.attacks.extraction import jacobian as _jacobian  # noqa: F401
from pipeshield.attacks.extraction import knockoff as _knockoff  # noqa: F401
from pipeshield.attacks.extraction._oracle import Oracle, Victim, resolve_victim
from pipeshield.attacks.extraction.methods import METHODS, Method, Run, Substitute
from pipeshield.attacks.extraction.results import ExtractionResult
from pipeshield.errors import PipeshieldError

__all__ = ["METHODS", "extract", "label_inputs"]

_CHECKPOINTS = 6  # default number of points on the fidelity curve


def _rows(x: ArrayLike, n_features: int, what: str) -> NDArray[np.float64]:
    xa = np.asarray(x, dtype=np.float64)
    if xa.ndim < 2 or len(xa) == 0:
        raise ValueError(
            f"{what} must hold at least one input (rows of n_features), got shape {xa.shape}"
        )
    flat = xa.reshape(len(xa), -1)
    if flat.shape[1] != n_features:
        raise ValueError(
            f"{what} has {flat.shape[1]} features per input but n_features={n_features}"
        )
    if not np.isfinite(flat).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return flat


def _domain(
    bounds: tuple[ArrayLike, ArrayLike] | None,
    pool: NDArray[np.float64] | None,
    n_features: int,
    notes: list[str],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if bounds is None:
        if pool is not None:
            return pool.min(axis=0), pool.max(axis=0)
        notes.append("no pool and no bounds: the attacker's domain is taken as [0, 1] per feature")
        return np.zeros(n_features), np.ones(n_features)
    try:
        lo_raw, hi_raw = bounds
    except (TypeError, ValueError):
        raise ValueError(
            "bounds must be a pair (lo, hi) of scalars or per-feature arrays"
        ) from None
    out = []
    for name, b in (("lower", lo_raw), ("upper", hi_raw)):
        arr = np.asarray(b, dtype=np.float64).reshape(-1)
        if arr.size == 1:
            arr = np.full(n_features, float(arr[0]))
        if arr.shape != (n_features,):
            raise ValueError(
                f"bounds: the {name} bound has {arr.size} values but n_features={n_features}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"bounds: the {name} bound must be finite (queries are drawn from it)")
        out.append(arr)
    if (out[0] > out[1]).any():
        raise ValueError("bounds: a lower bound exceeds its upper bound")
    return out[0], out[1]


def _checkpoints(
    checkpoints: Sequence[int] | None, spec: Method, n_features: int, budget: int
) -> tuple[int, ...]:
    least = spec.min_queries(n_features)
    if checkpoints is None:
        first = min(budget, max(least, spec.default_first_checkpoint(n_features, budget)))
        points = np.geomspace(first, budget, _CHECKPOINTS) if first < budget else np.array([budget])
        return tuple(sorted({int(round(float(c))) for c in points} | {budget}))
    values = sorted({int(c) for c in checkpoints})
    bad = [c for c in values if c < least or c > budget]
    if bad:
        raise ValueError(
            f"checkpoints {bad} are outside [{least}, {budget}]: {spec.name} needs at least "
            f"{least} queries and cannot spend more than the budget"
        )
    return tuple(sorted(set(values) | {budget}))


def _check_width(victim: Victim, n_features: int) -> None:
    declared = victim.declared_n_features()
    if declared is not None and declared != n_features:
        raise ValueError(f"n_features={n_features} but the victim expects {declared} features per input")


def _ask(victim: Victim, x: NDArray[np.float64], n_features: int) -> NDArray[np.float64]:
    """Victim probabilities for evaluation inputs (not the attacker's queries)."""
    try:
        return victim.probabilities(x)
    except PipeshieldError:
        raise
    except Exception as err:
        raise ValueError(
            f"the victim rejected inputs of n_features={n_features} features "
            f"({type(err).__name__}: {str(err)[:200]}); check n_features"
        ) from err


def label_inputs(
    predict_proba: Any, x: ArrayLike, *, n_features: int, classes: ArrayLike | None = None
) -> tuple[NDArray[Any], NDArray[Any]]:
    """``(classes, labels)``: the label of each of the victim's output columns, and the victim's
    label for each row of ``x``, from one call on ``x`` (``len(x)`` queries, outside any budget).

    Pass both to :func:`extract` (``classes=``, ``victim_labels=``) to measure several attacks on
    the same evaluation inputs without asking the victim about them again.
    """
    victim = resolve_victim(predict_proba)
    _check_width(victim, int(n_features))
    rows = _rows(x, int(n_features), "x")
    probs = _ask(victim, rows, int(n_features))
    labels = _classes(classes, victim, probs.shape[1])
    return labels, labels[probs.argmax(axis=1)]


def extract(
    predict_proba: Any,
    *,
    n_features: int,
    method: str,
    budget: int,
    seed: int = 0,
    classes: ArrayLike | None = None,
    pool: ArrayLike | None = None,
    labels_only: bool = False,
    x_test: ArrayLike | None = None,
    checkpoints: Sequence[int] | None = None,
    y_test: ArrayLike | None = None,
    bounds: tuple[ArrayLike, ArrayLike] | None = None,
    n_eval: int = 1000,
    options: Mapping[str, Any] | None = None,
    victim_labels: ArrayLike | None = None,
) -> ExtractionResult:
    """Steal a substitute of the victim with ``method``, spending at most ``budget`` queries.

    ``predict_proba`` is the victim: a callable on flat rows ``(n, n_features)`` returning
    ``(n, k)`` probabilities, or any object with ``predict_proba`` (a pipeshield ``Target``, a
    scikit-learn classifier). ``labels_only`` shows the attack only the argmax (what a label-only
    API returns); ``equation_solving`` needs probabilities and refuses it.

    ``pool``: unlabelled inputs the attacker holds (public or synthetic data) for ``knockoff``
    and ``jacobian``'s seed set; without one they draw uniformly from ``bounds``. ``bounds``
    ``(lo, hi)``, scalars or per-feature: the domain queries are drawn from and clipped to
    (default: the pool's per-feature range, else ``[0, 1]``). ``classes``: label values of the
    victim's output columns (default: its ``classes``/``classes_``, else ``0..k-1``).

    Fidelity is measured at ``checkpoints`` (query counts; default about six geometric points
    up to ``budget``) on ``x_test``, or, when ``x_test`` is None, on ``n_eval`` inputs drawn
    uniformly from the domain (seeded apart from the attack). Labelling them costs
    ``result.evaluation_queries`` victim calls outside the budget, unless ``victim_labels``
    gives the victim's labels on ``x_test`` already (from :func:`label_inputs`; it needs
    ``classes`` or a victim that declares them): then the victim is not asked about the
    evaluation inputs and ``evaluation_queries`` is 0. ``y_test`` adds the substitute's accuracy.
    ``options`` tune the method (see each method's module).
    Deterministic for a given ``seed``. Bad input raises ``ValueError`` naming the problem.
    """
    spec = METHODS.get(method)
    if spec is None:
        raise ValueError(f"unknown extraction method {method!r}; choose one of {sorted(METHODS)}")
    if (
        isinstance(n_features, bool)
        or not isinstance(n_features, (int, np.integer))
        or n_features < 1
    ):
        raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be a positive integer (queries), got {budget!r}")
    d, budget = int(n_features), int(budget)
    least = spec.min_queries(d)
    if budget < least:
        raise ValueError(
            f"{method} needs at least {least} queries for n_features={d} (d + 1 for exact "
            f"recovery); the budget is {budget}"
            if method == "equation_solving"
            else f"{method} needs at least {least} queries; the budget is {budget}"
        )
    if labels_only and spec.needs_probabilities:
        raise ValueError(
            f"{method} needs the victim's probabilities; with labels_only use 'jacobian' or 'knockoff'"
        )
    unknown = sorted(set(options or {}) - set(spec.options))
    if unknown:
        raise ValueError(f"unknown options {unknown} for {method}; it takes {sorted(spec.options)}")
    if n_eval < 1:
        raise ValueError(f"n_eval must be >= 1, got {n_eval}")
    victim = resolve_victim(predict_proba)
    _check_width(victim, d)
    notes: list[str] = []
    pool_rows = _rows(pool, d, "pool") if pool is not None else None
    test_rows = _rows(x_test, d, "x_test") if x_test is not None else None
    y_arr = None
    if y_test is not None:
        if test_rows is None:
            raise ValueError("y_test needs x_test (accuracy is measured on x_test)")
        y_arr = np.asarray(y_test).reshape(-1)
        if len(y_arr) != len(test_rows):
            raise ValueError(f"x_test has {len(test_rows)} rows but y_test has {len(y_arr)} labels")
    lo, hi = _domain(bounds, pool_rows, d, notes)
    points = _checkpoints(checkpoints, spec, d, budget)

    if test_rows is None:
        eval_rows = np.random.default_rng([seed, 1]).uniform(lo, hi, size=(n_eval, d))
        evaluation = "uniform"
    else:
        eval_rows, evaluation = test_rows, "x_test"
    if victim_labels is None:
        eval_probs = _ask(victim, eval_rows, d)
        k = eval_probs.shape[1]
        labels = _classes(classes, victim, k)
        truth = labels[eval_probs.argmax(axis=1)]
        eval_queries = len(eval_rows)
    else:
        labels, truth = _given_labels(victim_labels, classes, victim, test_rows)
        k, eval_queries = len(labels), 0

    fidelity: dict[int, float] = {}
    accuracy: dict[int, float] = {}

    def record(sub: Substitute, queries: int) -> None:
        fidelity[queries] = float(np.mean(sub.predict(eval_rows) == truth))
        if y_arr is not None and test_rows is not None:
            accuracy[queries] = float(np.mean(sub.predict(test_rows) == y_arr))

    oracle = Oracle(victim, n_features=d, budget=budget, labels_only=labels_only)
    run = Run(
        oracle=oracle,
        n_features=d,
        lo=lo,
        hi=hi,
        pool=pool_rows,
        classes=labels,
        checkpoints=points,
        seed=seed,
        options={**spec.options, **(options or {})},
        record=record,
        notes=notes,
    )
    substitute = spec.fn(run)
    if oracle.n_classes is not None and oracle.n_classes != k:
        raise ValueError(
            f"the victim returned {oracle.n_classes} columns to queries but has {k} classes "
            "(columns of its answers on the evaluation inputs)"
        )
    return ExtractionResult(
        method=method,
        substitute=substitute,
        fidelity=dict(sorted(fidelity.items())),
        accuracy=dict(sorted(accuracy.items())),
        queries=oracle.queries,
        budget=budget,
        labels_only=labels_only,
        n_features=d,
        classes=labels,
        domain=(lo, hi),
        evaluation=evaluation,
        evaluation_queries=eval_queries,
        seed=seed,
        settings={
            **run.options,
            "checkpoints": list(points),
            "pool_size": 0 if pool_rows is None else len(pool_rows),
            "n_eval": len(eval_rows),
        },
        notes=tuple(notes),
    )


def _given_labels(
    victim_labels: ArrayLike, classes: ArrayLike | None, victim: Victim, test_rows: NDArray[np.float64] | None
) -> tuple[NDArray[Any], NDArray[Any]]:
    """The classes and the victim's labels on ``x_test`` when the caller already holds them."""
    if test_rows is None:
        raise ValueError("victim_labels needs x_test (they are the victim's labels on x_test)")
    given = np.asarray(victim_labels).reshape(-1)
    if len(given) != len(test_rows):
        raise ValueError(f"x_test has {len(test_rows)} rows but victim_labels has {len(given)} labels")
    labels = np.asarray(classes).reshape(-1) if classes is not None else victim.declared_classes()
    if labels is None or not len(labels):
        raise ValueError("victim_labels needs classes (the label of each of the victim's output columns)")
    unknown = given[~np.isin(given, labels)]
    if len(unknown):
        raise ValueError(f"victim_labels holds {unknown.tolist()[0]!r}, which is not one of classes")
    return labels, given


def _classes(classes: ArrayLike | None, victim: Victim, k: int) -> NDArray[Any]:
    if classes is not None:
        labels = np.asarray(classes).reshape(-1)
        if len(labels) != k:
            raise ValueError(f"classes has {len(labels)} labels but the victim returns {k} columns")
        return labels
    declared = victim.declared_classes()
    if declared is not None and len(declared) == k:
        return declared
    return np.arange(k)
