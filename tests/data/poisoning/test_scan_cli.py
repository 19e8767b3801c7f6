"""``pipeshield data poison-scan``: the stable JSON, exit codes, and one clear line for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BUILDER = "pipeshield.demo.models:build_digits_cnn"


def _blobs(path: Path, n: int = 120) -> Path:
    """Two far-apart, correctly labelled blobs: nothing for any detector to find."""
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(0, 1, size=(n // 2, 3)), rng.normal(12, 1, size=(n // 2, 3))]
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(y=["cat"] * (n // 2) + ["dog"] * (n // 2))
    frame.to_csv(path, index=False)
    return path


def test_demo_scan_json_shape_and_order(demo_digits, cli) -> None:  # type: ignore[no-untyped-def]
    d = demo_digits
    data = d.root / "data/digits_train.npz"
    model = d.root / "models/digits_cnn.safetensors"
    code, out, _err = cli(["data", "poison-scan", str(data), "--label", "label", "--model", str(model),
                           "--builder", BUILDER, "--input-shape", "1,8,8", "--format", "json"])
    assert code == 1
    doc = json.loads(out)
    assert {"file", "sha256", "n_rows", "label", "suspicious", "detectors", "settings"} <= set(doc)
    rows = doc["suspicious"]
    assert rows and all({"row", "score", "detectors"} <= set(r) for r in rows)
    assert all(isinstance(r["row"], int) and 0 <= r["row"] < doc["n_rows"] for r in rows)
    assert len({r["row"] for r in rows}) == len(rows)
    keys = [(-r["score"], r["row"]) for r in rows]
    assert keys == sorted(keys)  # most suspicious first, ties by row
    flagged = {r["row"] for r in rows}
    assert set(np.flatnonzero(d.backdoor).tolist()) <= flagged
    assert len(flagged & set(np.flatnonzero(d.flips).tolist())) >= 32
    both = [r for r in rows if {"spectral-signatures", "activation-clustering"} <= set(r["detectors"])]
    assert len(both) == d.backdoor.sum()
    assert doc["detectors"]["activation-clustering"]["suspicious_classes"] == [0]
    flip = next(r for r in rows if r["row"] in set(np.flatnonzero(d.flips).tolist()))
    assert (flip["label"], flip["suggested_label"]) == (1, 7)


def test_mask_adds_metrics_and_text_summary(demo_digits, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = demo_digits
    mask = tmp_path / "mask.json"
    mask.write_text(json.dumps({"indices": np.flatnonzero(d.flips).tolist(), "n_rows": len(d.y)}))
    out_json = tmp_path / "scan.json"
    code, _out, err = cli(["data", "poison-scan", str(d.root / "data/digits_train.npz"), "--label", "label",
                           "--mask", str(mask), "--detectors", "confident-learning", "-o", str(out_json)])
    assert code == 1
    assert "confident-learning" in err and "recall" in err
    doc = json.loads(out_json.read_text())
    assert doc["detectors"]["confident-learning"]["metrics"]["recall"] >= 0.8
    assert set(doc["detectors"]) == {"confident-learning"}


def test_nothing_flagged_exits_0(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = cli(["data", "poison-scan", str(_blobs(tmp_path / "blobs.csv")), "--label", "y", "--format", "json"])
    assert code == 0, out
    doc = json.loads(out)
    assert doc["suspicious"] == []
    assert doc["detectors"]["spectral-signatures"]["skipped"].startswith("needs a torch model")


def test_sklearn_model_skips_backdoor_detectors(demo_digits, cli) -> None:  # type: ignore[no-untyped-def]
    root = demo_digits.root
    code, out, _ = cli(["data", "poison-scan", str(root / "data/tabular_train.csv"), "--label", "diagnosis",
                        "--model", str(root / "models/tabular_forest.skops"), "--format", "json",
                        "--trusted-type", "sklearn.tree._tree.Tree",
                        "--detectors", "spectral-signatures,activation-clustering"])
    doc = json.loads(out)
    assert code == 0
    assert "not a torch model" in doc["detectors"]["activation-clustering"]["skipped"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-label", "label column 'nope' not found"),
        ("empty", "the file is empty"),
        ("header-only", "has no rows"),
        ("wrong-shape", "input_shape"),
        ("mask-length", "the mask has 3 entries but the dataset has 120 rows"),
        ("mask-index", "index 500 is outside"),
        ("unknown-detector", "unknown detector"),
        ("one-class", "single class"),
    ],
)
def test_bad_input_is_one_clear_line(case: str, message: str, cli, tmp_path: Path, demo_digits) -> None:  # type: ignore[no-untyped-def]
    blobs = _blobs(tmp_path / "blobs.csv")
    args = ["data", "poison-scan", str(blobs), "--label", "y"]
    if case == "missing-label":
        args[4] = "nope"
    elif case == "empty":
        (tmp_path / "empty.csv").write_bytes(b"")
        args[2] = str(tmp_path / "empty.csv")
    elif case == "header-only":
        (tmp_path / "head.csv").write_text("a,b,y\n")
        args[2] = str(tmp_path / "head.csv")
    elif case == "wrong-shape":
        root = demo_digits.root
        args = ["data", "poison-scan", str(root / "data/digits_train.npz"), "--label", "label", "--model",
                str(root / "models/digits_cnn.safetensors"), "--builder", BUILDER, "--input-shape", "1,4,4"]
    elif case == "mask-length":
        (tmp_path / "m.json").write_text("[true, false, true]")
        args += ["--mask", str(tmp_path / "m.json")]
    elif case == "mask-index":
        (tmp_path / "m.json").write_text('{"indices": [1, 500]}')
        args += ["--mask", str(tmp_path / "m.json")]
    elif case == "unknown-detector":
        args += ["--detectors", "tea-leaves"]
    elif case == "one-class":
        pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [1, 1, 1]}).to_csv(tmp_path / "one.csv", index=False)
        args[2] = str(tmp_path / "one.csv")
    code, out, err = cli(args)
    assert code == 2, (out, err)
    assert message in err
    assert err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2
