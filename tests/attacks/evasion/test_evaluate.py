"""``evaluate``: the result's shape, the worst case over every attack run, the overrides, and the
masking flags on planted ground truth (an honest digits CNN: none; the same CNN behind a
zero-gradient quantization layer: flagged, and the black-box Square attack sees through it)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import pipeshield.attacks.evasion as evasion
from pipeshield.attacks.evasion import Evaluation, evaluate

CLIP = (0.0, 1.0)
Data = tuple[torch.nn.Module, torch.Tensor, torch.Tensor]


class Quantize(torch.nn.Module):
    """Rounds inputs to {0, 1}: torch.round has a zero gradient everywhere (the masked defence)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.round(x)


@pytest.fixture(scope="module")
def digits() -> Data:
    from sklearn.datasets import load_digits

    from pipeshield.demo.models import train_digits_cnn

    torch.set_num_threads(2)
    d = load_digits()
    x = (d.data / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], d.target[order]
    model = train_digits_cnn(x[:1400], y[:1400], seed=0, epochs=12)
    return model, torch.tensor(x[1400:1550]), torch.tensor(y[1400:1550])


def test_default_ensemble_shape_keys_and_worst_case(digits: Data) -> None:
    model, x, y = digits
    ev = evaluate(model, x, y, eps=[0.2, 0.0, 0.1], clip=CLIP, budget="quick", batch_size=64)
    assert isinstance(ev, Evaluation)
    assert set(ev.robust_accuracy) == {"apgd-ce", "apgd-t", "square"}
    for column in ev.robust_accuracy.values():
        assert list(column) == [0.0, 0.1, 0.2] and all(isinstance(e, float) for e in column)
    assert list(ev.worst_case) == [0.0, 0.1, 0.2]
    assert ev.worst_case[0.0] == ev.clean_accuracy >= 0.9
    for eps, worst in ev.worst_case.items():  # every attack run counts in the worst case
        assert worst <= min(col[eps] for col in ev.robust_accuracy.values())
    assert ev.worst_case[0.2] <= 0.05  # the undefended CNN collapses
    assert ev.masking == []  # honest model
    assert {c.name for c in ev.checks} >= {"zero-gradient", "large-eps", "random-sampling"}
    d = json.loads(json.dumps(ev.to_dict()))
    assert set(d["robust_accuracy"]["square"]) == {"0.0", "0.1", "0.2"}
    assert d["settings"]["budget"] == "quick" and d["masking"] == []
    assert set(d["seconds"]) == {"apgd-ce", "apgd-t", "square"}


def test_named_attacks_overrides_and_a_target(digits: Data) -> None:
    from pipeshield.core.targets.torch import TorchTarget

    model, x, y = digits
    target = TorchTarget("digits", model)
    ev = evaluate(target, x[:60], y[:60], eps=0.1, attacks=["fgsm", "pgd"], steps=5, step_size=0.03,
                  random_start=False, clip=CLIP, budget="quick")
    assert set(ev.robust_accuracy) == {"fgsm", "pgd"} and list(ev.worst_case) == [0.1]
    s = ev.assessment.settings
    assert s["steps"]["pgd"] == 5 and s["step_size"] == 0.03 and s["random_start"] is False
    assert next(c for c in ev.checks if c.name == "single-step").evidence.get("iterative") == "pgd"
    with pytest.raises(ValueError, match="unknown attack"):
        evaluate(model, x, y, eps=0.1, attacks=["fgsm", "deepfool"])


def test_masked_model_is_flagged_and_square_sees_through_it(digits: Data) -> None:
    model, x, y = digits
    masked = torch.nn.Sequential(Quantize(), model)
    ev = evaluate(masked, x, y, eps=[0.0, 0.3], clip=CLIP, budget="quick")
    flagged = {m.name for m in ev.masking}
    assert {"zero-gradient", "large-eps"} <= flagged, flagged
    assert all(m.flagged for m in ev.masking)
    # gradients are blind here; the black-box attack is not, and the worst case keeps its win
    assert ev.robust_accuracy["square"][0.3] < ev.robust_accuracy["apgd-ce"][0.3]
    assert ev.worst_case[0.3] <= ev.robust_accuracy["square"][0.3]


def test_public_names() -> None:
    for name in ("evaluate", "Evaluation", "apgd_targeted", "ensemble_attack", "EnsembleResult", "Budget"):
        assert name in evasion.__all__ and getattr(evasion, name) is not None
    assert sorted(evasion.__all__) == sorted(set(evasion.__all__))
