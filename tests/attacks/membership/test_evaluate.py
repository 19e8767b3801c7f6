"""evaluate() with planted ground truth: digits models trained on a known half."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

from pipeshield.attacks.membership import ATTACKS, FPR_LEVELS, MembershipResult, evaluate

REQUIRED = ("loss", "correctness", "confidence", "lira", "lira_offline", "rmia")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    return x / 16.0, y, order


def _forest(seed: int = 0, n: int = 100) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=n, random_state=seed)


@pytest.fixture(scope="module")
def forest_result(digits: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[MembershipResult, Any]:
    """A forest trained on a known half of digits (898 members), the other 899 rows as
    non-members, 16 reference models."""
    x, y, order = digits
    m, n = order[: len(x) // 2], order[len(x) // 2 :]
    model = _forest().fit(x[m], y[m])
    return evaluate(model, x[m], y[m], x[n], y[n], n_reference=16, seed=0, executor="serial"), model


def test_every_attack_is_reported_with_all_metrics(forest_result: tuple[MembershipResult, Any]) -> None:
    result, _ = forest_result
    assert set(REQUIRED) <= set(result.attacks) == set(ATTACKS)
    for name, a in result.attacks.items():
        assert a.name == name
        assert 0.0 <= a.auc <= 1.0 and 0.0 <= a.advantage <= 1.0 and a.epsilon_lower_bound >= 0.0
        assert tuple(a.tpr_at_fpr) == FPR_LEVELS
        assert a.scores.shape == (result.n_members + result.n_nonmembers,)
        assert np.isfinite(a.scores).all()
    assert (result.n_members, result.n_nonmembers, result.n_reference) == (898, 899, 16)
    assert any("thousands of non-members" in note for note in result.notes)


def test_membership_of_an_overfit_forest_is_exposed(forest_result: tuple[MembershipResult, Any]) -> None:
    a = forest_result[0].attacks
    assert a["loss"].auc > 0.7
    assert a["lira"].auc > 0.85 and a["rmia"].auc > 0.85 and a["lira_offline"].auc > 0.85
    # LiRA and RMIA beat the loss baseline where it matters: at low FPR.
    loss_tpr = a["loss"].tpr_at_fpr[0.01]
    for name in ("lira", "lira_offline", "rmia", "rmia_offline"):
        assert a[name].tpr_at_fpr[0.01] > loss_tpr + 0.2, name
    assert a["rmia"].epsilon_lower_bound > 1.0


def test_correctness_auc_is_half_the_generalisation_gap(
    digits: tuple[np.ndarray, np.ndarray, np.ndarray], forest_result: tuple[MembershipResult, Any]
) -> None:
    x, y, order = digits
    result, forest = forest_result
    m, n = order[: len(x) // 2], order[len(x) // 2 :]
    gap = forest.score(x[m], y[m]) - forest.score(x[n], y[n])
    assert result.attacks["correctness"].auc == pytest.approx(0.5 + gap / 2, abs=1e-9)
    # and on a model that is not perfect on its training set, with exactly balanced sets
    m, n = order[:800], order[800:1600]
    tree = DecisionTreeClassifier(max_depth=7, random_state=0).fit(x[m], y[m])
    train_acc, test_acc = tree.score(x[m], y[m]), tree.score(x[n], y[n])
    assert train_acc < 1.0
    res = evaluate(tree, x[m], y[m], x[n], y[n], n_reference=2, executor="serial")
    assert res.attacks["correctness"].auc == pytest.approx(0.5 + (train_acc - test_acc) / 2, abs=1e-9)
    assert (res.train_accuracy, res.test_accuracy) == (train_acc, test_acc)


def test_members_that_are_not_members_give_chance(digits: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    # Trained on a third set: the "members" were never seen, so no attack can tell them apart.
    x, y, order = digits
    a, b, c = order[:600], order[600:1200], order[1200:1797]
    model = _forest(n=50).fit(x[a], y[a])
    res = evaluate(model, x[b], y[b], x[c], y[c], n_reference=8, executor="serial", template=_forest(n=50))
    for name, attack in res.attacks.items():
        assert abs(attack.auc - 0.5) < 0.07, (name, attack.auc)


def test_deterministic_under_seed(digits: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    x, y, order = digits
    m, n = order[:300], order[300:600]
    model = RandomForestClassifier(n_estimators=20).fit(x[m], y[m])  # random_state unset
    kw: dict[str, Any] = {"n_reference": 4, "executor": "serial"}
    r1 = evaluate(model, x[m], y[m], x[n], y[n], seed=5, **kw)
    r2 = evaluate(model, x[m], y[m], x[n], y[n], seed=5, **kw)
    r3 = evaluate(model, x[m], y[m], x[n], y[n], seed=6, **kw)
    for name in ATTACKS:
        np.testing.assert_array_equal(r1.attacks[name].scores, r2.attacks[name].scores)
    assert json.dumps(r1.to_dict()) == json.dumps(r2.to_dict())
    assert not np.array_equal(r1.attacks["lira"].scores, r3.attacks["lira"].scores)


def _train_forest(x: np.ndarray, y: np.ndarray, *, seed: int) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=10, random_state=seed).fit(x, y)


def test_worker_processes_give_the_same_scores(digits: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    x, y, order = digits
    m, n = order[:200], order[200:400]
    model = _train_forest(x[m], y[m], seed=0)
    serial = evaluate(model, x[m], y[m], x[n], y[n], n_reference=2, train_fn=_train_forest, executor="serial")
    local = evaluate(model, x[m], y[m], x[n], y[n], n_reference=2, train_fn=_train_forest, executor="local", jobs=2)
    np.testing.assert_array_equal(serial.attacks["lira"].scores, local.attacks["lira"].scores)
    # a recipe that cannot be sent to a worker (a lambda) is trained here instead, with a warning
    with pytest.warns(RuntimeWarning, match="could not run in worker processes"):
        fallback = evaluate(
            model, x[m], y[m], x[n], y[n], n_reference=2, executor="local", jobs=2,
            train_fn=lambda a, b, *, seed: _train_forest(a, b, seed=seed),
        )
    np.testing.assert_array_equal(serial.attacks["rmia"].scores, fallback.attacks["rmia"].scores)


def test_to_dict_is_plain_json(forest_result: tuple[MembershipResult, Any]) -> None:
    result, _ = forest_result
    d = result.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    lira = back["attacks"]["lira"]
    assert set(lira["tpr_at_fpr"]) == {"0.01", "0.001", "0.0"}
    assert len(lira["scores"]) == 898 + 899
    assert {"auc", "advantage", "epsilon_lower_bound", "most_exposed", "method"} <= set(lira)
    assert "scores" not in result.to_dict(include_scores=False)["attacks"]["lira"]


def test_most_exposed_are_the_top_scoring_members(forest_result: tuple[MembershipResult, Any]) -> None:
    a = forest_result[0].attacks["rmia"]
    top = a.most_exposed
    assert len(top) == 10
    assert [r.score for r in top] == sorted(a.member_scores, reverse=True)[:10]
    for r in top:
        assert a.member_scores[r.index] == r.score
        assert r.fpr == np.mean(a.nonmember_scores >= r.score)
    assert top[0].fpr <= top[-1].fpr


class _BlackBox:
    """Only predict_proba: what an HTTP endpoint offers."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.classes_ = model.classes_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._model.predict_proba(x))


def test_black_box_needs_a_recipe(digits: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    x, y, order = digits
    m, n = order[:200], order[200:400]
    box = _BlackBox(_forest(n=10).fit(x[m], y[m]))
    with pytest.raises(ValueError, match="train_fn.*template"):
        evaluate(box, x[m], y[m], x[n], y[n], n_reference=2)
    res = evaluate(box, x[m], y[m], x[n], y[n], n_reference=2, template=_forest(n=10), executor="serial")
    assert res.attacks["loss"].auc > 0.6


def test_torch_model_with_train_fn() -> None:
    torch = pytest.importorskip("torch")
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    m, n = np.arange(0, 150), np.arange(150, 300)

    def train(xs: np.ndarray, ys: np.ndarray, *, seed: int) -> Any:
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        xt, yt = torch.as_tensor(xs), torch.as_tensor(ys, dtype=torch.long)
        for _ in range(100):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
        return net

    net = train(x[m], y[m], seed=0)
    with pytest.raises(ValueError, match="torch model needs train_fn"):
        evaluate(net, x[m], y[m], x[n], y[n], n_reference=2)
    res = evaluate(net, x[m], y[m], x[n], y[n], n_reference=2, train_fn=train, executor="serial")
    assert res.train_accuracy == 1.0
    assert res.attacks["loss"].auc > 0.6
    assert np.isfinite(res.attacks["lira"].scores).all()


def test_population_records_are_rmias_reference_points(digits: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    x, y, order = digits
    m, n, p = order[:200], order[200:400], order[400:700]
    model = _forest(n=20).fit(x[m], y[m])
    res = evaluate(model, x[m], y[m], x[n], y[n], n_reference=2, population=(x[p], y[p]), executor="serial")
    assert res.n_population == 300
    assert res.attacks["rmia"].scores.shape == (400,)
    assert set(np.unique(res.attacks["rmia"].scores * 300).round(6)) <= set(np.arange(301.0))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"y_members": "short"}, "x_members has 100 rows but y_members has 99 labels"),
        ({"y_nonmembers": "unknown"}, r"y_nonmembers: label 42 is not one of the model's classes \[0, 1, 2"),
        ({"n_reference": 1}, "LiRA online needs >= 2 reference models"),
        ({"n_reference": 0}, "LiRA online needs >= 2 reference models"),
        ({"x_nonmembers": "wide"}, "different shapes"),
        ({"x_members": "empty"}, "x_members is empty"),
    ],
)
def test_bad_input_is_a_value_error(
    digits: tuple[np.ndarray, np.ndarray, np.ndarray], change: dict[str, Any], message: str
) -> None:
    x, y, order = digits
    m, n = order[:100], order[100:200]
    model = _forest(n=5).fit(x[m], y[m])
    args: dict[str, Any] = {"x_members": x[m], "y_members": y[m], "x_nonmembers": x[n], "y_nonmembers": y[n]}
    kw: dict[str, Any] = {"n_reference": 2}
    for key, how in change.items():
        if how == "short":
            args[key] = args[key][:-1]
        elif how == "unknown":
            args[key] = np.r_[args[key][:-1], 42]
        elif how == "wide":
            args[key] = np.c_[args[key], args[key][:, :1]]
        elif how == "empty":
            args[key], args["y_members"] = args[key][:0], args["y_members"][:0]
        else:
            kw[key] = how
    with pytest.raises(ValueError, match=message):
        evaluate(model, args["x_members"], args["y_members"], args["x_nonmembers"], args["y_nonmembers"], **kw)


def test_package_facade_is_light_and_complete() -> None:
    import pipeshield.attacks.membership as pkg

    for name in pkg.__all__:
        assert getattr(pkg, name) is not None
    with pytest.raises(AttributeError, match="no_such"):
        pkg.no_such  # noqa: B018
    code = "import sys, pipeshield.attacks.membership; print('torch' in sys.modules, 'sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
