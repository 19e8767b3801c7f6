"""Reading the pipeline's datasets into arrays (and tables, for data checks).

CSV and Parquet go through pandas; NPZ through ``numpy.load(allow_pickle=False)``, so an
object-dtype array smuggled into an ``.npz`` is refused instead of unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.errors import DatasetError

if TYPE_CHECKING:
    import pandas as pd

    from pipeshield.core.pipeline import Pipeline

__all__ = ["Dataset", "load_dataset", "load_table"]


@dataclass(frozen=True)
class Dataset:
    """Features ``x`` (float32, one row per example) and labels ``y`` (or None when unlabelled)."""

    name: str
    x: np.ndarray
    y: np.ndarray | None
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.x.shape[0])


def _where(pipeline: Pipeline, name: str) -> str:
    return f"{pipeline.display(pipeline.datasets[name].path)} (datasets.{name})"


def load_table(pipeline: Pipeline, name: str) -> pd.DataFrame:
    """A CSV or Parquet dataset as a DataFrame; NPZ datasets are flattened into columns."""
    import pandas as pd

    spec = pipeline.datasets[name]
    path = pipeline.resolve(spec.path)
    try:
        if spec.format == "csv":
            return pd.read_csv(path)
        if spec.format == "parquet":
            return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise DatasetError(f"{_where(pipeline, name)}: cannot read {spec.format}: {err}") from None
    ds = load_dataset(pipeline, name)
    frame = pd.DataFrame(ds.x.reshape(len(ds), -1), columns=list(ds.feature_names))
    if ds.y is not None:
        frame[spec.label or "label"] = ds.y
    return frame


def load_dataset(pipeline: Pipeline, name: str) -> Dataset:
    """Load a dataset as arrays, with errors that name the file, the key and the column."""
    if name not in pipeline.datasets:
        raise DatasetError(f"{pipeline.source}: no dataset named {name!r}")
    spec = pipeline.datasets[name]
    if spec.format == "npz":
        return _load_npz(pipeline, name)
    frame = load_table(pipeline, name)
    where = _where(pipeline, name)
    if len(frame) == 0:
        raise DatasetError(f"{where}: the dataset has no rows")
    if spec.label is not None and spec.label not in frame.columns:
        raise DatasetError(
            f"{where}: label column {spec.label!r} not found (columns: {', '.join(map(str, frame.columns[:12]))})"
        )
    if spec.features is not None:
        missing = [c for c in spec.features if c not in frame.columns]
        if missing:
            raise DatasetError(f"{where}: feature columns not found: {', '.join(missing)}")
        columns = list(spec.features)
    else:
        columns = [c for c in frame.columns if c != spec.label]
    bad = [str(c) for c in columns if not _is_numeric(frame[c])]
    if bad:
        raise DatasetError(
            f"{where}: column {bad[0]!r} is not numeric",
            hint=f"list the model's numeric inputs in datasets.{name}.features",
        )
    if not columns:
        raise DatasetError(f"{where}: no feature columns", hint=f"list them in datasets.{name}.features")
    x = frame[columns].to_numpy(dtype=np.float32)
    y = None if spec.label is None else _labels(frame[spec.label].to_numpy(), where)
    _check_rows(x, y, where)
    return Dataset(name, x, y, tuple(map(str, columns)))


def _is_numeric(series: Any) -> bool:
    return series.dtype.kind in "biuf"


def _check_rows(x: np.ndarray, y: np.ndarray | None, where: str) -> None:
    if len(x) == 0:
        raise DatasetError(f"{where}: the dataset has no rows")
    if y is not None and y.ndim != 1:
        raise DatasetError(f"{where}: labels must be one value per row (got shape {y.shape})")


def _labels(values: np.ndarray, where: str) -> np.ndarray:
    if values.dtype.kind in "biu":
        return values.astype(np.int64)
    if values.dtype.kind == "f":
        if np.isnan(values).any():
            raise DatasetError(f"{where}: label has missing values")
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
    return values


def _load_npz(pipeline: Pipeline, name: str) -> Dataset:
    spec = pipeline.datasets[name]
    where = _where(pipeline, name)
    try:
        with np.load(pipeline.resolve(spec.path), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as err:
        if "allow_pickle" in str(err) or "Object arrays" in str(err):
            raise DatasetError(f"{where}: holds an object array, which would need unpickling; refused") from None
        raise DatasetError(f"{where}: not a readable .npz: {err}") from None
    except (OSError, EOFError) as err:
        raise DatasetError(f"{where}: not a readable .npz: {err}") from None
    if spec.x_key not in arrays:
        raise DatasetError(f"{where}: no array {spec.x_key!r} (arrays: {', '.join(arrays)})")
    x = arrays[spec.x_key]
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"{where}: array {spec.x_key!r} is {x.dtype}, expected numbers")
    y = None
    if spec.label is not None:
        if spec.label not in arrays:
            raise DatasetError(f"{where}: no label array {spec.label!r} (arrays: {', '.join(arrays)})")
        y = _labels(arrays[spec.label], where)
        if len(y) != len(x):
            raise DatasetError(f"{where}: {len(x)} rows of features but {len(y)} labels")
    _check_rows(x, y, where)
    x = x.astype(np.float32, copy=False)
    names = tuple(f"x{i}" for i in range(int(np.prod(x.shape[1:])) if x.ndim > 1 else 1))
    return Dataset(name, x, y, names)
