"""Validation against planted ground truth (the demo's incoming batch) and a clean control."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeshield.data.profile import ProfileSettings, learn_profile
from pipeshield.data.validate import ValidationSettings, validate
from pipeshield.errors import DatasetError

ALPHA = 0.01


@pytest.fixture(scope="module")
def demo_result(demo_pipeline: Path) -> Any:
    root = demo_pipeline.parent
    profile = learn_profile(root / "data/tabular_train.csv", label="diagnosis")
    return validate(root / "data/incoming.csv", profile, ValidationSettings(alpha=ALPHA))


def test_planted_drift_is_flagged(demo_result: Any, planted: dict[str, Any]) -> None:
    feature = planted["incoming"]["drifted_feature"]
    drift = {d.column: d for d in demo_result.drift}[feature]
    assert drift.test == "ks" and drift.p_value < ALPHA and drift.psi > 0.25 and drift.drifted
    violation = next(v for v in demo_result.violations if v.kind == "drift")
    assert violation.column == feature and violation.severity == "high"
    assert violation.threshold == pytest.approx(ALPHA / len(demo_result.drift))
    # the planted feature is the only column drifted (Bonferroni keeps the others quiet)
    assert demo_result.columns_with("drift") == [feature]
    assert demo_result.multivariate["drifted"] is True


def test_planted_out_of_range_rows_are_named(demo_result: Any, planted: dict[str, Any]) -> None:
    truth = planted["incoming"]
    found = next(v for v in demo_result.violations
                 if v.kind == "range_violation" and v.column == truth["out_of_range_feature"])
    assert list(found.rows) == truth["out_of_range_rows"] and found.count == 8
    assert found.severity == "high" and found.statistic == "max" and found.value > found.threshold


def test_injected_column_is_unexpected(demo_result: Any, planted: dict[str, Any]) -> None:
    assert demo_result.columns_with("unexpected_column") == [planted["incoming"]["unexpected_column"]]
    assert demo_result.columns_with("missing_column") == []  # the label is not required of a batch
    assert not demo_result.conforms


def test_clean_split_is_not_flagged_as_drift(tmp_path: Path, cancer: pd.DataFrame) -> None:
    """False-positive control: two random halves of the same data."""
    rng = np.random.default_rng(0)
    order = rng.permutation(len(cancer))
    half = len(order) // 2
    cancer.iloc[order[:half]].to_csv(tmp_path / "trusted.csv", index=False)
    cancer.iloc[order[half:]].drop(columns=["diagnosis"]).to_parquet(tmp_path / "batch.parquet")
    profile = learn_profile(tmp_path / "trusted.csv", label="diagnosis")
    result = validate(tmp_path / "batch.parquet", profile, ValidationSettings(alpha=ALPHA))
    assert not [d.column for d in result.drift if d.drifted]
    assert result.multivariate is not None and not result.multivariate["drifted"]
    kinds = {v.kind for v in result.violations}
    assert kinds <= {"range_violation"}, kinds  # only natural outliers just past the trusted extremes


def test_types_categories_and_nulls(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    trusted = pd.DataFrame({"n": rng.integers(0, 100, 400), "c": rng.choice(["a", "b", "c"], 400),
                            "x": rng.normal(size=400)})
    trusted.to_csv(tmp_path / "trusted.csv", index=False)
    batch = trusted.sample(200, random_state=0).reset_index(drop=True).astype({"n": object, "c": object})
    batch.loc[[3, 9], "n"] = "oops"
    batch.loc[[4], "n"] = 2.5
    batch.loc[[5, 6, 7], "c"] = "zzz"
    batch.loc[list(range(100, 160)), "x"] = np.nan
    batch.to_csv(tmp_path / "batch.csv", index=False)
    profile = learn_profile(tmp_path / "trusted.csv")
    result = validate(tmp_path / "batch.csv", profile, ValidationSettings(chunk_rows=64))
    by = {(v.kind, v.column): v for v in result.violations}
    assert by[("type_violation", "n")].rows == (3, 4, 9) and by[("type_violation", "n")].count == 3
    assert by[("unseen_category", "c")].rows == (5, 6, 7)
    assert by[("null_spike", "x")].count == 60 and by[("null_spike", "x")].value == pytest.approx(0.3)


def test_image_batch_with_stamped_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    trusted = rng.integers(0, 120, size=(200, 16, 16, 3), dtype=np.uint8)
    batch = rng.integers(0, 120, size=(60, 16, 16, 3), dtype=np.uint8)
    batch[[7, 21], 14:, 14:, :] = 255  # a bright trigger patch
    np.savez(tmp_path / "trusted.npz", x=trusted)
    np.savez(tmp_path / "batch.npz", x=batch)
    profile = learn_profile(tmp_path / "trusted.npz", settings=ProfileSettings(chunk_rows=50))
    result = validate(tmp_path / "batch.npz", profile)
    hit = next(v for v in result.violations if v.kind == "range_violation" and v.column == "pixel.max")
    assert hit.rows == (7, 21)
    np.savez(tmp_path / "other.npz", x=rng.integers(0, 9, size=(10, 8, 8), dtype=np.uint8))
    with pytest.raises(DatasetError, match="shape"):
        validate(tmp_path / "other.npz", profile)
