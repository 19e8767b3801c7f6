"""Planted ground truth for the gradient-masking checks: an honest digits CNN passes all of
them; the same CNN behind a zero-gradient input quantization layer is flagged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeshield.attacks.evasion.assess import EvasionAssessment, assess_evasion
from pipeshield.attacks.evasion.masking import (
    check_black_box,
    check_convergence,
    run_masking_checks,
)

CLIP = (0.0, 1.0)
GRID = [0.0, 0.05, 0.1, 0.2, 0.3]


class Quantize(torch.nn.Module):
    """Rounds inputs to {0, 1}: torch.round has a zero gradient everywhere (the masked defence)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)


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
    return model, torch.tensor(x[1400:1600]), torch.tensor(y[1400:1600])


def _run(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[EvasionAssessment, dict[str, bool]]:
    a = assess_evasion(model, x, y, eps_grid=GRID, clip=CLIP, budget="quick", seed=0)
    results = run_masking_checks(model, x, y, a, eps=0.1, clip=CLIP)
    return a, {r.name: r.flagged for r in results}


def test_honest_model_is_not_flagged(digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor]) -> None:
    model, x, y = digits
    a, flags = _run(model, x, y)
    assert set(flags) == {
        "single-step", "monotonic", "large-eps", "zero-gradient", "random-sampling", "convergence"
    }
    assert not any(flags.values()), flags
    assert a.ensemble_at(0.3) < a.ensemble_at(0.05) < a.clean_accuracy


def test_quantized_model_is_flagged(digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor]) -> None:
    model, x, y = digits
    masked = torch.nn.Sequential(Quantize(), model)
    a, flags = _run(masked, x, y)
    assert flags["zero-gradient"] and flags["large-eps"], flags
    assert a.clean_accuracy > 0.5


def test_black_box_beating_gradients_is_flagged_only_on_the_masked_model(
    digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor],
) -> None:
    model, x, y = digits
    x, y = x[:80], y[:80]
    verdict = {}
    for name, m in (("honest", model), ("masked", torch.nn.Sequential(Quantize(), model))):
        a = assess_evasion(m, x, y, eps_grid=[0.0, 0.3], clip=CLIP, budget="quick",
                           attacks=["pgd", "apgd-ce", "square"], seed=0)
        r = check_black_box(a)
        assert r is not None
        verdict[name] = r.flagged
    assert verdict == {"honest": False, "masked": True}
    a = assess_evasion(model, x, y, eps_grid=[0.1], clip=CLIP, budget="quick", seed=0)
    assert check_black_box(a) is None  # no Square run: nothing to compare


def test_an_unconverged_assessment_is_flagged(digits: tuple[torch.nn.Module, torch.Tensor, torch.Tensor]) -> None:
    model, x, y = digits
    a = assess_evasion(model, x, y, eps_grid=[0.1], clip=CLIP, budget="quick", steps=1, seed=0)
    assert a.settings["steps"]["pgd"] == 1
    one_step = check_convergence(model, x, y, a, eps=0.1, clip=CLIP)
    assert one_step.flagged, one_step.message  # 1 step vs 5 steps x 3 restarts
    a = assess_evasion(model, x, y, eps_grid=[0.1], clip=CLIP, budget="quick", seed=0)
    assert not check_convergence(model, x, y, a, eps=0.1, clip=CLIP).flagged
