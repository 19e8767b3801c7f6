"""Membership metrics against hand-computed ROCs, scikit-learn, scipy's beta quantiles and a
mechanism whose true epsilon is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipeshield.attacks.membership.metrics import (
    clopper_pearson,
    epsilon_lower_bound,
    epsilon_lower_bound_from_scores,
    membership_advantage,
    roc_auc,
    roc_curve,
    tpr_at_fpr,
)


def test_small_roc_by_hand() -> None:
    scores = np.array([0.9, 0.8, 0.4, 0.3])
    members = np.array([True, False, True, False])
    roc = roc_curve(scores, members)
    assert roc.fpr.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert roc.tpr.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    assert roc.thresholds.tolist() == [math.inf, 0.9, 0.8, 0.4, 0.3]
    assert roc_auc(scores, members) == 0.75
    assert tpr_at_fpr(scores, members, 0.0) == 0.5
    assert tpr_at_fpr(scores, members, 0.49) == 0.5  # no interpolation towards (0.5, 1.0)
    assert tpr_at_fpr(scores, members, 0.5) == 1.0
    assert membership_advantage(scores, members) == 0.5


def test_ties_move_together_and_count_half() -> None:
    scores = np.array([1.0, 1.0, 0.0, 0.0])
    members = np.array([True, False, True, False])
    roc = roc_curve(scores, members)
    assert roc.fpr.tolist() == [0.0, 0.5, 1.0] and roc.tpr.tolist() == [0.0, 0.5, 1.0]
    assert roc_auc(roc) == 0.5
    assert tpr_at_fpr(roc, fpr=0.0) == 0.0
    assert membership_advantage(roc) == 0.0


def test_infinite_scores_are_ties_not_distinct() -> None:
    scores = np.array([np.inf, np.inf, -np.inf])
    roc = roc_curve(scores, np.array([True, False, False]))
    assert roc.fpr.tolist() == [0.0, 0.5, 1.0]


def test_perfect_separation() -> None:
    scores = np.r_[np.arange(10.0, 20.0), np.arange(10.0)]
    members = np.r_[np.ones(10, bool), np.zeros(10, bool)]
    assert roc_auc(scores, members) == 1.0
    assert tpr_at_fpr(scores, members, 0.0) == 1.0
    assert membership_advantage(scores, members) == 1.0


@pytest.mark.parametrize(("n_nonmembers", "expected"), [(100, 1.0), (99, 0.0)])
def test_fpr_level_allows_floor_alpha_n_false_positives(n_nonmembers: int, expected: float) -> None:
    # One non-member outscores every member: 1 false positive is allowed at 1% FPR only when
    # there are at least 100 non-members.
    members = np.arange(100.0, 110.0)
    nonmembers = np.r_[1000.0, np.zeros(n_nonmembers - 1)]
    scores = np.r_[members, nonmembers]
    mask = np.r_[np.ones(10, bool), np.zeros(n_nonmembers, bool)]
    assert tpr_at_fpr(scores, mask, 0.0) == 0.0
    assert tpr_at_fpr(scores, mask, 0.01) == expected


def test_auc_matches_scikit_learn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for _ in range(5):
        scores = rng.integers(0, 7, 301).astype(float)  # heavy ties
        mask = rng.random(301) < 0.4
        assert roc_auc(scores, mask) == pytest.approx(roc_auc_score(mask, scores), abs=1e-12)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="one member and one non-member"):
        roc_curve([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="NaN"):
        roc_curve([0.1, np.nan], [True, False])
    with pytest.raises(ValueError, match="3 entries but is_member has 2"):
        roc_curve([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(ValueError, match="fpr must be in"):
        tpr_at_fpr([0.1, 0.2], [True, False], 1.5)


def test_clopper_pearson_is_scipys_beta_quantiles() -> None:
    k, n = np.array([0, 1, 7, 50, 99, 100]), 100
    lo, hi = clopper_pearson(k, n, 0.95)
    for ki, got_lo, got_hi in zip(k, lo, hi):
        exp_lo = 0.0 if ki == 0 else stats.beta.ppf(0.025, ki, n - ki + 1)
        exp_hi = 1.0 if ki == n else stats.beta.ppf(0.975, ki + 1, n - ki)
        assert got_lo == pytest.approx(exp_lo, abs=1e-12) and got_hi == pytest.approx(exp_hi, abs=1e-12)
    # closed forms at the ends: k = 0 -> hi = 1 - (alpha/2)^(1/n); k = n -> lo = (alpha/2)^(1/n)
    assert hi[0] == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-10)
    assert lo[-1] == pytest.approx(0.025 ** (1 / n), rel=1e-10)
    # textbook value: 0 successes in 10 trials, 95%: [0, 0.3085]
    assert clopper_pearson(0, 10)[1] == pytest.approx(0.30850, abs=1e-5)


def test_epsilon_bound_by_hand_both_directions() -> None:
    # 90 of 100 members called members, 1 of 100 non-members: the "TPR/FPR" direction binds.
    lo = stats.beta.ppf(0.025, 90, 11)
    hi = stats.beta.ppf(0.975, 2, 99)
    expected = max(math.log(lo / hi), math.log((1 - hi) / (1 - lo)))
    assert epsilon_lower_bound(90, 1, 100, 100, delta=0.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(math.log(lo / hi))
    # Mirror image (every member called, half the non-members too): the TNR/FNR direction binds.
    lo2 = stats.beta.ppf(0.025, 100, 1)
    hi2 = stats.beta.ppf(0.975, 51, 50)
    mirrored = math.log((1 - hi2) / (1 - lo2))
    assert epsilon_lower_bound(100, 50, 100, 100, delta=0.0) == pytest.approx(mirrored, rel=1e-12)
    assert mirrored > math.log(lo2 / hi2)
    # delta is subtracted from the numerators
    with_delta = math.log((lo - 0.01) / hi)
    assert epsilon_lower_bound(90, 1, 100, 100, delta=0.01) == pytest.approx(with_delta, rel=1e-12)


def test_no_evidence_gives_zero() -> None:
    assert epsilon_lower_bound(50, 50, 100, 100) == 0.0
    assert epsilon_lower_bound(0, 0, 100, 100) == 0.0
    rng = np.random.default_rng(0)
    scores = rng.random(400)
    assert epsilon_lower_bound_from_scores(scores, rng.random(400) < 0.5) < 0.5


def test_bound_never_exceeds_true_epsilon_of_randomised_response() -> None:
    # Each record answers "member" with probability e^eps/(1+e^eps) if it is one, 1/(1+e^eps)
    # if not: exactly eps-DP, and the best any threshold can certify.
    eps = 1.0
    p = math.exp(eps) / (1 + math.exp(eps))
    rng = np.random.default_rng(11)
    bounds = []
    for _ in range(30):
        scores = np.r_[rng.random(2000) < p, rng.random(2000) < 1 - p].astype(float)
        mask = np.r_[np.ones(2000, bool), np.zeros(2000, bool)]
        bounds.append(epsilon_lower_bound_from_scores(scores, mask, delta=0.0))
    assert max(bounds) <= eps
    assert min(bounds) > 0.7  # and it is not vacuous
