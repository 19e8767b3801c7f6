"""``pipeshield data sanitize``: the manifest matches the rows changed, writes are atomic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def flipped_csv(tmp_path: Path) -> tuple[Path, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "diagnosis"})
    frame["note"] = [f"r{i}" for i in range(len(frame))]  # a non-feature column survives
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(frame), 40, replace=False))
    frame.loc[idx, "diagnosis"] = 1 - frame.loc[idx, "diagnosis"]
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return path, idx


def _scan(cli, path: Path, tmp_path: Path) -> dict:  # type: ignore[no-untyped-def]
    code, out, _ = cli(["data", "poison-scan", str(path), "--label", "diagnosis", "--format", "json",
                        "--detectors", "confident-learning"])
    assert code == 1
    (tmp_path / "scan.json").write_text(out)
    return json.loads(out)


def test_remove_round_trip(cli, flipped_csv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, idx = flipped_csv
    scan = _scan(cli, path, tmp_path)
    flagged = sorted(r["row"] for r in scan["suspicious"])
    code, _out, err = cli(["data", "sanitize", str(path), "--label", "diagnosis", "--from-scan",
                           str(tmp_path / "scan.json"), "--out", str(tmp_path / "clean.csv"),
                           "--manifest", str(tmp_path / "changes.json")])
    assert code == 0, err
    manifest = json.loads((tmp_path / "changes.json").read_text())
    assert [c["row"] for c in manifest["changes"]] == flagged
    assert all(c["action"] == "removed" and c["reason"] for c in manifest["changes"])
    original = pd.read_csv(path)
    clean = pd.read_csv(tmp_path / "clean.csv")
    assert len(clean) == len(original) - len(flagged) == manifest["n_rows_out"]
    kept = original.drop(index=flagged).reset_index(drop=True)
    pd.testing.assert_frame_equal(clean, kept)
    assert len(set(flagged) & set(idx.tolist())) >= 0.8 * len(idx)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_relabel(cli, flipped_csv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, idx = flipped_csv
    scan = _scan(cli, path, tmp_path)
    code, _out, err = cli(["data", "sanitize", str(path), "--label", "diagnosis", "--from-scan",
                           str(tmp_path / "scan.json"), "--out", str(tmp_path / "clean.csv"),
                           "--manifest", str(tmp_path / "changes.json"), "--relabel"])
    assert code == 0, err
    manifest = json.loads((tmp_path / "changes.json").read_text())
    clean = pd.read_csv(tmp_path / "clean.csv")
    assert len(clean) == len(pd.read_csv(path))
    assert manifest["relabelled"] == len(scan["suspicious"])
    for c in manifest["changes"]:
        assert c["action"] == "relabelled" and clean.loc[c["row"], "diagnosis"] == c["new_label"] != c["old_label"]
    truth = 1 - pd.read_csv(path).loc[idx, "diagnosis"]
    fixed = [r for r in idx if r in {c["row"] for c in manifest["changes"]}]
    assert (clean.loc[fixed, "diagnosis"] == truth.loc[fixed]).all()


def test_scan_of_another_file_is_refused(cli, flipped_csv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _ = flipped_csv
    _scan(cli, path, tmp_path)
    other = tmp_path / "other.csv"
    pd.read_csv(path).iloc[:-1].to_csv(other, index=False)
    code, _out, err = cli(["data", "sanitize", str(other), "--label", "diagnosis", "--from-scan",
                           str(tmp_path / "scan.json"), "--out", str(tmp_path / "clean.csv"),
                           "--manifest", str(tmp_path / "changes.json")])
    assert code == 2 and "different file" in err
    assert not (tmp_path / "clean.csv").exists() and not (tmp_path / "changes.json").exists()


def test_npz_round_trip_keeps_other_arrays(tmp_path: Path) -> None:
    from pipeshield.data.poisoning import sanitize

    x = np.arange(40, dtype=np.float32).reshape(10, 2, 2)
    np.savez(tmp_path / "d.npz", x=x, label=np.arange(10) % 2, ids=np.arange(10) + 100, meta=np.array([7, 8, 9]))
    (tmp_path / "scan.json").write_text(json.dumps({"suspicious": [
        {"row": 3, "score": 0.9, "detectors": ["spectral-signatures"]}, {"row": 7, "score": 0.5, "detectors": ["outliers"]}]}))
    s = sanitize(tmp_path / "d.npz", label="label", scan=tmp_path / "scan.json", out=tmp_path / "c.npz",
                 manifest=tmp_path / "m.json")
    assert (s.removed, s.kept) == (2, 8)
    with np.load(tmp_path / "c.npz") as npz:
        assert npz["x"].shape == (8, 2, 2)
        assert npz["ids"].tolist() == [100, 101, 102, 104, 105, 106, 108, 109]
        assert npz["meta"].tolist() == [7, 8, 9]
