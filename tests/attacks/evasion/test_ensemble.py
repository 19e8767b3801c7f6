"""APGD-T and the AutoAttack-style ensemble on planted ground truth: undefended digits models
(a CNN and an MLP, trained here) must collapse; the ensemble must be at least as strong as each of
its attacks alone and cost no more than their sum (counted in model rows, not seconds)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeshield.attacks.evasion import apgd_targeted, ensemble_attack
from pipeshield.attacks.evasion.assess import attack_plan
from pipeshield.attacks.evasion.ensemble import (
    BUDGETS,
    RUNNERS,
    STANDARD_ENSEMBLE,
    AttackOptions,
    Budget,
)
from pipeshield.attacks.evasion.projections import lp_norm

CLIP = (0.0, 1.0)
Data = tuple[torch.nn.Module, torch.nn.Module, torch.Tensor, torch.Tensor]


class Counting(torch.nn.Module):
    """Counts the input rows the wrapped model is asked about (forward passes, batch-weighted)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += len(x)
        out: torch.Tensor = self.inner(x)
        return out


def train_mlp(x: np.ndarray, y: np.ndarray, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    xt, yt = torch.tensor(x), torch.tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()  # type: ignore[no-untyped-call]
        opt.step()
    return model.eval()  # safe: nn.Module.eval() switches to inference mode


@pytest.fixture(scope="module")
def digits() -> Data:
    from sklearn.datasets import load_digits

    from pipeshield.demo.models import train_digits_cnn

    torch.set_num_threads(2)
    d = load_digits()
    x = (d.data / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], d.target[order]
    cnn = train_digits_cnn(x[:1400], y[:1400], seed=0, epochs=12)
    mlp = train_mlp(x[:1400], y[:1400])
    return cnn, mlp, torch.tensor(x[1400:1550]), torch.tensor(y[1400:1550])


def _alone(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, name: str, eps: float) -> float:
    """Robust accuracy of one attack run alone on every correctly classified input."""
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    res = RUNNERS[name](model, x[ok], y[ok], eps, AttackOptions(budget=Budget.QUICK, clip=CLIP))
    return float((~res.success).sum()) / len(x)


def test_apgd_targeted_counts_any_misclassification_and_is_deterministic(digits: Data) -> None:
    cnn, _, x, y = digits
    a = apgd_targeted(cnn, x, y, eps=0.1, steps=20, n_target_classes=3, clip=CLIP, seed=3)
    b = apgd_targeted(cnn, x, y, eps=0.1, steps=20, n_target_classes=3, clip=CLIP, seed=3)
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.success, b.success)
    assert float(lp_norm(a.x_adv - x, "linf").max()) <= 0.1 + 1e-6
    with torch.no_grad():
        wrong = cnn(a.x_adv).argmax(1) != y
    assert float((wrong == a.success).float().mean()) >= 0.99  # success = untargeted, not "hit target"
    strong = apgd_targeted(cnn, x, y, eps=0.2, steps=20, n_target_classes=3, clip=CLIP)
    assert strong.success_rate >= 0.95


def test_apgd_targeted_uses_dlr_from_four_classes_and_ce_below(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeshield.attacks.evasion.auto_pgd as auto_pgd

    used: list[str] = []
    real = auto_pgd.get_loss

    def spy(loss: str) -> object:
        used.append(loss)
        return real(loss)

    monkeypatch.setattr(auto_pgd, "get_loss", spy)
    torch.manual_seed(0)
    for n_classes in (3, 4):
        model = torch.nn.Linear(6, n_classes)
        x = torch.rand(40, 6)
        res = apgd_targeted(model, x, model(x).argmax(1), eps=0.5, steps=10, n_target_classes=9, clip=CLIP)
        assert res.success.any()
    assert used == ["ce", "dlr"]


@pytest.mark.parametrize("which", ["cnn", "mlp"])
def test_undefended_models_collapse_under_the_ensemble(digits: Data, which: str) -> None:
    cnn, mlp, x, y = digits
    model = cnn if which == "cnn" else mlp
    res = ensemble_attack(model, x, y, eps=0.2, budget="quick", clip=CLIP, input_shape=(8, 8))
    assert float(res.clean_correct.float().mean()) >= 0.9
    assert res.robust_accuracy <= 0.05
    assert float(lp_norm(res.x_adv - x, "linf").max()) <= 0.2 + 1e-6
    with torch.no_grad():
        assert bool((model(res.x_adv).argmax(1) != y)[res.success].float().mean() >= 0.99)


def test_ensemble_is_at_least_as_strong_as_each_attack_alone(digits: Data) -> None:
    cnn, _, x, y = digits
    for eps in (0.05, 0.1, 0.2):
        res = ensemble_attack(cnn, x, y, eps=eps, budget="quick", clip=CLIP)
        alone = {name: _alone(cnn, x, y, name, eps) for name in STANDARD_ENSEMBLE}
        assert res.robust_accuracy <= min(alone.values()) + 1e-9, (eps, res.robust_accuracy, alone)
        masks = torch.stack([res.found_by[a] for a in STANDARD_ENSEMBLE])
        assert int(masks.sum(0).max()) <= 1  # each input is credited to the first attack that won
        assert torch.equal(masks.any(0), res.success & res.clean_correct)
        assert set(res.seconds) == set(STANDARD_ENSEMBLE)


def test_ensemble_costs_at_most_the_sum_of_its_attacks(digits: Data) -> None:
    cnn, _, x, y = digits
    model = Counting(cnn)
    res = ensemble_attack(model, x, y, eps=0.2, budget="quick", clip=CLIP)
    ensemble_rows = model.rows
    with torch.no_grad():
        ok = cnn(x).argmax(1) == y
    alone_rows = len(x)  # one clean pass to find the correctly classified inputs
    for name in STANDARD_ENSEMBLE:
        model.rows = 0
        RUNNERS[name](model, x[ok], y[ok], 0.2, AttackOptions(budget=Budget.QUICK, clip=CLIP))
        alone_rows += model.rows
    assert res.robust_accuracy <= 0.05
    # APGD-CE flips nearly everything, so APGD-T and Square see almost nothing
    assert ensemble_rows <= 0.6 * alone_rows, (ensemble_rows, alone_rows)


def test_budgets_and_the_assessment_plan() -> None:
    assert BUDGETS[Budget.STANDARD].steps["apgd-t"] == 100
    assert BUDGETS[Budget.STANDARD].n_target_classes == 9
    assert BUDGETS[Budget.STANDARD].square_queries == 5000
    assert BUDGETS[Budget.THOROUGH].restarts > BUDGETS[Budget.STANDARD].restarts == 1
    quick = attack_plan("quick", 10, "linf", CLIP, 0)
    assert list(quick) == ["fgsm", "pgd", "apgd-ce"]
    standard = ["fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t"]
    assert list(attack_plan("standard", 10, "linf", CLIP, 0)) == standard
    assert list(attack_plan("thorough", 10, "linf", CLIP, 0)) == [*standard, "square"]
    assert "apgd-t" not in attack_plan("standard", 3, "linf", CLIP, 0)
    with pytest.raises(ValueError, match="unknown attack"):
        attack_plan("quick", 10, "linf", CLIP, 0, attacks=["cw"])
