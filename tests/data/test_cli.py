"""``pipeshield data ...``: exit codes, JSON shapes, and one clear line for every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest


def test_profile_validate_round_trip(tmp_path: Path, demo_root: Path, planted: dict[str, Any], run_cli) -> None:
    out = tmp_path / "profile.json"
    code, _, err = run_cli("data", "profile", str(demo_root / "data/tabular_train.csv"), "-o", str(out), "--label", "diagnosis")
    assert code == 0 and "304 rows" in err and json.loads(out.read_text())["profile_version"] == 1
    code, stdout, _ = run_cli("data", "validate", str(demo_root / "data/incoming.csv"), "--profile", str(out),
                              "--format", "json", "--alpha", "0.01")
    assert code == 1
    report = json.loads(stdout)
    assert report["conforms"] is False and report["rows"] == 86
    kinds = {(v["kind"], v["column"]) for v in report["violations"]}
    truth = planted["incoming"]
    assert ("unexpected_column", truth["unexpected_column"]) in kinds
    assert ("drift", truth["drifted_feature"]) in kinds
    assert ("range_violation", truth["out_of_range_feature"]) in kinds
    for v in report["violations"]:
        assert set(v) >= {"kind", "column", "severity", "message", "count", "rows", "statistic", "value", "threshold"}
    assert "patient0000@example.org" not in stdout  # the injected column's values are not echoed


def test_validate_conforming_batch_exits_0(tmp_path: Path, cancer: pd.DataFrame, run_cli) -> None:
    cancer.to_csv(tmp_path / "trusted.csv", index=False)
    run_cli("data", "profile", str(tmp_path / "trusted.csv"), "-o", str(tmp_path / "p.json"))
    code, _, err = run_cli("data", "validate", str(tmp_path / "trusted.csv"), "--profile", str(tmp_path / "p.json"))
    assert code == 0 and "conforms" in err


def test_leakage_command(demo_root: Path, run_cli) -> None:
    code, out, _ = run_cli("data", "leakage", str(demo_root / "data/tabular_train.csv"), "--test",
                           str(demo_root / "data/tabular_test.parquet"), "--label", "diagnosis", "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["overlap"]["exact_test_rows"] == 15 and report["label_leakage"]["leaking"] == []
    code, _, err = run_cli("data", "leakage", str(demo_root / "data/tabular_test.parquet"))
    assert code == 0 and "no leaks found" in err


def _bad_inputs(tmp: Path, cancer: pd.DataFrame) -> dict[str, tuple[Path, list[str], str]]:
    """name -> (file, extra args, what the one-line error must say)."""
    cases: dict[str, tuple[Path, list[str], str]] = {}
    p = tmp / "quotes.csv"
    p.write_text('a,b\n1,"unclosed\n2,3\n')
    cases["malformed"] = (p, [], "malformed CSV")
    p = tmp / "empty.csv"
    p.write_text("")
    cases["empty"] = (p, [], "empty")
    p = tmp / "header_only.csv"
    p.write_text("a,b\n")
    cases["no_rows"] = (p, [], "no rows")
    p = tmp / "mixed.csv"
    p.write_text("a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(20)) + "7,seven\n")
    cases["mixed"] = (p, [], "column 'b' has mixed types: row 20 holds 'seven'")
    p = tmp / "nolabel.csv"
    cancer.iloc[:20].to_csv(p, index=False)
    cases["label_missing"] = (p, ["--label", "outcome"], "label column 'outcome' not found")
    p = tmp / "huge.csv"
    p.write_text("a,b\n1,x\n2," + "y" * (10 * 2**20) + "\n")
    cases["huge_cell"] = (p, [], "column 'b', row 1: cell of 10,485,760 characters")
    p = tmp / "objects.npz"
    np.savez(p, x=np.array([{"a": 1}, None], dtype=object))
    cases["npz_objects"] = (p, [], "unpickling")
    return cases


@pytest.mark.parametrize("case", ["malformed", "empty", "no_rows", "mixed", "label_missing", "huge_cell", "npz_objects"])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path: Path, cancer: pd.DataFrame, run_cli, case: str) -> None:
    path, extra, expected = _bad_inputs(tmp_path, cancer)[case]
    out = tmp_path / "out" / "profile.json"
    code, stdout, err = run_cli("data", "profile", str(path), "-o", str(out), *extra)
    assert code == 2, err
    first = err.strip().splitlines()[0]
    assert first.startswith("error: ") and str(path) in first and expected in first, first
    assert "Traceback" not in err and stdout == ""
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())  # no temp file left behind either


def test_profile_of_another_dataset_exit_2(tmp_path: Path, cancer: pd.DataFrame, run_cli) -> None:
    from sklearn.datasets import load_iris

    load_iris(as_frame=True).frame.to_csv(tmp_path / "iris.csv", index=False)
    cancer.to_csv(tmp_path / "cancer.csv", index=False)
    run_cli("data", "profile", str(tmp_path / "iris.csv"), "-o", str(tmp_path / "iris.json"))
    code, stdout, err = run_cli("data", "validate", str(tmp_path / "cancer.csv"), "--profile", str(tmp_path / "iris.json"),
                                "--format", "json")
    assert code == 2 and stdout == ""
    assert "shares 0 of 5 columns" in err and "a profile of another dataset" in err and "cancer.csv" in err
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    code, _, err = run_cli("data", "validate", str(tmp_path / "cancer.csv"), "--profile", str(tmp_path / "junk.json"))
    assert code == 2 and "not a pipeshield profile" in err


def test_validate_reports_bad_batch_rows_not_errors(tmp_path: Path, run_cli) -> None:
    """A trusted profile refuses mixed types; a batch with them is a violation naming the rows."""
    pd.DataFrame({"a": range(50), "b": np.linspace(0, 1, 50)}).to_csv(tmp_path / "t.csv", index=False)
    run_cli("data", "profile", str(tmp_path / "t.csv"), "-o", str(tmp_path / "p.json"))
    (tmp_path / "b.csv").write_text("a,b\n1,0.5\n2,oops\n3,0.25\n")
    code, out, _ = run_cli("data", "validate", str(tmp_path / "b.csv"), "--profile", str(tmp_path / "p.json"), "-f", "json")
    assert code == 1
    v = next(v for v in json.loads(out)["violations"] if v["kind"] == "type_violation")
    assert v["column"] == "b" and v["rows"] == [1]
