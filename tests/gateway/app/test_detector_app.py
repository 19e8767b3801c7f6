"""The gateway's input detector end to end: a crafted out-of-distribution input (every value inside the
input policy's ranges) is denied naming its index and score, or flagged, or only logged; clean inputs
pass; every score is in the audit log; a bad ``[gateway.detectors]`` table names the key."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeshield.core.datasets import load_dataset
from pipeshield.core.pipeline import GatewayDetectorSpec, load_pipeline
from pipeshield.errors import ConfigError
from pipeshield.gateway.app import Gateway
from pipeshield.gateway.settings import serve_config
from tests.conftest import CliRunner
from tests.gateway.app.conftest import MODEL, GatewayFactory, copy_pipeline


def _rows(gateway: Gateway) -> tuple[list[list[float]], list[float]]:
    """Clean test rows, and one crafted row: uniform noise inside the training data's range box."""
    pipeline = gateway.pipeline
    clean = load_dataset(pipeline, "tabular_test").x[:6].astype(float).tolist()
    train = load_dataset(pipeline, "tabular_train").x.astype(float)
    ood = np.random.default_rng(7).uniform(train.min(0), train.max(0))
    return clean, ood.tolist()


def _post(gateway: Gateway, client: Any, inputs: Any) -> Any:
    secret = gateway.keys.create(f"caller-{uuid.uuid4().hex[:8]}", rate="1000/s").secret
    return client.post(f"/v1/models/{MODEL}:predict", json={"inputs": inputs},
                       headers={"Authorization": f"Bearer {secret}"})


def _last_record(gateway: Gateway) -> Any:
    return gateway.store.tail(1)[-1].record()  # durable before the answer was sent


def _flags(gateway: Gateway, action: str) -> float:
    value = gateway.metrics.registry.get_sample_value(
        "pipeshield_gateway_detector_flags_total", {"model": MODEL, "method": "mahalanobis", "action": action})
    return value or 0.0


def test_deny_refuses_the_crafted_input_by_index_and_clean_inputs_pass(make_gateway: GatewayFactory) -> None:
    gateway, client = make_gateway(detectors={MODEL: GatewayDetectorSpec(method="mahalanobis", action="deny")})
    clean, ood = _rows(gateway)
    ok = _post(gateway, client, clean)
    assert ok.status_code == 200, ok.text
    assert "flagged" not in ok.json() and "detector" not in ok.json()  # the client never sees the scores
    allowed = _last_record(gateway)
    scores = allowed.output["detector"]["scores"]
    threshold = allowed.output["detector"]["threshold"]
    assert len(scores) == len(clean) and max(scores) <= threshold and allowed.output["detector"]["flagged"] == []

    refused = _post(gateway, client, [clean[0], clean[1], ood])
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "suspicious_input"
    assert error["message"].startswith("inputs[2]: flagged as adversarial or out-of-distribution by the "
                                       "mahalanobis detector (score ")
    record = _last_record(gateway)
    assert record.decision.value == "denied" and record.reason.startswith("suspicious_input: inputs[2]")
    logged = record.output["detector"]
    assert logged["flagged"] == [2] and logged["scores"][2] > logged["threshold"] >= max(logged["scores"][:2])
    assert f"{logged['scores'][2]:.4g}" in error["message"]
    assert _flags(gateway, "deny") == 1.0


def test_flag_answers_and_lists_the_flagged_inputs(make_gateway: GatewayFactory) -> None:
    gateway, client = make_gateway(detectors={MODEL: GatewayDetectorSpec(method="mahalanobis", action="flag")})
    clean, ood = _rows(gateway)
    response = _post(gateway, client, [ood, *clean[:3], ood])
    assert response.status_code == 200
    body = response.json()
    assert body["flagged"] == [0, 4] and len(body["labels"]) == 5
    assert _last_record(gateway).output["flagged"] == [0, 4]
    assert _flags(gateway, "flag") == 2.0


def test_log_only_logs(make_gateway: GatewayFactory) -> None:
    gateway, client = make_gateway(detectors={MODEL: GatewayDetectorSpec(method="isolation-forest")})
    clean, ood = _rows(gateway)
    response = _post(gateway, client, [*clean[:2], ood])
    assert response.status_code == 200 and "flagged" not in response.json()
    logged = _last_record(gateway).output["detector"]
    assert logged["method"] == "isolation-forest" and logged["action"] == "log" and len(logged["scores"]) == 3


def test_a_detector_that_cannot_be_fitted_refuses_the_model(make_gateway: GatewayFactory) -> None:
    gateway, _ = make_gateway(detectors={MODEL: GatewayDetectorSpec(method="mahalanobis", features="logits")})
    assert MODEL not in gateway.models
    assert gateway.failed[MODEL].startswith("detector: ")
    assert f"gateway.detectors.{MODEL}" in gateway.failed[MODEL] and "white-box" in gateway.failed[MODEL]


def test_the_pipeline_table_configures_the_detector(demo_pipeline: Path, tmp_path: Path) -> None:
    file = copy_pipeline(demo_pipeline, tmp_path / "pipeline")
    file.write_text(file.read_text() + f'\n[gateway.detectors.{MODEL}]\nmethod = "isolation-forest"\n'
                                       'action = "flag"\nfpr = 0.02\nn_estimators = 50\n')
    spec = serve_config(load_pipeline(file)).settings.detectors[MODEL]
    assert (spec.method, spec.action, spec.fpr, spec.n_estimators) == ("isolation-forest", "flag", 0.02, 50)
    file.write_text(file.read_text().replace('action = "flag"', 'action = "block"'))
    with pytest.raises(ConfigError, match=f"gateway.detectors.{MODEL}.action"):
        load_pipeline(file)


def test_serve_reports_a_bad_detector_table_in_one_line(cli: CliRunner, demo_pipeline: Path, tmp_path: Path) -> None:
    file = copy_pipeline(demo_pipeline, tmp_path / "pipeline")
    file.write_text(file.read_text() + '\n[gateway.detectors.nope]\nmethod = "mahalanobis"\n')
    code, _, err = cli(["serve", str(file)])
    assert code == 2
    assert "gateway.detectors.nope: no model named 'nope'" in err and "Traceback" not in err


def test_pgd_digits_are_flagged_far_above_the_clean_rate(demo_pipeline: Path) -> None:
    """pipeshield's own PGD at the policy eps on the demo CNN: the ground truth is which inputs it fooled."""
    import torch

    from pipeshield.attacks.evasion import pgd
    from pipeshield.core.targets import load_target
    from pipeshield.gateway.detectors import detector_for_model

    pipeline = load_pipeline(demo_pipeline)
    target = load_target(pipeline, "digits_cnn")
    test = load_dataset(pipeline, "digits_test")
    x = test.x.reshape(len(test.x), -1).astype(np.float64)
    res = pgd(target, torch.tensor(test.x.reshape(-1, 1, 8, 8), dtype=torch.float32), torch.tensor(test.y),
              eps=0.1, steps=20, clip=(0.0, 1.0))
    fooled = res.success.numpy()
    x_adv = res.x_adv.numpy().reshape(len(x), -1).astype(np.float64)[fooled]
    assert fooled.mean() > 0.3
    for spec, least in ((GatewayDetectorSpec(method="squeezing"), 0.3),
                        (GatewayDetectorSpec(method="mahalanobis"), 0.8)):
        det = detector_for_model(pipeline, "digits_cnn", target, spec).fitted
        clean = det.flags(det.score(x)).mean()
        caught = det.flags(det.score(x_adv)).mean()
        assert clean <= 0.06, (spec.method, clean)  # target 1%; calibrated on rows the model was trained on
        assert caught >= least and caught >= 5 * clean, (spec.method, caught, clean)
