"""Dataset loading: real CSV, Parquet and NPZ files built from load_iris, and the errors a user
reads when a file does not match its pipeline entry (each names the file, the key and the column).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from pipeshield.core.datasets import load_dataset, load_table
from pipeshield.errors import DatasetError

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@pytest.fixture(scope="module")
def iris_frame() -> pd.DataFrame:
    data = load_iris()
    frame = pd.DataFrame(data.data, columns=FEATURES)
    frame["species"] = data.target
    return frame


@pytest.fixture
def dataset(tmp_path: Path, make_pipeline):
    """``dataset(filename, **spec)``: load_dataset for one dataset named ``iris`` in tmp_path."""

    def _load(filename: str, **spec: object):
        pipeline = make_pipeline(
            tmp_path, datasets={"iris": {"path": filename, "role": "train", **spec}}
        )
        return load_dataset(pipeline, "iris")

    return _load


def _check_iris(ds, frame: pd.DataFrame, names: tuple[str, ...] = tuple(FEATURES)) -> None:
    assert ds.x.dtype == np.float32 and ds.x.shape == (150, 4)
    np.testing.assert_allclose(ds.x, frame[FEATURES].to_numpy(), rtol=1e-6)
    assert ds.y is not None and ds.y.dtype == np.int64
    np.testing.assert_array_equal(ds.y, frame["species"].to_numpy())
    assert ds.feature_names == names
    assert len(ds) == 150


def test_csv(tmp_path: Path, dataset, iris_frame: pd.DataFrame) -> None:
    iris_frame.to_csv(tmp_path / "iris.csv", index=False)
    _check_iris(dataset("iris.csv", label="species"), iris_frame)


def test_csv_with_float_labels_become_ints(
    tmp_path: Path, dataset, iris_frame: pd.DataFrame
) -> None:
    iris_frame.assign(species=iris_frame["species"].astype(float)).to_csv(
        tmp_path / "iris.csv", index=False
    )
    _check_iris(dataset("iris.csv", label="species"), iris_frame)


def test_parquet(tmp_path: Path, dataset, iris_frame: pd.DataFrame) -> None:
    iris_frame.to_parquet(tmp_path / "iris.parquet", index=False)
    _check_iris(dataset("iris.parquet", label="species"), iris_frame)


def test_feature_subset_and_order(tmp_path: Path, dataset, iris_frame: pd.DataFrame) -> None:
    iris_frame.assign(note="free text").to_csv(tmp_path / "iris.csv", index=False)
    ds = dataset("iris.csv", label="species", features=["petal_width", "sepal_length"])
    assert ds.feature_names == ("petal_width", "sepal_length")
    np.testing.assert_allclose(
        ds.x, iris_frame[["petal_width", "sepal_length"]].to_numpy(), rtol=1e-6
    )


def test_unlabelled_table_has_no_y(tmp_path: Path, dataset, iris_frame: pd.DataFrame) -> None:
    iris_frame[FEATURES].to_csv(tmp_path / "incoming.csv", index=False)
    ds = dataset("incoming.csv")
    assert ds.y is None and ds.x.shape == (150, 4)


def test_npz(tmp_path: Path, dataset, iris_frame: pd.DataFrame) -> None:
    np.savez(
        tmp_path / "iris.npz",
        features=iris_frame[FEATURES].to_numpy(),
        labels=iris_frame["species"].to_numpy(),
    )
    ds = dataset("iris.npz", x_key="features", label="labels")
    _check_iris(ds, iris_frame, names=("x0", "x1", "x2", "x3"))


def test_npz_images_keep_their_shape(tmp_path: Path, dataset) -> None:
    x = np.random.default_rng(0).integers(0, 16, size=(12, 1, 8, 8)).astype(np.uint8)
    np.savez(tmp_path / "img.npz", x=x, y=np.arange(12) % 3)
    ds = dataset("img.npz", label="y")
    assert ds.x.shape == (12, 1, 8, 8) and ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.x, x)
    assert len(ds.feature_names) == 64


def test_load_table_flattens_npz(tmp_path: Path, make_pipeline) -> None:
    x = np.arange(24, dtype=np.float64).reshape(6, 2, 2)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 0, 1, 0, 1]))
    pipeline = make_pipeline(
        tmp_path, datasets={"d": {"path": "d.npz", "role": "test", "label": "y"}}
    )
    table = load_table(pipeline, "d")
    assert list(table.columns) == ["x0", "x1", "x2", "x3", "y"]
    np.testing.assert_array_equal(table[["x0", "x1", "x2", "x3"]].to_numpy(), x.reshape(6, 4))


# --- errors ---------------------------------------------------------------------------------------


def test_missing_label_column_names_file_key_and_column(
    tmp_path: Path, dataset, iris_frame: pd.DataFrame
) -> None:
    iris_frame.to_csv(tmp_path / "iris.csv", index=False)
    with pytest.raises(DatasetError) as info:
        dataset("iris.csv", label="target")
    message = str(info.value)
    assert "iris.csv" in message
    assert "datasets.iris" in message
    assert "'target'" in message
    assert "species" in message  # the columns it does have


def test_non_numeric_feature_column_is_named(
    tmp_path: Path, dataset, iris_frame: pd.DataFrame
) -> None:
    iris_frame.assign(colour="red").to_parquet(tmp_path / "iris.parquet", index=False)
    with pytest.raises(DatasetError) as info:
        dataset("iris.parquet", label="species")
    assert "column 'colour' is not numeric" in str(info.value)
    assert "datasets.iris.features" in (info.value.hint or "")


def test_missing_feature_column_is_named(tmp_path: Path, dataset, iris_frame: pd.DataFrame) -> None:
    iris_frame.to_csv(tmp_path / "iris.csv", index=False)
    with pytest.raises(DatasetError, match="feature columns not found: petal_area"):
        dataset("iris.csv", label="species", features=["sepal_length", "petal_area"])


class _MakeDirs:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def test_npz_object_array_is_refused_without_unpickling(tmp_path: Path, dataset) -> None:
    sentinel = tmp_path / "payload-ran"
    trap = np.empty(2, dtype=object)
    trap[0], trap[1] = _MakeDirs(sentinel), "x"
    np.savez(tmp_path / "evil.npz", x=np.zeros((2, 3)), y=trap)

    with pytest.raises(DatasetError) as info:
        dataset("evil.npz", label="y")

    assert not sentinel.exists()
    assert "object array" in str(info.value) and "refused" in str(info.value)
    assert "evil.npz" in str(info.value) and "datasets.iris" in str(info.value)
    with np.load(tmp_path / "evil.npz", allow_pickle=True) as npz:  # control: the payload is live
        npz["y"]
    assert sentinel.is_dir()


def test_npz_missing_x_key_lists_the_arrays(tmp_path: Path, dataset) -> None:
    np.savez(tmp_path / "d.npz", features=np.zeros((3, 2)), y=np.zeros(3))
    with pytest.raises(DatasetError) as info:
        dataset("d.npz", label="y")
    assert "no array 'x'" in str(info.value)
    assert "features, y" in str(info.value)


def test_npz_missing_label_array(tmp_path: Path, dataset) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)))
    with pytest.raises(DatasetError, match="no label array 'y'"):
        dataset("d.npz", label="y")


def test_npz_label_length_mismatch(tmp_path: Path, dataset) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 4)), y=np.zeros(9, dtype=int))
    with pytest.raises(DatasetError, match="10 rows of features but 9 labels"):
        dataset("d.npz", label="y")


def test_npz_string_features_are_refused(tmp_path: Path, dataset) -> None:
    np.savez(tmp_path / "d.npz", x=np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(DatasetError, match="expected numbers"):
        dataset("d.npz")


def test_label_with_missing_values(tmp_path: Path, dataset) -> None:
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "label": [0.0, None, 1.0]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    with pytest.raises(DatasetError, match="label has missing values"):
        dataset("d.csv", label="label")


@pytest.mark.parametrize(
    ("filename", "content"), [("bad.npz", b"not a zip at all"), ("bad.parquet", b"PAR1garbage")]
)
def test_unreadable_file_is_a_dataset_error(
    tmp_path: Path, dataset, filename: str, content: bytes
) -> None:
    (tmp_path / filename).write_bytes(content)
    with pytest.raises(DatasetError) as info:
        dataset(filename)
    assert filename in str(info.value) and "datasets.iris" in str(info.value)


def test_unknown_dataset_name(tmp_path: Path, make_pipeline) -> None:
    with pytest.raises(DatasetError, match="no dataset named 'nope'"):
        load_dataset(make_pipeline(tmp_path), "nope")


def test_pickle_renamed_npz_is_refused_without_unpickling(tmp_path: Path, dataset) -> None:
    sentinel = tmp_path / "payload-ran"
    (tmp_path / "data.npz").write_bytes(pickle.dumps(_MakeDirs(sentinel)))

    with pytest.raises(DatasetError, match="refused"):
        dataset("data.npz")

    assert not sentinel.exists()
