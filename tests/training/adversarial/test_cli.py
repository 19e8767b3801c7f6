"""``pipeshield train adversarial`` end to end on the demo pipeline: the JSON numbers, the model
file the builder loads, and a signed provenance whose guarantee holds the same numbers; bad
input exits 2 with one line and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import set_check_policy


@pytest.fixture
def pipeline(demo_copy: Path) -> Path:
    # the default eps comes from the evasion policy; fewer inputs keep the test short
    return set_check_policy(demo_copy, "attacks.evasion", "eps = 0.15\nmax_inputs = 100")


def test_json_output_model_and_provenance(pipeline: Path, cli: Any) -> None:
    from safetensors.torch import load_file

    from pipeshield.demo.models import build_digits_cnn
    from pipeshield.integrity.envelope import open_sealed, trusted_keys

    root = pipeline.parent
    out = root / "models" / "robust.safetensors"
    code, stdout, stderr = cli(["train", "adversarial", "--pipeline", str(pipeline), "--model", "digits_cnn",
                                "--key", str(root / ".private/demo-signing.key"), "--epochs", "2", "--steps", "3",
                                "--out", str(out), "--format", "json"])
    assert code == 0, stderr
    result = json.loads(stdout)
    g = result["guarantee"]
    assert g["eps"] == 0.15 and g["norm"] == "linf"  # the policy's threat model
    assert g["evaluated_on"] == "digits_test" and g["n_inputs"] == 100 and g["budget"] == "quick"
    a = result["evaluation"]["assessment"]
    j = a["eps_grid"].index(0.15)
    assert g["robust_accuracy"] == pytest.approx(a["ensemble"][j], abs=1e-6)
    assert g["clean_accuracy"] == pytest.approx(a["clean_accuracy"], abs=1e-6)
    flagged = [m["name"] for m in result["evaluation"]["masking"] if m["flagged"]]
    assert g["masking"] == ("clean" if not flagged else flagged)
    assert {m["name"] for m in result["evaluation"]["masking"]} >= {"single-step", "large-eps", "convergence"}
    assert result["recipe"] == "pgd-adversarial" and len(result["history"]["epochs"]) == 2
    assert result["seconds_per_epoch"] > result["plain_seconds_per_epoch"] > 0

    statement = open_sealed(out, Path(result["provenance"]), trusted_keys([root / "keys/demo-signing.pub"])).statement
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["recipe"] == "pgd-adversarial"
    assert params["guarantee"] == g
    assert params["hyperparameters"]["eps"] == 0.15 and params["hyperparameters"]["steps"] == 3
    assert params["hyperparameters"]["domain"]["clip"] == [0.0, 1.0]

    module = build_digits_cnn()
    module.load_state_dict(load_file(out))  # strict: the builder's own module
    test = np.load(root / "data/digits_test.npz")
    import torch

    with torch.no_grad():
        pred = module(torch.as_tensor(test["x"].reshape(-1, 1, 8, 8))).argmax(1).numpy()
    # the file is the model that was evaluated: its accuracy on the whole test set is close to the
    # guarantee's (measured on a 100-input sample)
    assert abs((pred == test["label"]).mean() - g["clean_accuracy"]) < 0.12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--eps", "0"], "--eps"),
        (["--eps", "-0.1"], "--eps"),
        (["--eps", "1.5"], "reaches every input"),
        (["--norm", "l2", "--eps", "9"], "reaches every input"),
        (["--steps", "0"], "--steps"),
        (["--model", "nope"], "no model named 'nope'"),
        (["--model", "tabular_forest"], "builder"),
        (["--no-key"], "--key"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    pipeline: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.delenv("PIPESHIELD_SIGNING_KEY", raising=False)
    root = pipeline.parent
    out = root / "models" / "bad.safetensors"
    model = [] if "--model" in args else ["--model", "digits_cnn"]
    key = [] if args == ["--no-key"] else ["--key", str(root / ".private/demo-signing.key")]
    extra = [] if args == ["--no-key"] else args
    code, stdout, stderr = cli(["train", "adversarial", "--pipeline", str(pipeline), *model, *key, *extra,
                                "--out", str(out), "--epochs", "1"])
    assert code == 2, stderr
    assert message in stderr and "Traceback" not in stderr
    assert not out.exists() and not out.with_name(out.name + ".provenance.sig").exists()


def test_trades_text_output_without_evaluation(pipeline: Path, cli: Any) -> None:
    from pipeshield.integrity.envelope import open_sealed, trusted_keys

    root = pipeline.parent
    code, stdout, stderr = cli(["train", "adversarial", "--pipeline", str(pipeline), "--model", "digits_cnn",
                                "--key", str(root / ".private/demo-signing.key"), "--method", "trades",
                                "--beta", "3", "--eps", "0.05", "--epochs", "1", "--steps", "2", "--no-evaluate"])
    assert code == 0, stderr
    assert stdout == ""  # text goes to stderr
    assert "trades" in stderr and "not evaluated" in stderr and "plain" in stderr
    out = root / "models" / "digits_cnn.trades.safetensors"  # the default output beside the model
    statement = open_sealed(out, out.with_name(out.name + ".provenance.sig"),
                            trusted_keys([root / "keys/demo-signing.pub"])).statement
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["recipe"] == "trades" and params["hyperparameters"]["beta"] == 3.0
    assert params["guarantee"] == {"norm": "linf", "eps": 0.05, "robust_accuracy": None,
                                   "masking": "not evaluated", "evaluated_on": None}
