"""Clean accuracy against numbers computed independently, and its thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeshield.audit import run_checks
from pipeshield.core.findings import Severity, Status
from pipeshield.core.pipeline import load_pipeline
from pipeshield.errors import DatasetError
from pipeshield.validation.accuracy import evaluate_accuracy

ACCURACY = "validation.clean-accuracy"  # the other validation check (evasion) is not what these tests measure


def test_confusion_and_balanced_accuracy_by_hand() -> None:
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 1, 1])
    r = evaluate_accuracy(probs, y, np.array([0, 1]), "t")
    assert r.accuracy == 0.75
    assert r.balanced_accuracy == pytest.approx((1.0 + 2 / 3) / 2)
    assert r.confusion.tolist() == [[1, 0], [1, 2]]
    with pytest.raises(DatasetError, match=r"labels \[7\] are not among the model's classes"):
        evaluate_accuracy(probs, np.array([0, 7, 1, 1]), np.array([0, 1]), "t")


def test_non_finite_outputs_are_counted() -> None:
    probs = np.array([[np.nan, 0.5], [0.2, 0.8]])
    r = evaluate_accuracy(probs, np.array([0, 1]), np.array([0, 1]), "t")
    assert r.non_finite_outputs == 1 and r.accuracy == 0.5


def _demo_truth(pipeline_file: Path, model: str) -> float:
    """Accuracy computed without pipeshield's target code: the model's own API."""
    root = pipeline_file.parent
    if model == "tabular_forest":
        import pandas as pd
        import skops.io as sio

        data = (root / "models/tabular_forest.skops").read_bytes()
        est = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
        test = pd.read_parquet(root / "data/tabular_test.parquet")
        return float(est.score(test.drop(columns="diagnosis").to_numpy(np.float32), test["diagnosis"]))
    import torch
    from safetensors.torch import load_file

    from pipeshield.demo.models import build_digits_cnn

    net = build_digits_cnn()
    net.load_state_dict(load_file(root / "models/digits_cnn.safetensors"))
    with np.load(root / "data/digits_test.npz") as npz:
        x, y = npz["x"], npz["label"]
    with torch.no_grad():
        pred = net.eval()(torch.as_tensor(x).reshape(-1, 1, 8, 8)).argmax(1).numpy()
    return float((pred == y).mean())


@pytest.mark.parametrize("model", ["digits_cnn", "tabular_forest"])
def test_demo_accuracy_matches_independent_computation(demo_pipeline: Path, model: str) -> None:
    findings = run_checks(load_pipeline(demo_pipeline), executor="serial", checks=[ACCURACY])
    f = next(f for f in findings if f.id == f"validation.clean-accuracy/{model}")
    assert f.status is Status.PASS
    assert f.metrics["accuracy"] == pytest.approx(_demo_truth(demo_pipeline, model), abs=1e-6)
    assert f.metrics["accuracy"] > 0.9
    assert {e.kind for e in f.evidence} == {"plot"}
    heat = next(e for e in f.evidence if e.data and e.data["type"] == "heatmap")
    assert sum(map(sum, heat.data["values"])) == f.metrics["n_test"]


def test_min_accuracy_fails_with_policy_severity(demo_copy: Path) -> None:
    text = demo_copy.read_text().replace("min_accuracy = 0.9", 'min_accuracy = 0.999\nseverity = "critical"')
    demo_copy.write_text(text)
    findings = run_checks(load_pipeline(demo_copy), executor="serial", checks=[ACCURACY])
    acc = [f for f in findings if f.check == "validation.clean-accuracy"]
    assert len(acc) == 2
    assert all(f.status is Status.FAIL and f.severity is Severity.CRITICAL for f in acc)
    assert all("below the policy minimum 0.999" in f.message for f in acc)


def test_generalization_gap_warns(demo_copy: Path) -> None:
    text = demo_copy.read_text().replace("min_accuracy = 0.9", "min_accuracy = 0.9\nmax_generalization_gap = 0.01")
    demo_copy.write_text(text)
    findings = run_checks(load_pipeline(demo_copy), executor="serial", checks=[ACCURACY])
    forest = next(f for f in findings if f.id == "validation.clean-accuracy/tabular_forest")
    assert forest.metrics["train_accuracy"] == 1.0  # the planted memorising forest
    assert forest.status is Status.WARN and forest.severity is Severity.MEDIUM
    assert forest.metrics["generalization_gap"] > 0.01


def test_model_without_test_data_is_skipped_with_reason(demo_copy: Path) -> None:
    text = demo_copy.read_text().replace('test_data = "digits_test"\n', "")
    demo_copy.write_text(text)
    findings = run_checks(load_pipeline(demo_copy), executor="serial", checks=[ACCURACY, "core.config-sanity"])
    skipped = next(f for f in findings if f.id == "validation.clean-accuracy/digits_cnn")
    assert skipped.status is Status.SKIPPED and "no test_data" in skipped.message
    sanity = next(f for f in findings if f.id == "core.config-sanity/models.digits_cnn.test_data")
    assert sanity.status is Status.WARN
