"""The profile: what trusted data looked like, as a versioned JSON document.

A profile is learned once from data you trust (:func:`pipeshield.data.profile.learn_profile`) and
every later batch is validated against it. It is plain JSON so it can be reviewed in a pull request
and signed like any other artifact. ``profile_version`` changes only when a reader of an older
version would misread a newer file; unknown keys are ignored.

Shape of the document (``profile_version`` 1)::

    {"profile_version": 1, "kind": "table" | "images", "created": ISO-8601,
     "sources": [{"name", "sha256", "format", "rows"}], "label": COLUMN | null,
     "rows": N, "duplicate_rows": N, "settings": {...}, "layout": {"shape", "dtype"} | null,
     "columns": [{"name", "type", "count", "nulls", "min", "max", "mean", "std", "quantiles",
                  "histogram": {"edges", "counts", "below", "above"}, "categories",
                  "categories_complete", "length"}],
     "sample": {"columns": [...], "rows": [row numbers], "values": [[...], ...]}}

Types: ``int``, ``float``, ``bool``, ``category``, ``text``, ``datetime``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeshield.errors import DatasetError

__all__ = ["PROFILE_VERSION", "TYPES", "ColumnProfile", "Profile", "SourceInfo", "load_profile"]

PROFILE_VERSION = 1
TYPES = ("int", "float", "bool", "category", "text", "datetime")
NUMERIC_TYPES = ("int", "float")


@dataclass(frozen=True)
class SourceInfo:
    name: str
    sha256: str
    format: str
    rows: int


@dataclass(frozen=True)
class ColumnProfile:
    """One column of trusted data. Numeric fields are ``None`` for non-numeric types."""

    name: str
    type: str
    count: int
    nulls: int
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float] | None = None
    histogram: dict[str, Any] | None = None
    categories: dict[str, int] | None = None
    categories_complete: bool = True
    length: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"column {self.name!r}: unknown type {self.type!r}")

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def null_fraction(self) -> float:
        total = self.count + self.nulls
        return self.nulls / total if total else 0.0


@dataclass(frozen=True)
class Profile:
    kind: str
    sources: tuple[SourceInfo, ...]
    label: str | None
    rows: int
    duplicate_rows: int
    columns: tuple[ColumnProfile, ...]
    sample_columns: tuple[str, ...] = ()
    sample_rows: tuple[int, ...] = ()
    sample_values: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    layout: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    profile_version: int = PROFILE_VERSION

    def column(self, name: str) -> ColumnProfile:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Columns a batch must have: every column but the label (new batches are unlabelled)."""
        return tuple(c.name for c in self.columns if c.name != self.label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_version": self.profile_version,
            "kind": self.kind,
            "created": self.created,
            "sources": [asdict(s) for s in self.sources],
            "label": self.label,
            "rows": self.rows,
            "duplicate_rows": self.duplicate_rows,
            "settings": self.settings,
            "layout": self.layout,
            "columns": [asdict(c) for c in self.columns],
            "sample": {
                "columns": list(self.sample_columns),
                "rows": list(self.sample_rows),
                "values": [[_json_float(v) for v in row] for row in self.sample_values.tolist()],
            },
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "profile") -> Profile:
        version = raw.get("profile_version")
        if version is None:
            raise DatasetError(f"{where}: not a pipeshield profile (no profile_version)",
                               hint="create one with `pipeshield data profile TRUSTED_FILE -o PROFILE`")
        if not isinstance(version, int) or version > PROFILE_VERSION or version < 1:
            raise DatasetError(f"{where}: profile_version {version!r} is not supported (this pipeshield reads 1)")
        try:
            sample = raw.get("sample") or {}
            values = np.asarray([[np.nan if v is None else v for v in row] for row in sample.get("values", [])],
                                dtype=np.float64)
            columns = tuple(ColumnProfile(**c) for c in raw["columns"])
            return cls(
                kind=str(raw["kind"]),
                sources=tuple(SourceInfo(**s) for s in raw.get("sources", [])),
                label=raw.get("label"),
                rows=int(raw["rows"]),
                duplicate_rows=int(raw.get("duplicate_rows", 0)),
                columns=columns,
                sample_columns=tuple(sample.get("columns", [])),
                sample_rows=tuple(int(r) for r in sample.get("rows", [])),
                sample_values=values.reshape(len(values), len(sample.get("columns", []))),
                layout=raw.get("layout"),
                settings=dict(raw.get("settings", {})),
                created=str(raw.get("created", "")),
                profile_version=version,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"{where}: malformed profile: {type(err).__name__}: {err}") from None


def _json_float(v: float) -> float | None:
    return v if math.isfinite(v) else None


def load_profile(path: Path | str) -> Profile:
    """Read a profile written by ``pipeshield data profile``."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: profile not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read the profile: {err}") from None
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not JSON (line {err.lineno}): {err.msg}") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: not a pipeshield profile (expected a JSON object)")
    return Profile.from_dict(raw, str(path))
