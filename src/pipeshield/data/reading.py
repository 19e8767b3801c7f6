"""Reading a dataset file in bounded chunks, with errors that name the file, the column and the row.

Profiling and validation must work on files larger than memory, so every reader here yields
:class:`Chunk` objects of at most ``chunk_rows`` rows: CSV through ``pandas.read_csv(chunksize=)``,
Parquet through ``pyarrow.parquet.ParquetFile.iter_batches``, and NPZ by streaming the ``.npy``
member out of the zip (compressed or not) without ever unpickling: an object array is refused.

Rows are numbered from 0 in data order (the CSV header is not a row), the same numbering every
report and the ``data`` commands use.

    >>> for chunk in iter_chunks("train.csv", chunk_rows=50_000):   # doctest: +SKIP
    ...     print(chunk.start, len(chunk.frame))
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeshield.errors import DatasetError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DEFAULT_CHUNK_ROWS", "MAX_CELL_BYTES", "Chunk", "ImageLayout", "detect_format", "iter_chunks", "layout_is_flat"]

DEFAULT_CHUNK_ROWS = 65_536
#: A text cell longer than this is refused: no honest feature is a megabyte long, and a parser fed
#: one is how a single row exhausts memory.
MAX_CELL_BYTES = 1 << 20
_FORMATS = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


@dataclass(frozen=True)
class ImageLayout:
    """Shape of one example of an NPZ array (without the row axis) and its dtype."""

    shape: tuple[int, ...]
    dtype: str

    @property
    def features(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class Chunk:
    """Rows ``start .. start+len(frame)-1`` of the file; ``arrays`` holds raw NPZ rows when read."""

    frame: pd.DataFrame
    start: int
    arrays: np.ndarray | None = None
    layout: ImageLayout | None = None


def layout_is_flat(layout: ImageLayout) -> bool:
    """Vectors of up to 1,024 features are profiled per feature; images by per-image summaries."""
    return len(layout.shape) <= 1 and layout.features <= 1024


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in ("csv", "parquet", "npz"):
            raise DatasetError(f"{path}: unknown format {fmt!r} (expected csv, parquet or npz)")
        return fmt
    found = _FORMATS.get(path.suffix.lower())
    if found is None:
        raise DatasetError(f"{path}: cannot tell the format from the extension {path.suffix!r} (expected .csv, .parquet or .npz)")
    return found


def iter_chunks(
    path: Path | str,
    *,
    fmt: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    x_key: str = "x",
    label_key: str | None = None,
) -> Iterator[Chunk]:
    """Yield the file's rows in chunks; raise :class:`DatasetError` for anything malformed."""
    path = Path(path)
    if chunk_rows < 1:
        raise DatasetError(f"{path}: chunk size must be at least 1 row")
    if not path.is_file():
        what = "is a directory, expected a file" if path.is_dir() else "file not found"
        raise DatasetError(f"{path}: {what}")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path}: the file is empty (no header, no rows)")
    kind = detect_format(path, fmt)
    reader = {"csv": _csv_chunks, "parquet": _parquet_chunks}.get(kind)
    produced = 0
    if reader is not None:
        chunks = reader(path, chunk_rows)
    else:
        chunks = _npz_chunks(path, chunk_rows, x_key, label_key)
    for chunk in chunks:
        if kind != "npz":
            _check_cells(path, chunk)
        produced += len(chunk.frame)
        yield chunk
    if produced == 0:
        raise DatasetError(f"{path}: the dataset has no rows")


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    import pandas as pd

    start = 0
    try:
        reader = pd.read_csv(path, chunksize=chunk_rows, low_memory=False)
        with reader:
            for frame in reader:
                if start == 0 and len(frame) == 0:
                    continue
                yield Chunk(frame.reset_index(drop=True), start)
                start += len(frame)
    except pd.errors.EmptyDataError:
        raise DatasetError(f"{path}: the file is empty (no header, no rows)") from None
    except pd.errors.ParserError as err:
        raise DatasetError(f"{path}: malformed CSV near data row {start}: {_one_line(err)}") from None
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not UTF-8 text (byte {err.start} of a chunk after data row {start})") from None
    except (ValueError, OSError) as err:
        raise DatasetError(f"{path}: cannot read CSV after data row {start}: {_one_line(err)}") from None


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[Chunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer=False with a small read buffer: the default buffers whole row groups ahead,
        # which made peak memory grow with the file instead of the chunk.
        parquet = pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20)
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(f"{path}: not a readable Parquet file: {_one_line(err)}") from None
    start = 0
    try:
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            yield Chunk(frame, start)
            start += len(frame)
    except (pa.ArrowException, OSError) as err:
        raise DatasetError(f"{path}: malformed Parquet after data row {start}: {_one_line(err)}") from None


def _npz_member(archive: zipfile.ZipFile, key: str, path: Path) -> tuple[Any, tuple[int, ...], np.dtype[Any]]:
    name = f"{key}.npy"
    if name not in archive.namelist():
        keys = ", ".join(n.removesuffix(".npy") for n in archive.namelist())
        raise DatasetError(f"{path}: no array {key!r} (arrays: {keys})")
    stream = archive.open(name)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(stream)
    except ValueError as err:
        raise DatasetError(f"{path}: array {key!r} is not a valid .npy: {_one_line(err)}") from None
    if dtype.hasobject:
        raise DatasetError(f"{path}: array {key!r} holds Python objects, which would need unpickling; refused")
    if fortran and len(shape) > 1:
        raise DatasetError(f"{path}: array {key!r} is stored in Fortran order; save it C-contiguous to stream it")
    if not shape:
        raise DatasetError(f"{path}: array {key!r} is a scalar, expected one row per example")
    return stream, tuple(int(s) for s in shape), dtype


def _read_rows(stream: Any, rows: int, per_row: int, dtype: np.dtype[Any], path: Path, key: str, start: int) -> np.ndarray:
    want = rows * per_row * dtype.itemsize
    data = stream.read(want)
    if len(data) != want:
        raise DatasetError(f"{path}: array {key!r} is truncated at row {start + len(data) // max(1, per_row * dtype.itemsize)}")
    return np.frombuffer(data, dtype=dtype, count=rows * per_row)


def _npz_chunks(path: Path, chunk_rows: int, x_key: str, label_key: str | None) -> Iterator[Chunk]:
    import pandas as pd

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DatasetError(f"{path}: not a readable .npz: {_one_line(err)}") from None
    with archive:
        x_stream, shape, dtype = _npz_member(archive, x_key, path)
        if dtype.kind not in "biuf":
            raise DatasetError(f"{path}: array {x_key!r} is {dtype}, expected numbers")
        n, per_row = shape[0], int(np.prod(shape[1:])) if len(shape) > 1 else 1
        layout = ImageLayout(shape[1:], str(dtype))
        y_stream = None
        if label_key is not None:
            y_stream, y_shape, y_dtype = _npz_member(archive, label_key, path)
            if y_shape[0] != n or len(y_shape) != 1:
                raise DatasetError(f"{path}: {n} rows of {x_key!r} but label array {label_key!r} has shape {y_shape}")
        names = [f"{x_key}{i}" for i in range(per_row)] if len(shape) > 1 else [x_key]
        try:
            for start in range(0, n, chunk_rows):
                rows = min(chunk_rows, n - start)
                x = _read_rows(x_stream, rows, per_row, dtype, path, x_key, start).reshape((rows, *shape[1:]))
                flat = layout_is_flat(layout)
                frame = pd.DataFrame(x.reshape(rows, per_row) if flat else np.empty((rows, 0)),
                                     columns=names if flat else [])
                if y_stream is not None:
                    assert label_key is not None
                    frame[label_key] = _read_rows(y_stream, rows, 1, y_dtype, path, label_key, start)
                yield Chunk(frame, start, arrays=x, layout=layout)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise DatasetError(f"{path}: corrupt .npz member: {_one_line(err)}") from None
        finally:
            x_stream.close()
            if y_stream is not None:
                y_stream.close()


def _check_cells(path: Path, chunk: Chunk) -> None:
    """Refuse a text cell over :data:`MAX_CELL_BYTES`, naming its column and row."""
    frame = chunk.frame
    for column in frame.columns:
        series = frame[column]
        if series.dtype.kind not in "OUST" and str(series.dtype) not in ("str", "string"):
            continue
        lengths = series.astype("string").str.len()
        too_long = lengths > MAX_CELL_BYTES
        if too_long.any():
            row = int(np.flatnonzero(too_long.fillna(False).to_numpy())[0])
            size = int(lengths.iloc[row])
            raise DatasetError(
                f"{path}: column {column!r}, row {chunk.start + row}: cell of {size:,} characters "
                f"exceeds the {MAX_CELL_BYTES:,}-character limit",
                hint="a cell this large is not a feature; remove it or split the field",
            )


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]
