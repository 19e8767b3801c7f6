"""Backdoor detectors on the demo's backdoored CNN, a clean CNN, and STRIP at inference time."""

from __future__ import annotations

import numpy as np
import pytest

from pipeshield.data.poisoning import (
    PoisonData,
    ScanConfig,
    calibrate_strip,
    detection_metrics,
    run_detectors,
)
from pipeshield.data.poisoning.activations import classifier_layer, penultimate_activations
from pipeshield.errors import TargetError


@pytest.mark.parametrize("name", ["spectral-signatures", "activation-clustering"])
def test_demo_backdoor_found(demo_digits, name: str) -> None:  # type: ignore[no-untyped-def]
    d = demo_digits
    data = PoisonData(d.x, d.y, np.arange(10), features=d.features)
    result = run_detectors(data, ScanConfig(), [name])[name]
    m = detection_metrics(result.flagged, d.backdoor)
    assert m.recall >= 0.9, m
    assert m.fpr <= 0.05, m
    assert result.suspicious_classes == (0,)


def test_clean_model_flags_no_class() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from pipeshield.attacks.trainers import train_default
    from pipeshield.core.targets.torch import TorchTarget

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x, _, y, _ = train_test_split(x, y, test_size=0.33, random_state=0, stratify=y)
    model = train_default(x, y, image_shape=(8, 8), seed=1, epochs=10).model
    feats = penultimate_activations(TorchTarget("clean", model, input_shape=[1, 8, 8]), x)
    data = PoisonData(x, y, np.arange(10), features=feats)
    results = run_detectors(data, ScanConfig(), ["activation-clustering", "spectral-signatures"])
    for result in results.values():
        assert result.suspicious_classes == (), (result.detector, result.details)
        assert not result.flagged.any()
    assert results["activation-clustering"].details["unresolved_classes"] == []


def test_half_poisoned_class_is_reported_unresolved() -> None:
    """10% BadNets poison is half of class 0: no row can be flagged by size, but the split is reported."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from pipeshield.attacks import PatchTrigger, poison
    from pipeshield.attacks.trainers import train_default
    from pipeshield.core.targets.torch import TorchTarget

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x, _, y, _ = train_test_split(x, y, test_size=0.33, random_state=0, stratify=y)
    p = poison(x, y, kind="backdoor", rate=0.10, target=0, trigger=PatchTrigger((8, 8), 2), seed=0)
    model = train_default(p.x, p.y, image_shape=(8, 8), seed=0, epochs=20).model
    feats = penultimate_activations(TorchTarget("m", model, input_shape=[1, 8, 8]), p.x)
    result = run_detectors(PoisonData(p.x, p.y, np.arange(10), features=feats), ScanConfig(),
                           ["activation-clustering"])["activation-clustering"]
    assert result.details["unresolved_classes"] == [0]
    assert not result.flagged.any()  # the documented limit: size cannot tell which half is poison


def test_strip_separates_triggered_inputs(demo_digits) -> None:  # type: ignore[no-untyped-def]
    from sklearn.metrics import roc_auc_score

    from pipeshield.demo.planted import apply_trigger

    d = demo_digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(d.x_test))
    calib, held = order[:200], order[200:]
    strip = calibrate_strip(d.target.predict_proba, d.x_test[calib], fpr=0.05, seed=0)
    clean = d.x_test[held]
    victims = held[d.y_test[held] != 0]
    triggered = apply_trigger(d.x_test[victims])
    ent = np.concatenate([strip.entropy(clean), strip.entropy(triggered)])
    is_triggered = np.r_[np.zeros(len(clean)), np.ones(len(triggered))]
    auc = roc_auc_score(is_triggered, -ent)  # low entropy = triggered
    assert auc >= 0.9, auc
    assert strip.check(clean).mean() <= 0.12  # calibrated at 5% on other clean rows
    assert strip.check(triggered).mean() >= 0.5


def test_layer_choice_and_non_torch_models(demo_digits) -> None:  # type: ignore[no-untyped-def]
    module = demo_digits.target.module
    assert classifier_layer(module).in_features == 512
    assert classifier_layer(module, "last").in_features == 64
    assert demo_digits.features.shape == (len(demo_digits.x), 512)

    class Forest:
        name = "forest"

    with pytest.raises(TargetError, match="not a torch model"):
        penultimate_activations(Forest(), demo_digits.x[:3])


def test_without_activations_backdoor_detectors_say_why() -> None:
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    results = run_detectors(PoisonData(x, y, np.array([0, 1])), ScanConfig(), ["spectral-signatures"],
                            no_features_reason="models.forest is not a torch model")
    assert results["spectral-signatures"].skipped == "models.forest is not a torch model"
