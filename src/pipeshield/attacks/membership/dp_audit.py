"""Differential-privacy audit: does a training recipe leak more than the (epsilon, delta) it claims?

A DP claim is a promise about *every* attack, so one attack that does better than the promise
allows refutes it. :func:`audit_dp` plants canaries -- records the attacker knows and the model
would have to memorise -- trains with the user's own recipe, and turns how well canary membership
can be guessed into an **empirical lower bound** on epsilon that holds with probability
``>= confidence``:

    >>> from pipeshield.attacks.membership.dp_audit import audit_dp
    >>> result = audit_dp(train, x, y, claimed_epsilon=1.0, n_canaries=500)  # doctest: +SKIP
    >>> result.epsilon_lower_bound, result.contradicted                      # doctest: +SKIP
    (2.31, True)

``train(x, y, *, seed) -> model`` is the recipe (the same callable the pipeline file names as a
model's ``training``); the model is a scikit-learn-like classifier with ``predict_proba`` or a
``torch.nn.Module`` returning logits.

Two methods:

- ``one_run`` (Steinke, Nasr & Jagielski 2023, "Privacy Auditing with One (1) Training Run",
  NeurIPS 2023, arXiv:2305.08846): ``m`` canaries, each included independently with probability
  1/2, **one** training run. Canaries are ranked by their score (the logit-scaled confidence on
  the canary's label, Carlini et al. 2022); the top ``k+`` are guessed IN, the bottom ``k-`` OUT,
  the rest abstain. With ``r = k+ + k-`` guesses of which ``v`` are right, their Theorem 5.2 says
  that an (epsilon, delta)-DP recipe gives::

      P[v correct] <= P[Binomial(r, q) >= v] + 2 m delta max_{i=1..v} P[v-i <= Binomial(r, q) < v] / i,
      q = e^epsilon / (1 + e^epsilon)

  (the first term alone for delta = 0: each guess is no better than epsilon-randomized
  response). :func:`one_run_epsilon_lower_bound` returns the largest epsilon at which the
  observed ``v`` has probability ``<= 1 - confidence``, by bisection on that exact (scipy) tail;
  it is their Algorithm 2 / appendix code.
- ``multi_run``: ``runs`` independent trainings (fanned out through the executor), one canary IN
  for half of them; the canary's score in each run is thresholded and the TPR/FPR bounded with
  Clopper-Pearson, giving the classic audit bound ``eps >= log((TPR_lo - delta) / FPR_hi)``
  (Jagielski, Ullman & Oprea 2020; Nasr et al. 2021). The threshold is *chosen* on one run in
  four and the bound is *computed* on the other three with a single test, so no correction for
  the choice is needed: choosing on separate trials from those counted is the practice of those
  audits. (Choosing the best of all ROC vertices on the same runs would need a Bonferroni
  correction over a data-dependent number of vertices -- up to ``runs + 1`` -- which costs more
  than the held-out runs do.) Few runs cap the bound whatever the recipe: even a perfect
  separation of 32 runs (24 counted, 12 IN) shows only epsilon >= 1.02 at 95% and delta 1e-5;
  the result's notes give the ceiling of the run at hand.

What the number does **not** say: a lower bound below the claim is not evidence that the claim
holds -- it only means this attack, with these canaries, could not refute it (a stronger attack,
white-box access to intermediate models, or worst-case canaries give larger bounds; one-run
audits of DP-SGD with final-model access are far from tight). A lower bound above the claim *is*
evidence (at ``confidence``) that the recipe, as run, is not (claimed epsilon, delta)-DP: an
accounting bug, a missing clip, noise not added, or a claim for a different dataset size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from pipeshield.attacks.membership._predict import predict_probabilities, signals
from pipeshield.attacks.membership._reference import Recipe, model_seeds, reference_probabilities
from pipeshield.attacks.membership.metrics import (
    clopper_pearson,
    epsilon_lower_bound,
    roc_curve,
)
from pipeshield.core.executor import Executor
from pipeshield.core.labels import class_columns

__all__ = [
    "DPAuditResult",
    "GuessSet",
    "RunRates",
    "audit_dp",
    "make_canaries",
    "multi_run_ceiling",
    "one_run_epsilon_lower_bound",
    "one_run_p_value",
]

Method = Literal["one_run", "multi_run"]
CanaryKind = Literal["random", "mislabeled"]

# Bisection to 1e-12 of the bracket: far below any meaningful epsilon difference; we return the
# low end, where the p-value is still below 1 - confidence, so the bound stays conservative.
_BISECT_STEPS = 60
_EPS_CAP = 100.0  # q = 1/(1 + e^-100) rounds to 1.0: the tail is 1 and the search stops here


# ---- the one-run bound (Steinke, Nasr & Jagielski 2023) ----------------------------------------


def _check_counts(m: int, r: int, v: int) -> None:
    if not (0 <= v <= r <= m):
        raise ValueError(f"need 0 <= correct <= guesses <= canaries, got v={v}, r={r}, m={m}")


def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float = 0.0) -> float:
    """Upper bound on ``P[>= v of r guesses correct]`` for an (epsilon, delta)-DP recipe.

    Steinke, Nasr & Jagielski (2023), Theorem 5.2 (numerically, their appendix code):
    ``P[Bin(r, q) >= v] + 2 m delta max_{i=1..v} P[v-i <= Bin(r, q) < v] / i`` with
    ``q = e^eps / (1 + e^eps)``, capped at 1. ``m`` is the number of canaries.
    """
    _check_counts(m, r, v)
    if epsilon < 0 or not 0.0 <= delta <= 1.0:
        raise ValueError(f"need epsilon >= 0 and 0 <= delta <= 1, got {epsilon}, {delta}")
    q = 1.0 / (1.0 + math.exp(-epsilon))
    tail = float(stats.binom.sf(v - 1, r, q))  # P[Bin(r, q) >= v]
    slack = 0.0
    if delta > 0 and v > 0:
        i = np.arange(1, v + 1)
        below = np.cumsum(stats.binom.pmf(v - i, r, q))  # P[v - i <= Bin < v]
        slack = 2.0 * m * delta * float(np.max(below / i))
    return min(1.0, tail + slack)


def one_run_epsilon_lower_bound(m: int, r: int, v: int, *, delta: float = 0.0, confidence: float = 0.95) -> float:
    """The largest epsilon whose :func:`one_run_p_value` of ``v`` correct is ``< 1 - confidence``.

    0 when even epsilon = 0 explains the count (e.g. ``v <= r / 2``). Reference values (tested):
    ``m=1000, r=100, v=100, delta=1e-5`` -> 3.465; ``v=90`` -> 1.626; ``r=1000, v=600`` -> 0.297.
    With ``delta = 0`` and every guess right the bound is closed-form:
    ``log(a / (1 - a))`` with ``a = (1 - confidence)^(1/r)``.
    """
    _check_counts(m, r, v)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    p = 1.0 - confidence
    if r == 0 or one_run_p_value(m, r, v, 0.0, delta) >= p:
        return 0.0
    lo, hi = 0.0, 1.0
    while hi < _EPS_CAP and one_run_p_value(m, r, v, hi, delta) < p:
        lo, hi = hi, min(_EPS_CAP, 2.0 * hi)
    for _ in range(_BISECT_STEPS):
        mid = (lo + hi) / 2
        if one_run_p_value(m, r, v, mid, delta) < p:
            lo = mid
        else:
            hi = mid
    return lo


# ---- canaries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Canaries:
    """Canary records and the data that is always trained on (``base``)."""

    x: NDArray[Any]
    y: NDArray[Any]
    base_x: NDArray[Any]
    base_y: NDArray[Any]
    kind: str


def make_canaries(x: ArrayLike, y: ArrayLike, n: int, kind: CanaryKind = "random", seed: int = 0) -> Canaries:
    """``n`` seeded canaries from the data's domain.

    ``random``: points drawn uniformly inside each feature's observed range, with a random label
    (out-of-distribution for most data, so only memorisation explains a confident prediction);
    all of ``x`` stays in the base data. ``mislabeled``: ``n`` real rows held out of the base data
    and given a random *wrong* label (needs ``n <= len(x) / 2`` and two classes).
    """
    xa, ya = np.asarray(x), np.asarray(y)
    classes = np.unique(ya)
    if n < 1:
        raise ValueError(f"need at least one canary, got {n}")
    if len(classes) < 2:
        raise ValueError("the labels hold a single class: a canary needs a label to be memorised")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x43414E]))  # "CAN": canary stream
    if kind == "random":
        flat = xa.reshape(len(xa), -1).astype(np.float64)
        lo, hi = flat.min(axis=0), flat.max(axis=0)
        cx = (lo + rng.random((n, flat.shape[1])) * (hi - lo)).astype(xa.dtype).reshape((n, *xa.shape[1:]))
        cy = classes[rng.integers(0, len(classes), n)]
        return Canaries(cx, cy, xa, ya, kind)
    if kind == "mislabeled":
        if n > len(xa) // 2:
            raise ValueError(f"{n} mislabeled canaries need at least {2 * n} rows, the data has {len(xa)}")
        pick = rng.permutation(len(xa))[:n]
        rest = np.setdiff1d(np.arange(len(xa)), pick)
        position = class_columns(classes, ya[pick])
        shift = rng.integers(1, len(classes), n)  # any class but the true one, uniformly
        cy = classes[(position + shift) % len(classes)]
        return Canaries(xa[pick], cy, xa[rest], ya[rest], kind)
    raise ValueError(f"canary kind must be 'random' or 'mislabeled', got {kind!r}")


def canary_scores(model: Any, canaries: Canaries, classes: NDArray[Any]) -> NDArray[np.float64]:
    """Logit-scaled confidence of ``model`` on each canary's label (higher: more likely IN)."""
    probs = predict_probabilities(model, canaries.x, classes)
    _, phi = signals(probs, class_columns(classes, canaries.y).astype(np.intp))
    return phi


# ---- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GuessSet:
    """One (k+, k-) guessing rule of a one-run audit and what it achieved."""

    k_plus: int
    k_minus: int
    correct: int
    epsilon: float

    @property
    def guesses(self) -> int:
        return self.k_plus + self.k_minus


@dataclass(frozen=True)
class RunRates:
    """Multi-run audit: the threshold chosen on ``selection_runs`` runs, and its TPR/FPR with their
    Clopper-Pearson intervals on the other runs (``runs_in`` with the canary, ``runs_out`` without)."""

    threshold: float
    tpr: float
    fpr: float
    tpr_interval: tuple[float, float]
    fpr_interval: tuple[float, float]
    runs_in: int
    runs_out: int
    selection_runs: int = 0


@dataclass(frozen=True)
class DPAuditResult:
    """An empirical epsilon lower bound, the claim it tests and how it was measured.

    ``guesses``/``correct``: membership guesses made and right (one-run: by the best rule in
    ``rules``; multi-run: one per counted run, at the chosen threshold). ``n_included``: canaries
    trained on (one-run), or runs that trained on the canary (multi-run, all of them). ``contradicted`` is True when the
    bound exceeds ``claimed_epsilon``: at ``confidence``, the recipe is not (claimed, delta)-DP.
    """

    method: str
    epsilon_lower_bound: float
    claimed_epsilon: float | None
    delta: float
    confidence: float
    n_canaries: int
    n_included: int
    guesses: int
    correct: int
    runs: int
    canary: str
    seed: int
    rules: tuple[GuessSet, ...] = ()
    rates: RunRates | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def contradicted(self) -> bool:
        return self.claimed_epsilon is not None and self.epsilon_lower_bound > self.claimed_epsilon

    def to_dict(self) -> dict[str, Any]:
        """JSON types only."""
        out: dict[str, Any] = {
            "method": self.method,
            "epsilon_lower_bound": self.epsilon_lower_bound,
            "claimed_epsilon": self.claimed_epsilon,
            "contradicted": self.contradicted,
            "delta": self.delta,
            "confidence": self.confidence,
            "n_canaries": self.n_canaries,
            "n_included": self.n_included,
            "guesses": self.guesses,
            "correct": self.correct,
            "runs": self.runs,
            "canary": self.canary,
            "seed": self.seed,
            "rules": [
                {"k_plus": g.k_plus, "k_minus": g.k_minus, "correct": g.correct, "epsilon": g.epsilon}
                for g in self.rules
            ],
            "rates": None,
            "notes": list(self.notes),
        }
        if self.rates is not None:
            r = self.rates
            out["rates"] = {
                "threshold": r.threshold, "tpr": r.tpr, "fpr": r.fpr,
                "tpr_interval": list(r.tpr_interval), "fpr_interval": list(r.fpr_interval),
                "runs_in": r.runs_in, "runs_out": r.runs_out, "selection_runs": r.selection_runs,
            }
        return out


# ---- the audits ---------------------------------------------------------------------------------


def _rank_desc(scores: NDArray[np.float64], seed: int) -> NDArray[np.intp]:
    """Indices by decreasing score; ties broken by seeded coins that do not depend on membership
    (post-processing of the model's output, so the one-run theorem still applies)."""
    coins = np.random.default_rng(np.random.SeedSequence([seed, 0x544945])).random(len(scores))  # "TIE"
    order: NDArray[np.intp] = np.lexsort((coins, -scores))
    return order


def _default_rules(m: int) -> list[tuple[int, int]]:
    ks = sorted({k for k in (m // 20, m // 10, m // 4, m // 2) if k >= 1})
    return [(k, k) for k in ks] or [(1, 0)]


def _one_run(
    recipe: Recipe, canaries: Canaries, classes: NDArray[Any], rules: Sequence[tuple[int, int]],
    *, delta: float, confidence: float, seed: int,
) -> tuple[int, list[GuessSet]]:
    m = len(canaries.x)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x494E43]))  # "INC": inclusion coins
    included = rng.random(m) < 0.5
    x = np.concatenate([canaries.base_x, canaries.x[included]])
    y = np.concatenate([canaries.base_y, canaries.y[included]])
    shuffle = rng.permutation(len(x))  # canaries must not sit in a block at the end of the data
    model = recipe.fit(x[shuffle], y[shuffle], model_seeds(1, seed)[0])
    order = _rank_desc(canary_scores(model, canaries, classes), seed)
    # Bonferroni over the rules: the reported maximum holds at `confidence` as a whole.
    per_rule = 1.0 - (1.0 - confidence) / len(rules)
    out = []
    for k_plus, k_minus in rules:
        top, bottom = order[:k_plus], order[m - k_minus :] if k_minus else order[:0]
        v = int(included[top].sum() + (~included[bottom]).sum())
        eps = one_run_epsilon_lower_bound(m, k_plus + k_minus, v, delta=delta, confidence=per_rule)
        out.append(GuessSet(k_plus, k_minus, v, eps))
    return int(included.sum()), out


# One run in this many chooses the multi-run threshold; the rest are counted. Perfect separation
# of 32 runs: choosing on a quarter leaves 24 counted runs and a ceiling of 1.02 (95%, delta
# 1e-5); choosing on half leaves 16 and 0.54 (the best of all 33 vertices, Bonferroni-corrected:
# 0.57). Telling a good threshold from a bad one takes few runs, while the Clopper-Pearson
# intervals shrink only with the counted ones.
_SELECT_EVERY = 4


def _split(runs: int) -> tuple[int, int]:
    """(runs that choose the threshold, runs that are counted): each part holds IN and OUT runs."""
    n_select = max(2, runs // _SELECT_EVERY)
    return n_select, runs - n_select


def multi_run_ceiling(runs: int, *, delta: float = 1e-5, confidence: float = 0.95) -> float:
    """The largest bound a ``runs``-run audit can show: every counted run called right."""
    _, n_eval = _split(runs)
    n_in = n_eval // 2
    return epsilon_lower_bound(n_in, 0, n_in, n_eval - n_in, delta=delta, confidence=confidence)


def _choose_threshold(scores: NDArray[np.float64], included: NDArray[np.bool_], *, delta: float, confidence: float) -> float:
    """The cut that best separates the selection runs (by the bound it would give there, then by
    TPR - FPR), placed halfway to the next lower score so that it does not sit on a run's score."""
    roc = roc_curve(scores, included)
    bounds = [
        epsilon_lower_bound(tp, fp, roc.n_members, roc.n_nonmembers, delta=delta, confidence=confidence)
        for tp, fp in zip(roc.tp.tolist(), roc.fp.tolist())
    ]
    best = max(range(len(bounds)), key=lambda k: (bounds[k], roc.tpr[k] - roc.fpr[k], -k))
    if best == 0:  # nobody called IN: a cut above every score (finite, so it stays JSON)
        return float(roc.thresholds[1]) + 1.0
    upper = float(roc.thresholds[best])
    if best + 1 == len(roc.thresholds):  # everybody called IN
        return upper
    return (upper + float(roc.thresholds[best + 1])) / 2


def _multi_run(
    recipe: Recipe, canaries: Canaries, classes: NDArray[Any], runs: int,
    *, delta: float, confidence: float, seed: int, executor: str | Executor | None, jobs: int | None,
) -> tuple[RunRates, float, int, int]:
    n_select, n_eval = _split(runs)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x494E43]))  # "INC": inclusion coins
    # Exactly half of each part trains on the canary, so both parts have IN and OUT runs.
    included = np.r_[rng.permutation(n_select) < n_select // 2, rng.permutation(n_eval) < n_eval // 2]
    x_pool = np.concatenate([canaries.base_x, canaries.x[:1]])
    y_pool = np.concatenate([canaries.base_y, canaries.y[:1]])
    shuffle = rng.permutation(len(x_pool))  # as in one-run: the canary must not be the last row
    x_pool, y_pool = x_pool[shuffle], y_pool[shuffle]
    at = int(np.flatnonzero(shuffle == len(shuffle) - 1)[0])
    keep = np.ones((runs, len(x_pool)), dtype=bool)
    keep[:, at] = included
    probs = reference_probabilities(
        recipe, x_pool, y_pool, classes, keep, model_seeds(runs, seed), executor, jobs, query=canaries.x[:1]
    )[:, 0, :]
    _, scores = signals(probs, np.full(runs, class_columns(classes, canaries.y[:1])[0], dtype=np.intp))

    threshold = _choose_threshold(scores[:n_select], included[:n_select], delta=delta, confidence=confidence)
    called, member = scores[n_select:] >= threshold, included[n_select:]
    n_in, n_out = int(member.sum()), int((~member).sum())
    tp, fp = int((called & member).sum()), int((called & ~member).sum())
    # One threshold fixed before these runs were looked at: a single test at `confidence`.
    eps = epsilon_lower_bound(tp, fp, n_in, n_out, delta=delta, confidence=confidence)
    tpr_lo, tpr_hi = clopper_pearson(tp, n_in, confidence)
    fpr_lo, fpr_hi = clopper_pearson(fp, n_out, confidence)
    rates = RunRates(
        threshold=threshold,
        tpr=tp / n_in,
        fpr=fp / n_out,
        tpr_interval=(float(tpr_lo), float(tpr_hi)),
        fpr_interval=(float(fpr_lo), float(fpr_hi)),
        runs_in=n_in,
        runs_out=n_out,
        selection_runs=n_select,
    )
    return rates, eps, tp + (n_out - fp), int(included.sum())


def audit_dp(
    train_fn: Callable[..., Any],
    x: ArrayLike,
    y: ArrayLike,
    *,
    claimed_epsilon: float | None = None,
    delta: float = 1e-5,
    n_canaries: int = 200,
    method: Method = "one_run",
    runs: int = 32,
    confidence: float = 0.95,
    seed: int = 0,
    canary: CanaryKind = "random",
    guesses: Sequence[tuple[int, int]] | None = None,
    executor: str | Executor | None = None,
    jobs: int | None = None,
) -> DPAuditResult:
    """Audit the recipe ``train_fn(x, y, *, seed) -> model`` for its DP claim.

    ``x``/``y`` are the data the recipe normally trains on; canaries (``canary``: ``random``
    points in the features' range, or ``mislabeled`` held-out rows) are added to it.

    ``one_run``: ``n_canaries`` canaries, each IN with probability 1/2, one training. ``guesses``
    lists the ``(k+, k-)`` rules to try (top ``k+`` scores guessed IN, bottom ``k-`` OUT); default
    ``k+ = k- = m/20, m/10, m/4, m/2``. The best rule is reported and every rule is bounded at
    ``1 - (1 - confidence) / len(guesses)`` (Bonferroni), so the maximum keeps ``confidence``.
    Fix the rules before looking at results: re-running with other rules until one looks good
    voids the confidence. ``multi_run``: ``runs`` trainings (``>= 4``), one canary IN for half of
    them, fanned out through ``executor`` (default: local processes from 8 runs up; a
    ``train_fn`` defined at module level can be sent to worker processes); the threshold is chosen
    on a quarter of the runs and the bound computed on the rest (:func:`multi_run_ceiling` says
    how high it can go).

    ``delta`` is the claim's delta (the bound uses it); ``claimed_epsilon`` only sets
    ``contradicted``. Deterministic for a given ``seed`` and a deterministic ``train_fn``.
    Raises ValueError on bad input.
    """
    if not callable(train_fn):
        raise ValueError("train_fn must be a callable train_fn(x, y, *, seed) -> model")
    if method not in ("one_run", "multi_run"):
        raise ValueError(f"method must be 'one_run' or 'multi_run', got {method!r}")
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta must be in [0, 1), got {delta}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if claimed_epsilon is not None and not claimed_epsilon >= 0:
        raise ValueError(f"claimed_epsilon must be >= 0, got {claimed_epsilon}")
    xa, ya = np.asarray(x), np.asarray(y)
    if xa.ndim == 0 or len(xa) == 0 or ya.ndim != 1 or len(xa) != len(ya):
        raise ValueError(f"x and y must hold the same number of rows, one label each (got {xa.shape} and {ya.shape})")
    recipe = Recipe(train_fn=train_fn)
    classes = np.unique(ya)
    notes = [
        "a lower bound below the claim does not show the claim holds: only that this attack, with "
        "these canaries and final-model access, could not refute it",
        f"the audit trains its own model(s) with the recipe on the data plus {canary} canaries; the "
        "deployed model is not examined",
    ]
    if method == "one_run":
        if n_canaries < 2:
            raise ValueError(f"a one-run audit needs n_canaries >= 2, got {n_canaries}")
        rules = list(guesses) if guesses is not None else _default_rules(n_canaries)
        for k_plus, k_minus in rules:
            if k_plus < 0 or k_minus < 0 or k_plus + k_minus < 1 or k_plus + k_minus > n_canaries:
                raise ValueError(f"guess rule ({k_plus}, {k_minus}) must make 1..{n_canaries} guesses")
        cans = make_canaries(xa, ya, n_canaries, canary, seed)
        n_in, results = _one_run(recipe, cans, classes, rules, delta=delta, confidence=confidence, seed=seed)
        best = max(results, key=lambda g: (g.epsilon, -g.guesses))
        notes.append(
            f"Steinke, Nasr & Jagielski (2023) one-run bound; {len(rules)} guessing rule(s), "
            "Bonferroni-corrected; one-run audits of noisy training are loose (far below the true epsilon)"
        )
        return DPAuditResult(
            "one_run", best.epsilon, claimed_epsilon, delta, confidence, n_canaries, n_in,
            best.guesses, best.correct, 1, canary, seed, rules=tuple(results), notes=tuple(notes),
        )
    if runs < 4:
        raise ValueError(f"a multi-run audit needs runs >= 4 (half with the canary), got {runs}")
    cans = make_canaries(xa, ya, 1, canary, seed)
    rates, eps, correct, n_in = _multi_run(
        recipe, cans, classes, runs, delta=delta, confidence=confidence, seed=seed, executor=executor, jobs=jobs
    )
    counted = rates.runs_in + rates.runs_out
    ceiling = multi_run_ceiling(runs, delta=delta, confidence=confidence)
    notes.append(
        f"{runs} training runs, the canary IN for {n_in}; the threshold was chosen on "
        f"{rates.selection_runs} runs and Clopper-Pearson applied once, on the other {counted} "
        f"({rates.runs_in} IN); even a perfect separation of those runs shows only epsilon >= {ceiling:.2f}"
    )
    return DPAuditResult(
        "multi_run", eps, claimed_epsilon, delta, confidence, 1, n_in, counted, correct, runs,
        canary, seed, rates=rates, notes=tuple(notes),
    )
