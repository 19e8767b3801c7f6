"""The two hooks adversarial training added to the evasion engine's PGD, and TRADES' inner attack.

``keep_successes=False`` must return the last iterate (the loss maximiser), not an earlier one
that already fooled the model; ``start`` must be where the first run begins (projected into the
ball). TRADES' attack must raise the KL to the clean prediction well above its random start.
"""

from __future__ import annotations

import torch

from pipeshield.attacks.evasion import pgd
from pipeshield.training.adversarial.trades import START_SCALE, kl_to, trades_examples


def _linear() -> torch.nn.Module:
    """Two classes, logits (1 - 2 x0, 2 x0 - 1): moving x0 up flips class 0 to 1 at x0 = 0.5."""
    layer = torch.nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[-2.0, 0.0], [2.0, 0.0]]))
        layer.bias.copy_(torch.tensor([1.0, -1.0]))
    return layer


def test_keep_successes_false_returns_the_last_iterate() -> None:
    # the attack flips the input after a few steps; with a loss that then points back down, the
    # final iterate is no longer adversarial, yet it is what the loss maximiser ends at
    model = _linear()
    x, y = torch.full((1, 2), 0.45), torch.tensor([0])
    calls = {"n": 0}

    def flip_then_return(logits: torch.Tensor, yy: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        calls["n"] += 1
        return logits[:, 1] if calls["n"] <= 2 else logits[:, 0]

    kept = pgd(model, x, y, eps=0.2, steps=6, step_size=0.05, loss=flip_then_return)
    calls["n"] = 0
    last = pgd(model, x, y, eps=0.2, steps=6, step_size=0.05, loss=flip_then_return, keep_successes=False)
    assert bool(kept.success[0]) and float(kept.x_adv[0, 0]) > 0.5  # the fooling iterate is kept
    assert float(last.x_adv[0, 0]) < 0.5  # the last iterate, back on the clean side


def test_start_is_where_the_first_run_begins_and_is_projected() -> None:
    model = torch.nn.Linear(4, 3)
    x, y = torch.zeros(2, 4), torch.tensor([0, 1])
    start = torch.full((2, 4), 5.0)  # far outside the ball: projected to eps
    res = pgd(model, x, y, eps=0.1, steps=1, step_size=0.0, start=start, keep_successes=False)
    assert torch.allclose(res.x_adv, torch.full((2, 4), 0.1))


def test_trades_attack_maximises_the_kl_inside_the_ball_and_domain() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    x = torch.rand(64, 16)
    y = torch.zeros(64, dtype=torch.long)
    with torch.no_grad():
        clean = model(x)
    kl = kl_to(clean)
    noise = (x + START_SCALE * torch.randn(x.shape)).clamp(0, 1)
    x_adv = trades_examples(model, x, y, norm="linf", eps=0.1, steps=10, step_size=None, clip=(0.0, 1.0), seed=0)
    with torch.no_grad():
        assert float(kl(model(x_adv), y, None).mean()) > 100 * float(kl(model(noise), y, None).mean())
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert model.training  # the attack restored the caller's mode
