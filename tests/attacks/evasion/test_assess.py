"""The assessment, the ``attacks.evasion`` audit check and ``pipeshield attack evasion`` on the
demo pipeline, whose digits CNN is undefended (planted weakness: it must fail at eps 0.1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeshield.attacks.evasion.assess import assess_evasion
from pipeshield.core.findings import Finding, Status


@pytest.fixture(scope="module")
def demo(demo_pipeline: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's demo (the CLI writes its outputs beside the pipeline)."""
    torch.set_num_threads(2)
    dest = tmp_path_factory.mktemp("evasion") / "demo"
    shutil.copytree(demo_pipeline.parent, dest)
    return dest / demo_pipeline.name


@pytest.fixture(scope="module")
def findings(demo: Path) -> dict[str, Finding]:
    from pipeshield.core.checks import CheckContext, check_settings, get_check
    from pipeshield.core.pipeline import load_pipeline

    pipeline = load_pipeline(demo)
    check = get_check("attacks.evasion")
    ctx = CheckContext(pipeline, check_settings(check, pipeline).model_copy(update={"max_inputs": 150}))
    out = {}
    for subject in check.subjects(pipeline):
        reason = check.skip_reason(pipeline, subject)
        fs = [check.skipped(subject, reason)] if reason else list(check.run(ctx, subject))
        out.update({f.id: f for f in fs})
    return out


def test_assessment_on_a_linear_model_streams_and_serialises() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    x = torch.rand(50, 4)
    y = model(x).argmax(1)
    one = assess_evasion(model, x, y, eps_grid=[0.2, 0.0], clip=(0.0, 1.0), budget="standard", batch_size=7)
    big = assess_evasion(model, x, y, eps_grid=[0.0, 0.2], clip=(0.0, 1.0), budget="standard", batch_size=64)
    assert one.eps_grid == (0.0, 0.2) and one.clean_accuracy == 1.0
    assert set(one.robust_accuracy) == {"fgsm", "pgd", "apgd-ce", "apgd-dlr"}
    assert one.ensemble == big.ensemble
    assert one.ensemble[1] <= min(v[1] for v in one.robust_accuracy.values())
    d = json.loads(json.dumps(one.to_dict()))
    assert d["settings"]["steps"]["pgd"] == 40 and d["median_perturbation"][0] is None


def test_check_fails_digits_cnn_with_a_curve(findings: dict[str, Finding]) -> None:
    f = findings["attacks.evasion/digits_cnn"]
    assert f.status is Status.FAIL and f.severity == "high"
    assert "flips" in f.message and "0.1" in f.message
    assert f.metrics["robust_accuracy"] < 0.5 < f.metrics["clean_accuracy"]  # type: ignore[operator]
    plot = f.evidence[0].data
    assert plot is not None and plot["type"] == "line" and len(plot["series"]) >= 4
    assert "black-box" in f.caveat
    assert findings["attacks.evasion/digits_cnn/masking"].status is Status.PASS


def test_check_attacks_the_forest_black_box_in_feature_range_units(findings: dict[str, Finding]) -> None:
    f = findings["attacks.evasion/tabular_forest"]
    assert f.status in (Status.FAIL, Status.PASS)
    assert f.metrics["access"] == "black-box" and f.metrics["eps_units"] == "feature-range"
    assert "10% of its range" in f.message and "queries per input" in f.message
    assert {"robust_accuracy_square", "robust_accuracy_hop-skip-jump", "robust_accuracy_transfer"} <= set(f.metrics)
    assert "white-box gradient attacks" in f.caveat  # says what was not measured
    table = f.evidence[1]
    assert table.kind == "table" and table.data is not None
    rows = table.data["rows"]
    assert rows and all(abs(r[4]) > 0 for r in rows)  # only features the attack really changed


def test_digits_samples_are_verified_adversarial_images(findings: dict[str, Finding]) -> None:
    f = findings["attacks.evasion/digits_cnn"]
    pics = f.evidence[1].data
    assert pics is not None and pics["type"] == "images" and len(pics["images"]) % 3 == 0
    for clean, adv, delta in zip(pics["images"][::3], pics["images"][1::3], pics["images"][2::3]):
        assert clean["label"].split(": ")[1] != adv["label"].split(": ")[1]  # the prediction flipped
        d = np.asarray(delta["pixels"])
        assert np.abs(d).max() <= 0.1 + 1e-3  # inside the policy ball (pixels rounded to 4 places)
        assert np.all((np.asarray(adv["pixels"]) >= 0) & (np.asarray(adv["pixels"]) <= 1))


def test_cli_exit_codes_and_json(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeshield.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["attack", "evasion", str(demo), "--model", "digits_cnn", "--format", "json"])
    assert exc.value.code == 1
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is False and out["eps"] == 0.1
    assert {"assessment", "masking", "robust_accuracy"} <= set(out)
    with pytest.raises(SystemExit) as exc:
        main(["attack", "evasion", str(demo), "--model", "digits_cnn", "--eps", "0", "--format", "json"])
    assert exc.value.code == 0
    with pytest.raises(SystemExit) as exc:
        main(["attack", "evasion", str(demo), "--model", "nope"])
    assert exc.value.code == 2
    assert "no model named 'nope'" in capsys.readouterr().err
