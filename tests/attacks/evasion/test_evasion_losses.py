"""Loss and projection edge cases."""

from __future__ import annotations

import pytest
import torch

from pipeshield.attacks.evasion import dlr, get_attack
from pipeshield.attacks.evasion.auto_pgd import checkpoints
from pipeshield.attacks.evasion.projections import clip_domain, lp_norm, project


def test_targeted_dlr_needs_four_classes() -> None:
    z, y = torch.randn(5, 3), torch.zeros(5, dtype=torch.long)
    assert dlr(z, y).shape == (5,)  # untargeted works with 3
    with pytest.raises(ValueError, match="at least 4 classes"):
        dlr(z, y, torch.ones(5, dtype=torch.long))


def test_dlr_is_scale_and_shift_invariant() -> None:
    z, y = torch.randn(6, 10), torch.arange(6)
    assert torch.allclose(dlr(z, y), dlr(3 * z + 2, y), atol=1e-5)


def test_projections() -> None:
    d = torch.randn(10, 1, 8, 8) * 3
    assert float(lp_norm(project(d, "linf", 0.2), "linf").max()) <= 0.2 + 1e-6
    assert float(lp_norm(project(d, "l2", 0.5), "l2").max()) <= 0.5 + 1e-6
    lo, hi = torch.zeros(3), torch.tensor([1.0, 2.0, 3.0])  # per-feature bounds
    assert torch.equal(clip_domain(torch.full((2, 3), 5.0), lo, hi), hi.expand(2, 3))


def test_apgd_checkpoints_follow_paper() -> None:
    assert checkpoints(100)[:4] == [22, 41, 57, 70]


def test_unknown_attack_is_named() -> None:
    with pytest.raises(ValueError, match="unknown attack"):
        get_attack("nope")
