"""Planted ground truth for the white-box engine: an undefended digits CNN (robustness must
collapse) and a linear model whose minimal L2 adversarial distance is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeshield.attacks.evasion import apgd, fgsm, pgd, robust_accuracy
from pipeshield.attacks.evasion.projections import lp_norm

CLIP = (0.0, 1.0)


@pytest.fixture(scope="module")
def digits() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    from pipeshield.demo.models import train_digits_cnn

    torch.set_num_threads(2)
    d = load_digits()
    x = (d.data / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], d.target[order]
    model = train_digits_cnn(x[:1400], y[:1400], seed=0, epochs=12)
    return model, torch.tensor(x[1400:1700]), torch.tensor(y[1400:1700])


def test_undefended_cnn_collapses_under_pgd(
    digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor],
) -> None:
    model, x, y = digits
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    assert clean > 0.90
    assert robust_accuracy(model, x, y, "pgd", eps=0.3, steps=20, clip=CLIP, batch_size=128) < 0.10


def test_iterative_beats_single_step(
    digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor],
) -> None:
    model, x, y = digits
    one = fgsm(model, x, y, eps=0.1, clip=CLIP).success_rate
    many = pgd(model, x, y, eps=0.1, steps=20, clip=CLIP).success_rate
    assert many >= one


def test_apgd_at_least_as_strong_as_pgd(
    digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor],
) -> None:
    model, x, y = digits
    r_pgd = robust_accuracy(model, x, y, "pgd", eps=0.1, steps=20, clip=CLIP)
    r_apgd = robust_accuracy(model, x, y, "apgd", eps=0.1, steps=20, clip=CLIP)
    assert r_apgd <= r_pgd + 0.01
    r_dlr = robust_accuracy(model, x, y, "apgd", eps=0.3, steps=20, loss="dlr", clip=CLIP)
    assert r_dlr < 0.10


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.8)])
def test_perturbations_stay_in_ball_and_domain(
    digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor], norm: str, eps: float
) -> None:
    model, x, y = digits
    for res in (
        pgd(model, x, y, eps=eps, norm=norm, steps=10, random_start=True, restarts=2, clip=CLIP),
        apgd(model, x, y, eps=eps, norm=norm, steps=10, clip=CLIP),
        fgsm(model, x, y, eps=eps, norm=norm, clip=CLIP),
    ):
        assert float(lp_norm(res.x_adv - x, norm).max()) <= eps + 1e-6  # type: ignore[arg-type]
        assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
        assert not torch.isnan(res.x_adv).any()
        # the success mask is what the model actually does on the returned inputs
        with torch.no_grad():
            assert torch.equal(model(res.x_adv).argmax(1) != y, res.success)


def test_deterministic_under_seed(
    digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor],
) -> None:
    model, x, y = digits
    a = pgd(model, x, y, eps=0.1, steps=5, random_start=True, seed=7, clip=CLIP)
    b = pgd(model, x, y, eps=0.1, steps=5, random_start=True, seed=7, clip=CLIP)
    assert torch.equal(a.x_adv, b.x_adv)
    c = apgd(model, x, y, eps=0.1, steps=5, seed=7, clip=CLIP)
    d = apgd(model, x, y, eps=0.1, steps=5, seed=7, clip=CLIP)
    assert torch.equal(c.x_adv, d.x_adv)


def test_restarts_keep_worst_case(
    digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor],
) -> None:
    model, x, y = digits
    one = pgd(model, x, y, eps=0.05, steps=5, random_start=True, seed=1, clip=CLIP)
    three = pgd(model, x, y, eps=0.05, steps=5, random_start=True, restarts=3, seed=1, clip=CLIP)
    assert bool((three.success >= one.success).all())  # restart 0 is the same run


def test_user_module_state_is_restored() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3)).train()
    x, y = torch.rand(8, 4), torch.randint(0, 3, (8,))
    pgd(model, x, y, eps=0.1, steps=2)
    assert model.training and all(p.requires_grad for p in model.parameters())


def _linear_model(d: int, seed: int) -> tuple[torch.nn.Module, torch.Tensor]:
    """Logistic regression as a 2-logit torch Linear: logit_1 - logit_0 = w.x + b."""
    g = torch.Generator().manual_seed(seed)
    w, b = torch.randn(d, generator=g), 0.3
    lin = torch.nn.Linear(d, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([torch.zeros(d), w]))
        lin.bias.copy_(torch.tensor([0.0, b]))
    return lin, w


def test_linear_model_l2_distance_is_found() -> None:
    d, n = 20, 400
    model, w = _linear_model(d, seed=0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=g)
    with torch.no_grad():
        margin = model(x)[:, 1] - model(x)[:, 0]
    dist = margin.abs() / w.norm()
    y = (margin > 0).long()
    for scale in (1.03, 0.97):  # two bands of points around a known distance of 1 per point
        # move each point along w so its exact distance to the boundary becomes 1
        x_at = x - ((dist - 1.0) * torch.sign(margin))[:, None] * (w / w.norm())
        above = pgd(model, x_at, y, eps=1.0 * scale, norm="l2", steps=30).success_rate
        if scale > 1:
            assert above >= 0.95
        else:
            assert above <= 0.05
