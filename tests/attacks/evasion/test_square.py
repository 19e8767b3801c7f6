"""Square attack (black-box, scores only) against a scikit-learn Target: no torch involved."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeshield.attacks.evasion.square_attack import p_schedule, square

CLIP = (0.0, 1.0)


@pytest.fixture(scope="module")
def digits() -> tuple[object, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    from pipeshield.core.targets.sklearn import SklearnTarget

    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    clf = LogisticRegression(max_iter=1000).fit(x[:1200], y[:1200])
    xt, yt = x[1200:], y[1200:]
    ok = clf.predict(xt) == yt
    return SklearnTarget("digits-lr", clf), xt[ok][:100], yt[ok][:100]


class CountingTarget:
    """Wraps a Target and records every batch it is asked about."""

    white_box = False

    def __init__(self, inner: object) -> None:
        self.inner, self.name, self.classes = inner, "counting", inner.classes  # type: ignore[attr-defined]
        self.calls = 0
        self.rows: list[np.ndarray] = []

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        probs = self.inner.predict_proba(x)  # type: ignore[attr-defined]
        self.rows.append(probs)
        return probs


@pytest.mark.parametrize("shape", [(8, 8), None])
def test_linf_fools_digits_within_eps_and_budget(digits, shape) -> None:
    target, x, y = digits
    assert len(x) == 100
    res = square(target, x, y, eps=0.3, max_queries=1000, clip=CLIP, input_shape=shape, seed=0)
    assert res.success_rate >= 0.8
    assert res.x_adv.shape == x.shape and not np.isnan(res.x_adv).any()
    assert np.abs(res.x_adv - x).max() <= 0.3 + 1e-7
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    assert (res.queries >= 1).all() and (res.queries <= 1000).all()
    # reported success is the truth
    pred = target.classes[target.predict_proba(res.x_adv).argmax(axis=1)]
    assert np.array_equal(pred != y, res.success)


def test_l2_fools_digits_within_eps(digits) -> None:
    target, x, y = digits
    res = square(
        target, x, y, eps=2.0, norm="l2", max_queries=1000, clip=CLIP, input_shape=(8, 8), seed=0
    )
    assert res.success_rate >= 0.8
    assert np.sqrt(((res.x_adv - x) ** 2).sum(axis=1)).max() <= 2.0 + 1e-7
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    assert (res.queries <= 1000).all()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_deterministic_under_seed(digits, norm) -> None:
    target, x, y = digits
    kw = {
        "eps": 0.1 if norm == "linf" else 1.0,
        "norm": norm,
        "max_queries": 200,
        "clip": CLIP,
        "input_shape": (8, 8),
    }
    a = square(target, x[:30], y[:30], seed=3, **kw)
    b = square(target, x[:30], y[:30], seed=3, **kw)
    c = square(target, x[:30], y[:30], seed=4, **kw)
    assert np.array_equal(a.x_adv, b.x_adv)
    assert np.array_equal(a.success, b.success) and np.array_equal(a.queries, b.queries)
    assert not np.array_equal(a.x_adv, c.x_adv)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_eps_zero_fools_nothing(digits, norm) -> None:
    target, x, y = digits
    res = square(target, x, y, eps=0.0, norm=norm, max_queries=100, clip=CLIP, seed=0)
    assert not res.success.any()
    assert np.array_equal(res.x_adv, x)


def test_only_unfooled_inputs_are_queried(digits) -> None:
    target, x, y = digits
    counting = CountingTarget(target)
    res = square(counting, x, y, eps=0.3, max_queries=300, clip=CLIP, input_shape=(8, 8), seed=0)
    # total rows sent to the target equals the per-input query counts: nothing extra is queried
    assert sum(len(r) for r in counting.rows) == int(res.queries.sum())
    # batch sizes never grow, and the number of calls is the largest per-input count
    sizes = [len(r) for r in counting.rows]
    assert all(a >= b for a, b in itertools.pairwise(sizes))
    assert counting.calls == int(res.queries.max())
    # call k carries exactly the inputs still being attacked: those with more than k queries
    assert sizes == [int((res.queries > k).sum()) for k in range(counting.calls)]
    # fooled inputs stopped early: they used fewer queries than the budget
    assert res.success.any()
    assert (res.queries[res.success] < 300).all()
    assert (res.queries[~res.success] == 300).all()


def test_already_misclassified_costs_one_query(digits) -> None:
    target, x, y = digits
    wrong = (y[:10] + 1) % 10
    res = square(target, x[:10], wrong, eps=0.3, max_queries=100, clip=CLIP, seed=0)
    assert res.success.all() and (res.queries == 1).all()
    assert np.array_equal(res.x_adv, x[:10])


def test_schedule_and_facade() -> None:
    from pipeshield.attacks import evasion

    assert p_schedule(0.05, 0, 1000) == 0.05
    assert p_schedule(0.05, 1000, 1000) == 0.05 / 512
    ps = [p_schedule(0.8, i, 1000) for i in range(1000)]
    assert all(a >= b for a, b in itertools.pairwise(ps))
    assert callable(evasion.square)
    with pytest.raises(ValueError):
        square(None, np.zeros((1, 4)), [0], eps=0.1, norm="l1")
