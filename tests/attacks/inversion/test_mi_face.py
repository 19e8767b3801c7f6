"""MI-Face on digits: reconstructions an independent k-NN judge recognises (planted: the models
learned the digits; a constant model learned nothing), the stopping rule, and query accounting."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch

from pipeshield.attacks.inversion import InversionResult, invert, invert_classes, judge
from pipeshield.gateway.output_policy import HardenedTarget, OutputPolicy

SHAPE = (1, 8, 8)


def _rate(results: tuple[InversionResult, ...], judge_model: Any, digits: dict[str, Any]) -> float:
    return judge(results, judge_model, digits["x_judge"], digits["y_judge"]).recognition_rate


class Constant(torch.nn.Module):
    """Ignores its input: there is nothing to invert."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = torch.nn.Parameter(torch.linspace(0, 1, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), 10) + 0 * x.reshape(len(x), -1).sum(1, keepdim=True)


@pytest.mark.parametrize("which", ["softmax_model", "cnn"])
def test_white_box_reconstructions_are_recognised_far_above_chance(
    which: str, request: pytest.FixtureRequest, judge_model: Any, digits: dict[str, Any]
) -> None:
    model = request.getfixturevalue(which)
    results = invert_classes(model, 10, input_shape=SHAPE, clip=(0.0, 1.0), max_iter=300, lr=1.0)
    q = judge(results, judge_model, digits["x_judge"], digits["y_judge"])
    assert q.recognition_rate >= 0.7 and q.chance == pytest.approx(0.1)
    assert q.closer_to_own_mean >= 0.8
    assert all(r.queries == 0 and r.method == "gradient" for r in results)
    assert all(0.0 <= r.reconstruction.min() and r.reconstruction.max() <= 1.0 for r in results)
    assert all(r.reconstruction.shape == SHAPE for r in results)
    assert json.loads(json.dumps(q.to_dict()))["recognition_rate"] == q.recognition_rate


def test_black_box_finite_differences_counts_queries_within_budget(
    black_box: Any, judge_model: Any, digits: dict[str, Any]
) -> None:
    results = invert_classes(black_box, 10, input_shape=SHAPE, method="finite_differences", max_iter=30, lr=1.0,
                             fd_step=0.05, max_queries=5000)
    assert _rate(results, judge_model, digits) >= 0.6
    for r in results:
        assert 0 < r.queries <= 5000 and r.iterations <= 30
        # one query for the start, then 2 * 64 gradient queries + 1 cost query per iteration
        assert r.queries == 1 + r.iterations * 129
    d = results[0].to_dict()
    assert json.loads(json.dumps(d))["queries"] == results[0].queries and d["method"] == "finite_differences"


def test_a_model_that_learned_nothing_gives_reconstructions_at_chance(judge_model: Any, digits: dict[str, Any]) -> None:
    for method in ("gradient", "finite_differences"):
        results = invert_classes(Constant(), 10, input_shape=SHAPE, method=method, max_iter=100, beta=5)  # type: ignore[arg-type]
        assert all(r.stop_reason == "beta" and r.iterations == 5 for r in results)
        assert all(np.all(r.reconstruction == 0.0) for r in results)  # never moved from the start
        assert _rate(results, judge_model, digits) <= 0.2


def test_stopping_rule_gamma_max_iter_and_max_queries(softmax_model: torch.nn.Module, black_box: Any) -> None:
    r = invert(softmax_model, 3, input_shape=SHAPE, gamma=0.5, lr=0.05, max_iter=500)
    assert r.stop_reason == "gamma" and r.cost <= 0.5 and r.iterations < 500
    assert len(r.costs) == r.iterations + 1 and r.cost == min(r.costs)
    r = invert(softmax_model, 3, input_shape=SHAPE, gamma=0.0, lr=1e-4, max_iter=3, beta=50)
    assert r.stop_reason == "max_iter" and r.iterations == 3 and len(r.costs) == 4
    r = invert(black_box, 3, input_shape=SHAPE, method="finite_differences", max_queries=300, max_iter=100)
    assert r.stop_reason == "max_queries" and r.queries <= 300 and r.iterations == 2


def test_stopping_rule_beta_waits_for_a_real_improvement(softmax_model: torch.nn.Module) -> None:
    # a step so small that no iteration improves the cost by more than tol: beta iterations, then stop
    r = invert(softmax_model, 3, input_shape=SHAPE, lr=1e-9, tol=1e-3, beta=7, max_iter=100)
    assert r.stop_reason == "beta" and r.iterations == 7


def test_label_only_output_defeats_the_black_box_attack(black_box: Any, judge_model: Any, digits: dict[str, Any]) -> None:
    opts: dict[str, Any] = {"input_shape": SHAPE, "method": "finite_differences", "max_iter": 30, "lr": 1.0,
                            "fd_step": 0.05, "max_queries": 5000, "beta": 10}
    full = _rate(invert_classes(black_box, 10, **opts), judge_model, digits)
    hardened = invert_classes(HardenedTarget(black_box, OutputPolicy(label_only=True)), 10, **opts)
    assert full >= 0.6 and _rate(hardened, judge_model, digits) <= 0.2
    # almost no gradient signal through labels: nearly every class stops after beta iterations
    # without improvement (the start image's own label costs 0 at once)
    assert sum(r.stop_reason == "beta" for r in hardened) >= 8


def test_bad_input_raises_the_documented_errors(black_box: Any, softmax_model: torch.nn.Module) -> None:
    with pytest.raises(TypeError, match="finite_differences"):
        invert(HardenedTarget(black_box, OutputPolicy()), 0, input_shape=SHAPE)  # served: no gradients
    with pytest.raises(ValueError, match="clip"):
        invert(softmax_model, 0, input_shape=SHAPE, clip=(1.0, 0.0))
    with pytest.raises(ValueError, match="method"):
        invert(softmax_model, 0, input_shape=SHAPE, method="magic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_queries"):
        invert(black_box, 0, input_shape=SHAPE, method="finite_differences", max_queries=0)


def test_reconstruction_images_are_an_images_plot(softmax_model: torch.nn.Module, judge_model: Any,
                                                  digits: dict[str, Any]) -> None:
    from pipeshield.attacks.inversion import reconstruction_images
    from pipeshield.report.svg import render_plot

    results = invert_classes(softmax_model, [0, 1], input_shape=SHAPE, lr=1.0)
    q = judge(results, judge_model, digits["x_judge"], digits["y_judge"])
    ev = reconstruction_images(results, q, input_shape=SHAPE, clip=(0.0, 1.0))
    assert ev is not None and ev.data is not None and ev.data["type"] == "images"
    assert len(ev.data["images"]) == 2 and len(ev.data["images"][0]["pixels"]) == 8
    assert render_plot(ev.data).startswith("<svg")


def test_importing_the_package_and_check_does_not_import_torch() -> None:
    code = ("import sys, pipeshield.attacks.inversion, pipeshield.attacks.inversion.check; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
