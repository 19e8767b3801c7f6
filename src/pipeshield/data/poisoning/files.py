"""Reading a labelled dataset file for scanning, and writing a changed copy in the same format.

CSV and Parquet are tables (features: the numeric columns other than the label); NPZ holds arrays
(features in ``x``, labels in the array named by ``--label``; loaded with ``allow_pickle=False``).
Rows keep their position: row ``i`` in every result means the ``i``-th row (0-based, header
excluded) of the file. A copy written by :func:`write_changed` keeps every other column or array.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.core.files import atomic_write_bytes
from pipeshield.errors import DatasetError

__all__ = ["LabelledFile", "read_labelled", "write_changed"]

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


@dataclass(frozen=True)
class LabelledFile:
    path: Path
    format: str
    label: str
    x: np.ndarray
    labels: np.ndarray
    image_shape: tuple[int, ...] | None
    feature_names: tuple[str, ...]
    table: Any = None  # the DataFrame (CSV, Parquet)
    arrays: dict[str, np.ndarray] | None = None  # every array (NPZ)
    x_key: str = "x"

    def __len__(self) -> int:
        return len(self.labels)


def file_format(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(f"{path}: unknown dataset format {path.suffix!r} (csv, parquet or npz)")
    return fmt


def read_labelled(path: Path | str, label: str, *, x_key: str = "x", image_shape: tuple[int, ...] | None = None) -> LabelledFile:
    """Load features and labels, with errors that name the file and the column."""
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: the file is empty")
    if fmt == "npz":
        return _read_npz(path, label, x_key, image_shape)
    return _read_table(path, fmt, label, image_shape)


def _read_table(path: Path, fmt: str, label: str, image_shape: tuple[int, ...] | None) -> LabelledFile:
    import pandas as pd

    try:
        frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DatasetError(f"{path}: cannot read {fmt}: {str(err).splitlines()[0] if str(err) else err}") from None
    if label not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:12]))
        raise DatasetError(f"{path}: label column {label!r} not found (columns: {cols})")
    if len(frame) == 0:
        raise DatasetError(f"{path}: the dataset has no rows")
    features = [c for c in frame.columns if c != label and frame[c].dtype.kind in "biuf"]
    if not features:
        raise DatasetError(f"{path}: no numeric feature columns besides {label!r}")
    x = frame[features].to_numpy(dtype=np.float32)
    _check_shape(path, x, image_shape)
    return LabelledFile(path, fmt, label, x, frame[label].to_numpy(), image_shape, tuple(map(str, features)), table=frame)


def _read_npz(path: Path, label: str, x_key: str, image_shape: tuple[int, ...] | None) -> LabelledFile:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as err:
        if "pickle" in str(err).lower() or "object arrays" in str(err).lower():
            raise DatasetError(f"{path}: holds an object array, which would need unpickling; refused") from None
        raise DatasetError(f"{path}: not a readable .npz: {err}") from None
    except (OSError, EOFError) as err:
        raise DatasetError(f"{path}: not a readable .npz: {err}") from None
    if x_key not in arrays:
        raise DatasetError(f"{path}: no array {x_key!r} (arrays: {', '.join(arrays)})")
    if label not in arrays:
        raise DatasetError(f"{path}: label array {label!r} not found (arrays: {', '.join(arrays)})")
    raw, labels = arrays[x_key], arrays[label]
    if raw.dtype.kind not in "biuf":
        raise DatasetError(f"{path}: array {x_key!r} is {raw.dtype}, expected numbers")
    if labels.ndim != 1:
        raise DatasetError(f"{path}: label array {label!r} must be one value per row (got shape {labels.shape})")
    if len(raw) != len(labels):
        raise DatasetError(f"{path}: {len(raw)} rows in {x_key!r} but {len(labels)} labels in {label!r}")
    if len(raw) == 0:
        raise DatasetError(f"{path}: the dataset has no rows")
    if image_shape is None and raw.ndim >= 3:
        image_shape = tuple(int(d) for d in raw.shape[1:])
    x = raw.reshape(len(raw), -1).astype(np.float32)
    _check_shape(path, x, image_shape)
    names = tuple(f"x{i}" for i in range(x.shape[1]))
    return LabelledFile(path, "npz", label, x, labels, image_shape, names, arrays=arrays, x_key=x_key)


def _check_shape(path: Path, x: np.ndarray, image_shape: tuple[int, ...] | None) -> None:
    if image_shape is not None and int(np.prod(image_shape)) != x.shape[1]:
        raise DatasetError(
            f"{path}: rows have {x.shape[1]} values, image shape {','.join(map(str, image_shape))} needs {int(np.prod(image_shape))}"
        )


def write_changed(
    source: LabelledFile,
    out: Path | str,
    *,
    keep: np.ndarray,
    labels: np.ndarray | None = None,
    x: np.ndarray | None = None,
) -> None:
    """Write ``source`` with only the ``keep`` rows, new ``labels`` and features ``x`` if given
    (both for every row of the source), atomically, in the format of ``out``'s extension."""
    out = Path(out)
    fmt = file_format(out)
    keep = np.asarray(keep, dtype=bool)
    n = len(source)
    new_labels = source.labels if labels is None else np.asarray(labels)
    new_x = source.x if x is None else np.asarray(x)
    if source.format == "npz":
        assert source.arrays is not None
        arrays = {}
        for k, v in source.arrays.items():
            if k == source.x_key:
                v = new_x.reshape(source.arrays[k].shape).astype(source.arrays[k].dtype)
            elif k == source.label:
                v = new_labels.astype(source.arrays[k].dtype) if new_labels.dtype.kind != "U" else new_labels
            arrays[k] = v[keep] if v.ndim and len(v) == n else v
        if fmt != "npz":
            raise DatasetError(f"{out}: an .npz input must be written as .npz")
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        atomic_write_bytes(out, buf.getvalue())
        return
    frame = source.table.copy()
    if x is not None:
        frame[list(source.feature_names)] = new_x
    frame[source.label] = new_labels
    frame = frame[keep].reset_index(drop=True)
    if fmt == "npz":
        raise DatasetError(f"{out}: a table must be written as .csv or .parquet")
    buf = io.BytesIO()
    if fmt == "csv":
        buf.write(frame.to_csv(index=False).encode("utf-8"))
    else:
        frame.to_parquet(buf, index=False)
    atomic_write_bytes(out, buf.getvalue())
