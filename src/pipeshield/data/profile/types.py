"""Inferring a column's type from one chunk, and widening it as more chunks arrive.

pandas infers dtypes per chunk, so the same CSV column can be ``int64`` in one chunk, ``float64``
in the next (a missing value) and ``object`` in a third (a stray word). The rules here turn that
into one type per column, and say when a column is genuinely inconsistent:

* numbers that are all whole are ``int`` (a CSV int column with blanks reads as float), otherwise
  ``float``; ``int`` widens to ``float``.
* text where at least half of the values parse as numbers but some do not is **mixed**: almost
  always a corrupted numeric column, never a useful text column. Profiling refuses it (naming the
  first offending row); validation reports it as a type violation.
* ISO-looking dates (``YYYY-MM-DD...``) that all parse are ``datetime``.
* other text is ``text`` until the end of the file, where few distinct values make it ``category``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ChunkType", "classify", "numeric_values", "widen"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ChunkType:
    """``kind`` is int, float, bool, datetime, text, empty or mixed; ``bad_row`` (for mixed) is the
    chunk-local position of the first value that does not parse as a number."""

    kind: str
    bad_row: int | None = None
    bad_value: str | None = None


def is_text_dtype(series: Any) -> bool:
    return series.dtype.kind in "OUS" or str(series.dtype) in ("str", "string")


def classify(series: Any) -> ChunkType:
    import pandas as pd

    kind = series.dtype.kind
    if kind == "b":
        return ChunkType("bool")
    if kind in "iu":
        return ChunkType("int")
    if kind == "f":
        values = series.to_numpy(dtype=np.float64)
        finite = values[~np.isnan(values)]
        if finite.size == 0:
            return ChunkType("empty")
        integral = np.all(np.mod(finite[:256], 1) == 0) and np.all(np.mod(finite, 1) == 0)
        return ChunkType("int" if integral else "float")
    if kind == "M" or isinstance(series.dtype, pd.DatetimeTZDtype):
        return ChunkType("datetime")
    nonnull = series.dropna()
    if len(nonnull) == 0:
        return ChunkType("empty")
    if nonnull.map(type).isin([bool, np.bool_]).all():
        return ChunkType("bool")
    as_text = nonnull.astype(str)
    parsed = pd.to_numeric(as_text, errors="coerce")
    ok = parsed.notna().to_numpy()
    if ok.all():
        values = parsed.to_numpy(dtype=np.float64)
        return ChunkType("int" if np.all(np.mod(values, 1) == 0) else "float")
    if ok.mean() >= 0.5:
        first = int(np.flatnonzero(~ok)[0])
        position = int(series.index.get_loc(nonnull.index[first]))
        return ChunkType("mixed", position, str(as_text.iloc[first])[:40])
    if all(_DATE.match(v) for v in as_text.iloc[:20]):
        dates = pd.to_datetime(as_text, errors="coerce", format="ISO8601", utc=True)
        if dates.notna().all():
            return ChunkType("datetime")
    return ChunkType("text")


def widen(current: str | None, new: str) -> str | None:
    """The column type after one more chunk, or ``None`` when the two cannot be reconciled."""
    if current is None or current == "empty":
        return new
    if new == "empty" or new == current:
        return current
    if {current, new} == {"int", "float"}:
        return "float"
    if current == "text":  # a chunk of numbers, dates or mixed values inside a text column is still text
        return "text"
    return None


def numeric_values(series: Any) -> np.ndarray:
    """The column as float64; what does not parse becomes NaN (callers count those first)."""
    import pandas as pd

    if series.dtype.kind in "biuf":
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.asarray(pd.to_numeric(series.astype(object), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan))
