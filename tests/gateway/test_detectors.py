"""The input detectors against planted ground truth: inputs we made adversarial or out-of-distribution
are flagged far more often than clean test inputs, whose false-positive rate stays near the target."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from pipeshield.core.pipeline import parse_pipeline
from pipeshield.errors import ConfigError
from pipeshield.gateway.detectors import DETECTORS, FeatureSqueezing, calibrate, fit_detector


@pytest.fixture(scope="module")
def tabular() -> dict[str, Any]:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=0, stratify=y)
    rng = np.random.default_rng(1)
    lo, hi, sd = x_train.min(0), x_train.max(0), x_train.std(0)
    shifted = x_test[:100].copy()
    for row in shifted:  # five features each moved by three standard deviations
        cols = rng.choice(x.shape[1], 5, replace=False)
        row[cols] += 3 * sd[cols]
    return {"x": x_train, "y": y_train, "test": x_test,
            "uniform": rng.uniform(lo, hi, size=(200, x.shape[1])),  # every value inside the training range
            "shifted": shifted,
            "other": lo + load_digits().data[:200, 10:40] / 16.0 * (hi - lo)}  # another dataset, rescaled


def test_calibrate_is_the_split_conformal_quantile() -> None:
    scores = np.arange(1.0, 101.0)
    assert calibrate(scores, 0.05) == 96.0  # ceil(101 * 0.95) = 96th smallest: 4 of 100 above it
    assert calibrate(scores[:20], 0.01) == 20.0  # fewer rows than 1/fpr: the largest
    assert set(DETECTORS) == {"squeezing", "mahalanobis", "isolation-forest"}


def test_mahalanobis_flags_out_of_distribution_rows(tabular: dict[str, Any]) -> None:
    det = fit_detector("mahalanobis", tabular["x"], tabular["y"], fpr=0.01)
    clean = det.flags(det.score(tabular["test"])).mean()
    assert clean <= 0.05
    for planted in ("uniform", "other"):
        assert det.flags(det.score(tabular[planted])).mean() >= 0.95, planted
    shifted = det.flags(det.score(tabular["shifted"])).mean()  # five features 3 sd off: subtler
    assert shifted >= 0.25 and shifted >= 5 * max(clean, 0.01)


def test_isolation_forest_flags_far_rows(tabular: dict[str, Any]) -> None:
    det = fit_detector("isolation-forest", tabular["x"], fpr=0.05, n_estimators=100)
    clean = det.flags(det.score(tabular["test"])).mean()
    other = det.flags(det.score(tabular["other"])).mean()
    assert clean <= 0.1
    assert other >= 0.5 and other >= 5 * max(clean, 0.01)


class _Linear:
    """A softmax classifier on 8x8 digits in [0, 1], and a gradient attack that stops at the boundary."""

    def __init__(self) -> None:
        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        self.x_train, self.x_test, self.y_train, self.y_test = train_test_split(x, y, test_size=0.3, random_state=0)
        self.model = LogisticRegression(max_iter=2000).fit(self.x_train, self.y_train)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.predict_proba(np.asarray(x, dtype=np.float64)))

    def attack(self, x: np.ndarray, y: np.ndarray, eps: float = 0.3,
               step: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
        """Iterative FGSM on the margin (runner-up minus true logit); each input stops once misclassified."""
        w = self.model.coef_
        xa, done = x.copy(), np.zeros(len(x), dtype=bool)
        for _ in range(int(eps / step)):
            logits = xa @ w.T + self.model.intercept_
            done |= logits.argmax(1) != y
            if done.all():
                break
            masked = logits.copy()
            masked[np.arange(len(x)), y] = -np.inf
            grad = w[masked.argmax(1)] - w[y]
            move = np.where(done[:, None], 0.0, step * np.sign(grad))
            xa = np.clip(np.clip(xa + move, x - eps, x + eps), 0.0, 1.0)
        return xa, (xa @ w.T + self.model.intercept_).argmax(1) != y


def test_feature_squeezing_flags_boundary_adversarial_digits() -> None:
    lin = _Linear()
    det = fit_detector("squeezing", lin.x_train, lin.y_train, lin, fpr=0.05, shape=(1, 8, 8), clip=(0.0, 1.0),
                       bits=3, median=0)
    correct = lin.model.predict(lin.x_test) == lin.y_test
    x_adv, fooled = lin.attack(lin.x_test[correct], lin.y_test[correct])
    assert fooled.mean() > 0.9  # the planted ground truth: these inputs are adversarial
    clean = det.flags(det.score(lin.x_test)).mean()
    caught = det.flags(det.score(x_adv[fooled])).mean()
    assert clean <= 0.12
    assert caught >= 0.5 and caught >= 4 * clean


def test_squeezing_median_filter_smooths_images() -> None:
    sq = FeatureSqueezing(bits=8, median=3, shape=(1, 4, 4), clip=(0.0, 1.0)).fit(np.zeros((2, 16)), None, _Const())
    spike = np.zeros((1, 16))
    spike[0, 5] = 1.0  # one bright pixel: the median removes it
    bits, median = sq.squeezed(spike)
    assert bits[0, 5] == 1.0 and median.max() == 0.0


class _Const:
    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.full((len(x), 2), 0.5)


def test_fit_errors_name_the_problem() -> None:
    x = np.random.default_rng(0).normal(size=(100, 3))
    with pytest.raises(ConfigError, match="detector method 'lof'"):
        fit_detector("lof", x)
    with pytest.raises(ConfigError, match="too few"):
        fit_detector("mahalanobis", x[:15])
    with pytest.raises(ConfigError, match="needs the served model"):
        fit_detector("squeezing", x)
    with pytest.raises(ConfigError, match="white-box"):
        fit_detector("mahalanobis", x, model=_Const(), features="logits")


def _pipeline(detectors: dict[str, Any]) -> dict[str, Any]:
    return {"datasets": {"d": {"path": "d.csv", "role": "train"}},
            "models": {"m": {"path": "m.skops", "train_data": "d"}},
            "gateway": {"detectors": detectors}}


@pytest.mark.parametrize(("detectors", "where"), [
    ({"nope": {"method": "mahalanobis"}}, "gateway.detectors.nope: no model named 'nope'"),
    ({"m": {"method": "lof"}}, "gateway.detectors.m.method"),
    ({"m": {"method": "mahalanobis", "action": "block"}}, "gateway.detectors.m.action"),
    ({"m": {"method": "mahalanobis", "fpr": 0.9}}, "gateway.detectors.m.fpr"),
    ({"m": {"method": "squeezing", "bits": 0}}, "gateway.detectors.m.bits"),
    ({"m": {"action": "deny"}}, "gateway.detectors.m.method: required key is missing"),
    ({"m": {"method": "mahalanobis", "treshold": 3}}, "gateway.detectors.m.treshold: unknown key"),
])
def test_config_errors_name_the_key(detectors: dict[str, Any], where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_pipeline(_pipeline(detectors))
    assert where in err.value.message


def test_config_defaults() -> None:
    spec = parse_pipeline(_pipeline({"m": {"method": "isolation-forest"}})).gateway
    assert spec is not None
    d = spec.detectors["m"]
    assert (d.action, d.fpr, d.holdout, d.bits, d.median) == ("log", 0.01, 0.25, 4, 0)


def test_fast_scores_equal_the_reference_formulas(tabular: dict[str, Any]) -> None:
    x = np.vstack([tabular["test"], tabular["uniform"]])
    forest = fit_detector("isolation-forest", tabular["x"], n_estimators=50).detector
    f: Any = forest
    np.testing.assert_allclose(forest.score(x), -f.forest_.score_samples(x), rtol=0, atol=1e-12)
    maha = fit_detector("mahalanobis", tabular["x"], tabular["y"]).detector
    m: Any = maha
    diff = ((x - m.mean_) / m.scale_)[:, None, :] - m.centers_[None]
    reference = np.sqrt(np.einsum("ncd,de,nce->nc", diff, m.precision_, diff).min(axis=1))
    np.testing.assert_allclose(maha.score(x), reference, rtol=1e-9)
