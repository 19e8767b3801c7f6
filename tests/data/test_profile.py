"""Profiles learned in chunks: the same numbers as one pass, quantiles within a bin, types, NPZ."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeshield.core.files import sha256_file
from pipeshield.data.profile import ProfileSettings, learn_profile, load_profile, save_profile
from pipeshield.data.profile.sketches import Reservoir


@pytest.fixture
def cancer_csv(tmp_path: Path, cancer: pd.DataFrame) -> Path:
    frame = pd.concat([cancer, cancer.iloc[:3]], ignore_index=True)  # 3 planted duplicate rows
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    return path


def test_chunked_profile_equals_one_pass(cancer_csv: Path, cancer: pd.DataFrame) -> None:
    small = learn_profile(cancer_csv, label="diagnosis", settings=ProfileSettings(chunk_rows=37))
    whole = learn_profile(cancer_csv, label="diagnosis", settings=ProfileSettings(chunk_rows=100_000))
    assert small.rows == whole.rows == len(cancer) + 3
    assert small.duplicate_rows == whole.duplicate_rows == 3
    for a, b in zip(small.columns, whole.columns):
        assert (a.name, a.type, a.count, a.nulls, a.min, a.max) == (b.name, b.type, b.count, b.nulls, b.min, b.max)
        if a.numeric:
            assert a.mean == pytest.approx(b.mean, rel=1e-12)
            assert a.std == pytest.approx(b.std, rel=1e-9)
    col = small.column("mean radius")
    values = pd.read_csv(cancer_csv)["mean radius"].to_numpy()
    assert col.type == "float" and col.min == values.min() and col.max == values.max()
    assert small.column("diagnosis").type == "int"


def test_quantiles_within_one_bin(cancer_csv: Path) -> None:
    profile = learn_profile(cancer_csv, settings=ProfileSettings(chunk_rows=50))
    data = pd.read_csv(cancer_csv)
    for col in profile.columns:
        if not col.numeric or col.histogram is None:
            continue
        edges = col.histogram["edges"]
        width = edges[1] - edges[0]
        tails = col.histogram["below"] + col.histogram["above"]
        for q, value in col.quantiles.items():
            exact = float(np.quantile(data[col.name], float(q)))
            if tails == 0:
                assert abs(value - exact) <= width + 1e-9, (col.name, q)


def test_types_nulls_and_categories(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "age": [31, 42, None, 55, 23, 40] * 10,
        "colour": ["red", "green", "blue", "red", "red", None] * 10,
        "note": [f"free text number {i}" for i in range(60)],
        "flag": [True, False] * 30,
        "when": [f"2024-01-0{i % 9 + 1}" for i in range(60)],
    })
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    profile = learn_profile(path, settings=ProfileSettings(chunk_rows=7))
    types = {c.name: c.type for c in profile.columns}
    assert types == {"age": "int", "colour": "category", "note": "text", "flag": "bool", "when": "datetime"}
    assert profile.column("age").nulls == 10
    assert profile.column("colour").categories == {"red": 30, "blue": 10, "green": 10}
    assert profile.column("note").categories is None  # free text keeps no values (it may hold PII)


def test_json_round_trip_and_source_digest(tmp_path: Path, cancer_csv: Path) -> None:
    profile = learn_profile(cancer_csv, label="diagnosis")
    out = tmp_path / "p.json"
    save_profile(profile, out)
    raw = json.loads(out.read_text())
    assert raw["profile_version"] == 1 and raw["sources"][0]["sha256"] == sha256_file(cancer_csv)[0]
    again = load_profile(out)
    assert again.names == profile.names and again.rows == profile.rows
    assert np.allclose(again.sample_values, profile.sample_values, equal_nan=True)


def test_npz_images_are_profiled_by_summaries(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 200, size=(120, 32, 32, 3), dtype=np.uint8)
    np.savez_compressed(tmp_path / "img.npz", x=x, y=np.arange(120) % 4)
    profile = learn_profile(tmp_path / "img.npz", label="y", settings=ProfileSettings(chunk_rows=25))
    assert profile.kind == "images" and profile.layout == {"shape": [32, 32, 3], "dtype": "uint8"}
    assert "pixel.max" in profile.names and "channel2.mean" in profile.names and len(profile.names) < 20
    assert profile.column("pixel.max").max == float(x.reshape(120, -1).max(axis=1).max())


def test_npz_vectors_are_profiled_per_feature(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    np.savez(tmp_path / "d.npz", x=x.astype(np.float32), label=y)
    profile = learn_profile(tmp_path / "d.npz", label="label")
    assert profile.kind == "table" and len(profile.columns) == 65 and profile.rows == len(x)


def test_reservoir_is_uniform_and_seeded() -> None:
    def draw(seed: int) -> np.ndarray:
        r = Reservoir(100, 1, seed)
        for start in range(0, 10_000, 333):
            block = np.arange(start, min(start + 333, 10_000), dtype=np.float64).reshape(-1, 1)
            r.add(block, start)
        values, rows = r.sample()
        assert np.array_equal(values[:, 0], rows)
        return rows

    assert np.array_equal(draw(1), draw(1))
    means = [draw(s).mean() for s in range(30)]
    assert abs(np.mean(means) - 4999.5) < 300  # unbiased: the mean of 30 samples is near the middle
