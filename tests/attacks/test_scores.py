"""One rule for "is this module's output probabilities already?", shared by membership and
inversion: a module that ends in Softmax is read as is, a module of logits goes through softmax."""

from __future__ import annotations

import numpy as np
import torch

from pipeshield.attacks._scores import are_probabilities, as_probabilities


def _modules() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    logits = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    with torch.no_grad():
        logits[1].weight.mul_(20.0)  # confident enough for MI-Face to reach p > 0.5 quickly
    probs = torch.nn.Sequential(logits, torch.nn.Softmax(dim=1)).eval()
    return logits, probs


def test_the_rule() -> None:
    assert are_probabilities(torch.tensor([[0.2, 0.8], [1.0, 0.0]]))
    assert not are_probabilities(torch.tensor([[2.0, -1.0]]))  # logits
    assert not are_probabilities(torch.tensor([[0.5, 0.6]]))  # non-negative but not summing to 1
    z = torch.tensor([[0.3, 0.7]], requires_grad=True)
    out = as_probabilities(z)
    assert out is z  # probabilities pass through, still differentiable
    assert torch.allclose(as_probabilities(torch.tensor([[0.0, 0.0]])), torch.tensor([[0.5, 0.5]]))


def test_membership_reads_a_softmax_module_once() -> None:
    from pipeshield.attacks.membership._predict import predict_probabilities

    logits, probs = _modules()
    x = np.random.default_rng(0).random((20, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(predict_probabilities(probs, x), predict_probabilities(logits, x), atol=1e-6)


def test_mi_face_reads_a_softmax_module_once() -> None:
    """Regression: MI-Face applied softmax to a Softmax module's output, squashing every class
    probability below e / (e + 9) = 0.23 and stalling the descent."""
    from pipeshield.attacks.inversion import invert

    logits, probs = _modules()
    opts = {"input_shape": (1, 8, 8), "clip": (0.0, 1.0), "max_iter": 50, "lr": 1.0}
    a, b = invert(logits, 3, **opts), invert(probs, 3, **opts)  # type: ignore[arg-type]
    assert b.confidence > 0.5
    assert abs(a.confidence - b.confidence) < 1e-4 and a.iterations == b.iterations
    np.testing.assert_allclose(a.reconstruction, b.reconstruction, atol=1e-4)
