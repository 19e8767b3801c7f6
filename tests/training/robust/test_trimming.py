"""Loss trimming and robust losses, against label flips we plant (and a backdoor, where it fails)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeshield.attacks import poison
from pipeshield.demo.models import build_digits_cnn
from pipeshield.errors import ConfigError
from pipeshield.training.robust import LOSSES, fit_module, per_sample_loss, trimmed_train


@pytest.mark.parametrize("trim", [0.0, -0.1, 0.5, 0.9])
def test_trim_outside_the_open_interval_is_refused(trim: float) -> None:
    x = np.zeros((10, 64), dtype=np.float32)
    with pytest.raises(ConfigError, match=r"trim: .*between 0 and 0.5"):
        trimmed_train(build_digits_cnn(), x, np.zeros(10, dtype=np.int64), trim=trim, input_shape=(1, 8, 8))


def test_a_mask_of_another_length_is_refused() -> None:
    x = np.zeros((10, 64), dtype=np.float32)
    with pytest.raises(ConfigError, match="mask: has 9 entries but the data has 10 rows"):
        trimmed_train(build_digits_cnn(), x, np.zeros(10, dtype=np.int64), mask=np.zeros(9, dtype=bool),
                      input_shape=(1, 8, 8))


def test_unknown_loss_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown loss 'mse'.*generalized-cross-entropy"):
        per_sample_loss("mse")


def test_robust_losses_match_their_formulas() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    targets = torch.tensor([0, 2])
    p = logits.softmax(1)
    p_y = p[torch.arange(2), targets]
    gce = LOSSES["generalized-cross-entropy"](logits, targets)
    assert torch.allclose(gce, (1 - p_y**0.7) / 0.7)
    sce = LOSSES["symmetric-cross-entropy"](logits, targets)
    assert torch.allclose(sce, 0.1 * -p_y.log() + 4.0 * (1 - p_y))
    # bounded: a confidently wrong label costs GCE at most 1/q, not an unbounded CE
    wrong = LOSSES["generalized-cross-entropy"](torch.tensor([[50.0, -50.0]]), torch.tensor([1]))
    assert float(wrong) <= 1 / 0.7 + 1e-6


def test_trimming_beats_plain_training_under_label_flips(digits, accuracy) -> None:  # type: ignore[no-untyped-def]
    """20% random flips, 40 epochs: plain training memorises the flips; trimming leaves them out."""
    xtr, xte, ytr, yte = digits
    p = poison(xtr, ytr, kind="random-flip", rate=0.2, seed=0)
    torch.manual_seed(0)
    plain = fit_module(build_digits_cnn(), p.x, p.y, epochs=40, seed=0, input_shape=(1, 8, 8))
    torch.manual_seed(0)
    trimmed, result = trimmed_train(build_digits_cnn(), p.x, p.y, trim=0.25, warmup=3, epochs=40, seed=0,
                                    input_shape=(1, 8, 8), mask=p.mask)
    acc_plain, acc_trim = accuracy(plain, xte, yte), accuracy(trimmed, xte, yte)
    assert acc_trim >= acc_plain + 0.04, (acc_plain, acc_trim)
    assert result.metrics is not None and result.metrics.recall >= 0.95  # the flips are what was trimmed
    assert result.trimmed.sum() == round(0.25 * len(p.y))
    assert result.to_dict()["trimmed_last_epoch"] == int(result.trimmed.sum())
