"""``assess_images`` records the MI-Face options that actually ran (scaled to the clip range)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from pipeshield.attacks.inversion import assess


class _BlackBox:
    """Flat rows in, probabilities out: no ``module`` attribute, so the black-box path runs."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net, self.name, self.classes = net, "logistic", np.arange(10)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            t = torch.as_tensor(np.asarray(x, np.float32).reshape(-1, 1, 8, 8))
            return torch.softmax(self.net(t), dim=1).numpy().astype(np.float64)


def test_the_report_records_the_options_that_ran(
    softmax_model: torch.nn.Module, digits: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the settings said lr=1.0 (the unscaled budget) and left out fd_step, while
    MI-Face ran with lr * span and fd_step = 0.05 * span."""
    ran: list[dict[str, Any]] = []
    real = assess.invert_classes

    def spy(*args: Any, **kwargs: Any) -> Any:
        ran.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(assess, "invert_classes", spy)
    report = assess.assess_images(_BlackBox(softmax_model), digits["x_train"], digits["y_train"],
                                  input_shape=(1, 8, 8), clip=(0.0, 2.0), budget="quick")
    attack = report.settings["attack"]
    assert report.access == "black-box" and report.settings["method"] == "finite_differences"
    assert attack["lr"] == pytest.approx(2.0) and attack["fd_step"] == pytest.approx(0.1)
    (used,) = ran
    assert {k: used[k] for k in attack} == attack  # every recorded option is the one passed
    assert set(assess.BUDGETS["quick"]["finite_differences"]) | {"fd_step"} == set(attack)
    assert all(r.queries <= attack["max_queries"] for r in report.results)
