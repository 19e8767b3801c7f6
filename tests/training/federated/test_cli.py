"""``pipeshield train federated`` end to end on the demo pipeline, on Flower's real Simulation
Engine (Ray): JSON out, the model and its signed provenance written; bad input: exit 2, one line,
no model."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner

pytest.importorskip("flwr")
pytest.importorskip("ray")


def _statement(sig: Path) -> dict[str, object]:
    envelope = json.loads(sig.read_text())
    payload = envelope.get("payload") or envelope["dsseEnvelope"]["payload"]
    return json.loads(base64.b64decode(payload))  # type: ignore[no-any-return]


def test_ray_simulation_writes_the_model_with_provenance(cli: CliRunner, demo_copy: Path) -> None:
    import ray

    key = demo_copy.parent / ".private/demo-signing.key"
    out = demo_copy.parent / "models/fed.safetensors"
    code, stdout, stderr = cli(["train", "federated", "-p", str(demo_copy), "-m", "digits_cnn", "--key", str(key),
                                "--clients", "4", "--rounds", "2", "--strategy", "median", "--attack", "scaled",
                                "--malicious", "0.25", "--local-epochs", "1", "--out", str(out), "--format", "json"])
    assert code == 0, stderr
    result = json.loads(stdout)
    assert result["engine"] == "ray" and result["strategy"] == "median" and result["clients"] == 4
    assert len(result["attack"]["malicious_clients"]) == 1 and result["assumed_malicious"] == 1
    assert len(result["accuracy_per_round"]) == 3 and 0 <= result["accuracy"] <= 1
    assert out.exists() and Path(result["provenance"]).exists()
    assert not ray.is_initialized()  # shut down after the run
    text = json.dumps(_statement(Path(result["provenance"])))
    for needle in ('"recipe": "federated"', '"strategy": "median"', '"assumed_malicious": 1', '"clients": 4'):
        assert needle in text


@pytest.mark.parametrize(("args", "message"), [
    (["--strategy", "bulyan", "--attack", "scaled"], "bulyan with f=2 malicious needs at least 11 clients"),
    (["--attack", "scaled", "--malicious", "0.5"], "--malicious: the malicious fraction must be in [0, 0.5)"),
    (["--rounds", "0"], "--rounds: at least one round"),
    (["--clip", "1"], "--client-dp-noise and --clip"),
    (["--malicious", "0.3"], "--malicious: simulating malicious clients needs --attack"),
])
def test_bad_input_exits_2_without_a_model(cli: CliRunner, demo_copy: Path, args: list[str], message: str) -> None:
    key = demo_copy.parent / ".private/demo-signing.key"
    out = demo_copy.parent / "models/fed.safetensors"
    code, stdout, stderr = cli(["train", "federated", "-p", str(demo_copy), "-m", "digits_cnn", "--key", str(key),
                                "--engine", "inprocess", "--out", str(out), *args])
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert not out.exists() and not list(out.parent.glob("fed.safetensors*"))


def test_compare_prints_every_rule_and_writes_nothing(cli: CliRunner, demo_copy: Path) -> None:
    models = demo_copy.parent / "models"
    before = sorted(p.name for p in models.iterdir())
    code, stdout, stderr = cli(["train", "federated", "-p", str(demo_copy), "-m", "digits_cnn", "--compare",
                                "--clients", "5", "--rounds", "1", "--local-epochs", "1", "--engine", "inprocess",
                                "--format", "json"])
    assert code == 0, stderr
    data = json.loads(stdout)
    rows = {r["strategy"]: r for r in data["rows"]}
    assert list(rows) == ["fedavg", "krum", "multi-krum", "median", "trimmed-mean", "bulyan"]
    assert data["attack"]["attack"] == "scaled" and len(data["attack"]["malicious_clients"]) == 1
    assert rows["bulyan"]["skipped"] == "needs at least 7 clients for f=1; have 5"
    for name in ("fedavg", "krum", "median"):
        assert 0 <= rows[name]["attacked_accuracy"] <= 1 and rows[name]["skipped"] is None
    assert sorted(p.name for p in models.iterdir()) == before
