"""DP-SGD on small real problems: sensible accuracy, and the epsilon of the steps actually taken."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from pipeshield.training.dp import (
    PrivateTraining,
    dp_logistic_regression,
    epsilon,
    fit,
    make_private,
)

# Opacus' per-sample hooks fire on module outputs when inputs need no gradient: expected.
pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    parts = train_test_split((x / 16.0).astype(np.float32), y, test_size=0.33, random_state=0, stratify=y)
    return parts[0], parts[1], parts[2], parts[3]


def _mlp() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def test_dp_sgd_learns_digits_and_reports_the_epsilon_of_its_steps(digits: tuple[np.ndarray, ...]) -> None:
    torch.set_num_threads(1)
    x_tr, x_te, y_tr, y_te = digits
    torch.manual_seed(0)
    model = _mlp()
    loader = DataLoader(TensorDataset(torch.as_tensor(x_tr), torch.as_tensor(y_tr)), batch_size=128, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    private = make_private(model, torch.optim.Adam(model.parameters(), lr=0.01), loader, delta=1e-5,
                           target_epsilon=3.0, epochs=12, noise_seed=0)
    steps = 0
    for _ in range(12):  # the user's own loop; count the steps it takes
        for xb, yb in private.data_loader:
            private.optimizer.zero_grad()
            torch.nn.functional.cross_entropy(private.module(xb), yb).backward()  # type: ignore[no-untyped-call]
            private.optimizer.step()
            steps += 1
    report = private.spent()
    assert report.steps == steps == 12 * len(private.data_loader)
    assert report.epsilon == epsilon(sample_rate=report.sample_rate, noise_multiplier=report.noise_multiplier,
                                     steps=steps, delta=1e-5, accountant="prv")
    assert 2.98 <= report.epsilon <= 3.0  # calibrated to the target, never above it
    assert report.cross_check.status == "agrees"
    with torch.inference_mode():
        accuracy = float((model(torch.as_tensor(x_te)).argmax(1).numpy() == y_te).mean())
    assert accuracy >= 0.85  # non-private: ~0.98; chance: 0.10


def test_stopping_early_spends_less(digits: tuple[np.ndarray, ...]) -> None:
    x_tr, _, y_tr, _ = digits
    torch.manual_seed(0)
    model = _mlp()
    loader = DataLoader(TensorDataset(torch.as_tensor(x_tr), torch.as_tensor(y_tr)), batch_size=128,
                        generator=torch.Generator().manual_seed(0))
    private = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5), loader, delta=1e-5,
                           target_epsilon=3.0, epochs=10, noise_seed=0)
    result = fit(private, epochs=3)
    report = private.spent()
    assert len(result.epoch_seconds) == 3 and report.steps == 3 * len(private.data_loader)
    assert report.epsilon == epsilon(sample_rate=report.sample_rate, noise_multiplier=report.noise_multiplier,
                                     steps=report.steps, delta=1e-5)
    assert report.epsilon < 3.0 * 0.75


def test_weight_average_is_the_exponential_moving_average_of_the_steps() -> None:
    from pipeshield.training.dp.private import _WeightAverage

    module = torch.nn.Linear(1, 1, bias=False)
    average = _WeightAverage(module, 0.9)
    for value in (1.0, 2.0, 3.0):  # the weights after three steps
        module.weight.data.fill_(value)
        average.update()
    average.load()
    assert module.weight.item() == pytest.approx(1.0 + 0.1 * (2.0 - 1.0) + 0.1 * (3.0 - 1.1))  # 1.29


def _private_mlp(digits: tuple[np.ndarray, ...]) -> PrivateTraining:
    x_tr, _, y_tr, _ = digits
    torch.manual_seed(0)
    model = _mlp()
    loader = DataLoader(TensorDataset(torch.as_tensor(x_tr), torch.as_tensor(y_tr)), batch_size=128, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    return make_private(model, torch.optim.Adam(model.parameters(), lr=0.01), loader, delta=1e-5,
                        target_epsilon=3.0, epochs=3, noise_seed=0)


def test_weight_averaging_changes_the_weights_not_the_epsilon(digits: tuple[np.ndarray, ...]) -> None:
    torch.set_num_threads(1)
    runs = {}
    for decay in (None, 0.0, 0.9):
        private = _private_mlp(digits)
        fit(private, epochs=3, ema_decay=decay)
        runs[decay] = (private.spent(), [p.detach().clone() for p in private.trained_module.parameters()])
    last, zero, averaged = runs[None], runs[0.0], runs[0.9]
    assert all(torch.equal(a, b) for a, b in zip(last[1], zero[1]))  # decay 0: the last iterate
    assert not any(torch.equal(a, b) for a, b in zip(last[1], averaged[1]))
    assert averaged[0].epsilon == last[0].epsilon and averaged[0].steps == last[0].steps  # post-processing


def test_weight_average_decay_must_be_below_one(digits: tuple[np.ndarray, ...]) -> None:
    from pipeshield.errors import ConfigError

    with pytest.raises(ConfigError, match="ema_decay"):
        fit(_private_mlp(digits), epochs=1, ema_decay=1.0)


def test_dp_logistic_regression_on_breast_cancer() -> None:
    import skops.io as sio

    x, y = load_breast_cancer(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    result = dp_logistic_regression(x_tr, y_tr, delta=1e-5, target_epsilon=3.0, epochs=30, batch_size=64)
    model = result.model
    assert isinstance(model, LogisticRegression)
    assert model.coef_.shape == (1, 30) and model.intercept_.shape == (1,) and list(model.classes_) == [0, 1]
    assert model.score(x_te, y_te) >= 0.88  # non-private: ~0.93
    assert result.report.epsilon <= 3.0 and result.report.cross_check.status == "agrees"
    assert "not covered" in result.bounds_source
    loaded = sio.loads(sio.dumps(model))  # plain scikit-learn: skops saves and loads it with no custom types
    assert np.array_equal(loaded.predict_proba(x_te), model.predict_proba(x_te))


def test_dp_logistic_regression_folds_public_bounds_into_raw_features() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform([0, 100], [1, 300], size=(600, 2))
    y = (x[:, 0] + (x[:, 1] - 100) / 200 > 1.0).astype(int)
    result = dp_logistic_regression(x, y, delta=1e-5, noise_multiplier=0.5, epochs=20, batch_size=60, lr=2.0,
                                    bounds=[(0, 1), (100, 300)])
    assert result.bounds_source == "given (public)"
    assert result.model.score(x, y) >= 0.9  # the raw-feature model applies the scaling it was trained with


def test_multiclass_logistic_regression(digits: tuple[np.ndarray, ...]) -> None:
    x_tr, x_te, y_tr, y_te = digits
    result = dp_logistic_regression(x_tr, y_tr, delta=1e-5, target_epsilon=4.0, epochs=15, batch_size=128, lr=1.0)
    assert result.model.coef_.shape == (10, 64)
    proba = result.model.predict_proba(x_te)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert result.model.score(x_te, y_te) >= 0.75


def _dp_recipe(x: np.ndarray, y: np.ndarray, *, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = _mlp()
    loader = DataLoader(TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)), batch_size=128,
                        shuffle=True, generator=torch.Generator().manual_seed(seed))
    private = make_private(model, torch.optim.Adam(model.parameters(), lr=0.01), loader, delta=1e-5,
                           target_epsilon=3.0, epochs=15, noise_seed=seed)
    fit(private, epochs=15)
    return private.trained_module


@pytest.mark.slow
def test_canary_audit_refutes_plain_training_but_not_dp(digits: tuple[np.ndarray, ...]) -> None:
    """Ground truth by contrast: the same one-run audit that refutes epsilon=3 for the demo's
    non-private recipe finds nothing against the DP recipe's claim (bench/dp_training.py, section 3)."""
    from pipeshield.attacks.membership import audit_dp
    from pipeshield.demo.models import train_digits_cnn

    x_tr, _, y_tr, _ = digits
    images = x_tr.reshape(-1, 1, 8, 8)
    plain = audit_dp(train_digits_cnn, images, y_tr, claimed_epsilon=3.0, delta=1e-5, n_canaries=200, seed=0)
    private = audit_dp(_dp_recipe, x_tr, y_tr, claimed_epsilon=3.0, delta=1e-5, n_canaries=200, seed=0)
    assert plain.contradicted and plain.epsilon_lower_bound > 3.0
    assert not private.contradicted and private.epsilon_lower_bound < 1.0
