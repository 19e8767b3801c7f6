"""``pipeshield train robust`` end to end on the demo pipeline, whose digits data carries a planted
backdoor (3%, 2x2 patch -> 0) and 40 flipped sevens; ``planted.json`` is the ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeshield.attacks import PatchTrigger


def _mask(pipeline: Path, n_rows: int | None = None) -> Path:
    planted = json.loads((pipeline.parent / "planted.json").read_text())
    rows = sorted(planted["label_flip"]["indices"] + planted["backdoor"]["indices"])
    n = len(np.load(pipeline.parent / "data/digits_train.npz")["label"])
    out = pipeline.parent / "mask.json"
    out.write_text(json.dumps({"indices": rows, "n_rows": n_rows or n, "target_class": 0,
                               "trigger": PatchTrigger((8, 8), 2).to_dict()}))
    return out


def _args(pipeline: Path, *more: str) -> list[str]:
    return ["train", "robust", "-p", str(pipeline), "--key", str(pipeline.parent / ".private/demo-signing.key"), *more]


def test_sanitize_json_writes_the_model_and_its_provenance(cli, demo_copy: Path) -> None:  # type: ignore[no-untyped-def]
    from safetensors.torch import load_file

    from pipeshield.demo.models import build_digits_cnn
    from pipeshield.integrity.envelope import open_sealed, trusted_keys

    code, out, err = cli(_args(demo_copy, "-m", "digits_cnn", "--poison-mask", str(_mask(demo_copy)),
                               "--epochs", "20", "--format", "json"))
    assert code == 0, err
    result = json.loads(out)
    assert result["recipe"] == "sanitize-then-train"
    assert result["undefended"]["attack_success_rate"] >= 0.8
    assert result["defended"]["attack_success_rate"] <= 0.05
    assert result["defended"]["clean_accuracy"] >= result["undefended"]["clean_accuracy"] - 0.02
    cleaning = result["cleaning"]
    assert cleaning["metrics"]["recall"] >= 0.85 and cleaning["metrics"]["fpr"] <= 0.02
    model = Path(result["output"])
    assert model == demo_copy.parent / "models/digits_cnn.sanitize-then-train.safetensors"
    build_digits_cnn().load_state_dict(load_file(model))  # the builder loads what was written
    statement = open_sealed(model, Path(result["provenance"]),
                            trusted_keys([demo_copy.parent / "keys/demo-signing.pub"])).statement
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["recipe"] == "sanitize-then-train"
    assert params["guarantee"]["sanitize"]["removed"] == cleaning["removed"]
    assert params["guarantee"]["sanitize"]["removed_rows"] == cleaning["removed_rows"]


def test_trim_records_the_loss_trimming_recipe(cli, demo_copy: Path) -> None:  # type: ignore[no-untyped-def]
    from pipeshield.integrity.envelope import open_sealed, trusted_keys

    code, out, err = cli(_args(demo_copy, "-m", "digits_cnn", "--method", "trim", "--trim", "0.1", "--warmup", "2",
                               "--epochs", "6", "--poison-mask", str(_mask(demo_copy)), "-f", "json"))
    assert code == 0, err
    result = json.loads(out)
    assert result["recipe"] == "loss-trimming" and result["cleaning"] is None and result["undefended"] is None
    trimming = result["trimming"]
    assert trimming["trimmed_last_epoch"] == round(0.1 * result["n_rows"]) and "metrics" in trimming
    model = Path(result["output"])
    assert model.name == "digits_cnn.loss-trimming.safetensors"
    statement = open_sealed(model, Path(result["provenance"]),
                            trusted_keys([demo_copy.parent / "keys/demo-signing.pub"])).statement
    params = statement["predicate"]["buildDefinition"]["externalParameters"]
    assert params["recipe"] == "loss-trimming" and params["guarantee"]["loss_trimming"]["trim"] == 0.1


def test_sklearn_model_is_retrained_with_its_training_callable(cli, demo_copy: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(_args(demo_copy, "-m", "tabular_forest", "--detectors", "confident-learning,near-duplicates",
                               "-f", "json"))
    assert code == 0, err
    result = json.loads(out)
    assert result["output"].endswith("tabular_forest.sanitize-then-train.skops") and Path(result["output"]).is_file()
    assert result["defended"]["clean_accuracy"] >= 0.9 and result["undefended"] is None


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["-m", "digits_cnn", "--method", "trim", "--trim", "0.6"], "--trim: "),
        (["-m", "digits_cnn", "--method", "both", "--trim", "0"], "--trim: "),
        (["-m", "digits_cnn", "--detectors", "confident-learning,nope"], "--detectors: unknown detector 'nope'"),
        (["-m", "digits_cnn", "--poison-mask", "WRONG"], "the mask is for 5 rows but the dataset has"),
        (["-m", "tabular_forest", "--method", "trim"], "--method trim: loss trimming needs"),
        (["-m", "nope"], "--model: no model named 'nope'"),
    ],
)
def test_bad_input_exits_2_and_leaves_no_model(cli, demo_copy: Path, more: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    more = [str(_mask(demo_copy, 5)) if m == "WRONG" else m for m in more]
    before = set((demo_copy.parent / "models").iterdir())
    code, out, err = cli(_args(demo_copy, *more))
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err
    assert set((demo_copy.parent / "models").iterdir()) == before


def test_missing_key_is_refused_before_training(cli, demo_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PIPESHIELD_SIGNING_KEY", raising=False)
    code, _out, err = cli(["train", "robust", "-p", str(demo_copy), "-m", "digits_cnn"])
    assert code == 2 and "--key" in err
