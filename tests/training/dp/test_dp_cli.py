"""``pipeshield train dp`` on the demo pipeline: the model, its signed guarantee, and refusals that
write nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner

pytestmark = pytest.mark.filterwarnings("ignore:Full backward hook is firing")


def _key(pipeline: Path) -> str:
    return str(pipeline.parent / ".private/demo-signing.key")


def test_train_dp_digits_json_with_verified_provenance(demo_copy: Path, cli: CliRunner) -> None:
    from pipeshield.integrity.provenance import verify_provenance
    from pipeshield.integrity.signing import sign
    from pipeshield.training.dp import epsilon

    code, out, err = cli(["train", "dp", "-m", "digits_cnn", "-p", str(demo_copy), "--epsilon", "3", "--epochs", "1",
                          "--ema", "0.9", "--key", _key(demo_copy), "--format", "json"])
    assert code == 0, err
    result = json.loads(out)
    assert any("ReLU" in note and "tanh" in note for note in result["notes"])  # the demo CNN is ReLU
    model = demo_copy.parent / "models/digits_cnn.dp.safetensors"
    assert result["out"] == str(model) and model.is_file()
    assert result["recipe"] == "dp-sgd" and result["accountant"] == "prv" and result["delta"] == 1e-5
    assert 0 < result["epsilon"] <= 3.0
    assert result["epsilon"] == pytest.approx(epsilon(sample_rate=result["sample_rate"], steps=result["steps"],
                                                      noise_multiplier=result["noise_multiplier"], delta=1e-5), abs=1e-5)
    assert result["cross_check"]["status"] == "agrees"
    assert 0.0 <= result["test_accuracy"] <= 1.0 and result["seconds_per_epoch"] > 0
    # The attestation verifies with the pipeline's trusted key and records the guarantee.
    sign(model, _key(demo_copy))
    verified = verify_provenance(model, None, [demo_copy.parent / "keys/demo-signing.pub"])
    assert any("digits_train" in d for d in verified.dependencies)
    from pipeshield.integrity.envelope import open_sealed, trusted_keys

    statement = open_sealed(model, Path(result["attestation"]),
                            trusted_keys([demo_copy.parent / "keys/demo-signing.pub"])).statement
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["recipe"] == "dp-sgd" and params["hyperparameters"]["ema_decay"] == 0.9
    guarantee = params["guarantee"]
    for field in ("epsilon", "delta", "accountant", "noise_multiplier", "sample_rate", "steps", "max_grad_norm"):
        assert field in guarantee
    assert guarantee["epsilon"] == pytest.approx(result["epsilon"]) and guarantee["cross_check"]["status"] == "agrees"
    # The builder loads the written state_dict (the pipeline can point models.digits_cnn.path at it).
    import torch
    from safetensors.torch import load_file

    from pipeshield.demo.models import build_digits_cnn

    build_digits_cnn().load_state_dict(load_file(model))
    del torch


def test_train_dp_tabular_forest_becomes_dp_logistic_regression(demo_copy: Path, cli: CliRunner) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    code, out, err = cli(["train", "dp", "-m", "tabular_forest", "-p", str(demo_copy), "--epsilon", "2",
                          "--batch-size", "32", "--key", _key(demo_copy), "--format", "json"])
    assert code == 0, err
    result = json.loads(out)
    path = Path(result["out"])
    assert path.suffix == ".skops" and result["recipe"] == "dp-logistic-regression"
    assert any("retrained as DP logistic regression" in n for n in result["notes"])
    assert isinstance(sio.load(path), LogisticRegression)
    assert result["test_accuracy"] >= 0.85 and result["epsilon"] <= 2.0


def test_text_output_says_what_it_wrote(demo_copy: Path, cli: CliRunner) -> None:
    code, _, err = cli(["train", "dp", "-m", "tabular_forest", "-p", str(demo_copy), "--noise-multiplier", "2",
                        "--epochs", "3", "--batch-size", "32", "--accountant", "rdp", "--key", _key(demo_copy)])
    assert code == 0, err
    assert "rdp accountant" in err and "cross-check: agrees" in err and "wrote" in err


BAD = {
    "unreachable epsilon": (["--epsilon", "0.01"], "unreachable"),
    "no key": (["--epsilon", "3", "--no-key"], "--key"),
    "both budgets": (["--epsilon", "3", "--noise-multiplier", "1"], "exactly one"),
    "delta too large": (["--epsilon", "3", "--delta", "0.01"], "--delta"),
    "batch as large as the data": (["--epsilon", "3", "--batch-size", "100000"], "--batch-size"),
    "unknown model": (["--epsilon", "3", "--model", "nope"], "no model named"),
    "ema decay of 1": (["--epsilon", "3", "--ema", "1"], "--ema"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_and_writes_nothing(case: str, demo_copy: Path, cli: CliRunner) -> None:
    extra, expected = BAD[case]
    args = ["train", "dp", "-m", "digits_cnn", "-p", str(demo_copy), "--epochs", "2"]
    if "--no-key" in extra:
        extra = [e for e in extra if e != "--no-key"]
    else:
        args += ["--key", _key(demo_copy)]
    before = set((demo_copy.parent / "models").iterdir())
    code, out, err = cli(args + extra)
    assert code == 2 and expected in err and "Traceback" not in err
    assert out == ""
    assert set((demo_copy.parent / "models").iterdir()) == before
    assert not (demo_copy.parent / "models/digits_cnn.dp.safetensors").exists()


def test_batchnorm_builder_refused_then_fixed(demo_copy: Path, cli: CliRunner) -> None:
    root = demo_copy.parent
    (root / "dp_bn_builder.py").write_text(
        "import torch.nn as nn\n\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),\n"
        "                         nn.Flatten(), nn.Linear(256, 10))\n"
    )
    text = demo_copy.read_text().replace('builder = "pipeshield.demo.models:build_digits_cnn"',
                                         'builder = "dp_bn_builder:build"')
    demo_copy.write_text(text)
    out_file = root / "models/digits_cnn.dp.safetensors"
    base = ["train", "dp", "-m", "digits_cnn", "-p", str(demo_copy), "--epsilon", "5", "--epochs", "1",
            "--key", _key(demo_copy)]
    code, _, err = cli(base)
    assert code == 2 and "BatchNorm2d" in err and "--fix-layers" in err
    assert not out_file.exists()
    code, out, err = cli([*base, "--fix-layers", "--format", "json"])
    assert code == 0, err
    result = json.loads(out)
    assert any("BatchNorm2d -> GroupNorm" in c for c in result["layer_changes"]) and out_file.is_file()
    assert any("changed the architecture" in n for n in result["notes"])


def test_declared_domain_bounds_are_used_for_scaling(demo_copy: Path, cli: CliRunner) -> None:
    text = demo_copy.read_text().replace(
        '[datasets.tabular_test]', '[datasets.tabular_train.domain]\nclip = [0.0, 4300.0]\n\n[datasets.tabular_test]')
    demo_copy.write_text(text)
    code, out, err = cli(["train", "dp", "-m", "tabular_forest", "-p", str(demo_copy), "--noise-multiplier", "1",
                          "--epochs", "2", "--batch-size", "32", "--key", _key(demo_copy), "--format", "json"])
    assert code == 0, err
    notes = json.loads(out)["notes"]
    assert any("declared in datasets.tabular_train.domain (public)" in n for n in notes)
